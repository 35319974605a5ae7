//! The tokio server's TLS listeners over loopback, with certificates made at test time by
//! `rcgen`, spoken to with raw MQTT packets over a tokio-rustls client stream (MyQtt test_18,
//! test_19, test_19a).
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::BytesMut;
use myqtt_host::tls::{ClientTls, PemSource, ServerTls, fingerprint_sha256};
use myqtt_proto::codec::{
    Connect, MqttString, Packet, PacketId, ProtocolVersion, Publish, QoS, ReasonCode, Subscribe,
    SubscribeProperties, Subscription,
};
use myqtt_proto::topic::{TopicFilter, TopicName};
use myqtt_tokio::server::{ConnectDecision, Server, SubscribeDecision};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_rustls::TlsConnector;

const V: ProtocolVersion = ProtocolVersion::V3_1_1;

/// A certificate authority made for one test.
struct Ca {
    issuer: Issuer<'static, KeyPair>,
    pem: String,
}

/// A certificate and its key, as PEM, plus the certificate's DER.
struct Leaf {
    cert: String,
    key: String,
    der: Vec<u8>,
}

impl Leaf {
    fn cert(&self) -> PemSource {
        PemSource::bytes(self.cert.clone())
    }
    fn key(&self) -> PemSource {
        PemSource::bytes(self.key.clone())
    }
}

impl Ca {
    fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        Ca {
            pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    fn pem(&self) -> PemSource {
        PemSource::bytes(self.pem.clone())
    }

    fn leaf(&self, common_name: &str, names: &[&str], usage: ExtendedKeyUsagePurpose) -> Leaf {
        let names = names.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let mut params = CertificateParams::new(names).unwrap();
        // Most general first, as in DER; RFC 4514 prints the reverse.
        params.distinguished_name = DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::OrganizationName, "myqtt tests");
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.extended_key_usages = vec![usage];
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Leaf {
            cert: cert.pem(),
            key: key.serialize_pem(),
            der: cert.der().to_vec(),
        }
    }

    fn server(&self, names: &[&str]) -> Leaf {
        self.leaf(names[0], names, ExtendedKeyUsagePurpose::ServerAuth)
    }

    fn client(&self, common_name: &str) -> Leaf {
        self.leaf(common_name, &[], ExtendedKeyUsagePurpose::ClientAuth)
    }
}

/// A raw MQTT peer over any stream.
struct Peer<S> {
    stream: S,
    rx: BytesMut,
}

type TlsPeer = Peer<tokio_rustls::client::TlsStream<TcpStream>>;

/// Opens a TLS connection to `addr`, sending `server_name` through SNI (an IP address sends
/// none) and trusting `client`'s configuration.
async fn tls_open(
    addr: SocketAddr,
    server_name: &str,
    client: ClientTls,
) -> std::io::Result<TlsPeer> {
    let connector = TlsConnector::from(client.build().unwrap());
    let tcp = TcpStream::connect(addr).await?;
    let name = ServerName::try_from(server_name.to_owned()).unwrap();
    let stream = timeout(Duration::from_secs(2), connector.connect(name, tcp))
        .await
        .expect("handshake in time")?;
    Ok(Peer {
        stream,
        rx: BytesMut::new(),
    })
}

