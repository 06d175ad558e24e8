//! `EngineTestContext`: a real engine, a real database and simulated hosts, in one test process.
//!
//! Why it exists: most of the engine's rules — storage domains active only through an Up host
//! that reaches them, a local domain tying a VM to its host, scheduling by free memory and the
//! preferred host, device rules of a running VM, hosts turning non-responsive and back — are
//! rules about the *engine*, not about guests. Tested through the Python SDK against real test
//! hosts they need root, a private libvirtd per host and seconds per guest, so they were tested
//! only there. Here the same rules run against the engine started in-process
//! (`oxvirt_engine::Engine::start`, its real HTTPS API, its real store on SQLite or a private
//! PostgreSQL) and the product's own **SIMULATED** hosts (`oxvirt_sim`: the real agent
//! transport, enrollment and event stream; no guest runs), in well under a second per test and
//! without root. The simulator's fault injection (freeze and thaw a host, crash a VM) makes
//! the monitor's rules testable with a grace period of seconds.
//!
//! What a test gets: [`EngineTestContext::api`], an SDK-like JSON client ([`ApiClient`]: oVirt's
//! JSON shape, faults as [`ApiFault`]s), the simulated hosts ([`EngineTestContext::sim_host`]),
//! a [`Store`] on the engine's database to look behind the API ([`EngineTestContext::store`]),
//! helpers for the arrangements tests repeat (data center, cluster, hosts Up, a local storage
//! domain attached, a VM), and waits on conditions with deadlines ([`crate::wait`]) — the one
//! way tests synchronise. Dropping the context (or [`EngineTestContext::shutdown`]) stops the
//! engine and the simulator and removes the temporary directory, which is kept (and named on
//! stderr) when the test panicked.
//!
//! The engine can also run as the real `oxvirt-engine` binary ([`EngineMode::Binary`], through
//! [`crate::TestEngine`]), e.g. to restart it ([`EngineTestContext::engine_restart`]).

use crate::engine::{TEST_ADMIN_PASSWORD, TestEngine, engine_binary};
use crate::postgres::TestPostgres;
use crate::{Result, TestkitError, wait};
use oxvirt_agent_api::v1::VmRunState;
use oxvirt_engine::config::EngineConfig;
use oxvirt_engine_db::Store;
use oxvirt_types::{ByteSize, VmId};
use serde_json::{Value, json};
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use oxvirt_sim;
pub use oxvirt_sim::host::FreezeMode;
pub use oxvirt_sim::{HostParams, SimHost, Simulator};

/// The enrollment secret every simulated host of a context shares (sent as `root_password`).
pub const SIM_ENROLLMENT_SECRET: &str = "engine-test-context-secret";
/// The custom property test engines declare besides oVirt's predefined ones (tests check it
/// is stored and reaches hooks).
pub const TEST_VM_CUSTOM_PROPERTIES: &str = "oxvirt_test=^[a-z0-9_-]{1,64}$";
/// The login the [`ApiClient`] uses.
pub const ADMIN_LOGIN: &str = "admin@internal";
/// How long the context's waits give a condition by default (generous for a loaded CI machine;
/// conditions normally hold within a second or two).
pub const WAIT_DEADLINE: Duration = Duration::from_secs(30);
/// Bytes in a GiB, for the memory figures tests write.
pub const GIB: u64 = 1 << 30;
/// Bytes in a MiB.
pub const MIB: u64 = 1 << 20;

/// Where the engine keeps its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Database {
    /// A fresh SQLite file in the context's directory.
    #[default]
    Sqlite,
    /// A fresh database on a private PostgreSQL server ([`TestPostgres`], ~1-2 s to start).
    Postgres,
}

/// How the engine runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EngineMode {
    /// `oxvirt_engine::Engine::start` in the test's own runtime.
    #[default]
    InProcess,
    /// The `oxvirt-engine` binary of this build ([`TestEngine`]); can be restarted.
    Binary,
}

/// What a context is made of. [`Default`]: two simulated hosts, SQLite, in-process, a
/// reconcile interval of 2 s and a host grace of 3 s (so fault tests are quick).
#[derive(Debug, Clone)]
pub struct EngineTestOptions {
    pub hosts: usize,
    pub database: Database,
    pub mode: EngineMode,
    /// `OXVIRT_RECONCILE_INTERVAL_SECONDS` of the engine.
    pub reconcile_interval_seconds: u64,
    /// `OXVIRT_HOST_GRACE_SECONDS` of the engine.
    pub host_grace_seconds: u64,
    /// `OXVIRT_JOB_LEASE_SECONDS` of the engine.
    pub job_lease_seconds: u64,
    /// `OXVIRT_VM_CUSTOM_PROPERTIES` of the engine (declared custom properties).
    pub vm_custom_properties: String,
    /// `OXVIRT_MAX_CONNECTIONS` of the in-process engine.
    pub max_connections: usize,
    /// `OXVIRT_HEADER_READ_TIMEOUT_SECONDS` of the in-process engine.
    pub header_read_timeout_seconds: u64,
    /// More environment for the engine binary ([`EngineMode::Binary`]), e.g. a fault injection.
    pub engine_env: Vec<(String, String)>,
    /// What every simulated host has (memory, CPUs) and how fast its VMs react.
    pub host: HostParams,
}

