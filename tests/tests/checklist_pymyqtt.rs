//! PyMyQtt's regression items (`py-myqtt/test/myqtt-regression-client.py`, MYQTT.md §3.3):
//! the same client operations with our client (`myqtt_tokio::client`) against the library
//! server (`myqtt_tokio::server::Server`) over loopback. See `tests/CHECKLIST.md`.
#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use myqtt_proto::codec::{ProtocolVersion, QoS, ReasonCode};
use myqtt_tests::checklist::{connect, next, none_within, options, start, within};
use myqtt_tokio::client::{ClientError, Event, ReconnectPolicy};
use myqtt_tokio::server::{ConnectDecision, ConnectionHandle, Server};

const V3: ProtocolVersion = ProtocolVersion::V3_1_1;
const V5: ProtocolVersion = ProtocolVersion::V5;

// PyMyQtt test_01 / 02 / 03, test_04, test_05
// [MQTT-3.8.4-1] [MQTT-3.12.4-1] [MQTT-4.7.1-2]
/// Connect, subscribe at QoS 0 (granted QoS 0), publish, the message handler and the message
/// stream both see it; ping; close.
#[tokio::test]
async fn connection_subscription_on_message_and_ping() {
    within(10, async {
        let (server, addr) = start(Server::builder()).await;
        for version in [V3, V5] {
            let client = connect(addr, options("py-client", version)).await.unwrap();
            assert!(client.is_connected());
            assert_eq!(
                client.subscribe("myqtt/+", QoS::AtMostOnce).await.unwrap(),
                QoS::AtMostOnce
            );
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
            client.on_message(move |m| {
                let _ = tx.send((m.topic.as_str().to_owned(), m.payload.clone()));
            });
            let mut messages = client.messages();
            client
                .publish("myqtt/test", &b"This is a test"[..], QoS::AtMostOnce, false)
                .await
                .unwrap();
            let (topic, payload) = tokio::time::timeout(Duration::from_secs(3), rx.recv())
                .await
                .unwrap()
                .unwrap();
            assert_eq!(
                (topic.as_str(), payload.as_ref()),
                ("myqtt/test", &b"This is a test"[..])
            );
            assert_eq!(next(&mut messages).await.topic.as_str(), "myqtt/test");
            client.ping().await.unwrap();
            client.close().await.unwrap();
            assert!(!client.is_connected());
            assert!(matches!(client.ping().await, Err(ClientError::Closed)));
        }
        server.shutdown().await;
    })
    .await;
}

// PyMyQtt test_06 (adapted: a duplicate id takes over instead of being refused)
// [MQTT-3.1.4-2] [MQTT-3.1.3-6]
/// The server sees the client id the client sent; a second client with the same id takes the
/// session over and the first one is disconnected; an empty id gets an automatic one.
#[tokio::test]
async fn client_id_echo_takeover_and_automatic_id() {
    within(10, async {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = seen.clone();
        let (server, addr) = start(Server::builder().on_connect(move |info| {
            record.lock().unwrap().push(info.client_id.clone());
            async { ConnectDecision::Accept }
        }))
        .await;
        let first = connect(addr, options("test_06", V5)).await.unwrap();
        let mut first_events = first.events();
        assert_eq!(seen.lock().unwrap().as_slice(), ["test_06"]);
        let second = connect(addr, options("test_06", V5)).await.unwrap();
        let lost = tokio::time::timeout(Duration::from_secs(3), async {
            loop {
                if let Some(Event::Disconnected { reason }) = first_events.recv().await {
                    return reason;
                }
            }
        })
        .await
        .unwrap();
        assert!(format!("{lost:?}").contains("0x8E"), "{lost:?}");
        assert!(!first.is_connected());
        second.ping().await.unwrap();

        let automatic = connect(addr, options("", V5)).await.unwrap();
        automatic.ping().await.unwrap();
        let assigned = seen.lock().unwrap().last().unwrap().clone();
        assert!(!assigned.is_empty() && assigned != "test_06");
        server.shutdown().await;
    })
    .await;
}

