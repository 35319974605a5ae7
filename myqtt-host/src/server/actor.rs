//! The broker actor: one task owns the sans-IO [`Broker`] and serializes every input to it
//! (DESIGN §4: read bytes -> handle_input; deadline -> handle_timeout; drain transmit, closes,
//! events and store operations after every step).

use std::collections::BTreeMap;
use std::future::{Future, poll_fn};
use std::marker::PhantomData;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::Poll;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use futures_channel::{mpsc, oneshot};
use futures_util::{SinkExt, StreamExt};
use myqtt_proto::broker::{Broker, BrokerEvent, ConnectDecision, ConnectionId, TransportInfo};
use myqtt_proto::codec::{Publish, ReasonCode};
use myqtt_proto::store::StoreOp;
use tracing::{debug, info, warn};

use super::connection::{ConnectionSink, Outbound, describe};
use super::framing::Framed;
use super::hooks::{ActorHooks, ClosedInfo};
use crate::clock::Clock;
use crate::runtime::Runtime;

/// Inputs of the actor. The rare, large variants are boxed: every connection's task holds
/// one command in its send future for the connection's life, and the channel allocates one
/// per message.
#[derive(Debug)]
pub(crate) enum Command {
    Opened(Box<Opening>),
    /// What one read of the connection produced: packets its task decoded, then raw frames
    /// (see `super::framing`).
    Input {
        id: ConnectionId,
        input: Framed,
    },
    Closed {
        id: ConnectionId,
    },
    Decided {
        id: ConnectionId,
        decision: Box<ConnectDecision>,
    },
    Publish {
        publish: Box<Publish>,
        reply: oneshot::Sender<usize>,
    },
    Disconnect {
        id: ConnectionId,
        reason: ReasonCode,
    },
    Shutdown {
        reply: oneshot::Sender<()>,
    },
}

/// A new connection, for [`Command::Opened`].
#[derive(Debug)]
pub(crate) struct Opening {
    pub(crate) transport: TransportInfo,
    pub(crate) sink: ConnectionSink,
    /// The CONNECT decision already taken while the router probed this domain.
    pub(crate) decided: Option<ConnectDecision>,
    pub(crate) reply: oneshot::Sender<Option<ConnectionId>>,
}

struct Conn {
    sink: ConnectionSink,
    rx: BytesMut,
    /// User Name, once the client is connected (for the disconnect log line). The connection's
    /// log label is not kept here: the broker knows the peer address (see [`Actor::label`]).
    username: Option<Box<str>>,
    /// Whether the CONNECT was accepted (`on_disconnect` runs only for those).
    connected: bool,
}

pub(crate) struct Actor<R> {
    pub(crate) broker: Broker<ActorHooks>,
    pub(crate) clock: Clock,
    pub(crate) commands: mpsc::Receiver<Command>,
    pub(crate) self_tx: mpsc::Sender<Command>,
    /// Bytes queued for one connection's writer beyond which it is a slow consumer and is
    /// disconnected.
    pub(crate) max_pending_bytes: usize,
    /// Where store batches go (a thread that commits them), if the server persists.
    pub(crate) store: Option<std::sync::mpsc::Sender<(Vec<StoreOp>, u64)>>,
    /// Store marks the commit thread made durable (with `store`).
    pub(crate) durable: Option<mpsc::UnboundedReceiver<u64>>,
    /// The domain's name for log lines (`None`: the default domain).
    pub(crate) domain: Option<Arc<str>>,
    /// Boxed: a `BTreeMap` node holds 11 entries and sequential ids leave nodes about half
    /// full, so an inline `Conn` cost nearly twice its size per idle connection.
    conns: BTreeMap<ConnectionId, Box<Conn>>,
    /// The label of the connection being forgotten, taken before the broker drops it.
    closing: Option<(ConnectionId, String)>,
    /// Connections the broker was told are congested (see [`Actor::update_congestion`]).
    congested: Vec<Congested>,
    stopping: bool,
    runtime: PhantomData<fn() -> R>,
}

/// What woke the actor up. Lives on the stack for one turn of the loop: boxing the command
/// to shrink it would cost an allocation per command.
#[allow(clippy::large_enum_variant)]
enum Wake {
    Command(Option<Command>),
    Durable(u64),
    Timeout,
}

