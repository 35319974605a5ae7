//! Domains (MyQttD's virtual hosts) in the tokio server: selection by `id@domain`,
//! `user@domain`, TLS SNI and credentials (MyQttD test_01, test_03, test_04, test_05, test_07,
//! test_11, test_14, test_21), isolation of traffic, sessions and storage, per-domain limits,
//! domains added and removed at run time, and the per-connection handle.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{next, none_within, within};
use myqtt_host::tls::{ClientTls, PemSource, ServerTls};
use myqtt_proto::codec::{ProtocolVersion, QoS, ReasonCode};
use myqtt_tokio::client::{
    Client, ClientError, ConnectOptions, ReconnectPolicy, TcpConnector, TlsConnector,
};
use myqtt_tokio::server::{
    BrokerConfig, ClosedInfo, ConnectDecision, ConnectInfo, ConnectionHandle, Domain, Server,
};

/// What each domain's `on_connect` saw: (domain, client id, user name).
type Seen = Arc<Mutex<Vec<(String, String, Option<String>)>>>;

fn options(id: &str) -> ConnectOptions {
    ConnectOptions::new(id).reconnect(ReconnectPolicy::disabled())
}

/// A domain that records its CONNECTs and accepts only `user` (or everyone with `None`).
fn domain(name: &'static str, seen: &Seen, user: Option<&'static str>) -> Domain {
    let seen = seen.clone();
    Domain::new().on_connect(move |info: ConnectInfo| {
        let seen = seen.clone();
        async move {
            let accepted = user.is_none() || info.username.as_deref() == user;
            if accepted && info.handle.is_some() {
                seen.lock().unwrap().push((
                    name.to_owned(),
                    info.client_id.clone(),
                    info.username.clone(),
                ));
            }
            if accepted {
                ConnectDecision::Accept
            } else {
                ConnectDecision::Reject(ReasonCode::BadUserNameOrPassword)
            }
        }
    })
}

async fn start(builder: myqtt_tokio::server::ServerBuilder) -> (Server, SocketAddr) {
    let server = builder.listen("127.0.0.1:0").start().await.unwrap();
    let addr = server.local_addrs()[0];
    (server, addr)
}

/// Subscribes `client` to everything and returns its message stream.
async fn subscribe_all(client: &Client) -> myqtt_tokio::client::Messages {
    let messages = client.messages();
    client.subscribe("#", QoS::AtLeastOnce).await.unwrap();
    messages
}

// MyQttD test_03: two domains chosen by client id; the suffix is removed before the domain
// sees the CONNECT; no traffic crosses domains; retained messages stay in their domain.
#[tokio::test]
async fn client_id_suffix_selects_the_domain_and_traffic_stays_inside() {
    within(10, async {
        let seen: Seen = Arc::default();
        let (server, addr) = start(
            Server::builder()
                .domain("one.test", domain("one.test", &seen, None))
                .domain("two.test", domain("two.test", &seen, None)),
        )
        .await;
        let sub_one = Client::connect(addr, options("sub@one.test"))
            .await
            .unwrap();
        let sub_two = Client::connect(addr, options("sub@TWO.test"))
            .await
            .unwrap();
        let mut in_one = subscribe_all(&sub_one).await;
        let mut in_two = subscribe_all(&sub_two).await;
        let publisher = Client::connect(addr, options("pub@one.test"))
            .await
            .unwrap();
        publisher
            .publish("news", &b"for one"[..], QoS::AtLeastOnce, true)
            .await
            .unwrap();
        assert_eq!(&next(&mut in_one).await.payload[..], b"for one");
        none_within(&mut in_two, 200).await;
        // The same client id in two domains names two sessions: no takeover across domains.
        assert!(sub_one.is_connected() && sub_two.is_connected());
        // A retained message published in one domain is not retained in the other.
        let late = Client::connect(addr, options("late@two.test"))
            .await
            .unwrap();
        let mut late_messages = subscribe_all(&late).await;
        none_within(&mut late_messages, 200).await;
        let seen = seen.lock().unwrap().clone();
        assert!(seen.contains(&("one.test".into(), "sub".into(), None)));
        assert!(seen.contains(&("two.test".into(), "sub".into(), None)));
        assert!(seen.contains(&("one.test".into(), "pub".into(), None)));
        assert_eq!(
            server.domain_names().await,
            vec!["one.test".to_owned(), "two.test".to_owned()]
        );
        server.shutdown().await;
    })
    .await;
}

