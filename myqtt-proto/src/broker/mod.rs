//! The broker core (router): client registry and session takeover, sessions and their expiry,
//! the subscription trie, retained messages, wills, offline queues, message expiry, QoS
//! downgrade, no-local and subscription identifiers (DESIGN §3 "Broker").
//!
//! A [`Broker`] owns one [`ServerConnection`] per transport and all sessions. The runtime drives
//! it with the usual vocabulary:
//! - `handle_connection_opened(now, transport)` when a socket is accepted, then
//!   `handle_input(now, conn, &mut rx)`, `handle_timeout(now)` and `handle_closed(now, conn)`;
//! - commands: [`Broker::accept`] / [`Broker::reject`] for deferred connects,
//!   [`Broker::publish`], [`Broker::disconnect`];
//! - outputs: [`Broker::poll_writable`] + [`Broker::poll_transmit`] per connection,
//!   [`Broker::poll_close`] (flush, then close that transport and call `handle_closed`),
//!   [`Broker::poll_event`] and [`Broker::poll_timeout`].
//!
//! Application decisions (authentication, publish and subscribe authorization) come from a
//! [`BrokerHooks`] implementation.

mod close;
mod config;
mod connect;
mod event;
mod hooks;
mod introspect;
mod restore;
pub mod retained;
mod routing;
mod session;
mod subscribe;
pub mod trie;
mod types;

use alloc::boxed::Box;
use alloc::collections::{BTreeMap, BTreeSet, VecDeque};
use alloc::sync::Arc;
use alloc::vec::Vec;
use bytes::BytesMut;
use core::num::NonZeroU32;

pub use config::{BrokerConfig, Durability, QueueFullPolicy, TakeoverPolicy};
pub use event::BrokerEvent;
pub use hooks::{
    AllowAll, AuthDecision, BrokerHooks, ConnectDecision, ConnectRequest, PublishDecision,
    SubscribeDecision,
};
pub use session::{SessionExpiry, SessionSubscription};
pub use types::{ClientView, ConnectionId, Delivery, DropReason, Message, TransportInfo};

use crate::codec::{Connect, MqttString, Packet, PacketError, SubscriptionOptions, Will};
use crate::server::{ServerConnection, ServerConnectionConfig, ServerEvent};
use crate::time::Instant;
use retained::RetainedTree;
use session::Session;
use trie::SubscriptionTrie;

/// Why the broker refused to open a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum OpenError {
    /// [`BrokerConfig::max_connections`] connections are already open.
    TooManyConnections,
}

/// Who a subscription in the trie belongs to: a session, and for shared subscriptions the share
/// name (MQTT 5.0 §4.8.2).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct SubscriberKey {
    pub(crate) client_id: MqttString,
    pub(crate) share: Option<MqttString>,
}

/// A subscription as the trie stores it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TrieEntry {
    pub(crate) options: SubscriptionOptions,
    pub(crate) identifier: Option<NonZeroU32>,
}

/// Timers, fired lazily: each entry is checked against the current state when it runs.
/// Every connection has one in [`Broker::timers`]: the session timers are boxed so that an
/// entry is 24 bytes rather than 56 (a `BTreeSet` node holds 11, about half full).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Timer {
    Connection(ConnectionId),
    Will(Box<SessionTimer>),
    SessionExpiry(Box<SessionTimer>),
}

/// A will or session expiry timer: the session and its generation when it was set (a
/// later generation invalidates it). Ordered as the pair.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct SessionTimer {
    pub(crate) client_id: MqttString,
    pub(crate) generation: u64,
}

impl Timer {
    pub(crate) fn will(client_id: MqttString, generation: u64) -> Self {
        Timer::Will(Box::new(SessionTimer {
            client_id,
            generation,
        }))
    }

    pub(crate) fn session_expiry(client_id: MqttString, generation: u64) -> Self {
        Timer::SessionExpiry(Box::new(SessionTimer {
            client_id,
            generation,
        }))
    }
}

/// A will waiting for its delay (MQTT 5.0 §3.1.3.2.2).
#[derive(Clone, Debug)]
pub(crate) struct PendingWill {
    pub(crate) will: Will,
    pub(crate) generation: u64,
}

