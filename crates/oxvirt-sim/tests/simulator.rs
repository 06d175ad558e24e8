//! The simulated agent (`oxvirt-sim`, a SIMULATION: no guests run) as the engine sees it:
//! the real enrollment and mTLS, the VM lifecycle with ordered events, fault injection
//! through the control API, persistence of enrollments across a restart, 200 hosts in one
//! process, and a real engine adding simulated hosts and starting a VM on one.

use futures::StreamExt as _;
use oxvirt_agent_api::v1::*;
use oxvirt_agent_client::{AgentClient, AgentClientError, host_enroll};
use oxvirt_engine::pki::EnginePki;
use oxvirt_sim::control::HostList;
use oxvirt_sim::host::FreezeMode;
use oxvirt_sim::{HostParams, Placement, SimConfig, Simulator};
use oxvirt_testkit::TestEngine;
use oxvirt_testkit::engine::{TEST_ADMIN_PASSWORD, engine_binary};
use oxvirt_types::{ByteSize, DiskId, ErrorKind, StorageDomainId, VmId, VolumeId};
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

const SECRET: &str = "sim-test-secret";

fn config(state_dir: &std::path::Path, hosts: usize, first: Ipv4Addr) -> SimConfig {
    SimConfig {
        hosts,
        // Port 0: every host gets a free port of its own, so parallel tests never collide.
        placement: Placement::Addresses { first, port: 0 },
        state_dir: state_dir.to_owned(),
        enrollment_secret: Some(SECRET.to_owned()),
        host: HostParams {
            launch_delay: Duration::from_millis(100),
            shutdown_delay: Duration::from_millis(300),
            heartbeat: Duration::from_secs(1),
            storage_capacity: ByteSize::from_gib(10),
            ..HostParams::default()
        },
    }
}

fn spec(name: &str) -> VmSpec {
    VmSpec {
        id: VmId::new_random(),
        name: name.into(),
        cpu: CpuTopology { sockets: 1, cores: 2, threads: 1 },
        memory: ByteSize::from_mib(512),
        machine: None,
        boot: Boot::Devices { order: vec![BootDevice::Hd] },
        disks: vec![],
        nics: vec![NicSpec {
            id: oxvirt_types::NicId::new_random(),
            mac: "52:54:00:00:00:01".into(),
            model: NicModel::Virtio,
            network: "ovirtmgmt".into(),
        }],
        graphics: None,
        custom_properties: Default::default(),
        serial: None,
        cloud_init: None,
        serial_console: true,
    }
}

fn anonymous() -> reqwest::Client {
    reqwest::Client::builder().danger_accept_invalid_certs(true).build().expect("client")
}

