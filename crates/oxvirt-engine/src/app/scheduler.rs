//! The scheduler's policy as a pure function: the candidate hosts, what they already hold and
//! the VM go in; the chosen host and the reason every other host was passed over come out.
//!
//! Why pure: placement rules grow (affinity, CPU, HA reservations, balancing) and each must be
//! testable as a table — hosts, VM, expected choice and reasons — without a database, an agent
//! or a clock, as the monitor's `vm_runtime_from_observation` is. The app gathers the inputs
//! (one query for the hosts, one aggregate for committed memory) and turns a refusal into an
//! error that says what to do.
//!
//! The first policy (oVirt's `none` policy with its default filters): only Up hosts of the
//! VM's cluster; every storage domain of the VM's active disks must be reachable from the host
//! (a localfs domain only from the host it was made through); the host must have the VM's
//! guaranteed memory free. Among those the VM's preferred host wins, else the one with the most
//! memory free. A VM `pinned` to a host (placement affinity `pinned` with a host, oVirt's
//! PinToHost filter) runs only there; with `migratable`/`user_migratable` the host is only
//! preferred (oVirt's PreferredHosts weight).

use super::storage_domain_reachable_from;
use oxvirt_engine_db::model::{Host, PlacementAffinity, StorageDomain, Vm};
use oxvirt_types::{HostId, HostStatus, VmStatus};
use std::collections::HashMap;

/// Why a host was not chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Passed {
    /// The host is not Up (or not in the VM's cluster).
    NotUp,
    /// It cannot reach these storage domains of the VM's disks.
    Unreachable(Vec<String>),
    /// It has `free` bytes of memory free; the VM needs `needed` guaranteed.
    Memory { free: u64, needed: u64 },
    /// It fits, but another host was better (more free memory, or preferred).
    Outscored,
    /// The VM is pinned to another host.
    NotPinned,
}

/// The policy's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The host to run on; `None` when no host qualifies.
    pub chosen: Option<HostId>,
    /// Every other candidate with the reason it was passed over, in input order.
    pub passed: Vec<(HostId, Passed)>,
    /// The host the VM is pinned to, when it is.
    pub pinned: Option<HostId>,
}

impl Decision {
    /// Why no host qualified, stated for the administrator (only meaningful without a choice).
    pub fn refusal(&self) -> Refusal {
        if let Some(host) = self.pinned {
            let why = self.passed.iter().find(|(h, _)| *h == host).map(|(_, p)| p.clone());
            return Refusal::Pinned { host, why };
        }
        let mut unreachable = None;
        let mut memory = None;
        for (_, reason) in &self.passed {
            match reason {
                Passed::Memory { needed, .. } => memory = Some(*needed),
                Passed::Unreachable(names) => unreachable = Some(names.clone()),
                Passed::NotUp | Passed::Outscored | Passed::NotPinned => {}
            }
        }
        // The filter that let hosts through the furthest explains the refusal best.
        match (memory, unreachable) {
            (Some(needed), _) => Refusal::NoMemory { needed },
            (None, Some(domains)) => Refusal::NoReach { domains },
            (None, None) => Refusal::NoUpHost,
        }
    }
}

/// Why a VM cannot run anywhere.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    NoUpHost,
    NoReach {
        domains: Vec<String>,
    },
    NoMemory {
        needed: u64,
    },
    /// The VM is pinned to a host that cannot take it (the reason, when it was a candidate).
    Pinned {
        host: HostId,
        why: Option<Passed>,
    },
}

