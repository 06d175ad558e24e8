//! Data centers: created with their management network (`ovirtmgmt`) and its vNIC profile,
//! as in oVirt; removed only when empty.

use super::common::still_used;
use super::query::{Comparison, ListQuery};
use super::{App, AppError, Result};
use super::{Named, missing_reference, name_check};
use crate::auth::Principal;
use oxvirt_engine_db::model::{
    AuditCode, DataCenter, EventRefs, Network, Severity, Version, VnicProfile, VnicProfileId,
};
use oxvirt_engine_db::store::{DataCenterFilter, StoreError};
use oxvirt_types::{DataCenterId, DataCenterStatus, NetworkId};

/// The management network every data center gets, as in oVirt.
pub const MANAGEMENT_NETWORK: &str = "ovirtmgmt";

#[derive(Debug, Clone, Default)]
pub struct DataCenterAdd {
    pub name: String,
    pub description: Option<String>,
    pub comment: Option<String>,
    pub local: Option<bool>,
}

#[derive(Debug, Clone, Default)]
pub struct DataCenterUpdate {
    pub name: Option<String>,
    pub description: Option<String>,
    pub comment: Option<String>,
    pub local: Option<bool>,
}

impl App {
    /// Adds a data center with its `ovirtmgmt` network (and that network's vNIC profile).
    pub async fn data_center_add(&self, who: &Principal, req: DataCenterAdd) -> Result<DataCenter> {
        name_check("data center", &req.name)?;
        let dc = DataCenter {
            id: DataCenterId::new_random(),
            name: req.name,
            description: req.description.unwrap_or_default(),
            comment: req.comment.unwrap_or_default(),
            local: req.local.unwrap_or(false),
            status: DataCenterStatus::Uninitialized,
            version: Version::CURRENT,
        };
        let network = Network {
            id: NetworkId::new_random(),
            name: MANAGEMENT_NETWORK.to_owned(),
            data_center_id: dc.id,
            description: "Management Network".to_owned(),
            comment: String::new(),
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
            comment: String::new(),
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
        let key = |d: &DataCenter| (d.status.as_str().to_owned(), d.name.clone(), d.id.to_string());
        self.list_any_of(q, |g| async move { self.data_center_list_and(&g).await }, key).await
    }

    /// [`App::data_center_list`] of a search without `or`.
    async fn data_center_list_and(&self, q: &ListQuery) -> Result<Vec<DataCenter>> {
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
        if let Some(c) = req.comment {
            dc.comment = c;
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
        self.store.data_center_delete(id).await.map_err(|e| still_used(e, format!("data center {}", dc.name)))?;
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
}
