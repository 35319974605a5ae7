//! One accepted transport: a reader feeding the broker actor and a writer draining what the
//! actor produced for it. No protocol logic: bytes in, bytes out.

use std::io;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use bytes::BytesMut;
use futures_channel::{mpsc, oneshot};
use futures_io::{AsyncRead, AsyncWrite};
use futures_util::future::select;
use futures_util::io::{AsyncReadExt, AsyncWriteExt};
use futures_util::{SinkExt, StreamExt};
use myqtt_proto::ProtocolVersion;
use myqtt_proto::broker::{ConnectionId, TransportInfo};

use super::actor::Command;
use super::framing::{Framed, Framer};
use super::router::{self, Routes};
use crate::runtime::Runtime;

/// What the actor sends to a connection's writer.
#[derive(Debug)]
pub(crate) enum Outbound {
    /// Bytes to write.
    Bytes(Vec<u8>),
    /// Write what was sent before, then close the transport.
    Close,
}

/// The actor's end of one connection.
#[derive(Debug, Clone)]
pub(crate) struct ConnectionSink {
    pub(crate) tx: mpsc::UnboundedSender<Outbound>,
    /// Bytes handed to the writer and not written yet: the slow-consumer bound.
    pub(crate) pending: Arc<AtomicUsize>,
    /// Set by the actor once the broker lets the transport decode (version, maximum packet
    /// size): the reader then hands over decoded packets instead of bytes.
    pub(crate) decoding: Arc<OnceLock<(ProtocolVersion, usize)>>,
    /// Drops the transport at once, whatever the writer is blocked on.
    abort: Arc<Mutex<Option<oneshot::Sender<()>>>>,
}

impl ConnectionSink {
    /// Closes the transport now, discarding what is queued: for a peer that stopped reading,
    /// whose writer may be stuck behind megabytes it will never take ([`Outbound::Close`]
    /// would wait behind them).
    pub(crate) fn abort(&self) {
        let abort = self
            .abort
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(abort) = abort {
            let _ = abort.send(());
        }
    }
}

/// Bytes read per socket read while the peer sends little. They go into an array inside the
/// connection's task and are copied into a chunk of their own size, so an idle connection
/// holds no read buffer on the heap (10,000 idle connections used to pin 16 KiB each, twice).
const SMALL_READ: usize = 512;

/// Bytes read per socket read while the peer sends a lot: a small read that comes back full
/// switches to a buffer this large (chunks are split off it without copying); a large read
/// that comes back with less than [`SMALL_READ`] switches back, freeing it.
const LARGE_READ: usize = 16 * 1024;

/// Reads a transport in chunks sized to the traffic (see [`SMALL_READ`], [`LARGE_READ`]).
struct AdaptiveReader {
    /// Lives in the connection task's future: no allocation of its own.
    small: [u8; SMALL_READ],
    large: Option<BytesMut>,
}

impl Default for AdaptiveReader {
    fn default() -> Self {
        AdaptiveReader {
            small: [0; SMALL_READ],
            large: None,
        }
    }
}

impl AdaptiveReader {
    /// The next chunk read; `None` at the end of the stream or on an error.
    async fn next<S: AsyncRead + Unpin>(&mut self, reader: &mut S) -> Option<BytesMut> {
        if let Some(buf) = &mut self.large {
            if buf.len() < LARGE_READ {
                buf.resize(LARGE_READ, 0);
            }
            let n = match reader.read(buf).await {
                Ok(0) | Err(_) => return None,
                Ok(n) => n,
            };
            let chunk = buf.split_to(n);
            if n < SMALL_READ {
                self.large = None;
            }
            return Some(chunk);
        }
        let n = match reader.read(&mut self.small).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => n,
        };
        if n == SMALL_READ {
            self.large = Some(BytesMut::zeroed(LARGE_READ));
        }
        Some(BytesMut::from(&self.small[..n]))
    }
}

