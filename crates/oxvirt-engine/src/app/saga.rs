//! The job executor: every multi-step operation is a declared **saga** the engine runs on its
//! own tasks, durable step by step, resumed or unwound after any crash.
//!
//! Why: an operation run inside the HTTP request dies with the request (a client that
//! disconnects mid-start left the VM `wait_for_launch`), and each operation hand-wrote its own
//! recovery. Here an operation is data — a [`SagaDef`]: an ordered list of [`StepDef`]s, each
//! with a forward action and an [`Undo`] — and one executor runs, persists and recovers all of
//! them alike. We wrote our own rather than use omicron's `steno`: our sagas are linear (no
//! DAG), their log must be oVirt's `/jobs` and `/jobs/{id}/steps` rows (which the SDK reads),
//! and the lease/takeover rule below ties into our store; steno's model (a saga log of node
//! events, its own executor and storage trait) would sit beside those rows, not be them.
//!
//! The protocol (the store's rows are the saga log):
//! 1. **Creation.** The request validates, then in *one transaction* makes the first
//!    transition (the VM `wait_for_launch` with its disks `locked`, the disk row `locked`, …)
//!    and inserts the job with its parameters — every id the job will create is generated and
//!    written here, before anything acts — and a lease held by this engine run
//!    ([`App::saga_create`]). The job is then spawned ([`App::saga_spawn`]); the request answers
//!    with the object in its transitional state, or waits ([`App::job_wait`]) when asked to.
//! 2. **Steps.** Before a step acts its row is written (`started`); when its forward action
//!    returns, its output (JSON) and `finished` are written. Forward actions must be
//!    *idempotent*: after a crash the step that was `started` runs again, and it must find
//!    out what it already did (the agent has the domain, the volume exists, …).
//! 3. **Failure.** A step that fails is marked `failed` and the saga unwinds: the undo of the
//!    failed step and then of every earlier step runs, newest first, each marked `aborted` when
//!    done (undos are idempotent and must accept that their forward never acted). Errors that
//!    say "try again" ([`ErrorKind::Unavailable`]: the agent did not answer) are retried until
//!    the step's deadline first. An [`Undo::Irreversible`] step that finished is a barrier:
//!    unwinding stops above it, and the steps after it must converge on their own.
//! 4. **Leases.** A running job's lease is renewed every third of [`ExecutorSettings::lease`].
//!    The recovery loop (at start and then continuously) takes over every `started` job whose
//!    lease expired, or is held by an earlier run of *this* engine (same engine id, other run
//!    id: that process is gone), and resumes it from its rows — in parallel, each job on its
//!    own task, never blocking the API. A second engine could take over the same way.
//!
//! Adding an operation: declare its `SagaDef` next to its resource (see `vms.rs`, `RUN_VM`),
//! add it to [`SAGAS`], and create it with `saga_create` + `saga_spawn`. The kill-matrix test
//! (`tests/job_crashes.rs`) reads [`SAGAS`] and kills the engine at every step of every saga,
//! so the new operation is covered without a new test.
//!
//! **Fault injection** (a test-only seam, off unless set, labelled as such):
//! `OXVIRT_FAULT_PAUSE=<ActionType>:<step>:<before|after|undo>` makes the job of that type
//! stop at that point of step `<step>` (1-based) — after the step's row is written and before
//! it acts, after it acted and before its end is written, or before its undo — print
//! `FAULT PAUSE` on stderr and wait forever, so that a test can SIGKILL the engine there.

use super::{App, AppError, Result};
use crate::auth::Principal;
use oxvirt_engine_db::model::{Job, JobStatus, Step, StepType, Timestamp};
use oxvirt_engine_db::store::StoreTx;
use oxvirt_types::{ErrorKind, JobId, StepId, UserId};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::sync::watch;

/// The environment variable of the pause fault injection (see the module docs).
pub const FAULT_PAUSE: &str = "OXVIRT_FAULT_PAUSE";

