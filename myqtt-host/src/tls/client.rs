//! The client configuration: which servers to trust, and an optional client certificate.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use super::pem::{PemSource, add_roots, load_certificates, load_private_key};
use super::{TlsError, VERSIONS, provider};

/// Builds the [`rustls::ClientConfig`] of a TLS client connection (MyQtt
/// `myqtt_tls_opts_set_ssl_certs(opts, cert, key, chain, ca)`).
///
/// By default the server is verified against the Mozilla root certificates (the
/// `webpki-roots` crate, built in: no system store is read). [`ca`](Self::ca) trusts given CAs
/// instead, as for a private broker. The server name checked against the certificate (and sent
/// through SNI) is chosen by the connector, not here.
#[derive(Clone, Debug, Default)]
pub struct ClientTls {
    cas: Vec<PemSource>,
    webpki_roots: bool,
    skip_server_verification: bool,
    client_certificate: Option<(PemSource, PemSource)>,
    alpn: Vec<Vec<u8>>,
}

impl ClientTls {
    /// Trusts the Mozilla roots, presents no client certificate, offers no ALPN.
    pub fn new() -> Self {
        ClientTls {
            cas: Vec::new(),
            webpki_roots: true,
            skip_server_verification: false,
            client_certificate: None,
            alpn: Vec::new(),
        }
    }

    /// Trusts the CA certificates in `ca` (may be called several times) and, unless
    /// [`webpki_roots`](Self::webpki_roots) is called afterwards, no longer the Mozilla roots.
    pub fn ca(mut self, ca: impl Into<PemSource>) -> Self {
        self.cas.push(ca.into());
        self.webpki_roots = false;
        self
    }

    /// Also trusts the Mozilla roots (the default until [`ca`](Self::ca) is called).
    pub fn webpki_roots(mut self) -> Self {
        self.webpki_roots = true;
        self
    }

    /// **Dangerous**: accepts any server certificate, for any name, from anyone (MyQtt
    /// `myqtt_tls_opts_ssl_peer_verify(opts, false)`, as its test_18 does). The connection is
    /// encrypted but not authenticated: anyone on the path can read and change it. Only for
    /// tests and for reaching a broker with a self-signed certificate on a trusted network;
    /// prefer [`ca`](Self::ca) with that certificate. The server's handshake signature is still
    /// checked against the certificate it presented.
    pub fn danger_accept_any_server_certificate(mut self) -> Self {
        self.skip_server_verification = true;
        self
    }

    /// Presents this certificate (leaf first, then its chain) and key when the server asks
    /// for one (mutual TLS).
    pub fn client_certificate(
        mut self,
        cert: impl Into<PemSource>,
        key: impl Into<PemSource>,
    ) -> Self {
        self.client_certificate = Some((cert.into(), key.into()));
        self
    }

    /// ALPN protocols to offer, most preferred first (for instance `b"mqtt"`).
    pub fn alpn_protocols(mut self, protocols: Vec<Vec<u8>>) -> Self {
        self.alpn = protocols;
        self
    }

    /// Loads the material and builds the configuration to hand to a TLS connector.
    pub fn build(self) -> Result<Arc<ClientConfig>, TlsError> {
        let mut roots = RootCertStore::empty();
        if self.webpki_roots {
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        for ca in &self.cas {
            add_roots(&mut roots, ca)?;
        }
        let builder = ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(VERSIONS)?
            .with_root_certificates(roots);
        let mut config = match &self.client_certificate {
            Some((cert, key)) => {
                builder.with_client_auth_cert(load_certificates(cert)?, load_private_key(key)?)?
            }
            None => builder.with_no_client_auth(),
        };
        config.alpn_protocols = self.alpn;
        if self.skip_server_verification {
            config
                .dangerous()
                .set_certificate_verifier(Arc::new(AcceptAnyServerCertificate(provider())));
        }
        Ok(Arc::new(config))
    }
}

/// The verifier of [`ClientTls::danger_accept_any_server_certificate`]: any certificate is
/// accepted; handshake signatures are still verified with the provider's algorithms.
#[derive(Debug)]
struct AcceptAnyServerCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyServerCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
