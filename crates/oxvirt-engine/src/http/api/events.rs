//! The audit log: `/events`, with `from=` for incremental polling; external events added
//! and any event removed.

use super::*;
use crate::app::ExternalEvent;
use oxvirt_engine_db::model::{EventRefs, EventSeq, Severity};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/events", get(event_list).post(event_add))
        .route("/events/{id}", get(event_get).delete(event_remove))
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
        .text_child("origin", e.origin.as_deref().unwrap_or("oVirt"))
        .int_child("custom_id", e.custom_id.unwrap_or(-1));
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
    if let Some(id) = refs.template_id {
        el = el.reference_id("template", id);
    }
    if let Some(id) = refs.user_id {
        el = el.reference_id("user", id);
    }
    el
}

/// An event id in a path: a number; anything else names no event (oVirt's 404).
fn event_seq(id: &Segment) -> Result<EventSeq, Failure> {
    id.as_str()
        .parse::<i64>()
        .map(EventSeq)
        .map_err(|_| Failure::new(ErrorKind::NotFound, format!("event {} does not exist", id.as_str())))
}

impl FromElement for ExternalEvent {
    const ROOT: &'static str = "event";
    fn from_element(el: &Element) -> Result<Self, Failure> {
        let severity = el
            .parsed("severity", "normal, warning, error or alert", Severity::from_wire)?
            .ok_or_else(|| invalid("an external event needs a severity: normal, warning, error or alert"))?;
        let custom_id = el.i64("custom_id")?.ok_or_else(|| {
            invalid("an external event needs a custom_id: the writer's own number for it, unique per origin")
        })?;
        // `flood_rate` 0 asks for no flood protection, which is what the engine does.
        el.accept_default("flood_rate", "0");
        Ok(ExternalEvent {
            description: el.required_text("description")?,
            severity,
            origin: el.required_text("origin")?,
            custom_id,
            correlation_id: el.text("correlation_id"),
            refs: EventRefs {
                vm_id: el.id_of("vm")?,
                host_id: el.id_of("host")?,
                cluster_id: el.id_of("cluster")?,
                data_center_id: el.id_of("data_center")?,
                storage_domain_id: el.id_of("storage_domain")?,
                template_id: el.id_of("template")?,
                user_id: el.id_of("user")?,
            },
        })
    }
}

async fn event_add(
    State(app): State<AppState>,
    Extension(who): Extension<Principal>,
    Accept(fmt): Accept,
    Body(req): Body<ExternalEvent>,
) -> Result<Reply, Failure> {
    Ok(Reply::created(fmt, &app.event_add(&who, req).await?))
}

async fn event_get(
    State(app): State<AppState>,
    Accept(fmt): Accept,
    IdPath(id): IdPath<Segment>,
) -> Result<Reply, Failure> {
    Ok(Reply::ok(fmt, &app.event_get(event_seq(&id)?).await?))
}

async fn event_remove(
    State(app): State<AppState>,
    Extension(who): Extension<Principal>,
    IdPath(id): IdPath<Segment>,
) -> Result<Removed, Failure> {
    app.event_remove(&who, event_seq(&id)?).await?;
    Ok(Removed)
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
