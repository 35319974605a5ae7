//! The MQTT client (MyQtt's `Conn`), built on the sans-IO [`myqtt_proto::client::Client`] and
//! written once for every async runtime: [`Client<R>`](Client) runs on any
//! [`Runtime`]. `myqtt-tokio` and `myqtt-smol` re-export it
//! instantiated with their runtime (`myqtt_tokio::client::Client`), which is how applications
//! use it.
//!
//! [`Client::connect`] opens a transport, sends CONNECT and resolves once CONNACK accepted the
//! connection. A background task then owns the protocol core and the socket; [`Client`] is a
//! cheap, cloneable (`Send + Sync`) handle that talks to it over channels.
//!
//! | MyQtt (`conn.*`)             | here                                              |
//! |------------------------------|---------------------------------------------------|
//! | `myqtt.Conn(ctx, host, port)` | [`Client::connect`] with [`ConnectOptions`]      |
//! | `conn.sub(topic, qos, wait)` -> `(status, qos)` | [`Client::subscribe`] -> granted [`QoS`] |
//! | `conn.unsub(topic, wait)`    | [`Client::unsubscribe`]                           |
//! | `conn.pub(topic, msg, qos, retain, wait)` | [`Client::publish`], resolving on PUBACK / PUBCOMP |
//! | `conn.set_msg_received(h)`   | [`Client::on_message`], or [`Client::messages`] as a stream |
//! | `conn.ping(wait)`            | [`Client::ping`]                                  |
//! | `conn.close()`               | [`Client::close`]: DISCONNECT, the will is discarded |
//! | `conn.shutdown()`            | [`Client::shutdown`]: abrupt, the server publishes the will |
//! | `set_on_reconnect(h)`        | [`Client::events`]: [`Event::Reconnected`]        |
//! | client storage path          | [`ConnectOptions::storage`], [`Client::restored_publishes`] |
//!
//! Every awaited operation is bounded by the operation timeout
//! ([`ConnectOptions::operation_timeout`], 30 s by default; [`Client::with_timeout`] for one
//! call) and fails with [`ClientError::Timeout`] past it. Operations are cancel-safe: dropping a
//! `publish` future (or hitting its timeout) only drops the wait; a message handed to the task
//! stays queued or in flight in the session and is delivered as usual.
//!
//! When the transport is lost, the client reconnects with exponential backoff
//! ([`ReconnectPolicy`]); publishes made meanwhile wait in the session's bounded queue and are
//! sent after the reconnection. With a resumed session (`clean_start(false)`, and a session
//! expiry in 5.0), unacknowledged QoS 1/2 messages are resent with DUP.
//!
//! With [`ConnectOptions::storage`] the session state also survives process restarts: every
//! change is on disk before it is acted on, and the next [`Client::connect`] with the same
//! directory and client id finishes what the previous process left (see
//! [`Client::restored_publishes`]). With [`ConnectOptions::manual_acks`] the application
//! acknowledges QoS 1/2 messages itself with [`Client::ack`].
//!
//! Transports: TCP ([`Client::connect`]); TLS ([`TlsConnector`]), WebSocket ([`WsConnector`])
//! and secure WebSocket ([`WssConnector`]) through [`Client::connect_with`], which takes any
//! [`Connector`] (a proxy, say).
//!
//! ```no_run
//! use myqtt_host::client::{Client, ConnectOptions};
//! use myqtt_host::runtime::Runtime;
//! use myqtt_proto::codec::QoS;
//!
//! # async fn example<R: Runtime>() -> Result<(), myqtt_host::client::ClientError> {
//! let client = Client::<R>::connect("localhost:1883", ConnectOptions::new("id").keep_alive(30)).await?;
//! let granted: QoS = client.subscribe("topic", QoS::AtMostOnce).await?;
//! client.on_message(|msg| println!("{}: {} bytes", msg.topic, msg.payload.len()));
//! client
//!     .publish("topic", &b"this is a test message"[..], QoS::AtLeastOnce, true)
//!     .await?;
//! client.ping().await?;
//! client.close().await?;
//! # let _ = granted;
//! # Ok(())
//! # }
//! ```

mod actor;
mod error;
mod event;
mod options;
mod queue;
mod transport;

