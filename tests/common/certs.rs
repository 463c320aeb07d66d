//! Throwaway PKIs for TLS tests: a CA, a server certificate for chosen names, a client
//! certificate, and an unrelated CA, all written as PEM files into a temporary directory.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair,
};

/// PEM files of one generated PKI.
pub struct Pki {
    /// Keeps the files alive.
    pub dir: tempfile::TempDir,
    /// The CA that signed the server and client certificates.
    pub ca: PathBuf,
    /// Server certificate (for the names given to [`generate`]) and key.
    pub server_cert: PathBuf,
    /// Server private key.
    pub server_key: PathBuf,
    /// Client certificate (CN "sluice-test-client") and key, for mTLS.
    pub client_cert: PathBuf,
    /// Client private key.
    pub client_key: PathBuf,
    /// A CA that signed nothing here: trusting only it must fail verification.
    pub other_ca: PathBuf,
}

fn ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
}

fn write(dir: &Path, name: &str, pem: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, pem).unwrap();
    p
}

/// Generates a PKI whose server certificate is valid for `server_names` (DNS names or IPs).
pub fn generate(server_names: &[&str]) -> Pki {
    let dir = tempfile::tempdir().unwrap();
    let root = ca("Sluice Test CA");
    let other = ca("Unrelated CA");

    let server_key = KeyPair::generate().unwrap();
    let mut sp = CertificateParams::new(
        server_names
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>(),
    )
    .unwrap();
    sp.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let server = sp.signed_by(&server_key, &root).unwrap();

    let client_key = KeyPair::generate().unwrap();
    let mut cp = CertificateParams::new(Vec::<String>::new()).unwrap();
    cp.distinguished_name
        .push(DnType::CommonName, "sluice-test-client");
    cp.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let client = cp.signed_by(&client_key, &root).unwrap();

    let d = dir.path();
    Pki {
        ca: write(d, "ca.pem", &root.pem()),
        server_cert: write(d, "server.pem", &server.pem()),
        server_key: write(d, "server-key.pem", &server_key.serialize_pem()),
        client_cert: write(d, "client.pem", &client.pem()),
        client_key: write(d, "client-key.pem", &client_key.serialize_pem()),
        other_ca: write(d, "other-ca.pem", &other.pem()),
        dir,
    }
}