impl TlsPeer {
    /// The certificate the server presented.
    fn server_certificate(&self) -> Vec<u8> {
        self.stream.get_ref().1.peer_certificates().unwrap()[0].to_vec()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Peer<S> {
    /// Sends a packet; false if the connection is gone.
    async fn send(&mut self, p: Packet) -> bool {
        let bytes = p.to_bytes(V).unwrap();
        self.stream.write_all(&bytes).await.is_ok() && self.stream.flush().await.is_ok()
    }

    /// The next packet, or `None` if the server closed (or broke) the connection.
    async fn recv(&mut self) -> Option<Packet> {
        timeout(Duration::from_secs(2), async {
            loop {
                match Packet::decode(&mut self.rx, V, 1 << 20) {
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

    /// Sends CONNECT; the CONNACK's reason code, or `None` if the connection was closed.
    async fn connect(&mut self, id: &str) -> Option<ReasonCode> {
        let c = Connect::new(V, MqttString::try_from(id).unwrap());
        if !self.send(Packet::Connect(Box::new(c))).await {
            return None;
        }
        match self.recv().await {
            Some(Packet::ConnAck(ack)) => Some(ack.reason_code),
            None => None,
            other => panic!("expected CONNACK, got {other:?}"),
        }
    }
}

fn subscribe(filter: &str) -> Packet {
    Packet::Subscribe(Subscribe {
        packet_id: PacketId::new(1).unwrap(),
        subscriptions: vec![Subscription::new(
            TopicFilter::try_from(filter).unwrap(),
            QoS::AtLeastOnce,
        )],
        properties: SubscribeProperties::default(),
    })
}

fn publish(topic: &str, payload: &'static [u8]) -> Packet {
    let mut p = Publish::new(TopicName::try_from(topic).unwrap(), payload);
    p.qos = QoS::AtLeastOnce;
    p.packet_id = PacketId::new(5);
    Packet::Publish(p)
}

/// What the server's hooks saw: (client id, server name, is_tls, peer certificate subject).
type Seen = Arc<Mutex<Vec<(String, Option<String>, bool, Option<String>)>>>;

/// A server with one TLS listener (and, first, one TCP listener), whose hooks record what
/// they saw: `on_connect` the server name and TLS flag, `on_subscribe` the transport.
async fn start(tls: Arc<rustls::ServerConfig>, handshake: Duration) -> (Server, Seen, Seen) {
    let connects: Seen = Arc::default();
    let subscribes: Seen = Arc::default();
    let (c, s) = (connects.clone(), subscribes.clone());
    let server = Server::builder()
        .on_connect(move |info| {
            c.lock().unwrap().push((
                info.client_id.clone(),
                info.server_name.clone(),
                info.is_tls,
                None,
            ));
            async { ConnectDecision::Accept }
        })
        .on_subscribe(move |client, sub| {
            s.lock().unwrap().push((
                client.client_id.to_owned(),
                client.transport.server_name.clone(),
                client.transport.is_tls,
                client.transport.peer_certificate_subject.clone(),
            ));
            SubscribeDecision::Grant(sub.options.qos)
        })
        .listen("127.0.0.1:0")
        .listen_tls("127.0.0.1:0", tls)
        .tls_handshake_timeout(handshake)
        .start()
        .await
        .unwrap();
    (server, connects, subscribes)
}

fn tls_addr(server: &Server) -> SocketAddr {
    server.local_addrs()[1]
}

/// MyQtt test_18: TLS connect, then publish and subscribe over TLS; the hooks see TLS on.
#[tokio::test]
async fn test_18_tls_publish_and_subscribe() {
    let ca = Ca::new("test CA");
    let cert = ca.server(&["localhost", "127.0.0.1"]);
    let tls = ServerTls::new()
        .certificate(cert.cert(), cert.key())
        .build()
        .unwrap();
    let (server, connects, _) = start(tls, Duration::from_secs(10)).await;
    let addr = tls_addr(&server);
    let trust = || ClientTls::new().ca(ca.pem());

    let mut sub = tls_open(addr, "localhost", trust()).await.unwrap();
    assert_eq!(sub.connect("sub").await, Some(ReasonCode::Success));
    assert!(sub.send(subscribe("tls/#")).await);
    assert!(matches!(sub.recv().await, Some(Packet::SubAck(_))));
    // By IP address: no SNI, the same (only) certificate.
    let mut publisher = tls_open(addr, "127.0.0.1", trust()).await.unwrap();
    assert_eq!(publisher.connect("pub").await, Some(ReasonCode::Success));
    assert!(publisher.send(publish("tls/x", b"secret")).await);
    assert!(matches!(publisher.recv().await, Some(Packet::PubAck(_))));
    match sub.recv().await {
        Some(Packet::Publish(p)) => assert_eq!(p.payload.as_ref(), b"secret"),
        other => panic!("{other:?}"),
    }
    let seen = connects.lock().unwrap().clone();
    assert_eq!(
        seen,
        [
            ("sub".into(), Some("localhost".into()), true, None),
            ("pub".into(), None, true, None),
        ]
    );
    server.shutdown().await;
}

/// MyQtt test_18 as written: the client turns peer verification off and connects to a
/// server with a self-signed certificate it does not trust.
#[tokio::test]
async fn test_18_without_peer_verification() {
    let ck = rcgen::generate_simple_self_signed(vec!["myqtt.invalid".to_owned()]).unwrap();
    let tls = ServerTls::new()
        .certificate(
            PemSource::bytes(ck.cert.pem()),
            PemSource::bytes(ck.signing_key.serialize_pem()),
        )
        .build()
        .unwrap();
    let (server, _, _) = start(tls, Duration::from_secs(10)).await;
    let addr = tls_addr(&server);
    // Verified against the Mozilla roots: refused.
    assert!(tls_open(addr, "localhost", ClientTls::new()).await.is_err());
    let insecure = ClientTls::new().danger_accept_any_server_certificate();
    let mut peer = tls_open(addr, "localhost", insecure).await.unwrap();
    assert_eq!(peer.connect("insecure").await, Some(ReasonCode::Success));
    assert!(peer.send(Packet::PingReq).await);
    assert_eq!(peer.recv().await, Some(Packet::PingResp));
    server.shutdown().await;
}

/// MyQtt test_19a: SNI picks the certificate through the accept/cert/key handlers (checked by
/// fingerprint on the client side); the server reports the announced name and TLS on; a
/// refused name aborts the handshake.
#[tokio::test]
async fn test_19a_sni_handlers_choose_the_certificate() {
    let ca = Ca::new("test CA");
    let default = Arc::new(ca.server(&["localhost", "127.0.0.1"]));
    let special = Arc::new(ca.server(&["test19a.localhost"]));
    let pick = |default: Arc<Leaf>, special: Arc<Leaf>, key: bool| {
        move |name: Option<&str>| {
            if name == Some("broken.localhost") {
                return Some(PemSource::path("/nonexistent/broken.pem"));
            }
            let leaf = if name == Some("test19a.localhost") {
                &special
            } else {
                &default
            };
            Some(if key { leaf.key() } else { leaf.cert() })
        }
    };
    let asked = Arc::new(Mutex::new(Vec::new()));
    let asked_in = asked.clone();
    let tls = ServerTls::new()
        .sni(
            move |name| {
                asked_in.lock().unwrap().push(name.map(str::to_owned));
                name != Some("refused.localhost")
            },
            pick(default.clone(), special.clone(), false),
            pick(default.clone(), special.clone(), true),
        )
        .build()
        .unwrap();
    let (server, connects, _) = start(tls, Duration::from_secs(10)).await;
    let addr = tls_addr(&server);
    let trust = || ClientTls::new().ca(ca.pem());

    let mut plain = tls_open(addr, "localhost", trust()).await.unwrap();
    assert_eq!(
        fingerprint_sha256(&plain.server_certificate()),
        fingerprint_sha256(&default.der)
    );
    assert_eq!(plain.connect("default").await, Some(ReasonCode::Success));

    let mut named = tls_open(addr, "test19a.localhost", trust()).await.unwrap();
    assert_eq!(named.server_certificate(), special.der);
    assert_ne!(
        fingerprint_sha256(&named.server_certificate()),
        fingerprint_sha256(&default.der)
    );
    assert_eq!(named.connect("named").await, Some(ReasonCode::Success));

    // No SNI (IP address): the default certificate.
    let by_ip = tls_open(addr, "127.0.0.1", trust()).await.unwrap();
    assert_eq!(by_ip.server_certificate(), default.der);

    // The accept handler refuses: the handshake fails.
    assert!(tls_open(addr, "refused.localhost", trust()).await.is_err());
    // The handlers name a file that does not exist: that handshake fails, nothing else.
    assert!(tls_open(addr, "broken.localhost", trust()).await.is_err());
    assert!(plain.send(Packet::PingReq).await);
    assert_eq!(plain.recv().await, Some(Packet::PingResp));

    let seen = connects.lock().unwrap().clone();
    assert_eq!(
        seen,
        [
            ("default".into(), Some("localhost".into()), true, None),
            ("named".into(), Some("test19a.localhost".into()), true, None),
        ]
    );
    assert_eq!(
        *asked.lock().unwrap(),
        [
            Some("localhost".to_owned()),
            Some("test19a.localhost".to_owned()),
            None,
            Some("refused.localhost".to_owned()),
            Some("broken.localhost".to_owned()),
        ]
    );
    server.shutdown().await;
}

/// MyQtt test_19: a listener that requires a client certificate accepts one signed by its
/// CA (and reports its subject), refuses a client without one and one from another CA.
#[tokio::test]
async fn test_19_mutual_tls() {
    let ca = Ca::new("test CA");
    let other_ca = Ca::new("other CA");
    let cert = ca.server(&["localhost"]);
    let tls = ServerTls::new()
        .certificate(cert.cert(), cert.key())
        .client_auth_required(ca.pem())
        .build()
        .unwrap();
    let (server, _, subscribes) = start(tls, Duration::from_secs(10)).await;
    let addr = tls_addr(&server);

    let good = ca.client("client-1");
    let client = ClientTls::new()
        .ca(ca.pem())
        .client_certificate(good.cert(), good.key());
    let mut ok = tls_open(addr, "localhost", client).await.unwrap();
    assert_eq!(ok.connect("mtls").await, Some(ReasonCode::Success));
    assert!(ok.send(subscribe("a/b")).await);
    assert!(matches!(ok.recv().await, Some(Packet::SubAck(_))));
    assert_eq!(
        subscribes.lock().unwrap()[0],
        (
            "mtls".to_owned(),
            Some("localhost".to_owned()),
            true,
            Some("CN=client-1,O=myqtt tests".to_owned())
        )
    );

    // Without a certificate. With TLS 1.3 the client may finish its side of the handshake
    // before the server refuses, so the refusal can show at the first read instead.
    let refused = |peer: std::io::Result<TlsPeer>| async move {
        match peer {
            Err(_) => true,
            Ok(mut peer) => peer.connect("intruder").await.is_none(),
        }
    };
    let anonymous = tls_open(addr, "localhost", ClientTls::new().ca(ca.pem())).await;
    assert!(refused(anonymous).await, "no client certificate");

    let stranger = other_ca.client("client-1");
    let client = ClientTls::new()
        .ca(ca.pem())
        .client_certificate(stranger.cert(), stranger.key());
    assert!(
        refused(tls_open(addr, "localhost", client).await).await,
        "certificate from another CA"
    );
    assert_eq!(subscribes.lock().unwrap().len(), 1);
    server.shutdown().await;
}

/// Optional client authentication lets clients without a certificate in (no subject), and
/// still refuses certificates from other CAs.
#[tokio::test]
async fn optional_client_certificate() {
    let ca = Ca::new("test CA");
    let cert = ca.server(&["localhost"]);
    let tls = ServerTls::new()
        .certificate(cert.cert(), cert.key())
        .client_auth_optional(ca.pem())
        .build()
        .unwrap();
    let (server, _, subscribes) = start(tls, Duration::from_secs(10)).await;
    let addr = tls_addr(&server);
    let mut anonymous = tls_open(addr, "localhost", ClientTls::new().ca(ca.pem()))
        .await
        .unwrap();
    assert_eq!(anonymous.connect("anon").await, Some(ReasonCode::Success));
    assert!(anonymous.send(subscribe("a/b")).await);
    assert!(matches!(anonymous.recv().await, Some(Packet::SubAck(_))));
    assert_eq!(subscribes.lock().unwrap()[0].3, None);

    let stranger = Ca::new("other CA").client("x");
    let client = ClientTls::new()
        .ca(ca.pem())
        .client_certificate(stranger.cert(), stranger.key());
    match tls_open(addr, "localhost", client).await {
        Err(_) => {}
        Ok(mut peer) => assert_eq!(peer.connect("x").await, None),
    }
    server.shutdown().await;
}

/// A TLS client that connects and never completes its handshake is closed after the
/// handshake timeout; the TCP listener keeps serving meanwhile (and reports TLS off).
#[tokio::test]
async fn stalled_handshake_is_closed_after_the_timeout() {
    let ca = Ca::new("test CA");
    let cert = ca.server(&["localhost"]);
    let tls = ServerTls::new()
        .certificate(cert.cert(), cert.key())
        .build()
        .unwrap();
    let (server, connects, _) = start(tls, Duration::from_millis(300)).await;
    let started = tokio::time::Instant::now();
    let mut stalled = TcpStream::connect(tls_addr(&server)).await.unwrap();
    // The start of a TLS record, then nothing.
    stalled.write_all(&[0x16, 0x03, 0x01]).await.unwrap();

    let mut plain = Peer {
        stream: TcpStream::connect(server.local_addrs()[0]).await.unwrap(),
        rx: BytesMut::new(),
    };
    assert_eq!(plain.connect("plain").await, Some(ReasonCode::Success));
    assert_eq!(
        connects.lock().unwrap()[0],
        ("plain".to_owned(), None, false, None)
    );

    let mut buf = [0u8; 16];
    let n = timeout(Duration::from_secs(2), stalled.read(&mut buf))
        .await
        .expect("closed within the timeout");
    assert!(matches!(n, Ok(0) | Err(_)), "closed, got {n:?}");
    assert!(started.elapsed() >= Duration::from_millis(250));

    // The TCP connection is unaffected.
    assert!(plain.send(Packet::PingReq).await);
    assert_eq!(plain.recv().await, Some(Packet::PingResp));
    server.shutdown().await;
}
