//! The server configuration: one certificate, or MyQtt's SNI handlers as a certificate
//! resolver; optional client-certificate verification.

use std::sync::Arc;

use rustls::ServerConfig;
use rustls::server::WebPkiClientVerifier;

use super::pem::{PemSource, add_roots};
use super::resolver::{Resolver, SingleResolver, SniResolver, TlsReloader};
use super::{TlsError, VERSIONS, provider};

/// MyQtt's TLS handlers (`myqtt.tls.accept_tls(ctx, accept_handler, cert_handler,
/// key_handler)`), asked during every handshake with the server name the client announced
/// through SNI (`None` when it sent none, as clients connecting to an IP address do).
///
/// They run inside the handshake, on the runtime's thread: keep them quick (a map lookup).
/// What [`cert`](Self::cert) and [`key`](Self::key) return is loaded once and cached per
/// (certificate, key) source pair, so returning the same path for many names costs one load.
/// [`TlsReloader::reload`] (with [`ServerTls::build_reloadable`]) drops that cache and asks
/// the handlers again for every server name seen so far.
pub trait SniHandlers: Send + Sync + 'static {
    /// Whether to go on with the handshake for this server name (MyQtt's accept handler).
    /// `false` aborts the handshake with a TLS alert. Accepts everything unless overridden.
    fn accept(&self, server_name: Option<&str>) -> bool {
        let _ = server_name;
        true
    }

    /// The certificate (leaf first, then the chain) to present for this server name (MyQtt's
    /// cert handler). `None` aborts the handshake.
    fn cert(&self, server_name: Option<&str>) -> Option<PemSource>;

    /// The private key of that certificate (MyQtt's key handler). `None` aborts the handshake.
    fn key(&self, server_name: Option<&str>) -> Option<PemSource>;
}

/// Three closures as [`SniHandlers`] (see [`ServerTls::sni`]).
struct FnHandlers<A, C, K> {
    accept: A,
    cert: C,
    key: K,
}

impl<A, C, K> SniHandlers for FnHandlers<A, C, K>
where
    A: Fn(Option<&str>) -> bool + Send + Sync + 'static,
    C: Fn(Option<&str>) -> Option<PemSource> + Send + Sync + 'static,
    K: Fn(Option<&str>) -> Option<PemSource> + Send + Sync + 'static,
{
    fn accept(&self, server_name: Option<&str>) -> bool {
        (self.accept)(server_name)
    }

    fn cert(&self, server_name: Option<&str>) -> Option<PemSource> {
        (self.cert)(server_name)
    }

    fn key(&self, server_name: Option<&str>) -> Option<PemSource> {
        (self.key)(server_name)
    }
}

/// Whether and how clients must present a certificate.
#[derive(Clone, Debug, Default)]
pub enum ClientAuth {
    /// No client certificate is asked for (the default).
    #[default]
    None,
    /// A client certificate signed by one of the CAs in the source is required; a client
    /// without one, or with one from another CA, fails the handshake (MyQtt test_19).
    Required(PemSource),
    /// A client certificate is asked for and, if presented, must be signed by one of the
    /// CAs; clients without one are let through (tell them apart by
    /// `TransportInfo::peer_certificate_subject`).
    Optional(PemSource),
}

#[derive(Clone)]
enum Certificates {
    None,
    Single { cert: PemSource, key: PemSource },
    Handlers(Arc<dyn SniHandlers>),
}

/// Builds the [`rustls::ServerConfig`] of a TLS listener.
///
/// Give it either one certificate ([`certificate`](Self::certificate)) or MyQtt's handlers
/// ([`sni`](Self::sni), [`handlers`](Self::handlers)), optionally a CA for client
/// certificates, then [`build`](Self::build). TLS 1.3 and 1.2 are offered, with rustls' `ring`
/// provider.
#[derive(Clone)]
pub struct ServerTls {
    certificates: Certificates,
    client_auth: ClientAuth,
    alpn: Vec<Vec<u8>>,
}

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let certificates = match &self.certificates {
            Certificates::None => "none".to_owned(),
            Certificates::Single { cert, .. } => cert.origin(),
            Certificates::Handlers(_) => "SNI handlers".to_owned(),
        };
        f.debug_struct("ServerTls")
            .field("certificates", &certificates)
            .field("client_auth", &self.client_auth)
            .field("alpn", &self.alpn)
            .finish()
    }
}

