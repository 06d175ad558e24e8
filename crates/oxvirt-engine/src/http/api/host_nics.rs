//! A host's network interfaces (`/hosts/{id}/nics`), from its agent's capabilities.

use super::*;
use crate::app::HostNicInfo;
use oxvirt_types::HostNicId;

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/hosts/{id}/nics", get(nic_list)).route("/hosts/{id}/nics/{nid}", get(nic_get))
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
