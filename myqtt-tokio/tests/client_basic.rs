//! The tokio client against an in-test broker on loopback: subscribe, publish at every QoS,
//! unsubscribe, ping, refused connections, timeouts and cancel safety.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::{TestBroker, next, none_within, silent_server, within};
use myqtt_proto::codec::{ProtocolVersion, QoS, ReasonCode, Subscription};
use myqtt_proto::topic::TopicFilter;
use myqtt_tokio::client::{Client, ClientError, ConnectOptions, ReconnectPolicy};

fn options(id: &str) -> ConnectOptions {
    ConnectOptions::new(id).reconnect(ReconnectPolicy::disabled())
}

#[tokio::test]
async fn publish_and_receive_at_every_qos() {
    within(5, async {
        let broker = TestBroker::start().await;
        for version in [ProtocolVersion::V3_1_1, ProtocolVersion::V5] {
            let sub = Client::connect(broker.addr, options("sub").version(version))
                .await
                .unwrap();
            let publisher = Client::connect(broker.addr, options("pub").version(version))
                .await
                .unwrap();
            assert!(sub.is_connected());
            let mut messages = sub.messages();
            for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
                let filter = format!("t/{}/+", qos.as_u8());
                assert_eq!(sub.subscribe(filter.as_str(), qos).await.unwrap(), qos);
                let topic = format!("t/{}/x", qos.as_u8());
                let rc = publisher
                    .publish(topic.as_str(), &b"hello"[..], qos, false)
                    .await
                    .unwrap();
                assert!(!rc.is_error());
                let m = next(&mut messages).await;
                assert_eq!(m.topic.as_str(), topic);
                assert_eq!(m.qos, qos);
                assert_eq!(m.payload, Bytes::from_static(b"hello"));
            }
            // A message published at QoS 2 to a QoS 1 subscription arrives at QoS 1.
            assert_eq!(
                sub.subscribe("down", QoS::AtLeastOnce).await.unwrap(),
                QoS::AtLeastOnce
            );
            publisher
                .publish("down", Bytes::new(), QoS::ExactlyOnce, false)
                .await
                .unwrap();
            assert_eq!(next(&mut messages).await.qos, QoS::AtLeastOnce);
            sub.close().await.unwrap();
            publisher.close().await.unwrap();
        }
    })
    .await;
}

#[tokio::test]
async fn subscribe_many_handler_unsubscribe_and_ping() {
    within(5, async {
        let broker = TestBroker::start().await;
        let client = Client::connect(broker.addr, options("c")).await.unwrap();
        let results = client
            .subscribe_many(vec![
                Subscription::new(TopicFilter::try_from("a/#").unwrap(), QoS::AtLeastOnce),
                Subscription::new(TopicFilter::try_from("b").unwrap(), QoS::ExactlyOnce),
            ])
            .await
            .unwrap();
        assert_eq!(results, vec![Ok(QoS::AtLeastOnce), Ok(QoS::ExactlyOnce)]);

        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        client.on_message(move |m| {
            let _ = tx.send(m.topic.as_str().to_owned());
        });
        let mut messages = client.messages();
        client
            .publish("a/1", &b"x"[..], QoS::AtLeastOnce, false)
            .await
            .unwrap();
        assert_eq!(rx.recv().await.unwrap(), "a/1");
        assert_eq!(next(&mut messages).await.topic.as_str(), "a/1");

        client.unsubscribe("a/#").await.unwrap();
        client
            .publish("a/2", &b"x"[..], QoS::AtLeastOnce, false)
            .await
            .unwrap();
        client
            .publish("b", &b"y"[..], QoS::AtLeastOnce, false)
            .await
            .unwrap();
        // Only "b" arrives: the unsubscribed message would have come first.
        assert_eq!(next(&mut messages).await.topic.as_str(), "b");

        client.ping().await.unwrap();
        let (a, b) = tokio::join!(client.ping(), client.ping());
        a.unwrap();
        b.unwrap();

        // Invalid topics are refused before anything is sent.
        assert!(matches!(
            client
                .publish("a/+", Bytes::new(), QoS::AtMostOnce, false)
                .await,
            Err(ClientError::InvalidTopic(_))
        ));
        assert!(matches!(
            client.subscribe("a/#/b", QoS::AtMostOnce).await,
            Err(ClientError::InvalidTopic(_))
        ));

        client.close().await.unwrap();
        assert!(!client.is_connected());
        assert!(matches!(client.ping().await, Err(ClientError::Closed)));
        assert!(matches!(
            client
                .publish("b", Bytes::new(), QoS::AtMostOnce, false)
                .await,
            Err(ClientError::Closed)
        ));
        client.close().await.unwrap();
        none_within(&mut messages, 10).await;
    })
    .await;
}

#[tokio::test]
async fn refused_connack_is_an_error_with_the_reason() {
    within(5, async {
        let broker = TestBroker::start().await;
        broker.policy.lock().unwrap().password = Some(Bytes::from_static(b"secret"));
        for version in [ProtocolVersion::V3_1_1, ProtocolVersion::V5] {
            let refused = Client::connect(
                broker.addr,
                options("bob").version(version).credentials("bob", "wrong"),
            )
            .await;
            match refused {
                Err(ClientError::Refused(rc)) => assert_eq!(rc, ReasonCode::BadUserNameOrPassword),
                other => panic!("expected a refusal, got {other:?}"),
            }
            let ok = Client::connect(
                broker.addr,
                options("bob").version(version).credentials("bob", "secret"),
            )
            .await
            .unwrap();
            ok.close().await.unwrap();
        }
    })
    .await;
}

