//! The tokio MQTT server: MyQtt's `Ctx` + `create_listener` + `wait_listeners`.
//!
//! ```no_run
//! use myqtt_tokio::server::{Server, PublishDecision};
//!
//! # async fn run() -> std::io::Result<()> {
//! let server = Server::builder()
//!     .on_publish(|_client, msg| {
//!         if msg.topic.as_str() == "discard/this/topic" { PublishDecision::Discard } else { PublishDecision::Allow }
//!     })
//!     .listen("127.0.0.1:1883")
//!     .start()
//!     .await?;
//! server.wait_for_signal().await; // SIGINT/SIGTERM: graceful stop
//! # Ok(()) }
//! ```

mod actor;
mod connection;
mod hooks;
mod storage;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use myqtt_proto::broker::{Broker, TransportInfo};
use myqtt_proto::codec::{Publish, ReasonCode, Subscription};
use myqtt_proto::topic::TopicFilter;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tracing::{debug, info, warn};

pub use hooks::{BoxFuture, ConnectInfo};
pub use myqtt_proto::broker::{
    BrokerConfig, ClientView, ConnectDecision, ConnectionId, PublishDecision, SubscribeDecision,
};

use crate::ws;
use actor::{Actor, Command};
use hooks::{ActorHooks, Handlers};

/// Bytes queued for one slow client before it is disconnected (its Receive Maximum already
/// bounds QoS 1/2; this bounds QoS 0 floods). 16 MiB.
const DEFAULT_MAX_PENDING_BYTES: usize = 16 * 1024 * 1024;

/// Time a TLS client gets to complete its handshake before its socket is closed.
const DEFAULT_TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Configures and starts a [`Server`].
#[derive(Debug)]
pub struct ServerBuilder {
    config: BrokerConfig,
    listen: Vec<String>,
    handlers: Handlers,
    max_pending_bytes: usize,
    storage: Option<PathBuf>,
    listen_tls: Vec<(String, Arc<rustls::ServerConfig>)>,
    listen_ws: Vec<String>,
    listen_wss: Vec<(String, Arc<rustls::ServerConfig>)>,
    tls_handshake_timeout: Duration,
}

impl ServerBuilder {
    /// Keeps persistent sessions, their queued and in-flight messages, and retained messages
    /// in a database in `dir` (MyQtt `ctx.storage_set_path`): they survive restarts and
    /// crashes. Acknowledgments of QoS 1/2 messages wait until what they changed is on disk
    /// unless [`BrokerConfig::durability`] says otherwise.
    pub fn storage(mut self, dir: impl Into<PathBuf>) -> Self {
        self.storage = Some(dir.into());
        self
    }

    /// Broker limits and policies (defaults: [`BrokerConfig::default`]).
    pub fn config(mut self, config: BrokerConfig) -> Self {
        self.config = config;
        self
    }

    /// Adds a TCP listener (`"0.0.0.0:1883"`, `"[::1]:1883"`; port 0 picks a free one). Several
    /// listeners may be added (MyQtt `create_listener`).
    pub fn listen(mut self, addr: impl Into<String>) -> Self {
        self.listen.push(addr.into());
        self
    }

