//! Deterministic tests on virtual time (DESIGN §6): a scripted peer plays the other side of a
//! state machine, packet by packet, and every scenario reads as a transcript.

#![allow(clippy::field_reassign_with_default)] // transcripts build packets field by field

mod broker_auth;
mod broker_hooks;
mod broker_model;
mod broker_protocol;
mod broker_pubsub;
mod broker_sessions;
mod broker_storage;
mod broker_wills;
mod client_connect;
mod client_model;
mod client_persist;
mod client_properties;
mod client_qos;
mod client_resume;
mod scripted_server;
mod sim;
