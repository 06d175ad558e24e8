//! Logical networks, their attachment to clusters, and vNIC profiles.
//!
//! Why the rules here: on a host a VM network is a Linux bridge named like the network (the
//! agent's `bridge_ensure`), so a network name must be a valid interface name (at most 15
//! characters). `ovirtmgmt` is how the engine reaches hosts; it lives and dies with its data
//! center and keeps its name. A VM network gets a vNIC profile of its own name when added,
//! as in oVirt, because VM NICs name profiles, not networks.

use super::infra::{MANAGEMENT_NETWORK, Named, missing_reference};
use super::query::ListQuery;
use super::{App, AppError, Result};
use crate::auth::Principal;
use oxvirt_engine_db::model::{AuditCode, ClusterNetwork, EventRefs, Network, Severity, VnicProfile, VnicProfileId};
use oxvirt_engine_db::store::NetworkFilter;
use oxvirt_types::{ClusterId, DataCenterId, NetworkId};

/// Linux's interface name limit (IFNAMSIZ - 1): a VM network's bridge carries its name.
const NETWORK_NAME_MAX: usize = 15;

#[derive(Debug, Clone)]
pub struct NetworkAdd {
    pub name: String,
    pub description: Option<String>,
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
    pub mtu: Option<u32>,
}

#[derive(Debug, Clone)]
pub struct VnicProfileAdd {
    pub name: String,
    pub description: Option<String>,
    pub network: NetworkId,
}

