//! VM lifecycle on this host: the agent's application layer between the API and the modules
//! that touch the system (storage, network, hooks, hypervisor).
//!
//! Why a layer of its own: starting a VM is several steps over several modules — resolve each
//! disk to its volume file, make sure each NIC's bridge exists, render the domain XML, let
//! `before_vm_start` hooks edit it, create the transient domain, run `after_vm_start` hooks —
//! and the API handlers must stay thin. Every fact learned about a VM (from an action, a
//! libvirt event or a reconcile pass) goes into the [`VmRegistry`], whose generation-numbered
//! log is what the engine sees.
//!
//! The reconcile pass ([`VmService::reconcile`]) is the one code path that makes the registry
//! match libvirt: it runs at start (rediscovering running VMs by our metadata, so an agent
//! restart never disturbs them), periodically, and before every full-state answer.
//!
//! Delayed actions (the destroy at the end of an ACPI shutdown's grace period) belong to one
//! *run* of a VM — libvirt's domain id, new at every start — never to its UUID: they are
//! cancelled when that run ends, and act only on that run, so a VM shut down and started
//! again is never powered off by the timer of its previous run.

use crate::access::{self, AccessError, QemuAccess};
use crate::cloud_init::{self, CloudInitError};
use crate::hooks::{HookError, HookPoint, HookVm, Hooks};
use crate::hypervisor::xml::{self, RenderOptions, ResolvedDisk, XmlError};
use crate::hypervisor::{CallLimits, DomainEvent, DomainStatus, Hypervisor, HypervisorError, Lifecycle, RunId};
use crate::network::{self, NetworkError};
use crate::storage::{StorageError, StorageManager};
use oxvirt_agent_api::v1::{
    Boot, ConsoleTail, DiskSource, DomainType, DownReason, VmAction, VmActionRequest, VmRunState, VmSpec, VmState,
    VmStateList, VolumeInfo, VolumeRef,
};
use oxvirt_agent_server::registry::{Observation, VmRegistry};
use oxvirt_types::{ByteSize, ErrorKind, StorageDomainId, VmId};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How often the libvirt connection is checked (and re-opened after a libvirtd restart).
const LIBVIRT_CHECK_EVERY: Duration = Duration::from_secs(2);

/// How long `shutdown` waits for the guest by default before destroying it.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(120);

