//! Virtual machines: their configuration (add, update, remove), their devices (disk
//! attachments, NICs) and their power actions (start, stop, shutdown, reboot).
//!
//! Who writes a VM's status: the administrator's actions here move it into the transitional
//! statuses they cause (`wait_for_launch` when a start is sent, `powering_down` when a
//! shutdown is asked); everything after that comes from what the host reports, through one
//! function, [`App::vm_observed`] (the host monitor), so that a state seen by the agent is
//! interpreted the same way whether it arrives as a reply, an event or a full reconcile.
//!
//! Starting a VM is a durable job (`RunVm`): choosing a host, recording the launch
//! (`wait_for_launch` on that host) *before* asking the agent, then confirming. After an
//! engine crash, [`App::vm_start_recover`] asks the host whether the VM exists: if it does the
//! start is completed (the VM is `up`, never started twice), if not it is rolled back (`down`).
//! Removing a VM with its disks is a job too (`RemoveVm`): the disks to delete are written
//! down before the VM row goes, so a crash cannot leave them behind unnoticed.

use super::cloud_init::Initialization;
use super::saga::{JobOptions, Outcome, SagaCtx, SagaDef, StepDef, Undo, WaitFor, end_fn, output, step_fn};
use super::scheduler::{Passed, Refusal};
use super::{App, AppError, ListQuery, Result, VmPolicy};
use super::{Named, name_check};
use crate::auth::Principal;
use oxvirt_agent_api::v1;
use oxvirt_engine_db::model::{
    AuditCode, BootDevice, CpuTopology, DiskInterface, DiskStatus, DisplayType, EventRefs, HighAvailability, Host,
    NicInterface, Placement, PlacementAffinity, SerialNumber, SerialNumberPolicy, Severity, StepType, Template,
    Timestamp, Vm, VmConfig, VmRuntime, VmType,
};
use oxvirt_engine_db::store::{HostFilter, StoreError, VmFilter};
use oxvirt_types::{ByteSize, ClusterId, DiskId, HostId, HostStatus, TemplateId, VmId, VmStatus};
use std::collections::BTreeMap;

/// oVirt's built-in `SuperUser` role.
pub const SUPER_USER_ROLE_ID: &str = "00000000-0000-0000-0000-000000000001";

/// A permission as the API shows it: a role granted to a user.
#[derive(Debug, Clone)]
pub struct PermissionView {
    pub id: uuid::Uuid,
    pub role_id: &'static str,
    pub user_id: oxvirt_types::UserId,
}

/// Seconds a guest gets to power off after an ACPI shutdown before it is destroyed (oVirt
/// waits a couple of minutes too).
pub const SHUTDOWN_TIMEOUT_SECS: u64 = 120;

/// Configuration fields a request may set; `None` keeps the template's (on add) or the
/// VM's (on update) value.
#[derive(Debug, Clone, Default)]
pub struct VmConfigPatch {
    pub memory: Option<ByteSize>,
    pub memory_guaranteed: Option<ByteSize>,
    pub memory_max: Option<ByteSize>,
    pub cpu: Option<CpuTopology>,
    pub os_type: Option<String>,
    pub vm_type: Option<VmType>,
    pub machine: Option<String>,
    pub boot_devices: Option<Vec<BootDevice>>,
    /// `Some("")` clears the kernel (and with it direct kernel boot).
    pub kernel: Option<String>,
    pub initrd: Option<String>,
    pub cmdline: Option<String>,
    pub display: Option<DisplayType>,
    pub high_availability: Option<HighAvailability>,
    pub custom_properties: Option<BTreeMap<String, String>>,
    /// `Some(None)` returns to the default policy (oVirt's `serial_number.policy=none`).
    pub serial_number: Option<Option<SerialNumber>>,
    pub console_enabled: Option<bool>,
}

/// What a start changes for that run only (oVirt's "run once"); nothing of it is stored on
/// the VM.
#[derive(Debug, Clone, Default)]
pub struct RunOnce {
    /// The boot order of this run.
    pub boot_devices: Option<Vec<BootDevice>>,
    /// With `use_cloud_init`: a cloud-init data source attached for this run.
    pub initialization: Option<Initialization>,
}

#[derive(Debug, Clone)]
pub struct VmAdd {
    pub name: String,
    pub description: Option<String>,
    pub comment: Option<String>,
    pub cluster: Named<ClusterId>,
    /// `Blank` when not given.
    pub template: Option<Named<TemplateId>>,
    pub config: VmConfigPatch,
    pub delete_protected: Option<bool>,
    pub placement: PlacementPatch,
}

#[derive(Debug, Clone, Default)]
pub struct VmUpdate {
    pub name: Option<String>,
    pub description: Option<String>,
    pub comment: Option<String>,
    pub config: VmConfigPatch,
    pub delete_protected: Option<bool>,
    pub placement: PlacementPatch,
}

/// What a request says of a VM's placement policy: the migration affinity, and the host it
/// runs on (preferred, or required when pinned); `Some(None)` clears the host.
#[derive(Debug, Clone, Default)]
pub struct PlacementPatch {
    pub affinity: Option<PlacementAffinity>,
    pub host: Option<Option<Named<HostId>>>,
}

