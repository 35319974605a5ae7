//! [`Smol`]: the smol implementation of [`myqtt_host::runtime::Runtime`]. Tasks run on smol's
//! global executor, timers and sockets on `async-io`'s reactor and blocking work on the
//! `blocking` pool: none of them needs the caller's executor, so the client and server run
//! under `smol::block_on`, async-std's executor or `futures::executor` alike.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use myqtt_host::runtime::{BoxFuture, Runtime};
use smol::Timer;
use smol::net::{TcpListener, TcpStream};

/// The smol runtime (also usable from async-std and `futures::executor`).
#[derive(Clone, Copy, Debug, Default)]
pub struct Smol;

/// A task on smol's global executor; dropping the handle lets it run on (smol's own `Task`
/// would cancel it).
#[derive(Debug)]
pub struct SmolTask(Option<smol::Task<()>>);

impl Future for SmolTask {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        match self.0.as_mut() {
            Some(task) => Pin::new(task).poll(cx),
            None => Poll::Ready(()),
        }
    }
}

impl Drop for SmolTask {
    fn drop(&mut self) {
        if let Some(task) = self.0.take() {
            task.detach();
        }
    }
}

/// An `async-io` timer that resolves to `()`.
#[derive(Debug)]
pub struct SmolTimer(Timer);

impl Future for SmolTimer {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.0).poll(cx).map(|_| ())
    }
}

impl Runtime for Smol {
    type TcpStream = TcpStream;
    type TcpListener = TcpListener;
    type Task = SmolTask;
    type Timer = SmolTimer;

    fn spawn<F>(future: F) -> SmolTask
    where
        F: Future<Output = ()> + Send + 'static,
    {
        SmolTask(Some(smol::spawn(future)))
    }

    fn abort(mut task: SmolTask) {
        // Dropping smol's handle cancels the task.
        drop(task.0.take());
    }

    fn spawn_blocking<T, F>(work: F) -> BoxFuture<'static, Option<T>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        Box::pin(async move {
            smol::unblock(move || std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)).ok())
                .await
        })
    }

    fn timer(deadline: Instant) -> SmolTimer {
        SmolTimer(Timer::at(deadline))
    }

    fn reset_timer(mut timer: Pin<&mut SmolTimer>, deadline: Instant) {
        timer.0.set_at(deadline);
    }

    fn connect_tcp(addr: &str) -> BoxFuture<'_, io::Result<TcpStream>> {
        Box::pin(async move {
            let stream = TcpStream::connect(addr).await?;
            stream.set_nodelay(true)?;
            Ok(stream)
        })
    }

    fn bind_tcp(addr: &str) -> BoxFuture<'_, io::Result<TcpListener>> {
        Box::pin(TcpListener::bind(addr))
    }

    fn accept(listener: &TcpListener) -> BoxFuture<'_, io::Result<(TcpStream, SocketAddr)>> {
        Box::pin(async move {
            let (stream, peer) = listener.accept().await?;
            // Best effort: a socket that refuses it still works, only with Nagle's delay.
            let _ = stream.set_nodelay(true);
            Ok((stream, peer))
        })
    }

    fn local_addr(listener: &TcpListener) -> io::Result<SocketAddr> {
        listener.local_addr()
    }

    fn stop_signal() -> BoxFuture<'static, ()> {
        Box::pin(stop_signal())
    }
}

/// SIGINT or SIGTERM; if the handlers cannot be installed, never (the server then stops only
/// when told to).
#[cfg(unix)]
async fn stop_signal() {
    use async_signal::{Signal, Signals};
    use futures_util::StreamExt;
    match Signals::new([Signal::Int, Signal::Term]) {
        Ok(mut signals) => {
            let _ = signals.next().await;
        }
        Err(_) => std::future::pending::<()>().await,
    }
}

#[cfg(not(unix))]
async fn stop_signal() {
    use async_signal::{Signal, Signals};
    use futures_util::StreamExt;
    match Signals::new([Signal::Int]) {
        Ok(mut signals) => {
            let _ = signals.next().await;
        }
        Err(_) => std::future::pending::<()>().await,
    }
}