/// What a step's action returns: its output, kept in the step's row for later steps and undos.
pub type StepFuture<'a> = Pin<Box<dyn Future<Output = Result<serde_json::Value>> + Send + 'a>>;
/// A step's forward action or undo.
pub type StepFn = for<'a> fn(&'a SagaCtx) -> StepFuture<'a>;
/// Called once when a job ends (audit events); never fails.
pub type EndFn = for<'a> fn(&'a SagaCtx, &'a Outcome) -> Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

/// Turns `async fn name(ctx: &SagaCtx) -> Result<Value>` into a [`StepFn`] (for `static`s).
macro_rules! step_fn {
    ($f:path) => {{
        fn erased<'a>(ctx: &'a $crate::app::saga::SagaCtx) -> $crate::app::saga::StepFuture<'a> {
            Box::pin($f(ctx))
        }
        erased as $crate::app::saga::StepFn
    }};
}
/// Turns `async fn name(ctx: &SagaCtx, outcome: &Outcome)` into an [`EndFn`].
macro_rules! end_fn {
    ($f:path) => {{
        fn erased<'a>(
            ctx: &'a $crate::app::saga::SagaCtx,
            outcome: &'a $crate::app::saga::Outcome,
        ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'a>> {
            Box::pin($f(ctx, outcome))
        }
        erased as $crate::app::saga::EndFn
    }};
}
pub(crate) use {end_fn, step_fn};

/// One kind of job.
#[derive(Debug)]
pub struct SagaDef {
    /// oVirt's action type (`RunVm`, `AddDisk`, …): the job's `action_type` column.
    pub action_type: &'static str,
    pub steps: &'static [StepDef],
    /// Runs when the job ends, however it ends (audit events, space refresh, …).
    pub ended: Option<EndFn>,
}

/// One step of a saga.
#[derive(Debug)]
pub struct StepDef {
    /// What the step does, as `/jobs/{id}/steps` shows it.
    pub description: &'static str,
    pub step_type: StepType,
    /// Idempotent: may run again after a crash.
    pub forward: StepFn,
    pub undo: Undo,
    /// How long errors that say "try again" are retried before the step fails.
    pub retry_for: Duration,
    /// The creating request's transaction did this step (the first transition): its row is
    /// written there, finished, and it has no forward action of its own, only an undo.
    pub by_request: bool,
}

impl StepDef {
    /// A step retrying "try again" errors for [`STEP_RETRY`].
    pub const fn new(description: &'static str, step_type: StepType, forward: StepFn, undo: Undo) -> Self {
        Self { description, step_type, forward, undo, retry_for: STEP_RETRY, by_request: false }
    }

    /// The first step, done by the creating request's transaction (see [`StepDef::by_request`]).
    pub const fn by_request(description: &'static str, step_type: StepType, undo: Undo) -> Self {
        Self {
            description,
            step_type,
            forward: step_fn!(done_by_request),
            undo,
            retry_for: STEP_RETRY,
            by_request: true,
        }
    }

    /// The same step retrying for `retry_for` instead.
    pub const fn retrying_for(self, retry_for: Duration) -> Self {
        Self { retry_for, ..self }
    }
}

/// What undoing a step means.
#[derive(Debug, Clone, Copy)]
pub enum Undo {
    /// The step changes nothing that needs undoing (a check, a read).
    Nothing,
    /// Idempotent undo; must accept that the forward action never acted.
    Action(StepFn),
    /// Cannot be undone (a VM row removed, files deleted): once it finished the saga only
    /// goes forward, and the steps after it must converge on their own.
    Irreversible,
}

async fn done_by_request(_ctx: &SagaCtx) -> Result<serde_json::Value> {
    Ok(serde_json::Value::Null)
}

/// The default retry window of a step.
pub const STEP_RETRY: Duration = Duration::from_secs(30);
/// The longest one attempt of a step may take (above the agent client's own call deadline).
pub const STEP_ATTEMPT_DEADLINE: Duration = Duration::from_secs(300);

