//! The kill -9 matrix of the job executor: for every step of every job type the engine knows
//! (`oxvirt_engine::app::saga::SAGAS`, read here, so a new job type is covered without a new
//! test), the engine binary is SIGKILLed from outside at that step — after the step's row is
//! written and before it acts (`before`), and after it acted but before its end is written
//! (`after`); a first step done by the creating request's own transaction has no such points — then killed again at the same point while it recovers, then restarted clean.
//! After that every job has ended and nothing is half-done: no job `started`, no VM
//! `wait_for_launch`/`powering_up`, no disk, storage domain or host stuck in a transitional
//! status, every volume on the (simulated) storage has a row and every row a legal volume, and
//! every running domain is a VM the database places on that host.
//!
//! A second matrix kills the engine *and the host's agent* at each point; the agent comes back
//! only after the restarted engine has marked its host non-responsive. The job may then end
//! finished or unwound, and the same nothing-half-done checks hold.
//!
//! FAULT INJECTION: the pause points are the engine's `OXVIRT_FAULT_PAUSE` seam (the job
//! stops there and prints `FAULT PAUSE`; the test kills the process). The hosts are
//! SIMULATED (`oxvirt-sim`). Cases run two at a time, each with its own engine and simulator.

use futures::StreamExt as _;
use oxvirt_agent_api::v1::VmRunState;
use oxvirt_engine::app::saga::{FAULT_PAUSE, SAGAS};
use oxvirt_engine_db::model::{DiskStatus, JobStatus};
use oxvirt_engine_db::store::{DiskFilter, HostFilter, JobFilter, StorageDomainFilter, VmFilter};
use oxvirt_testkit::EngineTestContext;
use oxvirt_testkit::engine_context::{ApiClient, EngineMode, FreezeMode, GIB, id};
use oxvirt_types::{HostStatus, StorageDomainStatus, VmStatus};
use serde_json::json;
use std::collections::BTreeSet;
use std::time::Duration;

/// How an error of the arrangement (before the fault is armed) starts.
const SETUP_FAILED: &str = "arranging the case failed";

/// How long a paused job or a recovery may take to show up (generous for a loaded machine).
const PAUSE_DEADLINE: Duration = Duration::from_secs(60);

#[derive(Debug, Clone)]
struct Case {
    action_type: &'static str,
    step: usize,
    point: &'static str,
}

impl std::fmt::Display for Case {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}", self.action_type, self.step, self.point)
    }
}

/// Every case; `OXVIRT_KILL_MATRIX_ONLY=<action type>` narrows it to one job type (when
/// working on that job; the suite runs them all).
fn matrix() -> Vec<Case> {
    let only = std::env::var("OXVIRT_KILL_MATRIX_ONLY").ok();
    let mut cases = Vec::new();
    for def in SAGAS.iter().filter(|d| only.as_deref().is_none_or(|o| o == d.action_type)) {
        for (i, step_def) in def.steps.iter().enumerate() {
            // A step done by the creating request's transaction is atomic with it: there is no
            // point between "recorded" and "acted" to kill the engine at.
            if step_def.by_request {
                continue;
            }
            let step = i + 1;
            for point in ["before", "after"] {
                cases.push(Case { action_type: def.action_type, step, point });
            }
        }
    }
    cases
}