/// Reads once from `stream`, appending at most `max` bytes to `buf`; returns how many were
/// read (0: end of stream). `futures-io` reads into initialized memory, so the new space is
/// zeroed first.
pub(crate) async fn read_some<S>(
    stream: &mut S,
    buf: &mut BytesMut,
    max: usize,
) -> io::Result<usize>
where
    S: AsyncRead + Unpin,
{
    let start = buf.len();
    buf.resize(start + max, 0);
    let result = stream.read(&mut buf[start..]).await;
    buf.truncate(start + *result.as_ref().unwrap_or(&0));
    result
}

/// Serves one transport until either side closes it: picks its domain, then shuttles bytes
/// between the socket and that domain's actor.
pub(crate) async fn serve<R, S>(mut stream: S, transport: TransportInfo, routes: Arc<Routes>)
where
    R: Runtime,
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let table = routes.current();
    drop(routes);
    let Some(routed) = router::route::<R, S>(&mut stream, &transport, &table).await else {
        return;
    };
    drop(table);
    let mut actor = routed.route.tx;
    let (tx, mut rx) = mpsc::unbounded();
    let pending = Arc::new(AtomicUsize::new(0));
    let (abort, aborted) = oneshot::channel();
    let decoding = Arc::new(OnceLock::new());
    let sink = ConnectionSink {
        tx,
        pending: pending.clone(),
        decoding: decoding.clone(),
        abort: Arc::new(Mutex::new(Some(abort))),
    };
    let (reply, id) = oneshot::channel();
    if actor
        .send(Command::Opened {
            transport,
            sink,
            decided: routed.decided,
            reply,
        })
        .await
        .is_err()
    {
        return;
    }
    let Ok(Some(id)) = id.await else {
        return; // refused: too many connections, or the server is stopping
    };
    let mut framer = Framer::new(routed.route.max_packet_size);
    let first = framer.push(routed.first, None);
    if deliver(&mut actor, id, first).await.is_err() {
        return;
    }
    let (mut reader, mut writer) = stream.split();
    let write = async move {
        'write: while let Some(mut out) = rx.next().await {
            // Write everything queued, then flush once (a no-op on TCP; it pushes out TLS
            // records and WebSocket frames).
            loop {
                match out {
                    Outbound::Bytes(bytes) => {
                        let n = bytes.len();
                        let result = writer.write_all(&bytes).await;
                        pending.fetch_sub(n, Ordering::Relaxed);
                        if result.is_err() {
                            break 'write;
                        }
                    }
                    Outbound::Close => break 'write,
                }
                match rx.try_recv() {
                    Ok(next) => out = next,
                    // Empty or closed: flush what was written.
                    Err(_) => break,
                }
            }
            if writer.flush().await.is_err() {
                break;
            }
        }
        let _ = writer.close().await;
    };
    let mut read_actor = actor.clone();
    let read = async move {
        let mut reads = AdaptiveReader::default();
        while let Some(chunk) = reads.next(&mut reader).await {
            let framed = framer.push(chunk, decoding.get().copied());
            if deliver(&mut read_actor, id, framed).await.is_err() {
                break;
            }
        }
    };
    // Whichever side ends first ends the connection; an abort ends it at once (dropping the
    // writer drops the socket).
    select(select(pin!(write), pin!(read)), aborted).await;
    let _ = actor.send(Command::Closed { id }).await;
}

/// Hands what one read produced to the actor: decoded packets (and the error that stopped
/// decoding) first, then raw bytes.
async fn deliver(
    actor: &mut mpsc::Sender<Command>,
    id: ConnectionId,
    framed: Framed,
) -> Result<(), mpsc::SendError> {
    if !framed.packets.is_empty() || framed.error.is_some() {
        actor
            .send(Command::Packets {
                id,
                packets: framed.packets,
                error: framed.error,
            })
            .await?;
    }
    if !framed.raw.is_empty() {
        actor
            .send(Command::Input {
                id,
                bytes: framed.raw,
            })
            .await?;
    }
    Ok(())
}

/// Identifies the connection in logs.
pub(crate) fn describe(id: ConnectionId, transport: &TransportInfo) -> String {
    format!(
        "#{} {}",
        id.0,
        transport.remote_addr.as_deref().unwrap_or("?")
    )
}
