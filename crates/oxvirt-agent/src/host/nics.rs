//! The host's network interfaces and bridges, read over rtnetlink.
//!
//! The contract's [`HostNic`] has no "kind": the engine tells bridges from other links by
//! the capabilities' `bridges` list, which [`bridges`] fills from the same dump. [`links`]
//! keeps the kind for callers inside the agent.

use super::HostError;
use super::netlink::{self, Netlink};
use futures::TryStreamExt as _;
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{LinkAttribute, LinkMessage};
use oxvirt_agent_api::v1::HostNic;
use std::collections::BTreeMap;
use std::net::IpAddr;

/// A link as the agent sees it: the contract's view plus the kernel's kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostLink {
    pub nic: HostNic,
    /// The kernel's link kind (`bridge`, `veth`, `bond`, `tun`, …); `None` for physical NICs
    /// and loopback.
    pub kind: Option<String>,
}

impl HostLink {
    pub fn is_bridge(&self) -> bool {
        self.kind.as_deref() == Some("bridge")
    }
}

/// Every link of the host (in the caller's network namespace), in ifindex order, with its
/// addresses in CIDR notation and the bridge it is enslaved to.
pub async fn links() -> Result<Vec<HostLink>, HostError> {
    let netlink = Netlink::connect().map_err(HostError::NetlinkConnect)?;
    let links = netlink.links().await.map_err(|source| HostError::Netlink { what: "list links", source })?;
    let addresses: Vec<AddressMessage> = netlink
        .handle()
        .address()
        .get()
        .execute()
        .try_collect()
        .await
        .map_err(|source| HostError::Netlink { what: "list addresses", source })?;
    Ok(describe(&links, &addresses))
}

/// Every network interface of the host, bridges included (see [`bridges`] to tell them apart).
pub async fn nics() -> Result<Vec<HostNic>, HostError> {
    Ok(links().await?.into_iter().map(|link| link.nic).collect())
}

/// Names of the host's Linux bridges.
pub async fn bridges() -> Result<Vec<String>, HostError> {
    let netlink = Netlink::connect().map_err(HostError::NetlinkConnect)?;
    let links = netlink.links().await.map_err(|source| HostError::Netlink { what: "list links", source })?;
    Ok(links.iter().filter(|l| netlink::is_bridge(l)).filter_map(netlink::link_name).map(str::to_owned).collect())
}

fn describe(links: &[LinkMessage], addresses: &[AddressMessage]) -> Vec<HostLink> {
    let mut cidrs: BTreeMap<u32, Vec<String>> = BTreeMap::new();
    for address in addresses {
        if let Some(cidr) = cidr(address) {
            cidrs.entry(address.header.index).or_default().push(cidr);
        }
    }
    let bridge_names: BTreeMap<u32, &str> = links
        .iter()
        .filter(|l| netlink::is_bridge(l))
        .filter_map(|l| Some((l.header.index, netlink::link_name(l)?)))
        .collect();
    links
        .iter()
        .filter_map(|link| {
            let name = netlink::link_name(link)?.to_owned();
            let nic = HostNic {
                name,
                mac: mac(link),
                addresses: cidrs.remove(&link.header.index).unwrap_or_default(),
                up: netlink::is_up(link),
                bridge: netlink::controller(link)
                    .and_then(|index| bridge_names.get(&index))
                    .map(|name| (*name).to_owned()),
            };
            Some(HostLink { nic, kind: netlink::link_kind(link).map(ToString::to_string) })
        })
        .collect()
}

/// The link's hardware address as `aa:bb:…`; `None` if it has none or it is all zeros
/// (loopback).
fn mac(link: &LinkMessage) -> Option<String> {
    let bytes = link.attributes.iter().find_map(|a| match a {
        LinkAttribute::Address(bytes) => Some(bytes),
        _ => None,
    })?;
    if bytes.iter().all(|b| *b == 0) {
        return None;
    }
    Some(bytes.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":"))
}

/// `192.0.2.1/24`. For IPv4 point-to-point links the local end is `IFA_LOCAL` (`IFA_ADDRESS`
/// is the peer), so the local address wins when present.
fn cidr(address: &AddressMessage) -> Option<String> {
    let mut local: Option<IpAddr> = None;
    let mut other: Option<IpAddr> = None;
    for attribute in &address.attributes {
        match attribute {
            AddressAttribute::Local(ip) => local = Some(*ip),
            AddressAttribute::Address(ip) => other = Some(*ip),
            _ => {}
        }
    }
    local.or(other).map(|ip| format!("{ip}/{}", address.header.prefix_len))
}
