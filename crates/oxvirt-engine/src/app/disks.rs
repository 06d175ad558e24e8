//! Disks: added and removed as durable jobs (`AddDisk`, `RemoveDisk`) that recovery finishes
//! or rolls back; volumes created through a host that reaches the domain.

use super::Named;
use super::storage_domains::is_not_found;
use super::{App, AppError, ListQuery, Result};
use crate::auth::Principal;
use oxvirt_agent_api::v1;
use oxvirt_agent_client::AgentClient;
use oxvirt_engine_db::model::{
    AuditCode, Disk, DiskFormat, DiskStatus, EventRefs, Host, Job, Severity, Step, StepType, StorageDomainType,
    Timestamp, Volume, VolumeStatus,
};
use oxvirt_engine_db::store::{DiskFilter, StoreError};
use oxvirt_types::{ByteSize, DiskId, HostId, StorageDomainId, VmStatus, VolumeId};
use serde::{Deserialize, Serialize};

/// Sizes on storage are whole 512-byte sectors.
const SECTOR: u64 = 512;

/// A new floating disk (or one a VM's disk attachment creates).
#[derive(Debug, Clone)]
pub struct DiskAdd {
    /// oVirt's `name` (= `alias`); empty gets a generated one.
    pub name: String,
    pub description: String,
    pub storage_domain: Named<StorageDomainId>,
    pub format: DiskFormat,
    /// Thin or preallocated; `None` = thin. `cow` must be thin on file domains (oVirt's rule).
    pub sparse: Option<bool>,
    /// Virtual size; rounded up to whole 512-byte sectors.
    pub provisioned_size: ByteSize,
    pub shareable: bool,
    pub wipe_after_delete: bool,
}

/// What an `AddDisk` / `RemoveDisk` job records before it acts (step data).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct DiskJobData {
    disk_id: DiskId,
    /// Volumes of the disk, leaf first.
    volume_ids: Vec<VolumeId>,
    storage_domain_id: StorageDomainId,
    host_id: HostId,
}

fn agent_format(f: DiskFormat) -> v1::VolumeFormat {
    match f {
        DiskFormat::Cow => v1::VolumeFormat::Cow,
        DiskFormat::Raw => v1::VolumeFormat::Raw,
    }
}

/// Where the agent finds a disk's data: what a VM spec names (`v1::DiskSource::Volume`). The
/// host must have the disk's storage domain connected first ([`App::host_storage_connect`]).
pub fn disk_source(disk: &Disk) -> v1::DiskSource {
    v1::DiskSource::Volume { storage_domain_id: disk.storage_domain_id, image_id: disk.id, volume_id: disk.volume_id }
}

impl App {
    /// The VM (name, status) a disk is attached to that is not down, if any.
    pub(super) async fn disk_vm_not_down(&self, disk: DiskId) -> Result<Option<(String, VmStatus)>> {
        for a in self.store.disk_attachment_list_for_disk(disk).await? {
            let vm = self.store.vm_get(a.vm_id).await?;
            if vm.runtime.status != VmStatus::Down {
                return Ok(Some((vm.name, vm.runtime.status)));
            }
        }
        Ok(None)
    }