/// Applies `patch` to `config` and checks the result (every rule a VM's configuration obeys).
pub(crate) fn config_apply(
    config: &mut VmConfig,
    patch: VmConfigPatch,
    vm_name: &str,
    policy: &VmPolicy,
) -> Result<()> {
    if let Some(m) = patch.memory {
        // Keep the guarantee and the hot-plug ceiling consistent with new memory unless given.
        if patch.memory_guaranteed.is_none() {
            config.memory_guaranteed = m;
        }
        if patch.memory_max.is_none() {
            config.memory_max = ByteSize(m.bytes().saturating_mul(4));
        }
        config.memory = m;
    }
    if let Some(g) = patch.memory_guaranteed {
        config.memory_guaranteed = g;
    }
    if let Some(mx) = patch.memory_max {
        config.memory_max = mx;
    }
    if let Some(c) = patch.cpu {
        config.cpu = c;
    }
    if let Some(o) = patch.os_type {
        config.os_type = o;
    }
    if let Some(t) = patch.vm_type {
        config.vm_type = t;
    }
    if let Some(m) = patch.machine {
        config.machine = Some(m).filter(|m| !m.is_empty());
    }
    if let Some(d) = patch.boot_devices {
        config.boot.devices = d;
    }
    for (field, path) in [("os.kernel", &patch.kernel), ("os.initrd", &patch.initrd)] {
        if let Some(path) = path.as_deref().filter(|p| !p.is_empty()) {
            policy.boot_file_check(vm_name, field, path)?;
        }
    }
    if let Some(k) = patch.kernel {
        config.boot.kernel = Some(k).filter(|k| !k.is_empty());
    }
    if let Some(i) = patch.initrd {
        config.boot.initrd = Some(i).filter(|i| !i.is_empty());
    }
    if let Some(c) = patch.cmdline {
        config.boot.cmdline = Some(c).filter(|c| !c.is_empty());
    }
    if let Some(d) = patch.display {
        config.display = Some(d);
    }
    if let Some(ha) = patch.high_availability {
        config.high_availability = ha;
    }
    if let Some(cp) = patch.custom_properties {
        policy.custom_properties_check(vm_name, &cp)?;
        config.custom_properties = cp;
    }
    if let Some(serial) = patch.serial_number {
        config.serial_number = serial;
    }
    if let Some(console) = patch.console_enabled {
        config.console_enabled = console;
    }
    config_check(config, vm_name)
}

/// Longest custom serial number (oVirt's limit for `serial_number.value`).
pub const MAX_SERIAL_NUMBER_LEN: usize = 255;

fn config_check(c: &VmConfig, vm_name: &str) -> Result<()> {
    const MIB: u64 = 1024 * 1024;
    if c.memory.bytes() < 16 * MIB {
        return Err(AppError::InvalidInput(format!(
            "VM {vm_name}: memory {} bytes is too small; give at least 16 MiB",
            c.memory.bytes()
        )));
    }
    if c.memory_guaranteed > c.memory {
        return Err(AppError::InvalidInput(format!(
            "VM {vm_name}: guaranteed memory (memory_policy.guaranteed, {}) cannot exceed memory ({})",
            c.memory_guaranteed.bytes(),
            c.memory.bytes()
        )));
    }
    if c.memory_max < c.memory {
        return Err(AppError::InvalidInput(format!(
            "VM {vm_name}: maximum memory (memory_policy.max, {}) cannot be below memory ({})",
            c.memory_max.bytes(),
            c.memory.bytes()
        )));
    }
    if c.cpu.sockets == 0 || c.cpu.cores == 0 || c.cpu.threads == 0 || c.cpu.vcpus() > 512 {
        return Err(AppError::InvalidInput(format!(
            "VM {vm_name}: CPU topology {}x{}x{} is not valid: sockets, cores and threads must be at least 1 \
             and their product at most 512",
            c.cpu.sockets, c.cpu.cores, c.cpu.threads
        )));
    }
    if let Some(serial) = &c.serial_number {
        match (serial.policy, serial.value.as_deref()) {
            (SerialNumberPolicy::Custom, None | Some("")) => {
                return Err(AppError::InvalidInput(format!(
                    "VM {vm_name}: serial_number.policy custom needs serial_number.value (the serial number)"
                )));
            }
            (SerialNumberPolicy::Custom, Some(v)) => {
                if v.chars().count() > MAX_SERIAL_NUMBER_LEN || v.chars().any(char::is_control) {
                    return Err(AppError::InvalidInput(format!(
                        "VM {vm_name}: serial_number.value must be at most {MAX_SERIAL_NUMBER_LEN} printable \
                         characters"
                    )));
                }
            }
            (policy, Some(_)) => {
                return Err(AppError::InvalidInput(format!(
                    "VM {vm_name}: serial_number.value is only used with policy custom, not {policy}; drop the \
                     value or set the policy to custom"
                )));
            }
            (_, None) => {}
        }
    }
    if (c.boot.initrd.is_some() || c.boot.cmdline.is_some()) && c.boot.kernel.is_none() {
        return Err(AppError::InvalidInput(format!(
            "VM {vm_name}: os.initrd or os.cmdline needs os.kernel (direct kernel boot) too"
        )));
    }
    Ok(())
}

impl App {
    // ---- configuration -------------------------------------------------------------------
    pub async fn vm_add(&self, who: &Principal, req: VmAdd) -> Result<Vm> {
        name_check("VM", &req.name)?;
        let cluster = self.cluster_resolve(&req.cluster).await?;
        let template = self.template_resolve(req.template.as_ref()).await?;
        if let Some(tc) = template.cluster_id
            && tc != cluster.id
        {
            return Err(AppError::InvalidInput(format!(
                "template {} belongs to another cluster than {}; use a template of cluster {} or Blank",
                template.name, cluster.name, cluster.name
            )));
        }
        let placement = self.placement_apply(Placement::default(), &req.placement, cluster.id).await?;
        let mut config = template.config.clone();
        config_apply(&mut config, req.config, &req.name, &self.vm_policy)?;
        let vm = Vm {
            id: VmId::new_random(),
            name: req.name,
            description: req.description.unwrap_or_default(),
            comment: req.comment.unwrap_or_default(),
            cluster_id: cluster.id,
            template_id: template.id,
            config,
            placement,
            delete_protected: req.delete_protected.unwrap_or(false),
            created: Timestamp::now(),
            runtime: VmRuntime::down(),
            config_version: 0,
        };
        self.store.vm_insert(&vm).await.map_err(|e| name_taken(e, &vm.name))?;
        self.audit(
            who,
            Severity::Normal,
            AuditCode::USER_ADD_VM,
            format!("VM {} was created by {}.", vm.name, who.login),
            EventRefs { vm_id: Some(vm.id), cluster_id: Some(cluster.id), ..EventRefs::default() },
        )
        .await;
        Ok(vm)
    }

    pub async fn vm_get(&self, id: VmId) -> Result<Vm> {
        Ok(self.store.vm_get(id).await?)
    }

    pub async fn vm_list(&self, q: &ListQuery) -> Result<Vec<Vm>> {
        let key = |v: &Vm| (v.runtime.status.as_str().to_owned(), v.name.clone(), v.id.to_string());
        self.list_any_of(q, |g| async move { self.vm_list_and(&g).await }, key).await
    }

