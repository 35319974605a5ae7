//! MQTT over WebSocket (MQTT 5.0 §6, MQTT 3.1.1 §6), shared by the server's `ws`/`wss`
//! listeners and the client's WebSocket connectors, on every runtime.
//!
//! The handshake and the framing come from `async-tungstenite` over `futures-io` (handshake
//! feature only: TCP and TLS are opened by our own code, so the TLS stack stays the
//! workspace's rustls/ring one). The adapter from WebSocket messages to the byte stream the
//! MQTT drivers read and write is [`WsStream`], written here: it is ~100 lines and carries the
//! MQTT rules below, which a generic adapter (`ws_stream_tungstenite`) would not. Behaviour:
//!
//! - every write goes out as one **binary** frame (MyQtt sent text frames, against §6);
//! - MQTT bytes may span frames and a frame may hold several packets: frames are only a byte
//!   carrier, the MQTT decoder reassembles packets;
//! - a **text** frame is a protocol error (§6: "the connection MUST be closed"): the adapter
//!   queues a Close frame with code 1003 (unsupported data) and fails the read, which ends that
//!   connection only;
//! - ping/pong and the close handshake are handled by tungstenite.
//!
//! Subprotocol: the client offers `mqtt` and requires the server to select it; the server selects `mqtt`, or `mqttv3.1` for the
//! MQTT 3.1 clients that only offer that (old Paho JavaScript clients; MQTT 3.1 is supported by
//! the protocol core). A client offering subprotocols of which none is one of these is refused
//! with `400 Bad Request`. A client offering no subprotocol at all is accepted without one
//! (lenient: some embedded clients omit the header; §6 says the client MUST offer `mqtt`).
//!
//! Frame limits are tungstenite's defaults (a message of at most 64 MiB, a frame of at most
//! 16 MiB): larger MQTT packets must be split over several frames by the sender.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use async_tungstenite::WebSocketStream;
use async_tungstenite::tungstenite::Error as WsError;
use async_tungstenite::tungstenite::Message;
pub use async_tungstenite::tungstenite::handshake::client::Request;
use async_tungstenite::tungstenite::handshake::server::{ErrorResponse, Response};
use async_tungstenite::tungstenite::http::{HeaderValue, StatusCode, header};
use async_tungstenite::tungstenite::protocol::CloseFrame;
use async_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use bytes::{Buf, Bytes};
use futures_io::{AsyncRead, AsyncWrite};
use futures_util::{Sink, Stream};

/// The subprotocol MQTT over WebSocket uses (MQTT 3.1.1 and 5.0 §6).
pub const SUBPROTOCOL: &str = "mqtt";

/// The subprotocol MQTT 3.1 clients offer; accepted by the server when `mqtt` is not offered.
pub const SUBPROTOCOL_V31: &str = "mqttv3.1";

/// A WebSocket connection seen as a byte stream: MQTT bytes in binary frames.
#[derive(Debug)]
pub struct WsStream<S> {
    inner: WebSocketStream<S>,
    /// What is left of the last binary frame read.
    read_buf: Bytes,
    /// The peer closed, or a protocol error ended reading.
    read_done: bool,
}

impl<S> WsStream<S> {
    /// Wraps an open WebSocket.
    pub fn new(inner: WebSocketStream<S>) -> Self {
        WsStream {
            inner,
            read_buf: Bytes::new(),
            read_done: false,
        }
    }
}

fn to_io(e: WsError) -> io::Error {
    match e {
        WsError::Io(e) => e,
        WsError::ConnectionClosed | WsError::AlreadyClosed => {
            io::Error::new(io::ErrorKind::BrokenPipe, "websocket closed")
        }
        e => io::Error::other(e),
    }
}

impl<S> AsyncRead for WsStream<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        loop {
            if !this.read_buf.is_empty() {
                let n = this.read_buf.len().min(buf.len());
                buf[..n].copy_from_slice(&this.read_buf[..n]);
                this.read_buf.advance(n);
                return Poll::Ready(Ok(n));
            }
            if this.read_done || buf.is_empty() {
                return Poll::Ready(Ok(0)); // end of stream
            }
            match ready!(Pin::new(&mut this.inner).poll_next(cx)) {
                Some(Ok(Message::Binary(bytes))) => this.read_buf = bytes,
                Some(Ok(Message::Text(_))) => {
                    this.read_done = true;
                    // Best effort: queue a Close (1003) and push it out if the socket takes it
                    // now; the caller drops the connection on the error anyway.
                    let close = CloseFrame {
                        code: CloseCode::Unsupported,
                        reason: "MQTT over WebSocket needs binary frames".into(),
                    };
                    let mut inner = Pin::new(&mut this.inner);
                    if inner
                        .as_mut()
                        .start_send(Message::Close(Some(close)))
                        .is_ok()
                    {
                        let _ = inner.poll_flush(cx);
                    }
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "text frame on an MQTT WebSocket connection",
                    )));
                }
                // tungstenite answers pings and close frames itself.
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
                Some(Ok(Message::Close(_)))
                | Some(Err(WsError::ConnectionClosed | WsError::AlreadyClosed))
                | None => this.read_done = true,
                Some(Err(e)) => {
                    this.read_done = true;
                    return Poll::Ready(Err(to_io(e)));
                }
            }
        }
    }
}

