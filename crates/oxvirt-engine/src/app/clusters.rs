//! Clusters: created in a data center with its management network attached (required).

use super::common::still_used;
use super::query::ListQuery;
use super::{App, AppError, Result};
use super::{MANAGEMENT_NETWORK, Named, missing_reference, name_check};
use crate::auth::Principal;
use oxvirt_engine_db::model::{
    Architecture, AuditCode, Cluster, ClusterNetwork, DEFAULT_MAC_POOL_ID, EventRefs, Severity, Version,
};
use oxvirt_engine_db::store::ClusterFilter;
use oxvirt_types::{ClusterId, DataCenterId, MacPoolId};

#[derive(Debug, Clone)]
pub struct ClusterAdd {
    pub name: String,
    pub description: Option<String>,
    pub comment: Option<String>,
    pub data_center: Named<DataCenterId>,
    pub cpu_architecture: Option<Architecture>,
    pub cpu_type: Option<String>,
    /// `None`: the built-in `Default` pool.
    pub mac_pool: Option<Named<MacPoolId>>,
}

#[derive(Debug, Clone, Default)]
pub struct ClusterUpdate {
    pub name: Option<String>,
    pub description: Option<String>,
    pub comment: Option<String>,
    pub cpu_type: Option<String>,
    /// Another pool for the NICs added from now on (existing NICs keep their addresses).
    pub mac_pool: Option<Named<MacPoolId>>,
}

impl App {
    pub(super) async fn cluster_resolve(&self, named: &Named<ClusterId>) -> Result<Cluster> {
        let found = match named {
            Named::Id(id) => self.store.cluster_get(*id).await,
            Named::Name(n) => self.store.cluster_get_by_name(n).await,
        };
        found.map_err(|e| missing_reference(e, "cluster", named))
    }

    /// The pool a cluster request names; a missing one is refused naming `cluster.mac_pool`.
    async fn cluster_mac_pool(&self, named: &Named<MacPoolId>) -> Result<MacPoolId> {
        match self.mac_pool_resolve(named).await {
            Ok(pool) => Ok(pool.id),
            Err(AppError::InvalidInput(m)) => Err(AppError::InvalidInput(format!("cluster.mac_pool: {m}"))),
            Err(e) => Err(e),
        }
    }

    /// Adds a cluster to a data center; the data center's `ovirtmgmt` is attached, required.
    pub async fn cluster_add(&self, who: &Principal, req: ClusterAdd) -> Result<Cluster> {
        name_check("cluster", &req.name)?;
        let dc = self.data_center_resolve(&req.data_center).await?;
        let mac_pool_id = match &req.mac_pool {
            Some(p) => self.cluster_mac_pool(p).await?,
            None => DEFAULT_MAC_POOL_ID,
        };
        let cluster = Cluster {
            id: ClusterId::new_random(),
            name: req.name,
            description: req.description.unwrap_or_default(),
            comment: req.comment.unwrap_or_default(),
            data_center_id: dc.id,
            cpu_architecture: req.cpu_architecture.unwrap_or(Architecture::X86_64),
            cpu_type: req.cpu_type,
            version: Version::CURRENT,
            memory_overcommit_percent: 100,
            mac_pool_id,
        };
        let mut tx = self.store.begin().await?;
        tx.cluster_insert(&cluster).await?;
        if let Ok(mgmt) = tx.network_get_by_name(dc.id, MANAGEMENT_NETWORK).await {
            tx.cluster_network_insert(&ClusterNetwork { cluster_id: cluster.id, network_id: mgmt.id, required: true })
                .await?;
        }
        tx.commit().await?;
        self.audit(
            who,
            Severity::Normal,
            AuditCode::USER_ADD_CLUSTER,
            format!("Cluster {} was added by {}.", cluster.name, who.login),
            EventRefs { cluster_id: Some(cluster.id), data_center_id: Some(dc.id), ..EventRefs::default() },
        )
        .await;
        Ok(cluster)
    }

    pub async fn cluster_get(&self, id: ClusterId) -> Result<Cluster> {
        Ok(self.store.cluster_get(id).await?)
    }

    /// Clusters matching `q`; with `data_center`, only its clusters (after checking it exists,
    /// so that a missing data center is a 404 rather than an empty list).
    pub async fn cluster_list(&self, q: &ListQuery, data_center: Option<DataCenterId>) -> Result<Vec<Cluster>> {
        let key = |c: &Cluster| (String::new(), c.name.clone(), c.id.to_string());
        self.list_any_of(q, |g| async move { self.cluster_list_and(&g, data_center).await }, key).await
    }

    /// [`App::cluster_list`] of a search without `or`.
    async fn cluster_list_and(&self, q: &ListQuery, data_center: Option<DataCenterId>) -> Result<Vec<Cluster>> {
        let c = q.criteria(&super::query::CLUSTERS)?;
        if let Some(dc) = data_center {
            self.store.data_center_get(dc).await?;
        }
        let Some(data_center_id) = self.scope_data_center(&c).await?.within(data_center).filter() else {
            return Ok(Vec::new());
        };
        let filter = ClusterFilter { name: c.name, data_center_id, page: c.page };
        Ok(self.store.cluster_list(&filter).await?)
    }

    pub async fn cluster_update(&self, who: &Principal, id: ClusterId, req: ClusterUpdate) -> Result<Cluster> {
        let mut cluster = self.store.cluster_get(id).await?;
        if let Some(name) = req.name {
            name_check("cluster", &name)?;
            cluster.name = name;
        }
        if let Some(d) = req.description {
            cluster.description = d;
        }
        if let Some(c) = req.comment {
            cluster.comment = c;
        }
        if req.cpu_type.is_some() {
            cluster.cpu_type = req.cpu_type;
        }
        if let Some(p) = &req.mac_pool {
            cluster.mac_pool_id = self.cluster_mac_pool(p).await?;
        }
        self.store.cluster_update(&cluster).await?;
        self.audit(
            who,
            Severity::Normal,
            AuditCode::USER_UPDATE_CLUSTER,
            format!("Cluster {} was updated by {}.", cluster.name, who.login),
            EventRefs { cluster_id: Some(cluster.id), ..EventRefs::default() },
        )
        .await;
        Ok(cluster)
    }

    pub async fn cluster_remove(&self, who: &Principal, id: ClusterId) -> Result<()> {
        let cluster = self.store.cluster_get(id).await?;
        self.store.cluster_delete(id).await.map_err(|e| still_used(e, format!("cluster {}", cluster.name)))?;
        self.audit(
            who,
            Severity::Normal,
            AuditCode::USER_REMOVE_CLUSTER,
            format!("Cluster {} was removed by {}.", cluster.name, who.login),
            EventRefs { cluster_id: Some(cluster.id), ..EventRefs::default() },
        )
        .await;
        Ok(())
    }
}