/// The next event about `vm` (skipping heartbeats and other VMs), within a deadline.
async fn next_vm_event(
    events: &mut (impl futures::Stream<Item = Result<EventEnvelope, AgentClientError>> + Unpin),
    vm: VmId,
) -> (u64, VmState) {
    loop {
        let item = tokio::time::timeout(Duration::from_secs(10), events.next()).await.expect("an event in time");
        match item.expect("stream open").expect("event") {
            EventEnvelope::Vm { generation, vm: state, .. } if state.id == vm => return (generation, state),
            _ => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulated_agent_enrolls_serves_mtls_runs_vms_and_obeys_fault_injection() {
    let dirs = tempfile::tempdir().expect("tempdir");
    let state = dirs.path().join("sim");
    let sim = Arc::new(Simulator::start(config(&state, 1, Ipv4Addr::new(127, 77, 0, 1))).await.expect("simulator"));
    let host = sim.host(0).expect("host 0").clone();
    let (address, port) = (host.address().to_string(), host.port());

    // Health answers everyone and says it is a simulation.
    let r = anonymous().get(format!("https://{address}:{port}/v1/health")).send().await.expect("health");
    assert!(r.status().is_success());
    assert_eq!(r.headers()[oxvirt_sim::api::SIMULATED_HEADER], oxvirt_sim::SIMULATED);
    let health: Health = r.json().await.expect("health json");
    assert!(health.version.contains("oxvirt-sim"), "{health:?}");

    // Enrollment: wrong secret refused; the right one makes mTLS.
    let engine = EnginePki::load_or_create(&dirs.path().join("engine"), &["localhost".to_owned()]).expect("pki");
    let wrong = host_enroll(&address, port, "wrong", &engine).await.expect_err("wrong secret");
    assert_eq!(wrong.kind(), ErrorKind::Unauthenticated, "{wrong}");
    let enrolled = host_enroll(&address, port, SECRET, &engine).await.expect("enroll");
    assert_eq!(enrolled.host_id, host.host_id());
    let client = AgentClient::new(&address, port, &engine).expect("client");
    let caps = client.capabilities().await.expect("capabilities over mTLS");
    assert_eq!(caps.host_id, host.host_id());
    assert!(caps.libvirt_version.contains("simulated") && caps.qemu_version.contains("simulated"), "{caps:?}");
    assert!(caps.virtualization.kvm_unusable_reason.as_deref().is_some_and(|r| r.contains("oxvirt-sim")));

    // Without the engine's client certificate: 401; with another CA's: the handshake fails.
    let r = anonymous().get(format!("https://{address}:{port}/v1/capabilities")).send().await.expect("send");
    assert_eq!(r.status(), 401);
    let other = EnginePki::load_or_create(&dirs.path().join("other"), &["localhost".to_owned()]).expect("pki");
    let stranger = AgentClient::new(&address, port, &other).expect("client").capabilities().await;
    assert!(matches!(stranger, Err(AgentClientError::Unreachable { .. })), "{stranger:?}");

    // VM lifecycle: create returns running; an ACPI shutdown powers down, then down; the
    // event stream carries each change in order.
    let list = client.vm_list().await.expect("list");
    let mut events = Box::pin(client.events(list.generation, Some(&list.stream_id)).await.expect("events"));
    let vm = spec("sim-vm");
    let created = client.vm_create(&vm).await.expect("create");
    assert_eq!(created.state, VmRunState::Running);
    let again = client.vm_create(&vm).await.expect_err("a running VM cannot be created twice");
    assert_eq!(again.kind(), ErrorKind::Conflict);
    let console = client.vm_console(vm.id, 4096).await.expect("console");
    assert!(console.text.contains("OXVIRT-GUEST-UP disks=- nics=eth0"), "{}", console.text);
    let stats = client.host_stats().await.expect("host stats");
    assert!(stats.memory_used >= ByteSize::from_mib(512), "{stats:?}");
    let off = client
        .vm_action(vm.id, VmAction::Shutdown, &VmActionRequest { timeout_secs: Some(60) })
        .await
        .expect("shutdown");
    assert_eq!(off.state, VmRunState::PoweringDown);
    let (g1, e1) = next_vm_event(&mut events, vm.id).await;
    let (g2, e2) = next_vm_event(&mut events, vm.id).await;
    let (g3, e3) = next_vm_event(&mut events, vm.id).await;
    assert_eq!(
        (e1.state, e2.state, e3.state, e3.down_reason),
        (VmRunState::Running, VmRunState::PoweringDown, VmRunState::Down, Some(DownReason::Shutdown))
    );
    assert!(g1 < g2 && g2 < g3, "generations increase: {g1} {g2} {g3}");
    assert!(client.vm_console(vm.id, 4096).await.expect("console").text.contains("OXVIRT-GUEST-POWEROFF"));

    // A stream id of another run: the stream starts with a resync.
    let mut foreign = Box::pin(client.events(0, Some("another-run")).await.expect("events"));
    let first = tokio::time::timeout(Duration::from_secs(5), foreign.next()).await.expect("in time");
    assert!(matches!(first, Some(Ok(EventEnvelope::Resync { .. }))), "{first:?}");

    // Storage: sizes recorded, free space shrinks with allocations.
    let sd = StorageDomainId::new_random();
    let info = client
        .storage_domain_create(&StorageDomainCreate {
            id: sd,
            name: "simdata".into(),
            domain_type: StorageDomainType::Data,
            connection: StorageDomainConnection::Localfs { path: "/nowhere".into() },
        })
        .await
        .expect("domain");
    let volume = VolumeCreate {
        image_id: DiskId::new_random(),
        volume_id: VolumeId::new_random(),
        format: VolumeFormat::Raw,
        size: Some(ByteSize::from_gib(2)),
        sparse: false,
        parent: None,
        description: String::new(),
    };
    let vol = client.volume_create(sd, &volume).await.expect("volume");
    assert_eq!(vol.actual_size, ByteSize::from_gib(2));
    let after = client.storage_domain_info(sd).await.expect("info");
    assert_eq!(after.available.bytes(), info.available.bytes() - ByteSize::from_gib(2).bytes());
    let too_big = VolumeCreate { volume_id: VolumeId::new_random(), size: Some(ByteSize::from_gib(9)), ..volume };
    assert_eq!(client.volume_create(sd, &too_big).await.expect_err("no space").kind(), ErrorKind::Conflict);
    // The volume list over the API: what was created, then not what was deleted.
    let vol_ref = VolumeRef { image_id: vol.image_id, volume_id: vol.volume_id };
    let listed = client.volume_list(sd).await.expect("volume list");
    assert_eq!(listed.storage_domain_id, sd);
    assert_eq!(listed.volumes.iter().map(VolumeListEntry::reference).collect::<Vec<_>>(), vec![vol_ref]);
    assert!(listed.volumes[0].legal && listed.volumes[0].actual_size == vol.actual_size, "{listed:?}");
    client.volume_delete(sd, vol_ref).await.expect("delete volume");
    assert!(client.volume_list(sd).await.expect("volume list").volumes.is_empty());
    let unknown = client.volume_list(StorageDomainId::new_random()).await.expect_err("unknown domain");
    assert_eq!(unknown.kind(), ErrorKind::NotFound, "{unknown}");

    // Fault injection: crash a VM, freeze and thaw the host.
    let control = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("control listener");
    let control_url = format!("http://{}", control.local_addr().expect("addr"));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(oxvirt_sim::control::serve(control, sim.clone(), async move {
        let _ = stopped.await;
    }));
    let http = reqwest::Client::new();
    let crashy = spec("crashy");
    client.vm_create(&crashy).await.expect("create");
    let (_, running) = next_vm_event(&mut events, crashy.id).await;
    assert_eq!(running.state, VmRunState::Running);
    let r = http.post(format!("{control_url}/hosts/0/vms/{}/crash", crashy.id)).send().await.expect("crash");
    assert!(r.status().is_success(), "{:?}", r.text().await);
    let (_, crashed) = next_vm_event(&mut events, crashy.id).await;
    assert_eq!((crashed.state, crashed.down_reason), (VmRunState::Down, Some(DownReason::Crashed)));

    let listed: HostList =
        http.get(format!("{control_url}/hosts")).send().await.expect("hosts").json().await.expect("json");
    assert!(listed.simulation.contains("simulated"));
    assert_eq!(listed.hosts[0].host_id, host.host_id());
    assert!(listed.hosts[0].enrolled && !listed.hosts[0].frozen);
    assert_eq!((listed.hosts[0].vms_running, listed.hosts[0].vms_known), (0, 2));

    assert!(http.post(format!("{control_url}/hosts/0/freeze")).send().await.expect("freeze").status().is_success());
    let frozen = client.capabilities().await.expect_err("a frozen host does not answer");
    assert!(matches!(frozen, AgentClientError::Unreachable { .. }), "{frozen}");
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(item) = events.next().await {
            if item.is_err() {
                break;
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the event stream ends when the host freezes");
    assert!(http.post(format!("{control_url}/hosts/0/thaw")).send().await.expect("thaw").status().is_success());
    assert_eq!(client.capabilities().await.expect("thawed host answers").host_id, host.host_id());

    // Frozen in "hang" mode, the port accepts TCP but nothing answers: callers time out.
    let r = http.post(format!("{control_url}/hosts/0/freeze?mode=hang")).send().await.expect("freeze");
    assert!(r.status().is_success(), "{:?}", r.text().await);
    let impatient = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .timeout(Duration::from_secs(1))
        .build()
        .expect("c");
    let hung = impatient.get(format!("https://{address}:{port}/v1/health")).send().await.expect_err("no answer");
    assert!(hung.is_timeout(), "a hung host times out rather than refusing: {hung:?}");
    assert!(http.post(format!("{control_url}/hosts/0/thaw")).send().await.expect("thaw").status().is_success());
    assert_eq!(client.capabilities().await.expect("thawed host answers").host_id, host.host_id());
    let _ = stop.send(());

    // A restart of the simulator keeps the enrollment (and the host id), not the VMs.
    let old_stream = host.registry().stream_id().to_owned();
    sim.shutdown().await;
    drop(sim);
    let sim = Simulator::start(config(&state, 1, Ipv4Addr::new(127, 77, 0, 1))).await.expect("restart");
    let host = sim.host(0).expect("host 0");
    let client = AgentClient::new(&address, host.port(), &engine).expect("client");
    assert_eq!(client.capabilities().await.expect("still enrolled").host_id, enrolled.host_id);
    let list = client.vm_list().await.expect("list");
    assert!(list.vms.is_empty() && list.stream_id != old_stream, "a restart is a host reboot: {list:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_simulated_hosts_in_one_process_all_answer_health() {
    let dirs = tempfile::tempdir().expect("tempdir");
    let sim = Simulator::start(config(dirs.path(), 200, Ipv4Addr::new(127, 78, 0, 1))).await.expect("simulator");
    assert_eq!(sim.hosts().len(), 200);
    let http = anonymous();
    let answers = futures::stream::iter(sim.hosts().iter().map(|h| {
        let url = format!("https://{}:{}/v1/health", h.address(), h.port());
        let http = http.clone();
        async move { http.get(url).send().await.ok().filter(|r| r.status().is_success()).is_some() }
    }))
    .buffer_unordered(32)
    .collect::<Vec<bool>>()
    .await;
    assert_eq!(answers.iter().filter(|ok| **ok).count(), 200, "every simulated host answers health");
    let ids: std::collections::HashSet<_> = sim.hosts().iter().map(|h| h.host_id()).collect();
    assert_eq!(ids.len(), 200, "each host has its own id");
}

/// Finds the text of `<tag>` directly under the document root.
fn child_text(xml: &str, tag: &str) -> Option<String> {
    let doc = roxmltree::Document::parse(xml).ok()?;
    doc.root_element().children().find(|n| n.has_tag_name(tag)).and_then(|n| n.text()).map(str::to_owned)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engine_adds_simulated_hosts_and_starts_a_vm_on_one() {
    let dirs = tempfile::tempdir().expect("tempdir");
    let sim = Simulator::start(config(dirs.path(), 3, Ipv4Addr::new(127, 79, 0, 1))).await.expect("simulator");
    let engine = TestEngine::start(&engine_binary().expect("engine binary (cargo build -p oxvirt-engine)"), &[])
        .await
        .expect("engine");
    let api = engine.api_url.clone();
    let http = anonymous();
    let post = |path: &str, body: String| {
        http.post(format!("{api}/{path}"))
            .basic_auth("admin@internal", Some(TEST_ADMIN_PASSWORD))
            .header("Content-Type", "application/xml")
            .body(body)
            .send()
    };
    let r = post("datacenters", "<data_center><name>dc1</name><local>false</local></data_center>".into())
        .await
        .expect("dc");
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());
    let r = post("clusters", "<cluster><name>c1</name><data_center><name>dc1</name></data_center></cluster>".into())
        .await
        .expect("cluster");
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());

    for h in sim.hosts() {
        let body = format!(
            "<host><name>sim{}</name><address>{}</address><port>{}</port><root_password>{SECRET}</root_password>\
             <cluster><name>c1</name></cluster></host>",
            h.index,
            h.address(),
            h.port()
        );
        // `async=false`: the reply comes when the AddHost job has ended (the host is up).
        let r = post("hosts?async=false", body).await.expect("host add");
        let status = r.status();
        let text = r.text().await.expect("body");
        assert_eq!(status, 201, "{text}");
        assert_eq!(child_text(&text, "status").as_deref(), Some("up"), "{text}");
        assert!(text.contains(&h.host_id().to_string()), "the engine knows the simulated host's id: {text}");
        assert!(h.identity().is_enrolled());
    }

    let r = post(
        "vms",
        "<vm><name>simvm</name><cluster><name>c1</name></cluster><template><name>Blank</name></template></vm>".into(),
    )
    .await
    .expect("vm add");
    let status = r.status();
    let text = r.text().await.expect("body");
    assert_eq!(status, 201, "{text}");
    let vm_id: VmId = child_text(&text, "id")
        .or_else(|| roxmltree::Document::parse(&text).ok()?.root_element().attribute("id").map(str::to_owned))
        .expect("vm id")
        .parse()
        .expect("uuid");
    // `<async>false</async>`: the reply comes when the RunVm job has ended.
    let r = post(&format!("vms/{vm_id}/start"), "<action><async>false</async></action>".into()).await.expect("start");
    let status = r.status();
    let text = r.text().await.expect("body");
    assert!(status.is_success(), "{status}: {text}");

    // The VM runs on exactly one simulated host.
    let running: Vec<usize> = sim
        .hosts()
        .iter()
        .filter(|h| h.registry().get(vm_id).is_some_and(|s| s.state == VmRunState::Running))
        .map(|h| h.index)
        .collect();
    assert_eq!(running.len(), 1, "the VM runs on one simulated host: {running:?}");

    // The engine's view: `up`, from what the simulated agent reported.
    let vm = http
        .get(format!("{api}/vms/{vm_id}"))
        .basic_auth("admin@internal", Some(TEST_ADMIN_PASSWORD))
        .send()
        .await
        .expect("vm get")
        .text()
        .await
        .expect("body");
    let vm_status = child_text(&vm, "status").unwrap_or_default();
    assert_eq!(vm_status, "up", "VM status after start: {vm}");

    // Fault injection seen by the engine: a frozen host is non-responsive on activation;
    // thawed, it comes Up again.
    let idle = sim.hosts().iter().find(|h| h.index != running[0]).expect("a host without the VM");
    let host_status = || async {
        let xml = http
            .get(format!("{api}/hosts/{}", idle.host_id()))
            .basic_auth("admin@internal", Some(TEST_ADMIN_PASSWORD))
            .send()
            .await
            .expect("host get")
            .text()
            .await
            .expect("body");
        child_text(&xml, "status").unwrap_or_default()
    };
    idle.freeze(FreezeMode::Refuse).await.expect("freeze");
    let r = post(&format!("hosts/{}/activate", idle.host_id()), "<action/>".into()).await.expect("activate");
    assert!(r.status().is_success(), "{}", r.text().await.unwrap_or_default());
    assert_eq!(host_status().await, "non_responsive");
    idle.thaw().await.expect("thaw");
    let r = post(&format!("hosts/{}/activate", idle.host_id()), "<action/>".into()).await.expect("activate");
    assert!(r.status().is_success(), "{}", r.text().await.unwrap_or_default());
    assert_eq!(host_status().await, "up");
}

/// CPU time (user + system) this process has used, from `/proc/self/stat`, in clock ticks.
fn cpu_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let rest = &stat[stat.rfind(')').expect("stat format") + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime")
}

/// Benchmark (ignored by default; `cargo nextest run -p oxvirt-sim --run-ignored only`):
/// 1,000 enrolled hosts × 50 running VMs, each host's event stream held open, then the
/// process's CPU use over a quiet 10 s window. Prints the figures; the bound is loose.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: 1,000 hosts x 50 VMs takes minutes"]
async fn scale_thousand_hosts_fifty_vms_idle_cheaply() {
    let dirs = tempfile::tempdir().expect("tempdir");
    let mut cfg = config(&dirs.path().join("sim"), 1000, Ipv4Addr::new(127, 80, 0, 1));
    cfg.host.launch_delay = Duration::ZERO;
    cfg.host.heartbeat = Duration::from_secs(15);
    let started = std::time::Instant::now();
    let sim = Simulator::start(cfg).await.expect("simulator");
    eprintln!("1000 hosts up in {:?}", started.elapsed());
    let engine = EnginePki::load_or_create(&dirs.path().join("engine"), &["localhost".to_owned()]).expect("pki");
    let started = std::time::Instant::now();
    let clients: Vec<AgentClient> = futures::stream::iter(sim.hosts().iter().map(|h| {
        let (address, port, engine) = (h.address().to_string(), h.port(), &engine);
        async move {
            host_enroll(&address, port, SECRET, engine).await.expect("enroll");
            AgentClient::new(&address, port, engine).expect("client")
        }
    }))
    .buffer_unordered(16)
    .collect()
    .await;
    eprintln!("1000 hosts enrolled in {:?}", started.elapsed());
    let started = std::time::Instant::now();
    // Host after host within each round, so each host sees about one request at a time (as
    // from an engine) and each client pools one connection, not dozens.
    futures::stream::iter((0..50).flat_map(|i| clients.iter().map(move |c| (c, i))))
        .for_each_concurrent(64, |(c, i)| async move {
            c.vm_create(&spec(&format!("vm{i}"))).await.expect("create");
        })
        .await;
    eprintln!("50,000 VMs created in {:?}", started.elapsed());
    let mut streams = Vec::new();
    for c in &clients {
        streams.push(Box::pin(c.events(0, None).await.expect("events")));
    }
    let running: usize = sim.hosts().iter().map(|h| h.live_vm_count()).sum();
    assert_eq!(running, 50_000);
    let drain = tokio::spawn(async move {
        let mut all = futures::stream::select_all(streams);
        while all.next().await.is_some() {}
    });
    // Let the initial event backlog drain, then measure a quiet window.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (t0, w0) = (cpu_ticks(), std::time::Instant::now());
    tokio::time::sleep(Duration::from_secs(10)).await;
    let (t1, w1) = (cpu_ticks(), std::time::Instant::now());
    let ticks_per_sec = 100.0; // USER_HZ on Linux
    let cpu_percent = (t1 - t0) as f64 / ticks_per_sec / (w1 - w0).as_secs_f64() * 100.0;
    let rss = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmRSS")).map(str::to_owned))
        .unwrap_or_default();
    eprintln!("idle CPU with 1000 hosts x 50 VMs and 1000 open event streams: {cpu_percent:.1}% of one core; {rss}");
    drain.abort();
    assert!(cpu_percent < 25.0, "idle CPU {cpu_percent:.1}% of one core");
}

/// Polls VM `id` until `until`, asserting at every look that it stays running (the condition
/// waited for is time passing: the instant a stale timer would have fired, plus a margin).
async fn stays_running(client: &AgentClient, id: VmId, until: std::time::Instant) {
    let limit = until.saturating_duration_since(std::time::Instant::now()) + Duration::from_secs(5);
    oxvirt_testkit::wait::until_async("the old run's timer to be past due", limit, || async {
        let state = client.vm_list().await.expect("list").vms.into_iter().find(|v| v.id == id).expect("known");
        assert_eq!((state.state, state.down_reason), (VmRunState::Running, None), "the new run was stopped");
        (std::time::Instant::now() >= until).then_some(())
    })
    .await
    .expect("waited past the timer");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shutdown_timer_belongs_to_one_run_and_never_stops_the_next() {
    const TIMEOUT: Duration = Duration::from_secs(1);
    const MARGIN: Duration = Duration::from_millis(700);
    let dirs = tempfile::tempdir().expect("tempdir");
    let engine = EnginePki::load_or_create(&dirs.path().join("engine"), &["localhost".to_owned()]).expect("pki");
    // Two kinds of guest: one that powers off 300 ms after the button, one that takes a minute
    // (longer than any timeout here: only the timer can end its run).
    let quick = config(&dirs.path().join("quick"), 1, Ipv4Addr::new(127, 81, 0, 1));
    let mut slow = config(&dirs.path().join("slow"), 1, Ipv4Addr::new(127, 81, 1, 1));
    slow.host.shutdown_delay = Duration::from_secs(60);
    for (label, cfg) in [("quick guest", quick), ("slow guest", slow)] {
        let sim = Simulator::start(cfg).await.expect("simulator");
        let host = sim.host(0).expect("host 0").clone();
        let address = host.address().to_string();
        host_enroll(&address, host.port(), SECRET, &engine).await.expect("enroll");
        let client = AgentClient::new(&address, host.port(), &engine).expect("client");
        let vm = spec("twice");
        client.vm_create(&vm).await.expect("create");

        // Shut down with a short timeout; the run ends before the timeout (the quick guest by
        // itself, the slow one by a destroy, as the engine's "power off" after a shutdown).
        let pressed = std::time::Instant::now();
        let req = VmActionRequest { timeout_secs: Some(TIMEOUT.as_secs()) };
        client.vm_action(vm.id, VmAction::Shutdown, &req).await.expect("shutdown");
        assert!(host.vm_has_timer(vm.id), "{label}: the shutdown set its timer");
        let down = if label == "quick guest" {
            oxvirt_testkit::wait::until_async("the guest to power off", Duration::from_secs(10), || async {
                let list = client.vm_list().await.expect("list");
                list.vms.into_iter().find(|v| v.id == vm.id && v.state == VmRunState::Down)
            })
            .await
            .expect("down")
        } else {
            client.vm_action(vm.id, VmAction::Destroy, &VmActionRequest::default()).await.expect("destroy")
        };
        assert_eq!(down.state, VmRunState::Down, "{label}");
        assert!(pressed.elapsed() < TIMEOUT, "{label}: the run ended before its timer was due");
        assert!(!host.vm_has_timer(vm.id), "{label}: the end of the run cancelled its timer");

        // The next run outlives the moment the old timer was due.
        let again = client.vm_create(&vm).await.expect("start again");
        assert_eq!(again.state, VmRunState::Running, "{label}");
        stays_running(&client, vm.id, pressed + TIMEOUT + MARGIN).await;

        // The new run's own timer still works: the slow guest is destroyed at its timeout.
        if label == "slow guest" {
            client.vm_action(vm.id, VmAction::Shutdown, &req).await.expect("shutdown");
            let gone = oxvirt_testkit::wait::until_async("the timeout's destroy", TIMEOUT * 10, || async {
                let list = client.vm_list().await.expect("list");
                list.vms.into_iter().find(|v| v.id == vm.id && v.state == VmRunState::Down)
            })
            .await
            .expect("destroyed after the timeout");
            assert_eq!(gone.down_reason, Some(DownReason::Destroyed));
        }
        sim.shutdown().await;
    }
}