impl Default for EngineTestOptions {
    fn default() -> Self {
        Self {
            hosts: 2,
            database: Database::Sqlite,
            mode: EngineMode::InProcess,
            reconcile_interval_seconds: 2,
            host_grace_seconds: 3,
            job_lease_seconds: 5,
            vm_custom_properties: TEST_VM_CUSTOM_PROPERTIES.to_owned(),
            max_connections: oxvirt_engine::serve::DEFAULT_MAX_CONNECTIONS,
            header_read_timeout_seconds: oxvirt_engine::serve::DEFAULT_HEADER_READ_TIMEOUT.as_secs(),
            engine_env: Vec::new(),
            host: HostParams {
                cpus: 8,
                memory: ByteSize::from_gib(16),
                launch_delay: Duration::from_millis(50),
                shutdown_delay: Duration::from_millis(200),
                heartbeat: Duration::from_secs(1),
                storage_capacity: ByteSize::from_gib(100),
                ..HostParams::default()
            },
        }
    }
}

impl EngineTestOptions {
    pub fn hosts(mut self, n: usize) -> Self {
        self.hosts = n;
        self
    }

    pub fn database(mut self, database: Database) -> Self {
        self.database = database;
        self
    }

    pub fn mode(mut self, mode: EngineMode) -> Self {
        self.mode = mode;
        self
    }

    pub fn reconcile_interval_seconds(mut self, seconds: u64) -> Self {
        self.reconcile_interval_seconds = seconds;
        self
    }

    pub fn host_grace_seconds(mut self, seconds: u64) -> Self {
        self.host_grace_seconds = seconds;
        self
    }

    /// The memory every simulated host reports (the engine's scheduling memory).
    pub fn host_memory(mut self, memory: ByteSize) -> Self {
        self.host.memory = memory;
        self
    }

    /// Starts the database, the simulator and the engine.
    pub async fn start(self) -> Result<EngineTestContext> {
        EngineTestContext::start_with(self).await
    }
}

/// The engine a context runs.
#[derive(Debug)]
enum RunningEngine {
    InProcess(oxvirt_engine::Engine),
    Binary(TestEngine),
}

/// A test's engine, database, simulated hosts and API client (see the module docs).
#[derive(Debug)]
pub struct EngineTestContext {
    /// The engine's API as `admin@internal`.
    pub api: ApiClient,
    engine: Option<RunningEngine>,
    sim: Option<Simulator>,
    store: tokio::sync::OnceCell<Store>,
    database_url: String,
    data_dir: PathBuf,
    /// Where the API listens (127.0.0.1 and a free port).
    api_port: u16,
    options: EngineTestOptions,
    pg: Option<TestPostgres>,
    /// Removed last (after the engine, simulator and database are gone).
    _dir: KeptOnPanic,
}

/// A directory removed on drop, kept (and named on stderr) when the test panicked.
#[derive(Debug)]
struct KeptOnPanic(PathBuf);

