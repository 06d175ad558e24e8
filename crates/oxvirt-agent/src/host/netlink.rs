//! rtnetlink plumbing shared by `host` (reading links) and `network` (changing them).
//!
//! A [`Netlink`] owns one rtnetlink socket and the task that drives it. The socket belongs to
//! the network namespace of the thread that opens it, which is what lets the network tests run
//! this very code inside a private namespace. Dropping it stops the task.

use futures::TryStreamExt as _;
use netlink_packet_route::link::{InfoKind, LinkAttribute, LinkFlags, LinkInfo, LinkMessage};
use rtnetlink::Handle;

/// One rtnetlink connection; must be created inside a tokio runtime.
#[derive(Debug)]
pub(crate) struct Netlink {
    handle: Handle,
    connection: tokio::task::JoinHandle<()>,
}

impl Netlink {
    pub(crate) fn connect() -> std::io::Result<Self> {
        let (connection, handle, _messages) = rtnetlink::new_connection()?;
        Ok(Self { handle, connection: tokio::spawn(connection) })
    }

    pub(crate) fn handle(&self) -> &Handle {
        &self.handle
    }

    /// Every link, in the kernel's (ifindex) order.
    pub(crate) async fn links(&self) -> Result<Vec<LinkMessage>, rtnetlink::Error> {
        self.handle.link().get().execute().try_collect().await
    }

    /// The link named `name`, if there is one.
    pub(crate) async fn link_by_name(&self, name: &str) -> Result<Option<LinkMessage>, rtnetlink::Error> {
        match self.handle.link().get().match_name(name).execute().try_next().await {
            Ok(link) => Ok(link),
            Err(e) if errno(&e) == Some(libc::ENODEV) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

impl Drop for Netlink {
    fn drop(&mut self) {
        self.connection.abort();
    }
}

/// The positive errno of a kernel refusal, if `error` is one.
pub(crate) fn errno(error: &rtnetlink::Error) -> Option<i32> {
    match error {
        rtnetlink::Error::NetlinkError(message) => Some(message.raw_code().abs()).filter(|code| *code != 0),
        _ => None,
    }
}

pub(crate) fn link_name(link: &LinkMessage) -> Option<&str> {
    link.attributes.iter().find_map(|a| match a {
        LinkAttribute::IfName(name) => Some(name.as_str()),
        _ => None,
    })
}

/// The link's kind (`bridge`, `veth`, `bond`, …); `None` for physical NICs and loopback,
/// which the kernel reports without one.
pub(crate) fn link_kind(link: &LinkMessage) -> Option<&InfoKind> {
    link.attributes.iter().find_map(|a| match a {
        LinkAttribute::LinkInfo(infos) => infos.iter().find_map(|i| match i {
            LinkInfo::Kind(kind) => Some(kind),
            _ => None,
        }),
        _ => None,
    })
}

/// What to call a link's kind in messages.
pub(crate) fn link_kind_name(link: &LinkMessage) -> String {
    match link_kind(link) {
        Some(kind) => kind.to_string(),
        None if link.header.flags.contains(LinkFlags::Loopback) => "loopback device".to_owned(),
        None => "network device".to_owned(),
    }
}

pub(crate) fn is_bridge(link: &LinkMessage) -> bool {
    matches!(link_kind(link), Some(InfoKind::Bridge))
}

/// Administratively up (`ip link set … up`), whether or not it has a carrier.
pub(crate) fn is_up(link: &LinkMessage) -> bool {
    link.header.flags.contains(LinkFlags::Up)
}

/// The index of the link this one is enslaved to (bridge, bond), if any.
pub(crate) fn controller(link: &LinkMessage) -> Option<u32> {
    link.attributes.iter().find_map(|a| match a {
        LinkAttribute::Controller(index) => Some(*index),
        _ => None,
    })
}
