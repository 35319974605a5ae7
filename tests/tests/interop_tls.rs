//! TLS in the interoperability matrix, with a CA and a server certificate (for `localhost` and
//! 127.0.0.1) made at test time by `rcgen`:
//!
//! - `mosquitto_pub`/`mosquitto_sub --cafile`, paho-mqtt (`tests/peers/paho_tls_peer.py`) and
//!   MQTT.js (`mqtts://` and `wss://`) against our library server's TLS and secure WebSocket
//!   listeners;
//! - our client (`TlsConnector`) against Debian's `mosquitto` with a TLS listener;
//! - the `myqttd` binary with TLS and `wss` listeners from its TOML config, against
//!   `mosquitto_pub`/`mosquitto_sub`, MQTT.js and our client.
//!
//! Every peer checks the server's certificate against the CA and the name 127.0.0.1.
#![cfg(feature = "interop")]
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use myqtt_host::tls::{ClientTls, PemSource, ServerTls};
use myqtt_proto::codec::{ProtocolVersion, Publish, QoS};
use myqtt_tests::myqttd::Myqttd;
use myqtt_tests::peers::{
    Mosquitto, PEER_SCENARIOS, PEER_VERSIONS, PeerProcess, TestServer, free_port, mqttjs, paho_tls,
    require, require_mqttjs, require_paho, run_ok, within,
};
use myqtt_tokio::client::{Client, ConnectOptions, Messages, TlsConnector};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use serde_json::Value;

/// A CA and a server certificate for `localhost` and 127.0.0.1, as PEM files in a temporary
/// directory (`ca.pem`, `server.pem`, `server.key`) for the outside peers.
struct Certs {
    dir: tempfile::TempDir,
}

impl Certs {
    fn new() -> Certs {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "myqtt interop CA");
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_key = KeyPair::generate().unwrap();
        let ca = params.self_signed(&ca_key).unwrap().pem();
        let issuer = Issuer::new(params, ca_key);
        let mut params =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &issuer).unwrap().pem();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ca.pem"), ca).unwrap();
        std::fs::write(dir.path().join("server.pem"), cert).unwrap();
        std::fs::write(dir.path().join("server.key"), key.serialize_pem()).unwrap();
        // mosquitto, started as root, reads them after dropping to its own user.
        make_world_readable(dir.path());
        Certs { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn ca(&self) -> PathBuf {
        self.path("ca.pem")
    }

    fn ca_str(&self) -> String {
        self.ca().to_str().unwrap().to_owned()
    }

    /// Our server's TLS configuration.
    fn server(&self) -> Arc<rustls::ServerConfig> {
        ServerTls::new()
            .certificate(
                PemSource::path(self.path("server.pem")),
                PemSource::path(self.path("server.key")),
            )
            .build()
            .unwrap()
    }

    /// Our client's TLS configuration: trusts the CA only.
    fn client(&self) -> Arc<rustls::ClientConfig> {
        ClientTls::new()
            .ca(PemSource::path(self.ca()))
            .build()
            .unwrap()
    }

    /// A mosquitto TLS listener on 127.0.0.1:`port` with these certificates.
    fn mosquitto_listener(&self, port: u16) -> String {
        format!(
            "listener {port} 127.0.0.1\ncafile {}\ncertfile {}\nkeyfile {}\n",
            self.ca().display(),
            self.path("server.pem").display(),
            self.path("server.key").display()
        )
    }
}

fn make_world_readable(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
}

