//! The smol client against the smol server over loopback, under `smol::block_on` (and one
//! scenario each under async-std and `futures::executor`): pub/sub at every QoS, retained
//! messages, wills, TLS with certificates chosen by SNI, WebSocket, persistence across a server
//! restart, reconnection after the server drops the connection.
#![allow(clippy::unwrap_used)]

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use myqtt_host::runtime::timeout;
use myqtt_host::tls::{ClientTls, PemSource, ServerTls};
use myqtt_proto::codec::{ProtocolVersion, QoS};
use myqtt_smol::Smol;
use myqtt_smol::client::{
    Client, ConnectOptions, Event, Messages, ReconnectPolicy, TlsConnector, WsConnector,
};
use myqtt_smol::server::{ConnectDecision, ConnectInfo, ConnectionHandle, Server};

/// What `on_connect` saw of TLS connections: (is TLS, server name).
type SeenTls = Arc<Mutex<Vec<(bool, Option<String>)>>>;

fn options(id: &str) -> ConnectOptions {
    ConnectOptions::new(id).reconnect(ReconnectPolicy::disabled())
}

/// Runs `body` under `smol::block_on`, bounded in time.
fn run<F: Future<Output = ()>>(body: F) {
    smol::block_on(async {
        timeout::<Smol, _>(Duration::from_secs(15), body)
            .await
            .expect("the scenario took too long");
    });
}

async fn start() -> (Server, SocketAddr) {
    let server = Server::builder()
        .listen("127.0.0.1:0")
        .start()
        .await
        .unwrap();
    let addr = server.local_addrs()[0];
    (server, addr)
}

async fn next(messages: &mut Messages) -> myqtt_proto::codec::Publish {
    timeout::<Smol, _>(Duration::from_secs(5), messages.recv())
        .await
        .expect("a message in time")
        .expect("the client is running")
}

async fn quiet(messages: &mut Messages) {
    let got = timeout::<Smol, _>(Duration::from_millis(200), messages.recv()).await;
    assert!(got.is_none(), "unexpected message: {got:?}");
}

/// Publish and receive at every QoS in 3.1.1 and 5.0, and a retained message for a later
/// subscriber. [MQTT-4.3.1-1] [MQTT-4.3.2-1] [MQTT-4.3.3-1] [MQTT-3.3.1-5]
async fn pubsub_scenario(addr: SocketAddr) {
    for version in [ProtocolVersion::V3_1_1, ProtocolVersion::V5] {
        let sub = Client::connect(addr, options("sub").version(version))
            .await
            .unwrap();
        let publisher = Client::connect(addr, options("pub").version(version))
            .await
            .unwrap();
        let mut messages = sub.messages();
        assert_eq!(
            sub.subscribe("t/#", QoS::ExactlyOnce).await.unwrap(),
            QoS::ExactlyOnce
        );
        for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
            let topic = format!("t/{}", qos.as_u8());
            publisher
                .publish(topic.as_str(), &b"hello"[..], qos, false)
                .await
                .unwrap();
            let m = next(&mut messages).await;
            assert_eq!((m.topic.as_str(), m.qos), (topic.as_str(), qos));
            assert_eq!(m.payload, Bytes::from_static(b"hello"));
        }
        publisher
            .publish("kept", &b"retained"[..], QoS::AtLeastOnce, true)
            .await
            .unwrap();
        let late = Client::connect(addr, options("late").version(version))
            .await
            .unwrap();
        let mut late_messages = late.messages();
        late.subscribe("kept", QoS::AtLeastOnce).await.unwrap();
        let m = next(&mut late_messages).await;
        assert!(m.retain);
        publisher
            .publish("kept", Bytes::new(), QoS::AtLeastOnce, true)
            .await
            .unwrap();
        for c in [sub, publisher, late] {
            c.close().await.unwrap();
        }
    }
}

#[test]
fn publish_subscribe_and_retained_under_smol() {
    run(async {
        let (server, addr) = start().await;
        pubsub_scenario(addr).await;
        server.shutdown().await;
    });
}

#[test]
fn publish_subscribe_and_retained_under_async_std() {
    async_std::task::block_on(async {
        let (server, addr) = start().await;
        timeout::<Smol, _>(Duration::from_secs(15), pubsub_scenario(addr))
            .await
            .unwrap();
        server.shutdown().await;
    });
}

#[test]
fn publish_subscribe_and_retained_under_futures_executor() {
    futures_executor::block_on(async {
        let (server, addr) = start().await;
        timeout::<Smol, _>(Duration::from_secs(15), pubsub_scenario(addr))
            .await
            .unwrap();
        server.shutdown().await;
    });
}

