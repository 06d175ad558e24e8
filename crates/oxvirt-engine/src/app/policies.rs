//! The engine-wide policies clusters refer to: the MAC pool (`/macpools`) NICs take their
//! addresses from, and the scheduling policy (`/schedulingpolicies`) that places VMs.
//!
//! Why fixed: oxvirt has one of each today — the MAC pool of [`MacPool::default`] and the
//! scheduler of [`super::scheduler`], which is oVirt's `none` policy with its default filters.
//! Clients (Ansible's `ovirt_cluster` on every run) follow a cluster's `mac_pool` and
//! `scheduling_policy` links, so both answer, read-only, saying what the engine really does.
//! Creating pools or policies is refused by the unserved rule until they exist.

use super::{AppError, ListQuery, Result};
use oxvirt_engine_db::model::MacPool;

/// The id of the one MAC pool (oxvirt's own; oVirt generates its default pool's id at setup).
pub const DEFAULT_MAC_POOL_ID: &str = "5663f000-0000-4000-8000-000000000001";

/// oVirt's fixed id of its built-in `none` scheduling policy, the one oxvirt's scheduler
/// implements (and oVirt's default for new clusters).
pub const NONE_SCHEDULING_POLICY_ID: &str = "b4ed2332-a7ac-4d5f-9596-99a439cb2812";

/// The MAC pool as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MacPoolView {
    pub id: &'static str,
    pub name: &'static str,
    pub description: &'static str,
    pub pool: MacPool,
}

/// A scheduling policy as the API shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SchedulingPolicyView {
    pub id: &'static str,
    pub name: &'static str,
    pub description: &'static str,
}

fn mac_pool_default() -> MacPoolView {
    MacPoolView {
        id: DEFAULT_MAC_POOL_ID,
        name: "Default",
        description: "The MAC pool of every cluster: NICs without a MAC get the lowest free address",
        pool: MacPool::default(),
    }
}

const SCHEDULING_POLICIES: &[SchedulingPolicyView] = &[SchedulingPolicyView {
    id: NONE_SCHEDULING_POLICY_ID,
    name: "none",
    description: "Up hosts of the cluster that reach the VM's storage and have its guaranteed memory free; \
                  the VM's preferred host, else the one with the most memory free. No balancing.",
}];

fn not_searchable(q: &ListQuery, what: &str) -> Result<()> {
    if q.has_search() {
        return Err(AppError::InvalidInput(format!("{what} cannot be searched; list them all")));
    }
    Ok(())
}

impl super::App {
    pub fn mac_pool_list(&self, q: &ListQuery) -> Result<Vec<MacPoolView>> {
        not_searchable(q, "MAC pools")?;
        Ok(if q.max == Some(0) { Vec::new() } else { vec![mac_pool_default()] })
    }

    pub fn mac_pool_get(&self, id: &str) -> Result<MacPoolView> {
        if id == DEFAULT_MAC_POOL_ID {
            return Ok(mac_pool_default());
        }
        Err(AppError::NotFound(format!("no MAC pool {id}; oxvirt has one, Default ({DEFAULT_MAC_POOL_ID})")))
    }

    pub fn scheduling_policy_list(&self, q: &ListQuery) -> Result<Vec<SchedulingPolicyView>> {
        not_searchable(q, "scheduling policies")?;
        let max = q.max.map_or(usize::MAX, |m| usize::try_from(m).unwrap_or(usize::MAX));
        Ok(SCHEDULING_POLICIES.iter().take(max).copied().collect())
    }

    pub fn scheduling_policy_get(&self, id: &str) -> Result<SchedulingPolicyView> {
        SCHEDULING_POLICIES.iter().find(|p| p.id == id).copied().ok_or_else(|| {
            AppError::NotFound(format!("no scheduling policy {id}; oxvirt has one, none ({NONE_SCHEDULING_POLICY_ID})"))
        })
    }
}
