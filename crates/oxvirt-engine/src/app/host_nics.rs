//! A host's NICs, from its agent's capabilities, with ids stable across calls.

use super::{App, AppError, Result};
use oxvirt_engine_db::store::StoreError;
use oxvirt_types::HostId;

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