    /// Adds a TLS listener (MQTT over TLS, usually port 8883; MyQtt `myqtt_tls_listener_new`).
    ///
    /// `tls` comes from [`myqtt_host::tls::ServerTls`]: one certificate, or MyQtt's SNI
    /// handlers (`accept`/`cert`/`key` per server name), optionally requiring client
    /// certificates. Connections accepted here have `is_tls` set, the SNI server name as
    /// `server_name`, and the client certificate's subject as `peer_certificate_subject` in
    /// [`ConnectInfo`] and [`ClientView::transport`]. A failed or slow handshake (see
    /// [`tls_handshake_timeout`](Self::tls_handshake_timeout)) closes only that socket.
    ///
    /// ```no_run
    /// use myqtt_host::tls::{PemSource, ServerTls};
    /// use myqtt_tokio::server::Server;
    ///
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let tls = ServerTls::new()
    ///     .certificate(PemSource::path("server.crt"), PemSource::path("server.key"))
    ///     .build()?;
    /// let server = Server::builder()
    ///     .listen("0.0.0.0:1883")
    ///     .listen_tls("0.0.0.0:8883", tls)
    ///     .start()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn listen_tls(mut self, addr: impl Into<String>, tls: Arc<rustls::ServerConfig>) -> Self {
        self.listen_tls.push((addr.into(), tls));
        self
    }

    /// Adds a WebSocket listener (MQTT over WebSocket, `ws://`; MQTT 5.0 and 3.1.1 §6; MyQtt
    /// `myqtt_web_socket_listener_new`). Any request path is accepted.
    ///
    /// MQTT travels in **binary** frames (MyQtt used text frames) and the server selects the
    /// `mqtt` subprotocol, or `mqttv3.1` for MQTT 3.1 clients that offer only that. A client
    /// offering other subprotocols only is refused with `400 Bad Request`; one offering none
    /// is accepted (leniently: §6 says clients MUST offer `mqtt`). A text frame closes that
    /// connection (close code 1003). The `Host` header, without its port and lowercased,
    /// becomes the connection's `server_name` (MyQtt's serverName, used to pick a domain).
    /// The WebSocket handshake is bounded by
    /// [`tls_handshake_timeout`](Self::tls_handshake_timeout).
    pub fn listen_ws(mut self, addr: impl Into<String>) -> Self {
        self.listen_ws.push(addr.into());
        self
    }

    /// Adds a secure WebSocket listener (`wss://`): TLS as in [`listen_tls`](Self::listen_tls),
    /// then the WebSocket handshake as in [`listen_ws`](Self::listen_ws). Connections have
    /// `is_tls` set; their `server_name` is the TLS SNI name when the client sent one (it chose
    /// the certificate), the `Host` header's name otherwise. Both handshakes together are
    /// bounded by [`tls_handshake_timeout`](Self::tls_handshake_timeout).
    pub fn listen_wss(mut self, addr: impl Into<String>, tls: Arc<rustls::ServerConfig>) -> Self {
        self.listen_wss.push((addr.into(), tls));
        self
    }

    /// Time a TLS or WebSocket client gets to complete its handshake(s) before its socket is
    /// closed (default 10 s), so clients that open a connection and stall cannot hold sockets
    /// forever. For `wss` it bounds the TLS and WebSocket handshakes together.
    pub fn tls_handshake_timeout(mut self, timeout: Duration) -> Self {
        self.tls_handshake_timeout = timeout;
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
        self.handlers.on_connect = Some(Arc::new(move |info| Box::pin(handler(info))));
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

    /// Bytes queued for a client that stopped reading before it is disconnected.
    pub fn max_pending_bytes(mut self, bytes: usize) -> Self {
        self.max_pending_bytes = bytes;
        self
    }

    /// Binds every listener and starts serving. Fails if a listener cannot bind (the error
    /// names the address, e.g. a port in use).
    pub async fn start(mut self) -> io::Result<Server> {
        let mut all = Vec::new();
        for addr in &self.listen {
            all.push((addr, ListenerKind::Tcp));
        }
        for (addr, tls) in &self.listen_tls {
            all.push((addr, ListenerKind::Tls(TlsAcceptor::from(tls.clone()))));
        }
        for addr in &self.listen_ws {
            all.push((addr, ListenerKind::Ws));
        }
        for (addr, tls) in &self.listen_wss {
            all.push((addr, ListenerKind::Wss(TlsAcceptor::from(tls.clone()))));
        }
        let mut listeners = Vec::new();
        for (addr, kind) in all {
            let listener = TcpListener::bind(addr.as_str())
                .await
                .map_err(|e| io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}")))?;
            listeners.push((listener, kind));
        }
        let (tx, rx) = mpsc::channel(1024);
        let opened = match self.storage.clone() {
            Some(dir) => {
                let opened =
                    tokio::task::spawn_blocking(move || storage::open(&dir).map_err(|e| (dir, e)))
                        .await
                        .map_err(io::Error::other)?;
                let (store, snapshot) = opened.map_err(|(dir, e)| {
                    io::Error::other(format!("storage {}: {e}", dir.display()))
                })?;
                self.config.persistence = true;
                Some((store, snapshot))
            }
            None => None,
        };
        let hooks = ActorHooks {
            handlers: self.handlers,
            deferred: Vec::new(),
        };
        let mut broker = Broker::with_hooks(self.config, hooks);
        let clock = crate::Clock::new();
        let mut actor_store = None;
        let mut store_thread = None;
        if let Some((store, snapshot)) = opened {
            info!(
                sessions = snapshot.sessions.len(),
                retained = snapshot.retained.len(),
                "storage loaded"
            );
            broker.restore(clock.now(), snapshot);
            let (batches, thread) = storage::spawn(store, tx.clone())?;
            actor_store = Some(batches);
            store_thread = Some(thread);
        }
        let mut actor = Actor::new(broker, rx, tx.clone(), self.max_pending_bytes);
        actor.store = actor_store;
        actor.clock = clock;
        let actor_task = tokio::spawn(actor.run());
        let mut local_addrs = Vec::new();
        let mut accept_tasks = Vec::new();
        for (listener, kind) in listeners {
            let addr = listener.local_addr()?;
            info!(%addr, "listening ({})", kind.label());
            local_addrs.push(addr);
            accept_tasks.push(tokio::spawn(accept_loop(
                listener,
                kind,
                self.tls_handshake_timeout,
                tx.clone(),
            )));
        }
        Ok(Server {
            tx,
            local_addrs,
            accept_tasks,
            actor_task: Some(actor_task),
            store_thread,
        })
    }
}

