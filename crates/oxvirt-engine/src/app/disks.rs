//! Disks: added, extended, sparsified and removed as durable jobs (`AddDisk`,
//! `ExtendImageSize`, `SparsifyImage`, `RemoveDisk`, sagas run by the
//! [executor](super::saga)); volumes created through a host that reaches the domain, grown
//! through the host whose VM has them open.

use super::Named;
use super::saga::{JobOptions, Outcome, SagaCtx, SagaDef, StepDef, Undo, end_fn, output, step_fn};
use super::storage_domains::is_not_found;
use super::{App, AppError, DiskFields, ListQuery, Result};
use crate::auth::Principal;
use oxvirt_agent_api::v1;
use oxvirt_agent_client::AgentClient;
use oxvirt_engine_db::model::{
    AuditCode, Disk, DiskAttachment, DiskFormat, DiskStatus, EventRefs, Host, Severity, StepType, StorageDomain,
    StorageDomainType, Timestamp, Volume, VolumeStatus,
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
    pub comment: Option<String>,
    pub storage_domain: Named<StorageDomainId>,
    pub format: DiskFormat,
    /// Thin or preallocated; `None` = thin. `cow` must be thin on file domains (oVirt's rule).
    pub sparse: Option<bool>,
    /// Virtual size; rounded up to whole 512-byte sectors.
    pub provisioned_size: ByteSize,
    pub shareable: bool,
    pub wipe_after_delete: bool,
}

/// What an `AddDisk` / `RemoveDisk` job was asked (its parameters, written before it acts).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct DiskJobData {
    disk_id: DiskId,
    alias: String,
    /// Volumes of the disk, leaf first.
    volume_ids: Vec<VolumeId>,
    storage_domain_id: StorageDomainId,
    storage_domain_name: String,
    host_id: HostId,
    host_name: String,
    /// The new volume's format (`AddDisk`).
    format: Option<DiskFormat>,
    sparse: bool,
    size: ByteSize,
    /// The disk's status before the removal locked it (`RemoveDisk`).
    prior: Option<DiskStatus>,
}

impl DiskJobData {
    fn of(disk: &Disk, sd: &StorageDomain, host: &Host, volume_ids: Vec<VolumeId>) -> Self {
        Self {
            disk_id: disk.id,
            alias: disk.alias.clone(),
            volume_ids,
            storage_domain_id: sd.id,
            storage_domain_name: sd.name.clone(),
            host_id: host.id,
            host_name: host.name.clone(),
            format: None,
            sparse: disk.sparse,
            size: disk.provisioned_size,
            prior: None,
        }
    }
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
    /// Creates a disk (one volume) on an active data domain, through a host that reaches it:
    /// a durable job (`AddDisk`). Answers at once with the disk `locked` (its rows and the job
    /// written in one transaction); it becomes `ok` when its volume exists.
    pub async fn disk_add(&self, who: &Principal, req: DiskAdd, opts: &JobOptions) -> Result<Disk> {
        self.disk_add_attached(who, req, None, opts).await
    }

