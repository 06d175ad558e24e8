//! What this host is: CPU, memory, NICs and bridges, whether KVM really works, and host
//! statistics — the host-side half of `GET /v1/capabilities` and `GET /v1/stats/host`.
//!
//! Why it is built this way:
//! - Everything is read from the kernel's own interfaces (`/proc`, `/sys`, rtnetlink), never
//!   by running and parsing tools such as `lscpu` or `ip`: their output is meant for people
//!   and changes between versions. Parsing lives in pure functions over text so that fixtures
//!   test it; the thin readers around them only open files.
//! - Whether guests can use KVM is decided by *running* a tiny guest under KVM
//!   ([`kvm_probe`]), not by looking at `/dev/kvm`: under broken nested virtualization the
//!   device exists, QEMU starts, and guests crawl or hang. The engine must then schedule
//!   guests as `qemu` (TCG) domains, and it learns why from `kvm_unusable_reason`.
//! - No libvirt here: the libvirt and QEMU versions and the host UUID come from the
//!   hypervisor module, which is the only one speaking libvirt.
//! - The rtnetlink plumbing (`netlink`) lives here because reading the host's links is part
//!   of "what this host is"; the `network` module reuses it to change them.

mod cpu;
mod kvm;
mod memory;
pub(crate) mod netlink;
mod nics;
mod stats;

pub use cpu::cpu_info;
pub use kvm::{Accelerator, DEFAULT_KVM_PROBE_TIMEOUT, GuestProgress, GuestRunFailure, kvm_probe, probe_firmware_run};
pub use memory::memory_total;
pub use nics::{HostLink, bridges, links, nics};
pub use stats::HostStatsSampler;

use oxvirt_types::ErrorKind;
use std::path::PathBuf;

/// Why reading what this host is failed.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error("cannot read {path}: {source} (is /proc or /sys mounted?)")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("cannot understand {path}: {detail}")]
    Parse { path: PathBuf, detail: String },
    #[error("cannot open a netlink socket to list the host's network interfaces: {0}")]
    NetlinkConnect(#[source] std::io::Error),
    #[error("the kernel refused to {what} over netlink: {source}")]
    Netlink {
        what: &'static str,
        #[source]
        source: rtnetlink::Error,
    },
}

impl HostError {
    /// How the API layer should classify this failure.
    pub fn kind(&self) -> ErrorKind {
        match self {
            HostError::NetlinkConnect(_) => ErrorKind::Unavailable,
            HostError::Read { .. } | HostError::Parse { .. } | HostError::Netlink { .. } => ErrorKind::Internal,
        }
    }
}

/// The host's name, as the kernel knows it (the UTS namespace's node name).
///
/// Falls back to `localhost` (with a warning) if the kernel cannot be asked, so that a
/// capabilities report never fails for a name alone.
pub fn hostname() -> String {
    const PATH: &str = "/proc/sys/kernel/hostname";
    match std::fs::read_to_string(PATH) {
        Ok(text) if !text.trim().is_empty() => text.trim().to_owned(),
        Ok(_) => {
            tracing::warn!(path = PATH, "the kernel's host name is empty; reporting localhost");
            "localhost".to_owned()
        }
        Err(e) => {
            tracing::warn!(path = PATH, error = %e, "cannot read the host name; reporting localhost");
            "localhost".to_owned()
        }
    }
}

/// Reads a whole text file, naming the file in the error.
fn read_text(path: impl Into<PathBuf>) -> Result<String, HostError> {
    let path = path.into();
    std::fs::read_to_string(&path).map_err(|source| HostError::Read { path, source })
}
