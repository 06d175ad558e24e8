//! Durable jobs and their steps.

use super::error::{Result, StoreError, WriteCtx};
use super::filter::JobFilter;
use super::sql::{RowExt as _, Sql, db_json};
use crate::model::{Job, JobStatus, Step, Timestamp};
use oxvirt_types::{JobId, StepId};
use sqlx::AnyConnection;
use sqlx::any::AnyRow;

// ---------------------------------------------------------------------------------------
// Jobs
// ---------------------------------------------------------------------------------------
const JOB_COLUMNS: &str = "id, action_type, description, status, start_time, end_time, last_updated, auto_cleared, \
                           external, owner_id, correlation_id, params, lease_owner, lease_until";

fn job_from_row(r: &AnyRow) -> Result<Job> {
    Ok(Job {
        id: r.parse("id")?,
        action_type: r.text("action_type")?,
        description: r.text("description")?,
        status: r.parse("status")?,
        start_time: Timestamp(r.int("start_time")?),
        end_time: r.int_opt("end_time")?.map(Timestamp),
        last_updated: Timestamp(r.int("last_updated")?),
        auto_cleared: r.flag("auto_cleared")?,
        external: r.flag("external")?,
        owner_id: r.parse_opt("owner_id")?,
        correlation_id: r.text_opt("correlation_id")?,
        params: r.json_opt("params")?.unwrap_or(serde_json::Value::Null),
        lease_owner: r.text_opt("lease_owner")?,
        lease_until: r.int_opt("lease_until")?.map(Timestamp),
    })
}

async fn job_write(c: &mut AnyConnection, sql: &'static str, j: &Job, doing: &str) -> Result<u64> {
    let res = sqlx::query(sql)
        .bind(j.id.to_string())
        .bind(j.action_type.clone())
        .bind(j.description.clone())
        .bind(j.status.as_str())
        .bind(j.start_time.0)
        .bind(j.end_time.map(|t| t.0))
        .bind(j.last_updated.0)
        .bind(j.auto_cleared)
        .bind(j.external)
        .bind(j.owner_id.map(|id| id.to_string()))
        .bind(j.correlation_id.clone())
        .bind(if j.params.is_null() { None } else { Some(db_json("job parameters", &j.params)?) })
        .bind(j.lease_owner.clone())
        .bind(j.lease_until.map(|t| t.0))
        .execute(&mut *c)
        .await;
    match res {
        Ok(r) => Ok(r.rows_affected()),
        Err(e) => {
            let ctx = WriteCtx::new(doing, "jobs", "job", format!("job '{}' ({})", j.description, j.id), j.id)
                .reference_opt("jobs_owner_id_fkey", "user", "users", j.owner_id);
            Err(ctx.explain(c, e).await)
        }
    }
}

pub(crate) async fn job_insert(c: &mut AnyConnection, j: &Job) -> Result<()> {
    job_write(
        c,
        "INSERT INTO jobs (id, action_type, description, status, start_time, end_time, last_updated, auto_cleared, \
         external, owner_id, correlation_id, params, lease_owner, lease_until) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
        j,
        "recording a job",
    )
    .await
    .map(drop)
}

pub(crate) async fn job_get(c: &mut AnyConnection, id: JobId) -> Result<Job> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1")))
        .bind(id.to_string())
        .fetch_optional(&mut *c)
        .await
        .map_err(StoreError::db("reading a job"))?;
    job_from_row(&row.ok_or_else(|| StoreError::not_found("job", id))?)
}

pub(crate) async fn job_list(c: &mut AnyConnection, f: &JobFilter) -> Result<Vec<Job>> {
    let mut q = Sql::new(&format!("SELECT {JOB_COLUMNS} FROM jobs WHERE 1 = 1"));
    q.eq_opt("status", f.status.map(|s| s.as_str().to_owned())).eq_opt("correlation_id", f.correlation_id.clone());
    q.order_and_limit("start_time", !f.oldest_first, &["id"], f.limit, f.offset);
    let rows = q.build()?.fetch_all(&mut *c).await.map_err(StoreError::db("listing jobs"))?;
    rows.iter().map(job_from_row).collect()
}

/// Jobs still `started`, oldest first: what the engine resumes or rolls back after a restart.
pub(crate) async fn jobs_unfinished(c: &mut AnyConnection) -> Result<Vec<Job>> {
    job_list(c, &JobFilter { status: Some(JobStatus::Started), oldest_first: true, ..JobFilter::default() }).await
}