/// Errors of the VM layer: its own, plus those of the modules it drives.
#[derive(Debug, thiserror::Error)]
pub enum VmError {
    #[error("VM {id} is not known on this host")]
    NotFound { id: VmId },
    #[error("VM {name} ({id}) is already running on this host ({state:?}); stop it first")]
    AlreadyRunning { id: VmId, name: String, state: VmRunState },
    #[error("disk {disk} of VM {vm}: the file {path} does not exist")]
    MissingFile { vm: String, disk: oxvirt_types::DiskId, path: PathBuf },
    #[error("cannot read the console log of VM {id}: {source}")]
    Console { id: VmId, source: std::io::Error },
    #[error(transparent)]
    Hypervisor(#[from] HypervisorError),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Network(#[from] NetworkError),
    #[error(transparent)]
    Xml(#[from] XmlError),
    #[error("hook refused: {0}")]
    Hook(#[from] HookError),
    #[error("VM {vm} cannot start: its {what} {} {reason}", path.display())]
    BootFile { vm: String, what: &'static str, path: PathBuf, reason: String },
    #[error("VM {vm} cannot start: {source}")]
    QemuAccess { vm: String, source: AccessError },
    #[error(transparent)]
    CloudInit(#[from] CloudInitError),
}

impl VmError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            VmError::NotFound { .. } => ErrorKind::NotFound,
            VmError::AlreadyRunning { .. } => ErrorKind::Conflict,
            VmError::MissingFile { .. } | VmError::BootFile { .. } => ErrorKind::InvalidInput,
            VmError::Console { .. } => ErrorKind::Internal,
            VmError::Hypervisor(e) => e.kind(),
            VmError::Storage(e) => e.kind(),
            VmError::Network(e) => e.kind(),
            VmError::Xml(e) => e.kind(),
            VmError::Hook(e) => e.kind(),
            VmError::QemuAccess { source, .. } => source.kind(),
            VmError::CloudInit(e) => e.kind(),
        }
    }
}

type Result<T, E = VmError> = std::result::Result<T, E>;

/// What [`VmService::start`] needs besides the modules it drives.
#[derive(Debug, Clone)]
pub struct VmOptions {
    pub libvirt_uri: String,
    /// Deadlines of libvirt calls.
    pub call_limits: CallLimits,
    /// Where serial consoles are logged.
    pub console_dir: PathBuf,
    /// Where the cloud-init images of running VMs are kept (QEMU must be able to enter it).
    pub cloud_init_dir: PathBuf,
    pub domain_type: DomainType,
    /// How often the registry is reconciled with libvirt.
    pub reconcile_every: Duration,
    /// The user QEMU runs as: each VM's files are checked against it before the start.
    pub qemu: Arc<QemuAccess>,
    /// Where kernels and initrds may come from.
    pub host_files: crate::host_files::HostFiles,
}

/// A delayed action pending on one run of a VM.
#[derive(Debug)]
struct RunTimer {
    run: RunId,
    /// Tells this timer from a later one of the same run (a second shutdown request).
    serial: u64,
    task: tokio::task::AbortHandle,
}

pub struct VmService {
    hypervisor: Hypervisor,
    qemu: Arc<QemuAccess>,
    host_files: crate::host_files::HostFiles,
    storage: Arc<StorageManager>,
    hooks: Hooks,
    registry: Arc<VmRegistry>,
    console_dir: PathBuf,
    cloud_init_dir: PathBuf,
    domain_type: DomainType,
    /// Specs of the VMs this agent run started, for hooks at stop time (custom properties).
    specs: Mutex<HashMap<VmId, VmSpec>>,
    /// VMs asked to shut down over ACPI whose guest has not powered off yet: libvirt still
    /// calls them running, but they are `powering_down` until they are down.
    powering_down: Mutex<HashSet<VmId>>,
    /// The last live domain XML seen per VM: what `after_vm_destroy` hooks get when a VM went
    /// down by itself (the domain, being transient, is gone by then).
    last_domxml: Mutex<HashMap<VmId, String>>,
    /// The pending shutdown timer of each VM, tied to the run it was set for.
    timers: Mutex<HashMap<VmId, RunTimer>>,
    timer_serial: AtomicU64,
}

impl std::fmt::Debug for VmService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VmService").field("hypervisor", &self.hypervisor).finish_non_exhaustive()
    }
}