/// What the broker produces besides bytes: events, and store operations when persistence is
/// on.
#[derive(Debug, Default)]
pub(crate) struct Outputs {
    pub(crate) events: VecDeque<BrokerEvent>,
    pub(crate) store: Vec<crate::store::StoreOp>,
    pub(crate) store_enabled: bool,
    /// Store operations emitted since the broker started (the store mark).
    pub(crate) emitted: u64,
    /// [`Durability::Strict`] with persistence: packets that announce a stored change wait
    /// until it is durable.
    pub(crate) strict: bool,
    /// Store mark reported durable by the runtime.
    pub(crate) durable: u64,
    /// Packets waiting for their store operations to be durable, in order.
    pub(crate) held: VecDeque<HeldPacket>,
    /// Connections whose transport is backed up (see [`Broker::set_congested`]).
    pub(crate) congested: BTreeSet<ConnectionId>,
}

impl Outputs {
    /// Records a store operation for `session` if persistence is on and the session outlives
    /// its connection.
    pub(crate) fn store(&mut self, session: &Session, op: impl FnOnce() -> crate::store::StoreOp) {
        if self.store_enabled && session.expiry != SessionExpiry::OnClose {
            self.store.push(op());
            self.emitted += 1;
        }
    }

    /// Sends `packet` on `wire` now or, under [`Durability::Strict`], holds it for
    /// `connection` until the store is durable: up to the current mark when `after_store` (the
    /// packet tells the peer about a change that must survive a crash first: a QoS 2 PUBLISH
    /// whose in-flight record would otherwise be lost and resent under another packet id, a
    /// PUBREL or PUBCOMP whose packet id the peer then forgets; [MQTT-4.3.3-12],
    /// [MQTT-4.3.3-13]) and in any case behind every packet held before it, so none overtakes
    /// another ([MQTT-4.6.0-6]). `counted` marks an acknowledgment of the client's PUBLISH,
    /// which counts against our Receive Maximum while held. Returns false when a PUBLISH does
    /// not fit the client's Maximum Packet Size (checked before holding) or the connection
    /// is not open.
    pub(crate) fn send_or_hold(
        &mut self,
        now: Instant,
        conn: HoldTarget<'_>,
        packet: Packet,
        after_store: bool,
    ) -> bool {
        let HoldTarget { id, wire, held } = conn;
        if !self.must_hold(after_store) {
            return match &packet {
                Packet::Publish(p) => wire.send_publish(now, p),
                other => {
                    wire.send_packet(now, other);
                    true
                }
            };
        }
        if let Packet::Publish(p) = &packet
            && !wire.publish_fits(p)
        {
            return false;
        }
        let needed = if after_store { self.emitted } else { 0 };
        let mark = needed.max(self.held.back().map_or(0, |h| h.mark));
        let counted = held.is_some();
        if let Some(count) = held {
            *count += 1;
        }
        self.held.push_back(HeldPacket {
            mark,
            connection: id,
            packet,
            counted,
        });
        true
    }

    /// [`Outputs::send_or_hold`] for a PUBLISH the caller keeps: encoded from the reference
    /// when it goes out now, cloned only when it must be held.
    pub(crate) fn send_publish_or_hold(
        &mut self,
        now: Instant,
        conn: HoldTarget<'_>,
        publish: &crate::codec::Publish,
        after_store: bool,
    ) -> bool {
        if self.must_hold(after_store) {
            self.send_or_hold(now, conn, Packet::Publish(publish.clone()), after_store)
        } else {
            conn.wire.send_publish(now, publish)
        }
    }

    /// Whether a packet sent now must wait for the store (see [`Outputs::send_or_hold`]).
    fn must_hold(&self, after_store: bool) -> bool {
        self.strict && ((after_store && self.emitted > self.durable) || !self.held.is_empty())
    }

    /// Records a store operation whatever the session (retained messages, removals).
    pub(crate) fn store_always(&mut self, op: impl FnOnce() -> crate::store::StoreOp) {
        if self.store_enabled {
            self.store.push(op());
            self.emitted += 1;
        }
    }
}

