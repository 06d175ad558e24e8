//! The engine's certificate authority.
//!
//! Why the engine runs its own CA (as ovirt-engine does): hosts and engine authenticate each
//! other with certificates it issues (mTLS to the agents), and clients fetch the CA once from
//! `pki-resource` to verify the API. The CA is created at first start and kept in
//! `<data-dir>/pki`; later starts load it. Private keys are written with mode 0600, every file
//! atomically (write to a temporary name, then rename), so a crash never leaves half a key.

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    SanType,
};
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

/// Errors of the PKI boundary.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("cannot read or write {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("certificate operation failed: {0}")]
    Cert(#[from] rcgen::Error),
    #[error("'{0}' is neither a DNS name nor an IP address usable in a certificate")]
    BadName(String),
}

/// The CA (certificate, and its key to sign with), the HTTPS server's certificate and key,
/// and the client identity the engine presents to agents — all PEM text.
#[derive(Clone)]
pub struct EnginePki {
    pub ca_cert_pem: String,
    pub server_cert_pem: String,
    pub server_key_pem: String,
    /// Certificate + key the engine presents to agents (mTLS), one PEM bundle.
    pub client_identity_pem: String,
    issuer: std::sync::Arc<Issuer<'static, KeyPair>>,
}

impl std::fmt::Debug for EnginePki {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnginePki").finish_non_exhaustive()
    }
}

const CA_CERT: &str = "ca.pem";
const CA_KEY: &str = "ca.key";
const SERVER_CERT: &str = "server.pem";
const SERVER_KEY: &str = "server.key";
const CLIENT_CERT: &str = "engine-client.pem";
const CLIENT_KEY: &str = "engine-client.key";

impl EnginePki {
    /// Loads the PKI from `dir`, creating the CA and/or the server certificate when missing.
    /// The server certificate is re-issued when it is missing (e.g. deleted to add names).
    pub fn load_or_create(dir: &Path, server_names: &[String]) -> Result<Self, PkiError> {
        std::fs::create_dir_all(dir).map_err(|source| PkiError::Io { path: dir.to_owned(), source })?;
        let (issuer, ca_cert_pem) = match (read(dir, CA_CERT)?, read(dir, CA_KEY)?) {
            (Some(cert), Some(key)) => (Issuer::from_ca_cert_pem(&cert, KeyPair::from_pem(&key)?)?, cert),
            _ => {
                let (params, key, cert_pem) = new_ca()?;
                write_atomic(dir, CA_KEY, &key.serialize_pem(), 0o600)?;
                write_atomic(dir, CA_CERT, &cert_pem, 0o644)?;
                tracing::info!(dir = %dir.display(), "created the engine certificate authority");
                (Issuer::new(params, key), cert_pem)
            }
        };
        let (server_cert_pem, server_key_pem) = match (read(dir, SERVER_CERT)?, read(dir, SERVER_KEY)?) {
            (Some(cert), Some(key)) => (cert, key),
            _ => {
                let (cert, key) = new_server_cert(&issuer, server_names)?;
                write_atomic(dir, SERVER_KEY, &key, 0o600)?;
                write_atomic(dir, SERVER_CERT, &cert, 0o644)?;
                tracing::info!(names = ?server_names, "issued the engine's HTTPS certificate");
                (cert, key)
            }
        };
        let client_identity_pem = match (read(dir, CLIENT_CERT)?, read(dir, CLIENT_KEY)?) {
            (Some(cert), Some(key)) => format!("{cert}{key}"),
            _ => {
                let (cert, key) = new_client_cert(&issuer)?;
                write_atomic(dir, CLIENT_KEY, &key, 0o600)?;
                write_atomic(dir, CLIENT_CERT, &cert, 0o644)?;
                tracing::info!("issued the engine's client certificate for agents");
                format!("{cert}{key}")
            }
        };
        Ok(Self {
            ca_cert_pem,
            server_cert_pem,
            server_key_pem,
            client_identity_pem,
            issuer: std::sync::Arc::new(issuer),
        })
    }

