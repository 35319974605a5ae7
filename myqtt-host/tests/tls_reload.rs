//! Reloading server certificates ([`ServerTls::build_reloadable`], [`TlsReloader`]): real
//! rustls handshakes in memory (client and server connections exchanging their TLS records
//! through byte buffers), certificates from rcgen written to PEM files that the test rewrites.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use myqtt_host::tls::{ClientTls, PemSource, ServerTls, TlsError, TlsReloader};
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConnection, Connection, ServerConfig, ServerConnection};

/// A self-signed certificate: (certificate PEM, key PEM, certificate DER).
struct Cert {
    cert_pem: String,
    key_pem: String,
    der: CertificateDer<'static>,
}

fn cert(name: &str) -> Cert {
    let ck = rcgen::generate_simple_self_signed(vec![name.to_owned()]).unwrap();
    Cert {
        cert_pem: ck.cert.pem(),
        key_pem: ck.signing_key.serialize_pem(),
        der: ck.cert.der().clone(),
    }
}

/// Writes the certificate and key to `<dir>/<stem>.crt` and `<dir>/<stem>.key`.
fn write(dir: &Path, stem: &str, cert: &Cert) -> (PathBuf, PathBuf) {
    let (crt, key) = (
        dir.join(format!("{stem}.crt")),
        dir.join(format!("{stem}.key")),
    );
    std::fs::write(&crt, &cert.cert_pem).unwrap();
    std::fs::write(&key, &cert.key_pem).unwrap();
    (crt, key)
}

/// Moves every pending TLS record from `from` to `to`.
fn transfer(from: &mut Connection, to: &mut Connection) -> Result<(), rustls::Error> {
    let mut records = Vec::new();
    while from.wants_write() {
        from.write_tls(&mut records).unwrap();
    }
    let mut rest = &records[..];
    while !rest.is_empty() {
        to.read_tls(&mut rest).unwrap();
        to.process_new_packets()?;
    }
    Ok(())
}

/// A completed handshake: both ends, with the records flowing in memory.
struct Pair {
    client: Connection,
    server: Connection,
}

impl Pair {
    /// The certificate the server presented.
    fn server_certificate(&self) -> CertificateDer<'static> {
        self.client.peer_certificates().unwrap()[0]
            .clone()
            .into_owned()
    }

    /// Sends `data` from the client and returns what the server application reads.
    fn client_to_server(&mut self, data: &[u8]) -> Vec<u8> {
        use std::io::{Read, Write};
        self.client.writer().write_all(data).unwrap();
        transfer(&mut self.client, &mut self.server).unwrap();
        let mut got = vec![0; data.len()];
        self.server.reader().read_exact(&mut got).unwrap();
        got
    }
}

/// A full handshake with a fresh client configuration (no session to resume, so the server
/// always presents a certificate). `name` is sent through SNI unless it is an IP address.
fn handshake(config: &Arc<ServerConfig>, name: &str) -> Result<Pair, rustls::Error> {
    let client_config = ClientTls::new()
        .danger_accept_any_server_certificate()
        .build()
        .unwrap();
    let name = ServerName::try_from(name.to_owned()).unwrap();
    let mut client = Connection::Client(ClientConnection::new(client_config, name)?);
    let mut server = Connection::Server(ServerConnection::new(config.clone())?);
    for _ in 0..10 {
        transfer(&mut client, &mut server)?;
        transfer(&mut server, &mut client)?;
        if !client.is_handshaking() && !server.is_handshaking() {
            return Ok(Pair { client, server });
        }
    }
    panic!("the handshake did not complete");
}

fn served(config: &Arc<ServerConfig>, name: &str) -> CertificateDer<'static> {
    handshake(config, name).unwrap().server_certificate()
}