use std::marker::PhantomData;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use futures_channel::{mpsc, oneshot};
use futures_util::SinkExt;
use myqtt_proto::client::Client as Core;
use myqtt_proto::codec::{Publish, QoS, ReasonCode, SubscribeProperties, Subscription};
use myqtt_proto::topic::{TopicFilter, TopicName};

use crate::client_store::ClientStore;
use crate::runtime::{Runtime, timeout};

pub use error::ClientError;
pub use event::{Event, Events, Messages};
pub use options::{ConnectOptions, ReconnectPolicy};
pub use transport::{
    BoxTransport, ConnectFuture, Connector, ServerAddr, TcpConnector, TlsConnector, Transport,
    WsConnector, WssConnector,
};

use actor::{Actor, Command, Reply, Settings, Shared, Storage};

/// Commands waiting for the task; senders beyond it wait (within their timeout).
const COMMAND_CAPACITY: usize = 256;

/// A handle to an MQTT connection (MyQtt's `Conn`) on the runtime `R`. Clone it freely; the
/// connection is closed gracefully when the last handle is dropped (as by [`Client::close`]).
#[derive(Clone)]
pub struct Client<R> {
    inner: Arc<Inner>,
    timeout: Duration,
    runtime: PhantomData<fn() -> R>,
}

struct Inner {
    commands: mpsc::Sender<Command>,
    /// Taken by [`Client::shutdown`]; dropped with the last handle, which the task also sees.
    shutdown: Mutex<Option<oneshot::Sender<()>>>,
    shared: Arc<Shared>,
    message_capacity: usize,
    /// Publishes restored from storage, until [`Client::restored_publishes`] takes them.
    restored: Mutex<Vec<RestoredPublish>>,
}

/// A QoS 1/2 publish that an earlier process left unfinished in the client storage
/// ([`ConnectOptions::storage`]), restored by [`Client::connect`]; from
/// [`Client::restored_publishes`].
///
/// It stands for the `publish` future that process was waiting on: [`RestoredPublish::outcome`]
/// resolves the same way, when the resumed session completes the message (PUBACK / PUBCOMP
/// after the resend with DUP, [MQTT-4.4.0-1]).
#[derive(Debug)]
pub struct RestoredPublish {
    message: Publish,
    result: oneshot::Receiver<Result<ReasonCode, ClientError>>,
}

impl RestoredPublish {
    /// The message (topic, payload, QoS, properties) as it was published.
    pub fn message(&self) -> &Publish {
        &self.message
    }

    /// Waits until the message completes, like [`Client::publish`] (without its timeout: wrap
    /// it in one if needed). [`ClientError::SessionLost`] if the server kept no session (connect
    /// with [`ConnectOptions::clean_start`]`(false)`), [`ClientError::Closed`] if the client
    /// stops first.
    pub async fn outcome(self) -> Result<ReasonCode, ClientError> {
        self.result.await.unwrap_or(Err(ClientError::Closed))
    }
}