    /// [`App::vm_list`] of a search without `or`.
    async fn vm_list_and(&self, q: &ListQuery) -> Result<Vec<Vm>> {
        let c = q.criteria(&super::query::VMS)?;
        let status = c
            .status
            .clone()
            .map(|s| VmStatus::from_wire(&s).ok_or_else(|| AppError::InvalidInput(format!("'{s}' is not a VM status"))))
            .transpose()?;
        let (Some(cluster_id), Some(host_id), Some(tag_id)) = (
            self.scope_cluster(&c).await?.filter(),
            self.scope_host(&c).await?.filter(),
            self.scope_tag(&c).await?.filter(),
        ) else {
            return Ok(Vec::new());
        };
        let filter =
            VmFilter { name: c.name, status, cluster_id, host_id, tag_id, page: c.page, ..VmFilter::default() };
        Ok(self.store.vm_list(&filter).await?)
    }

    /// Changes a VM's configuration; a running VM gets it at its next start.
    pub async fn vm_update(&self, who: &Principal, id: VmId, req: VmUpdate) -> Result<Vm> {
        let mut vm = self.store.vm_get(id).await?;
        if let Some(name) = req.name {
            name_check("VM", &name)?;
            vm.name = name;
        }
        if let Some(d) = req.description {
            vm.description = d;
        }
        if let Some(c) = req.comment {
            vm.comment = c;
        }
        if let Some(p) = req.delete_protected {
            vm.delete_protected = p;
        }
        vm.placement = self.placement_apply(vm.placement.clone(), &req.placement, vm.cluster_id).await?;
        let name = vm.name.clone();
        config_apply(&mut vm.config, req.config, &name, &self.vm_policy)?;
        // Compare-and-set on the configuration version: a concurrent update is refused, not
        // silently undone; the runtime (the monitor's) is not written.
        if !self.store.vm_config_update(&vm).await.map_err(|e| name_taken(e, &vm.name))? {
            return Err(AppError::Conflict(format!(
                "VM {} was changed by another request meanwhile; read it again and retry the update",
                vm.name
            )));
        }
        vm.config_version += 1;
        vm.runtime = self.store.vm_get(id).await?.runtime;
        self.audit(
            who,
            Severity::Normal,
            AuditCode::USER_UPDATE_VM,
            format!("VM {} configuration was updated by {}.", vm.name, who.login),
            EventRefs { vm_id: Some(vm.id), ..EventRefs::default() },
        )
        .await;
        Ok(vm)
    }

    /// Removes a down VM; its disks too unless `detach_only` (then they stay as floating disks).
    /// A durable job (`RemoveVm`): the VM row goes (only while it is down) and its disks are
    /// locked in one transaction; deleting the disks' volumes follows on the executor.
    pub async fn vm_remove(&self, who: &Principal, id: VmId, detach_only: bool, opts: &JobOptions) -> Result<()> {
        let vm = self.store.vm_get(id).await?;
        if vm.delete_protected {
            return Err(AppError::Conflict(format!(
                "VM {} is delete-protected; clear delete_protected before removing it",
                vm.name
            )));
        }
        vm_must_be_down(&vm, "remove it")?;
        let mut disks = Vec::new();
        if !detach_only {
            for a in self.store.disk_attachment_list_for_vm(id).await? {
                // A shareable disk attached elsewhere stays (oVirt removes it only from the VM).
                if self.store.disk_attachment_list_for_disk(a.disk_id).await?.len() == 1 {
                    disks.push(a.disk_id);
                }
            }
        }
        let mut tx = self.store.begin().await?;
        if !tx.vm_delete_in_status(id, VmStatus::Down).await? {
            return Err(AppError::Conflict(format!(
                "VM {} changed its status while being removed; stop it before removing it",
                vm.name
            )));
        }
        for d in &disks {
            if !disk_lock(&mut tx, *d, &[DiskStatus::Ok, DiskStatus::Illegal]).await? {
                return Err(AppError::Conflict(format!(
                    "VM {}: its disk {d} is locked by another operation; try again when it is ok",
                    vm.name
                )));
            }
        }
        let params = RemoveVmParams { vm_id: id, vm_name: vm.name.clone(), cluster_id: vm.cluster_id, disks };
        let job_id = self.saga_start(tx, who, &REMOVE_VM, format!("Removing VM {}", vm.name), &params, opts).await?;
        self.job_settle_for(opts, job_id).await
    }

    /// The named template, `Blank` when none is named.
    async fn template_resolve(&self, named: Option<&Named<TemplateId>>) -> Result<Template> {
        let named = named.cloned().unwrap_or(Named::Id(oxvirt_engine_db::model::BLANK_TEMPLATE_ID));
        let found = match &named {
            Named::Id(id) => self.store.template_get(*id).await,
            Named::Name(n) => self.store.template_get_by_name(n).await,
        };
        found.map_err(|e| super::missing_reference(e, "template", &named))
    }