pub(crate) async fn job_update(c: &mut AnyConnection, j: &Job) -> Result<()> {
    let n = job_write(
        c,
        "UPDATE jobs SET action_type = $2, description = $3, status = $4, start_time = $5, end_time = $6, \
         last_updated = $7, auto_cleared = $8, external = $9, owner_id = $10, correlation_id = $11, params = $12, \
         lease_owner = $13, lease_until = $14 WHERE id = $1",
        j,
        "updating a job",
    )
    .await?;
    if n == 0 {
        return Err(StoreError::not_found("job", j.id));
    }
    Ok(())
}

/// Ends an external job (and its steps still running) with `status`, compare-and-set on its
/// being started; returns whether it was.
pub(crate) async fn job_external_end(
    c: &mut AnyConnection,
    id: JobId,
    status: JobStatus,
    end: Timestamp,
) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE jobs SET status = $2, end_time = $3, last_updated = $3 WHERE id = $1 AND external = $4 AND status = $5",
    )
    .bind(id.to_string())
    .bind(status.as_str())
    .bind(end.0)
    .bind(true)
    .bind(JobStatus::Started.as_str())
    .execute(&mut *c)
    .await
    .map_err(StoreError::db("ending an external job"))?;
    if r.rows_affected() == 0 {
        return Ok(false);
    }
    sqlx::query("UPDATE steps SET status = $2, end_time = $3 WHERE job_id = $1 AND status = $4")
        .bind(id.to_string())
        .bind(status.as_str())
        .bind(end.0)
        .bind(JobStatus::Started.as_str())
        .execute(&mut *c)
        .await
        .map_err(StoreError::db("ending an external job's steps"))?;
    Ok(true)
}

/// Ends one step with `status`, compare-and-set on its being started.
pub(crate) async fn step_end(c: &mut AnyConnection, id: StepId, status: JobStatus, end: Timestamp) -> Result<bool> {
    let r = sqlx::query("UPDATE steps SET status = $2, end_time = $3 WHERE id = $1 AND status = $4")
        .bind(id.to_string())
        .bind(status.as_str())
        .bind(end.0)
        .bind(JobStatus::Started.as_str())
        .execute(&mut *c)
        .await
        .map_err(StoreError::db("ending a step"))?;
    Ok(r.rows_affected() == 1)
}

/// Takes the lease of a `started` job for `owner` until `until`, when nobody holds it, it has
/// expired (before `now`), or it is held by an earlier run of the same engine (an owner
/// starting with `engine_prefix` other than `owner`). Returns whether it was taken.
pub(crate) async fn job_lease_take(
    c: &mut AnyConnection,
    id: JobId,
    owner: &str,
    engine_prefix: &str,
    now: Timestamp,
    until: Timestamp,
) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE jobs SET lease_owner = $2, lease_until = $3 WHERE id = $1 AND status = $4 AND \
         (lease_owner IS NULL OR lease_until IS NULL OR lease_until < $5 OR \
          (lease_owner <> $2 AND substr(lease_owner, 1, length($6)) = $6))",
    )
    .bind(id.to_string())
    .bind(owner.to_owned())
    .bind(until.0)
    .bind(JobStatus::Started.as_str())
    .bind(now.0)
    .bind(engine_prefix.to_owned())
    .execute(&mut *c)
    .await
    .map_err(StoreError::db("taking a job's lease"))?;
    Ok(r.rows_affected() == 1)
}

/// Extends `owner`'s lease on started job `id` to `until`; returns whether it holds it.
pub(crate) async fn job_lease_extend(c: &mut AnyConnection, id: JobId, owner: &str, until: Timestamp) -> Result<bool> {
    let r = sqlx::query("UPDATE jobs SET lease_until = $3 WHERE id = $1 AND lease_owner = $2 AND status = $4")
        .bind(id.to_string())
        .bind(owner.to_owned())
        .bind(until.0)
        .bind(JobStatus::Started.as_str())
        .execute(&mut *c)
        .await
        .map_err(StoreError::db("renewing a job's lease"))?;
    Ok(r.rows_affected() == 1)
}

/// Ends a `started` job held by `owner` (compare-and-set): `status`, `end_time`, lease
/// released. Returns false when the job had ended or another runner holds it.
pub(crate) async fn job_end(
    c: &mut AnyConnection,
    id: JobId,
    owner: &str,
    status: JobStatus,
    end: Timestamp,
) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE jobs SET status = $3, end_time = $4, last_updated = $4, lease_owner = NULL, lease_until = NULL \
         WHERE id = $1 AND lease_owner = $2 AND status = $5",
    )
    .bind(id.to_string())
    .bind(owner.to_owned())
    .bind(status.as_str())
    .bind(end.0)
    .bind(JobStatus::Started.as_str())
    .execute(&mut *c)
    .await
    .map_err(StoreError::db("ending a job"))?;
    Ok(r.rows_affected() == 1)
}

