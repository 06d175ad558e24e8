//! Hosts: adding one enrolls its agent (the engine's CA signs the agent's certificate; mTLS
//! from then on) and records its capabilities; maintenance and activation.

use super::common::still_used;
use super::{App, AppError, ListQuery, Result};
use super::{Named, missing_reference, name_check};
use crate::auth::Principal;
use oxvirt_agent_api::DEFAULT_AGENT_PORT;
use oxvirt_agent_client::{AgentClient, host_enroll};
use oxvirt_engine_db::model::{AuditCode, EventRefs, Host, Severity, Timestamp};
use oxvirt_engine_db::store::{HostFilter, StoreError};
use oxvirt_types::{ClusterId, HostId, HostStatus};
use std::sync::Arc;

#[derive(Debug, Clone)]
pub struct HostAdd {
    pub name: String,
    pub address: String,
    pub port: Option<u16>,
    pub cluster: Named<ClusterId>,
    /// The agent's enrollment secret. oVirt clients send it as the host's `root_password`
    /// (oVirt used the root password to install the host over SSH; oxvirt never logs in to a
    /// host: the agent's secret proves the engine was given the host by its administrator).
    pub enrollment_secret: Option<String>,
}

impl App {
    pub(super) async fn host_resolve(&self, named: &Named<HostId>) -> Result<Host> {
        let found = match named {
            Named::Id(id) => self.store.host_get(*id).await,
            Named::Name(n) => self.store.host_get_by_name(n).await,
        };
        found.map_err(|e| missing_reference(e, "host", named))
    }

    pub async fn host_add(self: &Arc<Self>, who: &Principal, req: HostAdd) -> Result<Host> {
        name_check("host", &req.name)?;
        let Some(secret) = req.enrollment_secret.filter(|s| !s.is_empty()) else {
            return Err(AppError::InvalidInput(format!(
                "host {} needs its agent's enrollment secret, sent as root_password: it is in the agent's state dir \
                 (/var/lib/oxvirt-agent/enrollment-secret) or set with oxvirt-agent --enrollment-secret",
                req.name
            )));
        };
        let cluster = self.cluster_resolve(&req.cluster).await?;
        // Refuse taken names before the agent is touched (its enrollment cannot be undone).
        match self.store.host_get_by_name(&req.name).await {
            Ok(_) => {
                return Err(AppError::Conflict(format!(
                    "a host named '{}' already exists; choose another name",
                    req.name
                )));
            }
            Err(StoreError::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        let port = req.port.unwrap_or(DEFAULT_AGENT_PORT);
        let enrolled = host_enroll(&req.address, port, &secret, &self.pki).await?;
        let client = AgentClient::new(&req.address, port, &self.pki)?;
        let caps = client.capabilities().await?;
        let host = Host {
            id: enrolled.host_id,
            name: req.name,
            address: req.address,
            port,
            cluster_id: cluster.id,
            status: HostStatus::Up,
            status_detail: None,
            certificate_fingerprint: None,
            capabilities: serde_json::to_value(&caps).ok(),
            memory_total: caps.memory,
            max_scheduling_memory: caps.memory,
            created: Timestamp::now(),
        };
        self.store.host_insert(&host).await?;
        self.agents_lock().insert(host.id, client);
        self.host_monitor_start(host.id);
        self.host_storage_connect_logged(&host).await;
        self.audit(
            who,
            Severity::Normal,
            AuditCode::USER_ADD_VDS,
            format!("Host {} was added by {} and is Up.", host.name, who.login),
            EventRefs { host_id: Some(host.id), cluster_id: Some(cluster.id), ..EventRefs::default() },
        )
        .await;
        Ok(host)
    }

    pub async fn host_get(&self, id: HostId) -> Result<Host> {
        Ok(self.store.host_get(id).await?)
    }

    pub async fn host_list(&self, q: &ListQuery) -> Result<Vec<Host>> {
        let c = q.criteria(&super::query::HOSTS)?;
        let status = c
            .status
            .map(|s| {
                HostStatus::from_wire(&s).ok_or_else(|| AppError::InvalidInput(format!("'{s}' is not a host status")))
            })
            .transpose()?;
        let filter = HostFilter { name: c.name, status, cluster_id: None, page: c.page };
        Ok(self.store.host_list(&filter).await?)
    }

    /// Moves a host to maintenance (no VMs are placed on it; it may be removed).
    pub async fn host_deactivate(&self, who: &Principal, id: HostId) -> Result<Host> {
        let host = self.store.host_get(id).await?;
        self.store.host_status_set(id, HostStatus::Maintenance, None).await?;
        self.data_center_status_refresh(self.store.cluster_get(host.cluster_id).await?.data_center_id).await?;
        self.audit(
            who,
            Severity::Normal,
            AuditCode::USER_VDS_MAINTENANCE_WITHOUT_REASON,
            format!("Host {} was switched to Maintenance mode by {}.", host.name, who.login),
            EventRefs { host_id: Some(id), ..EventRefs::default() },
        )
        .await;
        Ok(self.store.host_get(id).await?)
    }

    /// Brings a host back: Up when its agent answers, non-responsive otherwise.
    pub async fn host_activate(&self, who: &Principal, id: HostId) -> Result<Host> {
        let host = self.store.host_get(id).await?;
        let client = self.agent_for(&host)?;
        let (status, detail) = match client.capabilities().await {
            Ok(_) => (HostStatus::Up, None),
            Err(e) => (HostStatus::NonResponsive, Some(e.to_string())),
        };
        self.store.host_status_set(id, status, detail.as_deref()).await?;
        self.host_storage_connect_logged(&self.store.host_get(id).await?).await;
        self.audit(
            who,
            if status == HostStatus::Up { Severity::Normal } else { Severity::Error },
            if status == HostStatus::Up { AuditCode::VDS_ACTIVATE } else { AuditCode::VDS_ACTIVATE_FAILED },
            format!("Host {} was activated by {}; it is {}.", host.name, who.login, status),
            EventRefs { host_id: Some(id), ..EventRefs::default() },
        )
        .await;
        Ok(self.store.host_get(id).await?)
    }

    /// Removes a host; it must be in maintenance first, as in oVirt.
    pub async fn host_remove(&self, who: &Principal, id: HostId) -> Result<()> {
        let host = self.store.host_get(id).await?;
        if host.status != HostStatus::Maintenance {
            return Err(AppError::Conflict(format!(
                "host {} is {}: move it to maintenance (deactivate) before removing it",
                host.name, host.status
            )));
        }
        self.store.host_delete(id).await.map_err(|e| still_used(e, format!("host {}", host.name)))?;
        self.host_monitor_stop(id);
        self.agents_lock().remove(&id);
        self.audit(
            who,
            Severity::Normal,
            AuditCode::USER_REMOVE_VDS,
            format!("Host {} was removed by {}.", host.name, who.login),
            EventRefs { host_id: Some(id), ..EventRefs::default() },
        )
        .await;
        Ok(())
    }

    /// The mTLS client of `host`'s agent (made on first use, e.g. after an engine restart).
    pub(crate) fn agent_for(&self, host: &Host) -> Result<AgentClient> {
        let mut agents = self.agents_lock();
        if let Some(c) = agents.get(&host.id) {
            return Ok(c.clone());
        }
        let client = AgentClient::new(&host.address, host.port, &self.pki)?;
        agents.insert(host.id, client.clone());
        Ok(client)
    }
}
