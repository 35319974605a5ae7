//! A bounded queue from the client task to one reader, runtime-neutral (a mutex and two
//! wakers). It backs [`Messages`](super::Messages) (the task waits for room: backpressure to
//! the socket) and every [`Events`](super::Events) reader (the oldest event is dropped when a
//! reader falls behind). Neither needs more than one producer task and one consumer, so this
//! is simpler than an MPMC channel plus a broadcast crate.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

struct State<T> {
    items: VecDeque<T>,
    capacity: usize,
    /// Live [`Sender`]s; none left ends the queue once it is drained.
    senders: usize,
    /// The [`Receiver`] is alive.
    receiver: bool,
    /// Items dropped by [`Sender::push_evicting`] since the reader last asked.
    skipped: u64,
    rx_waker: Option<Waker>,
    tx_waker: Option<Waker>,
}

struct Chan<T>(Mutex<State<T>>);

impl<T> Chan<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A queue holding at most `capacity` items (at least 1).
pub(crate) fn channel<T>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    let chan = Arc::new(Chan(Mutex::new(State {
        items: VecDeque::new(),
        capacity: capacity.max(1),
        senders: 1,
        receiver: true,
        skipped: 0,
        rx_waker: None,
        tx_waker: None,
    })));
    (Sender(chan.clone()), Receiver(chan))
}

/// Why [`Sender::try_send`] did not queue an item.
pub(crate) enum TrySendError<T> {
    /// The queue is full; the item is handed back.
    Full(T),
    /// The reader is gone.
    Closed,
}

/// The writing end (cloneable).
pub(crate) struct Sender<T>(Arc<Chan<T>>);

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.0.lock().senders += 1;
        Sender(self.0.clone())
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let mut s = self.0.lock();
        s.senders -= 1;
        if s.senders == 0
            && let Some(waker) = s.rx_waker.take()
        {
            waker.wake();
        }
    }
}

impl<T> Sender<T> {
    /// Whether both ends belong to the same queue.
    pub(crate) fn same_channel(&self, other: &Sender<T>) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    /// Queues `item` if there is room.
    pub(crate) fn try_send(&self, item: T) -> Result<(), TrySendError<T>> {
        let mut s = self.0.lock();
        if !s.receiver {
            return Err(TrySendError::Closed);
        }
        if s.items.len() >= s.capacity {
            return Err(TrySendError::Full(item));
        }
        s.items.push_back(item);
        if let Some(waker) = s.rx_waker.take() {
            waker.wake();
        }
        Ok(())
    }

    /// Queues `item`, dropping the oldest one when full. `false` if the reader is gone.
    pub(crate) fn push_evicting(&self, item: T) -> bool {
        let mut s = self.0.lock();
        if !s.receiver {
            return false;
        }
        if s.items.len() >= s.capacity {
            s.items.pop_front();
            s.skipped += 1;
        }
        s.items.push_back(item);
        if let Some(waker) = s.rx_waker.take() {
            waker.wake();
        }
        true
    }

    /// Waits until the queue has room (`true`) or the reader is gone (`false`).
    pub(crate) async fn room(&self) -> bool {
        poll_fn(|cx| {
            let mut s = self.0.lock();
            if !s.receiver {
                Poll::Ready(false)
            } else if s.items.len() < s.capacity {
                Poll::Ready(true)
            } else {
                s.tx_waker = Some(cx.waker().clone());
                Poll::Pending
            }
        })
        .await
    }
}

/// The reading end.
pub(crate) struct Receiver<T>(Arc<Chan<T>>);

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let mut s = self.0.lock();
        s.receiver = false;
        s.items.clear();
        if let Some(waker) = s.tx_waker.take() {
            waker.wake();
        }
    }
}

impl<T> Receiver<T> {
    /// The next item; `None` once every sender is gone and the queue is drained.
    pub(crate) fn poll_recv(&self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let mut s = self.0.lock();
        if let Some(item) = s.items.pop_front() {
            if let Some(waker) = s.tx_waker.take() {
                waker.wake();
            }
            return Poll::Ready(Some(item));
        }
        if s.senders == 0 {
            return Poll::Ready(None);
        }
        s.rx_waker = Some(cx.waker().clone());
        Poll::Pending
    }

    /// The next item if one is queued.
    pub(crate) fn try_recv(&self) -> Option<T> {
        let mut s = self.0.lock();
        let item = s.items.pop_front();
        if item.is_some()
            && let Some(waker) = s.tx_waker.take()
        {
            waker.wake();
        }
        item
    }

    /// How many items [`Sender::push_evicting`] dropped since the last call.
    pub(crate) fn take_skipped(&self) -> u64 {
        std::mem::take(&mut self.0.lock().skipped)
    }
}

impl<T> std::fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.0.lock();
        f.debug_struct("Receiver")
            .field("queued", &s.items.len())
            .field("capacity", &s.capacity)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_evicting_and_closing() {
        let (tx, rx) = channel(2);
        assert!(tx.try_send(1).is_ok());
        assert!(tx.try_send(2).is_ok());
        assert!(matches!(tx.try_send(3), Err(TrySendError::Full(3))));
        assert!(tx.push_evicting(4));
        assert_eq!(rx.take_skipped(), 1);
        assert_eq!(rx.try_recv(), Some(2));
        assert_eq!(rx.try_recv(), Some(4));
        assert_eq!(rx.try_recv(), None);
        let tx2 = tx.clone();
        assert!(tx.same_channel(&tx2));
        drop(rx);
        assert!(matches!(tx2.try_send(5), Err(TrySendError::Closed)));
        assert!(!tx.push_evicting(6));
    }
}
