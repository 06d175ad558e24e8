//! The engine's rules through its API, in one test binary: the engine runs in-process on a
//! real store (SQLite, and PostgreSQL where a test says so) against **simulated** hosts
//! (`oxvirt-sim`, a SIMULATION: the real agent transport and enrollment, no guests), all set up
//! by `oxvirt_testkit::EngineTestContext`.
//!
//! Why here and not only in `tests/sdk/*.py`: those scripts run the same rules through the
//! Python SDK against real test hosts, which need root, private libvirtds and real guests; the
//! rules themselves are the engine's, so they are tested here in well under a second each, on
//! every `cargo nextest run`, with the simulator's fault injection for the monitor's rules.
//! One binary for all of them (one link instead of one per file); one module per resource.
//!
//! Every test waits on conditions with deadlines (`EngineTestContext::wait_*`), never sleeps.

mod affinity_labels;
mod comments;
mod data_centers;
mod events;
mod front_door;
mod hosts;
mod job_crashes;
mod jobs;
mod operating_systems;
mod scheduling;
mod storage_domains;
mod tags;
mod vms;

use oxvirt_testkit::EngineTestContext;
use oxvirt_testkit::engine_context::id;
use serde_json::Value;

/// The names of the items of a collection.
fn names(items: &[Value]) -> Vec<String> {
    let mut names: Vec<String> = items.iter().filter_map(|i| i["name"].as_str().map(str::to_owned)).collect();
    names.sort();
    names
}

/// The id of the host a VM runs on (`None` when it has none).
fn vm_host(vm: &Value) -> Option<String> {
    vm["host"]["id"].as_str().map(str::to_owned)
}

/// Adds VM `name` to cluster `c1` with `memory` bytes, all of them guaranteed.
async fn vm_add_sized(ctx: &EngineTestContext, name: &str, memory: u64) -> String {
    let vm = ctx
        .vm_add(name, "c1", serde_json::json!({"memory": memory, "memory_policy": {"guaranteed": memory}}))
        .await
        .unwrap_or_else(|f| panic!("add VM {name}: {f}"));
    id(&vm)
}

/// Starts VM `vm` and waits until it is up; returns it.
async fn vm_start_up(ctx: &EngineTestContext, vm: &str) -> Value {
    let reply = ctx.api.action(&format!("vms/{vm}"), "start").await.unwrap_or_else(|f| panic!("start {vm}: {f}"));
    assert_eq!(reply["status"], "complete", "{reply}");
    ctx.vm_wait_status(vm, "up").await.expect("the VM comes up")
}
