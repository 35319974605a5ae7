//! Seed manual, "Creating a MQTT server", steps 1-3: storage, several listeners, and waiting
//! until SIGINT/SIGTERM.
//!
//! `cargo run -p myqtt-smol --example smol_listener`

use myqtt_smol::server::Server;

fn main() -> std::io::Result<()> {
    smol::block_on(async {
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
    })
}
