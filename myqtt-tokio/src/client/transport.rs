//! Transports: how the client opens a byte stream to the server. TCP ships now; TLS and
//! WebSocket connectors plug in through [`Connector`] without touching the driver.

use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

/// A byte stream carrying MQTT packets (TCP, TLS over TCP, a WebSocket adapter...).
pub trait Transport: AsyncRead + AsyncWrite + Send + Unpin + 'static {}

impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Transport for T {}

/// A boxed [`Transport`], what a [`Connector`] yields.
pub type BoxTransport = Box<dyn Transport>;

/// The future a [`Connector`] returns.
pub type ConnectFuture<'a> = Pin<Box<dyn Future<Output = io::Result<BoxTransport>> + Send + 'a>>;

/// Opens a new transport to the server; called for the first connection and for every
/// reconnection. Implement it to bring your own transport (TLS, WebSocket, a proxy) to
/// [`Client::connect_with`](super::Client::connect_with).
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

/// Plain TCP (MQTT's port 1883), with Nagle's algorithm off.
#[derive(Clone, Debug)]
pub struct TcpConnector {
    addr: ServerAddr,
}

impl TcpConnector {
    /// A connector to `addr`.
    pub fn new(addr: impl Into<ServerAddr>) -> Self {
        TcpConnector { addr: addr.into() }
    }
}

impl Connector for TcpConnector {
    fn connect(&self) -> ConnectFuture<'_> {
        Box::pin(async move {
            let stream = TcpStream::connect(self.addr.as_str()).await?;
            stream.set_nodelay(true)?;
            Ok(Box::new(stream) as BoxTransport)
        })
    }

    fn describe(&self) -> String {
        format!("tcp://{}", self.addr)
    }
}
