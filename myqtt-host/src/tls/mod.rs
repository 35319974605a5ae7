//! TLS configuration over [`rustls`]: PEM loading, the server configuration (one certificate,
//! or MyQtt's SNI handlers), client-certificate verification (mutual TLS), the client
//! configuration, and what a runtime reports about an accepted TLS session.
//!
//! Everything here is runtime-neutral: it builds [`rustls::ServerConfig`] and
//! [`rustls::ClientConfig`] values that `myqtt-tokio` (through `tokio-rustls`) and
//! `myqtt-smol` (through `futures-rustls`) plug into their listeners and connectors.
//!
//! # Mapping from MyQtt
//!
//! | MyQtt | here |
//! | --- | --- |
//! | `myqtt_tls_set_certificate(listener, crt, key, chain)` | [`ServerTls::certificate`] (the PEM file holds the leaf then the chain) |
//! | `myqtt.tls.accept_tls(ctx, accept_handler, cert_handler, key_handler)` | [`ServerTls::sni`] or [`ServerTls::handlers`] with a [`SniHandlers`]: the handlers become a [`rustls::server::ResolvesServerCert`] that is asked for every handshake |
//! | `accept_handler(conn, server_name)` returning false | [`SniHandlers::accept`] returning `false`: the handshake is aborted (the client gets a TLS alert, no MQTT byte is exchanged) |
//! | `cert_handler` / `key_handler` returning a path | [`SniHandlers::cert`] / [`SniHandlers::key`] returning a [`PemSource`] (a path or the PEM bytes); each certificate is loaded once and cached |
//! | MyQttD's reload (SIGHUP) re-reading certificate files | [`ServerTls::build_reloadable`] returns a [`TlsReloader`]: [`TlsReloader::reload`] re-reads the files and swaps them in for new handshakes; established connections are kept; a failed reload keeps the old certificates |
//! | listener opts with a CA: client certificate required (test_19, port 1911) | [`ServerTls::client_auth_required`] (or [`ServerTls::client_auth_optional`]) |
//! | `myqtt_conn_get_server_name(conn)` | [`TlsSessionInfo::server_name`], which the runtimes copy into `TransportInfo::server_name` |
//! | `myqtt.tls.is_enabled(conn)` / `myqtt_tls_is_on` | `ClientView.transport.is_tls` in `on_publish`/`on_subscribe` hooks and `ConnectInfo::is_tls` in `on_connect` |
//! | `myqtt_tls_get_peer_ssl_digest(conn, SHA1\|MD5)` | [`fingerprint_sha256`] (SHA-256 only: SHA-1 and MD5 are broken) |
//! | `myqtt_tls_opts_set_ssl_certs(opts, cert, key, chain, ca)`, `set_server_name` | [`ClientTls`] (the SNI name is given by the connector, defaulting to the host) |
//!
//! Differences, on purpose: TLS 1.2 and 1.3 only (MyQtt defaulted to TLS 1.0 through deprecated
//! OpenSSL methods); the accept handler does not see the connection, only the server name,
//! because it runs inside the handshake (filter by address in the runtime's `on_connect`);
//! client certificates are verified against the CA given here (MyQtt's server ignored it).
//!
//! # Crypto provider
//!
//! Every configuration is built with rustls' [`ring`](rustls::crypto::ring) provider, named
//! explicitly rather than taken from the process-wide default. `ring` builds with a C compiler
//! alone (no cmake, no NASM, no Go, unlike `aws-lc-rs`, rustls' default), so the workspace builds
//! on a plain Rust toolchain and on this project's machines; naming the provider means a
//! configuration never panics because another crate in the build enabled a second provider.
//!
//! # Peer certificate information
//!
//! [`TlsSessionInfo`] carries the client certificate's subject as an RFC 4514 string
//! (`CN=client,O=Example`), read by a small DER walk over the certificate's subject name (a full
//! X.509 parser such as `x509-parser` would pull in a second `nom` and several crates for one
//! string), and its SHA-256 fingerprint. When the subject cannot be read (an unusual encoding),
//! [`TlsSessionInfo::peer_identity`] falls back to `sha256:<fingerprint>` so a verified client is
//! never anonymous.
//!
//! # Example
//!
//! ```
//! use myqtt_host::tls::{PemSource, ServerTls};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let ck = rcgen::generate_simple_self_signed(vec!["localhost".into()])?;
//! # let (cert_pem, key_pem) = (ck.cert.pem(), ck.signing_key.serialize_pem());
//! // One certificate for every server name.
//! let config = ServerTls::new()
//!     .certificate(PemSource::bytes(cert_pem.clone()), PemSource::bytes(key_pem.clone()))
//!     .build()?;
//! # let _ = config;
//!
//! // MyQtt's handlers: accept, then pick the certificate and key by SNI server name.
//! let config = ServerTls::new()
//!     .sni(
//!         |name| name != Some("blocked.example"),
//!         move |_name| Some(PemSource::bytes(cert_pem.clone())),
//!         move |_name| Some(PemSource::bytes(key_pem.clone())),
//!     )
//!     .build()?;
//! # let _ = config;
//! # Ok(())
//! # }
//! ```

mod client;
mod peer;
mod pem;
mod resolver;
mod server;

pub use client::ClientTls;
pub use peer::{TlsSessionInfo, certificate_subject, fingerprint_sha256};
pub use pem::{PemSource, load_certificates, load_private_key, load_root_store};
pub use resolver::TlsReloader;
pub use server::{ClientAuth, ServerTls, SniHandlers};

use std::path::PathBuf;

/// Why a TLS configuration could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A PEM file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The error from the file system.
        source: std::io::Error,
    },
    /// The PEM text is malformed.
    #[error("{origin}: malformed PEM: {detail}")]
    Pem {
        /// Where the PEM came from (a path, or "PEM bytes").
        origin: String,
        /// What is wrong.
        detail: String,
    },
    /// The PEM holds no certificate.
    #[error("{origin}: no certificate found")]
    NoCertificate {
        /// Where the PEM came from.
        origin: String,
    },
    /// The PEM holds no private key (PKCS#8, PKCS#1 or SEC1).
    #[error("{origin}: no private key found")]
    NoPrivateKey {
        /// Where the PEM came from.
        origin: String,
    },
    /// A server configuration needs a certificate or SNI handlers.
    #[error("no server certificate: call `certificate` or `sni`/`handlers`")]
    NoServerCertificate,
    /// rustls refused the material (a key it cannot use, a key that does not match the
    /// certificate, an unusable CA certificate, ...).
    #[error("TLS: {0}")]
    Rustls(#[from] rustls::Error),
    /// The client-certificate verifier could not be built (for instance, an empty CA set).
    #[error("client certificate verifier: {0}")]
    Verifier(#[from] rustls::server::VerifierBuilderError),
}

/// The crypto provider every configuration here is built with (see the module docs).
pub(crate) fn provider() -> std::sync::Arc<rustls::crypto::CryptoProvider> {
    std::sync::Arc::new(rustls::crypto::ring::default_provider())
}

/// The protocol versions offered: TLS 1.3 and TLS 1.2.
pub(crate) const VERSIONS: &[&rustls::SupportedProtocolVersion] =
    &[&rustls::version::TLS13, &rustls::version::TLS12];