/// Broker-side state of one transport.
#[derive(Debug)]
pub(crate) struct Conn {
    pub(crate) wire: ServerConnection,
    pub(crate) transport: TransportInfo,
    pub(crate) client_id: Option<MqttString>,
    pub(crate) username: Option<MqttString>,
    /// Boxed: most clients set no will, and an inline one (topic, payload, properties) is a
    /// few hundred bytes in every connection.
    pub(crate) will: Option<Box<Will>>,
    /// CONNECT waiting for a deferred decision or an AUTH exchange.
    pub(crate) pending: Option<Box<Connect>>,
    pub(crate) assigned_id: bool,
    /// The Session Expiry Interval the CONNECT asked for (5.0 [MQTT-3.14.2-2]).
    pub(crate) connect_session_expiry: u32,
    pub(crate) scheduled: Option<Instant>,
    pub(crate) close_reported: bool,
    /// PUBACK/PUBREC of this connection held until the store is durable.
    pub(crate) held_acks: usize,
}

impl Conn {
    /// What hooks see of this connection.
    pub(crate) fn view(&self, id: ConnectionId) -> ClientView<'_> {
        ClientView {
            connection: id,
            client_id: self.client_id.as_deref().unwrap_or(""),
            username: self.username.as_deref(),
            version: self.wire.version(),
            transport: &self.transport,
        }
    }
}

/// The sans-IO MQTT broker. See the [module docs](self).
#[derive(Debug)]
pub struct Broker<H: BrokerHooks = AllowAll> {
    pub(crate) config: BrokerConfig,
    pub(crate) hooks: H,
    /// Boxed: a `BTreeMap` node holds 11 entries and sequential ids leave nodes about half
    /// full, so an inline `Conn` (hundreds of bytes) cost nearly twice its size per idle
    /// connection; a box costs its size plus a pointer.
    pub(crate) connections: BTreeMap<ConnectionId, Box<Conn>>,
    pub(crate) sessions: Sessions,
    pub(crate) subscriptions: SubscriptionTrie<SubscriberKey, TrieEntry>,
    pub(crate) retained: RetainedTree<Arc<Message>>,
    pub(crate) shared_cursor: BTreeMap<(MqttString, alloc::string::String), usize>,
    pub(crate) wills: BTreeMap<MqttString, PendingWill>,
    pub(crate) timers: BTreeSet<(Instant, Timer)>,
    pub(crate) out: Outputs,
    pub(crate) closes: VecDeque<ConnectionId>,
    pub(crate) writable: BTreeSet<ConnectionId>,
    pub(crate) next_connection: u64,
    pub(crate) next_assigned_id: u64,
    pub(crate) next_generation: u64,
    /// Scratch list of the sessions a message is routed to, reused from message to message.
    pub(crate) targets: Vec<routing::Target>,
    /// The event queue lent to the connection being fed (see
    /// [`ServerConnection::lend_events`]): one for the broker instead of one per connection.
    pub(crate) wire_events: VecDeque<ServerEvent>,
}

/// The sessions by client identifier. Boxed: a `BTreeMap` node holds 11 entries and keys
/// inserted in order leave nodes about half full, so an inline [`Session`] (about 250 bytes)
/// cost nearly twice its size per connected client; a box costs its size plus a pointer. The
/// methods are `BTreeMap`'s, handing out the session rather than its box.
#[derive(Debug, Default)]
pub(crate) struct Sessions(BTreeMap<MqttString, Box<Session>>);

impl Sessions {
    pub(crate) fn get<Q>(&self, client_id: &Q) -> Option<&Session>
    where
        MqttString: core::borrow::Borrow<Q>,
        Q: Ord + ?Sized,
    {
        self.0.get(client_id).map(|s| &**s)
    }

    pub(crate) fn get_mut<Q>(&mut self, client_id: &Q) -> Option<&mut Session>
    where
        MqttString: core::borrow::Borrow<Q>,
        Q: Ord + ?Sized,
    {
        self.0.get_mut(client_id).map(|s| &mut **s)
    }

    pub(crate) fn contains_key<Q>(&self, client_id: &Q) -> bool
    where
        MqttString: core::borrow::Borrow<Q>,
        Q: Ord + ?Sized,
    {
        self.0.contains_key(client_id)
    }

    /// The session of `client_id`, made by `new` if there is none.
    pub(crate) fn get_or_insert_with(
        &mut self,
        client_id: MqttString,
        new: impl FnOnce() -> Session,
    ) -> &mut Session {
        self.0.entry(client_id).or_insert_with(|| Box::new(new()))
    }

    pub(crate) fn insert(&mut self, client_id: MqttString, session: Session) {
        self.0.insert(client_id, Box::new(session));
    }

