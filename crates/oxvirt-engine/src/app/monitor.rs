//! Monitoring: keeping the engine's view of hosts and VMs equal to what the agents report.
//!
//! Why push plus reconcile: each agent streams its VMs' state changes (`GET /v1/events`,
//! generation-numbered), so the engine learns of a guest powering off within moments; but a
//! stream can break, skip (`resync`), or restart with a new agent run (new `stream_id`), and the
//! engine itself may have been down. So every watcher also reads the agent's *full* state
//! (`GET /v1/vms`) on every (re)connect, on every `resync`/gap/new stream, and every
//! `reconcile_interval`, and makes the database match it. The full read doubles as the host's
//! liveness probe.
//!
//! Why reconcilers: every function here looks at what is (the agent's answer, the database)
//! and moves the database towards it; none takes an instruction or remembers what it did last.
//! Running one twice, after a crash, or after an engine restart does no harm, and there is
//! one code path for "engine start", "reconnect" and "periodic check". The only in-memory
//! state is per watcher: the stream position (`stream_id`, last applied generation) and since
//! when the agent has not answered; and, per VM, the newest agent generation applied.
//!
//! Why that last one: reports reach [`App::vm_observed`] by three paths that do not wait for
//! each other — a full-state list read a moment ago, a stream event, the reply to a stop or a
//! start. A list read before a stop and applied after it would bring the stopped VM back `up`
//! (or down a VM whose start reply came in meanwhile). Every agent report carries the
//! generation of the VM's last change, so a report older than the one applied is ignored, and
//! a VM absent from a list older than its last report is not taken for vanished. Generations
//! restart with an agent run: a new `stream_id` forgets that host's marks.
//!
//! Who sets what:
//! - [`App::vm_observed`] is the one place where an agent's view of a VM (a stream event, a
//!   full-state entry, or the answer of `vm_create`/`vm_action`) becomes the VM's
//!   [`VmRuntime`]; [`vm_runtime_from_observation`] is its pure mapping. Without a guest agent
//!   (none yet), `up` means QEMU is running the guest, not that the guest OS has booted.
//! - A start in progress (`wait_for_launch`) is owned by its job: the monitor never marks it
//!   down for being absent, and ignores an agent's leftover `down` record for it (agents keep
//!   stopped VMs in their registry) unless the reason is a failed start.
//! - Host status: the monitor moves hosts between `up` and `non_responsive` only (from
//!   `connecting`/`initializing` too); `maintenance` and every other status belong to the
//!   administrator's actions and are left alone, though their VMs are still reconciled.
//! - The monitor only observes: it never asks an agent to start, stop or restart a VM, so an
//!   engine restart leaves running guests alone.

use super::{App, Result};
use futures::StreamExt as _;
use oxvirt_agent_api::v1::{DownReason, EventEnvelope, VmRunState, VmState, VmStateList};
use oxvirt_engine_db::model::{AuditCode, EventRefs, Host, NewEvent, Severity, Timestamp, Vm, VmRuntime};
use oxvirt_engine_db::store::{HostFilter, StoreError, VmFilter};
use oxvirt_types::{HostId, HostStatus, VmId, VmStatus};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// A stream with neither an event nor a heartbeat for this long is dead (agents send a
/// heartbeat every 10 s when idle).
const STREAM_IDLE_LIMIT: Duration = Duration::from_secs(35);
/// First wait after a failed contact; doubled per failure up to the reconcile interval.
const RETRY_FIRST: Duration = Duration::from_millis(500);
/// An event older than this when applied (or taking this long to apply) is logged as lag.
const LAG_WARN: Duration = Duration::from_secs(5);
/// Lag warnings of one watcher are at most this frequent.
const LAG_WARN_EVERY: Duration = Duration::from_secs(30);

/// How the monitor paces itself (from `OXVIRT_RECONCILE_INTERVAL_SECONDS` and
/// `OXVIRT_HOST_GRACE_SECONDS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MonitorSettings {
    /// Between two full reconciles of one host.
    pub reconcile_interval: Duration,
    /// How long an agent may go unanswered before its host is non-responsive.
    pub host_grace: Duration,
}

/// The running watchers, one per host; empty (and nothing starts) until
/// [`App::monitor_start`].
#[derive(Debug, Default)]
pub(crate) struct Monitors {
    settings: OnceLock<MonitorSettings>,
    tasks: Mutex<HashMap<HostId, tokio::task::JoinHandle<()>>>,
    /// Set once by [`App::monitor_stop`]: no watcher starts again.
    stopped: std::sync::atomic::AtomicBool,
    /// Orphan domains already reported (host, VM): each is reported once while it runs.
    orphans: Mutex<HashSet<(HostId, VmId)>>,
    /// Per VM, the host and agent generation of the newest report applied (or being applied).
    applied: Mutex<HashMap<VmId, (HostId, u64)>>,
    /// Per host, the agent run (`stream_id`) whose generations `applied` holds.
    streams: Mutex<HashMap<HostId, String>>,
}

impl Monitors {
    fn tasks(&self) -> std::sync::MutexGuard<'_, HashMap<HostId, tokio::task::JoinHandle<()>>> {
        self.tasks.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn applied(&self) -> std::sync::MutexGuard<'_, HashMap<VmId, (HostId, u64)>> {
        self.applied.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `host`'s agent speaks in the generations of `stream_id`: when that is a new run, the
    /// marks of its previous run are forgotten (the new numbers are not comparable).
    fn stream_seen(&self, host: HostId, stream_id: &str) {
        let mut streams = self.streams.lock().unwrap_or_else(|p| p.into_inner());
        if streams.get(&host).is_some_and(|s| s == stream_id) {
            return;
        }
        streams.insert(host, stream_id.to_owned());
        drop(streams);
        self.applied().retain(|_, (h, _)| *h != host);
    }

    /// Claims the application of `host`'s report of `vm` at `generation`: false when a newer
    /// report of that host was applied (this one is stale and must be ignored).
    fn observation_claim(&self, host: HostId, vm: VmId, generation: u64) -> bool {
        let mut applied = self.applied();
        match applied.get(&vm) {
            Some(&(h, g)) if h == host && generation < g => false,
            Some(&(h, g)) if h == host => {
                applied.insert(vm, (host, g.max(generation)));
                true
            }
            _ => {
                applied.insert(vm, (host, generation));
                true
            }
        }
    }

    /// Whether a report of `host` newer than `generation` was applied to `vm`.
    fn observation_superseded(&self, host: HostId, vm: VmId, generation: u64) -> bool {
        self.applied().get(&vm).is_some_and(|&(h, g)| h == host && g > generation)
    }
}

