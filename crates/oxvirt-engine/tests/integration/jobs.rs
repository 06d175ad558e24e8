//! Jobs as clients see them: oVirt's asynchronous answers (`async`, transitional statuses),
//! `Correlation-Id`, a client that disconnects mid-request, and races between requests that
//! compare-and-set must settle (on SIMULATED hosts).

use super::vm_add_sized;
use oxvirt_agent_api::v1::VmRunState;
use oxvirt_testkit::EngineTestContext;
use oxvirt_testkit::engine_context::{FreezeMode, GIB, id};
use serde_json::{Value, json};
use std::time::Duration;

fn disk_body(name: &str, sd: &str) -> Value {
    json!({"name": name, "format": "cow", "sparse": true, "provisioned_size": GIB,
           "storage_domains": {"storage_domain": [{"id": sd}]}})
}

/// Waits until no job is `started` any more.
async fn jobs_settled(ctx: &EngineTestContext) {
    ctx.wait_for("every job to end", || async {
        ctx.api.list("jobs?search=status%3Dstarted", "job").await.ok()?.is_empty().then_some(())
    })
    .await
    .expect("the jobs end")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_carries_the_requests_correlation_id_and_is_found_by_it() {
    let ctx = EngineTestContext::start(1).await.expect("context");
    let s = ctx.setup_with_local_domain(1, 0).await.expect("setup");
    let api = ctx.api.clone().with_header("Correlation-Id", "corr-42");
    let disk = api.post("disks", &disk_body("d9", s.sd())).await.expect("add d9");
    // As oVirt: the reply comes at once, the disk locked until its volume exists.
    assert_eq!(disk["status"], "locked", "{disk}");
    ctx.wait_status(&format!("disks/{}", id(&disk)), "ok").await.expect("d9 ok");
    let found = ctx.api.list("jobs?search=correlation_id%3Dcorr-42", "job").await.expect("search");
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0]["description"], "Adding disk d9");
    ctx.wait_status(&format!("jobs/{}", id(&found[0])), "finished").await.expect("the job finished");
    let steps = ctx.api.list(&format!("jobs/{}/steps", id(&found[0])), "step").await.expect("steps");
    assert_eq!(steps.len(), 3, "record, create the volume, mark ok: {steps:?}");
    assert!(steps.iter().all(|s| s["status"] == "finished"), "{steps:?}");
    let none = ctx.api.list("jobs?search=correlation_id%3Dother", "job").await.expect("search");
    assert!(none.is_empty(), "{none:?}");
    ctx.api
        .get("jobs?search=owner%3Dadmin")
        .await
        .expect_err("an unknown search field")
        .assert_names(400, &["owner", "correlation_id"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_false_answers_when_the_job_has_ended_and_async_true_as_soon_as_it_is_accepted() {
    let ctx = EngineTestContext::start(1).await.expect("context");
    let s = ctx.setup_with_local_domain(1, 0).await.expect("setup");
    let disk = ctx.api.post("disks?async=false", &disk_body("waited", s.sd())).await.expect("add");
    assert_eq!(disk["status"], "ok", "async=false waits for the volume: {disk}");
    ctx.api.get("disks?async=maybe").await.expect("GET ignores async");
    ctx.api
        .post("disks?async=maybe", &disk_body("x", s.sd()))
        .await
        .expect_err("bad async")
        .assert_names(400, &["async"]);

    let vm = vm_add_sized(&ctx, "vm1", GIB).await;
    let reply = ctx.api.action_with(&format!("vms/{vm}"), "start", &json!({"async": true})).await.expect("start");
    assert_eq!(reply["vm"]["status"], "wait_for_launch", "async: accepted, not launched yet: {reply}");
    ctx.vm_wait_status(&vm, "up").await.expect("up");
    let reply = ctx.api.action_with(&format!("vms/{vm}"), "stop", &json!({"async": false})).await.expect("stop");
    assert_eq!(reply["vm"]["status"], "down", "{reply}");
    // By default a start answers once the host has created the domain.
    let reply = ctx.api.action(&format!("vms/{vm}"), "start").await.expect("start");
    let status = reply["vm"]["status"].as_str().unwrap_or_default().to_owned();
    assert!(["wait_for_launch", "powering_up", "up"].contains(&status.as_str()), "{reply}");
    assert_eq!(ctx.sim_hosts_running(&vm), vec![0], "the host runs it when the start answers");
}

/// A client that disconnects at any point of its request (cut after 0-100 ms) changes
/// nothing about the outcome: the job runs on, the VM and the disk settle without a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_disconnects_mid_request_changes_nothing_about_the_outcome() {
    let ctx = EngineTestContext::start(1).await.expect("context");
    let s = ctx.setup_with_local_domain(1, 0).await.expect("setup");
    let vm = vm_add_sized(&ctx, "vm1", GIB).await;
    ctx.vm_disk_add(&vm, "boot", s.sd(), GIB).await.expect("disk");
    ctx.api.get("vms").await.expect("log in once: the cut clients reuse the token");
    // The request may still reach the engine after the client gave up, so each check waits
    // for the outcome to converge: no job running, the VM up or down, every disk ok.
    let converged = || async {
        let started = ctx.api.list("jobs?search=status%3Dstarted", "job").await.ok()?;
        let v = ctx.api.get(&format!("vms/{vm}")).await.ok()?;
        let disks = ctx.api.list("disks", "disk").await.ok()?;
        (started.is_empty()
            && matches!(v["status"].as_str(), Some("up" | "down"))
            && disks.iter().all(|d| d["status"] == "ok"))
        .then_some(v)
    };
    for cut_ms in [1, 2, 3, 5, 8, 12, 20, 30, 50, 100] {
        let cutting = ctx.api.clone().cutting_after(Duration::from_millis(cut_ms));
        let _ = cutting.action(&format!("vms/{vm}"), "start").await;
        let settled = ctx.wait_for("the start to converge", converged).await.expect("converges");
        if settled["status"] == "up" {
            let jobs = ctx.api.list("jobs", "job").await.expect("jobs");
            let run: Vec<_> = jobs.iter().filter(|j| j["description"] == "Launching VM vm1").collect();
            assert!(run.iter().any(|j| j["status"] == "finished"), "cut at {cut_ms} ms: {jobs:?}");
            assert_eq!(ctx.sim_hosts_running(&vm), vec![0], "cut at {cut_ms} ms");
            ctx.api.action(&format!("vms/{vm}"), "stop").await.expect("stop");
            ctx.vm_wait_status(&vm, "down").await.expect("down");
        } else {
            assert!(ctx.sim_hosts_running(&vm).is_empty(), "cut at {cut_ms} ms: down and not running");
        }

        let _ = cutting.post("disks", &disk_body(&format!("cut{cut_ms}"), s.sd())).await;
        ctx.wait_for("the disk add to converge", converged).await.expect("no disk is left locked");
    }
}

/// Start and remove of the same down VM, sent together, 1,000 times: one of them wins; never
/// a running domain the database does not know, never a VM row without its run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_racing_remove_never_leaves_a_running_vm_the_database_does_not_know() {
    let ctx = EngineTestContext::start(1).await.expect("context");
    ctx.setup(1).await.expect("setup");
    let (mut started, mut removed) = (0, 0);
    for i in 0..1000 {
        let vm = vm_add_sized(&ctx, &format!("race{i}"), 64 << 20).await;
        let path = format!("vms/{vm}");
        let (start, remove) = tokio::join!(ctx.api.action(&path, "start"), ctx.api.delete(&path));
        jobs_settled(&ctx).await;
        match (start, remove) {
            (Ok(_), Err(fault)) => {
                fault.assert_names(409, &[&format!("race{i}")]);
                ctx.vm_wait_status(&vm, "up").await.expect("the start won");
                assert_eq!(ctx.sim_hosts_running(&vm), vec![0]);
                ctx.api.action(&path, "stop").await.expect("stop");
                ctx.vm_wait_status(&vm, "down").await.expect("down");
                ctx.api.delete(&path).await.expect("remove");
                started += 1;
            }
            (Err(fault), Ok(_)) => {
                assert!(matches!(fault.status, 404 | 409), "the start lost: {fault}");
                removed += 1;
            }
            (start, remove) => panic!("iteration {i}: both or neither won: start {start:?}, remove {remove:?}"),
        }
        ctx.wait_gone(&path).await.expect("gone");
        let vm_id = vm.parse().expect("id");
        let on_sim = ctx.sim_host(0).registry().get(vm_id);
        assert!(
            on_sim.as_ref().is_none_or(|s| s.state == VmRunState::Down),
            "iteration {i}: a removed VM runs: {on_sim:?}"
        );
    }
    eprintln!("start won {started} times, remove {removed} times");
}

