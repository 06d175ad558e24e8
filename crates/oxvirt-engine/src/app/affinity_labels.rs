//! Affinity labels (`/affinitylabels`): named marks on VMs and hosts, listed both ways
//! (`/affinitylabels/{id}/vms`, `/vms/{id}/affinitylabels`, and the same for hosts).
//!
//! Why stored before placement honours them: clients (Ansible's `ovirt_affinity_label`)
//! manage labels as inventory, and the scheduling issue makes them placement rules (a VM runs
//! only on a host with its labels). Until then the scheduler ignores them, and says so here.

use super::tags::Tagged;
use super::{App, AppError, ListQuery, Result};
use crate::auth::Principal;
use oxvirt_engine_db::model::AffinityLabel;
use oxvirt_types::{AffinityLabelId, HostId, VmId};

fn label_name_check(name: &str) -> Result<()> {
    super::name_check("affinity label", name)
}

impl App {
    /// Every label, by name; `max` limits the list (labels cannot be searched, as in oVirt).
    pub async fn affinity_label_list(&self, q: &ListQuery) -> Result<Vec<AffinityLabel>> {
        if q.has_search() {
            return Err(AppError::InvalidInput("affinity labels cannot be searched; list them all".into()));
        }
        let mut labels = self.store.affinity_label_list().await?;
        labels.truncate(q.max.map_or(usize::MAX, |m| usize::try_from(m).unwrap_or(usize::MAX)));
        Ok(labels)
    }

    pub async fn affinity_label_get(&self, id: AffinityLabelId) -> Result<AffinityLabel> {
        Ok(self.store.affinity_label_get(id).await?)
    }

    pub async fn affinity_label_add(&self, _who: &Principal, name: String) -> Result<AffinityLabel> {
        label_name_check(&name)?;
        let label = AffinityLabel { id: AffinityLabelId::new_random(), name };
        self.store.affinity_label_insert(&label).await?;
        Ok(label)
    }

    pub async fn affinity_label_update(
        &self,
        _who: &Principal,
        id: AffinityLabelId,
        name: Option<String>,
    ) -> Result<AffinityLabel> {
        let mut label = self.store.affinity_label_get(id).await?;
        if let Some(name) = name {
            label_name_check(&name)?;
            label.name = name;
        }
        self.store.affinity_label_update(&label).await?;
        Ok(label)
    }

    pub async fn affinity_label_remove(&self, _who: &Principal, id: AffinityLabelId) -> Result<()> {
        Ok(self.store.affinity_label_delete(id).await?)
    }

    /// The VMs carrying a label.
    pub async fn affinity_label_vms(&self, id: AffinityLabelId) -> Result<Vec<VmId>> {
        self.store.affinity_label_get(id).await?;
        Ok(self.store.affinity_label_vms(id).await?)
    }

    /// The hosts carrying a label.
    pub async fn affinity_label_hosts(&self, id: AffinityLabelId) -> Result<Vec<HostId>> {
        self.store.affinity_label_get(id).await?;
        Ok(self.store.affinity_label_hosts(id).await?)
    }

    /// The labels on a VM or host.
    pub async fn labelled_list(&self, object: Tagged) -> Result<Vec<AffinityLabel>> {
        Ok(match object {
            Tagged::Vm(vm) => {
                self.store.vm_get(vm).await?;
                self.store.vm_affinity_label_list(vm).await?
            }
            Tagged::Host(host) => {
                self.store.host_get(host).await?;
                self.store.host_affinity_label_list(host).await?
            }
        })
    }

    /// Puts a label on a VM or host; again changes nothing.
    pub async fn labelled_add(&self, _who: &Principal, object: Tagged, label: AffinityLabelId) -> Result<()> {
        self.store.affinity_label_get(label).await?;
        match object {
            Tagged::Vm(vm) => {
                self.store.vm_get(vm).await?;
                self.store.vm_affinity_label_add(vm, label).await?;
            }
            Tagged::Host(host) => {
                self.store.host_get(host).await?;
                self.store.host_affinity_label_add(host, label).await?;
            }
        }
        Ok(())
    }

    /// Takes a label off a VM or host.
    pub async fn labelled_remove(&self, _who: &Principal, object: Tagged, label: AffinityLabelId) -> Result<()> {
        let l = self.store.affinity_label_get(label).await?;
        let removed = match object {
            Tagged::Vm(vm) => self.store.vm_affinity_label_remove(vm, label).await?,
            Tagged::Host(host) => self.store.host_affinity_label_remove(host, label).await?,
        };
        if !removed {
            return Err(AppError::NotFound(format!("affinity label {} is not on that {}", l.name, object.noun())));
        }
        Ok(())
    }
}
