//! End to end with the real oVirt Python SDK against a real engine process, on SQLite and on
//! PostgreSQL: SSO login (with the CA file and insecure), the API root, data centers and
//! clusters (add, get, list, search, update, remove), and faults (409, 404, bad references).
//! The checks themselves are in `tests/sdk/slice.py`.

use oxvirt_testkit::TestEngine;
use oxvirt_testkit::engine::{TEST_ADMIN_PASSWORD, engine_binary};
use oxvirt_testkit::postgres::TestPostgres;
use std::path::Path;
use std::process::Command;

fn run_slice(engine: &TestEngine) {
    run_script(engine, "slice.py", &[]);
}

/// Runs `tests/sdk/<script>` with the engine's URL, admin password and CA file, then `extra`.
fn run_script(engine: &TestEngine, script: &str, extra: &[&str]) {
    run_script_output(engine, script, extra);
}

/// [`run_script`], returning the script's standard output.
fn run_script_output(engine: &TestEngine, script: &str, extra: &[&str]) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sdk").join(script);
    let out = Command::new(oxvirt_testkit::sdk::sdk_python().expect("SDK venv"))
        .arg(&script)
        .arg(&engine.api_url)
        .arg(TEST_ADMIN_PASSWORD)
        .arg(&engine.ca_file)
        .args(extra)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .expect("run python");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("OK"),
        "SDK script failed:\n{stdout}\n{}\nengine log tail:\n{}",
        String::from_utf8_lossy(&out.stderr),
        std::fs::read_to_string(engine.log_path())
            .unwrap_or_default()
            .lines()
            .rev()
            .take(30)
            .collect::<Vec<_>>()
            .join("\n")
    );
    stdout.into_owned()
}

#[tokio::test]
async fn sdk_slice_on_sqlite() {
    let engine = TestEngine::start(&engine_binary().expect("engine binary"), &[]).await.expect("engine");
    run_slice(&engine);
}