    // ---- power ---------------------------------------------------------------------------
    /// Starts a down VM on an Up host of its cluster with enough free memory: a durable
    /// `RunVm` job. Answers once the launch is recorded: the VM is `wait_for_launch` on the
    /// chosen host and its disks `locked` (one transaction); the executor does the rest.
    ///
    /// `once` changes this run only: its boot order, a cloud-init data source.
    pub async fn vm_start(&self, who: &Principal, id: VmId, once: RunOnce, opts: &JobOptions) -> Result<Vm> {
        let vm = self.store.vm_get(id).await?;
        if vm.runtime.status != VmStatus::Down {
            return Err(AppError::Conflict(format!(
                "VM {} is {}: only a down VM can be started",
                vm.name, vm.runtime.status
            )));
        }
        let boot_devices = match once.boot_devices {
            None => None,
            Some(devices) => Some(run_once_boot(&vm, &devices)?),
        };
        let cloud_init = match &once.initialization {
            None => None,
            Some(init) => Some(super::cloud_init::cloud_init_build(vm.id, &vm.name, init)?),
        };
        let prepared = async {
            let host = self.vm_host_choose(&vm).await?;
            let spec = self.vm_spec_build(&vm, host.id, false).await?;
            Ok::<_, AppError>((host, spec))
        }
        .await;
        let (host, spec) = match prepared {
            Ok(p) => p,
            Err(e) => {
                self.audit(
                    who,
                    Severity::Error,
                    AuditCode::USER_FAILED_RUN_VM,
                    format!("Failed to run VM {}: {e}", vm.name),
                    EventRefs { vm_id: Some(vm.id), ..EventRefs::default() },
                )
                .await;
                return Err(e);
            }
        };
        let disks: Vec<DiskId> = spec.disks.iter().map(|d| d.id).collect();
        let launching = VmRuntime {
            status: VmStatus::WaitForLaunch,
            host_id: Some(host.id),
            migrating_to_host_id: None,
            start_time: Some(Timestamp::now()),
            stop_time: vm.runtime.stop_time,
            stop_reason: None,
        };
        let mut tx = self.store.begin().await?;
        if !tx.vm_runtime_set(vm.id, &launching, Some(&[VmStatus::Down])).await? {
            return Err(AppError::Conflict(format!("VM {} is being started or changed by another request", vm.name)));
        }
        for d in &disks {
            if !disk_lock(&mut tx, *d, &[DiskStatus::Ok]).await? {
                return Err(AppError::Conflict(format!(
                    "cannot run VM {}: its disk {d} is locked by another operation; try again when it is ok",
                    vm.name
                )));
            }
        }
        let params = RunVmParams {
            vm_id: vm.id,
            vm_name: vm.name.clone(),
            host_id: host.id,
            host_name: host.name.clone(),
            disks,
            boot_devices,
            cloud_init,
        };
        let job_id = self.saga_start(tx, who, &RUN_VM, format!("Launching VM {}", vm.name), &params, opts).await?;
        self.audit(
            who,
            Severity::Normal,
            AuditCode::USER_STARTED_VM,
            format!("VM {} was started by {} (host: {}).", vm.name, who.login, host.name),
            EventRefs { vm_id: Some(vm.id), host_id: Some(host.id), ..EventRefs::default() },
        )
        .await;
        // As oVirt's RunVm, the reply waits for the host's answer to the launch (the VM is
        // then `wait_for_launch`/`powering_up`), so that a launch the host refuses comes back
        // as the request's fault; the job goes on without the request.
        self.job_wait_as(opts, job_id, Some(WaitFor::Steps(RUN_VM_LAUNCH_STEP))).await?;
        Ok(self.store.vm_get(vm.id).await?)
    }

    /// Powers a VM off at once (oVirt's `stop`).
    pub async fn vm_stop(&self, who: &Principal, id: VmId, reason: Option<String>, opts: &JobOptions) -> Result<Vm> {
        self.vm_power(who, id, v1::VmAction::Destroy, reason, opts).await
    }

    /// Asks the guest to power off (ACPI); destroyed after [`SHUTDOWN_TIMEOUT_SECS`].
    pub async fn vm_shutdown(
        &self,
        who: &Principal,
        id: VmId,
        reason: Option<String>,
        opts: &JobOptions,
    ) -> Result<Vm> {
        self.vm_power(who, id, v1::VmAction::Shutdown, reason, opts).await
    }

    pub async fn vm_reboot(&self, who: &Principal, id: VmId, opts: &JobOptions) -> Result<Vm> {
        self.vm_power(who, id, v1::VmAction::Reboot, None, opts).await
    }

    /// Stop, shutdown and reboot: durable jobs (`StopVm`, `ShutdownVm`, `RebootVm`) of one step
    /// on the VM's host. The user's reason is recorded with the job, compare-and-set on the
    /// status the VM had: the guest may power off before the host answers, and the monitor
    /// keeps a reason it finds on a running VM.
    async fn vm_power(
        &self,
        who: &Principal,
        id: VmId,
        action: v1::VmAction,
        reason: Option<String>,
        opts: &JobOptions,
    ) -> Result<Vm> {
        let vm = self.store.vm_get(id).await?;
        let (verb, def) = match action {
            v1::VmAction::Destroy => ("stop", &STOP_VM),
            v1::VmAction::Shutdown => ("shut down", &SHUTDOWN_VM),
            _ => ("reboot", &REBOOT_VM),
        };
        let host_id = match (vm.runtime.status, vm.runtime.host_id) {
            (VmStatus::Down, _) => {
                return Err(AppError::Conflict(format!("VM {} is down: there is nothing to {verb}", vm.name)));
            }
            (VmStatus::WaitForLaunch, _) => {
                return Err(AppError::Conflict(format!(
                    "VM {} is being launched: wait until it is up (or down) to {verb} it",
                    vm.name
                )));
            }
            (status, None) => {
                return Err(AppError::Conflict(format!("VM {} is {status} on no host: cannot {verb} it", vm.name)));
            }
            (_, Some(h)) => h,
        };
        if action == v1::VmAction::Reboot && vm.runtime.status != VmStatus::Up {
            return Err(AppError::Conflict(format!(
                "VM {} is {}: only an up VM can be rebooted",
                vm.name, vm.runtime.status
            )));
        }
        let host = self.store.host_get(host_id).await?;
        let reason = reason.filter(|r| !r.is_empty());
        let mut tx = self.store.begin().await?;
        let with_reason =
            VmRuntime { stop_reason: reason.clone().or(vm.runtime.stop_reason.clone()), ..vm.runtime.clone() };
        if !tx.vm_runtime_set(id, &with_reason, Some(&[vm.runtime.status])).await? {
            return Err(AppError::Conflict(format!(
                "VM {} changed its status while being asked to {verb}; look at it and try again",
                vm.name
            )));
        }
        let params = PowerParams {
            vm_id: vm.id,
            vm_name: vm.name.clone(),
            host_id: host.id,
            host_name: host.name.clone(),
            action,
            before: vm.runtime.clone(),
            reason,
        };
        let description = format!("{}{} VM {}", verb[..1].to_uppercase(), &verb[1..], vm.name);
        let job_id = self.saga_start(tx, who, def, description, &params, opts).await?;
        // The host's answer is quick: the reply waits for it and for its recording, so that a
        // client sees the VM as the host left it (powering down, down).
        self.job_wait_as(opts, job_id, Some(WaitFor::End)).await?;
        Ok(self.store.vm_get(id).await?)
    }