/// `mosquitto_sub --cafile` receives two messages that `mosquitto_pub --cafile` sends, over
/// TLS to 127.0.0.1:`port`, at every QoS in 3.1.1 and 5.0.
async fn mosquitto_clients_round_trip(
    certs: &Certs,
    port: u16,
    tag: &str,
    server: Option<&TestServer>,
) {
    let (pubb, subb) = (require("mosquitto_pub"), require("mosquitto_sub"));
    let (port, ca) = (port.to_string(), certs.ca_str());
    for version in ["mqttv311", "mqttv5"] {
        for qos in ["0", "1", "2"] {
            let topic = format!("{tag}/{version}/q{qos}");
            let sub_id = format!("{tag}-msub-{version}-{qos}");
            #[rustfmt::skip]
            let mut sub = PeerProcess::spawn(&subb, [
                "-h", "127.0.0.1", "-p", &port, "--cafile", &ca, "-V", version, "-i", &sub_id,
                "-q", qos, "-t", &topic, "-C", "2", "-W", "10", "-F", "%q %t %p",
            ]);
            match server {
                Some(server) => server.wait_subscribed(&sub_id, &topic).await,
                // No subscription probe in the myqttd process: give mosquitto_sub time.
                None => tokio::time::sleep(Duration::from_millis(500)).await,
            }
            for n in 1..=2 {
                #[rustfmt::skip]
                run_ok(&pubb, [
                    "-h", "127.0.0.1", "-p", &port, "--cafile", &ca, "-V", version,
                    "-q", qos, "-t", &topic, "-m", &format!("tls #{n}"),
                ], 10)
                .await;
            }
            let out = sub.finish(15).await;
            assert!(out.status.success(), "mosquitto_sub: {out:?}");
            assert_eq!(
                out.stdout,
                format!("{qos} {topic} tls #1\n{qos} {topic} tls #2\n"),
                "{version} QoS {qos}"
            );
        }
    }
}

/// The `"event": "message"` lines, as (topic, payload, qos, retain).
fn messages(lines: &[Value]) -> Vec<(String, String, u64, bool)> {
    lines
        .iter()
        .filter(|l| l["event"] == "message")
        .map(|l| {
            (
                l["topic"].as_str().unwrap().to_owned(),
                l["payload"].as_str().unwrap().to_owned(),
                l["qos"].as_u64().unwrap(),
                l["retain"].as_bool().unwrap(),
            )
        })
        .collect()
}

/// The session present flags of the `"event": "connack"` lines.
fn connacks(lines: &[Value]) -> Vec<bool> {
    lines
        .iter()
        .filter(|l| l["event"] == "connack")
        .map(|l| l["session_present"].as_bool().unwrap())
        .collect()
}

/// Checks what a paho or MQTT.js scenario (same scenarios, same output) printed; `prefix`
/// starts its client ids and topics.
fn check_scenario(name: &str, lines: &[Value], version: &str, prefix: &str, qos: u64) {
    let topic = format!("{prefix}/{name}/{version}");
    let expected: Vec<(String, String, u64, bool)> = match name {
        // [MQTT-4.3.2-2], [MQTT-4.3.3-2]: QoS flows; [MQTT-4.6.0-6] in order.
        "pubsub" => (0..3)
            .map(|n| (format!("{topic}/{qos}"), format!("message {n}"), qos, false))
            .collect(),
        // [MQTT-3.1.2-8] the will after an abrupt close, [MQTT-3.1.2-10] none after
        // DISCONNECT: the polite client's will would come before the marker.
        "will" => vec![
            (topic.clone(), "abrupt".to_owned(), 1, false),
            (topic, "marker".to_owned(), 1, false),
        ],
        // [MQTT-3.3.1-5], 3.1.1 [MQTT-3.3.1-6]/[MQTT-3.3.1-8], 5.0 [MQTT-3.3.1-9].
        "retained" => vec![(topic, "kept".to_owned(), 1, true)],
        // [MQTT-3.1.2-4]/[MQTT-3.1.2-5] (3.1.1 and 5.0), session present: 3.1.1
        // [MQTT-3.2.2-2], 5.0 [MQTT-3.2.2-3].
        "session" => {
            assert_eq!(connacks(lines), [false, true], "{prefix}");
            vec![
                (topic.clone(), "away qos 1".to_owned(), 1, false),
                (topic, "away qos 2".to_owned(), 2, false),
            ]
        }
        _ => unreachable!("no scenario {name}"),
    };
    assert_eq!(messages(lines), expected, "{prefix}");
}

/// Every scenario of `mqttjs_peer.js` against `url`, trusting the CA, in 3.1.1 and 5.0.
async fn mqttjs_scenarios(certs: &Certs, url: &str, tag: &str) {
    let ca = certs.ca_str();
    for version in PEER_VERSIONS {
        for (name, qos) in PEER_SCENARIOS {
            let prefix = format!("{tag}-js-{name}-{version}-{qos}");
            let q = qos.to_string();
            #[rustfmt::skip]
            let lines = mqttjs(&[
                name, "--url", url, "--ca", &ca, "--version", version, "--prefix", &prefix,
                "--qos", &q,
            ], 60)
            .await;
            if name == "pubsub" {
                assert_eq!(lines[0]["granted"], qos, "{prefix}");
            }
            check_scenario(name, &lines, version, &prefix, qos);
        }
    }
}

