//! MQTT over WebSocket (ws and wss) and the client's TLS / WebSocket connectors, over loopback
//! with certificates made at test time by `rcgen` (MyQtt test_18 from the client side, test_20,
//! test_20b, test_22's ws case). Raw `tokio-tungstenite` clients check the wire: binary frames,
//! the `mqtt` subprotocol, packets split over frames and several packets in one frame.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use common::{next, within};
use futures_util::{SinkExt, StreamExt};
use myqtt_host::tls::{ClientTls, PemSource, ServerTls};
use myqtt_proto::codec::{
    Connect, MqttString, Packet, PacketId, ProtocolVersion, QoS, ReasonCode, Subscribe,
    SubscribeProperties, Subscription,
};
use myqtt_proto::topic::TopicFilter;
use myqtt_tokio::client::{
    Client, ConnectOptions, Event, ReconnectPolicy, TlsConnector, WsConnector, WssConnector,
};
use myqtt_tokio::server::{ConnectDecision, ConnectionId, Server};
use rcgen::{
    BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderValue, header};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

/// A CA and a server certificate for `localhost` and 127.0.0.1, as PEM.
struct Certs {
    ca: String,
    cert: String,
    key: String,
}

impl Certs {
    fn new() -> Certs {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_key = KeyPair::generate().unwrap();
        let ca = params.self_signed(&ca_key).unwrap().pem();
        let issuer = Issuer::new(params, ca_key);
        let mut params =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &issuer).unwrap().pem();
        Certs {
            ca,
            cert,
            key: key.serialize_pem(),
        }
    }

    fn server(&self) -> Arc<rustls::ServerConfig> {
        ServerTls::new()
            .certificate(
                PemSource::bytes(self.cert.clone()),
                PemSource::bytes(self.key.clone()),
            )
            .build()
            .unwrap()
    }

    fn client(&self) -> Arc<rustls::ClientConfig> {
        ClientTls::new()
            .ca(PemSource::bytes(self.ca.clone()))
            .build()
            .unwrap()
    }
}

/// What `on_connect` saw: (connection, client id, server name, is_tls).
type Seen = Arc<Mutex<Vec<(ConnectionId, String, Option<String>, bool)>>>;

/// Listeners, in `local_addrs` order: tcp, tls, ws, wss.
struct Setup {
    server: Server,
    seen: Seen,
    certs: Certs,
}

impl Setup {
    async fn start() -> Setup {
        let certs = Certs::new();
        let seen: Seen = Arc::default();
        let s = seen.clone();
        let server = Server::builder()
            .on_connect(move |info| {
                s.lock().unwrap().push((
                    info.connection,
                    info.client_id.clone(),
                    info.server_name.clone(),
                    info.is_tls,
                ));
                async { ConnectDecision::Accept }
            })
            .listen("127.0.0.1:0")
            .listen_tls("127.0.0.1:0", certs.server())
            .listen_ws("127.0.0.1:0")
            .listen_wss("127.0.0.1:0", certs.server())
            .tls_handshake_timeout(Duration::from_secs(2))
            .start()
            .await
            .unwrap();
        Setup {
            server,
            seen,
            certs,
        }
    }

    fn tcp(&self) -> SocketAddr {
        self.server.local_addrs()[0]
    }
    fn tls(&self) -> SocketAddr {
        self.server.local_addrs()[1]
    }
    fn ws(&self) -> SocketAddr {
        self.server.local_addrs()[2]
    }
    fn wss(&self) -> SocketAddr {
        self.server.local_addrs()[3]
    }

    /// What `on_connect` saw for `id` (the last time).
    fn seen(&self, id: &str) -> (ConnectionId, Option<String>, bool) {
        let seen = self.seen.lock().unwrap();
        let (c, _, name, tls) = seen.iter().rev().find(|s| s.1 == id).unwrap().clone();
        (c, name, tls)
    }
}

