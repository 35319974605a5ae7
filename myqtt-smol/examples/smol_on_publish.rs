//! Seed manual, "Creating a MQTT server", step 4: an on_publish handler that discards some
//! messages (MyQtt `PUBLISH_DISCARD`) and lets the rest through (`PUBLISH_OK`). Discarded QoS
//! 1/2 messages are still acknowledged, so publishers do not hang.
//!
//! `cargo run -p myqtt-smol --example smol_on_publish`

use myqtt_smol::server::{PublishDecision, Server};

fn main() -> std::io::Result<()> {
    smol::block_on(async {
        let server = Server::builder()
            .on_publish(|conn, msg| {
                println!("Topic received: {} (from {})", msg.topic, conn.client_id);
                if msg.topic.as_str() == "disard/this/topic" {
                    return PublishDecision::Discard;
                }
                PublishDecision::Allow
            })
            .listen("127.0.0.1:1883")
            .start()
            .await?;
        server.wait_for_signal().await;
        Ok(())
    })
}