#[tokio::test]
async fn sdk_slice_on_postgresql() {
    let pg = TestPostgres::start().expect("postgres");
    let url = pg.create_database().expect("database");
    let engine = TestEngine::start(&engine_binary().expect("engine binary"), &[("OXVIRT_DATABASE_URL", &url)])
        .await
        .expect("engine");
    run_slice(&engine);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_adds_a_real_host_and_moves_it_through_maintenance() {
    use oxvirt_testkit::agent::{TEST_ENROLLMENT_SECRET, agent_binary};
    use oxvirt_testkit::{HostOptions, TestAgent, TestHost, TestNetwork};
    let net = TestNetwork::new().expect("network");
    let mut host = TestHost::start(&net, HostOptions::named("sdk-host")).expect("test host");
    let _agent = TestAgent::start_unenrolled(&mut host, &agent_binary().expect("agent"), &[]).await.expect("agent");
    let engine = TestEngine::start(&engine_binary().expect("engine binary"), &[]).await.expect("engine");
    run_script(&engine, "hosts.py", &[&host.address().to_string(), TEST_ENROLLMENT_SECRET]);
}

/// A test host with an agent (not enrolled: the engine enrolls it) and an empty directory for
/// a localfs storage domain on it.
async fn host_with_localfs(
    net: &std::sync::Arc<oxvirt_testkit::TestNetwork>,
    name: &str,
) -> (oxvirt_testkit::TestHost, oxvirt_testkit::TestAgent, std::path::PathBuf) {
    use oxvirt_testkit::agent::agent_binary;
    use oxvirt_testkit::{HostOptions, TestAgent, TestHost};
    let mut host = TestHost::start(net, HostOptions::named(name)).expect("test host");
    let agent = TestAgent::start_unenrolled(&mut host, &agent_binary().expect("agent"), &[]).await.expect("agent");
    let localfs = host.dir().join("localfs");
    std::fs::create_dir_all(&localfs).expect("localfs dir");
    (host, agent, localfs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_host_storage_domains_and_disks() {
    use oxvirt_testkit::agent::TEST_ENROLLMENT_SECRET;
    let net = oxvirt_testkit::TestNetwork::new().expect("network");
    let (host, _agent, localfs) = host_with_localfs(&net, "sdk-storage").await;
    let engine = TestEngine::start(&engine_binary().expect("engine binary"), &[]).await.expect("engine");
    run_script(
        &engine,
        "storage.py",
        &[&host.address().to_string(), TEST_ENROLLMENT_SECRET, &localfs.display().to_string()],
    );
}

/// The engine aborts right after the `AddDisk` job recorded its volume-creation step (step 2)
/// and before the agent is asked; after a restart the job has failed, the disk is gone, and
/// no volume file is left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_host_disk_add_crash_rolls_back() {
    disk_add_crash(2, false).await;
}

/// The engine aborts after the agent created the volume (at step 3, before the disk is marked
/// ok); after a restart recovery finds the complete volume: the job finished, the disk is ok.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_host_disk_add_crash_after_the_volume_completes() {
    disk_add_crash(3, true).await;
}

/// Adds a disk with the engine set to abort at step `step` of `AddDisk`, restarts it without
/// the fault, and checks what recovery made of it: the job is settled, the disk is `ok` (when
/// `kept`) with its file, or gone without a file.
async fn disk_add_crash(step: u32, kept: bool) {
    use oxvirt_engine::app::jobs::FAULT_CRASH_AFTER_STEP;
    use oxvirt_engine::model::{DiskStatus, JobStatus};
    use oxvirt_engine::store::{JobFilter, Store};
    use oxvirt_testkit::agent::TEST_ENROLLMENT_SECRET;
    let net = oxvirt_testkit::TestNetwork::new().expect("network");
    let (host, _agent, localfs) = host_with_localfs(&net, "sdk-crash").await;
    let fault = format!("AddDisk:{step}");
    let mut engine = TestEngine::start(&engine_binary().expect("engine binary"), &[(FAULT_CRASH_AFTER_STEP, &fault)])
        .await
        .expect("engine");
    let args = [host.address().to_string(), TEST_ENROLLMENT_SECRET.to_owned(), localfs.display().to_string()];
    let mut prepare: Vec<&str> = args.iter().map(String::as_str).collect();
    prepare.push("prepare");
    let out = run_script_output(&engine, "storage_crash.py", &prepare);
    let sd = out.lines().find_map(|l| l.strip_prefix("SD=")).expect("the script prints the domain id").to_owned();
    oxvirt_testkit::wait::until("the engine to abort", std::time::Duration::from_secs(30), || {
        engine.has_exited().then_some(())
    })
    .expect("the fault injection aborts the engine");

    engine.env_remove(FAULT_CRASH_AFTER_STEP);
    engine.restart().await.expect("restart without the fault");

    let store = Store::open(&format!("sqlite://{}", engine.data_dir.join("engine.db").display())).await.expect("db");
    let jobs = store.job_list(&JobFilter::default()).await.expect("jobs");
    let add_disk: Vec<_> = jobs.iter().filter(|j| j.action_type == "AddDisk").collect();
    assert_eq!(add_disk.len(), 1, "one AddDisk job: {jobs:?}");
    let job = add_disk[0];
    let steps = store.step_list_for_job(job.id).await.expect("steps");
    assert_eq!(steps.len() as u32, step, "the job stopped at step {step}: {steps:?}");
    assert!(steps.iter().all(|s| s.status != JobStatus::Started), "every step is settled: {steps:?}");
    let disk_id: oxvirt_types::DiskId =
        steps[0].data["disk_id"].as_str().expect("disk id in step data").parse().expect("id");
    let images = localfs.join(&sd).join("images");
    if kept {
        assert_eq!(job.status, JobStatus::Finished, "recovery completed the job");
        let disk = store.disk_get(disk_id).await.expect("the disk is kept");
        assert_eq!(disk.status, DiskStatus::Ok, "a kept disk is ok");
        assert!(images.join(disk_id.to_string()).join(disk.volume_id.to_string()).is_file(), "with its file");
    } else {
        assert_eq!(job.status, JobStatus::Failed, "recovery rolled the job back");
        assert!(store.disk_get(disk_id).await.is_err(), "the disk row is gone");
        let left: Vec<_> = std::fs::read_dir(&images).expect("images dir").collect();
        assert!(left.is_empty(), "no volume file left for the rolled-back disk: {left:?}");
    }
    store.close().await;

    let mut check: Vec<&str> = args.iter().map(String::as_str).collect();
    check.push("check");
    run_script(&engine, "storage_crash.py", &check);
}

/// The engine aborts after the `RemoveDisk` job recorded what it will delete; after a restart
/// recovery finishes the removal: the job finished, the disk row and its file are gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_host_disk_remove_crash_finishes_the_removal() {
    use oxvirt_engine::app::jobs::FAULT_CRASH_AFTER_STEP;
    use oxvirt_engine::model::JobStatus;
    use oxvirt_engine::store::{JobFilter, Store};
    use oxvirt_testkit::agent::TEST_ENROLLMENT_SECRET;
    let net = oxvirt_testkit::TestNetwork::new().expect("network");
    let (host, _agent, localfs) = host_with_localfs(&net, "sdk-rmcrash").await;
    let mut engine =
        TestEngine::start(&engine_binary().expect("engine binary"), &[(FAULT_CRASH_AFTER_STEP, "RemoveDisk:1")])
            .await
            .expect("engine");
    let args = [host.address().to_string(), TEST_ENROLLMENT_SECRET.to_owned(), localfs.display().to_string()];
    let mut prepare: Vec<&str> = args.iter().map(String::as_str).collect();
    prepare.push("prepare-remove");
    let out = run_script_output(&engine, "storage_crash.py", &prepare);
    let sd = out.lines().find_map(|l| l.strip_prefix("SD=")).expect("domain id").to_owned();
    let disk = out.lines().find_map(|l| l.strip_prefix("DISK=")).expect("disk id").to_owned();
    let image = localfs.join(&sd).join("images").join(&disk);
    assert!(image.is_dir(), "the disk's image is there before the crash");
    oxvirt_testkit::wait::until("the engine to abort", std::time::Duration::from_secs(30), || {
        engine.has_exited().then_some(())
    })
    .expect("the fault injection aborts the engine");

    engine.env_remove(FAULT_CRASH_AFTER_STEP);
    engine.restart().await.expect("restart without the fault");

    let store = Store::open(&format!("sqlite://{}", engine.data_dir.join("engine.db").display())).await.expect("db");
    let jobs = store.job_list(&JobFilter::default()).await.expect("jobs");
    let remove: Vec<_> = jobs.iter().filter(|j| j.action_type == "RemoveDisk").collect();
    assert_eq!(remove.len(), 1, "one RemoveDisk job: {jobs:?}");
    assert_eq!(remove[0].status, JobStatus::Finished, "recovery finished the removal");
    assert!(store.disk_get(disk.parse().expect("disk id")).await.is_err(), "the disk row is gone");
    assert!(!image.exists(), "the disk's file is gone");
    store.close().await;

    let mut check: Vec<&str> = args.iter().map(String::as_str).collect();
    check.push("check");
    run_script(&engine, "storage_crash.py", &check);
}
