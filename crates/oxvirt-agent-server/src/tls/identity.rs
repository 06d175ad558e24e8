//! [`AgentIdentity`]: the agent's keys and certificates, the enrollment secret, and the live
//! server configuration that enrollment swaps.

use super::files::{self, PRIVATE, PUBLIC};
use super::{Peer, TlsError, secrets_equal};
use oxvirt_agent_api::v1::{Enrolled, EnrollmentChallenge, EnrollmentCompletion, EnrollmentRequest};
use oxvirt_types::HostId;
use rcgen::{CertificateParams, DnType, KeyPair};
use rustls::crypto::CryptoProvider;
use rustls::server::{ParsedCertificate, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

const SECRET_FILE: &str = "enrollment-secret";
const BOOTSTRAP_KEY: &str = "bootstrap.key";
const BOOTSTRAP_CERT: &str = "bootstrap.pem";
/// The key made at `POST /v1/enrollment`, until `PUT /v1/enrollment` brings its certificate.
/// Kept apart from `agent.key` so that re-issuing never breaks the pair in use.
const PENDING_KEY: &str = "agent.key.pending";
const AGENT_KEY: &str = "agent.key";
/// Its presence means "enrolled".
const AGENT_CERT: &str = "agent.pem";
const ENGINE_CA: &str = "engine-ca.pem";

/// Characters of a generated enrollment secret: lower-case letters and digits without the
/// look-alikes `l`, `o`, `0`, `1`, so an administrator can read it aloud. 32 of them, so each
/// random byte maps to one without bias.
const SECRET_ALPHABET: &[u8; 32] = b"abcdefghijkmnpqrstuvwxyz23456789";
/// 32 characters of 5 bits: 160 random bits.
const SECRET_LEN: usize = 32;

/// The agent's identity: its host id, enrollment secret, keys and certificates, and the TLS
/// server configuration currently in force (bootstrap before enrollment, mTLS after).
pub struct AgentIdentity {
    state_dir: PathBuf,
    host_id: HostId,
    secret: Secret,
    secret_path: Option<PathBuf>,
    provider: Arc<CryptoProvider>,
    live: RwLock<Live>,
    /// Serialises enrollment calls: each reads and writes several files.
    enrollment: Mutex<()>,
    /// SHA-256 fingerprint of the bootstrap certificate (`AB:CD:…`), logged at start.
    bootstrap_fingerprint: String,
    /// FAULT INJECTION (the simulator's rogue-CSR mode; empty on a real agent): names the next
    /// CSRs ask for besides the engine's, as a compromised agent would.
    rogue_csr_names: Mutex<Vec<String>>,
}

impl std::fmt::Debug for AgentIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentIdentity")
            .field("state_dir", &self.state_dir)
            .field("host_id", &self.host_id)
            .field("enrolled", &self.is_enrolled())
            .finish_non_exhaustive()
    }
}

/// The enrollment secret; never printed.
struct Secret(String);

#[derive(Clone)]
struct Live {
    enrolled: bool,
    server_config: Arc<ServerConfig>,
}

