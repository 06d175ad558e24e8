//! A certificate authority for tests that enroll an agent without an engine.
//!
//! Test double, labelled so: it plays the engine's CA (which lives in `oxvirt-engine::pki`)
//! for agent tests that must not depend on the engine crate. It signs CSRs and issues the
//! client certificate the "engine" presents as the real CA does — except that it signs the
//! names the CSR asks for, where the engine's CA signs the host's address only.
//! [`certificate_names`] reads an issued certificate back for tests of what a CA signed.

use crate::{Result, TestkitError};
use rcgen::{
    BasicConstraints, CertificateParams, CertificateSigningRequestParams, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};

#[derive(Debug)]
pub struct TestCa {
    issuer: Issuer<'static, KeyPair>,
    pub ca_pem: String,
}

fn err(e: rcgen::Error) -> TestkitError {
    TestkitError::Setup(format!("test CA: {e}"))
}

impl TestCa {
    pub fn new(name: &str) -> Result<Self> {
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(err)?;
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages =
            vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
        let key = KeyPair::generate().map_err(err)?;
        let cert = params.self_signed(&key).map_err(err)?;
        Ok(Self { ca_pem: cert.pem(), issuer: Issuer::new(params, key) })
    }

    /// Signs a PEM CSR (as an agent's enrollment answer carries), returning the PEM certificate.
    pub fn sign_csr(&self, csr_pem: &str) -> Result<String> {
        let csr = CertificateSigningRequestParams::from_pem(csr_pem).map_err(err)?;
        Ok(csr.signed_by(&self.issuer).map_err(err)?.pem())
    }

    /// A client certificate + key (one PEM bundle, as `reqwest::Identity::from_pem` takes it).
    pub fn client_identity_pem(&self, name: &str) -> Result<String> {
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(err)?;
        params.distinguished_name.push(DnType::CommonName, name);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let key = KeyPair::generate().map_err(err)?;
        let cert = params.signed_by(&key, &self.issuer).map_err(err)?;
        Ok(format!("{}{}", cert.pem(), key.serialize_pem()))
    }
}

/// What a PEM certificate vouches for: its subject alternative names (DNS names and IP
/// addresses as text) and whether it may sign other certificates.
pub fn certificate_names(pem: &str) -> Result<(Vec<String>, bool)> {
    use x509_parser::extensions::GeneralName;
    let bad = |e: String| TestkitError::Setup(format!("reading a certificate: {e}"));
    let (_, pem) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).map_err(|e| bad(e.to_string()))?;
    let cert = pem.parse_x509().map_err(|e| bad(e.to_string()))?;
    let mut names = Vec::new();
    if let Some(san) = cert.subject_alternative_name().map_err(|e| bad(e.to_string()))? {
        for name in &san.value.general_names {
            names.push(match name {
                GeneralName::DNSName(n) => (*n).to_owned(),
                GeneralName::IPAddress(b) if b.len() == 4 => {
                    std::net::IpAddr::from(<[u8; 4]>::try_from(*b).expect("4 bytes")).to_string()
                }
                GeneralName::IPAddress(b) if b.len() == 16 => {
                    std::net::IpAddr::from(<[u8; 16]>::try_from(*b).expect("16 bytes")).to_string()
                }
                other => format!("{other:?}"),
            });
        }
    }
    Ok((names, cert.is_ca()))
}
