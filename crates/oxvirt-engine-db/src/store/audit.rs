//! Users, the audit log (events), durable jobs and their steps, and the summary counts.

use super::error::{Result, StoreError, WriteCtx};
use super::filter::{EventFilter, JobFilter, UserFilter};
use super::sql::{RowExt as _, Sql, db_json};
use crate::model::{
    Event, EventRefs, EventSeq, Job, JobStatus, NewEvent, Severity, Step, SummaryCounts, Timestamp, User,
};
use oxvirt_types::{JobId, StepId, UserId};
use sqlx::AnyConnection;
use sqlx::any::AnyRow;

// ---------------------------------------------------------------------------------------
// Users
// ---------------------------------------------------------------------------------------

const USER_COLUMNS: &str = "id, name, domain, password_hash, email, enabled, created";

fn user_from_row(r: &AnyRow) -> Result<User> {
    Ok(User {
        id: r.parse("id")?,
        name: r.text("name")?,
        domain: r.text("domain")?,
        password_hash: r.text_opt("password_hash")?,
        email: r.text_opt("email")?,
        enabled: r.flag("enabled")?,
        created: Timestamp(r.int("created")?),
    })
}

async fn user_write(c: &mut AnyConnection, sql: &'static str, u: &User, doing: &str) -> Result<u64> {
    let res = sqlx::query(sql)
        .bind(u.id.to_string())
        .bind(u.name.clone())
        .bind(u.domain.clone())
        .bind(u.password_hash.clone())
        .bind(u.email.clone())
        .bind(u.enabled)
        .bind(u.created.0)
        .execute(&mut *c)
        .await;
    match res {
        Ok(r) => Ok(r.rows_affected()),
        Err(e) => {
            let ctx = WriteCtx::new(doing, "users", "user", format!("user '{}'", u.principal()), u.id)
                .unique("users_domain_name_key", format!("a user named '{}' already exists", u.principal()));
            Err(ctx.explain(c, e).await)
        }
    }
}

pub(crate) async fn user_insert(c: &mut AnyConnection, u: &User) -> Result<()> {
    user_write(
        c,
        "INSERT INTO users (id, name, domain, password_hash, email, enabled, created) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        u,
        "adding a user",
    )
    .await
    .map(drop)
}

pub(crate) async fn user_get(c: &mut AnyConnection, id: UserId) -> Result<User> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1")))
        .bind(id.to_string())
        .fetch_optional(&mut *c)
        .await
        .map_err(StoreError::db("reading a user"))?;
    user_from_row(&row.ok_or_else(|| StoreError::not_found("user", id))?)
}

/// The user `name@domain` (what a login names).
pub(crate) async fn user_get_by_name(c: &mut AnyConnection, domain: &str, name: &str) -> Result<User> {
    let row =
        sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {USER_COLUMNS} FROM users WHERE domain = $1 AND name = $2")))
            .bind(domain.to_owned())
            .bind(name.to_owned())
            .fetch_optional(&mut *c)
            .await
            .map_err(StoreError::db("reading a user"))?;
    user_from_row(&row.ok_or_else(|| StoreError::not_found("user", format!("'{name}@{domain}'")))?)
}

pub(crate) async fn user_list(c: &mut AnyConnection, f: &UserFilter) -> Result<Vec<User>> {
    let mut q = Sql::new(&format!("SELECT {USER_COLUMNS} FROM users WHERE 1 = 1"));
    q.name_like("name", &f.name).eq_opt("domain", f.domain.clone());
    q.order_and_page("name", &f.page, &["domain", "id"]);
    let rows = q.build()?.fetch_all(&mut *c).await.map_err(StoreError::db("listing users"))?;
    rows.iter().map(user_from_row).collect()
}

pub(crate) async fn user_update(c: &mut AnyConnection, u: &User) -> Result<()> {
    let n = user_write(
        c,
        "UPDATE users SET name = $2, domain = $3, password_hash = $4, email = $5, enabled = $6, created = $7 \
         WHERE id = $1",
        u,
        "updating a user",
    )
    .await?;
    if n == 0 {
        return Err(StoreError::not_found("user", u.id));
    }
    Ok(())
}