    /// Chooses the host to run `vm` on: gathers the candidates (the cluster's Up hosts), the
    /// storage domains of its active disks and what every host holds, and asks the
    /// [`scheduler`](super::scheduler) policy.
    async fn vm_host_choose(&self, vm: &Vm) -> Result<Host> {
        let hosts = self
            .store
            .host_list(&HostFilter {
                cluster_id: Some(vm.cluster_id),
                status: Some(HostStatus::Up),
                ..HostFilter::default()
            })
            .await?;
        let mut domains = Vec::new();
        for a in self.store.disk_attachment_list_for_vm(vm.id).await?.into_iter().filter(|a| a.active) {
            let disk = self.vm_disk_get(vm, a.disk_id).await?;
            if !domains.iter().any(|d: &oxvirt_engine_db::model::StorageDomain| d.id == disk.storage_domain_id) {
                domains.push(self.store.storage_domain_get(disk.storage_domain_id).await?);
            }
        }
        // One aggregate query for what every host already holds: scheduling stays one query
        // however many hosts the cluster has.
        let committed: std::collections::HashMap<HostId, u64> =
            self.store.host_memory_committed().await?.into_iter().map(|(h, m)| (h, m.bytes())).collect();
        let decision = super::scheduler::host_choose(vm, &hosts, &domains, &committed);
        if let Some(chosen) = decision.chosen {
            tracing::debug!(vm = %vm.name, host = %chosen, passed = ?decision.passed, "host chosen");
            if let Some(host) = hosts.into_iter().find(|h| h.id == chosen) {
                return Ok(host);
            }
        }
        Err(match decision.refusal() {
            Refusal::NoUpHost => {
                let cluster = self.store.cluster_get(vm.cluster_id).await?;
                AppError::Conflict(format!(
                    "cannot run VM {}: cluster {} has no Up host; add or activate a host",
                    vm.name, cluster.name
                ))
            }
            Refusal::NoReach { domains } => AppError::Conflict(format!(
                "cannot run VM {}: no Up host of its cluster reaches its disks' storage domains ({}); a local \
                 domain is reachable only from the host it was created on",
                vm.name,
                domains.join(", ")
            )),
            Refusal::NoMemory { needed } => AppError::Conflict(format!(
                "cannot run VM {}: no Up host of its cluster has {needed} bytes of memory free; stop other VMs or \
                 lower its guaranteed memory",
                vm.name
            )),
            Refusal::Pinned { host, why } => {
                let name = self.store.host_get(host).await.map(|h| h.name).unwrap_or_else(|_| host.to_string());
                let why = match why {
                    None => "it is not a host of the VM's cluster".to_owned(),
                    Some(Passed::NotUp) => "it is not Up".to_owned(),
                    Some(Passed::Unreachable(d)) => format!("it does not reach {}", d.join(", ")),
                    Some(Passed::Memory { free, needed }) => format!("it has {free} bytes free of the {needed} needed"),
                    Some(Passed::Outscored | Passed::NotPinned) => "it was not chosen".to_owned(),
                };
                AppError::Conflict(format!(
                    "cannot run VM {}: it is pinned to host {name}, and {why}; wait for the host, or change the VM's \
                     placement_policy (affinity migratable, or another host)",
                    vm.name
                ))
            }
        })
    }

    /// What the agent needs to run the VM: its configuration, active disks and plugged NICs.
    /// `launching`: the disks are locked by this launch (the `RunVm` job), not by another.
    /// `host`: where it will run (the default serial number is the host's id).
    async fn vm_spec_build(&self, vm: &Vm, host: HostId, launching: bool) -> Result<v1::VmSpec> {
        let mut disks = Vec::new();
        for a in self.store.disk_attachment_list_for_vm(vm.id).await? {
            if !a.active {
                continue;
            }
            let disk = self.vm_disk_get(vm, a.disk_id).await?;
            if disk.status != DiskStatus::Ok && !(launching && disk.status == DiskStatus::Locked) {
                return Err(AppError::Conflict(format!(
                    "cannot run VM {}: its disk {} is {}; wait until it is ok",
                    vm.name, disk.alias, disk.status
                )));
            }
            disks.push(v1::DiskSpec {
                id: disk.id,
                interface: match a.interface {
                    DiskInterface::Virtio => v1::DiskInterface::Virtio,
                    DiskInterface::VirtioScsi => v1::DiskInterface::VirtioScsi,
                    DiskInterface::Ide => v1::DiskInterface::Ide,
                },
                source: super::disk_source(&disk),
                bootable: a.bootable,
                read_only: a.read_only,
            });
        }
        let mut nics = Vec::new();
        for nic in self.store.nic_list_for_vm(vm.id).await? {
            let Some(profile) = nic.vnic_profile_id.filter(|_| nic.plugged) else { continue };
            let profile = self.store.vnic_profile_get(profile).await?;
            let network = self.store.network_get(profile.network_id).await?;
            nics.push(v1::NicSpec {
                id: nic.id,
                mac: nic.mac.to_string(),
                model: match nic.interface {
                    NicInterface::Virtio => v1::NicModel::Virtio,
                    NicInterface::E1000 => v1::NicModel::E1000,
                    NicInterface::Rtl8139 => v1::NicModel::Rtl8139,
                },
                network: network.name,
            });
        }
        let c = &vm.config;
        let boot = match &c.boot.kernel {
            Some(kernel) => v1::Boot::Kernel {
                kernel: kernel.into(),
                initrd: c.boot.initrd.as_ref().map(Into::into),
                cmdline: c.boot.cmdline.clone().unwrap_or_default(),
            },
            None => v1::Boot::Devices { order: c.boot.devices.iter().map(|d| boot_device_wire(*d)).collect() },
        };
        Ok(v1::VmSpec {
            id: vm.id,
            name: vm.name.clone(),
            cpu: v1::CpuTopology { sockets: c.cpu.sockets, cores: c.cpu.cores, threads: c.cpu.threads },
            memory: c.memory,
            machine: c.machine.clone(),
            boot,
            disks,
            nics,
            graphics: match c.display {
                Some(DisplayType::Vnc) => {
                    Some(v1::Graphics { kind: v1::GraphicsKind::Vnc, listen: None, password: None })
                }
                // SPICE is not offered by the agent; VNC stands in for it.
                Some(DisplayType::Spice) => {
                    Some(v1::Graphics { kind: v1::GraphicsKind::Vnc, listen: None, password: None })
                }
                None => None,
            },
            custom_properties: c.custom_properties.clone(),
            serial: Some(match &c.serial_number {
                None => host.to_string(),
                Some(s) => match s.policy {
                    SerialNumberPolicy::Host => host.to_string(),
                    SerialNumberPolicy::Vm => vm.id.to_string(),
                    SerialNumberPolicy::Custom => s.value.clone().unwrap_or_default(),
                },
            }),
            cloud_init: None,
            serial_console: c.console_enabled,
        })
    }

