//! B3 API latency: with 10,000 and 100,000 VMs in the database, `GET /vms/{id}`,
//! `GET /vms?max=100`, `GET /vms?search=name=…*` (p50/p99 each) and the full `GET /vms`
//! (time and bytes), in XML and JSON, on SQLite and PostgreSQL.
//!
//! One keep-alive HTTPS client with an SSO bearer token (not Basic auth, whose argon2 check
//! on every request would dominate), requests one after another, 20 unmeasured warm-up
//! requests per case. The database is filled through the store (setup, not measured).

use crate::Options;
use crate::api::{Api, Format};
use crate::machine::Machine;
use crate::populate::Populated;
use crate::report::{Report, fmt_ms};
use crate::stats::{Rng, ms, percentile, summary};
use oxvirt_testkit::engine::TEST_ADMIN_PASSWORD;
use serde_json::{Map, Value, json};

const WARMUP: usize = 20;

pub fn sizes(opts: &Options) -> Vec<usize> {
    match (opts.n, opts.quick) {
        (Some(n), _) => vec![n],
        (None, true) => vec![1_000],
        (None, false) => vec![10_000, 100_000],
    }
}

pub async fn run(opts: &Options, machine: &Machine) -> anyhow::Result<Report> {
    let mut report = Report::new("b3", "API latency with many VMs in the database");
    let sizes = sizes(opts);
    let requests = opts.requests.unwrap_or(if opts.quick { 50 } else { 500 });
    let full_reps = if opts.quick { 1 } else { 3 };
    let backends = opts.db.backends();
    report.params = json!({
        "vm_counts": sizes,
        "requests_per_case": requests,
        "warmup_requests_per_case": WARMUP,
        "full_list_repetitions": full_reps,
        "databases": backends.iter().map(|d| d.as_str()).collect::<Vec<_>>(),
        "formats": ["xml", "json"],
        "auth": "SSO bearer token (password grant), one keep-alive HTTPS/1.1 connection, sequential requests",
        "search": "name=bench-vm-NNNN* (a random prefix matching up to 100 VMs)",
    });
    print_params(&report);
    let mut results = Map::new();
    for db in backends {
        let mut populated = Populated::start(db).await?;
        for &size in &sizes {
            let setup = populated.grow_to(size).await?;
            println!(
                "  [{}] {} VMs in the database (setup, not measured: {:.1} s)",
                db.as_str(),
                size,
                setup.as_secs_f64()
            );
            populated.engine.restart().await?;
            let api = Api::login(&populated.engine.api_url, TEST_ADMIN_PASSWORD).await?;
            let mut per_format = Map::new();
            for format in [Format::Xml, Format::Json] {
                let r = measure(&api, &populated, size, format, requests, full_reps).await?;
                let label = format!("{} {} VMs {}", db.as_str(), size, format.as_str());
                let p = |case: &str, q: &str| r[case][q].as_f64();
                let target_by_id = if size >= 100_000 { "p99 ≤ 5 ms" } else { "" };
                report.figure(format!("{label} GET /vms/{{id}} p50"), fmt_ms(p("get_by_id_ms", "p50")), "");
                report.figure(format!("{label} GET /vms/{{id}} p99"), fmt_ms(p("get_by_id_ms", "p99")), target_by_id);
                report.figure(format!("{label} GET /vms?max=100 p50"), fmt_ms(p("list_max_100_ms", "p50")), "");
                report.figure(format!("{label} GET /vms?max=100 p99"), fmt_ms(p("list_max_100_ms", "p99")), "");
                report.figure(
                    format!("{label} GET /vms?search=name=…* p50"),
                    fmt_ms(p("search_name_prefix_ms", "p50")),
                    "",
                );
                report.figure(
                    format!("{label} GET /vms?search=name=…* p99"),
                    fmt_ms(p("search_name_prefix_ms", "p99")),
                    "",
                );
                report.figure(
                    format!("{label} full GET /vms (time, bytes)"),
                    format!(
                        "{}, {:.1} MB",
                        fmt_ms(p("full_list_ms", "p50")),
                        r["full_list_bytes"].as_f64().unwrap_or(0.0) / 1e6
                    ),
                    "",
                );
                per_format.insert(format.as_str().to_owned(), r);
            }
            results.insert(format!("{}_{}", db.as_str(), size), Value::Object(per_format));
        }
    }
    report.results = Value::Object(results);
    report.write(opts, machine)?;
    Ok(report)
}

fn print_params(report: &Report) {
    println!("B3 {} — parameters: {}", report.title, report.params);
}

async fn measure(
    api: &Api,
    populated: &Populated,
    size: usize,
    format: Format,
    requests: usize,
    full_reps: usize,
) -> anyhow::Result<Value> {
    let mut rng = Rng::new(0x0b3 + size as u64);
    let ids = &populated.vm_ids;
    let prefixes = size.div_ceil(100).max(1);
    let mut by_id = Vec::with_capacity(requests);
    let mut list = Vec::with_capacity(requests);
    let mut search = Vec::with_capacity(requests);
    let mut search_bytes = Vec::with_capacity(requests);
    for i in 0..WARMUP + requests {
        let id = ids[rng.below(ids.len())];
        let (d, _) = api.timed_get(&format!("/vms/{id}"), format).await?;
        if i >= WARMUP {
            by_id.push(ms(d));
        }
    }
    for i in 0..WARMUP + requests {
        let (d, _) = api.timed_get("/vms?max=100", format).await?;
        if i >= WARMUP {
            list.push(ms(d));
        }
    }
    for i in 0..WARMUP + requests {
        let prefix = format!("bench-vm-{:04}", rng.below(prefixes));
        let (d, bytes) = api.timed_get(&format!("/vms?search=name%3D{prefix}%2A"), format).await?;
        if i >= WARMUP {
            search.push(ms(d));
            search_bytes.push(bytes as f64);
        }
    }
    let mut full = Vec::with_capacity(full_reps);
    let mut full_bytes = 0;
    for _ in 0..full_reps {
        let (d, bytes) = api.timed_get("/vms", format).await?;
        full.push(ms(d));
        full_bytes = bytes;
    }
    println!(
        "  [{} {} VMs {}] by id p50 {} p99 {} | max=100 p50 {} | search p50 {} | full {} ({} bytes)",
        populated.db.as_str(),
        size,
        format.as_str(),
        fmt_ms(percentile(&by_id, 50.0)),
        fmt_ms(percentile(&by_id, 99.0)),
        fmt_ms(percentile(&list, 50.0)),
        fmt_ms(percentile(&search, 50.0)),
        fmt_ms(percentile(&full, 50.0)),
        full_bytes
    );
    Ok(json!({
        "get_by_id_ms": summary(&by_id),
        "list_max_100_ms": summary(&list),
        "search_name_prefix_ms": summary(&search),
        "search_reply_bytes": summary(&search_bytes),
        "full_list_ms": summary(&full),
        "full_list_bytes": full_bytes,
    }))
}