impl Drop for KeptOnPanic {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("engine test context: data dir, database and simulator state kept in {}", self.0.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// The first loopback address of the simulated hosts (host `i` gets `+ i`): the engine wants
/// one address per host. Each host listens on a port of its own choosing, so contexts in
/// parallel test processes never collide.
const SIM_FIRST_ADDRESS: Ipv4Addr = Ipv4Addr::new(127, 91, 0, 1);

impl EngineTestContext {
    /// `hosts` simulated hosts, SQLite, the engine in-process (the other options default).
    pub async fn start(hosts: usize) -> Result<Self> {
        EngineTestOptions::default().hosts(hosts).start().await
    }

    /// The options to change before [`EngineTestOptions::start`].
    pub fn options() -> EngineTestOptions {
        EngineTestOptions::default()
    }

    async fn start_with(options: EngineTestOptions) -> Result<Self> {
        log_init();
        let dir = crate::base_dir().join(format!("ctx-{}-{}", std::process::id(), uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).map_err(|source| TestkitError::Io { path: dir.clone(), source })?;
        let dir = KeptOnPanic(dir);

        let pg =
            match options.database {
                Database::Sqlite => None,
                Database::Postgres => Some(tokio::task::spawn_blocking(TestPostgres::start).await.map_err(|e| {
                    TestkitError::Setup(format!("starting the test PostgreSQL server panicked: {e}"))
                })??),
            };

        let sim = Simulator::start(oxvirt_sim::SimConfig {
            hosts: options.hosts,
            placement: oxvirt_sim::Placement::Addresses { first: SIM_FIRST_ADDRESS, port: 0 },
            state_dir: dir.0.join("sim"),
            enrollment_secret: Some(SIM_ENROLLMENT_SECRET.to_owned()),
            host: options.host.clone(),
        })
        .await
        .map_err(|e| TestkitError::Setup(format!("cannot start {} simulated hosts: {e}", options.hosts)))?;

        let (engine, data_dir, database_url, api_url) = match options.mode {
            EngineMode::InProcess => {
                let data_dir = dir.0.join("engine");
                let database_url = match &pg {
                    Some(pg) => pg.create_database()?,
                    None => format!("sqlite://{}", data_dir.join("engine.db").display()),
                };
                let config = EngineConfig {
                    data_dir: data_dir.clone(),
                    https_port: 0,
                    listen_address: IpAddr::V4(Ipv4Addr::LOCALHOST),
                    database_url: Some(database_url.clone()),
                    admin_password: Some(TEST_ADMIN_PASSWORD.to_owned()),
                    server_names: Vec::new(),
                    reconcile_interval_seconds: options.reconcile_interval_seconds,
                    host_grace_seconds: options.host_grace_seconds,
                    job_lease_seconds: options.job_lease_seconds,
                    vm_custom_properties: options.vm_custom_properties.clone(),
                    vm_boot_dirs: vec![crate::TestGuest::cache_root()],
                    max_connections: options.max_connections,
                    header_read_timeout_seconds: options.header_read_timeout_seconds,
                };
                let engine = oxvirt_engine::Engine::start(config)
                    .await
                    .map_err(|e| TestkitError::Setup(format!("cannot start the engine in-process: {e}")))?;
                let api_url = format!("https://127.0.0.1:{}/ovirt-engine/api", engine.addr().port());
                (RunningEngine::InProcess(engine), data_dir, database_url, api_url)
            }
            EngineMode::Binary => {
                let reconcile = options.reconcile_interval_seconds.to_string();
                let grace = options.host_grace_seconds.to_string();
                let lease = options.job_lease_seconds.to_string();
                let mut env = vec![
                    ("OXVIRT_RECONCILE_INTERVAL_SECONDS", reconcile.as_str()),
                    ("OXVIRT_HOST_GRACE_SECONDS", grace.as_str()),
                    ("OXVIRT_JOB_LEASE_SECONDS", lease.as_str()),
                    ("OXVIRT_VM_CUSTOM_PROPERTIES", options.vm_custom_properties.as_str()),
                ];
                env.extend(options.engine_env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
                let pg_url = pg.as_ref().map(TestPostgres::create_database).transpose()?;
                if let Some(url) = &pg_url {
                    env.push(("OXVIRT_DATABASE_URL", url.as_str()));
                }
                let engine = TestEngine::start(&engine_binary()?, &env).await?;
                let database_url =
                    pg_url.unwrap_or_else(|| format!("sqlite://{}", engine.data_dir.join("engine.db").display()));
                let (data_dir, api_url) = (engine.data_dir.clone(), engine.api_url.clone());
                (RunningEngine::Binary(engine), data_dir, database_url, api_url)
            }
        };
        let api = ApiClient::new(&api_url, &data_dir.join("pki/ca.pem"), ADMIN_LOGIN, TEST_ADMIN_PASSWORD)?;
        let api_port = reqwest::Url::parse(&api_url)
            .ok()
            .and_then(|u| u.port())
            .ok_or_else(|| TestkitError::Setup(format!("no port in the API URL {api_url}")))?;
        Ok(Self {
            api,
            api_port,
            engine: Some(engine),
            sim: Some(sim),
            store: tokio::sync::OnceCell::new(),
            database_url,
            data_dir,
            options,
            pg,
            _dir: dir,
        })
    }

    // ---- what the context is made of ------------------------------------------------------

    /// The engine's database URL (`sqlite://…` or `postgres://…`).
    pub fn database_url(&self) -> &str {
        &self.database_url
    }

    /// The engine's data dir (`pki/ca.pem`, and for SQLite `engine.db`).
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The address the engine's API listens on.
    pub fn api_addr(&self) -> std::net::SocketAddr {
        std::net::SocketAddr::from(([127, 0, 0, 1], self.api_port))
    }

    /// What the context was started with.
    pub fn settings(&self) -> &EngineTestOptions {
        &self.options
    }

    /// The application layer of an in-process engine (`None` for the binary).
    pub fn app(&self) -> Option<&Arc<oxvirt_engine::app::App>> {
        match &self.engine {
            Some(RunningEngine::InProcess(engine)) => Some(engine.app()),
            _ => None,
        }
    }

    /// A store on the engine's database (opened on first use), to look behind the API.
    pub async fn store(&self) -> Result<&Store> {
        self.store
            .get_or_try_init(|| async {
                Store::open(&self.database_url)
                    .await
                    .map_err(|e| TestkitError::Setup(format!("cannot open the engine's store: {e}")))
            })
            .await
    }

    /// The simulator (all hosts).
    pub fn sim(&self) -> &Simulator {
        self.sim.as_ref().expect("the simulator runs until the context is shut down")
    }

    /// Simulated host `index`. Panics (naming the count) when there is no such host.
    pub fn sim_host(&self, index: usize) -> &Arc<SimHost> {
        let sim = self.sim();
        sim.host(index).unwrap_or_else(|| {
            panic!("no simulated host {index}: this context has {} (EngineTestOptions::hosts)", sim.hosts().len())
        })
    }

    /// The engine's name of simulated host `index` (as [`EngineTestContext::host_add_simulated`] names it).
    pub fn host_name(index: usize) -> String {
        format!("sim{index}")
    }

    /// The indexes of the simulated hosts on which VM `vm_id` runs (QEMU "running").
    pub fn sim_hosts_running(&self, vm_id: &str) -> Vec<usize> {
        let Ok(id) = vm_id.parse::<VmId>() else { return Vec::new() };
        self.sim()
            .hosts()
            .iter()
            .filter(|h| h.registry().get(id).is_some_and(|s| s.state == VmRunState::Running))
            .map(|h| h.index)
            .collect()
    }

    /// The spec the engine sent for VM `vm_id`'s last start on a simulated host.
    pub fn sim_vm_spec(&self, vm_id: &str) -> Option<oxvirt_agent_api::v1::VmSpec> {
        let id = vm_id.parse::<VmId>().ok()?;
        self.sim().hosts().iter().find_map(|h| h.vm_spec(id))
    }

    // ---- lifecycle -----------------------------------------------------------------------

    /// Restarts the engine on the same data dir and database (binary mode only: an in-process
    /// engine's host monitors outlive `Engine::stop`, so a second one would compete with them).
    pub async fn engine_restart(&mut self) -> Result<()> {
        match self.engine.as_mut() {
            Some(RunningEngine::Binary(engine)) => engine.restart().await,
            _ => Err(TestkitError::Setup(
                "only an engine started with EngineMode::Binary can be restarted (EngineTestOptions::mode)".into(),
            )),
        }
    }

    /// The engine process ([`EngineMode::Binary`] only): to kill it, switch a fault injection
    /// on or off for its next start, or wait for its log.
    pub fn engine_process(&mut self) -> Result<&mut TestEngine> {
        match self.engine.as_mut() {
            Some(RunningEngine::Binary(engine)) => Ok(engine),
            _ => Err(TestkitError::Setup("only an engine started with EngineMode::Binary is a process".into())),
        }
    }

    /// Stops the engine (waiting for its server to end), closes the store and shuts the
    /// simulator down, then removes the directory. Dropping the context does the same
    /// without waiting.
    pub async fn shutdown(mut self) -> Result<()> {
        if let Some(store) = self.store.take() {
            store.close().await;
        }
        match self.engine.take() {
            Some(RunningEngine::InProcess(engine)) => {
                engine.stop().await.map_err(|e| TestkitError::Setup(format!("the engine did not stop cleanly: {e}")))?
            }
            Some(RunningEngine::Binary(mut engine)) => engine.stop(),
            None => {}
        }
        if let Some(sim) = self.sim.take() {
            sim.shutdown().await;
        }
        Ok(())
    }

    // ---- waits ---------------------------------------------------------------------------

    /// Polls `check` until it returns `Some`, for at most [`WAIT_DEADLINE`].
    pub async fn wait_for<T, F, Fut>(&self, what: &str, check: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        wait::until_async(what, WAIT_DEADLINE, check).await
    }

    /// Waits until the entity at `path` has `status`; returns it. A timeout names the status it
    /// had last.
    pub async fn wait_status(&self, path: &str, status: &str) -> Result<Value> {
        let last = Mutex::new(String::from("(not read yet)"));
        let found = wait::until_async(&format!("{path} to be {status}"), WAIT_DEADLINE, || async {
            match self.api.get(path).await {
                Ok(entity) if entity["status"] == status => Some(entity),
                Ok(entity) => {
                    *last.lock().unwrap_or_else(|p| p.into_inner()) = format!("status {}", entity["status"]);
                    None
                }
                Err(fault) => {
                    *last.lock().unwrap_or_else(|p| p.into_inner()) = fault.to_string();
                    None
                }
            }
        })
        .await;
        found.map_err(|e| {
            TestkitError::Setup(format!("{e}; last seen: {}", last.lock().unwrap_or_else(|p| p.into_inner())))
        })
    }

    /// Waits until the entity at `path` is gone (404): what a removal job leads to.
    pub async fn wait_gone(&self, path: &str) -> Result<()> {
        wait::until_async(&format!("{path} to be gone"), WAIT_DEADLINE, || async {
            match self.api.get(path).await {
                Err(fault) if fault.status == 404 => Some(()),
                _ => None,
            }
        })
        .await
    }

    /// Waits until VM `id` has `status`.
    pub async fn vm_wait_status(&self, id: &str, status: &str) -> Result<Value> {
        self.wait_status(&format!("vms/{id}"), status).await
    }

    /// Waits until host `id` has `status`.
    pub async fn host_wait_status(&self, id: &str, status: &str) -> Result<Value> {
        self.wait_status(&format!("hosts/{id}"), status).await
    }

    /// The descriptions of the audit log, newest first.
    pub async fn event_descriptions(&self) -> std::result::Result<Vec<String>, ApiFault> {
        let events = self.api.list("events", "event").await?;
        Ok(events.iter().filter_map(|e| e["description"].as_str().map(str::to_owned)).collect())
    }

    /// Waits until an audit event's description contains every one of `words`; returns it.
    pub async fn event_wait(&self, words: &[&str]) -> Result<String> {
        self.wait_for(&format!("an audit event with {words:?}"), || async {
            self.event_descriptions().await.ok()?.into_iter().find(|d| words.iter().all(|w| d.contains(w)))
        })
        .await
    }

    // ---- arrangements tests repeat -------------------------------------------------------

    /// Adds a (shared, not local) data center.
    pub async fn data_center_add(&self, name: &str) -> Result<Value, ApiFault> {
        self.api.post("datacenters", &json!({"name": name, "local": false})).await
    }

    /// Adds a cluster to the data center named `data_center`.
    pub async fn cluster_add(&self, name: &str, data_center: &str) -> Result<Value, ApiFault> {
        self.api.post("clusters", &json!({"name": name, "data_center": {"name": data_center}})).await
    }

    /// The body of `POST /hosts` for simulated host `index`, named `name`, in `cluster`.
    pub fn host_body(&self, index: usize, name: &str, cluster: &str, secret: &str) -> Value {
        let h = self.sim_host(index);
        json!({
            "name": name,
            "address": h.address().to_string(),
            "port": h.port(),
            "root_password": secret,
            "cluster": {"name": cluster},
        })
    }

    /// Adds simulated host `index` as [`EngineTestContext::host_name`]`(index)` to `cluster`
    /// and waits until it is `up`; returns the host.
    pub async fn host_add_simulated(&self, index: usize, cluster: &str) -> Result<Value, ApiFault> {
        let body = self.host_body(index, &Self::host_name(index), cluster, SIM_ENROLLMENT_SECRET);
        let host = self.api.post("hosts", &body).await?;
        self.host_wait_status(&id(&host), "up").await.map_err(ApiFault::timeout)
    }

    /// A localfs data domain named `name` created through the host named `host` (the
    /// simulation keeps it in memory; the path is only recorded).
    pub async fn storage_domain_add_local(&self, name: &str, host: &str) -> Result<Value, ApiFault> {
        self.api
            .post(
                "storagedomains",
                &json!({
                    "name": name,
                    "type": "data",
                    "host": {"name": host},
                    "storage": {"type": "localfs", "path": format!("/oxvirt-sim/{name}")},
                }),
            )
            .await
    }

    /// Attaches storage domain `sd` to data center `dc` (which activates it).
    pub async fn storage_domain_attach(&self, dc: &str, sd: &str) -> Result<Value, ApiFault> {
        self.api.post(&format!("datacenters/{dc}/storagedomains"), &json!({"id": sd})).await
    }

    /// Adds a VM from `Blank` to the cluster named `cluster`; the fields of `extra` (an
    /// object: `memory`, `memory_policy`, `placement_policy`, …) are added to the body.
    pub async fn vm_add(&self, name: &str, cluster: &str, extra: Value) -> Result<Value, ApiFault> {
        let mut body = json!({"name": name, "cluster": {"name": cluster}, "template": {"name": "Blank"}});
        if let (Some(b), Value::Object(extra)) = (body.as_object_mut(), extra) {
            b.extend(extra);
        }
        self.api.post("vms", &body).await
    }

    /// Adds a disk attachment to VM `vm` with a new thin qcow2 disk of `size` bytes on storage
    /// domain `sd`, and waits until the disk is `ok`; returns the disk.
    pub async fn vm_disk_add(&self, vm: &str, name: &str, sd: &str, size: u64) -> Result<Value, ApiFault> {
        let attachment = self
            .api
            .post(
                &format!("vms/{vm}/diskattachments"),
                &json!({
                    "disk": {
                        "name": name,
                        "format": "cow",
                        "sparse": true,
                        "provisioned_size": size,
                        "storage_domains": {"storage_domain": [{"id": sd}]},
                    },
                    "interface": "virtio",
                    "bootable": false,
                    "active": true,
                }),
            )
            .await?;
        let disk = attachment["disk"]["id"].as_str().unwrap_or_default().to_owned();
        self.wait_status(&format!("disks/{disk}"), "ok").await.map_err(ApiFault::timeout)
    }

    /// The usual arrangement: data center `dc1`, cluster `c1`, and the simulated hosts
    /// `0..hosts` added (`sim0`, …) and Up.
    pub async fn setup(&self, hosts: usize) -> Result<Setup, ApiFault> {
        let dc = self.data_center_add("dc1").await?;
        let cluster = self.cluster_add("c1", "dc1").await?;
        let mut ids = Vec::with_capacity(hosts);
        for i in 0..hosts {
            ids.push(id(&self.host_add_simulated(i, "c1").await?));
        }
        Ok(Setup { dc: id(&dc), cluster: id(&cluster), hosts: ids, sd: None })
    }

    /// [`EngineTestContext::setup`] plus a local data domain `local0` created through host
    /// `sd_host`, attached to `dc1` (active; the data center is up).
    pub async fn setup_with_local_domain(&self, hosts: usize, sd_host: usize) -> Result<Setup, ApiFault> {
        let mut setup = self.setup(hosts).await?;
        let sd = self.storage_domain_add_local("local0", &Self::host_name(sd_host)).await?;
        self.storage_domain_attach(&setup.dc, &id(&sd)).await?;
        setup.sd = Some(id(&sd));
        Ok(setup)
    }
}

/// The ids of what [`EngineTestContext::setup`] made.
#[derive(Debug, Clone)]
pub struct Setup {
    /// Data center `dc1`.
    pub dc: String,
    /// Cluster `c1`.
    pub cluster: String,
    /// The hosts, by simulated host index.
    pub hosts: Vec<String>,
    /// The local data domain of [`EngineTestContext::setup_with_local_domain`].
    pub sd: Option<String>,
}

impl Setup {
    /// The storage domain of [`EngineTestContext::setup_with_local_domain`].
    pub fn sd(&self) -> &str {
        self.sd.as_deref().expect("no storage domain: use EngineTestContext::setup_with_local_domain")
    }
}

/// The `id` of an entity. Panics (showing the entity) when it has none.
pub fn id(entity: &Value) -> String {
    match entity["id"].as_str() {
        Some(id) => id.to_owned(),
        None => panic!("the entity has no id: {entity}"),
    }
}

impl Drop for EngineTestContext {
    fn drop(&mut self) {
        // An in-process engine cannot be awaited here: dropping it leaves its server to end
        // with the test's runtime. The binary is stopped by its own Drop.
        drop(self.engine.take());
        drop(self.sim.take());
        drop(self.store.take());
        drop(self.pg.take());
    }
}

/// Logs of the in-process engine and simulator go to the test's captured output (shown by
/// nextest for failing tests), filtered by `OXVIRT_LOG` (default `info`).
fn log_init() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("OXVIRT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_test_writer().try_init();
}

// ---- the API client ---------------------------------------------------------------------

/// A refusal of the API: oVirt's fault (`reason`, `detail`) with its HTTP status. Status 0
/// means there was no HTTP reply (the connection failed, or a wait for a state timed out).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiFault {
    pub status: u16,
    pub reason: String,
    pub detail: String,
}

impl std::fmt::Display for ApiFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HTTP {} {}: {}", self.status, self.reason, self.detail)
    }
}

impl std::error::Error for ApiFault {}

impl ApiFault {
    fn no_reply(what: &str, e: impl std::fmt::Display) -> Self {
        Self { status: 0, reason: "No reply".into(), detail: format!("{what}: {e}") }
    }

