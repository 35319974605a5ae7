//! The tokio MQTT server (MyQtt's listener side). Work in progress.
