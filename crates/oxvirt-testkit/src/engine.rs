//! A real `oxvirt-engine` process for end-to-end tests: its own data dir, a free port on
//! 127.0.0.1, an admin password, and the CA it generated at first start.

use crate::{Result, TestkitError, wait};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The admin password test engines are started with.
pub const TEST_ADMIN_PASSWORD: &str = "test-admin-password";

#[derive(Debug)]
pub struct TestEngine {
    /// `https://127.0.0.1:<port>/ovirt-engine/api`
    pub api_url: String,
    pub port: u16,
    pub data_dir: PathBuf,
    /// The engine CA's certificate file (what `ca_file=` of the SDK takes).
    pub ca_file: PathBuf,
    binary: PathBuf,
    env: Vec<(String, String)>,
    child: Option<Child>,
    _dir: Option<tempfile_dir::TempDir>,
}

/// A temporary directory removed on drop (kept when the test panics, for its logs).
mod tempfile_dir {
    #[derive(Debug)]
    pub struct TempDir(pub std::path::PathBuf);
    impl Drop for TempDir {
        fn drop(&mut self) {
            if std::thread::panicking() {
                eprintln!("test engine: data dir and log kept in {}", self.0.display());
            } else {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }
}

impl TestEngine {
    /// Starts `binary` with a fresh data dir and `env` (e.g. `OXVIRT_DATABASE_URL`), and
    /// waits until its health endpoint answers.
    pub async fn start(binary: &Path, env: &[(&str, &str)]) -> Result<Self> {
        let dir = crate::base_dir().join(format!("engine-{}-{}", std::process::id(), uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).map_err(|source| TestkitError::Io { path: dir.clone(), source })?;
        let port = free_port()?;
        let mut engine = Self {
            api_url: format!("https://127.0.0.1:{port}/ovirt-engine/api"),
            port,
            ca_file: dir.join("pki/ca.pem"),
            data_dir: dir.clone(),
            binary: binary.to_owned(),
            env: env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
            child: None,
            _dir: Some(tempfile_dir::TempDir(dir)),
        };
        engine.launch().await?;
        Ok(engine)
    }

    /// Kills the engine outright (SIGKILL, by PID), as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops the engine (SIGTERM, by PID) and waits for it.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            crate::proc::stop_child(&mut child, Duration::from_secs(15));
        }
    }

    /// Sets an environment variable for the next (re)start, e.g. to switch a fault
    /// injection on or off between restarts.
    pub fn env_set(&mut self, key: &str, value: &str) {
        self.env_remove(key);
        self.env.push((key.to_owned(), value.to_owned()));
    }

    /// Removes an environment variable for the next (re)start.
    pub fn env_remove(&mut self, key: &str) {
        self.env.retain(|(k, _)| k != key);
    }

    /// The engine process's PID while it runs (benchmarks sample its CPU time and RSS).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Whether the engine process has exited (e.g. aborted by a fault injection).
    pub fn has_exited(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(Some(_))),
            None => true,
        }
    }

    /// Waits until the engine's log shows `count` fault-injection pauses in all (`FAULT PAUSE`
    /// lines, see `oxvirt_engine::app::saga`), i.e. a job stopped at the armed point; returns
    /// the last such line.
    pub async fn fault_pause_wait(&self, count: usize, deadline: Duration) -> Result<String> {
        let log = self.log_path();
        crate::wait::until_async("the engine to pause at its fault injection point", deadline, || async {
            let text = tokio::fs::read_to_string(&log).await.ok()?;
            let lines: Vec<&str> = text.lines().filter(|l| l.starts_with("FAULT PAUSE")).collect();
            (lines.len() >= count).then(|| lines.last().map(|l| (*l).to_owned())).flatten()
        })
        .await
    }

    /// Starts the engine again on the same data dir and port.
    pub async fn restart(&mut self) -> Result<()> {
        self.stop();
        self.launch().await
    }

    pub fn log_path(&self) -> PathBuf {
        self.data_dir.join("engine.log")
    }

    async fn launch(&mut self) -> Result<()> {
        let log = self.log_path();
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .map_err(|source| TestkitError::Io { path: log.clone(), source })?;
        let err = out.try_clone().map_err(|source| TestkitError::Io { path: log.clone(), source })?;
        let child = Command::new(&self.binary)
            .arg(format!("--data-dir={}", self.data_dir.display()))
            .arg(format!("--https-port={}", self.port))
            .arg("--listen-address=127.0.0.1")
            .env("OXVIRT_ADMIN_PASSWORD", TEST_ADMIN_PASSWORD)
            .env("OXVIRT_VM_CUSTOM_PROPERTIES", crate::engine_context::TEST_VM_CUSTOM_PROPERTIES)
            .env("OXVIRT_VM_BOOT_DIRS", crate::TestGuest::cache_root())
            .env("OXVIRT_LOG", "info,oxvirt_engine=debug")
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| TestkitError::Setup(format!("cannot start {}: {e}", self.binary.display())))?;
        self.child = Some(child);
        let client = reqwest::Client::builder()
            .danger_accept_invalid_certs(true)
            .build()
            .map_err(|e| TestkitError::Setup(format!("HTTPS client: {e}")))?;
        let url = format!("https://127.0.0.1:{}/ovirt-engine/services/health", self.port);
        let result = wait::until_async("the engine's health endpoint", Duration::from_secs(60), || {
            let (client, url) = (client.clone(), url.clone());
            async move { client.get(&url).send().await.ok().filter(|r| r.status().is_success()).map(drop) }
        })
        .await;
        result.map_err(|e| TestkitError::Setup(format!("{e}; engine log:\n{}", crate::proc::tail(&log, 3000))))
    }
}

impl Drop for TestEngine {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The `oxvirt-engine` binary of this build (see [`crate::agent::agent_binary`]).
pub fn engine_binary() -> Result<PathBuf> {
    crate::agent::sibling_binary("oxvirt-engine")
}

fn free_port() -> Result<u16> {
    // Bound then released: another process could take it in between, which on a test
    // machine only makes the engine fail to start with a clear "port in use".
    let listener =
        std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| TestkitError::Setup(format!("free port: {e}")))?;
    listener.local_addr().map(|a| a.port()).map_err(|e| TestkitError::Setup(format!("free port: {e}")))
}
