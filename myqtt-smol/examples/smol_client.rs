//! Seed manual, "Creating a PyMyQtt MQTT client", steps 1-5 with myqtt-smol.
//!
//! Run a broker first (`cargo run --release -p myqtt-smol --bin myqttd`), then
//! `cargo run -p myqtt-smol --example smol_client`.

use std::time::Duration;

use myqtt_proto::codec::QoS;
use myqtt_smol::client::{Client, ConnectOptions};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    smol::block_on(async {
        // 1-2. The context is smol's executor; `Client::connect` opens the MQTT session and
        //      resolves once CONNACK accepted it (MyQtt `myqtt.Conn(ctx, host, port)` + `is_ok()`).
        let conn = Client::connect("localhost:1883", ConnectOptions::new("seed-client")).await?;

        // 5. The handler for received messages (MyQtt `conn.set_msg_received(on_msg)`).
        conn.on_message(|msg| {
            println!("Msg content: {}", String::from_utf8_lossy(&msg.payload));
        });

        // 3. Subscribe: the granted QoS comes back (MyQtt `(status, sub_qos) = conn.sub(...)`).
        let sub_qos = conn
            .with_timeout(Duration::from_secs(10))
            .subscribe("topic", QoS::AtMostOnce)
            .await?;
        println!("Subscription done, sub_qos is: {sub_qos:?}");

        // 4. Publish and wait for the outcome (MyQtt `conn.pub(topic, msg, qos, retain, wait)`).
        conn.publish("topic", "this is a test message", QoS::AtMostOnce, true)
            .await?;
        println!("Publish op done");

        smol::Timer::after(Duration::from_millis(500)).await;
        conn.close().await?; // DISCONNECT: the will (if any) is not published
        Ok(())
    })
}