/// VM statuses in which a QEMU process is (or was last seen) running on the runtime host.
fn is_running(status: VmStatus) -> bool {
    matches!(
        status,
        VmStatus::Up
            | VmStatus::Paused
            | VmStatus::PoweringUp
            | VmStatus::PoweringDown
            | VmStatus::RebootInProgress
            | VmStatus::Migrating
            | VmStatus::Unknown
            | VmStatus::NotResponding
            | VmStatus::SavingState
            | VmStatus::RestoringState
    )
}

/// What `stop_reason` says for an agent's down reason.
pub fn stop_reason_text(reason: Option<DownReason>) -> &'static str {
    match reason {
        Some(DownReason::Shutdown) => "shut down by the guest",
        Some(DownReason::Destroyed) => "stopped",
        Some(DownReason::Crashed) => "crashed",
        Some(DownReason::Failed) => "failed to start",
        Some(DownReason::Migrated) => "migrated to another host",
        Some(DownReason::Unknown) | None => "stopped for an unknown reason",
    }
}

fn down_is_error(reason: Option<DownReason>) -> bool {
    matches!(reason, Some(DownReason::Crashed | DownReason::Failed | DownReason::Unknown) | None)
}

/// The runtime a VM should have after `host` reported `state` about it, or `None` when the
/// report changes nothing or must be ignored. Pure: the whole policy of [`App::vm_observed`].
///
/// - Reports of the VM's runtime host are authoritative, except a `down` record while a start
///   is in progress (`wait_for_launch`), which is the agent's leftover of an earlier run unless
///   its reason is a failed start.
/// - Reports of another host count only when they say the VM is alive and the engine has it
///   on no host, or in `unknown` (its host stopped answering); a `down` record from another
///   host is history of an earlier run there.
pub fn vm_runtime_from_observation(
    current: &VmRuntime,
    host: HostId,
    state: &VmState,
    now: Timestamp,
) -> Option<VmRuntime> {
    let live = state.state != VmRunState::Down;
    let accepted = if current.host_id == Some(host) {
        live || current.status != VmStatus::WaitForLaunch || state.down_reason == Some(DownReason::Failed)
    } else {
        live && (current.host_id.is_none() || current.status == VmStatus::Unknown)
    };
    if !accepted {
        return None;
    }
    let mut next = current.clone();
    match state.state {
        VmRunState::Running | VmRunState::Paused | VmRunState::PoweringDown => {
            next.status = match state.state {
                VmRunState::Paused => VmStatus::Paused,
                VmRunState::PoweringDown => VmStatus::PoweringDown,
                _ => VmStatus::Up,
            };
            if !is_running(current.status) {
                // A (re)launch: a new run starts; keep the time a start job recorded.
                if current.status != VmStatus::WaitForLaunch || current.start_time.is_none() {
                    next.start_time = Some(now);
                }
                next.stop_reason = None;
            } else if next.start_time.is_none() {
                next.start_time = Some(now);
            }
            next.host_id = Some(host);
            next.migrating_to_host_id = None;
        }
        VmRunState::Down => {
            if current.status == VmStatus::Down && current.host_id.is_none() {
                return None;
            }
            next.status = VmStatus::Down;
            next.host_id = None;
            next.migrating_to_host_id = None;
            next.stop_time = Some(now);
            let text = stop_reason_text(state.down_reason).to_owned();
            // A reason the stop request recorded while the VM ran (the user's) is kept, unless
            // the VM did not stop the way it was asked to.
            next.stop_reason = match (&current.stop_reason, state.down_reason) {
                (Some(user), Some(DownReason::Shutdown | DownReason::Destroyed))
                    if current.status != VmStatus::Down =>
                {
                    Some(user.clone())
                }
                _ => Some(text),
            };
        }
    }
    (next != *current).then_some(next)
}

/// Per watcher: where its stream stands and since when its agent has not answered.
#[derive(Debug, Default)]
struct Watch {
    stream_id: Option<String>,
    /// The last generation applied (by an event or a full reconcile).
    generation: u64,
    /// First failed contact of the current outage (monotonic and wall clock).
    unreachable_since: Option<(Instant, Timestamp)>,
    last_lag_warning: Option<Instant>,
}

/// Why following a stream stopped.
enum FollowEnd {
    /// Read the full state again, then reconnect.
    Resync(&'static str),
    /// The agent stopped answering.
    Broken(String),
    /// The host was removed.
    Gone,
}

impl App {
    /// Starts monitoring: a watcher for every host in the database, and a pass every
    /// `reconcile_interval` that starts watchers for hosts without one (e.g. added while a
    /// watcher could not be started) and stops those of removed hosts. Called once, at start,
    /// after jobs are recovered.
    pub async fn monitor_start(self: &Arc<Self>, settings: MonitorSettings) -> Result<()> {
        if self.monitors.settings.set(settings).is_err() {
            tracing::warn!("monitoring was already started");
            return Ok(());
        }
        self.monitors_reconcile().await?;
        // A weak reference: the task must not keep a dropped engine (in-process tests) alive.
        let app = Arc::downgrade(self);
        self.background.spawn("host_watchers_reconcile", settings.reconcile_interval, move || {
            let app = app.clone();
            async move {
                let Some(app) = app.upgrade() else { return Ok(()) };
                app.monitors_reconcile().await.map_err(|e| format!("cannot list hosts to monitor: {e}"))
            }
        });
        tracing::info!(
            reconcile_interval = ?settings.reconcile_interval,
            host_grace = ?settings.host_grace,
            "monitoring hosts"
        );
        Ok(())
    }

    /// One watcher per host in the database, none for others.
    async fn monitors_reconcile(self: &Arc<Self>) -> Result<()> {
        let hosts = self.store.host_list(&HostFilter::default()).await?;
        let ids: HashSet<HostId> = hosts.iter().map(|h| h.id).collect();
        for id in &ids {
            self.host_monitor_start(*id);
        }
        let gone: Vec<HostId> = self.monitors.tasks().keys().filter(|id| !ids.contains(id)).copied().collect();
        for id in gone {
            self.host_monitor_stop(id);
        }
        Ok(())
    }

