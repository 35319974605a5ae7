//! Transports: how the client opens a byte stream to the server. [`TcpConnector`] (plain
//! MQTT), [`TlsConnector`] (MQTT over TLS), [`WsConnector`] and [`WssConnector`] (MQTT over
//! WebSocket, plain or TLS); anything else plugs in through [`Connector`] without touching the
//! driver.

use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use std::marker::PhantomData;

use async_tungstenite::tungstenite::client::IntoClientRequest;
use async_tungstenite::tungstenite::http::Uri;
use futures_io::{AsyncRead, AsyncWrite};
use futures_rustls::TlsConnector as RustlsConnector;
use rustls::pki_types::ServerName;

use crate::runtime::Runtime;

/// A byte stream carrying MQTT packets (TCP, TLS over TCP, a WebSocket adapter...), as
/// `futures-io` traits. A tokio stream becomes one through `tokio_util::compat`
/// (`stream.compat()`).
pub trait Transport: AsyncRead + AsyncWrite + Send + Unpin + 'static {}

impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Transport for T {}

/// A boxed [`Transport`], what a [`Connector`] yields.
pub type BoxTransport = Box<dyn Transport>;

/// The future a [`Connector`] returns.
pub type ConnectFuture<'a> = Pin<Box<dyn Future<Output = io::Result<BoxTransport>> + Send + 'a>>;

/// Opens a new transport to the server; called for the first connection and for every
/// reconnection. Implement it to bring your own transport (TLS, WebSocket, a proxy) to
/// [`Client::connect_with`](super::Client::connect_with). It does not depend on the runtime:
/// the built-in connectors take the runtime as a type parameter for their TCP sockets.
pub trait Connector: Send + Sync + 'static {
    /// Opens one transport. The client bounds it with the connect timeout.
    fn connect(&self) -> ConnectFuture<'_>;

    /// The server, for logs.
    fn describe(&self) -> String;
}

/// A server address: `"host:port"` (resolved on every connection attempt) or a [`SocketAddr`].
#[derive(Clone, PartialEq, Eq)]
pub struct ServerAddr(String);

impl ServerAddr {
    /// The address as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ServerAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for ServerAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for ServerAddr {
    fn from(s: &str) -> Self {
        ServerAddr(s.to_owned())
    }
}

impl From<String> for ServerAddr {
    fn from(s: String) -> Self {
        ServerAddr(s)
    }
}

impl From<&String> for ServerAddr {
    fn from(s: &String) -> Self {
        ServerAddr(s.clone())
    }
}

impl From<SocketAddr> for ServerAddr {
    fn from(a: SocketAddr) -> Self {
        ServerAddr(a.to_string())
    }
}

impl From<(&str, u16)> for ServerAddr {
    fn from((host, port): (&str, u16)) -> Self {
        if host.contains(':') && !host.starts_with('[') {
            ServerAddr(format!("[{host}]:{port}"))
        } else {
            ServerAddr(format!("{host}:{port}"))
        }
    }
}

/// Plain TCP (MQTT's port 1883) on the runtime `R`, with Nagle's algorithm off.
#[derive(Clone, Debug)]
pub struct TcpConnector<R> {
    addr: ServerAddr,
    runtime: PhantomData<fn() -> R>,
}

impl<R: Runtime> TcpConnector<R> {
    /// A connector to `addr`.
    pub fn new(addr: impl Into<ServerAddr>) -> Self {
        TcpConnector {
            addr: addr.into(),
            runtime: PhantomData,
        }
    }
}

impl<R: Runtime> Connector for TcpConnector<R> {
    fn connect(&self) -> ConnectFuture<'_> {
        Box::pin(
            async move { Ok(Box::new(R::connect_tcp(self.addr.as_str()).await?) as BoxTransport) },
        )
    }

    fn describe(&self) -> String {
        format!("tcp://{}", self.addr)
    }
}

fn invalid_input(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}

/// The host part of `"host:port"` / `"[v6]:port"`, without brackets.
fn host_of(addr: &str) -> &str {
    if let Some(rest) = addr.strip_prefix('[') {
        rest.split(']').next().unwrap_or(rest)
    } else {
        addr.rsplit_once(':').map_or(addr, |(host, _)| host)
    }
}