impl<R: Runtime> Actor<R> {
    pub(crate) fn new(
        broker: Broker<ActorHooks>,
        commands: mpsc::Receiver<Command>,
        self_tx: mpsc::Sender<Command>,
        max_pending_bytes: usize,
    ) -> Self {
        Actor {
            broker,
            clock: Clock::new(),
            commands,
            self_tx,
            max_pending_bytes,
            store: None,
            durable: None,
            domain: None,
            conns: BTreeMap::new(),
            closing: None,
            congested: Vec::new(),
            stopping: false,
            runtime: PhantomData,
        }
    }

    pub(crate) async fn run(mut self) {
        // One timer for the actor's life, moved to each new deadline.
        let mut timer = pin!(R::timer(Instant::now()));
        let mut armed: Option<Instant> = None;
        let mut turns = 0;
        loop {
            let deadline = self.broker.poll_timeout().map(|t| self.clock.to_std(t));
            if deadline != armed {
                if let Some(at) = deadline {
                    R::reset_timer(timer.as_mut(), at);
                }
                armed = deadline;
            }
            let wake = poll_fn(|cx| {
                if armed.is_some() && timer.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Wake::Timeout);
                }
                if let Some(durable) = &mut self.durable {
                    match durable.poll_next_unpin(cx) {
                        Poll::Ready(Some(mark)) => return Poll::Ready(Wake::Durable(mark)),
                        // The commit thread ended (its database failed to stay open).
                        Poll::Ready(None) => self.durable = None,
                        Poll::Pending => {}
                    }
                }
                self.commands.poll_next_unpin(cx).map(Wake::Command)
            })
            .await;
            match wake {
                Wake::Command(Some(cmd)) => {
                    if self.handle(cmd) {
                        return;
                    }
                }
                Wake::Command(None) => return,
                Wake::Durable(mark) => self.broker.handle_store_durable(self.clock.now(), mark),
                Wake::Timeout => {
                    // Fired: re-armed below only if the broker still has a deadline.
                    armed = None;
                    self.broker.handle_timeout(self.clock.now());
                }
            }
            self.flush();
            // Under a stream of commands the mailbox is always ready and this task would never
            // give the worker back: the connection writers it just woke would wait (on tokio
            // they sit in the worker's LIFO slot, which no other worker can take), their
            // backlogs would grow and subscribers would be congested for nothing.
            turns += 1;
            if turns == YIELD_EVERY {
                turns = 0;
                R::yield_now().await;
            }
        }
    }

    /// Handles one command; true when the actor must stop.
    fn handle(&mut self, cmd: Command) -> bool {
        let now = self.clock.now();
        match cmd {
            Command::Opened(opening) => {
                let Opening {
                    transport,
                    sink,
                    decided,
                    reply,
                } = *opening;
                if self.stopping {
                    let _ = reply.send(None);
                    return false;
                }
                match self.broker.handle_connection_opened(now, transport.clone()) {
                    Ok(id) => {
                        let label = describe(id, &transport);
                        debug!(connection = %label, domain = self.domain_label(), "connection opened");
                        if let Some(decision) = decided {
                            self.broker.hooks_mut().predecided.insert(id, decision);
                        }
                        let conn = Conn {
                            sink,
                            rx: BytesMut::new(),
                            username: None,
                            connected: false,
                        };
                        self.conns.insert(id, Box::new(conn));
                        let _ = reply.send(Some(id));
                    }
                    Err(e) => {
                        warn!(peer = ?transport.remote_addr, "connection refused: {e:?}");
                        let _ = reply.send(None);
                    }
                }
            }
            Command::Input { id, input } => {
                let Framed {
                    packets,
                    error,
                    raw,
                } = input;
                if !packets.is_empty() || error.is_some() {
                    self.broker.handle_packets(now, id, packets, error);
                }
                if raw.is_empty() {
                    return false;
                }
                let Some(conn) = self.conns.get_mut(&id) else {
                    return false;
                };
                if conn.rx.is_empty() {
                    conn.rx = raw;
                } else {
                    conn.rx.extend_from_slice(&raw);
                }
                self.broker.handle_input(now, id, &mut conn.rx);
                if conn.rx.is_empty() {
                    // An empty view still pins the read chunk it was cut from.
                    conn.rx = BytesMut::new();
                }
            }
            Command::Closed { id } => self.forget(id),
            Command::Decided { id, decision } => match *decision {
                ConnectDecision::Accept => self.broker.accept(now, id),
                ConnectDecision::Reject(code) => self.broker.reject(now, id, code),
                // A handler cannot defer twice or start AUTH from here: refuse.
                _ => self
                    .broker
                    .reject(now, id, ReasonCode::ImplementationSpecificError),
            },
            Command::Publish { publish, reply } => {
                let _ = reply.send(self.broker.publish(now, *publish));
            }
            Command::Disconnect { id, reason } => self.broker.disconnect(now, id, reason),
            Command::Shutdown { reply } => {
                // [MQTT 5.0 §4.13]: tell 5.0 clients why, then close everything.
                self.stopping = true;
                let ids: Vec<ConnectionId> = self.conns.keys().copied().collect();
                for id in ids {
                    self.broker
                        .disconnect(now, id, ReasonCode::ServerShuttingDown);
                }
                self.flush();
                for conn in self.conns.values() {
                    conn.sink.send(Outbound::Close);
                }
                let _ = reply.send(());
                return true;
            }
        }
        false
    }

    /// Drains every output of the broker.
    fn flush(&mut self) {
        // Deferred connects: run the application's async handler, answer through the mailbox.
        for (id, future) in self.broker.hooks_mut().deferred.drain(..) {
            let mut tx = self.self_tx.clone();
            // Detached: it ends by itself when the handler answers.
            drop(R::spawn(async move {
                let decision = future.await;
                let decision = Box::new(decision);
                let _ = tx.send(Command::Decided { id, decision }).await;
            }));
        }
        while let Some(id) = self.broker.poll_writable() {
            let mut out = Vec::new();
            let _ = self.broker.poll_transmit(id, &mut out);
            let Some(conn) = self.conns.get(&id) else {
                continue;
            };
            let queued = conn
                .sink
                .shared
                .pending
                .fetch_add(out.len(), Ordering::Relaxed)
                + out.len();
            if queued > self.max_pending_bytes {
                warn!(connection = %self.label(id), queued, "slow consumer: closing");
                conn.sink.abort();
                self.forget(id);
                continue;
            }
            conn.sink.send(Outbound::Bytes(out));
            if queued > self.max_pending_bytes / CONGESTED_AT
                && !self.congested.iter().any(|c| c.id == id)
            {
                debug!(connection = %self.label(id), queued, "congested: dropping QoS 0 to it");
                self.congested.push(Congested {
                    id,
                    lowest: queued,
                    since: Instant::now(),
                });
                self.broker.set_congested(id, true);
            }
        }
        self.update_congestion();
        while let Some(id) = self.broker.poll_close() {
            if let Some(conn) = self.conns.get(&id) {
                conn.sink.send(Outbound::Close);
            }
        }
        while let Some(event) = self.broker.poll_event() {
            self.on_event(&event);
        }
        if let Some(store) = &self.store {
            let mut ops = Vec::new();
            let mark = self.broker.poll_store_ops(&mut ops);
            if !ops.is_empty() && store.send((ops, mark)).is_err() {
                warn!("store thread gone: state changes are no longer persisted");
            }
        }
    }
}

