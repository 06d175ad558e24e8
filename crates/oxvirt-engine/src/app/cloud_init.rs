//! oVirt's `initialization` turned into the files of a cloud-init NoCloud data source
//! (`meta-data`, `user-data`, `network-config`), which the VM's host writes onto an ISO and
//! attaches for one run (a run-once start with `use_cloud_init=true`).
//!
//! Why here and not in the agent: this is the business rule (what a host name, a password, a
//! static address mean to the guest); the agent only writes the files. Every value is checked
//! so that a bad one is a 400 naming the field, and written as a YAML double-quoted scalar
//! (JSON string syntax, which YAML reads the same), so no value can break out of its place.
//!
//! Why the password is hashed: the job that starts the VM is persisted (to be recovered after a
//! crash) with what it sends to the host; the root password goes into both only as a SHA-512
//! crypt hash, which cloud-init's `chpasswd` recognises and sets as is.
//!
//! `custom_script` is appended to the generated `#cloud-config` document, as oVirt does: a
//! top-level key it repeats replaces the generated one.

use super::{AppError, Result};
use oxvirt_agent_api::v1;
use oxvirt_types::VmId;
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr};

/// Largest `custom_script` accepted.
pub const MAX_CUSTOM_SCRIPT_BYTES: usize = 64 * 1024;

/// oVirt's `initialization`, the fields oxvirt honours.
#[derive(Debug, Clone, Default)]
pub struct Initialization {
    pub host_name: Option<String>,
    /// The account `root_password` and `authorized_ssh_keys` are for; `root` when not given.
    pub user_name: Option<String>,
    pub root_password: Option<String>,
    /// Public keys, one per line.
    pub authorized_ssh_keys: Option<String>,
    pub regenerate_ssh_keys: Option<bool>,
    pub timezone: Option<String>,
    /// Name servers, separated by spaces (oVirt's format).
    pub dns_servers: Option<String>,
    /// Search domains, separated by spaces.
    pub dns_search: Option<String>,
    pub nic_configurations: Vec<NicConfiguration>,
    pub custom_script: Option<String>,
}

/// How a guest NIC gets its IPv4 address (oVirt's `boot_protocol`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BootProtocol {
    Dhcp,
    Static,
    /// No address.
    None,
}

impl BootProtocol {
    pub fn from_wire(text: &str) -> Option<Self> {
        match text {
            "dhcp" => Some(Self::Dhcp),
            "static" => Some(Self::Static),
            "none" => Some(Self::None),
            _ => None,
        }
    }
}

/// One guest NIC's configuration (oVirt's `nic_configuration`).
#[derive(Debug, Clone)]
pub struct NicConfiguration {
    /// The guest's interface name (`eth0`).
    pub name: String,
    /// Brought up at boot (`true` when not given).
    pub on_boot: Option<bool>,
    pub boot_protocol: Option<BootProtocol>,
    pub address: Option<String>,
    pub netmask: Option<String>,
    pub gateway: Option<String>,
}

fn invalid(vm: &str, field: &str, why: impl std::fmt::Display) -> AppError {
    AppError::InvalidInput(format!("VM {vm}: initialization.{field} {why}"))
}

/// A YAML double-quoted scalar (JSON's string syntax).
fn quoted(text: &str) -> String {
    serde_json::Value::String(text.to_owned()).to_string()
}

fn host_name_check(vm: &str, name: &str) -> Result<()> {
    let labels_ok = name.split('.').all(|l| {
        !l.is_empty()
            && l.len() <= 63
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    });
    if name.len() > 253 || !labels_ok {
        return Err(invalid(
            vm,
            "host_name",
            format!("'{}' is not a host name (letters, digits, '-', dots)", name.escape_debug()),
        ));
    }
    Ok(())
}

fn user_name_check(vm: &str, name: &str) -> Result<()> {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase() || c == '_');
    if !first_ok || name.len() > 32 || !chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_-".contains(c))
    {
        return Err(invalid(
            vm,
            "user_name",
            format!("'{}' is not a user name (lowercase letters, digits, '_', '-'; at most 32)", name.escape_debug()),
        ));
    }
    Ok(())
}

