//! Data centers and clusters.

use super::query::{Comparison, ListQuery};
use super::{App, AppError, Result};
use crate::auth::Principal;
use oxvirt_engine_db::model::{
    Architecture, AuditCode, Cluster, ClusterNetwork, DataCenter, EventRefs, Network, Severity, Version, VnicProfile,
    VnicProfileId,
};
use oxvirt_engine_db::store::{ClusterFilter, DataCenterFilter, StoreError};
use oxvirt_types::{ClusterId, DataCenterId, DataCenterStatus, NetworkId};

/// The management network every data center gets, as in oVirt.
pub const MANAGEMENT_NETWORK: &str = "ovirtmgmt";

/// A reference by id or by name, as oVirt clients send them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Named<T> {
    Id(T),
    Name(String),
}

#[derive(Debug, Clone, Default)]
pub struct DataCenterAdd {
    pub name: String,
    pub description: Option<String>,
    pub local: Option<bool>,
}

#[derive(Debug, Clone, Default)]
pub struct DataCenterUpdate {
    pub name: Option<String>,
    pub description: Option<String>,
    pub local: Option<bool>,
}

#[derive(Debug, Clone)]
pub struct ClusterAdd {
    pub name: String,
    pub description: Option<String>,
    pub data_center: Named<DataCenterId>,
    pub cpu_architecture: Option<Architecture>,
    pub cpu_type: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct ClusterUpdate {
    pub name: Option<String>,
    pub description: Option<String>,
    pub cpu_type: Option<String>,
}

/// A referenced object that does not exist is the request's fault (400), not a 404 of the
/// requested resource.
pub(super) fn missing_reference<T: std::fmt::Display>(e: StoreError, what: &str, named: &Named<T>) -> AppError {
    match e {
        StoreError::NotFound { .. } => AppError::InvalidInput(match named {
            Named::Id(id) => format!("{what} {id} does not exist"),
            Named::Name(n) => format!("{what} '{n}' does not exist"),
        }),
        other => other.into(),
    }
}

pub(super) fn name_check(what: &str, name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(AppError::InvalidInput(format!(
            "'{name}' is not a valid {what} name: use 1-64 letters, digits, '-', '_' or '.'"
        )))
    }
}

impl App {
    /// Adds a data center with its `ovirtmgmt` network (and that network's vNIC profile).
    pub async fn data_center_add(&self, who: &Principal, req: DataCenterAdd) -> Result<DataCenter> {
        name_check("data center", &req.name)?;
        let dc = DataCenter {
            id: DataCenterId::new_random(),
            name: req.name,
            description: req.description.unwrap_or_default(),
            local: req.local.unwrap_or(false),
            status: DataCenterStatus::Uninitialized,
            version: Version::CURRENT,
        };
        let network = Network {
            id: NetworkId::new_random(),
            name: MANAGEMENT_NETWORK.to_owned(),
            data_center_id: dc.id,
            description: "Management Network".to_owned(),
            vm: true,
            vlan_id: None,
            mtu: 0,
        };
        let mut tx = self.store.begin().await?;
        tx.data_center_insert(&dc).await?;
        tx.network_insert(&network).await?;
        tx.vnic_profile_insert(&VnicProfile {
            id: VnicProfileId::new_random(),
            name: MANAGEMENT_NETWORK.to_owned(),
            network_id: network.id,
            description: String::new(),
        })
        .await?;
        tx.commit().await?;
        self.audit(
            who,
            Severity::Normal,
            AuditCode::USER_ADD_STORAGE_POOL,
            format!("Data Center {} was added by {}.", dc.name, who.login),
            EventRefs { data_center_id: Some(dc.id), ..EventRefs::default() },
        )
        .await;
        Ok(dc)
    }

    pub async fn data_center_get(&self, id: DataCenterId) -> Result<DataCenter> {
        Ok(self.store.data_center_get(id).await?)
    }

    pub async fn data_center_list(&self, q: &ListQuery) -> Result<Vec<DataCenter>> {
        if let Some(dcs) = self.data_center_list_by_cluster(q).await? {
            return Ok(dcs);
        }
        let c = q.criteria(&super::query::DATA_CENTERS)?;
        let status = c
            .status
            .map(|s| {
                DataCenterStatus::from_wire(&s)
                    .ok_or_else(|| AppError::InvalidInput(format!("'{s}' is not a data center status")))
            })
            .transpose()?;
        let filter = DataCenterFilter { name: c.name, status, page: c.page };
        Ok(self.store.data_center_list(&filter).await?)
    }