fn options(id: &str) -> ConnectOptions {
    ConnectOptions::new(id).reconnect(ReconnectPolicy::disabled())
}

/// Subscribes `sub` to `topic`, publishes from `publisher`, checks delivery.
async fn pub_sub(sub: &Client, publisher: &Client, topic: &str, payload: &'static [u8]) {
    let mut messages = sub.messages();
    sub.subscribe(topic, QoS::AtLeastOnce).await.unwrap();
    let rc = publisher
        .publish(topic, payload, QoS::AtLeastOnce, false)
        .await
        .unwrap();
    assert!(!rc.is_error());
    let m = next(&mut messages).await;
    assert_eq!(m.topic.as_str(), topic);
    assert_eq!(m.payload, Bytes::from_static(payload));
}

/// MyQtt test_20: pub/sub between a ws client and a tcp client through one server, both ways;
/// the `Host` header (without its port) is the server name.
#[tokio::test]
async fn test_20_ws_publish_and_subscribe() {
    within(5, async {
        let s = Setup::start().await;
        let url = format!("ws://localhost:{}/mqtt", s.ws().port());
        let ws = Client::connect_with(WsConnector::new(&url).unwrap(), options("ws"))
            .await
            .unwrap();
        let tcp = Client::connect(s.tcp(), options("tcp")).await.unwrap();
        pub_sub(&ws, &tcp, "ws/in", b"from tcp").await;
        pub_sub(&tcp, &ws, "ws/out", b"from ws").await;
        let (_, name, tls) = s.seen("ws");
        assert_eq!(name.as_deref(), Some("localhost"));
        assert!(!tls);
        assert_eq!(s.seen("tcp").1, None);
        ws.close().await.unwrap();
        tcp.close().await.unwrap();
    })
    .await;
}

/// MyQtt test_20b: pub/sub over wss; the server reports TLS on and the SNI name.
#[tokio::test]
async fn test_20b_wss_publish_and_subscribe() {
    within(5, async {
        let s = Setup::start().await;
        let url = format!("wss://localhost:{}/", s.wss().port());
        let wss = WssConnector::new(&url, s.certs.client()).unwrap();
        let wss = Client::connect_with(wss, options("wss")).await.unwrap();
        let tcp = Client::connect(s.tcp(), options("tcp")).await.unwrap();
        pub_sub(&wss, &tcp, "wss/in", b"from tcp").await;
        pub_sub(&tcp, &wss, "wss/out", b"from wss").await;
        let (_, name, tls) = s.seen("wss");
        assert_eq!(name.as_deref(), Some("localhost"));
        assert!(tls);
        // Wrong CA: the TLS handshake fails, the client reports it.
        let other = Certs::new();
        let bad = WssConnector::new(&url, other.client()).unwrap();
        assert!(Client::connect_with(bad, options("bad")).await.is_err());
        wss.close().await.unwrap();
        tcp.close().await.unwrap();
    })
    .await;
}

/// MyQtt test_18 from the client side: `TlsConnector` against `listen_tls`.
#[tokio::test]
async fn test_18_client_tls_connector() {
    within(5, async {
        let s = Setup::start().await;
        let addr = format!("localhost:{}", s.tls().port());
        let sub = TlsConnector::new(addr.as_str(), s.certs.client()).unwrap();
        let sub = Client::connect_with(sub, options("tls-sub")).await.unwrap();
        // By IP address (no SNI) with the certificate's IP SAN.
        let publisher = TlsConnector::new(s.tls(), s.certs.client()).unwrap();
        let publisher = Client::connect_with(publisher, options("tls-pub"))
            .await
            .unwrap();
        pub_sub(&sub, &publisher, "tls/t", b"secret").await;
        assert_eq!(s.seen("tls-sub").1.as_deref(), Some("localhost"));
        assert!(s.seen("tls-sub").2);
        assert_eq!(s.seen("tls-pub").1, None);
        // A server name the certificate does not cover: refused.
        let wrong = TlsConnector::new(s.tls(), s.certs.client())
            .unwrap()
            .server_name("elsewhere.example")
            .unwrap();
        assert!(Client::connect_with(wrong, options("x")).await.is_err());
        sub.close().await.unwrap();
        publisher.close().await.unwrap();
    })
    .await;
}

