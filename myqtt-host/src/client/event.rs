//! What the client hands to the application besides operation results: lifecycle [`Event`]s
//! and received messages ([`Messages`]).

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::Stream;
use myqtt_proto::client::CloseReason;
use myqtt_proto::codec::Publish;

use super::queue;

/// A lifecycle event of the connection, from [`Client::events`](super::Client::events).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The connection ended: transport loss, keepalive timeout, server DISCONNECT, protocol
    /// violation, or [`Client::close`](super::Client::close) (`CloseReason::Local`).
    Disconnected {
        /// Why.
        reason: CloseReason,
    },
    /// A reconnection attempt will start after `delay`.
    Reconnecting {
        /// Attempt number since the connection was lost, from 1.
        attempt: u32,
        /// Backoff delay before it.
        delay: Duration,
    },
    /// A reconnection attempt could not open the transport.
    ReconnectFailed {
        /// Attempt number.
        attempt: u32,
        /// The transport error.
        error: String,
    },
    /// CONNACK accepted a reconnection (MyQtt's `on_reconnect`). With `session_present`, the
    /// session resumed: unacknowledged QoS 1/2 messages were resent with DUP. Without it,
    /// subscriptions are gone unless [`ConnectOptions::resubscribe`](super::ConnectOptions::resubscribe)
    /// is on, and messages that were in flight completed with
    /// [`ClientError::SessionLost`](super::ClientError::SessionLost).
    Reconnected {
        /// Whether the server resumed the session.
        session_present: bool,
    },
    /// A batch of session changes could not be written to the client storage
    /// ([`ConnectOptions::storage`](super::ConnectOptions::storage)). Nothing of it was sent or
    /// delivered: the client drops the connection without DISCONNECT and stops
    /// ([`Event::Stopped`] follows); what was stored before is restored by the next
    /// [`Client::connect`](super::Client::connect).
    StorageFailed {
        /// The store's error.
        error: String,
    },
    /// The client stopped for good: closed, shut down, disconnected with reconnection off, or
    /// after [`Event::StorageFailed`].
    Stopped,
}

/// Lifecycle events, from [`Client::events`](super::Client::events).
///
/// Each reader has its own bounded queue of 64 events: a reader that falls behind skips the
/// oldest events (logged) instead of holding memory or slowing the client. The stream ends
/// after [`Event::Stopped`].
#[derive(Debug)]
pub struct Events {
    rx: queue::Receiver<Event>,
}

impl Events {
    pub(crate) fn new(rx: queue::Receiver<Event>) -> Self {
        Events { rx }
    }

    /// The next event; `None` once the client stopped and every event was read.
    pub async fn recv(&mut self) -> Option<Event> {
        let event = std::future::poll_fn(|cx| self.rx.poll_recv(cx)).await;
        let skipped = self.rx.take_skipped();
        if skipped > 0 {
            tracing::warn!(skipped, "client events receiver lagged");
        }
        event
    }
}

/// Received messages, from [`Client::messages`](super::Client::messages): a bounded queue read
/// with [`Messages::recv`] or as a [`futures_util::Stream`].
///
/// When the application does not read and the queue is full, the client stops reading the
/// socket, so the server (and TCP) holds the backlog instead of this process' memory. Messages
/// are acknowledged when they are received, so a QoS 1/2 message in the queue is the
/// application's responsibility, unless [`ConnectOptions::manual_acks`](super::ConnectOptions::manual_acks)
/// is on: then each waits for [`Client::ack`](super::Client::ack). Keep-alive still runs, but
/// a PINGRESP cannot be read either: a reader stalled for longer than the ping timeout loses
/// the connection (and reconnects).
#[derive(Debug)]
pub struct Messages {
    rx: queue::Receiver<Publish>,
}

impl Messages {
    pub(crate) fn new(rx: queue::Receiver<Publish>) -> Self {
        Messages { rx }
    }

    /// The next message; `None` once another [`Messages`] replaced this one or every
    /// [`Client`](super::Client) handle is gone. While a handle lives, the reader keeps waiting
    /// even after the client stopped: watch [`Client::events`](super::Client::events) for
    /// [`Event::Stopped`] to know when no more messages can come.
    pub async fn recv(&mut self) -> Option<Publish> {
        std::future::poll_fn(|cx| self.rx.poll_recv(cx)).await
    }

    /// The next message if one is buffered.
    pub fn try_recv(&mut self) -> Option<Publish> {
        self.rx.try_recv()
    }
}

impl Stream for Messages {
    type Item = Publish;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Publish>> {
        self.rx.poll_recv(cx)
    }
}
