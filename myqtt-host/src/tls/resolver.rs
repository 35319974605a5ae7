//! The certificate resolvers behind [`ServerTls`](super::ServerTls): one certificate, or
//! MyQtt's SNI handlers; both reloadable through a [`TlsReloader`].
//!
//! rustls asks the configuration's [`ResolvesServerCert`] for a certificate at every
//! handshake. The resolvers here keep the loaded certificates behind a lock and hand out an
//! `Arc` clone, so a reload swaps the set that *new* handshakes see while connections already
//! established keep the key they negotiated with (a TLS session never looks at its
//! certificate again after the handshake).

use std::collections::hash_map::Entry;
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};

use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use super::TlsError;
use super::pem::{PemSource, load_certificates, load_private_key};
use super::server::SniHandlers;

/// Distinct certificates (and server names) an SNI resolver remembers; past this, new ones
/// are loaded per handshake without being cached (handlers returning a fresh source per name,
/// or a client inventing server names, cannot grow memory without bound).
const MAX_CACHED: usize = 1024;

/// Locks a mutex, going on after a panic elsewhere: the data guarded here is a cache that is
/// consistent between statements.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Loads a certificate chain and its key and checks that they belong together.
fn load_certified_key(
    cert: &PemSource,
    key: &PemSource,
    provider: &CryptoProvider,
) -> Result<CertifiedKey, TlsError> {
    let chain = load_certificates(cert)?;
    let key = load_private_key(key)?;
    Ok(CertifiedKey::from_der(chain, key, provider)?)
}

/// Re-reads the certificates of a configuration built with
/// [`ServerTls::build_reloadable`](super::ServerTls::build_reloadable), for instance when
/// `myqttd` receives SIGHUP after a certificate was renewed.
///
/// Cloning it is cheap; every clone reloads the same configuration. It keeps the
/// configuration's resolver alive, not the listener.
#[derive(Clone, Debug)]
pub struct TlsReloader {
    resolver: Arc<Resolver>,
}

impl TlsReloader {
    pub(super) fn new(resolver: Arc<Resolver>) -> Self {
        TlsReloader { resolver }
    }

    /// Reads every certificate and key again and, if all of them load, swaps them in
    /// atomically: handshakes that start afterwards present the new certificates; connections
    /// already established are not touched. Call it from any thread, as often as wanted
    /// (concurrent reloads are serialized).
    ///
    /// - One certificate ([`ServerTls::certificate`](super::ServerTls::certificate)): the
    ///   certificate and key sources are read again (a [`PemSource::Bytes`] reloads the same
    ///   bytes).
    /// - SNI handlers: the handlers are asked again for every server name seen so far, and
    ///   what they return now is loaded; names they no longer accept or give a certificate for
    ///   are forgotten, and names not seen yet are resolved at their first handshake as usual.
    ///   The previous cache is dropped.
    ///
    /// On error (a file missing or unreadable, malformed PEM, a key that does not match its
    /// certificate) nothing changes: the certificates loaded before stay in use, and the
    /// error names the file.
    ///
    /// Not reloaded: the client-certificate CA of
    /// [`ServerTls::client_auth_required`](super::ServerTls::client_auth_required) and
    /// [`client_auth_optional`](super::ServerTls::client_auth_optional), and the ALPN list;
    /// build a new configuration for those. A client resuming an earlier TLS session (session
    /// ticket or id) is not shown a certificate at all, so it does not see the new one until
    /// it makes a full handshake.
    pub fn reload(&self) -> Result<(), TlsError> {
        self.resolver.reload()
    }
}

/// The resolver of a server configuration.
#[derive(Debug)]
pub(super) enum Resolver {
    /// One certificate for every server name.
    Single(SingleResolver),
    /// MyQtt's handlers, asked per handshake.
    Sni(SniResolver),
}

impl Resolver {
    fn reload(&self) -> Result<(), TlsError> {
        match self {
            Resolver::Single(r) => r.reload(),
            Resolver::Sni(r) => r.reload(),
        }
    }
}

impl ResolvesServerCert for Resolver {
    fn resolve(&self, client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        match self {
            Resolver::Single(r) => Some(r.current()),
            Resolver::Sni(r) => r.resolve(client_hello.server_name()),
        }
    }
}

/// One certificate and key, loaded at build and at every reload.
pub(super) struct SingleResolver {
    cert: PemSource,
    key: PemSource,
    provider: Arc<CryptoProvider>,
    current: RwLock<Arc<CertifiedKey>>,
    /// Held across read-and-swap so that two reloads cannot install older files last.
    reloading: Mutex<()>,
}