/// A VM start and the removal of its disk, sent together, 100 times: the disk is locked by
/// whichever comes first, so either the VM runs with its disk or the disk is gone and the VM
/// is down — never a running VM whose disk was deleted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_racing_disk_remove_never_runs_a_vm_on_a_deleted_disk() {
    let ctx = EngineTestContext::start(1).await.expect("context");
    let s = ctx.setup_with_local_domain(1, 0).await.expect("setup");
    let vm = vm_add_sized(&ctx, "vm1", 64 << 20).await;
    let path = format!("vms/{vm}");
    for i in 0..100 {
        let disk = id(&ctx.vm_disk_add(&vm, &format!("d{i}"), s.sd(), GIB).await.expect("disk"));
        let disk_path = format!("disks/{disk}");
        let (start, remove) = tokio::join!(ctx.api.action(&path, "start"), ctx.api.delete(&disk_path));
        jobs_settled(&ctx).await;
        match (&start, &remove) {
            (Ok(_), Err(fault)) => {
                assert_eq!(fault.status, 409, "{fault}");
                ctx.vm_wait_status(&vm, "up").await.expect("up with its disk");
                assert_eq!(ctx.api.get(&disk_path).await.expect("the disk stays")["status"], "ok");
                ctx.api.action(&path, "stop").await.expect("stop");
                ctx.vm_wait_status(&vm, "down").await.expect("down");
                ctx.api.delete(&disk_path).await.expect("remove the disk of the down VM");
            }
            (Err(fault), Ok(_)) => assert_eq!(fault.status, 409, "{fault}"),
            (Ok(_), Ok(_)) => {
                // The removal ended before the start read the VM's disks: it ran without it.
                let attached = ctx.api.list(&format!("{path}/diskattachments"), "disk_attachment").await.expect("list");
                assert!(attached.is_empty(), "iteration {i}: the VM started with a disk being removed: {attached:?}");
                ctx.vm_wait_status(&vm, "up").await.expect("up");
                ctx.api.action(&path, "stop").await.expect("stop");
                ctx.vm_wait_status(&vm, "down").await.expect("down");
            }
            _ => panic!("iteration {i}: neither won: start {start:?}, remove {remove:?}"),
        }
        ctx.wait_gone(&disk_path).await.expect("disk gone");
        let v = ctx.api.get(&path).await.expect("vm");
        assert_eq!(v["status"], "down", "iteration {i}: {v}");
        assert!(ctx.sim_hosts_running(&vm).is_empty(), "iteration {i}");
    }
}

