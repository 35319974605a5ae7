//! The MQTT server, written once for every runtime: MyQtt's `Ctx` + `create_listener` +
//! `wait_listeners`. `myqtt-tokio` and `myqtt-smol` re-export it instantiated with their
//! [`Runtime`] (`myqtt_tokio::server::Server` is `Server<Tokio>`).
//!
//! One actor task per [domain](Domain) owns the sans-IO [`Broker`](myqtt_proto::broker::Broker)
//! and serializes every input to it; each connection is a task that reads the socket into the
//! actor and writes what the actor produced for it (all queued bytes, then one flush). TLS runs
//! on `futures-rustls`, WebSocket on [`crate::ws`], storage on a commit thread.
//!
//! ```no_run
//! use myqtt_host::runtime::Runtime;
//! use myqtt_host::server::{PublishDecision, Server};
//!
//! # async fn run<R: Runtime>() -> std::io::Result<()> {
//! let server = Server::<R>::builder()
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
mod domain;
mod framing;
mod hooks;
mod router;
mod storage;

use std::future::Future;
use std::io;
use std::marker::PhantomData;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use async_lock::Mutex;
use futures_channel::{mpsc, oneshot};
use futures_rustls::TlsAcceptor;
use futures_rustls::server::TlsStream;
use futures_util::SinkExt;
use myqtt_proto::broker::TransportInfo;
use myqtt_proto::codec::{Publish, ReasonCode, Subscription};
use myqtt_proto::topic::TopicFilter;
use tracing::{debug, info, warn};

pub use domain::Domain;
pub use hooks::{BoxFuture, ClosedInfo, ConnectInfo, ConnectionHandle};
pub use myqtt_proto::broker::{
    BrokerConfig, ClientView, ConnectDecision, ConnectionId, PublishDecision, SubscribeDecision,
};
pub use myqtt_proto::server::CloseCause;

use crate::runtime::{Runtime, sleep, timeout};
use crate::ws;
use actor::Command;
use domain::RunningDomain;
use router::{RouteTable, Routes};

/// Time a TLS client gets to complete its handshake before its socket is closed.
const DEFAULT_TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Configures and starts a [`Server`]; made by [`Server::builder`].
pub struct ServerBuilder<R> {
    default: Domain,
    domains: Vec<(String, Domain)>,
    listen: Vec<String>,
    listen_tls: Vec<(String, Arc<rustls::ServerConfig>)>,
    listen_ws: Vec<String>,
    listen_wss: Vec<(String, Arc<rustls::ServerConfig>)>,
    tls_handshake_timeout: Duration,
    runtime: PhantomData<fn() -> R>,
}

impl<R> std::fmt::Debug for ServerBuilder<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerBuilder")
            .field("default", &self.default)
            .field("domains", &self.domains)
            .field("listen", &self.listen)
            .field("listen_tls", &self.listen_tls)
            .field("listen_ws", &self.listen_ws)
            .field("listen_wss", &self.listen_wss)
            .field("tls_handshake_timeout", &self.tls_handshake_timeout)
            .finish()
    }
}

impl<R: Runtime> ServerBuilder<R> {
    /// Keeps persistent sessions, their queued and in-flight messages, and retained messages
    /// in a database in `dir` (MyQtt `ctx.storage_set_path`): they survive restarts and
    /// crashes. Acknowledgments of QoS 1/2 messages wait until what they changed is on disk
    /// unless [`BrokerConfig::durability`] says otherwise. (For the default domain; each
    /// [`Domain`] has its own.)
    pub fn storage(mut self, dir: impl Into<PathBuf>) -> Self {
        self.default = self.default.storage(dir);
        self
    }

    /// Broker limits and policies (defaults: [`BrokerConfig::default`]) of the default domain.
    pub fn config(mut self, config: BrokerConfig) -> Self {
        self.default = self.default.config(config);
        self
    }

    /// Replaces everything configured so far for the default domain (storage, limits,
    /// handlers) with `domain`.
    pub fn default_domain(mut self, domain: Domain) -> Self {
        self.default = domain;
        self
    }