/// Every kind of job the executor runs; recovery finds a job's definition here.
pub static SAGAS: &[&SagaDef] = &[
    &super::vms::RUN_VM,
    &super::vms::STOP_VM,
    &super::vms::SHUTDOWN_VM,
    &super::vms::REBOOT_VM,
    &super::vms::REMOVE_VM,
    &super::disks::ADD_DISK,
    &super::disks::REMOVE_DISK,
    &super::disks::EXTEND_DISK,
    &super::disks::SPARSIFY_DISK,
    &super::storage_domains::ADD_STORAGE_DOMAIN,
    &super::hosts::ADD_HOST,
];

fn saga_def(action_type: &str) -> Option<&'static SagaDef> {
    SAGAS.iter().copied().find(|d| d.action_type == action_type)
}

/// How a job ended.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub status: JobStatus,
    /// Why it failed (the failing step's error), when it did.
    pub error: Option<(ErrorKind, String)>,
}

impl Outcome {
    pub fn succeeded(&self) -> bool {
        self.status == JobStatus::Finished
    }
}

/// What a step's action sees: the engine, the job (with its parameters) and what the earlier
/// steps returned.
#[derive(Debug)]
pub struct SagaCtx {
    pub app: Arc<App>,
    pub job: Job,
    /// On whose behalf (the job's owner; "the engine" when resumed after a restart).
    pub who: Principal,
    outputs: Vec<serde_json::Value>,
    /// Whether the running action may have run before (its step was started by an earlier
    /// run of the job, or this is a retry): then it must look at what it already did.
    rerun: std::sync::atomic::AtomicBool,
}

impl SagaCtx {
    /// The job's parameters.
    pub fn params<P: DeserializeOwned>(&self) -> Result<P> {
        serde_json::from_value(self.job.params.clone())
            .map_err(|e| AppError::Worker(format!("job {} has unreadable parameters: {e}", self.job.id)))
    }

    /// Whether this action may have run before (see the field): an idempotent action checks
    /// what it already did only then, so that a first run costs no extra round trip.
    pub fn rerun(&self) -> bool {
        self.rerun.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// What step `number` (1-based) returned; `Null` when it has not run.
    pub fn output<T: DeserializeOwned>(&self, number: usize) -> Result<T> {
        let v = self.outputs.get(number.wrapping_sub(1)).cloned().unwrap_or(serde_json::Value::Null);
        serde_json::from_value(v)
            .map_err(|e| AppError::Worker(format!("job {}: step {number} has an unreadable output: {e}", self.job.id)))
    }
}

/// A step's output, as JSON.
pub fn output(value: impl Serialize) -> Result<serde_json::Value> {
    serde_json::to_value(value).map_err(|e| AppError::Worker(format!("cannot record a step's output: {e}")))
}

/// The executor's settings.
#[derive(Debug, Clone)]
pub struct ExecutorSettings {
    /// Identifies this engine installation across restarts (its data directory).
    pub engine_id: String,
    /// How long a job's lease holds without renewal.
    pub lease: Duration,
}

/// A job being run or waited for, in this process.
#[derive(Debug, Clone, Default)]
pub struct Progress {
    /// Steps finished so far.
    pub steps_done: u32,
    pub outcome: Option<Outcome>,
}

#[derive(Debug)]
struct Fault {
    action_type: String,
    step: u32,
    point: String,
}

/// The executor's state inside [`App`].
#[derive(Debug, Default)]
pub struct Executor {
    settings: OnceLock<(ExecutorSettings, String)>,
    running: Mutex<HashMap<JobId, watch::Sender<Progress>>>,
    fault: OnceLock<Option<Fault>>,
}

impl Executor {
    fn running(&self) -> std::sync::MutexGuard<'_, HashMap<JobId, watch::Sender<Progress>>> {
        self.running.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// What a request asks of the job it starts (see `http::extract::JobOpts`).
#[derive(Debug, Clone, Default)]
pub struct JobOptions {
    /// oVirt's `Correlation-Id`: recorded on the job (and searchable).
    pub correlation_id: Option<String>,
    /// oVirt's `async`: `Some(false)` answers when the job has ended (with its fault when it
    /// failed), `Some(true)` as soon as it is accepted; `None` is the operation's own default.
    pub asynchronous: Option<bool>,
}

impl JobOptions {
    /// `async=false`: wait for the job's end.
    pub fn waits_for_end(&self) -> bool {
        self.asynchronous == Some(false)
    }

