//! Networks attached to clusters (a cluster's hosts must provide them when `required`).

use super::{App, AppError, Result};
use super::{MANAGEMENT_NETWORK, Named, missing_reference};
use crate::auth::Principal;
use oxvirt_engine_db::model::{AuditCode, ClusterNetwork, EventRefs, Network, Severity};
use oxvirt_types::{ClusterId, NetworkId};

impl App {
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
}