// MyQttD test_04 / test_05 / test_20 (user@domain, credentials): a user name suffix selects the
// domain, whose on_connect alone decides (a wrong user is refused, not retried elsewhere);
// without any indication the first domain that accepts the credentials gets the client.
#[tokio::test]
async fn user_suffix_and_credentials_select_the_domain() {
    within(10, async {
        let seen: Seen = Arc::default();
        let (server, addr) = start(
            Server::builder()
                .on_connect(|_| async { ConnectDecision::Reject(ReasonCode::NotAuthorized) })
                .domain("one.test", domain("one.test", &seen, Some("alice")))
                .domain("two.test", domain("two.test", &seen, Some("bob"))),
        )
        .await;
        // user@domain: the suffix is removed.
        let alice = Client::connect(addr, options("a").credentials("alice@one.test", "pw"))
            .await
            .unwrap();
        // Explicit domain whose on_connect refuses: final, even though two.test would accept.
        let refused = Client::connect(addr, options("b").credentials("bob@one.test", "pw")).await;
        assert!(
            matches!(
                refused,
                Err(ClientError::Refused(ReasonCode::BadUserNameOrPassword))
            ),
            "{refused:?}"
        );
        // No indication: probing in order finds two.test for bob.
        let bob = Client::connect(addr, options("b").credentials("bob", "pw"))
            .await
            .unwrap();
        // Nobody accepts carol: the default domain decides (refuses).
        let carol = Client::connect(addr, options("c").credentials("carol", "pw")).await;
        assert!(matches!(carol, Err(ClientError::Refused(_))), "{carol:?}");
        let seen = seen.lock().unwrap().clone();
        assert!(seen.contains(&("one.test".into(), "a".into(), Some("alice".into()))));
        // Probing accepted bob once (handle None); the domain did not ask again.
        assert!(!seen.iter().any(|(d, id, _)| d == "two.test" && id == "b"));
        // bob really is in two.test: alice (one.test) does not hear him.
        let mut alice_messages = subscribe_all(&alice).await;
        bob.publish("x", &b"hi"[..], QoS::AtLeastOnce, false)
            .await
            .unwrap();
        none_within(&mut alice_messages, 200).await;
        server.shutdown().await;
    })
    .await;
}

// MyQttD test_11 / test_14: the TLS SNI server name selects the domain; a connection without a
// matching name falls back to the other rules.
#[tokio::test]
async fn tls_server_name_selects_the_domain() {
    within(10, async {
        let key = rcgen::KeyPair::generate().unwrap();
        let params = rcgen::CertificateParams::new(vec![
            "one.test".to_owned(),
            "two.test".to_owned(),
            "other.test".to_owned(),
        ])
        .unwrap();
        let cert = params.self_signed(&key).unwrap();
        let tls = ServerTls::new()
            .certificate(
                PemSource::bytes(cert.pem()),
                PemSource::bytes(key.serialize_pem()),
            )
            .build()
            .unwrap();
        let seen: Seen = Arc::default();
        let server = Server::builder()
            .domain("one.test", domain("one.test", &seen, None))
            .domain("two.test", domain("two.test", &seen, Some("nobody")))
            .listen_tls("127.0.0.1:0", tls)
            .start()
            .await
            .unwrap();
        let addr = server.local_addrs()[0];
        let client_tls = ClientTls::new()
            .ca(PemSource::bytes(cert.pem()))
            .build()
            .unwrap();
        let connector = |name: &str| {
            TlsConnector::new(addr, client_tls.clone())
                .unwrap()
                .server_name(name)
                .unwrap()
        };
        // SNI two.test: final, and two.test refuses this user.
        let refused = Client::connect_with(connector("two.test"), options("x")).await;
        assert!(
            matches!(refused, Err(ClientError::Refused(_))),
            "{refused:?}"
        );
        // SNI one.test.
        let one = Client::connect_with(connector("one.test"), options("x"))
            .await
            .unwrap();
        // An unknown name falls back to probing: one.test accepts everyone.
        let other = Client::connect_with(connector("other.test"), options("y"))
            .await
            .unwrap();
        assert!(one.is_connected() && other.is_connected());
        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen, vec![("one.test".into(), "x".into(), None)]);
        server.shutdown().await;
    })
    .await;
}

// MyQttD test_07: each domain has its own connection limit.
#[tokio::test]
async fn each_domain_has_its_own_limits() {
    within(10, async {
        let seen: Seen = Arc::default();
        let small = BrokerConfig {
            max_connections: 1,
            ..BrokerConfig::default()
        };
        let (server, addr) = start(
            Server::builder()
                .domain(
                    "small.test",
                    domain("small.test", &seen, None).config(small),
                )
                .domain("big.test", domain("big.test", &seen, None)),
        )
        .await;
        let first = Client::connect(addr, options("a@small.test"))
            .await
            .unwrap();
        let second = Client::connect(addr, options("b@small.test")).await;
        assert!(second.is_err(), "the second connection must be refused");
        for i in 0..3 {
            let c = Client::connect(addr, options(&format!("c{i}@big.test")))
                .await
                .unwrap();
            c.close().await.unwrap();
        }
        assert!(first.is_connected());
        server.shutdown().await;
    })
    .await;
}