    /// Signs an agent's certificate signing request (from its enrollment answer): a server
    /// certificate valid 5 years for `host_address` only — the address the engine enrolled the
    /// host at. The names the CSR asks for are ignored: the engine decides what a host's
    /// certificate vouches for, so an agent cannot obtain a certificate for the engine's name,
    /// another host's, or a wildcard. Only the CSR's public key (its signature checked) is
    /// taken from it.
    pub fn sign_agent_csr(&self, csr_pem: &str, host_address: &str) -> Result<String, PkiError> {
        let mut csr = rcgen::CertificateSigningRequestParams::from_pem(csr_pem)?;
        let asked: Vec<String> = csr.params.subject_alt_names.iter().map(san_text).collect();
        let granted = san_of(host_address)?;
        if asked.iter().any(|a| a != host_address) {
            tracing::warn!(host = %host_address, asked = ?asked, "a host's CSR asked for other names; signing its address only");
        }
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.distinguished_name.push(DnType::OrganizationName, "oxvirt");
        params.distinguished_name.push(DnType::CommonName, host_address);
        params.subject_alt_names = vec![granted];
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let now = std::time::SystemTime::now();
        params.not_before = now.into();
        params.not_after = (now + std::time::Duration::from_secs(5 * 365 * 24 * 3600)).into();
        csr.params = params;
        Ok(csr.signed_by(&self.issuer)?.pem())
    }
}

/// A subject alternative name for a host's address (an IP address or a DNS name).
fn san_of(name: &str) -> Result<SanType, PkiError> {
    Ok(match name.parse::<std::net::IpAddr>() {
        Ok(ip) => SanType::IpAddress(ip),
        Err(_) => SanType::DnsName(name.to_owned().try_into().map_err(|_| PkiError::BadName(name.to_owned()))?),
    })
}

fn san_text(san: &SanType) -> String {
    match san {
        SanType::IpAddress(ip) => ip.to_string(),
        SanType::DnsName(n) => n.as_str().to_owned(),
        other => format!("{other:?}"),
    }
}

fn new_client_cert(issuer: &Issuer<'_, KeyPair>) -> Result<(String, String), PkiError> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.distinguished_name.push(DnType::OrganizationName, "oxvirt");
    params.distinguished_name.push(DnType::CommonName, "oxvirt engine");
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    params.not_before = rcgen::date_time_ymd(2024, 1, 1);
    params.not_after = rcgen::date_time_ymd(2074, 1, 1);
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, issuer)?;
    Ok((cert.pem(), key.serialize_pem()))
}

fn new_ca() -> Result<(CertificateParams, KeyPair, String), PkiError> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.distinguished_name.push(DnType::OrganizationName, "oxvirt");
    params.distinguished_name.push(DnType::CommonName, format!("oxvirt engine CA {}", short_random()));
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    params.not_before = rcgen::date_time_ymd(2024, 1, 1);
    params.not_after = rcgen::date_time_ymd(2124, 1, 1);
    let key = KeyPair::generate()?;
    let cert = params.self_signed(&key)?;
    Ok((params, key, cert.pem()))
}

fn new_server_cert(issuer: &Issuer<'_, KeyPair>, names: &[String]) -> Result<(String, String), PkiError> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.distinguished_name.push(DnType::OrganizationName, "oxvirt");
    params.distinguished_name.push(DnType::CommonName, names.first().cloned().unwrap_or_default());
    for name in names {
        params.subject_alt_names.push(san_of(name)?);
    }
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.not_before = rcgen::date_time_ymd(2024, 1, 1);
    params.not_after = rcgen::date_time_ymd(2074, 1, 1);
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, issuer)?;
    Ok((cert.pem(), key.serialize_pem()))
}

fn short_random() -> String {
    // Distinguishes CAs of different installations in a browser's certificate store.
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    format!("{:08x}", (nanos as u64) ^ u64::from(std::process::id()))
}

