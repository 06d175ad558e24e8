//! The engine's client for host agents (the `oxvirt-agent-api` v1 contract): enrollment, typed
//! calls over mTLS, and the event stream. Paths come from the contract's route table
//! ([`v1::paths`]), the one spelling the agent and the simulator route too.
//!
//! Why a crate of its own and not in the contract crate: the transport decisions are the engine's — it
//! authenticates with its own client certificate, trusts only its own CA for enrolled hosts,
//! and trusts the agent's self-signed bootstrap certificate exactly once, during enrollment,
//! where the enrollment secret is what authenticates the exchange (like SSH's first
//! connection; oVirt's host deploy trusts the host's SSH key the same way).

use futures::{Stream, StreamExt as _};
use oxvirt_agent_api::v1::{self, ApiError, paths};
use oxvirt_types::{ErrorKind, HostId, StorageDomainId, VmId};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::time::Duration;

/// How long one agent call may take (VM creation includes hooks and QEMU start).
const CALL_TIMEOUT: Duration = Duration::from_secs(120);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum AgentClientError {
    #[error("host {address} does not answer: {detail}")]
    Unreachable { address: String, detail: String },
    #[error("host {address} refused: {message}")]
    Refused { address: String, status: u16, kind: ErrorKind, message: String },
    #[error("host {address} answered something unexpected: {detail}")]
    Protocol { address: String, detail: String },
    #[error("cannot sign the certificate request of host {address}: {detail}")]
    Signing { address: String, detail: String },
}

impl AgentClientError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            AgentClientError::Unreachable { .. } => ErrorKind::Unavailable,
            AgentClientError::Refused { kind, .. } => *kind,
            AgentClientError::Protocol { .. } | AgentClientError::Signing { .. } => ErrorKind::Internal,
        }
    }
}

type Result<T, E = AgentClientError> = std::result::Result<T, E>;

/// What the client needs of the engine's certificate authority: the identity it presents to
/// agents, the CA it trusts them by, and (for enrollment) the signing of an agent's CSR. The
/// engine's `pki::EnginePki` implements it; this crate never sees the CA's key.
pub trait EngineCredentials: Send + Sync {
    /// The engine's client certificate and key, PEM.
    fn client_identity_pem(&self) -> &str;
    /// The engine's CA certificate, PEM: enrolled agents' certificates chain to it.
    fn ca_cert_pem(&self) -> &str;
    /// Signs an agent's certificate signing request; the error says why it was refused.
    fn sign_agent_csr(&self, csr_pem: &str) -> std::result::Result<String, String>;
}

/// What enrollment learned about the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enrollment {
    pub host_id: HostId,
    pub hostname: String,
}

/// Enrolls the agent at `address:port` with `secret`: the agent makes a key and CSR, the
/// engine's CA signs it, the agent switches to mTLS. `address` goes into the certificate.
pub async fn host_enroll(address: &str, port: u16, secret: &str, pki: &impl EngineCredentials) -> Result<Enrollment> {
    let base = base_url(address, port);
    // The agent's bootstrap certificate is self-signed, so it cannot be verified here; the
    // engine's client identity lets an agent this engine enrolled before be enrolled again.
    let identity =
        reqwest::Identity::from_pem(pki.client_identity_pem().as_bytes()).map_err(|e| protocol(address, e))?;
    let bootstrap = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .identity(identity)
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(CALL_TIMEOUT)
        .build()
        .map_err(|e| protocol(address, e))?;
    let challenge: v1::EnrollmentChallenge = call(
        address,
        bootstrap
            .post(format!("{base}{}", paths::ENROLLMENT))
            .json(&v1::EnrollmentRequest { secret: secret.to_owned(), names: vec![address.to_owned()] }),
    )
    .await?;
    let certificate_pem = pki
        .sign_agent_csr(&challenge.csr_pem)
        .map_err(|detail| AgentClientError::Signing { address: address.to_owned(), detail })?;
    let enrolled: v1::Enrolled = call(
        address,
        bootstrap.put(format!("{base}{}", paths::ENROLLMENT)).json(&v1::EnrollmentCompletion {
            secret: secret.to_owned(),
            certificate_pem,
            ca_pem: pki.ca_cert_pem().to_owned(),
        }),
    )
    .await?;
    Ok(Enrollment { host_id: enrolled.host_id, hostname: challenge.hostname })
}