/// Who dies at the pause point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Victim {
    /// The engine, killed again at the same point while it recovers, then restarted clean:
    /// every job must be resumed to its end.
    Engine,
    /// The engine and the host's agent together (the SIMULATED agent stops answering and
    /// drops its connections; its VMs and volumes survive, as QEMU and files survive an agent
    /// crash); the engine restarts while the agent is down, which comes back only once the
    /// engine has marked its host non-responsive. The job may end finished or unwound.
    EngineAndAgent,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_step_of_every_job_survives_kill_9_and_a_second_kill_during_recovery() {
    kill_matrix(Victim::Engine).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_step_of_every_job_survives_the_engine_and_its_agent_dying_there() {
    kill_matrix(Victim::EngineAndAgent).await;
}

async fn kill_matrix(victim: Victim) {
    let cases = matrix();
    let total = cases.len();
    let failures: Vec<String> = futures::stream::iter(cases)
        .map(|case| async move {
            let name = case.to_string();
            // A failure while arranging (before the fault is armed: the harness, not the job)
            // is retried once with a fresh context, and said so.
            let mut outcome = tokio::time::timeout(Duration::from_secs(240), run_case(case.clone(), victim)).await;
            if let Ok(Err(e)) = &outcome
                && e.starts_with(SETUP_FAILED)
            {
                eprintln!("{name}: {e}; arranging again in a fresh context");
                outcome = tokio::time::timeout(Duration::from_secs(240), run_case(case, victim)).await;
            }
            match outcome {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some(format!("{name}: {e}")),
                Err(_) => Some(format!("{name}: did not settle within 240 s")),
            }
        })
        // Mostly waiting on the engine processes: four at a time keep two cores busy.
        .buffer_unordered(if victim == Victim::Engine { 2 } else { 4 })
        .filter_map(|r| async move { r })
        .collect()
        .await;
    eprintln!("kill matrix ({victim:?}): {total} cases, {} failed", failures.len());
    assert!(failures.is_empty(), "{} of {total} kill cases failed:\n{}", failures.len(), failures.join("\n"));
}

/// What the job's request needs, made before the fault is armed.
struct Arranged {
    /// The request that creates the job: method, path, body.
    request: (&'static str, String, serde_json::Value),
}

async fn arrange(ctx: &EngineTestContext, action_type: &str) -> Result<Arranged, String> {
    let f = |e: &dyn std::fmt::Display| e.to_string();
    let with_vm = || async {
        let s = ctx.setup_with_local_domain(1, 0).await.map_err(|e| f(&e))?;
        let vm = id(&ctx
            .vm_add("vm1", "c1", json!({"memory": GIB, "memory_policy": {"guaranteed": GIB}}))
            .await
            .map_err(|e| f(&e))?);
        ctx.vm_disk_add(&vm, "d1", s.sd(), GIB).await.map_err(|e| f(&e))?;
        Ok::<_, String>((s, vm))
    };
    let running_vm = || async {
        let (s, vm) = with_vm().await?;
        ctx.api.action(&format!("vms/{vm}"), "start").await.map_err(|e| f(&e))?;
        ctx.vm_wait_status(&vm, "up").await.map_err(|e| f(&e))?;
        Ok::<_, String>((s, vm))
    };
    let request = match action_type {
        "RunVm" => {
            let (_, vm) = with_vm().await?;
            ("POST", format!("vms/{vm}/start"), json!({}))
        }
        "StopVm" | "ShutdownVm" | "RebootVm" => {
            let (_, vm) = running_vm().await?;
            let action = match action_type {
                "StopVm" => "stop",
                "ShutdownVm" => "shutdown",
                _ => "reboot",
            };
            ("POST", format!("vms/{vm}/{action}"), json!({}))
        }
        "RemoveVm" => {
            let (_, vm) = with_vm().await?;
            ("DELETE", format!("vms/{vm}"), json!(null))
        }
        "AddDisk" => {
            let s = ctx.setup_with_local_domain(1, 0).await.map_err(|e| f(&e))?;
            let body = json!({"name": "floating", "format": "cow", "sparse": true, "provisioned_size": GIB,
                              "storage_domains": {"storage_domain": [{"id": s.sd()}]}});
            ("POST", "disks".to_owned(), body)
        }
        "RemoveDisk" => {
            let (_, vm) = with_vm().await?;
            let attachments = ctx.api.list(&format!("vms/{vm}/diskattachments"), "disk_attachment").await;
            let disk = attachments.map_err(|e| f(&e))?[0]["disk"]["id"].as_str().unwrap_or_default().to_owned();
            ("DELETE", format!("disks/{disk}"), json!(null))
        }
        "ExtendImageSize" => {
            let (_, vm) = with_vm().await?;
            let attachments = ctx.api.list(&format!("vms/{vm}/diskattachments"), "disk_attachment").await;
            let disk = attachments.map_err(|e| f(&e))?[0]["disk"]["id"].as_str().unwrap_or_default().to_owned();
            ("PUT", format!("disks/{disk}"), json!({"provisioned_size": 2 * GIB}))
        }
        "SparsifyImage" => {
            let (_, vm) = with_vm().await?;
            let attachments = ctx.api.list(&format!("vms/{vm}/diskattachments"), "disk_attachment").await;
            let disk = attachments.map_err(|e| f(&e))?[0]["disk"]["id"].as_str().unwrap_or_default().to_owned();
            ("POST", format!("disks/{disk}/sparsify"), json!({}))
        }
        "AddStorageDomain" => {
            ctx.setup(1).await.map_err(|e| f(&e))?;
            let body = json!({"name": "new-sd", "type": "data", "host": {"name": EngineTestContext::host_name(0)},
                              "storage": {"type": "localfs", "path": "/oxvirt-sim/new-sd"}});
            ("POST", "storagedomains".to_owned(), body)
        }
        "AddHost" => {
            ctx.data_center_add("dc1").await.map_err(|e| f(&e))?;
            ctx.cluster_add("c1", "dc1").await.map_err(|e| f(&e))?;
            (
                "POST",
                "hosts".to_owned(),
                ctx.host_body(0, "h0", "c1", oxvirt_testkit::engine_context::SIM_ENROLLMENT_SECRET),
            )
        }
        other => {
            return Err(format!(
                "the kill matrix does not know how to create a {other} job: add it to `arrange` in {}",
                file!()
            ));
        }
    };
    Ok(Arranged { request })
}

/// Sends the job's request without waiting for it (the engine may pause or die under it).
fn request_send(api: &ApiClient, (method, path, body): &(&'static str, String, serde_json::Value)) {
    let (api, method, path, body) = (api.clone(), *method, path.clone(), body.clone());
    tokio::spawn(async move {
        let _ = match method {
            "DELETE" => api.delete(&path).await,
            "PUT" => api.put(&path, &body).await,
            _ => api.post(&path, &body).await,
        };
    });
}

async fn run_case(case: Case, victim: Victim) -> Result<(), String> {
    let mut options = EngineTestContext::options().hosts(1).mode(EngineMode::Binary);
    if victim == Victim::EngineAndAgent {
        options = options.host_grace_seconds(1);
    }
    let mut ctx = options.start().await.map_err(|e| format!("{SETUP_FAILED}: context: {e}"))?;
    let arranged = arrange(&ctx, case.action_type).await.map_err(|e| format!("{SETUP_FAILED}: {e}"))?;
    let spec = case.to_string();
    let engine = ctx.engine_process().map_err(|e| e.to_string())?;
    engine.env_set(FAULT_PAUSE, &spec);
    ctx.engine_restart().await.map_err(|e| format!("restart with the fault: {e}"))?;

    // Kill 1: at the point, in the request's run of the job.
    request_send(&ctx.api, &arranged.request);
    let engine = ctx.engine_process().map_err(|e| e.to_string())?;
    engine.fault_pause_wait(1, PAUSE_DEADLINE).await.map_err(|e| format!("first pause: {e}"))?;
    engine.kill();
    match victim {
        Victim::Engine => {
            // Kill 2: at the same point, while the restarted engine recovers the job.
            engine.restart().await.map_err(|e| format!("restart to recover: {e}"))?;
            engine.fault_pause_wait(2, PAUSE_DEADLINE).await.map_err(|e| format!("pause during recovery: {e}"))?;
            engine.kill();
            // Clean restart: the job is taken over and ends.
            engine.env_remove(FAULT_PAUSE);
            engine.restart().await.map_err(|e| format!("clean restart: {e}"))?;
        }
        Victim::EngineAndAgent => {
            ctx.sim_host(0).freeze(FreezeMode::Refuse).await.map_err(|e| format!("agent down: {e}"))?;
            let engine = ctx.engine_process().map_err(|e| e.to_string())?;
            engine.env_remove(FAULT_PAUSE);
            engine.restart().await.map_err(|e| format!("restart while the agent is down: {e}"))?;
            let store = ctx.store().await.map_err(|e| e.to_string())?;
            ctx.wait_for("the engine to see the agent down", || async {
                let hosts = store.host_list(&HostFilter::default()).await.ok()?;
                hosts.iter().all(|h| h.status == HostStatus::NonResponsive).then_some(())
            })
            .await
            .map_err(|e| format!("{e}"))?;
            ctx.sim_host(0).thaw().await.map_err(|e| format!("agent back: {e}"))?;
        }
    }

    let store = ctx.store().await.map_err(|e| e.to_string())?;
    let ended = ctx
        .wait_for("every job to end", || async {
            let jobs = store.job_list(&JobFilter::default()).await.ok()?;
            jobs.iter().all(|j| j.status != JobStatus::Started).then_some(jobs)
        })
        .await;
    let jobs = match ended {
        Ok(jobs) => jobs,
        Err(e) => return Err(format!("{e}: jobs {:?}", jobs_brief(store).await)),
    };
    let job = jobs.iter().find(|j| j.action_type == case.action_type).ok_or("the job is not recorded")?;
    if victim == Victim::Engine && job.status != JobStatus::Finished {
        let steps = store.step_list_for_job(job.id).await.unwrap_or_default();
        return Err(format!("the job ended {} instead of being resumed to its end: {steps:?}", job.status));
    }
    // One reconcile later nothing is transitional and storage and domains match the rows.
    if ctx.wait_for("nothing half-done", || async { invariants(&ctx).await.ok() }).await.is_err() {
        return Err(invariants(&ctx)
            .await
            .err()
            .unwrap_or_else(|| "the invariants held only after the deadline".into()));
    }
    ctx.shutdown().await.map_err(|e| e.to_string())
}

async fn jobs_brief(store: &oxvirt_engine_db::Store) -> Vec<(String, JobStatus)> {
    store
        .job_list(&JobFilter::default())
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|j| (j.action_type, j.status))
        .collect()
}

/// What must hold once the jobs have ended; the first violation found.
async fn invariants(ctx: &EngineTestContext) -> Result<(), String> {
    let store = ctx.store().await.map_err(|e| e.to_string())?;
    let e = |e: oxvirt_engine_db::store::StoreError| e.to_string();
    let vms = store.vm_list(&VmFilter::default()).await.map_err(e)?;
    if let Some(vm) = vms.iter().find(|v| matches!(v.runtime.status, VmStatus::WaitForLaunch | VmStatus::PoweringUp)) {
        return Err(format!("VM {} is still {}", vm.name, vm.runtime.status));
    }
    let disks = store.disk_list(&DiskFilter::default()).await.map_err(e)?;
    if let Some(d) = disks.iter().find(|d| d.status != DiskStatus::Ok) {
        return Err(format!("disk {} is {}", d.alias, d.status));
    }
    let sds = store.storage_domain_list(&StorageDomainFilter::default()).await.map_err(e)?;
    if let Some(sd) = sds.iter().find(|s| s.status == StorageDomainStatus::Locked) {
        return Err(format!("storage domain {} is locked", sd.name));
    }
    let hosts = store.host_list(&HostFilter::default()).await.map_err(e)?;
    if let Some(h) = hosts.iter().find(|h| h.status != HostStatus::Up) {
        return Err(format!("host {} is {}", h.name, h.status));
    }
    // Volumes on the storage = volume rows.
    let mut rows = BTreeSet::new();
    for d in &disks {
        for v in store.volume_list_for_disk(d.id).await.map_err(e)? {
            rows.insert((d.storage_domain_id.to_string(), d.id.to_string(), v.id.to_string()));
        }
    }
    let sim = ctx.sim_host(0);
    let mut files = BTreeSet::new();
    for (sd, volumes) in sim.storage().volumes_by_domain() {
        for v in volumes {
            files.insert((sd.to_string(), v.image_id.to_string(), v.volume_id.to_string()));
        }
    }
    if rows != files {
        return Err(format!(
            "storage and rows differ: volumes without a row {:?}, rows without a volume {:?}",
            files.difference(&rows).collect::<Vec<_>>(),
            rows.difference(&files).collect::<Vec<_>>()
        ));
    }
    // Running domains = VMs the database places on that host.
    let host_id = sim.host_id();
    for state in sim.registry().snapshot().vms.into_iter().filter(|s| s.state != VmRunState::Down) {
        match vms.iter().find(|v| v.id == state.id) {
            Some(vm) if vm.runtime.host_id == Some(host_id) && vm.runtime.status != VmStatus::Down => {}
            Some(vm) => {
                return Err(format!(
                    "domain {} runs but VM {} is {} in the database",
                    state.name, vm.name, vm.runtime.status
                ));
            }
            None => return Err(format!("domain {} runs but the database has no such VM", state.name)),
        }
    }
    for vm in vms.iter().filter(|v| v.runtime.status == VmStatus::Up) {
        if sim.registry().get(vm.id).is_none_or(|s| s.state == VmRunState::Down) {
            return Err(format!("VM {} is up in the database but runs nowhere", vm.name));
        }
    }
    Ok(())
}