impl AgentIdentity {
    /// Loads the identity from `state_dir`, creating what is missing: the enrollment secret
    /// (random, written 0600 to `enrollment-secret`, unless `configured_secret` is given, which
    /// is then used and not written) and the self-signed bootstrap key and certificate. When
    /// the host was enrolled (`agent.pem` exists), the engine-issued certificate is served and
    /// client certificates of the engine's CA are required.
    pub fn load_or_init(
        state_dir: &Path,
        host_id: HostId,
        configured_secret: Option<String>,
    ) -> Result<Self, TlsError> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        files::ensure_dir(state_dir)?;
        let (secret, secret_path) = load_or_init_secret(state_dir, configured_secret, &provider)?;
        let (bootstrap, bootstrap_fingerprint) = load_or_init_bootstrap(state_dir, host_id, &provider)?;
        roll_forward_pending_key(state_dir, &provider)?;
        let live = match load_enrolled(state_dir, &provider)? {
            Some(server_config) => Live { enrolled: true, server_config },
            None => Live { enrolled: false, server_config: bootstrap },
        };
        tracing::info!(
            host_id = %host_id,
            enrolled = live.enrolled,
            state_dir = %state_dir.display(),
            bootstrap_sha256 = %bootstrap_fingerprint,
            "agent identity loaded (the engine records the bootstrap certificate's fingerprint when it enrolls this host)"
        );
        Ok(Self {
            state_dir: state_dir.to_owned(),
            host_id,
            secret,
            secret_path,
            provider,
            live: RwLock::new(live),
            enrollment: Mutex::new(()),
            bootstrap_fingerprint,
            rogue_csr_names: Mutex::new(Vec::new()),
        })
    }

    /// SHA-256 fingerprint of the bootstrap certificate, as the engine records it.
    pub fn bootstrap_fingerprint(&self) -> &str {
        &self.bootstrap_fingerprint
    }

    /// FAULT INJECTION, for the simulator's rogue-CSR mode: the next CSRs also ask for `names`
    /// (the engine's name, a wildcard…), so tests can check that the engine signs only the
    /// host's address.
    pub fn fault_rogue_csr_names(&self, names: Vec<String>) {
        *self.rogue_csr_names.lock().unwrap_or_else(PoisonError::into_inner) = names;
    }

    /// The certificate the engine issued to this host (PEM), once enrolled.
    pub fn enrolled_certificate_pem(&self) -> Result<Option<String>, TlsError> {
        files::read(&self.state_dir.join(AGENT_CERT))
    }

    pub fn host_id(&self) -> HostId {
        self.host_id
    }

    /// Whether an engine enrolled this host (it then serves the engine-issued certificate).
    pub fn is_enrolled(&self) -> bool {
        self.live().enrolled
    }

    /// Where the generated enrollment secret is, to tell the administrator; `None` when the
    /// secret was configured.
    pub fn enrollment_secret_path(&self) -> Option<PathBuf> {
        self.secret_path.clone()
    }

    /// The server configuration for the next TLS handshake.
    pub fn server_config(&self) -> Arc<ServerConfig> {
        self.live().server_config
    }

    /// The server configuration for the next handshake and whether it is the enrolled one,
    /// read together so they agree.
    pub(super) fn handshake_config(&self) -> (Arc<ServerConfig>, bool) {
        let live = self.live();
        (live.server_config, live.enrolled)
    }

    /// `POST /v1/enrollment`: checks the secret, makes a new key pair (kept in the state dir
    /// until the certificate comes) and answers with a CSR whose subject alternative names
    /// are `req.names`. Once enrolled, only the engine (`peer`) may call it (re-issuing).
    pub fn enrollment_begin(
        &self,
        req: &EnrollmentRequest,
        hostname: &str,
        peer: Peer,
    ) -> Result<EnrollmentChallenge, TlsError> {
        let _serialised = self.enrollment.lock().unwrap_or_else(PoisonError::into_inner);
        self.check_enrollment_allowed(peer, &req.secret)?;
        if req.names.is_empty() {
            return Err(TlsError::NoNames);
        }
        for name in &req.names {
            if ServerName::try_from(name.as_str()).is_err() {
                return Err(TlsError::BadName { name: name.clone() });
            }
        }
        let mut names = req.names.clone();
        names.extend(self.rogue_csr_names.lock().unwrap_or_else(PoisonError::into_inner).iter().cloned());
        let mut params =
            CertificateParams::new(names.clone()).map_err(|_| TlsError::BadName { name: names.join(", ") })?;
        params.distinguished_name.push(DnType::OrganizationName, "oxvirt");
        let common_name = if hostname.is_empty() { self.host_id.to_string() } else { hostname.to_owned() };
        params.distinguished_name.push(DnType::CommonName, common_name);
        let key = KeyPair::generate()?;
        let csr_pem = params.serialize_request(&key)?.pem()?;
        files::write_atomic(&self.state_dir.join(PENDING_KEY), &key.serialize_pem(), PRIVATE)?;
        tracing::info!(host_id = %self.host_id, names = ?names, "enrollment begun: made a key pair and its CSR");
        Ok(EnrollmentChallenge { host_id: self.host_id, hostname: hostname.to_owned(), csr_pem })
    }

    /// `PUT /v1/enrollment`: checks the secret, that the certificate is for the key made at
    /// [`Self::enrollment_begin`] and that the given CA issued it; stores key, certificate and
    /// CA; from the next connection on, serves that certificate and verifies client
    /// certificates against that CA. Changes nothing when a check fails.
    pub fn enrollment_complete(&self, req: &EnrollmentCompletion, peer: Peer) -> Result<Enrolled, TlsError> {
        let _serialised = self.enrollment.lock().unwrap_or_else(PoisonError::into_inner);
        self.check_enrollment_allowed(peer, &req.secret)?;
        let pending_path = self.state_dir.join(PENDING_KEY);
        let pending_pem = files::read(&pending_path)?.ok_or(TlsError::NoPendingEnrollment { host_id: self.host_id })?;
        let key = PrivateKeyDer::from_pem_slice(pending_pem.as_bytes())
            .map_err(|e| TlsError::StateCorrupt { path: pending_path.clone(), reason: e.to_string() })?;
        let chain = parse_certs(&req.certificate_pem, "certificate_pem")?;
        let ca = parse_certs(&req.ca_pem, "ca_pem")?;

        let (end_entity, intermediates) = chain
            .split_first()
            .ok_or(TlsError::BadPem { field: "certificate_pem", reason: "no certificate in it".to_owned() })?;
        let parsed = ParsedCertificate::try_from(end_entity)
            .map_err(|e| TlsError::BadPem { field: "certificate_pem", reason: e.to_string() })?;
        if !key_matches(end_entity, key.clone_key(), &self.provider)? {
            return Err(TlsError::CertificateNotForPendingKey { host_id: self.host_id });
        }
        rustls::client::verify_server_cert_signed_by_trust_anchor(
            &parsed,
            &root_store(&ca)?,
            intermediates,
            UnixTime::now(),
            self.provider.signature_verification_algorithms.all,
        )
        .map_err(|e| TlsError::CertificateNotIssuedByCa { reason: e.to_string() })?;
        let server_config = enrolled_config(&self.provider, chain, key, &ca)?;

        // The order makes a crash harmless: `agent.pem` marks "enrolled", and a pending key
        // matching it is renamed to `agent.key` at the next start (`roll_forward_pending_key`).
        files::write_atomic(&self.state_dir.join(ENGINE_CA), &req.ca_pem, PUBLIC)?;
        files::write_atomic(&self.state_dir.join(AGENT_CERT), &req.certificate_pem, PUBLIC)?;
        files::rename_durable(&pending_path, &self.state_dir.join(AGENT_KEY))?;
        *self.live.write().unwrap_or_else(PoisonError::into_inner) = Live { enrolled: true, server_config };
        tracing::info!(
            host_id = %self.host_id,
            "enrolled: serving the engine-issued certificate, requiring client certificates of the engine's CA"
        );
        Ok(Enrolled { host_id: self.host_id })
    }

    fn live(&self) -> Live {
        // A panic while holding the lock cannot leave `Live` half-written (it is replaced whole).
        self.live.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    fn check_enrollment_allowed(&self, peer: Peer, secret: &str) -> Result<(), TlsError> {
        if self.is_enrolled() && peer != Peer::Engine {
            return Err(TlsError::AlreadyEnrolled { host_id: self.host_id });
        }
        if !secrets_equal(secret.as_bytes(), self.secret.0.as_bytes()) {
            tracing::warn!(host_id = %self.host_id, "enrollment refused: wrong enrollment secret");
            let hint = match &self.secret_path {
                Some(path) => path.display().to_string(),
                None => "the agent's configuration".to_owned(),
            };
            return Err(TlsError::WrongSecret { hint });
        }
        Ok(())
    }
}

