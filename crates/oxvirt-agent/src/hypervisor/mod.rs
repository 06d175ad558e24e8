//! The only module that speaks libvirt.
//!
//! Why it is shaped this way: libvirt's C API blocks, so every call runs on tokio's blocking
//! pool against one shared connection (`virConnect` is thread-safe), under a deadline
//! ([`CallLimits`]): a hung libvirtd makes a request fail with [`HypervisorError::Timeout`]
//! instead of hanging it. A blocking call cannot be cancelled, so the thread of a call that
//! timed out stays until libvirt returns; a bound on outstanding calls keeps a hung libvirtd
//! from growing the blocking pool without end (once it is reached, new calls wait for a
//! free slot within their own deadline). Domains are *transient*
//! (created from XML, never defined): the engine's database is the source of truth for what a
//! VM is, as in VDSM, so nothing here persists a VM. A domain's UUID is the VM id and its
//! name the VM name; our metadata element (see [`xml`]) marks domains as ours, which is how
//! running VMs are rediscovered after an agent restart without disturbing them.
//!
//! Lifecycle events come from libvirt's event loop ([`events`]) as raw numbers; this module
//! translates them to [`DomainEvent`]s. What they *mean* for the agent's VM registry is
//! decided by the caller.

pub mod events;
pub mod xml;

use oxvirt_agent_api::v1::{DomainType, DownReason, VmRunState};
use oxvirt_types::{HostId, VmId};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc::UnboundedReceiver;
use virt::connect::Connect;
use virt::domain::{Domain, DomainState};
use virt::enumutil::Enum;
use virt::error::ErrorNumber;
use virt::sys;

/// Errors of the libvirt boundary.
#[derive(Debug, thiserror::Error)]
pub enum HypervisorError {
    #[error("cannot connect to libvirt at {uri}: {source} (is libvirtd running?)")]
    Connect { uri: String, source: virt::error::Error },
    #[error("no VM {id} runs on this host")]
    NoSuchVm { id: VmId },
    #[error("a domain named '{name}' or with id {id} already runs on this host")]
    AlreadyRunning { id: VmId, name: String },
    #[error("libvirt rejected the domain of VM {name}: {message}")]
    Rejected { name: String, message: String },
    #[error("cannot {action} VM {id} in its current state: {message}")]
    InvalidState { action: &'static str, id: VmId, message: String },
    #[error("libvirt failed to {action}: {message}")]
    Libvirt { action: String, message: String },
    #[error("libvirt could not start VM {name}: {message}; correct what it names, then start the VM again")]
    StartFailed { name: String, message: String },
    #[error(
        "lost the libvirt connection while trying to {action}: {message}; the agent reconnects by itself, try again"
    )]
    ConnectionLost { action: String, message: String },
    #[error(
        "libvirt did not answer within {after:?} when asked to {action} ({outstanding} libvirt calls outstanding); \
         is libvirtd hung? check it with `virsh list` on the host"
    )]
    Timeout { action: String, after: Duration, outstanding: usize },
    #[error("a libvirt worker failed: {0}")]
    Worker(String),
}

impl HypervisorError {
    pub fn kind(&self) -> oxvirt_types::ErrorKind {
        use oxvirt_types::ErrorKind;
        match self {
            HypervisorError::NoSuchVm { .. } => ErrorKind::NotFound,
            HypervisorError::AlreadyRunning { .. }
            | HypervisorError::InvalidState { .. }
            | HypervisorError::StartFailed { .. } => ErrorKind::Conflict,
            HypervisorError::Rejected { .. } => ErrorKind::InvalidInput,
            HypervisorError::Connect { .. }
            | HypervisorError::ConnectionLost { .. }
            | HypervisorError::Timeout { .. } => ErrorKind::Unavailable,
            HypervisorError::Libvirt { .. } | HypervisorError::Worker(_) => ErrorKind::Internal,
        }
    }
}

type Result<T, E = HypervisorError> = std::result::Result<T, E>;

/// Deadlines of libvirt calls and the bound on calls outstanding at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallLimits {
    /// Any call but creating a domain (a destroy may wait ~30 s for a stuck QEMU to die).
    pub call: Duration,
    /// Creating (starting) a domain: QEMU starts within it.
    pub create: Duration,
    /// Blocking calls running at once (timed-out ones included, until libvirt returns).
    pub max_outstanding: usize,
}

