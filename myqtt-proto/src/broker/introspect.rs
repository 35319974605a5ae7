//! Read-only views for administration (MyQtt's admin topics and mod-status).

use alloc::vec::Vec;

use super::session::SessionSubscription;
use super::{Broker, BrokerHooks, ClientView, ConnectionId};
use crate::codec::MqttString;
use crate::topic::{TopicFilter, TopicName};

impl<H: BrokerHooks> Broker<H> {
    /// Open connections (including those not past CONNECT).
    pub fn connection_count(&self) -> usize {
        self.connections.len()
    }

    /// Sessions, connected or not.
    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    /// Client identifiers of all sessions, in order.
    pub fn session_ids(&self) -> impl Iterator<Item = &MqttString> {
        self.sessions.keys()
    }

    /// Whether a session for `client_id` has a live connection.
    pub fn is_connected(&self, client_id: &str) -> bool {
        self.sessions
            .get(client_id)
            .is_some_and(|s| s.connection.is_some())
    }

    /// The subscriptions of a session, in filter order.
    pub fn subscriptions_of(
        &self,
        client_id: &str,
    ) -> Option<impl Iterator<Item = (&TopicFilter, &SessionSubscription)>> {
        self.sessions.get(client_id).map(|s| s.subscriptions.iter())
    }

    /// Messages queued for a session (waiting for a connection or for the inflight window).
    pub fn queued_len(&self, client_id: &str) -> Option<usize> {
        self.sessions.get(client_id).map(|s| s.queue.len())
    }

    /// QoS 1/2 messages in flight to a session.
    pub fn inflight_len(&self, client_id: &str) -> Option<usize> {
        self.sessions.get(client_id).map(|s| s.outbound.len())
    }

    /// Topics with a retained message that `filter` matches.
    pub fn retained_topics(&self, filter: &str) -> Vec<TopicName> {
        let mut topics = Vec::new();
        self.retained
            .for_each_matching(filter, |_, m| topics.push(m.topic.clone()));
        topics
    }

    /// Number of retained messages.
    pub fn retained_count(&self) -> usize {
        self.retained.len()
    }

    /// What hooks see of a connection: client id, user name, version, server name, TLS.
    pub fn client(&self, connection: ConnectionId) -> Option<ClientView<'_>> {
        self.connections
            .get(&connection)
            .map(|c| c.view(connection))
    }
}