/// A raw WebSocket peer speaking MQTT packets.
struct RawWs<S> {
    ws: WebSocketStream<S>,
    rx: BytesMut,
    version: ProtocolVersion,
}

/// Opens a raw WebSocket to `addr` offering `protocols` (none if empty), with `host` as the
/// `Host` header; returns the peer and the selected subprotocol.
async fn raw_ws(
    addr: SocketAddr,
    protocols: &str,
    host: &str,
) -> Result<(RawWs<TcpStream>, Option<String>), WsError> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    raw_handshake(tcp, addr, protocols, host).await
}

async fn raw_handshake<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    addr: SocketAddr,
    protocols: &str,
    host: &str,
) -> Result<(RawWs<S>, Option<String>), WsError> {
    let mut request = format!("ws://{addr}/mqtt").into_client_request().unwrap();
    request
        .headers_mut()
        .insert(header::HOST, HeaderValue::from_str(host).unwrap());
    if !protocols.is_empty() {
        request.headers_mut().insert(
            header::SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_str(protocols).unwrap(),
        );
    }
    let (ws, response) = tokio_tungstenite::client_async(request, stream).await?;
    let selected = response
        .headers()
        .get(header::SEC_WEBSOCKET_PROTOCOL)
        .map(|p| p.to_str().unwrap().to_owned());
    Ok((
        RawWs {
            ws,
            rx: BytesMut::new(),
            version: ProtocolVersion::V3_1_1,
        },
        selected,
    ))
}

impl<S: AsyncRead + AsyncWrite + Unpin> RawWs<S> {
    fn bytes(&self, p: Packet) -> Bytes {
        p.to_bytes(self.version).unwrap()
    }

    async fn send(&mut self, bytes: &[u8]) {
        self.ws
            .send(Message::Binary(Bytes::copy_from_slice(bytes)))
            .await
            .unwrap();
    }

    /// The next packet (every frame must be binary), or `None` once the server closed.
    async fn recv(&mut self) -> Option<Packet> {
        timeout(Duration::from_secs(2), async {
            loop {
                match Packet::decode(&mut self.rx, self.version, 1 << 20) {
                    Ok(p) => return Some(p),
                    Err(myqtt_proto::codec::DecodeError::Incomplete { .. }) => {}
                    Err(e) => panic!("server sent garbage: {e}"),
                }
                match self.ws.next().await {
                    Some(Ok(Message::Binary(b))) => self.rx.extend_from_slice(&b),
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return None,
                    Some(Ok(other)) => panic!("expected a binary frame, got {other:?}"),
                }
            }
        })
        .await
        .expect("server answered in time")
    }

    async fn connect(&mut self, id: &str) {
        let c = Connect::new(self.version, MqttString::try_from(id).unwrap());
        let bytes = self.bytes(Packet::Connect(Box::new(c)));
        self.send(&bytes).await;
        match self.recv().await {
            Some(Packet::ConnAck(ack)) => assert_eq!(ack.reason_code, ReasonCode::Success),
            other => panic!("expected CONNACK, got {other:?}"),
        }
    }

    async fn ping(&mut self) -> bool {
        let bytes = self.bytes(Packet::PingReq);
        if self.ws.send(Message::Binary(bytes)).await.is_err() {
            return false;
        }
        matches!(self.recv().await, Some(Packet::PingResp))
    }
}