fn ip_check(vm: &str, field: &str, text: &str) -> Result<IpAddr> {
    text.trim()
        .parse::<IpAddr>()
        .map_err(|_| invalid(vm, field, format!("'{}' is not an IP address", text.escape_debug())))
}

/// A netmask as a dotted IPv4 mask or a prefix length; returns the prefix length.
fn netmask_prefix(vm: &str, field: &str, text: &str) -> Result<u8> {
    let text = text.trim();
    if let Ok(prefix) = text.parse::<u8>() {
        if prefix <= 32 {
            return Ok(prefix);
        }
    } else if let Ok(mask) = text.parse::<Ipv4Addr>() {
        let bits = u32::from(mask);
        if bits.leading_ones() + bits.trailing_zeros() == 32 {
            return Ok(bits.leading_ones() as u8);
        }
    }
    Err(invalid(vm, field, format!("'{}' is not a netmask (255.255.255.0 or 24)", text.escape_debug())))
}

/// The NoCloud files for `init` on VM `vm_id` (named `vm`).
pub fn cloud_init_build(vm_id: VmId, vm: &str, init: &Initialization) -> Result<v1::CloudInit> {
    let mut meta = format!("instance-id: {}\n", quoted(&vm_id.to_string()));
    let mut user = String::from("#cloud-config\n# written by oxvirt from the VM's initialization\n");
    if let Some(host) = init.host_name.as_deref().filter(|h| !h.is_empty()) {
        host_name_check(vm, host)?;
        let short = host.split('.').next().unwrap_or(host);
        let _ = writeln!(meta, "local-hostname: {}", quoted(host));
        let _ = writeln!(user, "hostname: {}", quoted(short));
        if host.contains('.') {
            let _ = writeln!(user, "fqdn: {}", quoted(host));
        }
    }
    let account = init.user_name.as_deref().filter(|u| !u.is_empty()).unwrap_or("root");
    user_name_check(vm, account)?;
    let keys: Vec<&str> = init
        .authorized_ssh_keys
        .as_deref()
        .unwrap_or_default()
        .lines()
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .collect();
    if let Some(k) = keys.iter().find(|k| k.chars().any(char::is_control)) {
        return Err(invalid(
            vm,
            "authorized_ssh_keys",
            format!("has a line with control characters: {}", k.escape_debug()),
        ));
    }
    let key_list = || keys.iter().map(|k| quoted(k)).collect::<Vec<_>>().join(", ");
    if account == "root" {
        user.push_str("disable_root: false\n");
        if !keys.is_empty() {
            let _ = writeln!(user, "ssh_authorized_keys: [{}]", key_list());
        }
    } else {
        let _ = writeln!(user, "users:\n  - default\n  - name: {}\n    lock_passwd: false", quoted(account));
        if !keys.is_empty() {
            let _ = writeln!(user, "    ssh_authorized_keys: [{}]", key_list());
        }
    }
    if let Some(password) = init.root_password.as_deref().filter(|p| !p.is_empty()) {
        if password.chars().any(char::is_control) {
            return Err(invalid(vm, "root_password", "contains control characters"));
        }
        let hash = password_hash(password)?;
        user.push_str("ssh_pwauth: true\n");
        let _ = writeln!(user, "chpasswd:\n  expire: false\n  list: {}", quoted(&format!("{account}:{hash}")));
    }
    if init.regenerate_ssh_keys == Some(true) {
        user.push_str("ssh_deletekeys: true\n");
    }
    if let Some(tz) = init.timezone.as_deref().filter(|t| !t.is_empty()) {
        if tz.len() > 64 || !tz.chars().all(|c| c.is_ascii_alphanumeric() || "/_+-".contains(c)) {
            return Err(invalid(
                vm,
                "timezone",
                format!("'{}' is not a time zone (such as Europe/Paris)", tz.escape_debug()),
            ));
        }
        let _ = writeln!(user, "timezone: {}", quoted(tz));
    }
    if let Some(script) = init.custom_script.as_deref().filter(|s| !s.trim().is_empty()) {
        if script.len() > MAX_CUSTOM_SCRIPT_BYTES {
            return Err(invalid(vm, "custom_script", format!("is longer than {MAX_CUSTOM_SCRIPT_BYTES} bytes")));
        }
        user.push_str("# initialization.custom_script\n");
        user.push_str(script.strip_prefix("#cloud-config\n").unwrap_or(script));
        if !script.ends_with('\n') {
            user.push('\n');
        }
    }
    Ok(v1::CloudInit { meta_data: meta, user_data: user, network_config: network_config(vm, init)? })
}

