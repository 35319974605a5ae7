//! The listeners of the configuration, with TLS certificates that SIGHUP can reload.

use std::sync::{Arc, PoisonError, RwLock};

use crate::server::ServerBuilder;
use myqtt_host::config::{ListenerConfig, ListenerKind};
use myqtt_host::tls::{PemSource, ServerTls, TlsReloader};
use tracing::{error, info, warn};

/// A TLS listener's certificate settings, read by its SNI handlers at each new handshake and
/// replaced on reload.
#[derive(Debug)]
struct Certificates {
    listener: Arc<RwLock<ListenerConfig>>,
    reloader: TlsReloader,
}

/// The certificates of every TLS listener, by position in `listeners`.
#[derive(Debug, Default)]
pub(crate) struct TlsListeners {
    by_index: Vec<(usize, Arc<Certificates>)>,
}

/// Adds every listener of `listeners` to `builder`.
pub(crate) fn add_all(
    mut builder: ServerBuilder,
    listeners: &[ListenerConfig],
) -> Result<(ServerBuilder, TlsListeners), String> {
    let mut tls = TlsListeners::default();
    for (index, listener) in listeners.iter().enumerate() {
        let address = listener.address();
        builder = match listener.kind {
            ListenerKind::Tcp => builder.listen(address),
            ListenerKind::Ws => builder.listen_ws(address),
            ListenerKind::Tls | ListenerKind::Wss => {
                let (config, certificates) = server_tls(listener)?;
                tls.by_index.push((index, certificates));
                if listener.kind == ListenerKind::Tls {
                    builder.listen_tls(address, config)
                } else {
                    builder.listen_wss(address, config)
                }
            }
        };
    }
    Ok((builder, tls))
}

/// The TLS configuration of a `tls`/`wss` listener: the certificate for each SNI server name,
/// with the listener's `certificate` as the default (MyQttD mod-ssl); `client_ca` requires
/// client certificates signed by it (mutual TLS).
fn server_tls(
    listener: &ListenerConfig,
) -> Result<(Arc<rustls::ServerConfig>, Arc<Certificates>), String> {
    let shared = Arc::new(RwLock::new(listener.clone()));
    let lookup = {
        let shared = shared.clone();
        move |name: Option<&str>, key: bool| {
            let listener = shared.read().unwrap_or_else(PoisonError::into_inner);
            let entry = name.and_then(|n| {
                listener
                    .sni
                    .iter()
                    .find(|e| e.server_name.eq_ignore_ascii_case(n))
            });
            let (cert, k) = match entry {
                Some(e) => (&e.certificate, &e.key),
                None => (listener.certificate.as_ref()?, listener.key.as_ref()?),
            };
            Some(PemSource::path(if key { k } else { cert }))
        }
    };
    let lookup = Arc::new(lookup);
    let (cert_lookup, key_lookup) = (lookup.clone(), lookup);
    let mut tls = ServerTls::new().sni(
        |_| true,
        move |name| cert_lookup(name, false),
        move |name| key_lookup(name, true),
    );
    if let Some(ca) = &listener.client_ca {
        tls = tls.client_auth_required(PemSource::path(ca));
    }
    // A missing or broken file stops the start instead of failing handshakes later.
    check_files(listener)?;
    let (config, reloader) = tls
        .build_reloadable()
        .map_err(|e| format!("listener {}: {e}", listener.address()))?;
    let certificates = Arc::new(Certificates {
        listener: shared,
        reloader,
    });
    Ok((config, certificates))
}

/// Loads every certificate and key the listener names, to report a bad one up front.
fn check_files(listener: &ListenerConfig) -> Result<(), String> {
    let default = listener.certificate.iter().zip(listener.key.iter());
    let named = listener.sni.iter().map(|e| (&e.certificate, &e.key));
    for (cert, key) in default.chain(named) {
        ServerTls::new()
            .certificate(PemSource::path(cert), PemSource::path(key))
            .build()
            .map_err(|e| format!("listener {}: {e}", listener.address()))?;
    }
    Ok(())
}

impl TlsListeners {
    /// SIGHUP: takes the certificate settings of the listeners at the same positions in
    /// `listeners` and reloads every certificate. Listener addresses, kinds and client CAs
    /// cannot change without a restart (a warning says so); a listener whose certificates fail
    /// to load keeps the ones it had.
    pub(crate) fn reload(&self, listeners: &[ListenerConfig]) {
        for (index, certificates) in &self.by_index {
            let address = certificates
                .listener
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .address();
            let Some(new) = listeners.get(*index) else {
                warn!(
                    listener = address,
                    "listener removed from the configuration: restart to close it"
                );
                continue;
            };
            let old = certificates
                .listener
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .clone();
            if new.address() != old.address()
                || new.kind != old.kind
                || new.client_ca != old.client_ca
            {
                warn!(
                    listener = address,
                    "listener address, kind or client_ca changed: restart to apply"
                );
            }
            if let Err(e) = check_files(new) {
                error!(
                    listener = address,
                    "certificates not reloaded, keeping the old ones: {e}"
                );
                continue;
            }
            let updated = ListenerConfig {
                sni: new.sni.clone(),
                certificate: new.certificate.clone(),
                key: new.key.clone(),
                ..old.clone()
            };
            *certificates
                .listener
                .write()
                .unwrap_or_else(PoisonError::into_inner) = updated;
            match certificates.reloader.reload() {
                Ok(()) => info!(listener = address, "certificates reloaded"),
                Err(e) => {
                    *certificates
                        .listener
                        .write()
                        .unwrap_or_else(PoisonError::into_inner) = old;
                    error!(
                        listener = address,
                        "certificates not reloaded, keeping the old ones: {e}"
                    );
                }
            }
        }
    }
}