impl Default for CallLimits {
    fn default() -> Self {
        Self { call: Duration::from_secs(60), create: Duration::from_secs(100), max_outstanding: 16 }
    }
}

/// A libvirt run of a domain: libvirt's domain id, new for every start of the domain (and
/// never reused while libvirtd runs), unlike the UUID, which is the VM's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RunId(pub u32);

/// A running (or paused, or shutting down) domain as libvirt reports it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainStatus {
    pub id: VmId,
    /// This run of the domain (`None` only if libvirt reports it inactive).
    pub run: Option<RunId>,
    pub name: String,
    pub state: VmRunState,
    pub pid: Option<u32>,
    pub vnc_port: Option<u16>,
    /// Live domain XML (without secrets).
    pub xml: String,
}

/// What happened to a domain, translated from libvirt's lifecycle event numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifecycle {
    Started,
    Paused,
    Resumed,
    /// The guest has begun or finished shutting down; QEMU may still run.
    ShuttingDown,
    Stopped(DownReason),
    /// Defined/undefined and similar events that change no run state.
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainEvent {
    pub id: VmId,
    pub name: String,
    pub lifecycle: Lifecycle,
}

/// Raw counters of one domain (stats are computed by the caller).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainCounters {
    pub cpu_time_ns: u64,
    pub memory_kib: u64,
    /// (target, read bytes, write bytes, read ops, write ops)
    pub disks: Vec<(String, u64, u64, u64, u64)>,
    /// (host-side tap device, rx bytes, tx bytes, rx packets, tx packets)
    pub nics: Vec<(String, u64, u64, u64, u64)>,
}

/// One libvirt connection plus its event subscription, replaced by a fresh one when libvirtd
/// restarts (running guests survive a libvirtd restart; the agent must too).
pub struct Hypervisor {
    conn: std::sync::RwLock<Arc<Connect>>,
    uri: String,
    calls: Calls,
    /// Where every connection's lifecycle callback sends (survives reconnections).
    raw_events: tokio::sync::mpsc::UnboundedSender<events::RawLifecycleEvent>,
}

impl std::fmt::Debug for Hypervisor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hypervisor").field("uri", &self.uri).finish_non_exhaustive()
    }
}

