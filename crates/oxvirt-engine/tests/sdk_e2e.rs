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

/// The newest 30 lines of the engine's log, newest first (for a failure's message).
fn engine_log_tail(engine: &TestEngine) -> String {
    let log = std::fs::read_to_string(engine.log_path()).unwrap_or_default();
    log.lines().rev().take(30).collect::<Vec<_>>().join("\n")
}

/// Runs `tests/sdk/<script>` with the engine's URL, admin password and CA file, then `extra`;
/// returns its standard output.
fn run_script(engine: &TestEngine, script: &str, extra: &[&str]) -> String {
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
        engine_log_tail(engine)
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

/// The vertical slice with real guests: SDK -> engine -> agent -> libvirt -> a booting guest,
/// then an engine restart while the VM runs (it stays up and is not restarted), the host's
/// agent unreachable (host non_responsive, VM unknown) and back (both up), then removal
/// with its disk. `database_url` None = SQLite.
async fn vm_slice(database_url: Option<&str>) {
    use oxvirt_testkit::agent::{TEST_ENROLLMENT_SECRET, agent_binary};
    use oxvirt_testkit::{HostOptions, TestAgent, TestGuest, TestHost, TestNetwork};
    let guest = TestGuest::get().expect("test guest");
    let net = TestNetwork::new().expect("network");
    let mut host = TestHost::start(&net, HostOptions::named("slice-host")).expect("test host");
    let mut agent = TestAgent::start_unenrolled(&mut host, &agent_binary().expect("agent"), &[]).await.expect("agent");
    let domain_dir = host.dir().join("data1");
    std::fs::create_dir_all(&domain_dir).expect("domain dir");
    // A short grace and reconcile interval, so that the unreachable-host part is quick.
    let mut env: Vec<(&str, &str)> =
        vec![("OXVIRT_HOST_GRACE_SECONDS", "3"), ("OXVIRT_RECONCILE_INTERVAL_SECONDS", "1")];
    env.extend(database_url.map(|u| ("OXVIRT_DATABASE_URL", u)));
    let mut engine = TestEngine::start(&engine_binary().expect("engine binary"), &env).await.expect("engine");
    let out = run_script(
        &engine,
        "vms.py",
        &[
            "setup",
            &host.address().to_string(),
            TEST_ENROLLMENT_SECRET,
            &domain_dir.to_string_lossy(),
            &guest.kernel.to_string_lossy(),
            &guest.initrd.to_string_lossy(),
            &guest.cmdline,
        ],
    );
    for line in out.lines().filter(|l| l.starts_with("TIMING")) {
        eprintln!("{line}");
    }
    let vm_id = out.lines().find_map(|l| l.strip_prefix("VM ")).expect("the script prints the VM id").trim().to_owned();
    let domains_before = host.running_domains().expect("domains");
    assert_eq!(domains_before, vec!["slice-vm1".to_owned()], "one domain runs the VM");

    engine.restart().await.expect("engine restart");
    assert_eq!(host.running_domains().expect("domains"), domains_before, "an engine restart touches no VM");
    // The host's agent stops answering: the host turns non_responsive and its VM unknown;
    // when it answers again both come back without the VM being touched.
    agent.stop(&mut host);
    run_script(&engine, "vms.py", &["expect", &vm_id, "unknown", "non_responsive"]);
    agent.restart(&mut host).await.expect("agent restart");
    run_script(&engine, "vms.py", &["expect", &vm_id, "up", "up"]);
    assert_eq!(host.running_domains().expect("domains"), domains_before, "the VM kept running throughout");
    run_script(&engine, "vms.py", &["after-restart", &vm_id, &domain_dir.to_string_lossy()]);
    assert!(host.running_domains().expect("domains").is_empty(), "the stopped VM left no domain behind");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_host_vm_slice_on_sqlite() {
    vm_slice(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_host_vm_slice_on_postgresql() {
    let pg = TestPostgres::start().expect("postgres");
    let url = pg.create_database().expect("database");
    vm_slice(Some(&url)).await;
}

/// Fault injection: the `RunVm` job pauses at a point of its launch step and the engine is
/// SIGKILLed there. At the next start the job is taken over and resumed: killed before the
/// agent was asked, the VM is launched then; killed after the agent ran it, the running domain
/// is found and adopted. Either way the VM ends up, with exactly one domain (never two).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_host_vm_start_interrupted_by_engine_kill_is_resumed() {
    use oxvirt_engine::app::saga::FAULT_PAUSE;
    use oxvirt_testkit::agent::{TEST_ENROLLMENT_SECRET, agent_binary};
    use oxvirt_testkit::{HostOptions, TestAgent, TestGuest, TestHost, TestNetwork};
    use std::time::Duration;
    let guest = TestGuest::get().expect("test guest");
    let net = TestNetwork::new().expect("network");
    let mut host = TestHost::start(&net, HostOptions::named("crash-host")).expect("test host");
    let _agent = TestAgent::start_unenrolled(&mut host, &agent_binary().expect("agent"), &[]).await.expect("agent");
    let mut engine = TestEngine::start(&engine_binary().expect("engine binary"), &[]).await.expect("engine");
    let out = run_script(
        &engine,
        "crash.py",
        &[
            "prepare",
            &host.address().to_string(),
            TEST_ENROLLMENT_SECRET,
            &guest.kernel.to_string_lossy(),
            &guest.initrd.to_string_lossy(),
            &guest.cmdline,
        ],
    );
    let vm_id = out.lines().find_map(|l| l.strip_prefix("VM ")).expect("VM id").trim().to_owned();

    for (n, (point, domains_at_kill)) in [("RunVm:3:before", 0), ("RunVm:3:after", 1)].into_iter().enumerate() {
        engine.env_set(FAULT_PAUSE, point);
        engine.restart().await.expect("engine with the fault");
        run_script(&engine, "crash.py", &["start-crash", &vm_id]);
        engine.fault_pause_wait(n + 1, Duration::from_secs(60)).await.expect("the job pauses");
        engine.kill();
        assert_eq!(host.running_domains().expect("domains").len(), domains_at_kill, "domains when killed at {point}");
        engine.env_remove(FAULT_PAUSE);
        engine.restart().await.expect("engine after the kill");
        run_script(&engine, "crash.py", &["expect-up", &vm_id]);
        oxvirt_testkit::wait::until("the VM's domain to go", Duration::from_secs(30), || {
            host.running_domains().ok().filter(|d| d.is_empty()).map(drop)
        })
        .expect("stopped");
    }
}

/// Records a finished job with two steps (one nested) straight in the engine's database, as
/// the engine's own multi-step work would, so that the SDK has a job to read; returns its id.
async fn seed_job(database_url: &str) -> String {
    use oxvirt_engine_db::model::{Job, JobStatus, Step, StepType, Timestamp};
    use oxvirt_types::{JobId, StepId};
    let store = oxvirt_engine_db::store::Store::open(database_url).await.expect("open the engine's store");
    let admin = store.user_get_by_name("internal", "admin").await.expect("admin user");
    let now = Timestamp::now();
    let job = Job {
        id: JobId::new_random(),
        action_type: "SeededForTest".into(),
        description: "Seeded job".into(),
        status: JobStatus::Finished,
        start_time: now,
        end_time: Some(now),
        last_updated: now,
        auto_cleared: true,
        external: false,
        owner_id: Some(admin.id),
        correlation_id: None,
        params: serde_json::Value::Null,
        lease_owner: None,
        lease_until: None,
    };
    store.job_insert(&job).await.expect("insert job");
    let parent = StepId::new_random();
    for (id, parent_step_id, number) in [(parent, None, 1), (StepId::new_random(), Some(parent), 2)] {
        store
            .step_insert(&Step {
                id,
                job_id: job.id,
                parent_step_id,
                number,
                step_type: StepType::Executing,
                description: format!("step {number}"),
                status: JobStatus::Finished,
                start_time: now,
                end_time: Some(now),
                progress: Some(100),
                data: serde_json::json!({}),
            })
            .await
            .expect("insert step");
    }
    job.id.to_string()
}

#[tokio::test]
async fn sdk_networks_profiles_templates_jobs_on_sqlite() {
    let engine = TestEngine::start(&engine_binary().expect("engine binary"), &[]).await.expect("engine");
    let url = format!("sqlite://{}", engine.data_dir.join("engine.db").display());
    let job = seed_job(&url).await;
    run_script(&engine, "catalog.py", &[&job]);
}

#[tokio::test]
async fn sdk_networks_profiles_templates_jobs_on_postgresql() {
    let pg = TestPostgres::start().expect("postgres");
    let url = pg.create_database().expect("database");
    let engine = TestEngine::start(&engine_binary().expect("engine binary"), &[("OXVIRT_DATABASE_URL", &url)])
        .await
        .expect("engine");
    let job = seed_job(&url).await;
    run_script(&engine, "catalog.py", &[&job]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_host_statistics_and_nics() {
    use oxvirt_testkit::agent::{TEST_ENROLLMENT_SECRET, agent_binary};
    use oxvirt_testkit::{HostOptions, TestAgent, TestHost, TestNetwork};
    let net = TestNetwork::new().expect("network");
    let mut host = TestHost::start(&net, HostOptions::named("stats-host")).expect("test host");
    let agent = TestAgent::start_unenrolled(&mut host, &agent_binary().expect("agent"), &[]).await.expect("agent");
    let engine = TestEngine::start(&engine_binary().expect("engine binary"), &[]).await.expect("engine");
    let address = host.address().to_string();
    run_script(&engine, "host_stats.py", &[&address, TEST_ENROLLMENT_SECRET, "up"]);
    agent.stop(&mut host);
    run_script(&engine, "host_stats.py", &[&address, TEST_ENROLLMENT_SECRET, "down"]);
}

/// The SDK's own examples (from its source archive, changed only in their connection
/// parameters and, for `add_vm_nic.py`, the network's name, by `tests/sdk/examples.py`), in
/// the order they build on each other: `add_data_center.py` makes the data center that
/// `add_cluster.py` puts its cluster in; `@host` (ours) adds a real host and the `mydata`
/// storage domain the VM examples expect; then a VM's life from `add_vm.py` to
/// `remove_vm.py`, with the examples asking for what the engine does not do yet, each of
/// which must fail with a 400 naming what it refused. `poll_events.py` polls forever by design
/// and passes when it printed the newest event before its deadline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_host_examples_run_unchanged() {
    use oxvirt_testkit::agent::TEST_ENROLLMENT_SECRET;
    let sdist = oxvirt_testkit::sdk::sdk_sdist().expect("SDK source archive");
    let net = oxvirt_testkit::TestNetwork::new().expect("network");
    let (host, _agent, localfs) = host_with_localfs(&net, "sdk-examples").await;
    let engine = TestEngine::start(&engine_binary().expect("engine binary"), &[]).await.expect("engine");
    let sdist = sdist.to_string_lossy().into_owned();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sdk/examples.py");
    let out = Command::new(oxvirt_testkit::sdk::sdk_python().expect("SDK venv"))
        .arg(&script)
        .arg(&sdist)
        .arg(&engine.api_url)
        .arg(TEST_ADMIN_PASSWORD)
        .arg(&engine.ca_file)
        .args([
            "add_data_center.py",
            "add_cluster.py",
            "add_logical_network.py",
            "list_cluster_networks.py",
            "update_data_center.py",
            "test_connection.py",
            "disable_compression.py",
            "@host",
            "list_storage_domains.py",
            "list_host_statistics.py",
            "add_vm.py",
            "add_vm_disk.py",
            "add_mac_pool.py",
            "add_vm_nic.py",
            "connection_builder.py",
            "get_vm_ip.py",
            "list_vm_disks.py",
            "list_vm_snapshots.py",
            "print_vm_mac_duplicates.py",
            "remove_numa_nodes_from_vm.py",
            "asynchronous_inventory.py",
            "list_vms.py",
            "search_vms.py",
            "page_vms.py",
            "follow_vm_links.py",
            "pin_vm.py",
            "add_tag.py",
            "assign_tag_to_vm.py",
            "list_tags.py",
            "list_tags_of_vm.py",
            "unassign_tag_to_vm.py",
            "remove_tag.py",
            "add_affinity_label.py",
            "assign_affinity_label_to_vm.py",
            "list_affinity_labels.py",
            "set_vm_serial_number.py",
            "@console_off",
            "enable_serial_console.py",
            "set_vm_lease_storage_domain.py",
            "extend_disk.py",
            "deactivate_disk_attachment.py",
            "start_vm_with_boot_devices.py",
            "stop_vm.py",
            "start_vm_with_cloud_init.py",
            "stop_vm.py",
            "start_vm.py",
            "stop_vm.py",
            "remove_vm.py",
            "add_floating_disk.py",
            "@zeroed_disk",
            "sparsify_disk.py",
            "@cluster2",
            "change_host_cluster.py",
            "show_summary.py",
            "poll_events.py",
            // Last: it makes mynetwork required in mycluster, which myhost does not carry.
            "assign_network_to_cluster.py",
        ])
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("OXVIRT_EXAMPLES_HOST", host.address().to_string())
        .env("OXVIRT_EXAMPLES_SECRET", TEST_ENROLLMENT_SECRET)
        .env("OXVIRT_EXAMPLES_DOMAIN_PATH", &localfs)
        .env("OXVIRT_EXAMPLES_HOST_ROOT", host.root_dir().expect("host root"))
        .output()
        .expect("run python");
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    assert!(
        out.status.success() && stdout.contains("OK"),
        "SDK examples failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// oVirt's Ansible collection (`ovirt.ovirt` 3.2.0 from Ansible 9.13.0) builds a data center,
/// cluster, network, vNIC profile, a real host, a localfs storage domain and a VM with a disk
/// and a NIC, each checked through the collection's info modules; then removes it all. Each
/// playbook runs twice and the second run must report no change. The playbooks, the runner
/// and the list of modules not driven (with why) are in `tests/ansible/`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ansible_playbook_runs_twice_unchanged() {
    use oxvirt_testkit::agent::TEST_ENROLLMENT_SECRET;
    let playbook = oxvirt_testkit::sdk::ansible_playbook().expect("ansible-playbook");
    let net = oxvirt_testkit::TestNetwork::new().expect("network");
    let (host, _agent, localfs) = host_with_localfs(&net, "ansible").await;
    let engine = TestEngine::start(&engine_binary().expect("engine binary"), &[]).await.expect("engine");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ansible/run.py");
    let out = Command::new(oxvirt_testkit::sdk::sdk_python().expect("SDK venv"))
        .arg(&script)
        .arg(playbook)
        .arg(&engine.api_url)
        .arg(TEST_ADMIN_PASSWORD)
        .arg(&engine.ca_file)
        .arg(host.address().to_string())
        .arg(TEST_ENROLLMENT_SECRET)
        .arg(&localfs)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("TMPDIR", host.dir())
        .output()
        .expect("run python");
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    assert!(
        out.status.success() && stdout.contains("OK"),
        "the Ansible playbooks failed:\n{stdout}\n{}\nengine log tail:\n{}",
        String::from_utf8_lossy(&out.stderr),
        engine_log_tail(&engine)
    );
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

/// The `AddDisk` job pauses after recording its volume step, before the agent is asked, and
/// the engine is SIGKILLed; after a restart the job is resumed: the volume is made, the disk
/// is ok with its file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_host_disk_add_killed_before_the_volume_is_resumed() {
    disk_add_crash("AddDisk:2:before").await;
}

/// The engine is SIGKILLed after the agent created the volume, before the step's end was
/// written; after a restart the resumed step finds the complete volume: the disk is ok.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_host_disk_add_killed_after_the_volume_completes() {
    disk_add_crash("AddDisk:2:after").await;
}

/// Adds a disk with the `AddDisk` job set to pause at `point`, SIGKILLs the engine there,
/// restarts it without the fault, and checks what the executor made of it: the job finished,
/// every step settled, the disk `ok` with its file.
async fn disk_add_crash(point: &str) {
    use oxvirt_engine::app::saga::FAULT_PAUSE;
    use oxvirt_engine_db::model::{DiskStatus, JobStatus};
    use oxvirt_engine_db::store::{JobFilter, Store};
    use oxvirt_testkit::agent::TEST_ENROLLMENT_SECRET;
    let net = oxvirt_testkit::TestNetwork::new().expect("network");
    let (host, _agent, localfs) = host_with_localfs(&net, "sdk-crash").await;
    let mut engine =
        TestEngine::start(&engine_binary().expect("engine binary"), &[(FAULT_PAUSE, point)]).await.expect("engine");
    let args = [host.address().to_string(), TEST_ENROLLMENT_SECRET.to_owned(), localfs.display().to_string()];
    let mut prepare: Vec<&str> = args.iter().map(String::as_str).collect();
    prepare.push("prepare");
    let out = run_script(&engine, "storage_crash.py", &prepare);
    let sd = out.lines().find_map(|l| l.strip_prefix("SD=")).expect("the script prints the domain id").to_owned();
    engine.fault_pause_wait(1, std::time::Duration::from_secs(60)).await.expect("the job pauses");
    engine.kill();

    engine.env_remove(FAULT_PAUSE);
    engine.restart().await.expect("restart without the fault");
    let store = Store::open(&format!("sqlite://{}", engine.data_dir.join("engine.db").display())).await.expect("db");
    let job =
        oxvirt_testkit::wait::until_async("the AddDisk job to end", std::time::Duration::from_secs(60), || async {
            let jobs = store.job_list(&JobFilter::default()).await.ok()?;
            jobs.into_iter().find(|j| j.action_type == "AddDisk" && j.status != JobStatus::Started)
        })
        .await
        .expect("the job ends");
    let steps = store.step_list_for_job(job.id).await.expect("steps");
    assert_eq!(job.status, JobStatus::Finished, "the executor resumed and finished the job: {steps:?}");
    assert!(steps.iter().all(|s| s.status == JobStatus::Finished), "every step finished: {steps:?}");
    let disk_id: oxvirt_types::DiskId =
        job.params["disk_id"].as_str().expect("disk id in the job's parameters").parse().expect("id");
    let images = localfs.join(&sd).join("images");
    let disk = store.disk_get(disk_id).await.expect("the disk is kept");
    assert_eq!(disk.status, DiskStatus::Ok, "the disk is ok");
    assert!(images.join(disk_id.to_string()).join(disk.volume_id.to_string()).is_file(), "with its file");
    store.close().await;

    let mut check: Vec<&str> = args.iter().map(String::as_str).collect();
    check.push("check");
    run_script(&engine, "storage_crash.py", &check);
}

/// The `RemoveDisk` job pauses before deleting the volumes and the engine is SIGKILLed; after
/// a restart the executor finishes the removal: the job finished, the disk row and file gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_host_disk_remove_crash_finishes_the_removal() {
    use oxvirt_engine::app::saga::FAULT_PAUSE;
    use oxvirt_engine_db::model::JobStatus;
    use oxvirt_engine_db::store::{JobFilter, Store};
    use oxvirt_testkit::agent::TEST_ENROLLMENT_SECRET;
    let net = oxvirt_testkit::TestNetwork::new().expect("network");
    let (host, _agent, localfs) = host_with_localfs(&net, "sdk-rmcrash").await;
    let mut engine =
        TestEngine::start(&engine_binary().expect("engine binary"), &[(FAULT_PAUSE, "RemoveDisk:2:before")])
            .await
            .expect("engine");
    let args = [host.address().to_string(), TEST_ENROLLMENT_SECRET.to_owned(), localfs.display().to_string()];
    let mut prepare: Vec<&str> = args.iter().map(String::as_str).collect();
    prepare.push("prepare-remove");
    let out = run_script(&engine, "storage_crash.py", &prepare);
    let sd = out.lines().find_map(|l| l.strip_prefix("SD=")).expect("domain id").to_owned();
    let disk = out.lines().find_map(|l| l.strip_prefix("DISK=")).expect("disk id").to_owned();
    let image = localfs.join(&sd).join("images").join(&disk);
    assert!(image.is_dir(), "the disk's image is there before the crash");
    engine.fault_pause_wait(1, std::time::Duration::from_secs(60)).await.expect("the job pauses");
    engine.kill();

    engine.env_remove(FAULT_PAUSE);
    engine.restart().await.expect("restart without the fault");

    let store = Store::open(&format!("sqlite://{}", engine.data_dir.join("engine.db").display())).await.expect("db");
    let remove =
        oxvirt_testkit::wait::until_async("the RemoveDisk job to end", std::time::Duration::from_secs(60), || async {
            let jobs = store.job_list(&JobFilter::default()).await.ok()?;
            jobs.into_iter().find(|j| j.action_type == "RemoveDisk" && j.status != JobStatus::Started)
        })
        .await
        .expect("the job ends");
    assert_eq!(remove.status, JobStatus::Finished, "the executor finished the removal");
    assert!(store.disk_get(disk.parse().expect("disk id")).await.is_err(), "the disk row is gone");
    assert!(!image.exists(), "the disk's file is gone");
    store.close().await;

    let mut check: Vec<&str> = args.iter().map(String::as_str).collect();
    check.push("check");
    run_script(&engine, "storage_crash.py", &check);
}

/// Every attribute the SDK's writers can send for the types the engine adds (data centers,
/// clusters, networks, vNIC profiles, VMs, NICs), two levels deep: honoured (read back) or
/// refused with a 400 naming it — never added and dropped. See `tests/sdk/fidelity.py`.
#[tokio::test]
async fn sdk_writers_every_attribute_is_honoured_or_refused() {
    let engine = TestEngine::start(&engine_binary().expect("engine binary"), &[]).await.expect("engine");
    let out = run_script(&engine, "fidelity.py", &[]);
    println!("{out}");
}
