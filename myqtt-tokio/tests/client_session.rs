//! The tokio client across connection losses: wills on shutdown vs close, reconnection with
//! backoff and the Reconnected event, publishes made while disconnected, resubscription.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::{TestBroker, next, none_within, within};
use myqtt_proto::client::CloseReason;
use myqtt_proto::codec::{ProtocolVersion, QoS};
use myqtt_tokio::client::{Client, ClientError, ConnectOptions, Event, Events, ReconnectPolicy};

fn fast_reconnect() -> ReconnectPolicy {
    ReconnectPolicy::backoff(Duration::from_millis(20), Duration::from_millis(100))
}

/// Options for a client whose session survives its connections.
fn persistent(id: &str) -> ConnectOptions {
    ConnectOptions::new(id)
        .clean_start(false)
        .session_expiry_interval(300)
        .reconnect(fast_reconnect())
}

async fn wait_for(events: &mut Events, want: impl Fn(&Event) -> bool) -> Event {
    loop {
        let e = tokio::time::timeout(Duration::from_secs(3), events.recv())
            .await
            .expect("no event within 3 s")
            .expect("events ended");
        if want(&e) {
            return e;
        }
    }
}

#[tokio::test]
async fn will_is_published_after_shutdown_but_not_after_close() {
    within(5, async {
        let broker = TestBroker::start().await;
        let watcher = Client::connect(broker.addr, ConnectOptions::new("watcher"))
            .await
            .unwrap();
        watcher
            .subscribe("wills/#", QoS::AtLeastOnce)
            .await
            .unwrap();
        let mut messages = watcher.messages();
        for version in [ProtocolVersion::V3_1_1, ProtocolVersion::V5] {
            let options = |id: &str| {
                ConnectOptions::new(id).version(version).will(
                    format!("wills/{id}"),
                    &b"gone"[..],
                    QoS::AtLeastOnce,
                    false,
                )
            };
            let polite = Client::connect(broker.addr, options("polite"))
                .await
                .unwrap();
            let mut events = polite.events();
            polite.close().await.unwrap();
            let e = wait_for(&mut events, |e| matches!(e, Event::Disconnected { .. })).await;
            assert!(matches!(
                e,
                Event::Disconnected {
                    reason: CloseReason::Local(_)
                }
            ));
            assert_eq!(events.recv().await, Some(Event::Stopped));
            assert_eq!(events.recv().await, None);
            none_within(&mut messages, 200).await;

            let abrupt = Client::connect(broker.addr, options("abrupt"))
                .await
                .unwrap();
            abrupt.shutdown();
            let will = next(&mut messages).await;
            assert_eq!(will.topic.as_str(), "wills/abrupt");
            assert_eq!(will.payload, Bytes::from_static(b"gone"));
            // No reconnection after shutdown.
            assert!(matches!(abrupt.ping().await, Err(ClientError::Closed)));
        }
        watcher.close().await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn reconnects_after_the_server_drops_the_connection() {
    within(5, async {
        let broker = TestBroker::start().await;
        let client = Client::connect(broker.addr, persistent("r")).await.unwrap();
        client.subscribe("r/t", QoS::AtLeastOnce).await.unwrap();
        let mut messages = client.messages();
        let mut events = client.events();
        let other = Client::connect(broker.addr, ConnectOptions::new("other"))
            .await
            .unwrap();

        assert_eq!(broker.kill("r").await, 1);
        let e = wait_for(&mut events, |e| matches!(e, Event::Disconnected { .. })).await;
        assert_eq!(
            e,
            Event::Disconnected {
                reason: CloseReason::TransportClosed
            }
        );
        let e = wait_for(&mut events, |e| matches!(e, Event::Reconnected { .. })).await;
        assert_eq!(
            e,
            Event::Reconnected {
                session_present: true
            }
        );
        assert!(client.is_connected());

        // The session kept the subscription: messages flow again, both ways.
        other
            .publish("r/t", &b"again"[..], QoS::AtLeastOnce, false)
            .await
            .unwrap();
        assert_eq!(
            next(&mut messages).await.payload,
            Bytes::from_static(b"again")
        );
        client
            .publish("r/t", &b"mine"[..], QoS::ExactlyOnce, false)
            .await
            .unwrap();
        assert_eq!(
            next(&mut messages).await.payload,
            Bytes::from_static(b"mine")
        );
        client.ping().await.unwrap();
        client.close().await.unwrap();
        other.close().await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn publishes_made_while_disconnected_are_sent_after_reconnecting() {
    within(5, async {
        let broker = TestBroker::start().await;
        let sub = Client::connect(broker.addr, ConnectOptions::new("sub"))
            .await
            .unwrap();
        sub.subscribe("o/#", QoS::ExactlyOnce).await.unwrap();
        let mut messages = sub.messages();

        let client = Client::connect(broker.addr, persistent("offline"))
            .await
            .unwrap();
        let mut events = client.events();
        // Refuse the reconnections until the publishes are queued.
        broker
            .policy
            .lock()
            .unwrap()
            .blocked
            .insert("offline".into());
        broker.kill("offline").await;
        wait_for(&mut events, |e| matches!(e, Event::Disconnected { .. })).await;
        assert!(!client.is_connected());
        // Subscribing needs a connection; publishing queues.
        assert!(matches!(
            client.subscribe("x", QoS::AtMostOnce).await,
            Err(ClientError::NotConnected)
        ));
        let publishes = tokio::spawn({
            let client = client.clone();
            async move {
                let mut results = Vec::new();
                for (i, qos) in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce]
                    .into_iter()
                    .enumerate()
                {
                    let c = client.clone();
                    results.push(tokio::spawn(async move {
                        c.publish(format!("o/{i}").as_str(), &b"queued"[..], qos, false)
                            .await
                    }));
                    // Keep the order deterministic.
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                let mut out = Vec::new();
                for r in results {
                    out.push(r.await.unwrap());
                }
                out
            }
        });
        // A refused reconnection is reported, then retried.
        let e = wait_for(&mut events, |e| matches!(e, Event::Disconnected { .. })).await;
        assert!(matches!(
            e,
            Event::Disconnected {
                reason: CloseReason::Refused(_)
            }
        ));
        none_within(&mut messages, 100).await;

        broker.policy.lock().unwrap().blocked.clear();
        wait_for(&mut events, |e| matches!(e, Event::Reconnected { .. })).await;
        for r in publishes.await.unwrap() {
            assert!(!r.unwrap().is_error());
        }
        let mut topics = Vec::new();
        for _ in 0..3 {
            topics.push(next(&mut messages).await.topic.as_str().to_owned());
        }
        assert_eq!(topics, ["o/0", "o/1", "o/2"]);
        client.close().await.unwrap();
        sub.close().await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn resubscribes_when_the_server_kept_no_session() {
    within(5, async {
        let broker = TestBroker::start().await;
        let client = Client::connect(
            broker.addr,
            ConnectOptions::new("fresh")
                .reconnect(fast_reconnect())
                .resubscribe(true),
        )
        .await
        .unwrap();
        client.subscribe("s/1", QoS::AtLeastOnce).await.unwrap();
        client.subscribe("s/2", QoS::AtMostOnce).await.unwrap();
        client.unsubscribe("s/2").await.unwrap();
        let mut messages = client.messages();
        let mut events = client.events();
        broker.kill("fresh").await;
        let e = wait_for(&mut events, |e| matches!(e, Event::Reconnected { .. })).await;
        assert_eq!(
            e,
            Event::Reconnected {
                session_present: false
            }
        );
        // The resubscription is in flight right after CONNACK; a ping orders after it.
        client.ping().await.unwrap();
        client
            .publish("s/2", &b"no"[..], QoS::AtLeastOnce, false)
            .await
            .unwrap();
        client
            .publish("s/1", &b"yes"[..], QoS::AtLeastOnce, false)
            .await
            .unwrap();
        let m = next(&mut messages).await;
        assert_eq!(m.topic.as_str(), "s/1");
        client.close().await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn without_reconnection_a_lost_connection_stops_the_client() {
    within(5, async {
        let broker = TestBroker::start().await;
        let client = Client::connect(
            broker.addr,
            ConnectOptions::new("once").reconnect(ReconnectPolicy::disabled()),
        )
        .await
        .unwrap();
        let mut events = client.events();
        broker.kill("once").await;
        wait_for(&mut events, |e| matches!(e, Event::Stopped)).await;
        assert!(matches!(
            client
                .publish("t", Bytes::new(), QoS::AtMostOnce, false)
                .await,
            Err(ClientError::Closed)
        ));
    })
    .await;
}

/// A scripted server: the first connection swallows a QoS 1 PUBLISH and drops the socket;
/// the second answers CONNACK with Session Present, expects the PUBLISH again with DUP and the
/// same packet id, and acknowledges it.
#[tokio::test]
async fn in_flight_messages_are_resent_with_dup_when_the_session_resumes() {
    use bytes::BytesMut;
    use myqtt_proto::codec::{Packet, PublishAck};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    async fn read_packet(stream: &mut TcpStream, rx: &mut BytesMut) -> Packet {
        loop {
            if let Ok(p) = Packet::decode(rx, ProtocolVersion::V5, 1 << 20) {
                return p;
            }
            assert!(stream.read_buf(rx).await.unwrap() > 0, "client closed");
        }
    }

    within(5, async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut rx = BytesMut::new();
            assert!(matches!(
                read_packet(&mut s, &mut rx).await,
                Packet::Connect(_)
            ));
            s.write_all(&[0x20, 0x03, 0x00, 0x00, 0x00]).await.unwrap();
            let Packet::Publish(first) = read_packet(&mut s, &mut rx).await else {
                panic!("expected PUBLISH");
            };
            assert!(!first.dup);
            drop(s);

            let (mut s, _) = listener.accept().await.unwrap();
            let mut rx = BytesMut::new();
            assert!(matches!(
                read_packet(&mut s, &mut rx).await,
                Packet::Connect(_)
            ));
            s.write_all(&[0x20, 0x03, 0x01, 0x00, 0x00]).await.unwrap();
            let Packet::Publish(again) = read_packet(&mut s, &mut rx).await else {
                panic!("expected PUBLISH");
            };
            assert!(again.dup);
            assert_eq!(again.packet_id, first.packet_id);
            assert_eq!(again.payload, first.payload);
            let mut out = Vec::new();
            Packet::PubAck(PublishAck::new(again.packet_id.unwrap()))
                .encode_to(ProtocolVersion::V5, &mut out)
                .unwrap();
            s.write_all(&out).await.unwrap();
            // Hold the connection until the client closes it.
            while s.read_buf(&mut rx).await.unwrap_or(0) > 0 {}
        });

        let client = Client::connect(addr, persistent("dup")).await.unwrap();
        let mut events = client.events();
        let rc = client
            .publish("d", &b"once"[..], QoS::AtLeastOnce, false)
            .await
            .unwrap();
        assert!(!rc.is_error());
        let e = wait_for(&mut events, |e| matches!(e, Event::Reconnected { .. })).await;
        assert_eq!(
            e,
            Event::Reconnected {
                session_present: true
            }
        );
        client.close().await.unwrap();
        server.await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn a_slow_reader_gets_every_message_in_order() {
    within(5, async {
        let broker = TestBroker::start().await;
        let slow = Client::connect(broker.addr, ConnectOptions::new("slow").message_capacity(2))
            .await
            .unwrap();
        slow.subscribe("f", QoS::AtLeastOnce).await.unwrap();
        let mut messages = slow.messages();
        let fast = Client::connect(broker.addr, ConnectOptions::new("fast"))
            .await
            .unwrap();
        for i in 0..200u32 {
            fast.publish("f", i.to_be_bytes().to_vec(), QoS::AtLeastOnce, false)
                .await
                .unwrap();
        }
        // The reader was idle: the client held at most its queue plus one read's backlog.
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(slow.is_connected());
        for i in 0..200u32 {
            let m = next(&mut messages).await;
            assert_eq!(m.payload.as_ref(), i.to_be_bytes());
        }
        slow.ping().await.unwrap();
        slow.close().await.unwrap();
        fast.close().await.unwrap();
    })
    .await;
}