async fn next(messages: &mut Messages) -> Publish {
    tokio::time::timeout(Duration::from_secs(5), messages.recv())
        .await
        .expect("no message within 5 s")
        .expect("message stream ended")
}

/// Our client over TLS to `127.0.0.1:port`.
async fn connect_tls(certs: &Certs, port: u16, options: ConnectOptions) -> Client {
    let connector = TlsConnector::new(format!("127.0.0.1:{port}"), certs.client()).unwrap();
    Client::connect_with(connector, options.connect_timeout(Duration::from_secs(5)))
        .await
        .unwrap()
}

/// Our client over TLS to the broker on `port`: every QoS both ways, the will after an abrupt
/// shutdown, a persistent session resumed with a message queued while away; 3.1.1 and 5.0.
async fn our_client_over_tls(certs: &Certs, port: u16, tag: &str) {
    for (version, v) in [
        (ProtocolVersion::V3_1_1, "v311"),
        (ProtocolVersion::V5, "v5"),
    ] {
        let id = |name: &str| format!("{tag}-{name}-{v}");
        let options = |name: &str| ConnectOptions::new(id(name)).version(version);
        let sub = connect_tls(certs, port, options("sub")).await;
        let pubc = connect_tls(certs, port, options("pub")).await;
        let mut messages = sub.messages();
        let filter = format!("{tag}/{v}/#");
        sub.subscribe(filter.as_str(), QoS::ExactlyOnce)
            .await
            .unwrap();
        // [MQTT-4.3.1-1], [MQTT-4.3.2-2], [MQTT-4.3.3-2].
        for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
            let topic = format!("{tag}/{v}/q{}", qos as u8);
            pubc.publish(topic.as_str(), &b"over tls"[..], qos, false)
                .await
                .unwrap();
            let m = next(&mut messages).await;
            assert_eq!(
                (m.topic.as_str(), &m.payload[..]),
                (topic.as_str(), &b"over tls"[..])
            );
            assert_eq!(m.qos, qos, "{v}");
        }

        // [MQTT-3.1.2-8]: the will of a connection closed without DISCONNECT.
        let will_topic = format!("{tag}/{v}/will");
        let abrupt =
            options("abrupt").will(will_topic.as_str(), &b"gone"[..], QoS::AtLeastOnce, false);
        connect_tls(certs, port, abrupt).await.shutdown();
        let m = next(&mut messages).await;
        assert_eq!(
            (m.topic.as_str(), &m.payload[..]),
            (will_topic.as_str(), &b"gone"[..])
        );

        // [MQTT-3.1.2-4]/[MQTT-3.1.2-5]: a persistent session gets what was published while
        // it was away.
        let persistent = options("persist")
            .clean_start(false)
            .session_expiry_interval(300);
        let session_topic = format!("{tag}/{v}/session");
        let first = connect_tls(certs, port, persistent.clone()).await;
        first
            .subscribe(session_topic.as_str(), QoS::AtLeastOnce)
            .await
            .unwrap();
        first.close().await.unwrap();
        pubc.publish(
            session_topic.as_str(),
            &b"while away"[..],
            QoS::AtLeastOnce,
            false,
        )
        .await
        .unwrap();
        let again = connect_tls(certs, port, persistent).await;
        let mut resumed = again.messages();
        let m = next(&mut resumed).await;
        assert_eq!(
            (m.topic.as_str(), &m.payload[..]),
            (session_topic.as_str(), &b"while away"[..])
        );
        for client in [again, sub, pubc] {
            client.close().await.unwrap();
        }
    }
}

