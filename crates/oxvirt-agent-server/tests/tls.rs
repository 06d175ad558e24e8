//! The agent's HTTPS transport and enrollment, end to end: real sockets on 127.0.0.1, real TLS
//! (reqwest with rustls as the engine's stand-in), real files in a temporary state dir.
//!
//! The engine side (a CA that signs the agent's CSR and issues the engine's client
//! certificate) is a small rcgen CA written here; the engine gets its own later.

use axum::middleware::from_fn;
use axum::routing::get;
use axum::{Json, Router};
use oxvirt_agent_api::v1;
use oxvirt_agent_server::tls::{self, AgentIdentity, ENROLLMENT_PATH, Peer};
use oxvirt_types::{ErrorKind, HostId};
use rcgen::{
    BasicConstraints, CertificateParams, CertificateSigningRequestParams, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use reqwest::StatusCode;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::sync::Arc;

const CAPABILITIES: &str = "/v1/capabilities";

/// The engine's certificate authority, as far as these tests need one.
struct TestCa {
    issuer: Issuer<'static, KeyPair>,
    pem: String,
}

impl TestCa {
    fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().expect("CA key");
        let pem = params.self_signed(&key).expect("CA certificate").pem();
        Self { issuer: Issuer::new(params, key), pem }
    }

    /// What the engine does with the agent's CSR: a server certificate for its names.
    fn sign_csr(&self, csr_pem: &str) -> String {
        let mut csr = CertificateSigningRequestParams::from_pem(csr_pem).expect("the agent's CSR parses");
        csr.params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        csr.params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        csr.signed_by(&self.issuer).expect("sign the CSR").pem()
    }

    /// The engine's client certificate and key, as a reqwest identity.
    fn client_identity(&self) -> reqwest::Identity {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("client params");
        params.distinguished_name.push(DnType::CommonName, "oxvirt engine");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        let key = KeyPair::generate().expect("client key");
        let cert = params.signed_by(&key, &self.issuer).expect("client certificate");
        reqwest::Identity::from_pem(format!("{}{}", cert.pem(), key.serialize_pem()).as_bytes())
            .expect("client identity")
    }

    fn certificate(&self) -> reqwest::Certificate {
        reqwest::Certificate::from_pem(self.pem.as_bytes()).expect("CA certificate for reqwest")
    }
}

/// An agent serving a test router over `tls::serve`; stopped when dropped.
struct RunningAgent {
    base: String,
    identity: Arc<AgentIdentity>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl RunningAgent {
    async fn start(identity: AgentIdentity) -> Self {
        let identity = Arc::new(identity);
        let router = Router::new()
            .route(v1::HEALTH_PATH, get(health))
            .route(CAPABILITIES, get(|| async { "capabilities" }))
            .merge(tls::enrollment_router(identity.clone(), "testhost".to_owned()))
            .layer(from_fn(tls::require_engine));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("https://{}", listener.local_addr().expect("local addr"));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(tls::serve(listener, identity.clone(), router, async move {
            let _ = stopped.await;
        }));
        Self { base, identity, stop: Some(stop), task: Some(task) }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("serve task").expect("serve");
        }
    }
}

impl Drop for RunningAgent {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

async fn health() -> Json<v1::Health> {
    Json(v1::Health { status: "ok".to_owned(), version: "test".to_owned(), api_versions: vec!["v1".to_owned()] })
}

/// A client that accepts any server certificate (the bootstrap certificate is self-signed).
fn unverifying_client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().tls_danger_accept_invalid_certs(true).build().expect("client")
}

/// A client trusting only `ca`, optionally with a client certificate.
fn client_trusting(ca: &TestCa, identity: Option<reqwest::Identity>) -> reqwest::Client {
    let mut builder = reqwest::Client::builder().no_proxy().tls_certs_only([ca.certificate()]);
    if let Some(identity) = identity {
        builder = builder.identity(identity);
    }
    builder.build().expect("client")
}

fn secret_of(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("enrollment-secret")).expect("secret file").trim().to_owned()
}

fn mode_of(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).permissions().mode() & 0o777
}

async fn api_error(response: reqwest::Response) -> v1::ApiError {
    response.json::<v1::ApiError>().await.expect("an ApiError body")
}

