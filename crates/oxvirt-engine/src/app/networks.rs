//! Logical networks of a data center: names, VLAN and MTU rules; the management network
//! cannot be removed.

use super::common::still_used;
use super::query::ListQuery;
use super::{App, AppError, Result};
use super::{MANAGEMENT_NETWORK, Named};
use crate::auth::Principal;
use oxvirt_engine_db::model::{AuditCode, EventRefs, Network, Severity, VnicProfile, VnicProfileId};
use oxvirt_engine_db::store::NetworkFilter;
use oxvirt_types::{DataCenterId, NetworkId};

/// Linux's interface name limit (IFNAMSIZ - 1): a VM network's bridge carries its name.
const NETWORK_NAME_MAX: usize = 15;

#[derive(Debug, Clone)]
pub struct NetworkAdd {
    pub name: String,
    pub description: Option<String>,
    pub comment: Option<String>,
    pub data_center: Named<DataCenterId>,
    /// Carries VM traffic (oVirt's `usages` containing `vm`); default true.
    pub vm: Option<bool>,
    pub vlan_id: Option<u16>,
    pub mtu: Option<u32>,
}

#[derive(Debug, Clone, Default)]
pub struct NetworkUpdate {
    pub name: Option<String>,
    pub description: Option<String>,
    pub comment: Option<String>,
    pub mtu: Option<u32>,
}

fn network_name_check(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= NETWORK_NAME_MAX
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(AppError::InvalidInput(format!(
            "'{name}' is not a valid network name: use 1-{NETWORK_NAME_MAX} letters, digits, '-', '_' or '.' \
             (hosts name the network's bridge after it)"
        )))
    }
}

fn mtu_check(mtu: u32) -> Result<()> {
    if mtu == 0 || (68..=65535).contains(&mtu) {
        Ok(())
    } else {
        Err(AppError::InvalidInput(format!("MTU {mtu} is out of range: use 68-65535, or 0 for the host's default")))
    }
}

impl App {
    /// Adds a logical network to a data center; a VM network gets a vNIC profile of its name.
    pub async fn network_add(&self, who: &Principal, req: NetworkAdd) -> Result<Network> {
        network_name_check(&req.name)?;
        let dc = self.data_center_resolve(&req.data_center).await?;
        if let Some(vlan) = req.vlan_id.filter(|v| *v > 4094) {
            return Err(AppError::InvalidInput(format!("VLAN id {vlan} is out of range: use 0-4094")));
        }
        let mtu = req.mtu.unwrap_or(0);
        mtu_check(mtu)?;
        let network = Network {
            id: NetworkId::new_random(),
            name: req.name,
            data_center_id: dc.id,
            description: req.description.unwrap_or_default(),
            comment: req.comment.unwrap_or_default(),
            vm: req.vm.unwrap_or(true),
            vlan_id: req.vlan_id,
            mtu,
        };
        let mut tx = self.store.begin().await?;
        tx.network_insert(&network).await?;
        if network.vm {
            tx.vnic_profile_insert(&VnicProfile {
                id: VnicProfileId::new_random(),
                name: network.name.clone(),
                network_id: network.id,
                description: String::new(),
                comment: String::new(),
            })
            .await?;
        }
        tx.commit().await?;
        self.audit(
            who,
            Severity::Normal,
            AuditCode::NETWORK_ADD_NETWORK,
            format!("Network {} was added to Data Center {} by {}.", network.name, dc.name, who.login),
            EventRefs { data_center_id: Some(dc.id), ..EventRefs::default() },
        )
        .await;
        Ok(network)
    }

    pub async fn network_get(&self, id: NetworkId) -> Result<Network> {
        Ok(self.store.network_get(id).await?)
    }

    /// Networks (of one data center when given), by name; searchable by `name`.
    pub async fn network_list(&self, q: &ListQuery, data_center: Option<DataCenterId>) -> Result<Vec<Network>> {
        // The store orders by name, then data center, then id.
        let key = |n: &Network| (String::new(), n.name.clone(), format!("{}{}", n.data_center_id, n.id));
        self.list_any_of(q, |g| async move { self.network_list_and(&g, data_center).await }, key).await
    }

    /// [`App::network_list`] of a search without `or`.
    async fn network_list_and(&self, q: &ListQuery, data_center: Option<DataCenterId>) -> Result<Vec<Network>> {
        if let Some(dc) = data_center {
            self.store.data_center_get(dc).await?;
        }
        let c = q.criteria(&super::query::NETWORKS)?;
        let Some(data_center_id) = self.scope_data_center(&c).await?.within(data_center).filter() else {
            return Ok(Vec::new());
        };
        let filter = NetworkFilter { name: c.name, data_center_id, page: c.page };
        Ok(self.store.network_list(&filter).await?)
    }

    /// Changes a network's name, description, comment or MTU. `ovirtmgmt` keeps its name.
    pub async fn network_update(&self, who: &Principal, id: NetworkId, req: NetworkUpdate) -> Result<Network> {
        let mut network = self.store.network_get(id).await?;
        if let Some(name) = req.name.filter(|n| *n != network.name) {
            if network.name == MANAGEMENT_NETWORK {
                return Err(AppError::Conflict(format!(
                    "the management network {MANAGEMENT_NETWORK} cannot be renamed: hosts are reached through it"
                )));
            }
            network_name_check(&name)?;
            network.name = name;
        }
        if let Some(d) = req.description {
            network.description = d;
        }
        if let Some(c) = req.comment {
            network.comment = c;
        }
        if let Some(mtu) = req.mtu {
            mtu_check(mtu)?;
            network.mtu = mtu;
        }
        self.store.network_update(&network).await?;
        self.audit(
            who,
            Severity::Normal,
            AuditCode::NETWORK_UPDATE_NETWORK,
            format!("Network {} was updated by {}.", network.name, who.login),
            EventRefs { data_center_id: Some(network.data_center_id), ..EventRefs::default() },
        )
        .await;
        Ok(network)
    }

    /// Removes a network with its vNIC profiles and cluster attachments. Refused for
    /// `ovirtmgmt` (it goes with its data center) and while VM NICs use the network.
    pub async fn network_remove(&self, who: &Principal, id: NetworkId) -> Result<()> {
        let network = self.store.network_get(id).await?;
        if network.name == MANAGEMENT_NETWORK {
            return Err(AppError::Conflict(format!(
                "the management network {MANAGEMENT_NETWORK} cannot be removed while its data center {} exists; \
                 remove the data center instead",
                network.data_center_id
            )));
        }
        self.store.network_delete(id).await.map_err(|e| still_used(e, format!("network {}", network.name)))?;
        self.audit(
            who,
            Severity::Normal,
            AuditCode::NETWORK_REMOVE_NETWORK,
            format!("Network {} was removed by {}.", network.name, who.login),
            EventRefs { data_center_id: Some(network.data_center_id), ..EventRefs::default() },
        )
        .await;
        Ok(())
    }
}
