//! Seed manual, "Creating a MQTT server", steps 1-3: storage, several listeners, and waiting
//! until SIGINT/SIGTERM.
//!
//! `cargo run -p myqtt-tokio --example listener`

use myqtt_tokio::server::Server;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let server = Server::builder()
        // MyQtt `ctx.storage_set_path(".myqtt-listener", 4096)`
        .storage(".myqtt-listener")
        // MyQtt `myqtt.create_listener(ctx, "0.0.0.0", "1883")`; add more as needed
        .listen("127.0.0.1:1883")
        .listen("[::1]:1883")
        .start()
        .await?; // a busy port is an error here, like `listener.is_ok()` failing
    println!("listening on {:?}", server.local_addrs());
    // MyQtt `myqtt.wait_listeners(ctx, unlock_on_signal=True)`
    server.wait_for_signal().await;
    Ok(())
}
