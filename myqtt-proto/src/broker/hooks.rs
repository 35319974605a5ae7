//! Hooks: the seed's handlers, as decisions the application passes into the core
//! (DESIGN §3). They must not block or do IO; an `on_connect` that needs IO returns
//! [`ConnectDecision::Defer`] and answers later with [`Broker::accept`](super::Broker::accept)
//! or [`Broker::reject`](super::Broker::reject) (MyQtt's DEFERRED).

use crate::codec::{Auth, AuthProperties, Connect, Publish, QoS, ReasonCode, Subscription};
use crate::topic::TopicFilter;

use super::ClientView;

/// A CONNECT waiting for the application's decision.
#[derive(Clone, Copy, Debug)]
pub struct ConnectRequest<'a> {
    /// The client (its id is the assigned one if it sent none).
    pub client: ClientView<'a>,
    /// The CONNECT itself: password, will, clean start, properties.
    pub connect: &'a Connect,
}

/// Answer to a CONNECT.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConnectDecision {
    /// Accept the client.
    Accept,
    /// Refuse with this reason (sent as the nearest 3.x return code to 3.x clients).
    Reject(ReasonCode),
    /// Decide later with [`Broker::accept`](super::Broker::accept) / [`Broker::reject`](super::Broker::reject).
    Defer,
    /// Continue MQTT 5.0 enhanced authentication with an AUTH packet (§4.12).
    ContinueAuth(AuthProperties),
}

/// Answer to an AUTH packet from the client (MQTT 5.0 §4.12).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthDecision {
    /// Send another challenge.
    Continue(AuthProperties),
    /// Authentication succeeded: CONNACK (or AUTH Success when re-authenticating).
    Accept,
    /// Authentication failed with this reason.
    Reject(ReasonCode),
}

/// Answer to a PUBLISH (MyQtt's `on_publish`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PublishDecision {
    /// Route the message (MyQtt `PUBLISH_OK`).
    Allow,
    /// Do not route it, but complete the publisher's QoS handshake normally (MyQtt
    /// `PUBLISH_DISCARD`, which left QoS 1/2 publishers waiting; myqtt acknowledges).
    Discard,
    /// Do not route it; MQTT 5.0 publishers get this reason code in PUBACK/PUBREC (e.g. Not
    /// authorized); 3.x publishers get a plain acknowledgment.
    Refuse(ReasonCode),
    /// Close the publisher's connection (MyQtt `PUBLISH_CONN_CLOSE`); 5.0 clients get
    /// DISCONNECT Not authorized.
    Close,
}

/// Answer to one topic filter of a SUBSCRIBE.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SubscribeDecision {
    /// Grant at most this QoS (never more than requested).
    Grant(QoS),
    /// Refuse: 0x80 to 3.x clients, this reason to 5.0 clients.
    Deny(ReasonCode),
}

/// The application's handlers. Every method has a permissive default.
pub trait BrokerHooks {
    /// A client sent CONNECT (MyQtt `on_connect`, server-side user name/password auth).
    fn on_connect(&mut self, request: &ConnectRequest<'_>) -> ConnectDecision {
        let _ = request;
        ConnectDecision::Accept
    }

    /// A client sent AUTH during or after connecting (MQTT 5.0 enhanced authentication).
    fn on_auth(&mut self, client: &ClientView<'_>, auth: &Auth) -> AuthDecision {
        let _ = (client, auth);
        AuthDecision::Reject(ReasonCode::BadAuthenticationMethod)
    }

    /// A client published (MyQtt `on_publish`). Runs before routing.
    fn on_publish(&mut self, client: &ClientView<'_>, publish: &Publish) -> PublishDecision {
        let _ = (client, publish);
        PublishDecision::Allow
    }

    /// A client subscribes to one filter.
    fn on_subscribe(
        &mut self,
        client: &ClientView<'_>,
        subscription: &Subscription,
    ) -> SubscribeDecision {
        let _ = client;
        SubscribeDecision::Grant(subscription.options.qos)
    }

    /// A client unsubscribed from a filter.
    fn on_unsubscribe(&mut self, client: &ClientView<'_>, filter: &TopicFilter) {
        let _ = (client, filter);
    }
}

/// Hooks that allow everything.
#[derive(Clone, Copy, Debug, Default)]
pub struct AllowAll;

impl BrokerHooks for AllowAll {}
