//! Runtime-neutral `std` pieces shared by `myqtt-tokio` and `myqtt-smol`.
//!
//! This crate holds what both runtime crates need that is neither protocol (that lives in
//! [`myqtt_proto`]) nor runtime glue. It depends on no async runtime: the async parts are
//! written against [`runtime::Runtime`] and `futures-io`, which each runtime crate implements.
//!
//! - [`server`]: the MQTT server ([`Server`](server::Server), domains, handlers), generic over
//!   the [`Runtime`](runtime::Runtime).
//! - [`runtime`], [`clock`], [`ws`]: what the async drivers share (the runtime abstraction, the
//!   core's clock, MQTT over WebSocket).
//! - [`store`]: [`RedbStore`](store::RedbStore), the durable
//!   [`SessionStore`](myqtt_proto::store::SessionStore) on [`redb`]: one crash-safe database
//!   file per data directory, every batch of [`StoreOp`](myqtt_proto::store::StoreOp)s one
//!   fsynced transaction (group commit).
//! - [`tls`]: TLS configuration over `rustls` (`ring` provider): PEM loading, MyQtt's SNI
//!   certificate handlers as a resolver, client-certificate verification, the client
//!   configuration, and the facts of an accepted TLS session.
//! - [`auth`]: the users and ACLs of `myqttd`: [`PasswordFile`](auth::PasswordFile) (salted
//!   Argon2id hashes) and [`Acl`](auth::Acl) (publish and subscribe rules with wildcards and
//!   `%c`/`%u`).
//! - [`config`]: [`MyqttdConfig`](config::MyqttdConfig), the `myqttd` TOML configuration.
//! - [`client`]: the MQTT client ([`Client<R>`](client::Client)), generic over the async
//!   [`runtime`]: the actor that drives the sans-IO client core, reconnection with backoff,
//!   TCP/TLS/WebSocket connectors over `futures-io`. The runtime crates re-export it
//!   instantiated with their runtime.
//! - [`client_store`]: [`ClientStore`](client_store::ClientStore), where an MQTT client keeps
//!   its QoS 1/2 session state across process restarts (one redb file in a chosen directory).
//!
//! # Using the store
//!
//! The broker emits store operations; the runtime collects those of one turn of its loop,
//! applies them in one call, and only then tells the broker that they are durable (so a QoS 1/2
//! PUBACK can wait for the disk). At start it loads the snapshot and restores the broker from it.
//!
//! ```
//! use myqtt_host::store::RedbStore;
//! use myqtt_proto::broker::SessionExpiry;
//! use myqtt_proto::codec::MqttString;
//! use myqtt_proto::store::{SessionStore, StoreOp};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let tmp = tempfile::tempdir()?;
//! # let data_dir = tmp.path().join("data");
//! let mut store = RedbStore::open(&data_dir)?;
//! store.apply(&[StoreOp::SessionUpsert {
//!     client_id: MqttString::from_static("sensor-1"),
//!     expiry: SessionExpiry::Never,
//! }])?;
//! drop(store);
//!
//! // After a restart (or a crash after `apply` returned), the batch is there.
//! let snapshot = RedbStore::open(&data_dir)?.load()?;
//! assert_eq!(
//!     snapshot.sessions["sensor-1"].expiry,
//!     Some(SessionExpiry::Never)
//! );
//! # Ok(())
//! # }
//! ```

pub mod auth;
pub mod client;
pub mod client_store;
pub mod clock;
pub mod config;
pub mod runtime;
pub mod server;
pub mod store;
pub mod tls;
pub mod ws;