/// Enrolls the agent over HTTPS the way the engine will; returns the engine's CA.
async fn enroll(agent: &RunningAgent, secret: &str) -> TestCa {
    let client = unverifying_client();
    let challenge: v1::EnrollmentChallenge = client
        .post(agent.url(ENROLLMENT_PATH))
        .json(&v1::EnrollmentRequest { secret: secret.to_owned(), names: vec!["127.0.0.1".to_owned()] })
        .send()
        .await
        .expect("POST enrollment")
        .error_for_status()
        .expect("POST enrollment succeeds")
        .json()
        .await
        .expect("challenge");
    assert_eq!(challenge.host_id, agent.identity.host_id());
    assert_eq!(challenge.hostname, "testhost");
    let ca = TestCa::new("engine CA");
    let completion = v1::EnrollmentCompletion {
        secret: secret.to_owned(),
        certificate_pem: ca.sign_csr(&challenge.csr_pem),
        ca_pem: ca.pem.clone(),
    };
    let enrolled: v1::Enrolled = client
        .put(agent.url(ENROLLMENT_PATH))
        .json(&completion)
        .send()
        .await
        .expect("PUT enrollment")
        .error_for_status()
        .expect("PUT enrollment succeeds")
        .json()
        .await
        .expect("enrolled");
    assert_eq!(enrolled.host_id, agent.identity.host_id());
    assert!(agent.identity.is_enrolled());
    ca
}

#[tokio::test]
async fn before_enrollment_only_health_answers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let identity = AgentIdentity::load_or_init(dir.path(), HostId::new_random(), None).expect("identity");
    assert!(!identity.is_enrolled());
    let secret_path = identity.enrollment_secret_path().expect("a generated secret has a path");
    assert_eq!(secret_path, dir.path().join("enrollment-secret"));
    assert!(secret_of(dir.path()).len() >= 24, "the generated secret is long enough");
    assert_eq!(mode_of(&secret_path), 0o600);
    assert_eq!(mode_of(&dir.path().join("bootstrap.key")), 0o600);
    let agent = RunningAgent::start(identity).await;

    // Plain HTTP is not served, and the failed handshake does not stop the server.
    let plain = reqwest::Client::builder().no_proxy().build().expect("client");
    let http_url = agent.url(v1::HEALTH_PATH).replacen("https://", "http://", 1);
    let plain_reply = plain.get(http_url).send().await;
    assert!(plain_reply.is_err() || plain_reply.is_ok_and(|r| !r.status().is_success()), "plain HTTP must not work");

    let client = unverifying_client();
    let health: v1::Health = client
        .get(agent.url(v1::HEALTH_PATH))
        .send()
        .await
        .expect("health over HTTPS")
        .error_for_status()
        .expect("health is 200")
        .json()
        .await
        .expect("health body");
    assert_eq!(health.status, "ok");

    let refused = client.get(agent.url(CAPABILITIES)).send().await.expect("capabilities");
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let error = api_error(refused).await;
    assert_eq!(error.kind, ErrorKind::Unauthenticated);
    assert!(error.message.contains("not enrolled"), "{}", error.message);
    assert!(error.message.contains("enrollment secret"), "{}", error.message);

    agent.stop().await;
}

#[tokio::test]
async fn enrollment_with_a_wrong_secret_is_refused_and_changes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let identity = AgentIdentity::load_or_init(dir.path(), HostId::new_random(), None).expect("identity");
    let agent = RunningAgent::start(identity).await;
    let client = unverifying_client();
    let files_before = list_dir(dir.path());

    let wrong = client
        .post(agent.url(ENROLLMENT_PATH))
        .json(&v1::EnrollmentRequest { secret: "not-the-secret".to_owned(), names: vec!["127.0.0.1".to_owned()] })
        .send()
        .await
        .expect("POST enrollment");
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let error = api_error(wrong).await;
    assert_eq!(error.kind, ErrorKind::Unauthenticated);
    assert!(!error.message.contains(&secret_of(dir.path())), "the secret must never be echoed");
    assert_eq!(list_dir(dir.path()), files_before, "a refused enrollment stores nothing");

    let wrong_put = client
        .put(agent.url(ENROLLMENT_PATH))
        .json(&v1::EnrollmentCompletion {
            secret: String::new(),
            certificate_pem: String::new(),
            ca_pem: String::new(),
        })
        .send()
        .await
        .expect("PUT enrollment");
    assert_eq!(wrong_put.status(), StatusCode::UNAUTHORIZED);
    assert!(!agent.identity.is_enrolled());

    let garbage = client
        .post(agent.url(ENROLLMENT_PATH))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("POST garbage");
    assert_eq!(garbage.status(), StatusCode::BAD_REQUEST);
    assert_eq!(api_error(garbage).await.kind, ErrorKind::InvalidInput);
    assert_eq!(list_dir(dir.path()), files_before);

    let secret = secret_of(dir.path());
    enroll(&agent, &secret).await;
    for (file, mode) in [("agent.key", 0o600), ("agent.pem", 0o644), ("engine-ca.pem", 0o644)] {
        assert_eq!(mode_of(&dir.path().join(file)), mode, "{file}");
    }
    assert!(!dir.path().join("agent.key.pending").exists(), "the pending key became agent.key");
    agent.stop().await;
}