    /// Starts watching `host` unless it is watched already (or monitoring is not started).
    pub(crate) fn host_monitor_start(self: &Arc<Self>, host: HostId) {
        let Some(settings) = self.monitors.settings.get().copied() else { return };
        let mut tasks = self.monitors.tasks();
        if self.monitors.stopped.load(std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        if tasks.get(&host).is_some_and(|t| !t.is_finished()) {
            return;
        }
        let app = Arc::clone(self);
        tasks.insert(host, tokio::spawn(async move { app.host_watch(host, settings).await }));
        tracing::debug!(%host, "watching host");
    }

    /// Stops watching every host, for good (the engine is stopping): the watchers hold the
    /// app, and an in-process engine must let go of its database and its hosts when stopped.
    pub fn monitor_stop(&self) {
        let mut tasks = self.monitors.tasks();
        self.monitors.stopped.store(true, std::sync::atomic::Ordering::SeqCst);
        for (host, task) in tasks.drain() {
            task.abort();
            tracing::debug!(%host, "stopped watching host");
        }
    }

    /// The host grace period, once monitoring has started.
    pub(crate) fn monitor_grace(&self) -> Option<Duration> {
        self.monitors.settings.get().map(|s| s.host_grace)
    }

    /// Whether the engine is stopping (monitoring stopped for good).
    pub(crate) fn monitors_stopped(&self) -> bool {
        self.monitors.stopped.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Stops watching `host` (it was removed).
    pub(crate) fn host_monitor_stop(&self, host: HostId) {
        if let Some(task) = self.monitors.tasks().remove(&host) {
            task.abort();
            tracing::debug!(%host, "stopped watching host");
        }
    }

    /// The watcher of one host: full reconcile, then follow the event stream until it breaks
    /// or must be resynchronised; repeat. Ends when the host is removed.
    async fn host_watch(self: Arc<Self>, host_id: HostId, settings: MonitorSettings) {
        let mut w = Watch::default();
        let mut backoff = RETRY_FIRST;
        loop {
            let host = match self.store.host_get(host_id).await {
                Ok(h) => h,
                Err(StoreError::NotFound { .. }) => {
                    tracing::info!(host = %host_id, "host removed; no longer watched");
                    return;
                }
                Err(e) => {
                    tracing::error!(host = %host_id, error = %e, "cannot read the host to watch it; will try again");
                    tokio::time::sleep(settings.reconcile_interval).await;
                    continue;
                }
            };
            if let Err(why) = self.host_full_reconcile(&host, &mut w).await {
                self.host_unanswered(&host, &mut w, why, settings).await;
                tokio::time::sleep(retry_wait(&w, backoff, settings)).await;
                backoff = (backoff * 2).min(settings.reconcile_interval);
                continue;
            }
            let following = Instant::now();
            match self.host_follow(host, &mut w, settings).await {
                FollowEnd::Resync(why) => tracing::debug!(host = %host_id, why, "resynchronising with the agent"),
                FollowEnd::Broken(why) => {
                    tracing::info!(host = %host_id, why, "lost the agent's event stream; reconnecting");
                    w.unreachable_since.get_or_insert_with(|| (Instant::now(), Timestamp::now()));
                    // A stream that breaks right away (while full reads work) must not make
                    // the watcher hammer the agent: back off until one lasts.
                    if following.elapsed() < settings.reconcile_interval {
                        tokio::time::sleep(retry_wait(&w, backoff, settings)).await;
                        backoff = (backoff * 2).min(settings.reconcile_interval);
                    } else {
                        backoff = RETRY_FIRST;
                    }
                }
                FollowEnd::Gone => {
                    tracing::info!(host = %host_id, "host removed; no longer watched");
                    return;
                }
            }
        }
    }

    /// Follows the agent's event stream from the watcher's position, applying each VM event in
    /// order, with a full reconcile every `reconcile_interval` while it is open.
    async fn host_follow(&self, mut host: Host, w: &mut Watch, settings: MonitorSettings) -> FollowEnd {
        let client = match self.agent_for(&host) {
            Ok(c) => c,
            Err(e) => return FollowEnd::Broken(e.to_string()),
        };
        let stream = match client.events(w.generation, w.stream_id.as_deref()).await {
            Ok(s) => s,
            Err(e) => return FollowEnd::Broken(e.to_string()),
        };
        let mut stream = std::pin::pin!(stream);
        let connected_stream = w.stream_id.clone();
        let mut tick = tokio::time::interval_at(
            tokio::time::Instant::now() + settings.reconcile_interval,
            settings.reconcile_interval,
        );
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                item = tokio::time::timeout(STREAM_IDLE_LIMIT, stream.next()) => {
                    let envelope = match item {
                        Err(_) => return FollowEnd::Broken(format!("no event nor heartbeat for {STREAM_IDLE_LIMIT:?}")),
                        Ok(None) => return FollowEnd::Broken("the event stream ended".to_owned()),
                        Ok(Some(Err(e))) => return FollowEnd::Broken(e.to_string()),
                        Ok(Some(Ok(e))) => e,
                    };
                    match envelope {
                        EventEnvelope::Resync { .. } => return FollowEnd::Resync("the agent asked for a resync"),
                        EventEnvelope::Heartbeat { stream_id, .. } => {
                            if w.stream_id.as_deref() != Some(stream_id.as_str()) {
                                return FollowEnd::Resync("the agent's stream changed");
                            }
                        }
                        EventEnvelope::Vm { stream_id, generation, timestamp_ms, vm } => {
                            if w.stream_id.as_deref() != Some(stream_id.as_str()) {
                                return FollowEnd::Resync("the agent's stream changed");
                            }
                            if generation <= w.generation {
                                continue; // already applied by a full reconcile
                            }
                            if generation != w.generation + 1 {
                                return FollowEnd::Resync("a gap in the event stream");
                            }
                            self.monitors.stream_seen(host.id, &stream_id);
                            self.host_event_apply(&host, w, timestamp_ms, &vm).await;
                            w.generation = generation;
                        }
                    }
                }
                _ = tick.tick() => {
                    host = match self.store.host_get(host.id).await {
                        Ok(h) => h,
                        Err(StoreError::NotFound { .. }) => return FollowEnd::Gone,
                        Err(e) => {
                            tracing::error!(host = %host.id, error = %e, "cannot read the host; reconcile skipped");
                            continue;
                        }
                    };
                    if let Err(why) = self.host_full_reconcile(&host, w).await {
                        return FollowEnd::Broken(why);
                    }
                    if w.stream_id != connected_stream {
                        return FollowEnd::Resync("the agent restarted");
                    }
                }
            }
        }
    }

