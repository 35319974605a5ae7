//! What an async runtime supplies to the runtime-neutral client and server: tasks, timers, TCP
//! sockets and the stop signal. `myqtt-tokio` and `myqtt-smol` each implement [`Runtime`] on a
//! zero-sized type and re-export the client and server instantiated with it; everything else
//! (the actors that drive the sans-IO core, TLS through `futures-rustls`, WebSocket through
//! `async-tungstenite`, storage threads) is written once, here, against `futures-io`.
//!
//! Every function is an associated function: a runtime is chosen by type, never passed around.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::time::Instant;

pub use futures_io::{AsyncRead, AsyncWrite};

/// A boxed, sendable future.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// An async runtime, as the client and server need it. Implemented on a zero-sized marker type
/// (hence `Copy + Debug`: types generic over the runtime derive those traits).
pub trait Runtime: Copy + std::fmt::Debug + Send + Sync + Sized + 'static {
    /// A connected TCP stream.
    type TcpStream: AsyncRead + AsyncWrite + Send + Sync + Unpin + 'static;
    /// A bound, listening TCP socket.
    type TcpListener: Send + Sync + 'static;
    /// A spawned task. Awaiting it waits for the task's end (a task that panicked or was
    /// aborted also counts as ended). Dropping it must **not** cancel the task: use
    /// [`Runtime::abort`] for that.
    type Task: Future<Output = ()> + Send + Unpin + 'static;
    /// A timer that can be moved to another deadline without being rebuilt (one per actor
    /// loop, not one per iteration).
    type Timer: Future<Output = ()> + Send + 'static;

    /// Runs `future` in the background.
    fn spawn<F>(future: F) -> Self::Task
    where
        F: Future<Output = ()> + Send + 'static;

    /// Cancels a task at its next await point.
    fn abort(task: Self::Task);

    /// Runs blocking work (disk, password hashing) off the async threads. `None` if the work
    /// panicked.
    fn spawn_blocking<T, F>(work: F) -> BoxFuture<'static, Option<T>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static;

    /// A timer firing at `deadline`.
    fn timer(deadline: Instant) -> Self::Timer;

    /// Moves a timer to a new deadline; it fires again even if it had fired.
    fn reset_timer(timer: Pin<&mut Self::Timer>, deadline: Instant);

    /// Opens a TCP connection to `addr` (`host:port`, resolved now), with Nagle's algorithm
    /// off.
    fn connect_tcp(addr: &str) -> BoxFuture<'_, io::Result<Self::TcpStream>>;

    /// Binds a listening socket on `addr` (`host:port`; port 0 picks a free one).
    fn bind_tcp(addr: &str) -> BoxFuture<'_, io::Result<Self::TcpListener>>;

    /// Accepts one connection (Nagle's algorithm off on it) and its peer address.
    fn accept(
        listener: &Self::TcpListener,
    ) -> BoxFuture<'_, io::Result<(Self::TcpStream, SocketAddr)>>;

    /// The address a listener is bound to.
    fn local_addr(listener: &Self::TcpListener) -> io::Result<SocketAddr>;

    /// Resolves on SIGINT or SIGTERM (Ctrl-C where there are no Unix signals).
    fn stop_signal() -> BoxFuture<'static, ()>;

    /// Lets the other ready tasks run before the caller continues. The default wakes the
    /// task and returns `Pending` once, which every executor understands; a runtime whose
    /// scheduler treats a self-wake specially overrides it.
    fn yield_now() -> BoxFuture<'static, ()> {
        Box::pin(YieldNow { yielded: false })
    }
}

/// Pending once, having woken its task: see [`Runtime::yield_now`].
#[derive(Debug)]
struct YieldNow {
    yielded: bool,
}

impl Future for YieldNow {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        if self.yielded {
            return std::task::Poll::Ready(());
        }
        self.yielded = true;
        cx.waker().wake_by_ref();
        std::task::Poll::Pending
    }
}

/// Waits at most until `deadline` for `future`; `None` if the deadline came first.
pub async fn timeout_at<R: Runtime, F: Future>(deadline: Instant, future: F) -> Option<F::Output> {
    use futures_util::future::{Either, select};
    let future = std::pin::pin!(future);
    let timer = std::pin::pin!(R::timer(deadline));
    match select(future, timer).await {
        Either::Left((output, _)) => Some(output),
        Either::Right(((), _)) => None,
    }
}

/// Waits at most `duration` for `future`; `None` if it took longer.
pub async fn timeout<R: Runtime, F: Future>(
    duration: std::time::Duration,
    future: F,
) -> Option<F::Output> {
    timeout_at::<R, F>(Instant::now() + duration, future).await
}

/// Sleeps for `duration`.
pub async fn sleep<R: Runtime>(duration: std::time::Duration) {
    R::timer(Instant::now() + duration).await;
}