#[tokio::test]
async fn after_enrollment_only_the_engines_client_certificate_is_let_in() {
    let dir = tempfile::tempdir().expect("tempdir");
    let identity = AgentIdentity::load_or_init(dir.path(), HostId::new_random(), None).expect("identity");
    let agent = RunningAgent::start(identity).await;
    let secret = secret_of(dir.path());
    let ca = enroll(&agent, &secret).await;

    // No client certificate, but the agent's new certificate verifies against the engine CA
    // for 127.0.0.1: health answers, the rest does not.
    let anonymous = client_trusting(&ca, None);
    let health = anonymous.get(agent.url(v1::HEALTH_PATH)).send().await.expect("health with the engine CA");
    assert_eq!(health.status(), StatusCode::OK);
    let refused = anonymous.get(agent.url(CAPABILITIES)).send().await.expect("capabilities");
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let error = api_error(refused).await;
    assert_eq!(error.kind, ErrorKind::Unauthenticated);
    assert!(error.message.contains("client certificate"), "{}", error.message);

    // Enrollment is closed to anonymous clients now, even with the right secret.
    let again = anonymous
        .post(agent.url(ENROLLMENT_PATH))
        .json(&v1::EnrollmentRequest { secret: secret.clone(), names: vec!["127.0.0.1".to_owned()] })
        .send()
        .await
        .expect("POST enrollment again");
    assert_eq!(again.status(), StatusCode::CONFLICT);
    let error = api_error(again).await;
    assert_eq!(error.kind, ErrorKind::Conflict);
    assert!(error.message.contains("already enrolled"), "{}", error.message);

    // A client certificate of another CA: the handshake fails, or at least the call does.
    let stranger_ca = TestCa::new("someone else's CA");
    let stranger = client_trusting(&ca, Some(stranger_ca.client_identity()));
    match stranger.get(agent.url(CAPABILITIES)).send().await {
        Err(_) => {} // rustls: "received fatal alert: UnknownCA"
        Ok(reply) => assert_eq!(reply.status(), StatusCode::UNAUTHORIZED, "another CA's certificate must not pass"),
    }

    // The old bootstrap certificate is gone: a client trusting only the engine CA verified the
    // agent above. The engine itself gets in.
    let engine = client_trusting(&ca, Some(ca.client_identity()));
    let reply = engine.get(agent.url(CAPABILITIES)).send().await.expect("capabilities as the engine");
    assert_eq!(reply.status(), StatusCode::OK);
    assert_eq!(reply.text().await.expect("body"), "capabilities");
    let health = engine.get(agent.url(v1::HEALTH_PATH)).send().await.expect("health as the engine");
    assert_eq!(health.status(), StatusCode::OK);

    // The engine may re-issue the agent's certificate (same CA), over mTLS.
    let challenge: v1::EnrollmentChallenge = engine
        .post(agent.url(ENROLLMENT_PATH))
        .json(&v1::EnrollmentRequest { secret: secret.clone(), names: vec!["127.0.0.1".to_owned()] })
        .send()
        .await
        .expect("re-issue: POST")
        .error_for_status()
        .expect("re-issue: POST succeeds")
        .json()
        .await
        .expect("challenge");
    let old_cert = std::fs::read_to_string(dir.path().join("agent.pem")).expect("agent.pem");
    engine
        .put(agent.url(ENROLLMENT_PATH))
        .json(&v1::EnrollmentCompletion {
            secret,
            certificate_pem: ca.sign_csr(&challenge.csr_pem),
            ca_pem: ca.pem.clone(),
        })
        .send()
        .await
        .expect("re-issue: PUT")
        .error_for_status()
        .expect("re-issue: PUT succeeds");
    assert_ne!(std::fs::read_to_string(dir.path().join("agent.pem")).expect("agent.pem"), old_cert);
    let fresh_engine = client_trusting(&ca, Some(ca.client_identity()));
    let reply = fresh_engine.get(agent.url(CAPABILITIES)).send().await.expect("after re-issue");
    assert_eq!(reply.status(), StatusCode::OK);
    agent.stop().await;
}

