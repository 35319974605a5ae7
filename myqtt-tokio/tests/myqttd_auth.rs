//! The `myqttd` binary end to end on loopback: `myqttd passwd`, then a broker started from a
//! TOML config with users and ACLs; CONNACK, PUBACK and SUBACK codes seen by real clients.
#![allow(clippy::unwrap_used)]

use std::net::{SocketAddr, TcpListener};
use std::process::{Command, Stdio};
use std::time::Duration;

use myqtt_proto::codec::{ProtocolVersion, QoS, ReasonCode};
use myqtt_tokio::client::{Client, ClientError, ConnectOptions, ReconnectPolicy, TcpConnector};

mod myqttd_common;
use myqttd_common::{Broker, MYQTTD, connect_when_up, free_port, passwd};

fn options(id: &str, version: ProtocolVersion) -> ConnectOptions {
    ConnectOptions::new(id)
        .version(version)
        .reconnect(ReconnectPolicy::disabled())
}

/// Connects, retrying while the broker is still starting.
async fn connect(addr: SocketAddr, options: ConnectOptions) -> Result<Client, ClientError> {
    connect_when_up(TcpConnector::new(addr), options, Duration::from_secs(2)).await
}

#[tokio::test]
async fn users_and_acls() {
    tokio::time::timeout(Duration::from_secs(10), async {
        let dir = tempfile::tempdir().unwrap();
        let users = dir.path().join("passwd");
        passwd(&users, "alice", "alice-pw");
        passwd(&users, "bob", "bob-pw");
        let text = std::fs::read_to_string(&users).unwrap();
        assert!(!text.contains("alice-pw") && text.contains("alice:$argon2id$"));

        let port = free_port();
        let config = dir.path().join("myqttd.toml");
        std::fs::write(
            &config,
            format!(
                r#"
                anonymous = false
                password_file = {users:?}
                persistence = false
                [[listeners]]
                port = {port}
                [acl]
                default = "deny"
                [[acl.rules]]
                action = "both"
                pattern = "home/%u/#"
                permission = "allow"
                [[acl.rules]]
                user = "alice"
                action = "subscribe"
                pattern = "home/+/status"
                permission = "allow"
                "#
            ),
        )
        .unwrap();
        let _broker = Broker(
            Command::new(MYQTTD)
                .arg("-c")
                .arg(&config)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();

        for version in [ProtocolVersion::V3_1_1, ProtocolVersion::V5] {
            // Wrong password, unknown user, no user: refused.
            for opts in [
                options("c1", version).credentials("alice", &b"wrong"[..]),
                options("c2", version).credentials("eve", &b"alice-pw"[..]),
                options("c3", version),
            ] {
                match connect(addr, opts).await {
                    Err(ClientError::Refused(code)) => {
                        assert_eq!(code, ReasonCode::BadUserNameOrPassword, "{version:?}")
                    }
                    Err(e) => panic!("{version:?}: {e}"),
                    Ok(_) => panic!("{version:?}: accepted"),
                }
            }

            // A will on a topic the user may not publish to would bypass the ACL: refused.
            let sneaky = options("alice-will", version)
                .credentials("alice", &b"alice-pw"[..])
                .will("home/bob/x", &b"gotcha"[..], QoS::AtMostOnce, false);
            match connect(addr, sneaky).await {
                Err(ClientError::Refused(code)) => {
                    assert_eq!(code, ReasonCode::NotAuthorized, "{version:?}")
                }
                other => panic!("{version:?}: {:?}", other.map(|_| ())),
            }

            let alice = connect(
                addr,
                options("alice-1", version).credentials("alice", &b"alice-pw"[..]),
            )
            .await
            .unwrap();
            // Own tree: allowed; bob's: refused (5.0 PUBACK Not authorized; 3.x plain PUBACK).
            alice
                .publish("home/alice/x", &b"1"[..], QoS::AtLeastOnce, false)
                .await
                .unwrap();
            let refused = alice
                .publish("home/bob/x", &b"1"[..], QoS::AtLeastOnce, false)
                .await;
            if version == ProtocolVersion::V5 {
                assert!(
                    matches!(
                        refused,
                        Err(ClientError::PublishRefused(ReasonCode::NotAuthorized))
                    ),
                    "{refused:?}"
                );
            } else {
                assert!(refused.is_ok(), "{refused:?}");
            }
            assert_eq!(
                alice
                    .subscribe("home/alice/#", QoS::AtLeastOnce)
                    .await
                    .unwrap(),
                QoS::AtLeastOnce
            );
            // A user rule, then a default rule that does not cover `home/#`.
            assert_eq!(
                alice
                    .subscribe("home/+/status", QoS::AtMostOnce)
                    .await
                    .unwrap(),
                QoS::AtMostOnce
            );
            let denied = alice.subscribe("home/#", QoS::AtMostOnce).await;
            let expected = if version == ProtocolVersion::V5 {
                ReasonCode::NotAuthorized
            } else {
                ReasonCode::UnspecifiedError
            };
            assert!(
                matches!(denied, Err(ClientError::SubscribeRefused(code)) if code == expected),
                "{version:?}: {denied:?}"
            );
            alice.close().await.unwrap();
        }
    })
    .await
    .unwrap();
}

#[test]
fn bad_config_and_busy_port_fail_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bad.toml");
    std::fs::write(
        &config,
        "persistence = false\n\n[limits]\nmax_conections = 3\n",
    )
    .unwrap();
    let out = Command::new(MYQTTD)
        .arg("-c")
        .arg(&config)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("max_conections") && stderr.contains("line 4"),
        "{stderr}"
    );

    let busy = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port().to_string();
    let out = Command::new(MYQTTD)
        .args(["--no-persistence", "--port", &port])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("myqttd: cannot listen on 127.0.0.1:{port}")),
        "{stderr}"
    );
}
