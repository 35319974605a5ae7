//! One accepted transport: a reader feeding the broker actor and a writer draining what the
//! actor produced for it. No protocol logic: bytes in, bytes out.

use std::collections::VecDeque;
use std::future::{Future, poll_fn};
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::task::{Context, Poll, ready};

use bytes::BytesMut;
use futures_channel::{mpsc, oneshot};
use futures_io::{AsyncRead, AsyncWrite};
use futures_util::SinkExt;
use futures_util::io::AsyncReadExt;
use futures_util::task::AtomicWaker;
use myqtt_proto::ProtocolVersion;
use myqtt_proto::broker::{ConnectionId, TransportInfo};

use super::actor::{Command, Opening};
use super::framing::Framer;
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

/// The actor's end of one connection. Dropping it aborts the connection (see
/// [`ConnectionSink::abort`]).
#[derive(Debug)]
pub(crate) struct ConnectionSink {
    /// Shared with the connection's task.
    pub(crate) shared: Arc<Shared>,
}

/// What a connection's task and the actor share. One allocation: an idle connection used to
/// hold five (the pending counter, a mutex around the abort sender, the oneshot's state, an
/// unbounded channel's state and its queue's stub node).
#[derive(Debug, Default)]
pub(crate) struct Shared {
    /// Bytes handed to the writer and not written yet: the slow-consumer bound.
    pub(crate) pending: AtomicUsize,
    /// What the actor sent for the writer, in order (a channel, without allocations of its
    /// own while empty).
    queue: Mutex<Queue>,
    /// Set when the transport must be dropped at once, whatever the writer is blocked on.
    aborted: AtomicBool,
    /// The connection's task, waiting for the queue or `aborted`.
    waker: AtomicWaker,
    /// Set by the actor once the broker lets the transport decode (version, maximum packet
    /// size): the reader then hands over decoded packets instead of bytes (see
    /// `super::framing`).
    pub(crate) decoding: OnceLock<(ProtocolVersion, usize)>,
}

/// See [`Shared::queue`].
#[derive(Debug, Default)]
struct Queue {
    /// Left without storage whenever the writer drains it (at most one allocation per burst,
    /// where the channel allocated a node per item).
    items: VecDeque<Outbound>,
    /// The sink was dropped: nothing more will come.
    sender_gone: bool,
    /// The connection's task ended: what is sent is dropped.
    receiver_gone: bool,
}

/// What [`Shared::take`] found.
enum Taken {
    /// The next thing the actor sent.
    Item(Outbound),
    /// Nothing yet.
    Empty,
    /// Nothing, and nothing more will come.
    Ended,
}

