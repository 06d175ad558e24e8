//! Host networking: the Linux bridges that carry logical networks.
//!
//! A VM NIC's logical network is, on the host, a Linux bridge of the same name; the agent
//! calls [`bridge_ensure`] for each before it starts a VM, and libvirt plugs the VM's tap
//! device into it.
//!
//! Why it is built this way:
//! - rtnetlink, never `ip`: the kernel's answers come back as error numbers and typed
//!   attributes instead of text to scrape, and the code runs in whatever network namespace
//!   its thread is in (which is how the tests stay off the machine's network).
//! - Deliberately small and conservative. [`bridge_ensure`] only creates an empty bridge and
//!   sets it up. It never enslaves a physical NIC, never moves addresses and never touches a
//!   link that is not a bridge: attaching the host's uplink is the host's network
//!   configuration (oVirt's setupNetworks), and a wrong move there cuts the host off. A name
//!   already used by something else is a conflict for the administrator to resolve.
//! - [`bridge_delete`] refuses bridges that still have ports, for the same reason.

use crate::host::netlink::{self, Netlink};
use oxvirt_types::ErrorKind;
use rtnetlink::{LinkBridge, LinkUnspec};

/// What [`bridge_ensure`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BridgeOutcome {
    Created,
    Existed,
}

/// Why a bridge operation failed; nothing was changed unless the message says so.
#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    #[error("'{name}' cannot be a bridge name: {reason}")]
    InvalidName { name: String, reason: &'static str },
    #[error(
        "network interface '{name}' already exists and is a {kind}, not a bridge; oxvirt leaves it alone: \
         rename it, or give the logical network another name"
    )]
    NotABridge { name: String, kind: String },
    #[error(
        "the name '{name}' is taken by another network interface (as an alternative name?); \
         give the logical network another name"
    )]
    NameTaken { name: String },
    #[error("bridge '{name}' still has ports ({}): detach them first", .ports.join(", "))]
    BridgeInUse { name: String, ports: Vec<String> },
    #[error("there is no bridge named '{name}'")]
    NotFound { name: String },
    #[error("cannot open a netlink socket to manage bridges: {0}")]
    Connect(#[source] std::io::Error),
    #[error("the kernel refused to {action} '{name}': {source}{}", permission_hint(.source))]
    Kernel {
        action: &'static str,
        name: String,
        #[source]
        source: rtnetlink::Error,
    },
}

impl NetworkError {
    /// How the API layer should classify this failure.
    pub fn kind(&self) -> ErrorKind {
        match self {
            NetworkError::InvalidName { .. } => ErrorKind::InvalidInput,
            NetworkError::NotABridge { .. } | NetworkError::NameTaken { .. } | NetworkError::BridgeInUse { .. } => {
                ErrorKind::Conflict
            }
            NetworkError::NotFound { .. } => ErrorKind::NotFound,
            NetworkError::Connect(_) => ErrorKind::Unavailable,
            NetworkError::Kernel { source, .. } => match netlink::errno(source) {
                Some(libc::EPERM | libc::EACCES) => ErrorKind::Unavailable,
                _ => ErrorKind::Internal,
            },
        }
    }
}

fn permission_hint(error: &rtnetlink::Error) -> &'static str {
    match netlink::errno(error) {
        Some(libc::EPERM | libc::EACCES) => " (the agent needs CAP_NET_ADMIN: run it as root)",
        _ => "",
    }
}

/// Checks a bridge name against the kernel's rules for interface names: 1 to 15 bytes, not
/// `.` or `..`, no `/`, `:`, whitespace or control characters.
pub fn validate_bridge_name(name: &str) -> Result<(), NetworkError> {
    /// `IFNAMSIZ` (16) minus the terminating NUL.
    const MAX_LEN: usize = 15;
    let invalid = |reason| Err(NetworkError::InvalidName { name: name.to_owned(), reason });
    if name.is_empty() {
        return invalid("it is empty");
    }
    if name.len() > MAX_LEN {
        return invalid("it is longer than 15 bytes (the kernel's limit for interface names)");
    }
    if name == "." || name == ".." {
        return invalid("'.' and '..' are not interface names");
    }
    if name.contains('/') {
        return invalid("it contains '/'");
    }
    if name.contains(':') {
        return invalid("it contains ':' (reserved for interface aliases)");
    }
    if name.chars().any(char::is_whitespace) {
        return invalid("it contains whitespace");
    }
    if name.chars().any(char::is_control) {
        return invalid("it contains control characters");
    }
    Ok(())
}

/// Makes sure a Linux bridge named `name` exists and is up; creates it (empty) if missing.
/// A link of that name that is not a bridge is a [`NetworkError::NotABridge`] conflict and is
/// left untouched.
pub async fn bridge_ensure(name: &str) -> Result<BridgeOutcome, NetworkError> {
    validate_bridge_name(name)?;
    let netlink = Netlink::connect().map_err(NetworkError::Connect)?;
    if let Some(link) = lookup(&netlink, name).await? {
        bridge_up(&netlink, name, &link).await?;
        return Ok(BridgeOutcome::Existed);
    }
    match netlink.handle().link().add(LinkBridge::new(name).build()).execute().await {
        Ok(()) => {
            tracing::info!(bridge = name, "created bridge");
        }
        // Someone else created it between our look and our creation: judge what is there now.
        Err(e) if netlink::errno(&e) == Some(libc::EEXIST) => {
            let link =
                lookup(&netlink, name).await?.ok_or_else(|| NetworkError::NameTaken { name: name.to_owned() })?;
            bridge_up(&netlink, name, &link).await?;
            return Ok(BridgeOutcome::Existed);
        }
        Err(source) => return Err(NetworkError::Kernel { action: "create bridge", name: name.to_owned(), source }),
    }
    // The creation asked for the bridge up; check rather than trust it.
    let link = lookup(&netlink, name).await?.ok_or_else(|| NetworkError::NotFound { name: name.to_owned() })?;
    bridge_up(&netlink, name, &link).await?;
    Ok(BridgeOutcome::Created)
}

