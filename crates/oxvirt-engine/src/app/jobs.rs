//! Jobs as administrators see them (oVirt's `/jobs`): list and read them with their steps,
//! clear ended ones. Jobs are run by the [executor](super::saga), which writes these rows.

use super::query::{Comparison, ListQuery};
use super::{App, AppError, Result};
use crate::auth::Principal;
use oxvirt_engine_db::model::{AuditCode, EventRefs, Job, Severity, Step, Timestamp};
pub use oxvirt_engine_db::model::{JobStatus, StepType};
use oxvirt_engine_db::store::JobFilter;
use oxvirt_types::{JobId, StepId};

/// The `action_type` of external jobs (no saga has it).
pub const EXTERNAL_JOB: &str = "ExternalJob";

impl App {
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
}

// What administrators do with jobs through the API: list and read them with their steps,
// and clear finished ones. Engine jobs are ended by the engine itself. External jobs are
// made by outside tools (a playbook, a backup system) to show their own work next to the
// engine's: they and their steps are added and ended through the API, and the executor
// never runs them.

/// A new external job.
#[derive(Debug, Clone)]
pub struct ExternalJobAdd {
    pub description: String,
    pub auto_cleared: bool,
}

/// A new step of an external job.
#[derive(Debug, Clone)]
pub struct ExternalStepAdd {
    pub description: String,
    pub step_type: StepType,
    pub parent: Option<StepId>,
}

impl App {
    /// Jobs, newest first; searchable by `status` and `correlation_id`
    /// (`search=status=finished`, `search=correlation_id=abc`, both with `and`).
    pub async fn job_search(&self, q: &ListQuery) -> Result<Vec<Job>> {
        const HOW: &str = "jobs can be searched by 'status=<status>' and 'correlation_id=<id>' (joined with 'and')";
        let mut filter = JobFilter { limit: q.max, ..JobFilter::default() };
        if q.any_of.len() > 1 || q.sort.is_some() || q.page.is_some() {
            return Err(AppError::InvalidInput(format!("{HOW}; 'or', sorting and pages are not supported")));
        }
        for cond in q.any_of.iter().flatten() {
            let value = &cond.pattern;
            match (cond.field.as_str(), cond.op) {
                ("status", Comparison::Eq) => {
                    let status = JobStatus::from_wire(&value.to_lowercase()).ok_or_else(|| {
                        AppError::InvalidInput(format!(
                            "'{value}' is not a job status: use started, finished, failed, aborted or unknown"
                        ))
                    })?;
                    filter.status = Some(status);
                }
                ("correlation_id", Comparison::Eq) => filter.correlation_id = Some(value.clone()),
                _ => return Err(AppError::InvalidInput(format!("cannot search jobs by '{}'; {HOW}", cond.field))),
            }
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

    /// Adds an external job, started, owned by the caller.
    pub async fn job_add_external(&self, who: &Principal, req: ExternalJobAdd) -> Result<Job> {
        if req.description.trim().is_empty() {
            return Err(AppError::InvalidInput("an external job needs a description of what it does".into()));
        }
        let now = Timestamp::now();
        let job = Job {
            id: JobId::new_random(),
            action_type: EXTERNAL_JOB.to_owned(),
            description: req.description,
            status: JobStatus::Started,
            start_time: now,
            end_time: None,
            last_updated: now,
            auto_cleared: req.auto_cleared,
            external: true,
            owner_id: Some(who.user_id),
            correlation_id: None,
            params: serde_json::Value::Null,
            lease_owner: None,
            lease_until: None,
        };
        self.store.job_insert(&job).await?;
        Ok(job)
    }

    /// oVirt's `end`: only external jobs may be ended by a client (with their running steps);
    /// the engine ends its own.
    pub async fn job_end_requested(&self, id: JobId, succeeded: bool) -> Result<()> {
        let job = self.store.job_get(id).await?;
        if !job.external {
            return Err(AppError::Conflict(format!(
                "job {id} ({}) is run by the engine, which ends it itself; only external jobs can be ended",
                job.description
            )));
        }
        let status = if succeeded { JobStatus::Finished } else { JobStatus::Failed };
        if !self.store.job_external_end(id, status, Timestamp::now()).await? {
            return Err(AppError::Conflict(format!(
                "job {id} ({}) has ended already ({})",
                job.description, job.status
            )));
        }
        Ok(())
    }

    /// Adds a step to a started external job (under `parent` when given).
    pub async fn job_step_add_external(&self, job_id: JobId, req: ExternalStepAdd) -> Result<Step> {
        let job = self.external_job_started(job_id).await?;
        let steps = self.store.step_list_for_job(job.id).await?;
        if let Some(parent) = req.parent
            && !steps.iter().any(|s| s.id == parent)
        {
            return Err(AppError::InvalidInput(format!("job {job_id} has no step {parent} to put the step under")));
        }
        let number = steps.iter().filter(|s| s.parent_step_id == req.parent).count() + 1;
        let step = Step {
            id: StepId::new_random(),
            job_id,
            parent_step_id: req.parent,
            number: u32::try_from(number).unwrap_or(u32::MAX),
            step_type: req.step_type,
            description: req.description,
            status: JobStatus::Started,
            start_time: Timestamp::now(),
            end_time: None,
            progress: None,
            data: serde_json::Value::Null,
        };
        self.store.step_insert(&step).await?;
        Ok(step)
    }

    /// Ends a step of an external job.
    pub async fn job_step_end(&self, job_id: JobId, step: StepId, succeeded: bool) -> Result<()> {
        let job = self.store.job_get(job_id).await?;
        if !job.external {
            return Err(AppError::Conflict(format!(
                "job {job_id} ({}) is run by the engine, which ends its steps itself",
                job.description
            )));
        }
        let s = self.job_step_get(job_id, step).await?;
        let status = if succeeded { JobStatus::Finished } else { JobStatus::Failed };
        if !self.store.step_end(s.id, status, Timestamp::now()).await? {
            return Err(AppError::Conflict(format!(
                "step {step} ({}) has ended already ({})",
                s.description, s.status
            )));
        }
        Ok(())
    }

    async fn external_job_started(&self, id: JobId) -> Result<Job> {
        let job = self.store.job_get(id).await?;
        if !job.external {
            return Err(AppError::Conflict(format!(
                "job {id} ({}) is run by the engine; steps can be added only to external jobs",
                job.description
            )));
        }
        if job.status != JobStatus::Started {
            return Err(AppError::Conflict(format!("job {id} ({}) has ended ({})", job.description, job.status)));
        }
        Ok(job)
    }
}