    pub(crate) fn remove<Q>(&mut self, client_id: &Q) -> Option<Session>
    where
        MqttString: core::borrow::Borrow<Q>,
        Q: Ord + ?Sized,
    {
        self.0.remove(client_id).map(|s| *s)
    }

    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    pub(crate) fn keys(&self) -> impl Iterator<Item = &MqttString> {
        self.0.keys()
    }
}

/// A packet held until the store reaches `mark` ([`Durability::Strict`]).
#[derive(Debug)]
pub(crate) struct HeldPacket {
    pub(crate) mark: u64,
    pub(crate) connection: ConnectionId,
    pub(crate) packet: Packet,
    /// An acknowledgment counted in [`Conn::held_acks`].
    pub(crate) counted: bool,
}

/// The connection a packet is for, in [`Outputs::send_or_hold`].
pub(crate) struct HoldTarget<'a> {
    pub(crate) id: ConnectionId,
    pub(crate) wire: &'a mut ServerConnection,
    /// The connection's held-acknowledgment count, for acknowledgments of its PUBLISHes.
    pub(crate) held: Option<&'a mut usize>,
}

impl Broker<AllowAll> {
    /// A broker that allows every client and message.
    pub fn new(config: BrokerConfig) -> Self {
        Broker::with_hooks(config, AllowAll)
    }
}