    /// The guest's serial console output (the end of it), through the VM's host.
    pub async fn vm_console_tail(&self, id: VmId, tail_bytes: u64) -> Result<String> {
        let vm = self.store.vm_get(id).await?;
        let Some(host_id) = vm.runtime.host_id else {
            return Err(AppError::Conflict(format!("VM {} is down: it has no console", vm.name)));
        };

        let host = self.store.host_get(host_id).await?;
        Ok(self.agent_for(&host)?.vm_console(id, tail_bytes).await?.text)
    }

    /// Who may act on the VM. Until roles and LDAP arrive (RBAC), the only grant is the
    /// system-wide `SuperUser` role of `admin@internal`, inherited by every object; it is
    /// listed so that clients following a VM's `permissions` link see what oVirt shows.
    pub async fn vm_permissions(&self, id: VmId) -> Result<Vec<PermissionView>> {
        self.store.vm_get(id).await?;
        let admin = self.store.user_get_by_name(super::INTERNAL_PROFILE, super::ADMIN_USER).await?;
        Ok(vec![PermissionView {
            id: super::stable_uuid(&[b"permission", admin.id.to_string().as_bytes(), SUPER_USER_ROLE_ID.as_bytes()]),
            role_id: SUPER_USER_ROLE_ID,
            user_id: admin.id,
        }])
    }
}

impl App {
    /// A disk attached to `vm`, read to start it: one removed meanwhile (a removal racing the
    /// start) is a conflict of the start, not a missing object of the request.
    async fn vm_disk_get(&self, vm: &Vm, disk: DiskId) -> Result<oxvirt_engine_db::model::Disk> {
        match self.store.disk_get(disk).await {
            Err(StoreError::NotFound { .. }) => Err(AppError::Conflict(format!(
                "cannot run VM {}: its disk {disk} was removed meanwhile; look at its disks and start it again",
                vm.name
            ))),
            other => Ok(other?),
        }
    }
}

/// Locks a VM's disk in `tx` (compare-and-set from `from`); a disk removed meanwhile counts
/// as not lockable (the caller's conflict), not as a missing object of the request.
async fn disk_lock(tx: &mut oxvirt_engine_db::store::StoreTx, disk: DiskId, from: &[DiskStatus]) -> Result<bool> {
    match tx.disk_status_move(disk, from, DiskStatus::Locked).await {
        Err(StoreError::NotFound { .. }) => Ok(false),
        other => Ok(other?),
    }
}

pub(super) fn vm_must_be_down(vm: &Vm, what: &str) -> Result<()> {
    if vm.runtime.status == VmStatus::Down {
        Ok(())
    } else {
        Err(AppError::Conflict(format!("VM {} is {}: stop it to {what}", vm.name, vm.runtime.status)))
    }
}

fn name_taken(e: StoreError, name: &str) -> AppError {
    match e {
        StoreError::AlreadyExists(_) => {
            AppError::Conflict(format!("a VM named '{name}' already exists; choose another name"))
        }
        other => other.into(),
    }
}

// ---- jobs ---------------------------------------------------------------------------------

/// What a `RunVm` job was asked: the VM, the host chosen and the disks locked for the launch.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct RunVmParams {
    vm_id: VmId,
    vm_name: String,
    host_id: HostId,
    host_name: String,
    disks: Vec<DiskId>,
    /// The boot order of this run, when the start gave one (run once).
    #[serde(default)]
    boot_devices: Option<Vec<v1::BootDevice>>,
    /// The cloud-init data source of this run (its password hashed).
    #[serde(default)]
    cloud_init: Option<v1::CloudInit>,
}

/// The boot order a run-once start asks for, checked against the VM.
fn run_once_boot(vm: &Vm, devices: &[BootDevice]) -> Result<Vec<v1::BootDevice>> {
    if vm.config.boot.kernel.is_some() {
        return Err(AppError::InvalidInput(format!(
            "VM {}: it boots its kernel directly (os.kernel), so os.boot.devices would not be used; clear os.kernel \
             to boot from devices",
            vm.name
        )));
    }
    if devices.is_empty() {
        return Err(AppError::InvalidInput(format!("VM {}: os.boot.devices is empty; give at least one", vm.name)));
    }
    for (i, d) in devices.iter().enumerate() {
        if devices[..i].contains(d) {
            return Err(AppError::InvalidInput(format!(
                "VM {}: os.boot.devices lists {d} twice; list each device once",
                vm.name
            )));
        }
    }
    Ok(devices.iter().map(|d| boot_device_wire(*d)).collect())
}

fn boot_device_wire(d: BootDevice) -> v1::BootDevice {
    match d {
        BootDevice::Hd => v1::BootDevice::Hd,
        BootDevice::Cdrom => v1::BootDevice::Cdrom,
        BootDevice::Network => v1::BootDevice::Network,
    }
}

/// The step of `RunVm` whose end a start request waits for (the host created the domain).
const RUN_VM_LAUNCH_STEP: u32 = 3;

/// `RunVm`: the request recorded the launch (VM `wait_for_launch` on the host, disks locked);
/// then the host's storage is connected, the domain created and the VM confirmed running.
pub(super) static RUN_VM: SagaDef = SagaDef {
    action_type: "RunVm",
    steps: &[
        StepDef::by_request(
            "Recording the launch (the VM waits for launch, its disks are locked)",
            StepType::Validating,
            Undo::Action(step_fn!(run_vm_unreserve)),
        ),
        StepDef::new(
            "Connecting the host to the storage of the VM's disks",
            StepType::Executing,
            step_fn!(run_vm_storage),
            Undo::Nothing,
        ),
        StepDef::new(
            "Launching the VM on its host",
            StepType::Executing,
            step_fn!(run_vm_launch),
            Undo::Action(step_fn!(run_vm_destroy)),
        ),
        StepDef::new("Confirming the VM runs", StepType::Finalizing, step_fn!(run_vm_confirm), Undo::Nothing),
    ],
    ended: Some(end_fn!(run_vm_ended)),
};

