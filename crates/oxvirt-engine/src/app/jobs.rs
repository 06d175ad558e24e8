//! Jobs as administrators see them (oVirt's `/jobs`): list and read them with their steps,
//! clear ended ones. Jobs are run by the [executor](super::saga), which writes these rows.

use super::query::{Comparison, ListQuery};
use super::{App, AppError, Result};
use crate::auth::Principal;
use oxvirt_engine_db::model::{AuditCode, EventRefs, Job, Severity, Step};
pub use oxvirt_engine_db::model::{JobStatus, StepType};
use oxvirt_engine_db::store::JobFilter;
use oxvirt_types::{JobId, StepId};

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
// and clear finished ones. Engine jobs are ended by the engine itself; only jobs created by
// outside tools ("external" jobs, not supported yet) could be ended through the API.

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
