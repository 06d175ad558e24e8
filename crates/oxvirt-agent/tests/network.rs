//! `network` against the real kernel, inside private network namespaces: each test makes its
//! own (`oxvirt-nettest-<pid>-<n>`), runs the product code in a thread that has entered it,
//! and deletes it on drop — also when the test fails. The machine's network is never touched;
//! tests check that too.

use oxvirt_agent::host;
use oxvirt_agent::network::{self, BridgeOutcome, NetworkError};
use oxvirt_types::ErrorKind;
use std::future::Future;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

const NETNS_PREFIX: &str = "oxvirt-nettest-";
const NETNS_DIR: &str = "/var/run/netns";

/// A private network namespace, deleted on drop.
#[derive(Debug)]
struct Netns {
    name: String,
}

impl Netns {
    fn create() -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        sweep_stale_namespaces();
        let name = format!("{NETNS_PREFIX}{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        ip(&["netns", "add", &name]);
        Self { name }
    }

    fn path(&self) -> PathBuf {
        PathBuf::from(NETNS_DIR).join(&self.name)
    }

    /// Runs `make()`'s future to completion on a fresh thread that has entered this namespace,
    /// with a current-thread runtime, so that every netlink socket it opens is the namespace's.
    /// A panic inside is re-raised here.
    fn run<T, F, Fut>(&self, make: F) -> T
    where
        T: Send + 'static,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = T>,
    {
        let path = self.path();
        let thread = std::thread::spawn(move || {
            enter_netns(&path);
            let runtime =
                tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime in the netns");
            runtime.block_on(make())
        });
        thread.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    }

    /// `ip -n <ns> …`, which must succeed; returns stdout.
    fn ip(&self, args: &[&str]) -> String {
        let mut all = vec!["-n", &self.name];
        all.extend_from_slice(args);
        ip(&all)
    }

    /// `ip -n <ns> -d link show <name>`, or `None` if there is no such link.
    fn link_details(&self, name: &str) -> Option<String> {
        let out = Command::new("ip").args(["-n", &self.name, "-d", "link", "show", name]).output().expect("run ip");
        out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Names of every link in the namespace.
    fn link_names(&self) -> Vec<String> {
        self.ip(&["-o", "link", "show"])
            .lines()
            .filter_map(|l| l.split(':').nth(1))
            .map(|n| n.trim().split('@').next().unwrap_or_default().to_owned())
            .collect()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let out = Command::new("ip").args(["netns", "delete", &self.name]).output();
        if !matches!(&out, Ok(o) if o.status.success()) {
            eprintln!("cannot delete network namespace {}: {out:?}", self.name);
        }
    }
}

/// Moves the calling thread (only) into the network namespace at `path`.
#[allow(unsafe_code)]
fn enter_netns(path: &std::path::Path) {
    use std::os::fd::AsRawFd as _;
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    // SAFETY: `file` is an open namespace file for the whole call; setns(CLONE_NEWNET) only
    // changes the network namespace of the calling thread, a thread of our own that holds no
    // sockets yet.
    let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
    assert_eq!(rc, 0, "setns into {}: {}", path.display(), std::io::Error::last_os_error());
}

/// Deletes namespaces left behind by test processes that were killed outright (their PID is
/// gone). Namespaces of live processes, and everything not ours, are left alone.
fn sweep_stale_namespaces() {
    let Ok(entries) = std::fs::read_dir(NETNS_DIR) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name.strip_prefix(NETNS_PREFIX).and_then(|rest| rest.split('-').next()) else { continue };
        if pid.parse::<u32>().is_ok() && !PathBuf::from(format!("/proc/{pid}")).exists() {
            let _ = Command::new("ip").args(["netns", "delete", &name]).output();
        }
    }
}

