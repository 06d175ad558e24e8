//! **SIMULATION.** `oxvirt-sim` runs many *simulated* host agents in one process. No guest,
//! no QEMU, no libvirt, no disk image and no host network is touched: every VM, counter and
//! volume here is made up.
//!
//! Why a simulator: engine work that is about the *engine* — host monitoring, scheduling,
//! event handling, reconnects after faults, and above all scale (1,000 hosts × 50 VMs) —
//! cannot be tested with real test hosts, which boot real guests under TCG and take seconds
//! and hundreds of MiB each. A simulated agent costs a few KiB per VM and no CPU at rest.
//!
//! What the engine sees: the same agent API (`oxvirt-agent-api` v1) over the same transport
//! as a real agent. Neither is re-implemented: each simulated host is an
//! `oxvirt_agent_server::AgentBackend` behind the same route table, with
//! `oxvirt_agent_server::tls` (its own identity and state dir, enrollment with a secret, the
//! engine's CA signing its CSR, mTLS for everything but health and enrollment, the
//! `require_engine` gate, the same accept loop), `oxvirt_agent_server::registry` for VM states
//! and generation-numbered events, and the same `GET /v1/events` stream. So enrollment,
//! refusal of strangers, resync and heartbeats behave exactly as on a real host — and the
//! simulator does not link libvirt (it does not depend on `oxvirt-agent` at all).
//!
//! What is faked ([`host`]): capabilities (synthetic CPU, memory, one NIC; the versions, the CPU
//! model and `kvm_unusable_reason` say "simulated by oxvirt-sim"), VM lifecycle with
//! configurable launch and ACPI shutdown delays, a synthetic serial console carrying the
//! same marker lines as the test guest (`OXVIRT-GUEST-UP …`, `OXVIRT-TICK …`,
//! `OXVIRT-GUEST-POWEROFF`), host and VM statistics computed *lazily* when asked (counters
//! grow with the time a VM has run; the sampling time is rounded down to the stats interval,
//! as if sampled periodically), and storage domains with volumes kept in memory
//! ([`storage`]: sizes recorded, capacity shrinking with allocations, no files).
//!
//! What it does not do: run anything in a guest, check that kernels, ISO files or bridges
//! exist, run hooks, migrate, or keep VMs or volumes across a restart of the simulator (only
//! the hosts' identities and enrollments persist, in `--state-dir`). A restart looks to the
//! engine like a host reboot: a new event stream id and no VMs.
//!
//! Fault injection for reliability tests ([`control`], plain HTTP, never to be exposed):
//! freeze a host (its connections drop; new calls are refused, or with `mode=hang` the port
//! stays bound and nothing answers, so callers time out), thaw it, crash a VM (it goes down
//! with reason `crashed` and an event), list the hosts.
//!
//! Efficiency: nothing runs per VM at rest. Timers exist only while something is in flight
//! (a VM powering down), and per open event stream (one heartbeat every `heartbeat`).

pub mod api;
pub mod control;
pub mod host;
pub mod storage;

use oxvirt_types::{ByteSize, ErrorKind};
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use host::SimHost;

/// Printed where the simulation must be visible (capabilities, logs, the control API).
pub const SIMULATED: &str = "simulated by oxvirt-sim";

/// How the simulated hosts are placed and behave.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub hosts: usize,
    pub placement: Placement,
    /// Per-host state (`host-0000/`, …): host id, keys, certificates, enrollment.
    pub state_dir: PathBuf,
    /// The same secret for every host; `None`: each host generates its own into its state dir.
    pub enrollment_secret: Option<String>,
    pub host: HostParams,
}

/// Where host `i` listens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// Host `i` on `first + i`, all on `port` (0: each host gets a free port of its own).
    Addresses { first: Ipv4Addr, port: u16 },
    /// Host `i` on `address`, port `base + i`.
    Ports { address: Ipv4Addr, base: u16 },
}

impl Placement {
    /// The address and port of host `index`.
    pub fn of(&self, index: usize) -> Result<(IpAddr, u16), SimError> {
        let i = u32::try_from(index).map_err(|_| SimError::Placement(format!("host index {index} is too large")))?;
        match *self {
            Placement::Addresses { first, port } => {
                let ip = u32::from(first)
                    .checked_add(i)
                    .map(Ipv4Addr::from)
                    .ok_or_else(|| SimError::Placement(format!("{first} + {index} leaves the IPv4 space")))?;
                Ok((IpAddr::V4(ip), port))
            }
            Placement::Ports { address, base } => {
                let port = u16::try_from(u32::from(base) + i).map_err(|_| {
                    SimError::Placement(format!("port {base} + {index} is above 65535: lower --base-port"))
                })?;
                Ok((IpAddr::V4(address), port))
            }
        }
    }
}