/// Frames are binary, the subprotocol is `mqtt`, a packet may span frames and a frame may
/// hold several packets; the `Host` header names the server.
#[tokio::test]
async fn ws_wire_binary_frames_and_mqtt_subprotocol() {
    within(5, async {
        let s = Setup::start().await;
        let (mut peer, selected) = raw_ws(s.ws(), "mqttv3.1, mqtt", "Example.ORG:8080")
            .await
            .unwrap();
        assert_eq!(selected.as_deref(), Some("mqtt"));
        // CONNECT split over three frames.
        let c = Connect::new(peer.version, MqttString::try_from("raw").unwrap());
        let connect = peer.bytes(Packet::Connect(Box::new(c)));
        peer.send(&connect[..1]).await;
        peer.send(&connect[1..5]).await;
        peer.send(&connect[5..]).await;
        assert!(matches!(peer.recv().await, Some(Packet::ConnAck(_))));
        // SUBSCRIBE and PINGREQ in one frame.
        let mut both = BytesMut::new();
        both.extend_from_slice(&peer.bytes(Packet::Subscribe(Subscribe {
            packet_id: PacketId::new(1).unwrap(),
            subscriptions: vec![Subscription::new(
                TopicFilter::try_from("raw/#").unwrap(),
                QoS::AtMostOnce,
            )],
            properties: SubscribeProperties::default(),
        })));
        both.extend_from_slice(&peer.bytes(Packet::PingReq));
        peer.send(&both).await;
        // Both answered, in the order of the requests.
        let (a, b) = (peer.recv().await.unwrap(), peer.recv().await.unwrap());
        assert!(matches!(a, Packet::SubAck(_)), "{a:?}");
        assert!(matches!(b, Packet::PingResp), "{b:?}");
        // A publish from a tcp client arrives in binary frames (recv panics otherwise).
        let tcp = Client::connect(s.tcp(), options("tcp")).await.unwrap();
        tcp.publish("raw/x", &b"hi"[..], QoS::AtMostOnce, false)
            .await
            .unwrap();
        match peer.recv().await {
            Some(Packet::Publish(p)) => assert_eq!(p.payload.as_ref(), b"hi"),
            other => panic!("{other:?}"),
        }
        assert_eq!(s.seen("raw").1.as_deref(), Some("example.org"));
        // A WebSocket ping is answered by a pong.
        peer.ws
            .send(Message::Ping(Bytes::from_static(b"p")))
            .await
            .unwrap();
        match timeout(Duration::from_secs(2), peer.ws.next())
            .await
            .unwrap()
        {
            Some(Ok(Message::Pong(p))) => assert_eq!(p.as_ref(), b"p"),
            other => panic!("expected a pong, got {other:?}"),
        }
        tcp.close().await.unwrap();
    })
    .await;
}

/// MQTT 3.1 clients offering only `mqttv3.1` get it; no subprotocol at all is tolerated;
/// only foreign subprotocols are refused with 400.
#[tokio::test]
async fn ws_subprotocol_negotiation() {
    within(5, async {
        let s = Setup::start().await;
        let (mut v31, selected) = raw_ws(s.ws(), "mqttv3.1", "localhost").await.unwrap();
        assert_eq!(selected.as_deref(), Some("mqttv3.1"));
        v31.version = ProtocolVersion::V3_1;
        v31.connect("v31").await;
        assert!(v31.ping().await);

        let (mut none, selected) = raw_ws(s.ws(), "", "localhost").await.unwrap();
        assert_eq!(selected, None);
        none.connect("none").await;
        assert!(none.ping().await);

        match raw_ws(s.ws(), "chat, superchat", "localhost").await {
            Err(WsError::Http(response)) => assert_eq!(response.status().as_u16(), 400),
            Err(e) => panic!("expected HTTP 400, got {e}"),
            Ok(_) => panic!("a foreign subprotocol was accepted"),
        }
    })
    .await;
}

