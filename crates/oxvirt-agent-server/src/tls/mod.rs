//! The agent's identity, enrollment, and the mTLS transport of the agent API.
//!
//! Why it is built this way:
//!
//! - **HTTPS from the first start.** Before an engine has enrolled the host, the agent has no
//!   certificate anyone trusts, yet the enrollment secret must not cross the network in clear.
//!   So the agent makes a self-signed *bootstrap* certificate at first start and serves with it;
//!   only `GET /v1/health` and the enrollment calls (which carry the secret) are answered.
//! - **Enrollment makes the trust mutual.** `POST /v1/enrollment` (with the secret) makes a new
//!   key pair and returns a CSR; the engine signs it with its CA and `PUT /v1/enrollment` hands
//!   back the certificate and the CA. From then on the agent presents the engine-issued
//!   certificate and asks for client certificates issued by the engine's CA (mTLS).
//! - **One live server configuration, swapped in place.** [`AgentIdentity`] holds the current
//!   `rustls::ServerConfig` behind a lock; [`serve`] handshakes every new connection with the
//!   configuration current at that moment, so completing enrollment needs no restart.
//! - **Client certificates are optional at the TLS layer, required at the HTTP layer.** The
//!   verifier accepts clients without a certificate (so health answers everyone) but rejects
//!   certificates of any other CA during the handshake. [`serve`] records what the handshake
//!   proved as a [`Peer`] in every request's extensions, and the [`require_engine`] middleware
//!   turns "no certificate" into a 401 [`ApiError`](oxvirt_agent_api::v1::ApiError) everywhere
//!   except health and enrollment.
//! - **The crypto provider is passed explicitly** (aws-lc-rs), never installed process-wide, so
//!   nothing depends on who called `install_default` first.
//!
//! Files in the state dir (keys 0600, every file written atomically: temporary name, fsync,
//! rename): `enrollment-secret` (unless the secret is configured), `bootstrap.key`/`.pem`,
//! `agent.key.pending` (between `POST` and `PUT /v1/enrollment`), and once enrolled `agent.key`,
//! `agent.pem`, `engine-ca.pem`.

mod error;
mod files;
mod identity;
mod middleware;
mod serve;

pub use error::TlsError;
pub use identity::AgentIdentity;
pub use middleware::{ENROLLMENT_PATH, enrollment_router, require_engine};
pub use serve::serve;

/// Who is on the other end of a connection, as its TLS handshake proved. [`serve`] puts one in
/// the extensions of every request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Peer {
    /// No client certificate (every client before enrollment; health checks after).
    Anonymous,
    /// The client presented a certificate that the engine's CA issued (verified in the
    /// handshake).
    Engine,
}

/// Compares two secrets in time independent of where they differ (it depends only on the
/// length of `given`), so that timing does not reveal a prefix of the expected secret.
fn secrets_equal(given: &[u8], expected: &[u8]) -> bool {
    let mut difference = u8::from(given.len() != expected.len());
    for (i, byte) in given.iter().enumerate() {
        let other = if expected.is_empty() { 0 } else { expected[i % expected.len()] };
        difference |= byte ^ other;
    }
    std::hint::black_box(difference) == 0
}

#[cfg(test)]
mod tests {
    use super::secrets_equal;

    #[test]
    fn secrets_equal_only_when_identical() {
        assert!(secrets_equal(b"abcdef", b"abcdef"));
        assert!(!secrets_equal(b"abcdeg", b"abcdef"));
        assert!(!secrets_equal(b"abcde", b"abcdef"));
        assert!(!secrets_equal(b"abcdefabcdef", b"abcdef"), "a repetition is not the secret");
        assert!(!secrets_equal(b"", b"abcdef"));
        assert!(!secrets_equal(b"x", b""));
        assert!(secrets_equal(b"", b""));
    }
}