impl Hypervisor {
    /// Connects to libvirt at `uri` and subscribes to lifecycle events of all domains; every
    /// call is bounded by `limits`.
    pub async fn connect(uri: &str, limits: CallLimits) -> Result<(Self, UnboundedReceiver<DomainEvent>)> {
        events::event_loop_start();
        let calls = Calls::new(limits);
        let (raw_tx, mut raw_rx) = tokio::sync::mpsc::unbounded_channel();
        let conn = open_subscribed(&calls, uri, raw_tx.clone()).await?;
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Some(raw) = raw_rx.recv().await {
                let Some(id) = raw.id else { continue };
                if tx.send(DomainEvent { id, name: raw.name, lifecycle: translate(raw.event, raw.detail) }).is_err() {
                    break;
                }
            }
        });
        Ok((Self { conn: std::sync::RwLock::new(Arc::new(conn)), uri: uri.to_owned(), calls, raw_events: raw_tx }, rx))
    }

    /// Checks the connection and, when libvirtd went away, opens and subscribes a new one.
    /// Returns `Ok(true)` when it reconnected (the caller should reconcile: events may have
    /// been missed), `Ok(false)` when the connection was fine.
    pub async fn connection_ensure(&self) -> Result<bool> {
        let conn = self.conn();
        if self.calls.run("check the connection", move || conn.is_alive().unwrap_or(false)).await? {
            return Ok(false);
        }
        tracing::warn!(uri = %self.uri, "lost the libvirt connection; reconnecting");
        let fresh = open_subscribed(&self.calls, &self.uri, self.raw_events.clone()).await?;
        *self.conn.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(fresh);
        tracing::info!(uri = %self.uri, "reconnected to libvirt");
        Ok(true)
    }

    fn conn(&self) -> Arc<Connect> {
        self.conn.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn uri(&self) -> &str {
        &self.uri
    }

    /// Creates and starts a transient domain from `xml`. What libvirt or QEMU report against
    /// the start (a missing file, a permission, a device QEMU refuses) is
    /// [`HypervisorError::StartFailed`] with libvirt's words.
    pub async fn domain_create(&self, id: VmId, name: &str, xml: String) -> Result<DomainStatus> {
        let conn = self.conn();
        let name = name.to_owned();
        let action = format!("start VM {name}");
        let deadline = self.calls.limits.create;
        self.calls
            .run_within(action.clone(), deadline, move || {
                let dom = conn.create_domain_xml(&xml, sys::VIR_DOMAIN_NONE).map_err(|e| match e.code() {
                    Enum::Known(ErrorNumber::OperationFailed | ErrorNumber::DomExist)
                        if e.message().contains("already") =>
                    {
                        HypervisorError::AlreadyRunning { id, name: name.clone() }
                    }
                    Enum::Known(ErrorNumber::XmlError | ErrorNumber::XmlDetail | ErrorNumber::ConfigUnsupported) => {
                        HypervisorError::Rejected { name: name.clone(), message: e.message().to_owned() }
                    }
                    _ if connection_lost(&e) => {
                        HypervisorError::ConnectionLost { action: action.clone(), message: e.message().to_owned() }
                    }
                    _ => HypervisorError::StartFailed { name: name.clone(), message: e.message().to_owned() },
                })?;
                status_of(&dom, id)
            })
            .await?
    }

    /// The domain of VM `id`, or `None` when no such domain runs.
    pub async fn domain_status(&self, id: VmId) -> Result<Option<DomainStatus>> {
        let conn = self.conn();
        self.calls
            .run(format!("read the state of VM {id}"), move || match lookup(&conn, id) {
                Ok(dom) => status_of(&dom, id).map(Some),
                Err(HypervisorError::NoSuchVm { .. }) => Ok(None),
                Err(e) => Err(e),
            })
            .await?
    }

    /// Every active domain (ours or not: the caller filters by metadata).
    pub async fn domains(&self) -> Result<Vec<DomainStatus>> {
        let conn = self.conn();
        self.calls
            .run("list domains", move || {
                let doms = conn
                    .list_all_domains(sys::VIR_CONNECT_LIST_DOMAINS_ACTIVE)
                    .map_err(|e| HypervisorError::Libvirt { action: "list domains".into(), message: e.to_string() })?;
                let mut out = Vec::with_capacity(doms.len());
                for dom in &doms {
                    let Some(id) = dom.uuid_string().ok().and_then(|u| u.parse::<VmId>().ok()) else { continue };
                    match status_of(dom, id) {
                        Ok(s) => out.push(s),
                        // Vanished between listing and asking: not running any more.
                        Err(HypervisorError::NoSuchVm { .. }) => {}
                        Err(e) => return Err(e),
                    }
                }
                Ok(out)
            })
            .await?
    }

    /// Hard power-off.
    pub async fn domain_destroy(&self, id: VmId) -> Result<()> {
        self.domain_op(id, "destroy", |d| d.destroy()).await
    }

    /// Hard power-off of one run of VM `id`: when the domain with that UUID is another run
    /// (the VM went down and was started again), nothing happens and the answer is
    /// [`HypervisorError::NoSuchVm`] — that run is gone.
    pub async fn domain_destroy_run(&self, id: VmId, run: RunId) -> Result<()> {
        let conn = self.conn();
        self.calls
            .run(format!("destroy run {} of VM {id}", run.0), move || {
                let dom = lookup(&conn, id)?;
                if dom.id() != Some(run.0) {
                    return Err(HypervisorError::NoSuchVm { id });
                }
                dom.destroy().map_err(|e| match e.code() {
                    Enum::Known(ErrorNumber::NoDomain | ErrorNumber::OperationInvalid) => {
                        HypervisorError::NoSuchVm { id }
                    }
                    _ => libvirt_err(id, "destroy", e),
                })
            })
            .await?
    }

    /// ACPI power button.
    pub async fn domain_shutdown(&self, id: VmId) -> Result<()> {
        self.domain_op(id, "shut down", |d| d.shutdown_flags(sys::VIR_DOMAIN_SHUTDOWN_ACPI_POWER_BTN)).await
    }

    /// ACPI reboot request.
    pub async fn domain_reboot(&self, id: VmId) -> Result<()> {
        self.domain_op(id, "reboot", |d| d.reboot(sys::VIR_DOMAIN_REBOOT_ACPI_POWER_BTN)).await
    }

    /// Hard reset.
    pub async fn domain_reset(&self, id: VmId) -> Result<()> {
        self.domain_op(id, "reset", |d| d.reset()).await
    }

    pub async fn domain_pause(&self, id: VmId) -> Result<()> {
        self.domain_op(id, "pause", |d| d.suspend()).await
    }

    pub async fn domain_resume(&self, id: VmId) -> Result<()> {
        self.domain_op(id, "resume", |d| d.resume()).await
    }

    /// Grows the disk file `path` to `size` through the running domain that has it open
    /// (`virDomainBlockResize`: QEMU grows the image and tells the guest), answering which VM
    /// that was; `None` when no active domain uses the file (then qemu-img may grow it).
    pub async fn domain_block_resize_where_open(&self, path: &Path, size: u64) -> Result<Option<VmId>> {
        let conn = self.conn();
        let path = path.to_owned();
        self.calls
            .run(format!("grow {} in the VM using it", path.display()), move || {
                let Some((id, dom)) = active_domain_with_disk(&conn, &path)? else { return Ok(None) };
                dom.block_resize(&path.to_string_lossy(), size, sys::VIR_DOMAIN_BLOCK_RESIZE_BYTES)
                    .map_err(|e| libvirt_err(id, "grow a disk of", e))?;
                Ok(Some(id))
            })
            .await?
    }

    /// The running VM that has `path` as a disk, if one does.
    pub async fn domain_where_open(&self, path: &Path) -> Result<Option<VmId>> {
        let conn = self.conn();
        let path = path.to_owned();
        self.calls
            .run(format!("find the VM using {}", path.display()), move || {
                Ok(active_domain_with_disk(&conn, &path)?.map(|(id, _)| id))
            })
            .await?
    }

    /// CPU, memory, disk and NIC counters of VM `id`.
    pub async fn domain_counters(&self, id: VmId) -> Result<DomainCounters> {
        let conn = self.conn();
        self.calls
            .run(format!("read the counters of VM {id}"), move || {
                let dom = lookup(&conn, id)?;
                let info = dom.info().map_err(|e| libvirt_err(id, "read stats of", e))?;
                let xml = dom.xml_desc(0).map_err(|e| libvirt_err(id, "read the XML of", e))?;
                let (disk_targets, nic_targets) = device_targets(&xml);
                let disks = disk_targets
                    .into_iter()
                    .filter_map(|t| {
                        let s = dom.block_stats(&t).ok()?;
                        Some((t, nonneg(s.rd_bytes), nonneg(s.wr_bytes), nonneg(s.rd_req), nonneg(s.wr_req)))
                    })
                    .collect();
                let nics = nic_targets
                    .into_iter()
                    .filter_map(|t| {
                        let s = dom.interface_stats(&t).ok()?;
                        Some((t, nonneg(s.rx_bytes), nonneg(s.tx_bytes), nonneg(s.rx_packets), nonneg(s.tx_packets)))
                    })
                    .collect();
                Ok(DomainCounters { cpu_time_ns: info.cpu_time, memory_kib: info.memory, disks, nics })
            })
            .await?
    }

    /// libvirt's and the hypervisor's (QEMU's) versions, as `major.minor.release`.
    pub async fn versions(&self) -> Result<(String, String)> {
        let conn = self.conn();
        self.calls
            .run("read libvirt's and QEMU's versions", move || {
                let lib = conn.lib_version().map_err(|e| HypervisorError::Libvirt {
                    action: "read libvirt's version".into(),
                    message: e.to_string(),
                })?;
                let hyp = conn.hyp_version().map_err(|e| HypervisorError::Libvirt {
                    action: "read QEMU's version".into(),
                    message: e.to_string(),
                })?;
                Ok((dotted(lib), dotted(hyp)))
            })
            .await?
    }

    /// The host's identity: libvirt's `host_uuid` (from its capabilities).
    pub async fn host_uuid(&self) -> Result<HostId> {
        let conn = self.conn();
        self.calls
            .run("read the host's capabilities", move || {
                let caps = conn.capabilities().map_err(|e| HypervisorError::Libvirt {
                    action: "read capabilities".into(),
                    message: e.to_string(),
                })?;
                let doc = roxmltree::Document::parse(&caps).map_err(|e| HypervisorError::Libvirt {
                    action: "parse capabilities".into(),
                    message: e.to_string(),
                })?;
                doc.descendants()
                    .find(|n| n.has_tag_name("host"))
                    .and_then(|h| h.children().find(|n| n.has_tag_name("uuid")))
                    .and_then(|u| u.text())
                    .and_then(|t| t.trim().parse::<HostId>().ok())
                    .ok_or_else(|| HypervisorError::Libvirt {
                        action: "find host_uuid in capabilities".into(),
                        message: "missing".into(),
                    })
            })
            .await?
    }

    /// Whether libvirt can run `kvm` domains here, according to its domain capabilities. The
    /// real proof that KVM works is the host module's probe; this only says libvirt agrees.
    pub async fn supports_domain_type(&self, domain_type: DomainType) -> bool {
        let conn = self.conn();
        let virttype = match domain_type {
            DomainType::Kvm => "kvm",
            DomainType::Qemu => "qemu",
        };
        self.calls
            .run(format!("read the domain capabilities for {virttype}"), move || {
                conn.domain_capabilities(None, None, None, Some(virttype), 0).is_ok()
            })
            .await
            .unwrap_or(false)
    }

    async fn domain_op(
        &self,
        id: VmId,
        action: &'static str,
        op: impl FnOnce(&Domain) -> Result<(), virt::error::Error> + Send + 'static,
    ) -> Result<()> {
        let conn = self.conn();
        self.calls
            .run(format!("{action} VM {id}"), move || {
                let dom = lookup(&conn, id)?;
                op(&dom).map_err(|e| match e.code() {
                    Enum::Known(ErrorNumber::OperationInvalid) => {
                        HypervisorError::InvalidState { action, id, message: e.message().to_owned() }
                    }
                    Enum::Known(ErrorNumber::NoDomain) => HypervisorError::NoSuchVm { id },
                    _ => libvirt_err(id, action, e),
                })
            })
            .await?
    }
}

