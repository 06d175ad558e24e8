//! The engine's agent client against a real agent in a test host: enrollment with the
//! engine's own CA, mTLS calls, refusal of strangers, and the pushed event stream.

use futures::StreamExt as _;
use oxvirt_agent_api::v1::*;
use oxvirt_agent_client::{AgentClient, AgentClientError, host_enroll};
use oxvirt_engine::pki::EnginePki;
use oxvirt_testkit::agent::{TEST_ENROLLMENT_SECRET, agent_binary};
use oxvirt_testkit::{HostOptions, TestAgent, TestGuest, TestHost, TestNetwork};
use oxvirt_types::{ByteSize, ErrorKind, VmId};
use std::time::Duration;

fn pki(dir: &std::path::Path) -> EnginePki {
    EnginePki::load_or_create(dir, &["localhost".to_owned()]).expect("engine PKI")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engine_enrolls_a_host_then_talks_mtls_and_follows_its_events() {
    let net = TestNetwork::new().expect("network");
    let mut host = TestHost::start(&net, HostOptions::named("enroll")).expect("host");
    let _agent =
        TestAgent::start_unenrolled(&mut host, &agent_binary().expect("agent binary"), &[]).await.expect("agent");
    let address = host.address().to_string();
    let dirs = tempfile::tempdir().expect("tempdir");
    let engine = pki(&dirs.path().join("engine"));

    let wrong = host_enroll(&address, 54321, "not-the-secret", &engine).await.expect_err("wrong secret");
    assert_eq!(wrong.kind(), ErrorKind::Unauthenticated, "{wrong}");

    let enrolled = host_enroll(&address, 54321, TEST_ENROLLMENT_SECRET, &engine).await.expect("enroll");
    assert_eq!(enrolled.host_id.to_string(), host.host_uuid().to_string(), "the host id is libvirt's host_uuid");
    assert_eq!(enrolled.hostname, "enroll");

    let client = AgentClient::new(&address, 54321, &engine).expect("client");
    let caps = client.capabilities().await.expect("capabilities over mTLS");
    assert_eq!(caps.host_id, enrolled.host_id);

    // Another engine (another CA) is a stranger: the TLS handshake fails either way round.
    let stranger = AgentClient::new(&address, 54321, &pki(&dirs.path().join("other"))).expect("client");
    let refused = stranger.capabilities().await.expect_err("another engine's client is refused");
    assert!(matches!(refused, AgentClientError::Unreachable { .. }), "{refused}");
    let again = host_enroll(&address, 54321, TEST_ENROLLMENT_SECRET, &pki(&dirs.path().join("other"))).await;
    assert!(again.is_err(), "an enrolled host cannot be taken over with the secret alone");

    // The event stream pushes a VM's changes as they happen.
    let guest = TestGuest::get().expect("guest");
    let from = client.vm_list().await.expect("list").generation;
    let mut events = Box::pin(client.events(from, None).await.expect("event stream"));
    let spec = VmSpec {
        id: VmId::new_random(),
        name: "streamed".into(),
        cpu: CpuTopology { sockets: 1, cores: 1, threads: 1 },
        memory: ByteSize::from_mib(128),
        machine: None,
        boot: Boot::Kernel {
            kernel: guest.kernel.clone(),
            initrd: Some(guest.initrd.clone()),
            cmdline: guest.cmdline.clone(),
        },
        disks: vec![],
        nics: vec![],
        graphics: None,
        custom_properties: Default::default(),
        serial: None,
        cloud_init: None,
        serial_console: true,
    };
    client.vm_create(&spec).await.expect("create");
    client.vm_action(spec.id, VmAction::Destroy, &VmActionRequest::default()).await.expect("destroy");
    // Running first, Down last; libvirt may report the guest shutting down on the way (a
    // destroy under load), which the agent passes on as PoweringDown.
    let mut seen = Vec::new();
    while seen.last().is_none_or(|(_, state)| *state != VmRunState::Down) {
        let next = tokio::time::timeout(Duration::from_secs(30), events.next()).await.expect("an event in time");
        match next.expect("stream open").expect("event") {
            EventEnvelope::Vm { generation, vm, .. } if vm.id == spec.id => seen.push((generation, vm.state)),
            _ => {}
        }
    }
    assert_eq!(seen[0].1, VmRunState::Running, "{seen:?}");
    assert!(seen[1..seen.len() - 1].iter().all(|(_, s)| *s == VmRunState::PoweringDown), "{seen:?}");
    assert!(seen.windows(2).all(|w| w[0].0 < w[1].0), "generations increase: {seen:?}");
}
