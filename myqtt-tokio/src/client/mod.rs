//! The tokio MQTT client (MyQtt's `Conn`). Work in progress.
