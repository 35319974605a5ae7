//! Cross-runtime: the tokio client against the smol server, and the smol client against the
//! tokio `myqttd` binary; QoS 0/1/2 and retained messages both ways.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use myqtt_proto::codec::{ProtocolVersion, QoS};
use myqtt_tokio::client::{Client, ConnectOptions, ReconnectPolicy};

fn options(id: &str, version: ProtocolVersion) -> ConnectOptions {
    ConnectOptions::new(id)
        .version(version)
        .reconnect(ReconnectPolicy::disabled())
}

// [MQTT-3.3.1-5] retained for later subscribers; [MQTT-4.3.1-1] [MQTT-4.3.2-1] [MQTT-4.3.3-1]
// the three QoS flows, each end on a different runtime.
#[tokio::test]
async fn tokio_client_against_the_smol_server() {
    tokio::time::timeout(Duration::from_secs(10), async {
        let server = myqtt_smol::server::Server::builder()
            .listen("127.0.0.1:0")
            .start()
            .await
            .unwrap();
        let addr = server.local_addrs()[0];
        for version in [ProtocolVersion::V3_1_1, ProtocolVersion::V5] {
            let sub = Client::connect(addr, options("sub", version))
                .await
                .unwrap();
            let publisher = Client::connect(addr, options("pub", version))
                .await
                .unwrap();
            let mut messages = sub.messages();
            sub.subscribe("x/#", QoS::ExactlyOnce).await.unwrap();
            for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
                let topic = format!("x/{}", qos.as_u8());
                publisher
                    .publish(topic.as_str(), &b"across"[..], qos, false)
                    .await
                    .unwrap();
                let m = messages.recv().await.unwrap();
                assert_eq!((m.topic.as_str(), m.qos), (topic.as_str(), qos));
            }
            publisher
                .publish("kept", &b"retained"[..], QoS::AtLeastOnce, true)
                .await
                .unwrap();
            let late = Client::connect(addr, options("late", version))
                .await
                .unwrap();
            let mut late_messages = late.messages();
            late.subscribe("kept", QoS::AtLeastOnce).await.unwrap();
            let m = late_messages.recv().await.unwrap();
            assert!(m.retain && &m.payload[..] == b"retained");
            // Clear it for the next version.
            publisher
                .publish("kept", bytes::Bytes::new(), QoS::AtLeastOnce, true)
                .await
                .unwrap();
            for c in [sub, publisher, late] {
                c.close().await.unwrap();
            }
        }
        server.shutdown().await;
    })
    .await
    .unwrap();
}

/// Kills the broker when the test ends, whatever happens.
struct Myqttd(std::process::Child);

impl Drop for Myqttd {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

// The smol client (under smol::block_on) against the tokio `myqttd` binary.
// [MQTT-4.3.1-1] [MQTT-4.3.2-1] [MQTT-4.3.3-1] [MQTT-3.3.1-5]
#[test]
fn smol_client_against_myqttd() {
    use myqtt_smol::client::{Client as SmolClient, ConnectOptions as SmolOptions};
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let _broker = Myqttd(
        std::process::Command::new(env!("CARGO_BIN_EXE_myqttd"))
            .args(["--no-persistence", "--port", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
    smol::block_on(async {
        let options = |id: &str, version| {
            SmolOptions::new(id)
                .version(version)
                .reconnect(ReconnectPolicy::disabled())
        };
        // Wait for the broker to listen.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        let probe = loop {
            match SmolClient::connect(addr, options("probe", ProtocolVersion::V5)).await {
                Ok(c) => break c,
                Err(e) if std::time::Instant::now() > deadline => panic!("myqttd: {e}"),
                Err(_) => smol::Timer::after(Duration::from_millis(20)).await,
            };
        };
        probe.close().await.unwrap();
        for version in [ProtocolVersion::V3_1_1, ProtocolVersion::V5] {
            let sub = SmolClient::connect(addr, options("sub", version))
                .await
                .unwrap();
            let publisher = SmolClient::connect(addr, options("pub", version))
                .await
                .unwrap();
            let mut messages = sub.messages();
            sub.subscribe("x/#", QoS::ExactlyOnce).await.unwrap();
            for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
                let topic = format!("x/{}", qos.as_u8());
                publisher
                    .publish(topic.as_str(), &b"across"[..], qos, false)
                    .await
                    .unwrap();
                let m = messages.recv().await.unwrap();
                assert_eq!((m.topic.as_str(), m.qos), (topic.as_str(), qos));
            }
            publisher
                .publish("kept", &b"retained"[..], QoS::AtLeastOnce, true)
                .await
                .unwrap();
            let late = SmolClient::connect(addr, options("late", version))
                .await
                .unwrap();
            let mut late_messages = late.messages();
            late.subscribe("kept", QoS::AtLeastOnce).await.unwrap();
            assert!(late_messages.recv().await.unwrap().retain);
            publisher
                .publish("kept", bytes::Bytes::new(), QoS::AtLeastOnce, true)
                .await
                .unwrap();
            for c in [sub, publisher, late] {
                c.close().await.unwrap();
            }
        }
    });
}
