//! The test network: one Linux bridge per test process, in the machine's root network
//! namespace, so that the test process itself (and an engine running in it) reaches every
//! test host directly.
//!
//! Each network claims an index `n` in 1..=250 by creating the bridge `oxtN` (the kernel's
//! "File exists" makes the claim atomic across parallel test processes) and gets the subnet
//! `198.18.N.0/24` (RFC 2544's benchmarking range, never routed) with `.1` on the bridge.
//! The bridge's alias records the owning PID; a bridge whose owner is dead is stale and is
//! swept, together with its hosts' namespaces and the processes inside them, before a new
//! claim. Nothing else in the root namespace is changed.

use crate::proc::{self, run, run_stdout};
use crate::{Result, TestkitError};
use std::net::Ipv4Addr;
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

const MAX_NETWORKS: u8 = 250;
const ALIAS_PREFIX: &str = "oxvirt-testkit pid=";

/// A bridge plus subnet shared by the test hosts of one test.
#[derive(Debug)]
pub struct TestNetwork {
    index: u8,
    next_host: Mutex<u8>,
}

impl TestNetwork {
    /// Claims a free network index, sweeping stale ones first.
    pub fn new() -> Result<std::sync::Arc<Self>> {
        sweep_stale();
        for index in 1..=MAX_NETWORKS {
            let bridge = bridge_name(index);
            let created = Command::new("ip").args(["link", "add", &bridge, "type", "bridge"]).output();
            match created {
                Ok(out) if out.status.success() => {
                    let net = Self { index, next_host: Mutex::new(10) };
                    // From here on Drop removes the bridge even if the rest fails.
                    run(Command::new("ip").args([
                        "link",
                        "set",
                        &bridge,
                        "alias",
                        &format!("{ALIAS_PREFIX}{}", std::process::id()),
                    ]))?;
                    run(Command::new("ip").args(["addr", "add", &format!("{}/24", net.gateway()), "dev", &bridge]))?;
                    run(Command::new("ip").args(["link", "set", &bridge, "up"]))?;
                    return Ok(std::sync::Arc::new(net));
                }
                Ok(out) if String::from_utf8_lossy(&out.stderr).contains("File exists") => continue,
                Ok(out) => {
                    return Err(TestkitError::Command {
                        command: format!("ip link add {bridge} type bridge"),
                        detail: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
                    });
                }
                Err(e) => return Err(TestkitError::Setup(format!("cannot run `ip` (install iproute2): {e}"))),
            }
        }
        Err(TestkitError::Setup(format!("all {MAX_NETWORKS} test networks are in use")))
    }

    /// The bridge's name in the root namespace (`oxtN`).
    pub fn bridge(&self) -> String {
        bridge_name(self.index)
    }

    /// The address of the bridge itself: where the test process is seen from the hosts.
    pub fn gateway(&self) -> Ipv4Addr {
        Ipv4Addr::new(198, 18, self.index, 1)
    }

    /// Prefix of the network namespaces of this network's hosts.
    pub(crate) fn netns_prefix(&self) -> String {
        format!("oxt{}-", self.index)
    }

    /// Hands out the next host number; the host's address is `198.18.N.<number>`.
    pub(crate) fn next_host_number(&self) -> Result<u8> {
        let mut next = self.next_host.lock().unwrap_or_else(|p| p.into_inner());
        if *next >= 250 {
            return Err(TestkitError::Setup("too many hosts on one test network (max 240)".into()));
        }
        *next += 1;
        Ok(*next)
    }

    pub(crate) fn host_address(&self, number: u8) -> Ipv4Addr {
        Ipv4Addr::new(198, 18, self.index, number)
    }
}

impl Drop for TestNetwork {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["link", "del", &self.bridge()]).output();
    }
}

fn bridge_name(index: u8) -> String {
    format!("oxt{index}")
}

/// Removes networks whose owning test process is gone: kills the processes inside their
/// hosts' network namespaces (only those), deletes the namespaces, then the bridge.
fn sweep_stale() {
    let Ok(links) = run_stdout(Command::new("ip").args(["-o", "link", "show", "type", "bridge"])) else { return };
    for line in links.lines() {
        let Some(name) = line.split(": ").nth(1).map(|n| n.trim_end_matches(':')) else { continue };
        let Some(index) = name.strip_prefix("oxt").and_then(|i| i.parse::<u8>().ok()) else { continue };
        let Some(owner) =
            line.split(ALIAS_PREFIX).nth(1).and_then(|r| r.split_whitespace().next()?.parse::<i32>().ok())
        else {
            continue; // being set up right now, or not ours
        };
        if proc::alive(owner) {
            continue;
        }
        tracing::warn!(bridge = name, owner, "sweeping a stale test network");
        let prefix = format!("oxt{index}-");
        if let Ok(list) = run_stdout(Command::new("ip").args(["netns", "list"])) {
            for ns in list.lines().filter_map(|l| l.split_whitespace().next()).filter(|n| n.starts_with(&prefix)) {
                remove_netns_and_its_processes(ns);
            }
        }
        let _ = Command::new("ip").args(["link", "del", name]).output();
    }
}

/// Stops every process inside the named network namespace, then deletes it.
pub(crate) fn remove_netns_and_its_processes(ns: &str) {
    if let Ok(pids) = run_stdout(Command::new("ip").args(["netns", "pids", ns])) {
        for pid in pids.lines().filter_map(|p| p.trim().parse::<i32>().ok()) {
            proc::stop_pid(pid, Duration::from_secs(5));
        }
    }
    let _ = Command::new("ip").args(["netns", "del", ns]).output();
}