/// Whether a bridge named `name` exists. A link of that name that is not a bridge gives
/// `false` (and [`bridge_ensure`] would refuse it).
pub async fn bridge_exists(name: &str) -> Result<bool, NetworkError> {
    validate_bridge_name(name)?;
    let netlink = Netlink::connect().map_err(NetworkError::Connect)?;
    let link = netlink.link_by_name(name).await.map_err(|source| NetworkError::Kernel {
        action: "look up",
        name: name.to_owned(),
        source,
    })?;
    Ok(link.as_ref().is_some_and(netlink::is_bridge))
}

/// Deletes the bridge `name`. Refuses a link that is not a bridge, and a bridge that still has
/// ports (a VM's tap device or, worse, the host's uplink).
pub async fn bridge_delete(name: &str) -> Result<(), NetworkError> {
    validate_bridge_name(name)?;
    let netlink = Netlink::connect().map_err(NetworkError::Connect)?;
    let link = lookup(&netlink, name).await?.ok_or_else(|| NetworkError::NotFound { name: name.to_owned() })?;
    let index = link.header.index;
    let ports: Vec<String> = netlink
        .links()
        .await
        .map_err(|source| NetworkError::Kernel { action: "list the ports of bridge", name: name.to_owned(), source })?
        .iter()
        .filter(|l| netlink::controller(l) == Some(index))
        .filter_map(|l| netlink::link_name(l).map(str::to_owned))
        .collect();
    if !ports.is_empty() {
        return Err(NetworkError::BridgeInUse { name: name.to_owned(), ports });
    }
    match netlink.handle().link().del(index).execute().await {
        Ok(()) => {
            tracing::info!(bridge = name, "deleted bridge");
            Ok(())
        }
        Err(e) if netlink::errno(&e) == Some(libc::ENODEV) => Err(NetworkError::NotFound { name: name.to_owned() }),
        Err(source) => Err(NetworkError::Kernel { action: "delete bridge", name: name.to_owned(), source }),
    }
}

/// The bridge named `name`; a non-bridge of that name is a conflict.
async fn lookup(
    netlink: &Netlink,
    name: &str,
) -> Result<Option<netlink_packet_route::link::LinkMessage>, NetworkError> {
    let link = netlink.link_by_name(name).await.map_err(|source| NetworkError::Kernel {
        action: "look up",
        name: name.to_owned(),
        source,
    })?;
    match link {
        Some(link) if !netlink::is_bridge(&link) => {
            Err(NetworkError::NotABridge { name: name.to_owned(), kind: netlink::link_kind_name(&link) })
        }
        other => Ok(other),
    }
}

/// Sets the bridge administratively up if it is not.
async fn bridge_up(
    netlink: &Netlink,
    name: &str,
    link: &netlink_packet_route::link::LinkMessage,
) -> Result<(), NetworkError> {
    if netlink::is_up(link) {
        return Ok(());
    }
    netlink
        .handle()
        .link()
        .change(LinkUnspec::new_with_index(link.header.index).up().build())
        .execute()
        .await
        .map_err(|source| NetworkError::Kernel { action: "set up bridge", name: name.to_owned(), source })?;
    tracing::info!(bridge = name, "set bridge up");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_names_pass() {
        for name in ["ovirtmgmt", "br0", "a", "net-1_2.x", "fifteen-bytes-x"] {
            assert!(validate_bridge_name(name).is_ok(), "{name}");
        }
    }

    #[test]
    fn invalid_names_are_invalid_input_naming_the_problem() {
        for (name, why) in [
            ("", "empty"),
            ("sixteen-bytes-xx", "15 bytes"),
            ("é-is-two-bytes-", "15 bytes"),
            (".", "'.'"),
            ("..", "'.'"),
            ("a/b", "'/'"),
            ("eth0:1", "':'"),
            ("a b", "whitespace"),
            ("a\tb", "whitespace"),
            ("a\u{7}b", "control"),
        ] {
            let err = validate_bridge_name(name).expect_err(name);
            assert_eq!(err.kind(), ErrorKind::InvalidInput, "{name}");
            assert!(err.to_string().contains(why), "{name}: {err}");
        }
    }

    #[test]
    fn conflicts_and_missing_bridges_have_their_kinds() {
        let not_a_bridge = NetworkError::NotABridge { name: "eth0".into(), kind: "veth".into() };
        assert_eq!(not_a_bridge.kind(), ErrorKind::Conflict);
        assert!(not_a_bridge.to_string().contains("'eth0' already exists and is a veth"), "{not_a_bridge}");
        let in_use = NetworkError::BridgeInUse { name: "br0".into(), ports: vec!["eth0".into(), "vnet1".into()] };
        assert_eq!(in_use.kind(), ErrorKind::Conflict);
        assert!(in_use.to_string().contains("(eth0, vnet1)"), "{in_use}");
        assert_eq!(NetworkError::NotFound { name: "x".into() }.kind(), ErrorKind::NotFound);
    }
}
