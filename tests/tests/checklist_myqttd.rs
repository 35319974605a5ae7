//! MyQttD's regression items (`server/test_01.c`, MYQTT.md §3.2) against the `myqttd` binary
//! (TOML configs instead of MyQttD's XML, the password file + ACLs instead of MySQL), over
//! loopback sockets. See `tests/CHECKLIST.md`.
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use myqtt_host::tls::{ClientTls, PemSource};
use myqtt_proto::codec::{Packet, PacketId, ProtocolVersion, PublishAck, QoS, ReasonCode};
use myqtt_tests::checklist::{
    Peer, connect, connect_packet, next, none_within, options, passwd, passwd_delete, publish,
    signal, within,
};
use myqtt_tests::myqttd::{Myqttd, binary, free_port};
use myqtt_tokio::client::{Client, ClientError, WssConnector};
use rcgen::{CertificateParams, KeyPair};

const V3: ProtocolVersion = ProtocolVersion::V3_1_1;
const V5: ProtocolVersion = ProtocolVersion::V5;

/// Writes `config` to `dir/myqttd.toml` and starts `myqttd -c` on `port` with its data in
/// `dir/data`.
fn start(dir: &Path, port: u16, config: &str) -> Myqttd {
    let file = dir.join("myqttd.toml");
    std::fs::write(&file, config).unwrap();
    let data = dir.join("data");
    Myqttd::start(
        port,
        &[
            "-c",
            file.to_str().unwrap(),
            "--data-dir",
            data.to_str().unwrap(),
        ],
        &dir.join("myqttd.log"),
    )
}

fn ack(id: u16) -> PublishAck {
    PublishAck::new(PacketId::new(id).unwrap())
}

// MyQttD test_00
/// `myqttd -c myqttd.example.toml` (paths and ports pointed at a temporary directory) starts,
/// enforces its users and ACL (the admin may use any topic), and exits with status 0 on
/// SIGTERM.
#[tokio::test]
async fn starts_from_the_example_config_and_exits_cleanly() {
    within(20, async {
        let dir = tempfile::tempdir().unwrap();
        let example = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../myqtt-tokio/myqttd.example.toml"),
        )
        .unwrap();
        let p = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();
        let config = example
            .replace("\"./myqttd-data\"", &format!("{:?}", p("data")))
            .replace("\"/etc/myqttd/passwd\"", &format!("{:?}", p("passwd")))
            .replace(
                "\"/etc/myqttd/example.com.passwd\"",
                &format!("{:?}", p("example.passwd")),
            )
            .replace("bind = \"0.0.0.0\"", "bind = \"127.0.0.1\"")
            .replace(
                "bind = \"::1\"\nport = 1883",
                "bind = \"127.0.0.1\"\nport = 0",
            );
        assert!(!config.contains("/etc/myqttd/passwd\""), "paths replaced");
        std::fs::write(p("myqttd.toml"), &config).unwrap();
        passwd(Path::new(&p("passwd")), "admin", "secret");
        passwd(Path::new(&p("example.passwd")), "carol", "pw");
        let port = free_port();
        let log = std::fs::File::create(p("myqttd.log")).unwrap();
        let mut child = Command::new(binary())
            .args(["-c", &p("myqttd.toml"), "--port", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let admin = connect(addr, options("admin-1", V5).credentials("admin", "secret"))
            .await
            .unwrap();
        let mut messages = admin.messages();
        admin
            .subscribe("any/topic", QoS::AtLeastOnce)
            .await
            .unwrap();
        admin
            .publish("any/topic", &b"x"[..], QoS::AtLeastOnce, false)
            .await
            .unwrap();
        assert_eq!(next(&mut messages).await.payload.as_ref(), b"x");
        // anonymous = false in the example.
        assert!(matches!(
            connect(addr, options("anon", V5)).await,
            Err(ClientError::Refused(_))
        ));
        signal(child.id(), "TERM");
        let deadline = Instant::now() + Duration::from_secs(5);
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < deadline, "myqttd did not exit on SIGTERM");
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        assert!(status.success(), "exit status {status}");
    })
    .await;
}

