//! The contract between the engine and the host agent (the role VDSM plays in oVirt).
//!
//! Why a crate with no server code: the engine (client), the real agent (server over
//! libvirt) and the simulated agent (server for scale work) must speak exactly the same
//! protocol. Types live here once; both sides depend on them, neither on the other.
//!
//! The protocol is JSON over HTTPS, versioned by path prefix: everything in [`v1`] is served
//! under `/v1`. A breaking change adds `v2` beside it; an agent serves every version the
//! engines of its time speak.

pub mod v1;

/// The TCP port the agent listens on by default (VDSM's port, so firewalls opened for
/// oVirt hosts keep working).
pub const DEFAULT_AGENT_PORT: u16 = 54321;
