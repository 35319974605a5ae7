//! [`Tokio`]: the tokio implementation of [`myqtt_host::runtime::Runtime`]: tasks, timers, TCP
//! sockets (behind `tokio-util`'s `futures-io` adapter) and SIGINT/SIGTERM.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use myqtt_host::runtime::{BoxFuture, Runtime};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::compat::{Compat, TokioAsyncReadCompatExt};

/// The tokio runtime. Everything runs on the ambient tokio runtime (`#[tokio::main]`,
/// `Runtime::block_on`).
#[derive(Clone, Copy, Debug, Default)]
pub struct Tokio;

/// A spawned tokio task; dropping it detaches the task.
#[derive(Debug)]
pub struct TokioTask(tokio::task::JoinHandle<()>);

impl Future for TokioTask {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.0).poll(cx).map(|_| ())
    }
}

impl Runtime for Tokio {
    type TcpStream = Compat<TcpStream>;
    type TcpListener = TcpListener;
    type Task = TokioTask;
    type Timer = tokio::time::Sleep;

    fn spawn<F>(future: F) -> TokioTask
    where
        F: Future<Output = ()> + Send + 'static,
    {
        TokioTask(tokio::spawn(future))
    }

    fn abort(task: TokioTask) {
        task.0.abort();
    }

    fn spawn_blocking<T, F>(work: F) -> BoxFuture<'static, Option<T>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let handle = tokio::task::spawn_blocking(work);
        Box::pin(async move { handle.await.ok() })
    }

    fn timer(deadline: Instant) -> tokio::time::Sleep {
        tokio::time::sleep_until(deadline.into())
    }

    fn reset_timer(timer: Pin<&mut tokio::time::Sleep>, deadline: Instant) {
        timer.reset(deadline.into());
    }

    fn connect_tcp(addr: &str) -> BoxFuture<'_, io::Result<Compat<TcpStream>>> {
        Box::pin(async move {
            let stream = TcpStream::connect(addr).await?;
            stream.set_nodelay(true)?;
            Ok(stream.compat())
        })
    }

    fn bind_tcp(addr: &str) -> BoxFuture<'_, io::Result<TcpListener>> {
        Box::pin(TcpListener::bind(addr))
    }

    fn accept(
        listener: &TcpListener,
    ) -> BoxFuture<'_, io::Result<(Compat<TcpStream>, SocketAddr)>> {
        Box::pin(async move {
            let (stream, peer) = listener.accept().await?;
            // Best effort: a socket that refuses it still works, only with Nagle's delay.
            let _ = stream.set_nodelay(true);
            Ok((stream.compat(), peer))
        })
    }

    fn local_addr(listener: &TcpListener) -> io::Result<SocketAddr> {
        listener.local_addr()
    }

    fn stop_signal() -> BoxFuture<'static, ()> {
        Box::pin(stop_signal())
    }

    /// Tokio's own yield: it does not put the task in the worker's LIFO slot, so the tasks
    /// it woke (connection writers) run first.
    fn yield_now() -> BoxFuture<'static, ()> {
        Box::pin(tokio::task::yield_now())
    }
}

#[cfg(unix)]
async fn stop_signal() {
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
async fn stop_signal() {
    let _ = tokio::signal::ctrl_c().await;
}
