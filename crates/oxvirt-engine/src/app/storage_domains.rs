//! Storage domains: created through a host (a localfs domain stays reachable from that host
//! only), attached to a data center (= active and connected on its Up hosts), activated and
//! deactivated; the data center is `up` with an active data domain and an Up host.

use super::saga::{Outcome, SagaCtx, SagaDef, StepDef, Undo, WaitFor, end_fn, output, step_fn};
use super::{App, AppError, ListQuery, Result};
use super::{Named, missing_reference, name_check};
use crate::auth::Principal;
use oxvirt_agent_api::v1;
use oxvirt_engine_db::model::{
    AuditCode, EventRefs, Host, Severity, StepType, StorageConnection, StorageDomain, StorageDomainAttachment,
    StorageDomainType, StorageType, Timestamp,
};
use oxvirt_engine_db::store::{ClusterFilter, DiskFilter, HostFilter, Page, StorageDomainFilter, StoreError};
use oxvirt_types::{
    ByteSize, DataCenterId, DataCenterStatus, ErrorKind, HostId, HostStatus, StorageDomainId, StorageDomainStatus,
};

/// oVirt's defaults for new domains.
const WARNING_LOW_SPACE_PERCENT: u32 = 10;

const CRITICAL_SPACE_BLOCKER_GIB: u32 = 5;

/// A new storage domain, created through `host`.
#[derive(Debug, Clone)]
pub struct StorageDomainAdd {
    pub name: String,
    pub description: Option<String>,
    pub comment: Option<String>,
    pub domain_type: StorageDomainType,
    pub host: Named<HostId>,
    pub connection: StorageConnection,
}

#[derive(Debug, Clone, Default)]
pub struct StorageDomainUpdate {
    pub name: Option<String>,
    pub description: Option<String>,
    pub comment: Option<String>,
}

/// oVirt's parameters of a storage domain removal.
#[derive(Debug, Clone, Default)]
pub struct StorageDomainRemove {
    /// The host to remove it through (default: the host it was created through).
    pub host: Option<Named<HostId>>,
    /// Also delete the domain's files (not supported yet: refused).
    pub format: bool,
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

/// Can `host` reach the domain? A localfs domain only from the host it was created through.
pub fn storage_domain_reachable_from(sd: &StorageDomain, host: &Host) -> bool {
    match sd.connection.storage_type() {
        StorageType::Localfs => sd.host_id == Some(host.id),
        StorageType::Posixfs | StorageType::Nfs => true,
    }
}

pub(super) fn is_not_found(e: &oxvirt_agent_client::AgentClientError) -> bool {
    e.kind() == ErrorKind::NotFound
}

impl App {
    // ---- storage domains ------------------------------------------------------------------

    pub(super) async fn storage_domain_resolve(&self, named: &Named<StorageDomainId>) -> Result<StorageDomain> {
        let found = match named {
            Named::Id(id) => self.store.storage_domain_get(*id).await,
            Named::Name(n) => self.store.storage_domain_get_by_name(n).await,
        };
        found.map_err(|e| missing_reference(e, "storage domain", named))
    }

