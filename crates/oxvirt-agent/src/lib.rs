//! The oxvirt host agent: the only part of oxvirt that touches libvirt, QEMU, disk images and
//! host networking on a host (VDSM's role in oVirt).
//!
//! Layers: [`api`] (HTTP: parse, call, render) → [`vms`] (VM lifecycle: the agent's
//! application layer) and [`storage`] → the modules that touch the system: [`hypervisor`]
//! (the only libvirt code), [`network`] (netlink), [`hooks`] (scripts), [`host`] (/proc,
//! /sys, the KVM probe); [`stats`] samples counters. The agent's identity, enrollment and
//! mTLS transport, the VM registry with its event stream, and the route table are
//! `oxvirt-agent-server`'s, shared with the simulator.

pub mod access;
pub mod api;
pub mod cloud_init;
pub mod config;
pub mod hooks;
pub mod host;
pub mod host_files;
pub mod hypervisor;
pub mod network;
pub mod stats;
pub mod storage;
pub mod vms;

use config::AgentConfig;
use oxvirt_agent_api::v1::{Capabilities, Virtualization};
use oxvirt_agent_server::{registry, tls};
use oxvirt_types::{ErrorKind, HostId};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// How long the KVM probe's test guest may take before KVM counts as unusable.
const KVM_PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// Errors while starting the agent or answering whole-host questions.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("cannot use the state dir {path}: {source}")]
    StateDir { path: PathBuf, source: std::io::Error },
    #[error("cannot listen on {addr}: {source} (is another agent running? see --listen)")]
    Listen { addr: std::net::SocketAddr, source: std::io::Error },
    #[error(transparent)]
    Vm(#[from] vms::VmError),
    #[error(transparent)]
    Hypervisor(#[from] hypervisor::HypervisorError),
    #[error(transparent)]
    Storage(#[from] storage::StorageError),
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    #[error(transparent)]
    Host(#[from] host::HostError),
    #[error(transparent)]
    Access(#[from] access::AccessError),
    #[error("agent API server failed: {0}")]
    Serve(std::io::Error),
    #[error("invalid configuration: {0}")]
    Config(String),
}

impl AgentError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            AgentError::Vm(e) => e.kind(),
            AgentError::Hypervisor(e) => e.kind(),
            AgentError::Storage(e) => e.kind(),
            AgentError::Tls(e) => e.kind(),
            AgentError::Host(e) => e.kind(),
            AgentError::Access(e) => e.kind(),
            _ => ErrorKind::Internal,
        }
    }
}

/// Everything the API handlers reach.
#[derive(Debug)]
pub struct Agent {
    pub identity: Arc<tls::AgentIdentity>,
    pub vms: Arc<vms::VmService>,
    pub storage: Arc<storage::StorageManager>,
    pub stats: Arc<stats::StatsService>,
    pub hooks: hooks::Hooks,
    pub hostname: String,
    pub host_id: HostId,
    pub virtualization: Virtualization,
}

impl Agent {
    /// Brings up every part of the agent (without the listener).
    pub async fn start(config: &AgentConfig) -> Result<Arc<Self>, AgentError> {
        let state = &config.state_dir;
        let mount_root = config.mount_root.clone().unwrap_or_else(|| state.join("mnt"));
        let host_files = host_files::HostFiles::new(&config.boot_dirs, &[state, &config.hooks_dir, &mount_root])
            .map_err(AgentError::Config)?;
        std::fs::create_dir_all(state).map_err(|source| AgentError::StateDir { path: state.clone(), source })?;
        let qemu =
            Arc::new(access::QemuAccess::resolve(&config.libvirt_uri, config.qemu_user.as_deref(), &config.qemu_conf)?);
        tracing::info!(user = qemu.user(), "QEMU's access to storage, kernels and initrds is checked as this user");
        if !qemu.is_root() {
            // QEMU passes through it to the cloud-init images (state/cloud-init) and the mounts
            // (state/mnt); the files in it that are secret (keys) are readable by root only.
            access::make_traversable(state).map_err(|source| AgentError::StateDir { path: state.clone(), source })?;
        }
        let storage = Arc::new(
            storage::StorageManager::open(state, &mount_root)?
                .with_qemu_access(qemu.clone())
                .with_host_files(host_files.clone()),
        );
        let virtualization = kvm_probe_cached(state, &config.qemu_binary).await;
        if let Some(reason) = &virtualization.kvm_unusable_reason {
            tracing::warn!(%reason, "KVM is not usable here: guests run under TCG (software emulation)");
        }
        let registry = Arc::new(registry::VmRegistry::new(registry::DEFAULT_EVENT_LOG_CAPACITY));
        let options = vms::VmOptions {
            libvirt_uri: config.libvirt_uri.clone(),
            call_limits: hypervisor::CallLimits {
                call: Duration::from_secs(config.libvirt_call_timeout_secs.max(1)),
                create: Duration::from_secs(config.libvirt_create_timeout_secs.max(1)),
                ..hypervisor::CallLimits::default()
            },
            console_dir: state.join("console"),
            cloud_init_dir: state.join("cloud-init"),
            domain_type: virtualization.domain_type,
            reconcile_every: Duration::from_secs(config.reconcile_interval_secs.max(1)),
            qemu,
            host_files,
        };
        let vms =
            vms::VmService::start(options, storage.clone(), hooks::Hooks::new(config.hooks_dir.clone()), registry)
                .await?;
        let host_id = vms.hypervisor().host_uuid().await?;
        let identity = Arc::new(tls::AgentIdentity::load_or_init(state, host_id, config.enrollment_secret.clone())?);
        if !identity.is_enrolled() {
            match identity.enrollment_secret_path() {
                Some(p) => {
                    tracing::info!(secret_file = %p.display(), "not enrolled: add this host to an engine with the secret in this file")
                }
                None => {
                    tracing::info!("not enrolled: add this host to an engine with the configured enrollment secret")
                }
            }
        }
        let stats =
            stats::StatsService::start(vms.clone(), Duration::from_secs(config.stats_interval_secs.max(1))).await;
        Ok(Arc::new(Self {
            identity,
            vms,
            storage,
            stats,
            hooks: hooks::Hooks::new(config.hooks_dir.clone()),
            hostname: host::hostname(),
            host_id,
            virtualization,
        }))
    }

    /// What this host is and can do.
    pub async fn capabilities(&self) -> Result<Capabilities, AgentError> {
        let (libvirt_version, qemu_version) = self.vms.hypervisor().versions().await?;
        Ok(Capabilities {
            host_id: self.host_id,
            hostname: self.hostname.clone(),
            cpu: host::cpu_info()?,
            memory: host::memory_total()?,
            virtualization: self.virtualization.clone(),
            libvirt_version,
            qemu_version,
            nics: host::nics().await?,
            bridges: host::bridges().await?,
            hooks: self.hooks.installed(),
            storage_domains: self.storage.domain_ids(),
        })
    }
}

/// Runs `work` on `target` every `every` (first run after one period) for as long as
/// `target` lives elsewhere: the task holds only a weak reference, so dropping the service
/// ends its loop. Overrun periods are delayed, not bunched.
pub(crate) fn spawn_periodic<T, F, Fut>(target: &Arc<T>, every: Duration, work: F)
where
    T: Send + Sync + 'static,
    F: Fn(Arc<T>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let weak = Arc::downgrade(target);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tick.tick().await;
            let Some(target) = weak.upgrade() else { break };
            work(target).await;
        }
    });
}