/// A text frame is a protocol error that closes only its own connection.
#[tokio::test]
async fn ws_text_frame_closes_only_that_connection() {
    within(5, async {
        let s = Setup::start().await;
        let (mut bad, _) = raw_ws(s.ws(), "mqtt", "localhost").await.unwrap();
        let (mut good, _) = raw_ws(s.ws(), "mqtt", "localhost").await.unwrap();
        bad.connect("bad").await;
        good.connect("good").await;
        bad.ws.send(Message::text("hello")).await.unwrap();
        // The server closes (a Close frame, code 1003, then the socket).
        let end = timeout(Duration::from_secs(2), async {
            loop {
                match bad.ws.next().await {
                    Some(Ok(Message::Close(frame))) => return frame.map(|f| u16::from(f.code)),
                    Some(Ok(_)) => {}
                    None | Some(Err(_)) => return None,
                }
            }
        })
        .await
        .expect("the connection was closed");
        assert_eq!(end, Some(1003));
        assert!(good.ping().await);
    })
    .await;
}

/// wss with a raw client connecting by IP address (no SNI): the `Host` header names the
/// server; with SNI, SNI wins over `Host`.
#[tokio::test]
async fn wss_server_name_from_sni_then_host() {
    within(5, async {
        let s = Setup::start().await;
        let connector = tokio_rustls::TlsConnector::from(s.certs.client());
        for (sni, host, id, want) in [
            (
                "127.0.0.1",
                "broker.example:443",
                "by-host",
                "broker.example",
            ),
            ("localhost", "broker.example", "by-sni", "localhost"),
        ] {
            let tcp = TcpStream::connect(s.wss()).await.unwrap();
            let name = ServerName::try_from(sni.to_owned()).unwrap();
            let tls = connector.connect(name, tcp).await.unwrap();
            let (mut peer, selected) = raw_handshake(tls, s.wss(), "mqtt", host).await.unwrap();
            assert_eq!(selected.as_deref(), Some("mqtt"));
            peer.connect(id).await;
            let (_, name, tls) = s.seen(id);
            assert_eq!(name.as_deref(), Some(want));
            assert!(tls);
        }
    })
    .await;
}

/// MyQtt test_22, ws case: the server drops the connection twice; the client reconnects over
/// ws each time (Reconnected event) and messages flow again.
#[tokio::test]
async fn test_22_ws_reconnect_after_the_server_drops_the_socket() {
    within(5, async {
        let s = Setup::start().await;
        let url = format!("ws://127.0.0.1:{}/", s.ws().port());
        let options = ConnectOptions::new("ws-re")
            .version(ProtocolVersion::V3_1_1)
            .reconnect(ReconnectPolicy::backoff(
                Duration::from_millis(20),
                Duration::from_millis(200),
            ))
            .resubscribe(true);
        let client = Client::connect_with(WsConnector::new(&url).unwrap(), options)
            .await
            .unwrap();
        let tcp = Client::connect(s.tcp(), self::options("tcp"))
            .await
            .unwrap();
        client.subscribe("re/#", QoS::AtLeastOnce).await.unwrap();
        let mut messages = client.messages();
        let mut events = client.events();
        for round in 0..2 {
            let (connection, _, _) = s.seen("ws-re");
            s.server
                .disconnect(connection, ReasonCode::AdministrativeAction)
                .await;
            loop {
                let e = timeout(Duration::from_secs(3), events.recv())
                    .await
                    .expect("no event within 3 s")
                    .expect("events ended");
                if matches!(e, Event::Reconnected { .. }) {
                    break;
                }
            }
            // Resubscription is sent right after CONNACK; a round trip makes sure it landed.
            client.ping().await.unwrap();
            let topic = format!("re/{round}");
            tcp.publish(topic.as_str(), &b"again"[..], QoS::AtLeastOnce, false)
                .await
                .unwrap();
            assert_eq!(next(&mut messages).await.topic.as_str(), topic);
        }
        client.close().await.unwrap();
        tcp.close().await.unwrap();
    })
    .await;
}
