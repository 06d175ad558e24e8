//! The vocabulary every oxvirt crate shares.
//!
//! Why a crate of its own: the engine, the agent, the agent API contract and (later) the
//! SDK and CLI must agree on what a VM id or a host status *is*. Keeping these types here,
//! free of I/O and of any server code, lets every crate depend on them without pulling in
//! axum, sqlx or libvirt.

pub mod error;
pub mod hook_env;
pub mod host_path;
pub mod ids;
pub mod status;
pub mod units;

pub use error::ErrorKind;
pub use ids::*;
pub use status::*;
pub use units::ByteSize;