    fn timeout(e: TestkitError) -> Self {
        Self { status: 0, reason: "Timeout".into(), detail: e.to_string() }
    }

    /// Panics unless this fault has `status` and its detail contains every one of `words`
    /// (the objects it must name, what to do).
    #[track_caller]
    pub fn assert_names(&self, status: u16, words: &[&str]) {
        assert_eq!(self.status, status, "expected HTTP {status}, got {self}");
        for w in words {
            assert!(self.detail.contains(w), "the fault's detail should name '{w}': {self}");
        }
    }
}

/// How the client authenticates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    /// HTTP Basic on every request (the engine checks the password once a minute at most:
    /// it caches verified credentials briefly).
    Basic,
    /// A bearer token from oVirt's SSO (`/ovirt-engine/sso/oauth/token`), as the SDK does:
    /// one password check per login; a 401 logs in again.
    Sso,
    /// This bearer token and no other: a 401 is the answer (to test a token's end).
    Token(String),
}

/// An SDK-like client of the engine's API in oVirt's JSON (`Accept` and `Content-Type:
/// application/json`), trusting only the engine's CA. Paths are relative to
/// `/ovirt-engine/api` (`"vms/ID"`); an `href` of a reply works too.
#[derive(Debug, Clone)]
pub struct ApiClient {
    http: reqwest::Client,
    /// `https://127.0.0.1:<port>/ovirt-engine/api`
    base: String,
    user: String,
    password: String,
    auth: Auth,
    token: Arc<Mutex<Option<String>>>,
    /// Sent with every request (e.g. `Correlation-Id`).
    headers: Vec<(String, String)>,
    /// A request that takes longer is cut (the client disconnects).
    cut_after: Option<Duration>,
}