    /// oVirt's cross-object search `Clusters.name=<name>` (the data center of a cluster, as
    /// the SDK's examples use it); `None` when the search is not that.
    async fn data_center_list_by_cluster(&self, q: &ListQuery) -> Result<Option<Vec<DataCenter>>> {
        let Some(cond) = q.single_condition() else { return Ok(None) };
        if cond.field != "clusters.name" {
            return Ok(None);
        }
        let Some(name) = cond.literal.clone().filter(|_| cond.op == Comparison::Eq) else {
            return Err(AppError::InvalidInput(
                "searching data centers by Clusters.name supports only '=' with a plain name".into(),
            ));
        };
        match self.store.cluster_get_by_name(&name).await {
            Ok(cluster) => Ok(Some(vec![self.store.data_center_get(cluster.data_center_id).await?])),
            Err(StoreError::NotFound { .. }) => Ok(Some(Vec::new())),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn data_center_update(
        &self,
        who: &Principal,
        id: DataCenterId,
        req: DataCenterUpdate,
    ) -> Result<DataCenter> {
        let mut dc = self.store.data_center_get(id).await?;
        if let Some(name) = req.name {
            name_check("data center", &name)?;
            dc.name = name;
        }
        if let Some(d) = req.description {
            dc.description = d;
        }
        if let Some(local) = req.local.filter(|l| *l != dc.local) {
            if dc.status != DataCenterStatus::Uninitialized {
                return Err(AppError::Conflict(format!(
                    "cannot change data center {} between local and shared storage while it is initialized",
                    dc.name
                )));
            }
            dc.local = local;
        }
        self.store.data_center_update(&dc).await?;
        self.audit(
            who,
            Severity::Normal,
            AuditCode::USER_UPDATE_STORAGE_POOL,
            format!("Data Center {} was updated by {}.", dc.name, who.login),
            EventRefs { data_center_id: Some(dc.id), ..EventRefs::default() },
        )
        .await;
        Ok(dc)
    }

    pub async fn data_center_remove(&self, who: &Principal, id: DataCenterId) -> Result<()> {
        let dc = self.store.data_center_get(id).await?;
        self.store.data_center_delete(id).await?;
        self.audit(
            who,
            Severity::Normal,
            AuditCode::USER_REMOVE_STORAGE_POOL,
            format!("Data Center {} was removed by {}.", dc.name, who.login),
            EventRefs { data_center_id: Some(dc.id), ..EventRefs::default() },
        )
        .await;
        Ok(())
    }

    pub(super) async fn data_center_resolve(&self, named: &Named<DataCenterId>) -> Result<DataCenter> {
        let found = match named {
            Named::Id(id) => self.store.data_center_get(*id).await,
            Named::Name(n) => self.store.data_center_get_by_name(n).await,
        };
        found.map_err(|e| missing_reference(e, "data center", named))
    }

    pub(super) async fn cluster_resolve(&self, named: &Named<ClusterId>) -> Result<Cluster> {
        let found = match named {
            Named::Id(id) => self.store.cluster_get(*id).await,
            Named::Name(n) => self.store.cluster_get_by_name(n).await,
        };
        found.map_err(|e| missing_reference(e, "cluster", named))
    }

    /// Adds a cluster to a data center; the data center's `ovirtmgmt` is attached, required.
    pub async fn cluster_add(&self, who: &Principal, req: ClusterAdd) -> Result<Cluster> {
        name_check("cluster", &req.name)?;
        let dc = self.data_center_resolve(&req.data_center).await?;
        let cluster = Cluster {
            id: ClusterId::new_random(),
            name: req.name,
            description: req.description.unwrap_or_default(),
            data_center_id: dc.id,
            cpu_architecture: req.cpu_architecture.unwrap_or(Architecture::X86_64),
            cpu_type: req.cpu_type,
            version: Version::CURRENT,
            memory_overcommit_percent: 100,
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

    pub async fn cluster_list(&self, q: &ListQuery) -> Result<Vec<Cluster>> {
        let c = q.criteria(&super::query::CLUSTERS)?;
        let filter = ClusterFilter { name: c.name, data_center_id: None, page: c.page };
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
        if req.cpu_type.is_some() {
            cluster.cpu_type = req.cpu_type;
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
        self.store.cluster_delete(id).await?;
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

impl App {
    /// The audit log, newest first unless the search says `sortby time asc`; `from` keeps
    /// only events numbered above it (oVirt's incremental polling).
    pub async fn event_list(&self, from: Option<i64>, q: &ListQuery) -> Result<Vec<oxvirt_engine_db::model::Event>> {
        let mut descending = true;
        if q.any_of.iter().any(|group| !group.is_empty()) {
            return Err(AppError::InvalidInput(
                "events can be searched only with 'sortby time asc|desc' for now".into(),
            ));
        }
        if let Some(sort) = &q.sort {
            if sort.field != "time" {
                return Err(AppError::InvalidInput(format!(
                    "cannot sort events by '{}'; use 'sortby time'",
                    sort.field
                )));
            }
            descending = sort.descending;
        }
        let filter = oxvirt_engine_db::store::EventFilter {
            after: from.map(oxvirt_engine_db::model::EventSeq),
            descending,
            limit: q.max,
            ..oxvirt_engine_db::store::EventFilter::default()
        };
        Ok(self.store.event_list(&filter).await?)
    }
}