    /// `async=true`: answer as soon as the job is accepted.
    pub fn answers_at_once(&self) -> bool {
        self.asynchronous == Some(true)
    }

    /// What to wait for: the job's end with `async=false`, nothing with `async=true`, else
    /// `default` (the operation's own choice).
    pub fn wait_for(&self, default: Option<WaitFor>) -> Option<WaitFor> {
        match self.asynchronous {
            Some(false) => Some(WaitFor::End),
            Some(true) => None,
            None => default,
        }
    }
}

impl App {
    /// After a job was created and spawned: waits for its end when the request asked to
    /// (`async=false`), else for nothing.
    pub(crate) async fn job_settle_for(&self, opts: &JobOptions, job: JobId) -> Result<()> {
        self.job_wait_as(opts, job, None).await
    }

    /// Waits for what `opts` asks, or `default` when it asks nothing (see
    /// [`JobOptions::wait_for`]).
    pub(crate) async fn job_wait_as(&self, opts: &JobOptions, job: JobId, default: Option<WaitFor>) -> Result<()> {
        if let Some(what) = opts.wait_for(default) {
            self.job_wait(job, what).await?;
        }
        Ok(())
    }
}

/// What [`App::job_wait`] waits for.
#[derive(Debug, Clone, Copy)]
pub enum WaitFor {
    /// The first `n` steps finished (or the job ended).
    Steps(u32),
    /// The job ended.
    End,
}

impl App {
    /// Starts the executor: its lease renewal and its recovery loop (which at once takes over
    /// the jobs an earlier run of this engine left). Returns without waiting for recovery.
    pub fn executor_start(self: &Arc<Self>, settings: ExecutorSettings) {
        let owner = format!("{}/{}", settings.engine_id, uuid::Uuid::new_v4().simple());
        let lease = settings.lease;
        if self.executor.settings.set((settings, owner)).is_err() {
            tracing::warn!("the job executor was started twice; keeping the first");
            return;
        }
        let fault = std::env::var(FAULT_PAUSE).ok().and_then(|spec| {
            let mut parts = spec.splitn(3, ':');
            let (a, s, p) = (parts.next()?, parts.next()?.parse().ok()?, parts.next()?);
            tracing::error!(spec, "FAULT INJECTION armed: a job will pause there");
            Some(Fault { action_type: a.to_owned(), step: s, point: p.to_owned() })
        });
        let _ = self.executor.fault.set(fault);
        let me = Arc::downgrade(self);
        tokio::spawn(async move {
            let period = (lease / 3).max(Duration::from_millis(100));
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(app) = me.upgrade() else { return };
                if app.monitors_stopped() {
                    return;
                }
                app.leases_renew().await;
                app.jobs_take_over().await;
            }
        });
    }

    fn executor_owner(&self) -> Result<(&ExecutorSettings, &str)> {
        self.executor
            .settings
            .get()
            .map(|(s, o)| (s, o.as_str()))
            .ok_or_else(|| AppError::Worker("the job executor is not running".into()))
    }

