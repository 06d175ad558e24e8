//! **SIMULATION.** One simulated host: its identity (real, from `oxvirt_agent_server::tls`), its VMs
//! (made up: a spec and a few instants each), the storage domains attached to it, and its
//! server, which [`SimHost::freeze`] stops and [`SimHost::thaw`] starts again.

use crate::storage::SharedStorage;
use crate::{HostParams, SIMULATED, SimError};
use oxvirt_agent_api::v1::{
    Capabilities, ConsoleTail, CpuInfo, DiskCounters, DiskInterface, DomainType, DownReason, HostNic, HostStats,
    NicCounters, StorageDomainConnection, StorageDomainCreate, StorageDomainInfo, Virtualization, VmAction,
    VmActionRequest, VmRunState, VmSpec, VmState, VmStateList, VmStats,
};
use oxvirt_agent_server::registry::{Observation, VmRegistry};
use oxvirt_agent_server::tls::AgentIdentity;
use oxvirt_types::{ByteSize, HostId, StorageDomainId, VmId};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Recent events a reconnecting engine can resume from, per host (the real agent keeps
/// 10,000; a thousand hosts keep less each).
const EVENT_LOG_CAPACITY: usize = 2_000;
/// The real agent's default ACPI grace period before it destroys the guest.
const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(120);
/// Host memory the simulated "host OS" uses.
const HOST_OS_MEMORY: u64 = ByteSize::GIB;
/// Seconds between the synthetic console's `OXVIRT-TICK` lines (as the test guest).
const TICK_SECS: u64 = 2;

/// One simulated host.
#[derive(Debug)]
pub struct SimHost {
    pub index: usize,
    address: IpAddr,
    port: AtomicU16,
    host_id: HostId,
    hostname: String,
    identity: Arc<AgentIdentity>,
    registry: Arc<VmRegistry>,
    vms: Mutex<HashMap<VmId, SimVm>>,
    attached: Mutex<BTreeSet<StorageDomainId>>,
    storage: Arc<SharedStorage>,
    params: Arc<HostParams>,
    /// When this run of the host began (host counters grow from here).
    started: Instant,
    server: Mutex<Option<Server>>,
    /// While frozen in [`FreezeMode::Hang`]: a listener that never accepts.
    hanging: Mutex<Option<tokio::net::TcpListener>>,
}

/// How a frozen host fails its callers (FAULT INJECTION).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FreezeMode {
    /// Nothing listens: connections are refused at once (a stopped agent).
    #[default]
    Refuse,
    /// The port stays bound but nothing is accepted: connections complete in the kernel's
    /// backlog, then the TLS handshake never answers (a hung host); callers hit timeouts.
    Hang,
}

#[derive(Debug)]
struct Server {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// What the simulation keeps of a VM.
#[derive(Debug)]
struct SimVm {
    spec: VmSpec,
    /// Bumped by every create, so a timer of an earlier run leaves a new run alone.
    incarnation: u64,
    /// `None` while "QEMU starts".
    booted: Option<Instant>,
    boots: u32,
    /// When the ACPI power button was pressed (this boot).
    acpi: Option<Instant>,
    stopped: Option<Instant>,
    /// The pending power-off of this run (after an ACPI shutdown), cancelled when the run
    /// ends; it also checks `incarnation`, for the instant between the two.
    timer: Option<tokio::task::AbortHandle>,
}

impl SimVm {
    fn timer_cancel(&mut self) {
        if let Some(timer) = self.timer.take() {
            timer.abort();
        }
    }
}

impl SimHost {
    /// Loads (or creates) host `index`'s identity in `dir`. Blocking: key generation, fsync.
    pub fn load(
        index: usize,
        address: IpAddr,
        port: u16,
        dir: &Path,
        secret: Option<String>,
        params: Arc<HostParams>,
        storage: Arc<SharedStorage>,
    ) -> Result<Arc<Self>, SimError> {
        std::fs::create_dir_all(dir).map_err(|source| SimError::StateDir { path: dir.to_owned(), source })?;
        let id_file = dir.join("host-id");
        let host_id = match std::fs::read_to_string(&id_file).ok().and_then(|t| t.trim().parse::<HostId>().ok()) {
            Some(id) => id,
            None => {
                let id = HostId::new_random();
                std::fs::write(&id_file, format!("{id}\n"))
                    .map_err(|source| SimError::StateDir { path: id_file.clone(), source })?;
                id
            }
        };
        let identity = Arc::new(AgentIdentity::load_or_init(dir, host_id, secret)?);
        Ok(Arc::new(Self {
            index,
            address,
            port: AtomicU16::new(port),
            host_id,
            hostname: format!("oxvirt-sim-{index:04}"),
            identity,
            registry: Arc::new(VmRegistry::new(EVENT_LOG_CAPACITY)),
            vms: Mutex::new(HashMap::new()),
            attached: Mutex::new(BTreeSet::new()),
            storage,
            params,
            started: Instant::now(),
            server: Mutex::new(None),
            hanging: Mutex::new(None),
        }))
    }

