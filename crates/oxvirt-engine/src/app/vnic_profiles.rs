//! vNIC profiles: what a VM NIC connects to, one network each.

use super::common::still_used;
use super::{App, AppError, Result};
use super::{Named, missing_reference};
use crate::auth::Principal;
use oxvirt_engine_db::model::{AuditCode, EventRefs, Severity, VnicProfile, VnicProfileId};
use oxvirt_types::NetworkId;

#[derive(Debug, Clone)]
pub struct VnicProfileAdd {
    pub name: String,
    pub description: Option<String>,
    pub comment: Option<String>,
    pub network: NetworkId,
}

#[derive(Debug, Clone, Default)]
pub struct VnicProfileUpdate {
    pub name: Option<String>,
    pub description: Option<String>,
    pub comment: Option<String>,
}

impl App {
    /// Adds a vNIC profile to a network.
    pub async fn vnic_profile_add(&self, who: &Principal, req: VnicProfileAdd) -> Result<VnicProfile> {
        super::name_check("vNIC profile", &req.name)?;
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
            comment: req.comment.unwrap_or_default(),
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
            super::name_check("vNIC profile", &name)?;
            profile.name = name;
        }
        if let Some(d) = req.description {
            profile.description = d;
        }
        if let Some(c) = req.comment {
            profile.comment = c;
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
        self.store
            .vnic_profile_delete(id)
            .await
            .map_err(|e| still_used(e, format!("vNIC profile {}", profile.name)))?;
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
