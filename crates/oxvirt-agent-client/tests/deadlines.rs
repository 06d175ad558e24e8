//! The client's deadlines and bounds against agents that misbehave: a TCP server that accepts
//! and never says a word, and a real agent transport (`oxvirt-agent-server`'s identity,
//! enrollment and `tls::serve`, enrolled by the real engine CA) whose routes hang, answer too
//! much, or stream NDJSON in awkward pieces. FAULT INJECTION: the misbehaving routes are the
//! test's own; everything else is the product's.

use axum::Router;
use axum::routing::get;
use futures::StreamExt as _;
use oxvirt_agent_api::v1::{self, EventEnvelope, paths};
use oxvirt_agent_client::{AgentClient, AgentClientError, ClientLimits, host_enroll};
use oxvirt_agent_server::tls::{self, AgentIdentity};
use oxvirt_engine::pki::EnginePki;
use oxvirt_types::{ErrorKind, HostId, VmId};
use std::sync::Arc;
use std::time::{Duration, Instant};

const SECRET: &str = "deadline-test-secret";
/// The short deadline the tests configure, and how late an error may come after it.
const DEADLINE: Duration = Duration::from_secs(1);
const SLACK: Duration = Duration::from_secs(4);

fn short_limits() -> ClientLimits {
    ClientLimits { call: DEADLINE, stream_open: DEADLINE, connect: DEADLINE, ..ClientLimits::default() }
}

fn pki(dir: &std::path::Path) -> EnginePki {
    EnginePki::load_or_create(dir, &["localhost".to_owned()]).expect("engine PKI")
}

/// Asserts that `result` failed as "does not answer" between the deadline and the slack.
fn assert_gave_up<T: std::fmt::Debug>(what: &str, started: Instant, result: Result<T, AgentClientError>) {
    let elapsed = started.elapsed();
    let err = result.expect_err(what);
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{what}: {err}");
    assert!(matches!(err, AgentClientError::Unreachable { .. }), "{what}: {err}");
    assert!(elapsed >= DEADLINE - Duration::from_millis(50), "{what} gave up before the deadline: {elapsed:?}");
    assert!(elapsed < DEADLINE + SLACK, "{what} took {elapsed:?}, the deadline is {DEADLINE:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_accepts_and_never_answers_fails_calls_and_the_stream_open_in_time() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    // Accepts every connection and keeps it open, silent (not even a TLS hello).
    let silent = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let dirs = tempfile::tempdir().expect("tempdir");
    let engine = pki(dirs.path());
    let client = AgentClient::with_limits("127.0.0.1", port, &engine, short_limits()).expect("client");

    let started = Instant::now();
    assert_gave_up("a call", started, client.capabilities().await);
    let started = Instant::now();
    assert_gave_up("the event stream's open", started, client.events(0, None).await.map(drop));
    silent.abort();
}

/// A real agent transport over a test router, enrolled by `engine`.
struct Misbehaving {
    port: u16,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    _state: tempfile::TempDir,
}

impl Drop for Misbehaving {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

async fn misbehaving_agent(engine: &EnginePki, routes: Router) -> Misbehaving {
    let state = tempfile::tempdir().expect("state dir");
    let identity = Arc::new(
        AgentIdentity::load_or_init(state.path(), HostId::new_random(), Some(SECRET.to_owned())).expect("identity"),
    );
    let router = routes.merge(tls::enrollment_router(identity.clone(), "misbehaving".to_owned()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(tls::serve(listener, identity, router, async move {
        let _ = stopped.await;
    }));
    host_enroll("127.0.0.1", port, SECRET, engine).await.expect("the real client enrolls the test agent");
    Misbehaving { port, stop: Some(stop), _state: state }
}

fn vm_event_line(name: &str, generation: u64) -> String {
    let vm = v1::VmState {
        id: VmId::new_random(),
        name: name.to_owned(),
        state: v1::VmRunState::Running,
        down_reason: None,
        pid: None,
        vnc_port: None,
        generation,
    };
    let envelope = EventEnvelope::Vm { stream_id: "s1".into(), generation, timestamp_ms: 1, vm };
    format!("{}\n", serde_json::to_string(&envelope).expect("json"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_that_hangs_after_the_handshake_answers_too_much_or_splits_characters_is_handled() {
    let dirs = tempfile::tempdir().expect("tempdir");
    let engine = pki(dirs.path());
    let name = "vm-é€😀";
    let line = vm_event_line(name, 1);
    let cut = line.find('€').expect("€") + 1; // inside the three bytes of '€'
    let (first, second) = (line.as_bytes()[..cut].to_vec(), line.as_bytes()[cut..].to_vec());
    let routes = Router::new()
        // Completes TLS and reads the request, then never answers.
        .route(paths::CAPABILITIES, get(std::future::pending::<String>))
        // A reply one byte over the default bound (16 MiB), with no length announced.
        .route(
            paths::VMS,
            get(|| async {
                let chunk = vec![b' '; 1024 * 1024];
                let chunks = (0..=16).map(move |i| {
                    Ok::<_, std::convert::Infallible>(if i < 16 { chunk.clone() } else { b"x".to_vec() })
                });
                axum::body::Body::from_stream(futures::stream::iter(chunks))
            }),
        )
        .route(
            paths::STATS_HOST,
            get(|| async { axum::body::Body::from(vec![b' '; ClientLimits::default().max_reply_bytes + 1]) }),
        )
        // One event line, sent in two pieces cut inside a multi-byte character, then silence.
        .route(
            paths::EVENTS,
            get(move || {
                let pieces = [first.clone(), second.clone()].map(Ok::<_, std::convert::Infallible>);
                async move {
                    let body = futures::stream::iter(pieces).chain(futures::stream::pending());
                    axum::body::Body::from_stream(body)
                }
            }),
        );
    let agent = misbehaving_agent(&engine, routes).await;

    let hurried = AgentClient::with_limits("127.0.0.1", agent.port, &engine, short_limits()).expect("client");
    let started = Instant::now();
    assert_gave_up("a call the agent never answers", started, hurried.capabilities().await);

    let client = AgentClient::new("127.0.0.1", agent.port, &engine).expect("client with the default limits");
    for (route, result) in
        [("GET /v1/vms", client.vm_list().await.map(drop)), ("GET /v1/stats/host", client.host_stats().await.map(drop))]
    {
        let err = result.expect_err("an oversized reply is an error");
        assert!(matches!(err, AgentClientError::Protocol { .. }), "{err}");
        let text = err.to_string();
        assert!(text.contains(route) && text.contains("larger than 16777216 bytes"), "{text}");
    }

    let mut events = Box::pin(client.events(0, None).await.expect("the stream opens"));
    let first = tokio::time::timeout(Duration::from_secs(10), events.next()).await.expect("an event in time");
    match first.expect("stream open").expect("the split line decodes") {
        EventEnvelope::Vm { vm, generation, .. } => assert_eq!((vm.name.as_str(), generation), (name, 1)),
        other => panic!("expected a VM event, got {other:?}"),
    }
}