    pub fn address(&self) -> IpAddr {
        self.address
    }

    /// The port it listens on (the one the OS chose, when configured with 0).
    pub fn port(&self) -> u16 {
        self.port.load(Ordering::Relaxed)
    }

    pub fn host_id(&self) -> HostId {
        self.host_id
    }

    pub fn hostname(&self) -> &str {
        &self.hostname
    }

    pub fn identity(&self) -> &Arc<AgentIdentity> {
        &self.identity
    }

    pub fn registry(&self) -> &Arc<VmRegistry> {
        &self.registry
    }

    pub fn params(&self) -> &HostParams {
        &self.params
    }

    pub fn is_frozen(&self) -> bool {
        self.server_lock().is_none()
    }

    /// Whether VM `id` has a pending timer (a power-off after an ACPI shutdown).
    pub fn vm_has_timer(&self, id: VmId) -> bool {
        self.vms_lock().get(&id).is_some_and(|v| v.timer.is_some())
    }

    /// VMs not down (launching ones included).
    pub fn live_vm_count(&self) -> usize {
        self.vms_lock().values().filter(|v| v.stopped.is_none()).count()
    }

    /// The spec of VM `id`'s last start on this host (what the engine sent).
    pub fn vm_spec(&self, id: VmId) -> Option<VmSpec> {
        self.vms_lock().get(&id).map(|v| v.spec.clone())
    }

    fn vms_lock(&self) -> std::sync::MutexGuard<'_, HashMap<VmId, SimVm>> {
        self.vms.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn server_lock(&self) -> std::sync::MutexGuard<'_, Option<Server>> {
        self.server.lock().unwrap_or_else(|p| p.into_inner())
    }

    // ---- server: serve, freeze, thaw ----------------------------------------------------

    /// Starts serving the agent API (no-op when serving).
    pub async fn serve_start(self: &Arc<Self>) -> Result<(), SimError> {
        if !self.is_frozen() {
            return Ok(());
        }
        let addr = SocketAddr::new(self.address, self.port());
        let listener = tokio::net::TcpListener::bind(addr).await.map_err(|source| SimError::Listen {
            index: self.index,
            addr,
            source,
        })?;
        if let Ok(local) = listener.local_addr() {
            self.port.store(local.port(), Ordering::Relaxed);
        }
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(oxvirt_agent_server::tls::serve(
            listener,
            self.identity.clone(),
            crate::api::router(self.clone()),
            async move {
                let _ = stopped.await;
            },
        ));
        let mut slot = self.server_lock();
        if slot.is_some() {
            // Another call started serving meanwhile; ours could not have bound the same port.
            let _ = stop.send(());
            return Ok(());
        }
        *slot = Some(Server { stop, task });
        Ok(())
    }

    /// FAULT INJECTION: stops answering. Open connections, event streams included, are
    /// dropped; new ones are refused or hang, by `mode`. VMs keep "running".
    pub async fn freeze(&self, mode: FreezeMode) -> Result<(), SimError> {
        self.stop().await;
        let mut hanging = self.hanging_lock();
        match mode {
            FreezeMode::Refuse => *hanging = None,
            FreezeMode::Hang if hanging.is_none() => {
                let addr = SocketAddr::new(self.address, self.port());
                // SO_REUSEADDR: connections just dropped linger in TIME_WAIT on this port.
                let socket =
                    if addr.is_ipv4() { tokio::net::TcpSocket::new_v4() } else { tokio::net::TcpSocket::new_v6() };
                let listener = socket
                    .and_then(|s| s.set_reuseaddr(true).map(|()| s))
                    .and_then(|s| s.bind(addr).map(|()| s))
                    .and_then(|s| s.listen(128))
                    .map_err(|source| SimError::Listen { index: self.index, addr, source })?;
                *hanging = Some(listener);
            }
            FreezeMode::Hang => {}
        }
        tracing::info!(host = self.index, ?mode, "{SIMULATED}: host frozen (fault injection)");
        Ok(())
    }