impl Default for ServerTls {
    fn default() -> Self {
        Self::new()
    }
}

impl ServerTls {
    /// A builder with no certificate yet, no client authentication and no ALPN.
    pub fn new() -> Self {
        ServerTls {
            certificates: Certificates::None,
            client_auth: ClientAuth::None,
            alpn: Vec::new(),
        }
    }

    /// Presents this certificate (leaf first, then its chain) and key to every client
    /// (MyQtt `myqtt_tls_set_certificate`). Replaces handlers set before.
    pub fn certificate(mut self, cert: impl Into<PemSource>, key: impl Into<PemSource>) -> Self {
        self.certificates = Certificates::Single {
            cert: cert.into(),
            key: key.into(),
        };
        self
    }

    /// Chooses the certificate per handshake with MyQtt's handlers. Replaces a certificate
    /// set before.
    pub fn handlers(mut self, handlers: impl SniHandlers) -> Self {
        self.certificates = Certificates::Handlers(Arc::new(handlers));
        self
    }

    /// [`handlers`](Self::handlers) from three closures: `accept(server_name) -> bool`,
    /// `cert(server_name) -> Option<PemSource>` and `key(server_name) -> Option<PemSource>`.
    pub fn sni<A, C, K>(self, accept: A, cert: C, key: K) -> Self
    where
        A: Fn(Option<&str>) -> bool + Send + Sync + 'static,
        C: Fn(Option<&str>) -> Option<PemSource> + Send + Sync + 'static,
        K: Fn(Option<&str>) -> Option<PemSource> + Send + Sync + 'static,
    {
        self.handlers(FnHandlers { accept, cert, key })
    }

    /// Requires a client certificate signed by a CA in `ca` (mutual TLS).
    pub fn client_auth_required(self, ca: impl Into<PemSource>) -> Self {
        self.client_auth(ClientAuth::Required(ca.into()))
    }

    /// Asks for a client certificate signed by a CA in `ca`, but lets clients without one in.
    pub fn client_auth_optional(self, ca: impl Into<PemSource>) -> Self {
        self.client_auth(ClientAuth::Optional(ca.into()))
    }

    /// Sets the client-certificate policy.
    pub fn client_auth(mut self, client_auth: ClientAuth) -> Self {
        self.client_auth = client_auth;
        self
    }

    /// ALPN protocols to agree on, most preferred first (for instance `b"mqtt"`). Empty (the
    /// default) means no ALPN; with a list, clients offering none of them fail the handshake.
    pub fn alpn_protocols(mut self, protocols: Vec<Vec<u8>>) -> Self {
        self.alpn = protocols;
        self
    }

    /// Loads the material and builds the configuration to hand to a TLS listener.
    ///
    /// A single certificate and the CA are loaded now, so a missing file fails here; SNI
    /// handlers' certificates are loaded at the first handshake that selects them (a failure
    /// then aborts that handshake only). To replace certificates later without a restart, use
    /// [`build_reloadable`](Self::build_reloadable).
    pub fn build(self) -> Result<Arc<ServerConfig>, TlsError> {
        self.build_reloadable().map(|(config, _)| config)
    }