#[tokio::test]
async fn enrollment_survives_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let host_id = HostId::new_random();
    let identity = AgentIdentity::load_or_init(dir.path(), host_id, None).expect("identity");
    let agent = RunningAgent::start(identity).await;
    let secret_file = std::fs::read(dir.path().join("enrollment-secret")).expect("secret file");
    let ca = enroll(&agent, &secret_of(dir.path())).await;
    let old_url = agent.url(v1::HEALTH_PATH);
    agent.stop().await;
    let after_stop = client_trusting(&ca, None).get(old_url).send().await;
    assert!(after_stop.is_err(), "a stopped agent no longer listens");

    let identity = AgentIdentity::load_or_init(dir.path(), host_id, None).expect("identity again");
    assert!(identity.is_enrolled(), "enrollment is kept across restarts");
    let agent = RunningAgent::start(identity).await;
    let engine = client_trusting(&ca, Some(ca.client_identity()));
    let reply = engine.get(agent.url(CAPABILITIES)).send().await.expect("capabilities after restart");
    assert_eq!(reply.status(), StatusCode::OK);
    let anonymous = client_trusting(&ca, None);
    let refused = anonymous.get(agent.url(CAPABILITIES)).send().await.expect("anonymous after restart");
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        std::fs::read(dir.path().join("enrollment-secret")).expect("secret file"),
        secret_file,
        "the secret file is unchanged"
    );
    agent.stop().await;
}

#[test]
fn a_certificate_for_another_key_or_from_another_ca_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let host_id = HostId::new_random();
    let secret = "configured-secret-for-this-test".to_owned();
    let identity = AgentIdentity::load_or_init(dir.path(), host_id, Some(secret.clone())).expect("identity");
    assert_eq!(identity.enrollment_secret_path(), None, "a configured secret has no file");
    assert!(!dir.path().join("enrollment-secret").exists(), "a configured secret is not written");
    let ca = TestCa::new("engine CA");

    // Completing before beginning.
    let early = identity
        .enrollment_complete(
            &v1::EnrollmentCompletion {
                secret: secret.clone(),
                certificate_pem: ca.pem.clone(),
                ca_pem: ca.pem.clone(),
            },
            Peer::Anonymous,
        )
        .expect_err("nothing to complete");
    assert_eq!(early.kind(), ErrorKind::Conflict, "{early}");

    let request = v1::EnrollmentRequest { secret: secret.clone(), names: vec!["127.0.0.1".to_owned()] };
    identity.enrollment_begin(&request, "testhost", Peer::Anonymous).expect("begin");

    // A CSR of some other key, signed by the right CA.
    let other_key = KeyPair::generate().expect("other key");
    let other_csr = CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .expect("params")
        .serialize_request(&other_key)
        .expect("CSR")
        .pem()
        .expect("CSR PEM");
    let error = identity
        .enrollment_complete(
            &v1::EnrollmentCompletion {
                secret: secret.clone(),
                certificate_pem: ca.sign_csr(&other_csr),
                ca_pem: ca.pem.clone(),
            },
            Peer::Anonymous,
        )
        .expect_err("a certificate for another key");
    assert_eq!(error.kind(), ErrorKind::InvalidInput, "{error}");
    assert!(error.to_string().contains("not for the key"), "{error}");
    assert!(!identity.is_enrolled());
    assert!(!dir.path().join("agent.pem").exists(), "nothing stored");

    // The agent restarts between begin and complete: the pending key is kept.
    drop(identity);
    let identity = AgentIdentity::load_or_init(dir.path(), host_id, Some(secret.clone())).expect("identity again");
    let challenge = identity.enrollment_begin(&request, "testhost", Peer::Anonymous).expect("begin again");
    drop(identity);
    let identity = AgentIdentity::load_or_init(dir.path(), host_id, Some(secret.clone())).expect("identity again");

    // The right key, but the certificate is from a CA other than the one given.
    let other_ca = TestCa::new("another CA");
    let error = identity
        .enrollment_complete(
            &v1::EnrollmentCompletion {
                secret: secret.clone(),
                certificate_pem: other_ca.sign_csr(&challenge.csr_pem),
                ca_pem: ca.pem.clone(),
            },
            Peer::Anonymous,
        )
        .expect_err("a certificate of another CA");
    assert_eq!(error.kind(), ErrorKind::InvalidInput, "{error}");
    assert!(error.to_string().contains("not issued by the given CA"), "{error}");
    assert!(!identity.is_enrolled());

    // Garbage PEM.
    let error = identity
        .enrollment_complete(
            &v1::EnrollmentCompletion {
                secret: secret.clone(),
                certificate_pem: "not a certificate".to_owned(),
                ca_pem: ca.pem.clone(),
            },
            Peer::Anonymous,
        )
        .expect_err("garbage");
    assert_eq!(error.kind(), ErrorKind::InvalidInput, "{error}");

    // A wrong secret is refused before anything is looked at.
    let error = identity
        .enrollment_complete(
            &v1::EnrollmentCompletion {
                secret: "wrong".to_owned(),
                certificate_pem: ca.sign_csr(&challenge.csr_pem),
                ca_pem: ca.pem.clone(),
            },
            Peer::Anonymous,
        )
        .expect_err("wrong secret");
    assert_eq!(error.kind(), ErrorKind::Unauthenticated, "{error}");
    assert!(!identity.is_enrolled());

    // The pending key made before the restart still completes with its own certificate.
    identity
        .enrollment_complete(
            &v1::EnrollmentCompletion {
                secret: secret.clone(),
                certificate_pem: ca.sign_csr(&challenge.csr_pem),
                ca_pem: ca.pem.clone(),
            },
            Peer::Anonymous,
        )
        .expect("complete with the right certificate");
    assert!(identity.is_enrolled());

    // Once enrolled, enrollment without the engine's certificate is a conflict.
    let error = identity.enrollment_begin(&request, "testhost", Peer::Anonymous).expect_err("already enrolled");
    assert_eq!(error.kind(), ErrorKind::Conflict, "{error}");
}