impl<S> AsyncWrite for WsStream<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let mut inner = Pin::new(&mut self.inner);
        ready!(inner.as_mut().poll_ready(cx)).map_err(to_io)?;
        inner
            .start_send(Message::Binary(Bytes::copy_from_slice(buf)))
            .map_err(to_io)?;
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx).map_err(to_io)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_close(cx).map_err(to_io)
    }
}

/// The subprotocols a handshake request offers, in order.
fn offered_subprotocols(request: &Request) -> impl Iterator<Item = &str> {
    request
        .headers()
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|p| !p.is_empty())
}

/// The server name a `Host` header names: without the port and IPv6 brackets, lowercase.
pub fn host_name(host: &str) -> Option<String> {
    let host = host.trim();
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or(rest)
    } else {
        match host.rsplit_once(':') {
            Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) => name,
            _ => host,
        }
    };
    (!name.is_empty()).then(|| name.to_ascii_lowercase())
}

/// Server side of the handshake: selects the subprotocol and reads the `Host` header.
/// Returns the WebSocket stream and the host name (see [`host_name`]).
pub async fn accept<S>(stream: S) -> Result<(WsStream<S>, Option<String>), WsError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut host = None;
    // The error type is tungstenite's (`http::Response`): its size is not ours to choose.
    #[allow(clippy::result_large_err)]
    let callback = |request: &Request, mut response: Response| {
        host = request
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .and_then(host_name);
        let mut offered = false;
        let mut selected = None;
        for protocol in offered_subprotocols(request) {
            offered = true;
            if protocol.eq_ignore_ascii_case(SUBPROTOCOL) {
                selected = Some(SUBPROTOCOL);
                break;
            }
            if protocol.eq_ignore_ascii_case(SUBPROTOCOL_V31) {
                selected = Some(SUBPROTOCOL_V31);
            }
        }
        match selected {
            Some(protocol) => {
                response.headers_mut().insert(
                    header::SEC_WEBSOCKET_PROTOCOL,
                    HeaderValue::from_static(protocol),
                );
                Ok(response)
            }
            None if !offered => Ok(response),
            None => {
                let mut refusal = ErrorResponse::new(Some(
                    "MQTT over WebSocket needs the \"mqtt\" subprotocol\n".to_owned(),
                ));
                *refusal.status_mut() = StatusCode::BAD_REQUEST;
                Err(refusal)
            }
        }
    };
    let ws = async_tungstenite::accept_hdr_async(stream, callback).await?;
    Ok((WsStream::new(ws), host))
}

/// Client side of the handshake over an open transport: offers `mqtt` and requires the server
/// to select it (tungstenite already refuses an answer without a subprotocol or with one that
/// was not offered).
pub async fn connect<S>(request: Request, stream: S) -> io::Result<WsStream<S>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut request = request;
    request.headers_mut().insert(
        header::SEC_WEBSOCKET_PROTOCOL,
        HeaderValue::from_static(SUBPROTOCOL),
    );
    let (ws, response) = async_tungstenite::client_async(request, stream)
        .await
        .map_err(to_io)?;
    match response.headers().get(header::SEC_WEBSOCKET_PROTOCOL) {
        Some(p) if p.as_bytes().eq_ignore_ascii_case(SUBPROTOCOL.as_bytes()) => {}
        p => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("the WebSocket server selected the subprotocol {p:?}, not \"mqtt\""),
            ));
        }
    }
    Ok(WsStream::new(ws))
}

#[cfg(test)]
mod tests {
    use super::host_name;

    #[test]
    fn host_header_to_server_name() {
        assert_eq!(
            host_name("Example.COM:8080").as_deref(),
            Some("example.com")
        );
        assert_eq!(host_name("example.com").as_deref(), Some("example.com"));
        assert_eq!(host_name("[::1]:80").as_deref(), Some("::1"));
        assert_eq!(host_name("127.0.0.1:1").as_deref(), Some("127.0.0.1"));
        assert_eq!(host_name(""), None);
    }
}