/// Commands the actor handles in a row before it lets the other tasks run.
const YIELD_EVERY: u32 = 32;

/// A connection is congested once the bytes queued for its writer pass this fraction of
/// `max_pending_bytes` (4 MiB of the default 16 MiB): from then on QoS 0 messages to it are
/// dropped (`Broker::set_congested`), so a subscriber that is momentarily slower than its
/// publishers stays connected, and only one that stops reading reaches the cut.
const CONGESTED_AT: usize = 4;

/// A congested connection is relieved once its writer is down to this fraction of
/// `max_pending_bytes` (1 MiB of the default 16 MiB).
const RELIEVED_AT: usize = 16;

/// A congested connection whose backlog has not shrunk for this long is cut off.
const STALLED_FOR: Duration = Duration::from_secs(5);

/// A connection over the congestion threshold.
#[derive(Debug)]
struct Congested {
    id: ConnectionId,
    /// The smallest backlog seen since it became congested.
    lowest: usize,
    /// When `lowest` last went down: the writer's last sign of progress.
    since: Instant,
}

impl<R: Runtime> Actor<R> {
    /// Tells the broker which congested connections caught up, and cuts off those whose
    /// writer made no progress for [`STALLED_FOR`] (a peer that stopped reading: with QoS 0
    /// dropped, its backlog would otherwise sit below the hard bound for good). Runs after
    /// every step; the list is short (only connections over the threshold).
    fn update_congestion(&mut self) {
        if self.congested.is_empty() {
            return;
        }
        let relieved = self.max_pending_bytes / RELIEVED_AT;
        let now = Instant::now();
        let mut stalled = Vec::new();
        let conns = &self.conns;
        let broker = &mut self.broker;
        self.congested.retain_mut(|c| {
            let Some(conn) = conns.get(&c.id) else {
                return false;
            };
            let pending = conn.sink.shared.pending.load(Ordering::Relaxed);
            if pending <= relieved {
                broker.set_congested(c.id, false);
                return false;
            }
            if pending < c.lowest {
                c.lowest = pending;
                c.since = now;
            } else if now.duration_since(c.since) >= STALLED_FOR {
                stalled.push(c.id);
                return false;
            }
            true
        });
        for id in stalled {
            if let Some(conn) = self.conns.get(&id) {
                warn!(
                    connection = %self.label(id),
                    stalled_s = STALLED_FOR.as_secs(),
                    "slow consumer: closing (its backlog did not shrink)"
                );
                conn.sink.abort();
            }
            self.forget(id);
        }
    }