/// What a listener speaks on top of TCP.
#[derive(Clone)]
enum ListenerKind {
    /// MQTT on the bare socket.
    Tcp,
    /// MQTT over TLS.
    Tls(TlsAcceptor),
    /// MQTT over WebSocket.
    Ws,
    /// MQTT over WebSocket over TLS.
    Wss(TlsAcceptor),
}

impl ListenerKind {
    fn label(&self) -> &'static str {
        match self {
            ListenerKind::Tcp => "mqtt",
            ListenerKind::Tls(_) => "mqtt over tls",
            ListenerKind::Ws => "mqtt over websocket",
            ListenerKind::Wss(_) => "mqtt over secure websocket",
        }
    }
}

async fn accept_loop(
    listener: TcpListener,
    kind: ListenerKind,
    handshake_timeout: Duration,
    actor: mpsc::Sender<Command>,
) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                let _ = stream.set_nodelay(true);
                let transport = TransportInfo {
                    remote_addr: Some(peer.to_string()),
                    ..Default::default()
                };
                let actor = actor.clone();
                match &kind {
                    ListenerKind::Tcp => {
                        tokio::spawn(connection::serve::<TcpStream>(stream, transport, actor));
                    }
                    kind => {
                        let kind = kind.clone();
                        tokio::spawn(async move {
                            let handshake = handshake(stream, kind, transport, actor);
                            if tokio::time::timeout(handshake_timeout, handshake)
                                .await
                                .is_err()
                            {
                                debug!(%peer, "handshake timed out");
                            }
                        });
                    }
                }
            }
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                warn!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Runs the TLS and/or WebSocket handshakes of one accepted socket, then spawns its
/// connection (outside the handshake timeout).
async fn handshake(
    stream: TcpStream,
    kind: ListenerKind,
    mut transport: TransportInfo,
    actor: mpsc::Sender<Command>,
) {
    let peer = transport.remote_addr.clone().unwrap_or_default();
    match kind {
        ListenerKind::Tcp => {
            tokio::spawn(connection::serve::<TcpStream>(stream, transport, actor));
        }
        ListenerKind::Tls(acceptor) => {
            let Some(stream) = tls_accept(&acceptor, stream, &mut transport).await else {
                return;
            };
            tokio::spawn(connection::serve::<TlsStream<TcpStream>>(
                stream, transport, actor,
            ));
        }
        ListenerKind::Ws => match ws::accept(stream).await {
            Ok((stream, host)) => {
                transport.server_name = host;
                tokio::spawn(connection::serve::<ws::WsStream<TcpStream>>(
                    stream, transport, actor,
                ));
            }
            Err(e) => debug!(%peer, "WebSocket handshake failed: {e}"),
        },
        ListenerKind::Wss(acceptor) => {
            let Some(stream) = tls_accept(&acceptor, stream, &mut transport).await else {
                return;
            };
            match ws::accept(stream).await {
                Ok((stream, host)) => {
                    // The TLS server name (SNI) wins: it chose the certificate.
                    if transport.server_name.is_none() {
                        transport.server_name = host;
                    }
                    tokio::spawn(connection::serve::<ws::WsStream<TlsStream<TcpStream>>>(
                        stream, transport, actor,
                    ));
                }
                Err(e) => debug!(%peer, "WebSocket handshake failed: {e}"),
            }
        }
    }
}

