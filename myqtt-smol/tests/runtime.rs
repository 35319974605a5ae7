//! The smol runtime glue under each executor a smol or async-std user may run: timers fire and
//! move, tasks run detached unless aborted, blocking work reports panics, TCP connects.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures_util::{AsyncReadExt, AsyncWriteExt};
use myqtt_host::runtime::{Runtime, sleep, timeout};
use myqtt_smol::Smol;

async fn exercise() {
    // A timer moved later fires later; a timeout gives up at its deadline.
    let start = Instant::now();
    let mut timer = std::pin::pin!(Smol::timer(start + Duration::from_millis(5)));
    Smol::reset_timer(timer.as_mut(), start + Duration::from_millis(40));
    timer.await;
    assert!(start.elapsed() >= Duration::from_millis(40));
    assert_eq!(
        timeout::<Smol, _>(Duration::from_millis(20), std::future::pending::<()>()).await,
        None
    );

    // Dropping a task handle keeps the task running; aborting cancels it.
    let (ran, cancelled) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    );
    let r = ran.clone();
    drop(Smol::spawn(async move {
        sleep::<Smol>(Duration::from_millis(10)).await;
        r.store(true, Ordering::SeqCst);
    }));
    let c = cancelled.clone();
    let task = Smol::spawn(async move {
        sleep::<Smol>(Duration::from_millis(10)).await;
        c.store(true, Ordering::SeqCst);
    });
    Smol::abort(task);
    sleep::<Smol>(Duration::from_millis(60)).await;
    assert!(
        ran.load(Ordering::SeqCst),
        "a dropped handle must not cancel"
    );
    assert!(!cancelled.load(Ordering::SeqCst), "abort must cancel");

    // Blocking work: a result, or None after a panic.
    assert_eq!(Smol::spawn_blocking(|| 6 * 7).await, Some(42));
    assert_eq!(
        Smol::spawn_blocking(|| -> u8 { panic!("expected in this test") }).await,
        None
    );

    // TCP over loopback.
    let listener = Smol::bind_tcp("127.0.0.1:0").await.unwrap();
    let addr = Smol::local_addr(&listener).unwrap();
    let server = Smol::spawn(async move {
        let (mut stream, _) = Smol::accept(&listener).await.unwrap();
        let mut buf = [0u8; 4];
        stream.read_exact(&mut buf).await.unwrap();
        stream.write_all(&buf).await.unwrap();
    });
    let mut client = Smol::connect_tcp(&addr.to_string()).await.unwrap();
    client.write_all(b"mqtt").await.unwrap();
    let mut echo = [0u8; 4];
    client.read_exact(&mut echo).await.unwrap();
    assert_eq!(&echo, b"mqtt");
    server.await;
}

#[test]
fn under_smol_block_on() {
    smol::block_on(exercise());
}

#[test]
fn under_async_std() {
    async_std::task::block_on(exercise());
}

#[test]
fn under_futures_executor() {
    futures_executor::block_on(exercise());
}