/// Opens `uri` with keepalive and subscribes `raw_tx` to its lifecycle events, all on the
/// blocking pool under the call deadline (a connection opened after its deadline is closed).
async fn open_subscribed(
    calls: &Calls,
    uri: &str,
    raw_tx: tokio::sync::mpsc::UnboundedSender<events::RawLifecycleEvent>,
) -> Result<Connect> {
    let uri_owned = uri.to_owned();
    calls
        .run(format!("connect to {uri}"), move || {
            let conn = Connect::open(Some(&uri_owned))
                .map_err(|source| HypervisorError::Connect { uri: uri_owned.clone(), source })?;
            // Notice a dead libvirtd within ~15 s even when its socket does not close.
            if let Err(e) = conn.set_keep_alive(5, 3) {
                tracing::debug!(error = %e, "libvirt keepalive not available");
            }
            events::lifecycle_events_register(&conn, raw_tx).map_err(|e| HypervisorError::Libvirt {
                action: "subscribe to domain events".into(),
                message: e.to_string(),
            })?;
            Ok(conn)
        })
        .await?
}

/// Runs blocking libvirt calls with a deadline, at most [`CallLimits::max_outstanding`] at
/// once.
#[derive(Debug)]
struct Calls {
    limits: CallLimits,
    slots: Arc<tokio::sync::Semaphore>,
}