    /// Applies one VM event; logs (rate-limited) when the stream lags behind the agent or the
    /// database is slow. A failure to record is logged: the next full reconcile repairs it.
    async fn host_event_apply(&self, host: &Host, w: &mut Watch, timestamp_ms: u64, vm: &VmState) {
        let started = Instant::now();
        if let Err(e) = self.vm_observed(host.id, vm).await {
            tracing::error!(host = %host.name, vm = %vm.id, error = %e, "cannot record a VM's state; the next full reconcile will");
        }
        let now_ms = u64::try_from(Timestamp::now().as_millis()).unwrap_or(0);
        let behind = Duration::from_millis(now_ms.saturating_sub(timestamp_ms));
        let took = started.elapsed();
        if (behind > LAG_WARN || took > LAG_WARN) && w.last_lag_warning.is_none_or(|t| t.elapsed() > LAG_WARN_EVERY) {
            w.last_lag_warning = Some(Instant::now());
            tracing::warn!(
                host = %host.name,
                behind = ?behind,
                took = ?took,
                "the event stream of this host lags: events are applied late (slow database?)"
            );
        }
    }

    /// Reads the agent's full state and makes the database match it; the read is also the
    /// liveness probe (success: the host answers). `Err` says why the agent did not answer;
    /// database failures are logged, not the host's fault.
    async fn host_full_reconcile(&self, host: &Host, w: &mut Watch) -> std::result::Result<(), String> {
        let client = self.agent_for(host).map_err(|e| e.to_string())?;
        // Bounded by the grace period: an agent that accepts and never answers is unanswered.
        let limit = self.monitor_grace().unwrap_or(Duration::from_secs(20)).max(Duration::from_secs(1));
        let list = tokio::time::timeout(limit, client.vm_list())
            .await
            .map_err(|_| format!("no answer to GET /v1/vms within {} s", limit.as_secs()))?
            .map_err(|e| e.to_string())?;
        w.unreachable_since = None;
        if let Err(e) = self.host_answers(host).await {
            tracing::error!(host = %host.name, error = %e, "cannot record that the host answers");
        }
        if let Err(e) = self.host_vms_reconcile(host, &list).await {
            tracing::error!(host = %host.name, error = %e, "cannot reconcile the host's VMs; will try again");
        }
        w.stream_id = Some(list.stream_id);
        w.generation = list.generation;
        Ok(())
    }

