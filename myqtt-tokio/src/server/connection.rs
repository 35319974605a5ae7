//! One accepted transport: a reader feeding the broker actor and a writer draining what the
//! actor produced for it. No protocol logic: bytes in, bytes out.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::BytesMut;
use myqtt_proto::broker::{ConnectionId, TransportInfo};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};

use super::actor::Command;
use super::router::{self, Routes};

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
}

/// Bytes read at most per socket read.
const READ_CHUNK: usize = 16 * 1024;

/// Serves one transport until either side closes it: picks its domain, then shuttles bytes
/// between the socket and that domain's actor.
pub(crate) async fn serve<S>(mut stream: S, transport: TransportInfo, routes: Arc<Routes>)
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let table = routes.current();
    drop(routes);
    let Some(routed) = router::route(&mut stream, &transport, &table).await else {
        return;
    };
    drop(table);
    let actor = routed.route.tx;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let pending = Arc::new(AtomicUsize::new(0));
    let sink = ConnectionSink {
        tx,
        pending: pending.clone(),
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
    if !routed.first.is_empty()
        && actor
            .send(Command::Input {
                id,
                bytes: routed.first,
            })
            .await
            .is_err()
    {
        return;
    }
    let (mut reader, mut writer) = tokio::io::split(stream);
    let write = async move {
        'write: while let Some(mut out) = rx.recv().await {
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
                    Err(_) => break,
                }
            }
            if writer.flush().await.is_err() {
                break;
            }
        }
        let _ = writer.shutdown().await;
    };
    let read_actor = actor.clone();
    let read = async move {
        let mut buf = BytesMut::with_capacity(READ_CHUNK);
        loop {
            buf.reserve(READ_CHUNK);
            match reader.read_buf(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let chunk = buf.split();
                    if read_actor
                        .send(Command::Input { id, bytes: chunk })
                        .await
                        .is_err()
                    {
                        break;
                    }
                }
            }
        }
    };
    // Whichever side ends first ends the connection.
    tokio::select! {
        () = write => {}
        () = read => {}
    }
    let _ = actor.send(Command::Closed { id }).await;
}

/// Identifies the connection in logs.
pub(crate) fn describe(id: ConnectionId, transport: &TransportInfo) -> String {
    format!(
        "#{} {}",
        id.0,
        transport.remote_addr.as_deref().unwrap_or("?")
    )
}
