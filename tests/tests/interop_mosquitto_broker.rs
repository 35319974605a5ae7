//! Our tokio client against Debian's `mosquitto` broker (started on a free loopback port with a
//! throwaway config, killed at the end), in MQTT 3.1.1 and 5.0.
#![cfg(feature = "interop")]
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use myqtt_proto::codec::{ProtocolVersion, Publish, QoS};
use myqtt_tests::peers::{Mosquitto, within};
use myqtt_tokio::client::{Client, ConnectOptions, Messages};

const VERSIONS: [(ProtocolVersion, &str); 2] = [
    (ProtocolVersion::V3_1_1, "v311"),
    (ProtocolVersion::V5, "v5"),
];

async fn next(messages: &mut Messages) -> Publish {
    tokio::time::timeout(Duration::from_secs(5), messages.recv())
        .await
        .expect("no message within 5 s")
        .expect("message stream ended")
}

async fn none_within(messages: &mut Messages, ms: u64) {
    if let Ok(m) = tokio::time::timeout(Duration::from_millis(ms), messages.recv()).await {
        panic!("unexpected message {m:?}");
    }
}

async fn connect(broker: &Mosquitto, options: ConnectOptions) -> Client {
    Client::connect(
        broker.addr(),
        options.connect_timeout(Duration::from_secs(5)),
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn our_client_round_trips_every_qos_through_mosquitto() {
    within(60, async {
        let broker = Mosquitto::start().await;
        for (version, v) in VERSIONS {
            let sub = connect(
                &broker,
                ConnectOptions::new(format!("sub-{v}")).version(version),
            )
            .await;
            let pubc = connect(
                &broker,
                ConnectOptions::new(format!("pub-{v}")).version(version),
            )
            .await;
            let mut messages = sub.messages();
            let filter = format!("rt/{v}/#");
            assert_eq!(
                sub.subscribe(filter.as_str(), QoS::ExactlyOnce)
                    .await
                    .unwrap(),
                QoS::ExactlyOnce
            );
            for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
                let topic = format!("rt/{v}/q{}", qos as u8);
                let payload = format!("{v} {qos:?}");
                pubc.publish(topic.as_str(), payload.clone().into_bytes(), qos, false)
                    .await
                    .unwrap();
                let m = next(&mut messages).await;
                assert_eq!(m.topic.as_str(), topic);
                assert_eq!(m.payload, payload.as_bytes());
                assert_eq!(m.qos, qos, "{v}");
                assert!(!m.retain);
            }
            // Round trip through a QoS 1 subscription: QoS 2 comes down at QoS 1.
            sub.unsubscribe(filter.as_str()).await.unwrap();
            sub.subscribe(filter.as_str(), QoS::AtLeastOnce)
                .await
                .unwrap();
            pubc.publish(
                format!("rt/{v}/down").as_str(),
                &b"d"[..],
                QoS::ExactlyOnce,
                false,
            )
            .await
            .unwrap();
            assert_eq!(next(&mut messages).await.qos, QoS::AtLeastOnce);
            sub.close().await.unwrap();
            pubc.close().await.unwrap();
        }
        broker.stop().await;
    })
    .await;
}

#[tokio::test]
async fn retained_message_from_our_client_reaches_a_later_subscriber_via_mosquitto() {
    within(60, async {
        let broker = Mosquitto::start().await;
        for (version, v) in VERSIONS {
            let topic = format!("retained/{v}");
            let pubc = connect(
                &broker,
                ConnectOptions::new(format!("rpub-{v}")).version(version),
            )
            .await;
            pubc.publish(topic.as_str(), &b"kept"[..], QoS::AtLeastOnce, true)
                .await
                .unwrap();
            pubc.close().await.unwrap();
            let sub = connect(
                &broker,
                ConnectOptions::new(format!("rsub-{v}")).version(version),
            )
            .await;
            let mut messages = sub.messages();
            sub.subscribe(topic.as_str(), QoS::AtLeastOnce)
                .await
                .unwrap();
            let m = next(&mut messages).await;
            assert_eq!(
                (m.topic.as_str(), &m.payload[..]),
                (topic.as_str(), &b"kept"[..])
            );
            assert!(
                m.retain,
                "{v}: retained flag on a message sent for the subscription"
            );
            sub.close().await.unwrap();
        }
        broker.stop().await;
    })
    .await;
}

#[tokio::test]
async fn mosquitto_publishes_our_clients_will_after_an_abrupt_shutdown_only() {
    within(60, async {
        let broker = Mosquitto::start().await;
        for (version, v) in VERSIONS {
            let will_topic = format!("will/{v}");
            let watcher = connect(
                &broker,
                ConnectOptions::new(format!("watch-{v}")).version(version),
            )
            .await;
            let mut messages = watcher.messages();
            watcher
                .subscribe(will_topic.as_str(), QoS::AtLeastOnce)
                .await
                .unwrap();

            let polite = ConnectOptions::new(format!("polite-{v}"))
                .version(version)
                .will(will_topic.as_str(), &b"polite"[..], QoS::AtLeastOnce, false);
            connect(&broker, polite).await.close().await.unwrap();
            none_within(&mut messages, 300).await;

            let abrupt = ConnectOptions::new(format!("abrupt-{v}"))
                .version(version)
                .will(will_topic.as_str(), &b"gone"[..], QoS::AtLeastOnce, false);
            connect(&broker, abrupt).await.shutdown();
            let m = next(&mut messages).await;
            assert_eq!(
                (m.topic.as_str(), &m.payload[..]),
                (will_topic.as_str(), &b"gone"[..])
            );
            assert_eq!(m.qos, QoS::AtLeastOnce);
            watcher.close().await.unwrap();
        }
        broker.stop().await;
    })
    .await;
}

#[tokio::test]
async fn our_persistent_session_resumes_on_mosquitto() {
    within(60, async {
        let broker = Mosquitto::start().await;
        for (version, v) in VERSIONS {
            let topic = format!("session/{v}");
            let options = ConnectOptions::new(format!("persist-{v}"))
                .version(version)
                .clean_start(false)
                .session_expiry_interval(300);
            let first = connect(&broker, options.clone()).await;
            first
                .subscribe(topic.as_str(), QoS::AtLeastOnce)
                .await
                .unwrap();
            first.close().await.unwrap();

            let pubc = connect(
                &broker,
                ConnectOptions::new(format!("spub-{v}")).version(version),
            )
            .await;
            pubc.publish(topic.as_str(), &b"while away"[..], QoS::AtLeastOnce, false)
                .await
                .unwrap();
            pubc.close().await.unwrap();

            // Mosquitto sends "while away" right after CONNACK, before `connect` returns: the
            // client keeps it for the first reader. Then the resumed subscription gets a message
            // published after the reconnection without subscribing again.
            let again = connect(&broker, options).await;
            let mut messages = again.messages();
            let m = next(&mut messages).await;
            assert_eq!(
                (m.topic.as_str(), &m.payload[..]),
                (topic.as_str(), &b"while away"[..])
            );
            let pubc = connect(
                &broker,
                ConnectOptions::new(format!("spub2-{v}")).version(version),
            )
            .await;
            pubc.publish(topic.as_str(), &b"after"[..], QoS::AtLeastOnce, false)
                .await
                .unwrap();
            pubc.close().await.unwrap();
            let m = next(&mut messages).await;
            assert_eq!(
                (m.topic.as_str(), &m.payload[..]),
                (topic.as_str(), &b"after"[..])
            );
            again.close().await.unwrap();
        }
        broker.stop().await;
    })
    .await;
}
