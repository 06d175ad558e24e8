//! Test harness for oxvirt: real test hosts and a real test guest on one machine.
//!
//! Why it exists: oxvirt's tests run real libvirtd and QEMU (DEVELOPERS.md, "real parts,
//! really run"), often several "hosts" at once for migration and scheduling, on a build
//! machine whose own libvirtd must never be touched. A [`TestHost`] is a network namespace
//! (veth to a per-test bridge, its own address) plus a private mount and UTS namespace in
//! which a private `virtlogd` + `libvirtd` run with their own `/run`, `/var/lib/libvirt`,
//! `/var/log/libvirt`, `/var/cache/libvirt` and `/etc/libvirt`, a distinct `host_uuid`, and
//! `migration_host` set to the host's address. Dropping it destroys its guests, then stops
//! only the processes it started, by PID, and removes its namespaces — also when the test
//! panicked. Leftovers of a test process that was killed outright are swept by the next
//! [`TestNetwork::new`].
//!
//! The [`guest`] module builds (once, cached) and describes the test guest: a Debian kernel
//! plus a busybox initramfs that prints a marker listing its disks and NICs.
//!
//! [`EngineTestContext`] is the other half: the engine in-process against *simulated* hosts
//! (`oxvirt-sim`), for the engine's own rules, which need no guest (and no root).
//!
//! Test hosts require root and the packages `scripts/install-deps.sh test` installs.

pub mod agent;
pub mod engine;
pub mod engine_context;
pub mod guest;
pub mod host;
pub mod net;
pub mod pki;
pub mod postgres;
mod proc;
pub mod sdk;
pub mod wait;

pub use agent::TestAgent;
pub use engine::TestEngine;
pub use engine_context::{ApiClient, ApiFault, EngineTestContext, EngineTestOptions};
pub use guest::{ConsoleLog, TestGuest};
pub use host::{HostOptions, TestHost};
pub use net::TestNetwork;

use std::path::PathBuf;

/// Errors of the harness. Messages say which host and what to look at.
#[derive(Debug, thiserror::Error)]
pub enum TestkitError {
    #[error("command `{command}` failed: {detail}")]
    Command { command: String, detail: String },
    #[error("{0}")]
    Setup(String),
    #[error("timed out after {seconds:.1}s waiting for {what}")]
    Timeout { what: String, seconds: f64 },
    #[error("I/O error on {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

pub type Result<T, E = TestkitError> = std::result::Result<T, E>;

/// Where test hosts keep their state (`$OXVIRT_TESTKIT_DIR`, default `/tmp/oxvirt-testkit`).
/// Must not be under `/run`: each host mounts a private tmpfs there.
pub fn base_dir() -> PathBuf {
    std::env::var_os("OXVIRT_TESTKIT_DIR").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/tmp/oxvirt-testkit"))
}