    // ---- disks ------------------------------------------------------------------------------
    /// Creates a disk (one volume) on an active data domain, through a host that reaches it.
    /// Durable job `AddDisk`: the disk is `locked` until its volume exists, then `ok`.
    pub async fn disk_add(&self, who: &Principal, req: DiskAdd) -> Result<Disk> {
        let sd = self.storage_domain_resolve(&req.storage_domain).await?;
        if sd.domain_type != StorageDomainType::Data {
            return Err(AppError::InvalidInput(format!(
                "storage domain {} is a {} domain; disks go on data domains",
                sd.name, sd.domain_type
            )));
        }
        let sparse = req.sparse.unwrap_or(true);
        if req.format == DiskFormat::Cow && !sparse {
            return Err(AppError::InvalidInput(
                "a cow (qcow2) disk on a file storage domain must be sparse (thin); use format raw for a \
                 preallocated disk"
                    .to_owned(),
            ));
        }
        if req.provisioned_size.bytes() == 0 {
            return Err(AppError::InvalidInput("a disk needs a provisioned_size above 0 (bytes)".to_owned()));
        }
        let size = ByteSize(req.provisioned_size.bytes().div_ceil(SECTOR) * SECTOR);
        let host = self.storage_domain_host(&sd).await?;
        let disk_id = DiskId::new_random();
        let alias =
            if req.name.trim().is_empty() { format!("disk-{}", &disk_id.to_string()[..8]) } else { req.name.clone() };
        let now = Timestamp::now();
        let disk = Disk {
            id: disk_id,
            alias,
            description: req.description,
            storage_domain_id: sd.id,
            format: req.format,
            sparse,
            provisioned_size: size,
            actual_size: ByteSize(0),
            status: DiskStatus::Locked,
            volume_id: VolumeId::new_random(),
            shareable: req.shareable,
            wipe_after_delete: req.wipe_after_delete,
            created: now,
        };
        let data =
            DiskJobData { disk_id, volume_ids: vec![disk.volume_id], storage_domain_id: sd.id, host_id: host.id };
        let data_json = serde_json::to_value(&data).map_err(|e| AppError::Worker(e.to_string()))?;
        let mut run = self.job_begin(Some(who), "AddDisk", format!("Adding disk {}", disk.alias)).await?;

        // Step 1: the disk and its volume, locked.
        let mut step =
            self.job_step_begin(&mut run, StepType::Executing, "Recording the disk", data_json.clone()).await?;
        let recorded: Result<()> = async {
            let mut tx = self.store.begin().await?;
            tx.disk_insert(&disk).await?;
            tx.volume_insert(&Volume {
                id: disk.volume_id,
                disk_id,
                parent_id: None,
                format: disk.format,
                status: VolumeStatus::Locked,
                actual_size: ByteSize(0),
                created: now,
            })
            .await?;
            tx.commit().await?;
            Ok(())
        }
        .await;
        if let Err(e) = recorded {
            self.job_step_end(&mut step, oxvirt_engine_db::model::JobStatus::Failed).await;
            self.job_end(run, oxvirt_engine_db::model::JobStatus::Failed).await;
            return Err(e);
        }
        self.job_step_end(&mut step, oxvirt_engine_db::model::JobStatus::Finished).await;

        // Step 2: the volume on the host.
        let mut step = self
            .job_step_begin(
                &mut run,
                StepType::Executing,
                format!("Creating the volume on host {}", host.name),
                data_json.clone(),
            )
            .await?;
        let created = async {
            let agent = self.agent_for(&host)?;
            let req = v1::VolumeCreate {
                image_id: disk_id,
                volume_id: disk.volume_id,
                format: agent_format(disk.format),
                size: Some(size),
                sparse,
                parent: None,
                description: disk.alias.clone(),
            };
            // An active domain is connected on every Up host of its data center (activation
            // and host activation see to it), so connecting again is only needed when the
            // host says it does not know the domain.
            match agent.volume_create(sd.id, &req).await {
                Err(e) if is_not_found(&e) => {
                    self.storage_domain_connect_on(&host, &sd).await?;
                    Ok::<_, AppError>(agent.volume_create(sd.id, &req).await?)
                }
                other => Ok(other?),
            }
        }
        .await;
        let info = match created {
            Ok(info) => info,
            Err(e) => {
                // The agent cleans up after a failed creation; the rows go.
                if let Err(d) = self.store.disk_delete(disk_id).await {
                    tracing::error!(disk = %disk_id, error = %d, "cannot remove the row of a disk that failed");
                }
                self.job_step_end(&mut step, oxvirt_engine_db::model::JobStatus::Failed).await;
                self.job_end(run, oxvirt_engine_db::model::JobStatus::Failed).await;
                self.audit(
                    who,
                    Severity::Error,
                    AuditCode::USER_ADD_DISK_FINISHED_FAILURE,
                    format!("Add-Disk operation of {} failed: {e}", disk.alias),
                    EventRefs { storage_domain_id: Some(sd.id), host_id: Some(host.id), ..EventRefs::default() },
                )
                .await;
                return Err(e);
            }
        };
        self.job_step_end(&mut step, oxvirt_engine_db::model::JobStatus::Finished).await;

        // Step 3: the disk is ready.
        let mut step = self.job_step_begin(&mut run, StepType::Finalizing, "Marking the disk ok", data_json).await?;
        self.disk_add_finish(disk_id, disk.volume_id, info.actual_size).await?;
        self.job_step_end(&mut step, oxvirt_engine_db::model::JobStatus::Finished).await;
        self.job_end(run, oxvirt_engine_db::model::JobStatus::Finished).await;
        self.storage_domain_space_refresh(&sd, &host).await;
        self.audit(
            who,
            Severity::Normal,
            AuditCode::USER_ADD_DISK_FINISHED_SUCCESS,
            format!("The disk {} was successfully added by {} on storage domain {}.", disk.alias, who.login, sd.name),
            EventRefs { storage_domain_id: Some(sd.id), host_id: Some(host.id), ..EventRefs::default() },
        )
        .await;
        Ok(self.store.disk_get(disk_id).await?)
    }