    /// Makes the VMs of the database match `list`, the full state of `host`'s agent: each
    /// listed VM through [`App::vm_observed`]; a VM the engine runs on this host that the agent
    /// does not list goes down as vanished (not one in `wait_for_launch`: its job owns it).
    pub(crate) async fn host_vms_reconcile(&self, host: &Host, list: &VmStateList) -> Result<()> {
        self.monitors.stream_seen(host.id, &list.stream_id);
        let mut first_error = None;
        // What the engine records for this host's VMs, in one query: a report that changes
        // nothing for one of them is skipped without touching the database, so a steady-state
        // reconcile costs one query per host however many VMs it runs.
        let on_host = self.store.vm_list(&VmFilter { host_id: Some(host.id), ..VmFilter::default() }).await?;
        let recorded: std::collections::HashMap<VmId, &VmRuntime> =
            on_host.iter().map(|v| (v.id, &v.runtime)).collect();
        let now = Timestamp::now();
        for state in &list.vms {
            if recorded.get(&state.id).is_some_and(|r| vm_runtime_from_observation(r, host.id, state, now).is_none()) {
                continue;
            }
            if let Err(e) = self.vm_observed(host.id, state).await {
                tracing::error!(host = %host.name, vm = %state.id, error = %e, "cannot record a VM's state");
                first_error.get_or_insert(e);
            }
        }
        self.host_orphans_report(host, list, &recorded).await;
        let listed: HashSet<VmId> = list.vms.iter().map(|v| v.id).collect();
        for vm in on_host.into_iter().filter(|v| is_running(v.runtime.status) && !listed.contains(&v.id)) {
            if self.monitors.observation_superseded(host.id, vm.id, list.generation) {
                continue; // reported after the list was read (a start's reply): not vanished
            }
            let reason = format!("the VM vanished from host {}", host.name);
            let next = VmRuntime {
                status: VmStatus::Down,
                host_id: None,
                migrating_to_host_id: None,
                stop_time: Some(Timestamp::now()),
                stop_reason: Some(reason.clone()),
                ..vm.runtime.clone()
            };
            if self.store.vm_runtime_set(vm.id, &next, Some(&[vm.runtime.status])).await? {
                self.audit_engine(
                    Severity::Error,
                    AuditCode::VM_DOWN_ERROR,
                    format!("VM {} is down: {reason}.", vm.name),
                    EventRefs { vm_id: Some(vm.id), host_id: Some(host.id), ..EventRefs::default() },
                )
                .await;
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Reports (an audit event, once while it runs) every domain `host` runs that the engine
    /// does not place there: a VM it does not know, or one it records as down or elsewhere.
    /// The monitor only observes: an orphan is not destroyed (it may hold someone's work).
    async fn host_orphans_report(
        &self,
        host: &Host,
        list: &VmStateList,
        recorded: &std::collections::HashMap<VmId, &VmRuntime>,
    ) {
        let running: Vec<&VmState> = list.vms.iter().filter(|s| s.state != VmRunState::Down).collect();
        let mut orphans = Vec::new();
        for state in running.iter().filter(|s| !recorded.contains_key(&s.id)) {
            if self.monitors.observation_superseded(host.id, state.id, list.generation) {
                continue; // reported since the list was read (stopped meanwhile): not an orphan
            }
            let known = match self.store.vm_get(state.id).await {
                Ok(vm) if vm.runtime.host_id == Some(host.id) || vm.runtime.migrating_to_host_id == Some(host.id) => {
                    continue;
                }
                Ok(vm) => Some(vm),
                Err(StoreError::NotFound { .. }) => None,
                Err(e) => {
                    tracing::warn!(host = %host.name, error = %e, "cannot check a domain against the database");
                    continue;
                }
            };
            orphans.push((*state, known));
        }
        let new: Vec<_> = {
            let mut reported = self.monitors.orphans.lock().unwrap_or_else(|p| p.into_inner());
            reported.retain(|(h, vm)| *h != host.id || running.iter().any(|s| s.id == *vm));
            orphans.into_iter().filter(|(s, _)| reported.insert((host.id, s.id))).collect()
        };
        for (state, known) in new {
            let text = match &known {
                None => format!(
                    "Host {} runs domain {} ({}) with oxvirt's metadata, but the engine has no such VM: it is an \
                     orphan; destroy it on the host if nobody needs it.",
                    host.name, state.name, state.id
                ),
                Some(vm) => format!(
                    "Host {} runs VM {} ({}), which the engine records as {}{}: it is an orphan; destroy it on the \
                     host if the VM runs elsewhere.",
                    host.name,
                    vm.name,
                    vm.id,
                    vm.runtime.status,
                    vm.runtime.host_id.map(|h| format!(" on host {h}")).unwrap_or_default()
                ),
            };
            tracing::warn!(host = %host.name, vm = %state.id, "orphan domain");
            let refs =
                EventRefs { vm_id: known.as_ref().map(|v| v.id), host_id: Some(host.id), ..EventRefs::default() };
            self.audit_engine(Severity::Warning, AuditCode::OXVIRT_VM_ORPHAN_ON_HOST, text, refs).await;
        }
    }

    /// Records what `host`'s agent says about one VM: the single place where an agent's view
    /// becomes the VM's runtime (see [`vm_runtime_from_observation`]), with an audit event per
    /// change of status. Reports about VMs the engine does not know are ignored, and so are
    /// reports older than one already applied from the same host (see the module doc). The
    /// VM-start code calls this with the state `vm_create` returned (`wait_for_launch` → `up`).
    pub(crate) async fn vm_observed(&self, host: HostId, state: &VmState) -> Result<()> {
        if !self.monitors.observation_claim(host, state.id, state.generation) {
            tracing::debug!(%host, vm = %state.id, generation = state.generation, "ignoring a stale report");
            return Ok(());
        }
        let mut vm = match self.store.vm_get(state.id).await {
            Ok(vm) => vm,
            Err(StoreError::NotFound { .. }) => {
                self.monitors.applied().remove(&state.id);
                tracing::debug!(%host, vm = %state.id, name = %state.name, "ignoring a report about a VM the engine does not know");
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        };
        // Compare-and-set on the status: a racing writer (a start, a stop) makes us re-read.
        for _ in 0..3 {
            if self.monitors.observation_superseded(host, state.id, state.generation) {
                return Ok(()); // a newer report came in while this one was read
            }
            let Some(next) = vm_runtime_from_observation(&vm.runtime, host, state, Timestamp::now()) else {
                if vm.runtime.host_id != Some(host) && vm.runtime.host_id.is_some() {
                    tracing::debug!(%host, vm = %vm.name, runs_on = ?vm.runtime.host_id, state = ?state.state,
                        "ignoring a report from a host the VM does not run on");
                }
                return Ok(());
            };
            if self.store.vm_runtime_set(vm.id, &next, Some(&[vm.runtime.status])).await? {
                if next.status != vm.runtime.status {
                    self.vm_status_audit(&vm, host, &next, state.down_reason).await;
                }
                return Ok(());
            }
            vm = self.store.vm_get(state.id).await?;
        }
        tracing::warn!(vm = %vm.name, "the VM's status kept changing while recording the agent's report; the next reconcile will");
        Ok(())
    }

    async fn vm_status_audit(&self, vm: &Vm, host: HostId, next: &VmRuntime, reason: Option<DownReason>) {
        let host_name = match self.store.host_get(host).await {
            Ok(h) => h.name,
            Err(_) => host.to_string(),
        };
        let (severity, code, text) = match next.status {
            VmStatus::Up => {
                (Severity::Normal, AuditCode::USER_RUN_VM, format!("VM {} is up on host {host_name}.", vm.name))
            }
            VmStatus::Paused => {
                (Severity::Normal, AuditCode::VM_PAUSED, format!("VM {} is paused on host {host_name}.", vm.name))
            }
            VmStatus::PoweringDown => (
                Severity::Normal,
                AuditCode::OXVIRT_VM_POWERING_DOWN,
                format!("VM {} is powering down on host {host_name}.", vm.name),
            ),
            VmStatus::Down => {
                let why = next.stop_reason.clone().unwrap_or_else(|| stop_reason_text(reason).to_owned());
                let (severity, code) = if down_is_error(reason) {
                    (Severity::Error, AuditCode::VM_DOWN_ERROR)
                } else {
                    (Severity::Normal, AuditCode::VM_DOWN)
                };
                (severity, code, format!("VM {} is down: {why}.", vm.name))
            }
            other => (
                Severity::Normal,
                AuditCode::OXVIRT_VM_STATUS_CHANGED,
                format!("VM {} is {other} on host {host_name}.", vm.name),
            ),
        };
        let refs = EventRefs {
            vm_id: Some(vm.id),
            host_id: Some(host),
            cluster_id: Some(vm.cluster_id),
            ..EventRefs::default()
        };
        self.audit_engine(severity, code, text, refs).await;
    }

    /// The agent of `host` answered: a host the monitor had marked non-responsive (or that
    /// was still connecting) is Up again, and its capabilities are read afresh.
    async fn host_answers(&self, host: &Host) -> Result<()> {
        // Compare-and-set: an administrator's maintenance (or removal) meanwhile wins.
        const MONITORS: &[HostStatus] = &[HostStatus::NonResponsive, HostStatus::Connecting, HostStatus::Initializing];
        if !self.store.host_status_move(host.id, MONITORS, HostStatus::Up, None).await? {
            return Ok(());
        }
        if let Ok(client) = self.agent_for(host)
            && let Ok(caps) = client.capabilities().await
            && let Ok(json) = serde_json::to_value(&caps)
            && let Err(e) = self.store.host_capabilities_set(host.id, &json, caps.memory).await
        {
            tracing::warn!(host = %host.name, error = %e, "cannot record the host's capabilities");
        }
        self.host_data_center_refresh(host).await;
        tracing::info!(host = %host.name, "host answers again; it is Up");
        self.audit_engine(
            Severity::Normal,
            AuditCode::VDS_DETECTED,
            format!("Host {} answers again; its status was set to Up.", host.name),
            EventRefs { host_id: Some(host.id), cluster_id: Some(host.cluster_id), ..EventRefs::default() },
        )
        .await;
        Ok(())
    }

    /// The agent of `host` did not answer (`why`): remembers since when; past the grace period,
    /// the host becomes non-responsive and its running VMs unknown.
    async fn host_unanswered(&self, host: &Host, w: &mut Watch, why: String, settings: MonitorSettings) {
        let (since, since_wall) = *w.unreachable_since.get_or_insert_with(|| (Instant::now(), Timestamp::now()));
        if since.elapsed() < settings.host_grace {
            tracing::debug!(host = %host.name, why, "the host's agent does not answer (within the grace period)");
            return;
        }
        let since_text = oxvirt_ovirt::date::format_date(oxvirt_ovirt::date::from_epoch_millis(since_wall.as_millis()));
        let detail = format!("the agent at {}:{} has not answered since {since_text}: {why}", host.address, host.port);
        if let Err(e) = self.host_non_responsive(host, &detail).await {
            tracing::error!(host = %host.name, error = %e, "cannot record that the host does not answer");
        }
    }

    /// The status of `host`'s data center follows its hosts (up only with an Up host); a
    /// failure is logged, the next change or reconcile refreshes it again.
    async fn host_data_center_refresh(&self, host: &Host) {
        let refreshed = match self.store.cluster_get(host.cluster_id).await {
            Ok(cluster) => self.data_center_status_refresh(cluster.data_center_id).await,
            Err(e) => Err(e.into()),
        };
        if let Err(e) = refreshed {
            tracing::error!(host = %host.name, error = %e, "cannot refresh the status of the host's data center");
        }
    }

    /// Marks `host` non-responsive (when its status is the monitor's to change) and, once it
    /// is, its VMs in a running status `unknown`. Idempotent.
    async fn host_non_responsive(&self, host: &Host, detail: &str) -> Result<()> {
        let current = self.store.host_get(host.id).await?;
        const ANSWERING: &[HostStatus] = &[HostStatus::Up, HostStatus::Connecting, HostStatus::Initializing];
        if ANSWERING.contains(&current.status)
            && self.store.host_status_move(host.id, ANSWERING, HostStatus::NonResponsive, Some(detail)).await?
        {
            tracing::warn!(host = %host.name, detail, "host is non-responsive");
            self.host_data_center_refresh(host).await;
            self.audit_engine(
                Severity::Error,
                AuditCode::VDS_FAILURE,
                format!("Host {} is non responsive: {detail}.", host.name),
                EventRefs { host_id: Some(host.id), cluster_id: Some(host.cluster_id), ..EventRefs::default() },
            )
            .await;
        } else if current.status != HostStatus::NonResponsive {
            return Ok(());
        }
        let on_host = self.store.vm_list(&VmFilter { host_id: Some(host.id), ..VmFilter::default() }).await?;
        for vm in on_host.into_iter().filter(|v| is_running(v.runtime.status) && v.runtime.status != VmStatus::Unknown)
        {
            let next = VmRuntime { status: VmStatus::Unknown, ..vm.runtime.clone() };
            if self.store.vm_runtime_set(vm.id, &next, Some(&[vm.runtime.status])).await? {
                self.audit_engine(
                    Severity::Warning,
                    AuditCode::VM_SET_TO_UNKNOWN_STATUS,
                    format!("VM {} was set to the Unknown status: its host {} does not answer.", vm.name, host.name),
                    EventRefs { vm_id: Some(vm.id), host_id: Some(host.id), ..EventRefs::default() },
                )
                .await;
            }
        }
        Ok(())
    }

    /// An audit event of the engine itself (no user acted); a failure to log is logged.
    pub(super) async fn audit_engine(&self, severity: Severity, code: AuditCode, description: String, refs: EventRefs) {
        let event = NewEvent {
            time: Timestamp::now(),
            severity,
            code: code.code(),
            description,
            refs,
            correlation_id: None,
            origin: None,
            custom_id: None,
        };
        if let Err(e) = self.store.event_insert(&event).await {
            tracing::error!(error = %e, "cannot write an audit event");
        }
    }
}

/// How long to wait before contacting an unanswering agent again: the backoff, but never past
/// the end of the grace period (so the host's status changes on time).
fn retry_wait(w: &Watch, backoff: Duration, settings: MonitorSettings) -> Duration {
    let mut wait = backoff.min(settings.reconcile_interval);
    if let Some((since, _)) = &w.unreachable_since {
        let left = settings.host_grace.saturating_sub(since.elapsed());
        if !left.is_zero() {
            wait = wait.min(left + Duration::from_millis(50));
        }
    }
    wait
}

#[cfg(test)]
mod tests {
    use super::*;
    use oxvirt_engine_db::model::{Architecture, BLANK_TEMPLATE_ID, Cluster, DataCenter, Placement, Version, VmConfig};
    use oxvirt_engine_db::store::{EventFilter, Store};
    use oxvirt_types::{ByteSize, ClusterId, DataCenterId, DataCenterStatus};

    fn report(id: VmId, state: VmRunState, down_reason: Option<DownReason>) -> VmState {
        VmState { id, name: "vm".into(), state, down_reason, pid: None, vnc_port: None, generation: 1 }
    }

    fn running_on(host: HostId, status: VmStatus) -> VmRuntime {
        VmRuntime { status, host_id: Some(host), start_time: Some(Timestamp(1_000)), ..VmRuntime::down() }
    }

    #[test]
    fn each_agent_state_maps_to_its_engine_status() {
        let (host, id, now) = (HostId::new_random(), VmId::new_random(), Timestamp(5_000));
        let current = running_on(host, VmStatus::Up);
        for (state, status) in [
            (VmRunState::Paused, VmStatus::Paused),
            (VmRunState::PoweringDown, VmStatus::PoweringDown),
            (VmRunState::Down, VmStatus::Down),
        ] {
            let next = vm_runtime_from_observation(&current, host, &report(id, state, None), now).expect("a change");
            assert_eq!(next.status, status, "{state:?}");
        }
        assert_eq!(
            vm_runtime_from_observation(&current, host, &report(id, VmRunState::Running, None), now),
            None,
            "the same fact again changes nothing"
        );

        // wait_for_launch → up: on this host, the start time of the launch kept, no stop reason.
        let launching = VmRuntime {
            status: VmStatus::WaitForLaunch,
            stop_reason: Some("old".into()),
            ..running_on(host, VmStatus::WaitForLaunch)
        };
        let up = vm_runtime_from_observation(&launching, host, &report(id, VmRunState::Running, None), now)
            .expect("launched");
        assert_eq!(
            (up.status, up.host_id, up.start_time, up.stop_reason),
            (VmStatus::Up, Some(host), Some(Timestamp(1_000)), None)
        );

        // down → up (found running on a host, e.g. after an engine crash mid-start): start time set.
        let up = vm_runtime_from_observation(&VmRuntime::down(), host, &report(id, VmRunState::Running, None), now)
            .expect("found running");
        assert_eq!((up.status, up.host_id, up.start_time), (VmStatus::Up, Some(host), Some(now)));

        // unknown → up (its host answers again): the same run, start time kept.
        let up = vm_runtime_from_observation(
            &running_on(host, VmStatus::Unknown),
            host,
            &report(id, VmRunState::Running, None),
            now,
        )
        .expect("back");
        assert_eq!((up.status, up.start_time), (VmStatus::Up, Some(Timestamp(1_000))));
    }

    #[test]
    fn down_reasons_give_stop_reasons() {
        let (host, id, now) = (HostId::new_random(), VmId::new_random(), Timestamp(5_000));
        for (reason, text) in [
            (Some(DownReason::Shutdown), "shut down by the guest"),
            (Some(DownReason::Destroyed), "stopped"),
            (Some(DownReason::Crashed), "crashed"),
            (Some(DownReason::Failed), "failed to start"),
            (None, "stopped for an unknown reason"),
        ] {
            let next = vm_runtime_from_observation(
                &running_on(host, VmStatus::Up),
                host,
                &report(id, VmRunState::Down, reason),
                now,
            )
            .expect("down");
            assert_eq!(next.status, VmStatus::Down);
            assert_eq!(next.host_id, None);
            assert_eq!(next.stop_time, Some(now));
            assert_eq!(next.stop_reason.as_deref(), Some(text), "{reason:?}");
        }
        // The reason a stop request recorded is kept when the VM stopped as asked.
        let asked =
            VmRuntime { stop_reason: Some("maintenance window".into()), ..running_on(host, VmStatus::PoweringDown) };
        let next =
            vm_runtime_from_observation(&asked, host, &report(id, VmRunState::Down, Some(DownReason::Shutdown)), now)
                .expect("down");
        assert_eq!(next.stop_reason.as_deref(), Some("maintenance window"));
    }

    #[test]
    fn reports_from_other_hosts_and_leftovers_are_ignored() {
        let (a, b, id, now) = (HostId::new_random(), HostId::new_random(), VmId::new_random(), Timestamp(5_000));
        let on_a = running_on(a, VmStatus::Up);
        for state in [VmRunState::Running, VmRunState::Paused, VmRunState::Down] {
            assert_eq!(vm_runtime_from_observation(&on_a, b, &report(id, state, None), now), None, "{state:?} from b");
        }
        // A start in progress on a: an old down record of a is not the start's outcome…
        let launching = running_on(a, VmStatus::WaitForLaunch);
        assert_eq!(
            vm_runtime_from_observation(&launching, a, &report(id, VmRunState::Down, Some(DownReason::Destroyed)), now),
            None
        );
        // …but a failed start is.
        let failed =
            vm_runtime_from_observation(&launching, a, &report(id, VmRunState::Down, Some(DownReason::Failed)), now)
                .expect("failed start");
        assert_eq!((failed.status, failed.stop_reason.as_deref()), (VmStatus::Down, Some("failed to start")));
        // Unknown on a (a does not answer), found running on b: it runs on b.
        let moved = vm_runtime_from_observation(
            &running_on(a, VmStatus::Unknown),
            b,
            &report(id, VmRunState::Running, None),
            now,
        )
        .expect("found on b");
        assert_eq!(moved.host_id, Some(b));
        // …but b's record of an earlier run there says nothing.
        assert_eq!(
            vm_runtime_from_observation(&running_on(a, VmStatus::Unknown), b, &report(id, VmRunState::Down, None), now),
            None
        );
    }

    struct Fixture {
        app: Arc<App>,
        cluster: ClusterId,
        a: Host,
        b: Host,
        _dir: tempfile::TempDir,
    }

    async fn fixture() -> Fixture {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&format!("sqlite://{}", dir.path().join("engine.db").display())).await.expect("store");
        let pki = crate::pki::EnginePki::load_or_create(&dir.path().join("pki"), &["localhost".into()]).expect("pki");
        let dc = DataCenter {
            id: DataCenterId::new_random(),
            name: "dc".into(),
            description: String::new(),
            comment: String::new(),
            local: false,
            status: DataCenterStatus::Up,
            version: Version::CURRENT,
        };
        store.data_center_insert(&dc).await.expect("dc");
        let cluster = Cluster {
            id: ClusterId::new_random(),
            name: "cl".into(),
            description: String::new(),
            comment: String::new(),
            data_center_id: dc.id,
            cpu_architecture: Architecture::X86_64,
            cpu_type: None,
            version: Version::CURRENT,
            memory_overcommit_percent: 100,
            mac_pool_id: oxvirt_engine_db::model::DEFAULT_MAC_POOL_ID,
        };
        store.cluster_insert(&cluster).await.expect("cluster");
        let host = |name: &str, address: &str| Host {
            id: HostId::new_random(),
            name: name.into(),
            description: String::new(),
            comment: String::new(),
            address: address.into(),
            port: 54321,
            cluster_id: cluster.id,
            status: HostStatus::Up,
            status_detail: None,
            certificate_fingerprint: None,
            capabilities: None,
            memory_total: ByteSize(0),
            max_scheduling_memory: ByteSize(0),
            created: Timestamp::now(),
        };
        let (a, b) = (host("ha", "192.0.2.1"), host("hb", "192.0.2.2"));
        store.host_insert(&a).await.expect("host a");
        store.host_insert(&b).await.expect("host b");
        let (app, _) = App::open(store, pki, Some("pw".into()), Default::default()).await.expect("app");
        Fixture { app, cluster: cluster.id, a, b, _dir: dir }
    }

    impl Fixture {
        async fn vm(&self, name: &str, runtime: VmRuntime) -> Vm {
            let vm = Vm {
                id: VmId::new_random(),
                name: name.into(),
                description: String::new(),
                comment: String::new(),
                cluster_id: self.cluster,
                template_id: BLANK_TEMPLATE_ID,
                config: VmConfig::blank(),
                placement: Placement::default(),
                delete_protected: false,
                created: Timestamp::now(),
                runtime,
                config_version: 0,
            };
            self.app.store.vm_insert(&vm).await.expect("vm");
            vm
        }

        async fn runtime(&self, vm: &Vm) -> VmRuntime {
            self.app.store.vm_get(vm.id).await.expect("vm").runtime
        }

        async fn events(&self) -> Vec<String> {
            let events = self.app.store.event_list(&EventFilter::default()).await.expect("events");
            events.into_iter().map(|e| e.description).collect()
        }
    }

    #[tokio::test]
    async fn vm_observed_records_changes_with_audit_events_and_ignores_other_hosts() {
        let f = fixture().await;
        let vm = f.vm("vm1", running_on(f.a.id, VmStatus::Up)).await;

        f.app.vm_observed(f.b.id, &report(vm.id, VmRunState::Down, None)).await.expect("observe");
        assert_eq!(f.runtime(&vm).await.status, VmStatus::Up, "host b does not speak for a VM on a");

        f.app.vm_observed(f.a.id, &report(vm.id, VmRunState::Paused, None)).await.expect("observe");
        assert_eq!(f.runtime(&vm).await.status, VmStatus::Paused);
        f.app.vm_observed(f.a.id, &report(vm.id, VmRunState::Paused, None)).await.expect("observe");

        f.app.vm_observed(f.a.id, &report(vm.id, VmRunState::Down, Some(DownReason::Crashed))).await.expect("observe");
        let rt = f.runtime(&vm).await;
        assert_eq!((rt.status, rt.host_id, rt.stop_reason.as_deref()), (VmStatus::Down, None, Some("crashed")));
        assert!(rt.stop_time.is_some());

        // A VM the engine does not know: ignored, no error.
        f.app.vm_observed(f.a.id, &report(VmId::new_random(), VmRunState::Running, None)).await.expect("unknown VM");

        let events = f.events().await;
        let about_vm1: Vec<&String> = events.iter().filter(|d| d.contains("vm1")).collect();
        assert_eq!(about_vm1.len(), 2, "one event per change of status: {events:?}");
        assert!(events.iter().any(|d| d == "VM vm1 is paused on host ha."), "{events:?}");
        assert!(events.iter().any(|d| d == "VM vm1 is down: crashed."), "{events:?}");
    }

    #[tokio::test]
    async fn full_reconcile_downs_vanished_vms_but_not_starting_ones() {
        let f = fixture().await;
        let vanished = f.vm("gone", running_on(f.a.id, VmStatus::Up)).await;
        let starting = f.vm("starting", running_on(f.a.id, VmStatus::WaitForLaunch)).await;
        let unknown = f.vm("back", running_on(f.a.id, VmStatus::Unknown)).await;
        let elsewhere = f.vm("elsewhere", running_on(f.b.id, VmStatus::Up)).await;
        let list = VmStateList {
            stream_id: "s".into(),
            generation: 3,
            vms: vec![report(unknown.id, VmRunState::Running, None)],
        };
        f.app.host_vms_reconcile(&f.a, &list).await.expect("reconcile");

        let rt = f.runtime(&vanished).await;
        assert_eq!((rt.status, rt.host_id), (VmStatus::Down, None));
        assert_eq!(rt.stop_reason.as_deref(), Some("the VM vanished from host ha"));
        assert_eq!(f.runtime(&starting).await.status, VmStatus::WaitForLaunch, "a start in progress is its job's");
        let rt = f.runtime(&unknown).await;
        assert_eq!((rt.status, rt.host_id), (VmStatus::Up, Some(f.a.id)));
        assert_eq!(f.runtime(&elsewhere).await.status, VmStatus::Up, "another host's VM is not touched");
        let events = f.events().await;
        assert!(events.iter().any(|d| d == "VM gone is down: the VM vanished from host ha."), "{events:?}");
        assert!(events.iter().any(|d| d == "VM back is up on host ha."), "{events:?}");

        // Idempotent: the same full state again changes nothing and logs nothing.
        let before = events.len();
        f.app.host_vms_reconcile(&f.a, &list).await.expect("reconcile again");
        assert_eq!(f.events().await.len(), before);
    }

    /// The race a CI run caught: a full-state list read while a VM ran, applied after its stop
    /// was recorded, brought it back `up`; and one read before a start's reply downed the VM
    /// as vanished. Reports older than the one applied are ignored.
    #[tokio::test]
    async fn a_full_state_older_than_a_reply_changes_nothing() {
        let f = fixture().await;
        let at = |vm: &Vm, state, generation| VmState { generation, ..report(vm.id, state, None) };
        let stopped = f.vm("stopped", running_on(f.a.id, VmStatus::Up)).await;
        let started = f.vm("started", running_on(f.a.id, VmStatus::WaitForLaunch)).await;
        let stale =
            VmStateList { stream_id: "s".into(), generation: 4, vms: vec![at(&stopped, VmRunState::Running, 3)] };
        f.app.host_vms_reconcile(&f.a, &stale).await.expect("first list");
        // The stop's reply (generation 5), then the start's reply (generation 6).
        let down = VmState { down_reason: Some(DownReason::Destroyed), ..at(&stopped, VmRunState::Down, 5) };
        f.app.vm_observed(f.a.id, &down).await.expect("stop reply");
        f.app.vm_observed(f.a.id, &at(&started, VmRunState::Running, 6)).await.expect("start reply");
        assert_eq!(f.runtime(&stopped).await.status, VmStatus::Down);
        assert_eq!(f.runtime(&started).await.status, VmStatus::Up);

        f.app.host_vms_reconcile(&f.a, &stale).await.expect("the stale list, applied late");
        assert_eq!(f.runtime(&stopped).await.status, VmStatus::Down, "a stopped VM stays down");
        assert_eq!(f.runtime(&started).await.status, VmStatus::Up, "a started VM is not vanished");

        // A new agent run restarts its generations: its reports count again.
        let restarted =
            VmStateList { stream_id: "s2".into(), generation: 1, vms: vec![at(&stopped, VmRunState::Running, 1)] };
        f.app.host_vms_reconcile(&f.a, &restarted).await.expect("new run");
        assert_eq!(f.runtime(&stopped).await.status, VmStatus::Up);
        assert_eq!(f.runtime(&started).await.status, VmStatus::Down, "absent from the new run's full state");
    }

    #[tokio::test]
    async fn a_non_responsive_host_makes_its_running_vms_unknown() {
        let f = fixture().await;
        let up = f.vm("up", running_on(f.a.id, VmStatus::Up)).await;
        let starting = f.vm("starting", running_on(f.a.id, VmStatus::WaitForLaunch)).await;
        f.app.host_non_responsive(&f.a, "the agent at 192.0.2.1:54321 has not answered").await.expect("mark");
        let host = f.app.store.host_get(f.a.id).await.expect("host");
        assert_eq!(host.status, HostStatus::NonResponsive);
        assert!(host.status_detail.is_some_and(|d| d.contains("has not answered")));
        let rt = f.runtime(&up).await;
        assert_eq!((rt.status, rt.host_id), (VmStatus::Unknown, Some(f.a.id)));
        assert_eq!(f.runtime(&starting).await.status, VmStatus::WaitForLaunch);

        // A host in maintenance keeps its status.
        f.app.store.host_status_set(f.b.id, HostStatus::Maintenance, None).await.expect("maintenance");
        f.app.host_non_responsive(&f.b, "gone").await.expect("mark b");
        assert_eq!(f.app.store.host_get(f.b.id).await.expect("b").status, HostStatus::Maintenance);
    }
}
