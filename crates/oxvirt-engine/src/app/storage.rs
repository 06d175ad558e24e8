//! Storage domains, their attachment to data centers, and floating disks.
//!
//! Why it is shaped like this:
//! - **A domain is created through a host** (the agent formats it, oVirt/VDSM's layout) and
//!   that host is remembered: a `localfs` domain is a directory on it and reachable from it
//!   only, so activation, disk creation and VM placement must go through that host.
//! - **Attachment is the domain's life in a data center.** Attaching activates (as in oVirt):
//!   the domain is connected (agent `attach`) on every Up host of the data center's clusters
//!   that can reach it; maintenance (deactivate) disconnects it; only a domain in maintenance
//!   may be detached, and only an unattached one removed. A data domain belongs to one data
//!   center. The data center is `up` once it has an active data domain and an Up host.
//! - **Hosts joining later** get the active domains through [`App::host_storage_connect`]
//!   (host add, activation, VM start, host monitoring).
//! - **Disk creation and removal are durable jobs** (`AddDisk`, `RemoveDisk`): the ids of the
//!   disk, its volume, the domain and the host are written *before* the agent is asked, so a
//!   crash never leaves a volume file nobody knows about nor a disk stuck `locked`: recovery
//!   asks the host what exists and finishes or rolls back. Removal deletes the file first and
//!   the row last, so a failure leaves a disk that can be removed again, never a lost file.
//! - **Space figures** (`available`, `used` from the host; `committed` = provisioned sizes of
//!   the domain's disks) are refreshed at add, activation, and after disk add/remove.

use super::infra::{Named, missing_reference, name_check};
use super::{App, AppError, ListQuery, Result};
use crate::auth::Principal;
use oxvirt_agent_api::v1;
use oxvirt_agent_client::AgentClient;
use oxvirt_engine_db::model::{
    AuditCode, Disk, DiskFormat, DiskStatus, EventRefs, Host, Job, Severity, Step, StepType, StorageConnection,
    StorageDomain, StorageDomainAttachment, StorageDomainType, StorageType, Timestamp, Volume, VolumeStatus,
};
use oxvirt_engine_db::store::{ClusterFilter, DiskFilter, HostFilter, Page, StorageDomainFilter, StoreError};
use oxvirt_types::{
    ByteSize, DataCenterId, DataCenterStatus, DiskId, ErrorKind, HostId, HostStatus, StorageDomainId,
    StorageDomainStatus, VmStatus, VolumeId,
};
use serde::{Deserialize, Serialize};

/// oVirt's defaults for new domains.
const WARNING_LOW_SPACE_PERCENT: u32 = 10;
const CRITICAL_SPACE_BLOCKER_GIB: u32 = 5;
/// Sizes on storage are whole 512-byte sectors.
const SECTOR: u64 = 512;

/// A new storage domain, created through `host`.
#[derive(Debug, Clone)]
pub struct StorageDomainAdd {
    pub name: String,
    pub description: Option<String>,
    pub domain_type: StorageDomainType,
    pub host: Named<HostId>,
    pub connection: StorageConnection,
}

#[derive(Debug, Clone, Default)]
pub struct StorageDomainUpdate {
    pub name: Option<String>,
    pub description: Option<String>,
}

/// oVirt's parameters of a storage domain removal.
#[derive(Debug, Clone, Default)]
pub struct StorageDomainRemove {
    /// The host to remove it through (default: the host it was created through).
    pub host: Option<Named<HostId>>,
    /// Also delete the domain's files (not supported yet: refused).
    pub format: bool,
}

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

/// The agent's form of a domain's connection.
fn agent_connection(c: &StorageConnection) -> v1::StorageDomainConnection {
    match c {
        StorageConnection::Localfs { path } => v1::StorageDomainConnection::Localfs { path: path.into() },
        StorageConnection::Posixfs { spec, vfs_type, mount_options } => v1::StorageDomainConnection::Posixfs {
            spec: spec.clone(),
            vfs_type: vfs_type.clone(),
            mount_options: mount_options.clone(),
        },
        StorageConnection::Nfs { spec, mount_options } => {
            v1::StorageDomainConnection::Nfs { spec: spec.clone(), mount_options: mount_options.clone() }
        }
    }
}

