//! `mosquitto_pub` / `mosquitto_sub` (Debian's mosquitto-clients) against our library server
//! (`myqtt_tokio::server::Server`, which the `myqttd` binary wraps), over 127.0.0.1.
#![cfg(feature = "interop")]
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use myqtt_proto::codec::{ProtocolVersion, QoS};
use myqtt_tests::peers::{PeerProcess, TestServer, require, run_ok, within};
use myqtt_tokio::client::{Client, ConnectOptions};

const VERSIONS: [&str; 2] = ["mqttv311", "mqttv5"];

fn tag(version: &str) -> &str {
    version.trim_start_matches("mqtt")
}

#[tokio::test]
async fn mosquitto_sub_receives_what_mosquitto_pub_sends_at_every_qos() {
    let (pubb, subb) = (require("mosquitto_pub"), require("mosquitto_sub"));
    within(60, async {
        let server = TestServer::start().await;
        let port = server.port();
        for version in VERSIONS {
            for qos in ["0", "1", "2"] {
                let v = tag(version);
                let topic = format!("interop/{v}/q{qos}");
                let sub_id = format!("msub-{v}-{qos}");
                let payload = format!("hello {v} qos {qos}");
                #[rustfmt::skip]
                let mut sub = PeerProcess::spawn(&subb, [
                    "-h", "127.0.0.1", "-p", &port, "-V", version, "-i", &sub_id,
                    "-q", qos, "-t", &topic, "-C", "2", "-W", "10", "-v",
                ]);
                server.wait_subscribed(&sub_id, &topic).await;
                for n in 1..=2 {
                    #[rustfmt::skip]
                    run_ok(&pubb, [
                        "-h", "127.0.0.1", "-p", &port, "-V", version,
                        "-i", &format!("mpub-{v}-{qos}-{n}"),
                        "-q", qos, "-t", &topic, "-m", &format!("{payload} #{n}"),
                    ], 10)
                    .await;
                }
                let out = sub.finish(15).await;
                assert!(out.status.success(), "mosquitto_sub: {out:?}");
                assert_eq!(
                    out.stdout,
                    format!("{topic} {payload} #1\n{topic} {payload} #2\n"),
                    "{version} QoS {qos}"
                );
            }
        }
        server.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn retained_message_reaches_a_later_mosquitto_sub() {
    let (pubb, subb) = (require("mosquitto_pub"), require("mosquitto_sub"));
    within(60, async {
        let server = TestServer::start().await;
        let port = server.port();
        for version in VERSIONS {
            let v = tag(version);
            let topic = format!("interop/retained/{v}");
            #[rustfmt::skip]
            run_ok(&pubb, [
                "-h", "127.0.0.1", "-p", &port, "-V", version, "-q", "1", "-r",
                "-t", &topic, "-m", "kept",
            ], 10)
            .await;
            // Printed as "<retain flag> <qos> <topic> <payload>".
            #[rustfmt::skip]
            let out = run_ok(&subb, [
                "-h", "127.0.0.1", "-p", &port, "-V", version, "-q", "1",
                "-t", &topic, "-C", "1", "-W", "10", "-F", "%r %q %t %p",
            ], 15)
            .await;
            assert_eq!(out.stdout, format!("1 1 {topic} kept\n"), "{version}");
            // Clearing it (empty retained payload) leaves nothing for the next subscriber.
            #[rustfmt::skip]
            run_ok(&pubb, [
                "-h", "127.0.0.1", "-p", &port, "-V", version, "-q", "1", "-r",
                "-t", &topic, "-n",
            ], 10)
            .await;
            #[rustfmt::skip]
            let out = PeerProcess::spawn(&subb, [
                "-h", "127.0.0.1", "-p", &port, "-V", version, "-t", &topic,
                "-C", "1", "-W", "1", "-v",
            ])
            .finish(10)
            .await;
            assert_eq!(out.stdout, "", "{version}: retained message not cleared");
        }
        server.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn will_of_a_killed_mosquitto_sub_reaches_our_client() {
    let subb = require("mosquitto_sub");
    within(60, async {
        let server = TestServer::start().await;
        let port = server.port();
        for (version, ours) in VERSIONS
            .into_iter()
            .zip([ProtocolVersion::V3_1_1, ProtocolVersion::V5])
        {
            let v = tag(version);
            let will_topic = format!("interop/will/{v}");
            let watcher = Client::connect(
                server.addr(),
                ConnectOptions::new(format!("watcher-{v}")).version(ours),
            )
            .await
            .unwrap();
            let mut messages = watcher.messages();
            watcher
                .subscribe(will_topic.as_str(), QoS::AtLeastOnce)
                .await
                .unwrap();

            // A clean exit (-C 1 after one message: DISCONNECT) publishes no will.
            let polite_id = format!("polite-{v}");
            #[rustfmt::skip]
            let mut polite = PeerProcess::spawn(&subb, [
                "-h", "127.0.0.1", "-p", &port, "-V", version, "-i", &polite_id,
                "-t", "interop/will/poke", "-C", "1", "-W", "10",
                "--will-topic", &will_topic, "--will-payload", "polite", "--will-qos", "1",
            ]);
            server
                .wait_subscribed(&polite_id, "interop/will/poke")
                .await;
            watcher
                .publish("interop/will/poke", &b"x"[..], QoS::AtMostOnce, false)
                .await
                .unwrap();
            assert!(polite.finish(10).await.status.success());

            // SIGKILL: the connection ends without DISCONNECT, so the server sends the will.
            let id = format!("willer-{v}");
            #[rustfmt::skip]
            let mut willer = PeerProcess::spawn(&subb, [
                "-h", "127.0.0.1", "-p", &port, "-V", version, "-i", &id,
                "-t", "interop/will/idle", "-W", "30",
                "--will-topic", &will_topic, "--will-payload", "gone", "--will-qos", "1",
            ]);
            server.wait_subscribed(&id, "interop/will/idle").await;
            willer.kill().await;
            let will = tokio::time::timeout(Duration::from_secs(5), messages.recv())
                .await
                .expect("no will within 5 s")
                .unwrap();
            assert_eq!(will.topic.as_str(), will_topic);
            assert_eq!(
                &will.payload[..],
                b"gone",
                "{version}: the polite client's will leaked"
            );
            assert_eq!(will.qos, QoS::AtLeastOnce);
            watcher.close().await.unwrap();
        }
        server.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn persistent_mosquitto_sub_session_gets_what_was_published_while_away() {
    let (pubb, subb) = (require("mosquitto_pub"), require("mosquitto_sub"));
    within(60, async {
        let server = TestServer::start().await;
        let port = server.port();
        for version in VERSIONS {
            let v = tag(version);
            let id = format!("persist-{v}");
            let topic = format!("interop/session/{v}");
            // -c -E: open a persistent session, subscribe, disconnect once SUBACK arrived.
            #[rustfmt::skip]
            run_ok(&subb, [
                "-h", "127.0.0.1", "-p", &port, "-V", version, "-c", "-i", &id, "-q", "1",
                "-t", &topic, "-E",
            ], 10)
            .await;
            for (qos, payload) in [("1", "away-1"), ("2", "away-2")] {
                #[rustfmt::skip]
                run_ok(&pubb, [
                    "-h", "127.0.0.1", "-p", &port, "-V", version, "-q", qos,
                    "-t", &topic, "-m", payload,
                ], 10)
                .await;
            }
            #[rustfmt::skip]
            let out = run_ok(&subb, [
                "-h", "127.0.0.1", "-p", &port, "-V", version, "-c", "-i", &id, "-q", "1",
                "-t", &topic, "-C", "2", "-W", "10", "-F", "%q %t %p",
            ], 15)
            .await;
            assert_eq!(
                out.stdout,
                format!("1 {topic} away-1\n1 {topic} away-2\n"),
                "{version}"
            );
        }
        server.shutdown().await;
    })
    .await;
}