/// What every simulated host has and how fast its VMs react.
#[derive(Debug, Clone)]
pub struct HostParams {
    pub cpus: u32,
    pub memory: ByteSize,
    /// Time from `POST /v1/vms` to "QEMU runs" (the create call returns then, state running).
    pub launch_delay: Duration,
    /// Time from an ACPI shutdown to the guest powering off.
    pub shutdown_delay: Duration,
    /// Statistics look sampled at multiples of this.
    pub stats_interval: Duration,
    /// Idle event streams carry a heartbeat line this often.
    pub heartbeat: Duration,
    /// Capacity of every storage domain the simulation creates.
    pub storage_capacity: ByteSize,
}

impl Default for HostParams {
    fn default() -> Self {
        Self {
            cpus: 16,
            memory: ByteSize::from_gib(64),
            launch_delay: Duration::from_millis(200),
            shutdown_delay: Duration::from_millis(500),
            stats_interval: Duration::from_secs(15),
            heartbeat: Duration::from_secs(15),
            storage_capacity: ByteSize::from_gib(1024),
        }
    }
}

/// Errors of the simulation, each with the [`ErrorKind`] its API reply carries.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    InvalidInput(String),
    #[error("{0}")]
    Placement(String),
    #[error("cannot use the state dir {path}: {source}")]
    StateDir { path: PathBuf, source: std::io::Error },
    #[error(
        "simulated host {index} cannot listen on {addr}: {source} (addresses outside 127.0.0.0/8 must exist on an \
         interface; is another simulator or agent using the port?)"
    )]
    Listen { index: usize, addr: std::net::SocketAddr, source: std::io::Error },
    #[error(transparent)]
    Tls(#[from] oxvirt_agent_server::tls::TlsError),
}

impl SimError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            SimError::NotFound(_) => ErrorKind::NotFound,
            SimError::Conflict(_) => ErrorKind::Conflict,
            SimError::InvalidInput(_) | SimError::Placement(_) => ErrorKind::InvalidInput,
            SimError::Tls(e) => e.kind(),
            SimError::StateDir { .. } | SimError::Listen { .. } => ErrorKind::Internal,
        }
    }
}

/// All simulated hosts of one process.
#[derive(Debug)]
pub struct Simulator {
    hosts: Vec<Arc<SimHost>>,
}

impl Simulator {
    /// Loads or creates every host's identity (in parallel: key generation and fsyncs) and
    /// starts serving each host's agent API.
    pub async fn start(config: SimConfig) -> Result<Self, SimError> {
        std::fs::create_dir_all(&config.state_dir)
            .map_err(|source| SimError::StateDir { path: config.state_dir.clone(), source })?;
        let params = Arc::new(config.host.clone());
        let storage = Arc::new(storage::SharedStorage::new(params.storage_capacity));
        let mut loading = tokio::task::JoinSet::new();
        for index in 0..config.hosts {
            let (address, port) = config.placement.of(index)?;
            let dir = config.state_dir.join(format!("host-{index:04}"));
            let (secret, params, storage) = (config.enrollment_secret.clone(), params.clone(), storage.clone());
            loading.spawn_blocking(move || SimHost::load(index, address, port, &dir, secret, params, storage));
        }
        let mut hosts = Vec::with_capacity(config.hosts);
        while let Some(loaded) = loading.join_next().await {
            let host = loaded.map_err(|e| SimError::Placement(format!("loading a host's identity failed: {e}")))??;
            hosts.push(host);
        }
        hosts.sort_by_key(|h| h.index);
        let sim = Self { hosts };
        for host in &sim.hosts {
            host.serve_start().await?;
        }
        tracing::info!(hosts = sim.hosts.len(), "{SIMULATED}: simulated hosts serving the agent API");
        Ok(sim)
    }

    pub fn hosts(&self) -> &[Arc<SimHost>] {
        &self.hosts
    }

    pub fn host(&self, index: usize) -> Option<&Arc<SimHost>> {
        self.hosts.get(index)
    }

    /// Stops every host's server (their state stays on disk).
    pub async fn shutdown(&self) {
        for host in &self.hosts {
            host.stop().await;
        }
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        for host in &self.hosts {
            host.stop_now();
        }
    }
}
