//! B4 scale steady state: H simulated hosts × V VMs (1,000 × 50 and 100 × 50): the engine's
//! CPU (% of one core) and RSS over a steady-state window, and the latency from a simulated VM
//! state change to the API showing it.
//!
//! Needs `oxvirt-sim` (built next to `oxvirt-bench`): one process serving H simulated agents,
//! host i on `127.1.0.1 + i`, port 54321, with a loopback control API. Setup (not measured):
//! add the hosts through the API (8 at a time), create V VMs pinned to each host and start
//! them (8 requests at a time), wait until all are `up`. Then for `--steady-secs` (300; quick
//! 10): every second the engine's user+system CPU time delta (`/proc/<pid>/stat`) and RSS
//! (`/proc/<pid>/status`); meanwhile ~50 (quick 3) times, spread over the window, a random
//! running VM is crashed through the control API and `GET /vms/{id}` is polled every 5 ms
//! until it says `down`: the delay from the crash call's return is one latency sample.

use crate::api::{self, Api};
use crate::machine::Machine;
use crate::populate::engine_on;
use crate::report::{Report, fmt_ms};
use crate::stats::{Rng, mean, ms, percentile, summary};
use crate::{Options, procfs, sibling_binary};
use anyhow::{Context as _, bail};
use futures::StreamExt as _;
use oxvirt_testkit::engine::TEST_ADMIN_PASSWORD;
use serde_json::{Map, Value, json};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SECRET: &str = "bench-sim-enrollment-secret";
const FIRST_ADDRESS: &str = "127.1.0.1";
const CONCURRENCY: usize = 8;

#[derive(Debug, Clone, Copy)]
struct Params {
    hosts: usize,
    vms_per_host: usize,
    steady: Duration,
    latency_samples: usize,
}

pub async fn run(opts: &Options, machine: &mut Machine) -> anyhow::Result<Report> {
    let mut report = Report::new("b4", "scale steady state with simulated hosts");
    let sim_binary = sibling_binary("oxvirt-sim").context(
        "B4 needs the simulated agent oxvirt-sim (branch `sim`): merge it and build it with \
         `cargo build --release -p oxvirt-sim` (make bench does once the crate exists)",
    )?;
    let host_counts = match (opts.n, opts.quick) {
        (Some(n), _) => vec![n],
        (None, true) => vec![5],
        (None, false) => vec![100, 1000],
    };
    let vms_per_host = opts.vms_per_host.unwrap_or(if opts.quick { 2 } else { 50 });
    let steady = Duration::from_secs(opts.steady_secs.unwrap_or(if opts.quick { 10 } else { 300 }));
    let latency_samples = if opts.quick { 3 } else { 50 };
    let db = opts.db.backends()[0];
    report.params = json!({
        "hosts": host_counts,
        "vms_per_host": vms_per_host,
        "steady_state_secs": steady.as_secs(),
        "latency_samples": latency_samples,
        "database": db.as_str(),
        "simulator": format!("{} --first-address {FIRST_ADDRESS} --port 54321", sim_binary.display()),
        "sampling": "engine utime+stime delta and VmRSS every 1 s; crash → GET /vms/{id} polled every 5 ms until down",
    });
    println!("B4 {} — parameters: {}", report.title, report.params);
    machine.virtualization = "simulated hosts (oxvirt-sim): no guests run".to_owned();
    let mut results = Map::new();
    for hosts in host_counts {
        let p = Params { hosts, vms_per_host, steady, latency_samples };
        let r = scale_run(&sim_binary, db, p).await?;
        let label = format!("{hosts} hosts × {vms_per_host} VMs");
        report.figure(
            format!("{label}: engine CPU, mean over {} s", steady.as_secs()),
            pct(r["cpu_percent"]["mean"].as_f64()),
            "≤ 25 % of one core",
        );
        report.figure(format!("{label}: engine CPU, p99 of 1 s samples"), pct(r["cpu_percent"]["p99"].as_f64()), "");
        report.figure(format!("{label}: engine RSS, max"), mib(r["rss_mib"]["max"].as_f64()), "≤ 300 MB");
        report.figure(
            format!("{label}: VM crash → API shows down, p50"),
            fmt_ms(r["change_visible_ms"]["p50"].as_f64()),
            "",
        );
        report.figure(
            format!("{label}: VM crash → API shows down, p99"),
            fmt_ms(r["change_visible_ms"]["p99"].as_f64()),
            "≤ 1 s",
        );
        report.figure(
            format!("{label}: setup (hosts added, VMs up)"),
            format!("{:.1} s", r["setup_s"].as_f64().unwrap_or(0.0)),
            "",
        );
        results.insert(format!("hosts_{hosts}"), r);
    }
    report.results = Value::Object(results);
    report.write(opts, machine)?;
    Ok(report)
}