#[test]
fn single_certificate_is_swapped_for_new_handshakes_only() {
    let dir = tempfile::tempdir().unwrap();
    let (old, new) = (cert("localhost"), cert("localhost"));
    let (crt, key) = write(dir.path(), "server", &old);
    let (config, reloader) = ServerTls::new()
        .certificate(PemSource::path(&crt), PemSource::path(&key))
        .build_reloadable()
        .unwrap();
    assert_eq!(served(&config, "localhost"), old.der);
    let mut established = handshake(&config, "localhost").unwrap();

    // Renewed on disk: nothing changes until the reload.
    write(dir.path(), "server", &new);
    assert_eq!(served(&config, "localhost"), old.der);
    reloader.reload().unwrap();
    assert_eq!(served(&config, "localhost"), new.der);
    assert_eq!(served(&config, "127.0.0.1"), new.der);

    // The connection made before the reload goes on, with the certificate it negotiated.
    assert_eq!(established.client_to_server(b"still here"), b"still here");
    assert_eq!(established.server_certificate(), old.der);

    // A clone reloads the same configuration; a reload without a change is harmless.
    let clone: TlsReloader = reloader.clone();
    clone.reload().unwrap();
    assert_eq!(served(&config, "localhost"), new.der);
}

#[test]
fn failed_reload_keeps_the_old_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let good = cert("localhost");
    let (crt, key) = write(dir.path(), "server", &good);
    let (config, reloader) = ServerTls::new()
        .certificate(PemSource::path(&crt), PemSource::path(&key))
        .alpn_protocols(vec![b"mqtt".to_vec()])
        .build_reloadable()
        .unwrap();
    assert_eq!(config.alpn_protocols, [b"mqtt".to_vec()]);

    // Malformed PEM.
    std::fs::write(
        &crt,
        "-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let err = reloader.reload().unwrap_err();
    assert!(matches!(err, TlsError::Pem { .. }), "{err}");
    assert!(err.to_string().contains("server.crt"), "{err}");
    assert_eq!(served(&config, "localhost"), good.der);

    // Half-written renewal: a new certificate with the old key.
    std::fs::write(&crt, cert("localhost").cert_pem).unwrap();
    let err = reloader.reload().unwrap_err();
    assert!(matches!(err, TlsError::Rustls(_)), "{err}");
    assert_eq!(served(&config, "localhost"), good.der);

    // A key file that holds no key, then a missing key file.
    std::fs::write(&crt, &good.cert_pem).unwrap();
    std::fs::write(&key, &good.cert_pem).unwrap();
    let err = reloader.reload().unwrap_err();
    assert!(matches!(err, TlsError::NoPrivateKey { .. }), "{err}");
    std::fs::remove_file(&key).unwrap();
    let err = reloader.reload().unwrap_err();
    assert!(matches!(err, TlsError::Io { .. }), "{err}");
    assert_eq!(served(&config, "localhost"), good.der);

    // Repaired: the next reload succeeds.
    let next = cert("localhost");
    write(dir.path(), "server", &next);
    reloader.reload().unwrap();
    assert_eq!(served(&config, "localhost"), next.der);
}

#[test]
fn build_is_unchanged_and_checks_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let c = cert("localhost");
    let (crt, key) = write(dir.path(), "server", &c);
    let config = ServerTls::new()
        .certificate(PemSource::path(&crt), PemSource::path(&key))
        .build()
        .unwrap();
    assert_eq!(served(&config, "localhost"), c.der);
    let err = ServerTls::new()
        .certificate(
            PemSource::path(&crt),
            PemSource::path(dir.path().join("no.key")),
        )
        .build_reloadable()
        .unwrap_err();
    assert!(matches!(err, TlsError::Io { .. }), "{err}");
    assert!(matches!(
        ServerTls::new().build_reloadable(),
        Err(TlsError::NoServerCertificate)
    ));
}

/// Handlers reading a name -> file-stem table that the test changes, counting their calls.
#[derive(Default)]
struct Table {
    dir: PathBuf,
    stems: BTreeMap<Option<String>, String>,
    cert_calls: usize,
}

fn sni_config(table: &Arc<Mutex<Table>>) -> (Arc<ServerConfig>, TlsReloader) {
    let (accept, cert, key) = (table.clone(), table.clone(), table.clone());
    ServerTls::new()
        .sni(
            move |name| {
                let t = accept.lock().unwrap();
                t.stems.contains_key(&name.map(str::to_owned))
            },
            move |name| {
                let mut t = cert.lock().unwrap();
                t.cert_calls += 1;
                let stem = t.stems.get(&name.map(str::to_owned))?;
                Some(PemSource::path(t.dir.join(format!("{stem}.crt"))))
            },
            move |name| {
                let t = key.lock().unwrap();
                let stem = t.stems.get(&name.map(str::to_owned))?;
                Some(PemSource::path(t.dir.join(format!("{stem}.key"))))
            },
        )
        .build_reloadable()
        .unwrap()
}

