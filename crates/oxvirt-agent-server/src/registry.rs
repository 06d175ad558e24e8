//! The agent's record of its VMs and the generation-numbered stream of their changes.
//!
//! Why: the engine learns about VM state by *push* (it holds `GET /v1/events` open) backed by
//! a periodic full-state read (`GET /v1/vms`). Both read from this registry, so they can never
//! disagree. Every change gets the next generation number; a bounded log of recent changes lets
//! a reconnecting engine resume exactly where it stopped. A new `stream_id` per agent run tells
//! the engine that generations restarted (after an agent restart it must re-read full state).
//!
//! Recording is idempotent: telling the registry what it already knows changes nothing and
//! emits no event, so libvirt events and reconcile passes may report the same fact freely.

use oxvirt_agent_api::v1::{DownReason, EventEnvelope, VmRunState, VmState, VmStateList};
use oxvirt_types::VmId;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use tokio::sync::watch;

/// How many recent events a reconnecting engine can resume from.
pub const DEFAULT_EVENT_LOG_CAPACITY: usize = 10_000;

/// One observed fact about a VM (what a libvirt event or a reconcile pass saw).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    pub id: VmId,
    pub name: String,
    pub state: VmRunState,
    pub down_reason: Option<DownReason>,
    pub pid: Option<u32>,
    pub vnc_port: Option<u16>,
}

#[derive(Debug)]
pub struct VmRegistry {
    stream_id: String,
    inner: Mutex<Inner>,
    latest: watch::Sender<u64>,
}

#[derive(Debug)]
struct Inner {
    generation: u64,
    vms: BTreeMap<VmId, VmState>,
    log: VecDeque<EventEnvelope>,
    capacity: usize,
}

impl VmRegistry {
    pub fn new(capacity: usize) -> Self {
        let (latest, _) = watch::channel(0);
        Self {
            stream_id: uuid::Uuid::new_v4().to_string(),
            inner: Mutex::new(Inner {
                generation: 0,
                vms: BTreeMap::new(),
                log: VecDeque::new(),
                capacity: capacity.max(1),
            }),
            latest,
        }
    }

    pub fn stream_id(&self) -> &str {
        &self.stream_id
    }

    /// Records `obs`; returns the new generation when it changed anything, `None` otherwise.
    pub fn record(&self, obs: Observation) -> Option<u64> {
        let mut inner = self.lock();
        if let Some(known) = inner.vms.get(&obs.id) {
            let same = known.name == obs.name
                && known.state == obs.state
                && known.down_reason == obs.down_reason
                && known.pid == obs.pid
                && known.vnc_port == obs.vnc_port;
            if same {
                return None;
            }
        }
        inner.generation += 1;
        let generation = inner.generation;
        let vm = VmState {
            id: obs.id,
            name: obs.name,
            state: obs.state,
            down_reason: obs.down_reason,
            pid: obs.pid,
            vnc_port: obs.vnc_port,
            generation,
        };
        inner.vms.insert(vm.id, vm.clone());
        let event = EventEnvelope::Vm { stream_id: self.stream_id.clone(), generation, timestamp_ms: now_ms(), vm };
        if inner.log.len() == inner.capacity {
            inner.log.pop_front();
        }
        inner.log.push_back(event);
        drop(inner);
        self.latest.send_replace(generation);
        Some(generation)
    }

    pub fn get(&self, id: VmId) -> Option<VmState> {
        self.lock().vms.get(&id).cloned()
    }

    /// Every known VM, including recently stopped ones (state `down` with a reason).
    pub fn snapshot(&self) -> VmStateList {
        let inner = self.lock();
        VmStateList {
            stream_id: self.stream_id.clone(),
            generation: inner.generation,
            vms: inner.vms.values().cloned().collect(),
        }
    }

    /// VMs the registry believes have a QEMU process (not down).
    pub fn live_ids(&self) -> Vec<VmId> {
        self.lock().vms.values().filter(|v| v.state != VmRunState::Down).map(|v| v.id).collect()
    }

