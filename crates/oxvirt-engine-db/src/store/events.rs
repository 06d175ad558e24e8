//! The audit log.

use super::error::{Result, StoreError, WriteCtx};
use super::filter::EventFilter;
use super::sql::{RowExt as _, Sql};
use crate::model::{Event, EventRefs, EventSeq, NewEvent, Severity, Timestamp};
use sqlx::AnyConnection;
use sqlx::any::AnyRow;

const EVENT_COLUMNS: &str = "id, time, severity, code, description, vm_id, host_id, cluster_id, data_center_id, \
                             storage_domain_id, template_id, user_id, correlation_id, origin, custom_id";

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
        origin: r.text_opt("origin")?,
        custom_id: r.int_opt("custom_id")?,
    })
}

/// Appends an event to the audit log; the database numbers it.
pub(crate) async fn event_insert(c: &mut AnyConnection, e: &NewEvent) -> Result<Event> {
    let refs = &e.refs;
    let res: std::result::Result<i64, sqlx::Error> = sqlx::query_scalar(
        "INSERT INTO events (time, severity, code, description, vm_id, host_id, cluster_id, data_center_id, \
         storage_domain_id, template_id, user_id, correlation_id, origin, custom_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING id",
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
    .bind(e.origin.clone())
    .bind(e.custom_id)
    .fetch_one(&mut *c)
    .await;
    let id = match res {
        Ok(id) => id,
        Err(err) => {
            let origin = e.origin.clone().unwrap_or_default();
            let custom = e.custom_id.unwrap_or_default();
            let ctx = WriteCtx::new("writing an audit log event", "events", "event", format!("event {custom}"), custom)
                .unique(
                    "events_origin_custom_id_key",
                    format!("origin {origin} already has an event with custom_id {custom}; give each event its own"),
                );
            return Err(ctx.explain(c, err).await);
        }
    };
    Ok(Event {
        id: EventSeq(id),
        time: e.time,
        severity: e.severity,
        code: e.code,
        description: e.description.clone(),
        refs: e.refs.clone(),
        correlation_id: e.correlation_id.clone(),
        origin: e.origin.clone(),
        custom_id: e.custom_id,
    })
}

/// Removes one event (oVirt's `DELETE /events/{id}`).
pub(crate) async fn event_delete(c: &mut AnyConnection, id: EventSeq) -> Result<()> {
    let r = sqlx::query("DELETE FROM events WHERE id = $1")
        .bind(id.0)
        .execute(&mut *c)
        .await
        .map_err(StoreError::db("removing an event"))?;
    if r.rows_affected() == 0 {
        return Err(StoreError::not_found("event", id));
    }
    Ok(())
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
    if f.min_severity.is_some() || f.max_severity.is_some() {
        // Severity::ALL is in increasing order.
        let rank = |s: Severity| Severity::ALL.iter().position(|x| *x == s).unwrap_or(0);
        let (low, high) = (f.min_severity.map_or(0, rank), f.max_severity.map_or(usize::MAX, rank));
        let within: Vec<&'static str> = Severity::ALL
            .iter()
            .enumerate()
            .filter(|(i, _)| *i >= low && *i <= high)
            .map(|(_, s)| s.as_str())
            .collect();
        if within.is_empty() {
            return Ok(Vec::new());
        }
        q.and_in("severity", &within);
    }
    if let Some(code) = f.code {
        q.push(" AND code = ").bind(i64::from(code));
    }
    q.eq_opt("vm_id", f.vm_id.map(|id| id.to_string()))
        .eq_opt("host_id", f.host_id.map(|id| id.to_string()))
        .eq_opt("cluster_id", f.cluster_id.map(|id| id.to_string()))
        .eq_opt("data_center_id", f.data_center_id.map(|id| id.to_string()))
        .eq_opt("storage_domain_id", f.storage_domain_id.map(|id| id.to_string()))
        .eq_opt("user_id", f.user_id.map(|id| id.to_string()))
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