    fn hanging_lock(&self) -> std::sync::MutexGuard<'_, Option<tokio::net::TcpListener>> {
        self.hanging.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Stops serving and waits until the listener is closed; whether it was serving.
    pub(crate) async fn stop(&self) -> bool {
        let server = self.server_lock().take();
        match server {
            Some(server) => {
                let _ = server.stop.send(());
                let _ = server.task.await;
                true
            }
            None => false,
        }
    }

    /// FAULT INJECTION: answers again, on the same address and port.
    pub async fn thaw(self: &Arc<Self>) -> Result<(), SimError> {
        drop(self.hanging_lock().take());
        self.serve_start().await?;
        tracing::info!(host = self.index, "{SIMULATED}: host thawed (fault injection)");
        Ok(())
    }

    /// Stops the server without waiting (for `Drop`).
    pub(crate) fn stop_now(&self) {
        drop(self.hanging_lock().take());
        if let Some(server) = self.server_lock().take() {
            let _ = server.stop.send(());
            server.task.abort();
        }
    }

    // ---- capabilities and statistics ------------------------------------------------------

    pub fn capabilities(&self) -> Capabilities {
        Capabilities {
            host_id: self.host_id,
            hostname: self.hostname.clone(),
            cpu: CpuInfo {
                model: format!("oxvirt-sim virtual CPU ({SIMULATED})"),
                flags: ["vmx", "sse4_2", "avx2", "aes"].map(str::to_owned).to_vec(),
                sockets: 1,
                cores_per_socket: self.params.cpus.max(1),
                threads_per_core: 1,
                online_cpus: self.params.cpus.max(1),
            },
            memory: self.params.memory,
            virtualization: Virtualization {
                domain_type: DomainType::Kvm,
                kvm_unusable_reason: Some(format!(
                    "{SIMULATED}: no KVM and no QEMU; VMs are pretended and reported as kvm guests"
                )),
            },
            libvirt_version: format!("{SIMULATED} {}", env!("CARGO_PKG_VERSION")),
            qemu_version: format!("{SIMULATED} {}", env!("CARGO_PKG_VERSION")),
            nics: vec![HostNic {
                name: "sim0".to_owned(),
                mac: Some(self.mac(0xfe, 0)),
                addresses: vec![self.address.to_string()],
                up: true,
                bridge: None,
            }],
            bridges: Vec::new(),
            hooks: BTreeMap::new(),
            storage_domains: self.attached_lock().iter().copied().collect(),
        }
    }

    /// The last sampling time: now rounded down to the stats interval, as (wall ms, instant).
    fn sample_time(&self) -> (u64, Instant) {
        let interval = u64::try_from(self.params.stats_interval.as_millis()).unwrap_or(u64::MAX).max(1);
        let now_ms = oxvirt_agent_server::registry::now_ms();
        let behind = now_ms % interval;
        let now = Instant::now();
        (now_ms - behind, now.checked_sub(Duration::from_millis(behind)).unwrap_or(now))
    }

    pub fn host_stats(&self) -> HostStats {
        let (sampled_at_ms, at) = self.sample_time();
        let (mut vcpus, mut memory) = (0u64, HOST_OS_MEMORY);
        for vm in self.vms_lock().values().filter(|v| v.stopped.is_none()) {
            vcpus += u64::from(vm.spec.cpu.vcpus());
            memory += vm.spec.memory.bytes();
        }
        let total = self.params.memory.bytes();
        let used = memory.min(total);
        let secs = at.saturating_duration_since(self.started).as_secs();
        HostStats {
            sampled_at_ms,
            // Each simulated vCPU keeps a tenth of a host CPU busy.
            cpu_usage_percent: (1.0 + vcpus as f64 * 10.0 / f64::from(self.params.cpus.max(1))).min(100.0),
            memory_total: ByteSize(total),
            memory_used: ByteSize(used),
            memory_free: ByteSize(total - used),
            nics: vec![counters("sim0", secs, 1_000_000)],
        }
    }

