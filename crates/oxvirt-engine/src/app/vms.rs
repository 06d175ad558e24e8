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

use super::jobs::{JobStatus, StepType};
use super::scheduler::Refusal;
use super::{App, AppError, ListQuery, Result};
use super::{Named, name_check};
use crate::auth::Principal;
use oxvirt_agent_api::v1;
use oxvirt_engine_db::model::{
    AuditCode, BootDevice, CpuTopology, DiskInterface, DiskStatus, DisplayType, EventRefs, HighAvailability, Host, Job,
    NicInterface, Placement, Severity, Step, Template, Timestamp, Vm, VmConfig, VmRuntime, VmType,
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
}

#[derive(Debug, Clone)]
pub struct VmAdd {
    pub name: String,
    pub description: Option<String>,
    pub cluster: Named<ClusterId>,
    /// `Blank` when not given.
    pub template: Option<Named<TemplateId>>,
    pub config: VmConfigPatch,
    pub delete_protected: Option<bool>,
    pub placement_host: Option<Named<HostId>>,
}

#[derive(Debug, Clone, Default)]
pub struct VmUpdate {
    pub name: Option<String>,
    pub description: Option<String>,
    pub config: VmConfigPatch,
    pub delete_protected: Option<bool>,
}

/// What a `RunVm` job's launch step records before asking the agent.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct LaunchStepData {
    vm_id: VmId,
    host_id: HostId,
}

/// What a `RemoveVm` job records before removing the VM row.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct RemoveStepData {
    vm_id: VmId,
    disks: Vec<DiskId>,
}

