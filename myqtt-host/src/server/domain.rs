//! Domains (MyQttD's virtual hosts): each one is a broker of its own — sessions, subscriptions,
//! retained messages, storage, limits and handlers — run by its own actor. Traffic never
//! crosses domains because nothing is shared between their brokers.

use std::future::Future;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures_channel::{mpsc, oneshot};
use futures_util::SinkExt;
use myqtt_proto::broker::SubscribeDecision;
use myqtt_proto::broker::{Broker, BrokerConfig, ClientView, ConnectDecision, PublishDecision};
use myqtt_proto::codec::{Publish, Subscription};
use myqtt_proto::topic::TopicFilter;
use tracing::info;

use super::actor::{Actor, Command};
use super::hooks::{ActorHooks, ClosedInfo, ConnectFn, ConnectInfo, Handlers};
use super::storage;
use crate::clock::Clock;
use crate::runtime::Runtime;

/// Bytes queued for one slow client before it is disconnected (its Receive Maximum already
/// bounds QoS 1/2; this bounds QoS 0 floods). 16 MiB.
const DEFAULT_MAX_PENDING_BYTES: usize = 16 * 1024 * 1024;

/// Everything one broker needs: limits, storage and the application's handlers.
///
/// [`Server::builder`](super::Server::builder) configures the default domain with the same
/// methods; [`ServerBuilder::domain`](super::ServerBuilder::domain) and
/// [`Server::add_domain`](super::Server::add_domain) add named ones (MyQttD's `<domain>`).
///
/// ```no_run
/// use myqtt_host::runtime::Runtime;
/// use myqtt_host::server::{ConnectDecision, Domain, Server};
///
/// # async fn run<R: Runtime>() -> std::io::Result<()> {
/// let server = Server::<R>::builder()
///     .domain(
///         "example.com",
///         Domain::new()
///             .storage("/var/lib/myqttd/example.com")
///             .on_connect(|info| async move {
///                 if info.username.as_deref() == Some("alice") {
///                     ConnectDecision::Accept
///                 } else {
///                     ConnectDecision::Reject(myqtt_proto::ReasonCode::NotAuthorized)
///                 }
///             }),
///     )
///     .listen("0.0.0.0:1883")
///     .start()
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Domain {
    pub(crate) config: BrokerConfig,
    pub(crate) storage: Option<PathBuf>,
    pub(crate) handlers: Handlers,
    pub(crate) max_pending_bytes: usize,
}

impl Default for Domain {
    fn default() -> Self {
        Domain {
            config: BrokerConfig::default(),
            storage: None,
            handlers: Handlers::default(),
            max_pending_bytes: DEFAULT_MAX_PENDING_BYTES,
        }
    }
}

impl Domain {
    /// A domain with default limits, no storage and no handlers (everyone accepted, everything
    /// allowed).
    pub fn new() -> Self {
        Self::default()
    }

    /// Keeps persistent sessions, their queued and in-flight messages, and retained messages
    /// in a database in `dir` (MyQtt `ctx.storage_set_path`): they survive restarts and
    /// crashes. Acknowledgments of QoS 1/2 messages wait until what they changed is on disk
    /// unless [`BrokerConfig::durability`] says otherwise. Each domain needs its own directory.
    pub fn storage(mut self, dir: impl Into<PathBuf>) -> Self {
        self.storage = Some(dir.into());
        self
    }

    /// Broker limits and policies (defaults: [`BrokerConfig::default`]).
    pub fn config(mut self, config: BrokerConfig) -> Self {
        self.config = config;
        self
    }

    /// Authentication handler (MyQtt `set_on_connect`, the SASL auth handler): runs for every
    /// CONNECT and may be async (checking a database, say). While it runs the client waits for
    /// its CONNACK (MyQtt's DEFERRED).
    pub fn on_connect<F, Fut>(mut self, handler: F) -> Self
    where
        F: Fn(ConnectInfo) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ConnectDecision> + Send + 'static,
    {
        let handler: ConnectFn = Arc::new(move |info| Box::pin(handler(info)));
        self.handlers.on_connect = Some(handler);
        self
    }