/// Removes a user; jobs they owned keep running without an owner.
pub(crate) async fn user_delete(c: &mut AnyConnection, id: UserId) -> Result<()> {
    let r = sqlx::query("DELETE FROM users WHERE id = $1")
        .bind(id.to_string())
        .execute(&mut *c)
        .await
        .map_err(StoreError::db("removing a user"))?;
    if r.rows_affected() == 0 {
        return Err(StoreError::not_found("user", id));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Events
// ---------------------------------------------------------------------------------------

const EVENT_COLUMNS: &str = "id, time, severity, code, description, vm_id, host_id, cluster_id, data_center_id, \
                             storage_domain_id, template_id, user_id, correlation_id";

fn event_from_row(r: &AnyRow) -> Result<Event> {
    Ok(Event {
        id: EventSeq(r.int("id")?),
        time: Timestamp(r.int("time")?),
        severity: r.parse("severity")?,
        code: r.int_as("code")?,
        description: r.text("description")?,
        refs: EventRefs {
            vm_id: r.parse_opt("vm_id")?,
            host_id: r.parse_opt("host_id")?,
            cluster_id: r.parse_opt("cluster_id")?,
            data_center_id: r.parse_opt("data_center_id")?,
            storage_domain_id: r.parse_opt("storage_domain_id")?,
            template_id: r.parse_opt("template_id")?,
            user_id: r.parse_opt("user_id")?,
        },
        correlation_id: r.text_opt("correlation_id")?,
    })
}

/// Appends an event to the audit log; the database numbers it.
pub(crate) async fn event_insert(c: &mut AnyConnection, e: &NewEvent) -> Result<Event> {
    let refs = &e.refs;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO events (time, severity, code, description, vm_id, host_id, cluster_id, data_center_id, \
         storage_domain_id, template_id, user_id, correlation_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id",
    )
    .bind(e.time.0)
    .bind(e.severity.as_str())
    .bind(i64::from(e.code))
    .bind(e.description.clone())
    .bind(refs.vm_id.map(|id| id.to_string()))
    .bind(refs.host_id.map(|id| id.to_string()))
    .bind(refs.cluster_id.map(|id| id.to_string()))
    .bind(refs.data_center_id.map(|id| id.to_string()))
    .bind(refs.storage_domain_id.map(|id| id.to_string()))
    .bind(refs.template_id.map(|id| id.to_string()))
    .bind(refs.user_id.map(|id| id.to_string()))
    .bind(e.correlation_id.clone())
    .fetch_one(&mut *c)
    .await
    .map_err(StoreError::db("writing an audit log event"))?;
    Ok(Event {
        id: EventSeq(id),
        time: e.time,
        severity: e.severity,
        code: e.code,
        description: e.description.clone(),
        refs: e.refs.clone(),
        correlation_id: e.correlation_id.clone(),
    })
}

pub(crate) async fn event_get(c: &mut AnyConnection, id: EventSeq) -> Result<Event> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {EVENT_COLUMNS} FROM events WHERE id = $1")))
        .bind(id.0)
        .fetch_optional(&mut *c)
        .await
        .map_err(StoreError::db("reading an event"))?;
    event_from_row(&row.ok_or_else(|| StoreError::not_found("event", id))?)
}

pub(crate) async fn event_list(c: &mut AnyConnection, f: &EventFilter) -> Result<Vec<Event>> {
    let mut q = Sql::new(&format!("SELECT {EVENT_COLUMNS} FROM events WHERE 1 = 1"));
    if let Some(after) = f.after {
        q.push(" AND id > ").bind(after.0);
    }
    if let Some(min) = f.min_severity {
        let at_least: Vec<Severity> = Severity::ALL.iter().copied().skip_while(|s| *s != min).collect();
        q.push(" AND severity IN (");
        for (i, s) in at_least.iter().enumerate() {
            if i > 0 {
                q.push(", ");
            }
            q.bind(s.as_str());
        }
        q.push(")");
    }
    q.eq_opt("vm_id", f.vm_id.map(|id| id.to_string()))
        .eq_opt("host_id", f.host_id.map(|id| id.to_string()))
        .eq_opt("cluster_id", f.cluster_id.map(|id| id.to_string()))
        .eq_opt("data_center_id", f.data_center_id.map(|id| id.to_string()))
        .eq_opt("storage_domain_id", f.storage_domain_id.map(|id| id.to_string()))
        .eq_opt("correlation_id", f.correlation_id.clone());
    q.order_and_limit("id", f.descending, &[], f.limit, 0);
    let rows = q.build()?.fetch_all(&mut *c).await.map_err(StoreError::db("listing events"))?;
    rows.iter().map(event_from_row).collect()
}

/// Up to `max` events numbered above `from` (all when `None`), oldest first: how oVirt
/// clients follow the audit log (`GET /events?from=N`).
pub(crate) async fn event_list_since(c: &mut AnyConnection, from: Option<EventSeq>, max: u32) -> Result<Vec<Event>> {
    event_list(c, &EventFilter { after: from, limit: Some(max), ..EventFilter::default() }).await
}

/// Removes events older than `before` (audit log aging); returns how many.
pub(crate) async fn event_delete_before(c: &mut AnyConnection, before: Timestamp) -> Result<u64> {
    let r = sqlx::query("DELETE FROM events WHERE time < $1")
        .bind(before.0)
        .execute(&mut *c)
        .await
        .map_err(StoreError::db("removing old events"))?;
    Ok(r.rows_affected())
}

// ---------------------------------------------------------------------------------------
// Jobs
// ---------------------------------------------------------------------------------------

const JOB_COLUMNS: &str = "id, action_type, description, status, start_time, end_time, last_updated, auto_cleared, \
                           external, owner_id, correlation_id";

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
         external, owner_id, correlation_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
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
         last_updated = $7, auto_cleared = $8, external = $9, owner_id = $10, correlation_id = $11 WHERE id = $1",
        j,
        "updating a job",
    )
    .await?;
    if n == 0 {
        return Err(StoreError::not_found("job", j.id));
    }
    Ok(())
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