    pub fn vm_stats(&self, id: VmId) -> Result<VmStats, SimError> {
        let (sampled_at_ms, at) = self.sample_time();
        let vms = self.vms_lock();
        let vm = vms.get(&id).filter(|v| v.stopped.is_none()).ok_or_else(|| not_running(id))?;
        Ok(vm_stats(vm, sampled_at_ms, at))
    }

    pub fn vm_stats_all(&self) -> Vec<VmStats> {
        let (sampled_at_ms, at) = self.sample_time();
        self.vms_lock()
            .values()
            .filter(|v| v.stopped.is_none() && v.booted.is_some())
            .map(|v| vm_stats(v, sampled_at_ms, at))
            .collect()
    }

    fn mac(&self, tag: u8, n: u8) -> String {
        let i = self.index;
        format!("52:54:{tag:02x}:{:02x}:{:02x}:{n:02x}", (i >> 8) & 0xff, i & 0xff)
    }

    // ---- VMs --------------------------------------------------------------------------------

    pub fn vm_list(&self) -> VmStateList {
        self.registry.snapshot()
    }

    pub fn vm_get(&self, id: VmId) -> Result<VmState, SimError> {
        self.registry
            .get(id)
            .ok_or_else(|| SimError::NotFound(format!("VM {id} is not known to this host ({SIMULATED})")))
    }

    /// "Starts QEMU": returns after the launch delay with the VM running, like the real agent
    /// returns once QEMU runs.
    pub async fn vm_create(&self, spec: VmSpec) -> Result<VmState, SimError> {
        if spec.name.trim().is_empty() {
            return Err(SimError::InvalidInput(format!("VM {}: the name is empty", spec.id)));
        }
        if spec.cpu.vcpus() == 0 || spec.memory.bytes() == 0 {
            return Err(SimError::InvalidInput(format!("VM {}: give at least one vCPU and some memory", spec.name)));
        }
        let (id, name) = (spec.id, spec.name.clone());
        let incarnation = {
            let mut vms = self.vms_lock();
            let incarnation = match vms.get_mut(&id) {
                Some(v) if v.stopped.is_none() => {
                    return Err(SimError::Conflict(format!(
                        "VM {} ({id}) already runs on this host: destroy it first",
                        v.spec.name
                    )));
                }
                Some(v) => {
                    v.timer_cancel();
                    v.incarnation + 1
                }
                None => 1,
            };
            let vm = SimVm { spec, incarnation, booted: None, boots: 0, acpi: None, stopped: None, timer: None };
            vms.insert(id, vm);
            incarnation
        };
        tokio::time::sleep(self.params.launch_delay).await;
        {
            let mut vms = self.vms_lock();
            match vms.get_mut(&id) {
                Some(v) if v.incarnation == incarnation && v.stopped.is_none() => {
                    v.booted = Some(Instant::now());
                    v.boots = 1;
                }
                _ => return Err(SimError::Conflict(format!("VM {name} was stopped while it was starting"))),
            }
        }
        self.record(id, &name, VmRunState::Running, None);
        self.vm_get(id)
    }

