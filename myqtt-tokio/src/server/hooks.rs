//! The application's handlers as closures, adapted to the core's [`BrokerHooks`].

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use myqtt_proto::broker::{
    AuthDecision, BrokerHooks, ClientView, ConnectDecision, ConnectRequest, ConnectionId,
    PublishDecision, SubscribeDecision,
};
use myqtt_proto::codec::{Auth, ProtocolVersion, Publish, Subscription};
use myqtt_proto::topic::TopicFilter;

/// What an `on_connect` handler learns about a client (owned: the handler may be async).
#[derive(Clone, Debug)]
pub struct ConnectInfo {
    /// The connection.
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
}

/// A boxed future returned by async handlers.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

type ConnectFn = Arc<dyn Fn(ConnectInfo) -> BoxFuture<ConnectDecision> + Send + Sync>;
type PublishFn = Arc<dyn Fn(&ClientView<'_>, &Publish) -> PublishDecision + Send + Sync>;
type SubscribeFn = Arc<dyn Fn(&ClientView<'_>, &Subscription) -> SubscribeDecision + Send + Sync>;
type UnsubscribeFn = Arc<dyn Fn(&ClientView<'_>, &TopicFilter) + Send + Sync>;

/// The handlers a [`ServerBuilder`](super::ServerBuilder) collects.
#[derive(Clone, Default)]
pub(crate) struct Handlers {
    pub(crate) on_connect: Option<ConnectFn>,
    pub(crate) on_publish: Option<PublishFn>,
    pub(crate) on_subscribe: Option<SubscribeFn>,
    pub(crate) on_unsubscribe: Option<UnsubscribeFn>,
}

impl std::fmt::Debug for Handlers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handlers")
            .field("on_connect", &self.on_connect.is_some())
            .field("on_publish", &self.on_publish.is_some())
            .field("on_subscribe", &self.on_subscribe.is_some())
            .field("on_unsubscribe", &self.on_unsubscribe.is_some())
            .finish()
    }
}

/// The core's hooks for the actor: synchronous handlers run inline; an async `on_connect` is
/// deferred (MyQtt's DEFERRED) and its future parked here for the actor to spawn.
pub(crate) struct ActorHooks {
    pub(crate) handlers: Handlers,
    pub(crate) deferred: Vec<(ConnectionId, BoxFuture<ConnectDecision>)>,
}

impl BrokerHooks for ActorHooks {
    fn on_connect(&mut self, request: &ConnectRequest<'_>) -> ConnectDecision {
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
        };
        self.deferred
            .push((request.client.connection, handler(info)));
        ConnectDecision::Defer
    }

    fn on_auth(&mut self, _client: &ClientView<'_>, _auth: &Auth) -> AuthDecision {
        AuthDecision::Reject(myqtt_proto::ReasonCode::BadAuthenticationMethod)
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
        match &self.handlers.on_subscribe {
            Some(f) => f(client, subscription),
            None => SubscribeDecision::Grant(subscription.options.qos),
        }
    }

    fn on_unsubscribe(&mut self, client: &ClientView<'_>, filter: &TopicFilter) {
        if let Some(f) = &self.handlers.on_unsubscribe {
            f(client, filter);
        }
    }
}
