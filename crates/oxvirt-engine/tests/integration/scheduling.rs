//! Where a VM starts: on an Up host of its cluster that reaches its disks' storage and has its
//! guaranteed memory free — the preferred host when it qualifies, else the one with the most
//! memory free — and refusals (409) that say why, naming the VM and what is missing. Every
//! simulated host has 16 GiB, all of it scheduling memory.
//! (The scheduler's policy has table tests of its own in `app/scheduler.rs`; these check the
//! engine applies it to what it really holds: running VMs, host statuses, local domains.)

use super::{vm_add_sized, vm_host, vm_start_up};
use oxvirt_testkit::EngineTestContext;
use oxvirt_testkit::engine_context::{GIB, id};
use serde_json::json;

/// The index of the simulated host with engine id `host`.
fn sim_index(ctx: &EngineTestContext, host: &str) -> usize {
    ctx.sim().hosts().iter().find(|h| h.host_id().to_string() == host).map(|h| h.index).expect("a simulated host")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vm_starts_on_the_host_with_the_most_memory_free() {
    let ctx = EngineTestContext::start(2).await.expect("context");
    ctx.setup(2).await.expect("dc1, c1, sim0 and sim1 up");
    let a = vm_add_sized(&ctx, "a", 4 * GIB).await;
    let first = vm_host(&vm_start_up(&ctx, &a).await).expect("a runs on a host");
    assert_eq!(ctx.sim_hosts_running(&a), [sim_index(&ctx, &first)], "the engine's host is where it runs");

    // The host running `a` has 12 GiB free, the other 16: `b` goes to the other.
    let b = vm_add_sized(&ctx, "b", 4 * GIB).await;
    let second = vm_host(&vm_start_up(&ctx, &b).await).expect("b runs on a host");
    assert_ne!(second, first, "b goes to the host with more memory free");
    assert_eq!(ctx.sim_hosts_running(&b), [sim_index(&ctx, &second)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_preferred_host_wins_while_the_vm_fits_on_it() {
    let ctx = EngineTestContext::start(2).await.expect("context");
    ctx.setup(2).await.expect("dc1, c1, sim0 and sim1 up");
    let hog = vm_add_sized(&ctx, "hog", 8 * GIB).await;
    let busy = vm_host(&vm_start_up(&ctx, &hog).await).expect("hog runs");

    // Preferred: the busy host (8 GiB free, the other has 16), and 4 GiB fit there.
    let placed = |gib: u64| {
        json!({"memory": gib * GIB, "memory_policy": {"guaranteed": gib * GIB},
               "placement_policy": {"hosts": {"host": [{"id": busy}]}}})
    };
    let pinned = id(&ctx.vm_add("pinned", "c1", placed(4)).await.expect("add pinned"));
    let vm = ctx.api.get(&format!("vms/{pinned}")).await.expect("pinned");
    assert_eq!(vm["placement_policy"]["hosts"]["host"][0]["id"], busy, "{vm}");
    assert_eq!(vm_host(&vm_start_up(&ctx, &pinned).await), Some(busy.clone()), "the preferred host");

    // 4 GiB are left on it: a VM preferring it with 6 GiB goes to the other host.
    let spill = id(&ctx.vm_add("spill", "c1", placed(6)).await.expect("add spill"));
    let host = vm_host(&vm_start_up(&ctx, &spill).await).expect("spill runs");
    assert_ne!(host, busy, "the preferred host has too little memory free");
}

/// Pinned (affinity `pinned` with a host, set by an update as the SDK's `pin_vm.py` does):
/// the VM runs there or not at all, and the refusal names the host and why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pinned_vm_runs_on_its_host_or_not_at_all() {
    let ctx = EngineTestContext::start(2).await.expect("context");
    ctx.setup(2).await.expect("dc1, c1, sim0 and sim1 up");
    let hog = vm_add_sized(&ctx, "hog", 8 * GIB).await;
    let busy = vm_host(&vm_start_up(&ctx, &hog).await).expect("hog runs");
    let busy_name =
        ctx.api.get(&format!("hosts/{busy}")).await.expect("host")["name"].as_str().expect("name").to_owned();

    let vm = vm_add_sized(&ctx, "pinned", 4 * GIB).await;
    let pin = json!({"placement_policy": {"affinity": "pinned", "hosts": {"host": [{"name": busy_name}]}}});
    let updated = ctx.api.put(&format!("vms/{vm}"), &pin).await.expect("pin");
    assert_eq!(updated["placement_policy"]["affinity"], "pinned", "{updated}");
    assert_eq!(vm_host(&vm_start_up(&ctx, &vm).await), Some(busy.clone()), "its host, though the other has more free");
    ctx.api.action(&format!("vms/{vm}"), "stop").await.expect("stop");
    ctx.vm_wait_status(&vm, "down").await.expect("down");

    // 8 GiB free on the pinned host (16 on the other): 10 GiB do not fit there, and the VM
    // does not go elsewhere.
    ctx.api
        .put(&format!("vms/{vm}"), &json!({"memory": 10 * GIB, "memory_policy": {"guaranteed": 10 * GIB}}))
        .await
        .expect("grow");
    let f = ctx.api.action(&format!("vms/{vm}"), "start").await.expect_err("its host has no room");
    f.assert_names(409, &["pinned to host", &busy_name, "bytes free"]);
    assert!(ctx.sim_hosts_running(&vm).is_empty(), "it runs nowhere");

    // Two hosts are refused (oxvirt keeps one), naming the field.
    let two = json!({"placement_policy": {"hosts": {"host": [{"id": busy}, {"id": busy}]}}});
    ctx.api
        .put(&format!("vms/{vm}"), &two)
        .await
        .expect_err("two hosts")
        .assert_names(400, &["placement_policy.hosts"]);
    // Migratable again: the host is only preferred, so the VM runs on the other one.
    let free = json!({"placement_policy": {"affinity": "migratable"}});
    ctx.api.put(&format!("vms/{vm}"), &free).await.expect("unpin");
    let host = vm_host(&vm_start_up(&ctx, &vm).await).expect("runs");
    assert_ne!(host, busy);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vm_no_host_has_the_memory_for_is_refused_naming_it_and_stays_down() {
    let ctx = EngineTestContext::start(2).await.expect("context");
    ctx.setup(2).await.expect("dc1, c1, sim0 and sim1 up");
    let (a, b) = (vm_add_sized(&ctx, "a", 12 * GIB).await, vm_add_sized(&ctx, "b", 12 * GIB).await);
    vm_start_up(&ctx, &a).await;
    vm_start_up(&ctx, &b).await;
    assert_ne!(ctx.sim_hosts_running(&a), ctx.sim_hosts_running(&b), "one on each host");

    // 4 GiB free on each host: 8 GiB guaranteed fit nowhere.
    let big = vm_add_sized(&ctx, "big", 8 * GIB).await;
    let f = ctx.api.action(&format!("vms/{big}"), "start").await.expect_err("no host has 8 GiB free");
    f.assert_names(409, &["big", &(8 * GIB).to_string(), "memory free"]);
    let vm = ctx.api.get(&format!("vms/{big}")).await.expect("big");
    assert_eq!(vm["status"], "down", "{vm}");
    assert!(vm_host(&vm).is_none() && ctx.sim_hosts_running(&big).is_empty(), "it runs nowhere: {vm}");
    ctx.event_wait(&["Failed to run VM big"]).await.expect("event");

    // Memory of a stopped VM is free again.
    ctx.api.action(&format!("vms/{a}"), "stop").await.expect("stop a");
    ctx.vm_wait_status(&a, "down").await.expect("a down");
    vm_start_up(&ctx, &big).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_an_up_host_a_start_is_refused_naming_the_cluster() {
    let ctx = EngineTestContext::start(2).await.expect("context");
    let s = ctx.setup(2).await.expect("dc1, c1, sim0 and sim1 up");
    for h in &s.hosts {
        ctx.api.action(&format!("hosts/{h}"), "deactivate").await.expect("to maintenance");
    }
    let vm = vm_add_sized(&ctx, "vm1", GIB).await;
    let f = ctx.api.action(&format!("vms/{vm}"), "start").await.expect_err("no Up host");
    f.assert_names(409, &["vm1", "cluster c1", "no Up host"]);
    assert_eq!(ctx.api.get(&format!("vms/{vm}")).await.expect("vm1")["status"], "down");
    assert!(ctx.sim_hosts_running(&vm).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vm_with_a_disk_on_a_local_domain_runs_on_that_domains_host_even_with_less_memory_free() {
    let ctx = EngineTestContext::start(2).await.expect("context");
    ctx.setup(2).await.expect("dc1, c1, sim0 and sim1 up");
    // A VM without disks makes one host the fuller one; the local domain goes on that host.
    let hog = vm_add_sized(&ctx, "hog", 8 * GIB).await;
    let busy = vm_host(&vm_start_up(&ctx, &hog).await).expect("hog runs");
    let busy_index = sim_index(&ctx, &busy);
    let dc = id(&ctx.api.list("datacenters?search=name%3Ddc1", "data_center").await.expect("dc1")[0]);
    let sd = id(&ctx.storage_domain_add_local("local0", &EngineTestContext::host_name(busy_index)).await.expect("sd"));
    ctx.storage_domain_attach(&dc, &sd).await.expect("attach local0");

    let vm = vm_add_sized(&ctx, "vm1", GIB).await;
    ctx.vm_disk_add(&vm, "vm1-disk", &sd, GIB).await.expect("a disk on local0");
    let up = vm_start_up(&ctx, &vm).await;
    assert_eq!(vm_host(&up), Some(busy), "the only host that reaches local0: {up}");
    assert_eq!(ctx.sim_hosts_running(&vm), [busy_index]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vm_whose_local_domain_host_is_not_up_is_refused_naming_the_domain() {
    let ctx = EngineTestContext::start(2).await.expect("context");
    let s = ctx.setup_with_local_domain(2, 0).await.expect("dc1 up with local0 on sim0, sim1 up too");
    let vm = vm_add_sized(&ctx, "vm1", GIB).await;
    ctx.vm_disk_add(&vm, "vm1-disk", s.sd(), GIB).await.expect("a disk on local0");
    ctx.api.action(&format!("hosts/{}", s.hosts[0]), "deactivate").await.expect("sim0 to maintenance");

    let f = ctx.api.action(&format!("vms/{vm}"), "start").await.expect_err("only sim0 reaches local0");
    f.assert_names(409, &["vm1", "local0", "reaches"]);
    assert_eq!(ctx.api.get(&format!("vms/{vm}")).await.expect("vm1")["status"], "down");
    assert!(ctx.sim_hosts_running(&vm).is_empty(), "sim1 was not asked to run it");
}