    async fn disk_add_finish(&self, disk_id: DiskId, volume_id: VolumeId, actual: ByteSize) -> Result<()> {
        let mut tx = self.store.begin().await?;
        tx.volume_update(volume_id, VolumeStatus::Ok, actual).await?;
        let mut disk = tx.disk_get(disk_id).await?;
        disk.actual_size = actual;
        disk.status = DiskStatus::Ok;
        tx.disk_update(&disk).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn disk_get(&self, id: DiskId) -> Result<Disk> {
        Ok(self.store.disk_get(id).await?)
    }

    pub async fn disk_list(&self, q: &ListQuery) -> Result<Vec<Disk>> {
        let c = q.criteria(&super::query::DISKS)?;
        let status = c
            .status
            .map(|s| {
                DiskStatus::from_wire(&s).ok_or_else(|| AppError::InvalidInput(format!("'{s}' is not a disk status")))
            })
            .transpose()?;
        let filter = DiskFilter { name: c.name, status, storage_domain_id: None, vm_id: None, page: c.page };
        Ok(self.store.disk_list(&filter).await?)
    }

    /// Removes a disk: its volume files first (through a host that reaches its domain), then
    /// its rows. Refused while it is locked or attached to a VM that is not down. Durable job
    /// `RemoveDisk`.
    pub async fn disk_remove(&self, who: &Principal, id: DiskId) -> Result<()> {
        let disk = self.store.disk_get(id).await?;
        if disk.status == DiskStatus::Locked {
            return Err(AppError::Conflict(format!(
                "disk {} is locked (an operation on it is running); try again when it is ok",
                disk.alias
            )));
        }
        if let Some((vm, status)) = self.disk_vm_not_down(id).await? {
            return Err(AppError::Conflict(format!(
                "disk {} is attached to VM {vm}, which is {status}; stop the VM (or detach the disk) first",
                disk.alias
            )));
        }
        let sd = self.store.storage_domain_get(disk.storage_domain_id).await?;
        let host = self.storage_domain_host(&sd).await?;
        let mut volumes = self.store.volume_list_for_disk(id).await?;
        volumes.reverse(); // leaf first: a parent cannot go before its children
        let mut volume_ids: Vec<VolumeId> = volumes.iter().map(|v| v.id).collect();
        if volume_ids.is_empty() {
            volume_ids.push(disk.volume_id);
        }
        let data = DiskJobData { disk_id: id, volume_ids, storage_domain_id: sd.id, host_id: host.id };
        let data_json = serde_json::to_value(&data).map_err(|e| AppError::Worker(e.to_string()))?;
        let mut run = self.job_begin(Some(who), "RemoveDisk", format!("Removing disk {}", disk.alias)).await?;
        let mut step = self
            .job_step_begin(
                &mut run,
                StepType::Executing,
                format!("Deleting the volumes on host {}", host.name),
                data_json,
            )
            .await?;
        self.store.disk_status_set(id, DiskStatus::Locked).await?;
        if let Err(e) = self.disk_volumes_delete(&host, &data).await {
            // Nothing is lost: the disk is as it was, removal can be retried.
            let _ = self.store.disk_status_set(id, disk.status).await;
            self.job_step_end(&mut step, oxvirt_engine_db::model::JobStatus::Failed).await;
            self.job_end(run, oxvirt_engine_db::model::JobStatus::Failed).await;
            return Err(e);
        }
        self.store.disk_delete(id).await?;
        self.job_step_end(&mut step, oxvirt_engine_db::model::JobStatus::Finished).await;
        self.job_end(run, oxvirt_engine_db::model::JobStatus::Finished).await;
        self.storage_domain_space_refresh(&sd, &host).await;
        self.audit(
            who,
            Severity::Normal,
            AuditCode::USER_FINISHED_REMOVE_DISK,
            format!("Disk {} was successfully removed from domain {} by {}.", disk.alias, sd.name, who.login),
            EventRefs { storage_domain_id: Some(sd.id), host_id: Some(host.id), ..EventRefs::default() },
        )
        .await;
        Ok(())
    }

    /// Deletes the volumes of `data` on `host`; volumes already gone are fine.
    async fn disk_volumes_delete(&self, host: &Host, data: &DiskJobData) -> Result<()> {
        let agent: AgentClient = self.agent_for(host)?;
        for v in &data.volume_ids {
            let r = v1::VolumeRef { image_id: data.disk_id, volume_id: *v };
            match agent.volume_delete(data.storage_domain_id, r).await {
                Ok(()) => {}
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    fn disk_job_data(steps: &[Step]) -> Option<DiskJobData> {
        steps.iter().find_map(|s| serde_json::from_value::<DiskJobData>(s.data.clone()).ok())
    }

    /// Recovery of an `AddDisk` job: if the host has the volume complete (legal), the disk
    /// becomes `ok`; otherwise whatever exists of the volume is deleted (the agent serialises this
    /// after a creation still running) and the disk row goes.
    pub(super) async fn disk_add_recover(
        &self,
        job: &Job,
        steps: &[Step],
    ) -> Result<oxvirt_engine_db::model::JobStatus> {
        use oxvirt_engine_db::model::JobStatus;
        let Some(data) = Self::disk_job_data(steps) else { return Ok(JobStatus::Failed) };
        let volume_id = data.volume_ids.first().copied();
        let disk = match self.store.disk_get(data.disk_id).await {
            Ok(d) => Some(d),
            Err(StoreError::NotFound { .. }) => None,
            Err(e) => return Err(e.into()),
        };
        let reached_agent = steps.iter().any(|s| s.number >= 2);
        let host = match self.store.host_get(data.host_id).await {
            Ok(h) => Some(h),
            Err(StoreError::NotFound { .. }) => None,
            Err(e) => return Err(e.into()),
        };
        if let (true, Some(host), Some(vol)) = (reached_agent, &host, volume_id) {
            let agent = self.agent_for(host)?;
            let r = v1::VolumeRef { image_id: data.disk_id, volume_id: vol };
            match agent.volume_info(data.storage_domain_id, r).await {
                Ok(info) if disk.is_some() && info.legal => {
                    self.disk_add_finish(data.disk_id, vol, info.actual_size).await?;
                    tracing::warn!(job = %job.id, disk = %data.disk_id, "recovered: the disk's volume was complete");
                    if let Ok(sd) = self.store.storage_domain_get(data.storage_domain_id).await {
                        self.storage_domain_space_refresh(&sd, host).await;
                    }
                    return Ok(JobStatus::Finished);
                }
                Ok(_) => {}
                Err(e) if is_not_found(&e) => {}
                // The host does not answer: try again at the next start.
                Err(e) => return Err(e.into()),
            }
            self.disk_volumes_delete(host, &data).await?;
        } else if reached_agent {
            tracing::error!(
                job = %job.id, disk = %data.disk_id, host = %data.host_id,
                "the host that created the disk's volume is gone; its file may remain on the storage"
            );
        }
        if disk.is_some() {
            match self.store.disk_delete(data.disk_id).await {
                Ok(()) | Err(StoreError::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        tracing::warn!(job = %job.id, disk = %data.disk_id, "recovered: the unfinished disk was rolled back");
        Ok(JobStatus::Failed)
    }

    /// Recovery of a `RemoveDisk` job: finishes the removal (files, then rows).
    pub(super) async fn disk_remove_recover(
        &self,
        job: &Job,
        steps: &[Step],
    ) -> Result<oxvirt_engine_db::model::JobStatus> {
        use oxvirt_engine_db::model::JobStatus;
        let Some(data) = Self::disk_job_data(steps) else { return Ok(JobStatus::Failed) };
        match self.store.host_get(data.host_id).await {
            Ok(host) => self.disk_volumes_delete(&host, &data).await?,
            Err(StoreError::NotFound { .. }) => tracing::error!(
                job = %job.id, disk = %data.disk_id,
                "the host that was removing the disk is gone; its files may remain on the storage"
            ),
            Err(e) => return Err(e.into()),
        }
        match self.store.disk_delete(data.disk_id).await {
            Ok(()) | Err(StoreError::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        tracing::warn!(job = %job.id, disk = %data.disk_id, "recovered: the disk removal was finished");
        Ok(JobStatus::Finished)
    }
}
