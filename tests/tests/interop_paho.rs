//! paho-mqtt 2.x (Python, `tests/peers/paho_peer.py`) against our library server
//! (`myqtt_tokio::server::Server`, which the `myqttd` binary wraps), in MQTT 3.1.1 and 5.0. The
//! script runs one scenario and prints JSON lines; these tests check them.
#![cfg(feature = "interop")]
#![allow(clippy::unwrap_used)]

use myqtt_tests::peers::{TestServer, paho, require_paho, within};
use serde_json::{Value, json};

const VERSIONS: [&str; 2] = ["311", "5"];

/// The `"event": "message"` lines, as (topic, payload, qos, retain).
fn messages(lines: &[Value]) -> Vec<(String, String, u64, bool)> {
    lines
        .iter()
        .filter(|l| l["event"] == "message")
        .map(|l| {
            (
                l["topic"].as_str().unwrap().to_owned(),
                l["payload"].as_str().unwrap().to_owned(),
                l["qos"].as_u64().unwrap(),
                l["retain"].as_bool().unwrap(),
            )
        })
        .collect()
}

async fn scenario(server: &TestServer, name: &str, version: &str, extra: &[&str]) -> Vec<Value> {
    let port = server.port();
    let prefix = format!("paho-{name}-{version}{}", extra.concat());
    let mut args = vec![
        name,
        "--port",
        &port,
        "--version",
        version,
        "--prefix",
        &prefix,
    ];
    args.extend_from_slice(extra);
    paho(&args, 60).await
}

#[tokio::test]
async fn paho_publishes_and_subscribes_at_qos_1_and_2() {
    require_paho();
    within(120, async {
        let server = TestServer::start().await;
        for version in VERSIONS {
            for qos in [1u64, 2] {
                let q = qos.to_string();
                let lines = scenario(&server, "pubsub", version, &["--qos", &q]).await;
                assert_eq!(lines[0], json!({"event": "suback", "granted": qos}));
                let topic = format!("paho-pubsub-{version}--qos{q}/pubsub/{version}/{q}");
                let expected: Vec<_> = (0..3)
                    .map(|n| (topic.clone(), format!("message {n}"), qos, false))
                    .collect();
                assert_eq!(messages(&lines), expected, "v{version} QoS {qos}");
            }
        }
        server.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn paho_will_on_abrupt_close_not_on_disconnect() {
    require_paho();
    within(120, async {
        let server = TestServer::start().await;
        for version in VERSIONS {
            let lines = scenario(&server, "will", version, &[]).await;
            let topic = format!("paho-will-{version}/will/{version}");
            assert_eq!(
                messages(&lines),
                [
                    (topic.clone(), "abrupt".to_owned(), 1, false),
                    // The polite client's will would come before the marker.
                    (topic, "marker".to_owned(), 1, false),
                ],
                "v{version}"
            );
        }
        server.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn paho_retained_message_reaches_a_later_subscriber() {
    require_paho();
    within(120, async {
        let server = TestServer::start().await;
        for version in VERSIONS {
            let lines = scenario(&server, "retained", version, &[]).await;
            let topic = format!("paho-retained-{version}/retained/{version}");
            assert_eq!(
                messages(&lines),
                [(topic, "kept".to_owned(), 1, true)],
                "v{version}"
            );
        }
        server.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn paho_persistent_session_resumes_with_messages_published_while_away() {
    require_paho();
    within(120, async {
        for durable in [false, true] {
            let server = TestServer::start_with(durable).await;
            for version in VERSIONS {
                let lines = scenario(&server, "session", version, &[]).await;
                let connacks: Vec<_> = lines
                    .iter()
                    .filter(|l| l["event"] == "connack")
                    .map(|l| l["session_present"].as_bool().unwrap())
                    .collect();
                assert_eq!(connacks, [false, true], "v{version} durable {durable}");
                let topic = format!("paho-session-{version}/session/{version}");
                assert_eq!(
                    messages(&lines),
                    [
                        (topic.clone(), "away qos 1".to_owned(), 1, false),
                        (topic, "away qos 2".to_owned(), 2, false),
                    ],
                    "v{version} durable {durable}"
                );
            }
            server.shutdown().await;
        }
    })
    .await;
}