impl Calls {
    fn new(limits: CallLimits) -> Self {
        Self { limits, slots: Arc::new(tokio::sync::Semaphore::new(limits.max_outstanding.max(1))) }
    }

    /// Runs `f` (a call described by `action`, for the error) within [`CallLimits::call`].
    async fn run<T: Send + 'static>(
        &self,
        action: impl Into<String>,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T> {
        self.run_within(action, self.limits.call, f).await
    }

    /// Runs `f` within `deadline`, the wait for a free slot included. On timeout the call goes
    /// on in its thread (libvirt cannot be interrupted) and keeps its slot until it returns.
    async fn run_within<T: Send + 'static>(
        &self,
        action: impl Into<String>,
        deadline: Duration,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T> {
        let work = async {
            let slot = self.slots.clone().acquire_owned().await.map_err(|e| HypervisorError::Worker(e.to_string()))?;
            tokio::task::spawn_blocking(move || {
                let _slot = slot;
                f()
            })
            .await
            .map_err(|e| HypervisorError::Worker(e.to_string()))
        };
        match tokio::time::timeout(deadline, work).await {
            Ok(result) => result,
            Err(_) => {
                let outstanding = self.limits.max_outstanding.max(1) - self.slots.available_permits();
                let action = action.into();
                tracing::warn!(%action, ?deadline, outstanding, "a libvirt call did not return in time");
                Err(HypervisorError::Timeout { action, after: deadline, outstanding })
            }
        }
    }
}