impl std::fmt::Debug for SingleResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SingleResolver")
            .field("cert", &self.cert)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl SingleResolver {
    /// Loads the certificate now, so a missing file fails the build.
    pub(super) fn new(
        cert: PemSource,
        key: PemSource,
        provider: Arc<CryptoProvider>,
    ) -> Result<Self, TlsError> {
        let loaded = load_certified_key(&cert, &key, &provider)?;
        Ok(SingleResolver {
            cert,
            key,
            provider,
            current: RwLock::new(Arc::new(loaded)),
            reloading: Mutex::new(()),
        })
    }

    fn current(&self) -> Arc<CertifiedKey> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn reload(&self) -> Result<(), TlsError> {
        let _serial = lock(&self.reloading);
        let loaded = Arc::new(load_certified_key(&self.cert, &self.key, &self.provider)?);
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = loaded;
        tracing::info!(cert = %self.cert.origin(), "TLS certificate reloaded");
        Ok(())
    }
}

/// What an [`SniResolver`] has loaded.
#[derive(Default)]
struct SniCache {
    /// Bumped by every reload; a handshake that loaded a certificate under an older
    /// generation does not put it in the cache (it may have read the files before they were
    /// replaced).
    generation: u64,
    /// Loaded certificates by (certificate, key) source.
    loaded: HashMap<(PemSource, PemSource), Arc<CertifiedKey>>,
    /// Server names that resolved to a certificate, to ask the handlers about on reload.
    names: BTreeSet<String>,
    /// Whether a handshake without SNI resolved to a certificate.
    anonymous: bool,
}

impl SniCache {
    fn remember(&mut self, name: Option<&str>) {
        match name {
            None => self.anonymous = true,
            Some(name) => {
                if self.names.len() < MAX_CACHED && !self.names.contains(name) {
                    self.names.insert(name.to_owned());
                }
            }
        }
    }
}

/// MyQtt's handlers as a rustls certificate resolver: asked at every handshake; what they
/// return is loaded once per (certificate, key) source pair and cached until a reload.
pub(super) struct SniResolver {
    handlers: Arc<dyn SniHandlers>,
    provider: Arc<CryptoProvider>,
    cache: Mutex<SniCache>,
    /// Held across a whole reload (see [`SingleResolver::reloading`]).
    reloading: Mutex<()>,
}

impl std::fmt::Debug for SniResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SniResolver").finish_non_exhaustive()
    }
}

impl SniResolver {
    pub(super) fn new(handlers: Arc<dyn SniHandlers>, provider: Arc<CryptoProvider>) -> Self {
        SniResolver {
            handlers,
            provider,
            cache: Mutex::new(SniCache::default()),
            reloading: Mutex::new(()),
        }
    }

    /// The sources the handlers choose for `name`, or `None` to abort the handshake.
    fn sources(&self, name: Option<&str>) -> Option<(PemSource, PemSource)> {
        if !self.handlers.accept(name) {
            tracing::debug!(server_name = ?name, "TLS handshake refused by the accept handler");
            return None;
        }
        let (Some(cert), Some(key)) = (self.handlers.cert(name), self.handlers.key(name)) else {
            tracing::warn!(server_name = ?name, "no TLS certificate for this server name");
            return None;
        };
        Some((cert, key))
    }

    fn resolve(&self, name: Option<&str>) -> Option<Arc<CertifiedKey>> {
        let sources = self.sources(name)?;
        let generation = {
            let mut cache = lock(&self.cache);
            if let Some(found) = cache.loaded.get(&sources).cloned() {
                cache.remember(name);
                return Some(found);
            }
            cache.generation
        };
        // Loaded outside the lock: reading files must not stall other handshakes.
        match load_certified_key(&sources.0, &sources.1, &self.provider) {
            Ok(loaded) => {
                let loaded = Arc::new(loaded);
                let mut cache = lock(&self.cache);
                if cache.generation == generation && cache.loaded.len() < MAX_CACHED {
                    cache.loaded.insert(sources, loaded.clone());
                    cache.remember(name);
                }
                Some(loaded)
            }
            Err(e) => {
                tracing::warn!(server_name = ?name, "cannot load the TLS certificate: {e}");
                None
            }
        }
    }

    fn reload(&self) -> Result<(), TlsError> {
        let _serial = lock(&self.reloading);
        let (names, anonymous) = {
            let cache = lock(&self.cache);
            (cache.names.clone(), cache.anonymous)
        };
        let mut fresh = SniCache::default();
        let all = anonymous
            .then_some(None)
            .into_iter()
            .chain(names.iter().map(|n| Some(n.as_str())));
        for name in all {
            let Some(sources) = self.sources(name) else {
                continue;
            };
            if let Entry::Vacant(slot) = fresh.loaded.entry(sources) {
                let (cert, key) = slot.key();
                let loaded = load_certified_key(cert, key, &self.provider)?;
                slot.insert(Arc::new(loaded));
            }
            fresh.remember(name);
        }
        let mut cache = lock(&self.cache);
        fresh.generation = cache.generation.wrapping_add(1);
        let count = fresh.loaded.len();
        *cache = fresh;
        drop(cache);
        tracing::info!(
            certificates = count,
            "TLS certificates of the SNI handlers reloaded"
        );
        Ok(())
    }
}
