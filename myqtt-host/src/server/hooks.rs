//! The application's handlers as closures, adapted to the core's [`BrokerHooks`].

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use futures_channel::mpsc;
use futures_util::SinkExt;
use myqtt_proto::broker::{
    AuthDecision, BrokerHooks, ClientView, ConnectDecision, ConnectRequest, ConnectionId,
    PublishDecision, SubscribeDecision,
};
use myqtt_proto::codec::{Auth, ProtocolVersion, Publish, ReasonCode, Subscription};
use myqtt_proto::server::CloseCause;
use myqtt_proto::topic::TopicFilter;

use super::actor::Command;

/// What an `on_connect` handler learns about a client (owned: the handler may be async).
#[derive(Clone, Debug)]
pub struct ConnectInfo {
    /// The connection; `ConnectionId(0)` while the router only probes a domain (rule 4 of
    /// [`ServerBuilder::domain`](super::ServerBuilder::domain)).
    pub connection: ConnectionId,
    /// Client identifier (assigned by the broker if the client sent none).
    pub client_id: String,
    /// User Name.
    pub username: Option<String>,
    /// Password.
    pub password: Option<Bytes>,
    /// Protocol version.
    pub version: ProtocolVersion,
    /// TLS SNI server name or WebSocket `Host`.
    pub server_name: Option<String>,
    /// Whether the transport is TLS (MyQtt `myqtt.tls.is_enabled(conn)`).
    pub is_tls: bool,
    /// Remote address.
    pub remote_addr: Option<String>,
    /// Subject of the verified client certificate (mutual TLS), for certificate-based auth.
    pub peer_certificate_subject: Option<String>,
    /// Topic of the will message, if the client set one: the will is published by the server
    /// on the client's behalf, so authorization should check it like a publish.
    pub will_topic: Option<String>,
    /// The domain the connection was routed to (`None`: the default domain).
    pub domain: Option<Arc<str>>,
    /// Closes this connection later (MyQtt `conn.shutdown()`); `None` while a domain is only
    /// being probed (see [`ServerBuilder::domain`](super::ServerBuilder::domain)).
    pub handle: Option<ConnectionHandle>,
}

impl ConnectInfo {
    /// The TLS SNI server name or WebSocket `Host` the client connected with (MyQtt
    /// `conn.server_name`).
    pub fn server_name(&self) -> Option<&str> {
        self.server_name.as_deref()
    }

    /// Whether the connection runs over TLS (the seed's `myqtt.tls.is_enabled(conn)`).
    pub fn is_tls(&self) -> bool {
        self.is_tls
    }
}

/// A handle on one connection that outlives the handler it was given to.
#[derive(Clone)]
pub struct ConnectionHandle {
    id: ConnectionId,
    actor: mpsc::Sender<Command>,
}

impl std::fmt::Debug for ConnectionHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("ConnectionHandle").field(&self.id).finish()
    }
}

impl ConnectionHandle {
    /// The connection's id within its domain.
    pub fn id(&self) -> ConnectionId {
        self.id
    }

    /// Closes the connection (MyQtt `conn.shutdown()`): 5.0 clients get DISCONNECT
    /// "Administrative action" (0x98, MQTT 5.0 §3.14.2.1); the will, if any, is published
    /// as for any close without DISCONNECT from the client [MQTT-3.1.2-8].
    pub async fn shutdown(&self) {
        self.disconnect(ReasonCode::AdministrativeAction).await;
    }

    /// Closes the connection with `reason` in the DISCONNECT to 5.0 clients.
    pub async fn disconnect(&self, reason: ReasonCode) {
        let id = self.id;
        let _ = self
            .actor
            .clone()
            .send(Command::Disconnect { id, reason })
            .await;
    }
}

/// What an `on_disconnect` handler learns about a closed connection.
#[derive(Clone, Debug)]
pub struct ClosedInfo {
    /// The connection.
    pub connection: ConnectionId,
    /// Its client identifier, if its CONNECT got that far.
    pub client_id: Option<String>,
    /// Why it closed.
    pub cause: CloseCause,
    /// Its domain (`None`: the default domain).
    pub domain: Option<Arc<str>>,
}

/// A boxed future returned by async handlers.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

