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
use oxvirt_types::{ByteSize, ErrorKind, HostId, StorageDomainId, VmId};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::time::Duration;

/// The deadlines and size bounds of the client's calls. [`Default`] is what the engine uses;
/// tests shorten them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientLimits {
    /// TCP connect plus TLS handshake.
    pub connect: Duration,
    /// One whole call: connect, request, the agent's work (VM creation includes hooks and
    /// QEMU's start) and reading the reply.
    pub call: Duration,
    /// Opening the event stream: connect, TLS and the response headers (the stream itself is
    /// long-lived; its idleness is the caller's to watch, helped by the agent's heartbeats).
    pub stream_open: Duration,
    /// The largest reply body read from the agent; a bigger one is an error naming the route.
    pub max_reply_bytes: usize,
    /// The longest line of the NDJSON event stream.
    pub max_event_line_bytes: usize,
}

impl Default for ClientLimits {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(10),
            call: Duration::from_secs(120),
            stream_open: Duration::from_secs(30),
            max_reply_bytes: 16 * 1024 * 1024,
            max_event_line_bytes: 1024 * 1024,
        }
    }
}

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
    /// Signs an agent's certificate signing request for `host_address` (the address the
    /// engine enrolls it at, the only name the certificate may carry, whatever the CSR asks);
    /// the error says why it was refused.
    fn sign_agent_csr(&self, csr_pem: &str, host_address: &str) -> std::result::Result<String, String>;
}

/// What enrollment learned about the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enrollment {
    pub host_id: HostId,
    pub hostname: String,
    /// SHA-256 fingerprint of the bootstrap certificate the agent presented (uppercase hex
    /// pairs joined by `:`, as `openssl x509 -fingerprint -sha256` prints it), which the agent
    /// also logs at start, so an administrator can compare the two.
    pub bootstrap_fingerprint: String,
}

/// Enrolls the agent at `address:port` with `secret`: the agent makes a key and CSR, the
/// engine's CA signs it, the agent switches to mTLS. `address` goes into the certificate.
pub async fn host_enroll(address: &str, port: u16, secret: &str, pki: &impl EngineCredentials) -> Result<Enrollment> {
    host_enroll_with(address, port, secret, pki, ClientLimits::default()).await
}

/// [`host_enroll`] with other deadlines and bounds.
pub async fn host_enroll_with(
    address: &str,
    port: u16,
    secret: &str,
    pki: &impl EngineCredentials,
    limits: ClientLimits,
) -> Result<Enrollment> {
    let base = base_url(address, port);
    // The agent's bootstrap certificate is self-signed, so it cannot be verified here; the
    // engine's client identity lets an agent this engine enrolled before be enrolled again.
    let identity =
        reqwest::Identity::from_pem(pki.client_identity_pem().as_bytes()).map_err(|e| protocol(address, e))?;
    let bootstrap = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .tls_info(true)
        .identity(identity)
        .connect_timeout(limits.connect)
        .timeout(limits.call)
        .build()
        .map_err(|e| protocol(address, e))?;
    let route = format!("POST {}", paths::ENROLLMENT);
    let resp = bootstrap
        .post(format!("{base}{}", paths::ENROLLMENT))
        .json(&v1::EnrollmentRequest { secret: secret.to_owned(), names: vec![address.to_owned()] })
        .send()
        .await
        .map_err(|e| unreachable(address, e))?;
    let fingerprint = peer_fingerprint(address, &resp)?;
    let resp = check(address, &route, limits.max_reply_bytes, resp).await?;
    let body = read_limited(address, &route, limits.max_reply_bytes, resp).await?;
    let challenge: v1::EnrollmentChallenge =
        serde_json::from_slice(&body).map_err(|e| protocol(address, format!("{route}: {e}")))?;
    let certificate_pem = pki
        .sign_agent_csr(&challenge.csr_pem, address)
        .map_err(|detail| AgentClientError::Signing { address: address.to_owned(), detail })?;
    let route = format!("PUT {}", paths::ENROLLMENT);
    let resp = bootstrap
        .put(format!("{base}{}", paths::ENROLLMENT))
        .json(&v1::EnrollmentCompletion {
            secret: secret.to_owned(),
            certificate_pem,
            ca_pem: pki.ca_cert_pem().to_owned(),
        })
        .send()
        .await
        .map_err(|e| unreachable(address, e))?;
    // The certificate goes only to the agent that made the CSR: the one that presented the
    // same bootstrap certificate (a new connection may have been opened in between).
    let again = peer_fingerprint(address, &resp)?;
    if again != fingerprint {
        return Err(protocol(
            address,
            format!(
                "the agent presented another certificate during enrollment ({fingerprint}, then {again}); \
                 enrollment stopped"
            ),
        ));
    }
    let resp = check(address, &route, limits.max_reply_bytes, resp).await?;
    let body = read_limited(address, &route, limits.max_reply_bytes, resp).await?;
    let enrolled: v1::Enrolled =
        serde_json::from_slice(&body).map_err(|e| protocol(address, format!("{route}: {e}")))?;
    Ok(Enrollment { host_id: enrolled.host_id, hostname: challenge.hostname, bootstrap_fingerprint: fingerprint })
}