#[test]
fn sni_handlers_are_asked_again_and_files_reread_on_reload() {
    let dir = tempfile::tempdir().unwrap();
    let (a1, a2, b, default1, default2) = (
        cert("a.example"),
        cert("a.example"),
        cert("b.example"),
        cert("localhost"),
        cert("localhost"),
    );
    write(dir.path(), "a", &a1);
    write(dir.path(), "b", &b);
    write(dir.path(), "default", &default1);
    let table = Arc::new(Mutex::new(Table {
        dir: dir.path().to_owned(),
        stems: [
            (Some("a.example".to_owned()), "a".to_owned()),
            (Some("b.example".to_owned()), "b".to_owned()),
            (None, "default".to_owned()),
        ]
        .into(),
        cert_calls: 0,
    }));
    let (config, reloader) = sni_config(&table);
    assert_eq!(served(&config, "a.example"), a1.der);
    assert_eq!(served(&config, "b.example"), b.der);
    // No SNI (an IP address): the handlers get `None`.
    assert_eq!(served(&config, "127.0.0.1"), default1.der);
    let established = handshake(&config, "a.example").unwrap();

    // The files change: the loaded certificates stay cached until the reload.
    write(dir.path(), "a", &a2);
    write(dir.path(), "default", &default2);
    assert_eq!(served(&config, "a.example"), a1.der);
    assert_eq!(served(&config, "127.0.0.1"), default1.der);

    // The reload asks the handlers again for every name seen (a, b and no SNI) and reads
    // what they point at now.
    let before = table.lock().unwrap().cert_calls;
    reloader.reload().unwrap();
    assert_eq!(table.lock().unwrap().cert_calls - before, 3);
    assert_eq!(served(&config, "a.example"), a2.der);
    assert_eq!(served(&config, "b.example"), b.der);
    assert_eq!(served(&config, "127.0.0.1"), default2.der);
    assert_eq!(established.server_certificate(), a1.der);

    // b's file is broken: the reload fails as a whole and a keeps its current certificate.
    write(dir.path(), "a", &a1);
    std::fs::write(dir.path().join("b.crt"), "not PEM at all").unwrap();
    let err = reloader.reload().unwrap_err();
    assert!(matches!(err, TlsError::NoCertificate { .. }), "{err}");
    assert!(err.to_string().contains("b.crt"), "{err}");
    assert_eq!(served(&config, "a.example"), a2.der);

    // The handlers drop b (its broken file no longer matters) and move a to another file.
    {
        let mut t = table.lock().unwrap();
        t.stems.remove(&Some("b.example".to_owned()));
        t.stems
            .insert(Some("a.example".to_owned()), "default".to_owned());
    }
    reloader.reload().unwrap();
    assert_eq!(served(&config, "a.example"), default2.der);
    assert!(handshake(&config, "b.example").is_err());
    assert_eq!(served(&config, "127.0.0.1"), default2.der);
}

#[test]
fn sni_names_first_seen_after_a_reload_are_resolved_as_usual() {
    let dir = tempfile::tempdir().unwrap();
    let (a, c) = (cert("a.example"), cert("c.example"));
    write(dir.path(), "a", &a);
    let table = Arc::new(Mutex::new(Table {
        dir: dir.path().to_owned(),
        stems: [(Some("a.example".to_owned()), "a".to_owned())].into(),
        cert_calls: 0,
    }));
    let (config, reloader) = sni_config(&table);
    // Nothing seen yet: the reload loads nothing and asks no handler.
    reloader.reload().unwrap();
    assert_eq!(table.lock().unwrap().cert_calls, 0);
    assert_eq!(served(&config, "a.example"), a.der);

    write(dir.path(), "c", &c);
    table
        .lock()
        .unwrap()
        .stems
        .insert(Some("c.example".to_owned()), "c".to_owned());
    reloader.reload().unwrap();
    assert_eq!(served(&config, "c.example"), c.der);
    assert_eq!(served(&config, "a.example"), a.der);
    // A name the handlers refuse aborts its handshake, before and after reloads.
    assert!(handshake(&config, "unknown.example").is_err());
    reloader.reload().unwrap();
    assert!(handshake(&config, "unknown.example").is_err());
}