#[derive(Debug, Clone, Default)]
pub struct VnicProfileUpdate {
    pub name: Option<String>,
    pub description: Option<String>,
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
        if let Some(dc) = data_center {
            self.store.data_center_get(dc).await?;
        }
        let c = q.criteria(&super::query::NETWORKS)?;
        let filter = NetworkFilter { name: c.name, data_center_id: data_center, page: c.page };
        Ok(self.store.network_list(&filter).await?)
    }

    /// Changes a network's name, description or MTU. `ovirtmgmt` keeps its name.
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
        self.store.network_delete(id).await?;
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

    /// The networks attached to a cluster, by name, with their attachment.
    pub async fn cluster_networks(&self, cluster: ClusterId) -> Result<Vec<(Network, ClusterNetwork)>> {
        self.store.cluster_get(cluster).await?;
        let mut out = Vec::new();
        for cn in self.store.cluster_network_list(cluster).await? {
            out.push((self.store.network_get(cn.network_id).await?, cn));
        }
        Ok(out)
    }

    /// Attaches a network (of the cluster's data center, by id or name) to a cluster.
    pub async fn cluster_network_attach(
        &self,
        who: &Principal,
        cluster: ClusterId,
        network: Named<NetworkId>,
        required: Option<bool>,
    ) -> Result<(Network, ClusterNetwork)> {
        let cluster = self.store.cluster_get(cluster).await?;
        let found = match &network {
            Named::Id(id) => self.store.network_get(*id).await,
            Named::Name(n) => self.store.network_get_by_name(cluster.data_center_id, n).await,
        };
        let net = found.map_err(|e| missing_reference(e, "network", &network))?;
        if net.data_center_id != cluster.data_center_id {
            return Err(AppError::InvalidInput(format!(
                "network {} belongs to another data center than cluster {}; attach a network of data center {}",
                net.name, cluster.name, cluster.data_center_id
            )));
        }
        let cn = ClusterNetwork { cluster_id: cluster.id, network_id: net.id, required: required.unwrap_or(true) };
        self.store.cluster_network_insert(&cn).await?;
        self.audit(
            who,
            Severity::Normal,
            AuditCode::NETWORK_ATTACH_NETWORK_TO_CLUSTER,
            format!("Network {} was attached to Cluster {} by {}.", net.name, cluster.name, who.login),
            EventRefs {
                cluster_id: Some(cluster.id),
                data_center_id: Some(cluster.data_center_id),
                ..EventRefs::default()
            },
        )
        .await;
        Ok((net, cn))
    }

    /// Detaches a network from a cluster; `ovirtmgmt` stays attached.
    pub async fn cluster_network_detach(&self, who: &Principal, cluster: ClusterId, network: NetworkId) -> Result<()> {
        let cluster = self.store.cluster_get(cluster).await?;
        let net = self.store.network_get(network).await?;
        if net.name == MANAGEMENT_NETWORK {
            return Err(AppError::Conflict(format!(
                "the management network {MANAGEMENT_NETWORK} cannot be detached from cluster {}: hosts are \
                 reached through it",
                cluster.name
            )));
        }
        self.store.cluster_network_delete(cluster.id, network).await?;
        self.audit(
            who,
            Severity::Normal,
            AuditCode::NETWORK_DETACH_NETWORK_TO_CLUSTER,
            format!("Network {} was detached from Cluster {} by {}.", net.name, cluster.name, who.login),
            EventRefs {
                cluster_id: Some(cluster.id),
                data_center_id: Some(cluster.data_center_id),
                ..EventRefs::default()
            },
        )
        .await;
        Ok(())
    }

    /// Adds a vNIC profile to a network.
    pub async fn vnic_profile_add(&self, who: &Principal, req: VnicProfileAdd) -> Result<VnicProfile> {
        super::infra::name_check("vNIC profile", &req.name)?;
        let network = self
            .store
            .network_get(req.network)
            .await
            .map_err(|e| missing_reference(e, "network", &Named::<NetworkId>::Id(req.network)))?;
        if !network.vm {
            return Err(AppError::InvalidInput(format!(
                "network {} is not a VM network: vNIC profiles connect VM NICs to VM networks only",
                network.name
            )));
        }
        let profile = VnicProfile {
            id: VnicProfileId::new_random(),
            name: req.name,
            network_id: network.id,
            description: req.description.unwrap_or_default(),
        };
        self.store.vnic_profile_insert(&profile).await?;
        self.audit(
            who,
            Severity::Normal,
            AuditCode::ADD_VNIC_PROFILE,
            format!("vNIC Profile {} was added to network {} by {}.", profile.name, network.name, who.login),
            EventRefs { data_center_id: Some(network.data_center_id), ..EventRefs::default() },
        )
        .await;
        Ok(profile)
    }

    pub async fn vnic_profile_get(&self, id: VnicProfileId) -> Result<VnicProfile> {
        Ok(self.store.vnic_profile_get(id).await?)
    }

    /// Profiles of one network, or all, by name.
    pub async fn vnic_profile_list(&self, network: Option<NetworkId>, max: Option<u32>) -> Result<Vec<VnicProfile>> {
        if let Some(n) = network {
            self.store.network_get(n).await?;
        }
        let mut all = self.store.vnic_profile_list(network).await?;
        if let Some(max) = max {
            all.truncate(usize::try_from(max).unwrap_or(usize::MAX));
        }
        Ok(all)
    }

    pub async fn vnic_profile_update(
        &self,
        who: &Principal,
        id: VnicProfileId,
        req: VnicProfileUpdate,
    ) -> Result<VnicProfile> {
        let mut profile = self.store.vnic_profile_get(id).await?;
        if let Some(name) = req.name {
            super::infra::name_check("vNIC profile", &name)?;
            profile.name = name;
        }
        if let Some(d) = req.description {
            profile.description = d;
        }
        self.store.vnic_profile_update(&profile).await?;
        let network = self.store.network_get(profile.network_id).await?;
        self.audit(
            who,
            Severity::Normal,
            AuditCode::UPDATE_VNIC_PROFILE,
            format!("vNIC Profile {} of network {} was updated by {}.", profile.name, network.name, who.login),
            EventRefs { data_center_id: Some(network.data_center_id), ..EventRefs::default() },
        )
        .await;
        Ok(profile)
    }

    /// Removes a vNIC profile; refused while VM NICs use it.
    pub async fn vnic_profile_remove(&self, who: &Principal, id: VnicProfileId) -> Result<()> {
        let profile = self.store.vnic_profile_get(id).await?;
        let network = self.store.network_get(profile.network_id).await?;
        self.store.vnic_profile_delete(id).await?;
        self.audit(
            who,
            Severity::Normal,
            AuditCode::REMOVE_VNIC_PROFILE,
            format!("vNIC Profile {} of network {} was removed by {}.", profile.name, network.name, who.login),
            EventRefs { data_center_id: Some(network.data_center_id), ..EventRefs::default() },
        )
        .await;
        Ok(())
    }
}
