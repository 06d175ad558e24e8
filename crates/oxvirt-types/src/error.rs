//! The shared error vocabulary.
//!
//! Each boundary (store, hypervisor, agent client, app layer, HTTP) has its own error enum;
//! what they share is the *kind* of failure, which decides the HTTP status and the oVirt
//! fault exactly once, at the edge. Keeping the kinds here lets the agent API carry a kind
//! across the wire so that the engine maps an agent's "not found" to a 404 and not a 500.

use serde::{Deserialize, Serialize};

/// What went wrong, independent of where. Maps 1:1 to an HTTP status at the API edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The request is malformed or a value is out of range (400).
    InvalidInput,
    /// Credentials are missing or wrong (401).
    Unauthenticated,
    /// The caller is known but lacks permission (403).
    Forbidden,
    /// The named object does not exist (404).
    NotFound,
    /// The path exists but not with this HTTP method (405).
    MethodNotAllowed,
    /// The object's current state forbids the operation, or a name is taken (409).
    Conflict,
    /// The caller asks too often (429): e.g. failed logins back off before the next check.
    Throttled,
    /// A dependency (host, storage, database) is unreachable or failing, or the engine is too
    /// busy to take the request now (503).
    Unavailable,
    /// A bug or an unexpected failure (500).
    Internal,
}

impl ErrorKind {
    /// The HTTP status code for this kind.
    pub const fn http_status(self) -> u16 {
        match self {
            ErrorKind::InvalidInput => 400,
            ErrorKind::Unauthenticated => 401,
            ErrorKind::Forbidden => 403,
            ErrorKind::NotFound => 404,
            ErrorKind::MethodNotAllowed => 405,
            ErrorKind::Conflict => 409,
            ErrorKind::Throttled => 429,
            ErrorKind::Unavailable => 503,
            ErrorKind::Internal => 500,
        }
    }
}