impl VmService {
    /// Connects to libvirt, rediscovers running VMs, and starts following libvirt's events
    /// and a periodic reconcile every `options.reconcile_every`.
    pub async fn start(
        options: VmOptions,
        storage: Arc<StorageManager>,
        hooks: Hooks,
        registry: Arc<VmRegistry>,
    ) -> Result<Arc<Self>> {
        let VmOptions {
            libvirt_uri,
            call_limits,
            console_dir,
            cloud_init_dir,
            domain_type,
            reconcile_every,
            qemu,
            host_files,
        } = options;
        std::fs::create_dir_all(&console_dir)
            .map_err(|source| VmError::Console { id: VmId::from_uuid(uuid::Uuid::nil()), source })?;
        let cloud_init_io = |source| CloudInitError::Dir { path: cloud_init_dir.clone(), source };
        std::fs::create_dir_all(&cloud_init_dir).map_err(cloud_init_io)?;
        access::make_traversable(&cloud_init_dir).map_err(cloud_init_io)?;
        let (hypervisor, mut events) = Hypervisor::connect(&libvirt_uri, call_limits).await?;
        let service = Arc::new(Self {
            hypervisor,
            qemu,
            host_files,
            storage,
            hooks,
            registry,
            console_dir,
            cloud_init_dir,
            domain_type,
            specs: Mutex::new(HashMap::new()),
            powering_down: Mutex::new(HashSet::new()),
            last_domxml: Mutex::new(HashMap::new()),
            timers: Mutex::new(HashMap::new()),
            timer_serial: AtomicU64::new(0),
        });
        service.reconcile().await?;
        service.cloud_init_sweep();
        let weak = Arc::downgrade(&service);
        tokio::spawn(async move {
            while let Some(event) = events.recv().await {
                let Some(service) = weak.upgrade() else { break };
                service.on_domain_event(event).await;
            }
        });
        crate::spawn_periodic(&service, LIBVIRT_CHECK_EVERY, |service: Arc<Self>| async move {
            match service.hypervisor.connection_ensure().await {
                Ok(true) => {
                    if let Err(e) = service.reconcile().await {
                        tracing::warn!(error = %e, "reconcile after reconnecting to libvirt failed");
                    }
                }
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e, "libvirt is unreachable; retrying"),
            }
        });
        crate::spawn_periodic(&service, reconcile_every, |service: Arc<Self>| async move {
            if let Err(e) = service.reconcile().await {
                tracing::warn!(error = %e, "periodic VM reconcile failed");
            }
        });
        Ok(service)
    }

    pub fn hypervisor(&self) -> &Hypervisor {
        &self.hypervisor
    }

    pub fn registry(&self) -> &Arc<VmRegistry> {
        &self.registry
    }

    pub fn domain_type(&self) -> DomainType {
        self.domain_type
    }

    /// Where VM `id`'s serial console is logged.
    pub fn console_log_path(&self, id: VmId) -> PathBuf {
        self.console_dir.join(format!("{id}.log"))
    }

    /// Creates and starts VM `spec` as a transient domain.
    pub async fn vm_create(&self, mut spec: VmSpec) -> Result<VmState> {
        if let Some(known) = self.registry.get(spec.id).filter(|v| v.state != VmRunState::Down) {
            return Err(VmError::AlreadyRunning { id: spec.id, name: known.name, state: known.state });
        }
        self.boot_files_resolve(&mut spec)?;
        let disks = self.disks_resolve(&spec).await?;
        self.files_check(&spec, &disks).await?;
        self.powering_down_lock().remove(&spec.id);
        self.timer_cancel(spec.id); // a timer of an earlier run has nothing to do with this one
        for nic in &spec.nics {
            network::bridge_ensure(&nic.network).await?;
        }
        let cloud_init_iso = match &spec.cloud_init {
            Some(data) => {
                let iso = cloud_init::iso_write(&self.cloud_init_dir, spec.id, &spec.name, data).await?;
                let qemu = self.qemu.clone();
                let (what, file) = (format!("the cloud-init image of VM {}", spec.name), iso.clone());
                let reachable = tokio::task::spawn_blocking(move || qemu.check_file(&what, &file))
                    .await
                    .map_err(|e| VmError::Hypervisor(HypervisorError::Worker(e.to_string())))
                    .and_then(|r| r.map_err(|source| VmError::QemuAccess { vm: spec.name.clone(), source }));
                if let Err(e) = reachable {
                    cloud_init::iso_remove(&self.cloud_init_dir, spec.id);
                    return Err(e);
                }
                Some(iso)
            }
            None => {
                cloud_init::iso_remove(&self.cloud_init_dir, spec.id);
                None
            }
        };
        let console_log = self.console_log_path(spec.id);
        rotate(&console_log);
        let opts = RenderOptions { domain_type: self.domain_type, console_log, cloud_init_iso };
        let created = self.vm_create_domain(&spec, &disks, &opts).await;
        if created.is_err() {
            cloud_init::iso_remove(&self.cloud_init_dir, spec.id);
        }
        created
    }

    async fn vm_create_domain(&self, spec: &VmSpec, disks: &[ResolvedDisk], opts: &RenderOptions) -> Result<VmState> {
        let domxml = xml::domain_xml(spec, disks, opts)?;
        let hook_vm = HookVm { id: spec.id, name: &spec.name, custom_properties: &spec.custom_properties };
        let before = self.hooks.run(HookPoint::BeforeVmStart, &hook_vm, &domxml).await?;
        for w in &before.warnings {
            tracing::warn!(vm = %spec.name, warning = %w, "before_vm_start hook");
        }
        let status = self.hypervisor.domain_create(spec.id, &spec.name, before.domxml).await?;
        self.observe(&status);
        match self.hooks.run(HookPoint::AfterVmStart, &hook_vm, &status.xml).await {
            Ok(after) => {
                after.warnings.iter().for_each(|w| tracing::warn!(vm = %spec.name, warning = %w, "after_vm_start hook"))
            }
            Err(e) => tracing::warn!(vm = %spec.name, error = %e, "after_vm_start hook failed; the VM runs"),
        }
        tracing::info!(vm = %spec.name, id = %spec.id, "VM started");
        self.specs_lock().insert(spec.id, spec.clone());
        self.vm_get(spec.id)
    }

    /// Grows a volume; when a running VM has it open, through that VM (the guest sees the new
    /// size at once), otherwise with qemu-img.
    pub async fn volume_resize(&self, sd: StorageDomainId, volume: VolumeRef, size: ByteSize) -> Result<VolumeInfo> {
        let hypervisor = &self.hypervisor;
        let live = async |path: &Path| match hypervisor.domain_block_resize_where_open(path, size.bytes()).await {
            Ok(Some(vm)) => {
                tracing::info!(%vm, path = %path.display(), %size, "grew a disk of a running VM");
                Ok(true)
            }
            Ok(None) => Ok(false),
            Err(e) => Err(e.to_string()),
        };
        Ok(self.storage.volume_resize(sd, volume, size, live).await?)
    }

    /// Sparsifies a volume; refused while a running VM has it open (QEMU holds it).
    pub async fn volume_sparsify(&self, sd: StorageDomainId, volume: VolumeRef) -> Result<VolumeInfo> {
        let hypervisor = &self.hypervisor;
        let open_by = async |path: &Path| hypervisor.domain_where_open(path).await.map_err(|e| e.to_string());
        Ok(self.storage.volume_sparsify(sd, volume, open_by).await?)
    }

    /// What the registry knows about VM `id`.
    pub fn vm_get(&self, id: VmId) -> Result<VmState> {
        self.registry.get(id).ok_or(VmError::NotFound { id })
    }

    /// Full state after a fresh reconcile with libvirt.
    pub async fn vm_list(&self) -> Result<VmStateList> {
        self.reconcile().await?;
        Ok(self.registry.snapshot())
    }

    /// Runs `action` on VM `id`.
    pub async fn vm_action(self: &Arc<Self>, id: VmId, action: VmAction, req: VmActionRequest) -> Result<VmState> {
        let known = self.vm_get(id)?;
        if known.state == VmRunState::Down {
            return Err(VmError::Hypervisor(HypervisorError::NoSuchVm { id }));
        }
        match action {
            VmAction::Destroy => self.vm_destroy(id, &known.name, None).await?,
            VmAction::Shutdown => {
                let run = self.hypervisor.domain_status(id).await?.and_then(|s| s.run);
                let run = run.ok_or(VmError::Hypervisor(HypervisorError::NoSuchVm { id }))?;
                self.hypervisor.domain_shutdown(id).await?;
                self.powering_down_lock().insert(id);
                let timeout = req.timeout_secs.map(Duration::from_secs).unwrap_or(DEFAULT_SHUTDOWN_TIMEOUT);
                self.shutdown_timer_set(id, run, &known.name, timeout);
            }
            VmAction::Reboot | VmAction::Reset => {
                if action == VmAction::Reboot {
                    self.hypervisor.domain_reboot(id).await?;
                } else {
                    self.hypervisor.domain_reset(id).await?;
                }
                // A pending ACPI power-off no longer applies: the guest is asked to run on.
                self.timer_cancel(id);
                self.powering_down_lock().remove(&id);
            }
            VmAction::Pause => self.hypervisor.domain_pause(id).await?,
            VmAction::Resume => self.hypervisor.domain_resume(id).await?,
        }
        if let Some(status) = self.hypervisor.domain_status(id).await? {
            self.observe(&status);
        }
        self.vm_get(id)
    }

    /// Destroys VM `id` — only its run `run`, when given (a timer's destroy: a VM started
    /// again since is left alone) — with the destroy hooks around it.
    async fn vm_destroy(&self, id: VmId, name: &str, run: Option<RunId>) -> Result<()> {
        let spec = self.specs_lock().get(&id).cloned();
        let props = spec.map(|s| s.custom_properties).unwrap_or_default();
        let hook_vm = HookVm { id, name, custom_properties: &props };
        let domxml = match self.hypervisor.domain_status(id).await? {
            Some(s) if run.is_none_or(|r| s.run == Some(r)) => s.xml,
            Some(_) => return Ok(()), // another run: not ours to destroy
            None => return Err(VmError::Hypervisor(HypervisorError::NoSuchVm { id })),
        };
        if let Err(e) = self.hooks.run(HookPoint::BeforeVmDestroy, &hook_vm, &domxml).await {
            tracing::warn!(vm = %name, error = %e, "before_vm_destroy hook failed; destroying anyway");
        }
        // This path runs the after hooks itself (below): forget the cached XML first, so that
        // the libvirt event of this very destroy does not run them a second time.
        self.last_domxml.lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
        let destroyed = match run {
            Some(run) => self.hypervisor.domain_destroy_run(id, run).await,
            None => self.hypervisor.domain_destroy(id).await,
        };
        match destroyed {
            Ok(()) | Err(HypervisorError::NoSuchVm { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        if let Some(known) = self.registry.get(id) {
            self.record_down(&known, DownReason::Destroyed);
        }
        if let Err(e) = self.hooks.run(HookPoint::AfterVmDestroy, &hook_vm, &domxml).await {
            tracing::warn!(vm = %name, error = %e, "after_vm_destroy hook failed");
        }
        Ok(())
    }

    /// After `timeout`, destroys run `run` of VM `id` if it is still up (the guest ignored the
    /// ACPI power button). Replaces an earlier timer of the VM; ends with the run.
    fn shutdown_timer_set(self: &Arc<Self>, id: VmId, run: RunId, name: &str, timeout: Duration) {
        let serial = self.timer_serial.fetch_add(1, Ordering::Relaxed);
        let service = Arc::downgrade(self);
        let name = name.to_owned();
        let mut timers = self.timers_lock();
        let task = tokio::spawn(async move {
            tokio::time::sleep(timeout).await; // the shutdown grace period itself
            let Some(service) = service.upgrade() else { return };
            // Ours no longer (cancelled, or replaced by a later request): nothing to do. Taken
            // out first, so that the destroy below, which ends the run, cannot abort us.
            {
                let mut timers = service.timers_lock();
                if timers.get(&id).is_none_or(|t| t.serial != serial) {
                    return;
                }
                timers.remove(&id);
            }
            match service.hypervisor.domain_status(id).await {
                Ok(Some(status)) if status.run == Some(run) => {
                    tracing::warn!(vm = %name, ?timeout, "guest did not power off in time; destroying it");
                    if let Err(e) = service.vm_destroy(id, &name, Some(run)).await {
                        tracing::error!(vm = %name, error = %e, "cannot destroy VM after shutdown timeout");
                    }
                }
                Ok(_) => {}
                Err(e) => tracing::error!(vm = %name, error = %e, "cannot check VM after shutdown timeout"),
            }
        });
        if let Some(old) = timers.insert(id, RunTimer { run, serial, task: task.abort_handle() }) {
            old.task.abort();
        }
    }

    /// Cancels VM `id`'s pending timer (its run ended, or a new one begins).
    fn timer_cancel(&self, id: VmId) {
        if let Some(timer) = self.timers_lock().remove(&id) {
            timer.task.abort();
        }
    }

    fn timers_lock(&self) -> std::sync::MutexGuard<'_, HashMap<VmId, RunTimer>> {
        self.timers.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The last `tail_bytes` of VM `id`'s serial console log.
    pub async fn console_tail(&self, id: VmId, tail_bytes: u64) -> Result<ConsoleTail> {
        self.vm_get(id)?;
        let path = self.console_log_path(id);
        let bytes = match tokio::fs::read(&path).await {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(source) => return Err(VmError::Console { id, source }),
        };
        let start = bytes.len().saturating_sub(usize::try_from(tail_bytes).unwrap_or(usize::MAX));
        Ok(ConsoleTail {
            vm_id: id,
            total_bytes: bytes.len() as u64,
            text: String::from_utf8_lossy(&bytes[start..]).into_owned(),
        })
    }

    /// Makes the registry match libvirt: our running domains are recorded as they are; VMs
    /// the registry believes alive but libvirt does not have are down (reason unknown).
    pub async fn reconcile(&self) -> Result<()> {
        let domains = self.hypervisor.domains().await?;
        let ours: Vec<&DomainStatus> =
            domains.iter().filter(|d| xml::vm_id_from_domain_xml(&d.xml) == Some(d.id)).collect();
        for status in &ours {
            self.observe(status);
        }
        for id in self.registry.live_ids() {
            if !ours.iter().any(|d| d.id == id)
                && let Some(known) = self.registry.get(id)
            {
                self.record_down(&known, DownReason::Unknown);
                self.after_destroy_hooks(&known).await;
            }
        }
        Ok(())
    }

    async fn on_domain_event(&self, event: DomainEvent) {
        let ours = self.registry.get(event.id).is_some();
        match event.lifecycle {
            Lifecycle::Stopped(reason) => {
                // A destroy we did ourselves was already recorded with its reason; a reconcile
                // that saw the domain gone before this event only knew "unknown".
                if let Some(known) = self.registry.get(event.id)
                    && (known.state != VmRunState::Down || known.down_reason == Some(DownReason::Unknown))
                {
                    let was_running = known.state != VmRunState::Down;
                    self.record_down(&known, reason);
                    if was_running {
                        self.after_destroy_hooks(&known).await;
                    }
                }
            }
            Lifecycle::Other => {}
            Lifecycle::Started | Lifecycle::Paused | Lifecycle::Resumed | Lifecycle::ShuttingDown => {
                match self.hypervisor.domain_status(event.id).await {
                    Ok(Some(status)) if ours || xml::vm_id_from_domain_xml(&status.xml) == Some(status.id) => {
                        self.observe(&status)
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(vm = %event.name, error = %e, "cannot read VM state after a libvirt event")
                    }
                }
            }
        }
    }

    fn observe(&self, status: &DomainStatus) {
        // A run other than the timer's (the VM went down and came back unseen): its timer ends.
        let stale = self.timers_lock().get(&status.id).is_some_and(|t| status.run != Some(t.run));
        if stale || status.state == VmRunState::Down {
            self.timer_cancel(status.id);
        }
        if status.state != VmRunState::Down {
            self.last_domxml.lock().unwrap_or_else(|p| p.into_inner()).insert(status.id, status.xml.clone());
        }
        let down_reason = (status.state == VmRunState::Down).then_some(DownReason::Unknown);
        let state = match status.state {
            VmRunState::Running if self.powering_down_lock().contains(&status.id) => VmRunState::PoweringDown,
            other => other,
        };
        self.registry.record(Observation {
            id: status.id,
            name: status.name.clone(),
            state,
            down_reason,
            pid: status.pid,
            vnc_port: status.vnc_port,
        });
    }

    async fn disks_resolve(&self, spec: &VmSpec) -> Result<Vec<ResolvedDisk>> {
        let mut out = Vec::with_capacity(spec.disks.len());
        for disk in &spec.disks {
            let (path, format) = match &disk.source {
                DiskSource::Volume { storage_domain_id, image_id, volume_id } => {
                    let vol = oxvirt_agent_api::v1::VolumeRef { image_id: *image_id, volume_id: *volume_id };
                    self.storage.volume_path(*storage_domain_id, vol).await?
                }
                DiskSource::File { path, format } => {
                    if !Path::new(path).exists() {
                        return Err(VmError::MissingFile { vm: spec.name.clone(), disk: disk.id, path: path.clone() });
                    }
                    (path.clone(), *format)
                }
            };
            out.push(ResolvedDisk { spec: disk.clone(), path, format });
        }
        Ok(out)
    }

    /// Replaces the kernel and initrd paths by their resolved paths inside a boot directory, or
    /// refuses the start naming the file and the boot directories.
    fn boot_files_resolve(&self, spec: &mut VmSpec) -> Result<()> {
        if let Boot::Kernel { kernel, initrd, .. } = &mut spec.boot {
            for (what, path) in std::iter::once(("kernel", kernel)).chain(initrd.as_mut().map(|i| ("initrd", i))) {
                *path = self.host_files.boot_file(path).map_err(|reason| VmError::BootFile {
                    vm: spec.name.clone(),
                    what,
                    path: path.clone(),
                    reason,
                })?;
            }
        }
        Ok(())
    }

    /// Refuses to start VM `spec` when QEMU (running as its own user) could not reach one of
    /// its files: the disks, the kernel, the initrd. The message names the path and the fix.
    async fn files_check(&self, spec: &VmSpec, disks: &[ResolvedDisk]) -> Result<()> {
        if self.qemu.is_root() {
            return Ok(());
        }
        let mut files: Vec<(String, PathBuf)> =
            disks.iter().map(|d| (format!("disk {} of VM {}", d.spec.id, spec.name), d.path.clone())).collect();
        if let Boot::Kernel { kernel, initrd, .. } = &spec.boot {
            files.push((format!("the kernel of VM {}", spec.name), kernel.clone()));
            if let Some(initrd) = initrd {
                files.push((format!("the initrd of VM {}", spec.name), initrd.clone()));
            }
        }
        let qemu = self.qemu.clone();
        let checked =
            tokio::task::spawn_blocking(move || files.iter().try_for_each(|(what, path)| qemu.check_file(what, path)))
                .await
                .map_err(|e| VmError::Hypervisor(HypervisorError::Worker(e.to_string())))?;
        checked.map_err(|source| VmError::QemuAccess { vm: spec.name.clone(), source })
    }

    /// Runs `after_vm_destroy` hooks for a VM that went down by itself (a guest power-off, a
    /// crash): VDSM runs them whenever a VM's process is gone, not only on destroy.
    async fn after_destroy_hooks(&self, vm: &VmState) {
        let domxml = self.last_domxml.lock().unwrap_or_else(|p| p.into_inner()).remove(&vm.id);
        let Some(domxml) = domxml else { return };
        let props = self.specs_lock().get(&vm.id).map(|s| s.custom_properties.clone()).unwrap_or_default();
        let hook_vm = HookVm { id: vm.id, name: &vm.name, custom_properties: &props };
        if let Err(e) = self.hooks.run(HookPoint::AfterVmDestroy, &hook_vm, &domxml).await {
            tracing::warn!(vm = %vm.name, error = %e, "after_vm_destroy hook failed");
        }
    }

    fn powering_down_lock(&self) -> std::sync::MutexGuard<'_, HashSet<VmId>> {
        self.powering_down.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records that VM `id` is down (and so no longer powering down).
    fn record_down(&self, known: &VmState, reason: DownReason) {
        cloud_init::iso_remove(&self.cloud_init_dir, known.id);
        self.powering_down_lock().remove(&known.id);
        self.timer_cancel(known.id);
        self.registry.record(Observation {
            state: VmRunState::Down,
            down_reason: Some(reason),
            pid: None,
            vnc_port: None,
            ..observation_of(known)
        });
    }

    /// Removes the cloud-init images of VMs that are not running (left by an agent that
    /// stopped while they ran and went down meanwhile).
    fn cloud_init_sweep(&self) {
        let Ok(entries) = std::fs::read_dir(&self.cloud_init_dir) else { return };
        let live = self.registry.live_ids();
        for entry in entries.flatten() {
            let name = entry.file_name();
            let id = name.to_str().and_then(|n| n.strip_suffix(".iso")).and_then(|n| n.parse::<VmId>().ok());
            match id {
                Some(id) if !live.contains(&id) => cloud_init::iso_remove(&self.cloud_init_dir, id),
                _ => {}
            }
        }
    }

    fn specs_lock(&self) -> std::sync::MutexGuard<'_, HashMap<VmId, VmSpec>> {
        self.specs.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn observation_of(v: &VmState) -> Observation {
    Observation {
        id: v.id,
        name: v.name.clone(),
        state: v.state,
        down_reason: v.down_reason,
        pid: v.pid,
        vnc_port: v.vnc_port,
    }
}

/// Keeps the previous run's console log as `<log>.1`, so a new boot starts a fresh file.
fn rotate(log: &Path) {
    if log.exists() {
        let mut old = log.as_os_str().to_owned();
        old.push(".1");
        if let Err(e) = std::fs::rename(log, &old) {
            tracing::warn!(log = %log.display(), error = %e, "cannot rotate console log; appending");
        }
    }
}