/// cloud-init's network configuration (version 1) for the NICs and name servers given.
fn network_config(vm: &str, init: &Initialization) -> Result<Option<String>> {
    let words = |text: &Option<String>| -> Vec<String> {
        text.as_deref().unwrap_or_default().split([' ', ',']).filter(|w| !w.is_empty()).map(str::to_owned).collect()
    };
    let servers = words(&init.dns_servers);
    let search = words(&init.dns_search);
    if init.nic_configurations.is_empty() && servers.is_empty() && search.is_empty() {
        return Ok(None);
    }
    let mut out = String::from("version: 1\nconfig:\n");
    let mut names = std::collections::BTreeSet::new();
    for (i, nic) in init.nic_configurations.iter().enumerate() {
        let field = |f: &str| format!("nic_configurations[{i}].{f}");
        let name = nic.name.as_str();
        if name.is_empty() || name.len() > 15 || !name.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)) {
            return Err(invalid(
                vm,
                &field("name"),
                format!("'{}' is not an interface name (such as eth0)", name.escape_debug()),
            ));
        }
        if !names.insert(name) {
            return Err(invalid(vm, &field("name"), format!("{name} is configured twice")));
        }
        let protocol =
            nic.boot_protocol.unwrap_or(if nic.address.is_some() { BootProtocol::Static } else { BootProtocol::Dhcp });
        let control = if nic.on_boot.unwrap_or(true) { "auto" } else { "manual" };
        let _ = writeln!(out, "  - type: physical\n    name: {}\n    subnets:", quoted(name));
        match protocol {
            BootProtocol::Static => {
                let Some(address) = &nic.address else {
                    return Err(invalid(vm, &field("ip.address"), "is needed with boot_protocol static"));
                };
                let address = ip_check(vm, &field("ip.address"), address)?;
                if !address.is_ipv4() {
                    return Err(invalid(vm, &field("ip.address"), "is an IPv6 address; ip carries IPv4 (use ipv6)"));
                }
                let prefix = match &nic.netmask {
                    Some(mask) => netmask_prefix(vm, &field("ip.netmask"), mask)?,
                    None => return Err(invalid(vm, &field("ip.netmask"), "is needed with boot_protocol static")),
                };
                let _ = writeln!(
                    out,
                    "      - type: static\n        address: {}\n        control: {control}",
                    quoted(&format!("{address}/{prefix}"))
                );
                if let Some(gw) = &nic.gateway {
                    let gw = ip_check(vm, &field("ip.gateway"), gw)?;
                    let _ = writeln!(out, "        gateway: {}", quoted(&gw.to_string()));
                }
            }
            BootProtocol::Dhcp | BootProtocol::None => {
                if nic.address.is_some() || nic.netmask.is_some() || nic.gateway.is_some() {
                    return Err(invalid(vm, &field("ip"), "is only used with boot_protocol static"));
                }
                let kind = if protocol == BootProtocol::Dhcp { "dhcp" } else { "manual" };
                let _ = writeln!(out, "      - type: {kind}\n        control: {control}");
            }
        }
    }
    if !servers.is_empty() || !search.is_empty() {
        for s in &servers {
            ip_check(vm, "dns_servers", s)?;
        }
        for d in &search {
            host_name_check(vm, d)
                .map_err(|_| invalid(vm, "dns_search", format!("'{}' is not a domain name", d.escape_debug())))?;
        }
        let list = |items: &[String]| items.iter().map(|s| quoted(s)).collect::<Vec<_>>().join(", ");
        let _ =
            writeln!(out, "  - type: nameserver\n    address: [{}]\n    search: [{}]", list(&servers), list(&search));
    }
    Ok(Some(out))
}