impl ApiClient {
    /// A client of the API at `base` (`https://…/ovirt-engine/api`) trusting the CA in
    /// `ca_file`; authenticates with [`Auth::Sso`].
    pub fn new(base: &str, ca_file: &Path, user: &str, password: &str) -> Result<Self> {
        let pem = std::fs::read(ca_file).map_err(|source| TestkitError::Io { path: ca_file.to_owned(), source })?;
        let ca = reqwest::Certificate::from_pem(&pem)
            .map_err(|e| TestkitError::Setup(format!("the engine CA {} does not parse: {e}", ca_file.display())))?;
        let http = reqwest::Client::builder()
            .tls_certs_only([ca])
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| TestkitError::Setup(format!("HTTPS client of the engine: {e}")))?;
        Ok(Self {
            http,
            base: base.trim_end_matches('/').to_owned(),
            user: user.to_owned(),
            password: password.to_owned(),
            auth: Auth::Sso,
            token: Arc::new(Mutex::new(None)),
            headers: Vec::new(),
            cut_after: None,
        })
    }

    /// The same client sending header `name: value` with every request.
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// The same client cutting every request (closing its connection) after `after`: a
    /// client that disconnects mid-request.
    pub fn cutting_after(mut self, after: Duration) -> Self {
        self.cut_after = Some(after);
        self
    }

    /// The same client authenticating with `auth`.
    pub fn with_auth(mut self, auth: Auth) -> Self {
        self.auth = auth;
        self.token = Arc::new(Mutex::new(None));
        self
    }

    /// The same client with other credentials (e.g. a wrong password).
    pub fn with_credentials(mut self, user: &str, password: &str) -> Self {
        self.user = user.to_owned();
        self.password = password.to_owned();
        self.token = Arc::new(Mutex::new(None));
        self
    }

    /// The API's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The URL of `path` (relative to the API, or an `href` starting with `/ovirt-engine/api`).
    pub fn url(&self, path: &str) -> String {
        let path = path.strip_prefix("/ovirt-engine/api").unwrap_or(path).trim_start_matches('/');
        if path.is_empty() { self.base.clone() } else { format!("{}/{path}", self.base) }
    }

    pub async fn get(&self, path: &str) -> Result<Value, ApiFault> {
        self.send(reqwest::Method::GET, path, None).await
    }

    /// The items of the collection at `path` (`item` is the name of one, e.g. `vm`).
    pub async fn list(&self, path: &str, item: &str) -> Result<Vec<Value>, ApiFault> {
        let collection = self.get(path).await?;
        Ok(collection[item].as_array().cloned().unwrap_or_default())
    }

    pub async fn post(&self, path: &str, body: &Value) -> Result<Value, ApiFault> {
        self.send(reqwest::Method::POST, path, Some(body.to_string())).await
    }

    pub async fn put(&self, path: &str, body: &Value) -> Result<Value, ApiFault> {
        self.send(reqwest::Method::PUT, path, Some(body.to_string())).await
    }

    pub async fn delete(&self, path: &str) -> Result<Value, ApiFault> {
        self.send(reqwest::Method::DELETE, path, None).await
    }

    /// `POST {path}/{action}` with an empty action (`{}`); returns oVirt's action reply
    /// (`{"status": "complete", …}`).
    pub async fn action(&self, path: &str, action: &str) -> Result<Value, ApiFault> {
        self.action_with(path, action, &json!({})).await
    }

    /// `POST {path}/{action}` with `body` (e.g. `{"reason": "…"}`).
    pub async fn action_with(&self, path: &str, action: &str, body: &Value) -> Result<Value, ApiFault> {
        let path = format!("{}/{action}", path.trim_end_matches('/'));
        self.send(reqwest::Method::POST, &path, Some(body.to_string())).await
    }

    /// A request with a body sent as is (for malformed documents); returns the status and
    /// the text of the reply, whatever the status.
    pub async fn send_raw(
        &self,
        method: reqwest::Method,
        path: &str,
        content_type: &str,
        body: &str,
    ) -> Result<(u16, String), ApiFault> {
        let request = self
            .http
            .request(method, self.url(path))
            .header("Accept", "application/json")
            .header("Content-Type", content_type)
            .body(body.to_owned());
        let response = self.authorized(request).await?.send().await.map_err(|e| ApiFault::no_reply(path, e))?;
        let status = response.status().as_u16();
        let text = response.text().await.map_err(|e| ApiFault::no_reply(path, e))?;
        Ok((status, text))
    }

    async fn send(&self, method: reqwest::Method, path: &str, body: Option<String>) -> Result<Value, ApiFault> {
        let url = self.url(path);
        let what = format!("{method} {url}");
        for attempt in 0..2 {
            let mut request = self.http.request(method.clone(), &url).header("Accept", "application/json");
            for (name, value) in &self.headers {
                request = request.header(name, value);
            }
            if let Some(after) = self.cut_after {
                request = request.timeout(after);
            }
            if let Some(b) = &body {
                request = request.header("Content-Type", "application/json").body(b.clone());
            }
            let response = self.authorized(request).await?.send().await.map_err(|e| ApiFault::no_reply(&what, e))?;
            let status = response.status();
            let text = response.text().await.map_err(|e| ApiFault::no_reply(&what, e))?;
            if status.is_success() {
                if text.trim().is_empty() {
                    return Ok(Value::Null);
                }
                return serde_json::from_str(&text).map_err(|e| ApiFault {
                    status: status.as_u16(),
                    reason: "Unreadable reply".into(),
                    detail: format!("{what} answered {status} with a body that is not JSON ({e}): {text}"),
                });
            }
            // An expired or revoked SSO token: log in again once, as the SDK does.
            if status == reqwest::StatusCode::UNAUTHORIZED && self.auth == Auth::Sso && attempt == 0 {
                *self.token_lock() = None;
                continue;
            }
            return Err(fault_of(status.as_u16(), &text));
        }
        Err(ApiFault::no_reply(&what, "unauthorized after logging in again"))
    }

    fn token_lock(&self) -> std::sync::MutexGuard<'_, Option<String>> {
        self.token.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn authorized(&self, request: reqwest::RequestBuilder) -> Result<reqwest::RequestBuilder, ApiFault> {
        match &self.auth {
            Auth::Basic => Ok(request.basic_auth(&self.user, Some(&self.password))),
            Auth::Token(t) => Ok(request.bearer_auth(t)),
            Auth::Sso => {
                let cached = self.token_lock().clone();
                let token = match cached {
                    Some(t) => t,
                    None => {
                        let t = self.login().await?;
                        *self.token_lock() = Some(t.clone());
                        t
                    }
                };
                Ok(request.bearer_auth(token))
            }
        }
    }

    /// oVirt SSO's password grant; the access token.
    pub async fn login(&self) -> Result<String, ApiFault> {
        let url = self.base.replace("/ovirt-engine/api", "/ovirt-engine/sso/oauth/token");
        let response = self
            .http
            .post(&url)
            .header("Accept", "application/json")
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(format!(
                "grant_type=password&username={}&password={}&scope=ovirt-app-api",
                form_encode(&self.user),
                form_encode(&self.password)
            ))
            .send()
            .await
            .map_err(|e| ApiFault::no_reply("SSO login", e))?;
        let status = response.status().as_u16();
        let reply: Value = response.json().await.map_err(|e| ApiFault::no_reply("SSO login", e))?;
        match reply["access_token"].as_str() {
            Some(t) if status == 200 => Ok(t.to_owned()),
            _ => Err(ApiFault {
                status,
                reason: reply["error"].as_str().unwrap_or("SSO login failed").to_owned(),
                detail: reply["error_description"].as_str().unwrap_or_default().to_owned(),
            }),
        }
    }
}

/// The fault in a reply with `status`: oVirt's `{"reason", "detail"}` (also inside a failed
/// action's `{"fault": …}`), else the body as the detail.
fn fault_of(status: u16, text: &str) -> ApiFault {
    let parsed: Option<Value> = serde_json::from_str(text).ok();
    let fault = parsed.map(|v| if v.get("fault").is_some() { v["fault"].clone() } else { v });
    match fault {
        Some(f) if f["detail"].is_string() || f["reason"].is_string() => ApiFault {
            status,
            reason: f["reason"].as_str().unwrap_or_default().to_owned(),
            detail: f["detail"].as_str().unwrap_or_default().to_owned(),
        },
        _ => ApiFault { status, reason: "Not an oVirt fault".into(), detail: text.to_owned() },
    }
}

/// `text` percent-encoded for an `application/x-www-form-urlencoded` body.
fn form_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => char::from(b).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