/// Removes a job with its steps.
pub(crate) async fn job_delete(c: &mut AnyConnection, id: JobId) -> Result<()> {
    let r = sqlx::query("DELETE FROM jobs WHERE id = $1")
        .bind(id.to_string())
        .execute(&mut *c)
        .await
        .map_err(StoreError::db("removing a job"))?;
    if r.rows_affected() == 0 {
        return Err(StoreError::not_found("job", id));
    }
    Ok(())
}

/// Removes auto-cleared jobs that ended before `before` (with their steps); returns how many.
pub(crate) async fn job_delete_cleared_before(c: &mut AnyConnection, before: Timestamp) -> Result<u64> {
    let r = sqlx::query("DELETE FROM jobs WHERE auto_cleared = $1 AND end_time IS NOT NULL AND end_time < $2")
        .bind(true)
        .bind(before.0)
        .execute(&mut *c)
        .await
        .map_err(StoreError::db("removing old jobs"))?;
    Ok(r.rows_affected())
}

// ---------------------------------------------------------------------------------------
// Steps
// ---------------------------------------------------------------------------------------
const STEP_COLUMNS: &str =
    "id, job_id, parent_step_id, number, step_type, description, status, start_time, end_time, progress, data";

fn step_from_row(r: &AnyRow) -> Result<Step> {
    Ok(Step {
        id: r.parse("id")?,
        job_id: r.parse("job_id")?,
        parent_step_id: r.parse_opt("parent_step_id")?,
        number: r.int_as("number")?,
        step_type: r.parse("step_type")?,
        description: r.text("description")?,
        status: r.parse("status")?,
        start_time: Timestamp(r.int("start_time")?),
        end_time: r.int_opt("end_time")?.map(Timestamp),
        progress: r.int_as_opt("progress")?,
        data: r.json("data")?,
    })
}

async fn step_write(c: &mut AnyConnection, sql: &'static str, s: &Step, doing: &str) -> Result<u64> {
    if s.progress.is_some_and(|p| p > 100) {
        return Err(StoreError::InvalidValue(format!(
            "step progress must be 0-100, not {}",
            s.progress.unwrap_or_default()
        )));
    }
    let res = sqlx::query(sql)
        .bind(s.id.to_string())
        .bind(s.job_id.to_string())
        .bind(s.parent_step_id.map(|id| id.to_string()))
        .bind(i64::from(s.number))
        .bind(s.step_type.as_str())
        .bind(s.description.clone())
        .bind(s.status.as_str())
        .bind(s.start_time.0)
        .bind(s.end_time.map(|t| t.0))
        .bind(s.progress.map(i64::from))
        .bind(db_json("step data", &s.data)?)
        .execute(&mut *c)
        .await;
    match res {
        Ok(r) => Ok(r.rows_affected()),
        Err(e) => {
            let ctx = WriteCtx::new(doing, "steps", "step", format!("step '{}' ({})", s.description, s.id), s.id)
                .reference("steps_job_id_fkey", "job", "jobs", s.job_id)
                .reference_opt("steps_parent_step_id_fkey", "parent step", "steps", s.parent_step_id);
            Err(ctx.explain(c, e).await)
        }
    }
}

pub(crate) async fn step_insert(c: &mut AnyConnection, s: &Step) -> Result<()> {
    step_write(
        c,
        "INSERT INTO steps (id, job_id, parent_step_id, number, step_type, description, status, start_time, \
         end_time, progress, data) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        s,
        "recording a step",
    )
    .await
    .map(drop)
}

pub(crate) async fn step_get(c: &mut AnyConnection, id: StepId) -> Result<Step> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {STEP_COLUMNS} FROM steps WHERE id = $1")))
        .bind(id.to_string())
        .fetch_optional(&mut *c)
        .await
        .map_err(StoreError::db("reading a step"))?;
    step_from_row(&row.ok_or_else(|| StoreError::not_found("step", id))?)
}

/// A job's steps, in order (by number, across nesting levels).
pub(crate) async fn step_list_for_job(c: &mut AnyConnection, job_id: JobId) -> Result<Vec<Step>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {STEP_COLUMNS} FROM steps WHERE job_id = $1 ORDER BY number, start_time, id"
    )))
    .bind(job_id.to_string())
    .fetch_all(&mut *c)
    .await
    .map_err(StoreError::db("listing a job's steps"))?;
    rows.iter().map(step_from_row).collect()
}

pub(crate) async fn step_update(c: &mut AnyConnection, s: &Step) -> Result<()> {
    let n = step_write(
        c,
        "UPDATE steps SET job_id = $2, parent_step_id = $3, number = $4, step_type = $5, description = $6, \
         status = $7, start_time = $8, end_time = $9, progress = $10, data = $11 WHERE id = $1",
        s,
        "updating a step",
    )
    .await?;
    if n == 0 {
        return Err(StoreError::not_found("step", s.id));
    }
    Ok(())
}