    /// [`build`](Self::build), plus a [`TlsReloader`] that re-reads the certificates later
    /// (after a renewal, on `myqttd`'s SIGHUP) and swaps them in for new handshakes without
    /// touching established connections. Hand the configuration to the listener and keep the
    /// reloader; see [`TlsReloader::reload`] for what is re-read.
    pub fn build_reloadable(self) -> Result<(Arc<ServerConfig>, TlsReloader), TlsError> {
        let provider = provider();
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(VERSIONS)?;
        let builder = match &self.client_auth {
            ClientAuth::None => builder.with_no_client_auth(),
            ClientAuth::Required(ca) | ClientAuth::Optional(ca) => {
                let mut roots = rustls::RootCertStore::empty();
                add_roots(&mut roots, ca)?;
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone());
                let verifier = match self.client_auth {
                    ClientAuth::Optional(_) => verifier.allow_unauthenticated(),
                    _ => verifier,
                };
                builder.with_client_cert_verifier(verifier.build()?)
            }
        };
        let resolver = Arc::new(match self.certificates {
            Certificates::None => return Err(TlsError::NoServerCertificate),
            Certificates::Single { cert, key } => {
                Resolver::Single(SingleResolver::new(cert, key, provider)?)
            }
            Certificates::Handlers(handlers) => Resolver::Sni(SniResolver::new(handlers, provider)),
        });
        let mut config = builder.with_cert_resolver(resolver.clone());
        config.alpn_protocols = self.alpn;
        Ok((Arc::new(config), TlsReloader::new(resolver)))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn self_signed() -> (PemSource, PemSource) {
        let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        (
            PemSource::bytes(ck.cert.pem()),
            PemSource::bytes(ck.signing_key.serialize_pem()),
        )
    }

    #[test]
    fn builds_with_a_certificate_and_with_handlers() {
        let (cert, key) = self_signed();
        let config = ServerTls::new()
            .certificate(cert.clone(), key.clone())
            .alpn_protocols(vec![b"mqtt".to_vec()])
            .build()
            .unwrap();
        assert_eq!(config.alpn_protocols, [b"mqtt".to_vec()]);
        ServerTls::new()
            .sni(
                |_| true,
                move |_| Some(cert.clone()),
                move |_| Some(key.clone()),
            )
            .client_auth_optional(self_signed().0)
            .build()
            .unwrap();
    }

    #[test]
    fn clear_errors() {
        assert!(matches!(
            ServerTls::new().build(),
            Err(TlsError::NoServerCertificate)
        ));
        let (cert, key) = self_signed();
        let missing = PemSource::path("/nonexistent/server.key");
        let err = ServerTls::new()
            .certificate(cert.clone(), missing)
            .build()
            .unwrap_err();
        assert!(matches!(err, TlsError::Io { .. }), "{err}");
        assert!(err.to_string().contains("/nonexistent/server.key"), "{err}");
        let err = ServerTls::new()
            .certificate(key.clone(), key.clone())
            .build()
            .unwrap_err();
        assert!(matches!(err, TlsError::NoCertificate { .. }), "{err}");
        let err = ServerTls::new()
            .certificate(cert.clone(), cert.clone())
            .build()
            .unwrap_err();
        assert!(matches!(err, TlsError::NoPrivateKey { .. }), "{err}");
        let (_, other_key) = self_signed();
        let err = ServerTls::new()
            .certificate(cert.clone(), other_key)
            .build()
            .unwrap_err();
        assert!(matches!(err, TlsError::Rustls(_)), "{err}");
        let broken =
            PemSource::bytes("-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n");
        let err = ServerTls::new()
            .certificate(broken, key.clone())
            .build()
            .unwrap_err();
        assert!(matches!(err, TlsError::Pem { .. }), "{err}");
        let err = ServerTls::new()
            .certificate(cert, key)
            .client_auth_required(PemSource::bytes(""))
            .build()
            .unwrap_err();
        assert!(matches!(err, TlsError::NoCertificate { .. }), "{err}");
    }

    #[test]
    fn key_material_is_not_printed() {
        let (_, key) = self_signed();
        assert!(format!("{key:?}").starts_with("Bytes("));
        assert!(!format!("{key:?}").contains("PRIVATE"));
    }
}