/// A TLS server name (SNI and certificate check) from a host name or IP address.
fn server_name(host: &str) -> io::Result<ServerName<'static>> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(host.to_owned())
        .map_err(|e| invalid_input(format!("invalid TLS server name {host:?}: {e}")))
}

/// MQTT over TLS (port 8883; MyQtt `myqtt_tls_conn_new`) on the runtime `R`, with
/// futures-rustls.
///
/// `config` usually comes from [`ClientTls`](crate::tls::ClientTls) (CA, client certificate,
/// peer verification). The server name sent in SNI and checked against the certificate is
/// the host of `addr` unless [`server_name`](Self::server_name) sets another (MyQtt
/// `myqtt_tls_opts_set_server_name`).
///
/// ```no_run
/// use myqtt_host::tls::{ClientTls, PemSource};
/// use myqtt_host::client::{Client, ConnectOptions, TlsConnector};
/// use myqtt_host::runtime::Runtime;
///
/// # async fn run<R: Runtime>() -> Result<(), Box<dyn std::error::Error>> {
/// let tls = ClientTls::new().ca(PemSource::path("ca.crt")).build()?;
/// let connector = TlsConnector::<R>::new("broker.example:8883", tls)?;
/// let client = Client::<R>::connect_with(connector, ConnectOptions::new("id")).await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct TlsConnector<R> {
    addr: ServerAddr,
    server_name: ServerName<'static>,
    tls: RustlsConnector,
    runtime: PhantomData<fn() -> R>,
}

impl<R> fmt::Debug for TlsConnector<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConnector")
            .field("addr", &self.addr)
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

impl<R: Runtime> TlsConnector<R> {
    /// A connector to `addr` (`"host:port"` or a `SocketAddr`) with the rustls client
    /// `config`. Fails if the host is not a valid TLS server name (DNS name or IP address).
    pub fn new(addr: impl Into<ServerAddr>, config: Arc<rustls::ClientConfig>) -> io::Result<Self> {
        let addr = addr.into();
        let server_name = server_name(host_of(addr.as_str()))?;
        Ok(TlsConnector {
            addr,
            server_name,
            tls: RustlsConnector::from(config),
            runtime: PhantomData,
        })
    }

    /// Sends `name` in SNI and checks the certificate against it instead of the host of the
    /// address. Fails if `name` is not a valid DNS name or IP address.
    pub fn server_name(mut self, name: &str) -> io::Result<Self> {
        self.server_name = server_name(name)?;
        Ok(self)
    }
}

impl<R: Runtime> Connector for TlsConnector<R> {
    fn connect(&self) -> ConnectFuture<'_> {
        Box::pin(async move {
            let stream = R::connect_tcp(self.addr.as_str()).await?;
            let stream = self.tls.connect(self.server_name.clone(), stream).await?;
            Ok(Box::new(stream) as BoxTransport)
        })
    }

    fn describe(&self) -> String {
        format!("tls://{}", self.addr)
    }
}

/// A parsed `ws://` or `wss://` URL: the request target and the TCP address.
#[derive(Clone, Debug)]
struct WsTarget {
    uri: Uri,
    addr: ServerAddr,
    host: String,
}

impl WsTarget {
    fn parse(url: &str, scheme: &str, default_port: u16) -> io::Result<Self> {
        let uri: Uri = url
            .parse()
            .map_err(|e| invalid_input(format!("invalid WebSocket URL {url:?}: {e}")))?;
        if uri.scheme_str() != Some(scheme) {
            return Err(invalid_input(format!(
                "WebSocket URL {url:?}: expected the scheme {scheme}://"
            )));
        }
        let host = uri
            .host()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| invalid_input(format!("WebSocket URL {url:?} has no host")))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = uri.port_u16().unwrap_or(default_port);
        let addr = ServerAddr::from((host.as_str(), port));
        Ok(WsTarget { uri, addr, host })
    }

    async fn handshake<S>(&self, stream: S) -> io::Result<BoxTransport>
    where
        S: Transport,
    {
        let request = self
            .uri
            .clone()
            .into_client_request()
            .map_err(|e| invalid_input(format!("WebSocket request {}: {e}", self.uri)))?;
        let stream = crate::ws::connect(request, stream).await?;
        Ok(Box::new(stream) as BoxTransport)
    }
}

