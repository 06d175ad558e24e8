//! A VM's NICs: MACs from the pool (the lowest free one; a race retries), a vNIC profile of
//! the VM's data center (`ovirtmgmt`'s by default).

use super::name_check;
use super::vms::vm_must_be_down;
use super::{App, AppError, Result};
use crate::auth::Principal;
use oxvirt_engine_db::model::{AuditCode, EventRefs, MacAddress, Nic, NicInterface, Severity, Vm};
use oxvirt_engine_db::store::StoreError;
use oxvirt_types::{NicId, VmId, VnicProfileId};

#[derive(Debug, Clone, Default)]
pub struct NicAdd {
    pub name: String,
    pub description: Option<String>,
    pub comment: Option<String>,
    pub interface: Option<NicInterface>,
    /// `None` = the management network's profile of the VM's data center (`ovirtmgmt`).
    pub vnic_profile: Option<VnicProfileId>,
    /// Given by the administrator, or taken from the MAC pool.
    pub mac: Option<MacAddress>,
    pub linked: Option<bool>,
    pub plugged: Option<bool>,
}

#[derive(Debug, Clone, Default)]
pub struct NicUpdate {
    pub name: Option<String>,
    pub description: Option<String>,
    pub comment: Option<String>,
    pub interface: Option<NicInterface>,
    /// `Some(None)` empties the NIC's profile (no network).
    pub vnic_profile: Option<Option<VnicProfileId>>,
    pub linked: Option<bool>,
    pub plugged: Option<bool>,
}

impl App {
    // ---- NICs ------------------------------------------------------------------------------
    pub async fn nic_add(&self, who: &Principal, vm_id: VmId, req: NicAdd) -> Result<Nic> {
        let vm = self.store.vm_get(vm_id).await?;
        name_check("NIC", &req.name)?;
        let profile = match req.vnic_profile {
            Some(p) => Some(self.vnic_profile_check(&vm, p).await?),
            None => self.management_profile(&vm).await?,
        };
        let (mac, pool) = match req.mac {
            Some(mac) => (mac, None),
            None => {
                let cluster = self.store.cluster_get(vm.cluster_id).await?;
                let pool = self.store.mac_pool_get(cluster.mac_pool_id).await?;
                (self.store.mac_allocate(&pool).await?, Some(pool))
            }
        };
        let mut nic = Nic {
            id: NicId::new_random(),
            vm_id,
            name: req.name,
            description: req.description.unwrap_or_default(),
            comment: req.comment.unwrap_or_default(),
            mac,
            vnic_profile_id: profile,
            interface: req.interface.unwrap_or(NicInterface::Virtio),
            plugged: req.plugged.unwrap_or(true),
            linked: req.linked.unwrap_or(true),
        };
        // The VM's cluster's pool hands out its lowest free address; a racing add of the same
        // one fails with a conflict, so take the next.
        let mut attempts = 0;
        loop {
            match (self.store.nic_insert(&nic).await, &pool) {
                (Ok(()), _) => break,
                (Err(StoreError::AlreadyExists(_)), Some(pool)) if attempts < 8 => {
                    attempts += 1;
                    nic.mac = self.store.mac_allocate(pool).await?;
                }
                (Err(e), _) => return Err(nic_conflict(e, &nic, &vm)),
            }
        }
        self.audit(
            who,
            Severity::Normal,
            AuditCode::NETWORK_ADD_VM_INTERFACE,
            format!("Interface {} ({}) was added to VM {} by {}.", nic.name, nic.mac, vm.name, who.login),
            EventRefs { vm_id: Some(vm.id), ..EventRefs::default() },
        )
        .await;
        Ok(nic)
    }

    pub async fn nic_get(&self, vm_id: VmId, nic_id: NicId) -> Result<Nic> {
        self.store.vm_get(vm_id).await?;
        let nic = self.store.nic_get(nic_id).await?;
        if nic.vm_id != vm_id {
            return Err(StoreError::NotFound { what: "NIC", key: nic_id.to_string() }.into());
        }
        Ok(nic)
    }