/// The fingerprint of the certificate the server presented on `resp`'s connection.
fn peer_fingerprint(address: &str, resp: &reqwest::Response) -> Result<String> {
    resp.extensions()
        .get::<reqwest::tls::TlsInfo>()
        .and_then(|info| info.peer_certificate())
        .map(oxvirt_agent_api::certificate_fingerprint)
        .ok_or_else(|| protocol(address, "the agent presented no certificate"))
}

/// An mTLS connection to one enrolled agent.
#[derive(Debug, Clone)]
pub struct AgentClient {
    address: String,
    base: String,
    limits: ClientLimits,
    http: reqwest::Client,
    /// Same, without the overall timeout: for the long-lived event stream (whose opening has
    /// a deadline of its own).
    streaming: reqwest::Client,
}

impl AgentClient {
    /// A client with the default [`ClientLimits`].
    pub fn new(address: &str, port: u16, pki: &impl EngineCredentials) -> Result<Self> {
        Self::with_limits(address, port, pki, ClientLimits::default())
    }

    /// A client with other deadlines and bounds.
    pub fn with_limits(address: &str, port: u16, pki: &impl EngineCredentials, limits: ClientLimits) -> Result<Self> {
        let build = |timeout: Option<Duration>| -> Result<reqwest::Client> {
            let identity =
                reqwest::Identity::from_pem(pki.client_identity_pem().as_bytes()).map_err(|e| protocol(address, e))?;
            let ca = reqwest::Certificate::from_pem(pki.ca_cert_pem().as_bytes()).map_err(|e| protocol(address, e))?;
            let mut b =
                reqwest::Client::builder().tls_certs_only([ca]).identity(identity).connect_timeout(limits.connect);
            if let Some(t) = timeout {
                b = b.timeout(t);
            }
            b.build().map_err(|e| protocol(address, e))
        };
        Ok(Self {
            address: address.to_owned(),
            base: base_url(address, port),
            limits,
            http: build(Some(limits.call))?,
            streaming: build(None)?,
        })
    }

    pub fn address(&self) -> &str {
        &self.address
    }

    pub fn limits(&self) -> ClientLimits {
        self.limits
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

    /// Every volume on storage domain `sd`, legal or not (for a storage check).
    pub async fn volume_list(&self, sd: StorageDomainId) -> Result<v1::VolumeList> {
        self.get(&paths::fill(paths::VOLUMES, &[&sd])).await
    }

    pub async fn volume_create(&self, sd: StorageDomainId, req: &v1::VolumeCreate) -> Result<v1::VolumeInfo> {
        self.post(&paths::fill(paths::VOLUMES, &[&sd]), req).await
    }

    /// Grows a volume to `size` (never shrinks); through the VM that has it open, if one does.
    pub async fn volume_resize(
        &self,
        sd: StorageDomainId,
        vol: v1::VolumeRef,
        size: ByteSize,
    ) -> Result<v1::VolumeInfo> {
        let path = paths::fill(paths::VOLUME_RESIZE, &[&sd, &vol.image_id, &vol.volume_id]);
        self.post(&path, &v1::VolumeResize { size }).await
    }

    /// Rewrites a thin volume without its zeroed clusters; refused while a VM has it open.
    pub async fn volume_sparsify(&self, sd: StorageDomainId, vol: v1::VolumeRef) -> Result<v1::VolumeInfo> {
        let path = paths::fill(paths::VOLUME_SPARSIFY, &[&sd, &vol.image_id, &vol.volume_id]);
        self.post(&path, &serde_json::json!({})).await
    }

    pub async fn volume_delete(&self, sd: StorageDomainId, vol: v1::VolumeRef) -> Result<()> {
        let path = paths::fill(paths::VOLUME, &[&sd, &vol.image_id, &vol.volume_id]);
        let req = self.http.delete(format!("{}{path}", self.base));
        call(&self.address, &format!("DELETE {path}"), self.limits.max_reply_bytes, req).await
    }

    /// The agent's event stream from `from` (of `stream_id`, when resuming), one envelope per
    /// item; ends when the connection does. The caller reconnects and resumes. Opening it
    /// (connect, TLS, the response headers) fails after [`ClientLimits::stream_open`]; a line
    /// longer than [`ClientLimits::max_event_line_bytes`] is an error that ends the stream.
    pub async fn events(
        &self,
        from: u64,
        stream_id: Option<&str>,
    ) -> Result<impl Stream<Item = Result<v1::EventEnvelope>> + use<>> {
        let mut url = format!("{}{}?from={from}", self.base, paths::EVENTS);
        if let Some(s) = stream_id {
            url.push_str(&format!("&stream_id={s}"));
        }
        let route = format!("GET {}", paths::EVENTS);
        let opening = self.streaming.get(url).send();
        let resp = match tokio::time::timeout(self.limits.stream_open, opening).await {
            Ok(sent) => sent.map_err(|e| unreachable(&self.address, e))?,
            Err(_) => return Err(no_answer(&self.address, &route, self.limits.stream_open)),
        };
        let resp = check(&self.address, &route, self.limits.max_reply_bytes, resp).await?;
        let address = self.address.clone();
        let lines = ndjson_lines(resp.bytes_stream(), self.limits.max_event_line_bytes);
        Ok(lines.map(move |line| match line {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| protocol(&address, format!("{route}: {e}"))),
            Err(LineError::Read(e)) => Err(unreachable(&address, e)),
            Err(LineError::TooLong { limit }) => Err(protocol(
                &address,
                format!("{route}: an event line is longer than {limit} bytes; the stream was dropped"),
            )),
        }))
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        let req = self.http.get(format!("{}{path}", self.base));
        call(&self.address, &format!("GET {path}"), self.limits.max_reply_bytes, req).await
    }