fn read(dir: &Path, name: &str) -> Result<Option<String>, PkiError> {
    let path = dir.join(name);
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(PkiError::Io { path, source }),
    }
}

fn write_atomic(dir: &Path, name: &str, contents: &str, mode: u32) -> Result<(), PkiError> {
    let path = dir.join(name);
    let tmp = dir.join(format!(".{name}.tmp"));
    let io = |source| PkiError::Io { path: path.clone(), source };
    let mut file =
        std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(mode).open(&tmp).map_err(io)?;
    file.write_all(contents.as_bytes()).map_err(io)?;
    file.sync_all().map_err(io)?;
    std::fs::rename(&tmp, &path).map_err(io)?;
    Ok(())
}

/// The agent client presents the engine's client identity and trusts its CA.
impl oxvirt_agent_client::EngineCredentials for EnginePki {
    fn client_identity_pem(&self) -> &str {
        &self.client_identity_pem
    }

    fn ca_cert_pem(&self) -> &str {
        &self.ca_cert_pem
    }

    fn sign_agent_csr(&self, csr_pem: &str, host_address: &str) -> Result<String, String> {
        EnginePki::sign_agent_csr(self, csr_pem, host_address).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pki_is_created_once_then_loaded_unchanged() {
        let dir = tempfile::tempdir().expect("tempdir");
        let names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
        let first = EnginePki::load_or_create(dir.path(), &names).expect("create");
        assert!(first.ca_cert_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(first.server_key_pem.contains("PRIVATE KEY"));
        let key_mode = std::fs::metadata(dir.path().join(CA_KEY)).expect("ca key").permissions();
        assert_eq!(std::os::unix::fs::PermissionsExt::mode(&key_mode) & 0o777, 0o600);

        let second = EnginePki::load_or_create(dir.path(), &names).expect("load");
        assert_eq!(first.ca_cert_pem, second.ca_cert_pem, "the CA must survive restarts");
        assert_eq!(first.server_cert_pem, second.server_cert_pem);
    }

    #[test]
    fn missing_server_cert_is_reissued_by_the_same_ca() {
        let dir = tempfile::tempdir().expect("tempdir");
        let names = vec!["localhost".to_owned()];
        let first = EnginePki::load_or_create(dir.path(), &names).expect("create");
        std::fs::remove_file(dir.path().join(SERVER_CERT)).expect("remove");
        let second = EnginePki::load_or_create(dir.path(), &names).expect("reissue");
        assert_eq!(first.ca_cert_pem, second.ca_cert_pem);
        assert_ne!(first.server_cert_pem, second.server_cert_pem);
    }

    #[test]
    fn a_host_certificate_names_the_host_address_only_whatever_its_csr_asks() {
        let dir = tempfile::tempdir().expect("tempdir");
        let pki = EnginePki::load_or_create(dir.path(), &["engine.example".to_owned()]).expect("create");
        let key = KeyPair::generate().expect("key");
        let asked = vec!["engine.example".to_owned(), "*.example".to_owned(), "192.0.2.7".to_owned()];
        let csr = CertificateParams::new(asked).expect("params").serialize_request(&key).expect("csr");
        let cert = pki.sign_agent_csr(&csr.pem().expect("pem"), "192.0.2.7").expect("signed");
        let (names, is_ca) = oxvirt_testkit::pki::certificate_names(&cert).expect("parse");
        assert_eq!(names, ["192.0.2.7"], "only the address the engine enrolls the host at");
        assert!(!is_ca, "a host certificate cannot sign others");

        let csr = CertificateParams::new(Vec::<String>::new()).expect("params").serialize_request(&key).expect("csr");
        let cert = pki.sign_agent_csr(&csr.pem().expect("pem"), "h1.example").expect("a CSR without names");
        let (names, _) = oxvirt_testkit::pki::certificate_names(&cert).expect("parse");
        assert_eq!(names, ["h1.example"]);
    }
}