    pub async fn nic_list(&self, vm_id: VmId) -> Result<Vec<Nic>> {
        self.store.vm_get(vm_id).await?;
        Ok(self.store.nic_list_for_vm(vm_id).await?)
    }

    pub async fn nic_update(&self, who: &Principal, vm_id: VmId, nic_id: NicId, req: NicUpdate) -> Result<Nic> {
        let vm = self.store.vm_get(vm_id).await?;
        let mut nic = self.nic_get(vm_id, nic_id).await?;
        if let Some(name) = req.name {
            name_check("NIC", &name)?;
            nic.name = name;
        }
        if let Some(d) = req.description {
            nic.description = d;
        }
        if let Some(c) = req.comment {
            nic.comment = c;
        }
        if let Some(i) = req.interface {
            nic.interface = i;
        }
        if let Some(p) = req.vnic_profile {
            nic.vnic_profile_id = match p {
                Some(p) => Some(self.vnic_profile_check(&vm, p).await?),
                None => None,
            };
        }
        nic.linked = req.linked.unwrap_or(nic.linked);
        nic.plugged = req.plugged.unwrap_or(nic.plugged);
        self.store.nic_update(&nic).await.map_err(|e| nic_conflict(e, &nic, &vm))?;
        self.audit(
            who,
            Severity::Normal,
            AuditCode::NETWORK_UPDATE_VM_INTERFACE,
            format!("Interface {} of VM {} was updated by {}.", nic.name, vm.name, who.login),
            EventRefs { vm_id: Some(vm.id), ..EventRefs::default() },
        )
        .await;
        Ok(nic)
    }

    pub async fn nic_remove(&self, who: &Principal, vm_id: VmId, nic_id: NicId) -> Result<()> {
        let vm = self.store.vm_get(vm_id).await?;
        let nic = self.nic_get(vm_id, nic_id).await?;
        vm_must_be_down(&vm, "remove a NIC")?;
        self.store.nic_delete(nic_id).await?;
        self.audit(
            who,
            Severity::Normal,
            AuditCode::NETWORK_REMOVE_VM_INTERFACE,
            format!("Interface {} was removed from VM {} by {}.", nic.name, vm.name, who.login),
            EventRefs { vm_id: Some(vm.id), ..EventRefs::default() },
        )
        .await;
        Ok(())
    }

    /// The profile, if it belongs to a network of the VM's data center.
    async fn vnic_profile_check(&self, vm: &Vm, id: VnicProfileId) -> Result<VnicProfileId> {
        let profile = self.store.vnic_profile_get(id).await.map_err(|e| match e {
            StoreError::NotFound { .. } => AppError::InvalidInput(format!("vNIC profile {id} does not exist")),
            other => other.into(),
        })?;
        let network = self.store.network_get(profile.network_id).await?;
        let cluster = self.store.cluster_get(vm.cluster_id).await?;
        if network.data_center_id != cluster.data_center_id {
            return Err(AppError::InvalidInput(format!(
                "vNIC profile {} is on network {} of another data center than VM {}'s",
                profile.name, network.name, vm.name
            )));
        }
        Ok(id)
    }

    /// The `ovirtmgmt` profile of the VM's data center, if it has one.
    async fn management_profile(&self, vm: &Vm) -> Result<Option<VnicProfileId>> {
        let cluster = self.store.cluster_get(vm.cluster_id).await?;
        let Ok(network) = self.store.network_get_by_name(cluster.data_center_id, super::MANAGEMENT_NETWORK).await
        else {
            return Ok(None);
        };
        Ok(self.store.vnic_profile_list(Some(network.id)).await?.first().map(|p| p.id))
    }
}

fn nic_conflict(e: StoreError, nic: &Nic, vm: &Vm) -> AppError {
    match e {
        StoreError::AlreadyExists(message) | StoreError::InUse { by: message, .. } => {
            AppError::Conflict(format!("cannot add interface {} ({}) to VM {}: {message}", nic.name, nic.mac, vm.name))
        }
        other => other.into(),
    }
}
