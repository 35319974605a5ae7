//! Seed manual, "Enabling server side TLS encryption": MyQtt's accept/cert/key handlers chosen
//! by the SNI server name, and refusing to serve data on connections that are not TLS
//! (MyQtt `myqtt.tls.is_enabled(conn)`).
//!
//! `cargo run -p myqtt-smol --example smol_tls_sni -- test.crt test.key` (PEM files).

use myqtt_host::tls::{PemSource, ServerTls};
use myqtt_smol::server::{PublishDecision, Server};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    smol::block_on(async {
        let mut args = std::env::args().skip(1);
        let (crt, key) = (
            args.next().unwrap_or("test.crt".into()),
            args.next().unwrap_or("test.key".into()),
        );
        let (crt2, key2) = (crt.clone(), key.clone());
        let tls = ServerTls::new()
            .sni(
                // tls_accept_handler(conn, server_name): accept every TLS request
                |_server_name| true,
                // tls_cert_handler / tls_key_handler: a different pair per server name is possible
                move |server_name| {
                    println!("certificate for {server_name:?}");
                    Some(PemSource::path(&crt2))
                },
                move |_server_name| Some(PemSource::path(&key2)),
            )
            .build()?;
        let server = Server::builder()
            .on_publish(|conn, _msg| {
                // `if not myqtt.tls.is_enabled(conn): conn.shutdown()`
                if conn.transport.is_tls {
                    PublishDecision::Allow
                } else {
                    PublishDecision::Close
                }
            })
            .listen("127.0.0.1:1883")
            .listen_tls("127.0.0.1:8883", tls)
            .start()
            .await?;
        println!("mqtt on 1883, mqtt+tls on 8883 (certificate {crt}, key {key})");
        server.wait_for_signal().await;
        Ok(())
    })
}
