//! B5 cold start: with 100,000 VMs in the database, the time from starting the engine
//! process to its first successful `GET /ovirt-engine/api`, and its RSS then.
//!
//! The engine is started once on the database beforehand (PKI, schema, admin user: not
//! part of a cold start), then stopped; the measured start reuses that data dir. The probe
//! polls every 2 ms with HTTP Basic auth (no token can exist before the engine answers), so
//! the figure includes one argon2 password check; the health endpoint's first answer is
//! reported too.

use crate::api::http_client;
use crate::machine::Machine;
use crate::populate::Populated;
use crate::report::{Report, fmt_ms};
use crate::stats::ms;
use crate::{Options, procfs};
use anyhow::{Context as _, bail};
use oxvirt_testkit::engine::{TEST_ADMIN_PASSWORD, engine_binary};
use serde_json::{Map, Value, json};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const PROBE_INTERVAL: Duration = Duration::from_millis(2);
const START_TIMEOUT: Duration = Duration::from_secs(300);

pub fn size(opts: &Options) -> usize {
    crate::count(opts, 100_000, 1_000)
}

pub async fn run(opts: &Options, machine: &Machine) -> anyhow::Result<Report> {
    let mut report = Report::new("b5", "cold start with many VMs in the database");
    let size = size(opts);
    let backends = opts.db.backends();
    report.params = json!({
        "vms_in_database": size,
        "databases": backends.iter().map(|d| d.as_str()).collect::<Vec<_>>(),
        "probe": "GET /ovirt-engine/api with HTTP Basic auth every 2 ms from process spawn",
    });
    println!("B5 {} — parameters: {}", report.title, report.params);
    let mut results = Map::new();
    for db in backends {
        let mut populated = Populated::start(db).await?;
        let setup = populated.grow_to(size).await?;
        println!(
            "  [{}] {} VMs in the database (setup, not measured: {:.1} s)",
            db.as_str(),
            size,
            setup.as_secs_f64()
        );
        let r = cold_start(&populated).await?;
        let label = format!("{} {} VMs", db.as_str(), size);
        let first_api = r["first_api_answer_ms"].as_f64();
        let rss = r["rss_after_mib"].as_f64().unwrap_or(0.0);
        report.figure(format!("{label}: start → first GET /ovirt-engine/api"), fmt_ms(first_api), "≤ 1 s");
        report.figure(
            format!("{label}: start → first health answer"),
            fmt_ms(r["first_health_answer_ms"].as_f64()),
            "",
        );
        report.figure(format!("{label}: RSS after the first answer"), format!("{rss:.1} MiB"), "");
        results.insert(db.as_str().to_owned(), r);
    }
    report.results = Value::Object(results);
    report.write(opts, machine)?;
    Ok(report)
}

/// Launches the engine on the populated (stopped) data dir and times its first answers.
async fn cold_start(populated: &Populated) -> anyhow::Result<Value> {
    let engine = &populated.engine;
    let log = engine.data_dir.join("engine-cold-start.log");
    let out = std::fs::File::create(&log)?;
    let http = http_client()?;
    let base = format!("https://127.0.0.1:{}/ovirt-engine", engine.port);
    let t0 = Instant::now();
    let mut child = Command::new(engine_binary()?)
        .arg(format!("--data-dir={}", engine.data_dir.display()))
        .arg(format!("--https-port={}", engine.port))
        .arg("--listen-address=127.0.0.1")
        .env("OXVIRT_ADMIN_PASSWORD", TEST_ADMIN_PASSWORD)
        .env("OXVIRT_DATABASE_URL", &populated.db_url)
        .env("OXVIRT_LOG", "info")
        .stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out)
        .spawn()
        .context("starting the engine")?;
    let result = probe(&http, &base, t0, &mut child).await;
    let pid = child.id();
    let rss = procfs::rss_bytes(pid).ok();
    stop(&mut child);
    let (health, api) = result.with_context(|| format!("engine log: {}", log.display()))?;
    println!(
        "  [{}] first health answer {} first API answer {} RSS {:.1} MiB",
        populated.db.as_str(),
        fmt_ms(Some(health)),
        fmt_ms(Some(api)),
        rss.unwrap_or(0) as f64 / 1048576.0
    );
    Ok(json!({
        "first_health_answer_ms": health,
        "first_api_answer_ms": api,
        "rss_after_bytes": rss,
        "rss_after_mib": rss.map(|r| r as f64 / 1048576.0),
        "vms": populated.vm_ids.len(),
    }))
}

async fn probe(http: &reqwest::Client, base: &str, t0: Instant, child: &mut Child) -> anyhow::Result<(f64, f64)> {
    let mut health = None;
    loop {
        if let Some(status) = child.try_wait()? {
            bail!("the engine exited during start ({status})");
        }
        if t0.elapsed() > START_TIMEOUT {
            bail!("the engine did not answer within {START_TIMEOUT:?}");
        }
        if health.is_none() {
            let ok = http.get(format!("{base}/services/health")).send().await.is_ok_and(|r| r.status().is_success());
            if ok {
                health = Some(ms(t0.elapsed()));
            }
        }
        if health.is_some() {
            let reply = http
                .get(format!("{base}/api"))
                .basic_auth("admin@internal", Some(TEST_ADMIN_PASSWORD))
                .header("Accept", "application/xml")
                .send()
                .await;
            if let Ok(r) = reply
                && r.status().is_success()
                && r.bytes().await.is_ok()
            {
                return Ok((health.unwrap_or_default(), ms(t0.elapsed())));
            }
        }
        tokio::time::sleep(PROBE_INTERVAL).await;
    }
}

/// SIGTERM by PID (through `kill`, the workspace has no unsafe code), SIGKILL after 15 s.
fn stop(child: &mut Child) {
    let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if matches!(child.try_wait(), Ok(Some(_))) {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}
