//! Hosts: adding one enrolls its (simulated) agent and brings it Up; a wrong secret stores
//! nothing; maintenance and activation; updates (a cluster change only in maintenance);
//! removal only from maintenance; the data center
//! without an Up host; and the monitor: a host whose agent stops answering (FAULT INJECTION:
//! the simulator freezes it) turns `non_responsive` after the grace period, its running VMs
//! `unknown`, and both come back when it answers again.
//! (Ported from `tests/sdk/hosts.py`, `tests/host_monitor.rs` and the `expect` phase of
//! `tests/sdk/vms.py`, which run them against real hosts.)

use super::{names, vm_add_sized, vm_start_up};
use oxvirt_testkit::EngineTestContext;
use oxvirt_testkit::engine_context::{FreezeMode, GIB, SIM_ENROLLMENT_SECRET, id};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adding_a_simulated_host_enrolls_its_agent_and_brings_it_up() {
    let ctx = EngineTestContext::start(1).await.expect("context");
    ctx.data_center_add("dc1").await.expect("dc1");
    ctx.cluster_add("c1", "dc1").await.expect("c1");
    assert!(!ctx.sim_host(0).identity().is_enrolled());

    let host = ctx.api.post("hosts", &ctx.host_body(0, "h1", "c1", SIM_ENROLLMENT_SECRET)).await.expect("add h1");
    // As in oVirt, the reply comes once the host is recorded (installing); the job brings it up
    // (on a quick simulated host it may be up already when the reply is read).
    assert!(matches!(host["status"].as_str(), Some("installing" | "up")), "{host}");
    let host = ctx.host_wait_status(&id(&host), "up").await.expect("h1 up");
    assert_eq!(host["id"], ctx.sim_host(0).host_id().to_string(), "the agent's host id: {host}");
    assert_eq!(host["memory"], (16 * GIB).to_string(), "the memory the agent reports: {host}");
    assert_eq!(host["cpu"]["topology"]["cores"], "8", "{host}");
    assert!(ctx.sim_host(0).identity().is_enrolled(), "the engine's CA signed the agent's certificate");
    let up = ctx.api.list("hosts?search=status%3Dup", "host").await.expect("search");
    assert_eq!(names(&up), ["h1"]);
    ctx.event_wait(&["Host h1 was added", "Up"]).await.expect("add event");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rogue_agent_s_csr_gets_only_the_host_address_signed_and_its_fingerprint_is_recorded() {
    let ctx = EngineTestContext::start(1).await.expect("context");
    ctx.data_center_add("dc1").await.expect("dc1");
    ctx.cluster_add("c1", "dc1").await.expect("c1");
    let sim = ctx.sim_host(0);
    // FAULT INJECTION: the simulated agent's CSR also asks for the engine's name and a wildcard.
    sim.identity().fault_rogue_csr_names(vec!["engine.example".into(), "*.example".into()]);

    let host = ctx.api.post("hosts", &ctx.host_body(0, "h1", "c1", SIM_ENROLLMENT_SECRET)).await.expect("add h1");
    ctx.host_wait_status(&id(&host), "up").await.expect("h1 up");
    let pem = sim.identity().enrolled_certificate_pem().expect("read").expect("an issued certificate");
    let (names, is_ca) = oxvirt_testkit::pki::certificate_names(&pem).expect("parse");
    assert!(!is_ca, "a host certificate cannot sign others");
    assert_eq!(names, [sim.address().to_string()], "the engine signs the host's address, nothing the CSR added");
    let fingerprint = sim.identity().bootstrap_fingerprint();
    assert_eq!(fingerprint.len(), 32 * 3 - 1, "SHA-256 as AB:CD:…: {fingerprint}");
    ctx.event_wait(&["Host h1 was added", fingerprint]).await.expect("the event names the enrolled fingerprint");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_enrollment_secret_is_refused_and_stores_nothing() {
    let ctx = EngineTestContext::start(1).await.expect("context");
    ctx.data_center_add("dc1").await.expect("dc1");
    ctx.cluster_add("c1", "dc1").await.expect("c1");

    let f = ctx.api.post("hosts", &ctx.host_body(0, "h1", "c1", "wrong")).await.expect_err("a wrong secret");
    f.assert_names(401, &[]);
    assert!(ctx.api.list("hosts", "host").await.expect("list").is_empty(), "nothing stored");
    assert!(!ctx.sim_host(0).identity().is_enrolled(), "the agent is not enrolled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_needs_its_secret_an_existing_cluster_and_a_free_name() {
    let ctx = EngineTestContext::start(2).await.expect("context");
    ctx.setup(1).await.expect("dc1, c1 and sim0 up");

    let mut body = ctx.host_body(1, "h1", "c1", SIM_ENROLLMENT_SECRET);
    body.as_object_mut().expect("object").remove("root_password");
    ctx.api.post("hosts", &body).await.expect_err("no secret").assert_names(400, &["h1", "enrollment secret"]);
    let f = ctx.api.post("hosts", &ctx.host_body(1, "h1", "nosuch", SIM_ENROLLMENT_SECRET)).await;
    f.expect_err("unknown cluster").assert_names(400, &["cluster 'nosuch' does not exist"]);
    let f = ctx.api.post("hosts", &ctx.host_body(1, "sim0", "c1", SIM_ENROLLMENT_SECRET)).await;
    f.expect_err("a taken name").assert_names(409, &["sim0", "already exists"]);
    assert_eq!(names(&ctx.api.list("hosts", "host").await.expect("list")), ["sim0"]);
    assert!(!ctx.sim_host(1).identity().is_enrolled(), "refused before the agent was touched");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_up_host_is_removed_only_from_maintenance_and_can_be_added_again() {
    let ctx = EngineTestContext::start(1).await.expect("context");
    let s = ctx.setup(1).await.expect("dc1, c1 and sim0 up");
    let host = format!("hosts/{}", s.hosts[0]);

    ctx.api.delete(&host).await.expect_err("removing an Up host").assert_names(409, &["sim0", "maintenance"]);
    ctx.api.action(&host, "deactivate").await.expect("deactivate");
    assert_eq!(ctx.api.get(&host).await.expect("sim0")["status"], "maintenance");
    ctx.api.action(&host, "activate").await.expect("activate");
    assert_eq!(ctx.api.get(&host).await.expect("sim0")["status"], "up");
    ctx.api.action(&host, "deactivate").await.expect("deactivate again");
    ctx.api.delete(&host).await.expect("remove from maintenance");
    assert!(ctx.api.list("hosts", "host").await.expect("list").is_empty());
    ctx.api.get(&host).await.expect_err("gone").assert_names(404, &[]);

    // The engine that enrolled the agent can add it again: same host id, Up.
    let again = ctx.api.post("hosts", &ctx.host_body(0, "again", "c1", SIM_ENROLLMENT_SECRET)).await.expect("re-add");
    let again = ctx.host_wait_status(&id(&again), "up").await.expect("up again");
    assert_eq!((&again["status"], &again["id"]), (&json!("up"), &json!(s.hosts[0])), "{again}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_is_renamed_at_any_time_and_moves_to_another_cluster_of_its_data_center_in_maintenance() {
    let ctx = EngineTestContext::start(1).await.expect("context");
    let s = ctx.setup(1).await.expect("dc1, c1 and sim0 up");
    ctx.cluster_add("c2", "dc1").await.expect("c2");
    ctx.data_center_add("dc2").await.expect("dc2");
    ctx.cluster_add("other", "dc2").await.expect("other");
    let host = format!("hosts/{}", s.hosts[0]);
    let before = ctx.api.get(&host).await.expect("sim0");

    let renamed = ctx
        .api
        .put(
            &host,
            &json!({"name": "h1", "comment": "rack 4", "description": "the first", "address": before["address"]}),
        )
        .await
        .expect("rename");
    assert_eq!(
        (&renamed["name"], &renamed["comment"], &renamed["description"]),
        (&json!("h1"), &json!("rack 4"), &json!("the first"))
    );
    assert_eq!(renamed["status"], "up", "{renamed}");
    ctx.event_wait(&["h1", "configuration was updated"]).await.expect("event 43");

    let refused: &[(serde_json::Value, u16, &[&str])] = &[
        (json!({"cluster": {"name": "c2"}}), 409, &["h1", "up", "maintenance"]),
        (json!({"address": "192.0.2.99"}), 400, &["h1", "address", "add it again"]),
        (json!({"port": 1}), 400, &["h1", "port"]),
        (json!({"name": ""}), 400, &["name"]),
        (json!({"cluster": {"name": "nowhere"}}), 400, &["nowhere"]),
        (json!({"ssh": {"port": 22}}), 400, &["host.ssh", "not supported"]),
    ];
    for (body, status, words) in refused {
        ctx.api.put(&host, body).await.expect_err("refused").assert_names(*status, words);
    }

    ctx.api.action(&host, "deactivate").await.expect("deactivate");
    ctx.api
        .put(&host, &json!({"cluster": {"name": "other"}}))
        .await
        .expect_err("another data center")
        .assert_names(409, &["h1", "other", "data center"]);
    let moved = ctx.api.put(&host, &json!({"cluster": {"name": "c2"}})).await.expect("move to c2");
    assert_eq!(
        moved["cluster"]["id"],
        ctx.api.list("clusters?search=name%3Dc2", "cluster").await.expect("c2")[0]["id"]
    );
    ctx.api.action(&host, "activate").await.expect("activate");
    let up = ctx.api.get(&host).await.expect("h1");
    assert_eq!((&up["status"], &up["name"]), (&json!("up"), &json!("h1")), "{up}");
    assert_eq!(ctx.api.list("hosts?search=cluster%3Dc2", "host").await.expect("hosts of c2").len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_data_center_whose_only_host_is_in_maintenance_is_not_operational() {
    let ctx = EngineTestContext::start(1).await.expect("context");
    let s = ctx.setup_with_local_domain(1, 0).await.expect("dc1 up with local0");
    let dc = format!("datacenters/{}", s.dc);
    ctx.api.action(&format!("hosts/{}", s.hosts[0]), "deactivate").await.expect("deactivate sim0");
    assert_eq!(ctx.api.get(&dc).await.expect("dc1")["status"], "not_operational");
    ctx.api.action(&format!("hosts/{}", s.hosts[0]), "activate").await.expect("activate sim0");
    assert_eq!(ctx.api.get(&dc).await.expect("dc1")["status"], "up");
}

/// The data center is `up` only with an active data domain and an Up host: its only host
/// not answering makes it `not_operational`, the host answering again brings it back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_data_center_whose_only_host_does_not_answer_is_not_operational() {
    let ctx = EngineTestContext::options().hosts(1).host_grace_seconds(1).start().await.expect("context");
    let s = ctx.setup_with_local_domain(1, 0).await.expect("dc1 up with local0");
    ctx.sim_host(0).freeze(FreezeMode::Refuse).await.expect("freeze sim0");
    ctx.host_wait_status(&s.hosts[0], "non_responsive").await.expect("non_responsive");
    ctx.wait_status(&format!("datacenters/{}", s.dc), "not_operational").await.expect("dc1 not operational");
    ctx.sim_host(0).thaw().await.expect("thaw sim0");
    ctx.wait_status(&format!("datacenters/{}", s.dc), "up").await.expect("dc1 up again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_host_turns_non_responsive_after_the_grace_period_and_up_when_thawed() {
    let ctx = EngineTestContext::options().hosts(1).host_grace_seconds(2).start().await.expect("context");
    let s = ctx.setup(1).await.expect("dc1, c1 and sim0 up");
    let sim0 = ctx.sim_host(0).clone();

    sim0.freeze(FreezeMode::Refuse).await.expect("freeze sim0");
    let host = ctx.host_wait_status(&s.hosts[0], "non_responsive").await.expect("non_responsive");
    let detail = host["status_detail"].as_str().unwrap_or_default();
    assert!(detail.contains("has not answered since") && detail.contains(&sim0.address().to_string()), "{host}");
    ctx.event_wait(&["sim0", "is non responsive", "has not answered since"]).await.expect("event");

    sim0.thaw().await.expect("thaw sim0");
    let host = ctx.host_wait_status(&s.hosts[0], "up").await.expect("up again");
    assert!(host.get("status_detail").is_none(), "an Up host has no status detail: {host}");
    ctx.event_wait(&["sim0", "answers again", "Up"]).await.expect("event");
}

/// A hanging agent (accepts connections, never answers): the event stream's open and the
/// full reconcile are bounded by the grace period, so the host goes non-responsive within a few
/// grace periods (not after the 120 s call deadline), and Up again once the agent answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_agent_makes_its_host_non_responsive_within_the_grace_period_and_up_after() {
    let ctx = EngineTestContext::options().hosts(1).host_grace_seconds(2).start().await.expect("context");
    let s = ctx.setup(1).await.expect("dc1, c1 and sim0 up");
    let sim0 = ctx.sim_host(0).clone();
    let frozen = std::time::Instant::now();
    sim0.freeze(FreezeMode::Hang).await.expect("freeze sim0 (hang)");
    ctx.host_wait_status(&s.hosts[0], "non_responsive").await.expect("non_responsive");
    let took = frozen.elapsed();
    assert!(took < std::time::Duration::from_secs(15), "non-responsive after {took:?}, with a grace of 2 s");
    sim0.thaw().await.expect("thaw sim0");
    ctx.host_wait_status(&s.hosts[0], "up").await.expect("up again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vm_on_a_frozen_host_is_unknown_until_the_host_answers_then_up_and_never_restarted() {
    let ctx = EngineTestContext::options().hosts(1).host_grace_seconds(2).start().await.expect("context");
    let s = ctx.setup(1).await.expect("dc1, c1 and sim0 up");
    let vm = vm_add_sized(&ctx, "vm1", GIB).await;
    vm_start_up(&ctx, &vm).await;
    let sim0 = ctx.sim_host(0).clone();
    let vm_id = vm.parse().expect("vm id");
    let before = sim0.registry().get(vm_id).expect("the VM runs on sim0");

    sim0.freeze(FreezeMode::Refuse).await.expect("freeze sim0");
    let unknown = ctx.vm_wait_status(&vm, "unknown").await.expect("the VM is unknown");
    assert_eq!(unknown["host"]["id"], s.hosts[0], "it stays on its host: {unknown}");
    assert_eq!(ctx.api.get(&format!("hosts/{}", s.hosts[0])).await.expect("sim0")["status"], "non_responsive");
    ctx.event_wait(&["vm1", "Unknown"]).await.expect("event");

    sim0.thaw().await.expect("thaw sim0");
    let up = ctx.vm_wait_status(&vm, "up").await.expect("the VM is up again");
    assert_eq!(up["host"]["id"], s.hosts[0], "{up}");
    ctx.host_wait_status(&s.hosts[0], "up").await.expect("sim0 up");
    let after = sim0.registry().get(vm_id).expect("the VM still runs on sim0");
    assert_eq!(after.generation, before.generation, "the engine did not touch the VM: {before:?} {after:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn activating_a_host_whose_agent_does_not_answer_makes_it_non_responsive() {
    let ctx = EngineTestContext::start(1).await.expect("context");
    let s = ctx.setup(1).await.expect("dc1, c1 and sim0 up");
    let host = format!("hosts/{}", s.hosts[0]);
    ctx.api.action(&host, "deactivate").await.expect("deactivate");
    ctx.sim_host(0).freeze(FreezeMode::Refuse).await.expect("freeze sim0");

    let reply = ctx.api.action(&host, "activate").await.expect("the activation itself is accepted");
    assert_eq!(reply["status"], "complete", "{reply}");
    assert_eq!(ctx.api.get(&host).await.expect("sim0")["status"], "non_responsive");
    ctx.event_wait(&["sim0", "was activated", "non_responsive"]).await.expect("event");

    // The monitor brings it Up once its agent answers.
    ctx.sim_host(0).thaw().await.expect("thaw sim0");
    ctx.host_wait_status(&s.hosts[0], "up").await.expect("up");
    let vm = vm_add_sized(&ctx, "vm1", GIB).await;
    vm_start_up(&ctx, &vm).await;
    assert_eq!(ctx.sim_hosts_running(&vm), [0], "the host runs VMs again");
    assert_eq!(id(&ctx.api.get(&host).await.expect("sim0")), s.hosts[0]);
}

/// `refresh` reads the host's capabilities again (here: the recorded ones were lost) and keeps
/// its status; a host whose agent does not answer (FAULT INJECTION: frozen) is refused, named.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_reads_a_host_s_capabilities_again_and_keeps_its_status() {
    let ctx = EngineTestContext::start(1).await.expect("context");
    let s = ctx.setup(1).await.expect("dc1, c1 and sim0 up");
    let host = format!("hosts/{}", s.hosts[0]);
    let memory = ctx.api.get(&host).await.expect("sim0")["memory"].clone();
    let store = ctx.store().await.expect("store");
    let sim0: oxvirt_types::HostId = s.hosts[0].parse().expect("host id");
    store.host_capabilities_set(sim0, &json!({}), oxvirt_types::ByteSize(1)).await.expect("forget");
    assert_eq!(ctx.api.get(&host).await.expect("sim0")["memory"], "1");

    ctx.api.action(&host, "refresh").await.expect("refresh");
    let got = ctx.api.get(&host).await.expect("sim0");
    assert_eq!((&got["memory"], &got["status"]), (&memory, &json!("up")), "{got}");
    assert!(store.host_get(sim0).await.expect("row").capabilities.is_some_and(|c| c.get("memory").is_some()));

    ctx.sim_host(0).freeze(FreezeMode::Refuse).await.expect("freeze sim0");
    let f = ctx.api.action(&host, "refresh").await.expect_err("frozen");
    f.assert_names(409, &["sim0", "does not answer"]);
    ctx.sim_host(0).thaw().await.expect("thaw sim0");
}