// PyMyQtt test_07 (3.1.1 §3.2.2.3 return code 4, 5.0 §3.2.2.2 reason code 0x86)
/// CONNECT with credentials: the wrong ones are refused with "bad user name or password",
/// `aspl`/`test` is accepted and the server sees the user.
#[tokio::test]
async fn credentials_are_checked_by_on_connect() {
    within(10, async {
        let users = Arc::new(Mutex::new(Vec::new()));
        let record = users.clone();
        let (server, addr) = start(Server::builder().on_connect(move |info| {
            let ok = info.username.as_deref() == Some("aspl")
                && info.password.as_deref() == Some(&b"test"[..]);
            if ok {
                record.lock().unwrap().push(info.username.clone().unwrap());
            }
            async move {
                if ok {
                    ConnectDecision::Accept
                } else {
                    ConnectDecision::Reject(ReasonCode::BadUserNameOrPassword)
                }
            }
        }))
        .await;
        for version in [V3, V5] {
            for (user, pw) in [("aspl", "wrong"), ("other", "test")] {
                match connect(
                    addr,
                    options("auth", version).credentials(user, pw.as_bytes().to_vec()),
                )
                .await
                {
                    Err(ClientError::Refused(rc)) => {
                        assert_eq!(rc, ReasonCode::BadUserNameOrPassword);
                    }
                    other => panic!("{user}/{pw}: {other:?}"),
                }
            }
            let ok = connect(
                addr,
                options("auth", version).credentials("aspl", &b"test"[..]),
            )
            .await
            .unwrap();
            ok.close().await.unwrap();
        }
        assert_eq!(users.lock().unwrap().as_slice(), ["aspl", "aspl"]);
        server.shutdown().await;
    })
    .await;
}

// PyMyQtt test_08, test_09 [MQTT-3.1.2-8] [MQTT-3.1.2-10]
/// The will is published when the client is shut down without DISCONNECT, and not after a
/// clean close.
#[tokio::test]
async fn will_after_shutdown_not_after_close() {
    within(10, async {
        let (server, addr) = start(Server::builder()).await;
        let watcher = connect(addr, options("watcher", V3)).await.unwrap();
        let mut messages = watcher.messages();
        watcher.subscribe("will/#", QoS::AtLeastOnce).await.unwrap();
        for version in [V3, V5] {
            let closing = connect(
                addr,
                options("closing", version).will(
                    "will/closing",
                    &b"bye"[..],
                    QoS::AtLeastOnce,
                    false,
                ),
            )
            .await
            .unwrap();
            closing.close().await.unwrap();
            none_within(&mut messages, 300).await;

            let dying = connect(
                addr,
                options("dying", version).will("will/dying", &b"dead"[..], QoS::AtLeastOnce, false),
            )
            .await
            .unwrap();
            dying.shutdown();
            let m = next(&mut messages).await;
            assert_eq!(
                (m.topic.as_str(), m.payload.as_ref()),
                ("will/dying", &b"dead"[..])
            );
        }
        server.shutdown().await;
    })
    .await;
}

// PyMyQtt test_22 [MQTT-3.1.2-4] [MQTT-4.4.0-1]
/// The server drops the connection twice; the client reconnects by itself, reports
/// `Reconnected` (MyQtt's on_reconnect) and data flows again, its subscription resumed.
#[tokio::test]
async fn transparent_reconnect_reports_the_event_and_data_flows_again() {
    within(15, async {
        let handles: Arc<Mutex<Vec<(String, ConnectionHandle)>>> = Arc::default();
        let record = handles.clone();
        let (server, addr) = start(Server::builder().on_connect(move |info| {
            if let Some(h) = info.handle.clone() {
                record.lock().unwrap().push((info.client_id.clone(), h));
            }
            async { ConnectDecision::Accept }
        }))
        .await;
        let client = connect(
            addr,
            options("reconnecting", V3)
                .clean_start(false)
                .reconnect(ReconnectPolicy::backoff(
                    Duration::from_millis(20),
                    Duration::from_millis(200),
                )),
        )
        .await
        .unwrap();
        let mut events = client.events();
        let mut messages = client.messages();
        client.subscribe("again/#", QoS::AtLeastOnce).await.unwrap();
        let publisher = connect(addr, options("publisher", V5)).await.unwrap();
        for round in 0..2u8 {
            let handle = handles
                .lock()
                .unwrap()
                .iter()
                .rev()
                .find(|(id, _)| id == "reconnecting")
                .unwrap()
                .1
                .clone();
            handle.shutdown().await;
            let present = tokio::time::timeout(Duration::from_secs(5), async {
                loop {
                    if let Some(Event::Reconnected { session_present }) = events.recv().await {
                        return session_present;
                    }
                }
            })
            .await
            .expect("reconnected");
            assert!(present, "round {round}: session resumed");
            publisher
                .publish("again/x", vec![round], QoS::AtLeastOnce, false)
                .await
                .unwrap();
            // At least once: a message whose PUBACK the drop cut off comes again, with DUP.
            loop {
                let m = next(&mut messages).await;
                if m.payload.as_ref() == [round] {
                    break;
                }
                assert!(m.dup && m.payload[0] < round, "{m:?}");
            }
        }
        client
            .publish(
                "again/y",
                Bytes::from_static(b"out"),
                QoS::ExactlyOnce,
                false,
            )
            .await
            .unwrap();
        assert_eq!(next(&mut messages).await.payload.as_ref(), b"out");
        server.shutdown().await;
    })
    .await;
}