    pub async fn vm_action(
        self: &Arc<Self>,
        id: VmId,
        action: VmAction,
        req: VmActionRequest,
    ) -> Result<VmState, SimError> {
        let known = self.vm_get(id)?;
        if known.state == VmRunState::Down {
            return Err(not_running(id));
        }
        let name = known.name.clone();
        match action {
            VmAction::Destroy => self.vm_down(id, &name, DownReason::Destroyed, None),
            VmAction::Shutdown => {
                let timeout = req.timeout_secs.map(Duration::from_secs).unwrap_or(DEFAULT_SHUTDOWN_TIMEOUT);
                let delay = self.params.shutdown_delay;
                // The guest powers off after the delay, or the timeout destroys it — like the
                // real agent, whose timer destroys a guest that ignored the power button.
                let (wait, reason) =
                    if delay <= timeout { (delay, DownReason::Shutdown) } else { (timeout, DownReason::Destroyed) };
                let incarnation = {
                    let mut vms = self.vms_lock();
                    let vm = vms.get_mut(&id).ok_or_else(|| not_running(id))?;
                    vm.acpi.get_or_insert_with(Instant::now);
                    vm.incarnation
                };
                self.record(id, &name, VmRunState::PoweringDown, None);
                let mut vms = self.vms_lock();
                let pending = |v: &&mut SimVm| v.incarnation == incarnation && v.stopped.is_none() && v.timer.is_none();
                // A second press while the first one's timer runs changes nothing.
                if let Some(vm) = vms.get_mut(&id).filter(pending) {
                    let host = Arc::downgrade(self);
                    let name = name.clone();
                    // The only timer of a VM, and only while it powers down; it belongs to
                    // this run (the run's end cancels it).
                    let task = tokio::spawn(async move {
                        tokio::time::sleep(wait).await;
                        if let Some(host) = host.upgrade() {
                            host.vm_down(id, &name, reason, Some(incarnation));
                        }
                    });
                    vm.timer = Some(task.abort_handle());
                }
            }
            VmAction::Reboot | VmAction::Reset => {
                if let Some(vm) = self.vms_lock().get_mut(&id) {
                    vm.booted = Some(Instant::now());
                    vm.boots += 1;
                    vm.acpi = None;
                    vm.incarnation += 1; // a pending ACPI power-off no longer applies
                    vm.timer_cancel();
                }
                self.record(id, &name, VmRunState::Running, None);
            }
            VmAction::Pause => {
                self.record(id, &name, VmRunState::Paused, None);
            }
            VmAction::Resume => {
                if known.state != VmRunState::Paused {
                    return Err(SimError::Conflict(format!("VM {name} is not paused: only a paused VM resumes")));
                }
                self.record(id, &name, VmRunState::Running, None);
            }
        }
        self.vm_get(id)
    }

    /// FAULT INJECTION: "QEMU crashed": the VM goes down with reason `crashed`.
    pub fn vm_crash(&self, id: VmId) -> Result<VmState, SimError> {
        let known = self.vm_get(id)?;
        if known.state == VmRunState::Down {
            return Err(not_running(id));
        }
        self.vm_down(id, &known.name, DownReason::Crashed, None);
        tracing::info!(host = self.index, vm = %id, "{SIMULATED}: VM crashed (fault injection)");
        self.vm_get(id)
    }

    /// Records VM `id` down, unless `incarnation` is given and no longer current (a timer of
    /// an earlier run) or the VM is down already.
    fn vm_down(&self, id: VmId, name: &str, reason: DownReason, incarnation: Option<u64>) {
        {
            let mut vms = self.vms_lock();
            let Some(vm) = vms.get_mut(&id) else { return };
            if incarnation.is_some_and(|i| i != vm.incarnation) || vm.stopped.is_some() {
                return;
            }
            vm.stopped = Some(Instant::now());
            if incarnation.is_none() {
                vm.timer_cancel(); // the run ended otherwise: its timer goes with it
            } else {
                vm.timer = None; // this is the timer, finishing
            }
        }
        self.record(id, name, VmRunState::Down, Some(reason));
    }

    fn record(&self, id: VmId, name: &str, state: VmRunState, down_reason: Option<DownReason>) {
        self.registry.record(Observation { id, name: name.to_owned(), state, down_reason, pid: None, vnc_port: None });
    }

    /// A synthetic serial console with the test guest's marker lines, made when asked.
    pub fn console_tail(&self, id: VmId, tail_bytes: u64) -> Result<ConsoleTail, SimError> {
        self.vm_get(id)?;
        let vms = self.vms_lock();
        let vm = vms.get(&id).ok_or_else(|| not_running(id))?;
        let (total, text) = console_tail_text(vm, usize::try_from(tail_bytes).unwrap_or(usize::MAX));
        Ok(ConsoleTail { vm_id: id, total_bytes: total as u64, text })
    }

    // ---- storage ----------------------------------------------------------------------------

    fn attached_lock(&self) -> std::sync::MutexGuard<'_, BTreeSet<StorageDomainId>> {
        self.attached.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn check_attached(&self, sd: StorageDomainId) -> Result<(), SimError> {
        if self.attached_lock().contains(&sd) {
            Ok(())
        } else {
            Err(SimError::NotFound(format!("storage domain {sd} is not attached to this host: attach it first")))
        }
    }

    pub fn storage(&self) -> &SharedStorage {
        &self.storage
    }

    pub fn domain_list(&self) -> Vec<StorageDomainInfo> {
        let ids: Vec<StorageDomainId> = self.attached_lock().iter().copied().collect();
        ids.into_iter().filter_map(|sd| self.storage.domain_info(sd).ok()).collect()
    }

