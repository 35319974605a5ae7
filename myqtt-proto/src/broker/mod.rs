//! The broker core (router): sessions, subscriptions, retained messages, wills, offline queues.
//!
//! Work in progress (issue 4): the topic trees come first.

pub mod retained;
pub mod trie;