fn ip(args: &[&str]) -> String {
    let out = Command::new("ip").args(args).output().expect("run ip (install iproute2)");
    assert!(out.status.success(), "ip {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The flags between `<` and `>` in `ip link show` output.
fn flags(details: &str) -> Vec<String> {
    let start = details.find('<').map_or(0, |i| i + 1);
    let end = details.find('>').unwrap_or(start);
    details[start..end].split(',').map(str::to_owned).collect()
}

/// A bridge name no other test process uses at the same time (the root namespace is shared).
fn unique_name(tag: &str) -> String {
    format!("ox{tag}{}", std::process::id() % 10_000_000)
}

#[test]
fn bridge_ensure_creates_an_up_bridge_once_and_only_in_its_namespace() {
    let ns = Netns::create();
    let name = unique_name("b");
    let n = name.clone();
    let (first, second, exists, links, nics, bridges) = ns.run(move || async move {
        let first = network::bridge_ensure(&n).await.expect("first ensure");
        let second = network::bridge_ensure(&n).await.expect("second ensure");
        let exists = network::bridge_exists(&n).await.expect("exists");
        let links = host::links().await.expect("links");
        let nics = host::nics().await.expect("nics");
        let bridges = host::bridges().await.expect("bridges");
        (first, second, exists, links, nics, bridges)
    });
    assert_eq!(first, BridgeOutcome::Created);
    assert_eq!(second, BridgeOutcome::Existed);
    assert!(exists);

    // Seen through netlink by host::…
    let link = links.iter().find(|l| l.nic.name == name).expect("the bridge is listed");
    assert!(link.is_bridge(), "{link:?}");
    assert!(link.nic.up, "{link:?}");
    assert!(nics.iter().any(|nic| nic.name == name));
    assert_eq!(bridges, vec![name.clone()], "the namespace has only our bridge");

    // … and through iproute2.
    let details = ns.link_details(&name).expect("ip sees the bridge");
    assert!(details.contains("\n    bridge "), "{details}");
    assert!(flags(&details).contains(&"UP".to_owned()), "{details}");

    // The machine's own namespace has no such link.
    let root = Command::new("ip").args(["link", "show", &name]).output().expect("run ip");
    assert!(!root.status.success(), "bridge {name} leaked into the root namespace");
}

#[test]
fn bridge_ensure_sets_an_existing_down_bridge_up() {
    let ns = Netns::create();
    ns.ip(&["link", "add", "down0", "type", "bridge"]);
    assert!(!flags(&ns.link_details("down0").expect("created")).contains(&"UP".to_owned()));
    let outcome = ns.run(|| async { network::bridge_ensure("down0").await.expect("ensure") });
    assert_eq!(outcome, BridgeOutcome::Existed);
    assert!(flags(&ns.link_details("down0").expect("still there")).contains(&"UP".to_owned()));
}

#[test]
fn a_non_bridge_of_that_name_is_a_conflict_and_left_untouched() {
    let ns = Netns::create();
    ns.ip(&["link", "add", "vnic0", "type", "veth", "peer", "name", "vnic0-peer"]);
    let before = ns.link_details("vnic0").expect("veth exists");
    let (ensure, delete, exists) = ns.run(|| async {
        (
            network::bridge_ensure("vnic0").await.expect_err("a veth is not a bridge"),
            network::bridge_delete("vnic0").await.expect_err("a veth is not deleted as a bridge"),
            network::bridge_exists("vnic0").await.expect("exists"),
        )
    });
    for err in [&ensure, &delete] {
        assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
        assert!(matches!(err, NetworkError::NotABridge { .. }), "{err:?}");
        assert!(err.to_string().contains("'vnic0' already exists and is a veth"), "{err}");
    }
    assert!(!exists, "a veth is no bridge");
    assert_eq!(ns.link_details("vnic0").as_deref(), Some(before.as_str()), "the veth was changed");
    assert_eq!(ns.link_names().iter().filter(|n| n.starts_with("vnic0")).count(), 2);
}

#[test]
fn bridge_delete_removes_an_empty_bridge_and_refuses_one_with_ports() {
    let ns = Netns::create();
    ns.ip(&["link", "add", "port0", "type", "veth", "peer", "name", "port0-peer"]);
    let (links, in_use, deleted_again, exists_after) = ns.run(|| async {
        network::bridge_ensure("busy0").await.expect("ensure busy0");
        network::bridge_ensure("idle0").await.expect("ensure idle0");
        // Enslaving is the test's doing (the product never does it).
        let status = tokio::process::Command::new("ip")
            .args(["link", "set", "port0", "master", "busy0"])
            .status()
            .await
            .expect("run ip");
        assert!(status.success(), "ip link set port0 master busy0");
        let links = host::links().await.expect("links");
        let in_use = network::bridge_delete("busy0").await.expect_err("busy0 has a port");
        network::bridge_delete("idle0").await.expect("delete idle0");
        let deleted_again = network::bridge_delete("idle0").await.expect_err("idle0 is gone");
        let exists_after = network::bridge_exists("idle0").await.expect("exists");
        (links, in_use, deleted_again, exists_after)
    });
    let port = links.iter().find(|l| l.nic.name == "port0").expect("port0 listed");
    assert_eq!(port.nic.bridge.as_deref(), Some("busy0"), "{port:?}");
    assert!(!port.is_bridge());
    assert!(matches!(&in_use, NetworkError::BridgeInUse { ports, .. } if ports == &["port0".to_owned()]), "{in_use}");
    assert_eq!(in_use.kind(), ErrorKind::Conflict);
    assert!(ns.link_details("busy0").is_some(), "a bridge with ports is kept");
    assert_eq!(deleted_again.kind(), ErrorKind::NotFound, "{deleted_again}");
    assert!(!exists_after);
    assert!(ns.link_details("idle0").is_none());
}

#[test]
fn invalid_names_are_rejected_before_anything_is_touched() {
    let ns = Netns::create();
    let before = ns.link_names();
    let errors = ns.run(|| async {
        let mut errors = Vec::new();
        for name in ["", "much-too-long-name", "a/b", "a b", "br0:1", ".."] {
            errors.push(network::bridge_ensure(name).await.expect_err("invalid"));
            errors.push(network::bridge_delete(name).await.expect_err("invalid"));
            errors.push(network::bridge_exists(name).await.expect_err("invalid"));
        }
        errors
    });
    for err in &errors {
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    }
    assert_eq!(ns.link_names(), before);
}

#[test]
fn the_namespace_is_removed_on_drop() {
    let ns = Netns::create();
    let path = ns.path();
    assert!(path.exists());
    drop(ns);
    assert!(!path.exists(), "{} left behind", path.display());
}
