//! Durable jobs: every multi-step operation (creating a disk, starting a VM, …) is a job with
//! steps written to the database as they start and end (oVirt's `/jobs`).
//!
//! Why durable: the engine may be killed between "asked the agent for a volume" and "recorded
//! the disk as ready". Each step writes, *before* it acts, the data needed to undo or finish
//! it (`Step::data`: ids of what it is about to create). At start, [`App::jobs_recover`] finds
//! jobs still `started` and hands each to the recovery function of its `action_type`, which
//! looks at reality (the agent, the database) and either completes the operation or rolls it
//! back; the job then ends `finished` or `failed`. Recovery functions must be idempotent: the
//! engine may die again while recovering.
//!
//! Fault injection (a test-only seam, labelled as such): `OXVIRT_FAULT_CRASH_AFTER_STEP=
//! <ActionType>:<n>` makes the engine exit at once (no graceful shutdown) right after step `n` of a job of that
//! type has been *started* (its data written, its action not yet confirmed), which is
//! how the e2e tests kill the engine mid-job at a known point.

use super::query::{Comparison, ListQuery};
use super::{App, AppError, Result};
use crate::auth::Principal;
use oxvirt_engine_db::model::{AuditCode, EventRefs, Job, Severity, Step, Timestamp};
pub use oxvirt_engine_db::model::{JobStatus, StepType};
use oxvirt_engine_db::store::JobFilter;
use oxvirt_types::{JobId, StepId};

/// The environment variable of the crash fault injection (see the module docs).
pub const FAULT_CRASH_AFTER_STEP: &str = "OXVIRT_FAULT_CRASH_AFTER_STEP";

/// A job being run: hands out step numbers and writes progress.
#[derive(Debug)]
pub struct JobRun {
    pub job: Job,
    next_step: u32,
}

impl JobRun {
    pub fn id(&self) -> JobId {
        self.job.id
    }
}

impl App {
    /// Records a new job (`started`) for `action_type` (`AddDisk`, `RunVm`, … the key its
    /// recovery is found by).
    pub async fn job_begin(
        &self,
        who: Option<&Principal>,
        action_type: &str,
        description: impl Into<String>,
    ) -> Result<JobRun> {
        let now = Timestamp::now();
        let job = Job {
            id: JobId::new_random(),
            action_type: action_type.to_owned(),
            description: description.into(),
            status: JobStatus::Started,
            start_time: now,
            end_time: None,
            last_updated: now,
            auto_cleared: true,
            external: false,
            owner_id: who.map(|p| p.user_id),
            correlation_id: None,
        };
        self.store.job_insert(&job).await?;
        Ok(JobRun { job, next_step: 1 })
    }

    /// Records a step as started, with the `data` recovery needs to undo or finish it. Write
    /// the ids of what the step will create *here*, before creating it.
    pub async fn job_step_begin(
        &self,
        run: &mut JobRun,
        step_type: StepType,
        description: impl Into<String>,
        data: serde_json::Value,
    ) -> Result<Step> {
        let step = Step {
            id: StepId::new_random(),
            job_id: run.job.id,
            parent_step_id: None,
            number: run.next_step,
            step_type,
            description: description.into(),
            status: JobStatus::Started,
            start_time: Timestamp::now(),
            end_time: None,
            progress: None,
            data,
        };
        run.next_step += 1;
        self.store.step_insert(&step).await?;
        self.fault_crash_point(&run.job.action_type, step.number);
        Ok(step)
    }

    /// Ends a step. A failure to record is logged: the job's end (or recovery) settles it.
    pub async fn job_step_end(&self, step: &mut Step, status: JobStatus) {
        step.status = status;
        step.end_time = Some(Timestamp::now());
        if status == JobStatus::Finished {
            step.progress = Some(100);
        }
        if let Err(e) = self.store.step_update(step).await {
            tracing::error!(step = %step.id, error = %e, "cannot record the end of a job step");
        }
    }

    /// Ends a job and every step of it still open, with `status`.
    pub async fn job_end(&self, run: JobRun, status: JobStatus) {
        self.job_settle(run.job, status).await;
    }

    async fn job_settle(&self, mut job: Job, status: JobStatus) {
        let now = Timestamp::now();
        match self.store.step_list_for_job(job.id).await {
            Ok(steps) => {
                for mut s in steps.into_iter().filter(|s| !s.status.is_final()) {
                    s.status = if status == JobStatus::Finished { JobStatus::Finished } else { status };
                    s.end_time = Some(now);
                    if let Err(e) = self.store.step_update(&s).await {
                        tracing::error!(step = %s.id, error = %e, "cannot close a job step");
                    }
                }
            }
            Err(e) => tracing::error!(job = %job.id, error = %e, "cannot list a job's steps"),
        }
        job.status = status;
        job.end_time = Some(now);
        job.last_updated = now;
        if let Err(e) = self.store.job_update(&job).await {
            tracing::error!(job = %job.id, error = %e, "cannot record the end of a job");
        }
    }

    pub async fn job_get(&self, id: JobId) -> Result<Job> {
        Ok(self.store.job_get(id).await?)
    }

    /// Jobs, newest first.
    pub async fn job_list(&self, max: Option<u32>) -> Result<Vec<Job>> {
        Ok(self.store.job_list(&JobFilter { limit: max, ..JobFilter::default() }).await?)
    }