/// MQTT over WebSocket (`ws://host:port/path`, MQTT 5.0 and 3.1.1 §6; MyQtt
/// `myqtt_web_socket_conn_new`).
///
/// The client offers the `mqtt` subprotocol and requires the server to select it, sends MQTT
/// in binary frames and treats a text frame from the server as a protocol error that drops the
/// connection (reconnection then applies as for any lost transport). The port defaults to 80.
/// The handshake is bounded by the connect timeout.
///
/// ```no_run
/// use myqtt_host::client::{Client, ConnectOptions, WsConnector};
/// use myqtt_host::runtime::Runtime;
///
/// # async fn run<R: Runtime>() -> Result<(), Box<dyn std::error::Error>> {
/// let connector = WsConnector::<R>::new("ws://broker.example:8080/mqtt")?;
/// let client = Client::<R>::connect_with(connector, ConnectOptions::new("id")).await?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct WsConnector<R> {
    target: WsTarget,
    runtime: PhantomData<fn() -> R>,
}

impl<R: Runtime> WsConnector<R> {
    /// A connector to `url` (`ws://host[:port][/path]`). Fails if `url` does not parse or
    /// is not a `ws://` URL.
    pub fn new(url: &str) -> io::Result<Self> {
        Ok(WsConnector {
            target: WsTarget::parse(url, "ws", 80)?,
            runtime: PhantomData,
        })
    }
}

impl<R: Runtime> Connector for WsConnector<R> {
    fn connect(&self) -> ConnectFuture<'_> {
        Box::pin(async move {
            let stream = R::connect_tcp(self.target.addr.as_str()).await?;
            self.target.handshake(stream).await
        })
    }

    fn describe(&self) -> String {
        self.target.uri.to_string()
    }
}

/// MQTT over secure WebSocket (`wss://host:port/path`): TLS as in [`TlsConnector`], then the
/// WebSocket handshake as in [`WsConnector`]. The port defaults to 443; the TLS server name is
/// the URL's host unless [`server_name`](Self::server_name) sets another (the `Host` header
/// always names the URL's host).
///
/// ```no_run
/// use myqtt_host::tls::ClientTls;
/// use myqtt_host::client::{Client, ConnectOptions, WssConnector};
/// use myqtt_host::runtime::Runtime;
///
/// # async fn run<R: Runtime>() -> Result<(), Box<dyn std::error::Error>> {
/// let tls = ClientTls::new().webpki_roots().build()?;
/// let connector = WssConnector::<R>::new("wss://broker.example/mqtt", tls)?;
/// let client = Client::<R>::connect_with(connector, ConnectOptions::new("id")).await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct WssConnector<R> {
    target: WsTarget,
    server_name: ServerName<'static>,
    tls: RustlsConnector,
    runtime: PhantomData<fn() -> R>,
}

impl<R> fmt::Debug for WssConnector<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WssConnector")
            .field("url", &self.target.uri)
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

impl<R: Runtime> WssConnector<R> {
    /// A connector to `url` (`wss://host[:port][/path]`) with the rustls client `config`.
    /// Fails if `url` does not parse, is not a `wss://` URL, or its host is not a valid TLS
    /// server name.
    pub fn new(url: &str, config: Arc<rustls::ClientConfig>) -> io::Result<Self> {
        let target = WsTarget::parse(url, "wss", 443)?;
        let server_name = server_name(&target.host)?;
        Ok(WssConnector {
            target,
            server_name,
            tls: RustlsConnector::from(config),
            runtime: PhantomData,
        })
    }

    /// Sends `name` in SNI and checks the certificate against it instead of the URL's host.
    /// Fails if `name` is not a valid DNS name or IP address.
    pub fn server_name(mut self, name: &str) -> io::Result<Self> {
        self.server_name = server_name(name)?;
        Ok(self)
    }
}

impl<R: Runtime> Connector for WssConnector<R> {
    fn connect(&self) -> ConnectFuture<'_> {
        Box::pin(async move {
            let stream = R::connect_tcp(self.target.addr.as_str()).await?;
            let stream = self.tls.connect(self.server_name.clone(), stream).await?;
            self.target.handshake(stream).await
        })
    }

    fn describe(&self) -> String {
        self.target.uri.to_string()
    }
}