// ---------------------------------------------------------------------------------------
// Summary
// ---------------------------------------------------------------------------------------

pub(crate) async fn summary_counts(c: &mut AnyConnection) -> Result<SummaryCounts> {
    let row = sqlx::query(
        "SELECT \
           (SELECT COUNT(*) FROM vms) AS vms_total, \
           (SELECT COUNT(*) FROM vms WHERE status <> 'down') AS vms_active, \
           (SELECT COUNT(*) FROM hosts) AS hosts_total, \
           (SELECT COUNT(*) FROM hosts WHERE status = 'up') AS hosts_active, \
           (SELECT COUNT(*) FROM storage_domains) AS sds_total, \
           (SELECT COUNT(DISTINCT storage_domain_id) FROM storage_domain_attachments WHERE status = 'active') \
              AS sds_active, \
           (SELECT COUNT(*) FROM users) AS users_total, \
           (SELECT COUNT(*) FROM users WHERE enabled = $1) AS users_active",
    )
    .bind(true)
    .fetch_one(&mut *c)
    .await
    .map_err(StoreError::db("counting objects"))?;
    Ok(SummaryCounts {
        vms_total: row.int_as("vms_total")?,
        vms_active: row.int_as("vms_active")?,
        hosts_total: row.int_as("hosts_total")?,
        hosts_active: row.int_as("hosts_active")?,
        storage_domains_total: row.int_as("sds_total")?,
        storage_domains_active: row.int_as("sds_active")?,
        users_total: row.int_as("users_total")?,
        users_active: row.int_as("users_active")?,
    })
}