    pub async fn job_steps(&self, id: JobId) -> Result<Vec<Step>> {
        self.store.job_get(id).await?;
        Ok(self.store.step_list_for_job(id).await?)
    }

    /// Settles the jobs a previous run of the engine left `started`: each is completed or
    /// rolled back by the recovery of its action type, then ended. Runs once at start, before
    /// the API serves requests.
    pub async fn jobs_recover(&self) -> Result<()> {
        for job in self.store.jobs_unfinished().await? {
            let steps = self.store.step_list_for_job(job.id).await?;
            tracing::warn!(job = %job.id, action = %job.action_type, "recovering a job left unfinished");
            // Each kind of job registers its recovery here:
            // `async fn <action>_recover(&self, job: &Job, steps: &[Step]) -> Result<JobStatus>`
            // returning how the job ended (`Finished` when completed, `Failed` when rolled back).
            let outcome: Result<JobStatus> = match job.action_type.as_str() {
                "RunVm" => self.vm_start_recover(&job, &steps).await,
                "RemoveVm" => self.vm_remove_recover(&job, &steps).await,
                "AddDisk" => self.disk_add_recover(&job, &steps).await,
                "RemoveDisk" => self.disk_remove_recover(&job, &steps).await,
                other => {
                    tracing::warn!(
                        action = other,
                        steps = steps.len(),
                        "no recovery for this kind of job; marking it failed"
                    );
                    Ok(JobStatus::Failed)
                }
            };
            let status = match outcome {
                Ok(s) => s,
                Err(e) => {
                    // Leave it started: the next start tries again (recoveries are idempotent).
                    tracing::error!(job = %job.id, error = %e, "job recovery failed; will retry at next start");
                    continue;
                }
            };
            self.job_settle(job, status).await;
        }
        Ok(())
    }

    /// The crash fault injection (see the module docs). Test-only behaviour, off unless the
    /// variable is set.
    fn fault_crash_point(&self, action_type: &str, step: u32) {
        let Ok(spec) = std::env::var(FAULT_CRASH_AFTER_STEP) else { return };
        let Some((action, n)) = spec.split_once(':') else { return };
        if action == action_type && n.parse::<u32>().ok() == Some(step) {
            tracing::error!(action_type, step, "FAULT INJECTION: aborting the engine after this job step started");
            eprintln!("FAULT INJECTION: {FAULT_CRASH_AFTER_STEP}={spec}: aborting the engine");
            std::process::exit(70);
        }
    }
}

// What administrators do with jobs through the API: list and read them with their steps,
// and clear finished ones. Engine jobs are ended by the engine itself; only jobs created by
// outside tools ("external" jobs, not supported yet) could be ended through the API.

impl App {
    /// Jobs, newest first; searchable by `status` (`search=status=finished`).
    pub async fn job_search(&self, q: &ListQuery) -> Result<Vec<Job>> {
        let mut filter = JobFilter { limit: q.max, ..JobFilter::default() };
        if q.any_of.len() > 1 || q.sort.is_some() || q.page.is_some() {
            return Err(AppError::InvalidInput("jobs can be searched only by 'status=<status>' for now".into()));
        }
        for cond in q.any_of.iter().flatten() {
            let value = &cond.pattern;
            if cond.field != "status" || cond.op != Comparison::Eq {
                return Err(AppError::InvalidInput(format!(
                    "cannot search jobs by '{}'; jobs can be searched only by 'status=<status>'",
                    cond.field
                )));
            }
            let status = JobStatus::from_wire(&value.to_lowercase()).ok_or_else(|| {
                AppError::InvalidInput(format!(
                    "'{value}' is not a job status: use started, finished, failed, aborted or unknown"
                ))
            })?;
            filter.status = Some(status);
        }
        Ok(self.store.job_list(&filter).await?)
    }

    /// One step of a job.
    pub async fn job_step_get(&self, job: JobId, step: StepId) -> Result<Step> {
        self.store.job_get(job).await?;
        let s = self.store.step_get(step).await?;
        if s.job_id != job {
            return Err(oxvirt_engine_db::store::StoreError::not_found("step", format!("{step} of job {job}")).into());
        }
        Ok(s)
    }

    /// oVirt's `clear`: forgets a job that has ended. A running job cannot be cleared.
    pub async fn job_clear(&self, who: &Principal, id: JobId) -> Result<()> {
        let job = self.store.job_get(id).await?;
        if !job.status.is_final() {
            return Err(AppError::Conflict(format!(
                "job {id} ({}) is {}: only jobs that have ended can be cleared",
                job.description, job.status
            )));
        }
        self.store.job_delete(id).await?;
        self.audit(
            who,
            Severity::Normal,
            AuditCode::OXVIRT_JOB_CLEARED,
            format!("Job '{}' was cleared by {}.", job.description, who.login),
            EventRefs::default(),
        )
        .await;
        Ok(())
    }

    /// oVirt's `end`: only external jobs may be ended by a client; the engine ends its own.
    pub async fn job_end_requested(&self, id: JobId) -> Result<()> {
        let job = self.store.job_get(id).await?;
        Err(AppError::Conflict(if job.external {
            format!("ending external job {id} is not supported yet")
        } else {
            format!(
                "job {id} ({}) is run by the engine, which ends it itself; only external jobs can be ended",
                job.description
            )
        }))
    }
}
