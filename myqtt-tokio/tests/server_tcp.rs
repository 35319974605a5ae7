//! The tokio server over real loopback TCP, spoken to with raw MQTT packets from the codec
//! (so these tests depend on no client implementation).
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use bytes::BytesMut;
use myqtt_proto::codec::{
    ConnAck, Connect, MqttString, Packet, PacketId, ProtocolVersion, Publish, QoS, ReasonCode,
    Subscribe, SubscribeProperties, Subscription,
};
use myqtt_proto::topic::{TopicFilter, TopicName};
use myqtt_tokio::server::{ConnectDecision, PublishDecision, Server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

const V: ProtocolVersion = ProtocolVersion::V3_1_1;

struct Peer {
    stream: TcpStream,
    rx: BytesMut,
    version: ProtocolVersion,
}

impl Peer {
    async fn open(addr: std::net::SocketAddr, version: ProtocolVersion) -> Peer {
        Peer {
            stream: TcpStream::connect(addr).await.unwrap(),
            rx: BytesMut::new(),
            version,
        }
    }

    async fn send(&mut self, p: Packet) {
        let bytes = p.to_bytes(self.version).unwrap();
        self.stream.write_all(&bytes).await.unwrap();
    }

    /// The next packet, or `None` if the server closed the connection.
    async fn recv(&mut self) -> Option<Packet> {
        timeout(Duration::from_secs(5), async {
            loop {
                match Packet::decode(&mut self.rx, self.version, 1 << 20) {
                    Ok(p) => return Some(p),
                    Err(myqtt_proto::codec::DecodeError::Incomplete { .. }) => {}
                    Err(e) => panic!("server sent garbage: {e}"),
                }
                if self.stream.read_buf(&mut self.rx).await.unwrap_or(0) == 0 {
                    return None;
                }
            }
        })
        .await
        .expect("server answered in time")
    }

    async fn connect(&mut self, id: &str, user: Option<&str>) -> ConnAck {
        let mut c = Connect::new(self.version, MqttString::try_from(id).unwrap());
        c.username = user.map(|u| MqttString::try_from(u).unwrap());
        self.send(Packet::Connect(Box::new(c))).await;
        match self.recv().await {
            Some(Packet::ConnAck(ack)) => *ack,
            other => panic!("expected CONNACK, got {other:?}"),
        }
    }
}

fn publish(topic: &str, payload: &'static [u8], qos: QoS, id: u16) -> Packet {
    let mut p = Publish::new(TopicName::try_from(topic).unwrap(), payload);
    p.qos = qos;
    p.packet_id = PacketId::new(id);
    Packet::Publish(p)
}

fn subscribe(filter: &str, qos: QoS) -> Packet {
    Packet::Subscribe(Subscribe {
        packet_id: PacketId::new(1).unwrap(),
        subscriptions: vec![Subscription::new(
            TopicFilter::try_from(filter).unwrap(),
            qos,
        )],
        properties: SubscribeProperties::default(),
    })
}

async fn start() -> Server {
    Server::builder()
        .listen("127.0.0.1:0")
        .start()
        .await
        .unwrap()
}

/// Subscribe and publish over TCP between two connections, QoS 1 (MyQtt test_03, test_12).
#[tokio::test]
async fn publish_and_subscribe_over_tcp() {
    let server = start().await;
    let addr = server.local_addrs()[0];
    let mut sub = Peer::open(addr, V).await;
    assert_eq!(
        sub.connect("sub", None).await.reason_code,
        ReasonCode::Success
    );
    sub.send(subscribe("myqtt/#", QoS::AtLeastOnce)).await;
    assert!(
        matches!(sub.recv().await, Some(Packet::SubAck(a)) if a.reason_codes == [ReasonCode::GrantedQoS1])
    );
    let mut publisher = Peer::open(addr, ProtocolVersion::V5).await;
    publisher.connect("pub", None).await;
    publisher
        .send(publish("myqtt/test", b"hello", QoS::AtLeastOnce, 7))
        .await;
    assert!(matches!(publisher.recv().await, Some(Packet::PubAck(a)) if a.packet_id.get() == 7));
    match sub.recv().await {
        Some(Packet::Publish(p)) => {
            assert_eq!(
                (p.topic.as_str(), p.payload.as_ref(), p.qos),
                ("myqtt/test", &b"hello"[..], QoS::AtLeastOnce)
            );
        }
        other => panic!("{other:?}"),
    }
    server.shutdown().await;
}

/// An async on_connect decides (MyQtt test_07 and DEFERRED test_23), on_publish discards
/// while still acknowledging (test_21 semantics).
#[tokio::test]
async fn async_auth_and_discard() {
    let server = Server::builder()
        .on_connect(|info| async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            if info.username.as_deref() == Some("aspl") {
                ConnectDecision::Accept
            } else {
                ConnectDecision::Reject(ReasonCode::BadUserNameOrPassword)
            }
        })
        .on_publish(|_, p| {
            if p.topic.starts_with("discard/") {
                PublishDecision::Discard
            } else {
                PublishDecision::Allow
            }
        })
        .listen("127.0.0.1:0")
        .start()
        .await
        .unwrap();
    let addr = server.local_addrs()[0];
    let mut bad = Peer::open(addr, V).await;
    assert_eq!(
        bad.connect("bad", Some("mallory")).await.reason_code,
        ReasonCode::BadUserNameOrPassword
    );
    assert!(bad.recv().await.is_none(), "closed after a refused CONNACK");
    let mut good = Peer::open(addr, V).await;
    assert_eq!(
        good.connect("good", Some("aspl")).await.reason_code,
        ReasonCode::Success
    );
    good.send(publish("discard/x", b"", QoS::ExactlyOnce, 3))
        .await;
    assert!(matches!(good.recv().await, Some(Packet::PubRec(a)) if a.packet_id.get() == 3));
    server.shutdown().await;
}