    /// The transport of `id` is gone: tell the broker, report what that caused while the
    /// connection's details are still known, then drop them.
    fn forget(&mut self, id: ConnectionId) {
        // Its label, for the events below: the broker forgets the peer address first.
        self.closing = Some((id, self.label(id)));
        self.broker.handle_closed(self.clock.now(), id);
        self.broker.hooks_mut().predecided.remove(&id);
        while let Some(event) = self.broker.poll_event() {
            self.on_event(&event);
        }
        self.closing = None;
        self.conns.remove(&id);
    }

    /// Identifies connection `id` in logs ("#id peer", or "#id" once it is gone).
    fn label(&self, id: ConnectionId) -> String {
        if !self.conns.contains_key(&id) {
            return format!("#{}", id.0);
        }
        if let Some(client) = self.broker.client(id) {
            return describe(id, client.transport);
        }
        match &self.closing {
            Some((closing, label)) if *closing == id => label.clone(),
            _ => format!("#{}", id.0),
        }
    }

    fn domain_label(&self) -> &str {
        self.domain.as_deref().unwrap_or("-")
    }

    /// Logs a broker event (one line per connect and disconnect, with client id, user, peer and
    /// domain) and runs the `on_disconnect` handler.
    fn on_event(&mut self, event: &BrokerEvent) {
        let domain = self.domain_label();
        match event {
            BrokerEvent::ClientConnected {
                connection,
                client_id,
                session_present,
            } => {
                let username = self
                    .broker
                    .client(*connection)
                    .and_then(|c| c.username.map(Box::from));
                info!(
                    connection = %self.label(*connection),
                    client_id = %client_id,
                    user = username.as_deref().unwrap_or("-"),
                    domain,
                    session_present,
                    "client connected"
                );
                if let Some(conn) = self.conns.get_mut(connection) {
                    conn.username = username;
                    conn.connected = true;
                    // From here on the connection's task decodes its packets itself.
                    if let Some(decoding) = self.broker.transport_decoding(*connection) {
                        let _ = conn.sink.shared.decoding.set(decoding);
                    }
                }
            }
            BrokerEvent::ConnectionClosed {
                connection,
                client_id,
                cause,
            } => {
                let conn = self.conns.get(connection);
                let user = conn.and_then(|c| c.username.as_deref());
                let was_connected = conn.is_some_and(|c| c.connected);
                info!(
                    connection = %self.label(*connection),
                    client_id = client_id.as_deref().unwrap_or("-"),
                    user = user.unwrap_or("-"),
                    domain,
                    %cause,
                    "connection closed"
                );
                if let Some(handler) = &self.broker.hooks().handlers.on_disconnect
                    && was_connected
                {
                    handler(&ClosedInfo {
                        connection: *connection,
                        client_id: client_id.as_deref().map(str::to_owned),
                        cause: cause.clone(),
                        domain: self.domain.clone(),
                    });
                }
            }
            BrokerEvent::MessageDropped { client_id, reason } => {
                debug!(client_id = %client_id, domain, ?reason, "message dropped");
            }
            BrokerEvent::WillPublished { client_id } => {
                info!(client_id = %client_id, domain, "will published");
            }
            BrokerEvent::SessionEnded { client_id } => {
                debug!(client_id = %client_id, domain, "session ended");
            }
            other => debug!(?other, domain, "broker event"),
        }
    }
}