async fn run_vm_unreserve(ctx: &SagaCtx) -> Result<serde_json::Value> {
    let p: RunVmParams = ctx.params()?;
    let app = &ctx.app;
    if let Ok(vm) = app.store.vm_get(p.vm_id).await {
        let down = VmRuntime {
            status: VmStatus::Down,
            host_id: None,
            migrating_to_host_id: None,
            start_time: vm.runtime.start_time,
            stop_time: Some(Timestamp::now()),
            stop_reason: Some(format!("failed to start on host {}; see the events for why", p.host_name)),
        };
        app.store.vm_runtime_set(p.vm_id, &down, Some(&[VmStatus::WaitForLaunch, VmStatus::PoweringUp])).await?;
    }
    app.disks_unlock(&p.disks).await?;
    Ok(serde_json::Value::Null)
}

/// Connects the storage domains of the VM's disks on its host (a diskless VM needs none):
/// idempotent, as an attach of a domain the host has already is.
async fn run_vm_storage(ctx: &SagaCtx) -> Result<serde_json::Value> {
    let p: RunVmParams = ctx.params()?;
    let app = &ctx.app;
    let host = app.store.host_get(p.host_id).await?;
    let mut connected = std::collections::BTreeSet::new();
    for d in &p.disks {
        let disk = app.store.disk_get(*d).await?;
        if connected.insert(disk.storage_domain_id) {
            let sd = app.store.storage_domain_get(disk.storage_domain_id).await?;
            app.storage_domain_connect_on(&host, &sd).await?;
        }
    }
    Ok(serde_json::Value::Null)
}

async fn run_vm_launch(ctx: &SagaCtx) -> Result<serde_json::Value> {
    let p: RunVmParams = ctx.params()?;
    let app = &ctx.app;
    let host = app.store.host_get(p.host_id).await?;
    let client = app.agent_for(&host)?;
    // Idempotent: a domain of an earlier attempt (before a crash) is this launch.
    if ctx.rerun()
        && let Some(state) = client.vm_list().await?.vms.into_iter().find(|s| s.id == p.vm_id)
        && state.state != v1::VmRunState::Down
    {
        return output(state);
    }
    let vm = app.store.vm_get(p.vm_id).await?;
    let mut spec = app.vm_spec_build(&vm, p.host_id, true).await?;
    if let Some(order) = p.boot_devices {
        spec.boot = v1::Boot::Devices { order };
    }
    spec.cloud_init = p.cloud_init;
    output(client.vm_create(&spec).await?)
}

async fn run_vm_destroy(ctx: &SagaCtx) -> Result<serde_json::Value> {
    let p: RunVmParams = ctx.params()?;
    let host = ctx.app.store.host_get(p.host_id).await?;
    let client = ctx.app.agent_for(&host)?;
    let req = v1::VmActionRequest { timeout_secs: None };
    match client.vm_action(p.vm_id, v1::VmAction::Destroy, &req).await {
        Ok(_) => {}
        Err(e) if e.kind() == oxvirt_types::ErrorKind::NotFound => {}
        Err(e) => return Err(e.into()),
    }
    Ok(serde_json::Value::Null)
}

async fn run_vm_confirm(ctx: &SagaCtx) -> Result<serde_json::Value> {
    let p: RunVmParams = ctx.params()?;
    let state: v1::VmState = ctx.output(3)?;
    let app = &ctx.app;
    // The launch's own report first: it claims its generation, so that a report of the
    // previous run still on its way (its `down`, older) is dropped as stale. Were the VM moved
    // off `wait_for_launch` first, that old `down` would be taken for this run's end (the CI
    // run of 9e48a34 saw a start answer with the VM down, stopped by the previous stop).
    app.vm_observed(p.host_id, &state).await?;
    if let Ok(vm) = app.store.vm_get(p.vm_id).await {
        // Still waiting (the host's report said nothing new): the host has the VM now.
        let powering_up = VmRuntime { status: VmStatus::PoweringUp, ..vm.runtime };
        app.store.vm_runtime_set(p.vm_id, &powering_up, Some(&[VmStatus::WaitForLaunch])).await?;
    }
    app.disks_unlock(&p.disks).await?;
    Ok(serde_json::Value::Null)
}

async fn run_vm_ended(ctx: &SagaCtx, outcome: &Outcome) {
    let Ok(p) = ctx.params::<RunVmParams>() else { return };
    if let Some((_, e)) = &outcome.error {
        ctx.app
            .audit(
                &ctx.who,
                Severity::Error,
                AuditCode::USER_FAILED_RUN_VM,
                format!("Failed to run VM {} on host {}: {e}", p.vm_name, p.host_name),
                EventRefs { vm_id: Some(p.vm_id), host_id: Some(p.host_id), ..EventRefs::default() },
            )
            .await;
    }
}

/// What a `StopVm`/`ShutdownVm`/`RebootVm` job was asked.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct PowerParams {
    vm_id: VmId,
    vm_name: String,
    host_id: HostId,
    host_name: String,
    action: v1::VmAction,
    /// The VM's runtime before the request (restored when the host could not be asked).
    before: VmRuntime,
    reason: Option<String>,
}

/// How long a power action retries a host that does not answer.
const POWER_RETRY: std::time::Duration = std::time::Duration::from_secs(3);

macro_rules! power_saga {
    ($name:ident, $action_type:literal, $what:literal) => {
        pub(super) static $name: SagaDef = SagaDef {
            action_type: $action_type,
            steps: &[
                StepDef::new(
                    $what,
                    StepType::Executing,
                    step_fn!(vm_power_ask),
                    Undo::Action(step_fn!(vm_power_unask)),
                )
                .retrying_for(POWER_RETRY),
                StepDef::new(
                    "Recording the VM's state",
                    StepType::Finalizing,
                    step_fn!(vm_power_record),
                    Undo::Nothing,
                ),
            ],
            ended: Some(end_fn!(vm_power_ended)),
        };
    };
}
power_saga!(STOP_VM, "StopVm", "Asking the host to power the VM off");
power_saga!(SHUTDOWN_VM, "ShutdownVm", "Asking the guest to shut down");
power_saga!(REBOOT_VM, "RebootVm", "Asking the guest to reboot");

