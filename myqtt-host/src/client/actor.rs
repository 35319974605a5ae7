//! The background task behind a [`Client`](super::Client) handle: it owns the sans-IO
//! [`myqtt_proto::client::Client`] and the transport, and runs the DESIGN §4 drive loop: bytes
//! read -> `handle_input`; deadline -> `handle_timeout`; commands from handles -> core commands;
//! after every step, drain `poll_transmit` to the socket and `poll_event` to the waiting
//! futures and the application. No MQTT rule is decided here.

use std::collections::{HashMap, VecDeque};
use std::future::pending;
use std::io;
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use futures_channel::{mpsc, oneshot};
use futures_util::io::{AsyncReadExt, AsyncWriteExt};
use futures_util::{FutureExt, StreamExt, select_biased};
use myqtt_proto::client::{
    AckHandle, Client as Core, ClientEvent, CloseReason, PublishOutcome, PublishToken, RequestToken,
};
use myqtt_proto::codec::{
    MqttString, PacketId, Publish, ReasonCode, SubscribeProperties, Subscription,
};
use myqtt_proto::topic::TopicFilter;
use tracing::{debug, error, info, trace, warn};

use super::ClientError;
use super::event::{Event, Events};
use super::options::ReconnectPolicy;
use super::queue::{self, TrySendError};
use super::transport::{BoxTransport, Connector};
use crate::client_store::ClientStore;
use crate::clock::Clock;
use crate::runtime::{BoxFuture, Runtime, timeout};

/// Bytes read at most per socket read.
const READ_CHUNK: usize = 16 * 1024;

/// Lifecycle events kept for a slow [`Events`] reader.
const EVENT_CAPACITY: usize = 64;

/// Commands handled in one turn (and so made durable in one store transaction) at most, when
/// the client has storage.
const COMMAND_BATCH: usize = 64;

/// Where an operation's result goes.
pub(crate) type Reply<T> = oneshot::Sender<Result<T, ClientError>>;

/// The application's message handler.
pub(crate) type Handler = Arc<dyn Fn(Publish) + Send + Sync>;

/// Requests from handles to the task.
pub(crate) enum Command {
    Publish {
        publish: Publish,
        reply: Reply<ReasonCode>,
    },
    Subscribe {
        subscriptions: Vec<Subscription>,
        properties: SubscribeProperties,
        reply: Reply<Vec<ReasonCode>>,
    },
    Unsubscribe {
        filters: Vec<TopicFilter>,
        reply: Reply<Vec<ReasonCode>>,
    },
    Ping {
        reply: Reply<()>,
    },
    Close {
        reason: ReasonCode,
        reply: Reply<()>,
    },
    /// Acknowledge a received message in manual-ack mode.
    Ack {
        packet_id: PacketId,
        reason: ReasonCode,
        reply: Reply<()>,
    },
}

/// The client storage and the client id its rows are kept under.
pub(crate) struct Storage {
    pub(crate) store: ClientStore,
    pub(crate) client_id: MqttString,
}

/// Where received messages go. One lock, so that handing over from the initial queue to a
/// handler neither loses, duplicates nor reorders messages.
struct Receivers {
    handler: Option<Handler>,
    sink: Option<queue::Sender<Publish>>,
    /// The queue that holds what arrives between CONNACK and the first reader (a resumed
    /// session's queued messages come right after CONNACK); the first `messages()` takes it,
    /// or the first `on_message` drains it.
    initial: Option<queue::Receiver<Publish>>,
}

/// The queues of the [`Events`] readers.
struct EventHub {
    readers: Vec<queue::Sender<Event>>,
    /// The task ended: new readers get an ended stream.
    stopped: bool,
}

/// State shared between the handles and the task without a round trip.
pub(crate) struct Shared {
    receivers: Mutex<Receivers>,
    events: Mutex<EventHub>,
    connected: AtomicBool,
}

impl Shared {
    /// Shared state whose initial message queue holds `capacity` messages.
    pub(crate) fn new(capacity: usize) -> Self {
        let (tx, rx) = queue::channel(capacity);
        Shared {
            receivers: Mutex::new(Receivers {
                handler: None,
                sink: Some(tx),
                initial: Some(rx),
            }),
            events: Mutex::new(EventHub {
                readers: Vec::new(),
                stopped: false,
            }),
            connected: AtomicBool::new(false),
        }
    }

