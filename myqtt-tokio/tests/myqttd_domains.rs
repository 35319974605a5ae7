//! `myqttd` domains and SIGHUP reload, end to end with the binary (MyQttD test_01, test_03,
//! test_04, test_05, test_21): per-domain users, ACLs and storage, selection by `user@domain`
//! and by credentials, no traffic across domains; a reload adds a domain and a user, removes a
//! domain and keeps every other established connection.
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use myqtt_proto::codec::{ProtocolVersion, QoS, ReasonCode};
use myqtt_tokio::client::{
    Client, ClientError, ConnectOptions, Messages, ReconnectPolicy, TcpConnector,
};

mod myqttd_common;
use myqttd_common::{Broker, MYQTTD, connect_when_up, free_port, passwd};

fn options(id: &str, user: &str, password: &str) -> ConnectOptions {
    ConnectOptions::new(id)
        .version(ProtocolVersion::V5)
        .credentials(user, password.as_bytes().to_vec())
        .reconnect(ReconnectPolicy::disabled())
}

/// Connects, retrying while the broker is still starting (or reloading, for `until`).
async fn connect_until(
    addr: SocketAddr,
    options: ConnectOptions,
    until: Duration,
) -> Result<Client, ClientError> {
    let deadline = Instant::now() + until;
    loop {
        match Client::connect(addr, options.clone()).await {
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            other => return other,
        }
    }
}

async fn connect(addr: SocketAddr, options: ConnectOptions) -> Result<Client, ClientError> {
    connect_when_up(TcpConnector::new(addr), options, Duration::from_secs(2)).await
}

async fn quiet(messages: &mut Messages, ms: u64) {
    let got = tokio::time::timeout(Duration::from_millis(ms), messages.recv()).await;
    assert!(got.is_err(), "unexpected message: {got:?}");
}

fn config(dir: &Path, port: u16, with_three: bool, with_two: bool) -> String {
    let p = |name: &str| dir.join(name);
    let mut text = format!(
        r#"
        anonymous = false
        password_file = {root:?}
        data_dir = {data:?}
        [[listeners]]
        port = {port}

        [[domains]]
        name = "one.test"
        anonymous = false
        password_file = {one:?}
        [domains.acl]
        default = "deny"
        [[domains.acl.rules]]
        action = "both"
        pattern = "shared/#"
        permission = "allow"
        "#,
        root = p("root.passwd"),
        data = p("data"),
        one = p("one.passwd"),
    );
    if with_two {
        text += &format!(
            r#"
            [[domains]]
            name = "two.test"
            anonymous = false
            password_file = {two:?}
            "#,
            two = p("two.passwd"),
        );
    }
    if with_three {
        text += &format!(
            r#"
            [[domains]]
            name = "three.test"
            anonymous = false
            password_file = {three:?}
            "#,
            three = p("three.passwd"),
        );
    }
    text
}

#[tokio::test]
async fn domains_isolate_and_sighup_reloads_them() {
    tokio::time::timeout(Duration::from_secs(30), async {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        passwd(&d.join("root.passwd"), "root", "root-pw");
        passwd(&d.join("one.passwd"), "alice", "alice-pw");
        passwd(&d.join("two.passwd"), "bob", "bob-pw");
        passwd(&d.join("three.passwd"), "carol", "carol-pw");
        let port = free_port();
        let file = d.join("myqttd.toml");
        std::fs::write(&file, config(d, port, false, true)).unwrap();
        let broker = Broker(
            Command::new(MYQTTD)
                .arg("-c")
                .arg(&file)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();

        // user@domain, and credentials alone (probing: one.test knows alice).
        let alice = connect(addr, options("a1", "alice@one.test", "alice-pw"))
            .await
            .unwrap();
        let alice2 = connect(addr, options("a2", "alice", "alice-pw"))
            .await
            .unwrap();
        let bob = connect(addr, options("b1", "bob@two.test", "bob-pw"))
            .await
            .unwrap();
        // A wrong password in an explicit domain is final.
        let wrong = connect(addr, options("b2", "bob@two.test", "alice-pw")).await;
        assert!(
            matches!(
                wrong,
                Err(ClientError::Refused(ReasonCode::BadUserNameOrPassword))
            ),
            "{wrong:?}"
        );
        // alice's domain's ACL applies to her, not bob's.
        let mut alice_messages = alice.messages();
        assert_eq!(
            alice.subscribe("shared/#", QoS::AtLeastOnce).await.unwrap(),
            QoS::AtLeastOnce
        );
        let mut bob_messages = bob.messages();
        bob.subscribe("shared/#", QoS::AtLeastOnce).await.unwrap();
        let refused = alice.subscribe("private/#", QoS::AtLeastOnce).await;
        assert!(refused.is_err(), "{refused:?}");
        // No traffic crosses domains.
        alice2
            .publish("shared/x", &b"one"[..], QoS::AtLeastOnce, false)
            .await
            .unwrap();
        let got = tokio::time::timeout(Duration::from_secs(2), alice_messages.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&got.payload[..], b"one");
        quiet(&mut bob_messages, 200).await;
        // one.test keeps its state in its own directory under data_dir.
        assert!(d.join("data").join("domains").join("one.test").is_dir());

        // Reload: three.test appears, two.test goes, dave joins one.test.
        passwd(&d.join("one.passwd"), "dave", "dave-pw");
        let carol = options("c1", "carol@three.test", "carol-pw");
        assert!(connect(addr, carol.clone()).await.is_err());
        std::fs::write(&file, config(d, port, true, false)).unwrap();
        let status = Command::new("kill")
            .arg("-HUP")
            .arg(broker.0.id().to_string())
            .status()
            .unwrap();
        assert!(status.success());
        let carol = connect_until(addr, carol, Duration::from_secs(5))
            .await
            .unwrap();
        let dave = connect_until(
            addr,
            options("d1", "dave@one.test", "dave-pw"),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
        // bob's domain is gone: he was disconnected; alice's connections were not touched.
        let deadline = Instant::now() + Duration::from_secs(3);
        while bob.is_connected() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(!bob.is_connected());
        assert!(alice.is_connected() && alice2.is_connected());
        dave.publish("shared/y", &b"after reload"[..], QoS::AtLeastOnce, false)
            .await
            .unwrap();
        let got = tokio::time::timeout(Duration::from_secs(2), alice_messages.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&got.payload[..], b"after reload");
        let mut carol_messages = carol.messages();
        carol.subscribe("#", QoS::AtLeastOnce).await.unwrap();
        quiet(&mut carol_messages, 200).await;

        // A broken reload (unparsable file) keeps everything running.
        std::fs::write(&file, "this is not = = toml").unwrap();
        Command::new("kill")
            .arg("-HUP")
            .arg(broker.0.id().to_string())
            .status()
            .unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(alice.is_connected() && carol.is_connected());
        let again = connect(addr, options("d2", "dave@one.test", "dave-pw")).await;
        assert!(again.is_ok(), "{again:?}");
    })
    .await
    .unwrap();
}
