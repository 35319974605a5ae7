//! The `myqttd` binary with tcp, tls (SNI + default certificate) and ws listeners from its TOML
//! config, spoken to by our client over each transport (MyQtt test_18, test_19a, test_20 against
//! the broker binary).
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use myqtt_host::tls::{ClientTls, PemSource};
use myqtt_proto::codec::QoS;
use myqtt_tokio::client::{
    Client, ConnectOptions, Connector, ReconnectPolicy, TlsConnector, WsConnector,
};
mod myqttd_common;
use myqttd_common::{Broker, MYQTTD, connect_when_up, free_port};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

fn options(id: &str) -> ConnectOptions {
    ConnectOptions::new(id).reconnect(ReconnectPolicy::disabled())
}

/// Connects, retrying while the broker is still starting.
async fn connect(connector: impl Connector + Clone, id: &str) -> Client {
    connect_when_up(connector, options(id), Duration::from_secs(3))
        .await
        .unwrap()
}

/// A CA and two server certificates signed by it: the default one and one for an SNI name.
fn certificates(dir: &std::path::Path) -> String {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(DnType::CommonName, "myqttd test CA");
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign];
    let ca_key = KeyPair::generate().unwrap();
    let ca_pem = params.self_signed(&ca_key).unwrap().pem();
    let issuer = Issuer::new(params, ca_key);
    for (file, names) in [
        ("default", vec!["localhost".to_owned()]),
        ("other", vec!["other.localhost".to_owned()]),
    ] {
        let mut p = CertificateParams::new(names).unwrap();
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let key = KeyPair::generate().unwrap();
        let cert = p.signed_by(&key, &issuer).unwrap();
        std::fs::write(dir.join(format!("{file}.crt")), cert.pem()).unwrap();
        std::fs::write(dir.join(format!("{file}.key")), key.serialize_pem()).unwrap();
    }
    ca_pem
}

#[tokio::test]
async fn tcp_tls_and_ws_listeners_from_the_config() {
    tokio::time::timeout(Duration::from_secs(15), async {
        let dir = tempfile::tempdir().unwrap();
        let ca = certificates(dir.path());
        let (tcp, tls, ws) = (free_port(), free_port(), free_port());
        let d = dir.path();
        let config = d.join("myqttd.toml");
        std::fs::write(
            &config,
            format!(
                r#"
                persistence = false
                [[listeners]]
                port = {tcp}
                [[listeners]]
                port = {tls}
                kind = "tls"
                certificate = {default_crt:?}
                key = {default_key:?}
                [[listeners.sni]]
                server_name = "other.localhost"
                certificate = {other_crt:?}
                key = {other_key:?}
                [[listeners]]
                port = {ws}
                kind = "ws"
                "#,
                default_crt = d.join("default.crt"),
                default_key = d.join("default.key"),
                other_crt = d.join("other.crt"),
                other_key = d.join("other.key"),
            ),
        )
        .unwrap();
        let broker = Broker(
            Command::new(MYQTTD)
                .arg("-c")
                .arg(&config)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        let tcp_addr: SocketAddr = ([127, 0, 0, 1], tcp).into();
        let sub = connect(myqtt_tokio::client::TcpConnector::new(tcp_addr), "tcp-sub").await;
        sub.subscribe("x/#", QoS::AtLeastOnce).await.unwrap();
        let mut messages = sub.messages();

        let trust = ClientTls::new()
            .ca(PemSource::bytes(ca.clone()))
            .build()
            .unwrap();
        // The default certificate answers "localhost"; the SNI entry answers "other.localhost".
        for (name, id) in [("localhost", "tls-default"), ("other.localhost", "tls-sni")] {
            let connector = TlsConnector::new(format!("127.0.0.1:{tls}").as_str(), trust.clone())
                .unwrap()
                .server_name(name)
                .unwrap();
            let client = connect(connector, id).await;
            client
                .publish(
                    format!("x/{id}").as_str(),
                    &b"over tls"[..],
                    QoS::AtLeastOnce,
                    false,
                )
                .await
                .unwrap();
            client.close().await.unwrap();
        }
        let ws_client = connect(
            WsConnector::new(&format!("ws://127.0.0.1:{ws}/mqtt")).unwrap(),
            "ws",
        )
        .await;
        ws_client
            .publish("x/ws", &b"over ws"[..], QoS::AtLeastOnce, false)
            .await
            .unwrap();

        let mut topics = Vec::new();
        for _ in 0..3 {
            let m = messages.recv().await.unwrap();
            topics.push(m.topic.as_str().to_owned());
        }
        topics.sort();
        assert_eq!(topics, ["x/tls-default", "x/tls-sni", "x/ws"]);

        // Renewed certificates from another CA + SIGHUP: new handshakes get them, for the
        // default and the SNI name alike; established connections stay (MyQttD test_21).
        let new_ca = certificates(d);
        let status = Command::new("kill")
            .arg("-HUP")
            .arg(broker.0.id().to_string())
            .status()
            .unwrap();
        assert!(status.success());
        let new_trust = ClientTls::new()
            .ca(PemSource::bytes(new_ca))
            .build()
            .unwrap();
        for name in ["localhost", "other.localhost"] {
            let connector = |trust: &std::sync::Arc<rustls::ClientConfig>| {
                TlsConnector::new(format!("127.0.0.1:{tls}").as_str(), trust.clone())
                    .unwrap()
                    .server_name(name)
                    .unwrap()
            };
            let deadline = Instant::now() + Duration::from_secs(5);
            let renewed = loop {
                match Client::connect_with(connector(&new_trust), options("renewed")).await {
                    Ok(client) => break client,
                    Err(e) if Instant::now() > deadline => panic!("{name}: {e}"),
                    Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                }
            };
            renewed.close().await.unwrap();
            // A fresh configuration: one with a cached TLS session would resume it without
            // seeing a certificate at all.
            let old_trust = ClientTls::new()
                .ca(PemSource::bytes(ca.clone()))
                .build()
                .unwrap();
            let old = Client::connect_with(connector(&old_trust), options("stale")).await;
            assert!(old.is_err(), "{name}: the old CA must no longer verify");
        }
        assert!(sub.is_connected() && ws_client.is_connected());
    })
    .await
    .unwrap();
}