// MyQttD test_21: a domain added while the server runs is usable at once; removing one
// disconnects its clients and leaves the others alone. Sessions and retained messages are kept
// in each domain's own storage and survive a restart there only.
#[tokio::test]
async fn domains_added_and_removed_at_run_time_with_their_own_storage() {
    within(15, async {
        let dir = tempfile::tempdir().unwrap();
        let seen: Seen = Arc::default();
        let (server, addr) = start(Server::builder().storage(dir.path().join("default"))).await;
        // Unknown domain: the suffix stays part of the id, in the default domain.
        let early = Client::connect(addr, options("x@late.test")).await.unwrap();
        early.close().await.unwrap();
        server
            .add_domain(
                "late.test",
                domain("late.test", &seen, Some("u")).storage(dir.path().join("late")),
            )
            .await
            .unwrap();
        assert!(
            server.add_domain("LATE.test", Domain::new()).await.is_err(),
            "a second domain with the same name"
        );
        let late = Client::connect(addr, options("x@late.test").credentials("u", "pw"))
            .await
            .unwrap();
        late.publish("kept", &b"late"[..], QoS::AtLeastOnce, true)
            .await
            .unwrap();
        // No indication and late.test refuses anonymous clients: the default domain.
        let plain = Client::connect(addr, options("plain")).await.unwrap();
        let mut plain_messages = plain.messages();
        assert!(server.remove_domain("late.test").await);
        assert!(!server.remove_domain("late.test").await);
        within(2, async {
            while late.is_connected() {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
        assert!(plain.is_connected());
        // Its retained message was stored in its own directory: back after re-adding it.
        server
            .add_domain(
                "late.test",
                domain("late.test", &seen, Some("u")).storage(dir.path().join("late")),
            )
            .await
            .unwrap();
        let again = Client::connect(addr, options("y@late.test").credentials("u", "pw"))
            .await
            .unwrap();
        let mut again_messages = subscribe_all(&again).await;
        let retained = next(&mut again_messages).await;
        assert_eq!(&retained.payload[..], b"late");
        // ... and never in the default domain.
        plain.subscribe("#", QoS::AtLeastOnce).await.unwrap();
        none_within(&mut plain_messages, 200).await;
        server.shutdown().await;
    })
    .await;
}

// The per-connection handle (MyQtt `conn.shutdown()`, `conn.server_name`, `is_tls`) and the
// connection-closed notification.
#[tokio::test]
async fn connection_handle_shuts_down_and_disconnect_is_notified() {
    within(10, async {
        let handles: Arc<Mutex<Vec<ConnectionHandle>>> = Arc::default();
        let closed: Arc<Mutex<Vec<ClosedInfo>>> = Arc::default();
        let (h, c) = (handles.clone(), closed.clone());
        let (server, addr) = start(
            Server::builder()
                .on_connect(move |info: ConnectInfo| {
                    let h = h.clone();
                    async move {
                        assert!(!info.is_tls());
                        assert_eq!(info.server_name(), None);
                        h.lock().unwrap().push(info.handle.clone().unwrap());
                        ConnectDecision::Accept
                    }
                })
                .on_disconnect(move |info| c.lock().unwrap().push(info.clone())),
        )
        .await;
        let client = Client::connect_with(
            TcpConnector::new(addr),
            options("victim").version(ProtocolVersion::V5),
        )
        .await
        .unwrap();
        let handle = handles.lock().unwrap()[0].clone();
        handle.shutdown().await;
        within(2, async {
            while client.is_connected() {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
        within(2, async {
            while closed.lock().unwrap().is_empty() {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
        let closed = closed.lock().unwrap().clone();
        assert_eq!(closed.len(), 1);
        assert_eq!(closed[0].client_id.as_deref(), Some("victim"));
        assert_eq!(closed[0].connection, handle.id());
        server.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn invalid_domain_names_are_refused() {
    for name in ["", "a@b", "a b", "../x"] {
        let result = Server::builder()
            .domain(name, Domain::new())
            .listen("127.0.0.1:0")
            .start()
            .await;
        assert!(result.is_err(), "{name:?}");
    }
    let twice = Server::builder()
        .domain("a.test", Domain::new())
        .domain("A.TEST", Domain::new())
        .listen("127.0.0.1:0")
        .start()
        .await;
    assert!(twice.is_err());
}