#[tokio::test]
async fn mosquitto_clients_over_tls_reach_our_tls_listener_at_every_qos() {
    require("mosquitto_sub");
    within(90, async {
        let certs = Certs::new();
        let server = TestServer::start_custom(false, |b| {
            b.listen("127.0.0.1:0")
                .listen_tls("127.0.0.1:0", certs.server())
        })
        .await;
        let tls = server.addrs()[1].port();
        mosquitto_clients_round_trip(&certs, tls, "mtls", Some(&server)).await;
        // The peers do check the certificate: another CA is refused.
        let other = Certs::new();
        #[rustfmt::skip]
        let refused = PeerProcess::spawn(&require("mosquitto_pub"), [
            "-h", "127.0.0.1", "-p", &tls.to_string(), "--cafile", &other.ca_str(),
            "-t", "mtls/refused", "-m", "x",
        ])
        .finish(10)
        .await;
        assert!(!refused.status.success(), "{refused:?}");
        server.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn paho_over_tls_to_our_tls_listener() {
    require_paho();
    within(180, async {
        let certs = Certs::new();
        let server = TestServer::start_custom(false, |b| {
            b.listen("127.0.0.1:0")
                .listen_tls("127.0.0.1:0", certs.server())
        })
        .await;
        let port = server.addrs()[1].port().to_string();
        for version in PEER_VERSIONS {
            for (name, qos) in PEER_SCENARIOS {
                // paho_peer.py puts the QoS of pubsub in the topic and "pubsub" in the prefix.
                let prefix = format!("paho-tls-{name}-{version}-{qos}");
                let q = qos.to_string();
                #[rustfmt::skip]
                let lines = paho_tls(&certs.ca(), &[
                    name, "--port", &port, "--version", version, "--prefix", &prefix,
                    "--qos", &q,
                ], 60)
                .await;
                if name == "pubsub" {
                    assert_eq!(lines[0]["granted"], qos, "{prefix}");
                }
                check_scenario(name, &lines, version, &prefix, qos);
            }
        }
        server.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn mqttjs_over_mqtts_and_wss_to_our_tls_listeners() {
    require_mqttjs();
    within(240, async {
        let certs = Certs::new();
        let server = TestServer::start_custom(false, |b| {
            b.listen("127.0.0.1:0")
                .listen_tls("127.0.0.1:0", certs.server())
                .listen_wss("127.0.0.1:0", certs.server())
        })
        .await;
        let (tls, wss) = (server.addrs()[1], server.addrs()[2]);
        mqttjs_scenarios(&certs, &format!("mqtts://{tls}"), "mqtts").await;
        // [MQTT-6.0.0-1], [MQTT-6.0.0-4]: binary frames, the `mqtt` subprotocol.
        mqttjs_scenarios(&certs, &format!("wss://{wss}/mqtt"), "wss").await;
        server.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn our_client_over_tls_to_mosquittos_tls_listener() {
    within(90, async {
        let certs = Certs::new();
        let tls = free_port();
        let broker = Mosquitto::start_with(&certs.mosquitto_listener(tls)).await;
        our_client_over_tls(&certs, tls, "ours-mosq").await;
        broker.stop().await;
    })
    .await;
}

/// The real `myqttd` process with a TLS and a `wss` listener in its TOML config (the
/// `[[listeners]]` tables of `myqttd.example.toml`) and a durable store.
#[tokio::test]
async fn myqttd_binary_tls_and_wss_listeners_serve_mosquitto_mqttjs_and_our_client() {
    require("mosquitto_sub");
    require_mqttjs();
    let certs = Certs::new();
    let dir = tempfile::tempdir().unwrap();
    let (tcp, tls, wss) = (free_port(), free_port(), free_port());
    let (cert, key) = (certs.path("server.pem"), certs.path("server.key"));
    let config = dir.path().join("myqttd.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = {data:?}\n\
             [[listeners]]\nbind = \"127.0.0.1\"\nport = {tcp}\n\
             [[listeners]]\nbind = \"127.0.0.1\"\nport = {tls}\nkind = \"tls\"\n\
             certificate = {cert:?}\nkey = {key:?}\n\
             [[listeners]]\nbind = \"127.0.0.1\"\nport = {wss}\nkind = \"wss\"\n\
             certificate = {cert:?}\nkey = {key:?}\n",
            data = dir.path().join("data"),
        ),
    )
    .unwrap();
    let config = config.to_str().unwrap();
    let broker = Myqttd::start(tcp, &["-c", config], &dir.path().join("myqttd.log"));
    within(240, async {
        mosquitto_clients_round_trip(&certs, tls, "myqttd-mtls", None).await;
        mqttjs_scenarios(&certs, &format!("wss://127.0.0.1:{wss}/mqtt"), "myqttd-wss").await;
        our_client_over_tls(&certs, tls, "myqttd-ours").await;
    })
    .await;
    drop(broker);
}