/// Chooses a host for `vm` among `hosts` (its cluster's hosts); `domains` are the storage
/// domains of its active disks, `committed` the guaranteed memory each host holds already
/// (this VM's own share included when it runs there).
pub fn host_choose(vm: &Vm, hosts: &[Host], domains: &[StorageDomain], committed: &HashMap<HostId, u64>) -> Decision {
    let needed = vm.config.memory_guaranteed.bytes();
    let pinned = vm.placement.host_id.filter(|_| vm.placement.affinity == PlacementAffinity::Pinned);
    let mut passed = Vec::new();
    let mut fits: Vec<(HostId, u64)> = Vec::new();
    for host in hosts {
        if pinned.is_some_and(|p| p != host.id) {
            passed.push((host.id, Passed::NotPinned));
            continue;
        }
        if host.status != HostStatus::Up || host.cluster_id != vm.cluster_id {
            passed.push((host.id, Passed::NotUp));
            continue;
        }
        let unreachable: Vec<String> =
            domains.iter().filter(|d| !storage_domain_reachable_from(d, host)).map(|d| d.name.clone()).collect();
        if !unreachable.is_empty() {
            passed.push((host.id, Passed::Unreachable(unreachable)));
            continue;
        }
        let held_by_this_vm =
            if vm.runtime.host_id == Some(host.id) && vm.runtime.status != VmStatus::Down { needed } else { 0 };
        let held = committed.get(&host.id).copied().unwrap_or(0).saturating_sub(held_by_this_vm);
        let free = host.max_scheduling_memory.bytes().saturating_sub(held);
        if free < needed {
            passed.push((host.id, Passed::Memory { free, needed }));
            continue;
        }
        fits.push((host.id, free));
    }
    let preferred = fits.iter().find(|(h, _)| vm.placement.host_id == Some(*h)).map(|(h, _)| *h);
    // Most free memory; on a tie the first in input order.
    let best = fits.iter().fold(None::<(HostId, u64)>, |best, &(h, free)| match best {
        Some((_, f)) if f >= free => best,
        _ => Some((h, free)),
    });
    let chosen = preferred.or(best.map(|(h, _)| h));
    passed.extend(fits.iter().filter(|(h, _)| Some(*h) != chosen).map(|(h, _)| (*h, Passed::Outscored)));
    Decision { chosen, passed, pinned }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oxvirt_engine_db::model::{StorageConnection, StorageDomainType, VmConfig, VmRuntime};
    use oxvirt_types::{ByteSize, ClusterId, StorageDomainId};

    const GIB: u64 = 1 << 30;

    fn host(n: u8, status: HostStatus, cluster: ClusterId, sched_gib: u64) -> Host {
        Host {
            id: HostId::from_uuid(uuid::Uuid::from_bytes([n; 16])),
            name: format!("host{n}"),
            description: String::new(),
            comment: String::new(),
            address: format!("198.18.0.{n}"),
            port: 54321,
            cluster_id: cluster,
            status,
            status_detail: None,
            certificate_fingerprint: Some("x".into()),
            capabilities: None,
            memory_total: ByteSize(sched_gib * GIB),
            max_scheduling_memory: ByteSize(sched_gib * GIB),
            created: oxvirt_engine_db::model::Timestamp(0),
        }
    }

    fn vm(cluster: ClusterId, guaranteed_gib: u64, preferred: Option<HostId>) -> Vm {
        let mut vm = Vm {
            id: oxvirt_types::VmId::new_random(),
            name: "vm1".into(),
            description: String::new(),
            comment: String::new(),
            cluster_id: cluster,
            template_id: oxvirt_engine_db::model::BLANK_TEMPLATE_ID,
            config: VmConfig::blank(),
            placement: Default::default(),
            delete_protected: false,
            created: oxvirt_engine_db::model::Timestamp(0),
            runtime: VmRuntime::down(),
            config_version: 0,
        };
        vm.config.memory_guaranteed = ByteSize(guaranteed_gib * GIB);
        vm.placement.host_id = preferred;
        vm
    }

    fn local_domain(on: &Host) -> StorageDomain {
        StorageDomain {
            id: StorageDomainId::new_random(),
            name: "local".into(),
            description: String::new(),
            comment: String::new(),
            domain_type: StorageDomainType::Data,
            connection: StorageConnection::Localfs { path: "/sd".into() },
            status: oxvirt_types::StorageDomainStatus::Active,
            available: ByteSize(0),
            used: ByteSize(0),
            committed: ByteSize(0),
            master: true,
            warning_low_space_percent: 10,
            critical_space_action_blocker_gib: 5,
            host_id: Some(on.id),
            created: oxvirt_engine_db::model::Timestamp(0),
        }
    }

    #[test]
    fn the_host_with_most_free_memory_wins_and_the_others_say_why_not() {
        let c = ClusterId::new_random();
        let other = ClusterId::new_random();
        let (h1, h2, h3, h4) = (
            host(1, HostStatus::Up, c, 8),
            host(2, HostStatus::Up, c, 16),
            host(3, HostStatus::Maintenance, c, 64),
            host(4, HostStatus::Up, other, 64),
        );
        let hosts = [h1.clone(), h2.clone(), h3.clone(), h4.clone()];
        // (vm's guaranteed GiB, preferred host, committed GiB on h1 and h2) → chosen, reasons.
        type Row<'a> = (u64, Option<&'a Host>, (u64, u64), Option<&'a Host>);
        let table: &[Row] = &[
            (1, None, (0, 0), Some(&h2)),       // most free
            (1, None, (0, 12), Some(&h1)),      // h2 holds 12 of 16: h1 has more free
            (1, Some(&h1), (0, 0), Some(&h1)),  // preferred and fits
            (10, Some(&h1), (0, 0), Some(&h2)), // preferred does not fit
            (20, None, (0, 0), None),           // nobody fits
            (1, Some(&h3), (0, 0), Some(&h2)),  // preferred host is in maintenance
        ];
        for (i, (gib, preferred, (c1, c2), expected)) in table.iter().enumerate() {
            let vm = vm(c, *gib, preferred.map(|h| h.id));
            let committed = HashMap::from([(h1.id, c1 * GIB), (h2.id, c2 * GIB)]);
            let d = host_choose(&vm, &hosts, &[], &committed);
            assert_eq!(d.chosen, expected.map(|h| h.id), "row {i}: {d:?}");
            assert_eq!(d.passed.len(), hosts.len() - usize::from(d.chosen.is_some()), "row {i}: every other host");
            assert!(d.passed.contains(&(h3.id, Passed::NotUp)), "row {i}");
            assert!(d.passed.contains(&(h4.id, Passed::NotUp)), "row {i}: other cluster");
        }
        let d = host_choose(&vm(c, 20, None), &hosts, &[], &HashMap::new());
        assert_eq!(d.refusal(), Refusal::NoMemory { needed: 20 * GIB });
        assert!(d.passed.contains(&(h1.id, Passed::Memory { free: 8 * GIB, needed: 20 * GIB })));
    }

    /// oVirt's PinToHost: a pinned VM runs on its host or nowhere; a migratable one only
    /// prefers it.
    #[test]
    fn a_pinned_vm_runs_only_on_its_host() {
        let c = ClusterId::new_random();
        let (h1, h2, h3) =
            (host(1, HostStatus::Up, c, 8), host(2, HostStatus::Up, c, 16), host(3, HostStatus::Maintenance, c, 64));
        let hosts = [h1.clone(), h2.clone(), h3.clone()];
        let pinned_to = |h: &Host, gib: u64| {
            let mut v = vm(c, gib, Some(h.id));
            v.placement.affinity = PlacementAffinity::Pinned;
            v
        };
        let d = host_choose(&pinned_to(&h1, 1), &hosts, &[], &HashMap::new());
        assert_eq!(d.chosen, Some(h1.id), "h2 has more free memory, but the VM is pinned to h1");
        assert_eq!(d.passed, vec![(h2.id, Passed::NotPinned), (h3.id, Passed::NotPinned)]);

        let d = host_choose(&pinned_to(&h1, 10), &hosts, &[], &HashMap::new());
        assert_eq!(d.chosen, None, "h1 lacks memory: no fallback to h2");
        assert_eq!(
            d.refusal(),
            Refusal::Pinned { host: h1.id, why: Some(Passed::Memory { free: 8 * GIB, needed: 10 * GIB }) }
        );
        let d = host_choose(&pinned_to(&h3, 1), &hosts, &[], &HashMap::new());
        assert_eq!(d.refusal(), Refusal::Pinned { host: h3.id, why: Some(Passed::NotUp) });
        let gone = host(9, HostStatus::Up, c, 8);
        assert_eq!(
            host_choose(&pinned_to(&gone, 1), &hosts, &[], &HashMap::new()).refusal(),
            Refusal::Pinned { host: gone.id, why: None }
        );
        // Pinned with no host: no filter (it only may not migrate).
        let mut anywhere = vm(c, 1, None);
        anywhere.placement.affinity = PlacementAffinity::Pinned;
        assert_eq!(host_choose(&anywhere, &hosts, &[], &HashMap::new()).chosen, Some(h2.id));
    }

    #[test]
    fn a_local_domain_pins_the_vm_to_its_host_and_its_own_memory_counts_as_free() {
        let c = ClusterId::new_random();
        let (h1, h2) = (host(1, HostStatus::Up, c, 4), host(2, HostStatus::Up, c, 64));
        let sd = local_domain(&h1);
        let mut v = vm(c, 4, None);
        // The VM runs on h1 already and its 4 GiB are part of h1's committed memory.
        v.runtime.host_id = Some(h1.id);
        v.runtime.status = VmStatus::Up;
        let committed = HashMap::from([(h1.id, 4 * GIB)]);
        let d = host_choose(&v, &[h1.clone(), h2.clone()], std::slice::from_ref(&sd), &committed);
        assert_eq!(d.chosen, Some(h1.id));
        assert_eq!(d.passed, vec![(h2.id, Passed::Unreachable(vec!["local".into()]))]);

        let elsewhere = local_domain(&host(9, HostStatus::Up, c, 4));
        let d = host_choose(&v, &[h1, h2], &[elsewhere], &committed);
        assert_eq!(d.chosen, None);
        assert_eq!(d.refusal(), Refusal::NoReach { domains: vec!["local".into()] });
        assert_eq!(host_choose(&v, &[], &[], &committed).refusal(), Refusal::NoUpHost);
    }
}