    async fn post<T: DeserializeOwned>(&self, path: &str, body: &impl Serialize) -> Result<T> {
        let req = self.http.post(format!("{}{path}", self.base)).json(body);
        call(&self.address, &format!("POST {path}"), self.limits.max_reply_bytes, req).await
    }
}

/// Why the NDJSON splitter stopped.
#[derive(Debug)]
enum LineError<E> {
    Read(E),
    TooLong { limit: usize },
}

/// Splits a byte stream into its non-blank lines, on newline *bytes* (a multi-byte UTF-8
/// character split across chunks stays whole), each without its `\n` (and `\r`). A line
/// longer than `max_line` yields an error and ends the stream: nothing after it can be
/// framed with confidence. A last line without its newline is dropped (the connection ended
/// mid-line).
fn ndjson_lines<B, E>(
    chunks: impl Stream<Item = std::result::Result<B, E>>,
    max_line: usize,
) -> impl Stream<Item = std::result::Result<Vec<u8>, LineError<E>>>
where
    B: AsRef<[u8]>,
{
    type Ready<E> = std::collections::VecDeque<std::result::Result<Vec<u8>, LineError<E>>>;
    let state = (Box::pin(chunks), Vec::<u8>::new(), Ready::<E>::new(), false);
    futures::stream::unfold(state, move |(mut chunks, mut buf, mut ready, mut done)| async move {
        loop {
            if let Some(item) = ready.pop_front() {
                return Some((item, (chunks, buf, ready, done)));
            }
            if done {
                return None;
            }
            match chunks.next().await {
                None => return None,
                Some(Err(e)) => {
                    ready.push_back(Err(LineError::Read(e)));
                    done = true;
                }
                Some(Ok(chunk)) => {
                    let mut rest = chunk.as_ref();
                    while let Some(nl) = rest.iter().position(|b| *b == b'\n') {
                        buf.extend_from_slice(&rest[..nl]);
                        rest = &rest[nl + 1..];
                        let mut line = std::mem::take(&mut buf);
                        if line.last() == Some(&b'\r') {
                            line.pop();
                        }
                        if line.len() > max_line {
                            done = true;
                            break;
                        }
                        if !line.iter().all(u8::is_ascii_whitespace) {
                            ready.push_back(Ok(line));
                        }
                    }
                    if !done {
                        buf.extend_from_slice(rest);
                        done = buf.len() > max_line;
                    }
                    if done {
                        buf = Vec::new();
                        ready.push_back(Err(LineError::TooLong { limit: max_line }));
                    }
                }
            }
        }
    })
}

fn base_url(address: &str, port: u16) -> String {
    if address.contains(':') && !address.starts_with('[') {
        format!("https://[{address}]:{port}") // IPv6 literal
    } else {
        format!("https://{address}:{port}")
    }
}

/// Sends `req` (a call on `route`, e.g. `GET /v1/vms`) and decodes its reply, read up to
/// `max_reply` bytes.
async fn call<T: DeserializeOwned>(
    address: &str,
    route: &str,
    max_reply: usize,
    req: reqwest::RequestBuilder,
) -> Result<T> {
    let resp = req.send().await.map_err(|e| unreachable(address, e))?;
    let resp = check(address, route, max_reply, resp).await?;
    let body = read_limited(address, route, max_reply, resp).await?;
    serde_json::from_slice(&body).map_err(|e| protocol(address, format!("{route}: {e}")))
}

