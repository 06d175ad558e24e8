//! A real `oxvirt-agent` running inside a test host, enrolled with a [`TestCa`], and an
//! mTLS client to call it.

use crate::pki::TestCa;
use crate::{Result, TestHost, TestkitError, wait};
use oxvirt_agent_api::v1;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The enrollment secret test agents are started with.
pub const TEST_ENROLLMENT_SECRET: &str = "test-enrollment-secret";

/// A failed call: the HTTP status and the agent's error body.
#[derive(Debug)]
pub struct CallError {
    pub status: u16,
    pub error: Option<v1::ApiError>,
    pub text: String,
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HTTP {}: {}", self.status, self.text)
    }
}

#[derive(Debug)]
pub struct TestAgent {
    /// `https://<host address>:54321`
    pub base: String,
    /// Client presenting the CA's client certificate and trusting only that CA.
    pub client: reqwest::Client,
    pub ca: TestCa,
    pub state_dir: PathBuf,
    pub hooks_dir: PathBuf,
    label: String,
    binary: PathBuf,
    args: Vec<String>,
}

impl TestAgent {
    /// Starts `binary` (the `oxvirt-agent` under test) inside `host`, waits for its health
    /// endpoint, and enrolls it with a fresh [`TestCa`].
    pub async fn start(host: &mut TestHost, binary: &Path, extra_args: &[&str]) -> Result<Self> {
        let mut agent = Self::start_unenrolled(host, binary, extra_args).await?;
        agent.enroll(host).await?;
        Ok(agent)
    }

    /// Like [`TestAgent::start`] but leaves enrollment to the test (e.g. to the real engine);
    /// `client` is then a plain HTTPS client that accepts the agent's bootstrap certificate.
    pub async fn start_unenrolled(host: &mut TestHost, binary: &Path, extra_args: &[&str]) -> Result<Self> {
        let state_dir = host.dir().join("agent");
        let hooks_dir = host.dir().join("hooks");
        std::fs::create_dir_all(&hooks_dir).map_err(|source| TestkitError::Io { path: hooks_dir.clone(), source })?;
        // Kernels and initrds: the test guest's, and the host's own boot directory for tests
        // that place boot files of their own.
        let boot_dir = host.dir().join("boot");
        std::fs::create_dir_all(&boot_dir).map_err(|source| TestkitError::Io { path: boot_dir.clone(), source })?;
        let base = format!("https://{}:{}", host.address(), oxvirt_agent_api::DEFAULT_AGENT_PORT);
        let mut args = vec![
            format!("--listen={}:{}", host.address(), oxvirt_agent_api::DEFAULT_AGENT_PORT),
            format!("--state-dir={}", state_dir.display()),
            format!("--hooks-dir={}", hooks_dir.display()),
            format!("--boot-dirs={},{}", crate::TestGuest::cache_root().display(), boot_dir.display()),
            format!("--enrollment-secret={TEST_ENROLLMENT_SECRET}"),
        ];
        args.extend(extra_args.iter().map(|s| (*s).to_owned()));
        let mut agent = Self {
            base,
            client: reqwest::Client::new(),
            ca: TestCa::new("oxvirt test engine CA")?,
            state_dir,
            hooks_dir,
            label: "oxvirt-agent".to_owned(),
            binary: binary.to_owned(),
            args,
        };
        agent.launch(host).await?;
        agent.client = anonymous_client()?;
        Ok(agent)
    }

    /// Stops the agent process (SIGTERM, by PID) — its VMs keep running.
    pub fn stop(&self, host: &mut TestHost) {
        host.stop_spawned(&self.label);
    }

    /// Starts the agent again with the same state dir and arguments (already enrolled).
    pub async fn restart(&mut self, host: &mut TestHost) -> Result<()> {
        self.stop(host);
        self.launch(host).await
    }

    async fn launch(&mut self, host: &mut TestHost) -> Result<()> {
        let mut cmd = host.command(&self.binary.display().to_string())?;
        cmd.args(&self.args).env("OXVIRT_LOG", "info,oxvirt_agent=debug");
        host.spawn(&self.label, cmd)?;
        let anonymous = anonymous_client()?;
        let url = format!("{}{}", self.base, v1::HEALTH_PATH);
        let log = host.dir().join(format!("{}.log", self.label));
        wait::until_async("the agent's health endpoint", Duration::from_secs(60), || {
            let anonymous = anonymous.clone();
            let url = url.clone();
            async move { anonymous.get(&url).send().await.ok().filter(|r| r.status().is_success()).map(drop) }
        })
        .await
        .map_err(|e| TestkitError::Setup(format!("{e}; agent log:\n{}", crate::proc::tail(&log, 3000))))
    }