#[tokio::test]
async fn connect_to_a_closed_port_fails() {
    within(5, async {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        assert!(matches!(
            Client::connect(addr, options("x")).await,
            Err(ClientError::Io(_))
        ));
        assert!(matches!(
            Client::connect(addr, ConnectOptions::new("bad\0id")).await,
            Err(ClientError::InvalidOptions(_))
        ));
    })
    .await;
}

#[tokio::test]
async fn publish_times_out_when_the_server_never_acknowledges() {
    within(5, async {
        let (addr, _server) = silent_server().await;
        let client = Client::connect(addr, options("x")).await.unwrap();
        let quick = client.with_timeout(Duration::from_millis(200));
        assert!(matches!(
            quick.publish("t", &b"x"[..], QoS::AtLeastOnce, false).await,
            Err(ClientError::Timeout)
        ));
        assert!(matches!(quick.ping().await, Err(ClientError::Timeout)));
        // QoS 0 needs no answer.
        quick
            .publish("t", &b"x"[..], QoS::AtMostOnce, false)
            .await
            .unwrap();
        client.shutdown();
    })
    .await;
}

#[tokio::test]
async fn dropping_a_publish_future_keeps_the_session_consistent() {
    within(5, async {
        let broker = TestBroker::start().await;
        let sub = Client::connect(broker.addr, options("sub")).await.unwrap();
        sub.subscribe("c", QoS::ExactlyOnce).await.unwrap();
        let mut messages = sub.messages();
        let publisher = Client::connect(broker.addr, options("pub")).await.unwrap();
        for qos in [QoS::AtLeastOnce, QoS::ExactlyOnce] {
            // Poll the publish once (the command reaches the task), then drop it mid-flight.
            let dropped = publisher.publish("c", &b"first"[..], qos, false);
            tokio::select! {
                biased;
                _ = dropped => {}
                () = tokio::task::yield_now() => {}
            }
            publisher
                .publish("c", &b"second"[..], qos, false)
                .await
                .unwrap();
            let mut payloads = vec![
                next(&mut messages).await.payload,
                next(&mut messages).await.payload,
            ];
            payloads.sort();
            assert_eq!(
                payloads,
                vec![Bytes::from_static(b"first"), Bytes::from_static(b"second")]
            );
        }
        // Racing futures against a timeout of zero never wedges the client.
        for _ in 0..20 {
            let _ = tokio::time::timeout(
                Duration::ZERO,
                publisher.publish("c", &b"raced"[..], QoS::AtLeastOnce, false),
            )
            .await;
        }
        publisher
            .publish("c", &b"last"[..], QoS::AtLeastOnce, false)
            .await
            .unwrap();
        publisher.ping().await.unwrap();
        sub.close().await.unwrap();
        publisher.close().await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn a_panicking_handler_does_not_break_the_client() {
    within(5, async {
        let broker = TestBroker::start().await;
        let client = Client::connect(broker.addr, options("p")).await.unwrap();
        client.subscribe("p", QoS::AtLeastOnce).await.unwrap();
        client.on_message(|_| panic!("handler bug"));
        let mut messages = client.messages();
        client
            .publish("p", &b"x"[..], QoS::AtLeastOnce, false)
            .await
            .unwrap();
        assert_eq!(next(&mut messages).await.topic.as_str(), "p");
        client.ping().await.unwrap();
        client.close().await.unwrap();
    })
    .await;
}

#[test]
fn handles_are_send_and_sync() {
    fn assert_send_sync<T: Send + Sync + Clone + 'static>() {}
    fn assert_send<T: Send + 'static>() {}
    assert_send_sync::<Client>();
    assert_send::<myqtt_tokio::client::Messages>();
    assert_send::<myqtt_tokio::client::Events>();
}

/// A custom transport (here TCP counting its openings) through `connect_with`.
#[tokio::test]
async fn custom_connectors_open_every_connection() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use myqtt_tokio::client::{ConnectFuture, Connector, TcpConnector};

    struct Counting(TcpConnector, Arc<AtomicUsize>);
    impl Connector for Counting {
        fn connect(&self) -> ConnectFuture<'_> {
            self.1.fetch_add(1, Ordering::Relaxed);
            self.0.connect()
        }
        fn describe(&self) -> String {
            self.0.describe()
        }
    }

    within(5, async {
        let broker = TestBroker::start().await;
        let count = Arc::new(AtomicUsize::new(0));
        let connector = Counting(TcpConnector::new(broker.addr), count.clone());
        let options = ConnectOptions::new("custom").reconnect(ReconnectPolicy::backoff(
            Duration::from_millis(10),
            Duration::from_millis(10),
        ));
        let client = Client::connect_with(connector, options).await.unwrap();
        let mut events = client.events();
        broker.kill("custom").await;
        loop {
            if let Some(myqtt_tokio::client::Event::Reconnected { .. }) = events.recv().await {
                break;
            }
        }
        assert_eq!(count.load(Ordering::Relaxed), 2);
        client.close().await.unwrap();
    })
    .await;
}