fn pct(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.1} %")).unwrap_or_else(|| "—".to_owned())
}

fn mib(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.1} MiB")).unwrap_or_else(|| "—".to_owned())
}

/// The simulator process; stopped (SIGTERM by PID) when dropped.
#[derive(Debug)]
struct Sim {
    child: Child,
    control: String,
    dir: std::path::PathBuf,
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                let _ = std::fs::remove_dir_all(&self.dir);
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn sim_start(binary: &std::path::Path, hosts: usize) -> anyhow::Result<(Sim, Vec<Value>)> {
    let dir =
        oxvirt_testkit::base_dir().join(format!("bench-sim-{}-{}", std::process::id(), uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir)?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let log = std::fs::File::create(dir.join("oxvirt-sim.log"))?;
    let child = Command::new(binary)
        .args(["--hosts", &hosts.to_string(), "--first-address", FIRST_ADDRESS, "--port", "54321"])
        .args(["--enrollment-secret", SECRET])
        .arg("--state-dir")
        .arg(dir.join("state"))
        .args(["--control", &format!("127.0.0.1:{port}")])
        .env("OXVIRT_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .with_context(|| format!("starting {}", binary.display()))?;
    let mut sim = Sim { child, control: format!("http://127.0.0.1:{port}"), dir };
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(status) = sim.child.try_wait()? {
            bail!("oxvirt-sim exited during start ({status}); log: {}", sim.dir.join("oxvirt-sim.log").display());
        }
        if let Ok(r) = http.get(format!("{}/hosts", sim.control)).send().await
            && let Ok(v) = r.json::<Value>().await
            && let Some(list) = v["hosts"].as_array()
            && list.len() == hosts
        {
            return Ok((sim, list.clone()));
        }
        if Instant::now() > deadline {
            bail!("oxvirt-sim's control API did not list {hosts} hosts within 120 s");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn scale_run(sim_binary: &std::path::Path, db: crate::Db, p: Params) -> anyhow::Result<Value> {
    let setup_start = Instant::now();
    let (sim, sim_hosts) = sim_start(sim_binary, p.hosts).await?;
    let (_postgres, engine, _) = engine_on(db).await?;
    let pid = engine.pid().context("the engine is not running")?;
    let api = Api::login(&engine.api_url, TEST_ADMIN_PASSWORD).await?;
    api::data_center_and_cluster(&api, "bench-dc", "bench-cluster").await?;

    // Hosts, 8 at a time; engine host id by simulator index.
    let adds = futures::stream::iter(sim_hosts.iter().enumerate().map(|(i, h)| {
        let api = api.clone();
        let address = h["address"].as_str().unwrap_or_default().to_owned();
        async move { (i, api::host_add(&api, &format!("sim-{i:04}"), &address, SECRET, "bench-cluster").await) }
    }))
    .buffer_unordered(CONCURRENCY)
    .collect::<Vec<_>>()
    .await;
    let mut host_ids = vec![String::new(); p.hosts];
    for (i, r) in adds {
        host_ids[i] = r.with_context(|| format!("adding simulated host {i}"))?;
    }
    println!("  {} simulated hosts Up after {:.1} s", p.hosts, setup_start.elapsed().as_secs_f64());

    // VMs pinned to their host, created and started 8 at a time.
    let jobs: Vec<(usize, usize)> = (0..p.hosts).flat_map(|h| (0..p.vms_per_host).map(move |v| (h, v))).collect();
    let made = futures::stream::iter(jobs.into_iter().map(|(h, v)| {
        let api = api.clone();
        let host_id = host_ids[h].clone();
        async move {
            let vm = api
                .post(
                    "/vms",
                    &json!({"name": format!("sim-vm-{h:04}-{v:03}"), "cluster": {"name": "bench-cluster"},
                            "template": {"name": "Blank"}, "memory": "268435456",
                            "placement_policy": {"hosts": {"host": [{"id": host_id}]}}}),
                )
                .await?;
            let id = vm["id"].as_str().context("VM without id")?.to_owned();
            api.action(&format!("/vms/{id}/start")).await?;
            anyhow::Ok((h, id))
        }
    }))
    .buffer_unordered(CONCURRENCY)
    .collect::<Vec<_>>()
    .await;
    let mut vms = Vec::with_capacity(made.len());
    for r in made {
        vms.push(r?);
    }
    let total = vms.len();
    let deadline = Instant::now() + Duration::from_secs(600);
    // Counted in pages of 1,000: one list of every VM would make the engine build a reply of
    // tens of MB, and its allocator keeps that memory, which the RSS figure would then show.
    loop {
        let mut n = 0;
        for page in 1.. {
            let up = api.get(&format!("/vms?search=status%3Dup%20page%20{page}&max=1000")).await?;
            let got = up["vm"].as_array().map_or(0, Vec::len);
            n += got;
            if got < 1000 {
                break;
            }
        }
        if n == total {
            break;
        }
        if Instant::now() > deadline {
            bail!("only {n} of {total} VMs were up after 600 s");
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let setup = setup_start.elapsed();
    println!("  {total} VMs up after {:.1} s; steady state for {} s", setup.as_secs_f64(), p.steady.as_secs());

    // Steady state: sampler and crash probes run side by side.
    let sampler = tokio::spawn(sample_engine(pid, p.steady));
    let probe_start = Instant::now();
    let control = reqwest::Client::new();
    let mut rng = Rng::new(0x0b4 + p.hosts as u64);
    let mut alive = vms.clone();
    let mut latencies = Vec::new();
    for k in 0..p.latency_samples {
        let at = p.steady.mul_f64((k + 1) as f64 / (p.latency_samples + 1) as f64);
        tokio::time::sleep(at.saturating_sub(probe_start.elapsed())).await;
        if alive.is_empty() {
            break;
        }
        let (host, vm) = alive.swap_remove(rng.below(alive.len()));
        let reply = control.post(format!("{}/hosts/{host}/vms/{vm}/crash", sim.control)).send().await?;
        let crashed = Instant::now();
        if !reply.status().is_success() {
            bail!("crashing VM {vm} on simulated host {host}: {}", reply.text().await.unwrap_or_default());
        }
        let seen = api
            .wait_field(&format!("/vms/{vm}"), "status", "down", Duration::from_millis(5), Duration::from_secs(60))
            .await?;
        latencies.push(ms(seen - crashed));
    }
    let (cpu, rss) = sampler.await??;
    drop(engine);
    drop(sim);
    let rss_mib: Vec<f64> = rss.iter().map(|b| *b / 1048576.0).collect();
    println!(
        "  CPU mean {} p99 {}; RSS max {}; crash → down p50 {} p99 {}",
        pct(mean(&cpu)),
        pct(percentile(&cpu, 99.0)),
        mib(percentile(&rss_mib, 100.0)),
        fmt_ms(percentile(&latencies, 50.0)),
        fmt_ms(percentile(&latencies, 99.0))
    );
    Ok(json!({
        "hosts": p.hosts,
        "vms": total,
        "setup_s": setup.as_secs_f64(),
        "cpu_percent": summary(&cpu),
        "rss_mib": summary(&rss_mib),
        "change_visible_ms": summary(&latencies),
        "samples": {"cpu_percent": cpu, "rss_mib": rss_mib, "change_visible_ms": latencies},
    }))
}

/// Every second for `window`: the engine's CPU use over that second (% of one core) and RSS.
async fn sample_engine(pid: u32, window: Duration) -> anyhow::Result<(Vec<f64>, Vec<f64>)> {
    let (mut cpu, mut rss) = (Vec::new(), Vec::new());
    let start = Instant::now();
    let mut last = (Instant::now(), procfs::cpu_time(pid)?);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    while start.elapsed() < window {
        tick.tick().await;
        let now = (Instant::now(), procfs::cpu_time(pid)?);
        let wall = now.0 - last.0;
        cpu.push(now.1.saturating_sub(last.1).as_secs_f64() / wall.as_secs_f64() * 100.0);
        rss.push(procfs::rss_bytes(pid)? as f64);
        last = now;
    }
    Ok((cpu, rss))
}