    pub fn domain_create(&self, req: &StorageDomainCreate) -> Result<StorageDomainInfo, SimError> {
        let info = self.storage.domain_create(req)?;
        self.attached_lock().insert(req.id);
        Ok(info)
    }

    pub fn domain_attach(
        &self,
        sd: StorageDomainId,
        _connection: &StorageDomainConnection,
    ) -> Result<StorageDomainInfo, SimError> {
        self.storage.domain_ensure(sd);
        self.attached_lock().insert(sd);
        self.storage.domain_info(sd)
    }

    pub fn domain_detach(&self, sd: StorageDomainId) -> Result<(), SimError> {
        self.check_attached(sd)?;
        self.attached_lock().remove(&sd);
        Ok(())
    }

    pub fn domain_info(&self, sd: StorageDomainId) -> Result<StorageDomainInfo, SimError> {
        self.check_attached(sd)?;
        self.storage.domain_info(sd)
    }

    pub fn domain_check(&self, sd: StorageDomainId) -> Result<&SharedStorage, SimError> {
        self.check_attached(sd)?;
        Ok(&self.storage)
    }
}

fn not_running(id: VmId) -> SimError {
    SimError::NotFound(format!("VM {id} is not running on this host ({SIMULATED}): start it first"))
}

/// Counters growing at `bytes_per_sec` (rx) and half of it (tx), 1,000-byte packets.
fn counters(name: &str, secs: u64, bytes_per_sec: u64) -> NicCounters {
    let rx = secs * bytes_per_sec;
    let tx = rx / 2;
    NicCounters { name: name.to_owned(), rx_bytes: rx, tx_bytes: tx, rx_packets: rx / 1000, tx_packets: tx / 1000 }
}

fn disk_targets(spec: &VmSpec) -> Vec<String> {
    let (mut vd, mut sd) = (0u8, 0u8);
    spec.disks
        .iter()
        .map(|d| {
            let (prefix, n) = match d.interface {
                DiskInterface::Virtio => ("vd", &mut vd),
                DiskInterface::VirtioScsi | DiskInterface::Ide => ("sd", &mut sd),
            };
            let letter = char::from(b'a' + (*n % 26));
            *n += 1;
            format!("{prefix}{letter}")
        })
        .collect()
}

fn vm_stats(vm: &SimVm, sampled_at_ms: u64, at: Instant) -> VmStats {
    let up = vm.booted.map_or(Duration::ZERO, |b| at.saturating_duration_since(b));
    let vcpus = u64::from(vm.spec.cpu.vcpus());
    let secs = up.as_secs();
    VmStats {
        vm_id: vm.spec.id,
        sampled_at_ms,
        // A tenth of each vCPU busy.
        cpu_time_ns: u64::try_from(up.as_nanos()).unwrap_or(u64::MAX) / 10 * vcpus,
        cpu_usage_percent: 10.0 * vcpus as f64,
        memory: vm.spec.memory,
        disks: disk_targets(&vm.spec)
            .into_iter()
            .map(|target| DiskCounters {
                target,
                read_bytes: secs * 64 * 1024,
                write_bytes: secs * 32 * 1024,
                read_ops: secs * 16,
                write_ops: secs * 8,
            })
            .collect(),
        nics: (0..vm.spec.nics.len()).map(|i| counters(&format!("vnet{i}"), secs, 10_000)).collect(),
    }
}