fn agent_domain_type(t: StorageDomainType) -> v1::StorageDomainType {
    match t {
        StorageDomainType::Data => v1::StorageDomainType::Data,
        StorageDomainType::Iso => v1::StorageDomainType::Iso,
        StorageDomainType::Export => v1::StorageDomainType::Export,
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

/// Can `host` reach the domain? A localfs domain only from the host it was created through.
pub fn storage_domain_reachable_from(sd: &StorageDomain, host: &Host) -> bool {
    match sd.connection.storage_type() {
        StorageType::Localfs => sd.host_id == Some(host.id),
        StorageType::Posixfs | StorageType::Nfs => true,
    }
}

fn is_not_found(e: &oxvirt_agent_client::AgentClientError) -> bool {
    e.kind() == ErrorKind::NotFound
}

impl App {
    // ---- storage domains ------------------------------------------------------------------

    pub(super) async fn host_resolve(&self, named: &Named<HostId>) -> Result<Host> {
        let found = match named {
            Named::Id(id) => self.store.host_get(*id).await,
            Named::Name(n) => self.store.host_get_by_name(n).await,
        };
        found.map_err(|e| missing_reference(e, "host", named))
    }

    async fn storage_domain_resolve(&self, named: &Named<StorageDomainId>) -> Result<StorageDomain> {
        let found = match named {
            Named::Id(id) => self.store.storage_domain_get(*id).await,
            Named::Name(n) => self.store.storage_domain_get_by_name(n).await,
        };
        found.map_err(|e| missing_reference(e, "storage domain", named))
    }

    /// Creates a storage domain on its storage through `req.host` (the agent formats it) and
    /// records it, unattached.
    pub async fn storage_domain_add(&self, who: &Principal, req: StorageDomainAdd) -> Result<StorageDomain> {
        name_check("storage domain", &req.name)?;
        if let StorageConnection::Localfs { path } = &req.connection
            && !path.starts_with('/')
        {
            return Err(AppError::InvalidInput(format!(
                "storage domain {}: the localfs path '{path}' must be absolute",
                req.name
            )));
        }
        let host = self.host_resolve(&req.host).await?;
        if host.status != HostStatus::Up {
            return Err(AppError::Conflict(format!(
                "host {} is {}: a storage domain is created through an Up host; activate it first",
                host.name, host.status
            )));
        }
        // Refuse a taken name before the storage is formatted.
        match self.store.storage_domain_get_by_name(&req.name).await {
            Ok(_) => {
                return Err(AppError::Conflict(format!(
                    "a storage domain named '{}' already exists; choose another name",
                    req.name
                )));
            }
            Err(StoreError::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        let id = StorageDomainId::new_random();
        let agent = self.agent_for(&host)?;
        let info = agent
            .storage_domain_create(&v1::StorageDomainCreate {
                id,
                name: req.name.clone(),
                domain_type: agent_domain_type(req.domain_type),
                connection: agent_connection(&req.connection),
            })
            .await?;
        let sd = StorageDomain {
            id,
            name: req.name,
            description: req.description.unwrap_or_default(),
            domain_type: req.domain_type,
            connection: req.connection,
            status: StorageDomainStatus::Unattached,
            available: info.available,
            used: info.used,
            committed: ByteSize(0),
            master: false,
            warning_low_space_percent: WARNING_LOW_SPACE_PERCENT,
            critical_space_action_blocker_gib: CRITICAL_SPACE_BLOCKER_GIB,
            host_id: Some(host.id),
            created: Timestamp::now(),
        };
        if let Err(e) = self.store.storage_domain_insert(&sd).await {
            // The domain's files stay (formatted, empty); the host forgets it.
            if let Err(d) = agent.storage_domain_detach(id).await {
                tracing::warn!(sd = %id, error = %d, "cannot detach a storage domain that could not be recorded");
            }
            return Err(e.into());
        }
        self.audit(
            who,
            Severity::Normal,
            AuditCode::USER_ADD_STORAGE_DOMAIN,
            format!("Storage Domain {} was added by {} through host {}.", sd.name, who.login, host.name),
            EventRefs { storage_domain_id: Some(sd.id), host_id: Some(host.id), ..EventRefs::default() },
        )
        .await;
        Ok(sd)
    }

    pub async fn storage_domain_get(&self, id: StorageDomainId) -> Result<StorageDomain> {
        Ok(self.store.storage_domain_get(id).await?)
    }

    pub async fn storage_domain_list(&self, q: &ListQuery) -> Result<Vec<StorageDomain>> {
        self.storage_domain_list_in(None, q).await
    }

    async fn storage_domain_list_in(&self, dc: Option<DataCenterId>, q: &ListQuery) -> Result<Vec<StorageDomain>> {
        let c = q.criteria(&super::query::STORAGE_DOMAINS)?;
        let status = c
            .status
            .map(|s| {
                StorageDomainStatus::from_wire(&s)
                    .ok_or_else(|| AppError::InvalidInput(format!("'{s}' is not a storage domain status")))
            })
            .transpose()?;
        let filter = StorageDomainFilter { name: c.name, status, domain_type: None, data_center_id: dc, page: c.page };
        Ok(self.store.storage_domain_list(&filter).await?)
    }

    pub async fn storage_domain_update(
        &self,
        who: &Principal,
        id: StorageDomainId,
        req: StorageDomainUpdate,
    ) -> Result<StorageDomain> {
        let mut sd = self.store.storage_domain_get(id).await?;
        if let Some(name) = req.name {
            name_check("storage domain", &name)?;
            sd.name = name;
        }
        if let Some(d) = req.description {
            sd.description = d;
        }
        self.store.storage_domain_update(&sd).await?;
        self.audit(
            who,
            Severity::Normal,
            AuditCode::USER_UPDATE_STORAGE_DOMAIN,
            format!("Storage Domain {} was updated by {}.", sd.name, who.login),
            EventRefs { storage_domain_id: Some(sd.id), ..EventRefs::default() },
        )
        .await;
        Ok(sd)
    }

    /// Removes an unattached domain that holds no disks. The host (`req.host`, else the one it
    /// was created through) forgets it; its files stay on the storage.
    pub async fn storage_domain_remove(
        &self,
        who: &Principal,
        id: StorageDomainId,
        req: StorageDomainRemove,
    ) -> Result<()> {
        let sd = self.store.storage_domain_get(id).await?;
        if req.format {
            return Err(AppError::InvalidInput(format!(
                "removing storage domain {} with format=true (deleting its files) is not supported yet; \
                 remove it without format and delete its directory on the storage",
                sd.name
            )));
        }
        let attachments = self.store.storage_domain_attachment_list(None, Some(id)).await?;
        if let Some(a) = attachments.first() {
            let dc = self.store.data_center_get(a.data_center_id).await?;
            return Err(AppError::Conflict(format!(
                "storage domain {} is attached to data center {}: move it to maintenance and detach it first",
                sd.name, dc.name
            )));
        }
        let disks = self
            .store
            .disk_list(&DiskFilter { storage_domain_id: Some(id), page: Page::first(1), ..DiskFilter::default() })
            .await?;
        if !disks.is_empty() {
            return Err(AppError::Conflict(format!(
                "storage domain {} still holds disks (e.g. {}); remove them first",
                sd.name, disks[0].alias
            )));
        }
        let host = match &req.host {
            Some(named) => Some(self.host_resolve(named).await?),
            None => match sd.host_id {
                Some(h) => self.store.host_get(h).await.ok(),
                None => None,
            },
        };
        if let Some(host) = &host
            && sd.connection.storage_type() == StorageType::Localfs
            && sd.host_id.is_some_and(|h| h != host.id)
        {
            return Err(AppError::InvalidInput(format!(
                "storage domain {} is local storage of another host; remove it through that host (or without host)",
                sd.name
            )));
        }
        if let Some(host) = &host {
            // The host forgets the domain (unmounting it if it mounted it).
            match self.agent_for(host)?.storage_domain_detach(id).await {
                Ok(()) => {}
                Err(e) if is_not_found(&e) => {}
                Err(e) if host.status != HostStatus::Up => {
                    tracing::warn!(sd = %id, host = %host.name, error = %e, "cannot detach from a host that is not up");
                }
                Err(e) => return Err(e.into()),
            }
        }
        self.store.storage_domain_delete(id).await?;
        self.audit(
            who,
            Severity::Normal,
            AuditCode::USER_REMOVE_STORAGE_DOMAIN,
            format!("Storage Domain {} was removed by {}.", sd.name, who.login),
            EventRefs { storage_domain_id: Some(id), host_id: host.map(|h| h.id), ..EventRefs::default() },
        )
        .await;
        Ok(())
    }

    // ---- attachment to data centers -------------------------------------------------------

    /// The domains attached to a data center, each with its status there.
    pub async fn data_center_storage_domain_list(&self, dc: DataCenterId, q: &ListQuery) -> Result<Vec<StorageDomain>> {
        self.store.data_center_get(dc).await?;
        self.storage_domain_list_in(Some(dc), q).await
    }

    pub async fn data_center_storage_domain_get(&self, dc: DataCenterId, sd: StorageDomainId) -> Result<StorageDomain> {
        self.store.data_center_get(dc).await?;
        self.store.storage_domain_attachment_get(dc, sd).await?;
        Ok(self.store.storage_domain_get(sd).await?)
    }

    /// Attaches a domain to a data center and activates it (as oVirt does). On failure to
    /// activate, the attachment is undone.
    pub async fn data_center_storage_domain_attach(
        &self,
        who: &Principal,
        dc_id: DataCenterId,
        sd_ref: &Named<StorageDomainId>,
    ) -> Result<StorageDomain> {
        let dc = self.store.data_center_get(dc_id).await?;
        let mut sd = self.storage_domain_resolve(sd_ref).await?;
        let existing = self.store.storage_domain_attachment_list(None, Some(sd.id)).await?;
        if let Some(a) =
            existing.iter().find(|a| a.data_center_id == dc_id || sd.domain_type == StorageDomainType::Data)
        {
            let other = self.store.data_center_get(a.data_center_id).await?;
            return Err(AppError::Conflict(format!(
                "storage domain {} is already attached to data center {}; a data domain belongs to one data center",
                sd.name, other.name
            )));
        }
        if sd.connection.storage_type() == StorageType::Localfs {
            let in_dc = match sd.host_id {
                Some(h) => {
                    let host = self.store.host_get(h).await?;
                    self.store.cluster_get(host.cluster_id).await?.data_center_id == dc_id
                }
                None => false,
            };
            if !in_dc {
                return Err(AppError::Conflict(format!(
                    "storage domain {} is local storage of a host outside data center {}; \
                     attach it to the data center of the host it was created through",
                    sd.name, dc.name
                )));
            }
        }
        let has_master = self
            .store
            .storage_domain_list(&StorageDomainFilter {
                data_center_id: Some(dc_id),
                domain_type: Some(StorageDomainType::Data),
                ..StorageDomainFilter::default()
            })
            .await?
            .iter()
            .any(|d| d.master);
        self.store
            .storage_domain_attachment_insert(&StorageDomainAttachment {
                data_center_id: dc_id,
                storage_domain_id: sd.id,
                status: StorageDomainStatus::Maintenance,
            })
            .await?;
        if sd.domain_type == StorageDomainType::Data && !has_master {
            sd.master = true;
        }
        sd.status = StorageDomainStatus::Maintenance;
        self.store.storage_domain_update(&sd).await?;
        self.audit(
            who,
            Severity::Normal,
            AuditCode::USER_ATTACH_STORAGE_DOMAIN_TO_POOL,
            format!("Storage Domain {} was attached to Data Center {} by {}.", sd.name, dc.name, who.login),
            EventRefs { storage_domain_id: Some(sd.id), data_center_id: Some(dc_id), ..EventRefs::default() },
        )
        .await;
        if let Err(e) = self.data_center_storage_domain_activate(who, dc_id, sd.id).await {
            // Undo the attachment: attaching means "attached and active" to the client.
            let _ = self.store.storage_domain_attachment_delete(dc_id, sd.id).await;
            sd.status = StorageDomainStatus::Unattached;
            sd.master = false;
            let _ = self.store.storage_domain_update(&sd).await;
            self.data_center_status_refresh(dc_id).await?;
            return Err(e);
        }
        Ok(self.store.storage_domain_get(sd.id).await?)
    }

    /// Connects the domain on every Up host of the data center that can reach it; active once
    /// at least one host has it.
    pub async fn data_center_storage_domain_activate(
        &self,
        who: &Principal,
        dc_id: DataCenterId,
        sd_id: StorageDomainId,
    ) -> Result<StorageDomain> {
        let dc = self.store.data_center_get(dc_id).await?;
        let mut attachment = self.store.storage_domain_attachment_get(dc_id, sd_id).await?;
        let sd = self.store.storage_domain_get(sd_id).await?;
        let hosts: Vec<Host> = self
            .data_center_hosts_up(dc_id)
            .await?
            .into_iter()
            .filter(|h| storage_domain_reachable_from(&sd, h))
            .collect();
        if hosts.is_empty() {
            return Err(AppError::Conflict(format!(
                "no Up host of data center {} can reach storage domain {}{}; activate a host first",
                dc.name,
                sd.name,
                if sd.connection.storage_type() == StorageType::Localfs {
                    " (local storage: only the host it was created through)"
                } else {
                    ""
                }
            )));
        }
        let mut connected = None;
        let mut last_error = None;
        for host in &hosts {
            match self.storage_domain_connect_on(host, &sd).await {
                Ok(()) => connected = connected.or(Some(host.clone())),
                Err(e) => {
                    tracing::warn!(sd = %sd.id, host = %host.name, error = %e, "cannot connect a storage domain");
                    last_error = Some(e);
                }
            }
        }
        let Some(host) = connected else {
            return Err(last_error.unwrap_or_else(|| AppError::Conflict("no host connected the domain".into())));
        };
        attachment.status = StorageDomainStatus::Active;
        self.store.storage_domain_attachment_update(&attachment).await?;
        self.store.storage_domain_status_set(sd_id, StorageDomainStatus::Active).await?;
        self.storage_domain_space_refresh(&sd, &host).await;
        self.data_center_status_refresh(dc_id).await?;
        self.audit(
            who,
            Severity::Normal,
            AuditCode::USER_ACTIVATED_STORAGE_DOMAIN,
            format!("Storage Domain {} (Data Center {}) was activated by {}.", sd.name, dc.name, who.login),
            EventRefs { storage_domain_id: Some(sd_id), data_center_id: Some(dc_id), ..EventRefs::default() },
        )
        .await;
        Ok(self.store.storage_domain_get(sd_id).await?)
    }

    /// Moves the domain to maintenance: refused while VMs that are not down use its disks;
    /// the hosts disconnect it.
    pub async fn data_center_storage_domain_deactivate(
        &self,
        who: &Principal,
        dc_id: DataCenterId,
        sd_id: StorageDomainId,
    ) -> Result<StorageDomain> {
        let dc = self.store.data_center_get(dc_id).await?;
        let mut attachment = self.store.storage_domain_attachment_get(dc_id, sd_id).await?;
        let sd = self.store.storage_domain_get(sd_id).await?;
        let disks =
            self.store.disk_list(&DiskFilter { storage_domain_id: Some(sd_id), ..DiskFilter::default() }).await?;
        for disk in &disks {
            if let Some(vm) = self.disk_vm_not_down(disk.id).await? {
                return Err(AppError::Conflict(format!(
                    "storage domain {} holds disk {} of VM {}, which is {}; stop the VM first",
                    sd.name, disk.alias, vm.0, vm.1
                )));
            }
        }
        for host in self.data_center_hosts_up(dc_id).await? {
            if !storage_domain_reachable_from(&sd, &host) {
                continue;
            }
            let result = match self.agent_for(&host) {
                Ok(agent) => agent.storage_domain_detach(sd_id).await.map_err(AppError::from),
                Err(e) => Err(e),
            };
            match result {
                Ok(()) => {}
                Err(AppError::Agent(e)) if is_not_found(&e) => {}
                Err(e) => {
                    tracing::warn!(sd = %sd_id, host = %host.name, error = %e, "cannot disconnect a storage domain")
                }
            }
        }
        attachment.status = StorageDomainStatus::Maintenance;
        self.store.storage_domain_attachment_update(&attachment).await?;
        self.store.storage_domain_status_set(sd_id, StorageDomainStatus::Maintenance).await?;
        self.data_center_status_refresh(dc_id).await?;
        self.audit(
            who,
            Severity::Normal,
            AuditCode::USER_DEACTIVATED_STORAGE_DOMAIN,
            format!("Storage Domain {} (Data Center {}) was deactivated by {}.", sd.name, dc.name, who.login),
            EventRefs { storage_domain_id: Some(sd_id), data_center_id: Some(dc_id), ..EventRefs::default() },
        )
        .await;
        Ok(self.store.storage_domain_get(sd_id).await?)
    }

    /// Detaches a domain in maintenance from its data center (it becomes unattached).
    pub async fn data_center_storage_domain_detach(
        &self,
        who: &Principal,
        dc_id: DataCenterId,
        sd_id: StorageDomainId,
    ) -> Result<()> {
        let dc = self.store.data_center_get(dc_id).await?;
        let attachment = self.store.storage_domain_attachment_get(dc_id, sd_id).await?;
        let mut sd = self.store.storage_domain_get(sd_id).await?;
        if attachment.status != StorageDomainStatus::Maintenance {
            return Err(AppError::Conflict(format!(
                "storage domain {} is {} in data center {}: move it to maintenance (deactivate) before detaching it",
                sd.name, attachment.status, dc.name
            )));
        }
        self.store.storage_domain_attachment_delete(dc_id, sd_id).await?;
        sd.status = StorageDomainStatus::Unattached;
        sd.master = false;
        self.store.storage_domain_update(&sd).await?;
        self.data_center_status_refresh(dc_id).await?;
        self.audit(
            who,
            Severity::Normal,
            AuditCode::USER_DETACH_STORAGE_DOMAIN_FROM_POOL,
            format!("Storage Domain {} was detached from Data Center {} by {}.", sd.name, dc.name, who.login),
            EventRefs { storage_domain_id: Some(sd_id), data_center_id: Some(dc_id), ..EventRefs::default() },
        )
        .await;
        Ok(())
    }

    /// Connects every active storage domain of the host's data center that the host can reach
    /// on it (idempotent: the agent re-verifies an attached domain). Tries them all; returns the
    /// first failure. Call before a VM with disks starts on the host, when a host comes Up, and
    /// from host monitoring. Refreshes the data center's status.
    pub(crate) async fn host_storage_connect(&self, host: &Host) -> Result<()> {
        let cluster = self.store.cluster_get(host.cluster_id).await?;
        let dc_id = cluster.data_center_id;
        let mut first_error = None;
        if host.status == HostStatus::Up {
            for a in self.store.storage_domain_attachment_list(Some(dc_id), None).await? {
                if a.status != StorageDomainStatus::Active {
                    continue;
                }
                let sd = self.store.storage_domain_get(a.storage_domain_id).await?;
                if !storage_domain_reachable_from(&sd, host) {
                    continue;
                }
                if let Err(e) = self.storage_domain_connect_on(host, &sd).await {
                    tracing::warn!(sd = %sd.id, host = %host.name, error = %e, "cannot connect a storage domain");
                    first_error.get_or_insert(e);
                }
            }
        }
        self.data_center_status_refresh(dc_id).await?;
        match first_error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// `up` with an active data domain and an Up host; `uninitialized` without data domains;
    /// `maintenance` when none is active; `not_operational` otherwise (no Up host).
    pub(crate) async fn data_center_status_refresh(&self, dc_id: DataCenterId) -> Result<()> {
        let mut dc = self.store.data_center_get(dc_id).await?;
        let data = self
            .store
            .storage_domain_list(&StorageDomainFilter {
                data_center_id: Some(dc_id),
                domain_type: Some(StorageDomainType::Data),
                ..StorageDomainFilter::default()
            })
            .await?;
        let mut any_active = false;
        for sd in &data {
            if self.store.storage_domain_attachment_get(dc_id, sd.id).await?.status == StorageDomainStatus::Active {
                any_active = true;
            }
        }
        let status = if data.is_empty() {
            DataCenterStatus::Uninitialized
        } else if !any_active {
            DataCenterStatus::Maintenance
        } else if self.data_center_hosts_up(dc_id).await?.is_empty() {
            DataCenterStatus::NotOperational
        } else {
            DataCenterStatus::Up
        };
        if status != dc.status {
            tracing::info!(dc = %dc.name, from = %dc.status, to = %status, "data center status");
            dc.status = status;
            self.store.data_center_update(&dc).await?;
        }
        Ok(())
    }

    async fn data_center_hosts_up(&self, dc_id: DataCenterId) -> Result<Vec<Host>> {
        let mut hosts = Vec::new();
        let clusters =
            self.store.cluster_list(&ClusterFilter { data_center_id: Some(dc_id), ..ClusterFilter::default() }).await?;
        for c in clusters {
            hosts.extend(
                self.store
                    .host_list(&HostFilter {
                        cluster_id: Some(c.id),
                        status: Some(HostStatus::Up),
                        ..HostFilter::default()
                    })
                    .await?,
            );
        }
        Ok(hosts)
    }

    /// Makes `host` have the domain attached (the agent's attach is idempotent).
    async fn storage_domain_connect_on(&self, host: &Host, sd: &StorageDomain) -> Result<()> {
        self.agent_for(host)?.storage_domain_attach(sd.id, &agent_connection(&sd.connection)).await?;
        Ok(())
    }

    /// Records the host's view of the domain's space and the provisioned sizes of its disks.
    /// A failure is logged: figures are informative.
    async fn storage_domain_space_refresh(&self, sd: &StorageDomain, host: &Host) {
        let result: Result<()> = async {
            let info = self.agent_for(host)?.storage_domain_info(sd.id).await?;
            let committed = self.store.storage_domain_committed(sd.id).await?;
            self.store.storage_domain_space_set(sd.id, info.available, info.used, committed).await?;
            Ok(())
        }
        .await;
        if let Err(e) = result {
            tracing::warn!(sd = %sd.id, host = %host.name, error = %e, "cannot refresh a storage domain's space");
        }
    }

    /// An Up host that can reach the domain, in the data center it is active in.
    async fn storage_domain_host(&self, sd: &StorageDomain) -> Result<Host> {
        let attachments = self.store.storage_domain_attachment_list(None, Some(sd.id)).await?;
        let Some(active) = attachments.iter().find(|a| a.status == StorageDomainStatus::Active) else {
            return Err(AppError::Conflict(format!(
                "storage domain {} is not active in a data center; attach it to one (or activate it) first",
                sd.name
            )));
        };
        let hosts = self.data_center_hosts_up(active.data_center_id).await?;
        // The host it was created through first (the only one for local storage).
        let pick = hosts
            .iter()
            .find(|h| Some(h.id) == sd.host_id)
            .or_else(|| hosts.iter().find(|h| storage_domain_reachable_from(sd, h)));
        pick.cloned().ok_or_else(|| {
            AppError::Conflict(format!("no Up host can reach storage domain {}; activate a host first", sd.name))
        })
    }

    /// The VM (name, status) a disk is attached to that is not down, if any.
    async fn disk_vm_not_down(&self, disk: DiskId) -> Result<Option<(String, VmStatus)>> {
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

impl App {
    /// [`App::host_storage_connect`] where a failure must not fail the caller (a host that
    /// was added or activated stays so): the failure is logged.
    pub(super) async fn host_storage_connect_logged(&self, host: &Host) {
        if let Err(e) = self.host_storage_connect(host).await {
            tracing::warn!(host = %host.name, error = %e, "cannot connect the data center's storage on a host");
        }
    }
}
