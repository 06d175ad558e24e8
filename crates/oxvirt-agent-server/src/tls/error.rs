//! The error of the TLS/enrollment boundary.

use oxvirt_types::{ErrorKind, HostId};
use std::path::PathBuf;

/// What can go wrong loading the agent's identity or enrolling it.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read or write {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },

    #[error("the enrollment secret {origin} is empty: set a non-empty secret")]
    EmptySecret { origin: String },

    #[error(
        "the enrollment secret is wrong: use the secret of this host (in {hint}); the engine sends it as the host's \
         root password"
    )]
    WrongSecret { hint: String },

    #[error(
        "host {host_id} is already enrolled: enrollment calls now need a client certificate issued by the engine's CA \
         (to enroll with another engine, remove agent.pem from the agent's state dir and restart it)"
    )]
    AlreadyEnrolled { host_id: HostId },

    #[error("no enrollment of host {host_id} is in progress: POST /v1/enrollment first, then PUT the certificate")]
    NoPendingEnrollment { host_id: HostId },

    #[error(
        "the enrollment request names no address: give the DNS names or IP addresses the engine reaches the host by"
    )]
    NoNames,

    #[error("'{name}' is neither a DNS name nor an IP address usable in a certificate")]
    BadName { name: String },

    #[error("{field} is not usable PEM: {reason}")]
    BadPem { field: &'static str, reason: String },

    #[error(
        "the certificate is not for the key host {host_id} made at POST /v1/enrollment: sign the CSR of the latest \
         enrollment request"
    )]
    CertificateNotForPendingKey { host_id: HostId },

    #[error("the certificate was not issued by the given CA or is not valid for a server: {reason}")]
    CertificateNotIssuedByCa { reason: String },

    #[error("the CA in ca_pem is not usable to verify client certificates: {reason}")]
    BadCa { reason: String },

    #[error(
        "the agent's state in {path} is inconsistent: {reason} (remove agent.pem to enroll the host again, or restore \
         the files from a backup)"
    )]
    StateCorrupt { path: PathBuf, reason: String },

    #[error("certificate operation failed: {0}")]
    Cert(#[from] rcgen::Error),

    #[error("TLS configuration failed: {0}")]
    Rustls(#[from] rustls::Error),

    #[error("the system's random number generator failed")]
    Random,
}

impl TlsError {
    /// How the API layer classifies this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            TlsError::WrongSecret { .. } => ErrorKind::Unauthenticated,
            TlsError::AlreadyEnrolled { .. } | TlsError::NoPendingEnrollment { .. } => ErrorKind::Conflict,
            TlsError::EmptySecret { .. }
            | TlsError::NoNames
            | TlsError::BadName { .. }
            | TlsError::BadPem { .. }
            | TlsError::CertificateNotForPendingKey { .. }
            | TlsError::CertificateNotIssuedByCa { .. }
            | TlsError::BadCa { .. } => ErrorKind::InvalidInput,
            TlsError::Io { .. }
            | TlsError::StateCorrupt { .. }
            | TlsError::Cert(_)
            | TlsError::Rustls(_)
            | TlsError::Random => ErrorKind::Internal,
        }
    }
}