impl<R> std::fmt::Debug for Client<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("connected", &self.inner.shared.is_connected())
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl<R: Runtime> Client<R> {
    /// Connects over TCP to `addr` (`"host:port"` or a `SocketAddr`) and resolves once CONNACK
    /// accepted the connection.
    ///
    /// Fails with [`ClientError::Io`] if the transport cannot be opened,
    /// [`ClientError::Refused`] with the server's reason code if CONNACK refuses,
    /// [`ClientError::ConnectFailed`] if the connection ends otherwise before CONNACK (including
    /// the connect timeout). The first connection is not retried.
    pub async fn connect(
        addr: impl Into<ServerAddr>,
        options: ConnectOptions,
    ) -> Result<Client<R>, ClientError> {
        Self::connect_with(TcpConnector::<R>::new(addr), options).await
    }

    /// [`Client::connect`] over any transport: `connector` opens the first connection and
    /// every reconnection.
    pub async fn connect_with(
        connector: impl Connector,
        options: ConnectOptions,
    ) -> Result<Client<R>, ClientError> {
        let config = options.to_config()?;
        let mut core = Core::new(config);
        let mut restored = Vec::new();
        let storage = match &options.storage {
            Some(dir) => {
                let (storage, replies) = Self::restore(&mut core, dir.clone()).await?;
                restored = replies;
                Some(storage)
            }
            None => None,
        };
        let (commands_tx, commands_rx) = mpsc::channel(COMMAND_CAPACITY);
        let (shutdown_tx, shutdown_rx) = oneshot::channel();
        let (first_tx, first_rx) = oneshot::channel();
        let shared = Arc::new(Shared::new(options.message_capacity));
        let settings = Settings {
            reconnect: options.reconnect,
            connect_timeout: options.connect_timeout,
            write_timeout: options.operation_timeout,
        };
        let mut actor = Actor::<R>::new(
            core,
            Arc::new(connector),
            settings,
            commands_rx,
            shutdown_rx,
            shared.clone(),
            first_tx,
        );
        let mut handles = Vec::with_capacity(restored.len());
        for (token, message) in restored {
            let (reply, result) = oneshot::channel();
            actor.restored_publish(token, reply);
            handles.push(RestoredPublish { message, result });
        }
        if let Some(storage) = storage {
            actor = actor.with_storage(storage);
        }
        // Detached: the task ends by itself once the client is closed or every handle dropped.
        drop(R::spawn(actor.run()));
        let client = Client {
            inner: Arc::new(Inner {
                commands: commands_tx,
                shutdown: Mutex::new(Some(shutdown_tx)),
                shared,
                message_capacity: options.message_capacity,
                restored: Mutex::new(handles),
            }),
            timeout: options.operation_timeout,
            runtime: PhantomData,
        };
        // Dropping this future drops `client`, and with it the task.
        match first_rx.await {
            Ok(Ok(())) => Ok(client),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(ClientError::Closed),
        }
    }

    /// Opens the storage in `dir` and restores what it holds for the client's id into `core`.
    async fn restore(
        core: &mut Core,
        dir: std::path::PathBuf,
    ) -> Result<(Storage, Vec<(myqtt_proto::client::PublishToken, Publish)>), ClientError> {
        let client_id = core.client_id().clone();
        let id = client_id.clone();
        let opened = R::spawn_blocking(move || {
            let store = ClientStore::open(&dir)?;
            let snapshot = store.load(&id)?;
            Ok::<_, crate::store::StoreError>((store, snapshot))
        })
        .await
        .ok_or_else(|| ClientError::Storage("store task panicked".into()))?;
        let (store, snapshot) = opened.map_err(|e| ClientError::Storage(e.to_string()))?;
        let messages: Vec<Publish> = snapshot
            .publishes
            .values()
            .map(|p| p.publish.clone())
            .collect();
        let inbound = snapshot.inbound_qos2.len();
        let tokens = core.restore(snapshot).map_err(|e| {
            ClientError::Storage(format!("restoring {}: {e}", store.path().display()))
        })?;
        if !tokens.is_empty() || inbound > 0 {
            tracing::info!(
                client_id = %client_id,
                publishes = tokens.len(),
                inbound_qos2 = inbound,
                "restored session state from storage"
            );
        }
        Ok((
            Storage { store, client_id },
            tokens.into_iter().zip(messages).collect(),
        ))
    }

    /// The publishes an earlier process left unfinished in the client storage
    /// ([`ConnectOptions::storage`]), restored by [`Client::connect`], in their original order.
    /// The first call takes them; later calls (and clients without storage) get an empty list.
    ///
    /// The session resends them by itself; each [`RestoredPublish`] only reports the outcome,
    /// as the lost `publish` future would have.
    pub fn restored_publishes(&self) -> Vec<RestoredPublish> {
        std::mem::take(
            &mut *self
                .inner
                .restored
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        )
    }

    /// Acknowledges a received message in manual-ack mode ([`ConnectOptions::manual_acks`]):
    /// sends its PUBACK (QoS 1) or PUBREC (QoS 2) with Success, once every message received
    /// before it on this connection is acknowledged too ([MQTT-4.6.0-2], [MQTT-4.6.0-3]).
    ///
    /// A QoS 0 message needs no acknowledgment: `Ok` at once. A message that is not waiting
    /// for one (acknowledged already, automatic acks, or received on a connection that has
    /// since been lost; the server resends it then) is `ClientError::Command(UnknownAck)`.
    /// From an [`on_message`](Client::on_message) handler, spawn a task to call this.
    pub async fn ack(&self, message: &Publish) -> Result<(), ClientError> {
        self.ack_with_reason(message, ReasonCode::Success).await
    }

    /// [`Client::ack`] with an MQTT 5.0 reason code: a code >= 0x80 refuses the message (for
    /// QoS 2 the exchange ends with that PUBREC, MQTT 5.0 §4.3.3). Ignored in 3.x (Success).
    pub async fn ack_with_reason(
        &self,
        message: &Publish,
        reason: ReasonCode,
    ) -> Result<(), ClientError> {
        let Some(packet_id) = message.packet_id else {
            return Ok(());
        };
        self.request(|reply| Command::Ack {
            packet_id,
            reason,
            reply,
        })
        .await
    }

    /// A handle whose operations use `timeout` instead of the operation timeout of the options.
    pub fn with_timeout(&self, timeout: Duration) -> Client<R> {
        Client {
            inner: self.inner.clone(),
            timeout,
            runtime: PhantomData,
        }
    }

    /// Whether a connection is established (CONNACK accepted it and it has not been lost).
    pub fn is_connected(&self) -> bool {
        self.inner.shared.is_connected()
    }

    /// Subscribes to one filter (MyQtt `conn.sub`) and returns the QoS the server granted.
    ///
    /// A failure code in SUBACK is [`ClientError::SubscribeRefused`]. Requires a connection
    /// ([`ClientError::NotConnected`] between reconnections).
    pub async fn subscribe<F>(&self, filter: F, qos: QoS) -> Result<QoS, ClientError>
    where
        F: TryInto<TopicFilter>,
        ClientError: From<F::Error>,
    {
        let filter = filter.try_into()?;
        let results = self
            .subscribe_many(vec![Subscription::new(filter, qos)])
            .await?;
        match results.into_iter().next() {
            Some(Ok(qos)) => Ok(qos),
            Some(Err(rc)) => Err(ClientError::SubscribeRefused(rc)),
            None => Err(ClientError::SubscribeRefused(ReasonCode::UnspecifiedError)),
        }
    }

    /// Subscribes to several filters in one SUBSCRIBE; one result per filter, in order: the
    /// granted QoS or the server's failure code.
    pub async fn subscribe_many(
        &self,
        subscriptions: Vec<Subscription>,
    ) -> Result<Vec<Result<QoS, ReasonCode>>, ClientError> {
        self.subscribe_with_properties(subscriptions, SubscribeProperties::default())
            .await
    }

    /// [`Client::subscribe_many`] with MQTT 5.0 properties (subscription identifier, user
    /// properties).
    pub async fn subscribe_with_properties(
        &self,
        subscriptions: Vec<Subscription>,
        properties: SubscribeProperties,
    ) -> Result<Vec<Result<QoS, ReasonCode>>, ClientError> {
        let codes = self
            .request(|reply| Command::Subscribe {
                subscriptions,
                properties,
                reply,
            })
            .await?;
        Ok(codes
            .into_iter()
            .map(|rc| rc.granted_qos().ok_or(rc))
            .collect())
    }

    /// Unsubscribes from one filter. A 5.0 failure code in UNSUBACK is
    /// [`ClientError::UnsubscribeRefused`]; "No subscription existed" is not a failure.
    pub async fn unsubscribe<F>(&self, filter: F) -> Result<(), ClientError>
    where
        F: TryInto<TopicFilter>,
        ClientError: From<F::Error>,
    {
        let filter = filter.try_into()?;
        let results = self.unsubscribe_many(vec![filter]).await?;
        match results.into_iter().find(|rc| rc.is_error()) {
            Some(rc) => Err(ClientError::UnsubscribeRefused(rc)),
            None => Ok(()),
        }
    }

    /// Unsubscribes from several filters in one UNSUBSCRIBE; returns the per-filter reason
    /// codes (MQTT 5.0; empty in 3.x, whose UNSUBACK has none).
    pub async fn unsubscribe_many(
        &self,
        filters: Vec<TopicFilter>,
    ) -> Result<Vec<ReasonCode>, ClientError> {
        self.request(|reply| Command::Unsubscribe { filters, reply })
            .await
    }

    /// Publishes `payload` on `topic` (MyQtt `conn.pub` with wait).
    ///
    /// Resolves when the message is handed to the transport (QoS 0), acknowledged by PUBACK
    /// (QoS 1) or completed by PUBCOMP (QoS 2), with the server's reason code (Success, or e.g.
    /// No matching subscribers in 5.0). A refusal (5.0 code >= 0x80) is
    /// [`ClientError::PublishRefused`]. While disconnected the message waits in the session
    /// queue and is sent after the reconnection.
    pub async fn publish<T>(
        &self,
        topic: T,
        payload: impl Into<Bytes>,
        qos: QoS,
        retain: bool,
    ) -> Result<ReasonCode, ClientError>
    where
        T: TryInto<TopicName>,
        ClientError: From<T::Error>,
    {
        let mut publish = Publish::new(topic.try_into()?, payload);
        publish.qos = qos;
        publish.retain = retain;
        self.publish_message(publish).await
    }

    /// Publishes a prepared message (5.0 properties, ...); see [`Client::publish`]. The packet
    /// identifier and DUP flag are assigned by the session.
    pub async fn publish_message(&self, publish: Publish) -> Result<ReasonCode, ClientError> {
        self.request(|reply| Command::Publish { publish, reply })
            .await
    }

    /// Sends PINGREQ and resolves on PINGRESP (MyQtt `conn.ping`).
    pub async fn ping(&self) -> Result<(), ClientError> {
        self.request(|reply| Command::Ping { reply }).await
    }

    /// Sends DISCONNECT (Normal disconnection) and closes the connection (MyQtt `conn.close`):
    /// the server discards the will. No reconnection follows; operations still waiting fail
    /// with [`ClientError::Closed`], and so do later ones. Closing a closed client succeeds.
    pub async fn close(&self) -> Result<(), ClientError> {
        self.close_with_reason(ReasonCode::Success).await
    }

    /// [`Client::close`] with a 5.0 DISCONNECT reason code (e.g. Disconnect with Will Message,
    /// to have the server publish the will anyway).
    pub async fn close_with_reason(&self, reason: ReasonCode) -> Result<(), ClientError> {
        match self.request(|reply| Command::Close { reason, reply }).await {
            Err(ClientError::Closed) => Ok(()),
            other => other,
        }
    }

    /// Drops the connection at once, without DISCONNECT (MyQtt `conn.shutdown`): the server
    /// publishes the will. No reconnection follows.
    pub fn shutdown(&self) {
        let shutdown = self
            .inner
            .shutdown
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(shutdown) = shutdown {
            let _ = shutdown.send(());
        }
    }

    /// Calls `handler` for every received message (MyQtt `conn.set_msg_received`), replacing
    /// the previous handler. It runs on the client task: keep it short and non-blocking (hand
    /// work to another task). It is independent of [`Client::messages`], which also receives
    /// every message when used. If it comes before any `messages()` call, it is first handed,
    /// in order, the messages received since CONNACK (a resumed session's queued ones).
    pub fn on_message(&self, handler: impl Fn(Publish) + Send + Sync + 'static) {
        self.inner.shared.set_handler(Arc::new(handler));
    }

    /// Received messages as a bounded queue / [`futures_util::Stream`] (capacity
    /// [`ConnectOptions::message_capacity`]). One queue is active at a time: a new call replaces
    /// (and ends) the previous one. The first call (unless [`Client::on_message`] came first)
    /// also gets every message received since CONNACK, such as those a resumed session had
    /// queued, so none is lost before the application starts reading.
    ///
    /// When the queue is full the client stops reading the socket until it has room again:
    /// backpressure goes to the server, memory stays bounded. See [`Messages`].
    pub fn messages(&self) -> Messages {
        Messages::new(self.inner.shared.take_messages(self.inner.message_capacity))
    }

    /// Lifecycle events from now on: disconnections, reconnection attempts, `Reconnected`
    /// (MyQtt `on_reconnect`). See [`Events`].
    pub fn events(&self) -> Events {
        self.inner.shared.subscribe()
    }

    /// Sends a command to the task and waits for its reply, both within the timeout.
    async fn request<T>(
        &self,
        command: impl FnOnce(Reply<T>) -> Command,
    ) -> Result<T, ClientError> {
        let (reply, response) = oneshot::channel();
        let command = command(reply);
        let exchange = async {
            // A clone per request: a futures-channel sender sends through `&mut`.
            self.inner
                .commands
                .clone()
                .send(command)
                .await
                .map_err(|_| ClientError::Closed)?;
            response.await.map_err(|_| ClientError::Closed)?
        };
        timeout::<R, _>(self.timeout, exchange)
            .await
            .ok_or(ClientError::Timeout)?
    }
}