    fn hub(&self) -> std::sync::MutexGuard<'_, EventHub> {
        self.events.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A reader of the events from now on.
    pub(crate) fn subscribe(&self) -> Events {
        let (tx, rx) = queue::channel(EVENT_CAPACITY);
        let mut hub = self.hub();
        if !hub.stopped {
            hub.readers.push(tx);
        }
        Events::new(rx)
    }

    /// Hands `event` to every reader still there.
    fn emit(&self, event: Event) {
        self.hub()
            .readers
            .retain(|reader| reader.push_evicting(event.clone()));
    }

    /// The task ended: event readers see the end once they drained their queues. (A
    /// [`Messages`](super::Messages) queue ends when it is replaced or every handle is gone.)
    fn stopped(&self) {
        self.connected.store(false, Ordering::Relaxed);
        let mut hub = self.hub();
        hub.stopped = true;
        hub.readers.clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Receivers> {
        self.receivers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Installs the handler. If no reader took the initial queue yet, its messages go to the
    /// handler first, in order, and the queue is retired.
    pub(crate) fn set_handler(&self, handler: Handler) {
        let mut r = self.lock();
        r.handler = Some(handler.clone());
        if let Some(initial) = r.initial.take() {
            r.sink = None;
            // Drained under the lock: the task cannot deliver a newer message in between.
            while let Some(message) = initial.try_recv() {
                let call = std::panic::AssertUnwindSafe(|| handler(message));
                if std::panic::catch_unwind(call).is_err() {
                    warn!("the message handler panicked");
                }
            }
        }
    }

    /// The receiving end for `messages()`: the initial queue the first time (so nothing that
    /// arrived since CONNACK is missed), a new queue of `capacity` afterwards.
    pub(crate) fn take_messages(&self, capacity: usize) -> queue::Receiver<Publish> {
        let mut r = self.lock();
        if let Some(initial) = r.initial.take() {
            return initial;
        }
        let (tx, rx) = queue::channel(capacity);
        r.sink = Some(tx);
        rx
    }

    fn sink(&self) -> Option<queue::Sender<Publish>> {
        self.lock().sink.clone()
    }

    /// Forgets `closed` if it is still the current sink (its reader is gone).
    fn drop_sink(&self, closed: &queue::Sender<Publish>) {
        let mut r = self.lock();
        if r.sink.as_ref().is_some_and(|s| s.same_channel(closed)) {
            r.sink = None;
        }
    }

    pub(crate) fn is_connected(&self) -> bool {
        self.connected.load(Ordering::Relaxed)
    }
}

/// Where the per-filter results of a SUBSCRIBE or UNSUBSCRIBE go.
type PendingRequest = Reply<Vec<ReasonCode>>;

/// How the task ends.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Stop {
    /// Close the transport politely (after DISCONNECT, or after losing it).
    Graceful,
    /// Drop the transport at once: no DISCONNECT, so the server publishes the will.
    Abrupt,
}

/// What woke the task. Lives on the stack for one loop turn, so the size of `Command` is fine.
#[allow(clippy::large_enum_variant)]
enum Step {
    Shutdown,
    Command(Option<Command>),
    Opened(io::Result<BoxTransport>),
    Read(io::Result<usize>),
    /// The [`Messages`](super::Messages) queue has room (`Some`), or its reader is gone.
    Deliver(Option<queue::Sender<Publish>>),
    /// The timer set to this deadline fired.
    Timer(Instant),
}

/// Runtime settings of the task.
pub(crate) struct Settings {
    pub(crate) reconnect: ReconnectPolicy,
    pub(crate) connect_timeout: Duration,
    pub(crate) write_timeout: Duration,
}

/// The background task, on the runtime `R`.
pub(crate) struct Actor<R: Runtime> {
    core: Core,
    clock: Clock,
    connector: Arc<dyn Connector>,
    settings: Settings,
    commands: mpsc::Receiver<Command>,
    /// Fires on [`Client::shutdown`](super::Client::shutdown); cancelled when every handle is
    /// gone. `None` once it did either.
    shutdown: Option<oneshot::Receiver<()>>,
    shared: Arc<Shared>,
    /// Reply for the first connection, until CONNACK (or a failure) answers it.
    first: Option<Reply<()>>,
    publishes: HashMap<PublishToken, Reply<ReasonCode>>,
    requests: HashMap<RequestToken, PendingRequest>,
    pings: VecDeque<Reply<()>>,
    /// Messages waiting for room in the [`Messages`](super::Messages) queue; while any wait,
    /// the socket is not read.
    backlog: VecDeque<Publish>,
    stream: Option<BoxTransport>,
    /// The transport being opened (bounded by the connect timeout), polled by the loop.
    opening: Option<BoxFuture<'static, io::Result<BoxTransport>>>,
    retry_at: Option<Instant>,
    /// The loop's one timer, moved to the next deadline (core timeout or retry) every turn.
    timer: Pin<Box<R::Timer>>,
    attempt: u32,
    /// What one socket read fills.
    read_buf: Vec<u8>,
    rx: BytesMut,
    tx: Vec<u8>,
    close_reply: Option<Reply<()>>,
    /// The application asked to close: no reconnection.
    closing: bool,
    stop: Option<Stop>,
    /// Where session changes are made durable ([`ConnectOptions::storage`](super::ConnectOptions::storage)).
    storage: Option<Storage>,
    /// Ack handles of the messages of the current connection waiting for [`Command::Ack`],
    /// by packet id (unique among unacknowledged messages of one connection).
    acks: HashMap<PacketId, AckHandle>,
}

impl<R: Runtime> Actor<R> {
    pub(crate) fn new(
        core: Core,
        connector: Arc<dyn Connector>,
        settings: Settings,
        commands: mpsc::Receiver<Command>,
        shutdown: oneshot::Receiver<()>,
        shared: Arc<Shared>,
        first: Reply<()>,
    ) -> Self {
        Actor {
            core,
            clock: Clock::new(),
            connector,
            settings,
            commands,
            shutdown: Some(shutdown),
            shared,
            first: Some(first),
            publishes: HashMap::new(),
            requests: HashMap::new(),
            pings: VecDeque::new(),
            backlog: VecDeque::new(),
            stream: None,
            opening: None,
            retry_at: None,
            timer: Box::pin(R::timer(Instant::now())),
            attempt: 0,
            read_buf: vec![0; READ_CHUNK],
            rx: BytesMut::new(),
            tx: Vec::new(),
            close_reply: None,
            closing: false,
            stop: None,
            storage: None,
            acks: HashMap::new(),
        }
    }

