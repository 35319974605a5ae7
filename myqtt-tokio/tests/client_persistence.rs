//! The tokio client with storage across "process" restarts, against the library server: QoS 1/2
//! publishes whose acknowledgments never came are completed by the next client on the same
//! storage directory (QoS 2 exactly once at the subscriber), and a QoS 2 message received
//! before the crash is not delivered again. Plus manual acknowledgments against a scripted
//! server. A crash is `Client::shutdown` (no DISCONNECT, nothing written afterwards) followed
//! by dropping every handle.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::BytesMut;
use common::{next, none_within, within};
use myqtt_proto::client::CommandError;
use myqtt_proto::codec::{Packet, PacketId, ProtocolVersion, Publish, PublishAck, QoS};
use myqtt_proto::topic::TopicName;
use myqtt_tokio::client::{Client, ClientError, ConnectOptions, Event, ReconnectPolicy};
use myqtt_tokio::server::Server;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A TCP proxy between a client and the server that can silently drop either direction, to
/// lose acknowledgments without closing the connection.
struct Proxy {
    addr: SocketAddr,
    /// Drop client -> server bytes.
    drop_up: Arc<AtomicBool>,
    /// Drop server -> client bytes.
    drop_down: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    async fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let drop_up = Arc::new(AtomicBool::new(false));
        let drop_down = Arc::new(AtomicBool::new(false));
        let (up, down) = (drop_up.clone(), drop_down.clone());
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = TcpStream::connect(upstream).await else {
                    continue;
                };
                let (cr, cw) = client.into_split();
                let (sr, sw) = server.into_split();
                tokio::spawn(pump(cr, sw, up.clone()));
                tokio::spawn(pump(sr, cw, down.clone()));
            }
        });
        Proxy {
            addr,
            drop_up,
            drop_down,
            task,
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn pump(
    mut from: impl AsyncRead + Unpin,
    mut to: impl AsyncWrite + Unpin,
    drop: Arc<AtomicBool>,
) {
    let mut buf = vec![0; 4096];
    loop {
        match from.read(&mut buf).await {
            Ok(0) | Err(_) => {
                let _ = to.shutdown().await;
                return;
            }
            Ok(n) => {
                if !drop.load(Ordering::SeqCst) && to.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
        }
    }
}

async fn server() -> Server {
    Server::builder()
        .listen("127.0.0.1:0")
        .start()
        .await
        .unwrap()
}

/// Options of a client whose session survives on the server and, with `dir`, on disk.
fn durable(id: &str, dir: &Path) -> ConnectOptions {
    ConnectOptions::new(id)
        .clean_start(false)
        .session_expiry_interval(300)
        .reconnect(ReconnectPolicy::disabled())
        .storage(dir)
}

/// The process dies: no DISCONNECT, nothing more written, every handle dropped. Returns once
/// the client task is gone (its storage closed).
async fn crash(client: Client) {
    let mut events = client.events();
    client.shutdown();
    drop(client);
    loop {
        match tokio::time::timeout(Duration::from_secs(3), events.recv())
            .await
            .expect("the client stops")
        {
            Some(Event::Stopped) | None => return,
            Some(_) => {}
        }
    }
}

/// Publishes without waiting for the outcome (the "process" will die first).
fn fire(client: &Client, payload: &'static [u8], qos: QoS) {
    let client = client.clone();
    tokio::spawn(async move {
        let _ = client.publish("persist/t", payload, qos, false).await;
    });
}

/// QoS 1 and QoS 2 reached the server, but their PUBACK / PUBREC were lost and the process
/// died. The next client on the same storage resends them with DUP ([MQTT-4.4.0-1],
/// [MQTT-3.3.1-1]); the server does not forward the QoS 2 one again ([MQTT-4.3.3-10]), so the
/// subscriber has it exactly once, and the restored publishes complete.
#[tokio::test]
async fn unacknowledged_publishes_complete_after_a_restart() {
    within(20, async {
        let server = server().await;
        let addr = server.local_addrs()[0];
        let proxy = Proxy::start(addr).await;
        let tmp = tempfile::tempdir().unwrap();
        let subscriber = Client::connect(addr, ConnectOptions::new("sub"))
            .await
            .unwrap();
        subscriber
            .subscribe("persist/#", QoS::ExactlyOnce)
            .await
            .unwrap();
        let mut received = subscriber.messages();

        let publisher = Client::connect(proxy.addr, durable("pub", tmp.path()))
            .await
            .unwrap();
        proxy.drop_down.store(true, Ordering::SeqCst); // acknowledgments are lost
        fire(&publisher, b"one", QoS::AtLeastOnce);
        fire(&publisher, b"two", QoS::ExactlyOnce);
        // The server got both: the subscriber has them.
        let mut got = [next(&mut received).await, next(&mut received).await];
        got.sort_by_key(|m| m.qos);
        assert_eq!(got[0].payload, "one");
        assert_eq!(got[1].payload, "two");
        crash(publisher).await;

        let restarted = Client::connect(addr, durable("pub", tmp.path()))
            .await
            .unwrap();
        let restored = restarted.restored_publishes();
        assert_eq!(
            restored
                .iter()
                .map(|r| (r.message().payload.clone(), r.message().qos))
                .collect::<Vec<_>>(),
            vec![
                (bytes::Bytes::from_static(b"one"), QoS::AtLeastOnce),
                (bytes::Bytes::from_static(b"two"), QoS::ExactlyOnce)
            ]
        );
        assert!(restarted.restored_publishes().is_empty(), "taken once");
        for r in restored {
            let rc = tokio::time::timeout(Duration::from_secs(3), r.outcome())
                .await
                .expect("restored publish completes")
                .unwrap();
            assert!(!rc.is_error());
        }
        // QoS 1 may arrive again (at least once); QoS 2 must not.
        let mut later = Vec::new();
        while let Ok(Some(m)) =
            tokio::time::timeout(Duration::from_millis(400), received.recv()).await
        {
            later.push(m);
        }
        assert!(
            later.len() <= 1 && later.iter().all(|m| m.payload == "one"),
            "only the QoS 1 message may come again, once: {later:?}"
        );
        // Nothing is left on disk: another restart resends nothing.
        crash(restarted).await;
        let again = Client::connect(addr, durable("pub", tmp.path()))
            .await
            .unwrap();
        assert!(again.restored_publishes().is_empty());
        none_within(&mut received, 300).await;
        again.close().await.unwrap();
        subscriber.close().await.unwrap();
        server.shutdown().await;
    })
    .await;
}

/// QoS 1 and QoS 2 publishes that never reached the server (the process died with them on
/// disk) are sent by the next client on the same storage; the subscriber gets each exactly once.
/// [MQTT-4.4.0-1]
#[tokio::test]
async fn publishes_lost_on_the_way_are_sent_after_a_restart() {
    within(20, async {
        let server = server().await;
        let addr = server.local_addrs()[0];
        let proxy = Proxy::start(addr).await;
        let tmp = tempfile::tempdir().unwrap();
        let subscriber = Client::connect(addr, ConnectOptions::new("sub2"))
            .await
            .unwrap();
        subscriber
            .subscribe("persist/#", QoS::ExactlyOnce)
            .await
            .unwrap();
        let mut received = subscriber.messages();

        let publisher = Client::connect(proxy.addr, durable("pub2", tmp.path()))
            .await
            .unwrap();
        proxy.drop_up.store(true, Ordering::SeqCst); // the publishes never arrive
        fire(&publisher, b"q1", QoS::AtLeastOnce);
        fire(&publisher, b"q2", QoS::ExactlyOnce);
        none_within(&mut received, 300).await;
        crash(publisher).await;

        let restarted = Client::connect(addr, durable("pub2", tmp.path()))
            .await
            .unwrap();
        let restored = restarted.restored_publishes();
        assert_eq!(restored.len(), 2);
        let mut got = [next(&mut received).await, next(&mut received).await];
        got.sort_by_key(|m| m.qos);
        assert_eq!(
            got.iter().map(|m| m.payload.clone()).collect::<Vec<_>>(),
            ["q1", "q2"]
        );
        for r in restored {
            r.outcome().await.unwrap();
        }
        none_within(&mut received, 300).await;
        restarted.close().await.unwrap();
        subscriber.close().await.unwrap();
        server.shutdown().await;
    })
    .await;
}

/// A QoS 2 message delivered to the application just before the crash (its PUBREC lost) is
/// resent by the server to the next client on the same storage, which answers PUBREC and does
/// not deliver it again. 5.0 [MQTT-4.3.3-10], 3.1.1 [MQTT-4.3.3-2], [MQTT-4.4.0-1]
#[tokio::test]
async fn inbound_qos2_is_not_delivered_again_after_a_restart() {
    within(20, async {
        let server = server().await;
        let addr = server.local_addrs()[0];
        let proxy = Proxy::start(addr).await;
        let tmp = tempfile::tempdir().unwrap();
        let sender = Client::connect(addr, ConnectOptions::new("sender"))
            .await
            .unwrap();

        let receiver = Client::connect(proxy.addr, durable("receiver", tmp.path()))
            .await
            .unwrap();
        receiver
            .subscribe("inbound/t", QoS::ExactlyOnce)
            .await
            .unwrap();
        let mut messages = receiver.messages();
        proxy.drop_up.store(true, Ordering::SeqCst); // the receiver's PUBREC is lost
        sender
            .publish("inbound/t", &b"first"[..], QoS::ExactlyOnce, false)
            .await
            .unwrap();
        assert_eq!(next(&mut messages).await.payload, "first");
        crash(receiver).await;

        let restarted = Client::connect(addr, durable("receiver", tmp.path()))
            .await
            .unwrap();
        let mut messages = restarted.messages();
        // The server resends "first" with DUP right after CONNACK: not delivered again.
        none_within(&mut messages, 500).await;
        sender
            .publish("inbound/t", &b"second"[..], QoS::ExactlyOnce, false)
            .await
            .unwrap();
        let m = next(&mut messages).await;
        assert_eq!(m.payload, "second", "the first message came again");
        none_within(&mut messages, 200).await;
        restarted.close().await.unwrap();
        sender.close().await.unwrap();
        server.shutdown().await;
    })
    .await;
}

/// A storage directory is open in one client at a time: a second one fails to connect with
/// ClientError::Storage, and storage needs a client id.
#[tokio::test]
async fn storage_is_exclusive_and_needs_a_client_id() {
    within(10, async {
        let server = server().await;
        let addr = server.local_addrs()[0];
        let tmp = tempfile::tempdir().unwrap();
        let first = Client::connect(addr, durable("one", tmp.path()))
            .await
            .unwrap();
        match Client::connect(addr, durable("two", tmp.path())).await {
            Err(ClientError::Storage(_)) => {}
            other => panic!("expected a storage error, got {other:?}"),
        }
        match Client::connect(addr, ConnectOptions::new("").storage(tmp.path())).await {
            Err(ClientError::InvalidOptions(_)) => {}
            other => panic!("expected invalid options, got {other:?}"),
        }
        first.close().await.unwrap();
        server.shutdown().await;
    })
    .await;
}

/// A scripted MQTT 3.1.1 server on one raw TCP connection.
struct Peer {
    stream: TcpStream,
    rx: BytesMut,
}

const V: ProtocolVersion = ProtocolVersion::V3_1_1;

impl Peer {
    async fn send(&mut self, p: Packet) {
        self.stream
            .write_all(&p.to_bytes(V).unwrap())
            .await
            .unwrap();
    }

    /// The next packet within `ms`, if any.
    async fn recv_within(&mut self, ms: u64) -> Option<Packet> {
        tokio::time::timeout(Duration::from_millis(ms), async {
            loop {
                if let Ok(p) = Packet::decode(&mut self.rx, V, 1 << 20) {
                    return p;
                }
                assert!(
                    self.stream.read_buf(&mut self.rx).await.unwrap() > 0,
                    "client closed"
                );
            }
        })
        .await
        .ok()
    }
}

fn qos1(id: u16, payload: &'static [u8]) -> Packet {
    let mut p = Publish::new(TopicName::try_from("acks/t").unwrap(), payload);
    p.qos = QoS::AtLeastOnce;
    p.packet_id = PacketId::new(id);
    Packet::Publish(p)
}

/// With manual acks the server gets no PUBACK until the application acknowledges, and the
/// PUBACKs leave in the order the messages arrived even when acked in reverse ([MQTT-4.6.0-2]).
#[tokio::test]
async fn manual_acks_wait_for_the_application() {
    within(10, async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accept = tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let mut peer = Peer {
                stream,
                rx: BytesMut::new(),
            };
            assert!(matches!(
                peer.recv_within(2000).await,
                Some(Packet::Connect(_))
            ));
            peer.send(Packet::ConnAck(Box::default())).await;
            peer
        });
        let client = Client::connect(
            addr,
            ConnectOptions::new("manual")
                .version(V)
                .keep_alive(0)
                .manual_acks(true),
        )
        .await
        .unwrap();
        let mut peer = accept.await.unwrap();
        let mut messages = client.messages();
        peer.send(qos1(5, b"a")).await;
        peer.send(qos1(6, b"b")).await;
        let a = next(&mut messages).await;
        let b = next(&mut messages).await;
        assert_eq!(
            peer.recv_within(300).await,
            None,
            "no PUBACK before the ack"
        );

        client.ack(&b).await.unwrap();
        assert_eq!(
            peer.recv_within(300).await,
            None,
            "PUBACK 6 waits for PUBACK 5 [MQTT-4.6.0-2]"
        );
        client.ack(&a).await.unwrap();
        let id = |v| PacketId::new(v).unwrap();
        assert_eq!(
            peer.recv_within(1000).await,
            Some(Packet::PubAck(PublishAck::new(id(5))))
        );
        assert_eq!(
            peer.recv_within(1000).await,
            Some(Packet::PubAck(PublishAck::new(id(6))))
        );
        match client.ack(&a).await {
            Err(ClientError::Command(CommandError::UnknownAck)) => {}
            other => panic!("a second ack must fail, got {other:?}"),
        }
        // QoS 0 needs no ack.
        let mut q0 = Publish::new(TopicName::try_from("acks/t").unwrap(), &b"z"[..]);
        q0.qos = QoS::AtMostOnce;
        client.ack(&q0).await.unwrap();
        client.shutdown();
    })
    .await;
}

/// Without manual acks the PUBACK goes out on receipt (the control for the test above).
#[tokio::test]
async fn automatic_acks_go_out_on_receipt() {
    within(10, async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accept = tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let mut peer = Peer {
                stream,
                rx: BytesMut::new(),
            };
            assert!(matches!(
                peer.recv_within(2000).await,
                Some(Packet::Connect(_))
            ));
            peer.send(Packet::ConnAck(Box::default())).await;
            peer
        });
        let client = Client::connect(addr, ConnectOptions::new("auto").version(V).keep_alive(0))
            .await
            .unwrap();
        let mut peer = accept.await.unwrap();
        let mut messages = client.messages();
        peer.send(qos1(9, b"a")).await;
        let a = next(&mut messages).await;
        assert_eq!(
            peer.recv_within(1000).await,
            Some(Packet::PubAck(PublishAck::new(PacketId::new(9).unwrap())))
        );
        assert!(client.ack(&a).await.is_err(), "nothing waits for an ack");
        client.shutdown();
    })
    .await;
}