/// Maintenance asked while the monitor reconnects to a host that answers again (5 times): the
/// administrator's maintenance always stands; the monitor's "answers again" is
/// compare-and-set on the statuses it owns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deactivate_racing_a_reconnecting_monitor_always_ends_in_maintenance() {
    let ctx = EngineTestContext::options()
        .hosts(1)
        .host_grace_seconds(1)
        .reconcile_interval_seconds(1)
        .start()
        .await
        .expect("context");
    let s = ctx.setup(1).await.expect("setup");
    let host = &s.hosts[0];
    let path = format!("hosts/{host}");
    for i in 0..5 {
        ctx.sim_host(0).freeze(FreezeMode::Refuse).await.expect("freeze");
        ctx.host_wait_status(host, "non_responsive").await.expect("non responsive");
        let (thawed, deactivated) = tokio::join!(ctx.sim_host(0).thaw(), ctx.api.action(&path, "deactivate"));
        thawed.expect("thaw");
        deactivated.expect("deactivate");
        // Long enough for the monitor to have reconnected and reconciled (a full reconcile
        // every second): the host must stay in maintenance throughout.
        let deadline = std::time::Instant::now() + Duration::from_secs(3);
        while std::time::Instant::now() < deadline {
            let h = ctx.api.get(&path).await.expect("host");
            assert_eq!(h["status"], "maintenance", "iteration {i}: {h}");
            tokio::time::sleep(Duration::from_millis(100)).await; // polling interval of the check
        }
        ctx.api.action(&path, "activate").await.expect("activate");
        ctx.host_wait_status(host, "up").await.expect("up");
    }
}