    /// Makes the task persist every session change in `storage` before acting on it.
    pub(crate) fn with_storage(mut self, storage: Storage) -> Self {
        self.storage = Some(storage);
        self
    }

    /// Routes the completion of a publish restored from storage to `reply`.
    pub(crate) fn restored_publish(&mut self, token: PublishToken, reply: Reply<ReasonCode>) {
        self.publishes.insert(token, reply);
    }

    /// Runs until the client is closed, shut down, dropped, or loses a connection it may not
    /// replace.
    pub(crate) async fn run(mut self) {
        self.open();
        loop {
            self.drain().await;
            if let Some(stop) = self.stop {
                self.finish(stop).await;
                return;
            }
            let step = self.next_step().await;
            self.handle(step);
        }
    }

    /// Waits for the next input.
    async fn next_step(&mut self) -> Step {
        let core_deadline = self.core.poll_timeout().map(|t| self.clock.to_std(t));
        let deadline = match (core_deadline, self.retry_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if let Some(deadline) = deadline {
            R::reset_timer(self.timer.as_mut(), deadline);
        }
        let sink = if self.backlog.is_empty() {
            None
        } else {
            let sink = self.shared.sink();
            if sink.is_none() {
                // The reader went away: nobody will take these.
                self.backlog.clear();
            }
            sink
        };
        let reading = self.stream.is_some() && self.backlog.is_empty();
        let Actor {
            shutdown,
            commands,
            opening,
            stream,
            read_buf,
            timer,
            ..
        } = self;
        let mut shutdown = pin!(
            async {
                match shutdown {
                    Some(rx) => rx.await.is_ok(),
                    None => pending().await,
                }
            }
            .fuse()
        );
        let mut command = commands.next();
        let mut opened = pin!(
            async {
                match opening {
                    Some(opening) => opening.await,
                    None => pending().await,
                }
            }
            .fuse()
        );
        let mut read = pin!(
            async {
                match stream {
                    Some(stream) if reading => stream.read(read_buf).await,
                    _ => pending().await,
                }
            }
            .fuse()
        );
        let mut room = pin!(
            async {
                match sink {
                    Some(sink) => sink.room().await.then_some(sink),
                    None => pending().await,
                }
            }
            .fuse()
        );
        let mut fired = pin!(
            async {
                match deadline {
                    Some(deadline) => {
                        timer.as_mut().await;
                        deadline
                    }
                    None => pending().await,
                }
            }
            .fuse()
        );
        select_biased! {
            r = shutdown => if r {
                Step::Shutdown
            } else {
                // Every handle is gone: the command channel is closed as well.
                Step::Command(None)
            },
            cmd = command => Step::Command(cmd),
            r = opened => Step::Opened(r),
            r = read => Step::Read(r),
            r = room => Step::Deliver(r),
            deadline = fired => Step::Timer(deadline),
        }
    }

    fn handle(&mut self, step: Step) {
        let now = self.clock.now();
        match step {
            Step::Shutdown => {
                self.shutdown = None;
                info!("client shut down: dropping the transport without DISCONNECT");
                self.stream = None;
                self.core.handle_closed(now);
                self.stop = Some(Stop::Abrupt);
            }
            Step::Command(Some(cmd)) => {
                self.command(cmd);
                if self.storage.is_some() {
                    // Group commit: the commands already waiting share one store transaction.
                    for _ in 1..COMMAND_BATCH {
                        if self.closing {
                            break;
                        }
                        match self.commands.try_recv() {
                            Ok(cmd) => self.command(cmd),
                            Err(_) => break,
                        }
                    }
                }
            }
            Step::Command(None) => {
                self.shutdown = None;
                debug!("every client handle dropped: closing");
                self.begin_close(ReasonCode::Success);
            }
            Step::Opened(result) => {
                self.opening = None;
                match result {
                    Ok(stream) => {
                        debug!(server = %self.connector.describe(), "transport open, sending CONNECT");
                        self.stream = Some(stream);
                        self.rx.clear();
                        self.core.handle_connected(now);
                    }
                    Err(e) => self.open_failed(e),
                }
            }
            Step::Read(Ok(0)) => {
                debug!("transport closed by the server");
                self.transport_lost();
            }
            Step::Read(Ok(n)) => {
                trace!(bytes = n, "received");
                self.rx.extend_from_slice(&self.read_buf[..n]);
                self.core.handle_input(now, &mut self.rx);
            }
            Step::Read(Err(e)) => {
                debug!("transport read failed: {e}");
                self.transport_lost();
            }
            Step::Deliver(Some(sink)) => {
                if let Some(message) = self.backlog.pop_front() {
                    match sink.try_send(message) {
                        Ok(()) => {}
                        // Only this task sends: the room it waited for is still there.
                        Err(TrySendError::Full(message)) => self.backlog.push_front(message),
                        Err(TrySendError::Closed) => self.backlog.clear(),
                    }
                }
            }
            Step::Deliver(None) => self.backlog.clear(),
            Step::Timer(deadline) => {
                if self.retry_at.is_some_and(|at| at <= deadline) {
                    self.retry_at = None;
                    self.open();
                }
                if self
                    .core
                    .poll_timeout()
                    .is_some_and(|t| self.clock.to_std(t) <= deadline)
                {
                    self.core.handle_timeout(now);
                }
            }
        }
    }

    /// Starts opening a transport, bounded by the connect timeout.
    fn open(&mut self) {
        let connector = self.connector.clone();
        let limit = self.settings.connect_timeout;
        debug!(server = %connector.describe(), "opening transport");
        self.opening = Some(Box::pin(async move {
            match timeout::<R, _>(limit, connector.connect()).await {
                Some(result) => result,
                None => Err(io::Error::new(io::ErrorKind::TimedOut, "connect timed out")),
            }
        }));
    }

    fn open_failed(&mut self, error: io::Error) {
        if let Some(first) = self.first.take() {
            info!(server = %self.connector.describe(), "connection failed: {error}");
            let _ = first.send(Err(ClientError::Io(error)));
            self.stop = Some(Stop::Graceful);
            return;
        }
        warn!(server = %self.connector.describe(), attempt = self.attempt, "reconnection failed: {error}");
        self.shared.emit(Event::ReconnectFailed {
            attempt: self.attempt,
            error: error.to_string(),
        });
        self.schedule_retry();
    }

    /// The transport failed or the server closed it.
    fn transport_lost(&mut self) {
        self.stream = None;
        self.core.handle_closed(self.clock.now());
    }

    fn schedule_retry(&mut self) {
        if self.stop.is_some() || self.closing {
            self.stop.get_or_insert(Stop::Graceful);
            return;
        }
        if !self.settings.reconnect.enabled {
            info!("connection lost and reconnection is disabled: stopping");
            self.stop = Some(Stop::Graceful);
            return;
        }
        self.attempt = self.attempt.saturating_add(1);
        let delay = self.settings.reconnect.delay(self.attempt);
        info!(attempt = self.attempt, ?delay, "reconnecting");
        self.shared.emit(Event::Reconnecting {
            attempt: self.attempt,
            delay,
        });
        self.retry_at = Some(Instant::now() + delay);
    }

    fn command(&mut self, cmd: Command) {
        let now = self.clock.now();
        match cmd {
            Command::Publish { publish, reply } => {
                debug!(topic = %publish.topic, qos = ?publish.qos, retain = publish.retain, len = publish.payload.len(), "publish");
                match self.core.publish(now, publish) {
                    Ok(token) => {
                        self.publishes.insert(token, reply);
                    }
                    Err(e) => {
                        let _ = reply.send(Err(e.into()));
                    }
                }
            }
            Command::Subscribe {
                subscriptions,
                properties,
                reply,
            } => {
                debug!(filters = ?subscriptions.iter().map(|s| s.filter.as_str()).collect::<Vec<_>>(), "subscribe");
                match self
                    .core
                    .subscribe_with_properties(now, &subscriptions, properties)
                {
                    Ok(token) => {
                        self.requests.insert(token, reply);
                    }
                    Err(e) => {
                        let _ = reply.send(Err(e.into()));
                    }
                }
            }
            Command::Unsubscribe { filters, reply } => {
                debug!(filters = ?filters.iter().map(|f| f.as_str()).collect::<Vec<_>>(), "unsubscribe");
                match self.core.unsubscribe(now, &filters) {
                    Ok(token) => {
                        self.requests.insert(token, reply);
                    }
                    Err(e) => {
                        let _ = reply.send(Err(e.into()));
                    }
                }
            }
            Command::Ping { reply } => match self.core.ping(now) {
                Ok(()) => {
                    debug!("ping");
                    self.pings.push_back(reply);
                }
                Err(e) => {
                    let _ = reply.send(Err(e.into()));
                }
            },
            Command::Close { reason, reply } => {
                self.close_reply = Some(reply);
                self.begin_close(reason);
            }
            Command::Ack {
                packet_id,
                reason,
                reply,
            } => {
                let result = match self.acks.remove(&packet_id) {
                    Some(handle) => self
                        .core
                        .ack_with_reason(now, handle, reason)
                        .map_err(ClientError::from),
                    None => Err(ClientError::Command(
                        myqtt_proto::client::CommandError::UnknownAck,
                    )),
                };
                debug!(packet_id = packet_id.get(), ok = result.is_ok(), "ack");
                let _ = reply.send(result);
            }
        }
    }

    /// DISCONNECT (when connected) and stop.
    fn begin_close(&mut self, reason: ReasonCode) {
        self.closing = true;
        if self.core.is_connected() {
            info!("closing: sending DISCONNECT");
            // The core reports Closed(Local), which stops the task after the bytes are out.
            self.core.disconnect(self.clock.now(), reason);
        } else {
            self.stop = Some(Stop::Graceful);
        }
    }

    /// Drains the core: transmit to the socket, events to the application, until both are
    /// empty (handling an event can produce more output, e.g. resubscription).
    async fn drain(&mut self) {
        loop {
            // The store first: what this step changed must be durable before its bytes leave
            // and its events reach the application.
            if !self.persist().await {
                return;
            }
            let n = self.core.poll_transmit(&mut self.tx);
            if n > 0 {
                self.write().await;
            }
            let mut any = false;
            while let Some(event) = self.core.poll_event() {
                any = true;
                self.event(event);
            }
            if n == 0 && !any {
                return;
            }
        }
    }

    /// Applies the core's pending store operations in one durable transaction (on a blocking
    /// thread). On failure the transport is dropped without sending anything more, the
    /// client stops, and `false` is returned: nothing of this step may be sent or delivered.
    async fn persist(&mut self) -> bool {
        let mut ops = Vec::new();
        while let Some(op) = self.core.poll_store_op() {
            ops.push(op);
        }
        if ops.is_empty() {
            return true;
        }
        let Some(mut storage) = self.storage.take() else {
            // The core records operations only when the options have storage.
            return true;
        };
        trace!(ops = ops.len(), "persisting session changes");
        let result = R::spawn_blocking(move || {
            let result = storage.store.apply(&storage.client_id, &ops);
            (storage, result)
        })
        .await;
        let error = match result {
            Some((storage, Ok(()))) => {
                self.storage = Some(storage);
                return true;
            }
            Some((storage, Err(e))) => {
                self.storage = Some(storage);
                e.to_string()
            }
            None => "store task panicked".to_owned(),
        };
        error!("client storage failed, stopping: {error}");
        self.tx.clear();
        self.stream = None;
        self.shared.emit(Event::StorageFailed { error });
        self.stop = Some(Stop::Abrupt);
        false
    }

    /// Writes the transmit buffer; a failure or a stall beyond the write timeout loses the
    /// transport.
    async fn write(&mut self) {
        let Some(stream) = self.stream.as_mut() else {
            self.tx.clear();
            return;
        };
        trace!(bytes = self.tx.len(), "sending");
        let limit = self.settings.write_timeout;
        let result = timeout::<R, _>(limit, async {
            stream.write_all(&self.tx).await?;
            stream.flush().await
        })
        .await;
        self.tx.clear();
        match result {
            Some(Ok(())) => {}
            Some(Err(e)) => {
                debug!("transport write failed: {e}");
                self.transport_lost();
            }
            None => {
                warn!(?limit, "transport write stalled: dropping the connection");
                self.transport_lost();
            }
        }
    }

    fn event(&mut self, event: ClientEvent) {
        match event {
            ClientEvent::Connected {
                session_present, ..
            } => self.connected(session_present),
            ClientEvent::Message { publish, ack } => {
                debug!(topic = %publish.topic, qos = ?publish.qos, retain = publish.retain, dup = publish.dup, len = publish.payload.len(), "message received");
                if let (Some(handle), Some(id)) = (ack, publish.packet_id) {
                    self.acks.insert(id, handle);
                }
                self.deliver(publish);
            }
            ClientEvent::Published { token, outcome } => {
                debug!(token = token.0, ?outcome, "publish completed");
                if let Some(reply) = self.publishes.remove(&token) {
                    let _ = reply.send(publish_result(outcome));
                }
            }
            ClientEvent::Subscribed { token, results } => {
                debug!(token = token.0, ?results, "subscribed");
                if let Some(reply) = self.requests.remove(&token) {
                    let _ = reply.send(Ok(results));
                }
            }
            ClientEvent::Unsubscribed { token, results } => {
                debug!(token = token.0, ?results, "unsubscribed");
                if let Some(reply) = self.requests.remove(&token) {
                    let _ = reply.send(Ok(results));
                }
            }
            ClientEvent::RequestAborted { token } => {
                if let Some(reply) = self.requests.remove(&token) {
                    let _ = reply.send(Err(ClientError::ConnectionLost));
                }
            }
            ClientEvent::Resubscribed { results } => {
                info!(?results, "resubscribed after reconnection");
            }
            ClientEvent::PingResponse => {
                debug!("pong");
                if let Some(reply) = self.pings.pop_front() {
                    let _ = reply.send(Ok(()));
                }
            }
            ClientEvent::AuthChallenge(auth) => {
                warn!(
                    reason = ?auth.reason_code,
                    "enhanced authentication is not supported by this client yet"
                );
            }
            ClientEvent::Closed(reason) => self.closed(reason),
        }
    }

    fn connected(&mut self, session_present: bool) {
        self.shared.connected.store(true, Ordering::Relaxed);
        self.acks.clear();
        self.attempt = 0;
        info!(server = %self.connector.describe(), client_id = %self.core.client_id(), session_present, "connected");
        if let Some(first) = self.first.take() {
            let _ = first.send(Ok(()));
            return;
        }
        self.shared.emit(Event::Reconnected { session_present });
    }

    fn closed(&mut self, reason: CloseReason) {
        self.shared.connected.store(false, Ordering::Relaxed);
        // The server resends unacknowledged messages on a resumed session, with new handles.
        self.acks.clear();
        // Bytes still queued (a DISCONNECT) were written before this event was drained.
        self.stream = None;
        for reply in self.pings.drain(..) {
            let _ = reply.send(Err(ClientError::ConnectionLost));
        }
        if let Some(first) = self.first.take() {
            info!(?reason, "connection failed");
            let error = match reason {
                CloseReason::Refused(connack) => ClientError::Refused(connack.reason_code),
                other => ClientError::ConnectFailed(other),
            };
            let _ = first.send(Err(error));
            self.stop = Some(Stop::Graceful);
            return;
        }
        info!(?reason, "disconnected");
        self.shared.emit(Event::Disconnected { reason });
        self.schedule_retry();
    }

    /// Hands a message to the handler and to the [`Messages`](super::Messages) queue.
    fn deliver(&mut self, publish: Publish) {
        let (handler, sink) = {
            let r = self.shared.lock();
            (r.handler.clone(), r.sink.clone())
        };
        if let Some(handler) = handler {
            let message = publish.clone();
            // A panicking handler must not take the connection down with the task.
            let call = std::panic::AssertUnwindSafe(|| handler(message));
            if std::panic::catch_unwind(call).is_err() {
                warn!("the message handler panicked");
            }
        }
        let Some(sink) = sink else {
            return;
        };
        if !self.backlog.is_empty() {
            self.backlog.push_back(publish);
            return;
        }
        match sink.try_send(publish) {
            Ok(()) => {}
            Err(TrySendError::Full(publish)) => self.backlog.push_back(publish),
            Err(TrySendError::Closed) => self.shared.drop_sink(&sink),
        }
    }

    /// Ends the task: closes the transport and completes everything still waiting.
    async fn finish(&mut self, stop: Stop) {
        self.opening = None;
        if let Some(mut stream) = self.stream.take()
            && stop == Stop::Graceful
        {
            let _ = timeout::<R, _>(self.settings.write_timeout, stream.close()).await;
        }
        self.shared.connected.store(false, Ordering::Relaxed);
        for (_, reply) in self.publishes.drain() {
            let _ = reply.send(Err(ClientError::Closed));
        }
        for (_, reply) in self.requests.drain() {
            let _ = reply.send(Err(ClientError::Closed));
        }
        for reply in self.pings.drain(..) {
            let _ = reply.send(Err(ClientError::Closed));
        }
        if let Some(first) = self.first.take() {
            let _ = first.send(Err(ClientError::Closed));
        }
        self.commands.close();
        while let Ok(cmd) = self.commands.try_recv() {
            refuse(cmd);
        }
        // Closed before Stopped is reported, so a new client may open the directory at once.
        self.storage = None;
        info!("client stopped");
        self.shared.emit(Event::Stopped);
        self.shared.stopped();
        if let Some(reply) = self.close_reply.take() {
            let _ = reply.send(Ok(()));
        }
    }
}

impl<R: Runtime> Drop for Actor<R> {
    /// Also when the task is aborted or unwinds: readers see the end.
    fn drop(&mut self) {
        self.shared.stopped();
    }
}

/// Answers a command that arrived after the task stopped.
fn refuse(cmd: Command) {
    match cmd {
        Command::Publish { reply, .. } => {
            let _ = reply.send(Err(ClientError::Closed));
        }
        Command::Subscribe { reply, .. } | Command::Unsubscribe { reply, .. } => {
            let _ = reply.send(Err(ClientError::Closed));
        }
        Command::Ping { reply } => {
            let _ = reply.send(Err(ClientError::Closed));
        }
        Command::Close { reply, .. } => {
            let _ = reply.send(Ok(()));
        }
        Command::Ack { reply, .. } => {
            let _ = reply.send(Err(ClientError::Closed));
        }
    }
}

/// The result a `publish` future resolves to.
fn publish_result(outcome: PublishOutcome) -> Result<ReasonCode, ClientError> {
    match outcome {
        PublishOutcome::Acknowledged(rc) if rc.is_error() => Err(ClientError::PublishRefused(rc)),
        PublishOutcome::Acknowledged(rc) => Ok(rc),
        PublishOutcome::SessionLost => Err(ClientError::SessionLost),
        PublishOutcome::Discarded => Err(ClientError::Closed),
        PublishOutcome::Rejected(e) => Err(e.into()),
    }
}