/// The whole body of `resp`, or an error naming `route` when it is longer than `max` bytes.
async fn read_limited(address: &str, route: &str, max: usize, mut resp: reqwest::Response) -> Result<Vec<u8>> {
    let too_big = || {
        protocol(
            address,
            format!("the reply to {route} is larger than {max} bytes; it was not read (is this an oxvirt agent?)"),
        )
    };
    if resp.content_length().is_some_and(|n| n > max as u64) {
        return Err(too_big());
    }
    let mut body = Vec::with_capacity(resp.content_length().map_or(0, |n| n as usize));
    while let Some(chunk) = resp.chunk().await.map_err(|e| unreachable(address, e))? {
        if body.len() + chunk.len() > max {
            return Err(too_big());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

async fn check(address: &str, route: &str, max_reply: usize, resp: reqwest::Response) -> Result<reqwest::Response> {
    if resp.status().is_success() {
        return Ok(resp);
    }
    let status = resp.status().as_u16();
    let text = match read_limited(address, route, max_reply, resp).await {
        Ok(body) => String::from_utf8_lossy(&body).into_owned(),
        Err(e) => e.to_string(),
    };
    let (kind, message) = match serde_json::from_str::<ApiError>(&text) {
        Ok(e) => (e.kind, e.message),
        Err(_) => (ErrorKind::Internal, format!("HTTP {status} to {route}: {text}")),
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

fn no_answer(address: &str, route: &str, after: Duration) -> AgentClientError {
    AgentClientError::Unreachable {
        address: address.to_owned(),
        detail: format!("no answer to {route} within {after:?} (is the agent hung? check it on the host)"),
    }
}

fn protocol(address: &str, e: impl std::fmt::Display) -> AgentClientError {
    AgentClientError::Protocol { address: address.to_owned(), detail: e.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the splitter over `chunks` and collects lines (as text) or the error's text.
    async fn split(chunks: Vec<&[u8]>, max_line: usize) -> Vec<std::result::Result<String, String>> {
        let chunks = futures::stream::iter(chunks.into_iter().map(Ok::<_, std::convert::Infallible>));
        ndjson_lines(chunks, max_line)
            .map(|l| match l {
                Ok(bytes) => Ok(String::from_utf8(bytes).expect("whole UTF-8 lines")),
                Err(LineError::TooLong { limit }) => Err(format!("too long: {limit}")),
                Err(LineError::Read(never)) => match never {},
            })
            .collect()
            .await
    }

    #[tokio::test]
    async fn a_line_split_across_chunks_inside_a_multibyte_character_decodes_whole() {
        let text = "{\"name\":\"vm-é€😀\"}\n{\"second\":1}\r\n\n";
        let bytes = text.as_bytes();
        let e_acute = text.find('é').expect("é");
        // Cut inside every multi-byte character and at every other place too.
        for cut in 1..bytes.len() {
            let (a, b) = bytes.split_at(cut);
            let lines = split(vec![a, b], 1024).await;
            assert_eq!(
                lines,
                vec![Ok("{\"name\":\"vm-é€😀\"}".to_owned()), Ok("{\"second\":1}".to_owned())],
                "cut at byte {cut}"
            );
        }
        // One byte per chunk.
        let singles: Vec<&[u8]> = bytes.chunks(1).collect();
        assert_eq!(split(singles, 1024).await.len(), 2);
        // And the envelope decodes from the split bytes.
        let (a, b) = bytes.split_at(e_acute + 1);
        let lines = split(vec![a, b], 1024).await;
        let first: serde_json::Value = serde_json::from_str(lines[0].as_ref().expect("line")).expect("json");
        assert_eq!(first["name"], "vm-é€😀");
    }

    #[tokio::test]
    async fn a_line_over_the_bound_is_an_error_after_the_complete_lines_before_it() {
        let long = format!("{}\n", "x".repeat(100));
        let lines = split(vec![b"{\"a\":1}\n", long.as_bytes(), b"{\"b\":2}\n"], 64).await;
        assert_eq!(lines, vec![Ok("{\"a\":1}".to_owned()), Err("too long: 64".to_owned())]);
        // Without a newline in sight, the buffer alone trips the bound.
        let endless = "y".repeat(40);
        let lines = split(vec![b"{\"a\":1}\n", endless.as_bytes(), endless.as_bytes()], 64).await;
        assert_eq!(lines, vec![Ok("{\"a\":1}".to_owned()), Err("too long: 64".to_owned())]);
        // A last line cut off by the end of the connection is not a line.
        assert_eq!(split(vec![b"{\"a\":1}\n{\"b\""], 64).await, vec![Ok("{\"a\":1}".to_owned())]);
    }
}
