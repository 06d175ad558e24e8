//! The audit log: `/events`, with `from=` for incremental polling.

use super::*;

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/events", get(event_list))
}

to_element!(oxvirt_engine_db::model::Event, "events", event_el);

fn event_el(e: &oxvirt_engine_db::model::Event) -> Element {
    let mut el = Element::new("event")
        .href(api_href(&format!("events/{}", e.id)))
        .id(e.id)
        .text_child("description", &e.description)
        .int_child("code", e.code)
        .enum_child("severity", e.severity.as_str())
        .date_child(
            "time",
            std::time::UNIX_EPOCH + std::time::Duration::from_millis(u64::try_from(e.time.0).unwrap_or(0)),
        )
        .text_child("origin", "oVirt");
    if let Some(c) = &e.correlation_id {
        el = el.text_child("correlation_id", c);
    }
    let refs = &e.refs;
    if let Some(id) = refs.data_center_id {
        el = el.reference_id("data_center", id);
    }
    if let Some(id) = refs.cluster_id {
        el = el.reference_id("cluster", id);
    }
    if let Some(id) = refs.host_id {
        el = el.reference_id("host", id);
    }
    if let Some(id) = refs.vm_id {
        el = el.reference_id("vm", id);
    }
    if let Some(id) = refs.storage_domain_id {
        el = el.reference_id("storage_domain", id);
    }
    if let Some(id) = refs.user_id {
        el = el.reference_id("user", id);
    }
    el
}

async fn event_list(
    State(app): State<AppState>,
    Accept(fmt): Accept,
    Params(p): Params<EventParams>,
) -> Result<Reply, Failure> {
    let from = match p.from.as_deref() {
        None => None,
        Some(f) => Some(f.parse::<i64>().map_err(|_| {
            Failure::new(ErrorKind::InvalidInput, format!("from must be an event id (a number), not '{f}'"))
        })?),
    };
    let events = app.event_list(from, &p.list.query()?).await?;
    Ok(Reply::list(fmt, &events))
}