    /// [`App::disk_add`], attached to a VM in the same transaction when `attach` is given (a
    /// new disk created through a VM's disk attachments; its `disk_id` is replaced).
    pub(super) async fn disk_add_attached(
        &self,
        who: &Principal,
        req: DiskAdd,
        attach: Option<DiskAttachment>,
        opts: &JobOptions,
    ) -> Result<Disk> {
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
        let size = sector_round(req.provisioned_size)?;
        let host = self.storage_domain_host(&sd).await?;
        let disk_id = DiskId::new_random();
        let alias =
            if req.name.trim().is_empty() { format!("disk-{}", &disk_id.to_string()[..8]) } else { req.name.clone() };
        let now = Timestamp::now();
        let disk = Disk {
            id: disk_id,
            alias,
            description: req.description,
            comment: req.comment.unwrap_or_default(),
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
        let params =
            DiskJobData { format: Some(disk.format), ..DiskJobData::of(&disk, &sd, &host, vec![disk.volume_id]) };
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
        if let Some(a) = attach {
            let vm = tx.vm_get(a.vm_id).await?;
            tx.disk_attachment_insert(&DiskAttachment { disk_id, ..a }).await.map_err(|e| match e {
                StoreError::AlreadyExists(message) | StoreError::InUse { by: message, .. } => AppError::Conflict(
                    format!("cannot attach the new disk {} to VM {}: {message}", disk.alias, vm.name),
                ),
                other => other.into(),
            })?;
        }
        let job_id = self.saga_start(tx, who, &ADD_DISK, format!("Adding disk {}", disk.alias), &params, opts).await?;
        self.job_settle_for(opts, job_id).await?;
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
        let key = |d: &Disk| (d.status.as_str().to_owned(), d.alias.clone(), d.id.to_string());
        self.list_any_of(q, |g| async move { self.disk_list_and(&g).await }, key).await
    }

    /// [`App::disk_list`] of a search without `or`.
    async fn disk_list_and(&self, q: &ListQuery) -> Result<Vec<Disk>> {
        let c = q.criteria(&super::query::DISKS)?;
        let status = c
            .status
            .clone()
            .map(|s| {
                DiskStatus::from_wire(&s).ok_or_else(|| AppError::InvalidInput(format!("'{s}' is not a disk status")))
            })
            .transpose()?;
        let (Some(storage_domain_id), Some(vm_id)) =
            (self.scope_storage_domain(&c).await?.filter(), self.scope_vm(&c).await?.filter())
        else {
            return Ok(Vec::new());
        };
        let filter = DiskFilter { name: c.name, status, storage_domain_id, vm_id, page: c.page };
        Ok(self.store.disk_list(&filter).await?)
    }

    /// Removes a disk: its volume files first (through a host that reaches its domain), then
    /// its rows. Refused while it is locked or attached to a VM that is not down. A durable
    /// job (`RemoveDisk`): the disk is locked (compare-and-set from ok or illegal) with the
    /// job's creation; a VM start locks its disks the same way, so one of the two wins.
    pub async fn disk_remove(&self, who: &Principal, id: DiskId, opts: &JobOptions) -> Result<()> {
        let disk = self.store.disk_get(id).await?;
        // The VM first: a start locks its disks only until its job confirms the VM runs, which
        // may come just after the VM is seen up; the running VM is the lasting reason.
        if let Some((vm, status)) = self.disk_vm_not_down(id).await? {
            return Err(AppError::Conflict(format!(
                "disk {} is attached to VM {vm}, which is {status}; stop the VM (or detach the disk) first",
                disk.alias
            )));
        }
        disk_ready(&disk, false)?;
        let sd = self.store.storage_domain_get(disk.storage_domain_id).await?;
        let host = self.storage_domain_host(&sd).await?;
        let volumes = self.disk_volume_ids(&disk).await?;
        let params = DiskJobData { prior: Some(disk.status), ..DiskJobData::of(&disk, &sd, &host, volumes) };
        let mut tx = self.store.begin().await?;
        if !tx.disk_status_move(id, &[disk.status], DiskStatus::Locked).await? {
            return Err(AppError::Conflict(format!(
                "disk {} changed while being removed (a VM using it may be starting); look at it and try again",
                disk.alias
            )));
        }
        let job_id =
            self.saga_start(tx, who, &REMOVE_DISK, format!("Removing disk {}", disk.alias), &params, opts).await?;
        self.job_settle_for(opts, job_id).await
    }

    /// Sparsifies a thin disk (oVirt's `SparsifyImage`): its volume is rewritten on a host
    /// without its zeroed clusters, and the disk's allocation shrinks to what the guest stored.
    /// As in oVirt: every VM using it must be down, the disk thin and without snapshots. A
    /// durable job; the disk is `locked` until it is done.
    pub async fn disk_sparsify(&self, who: &Principal, id: DiskId, opts: &JobOptions) -> Result<()> {
        let disk = self.store.disk_get(id).await?;
        if let Some((vm, status)) = self.disk_vm_not_down(id).await? {
            return Err(AppError::Conflict(format!(
                "disk {} is attached to VM {vm}, which is {status}; stop the VM before sparsifying the disk",
                disk.alias
            )));
        }
        disk_ready(&disk, true)?;
        if !disk.sparse {
            return Err(AppError::Conflict(format!(
                "disk {} is preallocated; only thin (sparse) disks can be sparsified",
                disk.alias
            )));
        }
        if self.store.volume_list_for_disk(id).await?.len() > 1 {
            return Err(AppError::Conflict(format!(
                "disk {} has snapshots; remove them before sparsifying the disk",
                disk.alias
            )));
        }
        let sd = self.store.storage_domain_get(disk.storage_domain_id).await?;
        let params = DiskSparsifyData {
            disk_id: disk.id,
            alias: disk.alias.clone(),
            volume_id: disk.volume_id,
            storage_domain_id: sd.id,
        };
        let mut tx = self.store.begin().await?;
        if !tx.disk_status_move(id, &[DiskStatus::Ok], DiskStatus::Locked).await? {
            return Err(AppError::Conflict(format!(
                "disk {} changed while being sparsified (a VM using it may be starting); look at it and try again",
                disk.alias
            )));
        }
        let title = format!("Sparsifying disk {}", disk.alias);
        let job_id = self.saga_start(tx, who, &SPARSIFY_DISK, title, &params, opts).await?;
        self.audit(
            who,
            Severity::Normal,
            AuditCode::USER_SPARSIFY_IMAGE_START,
            format!("Started to sparsify {}", disk.alias),
            EventRefs { storage_domain_id: Some(sd.id), ..EventRefs::default() },
        )
        .await;
        self.job_settle_for(opts, job_id).await
    }

    /// Reduces a disk (oVirt's `ReduceImage`): shrinks a qcow2 volume's logical volume on a
    /// *block* domain to what the image uses. oxvirt's domains are file domains, where a volume
    /// already takes only what it uses, and oVirt refuses reduce there too: this says so.
    pub async fn disk_reduce(&self, _who: &Principal, id: DiskId) -> Result<()> {
        let disk = self.store.disk_get(id).await?;
        let sd = self.store.storage_domain_get(disk.storage_domain_id).await?;
        Err(AppError::Conflict(format!(
            "disk {} is on storage domain {}, a file domain: reduce applies only to disks on block domains              (iSCSI, FC), where a volume is a logical volume that can shrink; a file volume already takes only              what it uses (sparsify gives back its zeroed space)",
            disk.alias, sd.name
        )))
    }

    /// Updates a disk: its name, description and wipe-after-delete flag at once; a bigger
    /// `provisioned_size` extends it (a durable `ExtendImageSize` job: the disk is locked until
    /// its volume has grown, through the VM's QEMU when a VM runs with it, so the guest sees
    /// the new size at once). A smaller size, another format, allocation or storage domain are
    /// refused naming the field and what to do instead; a field given with the value it has is
    /// no change (clients restate whole disks).
    pub async fn disk_update(&self, who: &Principal, id: DiskId, req: DiskFields, opts: &JobOptions) -> Result<Disk> {
        let disk = self.store.disk_get(id).await?;
        let refuse = |what: String| Err(AppError::InvalidInput(format!("disk {}: {what}", disk.alias)));
        if let Some(other) = req.id.filter(|given| *given != id) {
            return refuse(format!(
                "the request names disk {other} in its body; an update changes the disk of its path"
            ));
        }
        if let Some(f) = req.format.filter(|f| *f != disk.format) {
            return refuse(format!(
                "its format is {}; converting it to {f} is not an update (copy the disk to a new one instead)",
                disk.format
            ));
        }
        if let Some(sparse) = req.sparse.filter(|s| *s != disk.sparse) {
            return refuse(format!(
                "it is {}; making it {} is not an update (copy the disk to a new one instead)",
                allocation(disk.sparse),
                allocation(sparse)
            ));
        }
        if let Some(sd) = &req.storage_domain {
            let sd = self.storage_domain_resolve(sd).await?;
            if sd.id != disk.storage_domain_id {
                return refuse(format!(
                    "it is on another storage domain than {}; moving a disk is its own action (POST /disks/{}/move), not an update",
                    sd.name, disk.id
                ));
            }
        }
        if let Some(shareable) = req.shareable.filter(|s| *s != disk.shareable) {
            if shareable && disk.format != DiskFormat::Raw {
                return refuse("a shareable disk must be raw; this one is cow (qcow2)".to_owned());
            }
            let attached = self.store.disk_attachment_list_for_disk(id).await?.len();
            if !shareable && attached > 1 {
                return refuse(format!(
                    "it is attached to {attached} VMs; detach it from all but one before making it not shareable"
                ));
            }
        }
        let grow = match req.provisioned_size {
            Some(size) if size.bytes() < disk.provisioned_size.bytes() => {
                return refuse(format!(
                    "it is {} bytes; shrinking it to {} bytes is not supported (it would cut off the guest's data)",
                    disk.provisioned_size.bytes(),
                    size.bytes()
                ));
            }
            Some(size) if size.bytes() > disk.provisioned_size.bytes() => Some(sector_round(size)?),
            _ => None,
        };
        // Everything that can refuse is checked before anything is written, so a refused
        // update changes nothing.
        if grow.is_some() {
            disk_ready(&disk, true)?;
        }
        let mut changed = disk.clone();
        if let Some(name) = req.name {
            if name.trim().is_empty() {
                return refuse("a disk's name cannot be empty; leave name out to keep it".to_owned());
            }
            changed.alias = name;
        }
        changed.description = req.description.unwrap_or(changed.description);
        changed.shareable = req.shareable.unwrap_or(changed.shareable);
        changed.wipe_after_delete = req.wipe_after_delete.unwrap_or(changed.wipe_after_delete);
        if changed != disk {
            disk_ready(&disk, false)?;
            if !self.store.disk_update_from(&changed, disk.status).await? {
                return Err(AppError::Conflict(format!(
                    "disk {} changed while being updated; read it again and retry",
                    disk.alias
                )));
            }
            self.audit(
                who,
                Severity::Normal,
                AuditCode::USER_UPDATE_DISK,
                format!("Disk {} was updated by {}.", changed.alias, who.login),
                EventRefs { storage_domain_id: Some(disk.storage_domain_id), ..EventRefs::default() },
            )
            .await;
        }
        if let Some(size) = grow {
            self.disk_extend(who, &changed, size, opts).await?;
        }
        Ok(self.store.disk_get(id).await?)
    }

    /// Starts the `ExtendImageSize` job of a disk growing to `size`: locks the disk
    /// (compare-and-set from ok) in the job's transaction.
    async fn disk_extend(&self, who: &Principal, disk: &Disk, size: ByteSize, opts: &JobOptions) -> Result<()> {
        let sd = self.store.storage_domain_get(disk.storage_domain_id).await?;
        let params = DiskExtendData {
            disk_id: disk.id,
            alias: disk.alias.clone(),
            volume_id: disk.volume_id,
            storage_domain_id: sd.id,
            to: size,
        };
        let mut tx = self.store.begin().await?;
        if !tx.disk_status_move(disk.id, &[DiskStatus::Ok], DiskStatus::Locked).await? {
            return Err(AppError::Conflict(format!(
                "disk {} changed while being extended (a VM using it may be starting); look at it and try again",
                disk.alias
            )));
        }
        let title = format!("Extending disk {} to {} bytes", disk.alias, size.bytes());
        let job_id = self.saga_start(tx, who, &EXTEND_DISK, title, &params, opts).await?;
        self.job_settle_for(opts, job_id).await
    }

    /// The host to grow a disk's volume through: the one a VM runs on with the disk (its
    /// QEMU has the file open and must do it), else one that reaches the disk's domain.
    async fn disk_extend_host(&self, p: &DiskExtendData) -> Result<Host> {
        for a in self.store.disk_attachment_list_for_disk(p.disk_id).await? {
            let vm = self.store.vm_get(a.vm_id).await?;
            if vm.runtime.status != VmStatus::Down
                && let Some(host) = vm.runtime.host_id
            {
                return Ok(self.store.host_get(host).await?);
            }
        }
        let sd = self.store.storage_domain_get(p.storage_domain_id).await?;
        self.storage_domain_host(&sd).await.map_err(|e| match e {
            // No Up host reaching the domain *now* (one is coming back): the step retries.
            AppError::Conflict(message) => AppError::Failed(oxvirt_types::ErrorKind::Unavailable, message),
            other => other,
        })
    }

    /// A disk's volumes, leaf first (a parent cannot go before its children).
    async fn disk_volume_ids(&self, disk: &Disk) -> Result<Vec<VolumeId>> {
        let mut ids: Vec<VolumeId> = self.store.volume_list_for_disk(disk.id).await?.iter().map(|v| v.id).collect();
        ids.reverse();
        if ids.is_empty() {
            ids.push(disk.volume_id);
        }
        Ok(ids)
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

    /// Deletes a locked disk for good: its volumes through a host that reaches its domain,
    /// then its rows. Idempotent (a disk already gone is fine).
    pub(super) async fn disk_destroy(&self, id: DiskId) -> Result<()> {
        let disk = match self.store.disk_get(id).await {
            Ok(d) => d,
            Err(StoreError::NotFound { .. }) => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        let sd = self.store.storage_domain_get(disk.storage_domain_id).await?;
        // No Up host reaching the domain *now* (one is coming back): a job retries that.
        let host = self.storage_domain_host(&sd).await.map_err(|e| match e {
            AppError::Conflict(message) => AppError::Failed(oxvirt_types::ErrorKind::Unavailable, message),
            other => other,
        })?;
        let data = DiskJobData::of(&disk, &sd, &host, self.disk_volume_ids(&disk).await?);
        self.disk_volumes_delete(&host, &data).await?;
        match self.store.disk_delete(id).await {
            Ok(()) | Err(StoreError::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        self.storage_domain_space_refresh(&sd, &host).await;
        Ok(())
    }

    /// Sets locked disks back to ok (compare-and-set; disks gone or not locked are left).
    pub(super) async fn disks_unlock(&self, disks: &[DiskId]) -> Result<()> {
        for d in disks {
            match self.store.disk_status_move(*d, &[DiskStatus::Locked], DiskStatus::Ok).await {
                Ok(_) | Err(StoreError::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }
}

/// A size rounded up to whole sectors; a size beyond what the database stores (a signed
/// 64-bit count of bytes, 8 EiB) is refused, as is one that cannot be rounded.
fn sector_round(size: ByteSize) -> Result<ByteSize> {
    let rounded = size.bytes().div_ceil(SECTOR).checked_mul(SECTOR).filter(|b| i64::try_from(*b).is_ok());
    rounded.map(ByteSize).ok_or_else(|| {
        AppError::InvalidInput(format!("a provisioned_size of {} bytes is beyond what any storage holds", size.bytes()))
    })
}

/// Refuses a disk an operation holds (`locked`); with `must_be_ok`, also one an operation left
/// `illegal` (what only a removal may take).
fn disk_ready(disk: &Disk, must_be_ok: bool) -> Result<()> {
    let why = match disk.status {
        DiskStatus::Locked => "is locked (an operation on it is running); try again when it is ok",
        DiskStatus::Illegal if must_be_ok => "is illegal (an operation on it failed half-way); remove it",
        _ => return Ok(()),
    };
    Err(AppError::Conflict(format!("disk {} {why}", disk.alias)))
}

fn allocation(sparse: bool) -> &'static str {
    if sparse { "thin (sparse)" } else { "preallocated" }
}

// ---- jobs ---------------------------------------------------------------------------------

/// `AddDisk`: the request wrote the disk and its volume `locked` (with its attachment when
/// made through a VM); the volume is created on the host, then the disk is `ok`.
pub(super) static ADD_DISK: SagaDef = SagaDef {
    action_type: "AddDisk",
    steps: &[
        StepDef::by_request(
            "Recording the disk (locked)",
            StepType::Validating,
            Undo::Action(step_fn!(disk_add_unrecord)),
        ),
        StepDef::new(
            "Creating the disk's volume on the host",
            StepType::Executing,
            step_fn!(disk_add_volume),
            Undo::Action(step_fn!(disk_add_volume_delete)),
        ),
        StepDef::new("Marking the disk ok", StepType::Finalizing, step_fn!(disk_add_done), Undo::Nothing),
    ],
    ended: Some(end_fn!(disk_add_ended)),
};

async fn disk_add_unrecord(ctx: &SagaCtx) -> Result<serde_json::Value> {
    let p: DiskJobData = ctx.params()?;
    match ctx.app.store.disk_delete(p.disk_id).await {
        Ok(()) | Err(StoreError::NotFound { .. }) => Ok(serde_json::Value::Null),
        Err(e) => Err(e.into()),
    }
}

async fn disk_add_volume(ctx: &SagaCtx) -> Result<serde_json::Value> {
    let p: DiskJobData = ctx.params()?;
    let app = &ctx.app;
    let host = app.store.host_get(p.host_id).await?;
    let sd = app.store.storage_domain_get(p.storage_domain_id).await?;
    let agent = app.agent_for(&host)?;
    let volume_id = p.volume_ids[0];
    let r = v1::VolumeRef { image_id: p.disk_id, volume_id };
    // Idempotent: a complete volume of an earlier attempt is this one; a partial one goes.
    if ctx.rerun() {
        match agent.volume_info(sd.id, r).await {
            Ok(info) if info.legal => return output(info),
            Ok(_) => app.disk_volumes_delete(&host, &p).await?,
            Err(e) if is_not_found(&e) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let req = v1::VolumeCreate {
        image_id: p.disk_id,
        volume_id,
        format: agent_format(p.format.unwrap_or(DiskFormat::Cow)),
        size: Some(p.size),
        sparse: p.sparse,
        parent: None,
        description: p.alias.clone(),
    };
    // An active domain is connected on every Up host of its data center (activation and host
    // activation see to it), so connecting again is only needed when the host does not know it.
    let info = match agent.volume_create(sd.id, &req).await {
        Err(e) if is_not_found(&e) => {
            app.storage_domain_connect_on(&host, &sd).await?;
            agent.volume_create(sd.id, &req).await?
        }
        other => other?,
    };
    output(info)
}

async fn disk_add_volume_delete(ctx: &SagaCtx) -> Result<serde_json::Value> {
    let p: DiskJobData = ctx.params()?;
    match ctx.app.store.host_get(p.host_id).await {
        Ok(host) => ctx.app.disk_volumes_delete(&host, &p).await?,
        Err(StoreError::NotFound { .. }) => tracing::error!(
            job = %ctx.job.id, disk = %p.disk_id,
            "the host that created the disk's volume is gone; its file may remain on the storage"
        ),
        Err(e) => return Err(e.into()),
    }
    Ok(serde_json::Value::Null)
}

async fn disk_add_done(ctx: &SagaCtx) -> Result<serde_json::Value> {
    let p: DiskJobData = ctx.params()?;
    let info: v1::VolumeInfo = ctx.output(2)?;
    ctx.app.disk_add_finish(p.disk_id, p.volume_ids[0], info.actual_size).await?;
    Ok(serde_json::Value::Null)
}

async fn disk_add_ended(ctx: &SagaCtx, outcome: &Outcome) {
    let Ok(p) = ctx.params::<DiskJobData>() else { return };
    let refs =
        EventRefs { storage_domain_id: Some(p.storage_domain_id), host_id: Some(p.host_id), ..EventRefs::default() };
    match &outcome.error {
        None => {
            if let (Ok(sd), Ok(host)) =
                (ctx.app.store.storage_domain_get(p.storage_domain_id).await, ctx.app.store.host_get(p.host_id).await)
            {
                ctx.app.storage_domain_space_refresh(&sd, &host).await;
            }
            ctx.app
                .audit(
                    &ctx.who,
                    Severity::Normal,
                    AuditCode::USER_ADD_DISK_FINISHED_SUCCESS,
                    format!(
                        "The disk {} was successfully added by {} on storage domain {}.",
                        p.alias, ctx.who.login, p.storage_domain_name
                    ),
                    refs,
                )
                .await
        }
        Some((_, e)) => {
            ctx.app
                .audit(
                    &ctx.who,
                    Severity::Error,
                    AuditCode::USER_ADD_DISK_FINISHED_FAILURE,
                    format!("Add-Disk operation of {} failed: {e}", p.alias),
                    refs,
                )
                .await
        }
    }
}

/// `RemoveDisk`: the request locked the disk; its volumes are deleted, then its rows. A
/// removal that fails half-way leaves the disk `illegal` (remove it again).
pub(super) static REMOVE_DISK: SagaDef = SagaDef {
    action_type: "RemoveDisk",
    steps: &[
        StepDef::by_request("Locking the disk", StepType::Validating, Undo::Action(step_fn!(disk_remove_unlock))),
        StepDef::new(
            "Deleting the disk's volumes on the host",
            StepType::Executing,
            step_fn!(disk_remove_volumes),
            Undo::Action(step_fn!(disk_remove_illegal)),
        ),
        StepDef::new("Removing the disk's rows", StepType::Finalizing, step_fn!(disk_remove_rows), Undo::Nothing),
    ],
    ended: Some(end_fn!(disk_remove_ended)),
};

async fn disk_remove_unlock(ctx: &SagaCtx) -> Result<serde_json::Value> {
    let p: DiskJobData = ctx.params()?;
    let back = p.prior.unwrap_or(DiskStatus::Ok);
    match ctx.app.store.disk_status_move(p.disk_id, &[DiskStatus::Locked], back).await {
        Ok(_) | Err(StoreError::NotFound { .. }) => Ok(serde_json::Value::Null),
        Err(e) => Err(e.into()),
    }
}

async fn disk_remove_volumes(ctx: &SagaCtx) -> Result<serde_json::Value> {
    let p: DiskJobData = ctx.params()?;
    let host = ctx.app.store.host_get(p.host_id).await?;
    ctx.app.disk_volumes_delete(&host, &p).await?;
    Ok(serde_json::Value::Null)
}

async fn disk_remove_illegal(ctx: &SagaCtx) -> Result<serde_json::Value> {
    let p: DiskJobData = ctx.params()?;
    match ctx.app.store.disk_status_move(p.disk_id, &[DiskStatus::Locked], DiskStatus::Illegal).await {
        Ok(_) | Err(StoreError::NotFound { .. }) => Ok(serde_json::Value::Null),
        Err(e) => Err(e.into()),
    }
}

async fn disk_remove_rows(ctx: &SagaCtx) -> Result<serde_json::Value> {
    let p: DiskJobData = ctx.params()?;
    match ctx.app.store.disk_delete(p.disk_id).await {
        Ok(()) | Err(StoreError::NotFound { .. }) => Ok(serde_json::Value::Null),
        Err(e) => Err(e.into()),
    }
}

async fn disk_remove_ended(ctx: &SagaCtx, outcome: &Outcome) {
    let Ok(p) = ctx.params::<DiskJobData>() else { return };
    let refs =
        EventRefs { storage_domain_id: Some(p.storage_domain_id), host_id: Some(p.host_id), ..EventRefs::default() };
    if let (Ok(sd), Ok(host)) =
        (ctx.app.store.storage_domain_get(p.storage_domain_id).await, ctx.app.store.host_get(p.host_id).await)
    {
        ctx.app.storage_domain_space_refresh(&sd, &host).await;
    }
    let (severity, code, text) = match &outcome.error {
        None => (
            Severity::Normal,
            AuditCode::USER_FINISHED_REMOVE_DISK,
            format!(
                "Disk {} was successfully removed from domain {} by {}.",
                p.alias, p.storage_domain_name, ctx.who.login
            ),
        ),
        Some((_, e)) => (
            Severity::Error,
            AuditCode::USER_FINISHED_FAILED_REMOVE_DISK,
            format!("Failed to remove disk {} from domain {}: {e}", p.alias, p.storage_domain_name),
        ),
    };
    ctx.app.audit(&ctx.who, severity, code, text, refs).await;
}

/// What an `ExtendImageSize` job was asked.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct DiskExtendData {
    disk_id: DiskId,
    alias: String,
    /// The disk's active (leaf) volume: the one that grows.
    volume_id: VolumeId,
    storage_domain_id: StorageDomainId,
    to: ByteSize,
}

/// `ExtendImageSize` (oVirt's name): the request locked the disk; its volume grows on the
/// host (idempotent: growing to the size it has is nothing), then the new size is recorded
/// and the disk unlocked. Unwinding records the size the volume really has, so a grow the
/// engine did not hear the end of is never hidden behind the old size.
pub(super) static EXTEND_DISK: SagaDef = SagaDef {
    action_type: "ExtendImageSize",
    steps: &[
        StepDef::by_request("Locking the disk", StepType::Validating, Undo::Action(step_fn!(disk_extend_unlock))),
        StepDef::new(
            "Growing the disk's volume on the host",
            StepType::Executing,
            step_fn!(disk_extend_volume),
            Undo::Nothing,
        ),
        StepDef::new("Recording the new size", StepType::Finalizing, step_fn!(disk_extend_done), Undo::Nothing),
    ],
    ended: Some(end_fn!(disk_extend_ended)),
};

/// Unlocks the disk with the size its volume has (the old one when the host cannot say).
async fn disk_extend_unlock(ctx: &SagaCtx) -> Result<serde_json::Value> {
    let p: DiskExtendData = ctx.params()?;
    let app = &ctx.app;
    let r = v1::VolumeRef { image_id: p.disk_id, volume_id: p.volume_id };
    let asked: Result<v1::VolumeInfo> = async {
        let host = app.disk_extend_host(&p).await?;
        Ok(app.agent_for(&host)?.volume_info(p.storage_domain_id, r).await?)
    }
    .await;
    let grown = match asked {
        Ok(info) => Some(info),
        Err(e) => {
            tracing::warn!(job = %ctx.job.id, disk = %p.alias, error = %e,
                "cannot read the volume's size while unwinding an extend; the disk keeps its old size");
            None
        }
    };
    let mut tx = app.store.begin().await?;
    let mut disk = match tx.disk_get(p.disk_id).await {
        Ok(d) => d,
        Err(StoreError::NotFound { .. }) => return Ok(serde_json::Value::Null),
        Err(e) => return Err(e.into()),
    };
    if let Some(info) = grown.filter(|i| i.virtual_size > disk.provisioned_size) {
        disk.provisioned_size = info.virtual_size;
        disk.actual_size = info.actual_size;
    }
    disk.status = DiskStatus::Ok;
    tx.disk_update_from(&disk, DiskStatus::Locked).await?;
    tx.commit().await?;
    Ok(serde_json::Value::Null)
}

async fn disk_extend_volume(ctx: &SagaCtx) -> Result<serde_json::Value> {
    let p: DiskExtendData = ctx.params()?;
    let app = &ctx.app;
    let host = app.disk_extend_host(&p).await?;
    let agent = app.agent_for(&host)?;
    let r = v1::VolumeRef { image_id: p.disk_id, volume_id: p.volume_id };
    let info = match agent.volume_resize(p.storage_domain_id, r, p.to).await {
        Err(e) if is_not_found(&e) => {
            // The host does not know the domain (it was connected before the host restarted).
            let sd = app.store.storage_domain_get(p.storage_domain_id).await?;
            app.storage_domain_connect_on(&host, &sd).await?;
            agent.volume_resize(p.storage_domain_id, r, p.to).await?
        }
        other => other?,
    };
    output(info)
}

async fn disk_extend_done(ctx: &SagaCtx) -> Result<serde_json::Value> {
    let p: DiskExtendData = ctx.params()?;
    let info: v1::VolumeInfo = ctx.output(2)?;
    let mut tx = ctx.app.store.begin().await?;
    tx.volume_update(p.volume_id, VolumeStatus::Ok, info.actual_size).await?;
    let mut disk = tx.disk_get(p.disk_id).await?;
    disk.provisioned_size = p.to;
    disk.actual_size = info.actual_size;
    disk.status = DiskStatus::Ok;
    tx.disk_update_from(&disk, DiskStatus::Locked).await?;
    tx.commit().await?;
    Ok(serde_json::Value::Null)
}

async fn disk_extend_ended(ctx: &SagaCtx, outcome: &Outcome) {
    let Ok(p) = ctx.params::<DiskExtendData>() else { return };
    // The domain's committed size counts the new provisioned size.
    if let (Ok(sd), Ok(host)) =
        (ctx.app.store.storage_domain_get(p.storage_domain_id).await, ctx.app.disk_extend_host(&p).await)
    {
        ctx.app.storage_domain_space_refresh(&sd, &host).await;
    }
    let refs = EventRefs { storage_domain_id: Some(p.storage_domain_id), ..EventRefs::default() };
    let (severity, code, text) = match &outcome.error {
        None => (
            Severity::Normal,
            AuditCode::USER_EXTEND_DISK_SIZE_SUCCESS,
            format!("Size of the disk '{}' was successfully updated to {} GB by {}.", p.alias, gb(p.to), ctx.who.login),
        ),
        Some((_, e)) => (
            Severity::Error,
            AuditCode::USER_EXTEND_DISK_SIZE_FAILURE,
            format!("Failed to update size of the disk '{}' to {} GB: {e}", p.alias, gb(p.to)),
        ),
    };
    ctx.app.audit(&ctx.who, severity, code, text, refs).await;
}

/// What a `SparsifyImage` job was asked.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct DiskSparsifyData {
    disk_id: DiskId,
    alias: String,
    /// The disk's only volume.
    volume_id: VolumeId,
    storage_domain_id: StorageDomainId,
}

impl DiskSparsifyData {
    /// A host that reaches the disk's domain; a passing absence of one is retried.
    async fn host(&self, app: &App) -> Result<Host> {
        let sd = app.store.storage_domain_get(self.storage_domain_id).await?;
        app.storage_domain_host(&sd).await.map_err(|e| match e {
            AppError::Conflict(message) => AppError::Failed(oxvirt_types::ErrorKind::Unavailable, message),
            other => other,
        })
    }
}

/// `SparsifyImage` (oVirt's name): the request locked the disk; a host rewrites its volume
/// without the zeroed clusters (idempotent: sparsifying again changes nothing), then the new
/// allocation is recorded and the disk unlocked. Unwinding unlocks it with the allocation the
/// volume really has (the host's copy replaced the file in one rename, or did not).
pub(super) static SPARSIFY_DISK: SagaDef = SagaDef {
    action_type: "SparsifyImage",
    steps: &[
        StepDef::by_request("Locking the disk", StepType::Validating, Undo::Action(step_fn!(disk_sparsify_unlock))),
        StepDef::new(
            "Sparsifying the disk's volume on the host",
            StepType::Executing,
            step_fn!(disk_sparsify_volume),
            Undo::Nothing,
        ),
        StepDef::new("Recording the allocation", StepType::Finalizing, step_fn!(disk_sparsify_done), Undo::Nothing),
    ],
    ended: Some(end_fn!(disk_sparsify_ended)),
};

/// The disk `ok` again with `actual_size` (when known), from `locked` only.
async fn disk_sparsify_record(app: &App, p: &DiskSparsifyData, actual: Option<ByteSize>) -> Result<()> {
    let mut tx = app.store.begin().await?;
    let mut disk = match tx.disk_get(p.disk_id).await {
        Ok(d) => d,
        Err(StoreError::NotFound { .. }) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    if let Some(actual) = actual {
        tx.volume_update(p.volume_id, VolumeStatus::Ok, actual).await?;
        disk.actual_size = actual;
    }
    disk.status = DiskStatus::Ok;
    tx.disk_update_from(&disk, DiskStatus::Locked).await?;
    tx.commit().await?;
    Ok(())
}

async fn disk_sparsify_unlock(ctx: &SagaCtx) -> Result<serde_json::Value> {
    let p: DiskSparsifyData = ctx.params()?;
    let app = &ctx.app;
    let r = v1::VolumeRef { image_id: p.disk_id, volume_id: p.volume_id };
    let asked: Result<v1::VolumeInfo> =
        async { Ok(app.agent_for(&p.host(app).await?)?.volume_info(p.storage_domain_id, r).await?) }.await;
    let actual = match asked {
        Ok(info) => Some(info.actual_size),
        Err(e) => {
            tracing::warn!(job = %ctx.job.id, disk = %p.alias, error = %e,
                "cannot read the volume's allocation while unwinding a sparsify; the disk keeps the old figure");
            None
        }
    };
    disk_sparsify_record(app, &p, actual).await?;
    Ok(serde_json::Value::Null)
}

async fn disk_sparsify_volume(ctx: &SagaCtx) -> Result<serde_json::Value> {
    let p: DiskSparsifyData = ctx.params()?;
    let app = &ctx.app;
    let host = p.host(app).await?;
    let agent = app.agent_for(&host)?;
    let r = v1::VolumeRef { image_id: p.disk_id, volume_id: p.volume_id };
    let info = match agent.volume_sparsify(p.storage_domain_id, r).await {
        Err(e) if is_not_found(&e) => {
            // The host does not know the domain (it was connected before the host restarted).
            let sd = app.store.storage_domain_get(p.storage_domain_id).await?;
            app.storage_domain_connect_on(&host, &sd).await?;
            agent.volume_sparsify(p.storage_domain_id, r).await?
        }
        other => other?,
    };
    output(info)
}

async fn disk_sparsify_done(ctx: &SagaCtx) -> Result<serde_json::Value> {
    let p: DiskSparsifyData = ctx.params()?;
    let info: v1::VolumeInfo = ctx.output(2)?;
    disk_sparsify_record(&ctx.app, &p, Some(info.actual_size)).await?;
    Ok(serde_json::Value::Null)
}

async fn disk_sparsify_ended(ctx: &SagaCtx, outcome: &Outcome) {
    let Ok(p) = ctx.params::<DiskSparsifyData>() else { return };
    if let (Ok(sd), Ok(host)) = (ctx.app.store.storage_domain_get(p.storage_domain_id).await, p.host(&ctx.app).await) {
        ctx.app.storage_domain_space_refresh(&sd, &host).await;
    }
    let refs = EventRefs { storage_domain_id: Some(p.storage_domain_id), ..EventRefs::default() };
    let (severity, code, text) = match &outcome.error {
        None => (
            Severity::Normal,
            AuditCode::USER_SPARSIFY_IMAGE_FINISH_SUCCESS,
            format!("{} sparsified successfully.", p.alias),
        ),
        Some((_, e)) => {
            (Severity::Error, AuditCode::OXVIRT_SPARSIFY_IMAGE_FAILED, format!("Failed to sparsify {}: {e}", p.alias))
        }
    };
    ctx.app.audit(&ctx.who, severity, code, text, refs).await;
}

/// A size in GiB as oVirt's extend messages print it (whole, or with decimals when not).
fn gb(size: ByteSize) -> String {
    let gib = size.bytes() as f64 / (1u64 << 30) as f64;
    if gib.fract() == 0.0 { format!("{gib:.0}") } else { format!("{gib:.2}") }
}
