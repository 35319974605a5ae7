//! Loading certificates and keys from PEM files or bytes.

use std::path::{Path, PathBuf};

use rustls::RootCertStore;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::TlsError;

/// Where PEM text comes from: a file (MyQtt's handlers return paths) or the text itself.
///
/// Used as the cache key of the SNI resolver, so two handlers returning the same path share
/// one loaded certificate.
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum PemSource {
    /// A PEM file, read when the configuration is built (or, for SNI handlers, at the first
    /// handshake that selects it).
    Path(PathBuf),
    /// PEM text.
    Bytes(Vec<u8>),
}

impl PemSource {
    /// A PEM file.
    pub fn path(path: impl Into<PathBuf>) -> Self {
        PemSource::Path(path.into())
    }

    /// PEM text (for instance from `include_bytes!`, a secret store, or `rcgen`).
    pub fn bytes(pem: impl Into<Vec<u8>>) -> Self {
        PemSource::Bytes(pem.into())
    }

    /// Names the source in errors: the path, or "PEM bytes".
    pub fn origin(&self) -> String {
        match self {
            PemSource::Path(p) => p.display().to_string(),
            PemSource::Bytes(_) => "PEM bytes".to_owned(),
        }
    }

    /// The PEM text: the file's contents or the bytes.
    fn read(&self) -> Result<std::borrow::Cow<'_, [u8]>, TlsError> {
        match self {
            PemSource::Path(path) => {
                std::fs::read(path)
                    .map(Into::into)
                    .map_err(|source| TlsError::Io {
                        path: path.clone(),
                        source,
                    })
            }
            PemSource::Bytes(bytes) => Ok(bytes.as_slice().into()),
        }
    }
}

impl std::fmt::Debug for PemSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PemSource::Path(p) => f.debug_tuple("Path").field(p).finish(),
            // Never print key material.
            PemSource::Bytes(b) => write!(f, "Bytes({} bytes)", b.len()),
        }
    }
}

impl From<PathBuf> for PemSource {
    fn from(path: PathBuf) -> Self {
        PemSource::Path(path)
    }
}

impl From<&Path> for PemSource {
    fn from(path: &Path) -> Self {
        PemSource::Path(path.to_owned())
    }
}

/// Loads every certificate from `source`, in order: the end-entity certificate first, then
/// its chain (MyQtt's separate `chain` file is simply appended to the certificate file).
///
/// Fails if the source cannot be read, the PEM is malformed, or it holds no certificate.
pub fn load_certificates(source: &PemSource) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = source.read()?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Pem {
            origin: source.origin(),
            detail: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate {
            origin: source.origin(),
        });
    }
    Ok(certs)
}

/// Loads the first private key from `source` (PKCS#8 `PRIVATE KEY`, PKCS#1 `RSA PRIVATE KEY`
/// or SEC1 `EC PRIVATE KEY`).
pub fn load_private_key(source: &PemSource) -> Result<PrivateKeyDer<'static>, TlsError> {
    let pem = source.read()?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => TlsError::NoPrivateKey {
            origin: source.origin(),
        },
        e => TlsError::Pem {
            origin: source.origin(),
            detail: e.to_string(),
        },
    })
}

/// Loads every certificate from `source` as a trust anchor (a CA bundle).
///
/// Fails if a certificate is not a usable trust anchor.
pub fn load_root_store(source: &PemSource) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    add_roots(&mut roots, source)?;
    Ok(roots)
}

/// Adds every certificate from `source` to `roots`.
pub(crate) fn add_roots(roots: &mut RootCertStore, source: &PemSource) -> Result<(), TlsError> {
    for cert in load_certificates(source)? {
        roots.add(cert)?;
    }
    Ok(())
}