// MyQttD test_02 [MQTT-4.3.2-1]
/// 50 subscribed connections × 50 QoS 1 messages = 2500 deliveries, none missing.
#[tokio::test]
async fn fifty_subscribers_get_fifty_messages_each() {
    within(30, async {
        let dir = tempfile::tempdir().unwrap();
        let broker = start(dir.path(), free_port(), "");
        let addr = broker.addr();
        let mut subs = Vec::new();
        for i in 0..50 {
            let c = connect(addr, options(&format!("sub-{i}"), V3))
                .await
                .unwrap();
            let m = c.messages();
            c.subscribe("fan/+", QoS::AtLeastOnce).await.unwrap();
            subs.push((c, m));
        }
        let publisher = connect(addr, options("publisher", V5)).await.unwrap();
        for i in 0..50u8 {
            publisher
                .publish("fan/out", vec![i], QoS::AtLeastOnce, false)
                .await
                .unwrap();
        }
        let mut total = 0;
        for (_, messages) in &mut subs {
            for i in 0..50u8 {
                assert_eq!(next(messages).await.payload.as_ref(), [i]);
                total += 1;
            }
        }
        assert_eq!(total, 2500);
    })
    .await;
}

// MyQttD test_03a, test_10 (adapted: the policy is a restart-time limit, not changed at run
// time; take-over is the default as the spec requires)
// [MQTT-3.1.4-2]
/// After a close without DISCONNECT the client id is free again. With
/// `takeover_policy = "reject-new"` a second simultaneous use is refused (0x02 / 0x85) and the
/// first connection lives on; with `"take-over"` the new connection wins and the old one is
/// closed (5.0: DISCONNECT "Session taken over").
#[tokio::test]
async fn client_id_is_freed_after_an_abrupt_close_and_duplicates_follow_the_policy() {
    within(20, async {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let mut broker = start(
            dir.path(),
            port,
            "[limits]\ntakeover_policy = \"reject-new\"\n",
        );
        let addr = broker.addr();
        let mut first = Peer::open(addr, V5).await;
        assert_eq!(
            first.connect("test_03a", true).await.reason_code,
            ReasonCode::Success
        );
        first.drop_socket();
        // Freed once the server sees the close.
        let deadline = Instant::now() + Duration::from_secs(3);
        let mut again = loop {
            let mut peer = Peer::open(addr, V5).await;
            match peer.try_connect(connect_packet(V5, "test_03a", true)).await {
                Some(ReasonCode::Success) => break peer,
                other => assert!(Instant::now() < deadline, "id not freed: {other:?}"),
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let mut duplicate = Peer::open(addr, V5).await;
        assert_eq!(
            duplicate
                .try_connect(connect_packet(V5, "test_03a", true))
                .await,
            Some(ReasonCode::ClientIdentifierNotValid)
        );
        again.send(Packet::PingReq).await;
        assert_eq!(again.recv().await, Some(Packet::PingResp));
        broker.kill9();
        drop(broker);

        let broker = start(
            dir.path(),
            port,
            "[limits]\ntakeover_policy = \"take-over\"\n",
        );
        let addr = broker.addr();
        let mut old = Peer::open(addr, V5).await;
        old.connect("test_10", true).await;
        let mut new = Peer::open(addr, V5).await;
        assert_eq!(
            new.connect("test_10", true).await.reason_code,
            ReasonCode::Success
        );
        assert!(matches!(
            old.recv().await,
            Some(Packet::Disconnect(d)) if d.reason_code == ReasonCode::SessionTakenOver
        ));
        assert_eq!(old.recv().await, None);
        new.send(Packet::PingReq).await;
        assert_eq!(new.recv().await, Some(Packet::PingResp));
    })
    .await;
}

// MyQttD test_06, test_07
/// Domain settings from TOML: top-level `[limits]` allow 5 connections, the `small.test`
/// domain's own `[domains.limits]` allow 3, and `other.test` without a table inherits the
/// top-level 5. The connection beyond each limit is refused.
#[tokio::test]
async fn domain_settings_and_connection_limits() {
    within(20, async {
        let dir = tempfile::tempdir().unwrap();
        let users = dir.path().join("passwd");
        passwd(&users, "u", "p");
        let broker = start(
            dir.path(),
            free_port(),
            &format!(
                r#"
                [limits]
                max_connections = 5
                [[domains]]
                name = "small.test"
                anonymous = false
                password_file = {users:?}
                [domains.limits]
                max_connections = 3
                [[domains]]
                name = "other.test"
                anonymous = false
                password_file = {users:?}
                "#
            ),
        );
        let addr = broker.addr();
        // Named domains by client id suffix and credentials; the default domain anonymously.
        let login = |id: &str| {
            let mut c = connect_packet(V3, id, true);
            if id.contains('@') {
                c.username = Some("u".try_into().unwrap());
                c.password = Some(bytes::Bytes::from_static(b"p"));
            }
            c
        };
        for (suffix, limit) in [("", 5), ("@small.test", 3), ("@other.test", 5)] {
            let mut held = Vec::new();
            for i in 0..limit {
                let mut peer = Peer::open(addr, V3).await;
                let id = format!("c{i}{suffix}");
                assert_eq!(
                    peer.try_connect(login(&id)).await,
                    Some(ReasonCode::Success),
                    "{id}"
                );
                held.push(peer);
            }
            let mut over = Peer::open(addr, V3).await;
            let over = over.try_connect(login(&format!("over{suffix}"))).await;
            assert_ne!(over, Some(ReasonCode::Success), "limit {limit}{suffix}");
            drop(held);
            // Room again once they are gone.
            let deadline = Instant::now() + Duration::from_secs(3);
            loop {
                let mut peer = Peer::open(addr, V3).await;
                let rc = peer.try_connect(login(&format!("later{suffix}"))).await;
                if rc == Some(ReasonCode::Success) {
                    break;
                }
                assert!(Instant::now() < deadline, "no room after closing: {rc:?}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
}

// MyQttD test_08 (MQTT 5.0 §3.1.2.11.4 Maximum Packet Size, §4.13 Packet too large)
/// A PUBLISH larger than `--max-packet-size` closes that connection (5.0: DISCONNECT "Packet
/// too large" first); a smaller one passes and other connections are unaffected.
#[tokio::test]
async fn oversized_message_closes_the_connection() {
    within(15, async {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("myqttd.toml");
        std::fs::write(&file, "").unwrap();
        let broker = Myqttd::start(
            free_port(),
            &[
                "-c",
                file.to_str().unwrap(),
                "--no-persistence",
                "--max-packet-size",
                "1024",
            ],
            &dir.path().join("myqttd.log"),
        );
        let addr = broker.addr();
        let mut sub = Peer::open(addr, V3).await;
        sub.connect("sub", true).await;
        sub.subscribe(1, &[("size/#", QoS::AtLeastOnce)]).await;
        for version in [V3, V5] {
            let mut peer = Peer::open(addr, version).await;
            peer.connect("big", true).await;
            peer.send(publish("size/ok", &[1; 900], QoS::AtLeastOnce, 1, false))
                .await;
            assert_eq!(peer.recv().await, Some(Packet::PubAck(ack(1))));
            let p = sub.expect_publish().await;
            assert_eq!(p.payload.len(), 900);
            sub.send(Packet::PubAck(ack(p.packet_id.unwrap().get())))
                .await;
            peer.send(publish("size/big", &[2; 2000], QoS::AtLeastOnce, 2, false))
                .await;
            match peer.recv().await {
                None => assert_eq!(version, V3),
                Some(Packet::Disconnect(d)) => {
                    assert_eq!(version, V5);
                    assert_eq!(d.reason_code, ReasonCode::PacketTooLarge);
                    assert_eq!(peer.recv().await, None);
                }
                other => panic!("{other:?}"),
            }
        }
        sub.quiet(200).await;
        sub.send(Packet::PingReq).await;
        assert_eq!(sub.recv().await, Some(Packet::PingResp));
    })
    .await;
}

// MyQttD test_09 (count-based quota: max_queued_messages) [MQTT-3.1.2-5]
/// Offline messages are stored until the quota (4) is reached, the rest are dropped; once the
/// stored ones are delivered and acknowledged, the quota has room again.
#[tokio::test]
async fn offline_queue_quota_refuses_beyond_the_limit_and_frees_on_release() {
    within(15, async {
        let dir = tempfile::tempdir().unwrap();
        let broker = start(
            dir.path(),
            free_port(),
            "[limits]\nmax_queued_messages = 4\nqueue_full_policy = \"drop-newest\"\n",
        );
        let addr = broker.addr();
        let mut sub = Peer::open(addr, V3).await;
        sub.connect("quota", false).await;
        sub.subscribe(1, &[("quota/#", QoS::AtLeastOnce)]).await;
        drop(sub);
        let mut publisher = Peer::open(addr, V3).await;
        publisher.connect("publisher", true).await;
        for round in 0..2u8 {
            for i in 0..7u8 {
                publisher
                    .send(publish("quota/m", &[round, i], QoS::AtLeastOnce, 1, false))
                    .await;
                assert_eq!(publisher.recv().await, Some(Packet::PubAck(ack(1))));
            }
            let mut sub = Peer::open(addr, V3).await;
            assert!(sub.connect("quota", false).await.session_present);
            for i in 0..4u8 {
                let p = sub.expect_publish().await;
                assert_eq!(
                    p.payload.as_ref(),
                    [round, i],
                    "drop-newest keeps the first four"
                );
                sub.send(Packet::PubAck(ack(p.packet_id.unwrap().get())))
                    .await;
            }
            sub.quiet(200).await;
            // Disconnect cleanly so the next round starts offline with an empty queue.
            sub.send(Packet::Disconnect(myqtt_proto::codec::Disconnect::new(
                ReasonCode::Success,
            )))
            .await;
            assert_eq!(sub.recv().await, None);
        }
    })
    .await;
}

// MyQttD test_10a, test_10b
// [MQTT-3.1.2-4] [MQTT-3.1.2-6] [MQTT-3.2.2-2]
/// A cs=0 subscription (with wildcards) survives close, reconnect and a broker restart (kill
/// -9) without subscribing again, and another client's publish reaches it; a clean session
/// removes the stored subscriptions.
#[tokio::test]
async fn persistent_subscriptions_survive_restarts_and_clean_sessions_remove_them() {
    within(20, async {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let mut broker = start(dir.path(), port, "");
        let addr = broker.addr();
        let mut sub = Peer::open(addr, V3).await;
        sub.connect("test_10a", false).await;
        sub.subscribe(
            1,
            &[("ten/+/x", QoS::AtLeastOnce), ("ten/#", QoS::AtLeastOnce)],
        )
        .await;
        drop(sub);
        // Killed right after the SUBACK: under strict durability the SUBACK went out only
        // once the subscription was on disk.
        broker.kill9();
        drop(broker);

        let _broker = start(dir.path(), port, "");
        let mut publisher = Peer::open(addr, V3).await;
        publisher.connect("publisher", true).await;
        let mut sub = Peer::open(addr, V3).await;
        assert!(sub.connect("test_10a", false).await.session_present);
        publisher
            .send(publish("ten/a/y", b"hi", QoS::AtLeastOnce, 1, false))
            .await;
        assert_eq!(publisher.recv().await, Some(Packet::PubAck(ack(1))));
        let p = sub.expect_publish().await;
        assert_eq!(p.payload.as_ref(), b"hi");
        sub.send(Packet::PubAck(ack(p.packet_id.unwrap().get())))
            .await;
        drop(sub);

        let mut clean = Peer::open(addr, V3).await;
        assert!(!clean.connect("test_10a", true).await.session_present);
        drop(clean);
        let mut sub = Peer::open(addr, V3).await;
        assert!(!sub.connect("test_10a", false).await.session_present);
        publisher
            .send(publish("ten/a/x", b"gone", QoS::AtLeastOnce, 2, false))
            .await;
        assert_eq!(publisher.recv().await, Some(Packet::PubAck(ack(2))));
        sub.quiet(300).await;
    })
    .await;
}

/// A server certificate for `names` signed by a fresh CA: (ca, cert, key) PEM.
fn certificates(names: &[&str]) -> (String, String, String) {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca_key = KeyPair::generate().unwrap();
    let ca = params.self_signed(&ca_key).unwrap().pem();
    let issuer = rcgen::Issuer::new(params, ca_key);
    let names = names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>();
    let params = CertificateParams::new(names).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &issuer).unwrap().pem();
    (ca, cert, key.serialize_pem())
}

// MyQttD test_12, test_13 (adapted: binary WebSocket frames)
/// A ws listener: the `Host` header names the domain (`one.test` / `two.test`), and no
/// message crosses between them; a wss listener: the TLS server name selects the domain.
#[tokio::test]
async fn websocket_host_and_wss_server_name_select_the_domain() {
    within(20, async {
        let dir = tempfile::tempdir().unwrap();
        let (ca, cert, key) = certificates(&["localhost", "one.test", "two.test"]);
        let p = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();
        std::fs::write(p("server.crt"), cert).unwrap();
        std::fs::write(p("server.key"), key).unwrap();
        let (ws_port, wss_port) = (free_port(), free_port());
        let broker = start(
            dir.path(),
            free_port(),
            &format!(
                r#"
                [[listeners]]
                port = 0
                [[listeners]]
                port = {ws_port}
                kind = "ws"
                [[listeners]]
                port = {wss_port}
                kind = "wss"
                certificate = {cert:?}
                key = {key:?}
                [[domains]]
                name = "one.test"
                [[domains]]
                name = "two.test"
                "#,
                cert = p("server.crt"),
                key = p("server.key"),
            ),
        );
        let ws: SocketAddr = ([127, 0, 0, 1], ws_port).into();
        let mut peers = Vec::new();
        for host in ["one.test", "two.test"] {
            let (mut peer, _) = Peer::open_ws(ws, &format!("{host}:{ws_port}"), V3).await;
            assert_eq!(
                peer.connect("same-id", true).await.reason_code,
                ReasonCode::Success
            );
            peer.subscribe(1, &[("#", QoS::AtMostOnce)]).await;
            peers.push(peer);
        }
        // Same client id in both: two domains, two sessions, no takeover.
        peers[0]
            .send(publish("hello", b"one", QoS::AtMostOnce, 0, false))
            .await;
        assert_eq!(peers[0].expect_publish().await.payload.as_ref(), b"one");
        peers[1].quiet(300).await;
        assert!(
            peers[0].frames.0 > 0 && peers[0].frames.1 == 0,
            "binary frames"
        );

        // wss: SNI "two.test" selects two.test.
        let tls = ClientTls::new().ca(PemSource::bytes(ca)).build().unwrap();
        let connector = WssConnector::new(&format!("wss://localhost:{wss_port}/mqtt"), tls)
            .unwrap()
            .server_name("two.test")
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(3);
        let client = loop {
            match Client::connect_with(connector.clone(), options("wss-client", V5)).await {
                Ok(c) => break c,
                Err(e) => assert!(Instant::now() < deadline, "{e}"),
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        client
            .publish("via/wss", &b"two"[..], QoS::AtLeastOnce, false)
            .await
            .unwrap();
        let p = peers[1].expect_publish().await;
        assert_eq!(p.payload.as_ref(), b"two");
        peers[0].quiet(200).await;
        drop(broker);
    })
    .await;
}

// MyQttD test_15
/// With `anonymous = false` and a password file that lists nobody (no user source to speak
/// of), every login fails: anonymous ones and any user name and password.
#[tokio::test]
async fn without_users_every_login_fails() {
    within(15, async {
        let dir = tempfile::tempdir().unwrap();
        let users = dir.path().join("passwd");
        std::fs::write(&users, "").unwrap();
        let broker = start(
            dir.path(),
            free_port(),
            &format!("anonymous = false\npassword_file = {users:?}\n"),
        );
        let addr = broker.addr();
        for version in [V3, V5] {
            for creds in [None, Some(("aspl", "test")), Some(("admin", ""))] {
                let mut o = options("nobody", version);
                if let Some((u, pw)) = creds {
                    o = o.credentials(u, pw.as_bytes().to_vec());
                }
                match connect(addr, o).await {
                    Err(ClientError::Refused(rc)) => assert!(
                        matches!(
                            rc,
                            ReasonCode::BadUserNameOrPassword | ReasonCode::NotAuthorized
                        ),
                        "{rc:?}"
                    ),
                    other => panic!("{creds:?}: {other:?}"),
                }
            }
        }
    })
    .await;
}

// MyQttD test_16 [MQTT-3.8.4-5] 5.0 §3.9.3 (0xA2 Wildcard Subscriptions not supported)
/// `wildcard_subscriptions = false` refuses `myqtt/#` and `myqtt/+` (3.1.1: 0x80, 5.0: 0xA2),
/// registers nothing for them, and still grants exact filters.
#[tokio::test]
async fn disabled_wildcards_refuse_wildcard_subscriptions() {
    within(15, async {
        let dir = tempfile::tempdir().unwrap();
        let broker = start(
            dir.path(),
            free_port(),
            "[limits]\nwildcard_subscriptions = false\n",
        );
        let addr = broker.addr();
        let mut v3 = Peer::open(addr, V3).await;
        v3.connect("v3", true).await;
        assert_eq!(
            v3.subscribe(
                1,
                &[("myqtt/#", QoS::AtMostOnce), ("myqtt/x", QoS::AtMostOnce)]
            )
            .await,
            [ReasonCode::UnspecifiedError, ReasonCode::Success]
        );
        let mut v5 = Peer::open(addr, V5).await;
        v5.connect("v5", true).await;
        assert_eq!(
            v5.subscribe(1, &[("myqtt/+", QoS::AtMostOnce)]).await,
            [ReasonCode::WildcardSubscriptionsNotSupported]
        );
        let client = connect(addr, options("pub", V3)).await.unwrap();
        client
            .publish("myqtt/y", &b"y"[..], QoS::AtMostOnce, false)
            .await
            .unwrap();
        client
            .publish("myqtt/x", &b"x"[..], QoS::AtMostOnce, false)
            .await
            .unwrap();
        assert_eq!(v3.expect_publish().await.payload.as_ref(), b"x");
        v3.quiet(200).await;
        v5.quiet(100).await;
    })
    .await;
}

// MyQttD test_20 (mod-auth-mysql mapped onto the password file, ACLs and domains)
/// The checks MyQttD ran against MySQL, with the password file and ACLs: ACL allow and deny
/// (SUBACK 0x80 / PUBACK 0x87), an unknown user and a wrong password refused, `user@domain`
/// and `id@domain` forms, an account disabled by deleting it (SIGHUP), and a domain disabled
/// by removing it from the config (SIGHUP).
#[tokio::test]
async fn password_file_acls_and_domains_replace_mod_auth_mysql() {
    within(25, async {
        let dir = tempfile::tempdir().unwrap();
        let p = |name: &str| dir.path().join(name);
        passwd(&p("passwd"), "alice", "alice-pw");
        passwd(&p("passwd"), "bob", "bob-pw");
        passwd(&p("example.passwd"), "carol", "carol-pw");
        let config = |with_domain: bool| {
            let mut text = format!(
                r#"
                anonymous = false
                password_file = {users:?}
                [acl]
                default = "deny"
                [[acl.rules]]
                action = "both"
                pattern = "home/%u/#"
                permission = "allow"
                [[acl.rules]]
                user = "alice"
                action = "publish"
                pattern = "news/#"
                permission = "allow"
                [[acl.rules]]
                action = "subscribe"
                pattern = "news/#"
                permission = "allow"
                "#,
                users = p("passwd"),
            );
            if with_domain {
                text.push_str(&format!(
                    "[[domains]]\nname = \"example.com\"\nanonymous = false\npassword_file = {:?}\n",
                    p("example.passwd")
                ));
            }
            text
        };
        let port = free_port();
        let broker = start(dir.path(), port, &config(true));
        let addr = broker.addr();
        let login = |id: &str, user: &str, pw: &str| {
            options(id, V5).credentials(user.to_owned(), pw.as_bytes().to_vec())
        };
        for (user, pw) in [("alice", "wrong"), ("mallory", "alice-pw"), ("carol", "wrong")] {
            assert!(
                matches!(
                    connect(addr, login("x", user, pw)).await,
                    Err(ClientError::Refused(ReasonCode::BadUserNameOrPassword))
                ),
                "{user}/{pw}"
            );
        }
        let alice = connect(addr, login("alice-1", "alice", "alice-pw")).await.unwrap();
        let bob = connect(addr, login("bob-1", "bob", "bob-pw")).await.unwrap();
        let mut bob_messages = bob.messages();
        bob.subscribe("news/#", QoS::AtLeastOnce).await.unwrap();
        assert!(matches!(
            bob.subscribe("home/alice/#", QoS::AtLeastOnce).await,
            Err(ClientError::SubscribeRefused(ReasonCode::NotAuthorized))
        ));
        assert!(
            matches!(
                bob.publish("news/today", &b"bob"[..], QoS::AtLeastOnce, false)
                    .await,
                Err(ClientError::PublishRefused(ReasonCode::NotAuthorized))
            ),
            "bob may not publish news"
        );
        let rc = alice
            .publish("news/today", &b"alice"[..], QoS::AtLeastOnce, false)
            .await
            .unwrap();
        assert!(!rc.is_error());
        assert_eq!(next(&mut bob_messages).await.payload.as_ref(), b"alice");
        none_within(&mut bob_messages, 100).await;

        // user@domain and id@domain reach example.com with its own users.
        let carol = connect(addr, login("carol-1", "carol@example.com", "carol-pw"))
            .await
            .unwrap();
        let mut carol_messages = carol.messages();
        carol.subscribe("#", QoS::AtMostOnce).await.unwrap();
        let carol2 = connect(addr, login("carol-2@example.com", "carol", "carol-pw"))
            .await
            .unwrap();
        carol2
            .publish("inside", &b"c"[..], QoS::AtLeastOnce, false)
            .await
            .unwrap();
        assert_eq!(next(&mut carol_messages).await.topic.as_str(), "inside");
        // Plain credentials are probed against the domains in order: carol lands in
        // example.com too.
        let carol3 = connect(addr, login("carol-3", "carol", "carol-pw"))
            .await
            .unwrap();
        carol3
            .publish("probed", &b"c"[..], QoS::AtLeastOnce, false)
            .await
            .unwrap();
        assert_eq!(next(&mut carol_messages).await.topic.as_str(), "probed");
        assert!(matches!(
            connect(addr, login("a@example.com", "alice", "alice-pw")).await,
            Err(ClientError::Refused(_))
        ));

        // Disable bob's account and the example.com domain, reload.
        passwd_delete(&p("passwd"), "bob");
        std::fs::write(p("myqttd.toml"), config(false)).unwrap();
        signal(broker.pid(), "HUP");
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let bob_again = connect(addr, login("bob-2", "bob", "bob-pw")).await;
            let carol_again = connect(addr, login("carol-3", "carol@example.com", "carol-pw")).await;
            if bob_again.is_err() && carol_again.is_err() {
                break;
            }
            assert!(Instant::now() < deadline, "reload did not take effect");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // Alice is untouched.
        alice.ping().await.unwrap();
    })
    .await;
}