impl<H: BrokerHooks> Broker<H> {
    /// A broker whose decisions come from `hooks`.
    pub fn with_hooks(config: BrokerConfig, hooks: H) -> Self {
        let store_enabled = config.persistence;
        let strict = store_enabled && config.durability == Durability::Strict;
        Broker {
            config,
            hooks,
            connections: BTreeMap::new(),
            sessions: Sessions::default(),
            subscriptions: SubscriptionTrie::new(),
            retained: RetainedTree::new(),
            shared_cursor: BTreeMap::new(),
            wills: BTreeMap::new(),
            timers: BTreeSet::new(),
            out: Outputs {
                events: VecDeque::new(),
                store: Vec::new(),
                store_enabled,
                emitted: 0,
                strict,
                durable: 0,
                held: VecDeque::new(),
                congested: BTreeSet::new(),
            },
            closes: VecDeque::new(),
            writable: BTreeSet::new(),
            next_connection: 0,
            next_assigned_id: 0,
            next_generation: 0,
            targets: Vec::new(),
            wire_events: VecDeque::new(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &BrokerConfig {
        &self.config
    }

    /// The hooks (to read state an application keeps there).
    pub fn hooks(&self) -> &H {
        &self.hooks
    }

    /// The hooks, mutably (to change policy at run time).
    pub fn hooks_mut(&mut self) -> &mut H {
        &mut self.hooks
    }

    // ---- inputs ----

    /// A transport was accepted. Refused beyond [`BrokerConfig::max_connections`]: the runtime
    /// closes the socket at once.
    pub fn handle_connection_opened(
        &mut self,
        now: Instant,
        transport: TransportInfo,
    ) -> Result<ConnectionId, OpenError> {
        if self.connections.len() >= self.config.max_connections {
            return Err(OpenError::TooManyConnections);
        }
        self.next_connection += 1;
        let id = ConnectionId(self.next_connection);
        let wire = ServerConnection::new(
            now,
            ServerConnectionConfig {
                max_packet_size: self.config.max_packet_size,
                connect_timeout: self.config.connect_timeout,
                topic_alias_maximum: self.config.topic_alias_maximum,
            },
        );
        let conn = Conn {
            wire,
            transport,
            client_id: None,
            username: None,
            will: None,
            pending: None,
            assigned_id: false,
            connect_session_expiry: 0,
            scheduled: None,
            close_reported: false,
            held_acks: 0,
        };
        self.connections.insert(id, Box::new(conn));
        self.after_wire(now, id);
        Ok(id)
    }

    /// Bytes arrived on `connection`. Consumes whole packets from `rx`.
    pub fn handle_input(&mut self, now: Instant, connection: ConnectionId, rx: &mut BytesMut) {
        let Some(conn) = self.connections.get_mut(&connection) else {
            return;
        };
        conn.wire.lend_events(&mut self.wire_events);
        conn.wire.handle_input(now, rx);
        self.after_wire(now, connection);
    }

    /// Packets of `connection` its transport decoded itself (see
    /// [`Broker::transport_decoding`]), in order, after every byte passed before them to
    /// [`Broker::handle_input`], then the error that stopped its decoding, if any (answered
    /// as the malformed bytes would be). Lets a multi-threaded host decode on the connections' own
    /// tasks while one owner routes.
    pub fn handle_packets(
        &mut self,
        now: Instant,
        connection: ConnectionId,
        packets: impl IntoIterator<Item = Packet>,
        error: Option<PacketError>,
    ) {
        let Some(conn) = self.connections.get_mut(&connection) else {
            return;
        };
        for packet in packets {
            conn.wire.handle_decoded(now, packet);
        }
        if let Some(error) = error {
            conn.wire.handle_decode_error(error);
        }
        self.after_wire(now, connection);
    }

    /// The transport of `connection` is not taking its bytes as fast as they come (`true`),
    /// or caught up again (`false`). While congested, QoS 0 messages for it are dropped and
    /// reported as [`DropReason::Congested`]: QoS 0 is delivered at most once (MQTT 3.1.1
    /// §4.3.1, MQTT 5.0 §4.3.1), and dropping them keeps a subscriber that is momentarily
    /// slower than its publishers connected, with its backlog bounded, instead of cutting it
    /// off. QoS 1 and 2 messages are not affected: the inflight window and the session queue
    /// bound them.
    pub fn set_congested(&mut self, connection: ConnectionId, congested: bool) {
        if congested && self.connections.contains_key(&connection) {
            self.out.congested.insert(connection);
        } else {
            self.out.congested.remove(&connection);
        }
    }

    /// Whether the transport of `connection` may now decode its packets itself and pass
    /// them to [`Broker::handle_packets`], and with which protocol version and maximum packet
    /// size: from the moment the client is accepted (before that, bytes go to
    /// [`Broker::handle_input`], which holds what follows CONNECT until the decision).
    pub fn transport_decoding(
        &self,
        connection: ConnectionId,
    ) -> Option<(crate::codec::ProtocolVersion, usize)> {
        self.connections.get(&connection)?.wire.transport_decoding()
    }

    /// The transport of `connection` closed (after [`Broker::poll_close`] or by itself).
    pub fn handle_closed(&mut self, now: Instant, connection: ConnectionId) {
        let Some(conn) = self.connections.get_mut(&connection) else {
            return;
        };
        conn.wire.handle_closed(now);
        self.after_wire(now, connection);
        self.connections.remove(&connection);
        self.out.congested.remove(&connection);
        self.writable.remove(&connection);
    }

    /// Time passed: keepalive and connect timeouts, will delays, session expiry.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some((at, _)) = self.timers.first() {
            if *at > now {
                break;
            }
            let Some((at, timer)) = self.timers.pop_first() else {
                break;
            };
            match timer {
                Timer::Connection(id) => {
                    let Some(conn) = self.connections.get_mut(&id) else {
                        continue;
                    };
                    if conn.scheduled != Some(at) {
                        continue;
                    }
                    conn.scheduled = None;
                    conn.wire.handle_timeout(now);
                    self.after_wire(now, id);
                }
                Timer::Will(t) => self.fire_will(now, &t.client_id, t.generation),
                Timer::SessionExpiry(t) => self.expire_session(now, &t.client_id, t.generation),
            }
        }
    }

    // ---- outputs ----

    /// A connection with bytes to send, if any; drain it with [`Broker::poll_transmit`].
    pub fn poll_writable(&mut self) -> Option<ConnectionId> {
        self.writable.pop_first()
    }

    /// Appends the bytes waiting for `connection` to `out`; returns how many.
    #[must_use = "the bytes must be written to the transport"]
    pub fn poll_transmit(&mut self, connection: ConnectionId, out: &mut Vec<u8>) -> usize {
        self.writable.remove(&connection);
        self.connections
            .get_mut(&connection)
            .map_or(0, |c| c.wire.poll_transmit(out))
    }

    /// A connection the broker has finished with: write its pending bytes, close the
    /// transport, then call [`Broker::handle_closed`].
    pub fn poll_close(&mut self) -> Option<ConnectionId> {
        self.closes.pop_front()
    }

    /// The next event.
    #[must_use = "events report connections, drops and wills"]
    pub fn poll_event(&mut self) -> Option<BrokerEvent> {
        self.out.events.pop_front()
    }

    /// Appends the store operations produced since the last call to `ops` (none unless
    /// [`BrokerConfig::persistence`] is on) and returns the store mark: the number of
    /// operations emitted since start. Apply them in order with a
    /// [`SessionStore`](crate::store::SessionStore); once they are durable, report the mark with
    /// [`Broker::handle_store_durable`].
    pub fn poll_store_ops(&mut self, ops: &mut Vec<crate::store::StoreOp>) -> u64 {
        if ops.is_empty() {
            // Hand the batch over instead of moving every operation into `ops`.
            core::mem::swap(ops, &mut self.out.store);
        } else {
            ops.append(&mut self.out.store);
        }
        self.out.emitted
    }

    /// The store made every operation up to `mark` durable: acknowledgments that waited for
    /// them ([`Durability::Strict`]) are sent now.
    pub fn handle_store_durable(&mut self, now: Instant, mark: u64) {
        self.out.durable = self.out.durable.max(mark);
        while self
            .out
            .held
            .front()
            .is_some_and(|h| h.mark <= self.out.durable)
        {
            let Some(held) = self.out.held.pop_front() else {
                break;
            };
            let Some(conn) = self.connections.get_mut(&held.connection) else {
                // Gone: a held PUBLISH or PUBREL stays in the session and is resent on resume.
                continue;
            };
            if held.counted {
                conn.held_acks = conn.held_acks.saturating_sub(1);
            }
            match &held.packet {
                Packet::Publish(p) => {
                    conn.wire.send_publish(now, p);
                }
                other => conn.wire.send_packet(now, other),
            }
            self.writable.insert(held.connection);
        }
    }

    /// When [`Broker::handle_timeout`] must run next.
    #[must_use = "the broker needs handle_timeout at this instant"]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.first().map(|(at, _)| *at)
    }