/// Whether `e` says the connection to libvirtd broke (rather than libvirt refusing).
fn connection_lost(e: &virt::error::Error) -> bool {
    use virt::error::ErrorDomain;
    matches!(e.code(), Enum::Known(ErrorNumber::NoConnect | ErrorNumber::Rpc))
        || (matches!(e.code(), Enum::Known(ErrorNumber::SystemError))
            && matches!(e.domain(), Enum::Known(ErrorDomain::Rpc | ErrorDomain::Remote)))
}

fn lookup(conn: &Connect, id: VmId) -> Result<Domain> {
    conn.lookup_domain_by_uuid_string(&id.to_string()).map_err(|e| match e.code() {
        Enum::Known(ErrorNumber::NoDomain) => HypervisorError::NoSuchVm { id },
        _ => libvirt_err(id, "look up", e),
    })
}

fn libvirt_err(id: VmId, action: &str, e: virt::error::Error) -> HypervisorError {
    HypervisorError::Libvirt { action: format!("{action} VM {id}"), message: e.message().to_owned() }
}

fn status_of(dom: &Domain, id: VmId) -> Result<DomainStatus> {
    let (state, _reason) = dom.state().map_err(|e| match e.code() {
        Enum::Known(ErrorNumber::NoDomain) => HypervisorError::NoSuchVm { id },
        _ => libvirt_err(id, "read the state of", e),
    })?;
    let name = dom.name().map_err(|e| libvirt_err(id, "read the name of", e))?;
    let xml = dom.xml_desc(0).map_err(|e| libvirt_err(id, "read the XML of", e))?;
    let state = match state {
        Enum::Known(DomainState::Paused | DomainState::PMSuspended) => VmRunState::Paused,
        Enum::Known(DomainState::Shutdown) => VmRunState::PoweringDown,
        Enum::Known(DomainState::Shutoff | DomainState::Crashed) => VmRunState::Down,
        _ => VmRunState::Running,
    };
    let pid = std::fs::read_to_string(format!("/run/libvirt/qemu/{name}.pid")).ok().and_then(|p| p.trim().parse().ok());
    Ok(DomainStatus { id, run: dom.id().map(RunId), vnc_port: vnc_port(&xml), name, state, pid, xml })
}

/// The VNC port QEMU got (autoport), from live domain XML.
fn vnc_port(xml: &str) -> Option<u16> {
    let doc = roxmltree::Document::parse(xml).ok()?;
    doc.descendants()
        .find(|n| n.has_tag_name("graphics") && n.attribute("type") == Some("vnc"))?
        .attribute("port")?
        .parse::<i32>()
        .ok()
        .and_then(|p| u16::try_from(p).ok())
}

/// Disk targets (`vda`) and NIC host devices (`vnet0`) named in live domain XML.
fn device_targets(xml: &str) -> (Vec<String>, Vec<String>) {
    let Ok(doc) = roxmltree::Document::parse(xml) else { return (Vec::new(), Vec::new()) };
    let targets = |parent: &str| -> Vec<String> {
        doc.descendants()
            .filter(|n| n.has_tag_name(parent) && n.parent().is_some_and(|p| p.has_tag_name("devices")))
            .filter_map(|n| n.children().find(|c| c.has_tag_name("target"))?.attribute("dev").map(str::to_owned))
            .collect()
    };
    (targets("disk"), targets("interface"))
}

/// The active domain (one of oxvirt's, by its UUID) that has the file `path` as a disk.
fn active_domain_with_disk(conn: &Connect, path: &Path) -> Result<Option<(VmId, Domain)>> {
    let doms = conn
        .list_all_domains(sys::VIR_CONNECT_LIST_DOMAINS_ACTIVE)
        .map_err(|e| HypervisorError::Libvirt { action: "list domains".into(), message: e.to_string() })?;
    let wanted = path.to_string_lossy();
    for dom in doms {
        let Some(id) = dom.uuid_string().ok().and_then(|u| u.parse::<VmId>().ok()) else { continue };
        let Ok(xml) = dom.xml_desc(0) else { continue };
        if disk_sources(&xml).iter().any(|s| *s == wanted) {
            return Ok(Some((id, dom)));
        }
    }
    Ok(None)
}