fn load_or_init_secret(
    dir: &Path,
    configured: Option<String>,
    provider: &CryptoProvider,
) -> Result<(Secret, Option<PathBuf>), TlsError> {
    if let Some(secret) = configured {
        if secret.is_empty() {
            return Err(TlsError::EmptySecret { origin: "given in the agent's configuration".to_owned() });
        }
        return Ok((Secret(secret), None));
    }
    let path = dir.join(SECRET_FILE);
    match files::read(&path)? {
        Some(text) => {
            // Tolerate the newline an editor adds.
            let secret = text.trim();
            if secret.is_empty() {
                return Err(TlsError::EmptySecret { origin: format!("in {}", path.display()) });
            }
            Ok((Secret(secret.to_owned()), Some(path)))
        }
        None => {
            let secret = generate_secret(provider)?;
            files::write_atomic(&path, &format!("{secret}\n"), PRIVATE)?;
            tracing::info!(path = %path.display(), "generated the enrollment secret; give it to the engine to add this host");
            Ok((Secret(secret), Some(path)))
        }
    }
}

fn generate_secret(provider: &CryptoProvider) -> Result<String, TlsError> {
    let mut random = [0u8; SECRET_LEN];
    provider.secure_random.fill(&mut random).map_err(|_| TlsError::Random)?;
    Ok(random.iter().map(|b| char::from(SECRET_ALPHABET[usize::from(b & 31)])).collect())
}