async fn vm_power_ask(ctx: &SagaCtx) -> Result<serde_json::Value> {
    let p: PowerParams = ctx.params()?;
    let host = ctx.app.store.host_get(p.host_id).await?;
    let client = ctx.app.agent_for(&host)?;
    let req =
        v1::VmActionRequest { timeout_secs: (p.action == v1::VmAction::Shutdown).then_some(SHUTDOWN_TIMEOUT_SECS) };
    match client.vm_action(p.vm_id, p.action, &req).await {
        Ok(state) => output(Some(state)),
        Err(e)
            if matches!(e.kind(), oxvirt_types::ErrorKind::NotFound | oxvirt_types::ErrorKind::Conflict)
                && p.action != v1::VmAction::Reboot =>
        {
            // Idempotent: a stop or shutdown asked before a crash may have taken the VM down
            // already; the host then refuses the action on a domain that is gone or down.
            let state = client.vm_list().await?.vms.into_iter().find(|s| s.id == p.vm_id);
            match state {
                Some(s) if s.state != v1::VmRunState::Down => Err(e.into()),
                other => output(other),
            }
        }
        Err(e) => Err(e.into()),
    }
}

async fn vm_power_unask(ctx: &SagaCtx) -> Result<serde_json::Value> {
    let p: PowerParams = ctx.params()?;
    if p.reason.is_some() {
        // Nothing was asked of the guest: its previous reason stands again.
        let Ok(vm) = ctx.app.store.vm_get(p.vm_id).await else { return Ok(serde_json::Value::Null) };
        let restored = VmRuntime { stop_reason: p.before.stop_reason.clone(), ..vm.runtime.clone() };
        ctx.app.store.vm_runtime_set(p.vm_id, &restored, Some(&[vm.runtime.status])).await?;
    }
    Ok(serde_json::Value::Null)
}

async fn vm_power_record(ctx: &SagaCtx) -> Result<serde_json::Value> {
    let p: PowerParams = ctx.params()?;
    if let Some(state) = ctx.output::<Option<v1::VmState>>(1)? {
        ctx.app.vm_observed(p.host_id, &state).await?;
    }
    Ok(serde_json::Value::Null)
}

async fn vm_power_ended(ctx: &SagaCtx, outcome: &Outcome) {
    let Ok(p) = ctx.params::<PowerParams>() else { return };
    let (verb, code) = match p.action {
        v1::VmAction::Destroy => ("stop", AuditCode::USER_STOP_VM),
        v1::VmAction::Shutdown => ("shut down", AuditCode::USER_INITIATED_SHUTDOWN_VM),
        _ => ("reboot", AuditCode::USER_REBOOT_VM),
    };
    if outcome.succeeded() {
        ctx.app
            .audit(
                &ctx.who,
                Severity::Normal,
                code,
                format!("VM {} was asked to {verb} by {} (host: {}).", p.vm_name, ctx.who.login, p.host_name),
                EventRefs { vm_id: Some(p.vm_id), host_id: Some(p.host_id), ..EventRefs::default() },
            )
            .await;
    }
}

/// What a `RemoveVm` job was asked: the VM (already gone) and the disks to delete (locked).
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct RemoveVmParams {
    vm_id: VmId,
    vm_name: String,
    cluster_id: ClusterId,
    disks: Vec<DiskId>,
}

/// `RemoveVm`: the request removed the VM row (while down) and locked its disks; the disks'
/// volumes and rows follow. The removal cannot be undone.
pub(super) static REMOVE_VM: SagaDef = SagaDef {
    action_type: "RemoveVm",
    steps: &[
        StepDef::by_request("Removing the VM (its disks are locked)", StepType::Executing, Undo::Irreversible),
        StepDef::new(
            "Deleting the VM's disks",
            StepType::Executing,
            step_fn!(remove_vm_disks),
            Undo::Action(step_fn!(remove_vm_disks_illegal)),
        ),
    ],
    ended: Some(end_fn!(remove_vm_ended)),
};

async fn remove_vm_disks(ctx: &SagaCtx) -> Result<serde_json::Value> {
    let p: RemoveVmParams = ctx.params()?;
    for d in &p.disks {
        ctx.app.disk_destroy(*d).await?;
    }
    Ok(serde_json::Value::Null)
}

/// The disks that could not be deleted stay, `illegal` (their volumes may be partly gone):
/// they can be removed again from `/disks`.
async fn remove_vm_disks_illegal(ctx: &SagaCtx) -> Result<serde_json::Value> {
    let p: RemoveVmParams = ctx.params()?;
    for d in &p.disks {
        match ctx.app.store.disk_status_move(*d, &[DiskStatus::Locked], DiskStatus::Illegal).await {
            Ok(_) | Err(StoreError::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(serde_json::Value::Null)
}

async fn remove_vm_ended(ctx: &SagaCtx, outcome: &Outcome) {
    let Ok(p) = ctx.params::<RemoveVmParams>() else { return };
    let refs = EventRefs { vm_id: Some(p.vm_id), cluster_id: Some(p.cluster_id), ..EventRefs::default() };
    let (severity, text) = match &outcome.error {
        None => (Severity::Normal, format!("VM {} was removed by {}.", p.vm_name, ctx.who.login)),
        Some((_, e)) => (
            Severity::Warning,
            format!(
                "VM {} was removed by {} but some of its disks could not be deleted ({e}); they are kept as \
                 illegal floating disks: remove them from /disks when their storage is reachable",
                p.vm_name, ctx.who.login
            ),
        ),
    };
    ctx.app.audit(&ctx.who, severity, AuditCode::USER_REMOVE_VM_FINISHED, text, refs).await;
}

impl App {
    /// `placement` with `patch` applied; the host must be one of the VM's cluster.
    async fn placement_apply(
        &self,
        mut placement: Placement,
        patch: &PlacementPatch,
        cluster: ClusterId,
    ) -> Result<Placement> {
        if let Some(a) = patch.affinity {
            placement.affinity = a;
        }
        match &patch.host {
            None => {}
            Some(None) => placement.host_id = None,
            Some(Some(h)) => {
                let host = self.host_resolve(h).await?;
                if host.cluster_id != cluster {
                    return Err(AppError::InvalidInput(format!(
                        "host {} is not in the VM's cluster; a VM can be placed only on a host of its cluster",
                        host.name
                    )));
                }
                placement.host_id = Some(host.id);
            }
        }
        Ok(placement)
    }
}