/// Graceful shutdown sends DISCONNECT "Server shutting down" to 5.0 clients and closes.
#[tokio::test]
async fn graceful_shutdown_tells_v5_clients() {
    let server = start().await;
    let mut c = Peer::open(server.local_addrs()[0], ProtocolVersion::V5).await;
    c.connect("c", None).await;
    server.shutdown().await;
    assert!(
        matches!(c.recv().await, Some(Packet::Disconnect(d)) if d.reason_code == ReasonCode::ServerShuttingDown)
    );
    assert!(c.recv().await.is_none());
}

/// Malformed input closes only the offending connection; others keep working.
#[tokio::test]
async fn malformed_input_closes_only_that_connection() {
    let server = start().await;
    let addr = server.local_addrs()[0];
    let mut ok = Peer::open(addr, V).await;
    ok.connect("ok", None).await;
    let mut bad = Peer::open(addr, V).await;
    bad.connect("bad", None).await;
    bad.stream.write_all(&[0x00, 0x00]).await.unwrap(); // reserved packet type
    assert!(bad.recv().await.is_none());
    ok.send(Packet::PingReq).await;
    assert_eq!(ok.recv().await, Some(Packet::PingResp));
    server.shutdown().await;
}

/// With storage, a persistent session and the QoS 1 message queued for it survive a server
/// restart (MyQtt test_14a, test_15 across a restart).
#[tokio::test]
async fn storage_survives_a_restart() {
    let dir = std::env::temp_dir().join(format!("myqtt-tokio-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let server = Server::builder()
        .storage(&dir)
        .listen("127.0.0.1:0")
        .start()
        .await
        .unwrap();
    let addr = server.local_addrs()[0];
    let mut sub = Peer::open(addr, V).await;
    let mut c = Connect::new(V, MqttString::try_from("durable").unwrap());
    c.clean_start = false;
    sub.send(Packet::Connect(Box::new(c.clone()))).await;
    assert!(matches!(sub.recv().await, Some(Packet::ConnAck(_))));
    sub.send(subscribe("d/#", QoS::AtLeastOnce)).await;
    assert!(matches!(sub.recv().await, Some(Packet::SubAck(_))));
    drop(sub);
    let mut publisher = Peer::open(addr, V).await;
    publisher.connect("pub", None).await;
    publisher
        .send(publish("d/1", b"kept", QoS::AtLeastOnce, 1))
        .await;
    // The PUBACK comes once the message is on disk.
    assert!(matches!(publisher.recv().await, Some(Packet::PubAck(_))));
    server.shutdown().await;

    let server = Server::builder()
        .storage(&dir)
        .listen("127.0.0.1:0")
        .start()
        .await
        .unwrap();
    let mut sub = Peer::open(server.local_addrs()[0], V).await;
    sub.send(Packet::Connect(Box::new(c))).await;
    assert!(matches!(sub.recv().await, Some(Packet::ConnAck(a)) if a.session_present));
    match sub.recv().await {
        Some(Packet::Publish(p)) => assert_eq!(p.payload.as_ref(), b"kept"),
        other => panic!("{other:?}"),
    }
    server.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}