/// The self-signed certificate served before enrollment; clients cannot verify it (they
/// trust it for the enrollment calls only, whose secret proves the engine to the agent).
fn load_or_init_bootstrap(
    dir: &Path,
    host_id: HostId,
    provider: &Arc<CryptoProvider>,
) -> Result<(Arc<ServerConfig>, String), TlsError> {
    let (key_path, cert_path) = (dir.join(BOOTSTRAP_KEY), dir.join(BOOTSTRAP_CERT));
    let (cert_pem, key_pem) = match (files::read(&cert_path)?, files::read(&key_path)?) {
        (Some(cert), Some(key)) => (cert, key),
        _ => {
            let mut params = CertificateParams::new(vec!["localhost".to_owned()])?;
            params.distinguished_name.push(DnType::OrganizationName, "oxvirt");
            params.distinguished_name.push(DnType::CommonName, format!("oxvirt agent {host_id} (not enrolled)"));
            let key = KeyPair::generate()?;
            let cert = params.self_signed(&key)?;
            files::write_atomic(&key_path, &key.serialize_pem(), PRIVATE)?;
            files::write_atomic(&cert_path, &cert.pem(), PUBLIC)?;
            tracing::info!(path = %cert_path.display(), "made the self-signed bootstrap certificate");
            (cert.pem(), key.serialize_pem())
        }
    };
    let corrupt = |path: &Path, reason: String| TlsError::StateCorrupt { path: path.to_owned(), reason };
    let chain = parse_certs(&cert_pem, "bootstrap.pem").map_err(|e| corrupt(&cert_path, e.to_string()))?;
    let fingerprint = chain.first().map(|c| oxvirt_agent_api::certificate_fingerprint(c)).unwrap_or_default();
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).map_err(|e| corrupt(&key_path, e.to_string()))?;
    let mut config = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| corrupt(&cert_path, format!("bootstrap.pem and bootstrap.key do not go together: {e}")))?;
    config.alpn_protocols = alpn_protocols();
    Ok((Arc::new(config), fingerprint))
}