/// A domain with our metadata that the engine does not know (left by a crash, or started
/// behind its back) is reported as an orphan event naming the host and the domain, and is
/// neither adopted nor destroyed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_domain_the_engine_does_not_know_is_reported_as_an_orphan() {
    use oxvirt_agent_api::v1;
    let ctx = EngineTestContext::start(1).await.expect("context");
    ctx.setup(1).await.expect("setup");
    let stray = oxvirt_types::VmId::new_random();
    let spec = v1::VmSpec {
        id: stray,
        name: "stray".into(),
        cpu: v1::CpuTopology { sockets: 1, cores: 1, threads: 1 },
        memory: oxvirt_types::ByteSize(64 << 20),
        machine: None,
        boot: v1::Boot::Devices { order: vec![v1::BootDevice::Hd] },
        disks: Vec::new(),
        nics: Vec::new(),
        graphics: None,
        custom_properties: Default::default(),
        serial: None,
        cloud_init: None,
        serial_console: true,
    };
    ctx.sim_host(0).vm_create(spec).await.expect("a domain behind the engine's back");
    let event = ctx.event_wait(&["sim0", "stray", "orphan"]).await.expect("the orphan is reported");
    assert!(event.contains(&stray.to_string()), "{event}");
    assert!(ctx.api.list("vms", "vm").await.expect("vms").is_empty(), "the engine does not adopt it");
    assert!(ctx.sim_host(0).registry().get(stray).is_some_and(|s| s.state != VmRunState::Down), "nor destroy it");
}

/// External jobs: an outside tool adds a job and its steps, ends them (succeeded or not), and
/// the executor never runs them; the engine's own jobs cannot be ended through the API.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn external_jobs_and_steps_are_their_creators_to_end() {
    let ctx = EngineTestContext::start(0).await.expect("context");
    let body = json!({"description": "nightly backup", "status": "started", "external": true, "auto_cleared": false});
    let job = ctx.api.post("jobs", &body).await.expect("add an external job");
    assert_eq!(
        (&job["status"], &job["external"], &job["auto_cleared"]),
        (&json!("started"), &json!("true"), &json!("false"))
    );
    let job_id = id(&job);
    let steps = format!("jobs/{job_id}/steps");
    let one = ctx
        .api
        .post(&steps, &json!({"description": "copy", "type": "executing", "job": {"id": job_id}}))
        .await
        .expect("step");
    let two = ctx
        .api
        .post(&steps, &json!({"description": "verify", "parent_step": {"id": one["id"]}}))
        .await
        .expect("substep");
    assert_eq!((&one["number"], &two["number"], &two["type"]), (&json!("1"), &json!("1"), &json!("unknown")), "{two}");
    let elsewhere = json!({"description": "x", "job": {"id": "11111111-2222-3333-4444-555555555555"}});
    ctx.api.post(&steps, &elsewhere).await.expect_err("a step naming another job").assert_names(400, &["step.job"]);
    ctx.api.action(&format!("{steps}/{}", id(&one)), "end").await.expect("end a step");
    let f = ctx.api.action(&format!("{steps}/{}", id(&one)), "end").await.expect_err("twice");
    f.assert_names(409, &["copy", "ended"]);

    let failed = json!({"succeeded": false});
    ctx.api.action_with(&format!("jobs/{job_id}"), "end", &failed).await.expect("end the job as failed");
    let job = ctx.api.get(&format!("jobs/{job_id}")).await.expect("job");
    assert_eq!(job["status"], "failed", "{job}");
    let verify = ctx.api.get(&format!("{steps}/{}", id(&two))).await.expect("step");
    assert_eq!(verify["status"], "failed", "a running step ends with its job: {verify}");
    assert_eq!(ctx.api.get(&format!("{steps}/{}", id(&one))).await.expect("step")["status"], "finished");
    let f = ctx.api.post(&steps, &json!({"description": "late"})).await.expect_err("the job has ended");
    f.assert_names(409, &["nightly backup", "ended"]);
    ctx.api.action(&format!("jobs/{job_id}"), "clear").await.expect("clear");
}