/// The TLS handshake; fills in the TLS fields of `transport`.
async fn tls_accept(
    acceptor: &TlsAcceptor,
    stream: TcpStream,
    transport: &mut TransportInfo,
) -> Option<TlsStream<TcpStream>> {
    match acceptor.accept(stream).await {
        Ok(stream) => {
            let session = myqtt_host::tls::TlsSessionInfo::from_server(stream.get_ref().1);
            transport.peer_certificate_subject = session.peer_identity();
            transport.server_name = session.server_name;
            transport.is_tls = true;
            Some(stream)
        }
        Err(e) => {
            let peer = transport.remote_addr.as_deref().unwrap_or("?");
            debug!(%peer, "TLS handshake failed: {e}");
            None
        }
    }
}

/// A running MQTT server.
#[derive(Debug)]
pub struct Server {
    tx: mpsc::Sender<Command>,
    local_addrs: Vec<SocketAddr>,
    accept_tasks: Vec<JoinHandle<()>>,
    actor_task: Option<JoinHandle<()>>,
    store_thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    /// A builder with default configuration and no listener.
    pub fn builder() -> ServerBuilder {
        ServerBuilder {
            config: BrokerConfig::default(),
            listen: Vec::new(),
            handlers: Handlers::default(),
            max_pending_bytes: DEFAULT_MAX_PENDING_BYTES,
            storage: None,
            listen_tls: Vec::new(),
            listen_ws: Vec::new(),
            listen_wss: Vec::new(),
            tls_handshake_timeout: DEFAULT_TLS_HANDSHAKE_TIMEOUT,
        }
    }

    /// The addresses the listeners are bound to (useful with port 0): the TCP listeners in the
    /// order they were added, then the TLS, the WebSocket and the secure WebSocket listeners,
    /// each kind in the order it was added.
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.local_addrs
    }

    /// Publishes a message from the server itself to every matching subscription; returns how
    /// many sessions it reached.
    pub async fn publish(&self, publish: Publish) -> usize {
        let (reply, rx) = oneshot::channel();
        if self
            .tx
            .send(Command::Publish {
                publish: Box::new(publish),
                reply,
            })
            .await
            .is_err()
        {
            return 0;
        }
        rx.await.unwrap_or(0)
    }

    /// Closes one client's connection (MyQtt `conn.shutdown()`); 5.0 clients get DISCONNECT
    /// with `reason`.
    pub async fn disconnect(&self, connection: ConnectionId, reason: ReasonCode) {
        let _ = self
            .tx
            .send(Command::Disconnect {
                id: connection,
                reason,
            })
            .await;
    }

    /// Graceful stop: stop accepting, send DISCONNECT "Server shutting down" to 5.0 clients,
    /// close every connection.
    pub async fn shutdown(mut self) {
        self.stop().await;
    }

    async fn stop(&mut self) {
        for task in &self.accept_tasks {
            task.abort();
        }
        let (reply, done) = oneshot::channel();
        if self.tx.send(Command::Shutdown { reply }).await.is_ok() {
            let _ = done.await;
        }
        if let Some(task) = self.actor_task.take() {
            let _ = task.await;
        }
        // The actor is gone, so is the batch sender: the store thread commits what is left
        // and ends, closing the database.
        if let Some(thread) = self.store_thread.take() {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
        info!("server stopped");
    }

    /// Waits for SIGINT or SIGTERM, then stops gracefully (MyQtt
    /// `wait_listeners(ctx, unlock_on_signal=True)`).
    pub async fn wait_for_signal(mut self) {
        wait_signal().await;
        info!("signal received, stopping");
        self.stop().await;
    }
}

#[cfg(unix)]
async fn wait_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[cfg(not(unix))]
async fn wait_signal() {
    let _ = tokio::signal::ctrl_c().await;
}