/// The will is published after `shutdown` (no DISCONNECT), not after `close`.
/// [MQTT-3.1.2-8] [MQTT-3.1.2-10]
#[test]
fn will_after_shutdown_not_after_close() {
    run(async {
        let (server, addr) = start().await;
        let watcher = Client::connect(addr, options("watcher")).await.unwrap();
        let mut messages = watcher.messages();
        watcher
            .subscribe("wills/#", QoS::AtLeastOnce)
            .await
            .unwrap();
        let polite = Client::connect(
            addr,
            options("polite").will("wills/polite", &b"gone"[..], QoS::AtLeastOnce, false),
        )
        .await
        .unwrap();
        polite.close().await.unwrap();
        quiet(&mut messages).await;
        let abrupt = Client::connect(
            addr,
            options("abrupt").will("wills/abrupt", &b"gone"[..], QoS::AtLeastOnce, false),
        )
        .await
        .unwrap();
        abrupt.shutdown();
        let m = next(&mut messages).await;
        assert_eq!(m.topic.as_str(), "wills/abrupt");
        server.shutdown().await;
    });
}

/// A self-signed certificate for `name`, as PEM (certificate, key).
fn certificate(name: &str) -> (String, String) {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec![name.to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    (cert.pem(), key.serialize_pem())
}

/// MyQtt's SNI handlers pick a certificate per server name; the connection knows it is TLS and
/// which name it asked for (the seed's `myqtt.tls.is_enabled(conn)`).
#[test]
fn tls_with_certificates_chosen_by_sni() {
    run(async {
        let one = certificate("one.test");
        let two = certificate("two.test");
        let certs = [("one.test", one.clone()), ("two.test", two.clone())];
        let (cert_of, key_of) = (certs.clone(), certs);
        let tls = ServerTls::new()
            .sni(
                |name| name.is_some(),
                move |name| {
                    let (_, (cert, _)) = cert_of.iter().find(|(n, _)| Some(*n) == name)?;
                    Some(PemSource::bytes(cert.clone()))
                },
                move |name| {
                    let (_, (_, key)) = key_of.iter().find(|(n, _)| Some(*n) == name)?;
                    Some(PemSource::bytes(key.clone()))
                },
            )
            .build()
            .unwrap();
        let seen: SeenTls = Arc::default();
        let s = seen.clone();
        let server = Server::builder()
            .on_connect(move |info: ConnectInfo| {
                s.lock()
                    .unwrap()
                    .push((info.is_tls(), info.server_name().map(str::to_owned)));
                async { ConnectDecision::Accept }
            })
            .listen_tls("127.0.0.1:0", tls)
            .start()
            .await
            .unwrap();
        let addr = server.local_addrs()[0];
        for (name, (cert, _)) in [("one.test", &one), ("two.test", &two)] {
            // Each client trusts only its name's certificate: the handshake proves which one
            // the server chose.
            let trust = ClientTls::new()
                .ca(PemSource::bytes(cert.clone()))
                .build()
                .unwrap();
            let connector = TlsConnector::new(addr, trust)
                .unwrap()
                .server_name(name)
                .unwrap();
            let client = Client::connect_with(connector, options(name))
                .await
                .unwrap();
            client
                .publish("t", &b"secure"[..], QoS::AtLeastOnce, false)
                .await
                .unwrap();
            client.close().await.unwrap();
        }
        let wrong = ClientTls::new()
            .ca(PemSource::bytes(one.0.clone()))
            .build()
            .unwrap();
        let connector = TlsConnector::new(addr, wrong)
            .unwrap()
            .server_name("two.test")
            .unwrap();
        assert!(Client::connect_with(connector, options("x")).await.is_err());
        assert_eq!(
            *seen.lock().unwrap(),
            [
                (true, Some("one.test".to_owned())),
                (true, Some("two.test".to_owned()))
            ]
        );
        server.shutdown().await;
    });
}

/// MQTT over WebSocket (binary frames, `mqtt` subprotocol); the `Host` header is the server
/// name. [MQTT-6.0.0-1] [MQTT-6.0.0-4]
#[test]
fn websocket_client_and_server() {
    run(async {
        let names: Arc<Mutex<Vec<Option<String>>>> = Arc::default();
        let n = names.clone();
        let server = Server::builder()
            .on_connect(move |info: ConnectInfo| {
                n.lock()
                    .unwrap()
                    .push(info.server_name().map(str::to_owned));
                async { ConnectDecision::Accept }
            })
            .listen_ws("127.0.0.1:0")
            .start()
            .await
            .unwrap();
        let url = format!("ws://{}/mqtt", server.local_addrs()[0]);
        let sub = Client::connect_with(WsConnector::new(&url).unwrap(), options("ws-sub"))
            .await
            .unwrap();
        let publisher = Client::connect_with(WsConnector::new(&url).unwrap(), options("ws-pub"))
            .await
            .unwrap();
        let mut messages = sub.messages();
        sub.subscribe("w", QoS::ExactlyOnce).await.unwrap();
        publisher
            .publish("w", &b"framed"[..], QoS::ExactlyOnce, false)
            .await
            .unwrap();
        assert_eq!(&next(&mut messages).await.payload[..], b"framed");
        assert_eq!(names.lock().unwrap()[0].as_deref(), Some("127.0.0.1"));
        server.shutdown().await;
    });
}

/// Persistent sessions and their queued messages survive a server restart on the same
/// storage directory. [MQTT-4.1.0-1] [MQTT-3.1.2-4]
#[test]
fn persistence_across_a_server_restart() {
    run(async {
        let dir = tempfile::tempdir().unwrap();
        let persistent = |id: &str| {
            options(id)
                .version(ProtocolVersion::V5)
                .clean_start(false)
                .session_expiry_interval(3600)
        };
        let server = Server::builder()
            .storage(dir.path())
            .listen("127.0.0.1:0")
            .start()
            .await
            .unwrap();
        let addr = server.local_addrs()[0];
        let sub = Client::connect(addr, persistent("keeper")).await.unwrap();
        sub.subscribe("p", QoS::ExactlyOnce).await.unwrap();
        sub.close().await.unwrap();
        let publisher = Client::connect(addr, options("p1")).await.unwrap();
        for qos in [QoS::AtLeastOnce, QoS::ExactlyOnce] {
            publisher
                .publish("p", Bytes::from(vec![qos.as_u8()]), qos, false)
                .await
                .unwrap();
        }
        publisher.close().await.unwrap();
        server.shutdown().await;

        let server = Server::builder()
            .storage(dir.path())
            .listen(addr.to_string())
            .start()
            .await
            .unwrap();
        let sub = Client::connect(addr, persistent("keeper")).await.unwrap();
        let mut messages = sub.messages();
        let got = [next(&mut messages).await, next(&mut messages).await];
        let payloads: Vec<u8> = got.iter().map(|m| m.payload[0]).collect();
        assert_eq!(payloads, [1, 2]);
        quiet(&mut messages).await;
        server.shutdown().await;
    });
}

/// The client reconnects by itself after the server drops its connection, resumes its session
/// and reports `Reconnected { session_present: true }` (MyQtt's on_reconnect).
#[test]
fn reconnect_after_the_server_drops_the_connection() {
    run(async {
        let handles: Arc<Mutex<Vec<ConnectionHandle>>> = Arc::default();
        let h = handles.clone();
        let server = Server::builder()
            .on_connect(move |info: ConnectInfo| {
                h.lock().unwrap().extend(info.handle.clone());
                async { ConnectDecision::Accept }
            })
            .listen("127.0.0.1:0")
            .start()
            .await
            .unwrap();
        let addr = server.local_addrs()[0];
        let client = Client::connect(
            addr,
            ConnectOptions::new("phoenix")
                .version(ProtocolVersion::V5)
                .clean_start(false)
                .session_expiry_interval(600)
                .reconnect(ReconnectPolicy::backoff(
                    Duration::from_millis(20),
                    Duration::from_millis(200),
                )),
        )
        .await
        .unwrap();
        client.subscribe("r", QoS::AtLeastOnce).await.unwrap();
        let mut events = client.events();
        let mut messages = client.messages();
        let first = handles.lock().unwrap()[0].clone();
        first.shutdown().await;
        loop {
            let event = timeout::<Smol, _>(Duration::from_secs(5), events.recv())
                .await
                .expect("an event in time")
                .expect("the client is running");
            if let Event::Reconnected { session_present } = event {
                assert!(session_present);
                break;
            }
        }
        let other = Client::connect(addr, options("other")).await.unwrap();
        other
            .publish("r", &b"again"[..], QoS::AtLeastOnce, false)
            .await
            .unwrap();
        assert_eq!(&next(&mut messages).await.payload[..], b"again");
        server.shutdown().await;
    });
}
