//! Hosts: adding one enrolls its agent (the engine's CA signs the agent's certificate; mTLS
//! from then on) and records its capabilities; maintenance and activation.

use super::infra::{Named, name_check};
use super::{App, AppError, ListQuery, Result};
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
        self.store.host_delete(id).await?;
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

/// A network interface of a host, as its agent last reported it (oVirt's `host_nic`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostNicInfo {
    /// Stable for a host and interface name (derived from both).
    pub id: oxvirt_types::HostNicId,
    pub name: String,
    pub mac: Option<String>,
    /// Addresses in CIDR notation (`198.18.1.2/24`).
    pub addresses: Vec<String>,
    pub up: bool,
    /// A Linux bridge, or enslaved to one (carries a bridged network).
    pub bridged: bool,
}

/// A UUID derived from `parts` alone: FNV-1a over them, twice with different offsets for 128
/// bits, marked as a version-8 (custom) UUID. Stable across restarts and engine versions, for
/// objects the engine does not store (host NICs, statistics) but oVirt clients address by id.
pub(crate) fn stable_uuid(parts: &[&[u8]]) -> uuid::Uuid {
    let fnv = |seed: u64| {
        let mut h = seed;
        for part in parts {
            for b in part.iter().chain([0u8].iter()) {
                h ^= u64::from(*b);
                h = h.wrapping_mul(0x0000_0100_0000_01b3);
            }
        }
        h
    };
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&fnv(0xcbf2_9ce4_8422_2325).to_be_bytes());
    bytes[8..].copy_from_slice(&fnv(0x6c62_272e_07bb_0142).to_be_bytes());
    bytes[6] = (bytes[6] & 0x0f) | 0x80;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    uuid::Uuid::from_bytes(bytes)
}

fn host_nic_id(host: HostId, name: &str) -> oxvirt_types::HostNicId {
    oxvirt_types::HostNicId::from_uuid(stable_uuid(&[host.as_uuid().as_bytes(), name.as_bytes()]))
}

impl App {
    /// The host's current statistics, asked of its agent. A host whose agent does not answer
    /// is a conflict with the host's state (409), not an engine failure.
    pub async fn host_stats(&self, id: HostId) -> Result<oxvirt_agent_api::v1::HostStats> {
        let host = self.store.host_get(id).await?;
        let client = self.agent_for(&host)?;
        client.host_stats().await.map_err(|e| match e {
            oxvirt_agent_client::AgentClientError::Unreachable { .. } => AppError::Conflict(format!(
                "host {} ({}) is not reachable, so its statistics are unknown: {e}; check that its agent runs",
                host.name, host.status
            )),
            other => other.into(),
        })
    }

    /// The host's network interfaces from its recorded capabilities (empty until known).
    pub async fn host_nics(&self, id: HostId) -> Result<Vec<HostNicInfo>> {
        let host = self.store.host_get(id).await?;
        let Some(caps) = host.capabilities.as_ref() else { return Ok(Vec::new()) };
        let caps: oxvirt_agent_api::v1::Capabilities = serde_json::from_value(caps.clone()).map_err(|e| {
            AppError::Store(StoreError::Corrupt { column: "hosts.capabilities".into(), detail: e.to_string() })
        })?;
        Ok(caps
            .nics
            .into_iter()
            .map(|n| HostNicInfo {
                id: host_nic_id(id, &n.name),
                bridged: n.bridge.is_some() || caps.bridges.contains(&n.name),
                name: n.name,
                mac: n.mac,
                addresses: n.addresses,
                up: n.up,
            })
            .collect())
    }

    pub async fn host_nic_get(&self, host: HostId, nic: oxvirt_types::HostNicId) -> Result<HostNicInfo> {
        self.host_nics(host)
            .await?
            .into_iter()
            .find(|n| n.id == nic)
            .ok_or_else(|| StoreError::not_found("host NIC", format!("{nic} of host {host}")).into())
    }
}