/// An mTLS connection to one enrolled agent.
#[derive(Debug, Clone)]
pub struct AgentClient {
    address: String,
    base: String,
    http: reqwest::Client,
    /// Same, without the overall timeout: for the long-lived event stream.
    streaming: reqwest::Client,
}

impl AgentClient {
    pub fn new(address: &str, port: u16, pki: &impl EngineCredentials) -> Result<Self> {
        let build = |timeout: Option<Duration>| -> Result<reqwest::Client> {
            let identity =
                reqwest::Identity::from_pem(pki.client_identity_pem().as_bytes()).map_err(|e| protocol(address, e))?;
            let ca = reqwest::Certificate::from_pem(pki.ca_cert_pem().as_bytes()).map_err(|e| protocol(address, e))?;
            let mut b =
                reqwest::Client::builder().tls_certs_only([ca]).identity(identity).connect_timeout(CONNECT_TIMEOUT);
            if let Some(t) = timeout {
                b = b.timeout(t);
            }
            b.build().map_err(|e| protocol(address, e))
        };
        Ok(Self {
            address: address.to_owned(),
            base: base_url(address, port),
            http: build(Some(CALL_TIMEOUT))?,
            streaming: build(None)?,
        })
    }

    pub fn address(&self) -> &str {
        &self.address
    }

    pub async fn capabilities(&self) -> Result<v1::Capabilities> {
        self.get(paths::CAPABILITIES).await
    }

    pub async fn host_stats(&self) -> Result<v1::HostStats> {
        self.get(paths::STATS_HOST).await
    }

    pub async fn vm_list(&self) -> Result<v1::VmStateList> {
        self.get(paths::VMS).await
    }

    pub async fn vm_create(&self, spec: &v1::VmSpec) -> Result<v1::VmState> {
        self.post(paths::VMS, spec).await
    }

    pub async fn vm_action(&self, id: VmId, action: v1::VmAction, req: &v1::VmActionRequest) -> Result<v1::VmState> {
        self.post(&paths::fill(paths::VM_ACTION, &[&id, &action.as_str()]), req).await
    }

    pub async fn vm_console(&self, id: VmId, tail_bytes: u64) -> Result<v1::ConsoleTail> {
        self.get(&format!("{}?tail_bytes={tail_bytes}", paths::fill(paths::VM_CONSOLE, &[&id]))).await
    }

    pub async fn storage_domain_create(&self, req: &v1::StorageDomainCreate) -> Result<v1::StorageDomainInfo> {
        self.post(paths::STORAGE_DOMAINS, req).await
    }

    pub async fn storage_domain_attach(
        &self,
        id: StorageDomainId,
        conn: &v1::StorageDomainConnection,
    ) -> Result<v1::StorageDomainInfo> {
        self.post(&paths::fill(paths::STORAGE_DOMAIN_ATTACH, &[&id]), conn).await
    }

    /// The host forgets the domain (unmounting it if the agent mounted it); its files stay.
    pub async fn storage_domain_detach(&self, id: StorageDomainId) -> Result<()> {
        self.post(&paths::fill(paths::STORAGE_DOMAIN_DETACH, &[&id]), &serde_json::json!({})).await
    }

    pub async fn volume_info(&self, sd: StorageDomainId, vol: v1::VolumeRef) -> Result<v1::VolumeInfo> {
        self.get(&paths::fill(paths::VOLUME, &[&sd, &vol.image_id, &vol.volume_id])).await
    }

    pub async fn storage_domain_info(&self, id: StorageDomainId) -> Result<v1::StorageDomainInfo> {
        self.get(&paths::fill(paths::STORAGE_DOMAIN, &[&id])).await
    }