    /// Writes a new job (in `tx`, with the request's first transition): `started`, its
    /// parameters, leased by this engine run. Spawn it with [`App::saga_spawn`] after commit.
    pub async fn saga_create(
        &self,
        tx: &mut StoreTx,
        who: &Principal,
        def: &'static SagaDef,
        description: String,
        params: impl Serialize,
        correlation_id: Option<&str>,
    ) -> Result<Job> {
        let (settings, owner) = self.executor_owner()?;
        let now = Timestamp::now();
        let job = Job {
            id: JobId::new_random(),
            action_type: def.action_type.to_owned(),
            description,
            status: JobStatus::Started,
            start_time: now,
            end_time: None,
            last_updated: now,
            auto_cleared: true,
            external: false,
            owner_id: Some(who.user_id).filter(|u| !u.as_uuid().is_nil()),
            correlation_id: correlation_id.map(str::to_owned),
            params: output(params)?,
            lease_owner: Some(owner.to_owned()),
            lease_until: Some(Timestamp(now.0 + settings.lease.as_millis() as i64)),
        };
        tx.job_insert(&job).await?;
        if let Some(first) = def.steps.first().filter(|s| s.by_request) {
            tx.step_insert(&Step {
                id: StepId::new_random(),
                job_id: job.id,
                parent_step_id: None,
                number: 1,
                step_type: first.step_type,
                description: first.description.to_owned(),
                status: JobStatus::Finished,
                start_time: now,
                end_time: Some(now),
                progress: Some(100),
                data: serde_json::Value::Null,
            })
            .await?;
        }
        Ok(job)
    }

    /// [`App::saga_create`] in `tx`, commit, [`App::saga_spawn`]: the usual end of a request
    /// that starts a job. Returns the job's id (to wait for it).
    pub async fn saga_start(
        &self,
        mut tx: StoreTx,
        who: &Principal,
        def: &'static SagaDef,
        description: String,
        params: impl Serialize,
        opts: &JobOptions,
    ) -> Result<JobId> {
        let job = self.saga_create(&mut tx, who, def, description, params, opts.correlation_id.as_deref()).await?;
        let id = job.id;
        // Commit and spawn on a task of their own: a request dropped mid-commit (its client
        // went away) must not leave a committed job that nobody runs.
        let app = self.me.upgrade().ok_or_else(|| AppError::Worker("the engine is stopping".into()))?;
        let who = who.clone();
        tokio::spawn(async move {
            tx.commit().await?;
            app.saga_spawn(&who, job);
            Ok::<_, AppError>(())
        })
        .await
        .map_err(|e| AppError::Worker(format!("the task committing job {id} failed: {e}")))??;
        Ok(id)
    }

    /// Runs a job written by [`App::saga_create`] (committed) on its own task.
    pub fn saga_spawn(&self, who: &Principal, job: Job) {
        let Some(app) = self.me.upgrade() else { return };
        let (tx, _) = watch::channel(Progress::default());
        self.executor.running().insert(job.id, tx);
        let who = who.clone();
        tokio::spawn(async move { app.saga_run(job, who).await });
    }

    /// Waits until `what` for a job of this process; returns the job's outcome when it ended,
    /// as an error when it failed.
    pub async fn job_wait(&self, id: JobId, what: WaitFor) -> Result<Option<Outcome>> {
        let rx = self.executor.running().get(&id).map(|t| t.subscribe());
        let Some(mut rx) = rx else {
            // Not running here: it has ended (or runs elsewhere); its row says how.
            let job = self.store.job_get(id).await?;
            return match job.status {
                JobStatus::Finished => Ok(Some(Outcome { status: job.status, error: None })),
                s if s.is_final() => Err(AppError::Conflict(format!("job {id} ({}) ended {s}", job.description))),
                _ => Ok(None),
            };
        };
        let progress = rx
            .wait_for(|p| {
                p.outcome.is_some()
                    || match what {
                        WaitFor::Steps(n) => p.steps_done >= n,
                        WaitFor::End => false,
                    }
            })
            .await
            .map(|p| p.clone())
            .map_err(|_| AppError::Worker(format!("job {id} was dropped by the executor")))?;
        match progress.outcome {
            Some(Outcome { status: JobStatus::Finished, error: None }) => Ok(progress.outcome),
            Some(Outcome { error: Some((kind, message)), .. }) => Err(AppError::Failed(kind, message)),
            Some(o) => Err(AppError::Conflict(format!("job {id} ended {}", o.status))),
            None => Ok(None),
        }
    }