impl Shared {
    fn queue(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes the next thing the actor sent.
    fn take(&self) -> Taken {
        let mut queue = self.queue();
        match queue.items.pop_front() {
            Some(out) => {
                if queue.items.is_empty() {
                    queue.items = VecDeque::new();
                }
                Taken::Item(out)
            }
            None if queue.sender_gone => Taken::Ended,
            None => Taken::Empty,
        }
    }

    /// The connection's task ended: drops what is queued and what will be sent.
    fn close_queue(&self) {
        let mut queue = self.queue();
        queue.receiver_gone = true;
        queue.items = VecDeque::new();
    }

    /// Ready once [`ConnectionSink::abort`] ran or the sink was dropped.
    /// (After the task's waker was registered.)
    fn poll_aborted(&self) -> Poll<()> {
        if self.aborted.load(Ordering::Acquire) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

impl ConnectionSink {
    /// Queues `out` for the connection's writer (dropped if the connection ended).
    pub(crate) fn send(&self, out: Outbound) {
        {
            let mut queue = self.shared.queue();
            if queue.receiver_gone {
                return;
            }
            queue.items.push_back(out);
        }
        self.shared.waker.wake();
    }

    /// Closes the transport now, discarding what is queued: for a peer that stopped reading,
    /// whose writer may be stuck behind megabytes it will never take ([`Outbound::Close`]
    /// would wait behind them).
    pub(crate) fn abort(&self) {
        self.shared.aborted.store(true, Ordering::Release);
        self.shared.waker.wake();
    }
}

impl Drop for ConnectionSink {
    /// The actor forgot the connection (or stopped): its transport goes too.
    fn drop(&mut self) {
        self.shared.queue().sender_gone = true;
        self.abort();
    }
}

/// Bytes read per socket read while the peer sends little. They go into an array on the stack
/// of the poll that reads them and are copied into a chunk of their own size, so an idle
/// connection holds no read buffer (10,000 idle connections used to pin 16 KiB each, twice).
const SMALL_READ: usize = 512;

/// Bytes read per socket read while the peer sends a lot: a small read that comes back full
/// switches to a buffer this large (chunks are split off it without copying); a large read
/// that comes back with less than [`SMALL_READ`] switches back, freeing it.
const LARGE_READ: usize = 16 * 1024;

/// Reads a transport in chunks sized to the traffic (see [`SMALL_READ`], [`LARGE_READ`]).
#[derive(Default)]
struct AdaptiveReader {
    large: Option<BytesMut>,
}

impl AdaptiveReader {
    /// The next chunk read; `None` at the end of the stream or on an error.
    fn poll_next<S: AsyncRead + Unpin>(
        &mut self,
        cx: &mut Context<'_>,
        reader: &mut S,
    ) -> Poll<Option<BytesMut>> {
        if let Some(buf) = &mut self.large {
            if buf.len() < LARGE_READ {
                buf.resize(LARGE_READ, 0);
            }
            let n = match ready!(Pin::new(reader).poll_read(cx, buf)) {
                Ok(0) | Err(_) => return Poll::Ready(None),
                Ok(n) => n,
            };
            let chunk = buf.split_to(n);
            if n < SMALL_READ {
                self.large = None;
            }
            return Poll::Ready(Some(chunk));
        }
        // On the stack of this poll only: `poll_read` may get another buffer at every poll,
        // so a read that is pending (an idle connection's, for its whole life) holds none.
        let mut small = [0; SMALL_READ];
        let n = match ready!(Pin::new(reader).poll_read(cx, &mut small)) {
            Ok(0) | Err(_) => return Poll::Ready(None),
            Ok(n) => n,
        };
        if n == SMALL_READ {
            self.large = Some(BytesMut::zeroed(LARGE_READ));
        }
        Poll::Ready(Some(BytesMut::from(&small[..n])))
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
pub(crate) async fn serve<R, S>(stream: S, transport: TransportInfo, routes: Arc<Routes>)
where
    R: Runtime,
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let Some(open) = open::<R, S>(stream, transport, routes).await else {
        return;
    };
    // A task of its own: routing and the handshake with the actor run once, and their state
    // (the router's timer and buffers, the commands being sent, this function's arguments)
    // would otherwise size the task, and so every idle connection's memory, for the
    // connection's life. This task ends here and is freed.
    drop(R::spawn(shuttle(open)));
}

/// A connection the actor accepted, and the state of shuttling its bytes: what an idle
/// connection's task holds for the connection's life. Driven by hand ([`Open::poll_shuttle`])
/// rather than by `async` reader and writer futures: those needed the stream split in two
/// halves behind a shared lock (an allocation) and kept room in the task for every state
/// they pass through (a command being sent, a write in progress), idle or not.
struct Open<S> {
    stream: S,
    actor: mpsc::Sender<Command>,
    id: ConnectionId,
    shared: Arc<Shared>,
    /// Cuts (and once accepted decodes) what is read into packets.
    framer: Framer,
    reads: AdaptiveReader,
    write: WriteState,
}

/// Where the writer is.
enum WriteState {
    /// Waiting for bytes from the actor.
    Idle,
    /// Writing `bytes` (`written` of them so far).
    Writing { bytes: Vec<u8>, written: usize },
    /// Flushing what was written (a no-op on TCP; it pushes out TLS records and WebSocket
    /// frames), once nothing more is queued.
    Flushing,
    /// Closing the transport: the actor said so, it is gone, or a write failed.
    Closing,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Open<S> {
    /// Ready when the connection is over: the writer closed the transport, the reader hit its
    /// end (or the actor is gone), or the actor aborted it. Polls in that order.
    fn poll_shuttle(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        // Before looking at the queue and the abort flag: the actor wakes it after changing
        // either.
        self.shared.waker.register(cx.waker());
        if self.poll_write(cx).is_ready() || self.poll_read(cx).is_ready() {
            return Poll::Ready(());
        }
        self.shared.poll_aborted()
    }

    /// Writes everything queued, then flushes once; ready once the transport is closed.
    fn poll_write(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            match &mut self.write {
                WriteState::Idle => {
                    self.write = match self.shared.take() {
                        Taken::Item(out) => Self::next(out),
                        Taken::Empty => return Poll::Pending,
                        Taken::Ended => WriteState::Closing,
                    };
                }
                WriteState::Writing { bytes, written } => {
                    let mut failed = false;
                    while *written < bytes.len() {
                        match ready!(Pin::new(&mut self.stream).poll_write(cx, &bytes[*written..]))
                        {
                            Ok(0) | Err(_) => {
                                failed = true;
                                break;
                            }
                            Ok(n) => *written += n,
                        }
                    }
                    self.shared
                        .pending
                        .fetch_sub(bytes.len(), Ordering::Relaxed);
                    self.write = if failed {
                        WriteState::Closing
                    } else {
                        match self.shared.take() {
                            Taken::Item(out) => Self::next(out),
                            // Empty or ended: flush what was written.
                            Taken::Empty | Taken::Ended => WriteState::Flushing,
                        }
                    };
                }
                WriteState::Flushing => {
                    self.write = match ready!(Pin::new(&mut self.stream).poll_flush(cx)) {
                        Ok(()) => WriteState::Idle,
                        Err(_) => WriteState::Closing,
                    };
                }
                WriteState::Closing => {
                    let _ = ready!(Pin::new(&mut self.stream).poll_close(cx));
                    return Poll::Ready(());
                }
            }
        }
    }

    /// The writer's state for the next thing from the actor.
    fn next(out: Outbound) -> WriteState {
        match out {
            Outbound::Bytes(bytes) => WriteState::Writing { bytes, written: 0 },
            Outbound::Close => WriteState::Closing,
        }
    }

    /// Hands what the socket delivers to the actor, one chunk whenever the actor can take a
    /// command (`SinkExt::send` waited for the same readiness after handing over, before the
    /// next read); ready at the end of the stream, on an error, or once the actor is gone.
    fn poll_read(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            if ready!(self.actor.poll_ready(cx)).is_err() {
                return Poll::Ready(());
            }
            let Some(chunk) = ready!(self.reads.poll_next(cx, &mut self.stream)) else {
                return Poll::Ready(());
            };
            let input = self.framer.push(chunk, self.shared.decoding.get().copied());
            if input.is_empty() {
                continue;
            }
            let input = Command::Input { id: self.id, input };
            if self.actor.start_send(input).is_err() {
                return Poll::Ready(());
            }
        }
    }
}

/// Routes the transport to its domain and registers it with that domain's actor; `None` if
/// either refused or the peer went away.
async fn open<R, S>(mut stream: S, transport: TransportInfo, routes: Arc<Routes>) -> Option<Open<S>>
where
    R: Runtime,
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let table = routes.current();
    drop(routes);
    let routed = router::route::<R, S>(&mut stream, &transport, &table).await?;
    drop(table);
    let mut actor = routed.route.tx;
    let shared = Arc::new(Shared::default());
    let sink = ConnectionSink {
        shared: shared.clone(),
    };
    let (reply, id) = oneshot::channel();
    let opening = Opening {
        transport,
        sink,
        decided: routed.decided,
        reply,
    };
    actor.send(Command::Opened(Box::new(opening))).await.ok()?;
    // `None`: refused (too many connections, or the server is stopping).
    let id = id.await.ok()??;
    let mut framer = Framer::new(routed.route.max_packet_size);
    let first = framer.push(routed.first, None);
    if !first.is_empty() {
        let first = Command::Input { id, input: first };
        actor.send(first).await.ok()?;
    }
    Some(Open {
        stream,
        actor,
        id,
        shared,
        framer,
        reads: AdaptiveReader::default(),
        write: WriteState::Idle,
    })
}

/// Shuttles bytes between the socket and the actor until either side closes or the actor
/// aborts the connection, then tells the actor. Its future is what an idle connection's task
/// holds for the connection's life: `open` and little else. Not an `async fn`: that would
/// keep its argument twice, as argument and as the local it is moved into.
#[allow(clippy::manual_async_fn)]
fn shuttle<S>(mut open: Open<S>) -> impl Future<Output = ()> + Send
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    async move {
        poll_fn(|cx| open.poll_shuttle(cx)).await;
        // The transport goes before the actor hears of it.
        drop(open.stream);
        open.shared.close_queue();
        let _ = open.actor.send(Command::Closed { id: open.id }).await;
    }
}

/// Identifies the connection in logs.
pub(crate) fn describe(id: ConnectionId, transport: &TransportInfo) -> String {
    format!(
        "#{} {}",
        id.0,
        transport.remote_addr.as_deref().unwrap_or("?")
    )
}