fn password_hash(password: &str) -> Result<String> {
    use sha_crypt::{PasswordHasher as _, ShaCrypt};
    ShaCrypt::default()
        .hash_password(password.as_bytes())
        .map(|h| h.as_str().to_owned())
        .map_err(|e| AppError::Worker(format!("cannot hash the initialization's password: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nic(name: &str) -> NicConfiguration {
        NicConfiguration {
            name: name.into(),
            on_boot: Some(true),
            boot_protocol: Some(BootProtocol::Static),
            address: Some("192.168.0.100".into()),
            netmask: Some("255.255.255.0".into()),
            gateway: Some("192.168.0.1".into()),
        }
    }

    #[test]
    fn cloud_init_build_writes_what_the_initialization_says() {
        let id = VmId::new_random();
        let init = Initialization {
            host_name: Some("myvm.example.com".into()),
            user_name: Some("root".into()),
            root_password: Some("redhat123".into()),
            dns_servers: Some("192.168.0.1 192.168.0.2".into()),
            dns_search: Some("example.com".into()),
            nic_configurations: vec![nic("eth0")],
            custom_script: Some("write_files:\n  - path: /tmp/x\n".into()),
            ..Initialization::default()
        };
        let ci = cloud_init_build(id, "vm1", &init).expect("built");
        assert_eq!(ci.meta_data, format!("instance-id: \"{id}\"\nlocal-hostname: \"myvm.example.com\"\n"));
        assert!(ci.user_data.starts_with("#cloud-config\n"), "{}", ci.user_data);
        assert!(ci.user_data.contains("hostname: \"myvm\"\nfqdn: \"myvm.example.com\"\n"), "{}", ci.user_data);
        assert!(ci.user_data.contains("list: \"root:$6$"), "{}", ci.user_data);
        assert!(!ci.user_data.contains("redhat123"), "the password must not be in clear: {}", ci.user_data);
        assert!(ci.user_data.ends_with("write_files:\n  - path: /tmp/x\n"), "{}", ci.user_data);
        let net = ci.network_config.expect("network config");
        assert!(net.contains("address: \"192.168.0.100/24\""), "{net}");
        assert!(net.contains("gateway: \"192.168.0.1\""), "{net}");
        assert!(net.contains("address: [\"192.168.0.1\", \"192.168.0.2\"]\n    search: [\"example.com\"]"), "{net}");
    }

    #[test]
    fn cloud_init_build_refuses_values_naming_the_field() {
        let id = VmId::new_random();
        let bad = |init: Initialization, field: &str| {
            let err = cloud_init_build(id, "vm1", &init).expect_err("refused").to_string();
            assert!(err.contains(&format!("initialization.{field}")), "{err}");
        };
        bad(Initialization { host_name: Some("a b".into()), ..Default::default() }, "host_name");
        bad(Initialization { user_name: Some("Root\"".into()), ..Default::default() }, "user_name");
        bad(Initialization { timezone: Some("x\ny".into()), ..Default::default() }, "timezone");
        bad(Initialization { dns_servers: Some("not-an-ip".into()), ..Default::default() }, "dns_servers");
        let mut n = nic("eth0");
        n.netmask = Some("255.0.255.0".into());
        bad(Initialization { nic_configurations: vec![n], ..Default::default() }, "nic_configurations[0].ip.netmask");
        let mut n = nic("eth0");
        n.boot_protocol = Some(BootProtocol::Dhcp);
        bad(Initialization { nic_configurations: vec![n], ..Default::default() }, "nic_configurations[0].ip");
        bad(
            Initialization { nic_configurations: vec![nic("eth0"), nic("eth0")], ..Default::default() },
            "nic_configurations[1].name",
        );
    }

    #[test]
    fn quoted_values_cannot_leave_their_scalar() {
        let ci = cloud_init_build(
            VmId::new_random(),
            "vm1",
            &Initialization {
                authorized_ssh_keys: Some("ssh-ed25519 AAA\" ]\nruncmd: [x]".into()),
                ..Default::default()
            },
        )
        .expect("built");
        assert!(
            ci.user_data.contains(r#"ssh_authorized_keys: ["ssh-ed25519 AAA\" ]", "runcmd: [x]"]"#),
            "{}",
            ci.user_data
        );
    }
}