    /// Events after generation `from` of stream `stream_id`. A gap (evicted events), another
    /// stream, or a generation from the future yields a single `resync` instead.
    pub fn events_since(&self, stream_id: Option<&str>, from: u64) -> Vec<EventEnvelope> {
        let inner = self.lock();
        let resync = || vec![EventEnvelope::Resync { stream_id: self.stream_id.clone(), generation: inner.generation }];
        if stream_id.is_some_and(|s| s != self.stream_id) || from > inner.generation {
            return resync();
        }
        let oldest = inner.log.front().map_or(inner.generation + 1, generation_of);
        if from + 1 < oldest {
            return resync();
        }
        inner.log.iter().filter(|e| generation_of(e) > from).cloned().collect()
    }

    /// A receiver that changes whenever a new generation is recorded.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.latest.subscribe()
    }

    pub fn generation(&self) -> u64 {
        self.lock().generation
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave Inner half-updated in a harmful way
        // (each update is a few assignments); keep serving rather than poisoning the agent.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The generation an envelope carries.
pub fn generation_of(e: &EventEnvelope) -> u64 {
    match e {
        EventEnvelope::Vm { generation, .. }
        | EventEnvelope::Resync { generation, .. }
        | EventEnvelope::Heartbeat { generation, .. } => *generation,
    }
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obs(id: VmId, state: VmRunState) -> Observation {
        Observation { id, name: "vm".into(), state, down_reason: None, pid: Some(1), vnc_port: None }
    }

    #[test]
    fn repeated_facts_emit_nothing_and_changes_count_up() {
        let r = VmRegistry::new(100);
        let id = VmId::new_random();
        assert_eq!(r.record(obs(id, VmRunState::Running)), Some(1));
        assert_eq!(r.record(obs(id, VmRunState::Running)), None, "the same fact twice is one event");
        assert_eq!(r.record(obs(id, VmRunState::Paused)), Some(2));
        let snap = r.snapshot();
        assert_eq!(snap.generation, 2);
        assert_eq!(snap.vms.len(), 1);
        assert_eq!(snap.vms[0].state, VmRunState::Paused);
        assert_eq!(snap.vms[0].generation, 2);
    }

    #[test]
    fn resume_returns_only_newer_events_in_order() {
        let r = VmRegistry::new(100);
        let (a, b) = (VmId::new_random(), VmId::new_random());
        r.record(obs(a, VmRunState::Running));
        r.record(obs(b, VmRunState::Running));
        r.record(obs(a, VmRunState::Down));
        let gens: Vec<u64> = r.events_since(Some(r.stream_id()), 1).iter().map(generation_of).collect();
        assert_eq!(gens, vec![2, 3]);
        assert!(r.events_since(None, 3).is_empty(), "nothing after the newest");
    }

    #[test]
    fn gaps_foreign_streams_and_future_generations_demand_resync() {
        let r = VmRegistry::new(2);
        let id = VmId::new_random();
        for state in [VmRunState::Running, VmRunState::Paused, VmRunState::Running, VmRunState::Down] {
            r.record(obs(id, state));
        }
        let is_resync = |v: Vec<EventEnvelope>| matches!(v.as_slice(), [EventEnvelope::Resync { generation: 4, .. }]);
        assert!(is_resync(r.events_since(None, 0)), "generations 1-2 were evicted");
        assert!(!is_resync(r.events_since(None, 2)), "3 and 4 are still held");
        assert!(is_resync(r.events_since(Some("another-run"), 3)));
        assert!(is_resync(r.events_since(None, 99)));
    }

    #[test]
    fn subscribers_see_the_latest_generation() {
        let r = VmRegistry::new(10);
        let rx = r.subscribe();
        r.record(obs(VmId::new_random(), VmRunState::Running));
        assert_eq!(*rx.borrow(), 1);
    }
}