    /// What step `number` of a job returned (its row's data).
    pub(crate) async fn job_output<T: DeserializeOwned>(&self, job: JobId, number: u32) -> Result<T> {
        let steps = self.store.step_list_for_job(job).await?;
        let data = steps.into_iter().find(|s| s.number == number).map(|s| s.data).unwrap_or_default();
        serde_json::from_value(data)
            .map_err(|e| AppError::Worker(format!("job {job}: step {number} has no readable output: {e}")))
    }

    /// Renews the leases of the jobs running in this process (only those: a job this run
    /// owns but does not run — its spawn was lost — lets its lease expire and is taken over).
    async fn leases_renew(&self) {
        let Ok((settings, owner)) = self.executor_owner() else { return };
        let until = Timestamp(Timestamp::now().0 + settings.lease.as_millis() as i64);
        let running: Vec<JobId> = self.executor.running().keys().copied().collect();
        for id in running {
            if let Err(e) = self.store.job_lease_extend(id, owner, until).await {
                tracing::warn!(job = %id, error = %e, "cannot renew a job's lease");
            }
        }
    }

    /// Takes over every job whose runner is gone and resumes it on its own task.
    pub(crate) async fn jobs_take_over(&self) {
        let Ok((settings, owner)) = self.executor_owner() else { return };
        let jobs = match self.store.jobs_unfinished().await {
            Ok(j) => j,
            Err(e) => {
                tracing::warn!(error = %e, "cannot list unfinished jobs");
                return;
            }
        };
        let prefix = format!("{}/", settings.engine_id);
        // External jobs are their creators' to end, never the executor's to run.
        for job in jobs.into_iter().filter(|j| !j.external) {
            if self.executor.running().contains_key(&job.id) {
                continue;
            }
            let now = Timestamp::now();
            let until = Timestamp(now.0 + settings.lease.as_millis() as i64);
            match self.store.job_lease_take(job.id, owner, &prefix, now, until).await {
                Ok(true) => {}
                Ok(false) => continue,
                Err(e) => {
                    tracing::warn!(job = %job.id, error = %e, "cannot take over a job");
                    continue;
                }
            }
            tracing::warn!(job = %job.id, action = %job.action_type, "taking over a job whose runner is gone");
            let who = Principal {
                user_id: job.owner_id.unwrap_or_else(|| UserId::from_uuid(uuid::Uuid::nil())),
                login: "the engine".to_owned(),
            };
            self.saga_spawn(&who, Job { lease_owner: Some(owner.to_owned()), ..job });
        }
    }

    /// Runs (or resumes) a job to its end.
    async fn saga_run(self: Arc<Self>, job: Job, who: Principal) {
        let id = job.id;
        let outcome = match saga_def(&job.action_type) {
            Some(def) => self.saga_drive(def, job, who).await,
            None => {
                tracing::error!(job = %id, action = %job.action_type, "no definition for this kind of job; it fails");
                let outcome = Outcome {
                    status: JobStatus::Failed,
                    error: Some((ErrorKind::Internal, format!("unknown kind of job {}", job.action_type))),
                };
                self.job_close(&job, &outcome).await;
                Some(outcome)
            }
        };
        let tx = self.executor.running().remove(&id);
        if let (Some(tx), Some(outcome)) = (tx, outcome) {
            tx.send_modify(|p| p.outcome = Some(outcome));
        }
    }

    fn progress(&self, id: JobId, steps_done: u32) {
        if let Some(tx) = self.executor.running().get(&id) {
            tx.send_modify(|p| p.steps_done = steps_done);
        }
    }