    /// Publish handler (MyQtt `set_on_publish`): Allow (PUBLISH_OK), Discard (PUBLISH_DISCARD;
    /// the publisher still gets its PUBACK/PUBREC), Refuse(code) or Close.
    pub fn on_publish<F>(mut self, handler: F) -> Self
    where
        F: Fn(&ClientView<'_>, &Publish) -> PublishDecision + Send + Sync + 'static,
    {
        self.handlers.on_publish = Some(Arc::new(handler));
        self
    }

    /// Subscribe handler: grant a QoS (possibly lower) or deny, per topic filter.
    pub fn on_subscribe<F>(mut self, handler: F) -> Self
    where
        F: Fn(&ClientView<'_>, &Subscription) -> SubscribeDecision + Send + Sync + 'static,
    {
        self.handlers.on_subscribe = Some(Arc::new(handler));
        self
    }

    /// Unsubscribe notification.
    pub fn on_unsubscribe<F>(mut self, handler: F) -> Self
    where
        F: Fn(&ClientView<'_>, &TopicFilter) + Send + Sync + 'static,
    {
        self.handlers.on_unsubscribe = Some(Arc::new(handler));
        self
    }

    /// Connection-closed notification (MyQtt `set_on_close`): runs once per connection that
    /// completed its CONNECT, whatever closed it.
    pub fn on_disconnect<F>(mut self, handler: F) -> Self
    where
        F: Fn(&ClosedInfo) + Send + Sync + 'static,
    {
        self.handlers.on_disconnect = Some(Arc::new(handler));
        self
    }

    /// Bytes queued for a client that stopped reading before it is disconnected (default
    /// 16 MiB). Past a quarter of it the connection is congested: QoS 0 messages to it are
    /// dropped (reported as `DropReason::Congested`) until its backlog is down to a
    /// sixteenth; a congested connection whose backlog does not shrink for 5 s is
    /// disconnected too.
    pub fn max_pending_bytes(mut self, bytes: usize) -> Self {
        self.max_pending_bytes = bytes;
        self
    }

    /// Opens the storage, restores it and starts the actor. `name` is `None` for the default
    /// domain.
    pub(crate) async fn start<R: Runtime>(
        mut self,
        name: Option<Arc<str>>,
    ) -> io::Result<RunningDomain<R>> {
        let (tx, rx) = mpsc::channel(1024);
        let opened = match self.storage.clone() {
            Some(dir) => {
                let opened = R::spawn_blocking(move || storage::open(&dir).map_err(|e| (dir, e)))
                    .await
                    .ok_or_else(|| io::Error::other("opening the storage panicked"))?;
                let (store, snapshot) = opened.map_err(|(dir, e)| {
                    io::Error::other(format!("storage {}: {e}", dir.display()))
                })?;
                self.config.persistence = true;
                Some((store, snapshot))
            }
            None => None,
        };
        let route = DomainRoute {
            name: name.clone(),
            tx: tx.clone(),
            on_connect: self.handlers.on_connect.clone(),
            max_packet_size: self.config.max_packet_size,
            connect_timeout: self.config.connect_timeout.into(),
        };
        let mut hooks = ActorHooks::new(self.handlers, tx.clone());
        hooks.domain = name.clone();
        let mut broker = Broker::with_hooks(self.config, hooks);
        let clock = Clock::new();
        let mut actor_store = None;
        let mut durable = None;
        let mut store_thread = None;
        if let Some((store, snapshot)) = opened {
            info!(
                domain = name.as_deref().unwrap_or("-"),
                sessions = snapshot.sessions.len(),
                retained = snapshot.retained.len(),
                "storage loaded"
            );
            broker.restore(clock.now(), snapshot);
            let (durable_tx, durable_rx) = mpsc::unbounded();
            let (batches, thread) = storage::spawn(store, durable_tx, name.clone())?;
            actor_store = Some(batches);
            durable = Some(durable_rx);
            store_thread = Some(thread);
        }
        let mut actor = Actor::<R>::new(broker, rx, tx, self.max_pending_bytes);
        actor.store = actor_store;
        actor.durable = durable;
        actor.clock = clock;
        actor.domain = name;
        Ok(RunningDomain {
            route,
            actor_task: R::spawn(actor.run()),
            store_thread,
        })
    }
}

/// How connections reach one running domain.
#[derive(Clone)]
pub(crate) struct DomainRoute {
    /// `None` for the default domain.
    pub(crate) name: Option<Arc<str>>,
    /// The domain's actor.
    pub(crate) tx: mpsc::Sender<Command>,
    /// The domain's authentication handler, used to probe it before routing.
    pub(crate) on_connect: Option<ConnectFn>,
    /// Largest CONNECT read before the domain is known.
    pub(crate) max_packet_size: usize,
    /// Time a client gets to send its CONNECT.
    pub(crate) connect_timeout: Duration,
}

impl std::fmt::Debug for DomainRoute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DomainRoute")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// A started domain: its route and what must be stopped.
pub(crate) struct RunningDomain<R: Runtime> {
    pub(crate) route: DomainRoute,
    actor_task: R::Task,
    store_thread: Option<std::thread::JoinHandle<()>>,
}

impl<R: Runtime> std::fmt::Debug for RunningDomain<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningDomain")
            .field("route", &self.route)
            .finish_non_exhaustive()
    }
}

impl<R: Runtime> RunningDomain<R> {
    /// Graceful stop: DISCONNECT "Server shutting down" to 5.0 clients, every connection
    /// closed, storage flushed and closed.
    pub(crate) async fn stop(self) {
        let (reply, done) = oneshot::channel();
        if self
            .route
            .tx
            .clone()
            .send(Command::Shutdown { reply })
            .await
            .is_ok()
        {
            let _ = done.await;
        }
        let _ = self.actor_task.await;
        // The actor is gone, so is the batch sender: the store thread commits what is left
        // and ends, closing the database.
        if let Some(thread) = self.store_thread {
            let _ = R::spawn_blocking(move || thread.join()).await;
        }
    }
}
