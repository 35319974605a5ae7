//! Seed manual, "Enabling server side authentication": only `bob` / `secret` may connect.
//! The handler may be async (a database lookup); the client waits for its CONNACK meanwhile.
//!
//! `cargo run -p myqtt-smol --example smol_auth`, then e.g.
//! `mosquitto_pub -u bob -P secret -t t -m hi`.

use myqtt_proto::ReasonCode;
use myqtt_smol::server::{ConnectDecision, Server};

fn main() -> std::io::Result<()> {
    smol::block_on(async {
        let server = Server::builder()
            .on_connect(|info| async move {
                let ok = info.username.as_deref() == Some("bob")
                    && info.password.as_deref() == Some(&b"secret"[..]);
                if ok {
                    ConnectDecision::Accept
                } else {
                    ConnectDecision::Reject(ReasonCode::BadUserNameOrPassword)
                }
            })
            .listen("127.0.0.1:1883")
            .start()
            .await?;
        server.wait_for_signal().await;
        Ok(())
    })
}