    /// Creates a storage domain on its storage through `req.host` (the agent formats it) and
    /// records it, unattached.
    /// Adds a storage domain through an Up host: a durable job (`AddStorageDomain`) that formats
    /// it there; the domain is `locked` until then.
    pub async fn storage_domain_add(
        &self,
        who: &Principal,
        req: StorageDomainAdd,
        opts: &super::JobOptions,
    ) -> Result<StorageDomain> {
        name_check("storage domain", &req.name)?;
        if let StorageConnection::Localfs { path } = &req.connection {
            if let Some(why) = oxvirt_types::host_path::lexical_refusal(path) {
                return Err(AppError::InvalidInput(format!(
                    "storage domain {}: the localfs path '{}' {why}; give an absolute path",
                    req.name,
                    path.escape_debug()
                )));
            }
            if oxvirt_types::host_path::in_system_dir(std::path::Path::new(path)) {
                return Err(AppError::InvalidInput(format!(
                    "storage domain {}: the localfs path '{path}' is in a system directory; give a directory of \
                     its own, such as /var/lib/oxvirt/storage/{}",
                    req.name, req.name
                )));
            }
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
        let sd = StorageDomain {
            id,
            name: req.name,
            description: req.description.unwrap_or_default(),
            comment: req.comment.unwrap_or_default(),
            domain_type: req.domain_type,
            connection: req.connection,
            status: StorageDomainStatus::Locked,
            available: ByteSize(0),
            used: ByteSize(0),
            committed: ByteSize(0),
            master: false,
            warning_low_space_percent: WARNING_LOW_SPACE_PERCENT,
            critical_space_action_blocker_gib: CRITICAL_SPACE_BLOCKER_GIB,
            host_id: Some(host.id),
            created: Timestamp::now(),
        };
        let params = AddSdParams { id, name: sd.name.clone(), host_id: host.id, host_name: host.name.clone() };
        let mut tx = self.store.begin().await?;
        tx.storage_domain_insert(&sd).await?;
        let job_id = self
            .saga_start(tx, who, &ADD_STORAGE_DOMAIN, format!("Adding storage domain {}", sd.name), &params, opts)
            .await?;
        // Formatting a file domain takes a moment: the reply waits for it (oVirt answers
        // with the domain formatted), unless the client leaves; the job finishes regardless.
        self.job_wait_as(opts, job_id, Some(WaitFor::End)).await?;
        Ok(self.store.storage_domain_get(id).await?)
    }

    pub async fn storage_domain_get(&self, id: StorageDomainId) -> Result<StorageDomain> {
        Ok(self.store.storage_domain_get(id).await?)
    }

    pub async fn storage_domain_list(&self, q: &ListQuery) -> Result<Vec<StorageDomain>> {
        self.storage_domain_list_in(None, q).await
    }

    async fn storage_domain_list_in(&self, dc: Option<DataCenterId>, q: &ListQuery) -> Result<Vec<StorageDomain>> {
        let key = |d: &StorageDomain| (d.status.as_str().to_owned(), d.name.clone(), d.id.to_string());
        self.list_any_of(q, |g| async move { self.storage_domain_list_and(dc, &g).await }, key).await
    }

    /// [`App::storage_domain_list_in`] of a search without `or`.
    async fn storage_domain_list_and(&self, dc: Option<DataCenterId>, q: &ListQuery) -> Result<Vec<StorageDomain>> {
        let c = q.criteria(&super::query::STORAGE_DOMAINS)?;
        let status = c
            .status
            .clone()
            .map(|s| {
                StorageDomainStatus::from_wire(&s)
                    .ok_or_else(|| AppError::InvalidInput(format!("'{s}' is not a storage domain status")))
            })
            .transpose()?;
        let Some(data_center_id) = self.scope_data_center(&c).await?.within(dc).filter() else {
            return Ok(Vec::new());
        };
        let filter = StorageDomainFilter { name: c.name, status, domain_type: None, data_center_id, page: c.page };
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
        if let Some(c) = req.comment {
            sd.comment = c;
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
    pub(super) async fn storage_domain_connect_on(&self, host: &Host, sd: &StorageDomain) -> Result<()> {
        self.agent_for(host)?.storage_domain_attach(sd.id, &agent_connection(&sd.connection)).await?;
        Ok(())
    }

    /// Records the host's view of the domain's space.
    /// A failure is logged: figures are informative.
    pub(super) async fn storage_domain_space_refresh(&self, sd: &StorageDomain, host: &Host) {
        let result: Result<()> = async {
            let info = self.agent_for(host)?.storage_domain_info(sd.id).await?;
            self.store.storage_domain_space_set(sd.id, info.available, info.used).await?;
            Ok(())
        }
        .await;
        if let Err(e) = result {
            tracing::warn!(sd = %sd.id, host = %host.name, error = %e, "cannot refresh a storage domain's space");
        }
    }

    /// An Up host that can reach the domain, in the data center it is active in.
    pub(super) async fn storage_domain_host(&self, sd: &StorageDomain) -> Result<Host> {
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

// ---- jobs ---------------------------------------------------------------------------------

/// What an `AddStorageDomain` job was asked; the domain's row (locked) holds the rest.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct AddSdParams {
    id: StorageDomainId,
    name: String,
    host_id: HostId,
    host_name: String,
}

/// `AddStorageDomain`: the request wrote the domain `locked`; the host formats it, then it is
/// `unattached` with its space figures.
pub(super) static ADD_STORAGE_DOMAIN: SagaDef = SagaDef {
    action_type: "AddStorageDomain",
    steps: &[
        StepDef::by_request(
            "Recording the storage domain (locked)",
            StepType::Validating,
            Undo::Action(step_fn!(sd_add_unrecord)),
        ),
        StepDef::new(
            "Creating the storage domain on the host",
            StepType::Executing,
            step_fn!(sd_add_create),
            Undo::Action(step_fn!(sd_add_forget)),
        ),
        StepDef::new("Recording its space", StepType::Finalizing, step_fn!(sd_add_done), Undo::Nothing),
    ],
    ended: Some(end_fn!(sd_add_ended)),
};

async fn sd_add_unrecord(ctx: &SagaCtx) -> Result<serde_json::Value> {
    let p: AddSdParams = ctx.params()?;
    match ctx.app.store.storage_domain_delete(p.id).await {
        Ok(()) | Err(StoreError::NotFound { .. }) => Ok(serde_json::Value::Null),
        Err(e) => Err(e.into()),
    }
}

async fn sd_add_create(ctx: &SagaCtx) -> Result<serde_json::Value> {
    let p: AddSdParams = ctx.params()?;
    let app = &ctx.app;
    let sd = app.store.storage_domain_get(p.id).await?;
    let host = app.store.host_get(p.host_id).await?;
    let agent = app.agent_for(&host)?;
    // Idempotent: the id is this job's own, so a domain the host knows by it is this one.
    if ctx.rerun() {
        match agent.storage_domain_info(p.id).await {
            Ok(info) => return output(info),
            Err(e) if is_not_found(&e) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let info = agent
        .storage_domain_create(&v1::StorageDomainCreate {
            id: p.id,
            name: sd.name.clone(),
            domain_type: agent_domain_type(sd.domain_type),
            connection: agent_connection(&sd.connection),
        })
        .await?;
    output(info)
}

/// The host forgets the domain; its files stay formatted on the storage (the storage check
/// lists them).
async fn sd_add_forget(ctx: &SagaCtx) -> Result<serde_json::Value> {
    let p: AddSdParams = ctx.params()?;
    let host = match ctx.app.store.host_get(p.host_id).await {
        Ok(h) => h,
        Err(StoreError::NotFound { .. }) => return Ok(serde_json::Value::Null),
        Err(e) => return Err(e.into()),
    };
    match ctx.app.agent_for(&host)?.storage_domain_detach(p.id).await {
        Ok(()) => Ok(serde_json::Value::Null),
        Err(e) if is_not_found(&e) => Ok(serde_json::Value::Null),
        Err(e) => Err(e.into()),
    }
}

async fn sd_add_done(ctx: &SagaCtx) -> Result<serde_json::Value> {
    let p: AddSdParams = ctx.params()?;
    let info: v1::StorageDomainInfo = ctx.output(2)?;
    ctx.app.store.storage_domain_space_set(p.id, info.available, info.used).await?;
    ctx.app.store.storage_domain_status_set(p.id, StorageDomainStatus::Unattached).await?;
    Ok(serde_json::Value::Null)
}

async fn sd_add_ended(ctx: &SagaCtx, outcome: &Outcome) {
    let Ok(p) = ctx.params::<AddSdParams>() else { return };
    let refs = EventRefs { storage_domain_id: Some(p.id), host_id: Some(p.host_id), ..EventRefs::default() };
    let (severity, code, text) = match &outcome.error {
        None => (
            Severity::Normal,
            AuditCode::USER_ADD_STORAGE_DOMAIN,
            format!("Storage Domain {} was added by {} through host {}.", p.name, ctx.who.login, p.host_name),
        ),
        Some((_, e)) => (
            Severity::Error,
            AuditCode::USER_ADD_STORAGE_DOMAIN_FAILED,
            format!("Failed to add Storage Domain {} through host {}: {e}", p.name, p.host_name),
        ),
    };
    let refs = if outcome.succeeded() { refs } else { EventRefs { storage_domain_id: None, ..refs } };
    ctx.app.audit(&ctx.who, severity, code, text, refs).await;
}