/// The files of a domain XML's disks (`<devices><disk><source file=…>`).
fn disk_sources(xml: &str) -> Vec<String> {
    let Ok(doc) = roxmltree::Document::parse(xml) else { return Vec::new() };
    doc.descendants()
        .filter(|n| n.has_tag_name("disk") && n.parent().is_some_and(|p| p.has_tag_name("devices")))
        .filter_map(|n| n.children().find(|c| c.has_tag_name("source"))?.attribute("file").map(str::to_owned))
        .collect()
}

fn nonneg(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn dotted(v: u32) -> String {
    format!("{}.{}.{}", v / 1_000_000, (v / 1000) % 1000, v % 1000)
}

/// Maps libvirt's `virDomainEventType` and detail numbers to [`Lifecycle`].
fn translate(event: i32, detail: i32) -> Lifecycle {
    const STARTED: i32 = sys::VIR_DOMAIN_EVENT_STARTED as i32;
    const SUSPENDED: i32 = sys::VIR_DOMAIN_EVENT_SUSPENDED as i32;
    const RESUMED: i32 = sys::VIR_DOMAIN_EVENT_RESUMED as i32;
    const STOPPED: i32 = sys::VIR_DOMAIN_EVENT_STOPPED as i32;
    const SHUTDOWN: i32 = sys::VIR_DOMAIN_EVENT_SHUTDOWN as i32;
    const CRASHED: i32 = sys::VIR_DOMAIN_EVENT_CRASHED as i32;
    match event {
        STARTED => Lifecycle::Started,
        SUSPENDED => Lifecycle::Paused,
        RESUMED => Lifecycle::Resumed,
        SHUTDOWN => Lifecycle::ShuttingDown,
        CRASHED => Lifecycle::Stopped(DownReason::Crashed),
        STOPPED => Lifecycle::Stopped(match detail as u32 {
            sys::VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN => DownReason::Shutdown,
            sys::VIR_DOMAIN_EVENT_STOPPED_DESTROYED => DownReason::Destroyed,
            sys::VIR_DOMAIN_EVENT_STOPPED_CRASHED => DownReason::Crashed,
            sys::VIR_DOMAIN_EVENT_STOPPED_MIGRATED => DownReason::Migrated,
            sys::VIR_DOMAIN_EVENT_STOPPED_FAILED => DownReason::Failed,
            _ => DownReason::Unknown,
        }),
        _ => Lifecycle::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifecycle_numbers_translate() {
        assert_eq!(translate(sys::VIR_DOMAIN_EVENT_STARTED as i32, 0), Lifecycle::Started);
        assert_eq!(
            translate(sys::VIR_DOMAIN_EVENT_STOPPED as i32, sys::VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN as i32),
            Lifecycle::Stopped(DownReason::Shutdown)
        );
        assert_eq!(
            translate(sys::VIR_DOMAIN_EVENT_STOPPED as i32, sys::VIR_DOMAIN_EVENT_STOPPED_DESTROYED as i32),
            Lifecycle::Stopped(DownReason::Destroyed)
        );
        assert_eq!(translate(sys::VIR_DOMAIN_EVENT_DEFINED as i32, 0), Lifecycle::Other);
    }

    #[test]
    fn live_xml_yields_vnc_port_and_device_targets() {
        let xml = "<domain><devices>\
            <disk type='file'><target dev='vda' bus='virtio'/></disk>\
            <interface type='bridge'><target dev='vnet3'/></interface>\
            <graphics type='vnc' port='5901' autoport='yes'/>\
            </devices></domain>";
        assert_eq!(vnc_port(xml), Some(5901));
        assert_eq!(device_targets(xml), (vec!["vda".to_owned()], vec!["vnet3".to_owned()]));
        assert_eq!(vnc_port("<domain><devices><graphics type='vnc' port='-1'/></devices></domain>"), None);
    }

    #[test]
    fn versions_are_dotted() {
        assert_eq!(dotted(9_000_000), "9.0.0");
        assert_eq!(dotted(7_002_022), "7.2.22");
    }
}