    async fn enroll(&mut self, host: &TestHost) -> Result<()> {
        let anonymous = anonymous_client()?;
        let challenge: v1::EnrollmentChallenge =
            json(anonymous.post(format!("{}/v1/enrollment", self.base)).json(&v1::EnrollmentRequest {
                secret: TEST_ENROLLMENT_SECRET.to_owned(),
                names: vec![host.address().to_string()],
            }))
            .await
            .map_err(|e| TestkitError::Setup(format!("enrollment begin: {e}")))?;
        let certificate_pem = self.ca.sign_csr(&challenge.csr_pem)?;
        let _: v1::Enrolled =
            json(anonymous.put(format!("{}/v1/enrollment", self.base)).json(&v1::EnrollmentCompletion {
                secret: TEST_ENROLLMENT_SECRET.to_owned(),
                certificate_pem,
                ca_pem: self.ca.ca_pem.clone(),
            }))
            .await
            .map_err(|e| TestkitError::Setup(format!("enrollment completion: {e}")))?;
        let identity = reqwest::Identity::from_pem(self.ca.client_identity_pem("engine")?.as_bytes())
            .map_err(|e| TestkitError::Setup(format!("client identity: {e}")))?;
        let ca = reqwest::Certificate::from_pem(self.ca.ca_pem.as_bytes())
            .map_err(|e| TestkitError::Setup(format!("CA certificate: {e}")))?;
        self.client = reqwest::Client::builder()
            .tls_certs_only([ca])
            .identity(identity)
            .build()
            .map_err(|e| TestkitError::Setup(format!("mTLS client: {e}")))?;
        Ok(())
    }

    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, CallError> {
        json(self.client.get(format!("{}{path}", self.base))).await
    }

    pub async fn post<T: DeserializeOwned>(&self, path: &str, body: &impl Serialize) -> Result<T, CallError> {
        json(self.client.post(format!("{}{path}", self.base)).json(body)).await
    }

    /// POST with a raw body (for malformed-input tests).
    pub async fn post_raw<T: DeserializeOwned>(&self, path: &str, body: &str) -> Result<T, CallError> {
        json(
            self.client
                .post(format!("{}{path}", self.base))
                .header("content-type", "application/json")
                .body(body.to_owned()),
        )
        .await
    }

    pub async fn delete<T: DeserializeOwned>(&self, path: &str) -> Result<T, CallError> {
        json(self.client.delete(format!("{}{path}", self.base))).await
    }
}

/// The `oxvirt-agent` binary of this build, for tests outside the agent crate (which get
/// `CARGO_BIN_EXE_oxvirt-agent` instead): `target/<profile>/oxvirt-agent`, next to the
/// test executable's `deps/` folder. `cargo test --workspace` builds it.
pub fn agent_binary() -> Result<PathBuf> {
    sibling_binary("oxvirt-agent")
}

/// `target/<profile>/<name>` for the executable running now: a test executable
/// (`target/<profile>/deps/`) or a binary of the same build (`target/<profile>/`, e.g.
/// `oxvirt-bench`).
pub(crate) fn sibling_binary(name: &str) -> Result<PathBuf> {
    let exe = std::env::current_exe().map_err(|e| TestkitError::Setup(format!("current_exe: {e}")))?;
    let beside_deps = exe.parent().and_then(Path::parent).map(|d| d.join(name));
    let beside_exe = exe.parent().map(|d| d.join(name));
    match beside_deps.into_iter().chain(beside_exe).find(|b| b.is_file()) {
        Some(b) => Ok(b),
        None => Err(TestkitError::Setup(format!(
            "the {name} binary is not built next to this test: run `cargo build -p {name}` first"
        ))),
    }
}

/// A client that trusts any server certificate (for the pre-enrollment bootstrap certificate).
fn anonymous_client() -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .build()
        .map_err(|e| TestkitError::Setup(format!("HTTPS client: {e}")))
}

async fn json<T: DeserializeOwned>(req: reqwest::RequestBuilder) -> Result<T, CallError> {
    let resp = req.send().await.map_err(|e| CallError { status: 0, error: None, text: format!("{e:?}") })?;
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    if (200..300).contains(&status) {
        serde_json::from_str(&text).map_err(|e| CallError {
            status,
            error: None,
            text: format!("unparsable reply ({e}): {text}"),
        })
    } else {
        Err(CallError { status, error: serde_json::from_str(&text).ok(), text })
    }
}
