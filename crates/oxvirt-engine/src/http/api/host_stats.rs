//! A host's statistics (`/hosts/{id}/statistics`, asked of its agent when requested) and
//! network interfaces (`/hosts/{id}/nics`, from its recorded capabilities).
//!
//! Statistic names, kinds, types and units are oVirt's (`memory.total` is a gauge, an integer,
//! in bytes), so that monitoring scripts written for oVirt read them. The agent reports CPU
//! use as one busy share: it is given as `cpu.current.user` with `cpu.current.system` 0.

use super::*;
use crate::app::HostNicInfo;
use oxvirt_types::HostNicId;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/hosts/{id}/statistics", get(statistic_list))
        .route("/hosts/{id}/statistics/{sid}", get(statistic_get))
        .route("/hosts/{id}/nics", get(nic_list))
        .route("/hosts/{id}/nics/{nid}", get(nic_get))
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
        .find(|s| statistic_id(s.name).to_string() == sid)
        .ok_or_else(|| Failure::new(ErrorKind::NotFound, format!("host {host} has no statistic {sid}")))?;
    Ok(Reply::new(fmt, StatusCode::OK, &statistic_el(host, found)))
}

/// `198.18.1.2/24` → (`198.18.1.2`, `255.255.255.0`, `v4`).
fn ip_el(cidr: &str) -> Option<Element> {
    let (addr, prefix) = cidr.split_once('/').unwrap_or((cidr, ""));
    let ip: std::net::IpAddr = addr.parse().ok()?;
    let mut el = Element::new("ip").text_child("address", addr);
    match ip {
        std::net::IpAddr::V4(_) => {
            if let Ok(p) = prefix.parse::<u32>().map(|p| p.min(32)) {
                let mask = if p == 0 { 0 } else { u32::MAX << (32 - p) };
                el = el.text_child("netmask", std::net::Ipv4Addr::from(mask).to_string());
            }
            Some(el.enum_child("version", "v4"))
        }
        std::net::IpAddr::V6(_) => {
            if !prefix.is_empty() {
                el = el.text_child("netmask", prefix);
            }
            Some(el.enum_child("version", "v6"))
        }
    }
}

fn nic_el(host: HostId, n: &HostNicInfo) -> Element {
    let mut el = Element::new("host_nic")
        .href(sub_href(host, "nics", n.id))
        .id(n.id)
        .text_child("name", &n.name)
        .enum_child("status", if n.up { "up" } else { "down" })
        .bool_child("bridged", n.bridged)
        .enum_child("boot_protocol", if n.addresses.is_empty() { "none" } else { "static" });
    if let Some(mac) = &n.mac {
        el = el.child(Element::new("mac").text_child("address", mac));
    }
    let mut v4 = n.addresses.iter().filter_map(|a| ip_el(a)).filter(|e| e.text("version").as_deref() == Some("v4"));
    if let Some(ip) = v4.next() {
        el = el.child(ip);
    }
    if let Some(ip) = n.addresses.iter().filter_map(|a| ip_el(a)).find(|e| e.text("version").as_deref() == Some("v6")) {
        let mut ip = ip;
        ip.set_name("ipv6");
        el = el.child(ip);
    }
    el.reference_id("host", host).sub_links(&["statistics"])
}

async fn nic_list(
    State(app): State<AppState>,
    Accept(fmt): Accept,
    IdPath(h): IdPath<HostId>,
) -> Result<Reply, Failure> {
    let host: HostId = h;
    let nics = app.host_nics(host).await?;
    Ok(Reply::new(
        fmt,
        StatusCode::OK,
        &Element::collection("host_nics", nics.iter().filter(|n| n.name != "lo").map(|n| nic_el(host, n))),
    ))
}

async fn nic_get(
    State(app): State<AppState>,
    Accept(fmt): Accept,
    IdPath((h, n)): IdPath<(HostId, HostNicId)>,
) -> Result<Reply, Failure> {
    let host: HostId = h;
    let nic = app.host_nic_get(host, n).await?;
    Ok(Reply::new(fmt, StatusCode::OK, &nic_el(host, &nic)))
}
