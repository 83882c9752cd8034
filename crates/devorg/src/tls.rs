//! HTTPS for the dev org: a local certificate authority and a server certificate for
//! `localhost` and `127.0.0.1`, made with `rcgen`.
//!
//! Clients trust the CA file ([`TlsFiles::ca_cert`]): simple-salesforce through
//! `requests.Session.verify`, Node through `NODE_EXTRA_CA_CERTS`, reqwest through
//! `add_root_certificate`. A CA plus a leaf (rather than one self-signed leaf) because rustls
//! refuses a CA certificate as the server's own, and strict OpenSSL verification (Python 3.13)
//! wants a proper issuer.
//!
//! In a data directory the files are kept under `tls/` and reused across restarts, so a client
//! configured once keeps trusting the org; otherwise a fresh temporary directory is used.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

/// Where the certificate files are.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// The CA certificate clients should trust (PEM).
    pub ca_cert: PathBuf,
    /// The server certificate chain: leaf then CA (PEM).
    pub cert: PathBuf,
    /// The server's private key (PEM, PKCS#8).
    pub key: PathBuf,
}

impl TlsFiles {
    fn in_dir(dir: &Path) -> Self {
        Self {
            ca_cert: dir.join("ca.pem"),
            cert: dir.join("cert.pem"),
            key: dir.join("key.pem"),
        }
    }
}

fn other(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(format!("certificate generation: {e}"))
}

/// The certificate files in `data_dir/tls` (made when missing), or fresh ones in a new temporary
/// directory when there is no data directory.
///
/// # Errors
/// The directory or files cannot be written, or generation failed.
pub fn ensure(data_dir: Option<&Path>) -> std::io::Result<TlsFiles> {
    let dir = match data_dir {
        Some(d) => d.join("tls"),
        None => std::env::temp_dir().join(format!(
            "callforce-devorg-tls-{}-{}",
            std::process::id(),
            crate::oauth::random_string(8)
        )),
    };
    let files = TlsFiles::in_dir(&dir);
    if files.ca_cert.exists() && files.cert.exists() && files.key.exists() {
        return Ok(files);
    }
    std::fs::create_dir_all(&dir)?;
    generate(&files)?;
    Ok(files)
}

/// Writes a new CA and a server certificate for `localhost` and `127.0.0.1` to `files`.
fn generate(files: &TlsFiles) -> std::io::Result<()> {
    let ca_key = KeyPair::generate().map_err(other)?;
    let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(other)?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "callforce dev org local CA");
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca.self_signed(&ca_key).map_err(other)?;
    let issuer = Issuer::new(ca, ca_key);

    let key = KeyPair::generate().map_err(other)?;
    let mut leaf = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
        .map_err(other)?;
    leaf.distinguished_name
        .push(DnType::CommonName, "callforce dev org");
    leaf.use_authority_key_identifier_extension = true;
    leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let leaf_cert = leaf.signed_by(&key, &issuer).map_err(other)?;

    std::fs::write(&files.ca_cert, ca_cert.pem())?;
    std::fs::write(&files.cert, format!("{}{}", leaf_cert.pem(), ca_cert.pem()))?;
    write_private(&files.key, key.serialize_pem().as_bytes())
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?
        .write_all(bytes)
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}
