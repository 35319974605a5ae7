//! `ServerConnection`: one peer's protocol side of the broker (DESIGN §3 "Broker").
//!
//! It owns what lives exactly as long as one network connection: framing and validation, the
//! rule that CONNECT comes first and only once ([MQTT-3.1.0-1], [MQTT-3.1.0-2]), the connect
//! timeout, keepalive enforcement at one and a half times the keep alive
//! ([MQTT-3.1.2-24]), topic aliases in both directions (MQTT 5.0 §3.3.2.3.4) and the
//! client's Maximum Packet Size for what is sent to it ([MQTT-3.1.2-25]).
//!
//! Everything about sessions and routing (QoS state, subscriptions, retained messages, wills)
//! belongs to the [`Broker`](crate::broker::Broker), which feeds this machine the packets to
//! send and reads its [`ServerEvent`]s.

mod connection;

pub use connection::{
    CloseCause, ServerConnection, ServerConnectionConfig, ServerEvent, ServerState,
};