    pub async fn volume_create(&self, sd: StorageDomainId, req: &v1::VolumeCreate) -> Result<v1::VolumeInfo> {
        self.post(&paths::fill(paths::VOLUMES, &[&sd]), req).await
    }

    pub async fn volume_delete(&self, sd: StorageDomainId, vol: v1::VolumeRef) -> Result<()> {
        let url = format!("{}{}", self.base, paths::fill(paths::VOLUME, &[&sd, &vol.image_id, &vol.volume_id]));
        call(&self.address, self.http.delete(url)).await
    }

    /// The agent's event stream from `from` (of `stream_id`, when resuming), one envelope per
    /// item; ends when the connection does. The caller reconnects and resumes.
    pub async fn events(
        &self,
        from: u64,
        stream_id: Option<&str>,
    ) -> Result<impl Stream<Item = Result<v1::EventEnvelope>> + use<>> {
        let mut url = format!("{}{}?from={from}", self.base, paths::EVENTS);
        if let Some(s) = stream_id {
            url.push_str(&format!("&stream_id={s}"));
        }
        let resp = self.streaming.get(url).send().await.map_err(|e| unreachable(&self.address, e))?;
        let resp = check(&self.address, resp).await?;
        let address = self.address.clone();
        let lines = resp.bytes_stream().scan(String::new(), move |buf, chunk| {
            let out: Vec<Result<v1::EventEnvelope>> = match chunk {
                Ok(bytes) => {
                    buf.push_str(&String::from_utf8_lossy(&bytes));
                    let mut items = Vec::new();
                    while let Some(nl) = buf.find('\n') {
                        let line: String = buf.drain(..=nl).collect();
                        if !line.trim().is_empty() {
                            items.push(serde_json::from_str(line.trim()).map_err(|e| protocol(&address, e)));
                        }
                    }
                    items
                }
                Err(e) => vec![Err(unreachable(&address, e))],
            };
            std::future::ready(Some(futures::stream::iter(out)))
        });
        Ok(lines.flatten())
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        call(&self.address, self.http.get(format!("{}{path}", self.base))).await
    }

    async fn post<T: DeserializeOwned>(&self, path: &str, body: &impl Serialize) -> Result<T> {
        call(&self.address, self.http.post(format!("{}{path}", self.base)).json(body)).await
    }
}

fn base_url(address: &str, port: u16) -> String {
    if address.contains(':') && !address.starts_with('[') {
        format!("https://[{address}]:{port}") // IPv6 literal
    } else {
        format!("https://{address}:{port}")
    }
}

async fn call<T: DeserializeOwned>(address: &str, req: reqwest::RequestBuilder) -> Result<T> {
    let resp = req.send().await.map_err(|e| unreachable(address, e))?;
    let resp = check(address, resp).await?;
    resp.json::<T>().await.map_err(|e| protocol(address, e))
}

async fn check(address: &str, resp: reqwest::Response) -> Result<reqwest::Response> {
    if resp.status().is_success() {
        return Ok(resp);
    }
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    let (kind, message) = match serde_json::from_str::<ApiError>(&text) {
        Ok(e) => (e.kind, e.message),
        Err(_) => (ErrorKind::Internal, format!("HTTP {status}: {text}")),
    };
    Err(AgentClientError::Refused { address: address.to_owned(), status, kind, message })
}

fn unreachable(address: &str, e: reqwest::Error) -> AgentClientError {
    // reqwest's Display hides the cause (refused, TLS, timeout); its Debug chain names it.
    let mut detail = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        detail.push_str(": ");
        detail.push_str(&s.to_string());
        source = s.source();
    }
    AgentClientError::Unreachable { address: address.to_owned(), detail }
}

fn protocol(address: &str, e: impl std::fmt::Display) -> AgentClientError {
    AgentClientError::Protocol { address: address.to_owned(), detail: e.to_string() }
}