/// Finishes an enrollment that a crash interrupted between writing `agent.pem` and renaming
/// the pending key: the pending key becomes `agent.key` when `agent.pem` is its certificate.
fn roll_forward_pending_key(dir: &Path, provider: &CryptoProvider) -> Result<(), TlsError> {
    let pending_path = dir.join(PENDING_KEY);
    let (Some(key_pem), Some(cert_pem)) = (files::read(&pending_path)?, files::read(&dir.join(AGENT_CERT))?) else {
        return Ok(());
    };
    let (Ok(key), Ok(chain)) = (PrivateKeyDer::from_pem_slice(key_pem.as_bytes()), parse_certs(&cert_pem, "agent.pem"))
    else {
        return Ok(());
    };
    let Some(end_entity) = chain.first() else { return Ok(()) };
    if key_matches(end_entity, key, provider).unwrap_or(false) {
        files::rename_durable(&pending_path, &dir.join(AGENT_KEY))?;
        tracing::info!(dir = %dir.display(), "finished an interrupted enrollment: the pending key is now agent.key");
    }
    Ok(())
}

/// The mTLS configuration when enrolled; `None` when not.
fn load_enrolled(dir: &Path, provider: &Arc<CryptoProvider>) -> Result<Option<Arc<ServerConfig>>, TlsError> {
    let cert_path = dir.join(AGENT_CERT);
    let Some(cert_pem) = files::read(&cert_path)? else { return Ok(None) };
    let corrupt = |path: &Path, reason: String| TlsError::StateCorrupt { path: path.to_owned(), reason };
    let chain = parse_certs(&cert_pem, "agent.pem").map_err(|e| corrupt(&cert_path, e.to_string()))?;
    let key_path = dir.join(AGENT_KEY);
    let key_pem = files::read(&key_path)?
        .ok_or_else(|| corrupt(&key_path, "agent.pem exists but agent.key is missing".to_owned()))?;
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).map_err(|e| corrupt(&key_path, e.to_string()))?;
    let ca_path = dir.join(ENGINE_CA);
    let ca_pem = files::read(&ca_path)?
        .ok_or_else(|| corrupt(&ca_path, "agent.pem exists but engine-ca.pem is missing".to_owned()))?;
    let ca = parse_certs(&ca_pem, "engine-ca.pem").map_err(|e| corrupt(&ca_path, e.to_string()))?;
    let config = enrolled_config(provider, chain, key, &ca).map_err(|e| corrupt(dir, e.to_string()))?;
    Ok(Some(config))
}

/// Serves `chain` and verifies client certificates against `ca`; clients without a
/// certificate are let through the handshake (health must answer them) and stopped by
/// [`super::require_engine`].
fn enrolled_config(
    provider: &Arc<CryptoProvider>,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    ca: &[CertificateDer<'static>],
) -> Result<Arc<ServerConfig>, TlsError> {
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(root_store(ca)?), provider.clone())
        .allow_unauthenticated()
        .build()
        .map_err(|e| TlsError::BadCa { reason: e.to_string() })?;
    let mut config = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)?;
    config.alpn_protocols = alpn_protocols();
    Ok(Arc::new(config))
}

fn root_store(ca: &[CertificateDer<'static>]) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in ca {
        roots.add(cert.clone()).map_err(|e| TlsError::BadCa { reason: e.to_string() })?;
    }
    Ok(roots)
}

/// Whether `cert` is the certificate of `key` (their public keys are the same).
fn key_matches(
    cert: &CertificateDer<'static>,
    key: PrivateKeyDer<'static>,
    provider: &CryptoProvider,
) -> Result<bool, TlsError> {
    let signing_key = provider.key_provider.load_private_key(key)?;
    match CertifiedKey::new(vec![cert.clone()], signing_key).keys_match() {
        Ok(()) => Ok(true),
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

fn parse_certs(pem: &str, field: &'static str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::BadPem { field, reason: e.to_string() })?;
    if certs.is_empty() {
        return Err(TlsError::BadPem { field, reason: "no CERTIFICATE block in it".to_owned() });
    }
    Ok(certs)
}

fn alpn_protocols() -> Vec<Vec<u8>> {
    vec![b"h2".to_vec(), b"http/1.1".to_vec()]
}