pub(crate) type ConnectFn = Arc<dyn Fn(ConnectInfo) -> BoxFuture<ConnectDecision> + Send + Sync>;
type PublishFn = Arc<dyn Fn(&ClientView<'_>, &Publish) -> PublishDecision + Send + Sync>;
type SubscribeFn = Arc<dyn Fn(&ClientView<'_>, &Subscription) -> SubscribeDecision + Send + Sync>;
type UnsubscribeFn = Arc<dyn Fn(&ClientView<'_>, &TopicFilter) + Send + Sync>;
type DisconnectFn = Arc<dyn Fn(&ClosedInfo) + Send + Sync>;

/// The handlers a [`ServerBuilder`](super::ServerBuilder) collects.
#[derive(Clone, Default)]
pub(crate) struct Handlers {
    pub(crate) on_connect: Option<ConnectFn>,
    pub(crate) on_publish: Option<PublishFn>,
    pub(crate) on_subscribe: Option<SubscribeFn>,
    pub(crate) on_unsubscribe: Option<UnsubscribeFn>,
    pub(crate) on_disconnect: Option<DisconnectFn>,
}

impl std::fmt::Debug for Handlers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handlers")
            .field("on_connect", &self.on_connect.is_some())
            .field("on_publish", &self.on_publish.is_some())
            .field("on_subscribe", &self.on_subscribe.is_some())
            .field("on_unsubscribe", &self.on_unsubscribe.is_some())
            .field("on_disconnect", &self.on_disconnect.is_some())
            .finish()
    }
}

/// The core's hooks for the actor: synchronous handlers run inline; an async `on_connect` is
/// deferred (MyQtt's DEFERRED) and its future parked here for the actor to spawn.
pub(crate) struct ActorHooks {
    pub(crate) handlers: Handlers,
    pub(crate) deferred: Vec<(ConnectionId, BoxFuture<ConnectDecision>)>,
    /// Decisions taken before the connection reached this domain (its `on_connect` already
    /// accepted it while the router probed the domains), consumed by the CONNECT.
    pub(crate) predecided: BTreeMap<ConnectionId, ConnectDecision>,
    /// The domain's name, for [`ConnectInfo::domain`].
    pub(crate) domain: Option<Arc<str>>,
    actor: mpsc::Sender<Command>,
}

impl ActorHooks {
    pub(crate) fn new(handlers: Handlers, actor: mpsc::Sender<Command>) -> Self {
        ActorHooks {
            handlers,
            deferred: Vec::new(),
            predecided: BTreeMap::new(),
            domain: None,
            actor,
        }
    }
}

impl BrokerHooks for ActorHooks {
    fn on_connect(&mut self, request: &ConnectRequest<'_>) -> ConnectDecision {
        if let Some(decision) = self.predecided.remove(&request.client.connection) {
            return decision;
        }
        let Some(handler) = &self.handlers.on_connect else {
            return ConnectDecision::Accept;
        };
        let info = ConnectInfo {
            connection: request.client.connection,
            client_id: request.client.client_id.to_owned(),
            username: request.connect.username.as_deref().map(str::to_owned),
            password: request.connect.password.clone(),
            version: request.client.version,
            server_name: request.client.transport.server_name.clone(),
            is_tls: request.client.transport.is_tls,
            remote_addr: request.client.transport.remote_addr.clone(),
            peer_certificate_subject: request.client.transport.peer_certificate_subject.clone(),
            will_topic: request
                .connect
                .will
                .as_ref()
                .map(|w| w.topic.as_str().to_owned()),
            domain: self.domain.clone(),
            handle: Some(ConnectionHandle {
                id: request.client.connection,
                actor: self.actor.clone(),
            }),
        };
        self.deferred
            .push((request.client.connection, handler(info)));
        ConnectDecision::Defer
    }

    fn on_auth(&mut self, _client: &ClientView<'_>, _auth: &Auth) -> AuthDecision {
        AuthDecision::Reject(ReasonCode::BadAuthenticationMethod)
    }

    fn on_publish(&mut self, client: &ClientView<'_>, publish: &Publish) -> PublishDecision {
        self.handlers
            .on_publish
            .as_ref()
            .map_or(PublishDecision::Allow, |f| f(client, publish))
    }

    fn on_subscribe(
        &mut self,
        client: &ClientView<'_>,
        subscription: &Subscription,
    ) -> SubscribeDecision {
        let decision = match &self.handlers.on_subscribe {
            Some(f) => f(client, subscription),
            None => SubscribeDecision::Grant(subscription.options.qos),
        };
        tracing::info!(
            client_id = client.client_id,
            user = client.username.unwrap_or("-"),
            peer = client.transport.remote_addr.as_deref().unwrap_or("-"),
            domain = self.domain.as_deref().unwrap_or("-"),
            filter = subscription.filter.as_str(),
            ?decision,
            "subscribe"
        );
        decision
    }

    fn on_unsubscribe(&mut self, client: &ClientView<'_>, filter: &TopicFilter) {
        if let Some(f) = &self.handlers.on_unsubscribe {
            f(client, filter);
        }
    }
}