#[test]
fn bad_names_and_empty_secrets_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let error = AgentIdentity::load_or_init(dir.path(), HostId::new_random(), Some(String::new()))
        .expect_err("an empty configured secret");
    assert_eq!(error.kind(), ErrorKind::InvalidInput, "{error}");

    let identity = AgentIdentity::load_or_init(dir.path(), HostId::new_random(), None).expect("identity");
    let secret = secret_of(dir.path());
    for names in [vec![], vec!["not a name!".to_owned()]] {
        let error = identity
            .enrollment_begin(&v1::EnrollmentRequest { secret: secret.clone(), names }, "testhost", Peer::Anonymous)
            .expect_err("bad names");
        assert_eq!(error.kind(), ErrorKind::InvalidInput, "{error}");
    }
    assert!(!dir.path().join("agent.key.pending").exists(), "a refused request stores nothing");
}

fn list_dir(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|entry| {
            let entry = entry.expect("dir entry");
            let contents = std::fs::read(entry.path()).expect("read file");
            (entry.file_name().to_string_lossy().into_owned(), contents)
        })
        .collect();
    entries.sort();
    entries
}

#[test]
fn an_enrollment_interrupted_before_the_key_was_renamed_is_finished_at_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let host_id = HostId::new_random();
    let secret = "configured-secret-for-this-test".to_owned();
    let identity = AgentIdentity::load_or_init(dir.path(), host_id, Some(secret.clone())).expect("identity");
    let request = v1::EnrollmentRequest { secret: secret.clone(), names: vec!["127.0.0.1".to_owned()] };
    let challenge = identity.enrollment_begin(&request, "testhost", Peer::Anonymous).expect("begin");
    let ca = TestCa::new("engine CA");
    identity
        .enrollment_complete(
            &v1::EnrollmentCompletion {
                secret,
                certificate_pem: ca.sign_csr(&challenge.csr_pem),
                ca_pem: ca.pem.clone(),
            },
            Peer::Anonymous,
        )
        .expect("complete");
    drop(identity);

    // Injected fault: the state a crash leaves between writing agent.pem and renaming the key.
    std::fs::rename(dir.path().join("agent.key"), dir.path().join("agent.key.pending")).expect("un-rename");

    let identity = AgentIdentity::load_or_init(dir.path(), host_id, None).expect("identity again");
    assert!(identity.is_enrolled());
    assert!(dir.path().join("agent.key").exists() && !dir.path().join("agent.key.pending").exists());
    assert_eq!(mode_of(&dir.path().join("agent.key")), 0o600);

    // Injected fault: agent.key lost. The agent refuses to start and says what to do.
    std::fs::remove_file(dir.path().join("agent.key")).expect("remove agent.key");
    let error = AgentIdentity::load_or_init(dir.path(), host_id, None).expect_err("agent.key missing");
    assert!(error.to_string().contains("remove agent.pem"), "{error}");
}