fn config_apply(config: &mut VmConfig, patch: VmConfigPatch, vm_name: &str) -> Result<()> {
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
        for name in cp.keys() {
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(AppError::InvalidInput(format!(
                    "VM {vm_name}: custom property name '{name}' is not valid: use letters, digits and '_' \
                     (hooks receive it as an environment variable)"
                )));
            }
        }
        config.custom_properties = cp;
    }
    config_check(config, vm_name)
}

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
            "VM {vm_name}: guaranteed memory ({}) cannot exceed memory ({})",
            c.memory_guaranteed.bytes(),
            c.memory.bytes()
        )));
    }
    if c.memory_max < c.memory {
        return Err(AppError::InvalidInput(format!(
            "VM {vm_name}: maximum memory ({}) cannot be below memory ({})",
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
    if (c.boot.initrd.is_some() || c.boot.cmdline.is_some()) && c.boot.kernel.is_none() {
        return Err(AppError::InvalidInput(format!(
            "VM {vm_name}: an initrd or kernel command line needs os.kernel (direct kernel boot) too"
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
        let placement = match &req.placement_host {
            None => Placement::default(),
            Some(h) => Placement { host_id: Some(self.host_resolve(h).await?.id), ..Placement::default() },
        };
        let mut config = template.config.clone();
        config_apply(&mut config, req.config, &req.name)?;
        let vm = Vm {
            id: VmId::new_random(),
            name: req.name,
            description: req.description.unwrap_or_default(),
            cluster_id: cluster.id,
            template_id: template.id,
            config,
            placement,
            delete_protected: req.delete_protected.unwrap_or(false),
            created: Timestamp::now(),
            runtime: VmRuntime::down(),
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
        let c = q.criteria(&super::query::VMS)?;
        let status = c
            .status
            .map(|s| VmStatus::from_wire(&s).ok_or_else(|| AppError::InvalidInput(format!("'{s}' is not a VM status"))))
            .transpose()?;
        let filter = VmFilter { name: c.name, status, page: c.page, ..VmFilter::default() };
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
        if let Some(p) = req.delete_protected {
            vm.delete_protected = p;
        }
        let name = vm.name.clone();
        config_apply(&mut vm.config, req.config, &name)?;
        // Only the configuration: the runtime is the monitor's, and may have moved meanwhile.
        let current = self.store.vm_get(id).await?;
        vm.runtime = current.runtime;
        self.store.vm_update(&vm).await.map_err(|e| name_taken(e, &vm.name))?;
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
    pub async fn vm_remove(&self, who: &Principal, id: VmId, detach_only: bool) -> Result<()> {
        let vm = self.store.vm_get(id).await?;
        if vm.delete_protected {
            return Err(AppError::Conflict(format!(
                "VM {} is delete-protected; clear delete_protected before removing it",
                vm.name
            )));
        }
        if vm.runtime.status != VmStatus::Down {
            return Err(AppError::Conflict(format!(
                "VM {} is {}: stop it before removing it",
                vm.name, vm.runtime.status
            )));
        }
        let disks: Vec<DiskId> = if detach_only {
            Vec::new()
        } else {
            self.store.disk_attachment_list_for_vm(id).await?.into_iter().map(|a| a.disk_id).collect()
        };
        let mut run = self.job_begin(Some(who), "RemoveVm", format!("Removing VM {}", vm.name)).await?;
        let data = serde_json::to_value(RemoveStepData { vm_id: id, disks: disks.clone() }).unwrap_or_default();
        let mut step = self.job_step_begin(&mut run, StepType::Executing, "Removing the VM", data).await?;
        if let Err(e) = self.store.vm_delete(id).await {
            self.job_end(run, JobStatus::Failed).await;
            return Err(e.into());
        }
        self.job_step_end(&mut step, JobStatus::Finished).await;
        let failed = self.vm_remove_disks(who, &disks).await;
        self.job_end(run, if failed.is_empty() { JobStatus::Finished } else { JobStatus::Failed }).await;
        self.audit(
            who,
            Severity::Normal,
            AuditCode::USER_REMOVE_VM_FINISHED,
            format!("VM {} was removed by {}.", vm.name, who.login),
            EventRefs { vm_id: Some(vm.id), cluster_id: Some(vm.cluster_id), ..EventRefs::default() },
        )
        .await;
        if let Some((disk, e)) = failed.into_iter().next() {
            return Err(AppError::Conflict(format!(
                "VM {} was removed but its disk {disk} could not be deleted ({e}); it is kept as a floating disk: \
                 remove it from /disks when its storage is reachable",
                vm.name
            )));
        }
        Ok(())
    }

    /// Deletes disks (already detached); returns those that could not be deleted.
    async fn vm_remove_disks(&self, who: &Principal, disks: &[DiskId]) -> Vec<(DiskId, AppError)> {
        let mut failed = Vec::new();
        for disk in disks {
            match self.disk_remove(who, *disk).await {
                Ok(()) => {}
                Err(AppError::Store(StoreError::NotFound { .. })) => {}
                Err(e) => failed.push((*disk, e)),
            }
        }
        failed
    }

    /// Finishes a `RemoveVm` job a crash interrupted: the VM row and then the listed disks go.
    pub(crate) async fn vm_remove_recover(&self, job: &Job, steps: &[Step]) -> Result<JobStatus> {
        let Some(data) = steps.first().and_then(|s| serde_json::from_value::<RemoveStepData>(s.data.clone()).ok())
        else {
            return Ok(JobStatus::Failed);
        };
        match self.store.vm_delete(data.vm_id).await {
            Ok(()) | Err(StoreError::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        let system = self.system_principal(job);
        let failed = self.vm_remove_disks(&system, &data.disks).await;
        Ok(if failed.is_empty() { JobStatus::Finished } else { JobStatus::Failed })
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
    /// Starts a down VM on an Up host of its cluster with enough free memory (a durable
    /// `RunVm` job). Returns once the host runs it.
    pub async fn vm_start(&self, who: &Principal, id: VmId) -> Result<Vm> {
        let vm = self.store.vm_get(id).await?;
        if vm.runtime.status != VmStatus::Down {
            return Err(AppError::Conflict(format!(
                "VM {} is {}: only a down VM can be started",
                vm.name, vm.runtime.status
            )));
        }
        let mut run = self.job_begin(Some(who), "RunVm", format!("Launching VM {}", vm.name)).await?;
        let mut validate = self
            .job_step_begin(
                &mut run,
                StepType::Validating,
                "Choosing a host and checking devices",
                serde_json::Value::Null,
            )
            .await?;
        let prepared = async {
            let host = self.vm_host_choose(&vm).await?;
            let spec = self.vm_spec_build(&vm).await?;
            Ok::<_, AppError>((host, spec))
        }
        .await;
        let (host, spec) = match prepared {
            Ok(p) => p,
            Err(e) => {
                self.job_step_end(&mut validate, JobStatus::Failed).await;
                self.job_end(run, JobStatus::Failed).await;
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
        self.job_step_end(&mut validate, JobStatus::Finished).await;

        let data = serde_json::to_value(LaunchStepData { vm_id: vm.id, host_id: host.id }).unwrap_or_default();
        let mut launch = self
            .job_step_begin(&mut run, StepType::Executing, format!("Launching on host {}", host.name), data)
            .await?;
        let launching = VmRuntime {
            status: VmStatus::WaitForLaunch,
            host_id: Some(host.id),
            migrating_to_host_id: None,
            start_time: Some(Timestamp::now()),
            stop_time: vm.runtime.stop_time,
            stop_reason: None,
        };
        if !self.store.vm_runtime_set(vm.id, &launching, Some(&[VmStatus::Down])).await? {
            self.job_end(run, JobStatus::Aborted).await;
            return Err(AppError::Conflict(format!("VM {} is being started or changed by another request", vm.name)));
        }
        self.audit(
            who,
            Severity::Normal,
            AuditCode::USER_STARTED_VM,
            format!("VM {} was started by {} (host: {}).", vm.name, who.login, host.name),
            EventRefs { vm_id: Some(vm.id), host_id: Some(host.id), ..EventRefs::default() },
        )
        .await;
        let launched = async {
            let client = self.agent_for(&host)?;
            self.host_storage_connect(&host).await?;
            Ok::<_, AppError>(client.vm_create(&spec).await?)
        }
        .await;
        let state = match launched {
            Ok(s) => s,
            Err(e) => {
                let failed = VmRuntime {
                    status: VmStatus::Down,
                    host_id: None,
                    stop_time: Some(Timestamp::now()),
                    stop_reason: Some(format!("failed to start on host {}: {e}", host.name)),
                    ..launching
                };
                let _ = self.store.vm_runtime_set(vm.id, &failed, Some(&[VmStatus::WaitForLaunch])).await;
                self.job_step_end(&mut launch, JobStatus::Failed).await;
                self.job_end(run, JobStatus::Failed).await;
                self.audit(
                    who,
                    Severity::Error,
                    AuditCode::USER_FAILED_RUN_VM,
                    format!("Failed to run VM {} on host {}: {e}", vm.name, host.name),
                    EventRefs { vm_id: Some(vm.id), host_id: Some(host.id), ..EventRefs::default() },
                )
                .await;
                return Err(e);
            }
        };
        self.job_step_end(&mut launch, JobStatus::Finished).await;
        let mut confirm = self
            .job_step_begin(&mut run, StepType::Finalizing, "Confirming the VM runs", serde_json::Value::Null)
            .await?;
        let powering_up = VmRuntime { status: VmStatus::PoweringUp, ..launching };
        self.store.vm_runtime_set(vm.id, &powering_up, Some(&[VmStatus::WaitForLaunch])).await?;
        self.vm_observed(host.id, &state).await?;
        self.job_step_end(&mut confirm, JobStatus::Finished).await;
        self.job_end(run, JobStatus::Finished).await;
        Ok(self.store.vm_get(vm.id).await?)
    }

    /// Completes or rolls back a `RunVm` job a crash interrupted: asks the host chosen in
    /// the launch step whether the VM runs there.
    pub(crate) async fn vm_start_recover(&self, _job: &Job, steps: &[Step]) -> Result<JobStatus> {
        let Some(data) = steps
            .iter()
            .find(|s| s.step_type == StepType::Executing)
            .and_then(|s| serde_json::from_value::<LaunchStepData>(s.data.clone()).ok())
        else {
            // Crashed while choosing a host: nothing was recorded or sent.
            return Ok(JobStatus::Failed);
        };
        let vm = match self.store.vm_get(data.vm_id).await {
            Ok(vm) => vm,
            Err(StoreError::NotFound { .. }) => return Ok(JobStatus::Failed),
            Err(e) => return Err(e.into()),
        };
        let host = self.store.host_get(data.host_id).await?;
        let client = self.agent_for(&host)?;
        let states = match client.vm_list().await {
            Ok(list) => list,
            Err(e) => {
                // The host cannot say: the VM's state is unknown until the monitor reaches it.
                tracing::warn!(vm = %vm.name, host = %host.name, error = %e, "cannot ask the host about a VM whose start was interrupted");
                let unknown = VmRuntime { status: VmStatus::Unknown, ..vm.runtime.clone() };
                self.store
                    .vm_runtime_set(vm.id, &unknown, Some(&[VmStatus::WaitForLaunch, VmStatus::PoweringUp]))
                    .await?;
                return Ok(JobStatus::Unknown);
            }
        };
        match states.vms.iter().find(|s| s.id == vm.id) {
            Some(state) if state.state != v1::VmRunState::Down => {
                self.vm_observed(host.id, state).await?;
                Ok(JobStatus::Finished)
            }
            _ => {
                let down = VmRuntime {
                    status: VmStatus::Down,
                    host_id: None,
                    migrating_to_host_id: None,
                    start_time: vm.runtime.start_time,
                    stop_time: Some(Timestamp::now()),
                    stop_reason: Some("the engine restarted while starting it; the start was rolled back".into()),
                };
                self.store.vm_runtime_set(vm.id, &down, Some(&[VmStatus::WaitForLaunch, VmStatus::PoweringUp])).await?;
                Ok(JobStatus::Failed)
            }
        }
    }

    /// Powers a VM off at once (oVirt's `stop`).
    pub async fn vm_stop(&self, who: &Principal, id: VmId, reason: Option<String>) -> Result<Vm> {
        self.vm_power(who, id, v1::VmAction::Destroy, reason).await
    }

    /// Asks the guest to power off (ACPI); destroyed after [`SHUTDOWN_TIMEOUT_SECS`].
    pub async fn vm_shutdown(&self, who: &Principal, id: VmId, reason: Option<String>) -> Result<Vm> {
        self.vm_power(who, id, v1::VmAction::Shutdown, reason).await
    }

    pub async fn vm_reboot(&self, who: &Principal, id: VmId) -> Result<Vm> {
        self.vm_power(who, id, v1::VmAction::Reboot, None).await
    }

    async fn vm_power(&self, who: &Principal, id: VmId, action: v1::VmAction, reason: Option<String>) -> Result<Vm> {
        let vm = self.store.vm_get(id).await?;
        let (verb, job_type, code) = match action {
            v1::VmAction::Destroy => ("stop", "StopVm", AuditCode::USER_STOP_VM),
            v1::VmAction::Shutdown => ("shut down", "ShutdownVm", AuditCode::USER_INITIATED_SHUTDOWN_VM),
            _ => ("reboot", "RebootVm", AuditCode::USER_REBOOT_VM),
        };
        let host_id = match (vm.runtime.status, vm.runtime.host_id) {
            (VmStatus::Down, _) => {
                return Err(AppError::Conflict(format!("VM {} is down: there is nothing to {verb}", vm.name)));
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
        let mut run = self.job_begin(Some(who), job_type, format!("{verb} VM {}", vm.name)).await?;
        let mut step = self
            .job_step_begin(
                &mut run,
                StepType::Executing,
                format!("Asking host {} to {verb} it", host.name),
                serde_json::Value::Null,
            )
            .await?;
        // The user's reason is recorded *before* the host is asked, compare-and-set on the status
        // the VM had: the guest may power off before the host's answer arrives, and the monitor
        // keeps a reason it finds on a running VM.
        let reason = reason.filter(|r| !r.is_empty());
        if let Some(reason) = &reason {
            let with_reason = VmRuntime { stop_reason: Some(reason.clone()), ..vm.runtime.clone() };
            if !self.store.vm_runtime_set(id, &with_reason, Some(&[vm.runtime.status])).await? {
                self.job_step_end(&mut step, JobStatus::Failed).await;
                self.job_end(run, JobStatus::Failed).await;
                return Err(AppError::Conflict(format!(
                    "VM {} changed its status while being asked to {verb}; look at it and try again",
                    vm.name
                )));
            }
        }
        let req =
            v1::VmActionRequest { timeout_secs: (action == v1::VmAction::Shutdown).then_some(SHUTDOWN_TIMEOUT_SECS) };
        let result = async { Ok::<_, AppError>(self.agent_for(&host)?.vm_action(vm.id, action, &req).await?) }.await;
        let state = match result {
            Ok(s) => s,
            Err(e) => {
                if reason.is_some()
                    && let Err(undo) = self.store.vm_runtime_set(id, &vm.runtime, Some(&[vm.runtime.status])).await
                {
                    // Nothing was asked of the guest: its previous reason should stand again.
                    tracing::warn!(vm = %vm.name, error = %undo, "cannot restore the VM's previous stop reason");
                }
                self.job_step_end(&mut step, JobStatus::Failed).await;
                self.job_end(run, JobStatus::Failed).await;
                return Err(e);
            }
        };
        self.vm_observed(host.id, &state).await?;
        self.job_step_end(&mut step, JobStatus::Finished).await;
        self.job_end(run, JobStatus::Finished).await;
        self.audit(
            who,
            Severity::Normal,
            code,
            format!("VM {} was asked to {verb} by {} (host: {}).", vm.name, who.login, host.name),
            EventRefs { vm_id: Some(vm.id), host_id: Some(host.id), ..EventRefs::default() },
        )
        .await;
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
            let disk = self.store.disk_get(a.disk_id).await?;
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
        })
    }

    /// What the agent needs to run the VM: its configuration, active disks and plugged NICs.
    async fn vm_spec_build(&self, vm: &Vm) -> Result<v1::VmSpec> {
        let mut disks = Vec::new();
        for a in self.store.disk_attachment_list_for_vm(vm.id).await? {
            if !a.active {
                continue;
            }
            let disk = self.store.disk_get(a.disk_id).await?;
            if disk.status != DiskStatus::Ok {
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
            None => v1::Boot::Devices {
                order: c
                    .boot
                    .devices
                    .iter()
                    .map(|d| match d {
                        BootDevice::Hd => v1::BootDevice::Hd,
                        BootDevice::Cdrom => v1::BootDevice::Cdrom,
                        BootDevice::Network => v1::BootDevice::Network,
                    })
                    .collect(),
            },
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

    /// The principal recorded as a job's owner, for work done on its behalf at recovery.
    fn system_principal(&self, job: &Job) -> Principal {
        Principal {
            user_id: job.owner_id.unwrap_or_else(|| oxvirt_types::UserId::from_uuid(uuid::Uuid::nil())),
            login: "the engine".to_owned(),
        }
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
