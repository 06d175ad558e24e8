//! A host's statistics (`/hosts/{id}/statistics`), asked of its agent on every request.

use super::*;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/hosts/{id}/statistics", get(statistic_list))
        .route("/hosts/{id}/statistics/{sid}", get(statistic_get))
}

enum Datum {
    Integer(u64),
    Decimal(f64),
}

struct Statistic {
    name: &'static str,
    description: &'static str,
    unit: &'static str,
    datum: Datum,
}

fn statistics(s: &oxvirt_agent_api::v1::HostStats) -> Vec<Statistic> {
    let busy = s.cpu_usage_percent.clamp(0.0, 100.0);
    let int =
        |name, description, value: u64| Statistic { name, description, unit: "bytes", datum: Datum::Integer(value) };
    let pct =
        |name, description, value: f64| Statistic { name, description, unit: "percent", datum: Datum::Decimal(value) };
    vec![
        int("memory.total", "Total memory", s.memory_total.bytes()),
        int("memory.used", "Used memory", s.memory_used.bytes()),
        int("memory.free", "Free memory", s.memory_free.bytes()),
        pct("cpu.current.user", "User CPU usage", busy),
        pct("cpu.current.system", "System CPU usage", 0.0),
        pct("cpu.current.idle", "Idle CPU usage", 100.0 - busy),
    ]
}

fn statistic_id(name: &str) -> uuid::Uuid {
    crate::app::stable_uuid(&[b"host statistic", name.as_bytes()])
}

fn statistic_el(host: HostId, s: &Statistic) -> Element {
    let sid = statistic_id(s.name);
    let (value_type, datum) = match s.datum {
        Datum::Integer(v) => ("integer", Element::new("datum").value(oxvirt_ovirt::Value::Integer(v.into()))),
        Datum::Decimal(v) => ("decimal", Element::new("datum").value(oxvirt_ovirt::Value::Decimal(v))),
    };
    Element::new("statistic")
        .href(sub_href(host, "statistics", sid))
        .id(sid)
        .text_child("name", s.name)
        .text_child("description", s.description)
        .enum_child("kind", "gauge")
        .enum_child("type", value_type)
        .enum_child("unit", s.unit)
        .list_child("values", [Element::new("value").child(datum)])
        .reference_id("host", host)
}

async fn statistic_list(
    State(app): State<AppState>,
    Accept(fmt): Accept,
    IdPath(h): IdPath<HostId>,
) -> Result<Reply, Failure> {
    let host: HostId = h;
    let stats = statistics(&app.host_stats(host).await?);
    Ok(Reply::new(fmt, StatusCode::OK, &Element::collection("statistics", stats.iter().map(|s| statistic_el(host, s)))))
}

async fn statistic_get(
    State(app): State<AppState>,
    Accept(fmt): Accept,
    IdPath((h, sid)): IdPath<(HostId, Segment)>,
) -> Result<Reply, Failure> {
    let host: HostId = h;
    let stats = statistics(&app.host_stats(host).await?);
    let found = stats
        .iter()
        .find(|s| statistic_id(s.name).to_string() == sid.as_str())
        .ok_or_else(|| Failure::new(ErrorKind::NotFound, format!("host {host} has no statistic {sid}")))?;
    Ok(Reply::new(fmt, StatusCode::OK, &statistic_el(host, found)))
}
