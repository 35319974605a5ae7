//! MQTT.js (npm `mqtt` 5.x, `tests/peers/mqttjs_peer.js`) against our library server
//! (`myqtt_tokio::server::Server`) over TCP (`mqtt://`) and WebSocket (`ws://`), and against
//! the real `myqttd` binary with a TCP and a WebSocket listener, in MQTT 3.1.1 and 5.0. The
//! script runs one scenario and prints JSON lines; these tests check them. MQTT.js over TLS
//! (`mqtts://`, `wss://`) is in `interop_tls.rs`.
#![cfg(feature = "interop")]
#![allow(clippy::unwrap_used)]

use myqtt_tests::myqttd::Myqttd;
use myqtt_tests::peers::{TestServer, free_port, mqttjs, require_mqttjs, within};
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

/// The session present flags of the `"event": "connack"` lines.
fn connacks(lines: &[Value]) -> Vec<bool> {
    lines
        .iter()
        .filter(|l| l["event"] == "connack")
        .map(|l| l["session_present"].as_bool().unwrap())
        .collect()
}

/// Our server with a TCP and a WebSocket listener, and their MQTT.js URLs.
async fn server(durable: bool) -> (TestServer, [(&'static str, String); 2]) {
    let server = TestServer::start_custom(durable, |b| {
        b.listen("127.0.0.1:0").listen_ws("127.0.0.1:0")
    })
    .await;
    let (tcp, ws) = (server.addrs()[0], server.addrs()[1]);
    let urls = [
        ("tcp", format!("mqtt://{tcp}")),
        ("ws", format!("ws://{ws}/mqtt")),
    ];
    (server, urls)
}

/// Runs `name` against `url`; client ids and topics start with `prefix`.
async fn scenario(url: &str, name: &str, version: &str, prefix: &str, qos: u64) -> Vec<Value> {
    let q = qos.to_string();
    #[rustfmt::skip]
    let args = [
        name, "--url", url, "--version", version, "--prefix", prefix, "--qos", &q,
    ];
    mqttjs(&args, 60).await
}

/// Three messages at `qos` from one MQTT.js client to another, in order, at the granted QoS
/// ([MQTT-3.8.4-6] granted QoS, [MQTT-4.3.2-2]/[MQTT-4.3.3-2] QoS 1/2 flows,
/// [MQTT-4.6.0-6] ordered topics).
async fn check_pubsub(url: &str, version: &str, prefix: &str, qos: u64) {
    let lines = scenario(url, "pubsub", version, prefix, qos).await;
    assert_eq!(lines[0], json!({"event": "suback", "granted": qos}));
    let topic = format!("{prefix}/pubsub/{version}/{qos}");
    let expected: Vec<_> = (0..3)
        .map(|n| (topic.clone(), format!("message {n}"), qos, false))
        .collect();
    assert_eq!(messages(&lines), expected, "{url} v{version} QoS {qos}");
}

/// The will after an abrupt close, none after DISCONNECT ([MQTT-3.1.2-8], [MQTT-3.1.2-10]).
async fn check_will(url: &str, version: &str, prefix: &str) {
    let lines = scenario(url, "will", version, prefix, 1).await;
    let topic = format!("{prefix}/will/{version}");
    assert_eq!(
        messages(&lines),
        [
            (topic.clone(), "abrupt".to_owned(), 1, false),
            // The polite client's will would come before the marker.
            (topic, "marker".to_owned(), 1, false),
        ],
        "{url} v{version}"
    );
}

/// A retained message reaches a later subscriber with the retain flag ([MQTT-3.3.1-5],
/// 3.1.1 [MQTT-3.3.1-6]/[MQTT-3.3.1-8], 5.0 [MQTT-3.3.1-9]).
async fn check_retained(url: &str, version: &str, prefix: &str) {
    let lines = scenario(url, "retained", version, prefix, 1).await;
    let topic = format!("{prefix}/retained/{version}");
    assert_eq!(
        messages(&lines),
        [(topic, "kept".to_owned(), 1, true)],
        "{url} v{version}"
    );
}

/// A persistent session resumes with the messages published while it was away (3.1.1
/// [MQTT-3.1.2-4]/[MQTT-3.1.2-5]/[MQTT-3.2.2-2], 5.0 [MQTT-3.1.2-5]/[MQTT-3.2.2-3]).
async fn check_session(url: &str, version: &str, prefix: &str) {
    let lines = scenario(url, "session", version, prefix, 1).await;
    assert_eq!(connacks(&lines), [false, true], "{url} v{version}");
    let topic = format!("{prefix}/session/{version}");
    assert_eq!(
        messages(&lines),
        [
            (topic.clone(), "away qos 1".to_owned(), 1, false),
            (topic, "away qos 2".to_owned(), 2, false),
        ],
        "{url} v{version}"
    );
}

// Over ws://, every packet also travels in binary frames with the `mqtt` subprotocol
// ([MQTT-6.0.0-1], [MQTT-6.0.0-4]): MQTT.js refuses anything else.

#[tokio::test]
async fn mqttjs_publishes_and_subscribes_at_every_qos_over_tcp_and_ws() {
    require_mqttjs();
    within(180, async {
        let (server, urls) = server(false).await;
        for (transport, url) in &urls {
            for version in VERSIONS {
                for qos in [0, 1, 2] {
                    let prefix = format!("js-pubsub-{transport}-{version}-{qos}");
                    check_pubsub(url, version, &prefix, qos).await;
                }
            }
        }
        server.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn mqttjs_will_on_abrupt_close_not_on_disconnect_over_tcp_and_ws() {
    require_mqttjs();
    within(120, async {
        let (server, urls) = server(false).await;
        for (transport, url) in &urls {
            for version in VERSIONS {
                check_will(url, version, &format!("js-will-{transport}-{version}")).await;
            }
        }
        server.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn mqttjs_retained_message_reaches_a_later_subscriber_over_tcp_and_ws() {
    require_mqttjs();
    within(120, async {
        let (server, urls) = server(false).await;
        for (transport, url) in &urls {
            for version in VERSIONS {
                check_retained(url, version, &format!("js-retained-{transport}-{version}")).await;
            }
        }
        server.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn mqttjs_persistent_session_resumes_over_tcp_and_ws_in_memory_and_durable() {
    require_mqttjs();
    within(180, async {
        for durable in [false, true] {
            let (server, urls) = server(durable).await;
            for (transport, url) in &urls {
                for version in VERSIONS {
                    let prefix = format!("js-session-{transport}-{version}-{durable}");
                    check_session(url, version, &prefix).await;
                }
            }
            server.shutdown().await;
        }
    })
    .await;
}

/// The same scenarios against the `myqttd` process (durable store in a temporary directory),
/// configured by a TOML file with a TCP and a WebSocket listener.
#[tokio::test]
async fn mqttjs_against_the_myqttd_binary_over_tcp_and_ws() {
    require_mqttjs();
    let dir = tempfile::tempdir().unwrap();
    let (tcp, ws) = (free_port(), free_port());
    let config = dir.path().join("myqttd.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = {data:?}\n\
             [[listeners]]\nbind = \"127.0.0.1\"\nport = {tcp}\nkind = \"tcp\"\n\
             [[listeners]]\nbind = \"127.0.0.1\"\nport = {ws}\nkind = \"ws\"\n",
            data = dir.path().join("data"),
        ),
    )
    .unwrap();
    let config = config.to_str().unwrap();
    let broker = Myqttd::start(tcp, &["-c", config], &dir.path().join("myqttd.log"));
    within(240, async {
        let urls = [
            ("tcp", format!("mqtt://127.0.0.1:{tcp}")),
            ("ws", format!("ws://127.0.0.1:{ws}/mqtt")),
        ];
        for (transport, url) in &urls {
            for version in VERSIONS {
                let prefix = format!("myqttd-js-{transport}-{version}");
                for qos in [0, 1, 2] {
                    check_pubsub(url, version, &format!("{prefix}-{qos}"), qos).await;
                }
                check_will(url, version, &prefix).await;
                check_retained(url, version, &prefix).await;
                check_session(url, version, &prefix).await;
            }
        }
    })
    .await;
    drop(broker);
}
