//! The scheduling policy (`/schedulingpolicies`) clusters refer to, the one that places VMs.
//!
//! Why fixed: oxvirt has one today — the scheduler of [`super::scheduler`], which is oVirt's
//! `none` policy with its default filters. Clients (Ansible's `ovirt_cluster` on every run)
//! follow a cluster's `scheduling_policy` link, so it answers, read-only, saying what the
//! engine really does. Creating policies is refused by the unserved rule until they exist
//! (issue 15).

use super::{AppError, ListQuery, Result};

/// oVirt's fixed id of its built-in `none` scheduling policy, the one oxvirt's scheduler
/// implements (and oVirt's default for new clusters).
pub const NONE_SCHEDULING_POLICY_ID: &str = "b4ed2332-a7ac-4d5f-9596-99a439cb2812";

/// A scheduling policy as the API shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SchedulingPolicyView {
    pub id: &'static str,
    pub name: &'static str,
    pub description: &'static str,
}

const SCHEDULING_POLICIES: &[SchedulingPolicyView] = &[SchedulingPolicyView {
    id: NONE_SCHEDULING_POLICY_ID,
    name: "none",
    description: "Up hosts of the cluster that reach the VM's storage and have its guaranteed memory free; \
                  the VM's preferred host, else the one with the most memory free. No balancing.",
}];

impl super::App {
    pub fn scheduling_policy_list(&self, q: &ListQuery) -> Result<Vec<SchedulingPolicyView>> {
        if q.has_search() {
            return Err(AppError::InvalidInput("scheduling policies cannot be searched; list them all".into()));
        }
        let max = q.max.map_or(usize::MAX, |m| usize::try_from(m).unwrap_or(usize::MAX));
        Ok(SCHEDULING_POLICIES.iter().take(max).copied().collect())
    }

    pub fn scheduling_policy_get(&self, id: &str) -> Result<SchedulingPolicyView> {
        SCHEDULING_POLICIES.iter().find(|p| p.id == id).copied().ok_or_else(|| {
            AppError::NotFound(format!("no scheduling policy {id}; oxvirt has one, none ({NONE_SCHEDULING_POLICY_ID})"))
        })
    }
}
