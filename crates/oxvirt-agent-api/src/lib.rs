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

/// SHA-256 fingerprint of a DER certificate, written as `openssl x509 -fingerprint -sha256`
/// prints it (uppercase hex pairs joined by `:`). The agent logs its bootstrap certificate's at
/// start and the engine records the one it enrolled, so both sides must write it the same way.
pub fn certificate_fingerprint(der: &[u8]) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(der).iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(":")
}

#[cfg(test)]
mod tests {
    #[test]
    fn fingerprints_are_written_as_openssl_writes_them() {
        // SHA-256 of the empty input.
        assert_eq!(
            super::certificate_fingerprint(b""),
            "E3:B0:C4:42:98:FC:1C:14:9A:FB:F4:C8:99:6F:B9:24:27:AE:41:E4:64:9B:93:4C:A4:95:99:1B:78:52:B8:55"
        );
    }
}
