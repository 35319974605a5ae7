//! Messages a resumed session had queued arrive right after CONNACK, before the application can
//! call `messages()` or `on_message`: they must wait for the first reader, not be acknowledged
//! and dropped (found by the interop tests against mosquitto).
#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use myqtt_proto::codec::QoS;
use myqtt_tokio::client::{Client, ConnectOptions, ReconnectPolicy};
use myqtt_tokio::server::Server;

fn persistent(id: &str) -> ConnectOptions {
    ConnectOptions::new(id)
        .clean_start(false)
        .session_expiry_interval(3600)
        .reconnect(ReconnectPolicy::disabled())
}

/// Queues two QoS 1 messages for the offline persistent session `id`; returns the server.
async fn queued_for(id: &str) -> Server {
    let server = Server::builder()
        .listen("127.0.0.1:0")
        .start()
        .await
        .unwrap();
    let addr = server.local_addrs()[0];
    let sub = Client::connect(addr, persistent(id)).await.unwrap();
    sub.subscribe("q/#", QoS::AtLeastOnce).await.unwrap();
    sub.close().await.unwrap();
    let publisher = Client::connect(
        addr,
        ConnectOptions::new("pub").reconnect(ReconnectPolicy::disabled()),
    )
    .await
    .unwrap();
    for body in [&b"one"[..], &b"two"[..]] {
        publisher
            .publish("q/x", body, QoS::AtLeastOnce, false)
            .await
            .unwrap();
    }
    publisher.close().await.unwrap();
    server
}

#[tokio::test]
async fn queued_messages_wait_for_messages() {
    tokio::time::timeout(Duration::from_secs(5), async {
        let server = queued_for("resume-stream").await;
        let client = Client::connect(server.local_addrs()[0], persistent("resume-stream"))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await; // they arrive before we read
        let mut messages = client.messages();
        for expected in [&b"one"[..], &b"two"[..]] {
            assert_eq!(messages.recv().await.unwrap().payload.as_ref(), expected);
        }
        server.shutdown().await;
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn queued_messages_go_to_a_late_handler_in_order() {
    tokio::time::timeout(Duration::from_secs(5), async {
        let server = queued_for("resume-handler").await;
        let client = Client::connect(server.local_addrs()[0], persistent("resume-handler"))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        let got = Arc::new(Mutex::new(Vec::new()));
        let sink = got.clone();
        client.on_message(move |m| sink.lock().unwrap().push(m.payload.to_vec()));
        assert_eq!(*got.lock().unwrap(), [b"one".to_vec(), b"two".to_vec()]);
        server.shutdown().await;
    })
    .await
    .unwrap();
}