/// The test guest's console lines (guest/README.md) for the current boot of `vm`, as
/// (total length, last `tail` bytes). The `OXVIRT-TICK` lines (one per 2 s of uptime) are
/// counted, not written, except those in the tail: a VM up for a month costs no more.
fn console_tail_text(vm: &SimVm, tail: usize) -> (usize, String) {
    use std::fmt::Write as _;
    let mut head = format!("[{SIMULATED}: no guest runs; these lines are synthetic]\n");
    let Some(booted) = vm.booted else { return tail_of(head, tail) };
    if vm.boots > 1 {
        let _ = writeln!(head, "[{SIMULATED}: boot {} of this VM; earlier boots elided]", vm.boots);
    }
    let targets = disk_targets(&vm.spec);
    for (target, disk) in targets.iter().zip(&vm.spec.disks) {
        let _ = writeln!(head, "OXVIRT-DISK name={target} size_bytes=0 serial={}", disk.id);
    }
    let nics: Vec<String> = (0..vm.spec.nics.len()).map(|i| format!("eth{i}")).collect();
    for (name, nic) in nics.iter().zip(&vm.spec.nics) {
        let _ = writeln!(head, "OXVIRT-NIC name={name} mac={}", nic.mac);
    }
    let list = |v: &[String]| if v.is_empty() { "-".to_owned() } else { v.join(",") };
    let _ = writeln!(head, "OXVIRT-GUEST-UP disks={} nics={} uptime=0.50", list(&targets), list(&nics));
    let end = vm.stopped.or(vm.acpi).unwrap_or_else(Instant::now);
    let ticks = end.saturating_duration_since(booted).as_secs() / TICK_SECS;
    let tick = |n: u64| format!("OXVIRT-TICK {n} uptime={}.50\n", n * TICK_SECS);
    // `tick(n).len()` without formatting: the fixed text plus the digits of n and 2n.
    let digits = |x: u64| x.checked_ilog10().map_or(1, |d| d as usize + 1);
    let tick_len = |n: u64| "OXVIRT-TICK  uptime=.50\n".len() + digits(n) + digits(n * TICK_SECS);
    let tail_text = if vm.acpi.is_some() { "OXVIRT-GUEST-POWEROFF\n" } else { "" };
    let total = head.len() + (1..=ticks).map(tick_len).sum::<usize>() + tail_text.len();
    // The ticks the tail reaches into, newest last.
    let (mut first, mut covered) = (ticks + 1, tail_text.len());
    while first > 1 && covered < tail {
        first -= 1;
        covered += tick_len(first);
    }
    let mut text = if covered < tail { head } else { String::new() };
    (first..=ticks).for_each(|n| text.push_str(&tick(n)));
    text.push_str(tail_text);
    (total, tail_of(text, tail).1)
}

/// `(text.len(), the last `tail` bytes of text)`, cut at a character boundary.
fn tail_of(text: String, tail: usize) -> (usize, String) {
    let start = text.len().saturating_sub(tail);
    let start = (start..=text.len()).find(|i| text.is_char_boundary(*i)).unwrap_or(text.len());
    (text.len(), text[start..].to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use oxvirt_agent_api::v1::{Boot, CpuTopology};

    fn vm(up: Duration, acpi: bool) -> SimVm {
        let booted = Instant::now().checked_sub(up).expect("instant");
        SimVm {
            spec: VmSpec {
                id: VmId::new_random(),
                name: "c".into(),
                cpu: CpuTopology { sockets: 1, cores: 1, threads: 1 },
                memory: ByteSize::from_mib(64),
                machine: None,
                boot: Boot::Devices { order: vec![] },
                disks: vec![],
                nics: vec![],
                graphics: None,
                custom_properties: Default::default(),
                serial: None,
                cloud_init: None,
                serial_console: true,
            },
            incarnation: 1,
            booted: Some(booted),
            boots: 1,
            acpi: acpi.then(Instant::now),
            stopped: None,
            timer: None,
        }
    }

    #[test]
    fn console_tail_is_the_end_of_the_whole_log_and_counts_every_line() {
        let v = vm(Duration::from_secs(21), true);
        let (total, whole) = console_tail_text(&v, usize::MAX);
        assert_eq!(total, whole.len());
        assert!(whole.contains("OXVIRT-GUEST-UP disks=- nics=- uptime=0.50\nOXVIRT-TICK 1 uptime=2.50\n"), "{whole}");
        assert!(whole.ends_with("OXVIRT-TICK 10 uptime=20.50\nOXVIRT-GUEST-POWEROFF\n"), "{whole}");
        for tail in [0, 1, 10, 22, 23, 50, 200, total - 1, total] {
            let (t, text) = console_tail_text(&v, tail);
            assert_eq!(t, total);
            assert_eq!(text, whole[total - tail..], "tail {tail}");
        }
    }

    #[test]
    fn a_long_running_vm_console_tail_stays_small() {
        let v = vm(Duration::from_secs(30 * 24 * 3600), false);
        let (total, text) = console_tail_text(&v, 100);
        assert!(total > 10_000_000, "a month of ticks is counted: {total}");
        assert_eq!(text.len(), 100);
        assert!(text.ends_with(".50\n"), "{text}");
    }
}