    // ---- wire plumbing ----

    /// Processes what a connection's wire machine produced, then books its transmit, close and
    /// timer needs.
    pub(crate) fn after_wire(&mut self, now: Instant, id: ConnectionId) {
        loop {
            let Some(conn) = self.connections.get_mut(&id) else {
                return;
            };
            let Some(event) = conn.wire.poll_event() else {
                conn.wire.reclaim_events(&mut self.wire_events);
                break;
            };
            match event {
                ServerEvent::Connect(connect) => self.on_connect(now, id, connect),
                ServerEvent::Packet(packet) => self.on_packet(now, id, packet),
                ServerEvent::Closed(cause) => self.on_closed(now, id, cause),
            }
        }
        self.book(id);
    }

    /// Records that `id` has bytes to send and schedules its timer.
    pub(crate) fn book(&mut self, id: ConnectionId) {
        let Some(conn) = self.connections.get_mut(&id) else {
            return;
        };
        if conn.wire.has_transmit() {
            self.writable.insert(id);
        }
        if let Some(at) = conn.wire.poll_timeout()
            && conn.scheduled.is_none_or(|s| at < s)
        {
            conn.scheduled = Some(at);
            self.timers.insert((at, Timer::Connection(id)));
        }
    }

    fn on_packet(&mut self, now: Instant, id: ConnectionId, packet: Packet) {
        match packet {
            Packet::Publish(p) => self.on_publish(now, id, p),
            Packet::PubAck(a) => self.on_puback(now, id, a),
            Packet::PubRec(a) => self.on_pubrec(now, id, a),
            Packet::PubRel(a) => self.on_pubrel(now, id, a),
            Packet::PubComp(a) => self.on_pubcomp(now, id, a),
            Packet::Subscribe(s) => self.on_subscribe(now, id, s),
            Packet::Unsubscribe(u) => self.on_unsubscribe(now, id, u),
            Packet::Auth(a) => self.on_auth(now, id, a),
            // [MQTT-3.12.4-1], answered in request order.
            Packet::PingReq => {
                if let Some(conn) = self.connections.get_mut(&id) {
                    conn.wire.send_packet(now, &Packet::PingResp);
                }
            }
            // The wire machine handles DISCONNECT and refuses the rest.
            _ => {}
        }
    }

    pub(crate) fn fresh_generation(&mut self) -> u64 {
        self.next_generation += 1;
        self.next_generation
    }
}