/// Serves the agent API until SIGTERM or Ctrl-C.
pub async fn run(config: AgentConfig) -> Result<(), AgentError> {
    let agent = Agent::start(&config).await?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| AgentError::Listen { addr: config.listen, source })?;
    tracing::info!(addr = %config.listen, state_dir = %config.state_dir.display(), host_id = %agent.host_id, "agent listening (HTTPS)");
    tls::serve(listener, agent.identity.clone(), api::router(agent.clone()), shutdown_signal())
        .await
        .map_err(AgentError::Serve)?;
    tracing::info!("agent stopped");
    Ok(())
}

/// The KVM probe boots a tiny guest, which takes seconds when KVM is broken; its verdict is
/// kept per boot of the machine (`/proc/sys/kernel/random/boot_id`) in `<state>/kvm-probe.json`.
async fn kvm_probe_cached(state_dir: &Path, qemu: &Path) -> Virtualization {
    let boot_id = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap_or_default().trim().to_owned();
    let cache = state_dir.join("kvm-probe.json");
    if let Ok(text) = std::fs::read_to_string(&cache)
        && let Ok((cached_boot, verdict)) = serde_json::from_str::<(String, Virtualization)>(&text)
        && cached_boot == boot_id
        && !boot_id.is_empty()
    {
        return verdict;
    }
    let verdict = host::kvm_probe(qemu, KVM_PROBE_TIMEOUT).await;
    if let Ok(text) = serde_json::to_string(&(boot_id, &verdict)) {
        let tmp = state_dir.join(".kvm-probe.json.tmp");
        if std::fs::write(&tmp, text).and_then(|()| std::fs::rename(&tmp, &cache)).is_err() {
            tracing::warn!(path = %cache.display(), "cannot cache the KVM probe's verdict");
        }
    }
    verdict
}

async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = term => {},
        _ = tokio::signal::ctrl_c() => {},
    }
    tracing::info!("shutting down");
}