    /// The saga protocol (module docs). `None` when the job was lost to another runner.
    async fn saga_drive(self: &Arc<Self>, def: &'static SagaDef, job: Job, who: Principal) -> Option<Outcome> {
        let mut rows: Vec<Step> = loop {
            match self.store.step_list_for_job(job.id).await {
                Ok(r) => break r,
                Err(e) => {
                    tracing::warn!(job = %job.id, error = %e, "cannot read a job's steps; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        };
        rows.sort_by_key(|s| s.number);
        let mut ctx = SagaCtx { app: self.clone(), job, who, outputs: Vec::new(), rerun: false.into() };
        let unwinding = rows.iter().any(|s| matches!(s.status, JobStatus::Failed | JobStatus::Aborted));
        let mut error = None;
        if !unwinding {
            for (i, def_step) in def.steps.iter().enumerate() {
                let number = i as u32 + 1;
                if let Some(row) = rows.get(i).filter(|r| r.number == number && r.status == JobStatus::Finished) {
                    ctx.outputs.push(row.data.clone());
                    self.progress(ctx.job.id, number);
                    continue;
                }
                let existed = rows.get(i).is_some_and(|r| r.number == number);
                ctx.rerun.store(existed, std::sync::atomic::Ordering::Relaxed);
                let mut row = match rows.get(i).filter(|r| r.number == number) {
                    Some(r) => r.clone(),
                    None => {
                        let row = Step {
                            id: StepId::new_random(),
                            job_id: ctx.job.id,
                            parent_step_id: None,
                            number,
                            step_type: def_step.step_type,
                            description: def_step.description.to_owned(),
                            status: JobStatus::Started,
                            start_time: Timestamp::now(),
                            end_time: None,
                            progress: None,
                            data: serde_json::Value::Null,
                        };
                        self.store_retry("record a job step", || self.store.step_insert(&row)).await;
                        rows.push(row.clone());
                        row
                    }
                };
                self.fault_point(&ctx.job, number, "before").await;
                match self.step_attempt(&ctx, def_step.forward, def_step.retry_for).await {
                    Ok(out) => {
                        self.fault_point(&ctx.job, number, "after").await;
                        row.status = JobStatus::Finished;
                        row.end_time = Some(Timestamp::now());
                        row.progress = Some(100);
                        row.data = out.clone();
                        self.store_retry("record the end of a job step", || self.store.step_update(&row)).await;
                        rows[i] = row;
                        ctx.outputs.push(out);
                        self.progress(ctx.job.id, number);
                    }
                    Err(e) => {
                        tracing::warn!(job = %ctx.job.id, step = number, error = %e, "a job step failed; unwinding");
                        error = Some((e.kind(), e.to_string()));
                        row.status = JobStatus::Failed;
                        row.end_time = Some(Timestamp::now());
                        row.data = serde_json::json!({ "error": e.to_string() });
                        self.store_retry("record a failed job step", || self.store.step_update(&row)).await;
                        rows[i] = row;
                        break;
                    }
                }
            }
            if error.is_none() {
                let outcome = Outcome { status: JobStatus::Finished, error: None };
                if !self.job_close(&ctx.job, &outcome).await {
                    return None;
                }
                return Some(self.ended(def, &ctx, outcome).await);
            }
        } else if let Some(failed) = rows.iter().find(|s| s.status == JobStatus::Failed) {
            let message = failed.data.get("error").and_then(|e| e.as_str()).unwrap_or("a step failed").to_owned();
            error = Some((ErrorKind::Conflict, message));
        }
        // Unwind: newest first, down to the last irreversible step that finished.
        for row in rows.iter().rev() {
            ctx.outputs = rows.iter().filter(|r| r.number <= row.number).map(|r| r.data.clone()).collect();
            let Some(def_step) = def.steps.get(row.number as usize - 1) else { continue };
            if row.status == JobStatus::Aborted {
                continue;
            }
            if let Undo::Irreversible = def_step.undo
                && row.status == JobStatus::Finished
            {
                break;
            }
            if let Undo::Action(undo) = def_step.undo {
                ctx.rerun.store(true, std::sync::atomic::Ordering::Relaxed);
                self.fault_point(&ctx.job, row.number, "undo").await;
                if let Err(e) = self.step_attempt(&ctx, undo, def_step.retry_for).await {
                    tracing::error!(job = %ctx.job.id, step = row.number, error = %e, "cannot undo a job step; what it made may remain (the storage and orphan checks report it)");
                }
            }
            let mut done = row.clone();
            done.status = JobStatus::Aborted;
            done.end_time = Some(Timestamp::now());
            self.store_retry("record an undone job step", || self.store.step_update(&done)).await;
        }
        let outcome = Outcome { status: JobStatus::Failed, error };
        if self.job_close(&ctx.job, &outcome).await { Some(self.ended(def, &ctx, outcome).await) } else { None }
    }

    async fn ended(&self, def: &SagaDef, ctx: &SagaCtx, outcome: Outcome) -> Outcome {
        if let Some(end) = def.ended {
            end(ctx, &outcome).await;
        }
        outcome
    }

    /// Runs a step action, retrying errors that say "try again" for `retry_for`. Each attempt
    /// has a deadline ([`STEP_ATTEMPT_DEADLINE`]): a job never waits for ever on one call.
    async fn step_attempt(&self, ctx: &SagaCtx, action: StepFn, retry_for: Duration) -> Result<serde_json::Value> {
        let deadline = tokio::time::Instant::now() + retry_for;
        let mut pause = Duration::from_millis(200);
        loop {
            let attempt = tokio::time::timeout(STEP_ATTEMPT_DEADLINE, action(ctx)).await.unwrap_or_else(|_| {
                Err(AppError::Failed(
                    ErrorKind::Unavailable,
                    format!("job {}: a step did not finish within {} s", ctx.job.id, STEP_ATTEMPT_DEADLINE.as_secs()),
                ))
            });
            match attempt {
                Err(e) if e.kind() == ErrorKind::Unavailable && tokio::time::Instant::now() + pause < deadline => {
                    tracing::info!(job = %ctx.job.id, error = %e, "a job step will be retried");
                    ctx.rerun.store(true, std::sync::atomic::Ordering::Relaxed);
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(5));
                }
                other => return other,
            }
        }
    }

    /// Ends the job's row (compare-and-set on the lease); false when another runner has it.
    async fn job_close(&self, job: &Job, outcome: &Outcome) -> bool {
        let Ok((_, owner)) = self.executor_owner() else { return false };
        let owner = owner.to_owned();
        let mut pause = Duration::from_millis(200);
        loop {
            match self.store.job_end(job.id, &owner, outcome.status, Timestamp::now()).await {
                Ok(true) => return true,
                Ok(false) => {
                    tracing::warn!(job = %job.id, "the job was taken over by another runner; leaving it");
                    return false;
                }
                Err(e) => {
                    tracing::warn!(job = %job.id, error = %e, "cannot record the end of a job; retrying");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(5));
                }
            }
        }
    }

    /// Retries a store write until it succeeds: the saga cannot go on without its log.
    async fn store_retry<F, Fut>(&self, what: &str, mut write: F)
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = std::result::Result<(), oxvirt_engine_db::store::StoreError>>,
    {
        let mut pause = Duration::from_millis(200);
        while let Err(e) = write().await {
            tracing::warn!(error = %e, "cannot {what}; retrying");
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(5));
        }
    }

    /// The pause fault injection (module docs): test-only, off unless armed.
    async fn fault_point(&self, job: &Job, step: u32, point: &str) {
        let Some(Some(f)) = self.executor.fault.get() else { return };
        if f.action_type == job.action_type && f.step == step && f.point == point {
            tracing::error!(job = %job.id, step, point, "FAULT INJECTION: the job pauses here for ever");
            eprintln!("FAULT PAUSE {}:{step}:{point} job {}", job.action_type, job.id);
            std::future::pending::<()>().await;
        }
    }
}