    /// Adds a named domain (MyQttD's virtual hosts): a broker of its own with its own
    /// sessions, subscriptions, retained messages, storage, limits and handlers; no message
    /// crosses from one domain to another. A connection reaches a domain by a client id or
    /// user name ending in `@name` (the suffix is removed), by a TLS SNI name or WebSocket
    /// `Host` equal to `name`, or else by being the first named domain whose `on_connect`
    /// accepts it; a connection that matches none goes to the default domain (everything this
    /// builder configures directly). With named domains the server reads each CONNECT before
    /// handing the connection over; without, connections go straight to the default domain.
    ///
    /// Names compare case-insensitively; a name must be non-empty and contain no `@`, `/`,
    /// backslash or whitespace (checked by [`start`](Self::start)).
    pub fn domain(mut self, name: impl Into<String>, domain: Domain) -> Self {
        self.domains.push((name.into(), domain));
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
    /// `tls` comes from [`ServerTls`](crate::tls::ServerTls): one certificate, or MyQtt's SNI
    /// handlers (`accept`/`cert`/`key` per server name), optionally requiring client
    /// certificates. Connections accepted here have `is_tls` set, the SNI server name as
    /// `server_name`, and the client certificate's subject as `peer_certificate_subject` in
    /// [`ConnectInfo`] and [`ClientView::transport`]. A failed or slow handshake (see
    /// [`tls_handshake_timeout`](Self::tls_handshake_timeout)) closes only that socket.
    ///
    /// ```no_run
    /// use myqtt_host::runtime::Runtime;
    /// use myqtt_host::server::Server;
    /// use myqtt_host::tls::{PemSource, ServerTls};
    ///
    /// # async fn run<R: Runtime>() -> Result<(), Box<dyn std::error::Error>> {
    /// let tls = ServerTls::new()
    ///     .certificate(PemSource::path("server.crt"), PemSource::path("server.key"))
    ///     .build()?;
    /// let server = Server::<R>::builder()
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

    /// Authentication handler of the default domain (MyQtt `set_on_connect`, the SASL auth
    /// handler); see [`Domain::on_connect`].
    pub fn on_connect<F, Fut>(mut self, handler: F) -> Self
    where
        F: Fn(ConnectInfo) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ConnectDecision> + Send + 'static,
    {
        self.default = self.default.on_connect(handler);
        self
    }

    /// Publish handler of the default domain (MyQtt `set_on_publish`); see
    /// [`Domain::on_publish`].
    pub fn on_publish<F>(mut self, handler: F) -> Self
    where
        F: Fn(&ClientView<'_>, &Publish) -> PublishDecision + Send + Sync + 'static,
    {
        self.default = self.default.on_publish(handler);
        self
    }

    /// Subscribe handler of the default domain; see [`Domain::on_subscribe`].
    pub fn on_subscribe<F>(mut self, handler: F) -> Self
    where
        F: Fn(&ClientView<'_>, &Subscription) -> SubscribeDecision + Send + Sync + 'static,
    {
        self.default = self.default.on_subscribe(handler);
        self
    }

    /// Unsubscribe notification of the default domain; see [`Domain::on_unsubscribe`].
    pub fn on_unsubscribe<F>(mut self, handler: F) -> Self
    where
        F: Fn(&ClientView<'_>, &TopicFilter) + Send + Sync + 'static,
    {
        self.default = self.default.on_unsubscribe(handler);
        self
    }

    /// Connection-closed notification of the default domain (MyQtt `set_on_close`); see
    /// [`Domain::on_disconnect`].
    pub fn on_disconnect<F>(mut self, handler: F) -> Self
    where
        F: Fn(&ClosedInfo) + Send + Sync + 'static,
    {
        self.default = self.default.on_disconnect(handler);
        self
    }

    /// Bytes queued for a client of the default domain that stopped reading before it is
    /// disconnected; see [`Domain::max_pending_bytes`].
    pub fn max_pending_bytes(mut self, bytes: usize) -> Self {
        self.default = self.default.max_pending_bytes(bytes);
        self
    }

    /// Binds every listener, opens every domain's storage and starts serving. Fails if a
    /// listener cannot bind (the error names the address, e.g. a port in use), a storage
    /// cannot be opened, or a domain name is invalid or repeated.
    pub async fn start(self) -> io::Result<Server<R>> {
        let mut names: Vec<&str> = Vec::new();
        for (name, _) in &self.domains {
            check_domain_name(name)?;
            if names.iter().any(|n| n.eq_ignore_ascii_case(name)) {
                return Err(invalid(format!("domain {name:?} is configured twice")));
            }
            names.push(name);
        }
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
            let listener = R::bind_tcp(addr.as_str())
                .await
                .map_err(|e| io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}")))?;
            listeners.push((listener, kind));
        }
        let mut running = vec![self.default.start::<R>(None).await?];
        for (name, domain) in self.domains {
            match domain.start::<R>(Some(name.into())).await {
                Ok(d) => running.push(d),
                Err(e) => {
                    for d in running {
                        d.stop().await;
                    }
                    return Err(e);
                }
            }
        }
        let routes = Arc::new(Routes::new(RouteTable {
            default: running[0].route.clone(),
            named: running[1..].iter().map(|d| d.route.clone()).collect(),
        }));
        let mut local_addrs = Vec::new();
        let mut accept_tasks = Vec::new();
        for (listener, kind) in listeners {
            let addr = R::local_addr(&listener)?;
            info!(%addr, "listening ({})", kind.label());
            local_addrs.push(addr);
            accept_tasks.push(R::spawn(accept_loop::<R>(
                listener,
                kind,
                self.tls_handshake_timeout,
                routes.clone(),
            )));
        }
        Ok(Server {
            routes,
            domains: Mutex::new(running),
            local_addrs,
            accept_tasks: std::sync::Mutex::new(accept_tasks),
        })
    }
}

/// See [`crate::config::check_domain_name`].
fn check_domain_name(name: &str) -> io::Result<()> {
    crate::config::check_domain_name(name).map_err(invalid)
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
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

async fn accept_loop<R: Runtime>(
    listener: R::TcpListener,
    kind: ListenerKind,
    handshake_timeout: Duration,
    routes: Arc<Routes>,
) {
    loop {
        match R::accept(&listener).await {
            Ok((stream, peer)) => {
                let transport = TransportInfo {
                    remote_addr: Some(peer.to_string()),
                    ..Default::default()
                };
                let routes = routes.clone();
                // Connection tasks are detached: dropping their handles does not stop them.
                match &kind {
                    ListenerKind::Tcp => {
                        drop(R::spawn(connection::serve::<R, R::TcpStream>(
                            stream, transport, routes,
                        )));
                    }
                    kind => {
                        let kind = kind.clone();
                        drop(R::spawn(async move {
                            let handshake = handshake::<R>(stream, kind, transport, routes);
                            if timeout::<R, _>(handshake_timeout, handshake)
                                .await
                                .is_none()
                            {
                                debug!(%peer, "handshake timed out");
                            }
                        }));
                    }
                }
            }
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                warn!("accept failed: {e}");
                sleep::<R>(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Runs the TLS and/or WebSocket handshakes of one accepted socket, then spawns its
/// connection (outside the handshake timeout).
async fn handshake<R: Runtime>(
    stream: R::TcpStream,
    kind: ListenerKind,
    mut transport: TransportInfo,
    routes: Arc<Routes>,
) {
    let peer = transport.remote_addr.clone().unwrap_or_default();
    let task = match kind {
        ListenerKind::Tcp => R::spawn(connection::serve::<R, R::TcpStream>(
            stream, transport, routes,
        )),
        ListenerKind::Tls(acceptor) => {
            let Some(stream) = tls_accept(&acceptor, stream, &mut transport).await else {
                return;
            };
            R::spawn(connection::serve::<R, TlsStream<R::TcpStream>>(
                stream, transport, routes,
            ))
        }
        ListenerKind::Ws => match ws::accept(stream).await {
            Ok((stream, host)) => {
                transport.server_name = host;
                R::spawn(connection::serve::<R, ws::WsStream<R::TcpStream>>(
                    stream, transport, routes,
                ))
            }
            Err(e) => {
                debug!(%peer, "WebSocket handshake failed: {e}");
                return;
            }
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
                    R::spawn(
                        connection::serve::<R, ws::WsStream<TlsStream<R::TcpStream>>>(
                            stream, transport, routes,
                        ),
                    )
                }
                Err(e) => {
                    debug!(%peer, "WebSocket handshake failed: {e}");
                    return;
                }
            }
        }
    };
    // Detached: the connection outlives its handshake task.
    drop(task);
}

/// The TLS handshake; fills in the TLS fields of `transport`.
async fn tls_accept<S>(
    acceptor: &TlsAcceptor,
    stream: S,
    transport: &mut TransportInfo,
) -> Option<TlsStream<S>>
where
    S: futures_io::AsyncRead + futures_io::AsyncWrite + Unpin,
{
    match acceptor.accept(stream).await {
        Ok(stream) => {
            let session = crate::tls::TlsSessionInfo::from_server(stream.get_ref().1);
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

/// A running MQTT server on the runtime `R`; dropping it without
/// [`shutdown`](Self::shutdown) leaves it serving in the background.
pub struct Server<R: Runtime> {
    routes: Arc<Routes>,
    /// The default domain first, then the named ones.
    domains: Mutex<Vec<RunningDomain<R>>>,
    local_addrs: Vec<SocketAddr>,
    /// In a mutex only so that the server is `Sync` whatever `R::Task` is.
    accept_tasks: std::sync::Mutex<Vec<R::Task>>,
}

impl<R: Runtime> std::fmt::Debug for Server<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("routes", &self.routes)
            .field("local_addrs", &self.local_addrs)
            .finish_non_exhaustive()
    }
}

impl<R: Runtime> Server<R> {
    /// A builder with default configuration and no listener.
    pub fn builder() -> ServerBuilder<R> {
        ServerBuilder {
            default: Domain::default(),
            domains: Vec::new(),
            listen: Vec::new(),
            listen_tls: Vec::new(),
            listen_ws: Vec::new(),
            listen_wss: Vec::new(),
            tls_handshake_timeout: DEFAULT_TLS_HANDSHAKE_TIMEOUT,
            runtime: PhantomData,
        }
    }

    /// The addresses the listeners are bound to (useful with port 0): the TCP listeners in the
    /// order they were added, then the TLS, the WebSocket and the secure WebSocket listeners,
    /// each kind in the order it was added.
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.local_addrs
    }

    /// Publishes a message from the server itself to every matching subscription of the
    /// default domain; returns how many sessions it reached.
    pub async fn publish(&self, publish: Publish) -> usize {
        let tx = self.routes.current().default.tx.clone();
        Self::publish_via(&tx, publish).await
    }

    /// Publishes a message from the server itself in the named domain; `None` if there is no
    /// such domain.
    pub async fn publish_in(&self, domain: &str, publish: Publish) -> Option<usize> {
        let table = self.routes.current();
        let route = table.named.iter().find(|d| {
            d.name
                .as_deref()
                .is_some_and(|n| n.eq_ignore_ascii_case(domain))
        })?;
        Some(Self::publish_via(&route.tx, publish).await)
    }

    async fn publish_via(tx: &mpsc::Sender<Command>, publish: Publish) -> usize {
        let (reply, rx) = oneshot::channel();
        let publish = Box::new(publish);
        let mut tx = tx.clone();
        if tx.send(Command::Publish { publish, reply }).await.is_err() {
            return 0;
        }
        rx.await.unwrap_or(0)
    }

    /// Closes one client's connection in the default domain (MyQtt `conn.shutdown()`); 5.0
    /// clients get DISCONNECT with `reason`. [`ConnectInfo::handle`] does the same for a
    /// connection of any domain.
    pub async fn disconnect(&self, connection: ConnectionId, reason: ReasonCode) {
        let mut tx = self.routes.current().default.tx.clone();
        let _ = tx
            .send(Command::Disconnect {
                id: connection,
                reason,
            })
            .await;
    }

    /// The names of the named domains, in the order they were added.
    pub async fn domain_names(&self) -> Vec<String> {
        let domains = self.domains.lock().await;
        domains
            .iter()
            .filter_map(|d| d.route.name.as_deref().map(str::to_owned))
            .collect()
    }

    /// Adds a named domain while the server runs (MyQttD reload, test_21): new connections
    /// can reach it at once; established ones are untouched. Fails if the name is invalid or
    /// taken, or its storage cannot be opened.
    pub async fn add_domain(&self, name: &str, domain: Domain) -> io::Result<()> {
        check_domain_name(name)?;
        let mut domains = self.domains.lock().await;
        let taken = domains.iter().any(|d| {
            d.route
                .name
                .as_deref()
                .is_some_and(|n| n.eq_ignore_ascii_case(name))
        });
        if taken {
            return Err(invalid(format!("domain {name:?} exists already")));
        }
        let running = domain.start::<R>(Some(name.into())).await?;
        let route = running.route.clone();
        domains.push(running);
        self.routes.update(|table| table.named.push(route));
        info!(domain = name, "domain added");
        Ok(())
    }

    /// Removes a named domain: new connections no longer reach it, its clients are
    /// disconnected (5.0: "Server shutting down") and its storage is flushed and closed.
    /// Returns false if there is no such domain.
    pub async fn remove_domain(&self, name: &str) -> bool {
        let mut domains = self.domains.lock().await;
        let Some(index) = domains.iter().position(|d| {
            d.route
                .name
                .as_deref()
                .is_some_and(|n| n.eq_ignore_ascii_case(name))
        }) else {
            return false;
        };
        let removed = domains.remove(index);
        self.routes.update(|table| {
            table.named.retain(|d| {
                !d.name
                    .as_deref()
                    .is_some_and(|n| n.eq_ignore_ascii_case(name))
            });
        });
        drop(domains);
        removed.stop().await;
        info!(domain = name, "domain removed");
        true
    }

    /// Graceful stop: stop accepting, send DISCONNECT "Server shutting down" to 5.0 clients,
    /// close every connection, flush and close every storage.
    pub async fn shutdown(self) {
        let tasks = self
            .accept_tasks
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner);
        for task in tasks {
            R::abort(task);
        }
        let domains = self.domains.into_inner();
        for domain in domains {
            domain.stop().await;
        }
        info!("server stopped");
    }

    /// Waits for SIGINT or SIGTERM, then stops gracefully (MyQtt
    /// `wait_listeners(ctx, unlock_on_signal=True)`).
    pub async fn wait_for_signal(self) {
        R::stop_signal().await;
        info!("signal received, stopping");
        self.shutdown().await;
    }
}
