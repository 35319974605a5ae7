//! The `Sim`: real [`Client`]s and a [`Broker`] on virtual time, wired by in-memory transports
//! (DESIGN §6). Nothing sleeps; `advance` jumps to the next deadline.

use alloc::vec::Vec;
use bytes::BytesMut;

use crate::broker::{Broker, BrokerConfig, BrokerEvent, BrokerHooks, ConnectionId, TransportInfo};
use crate::client::{Client, ClientConfig, ClientEvent, ConnectionState};
use crate::codec::{MqttString, ProtocolVersion, Publish, QoS, Subscription};
use crate::time::{Duration, Instant};
use crate::topic::{TopicFilter, TopicName};

pub(crate) struct SimClient {
    pub(crate) client: Client,
    pub(crate) connection: Option<ConnectionId>,
    rx: BytesMut,
    pub(crate) events: Vec<ClientEvent>,
}

pub(crate) struct Sim<H: BrokerHooks> {
    pub(crate) broker: Broker<H>,
    pub(crate) now: Instant,
    pub(crate) clients: Vec<SimClient>,
    pub(crate) broker_events: Vec<BrokerEvent>,
    /// Where store operations go when the broker persists.
    pub(crate) store: crate::store::MemoryStore,
    /// Whether store batches become durable at once (else they wait for `flush_store`).
    pub(crate) store_durable: bool,
    pending_ops: Vec<crate::store::StoreOp>,
    pending_mark: u64,
}

pub(crate) fn client_config(version: ProtocolVersion, id: &str) -> ClientConfig {
    ClientConfig::new(version, MqttString::try_from(id).unwrap())
}

/// A client that keeps its session: Clean Session 0, and in 5.0 a one-hour Session Expiry
/// Interval.
pub(crate) fn persistent(version: ProtocolVersion, id: &str) -> ClientConfig {
    let mut c = client_config(version, id);
    c.clean_start = false;
    if version == ProtocolVersion::V5 {
        c.properties.session_expiry_interval = Some(3600);
    }
    c
}

pub(crate) fn msg(topic: &str, payload: &[u8], qos: QoS, retain: bool) -> Publish {
    let mut p = Publish::new(
        TopicName::try_from(topic).unwrap(),
        bytes::Bytes::copy_from_slice(payload),
    );
    p.qos = qos;
    p.retain = retain;
    p
}

pub(crate) fn sub(filter: &str, qos: QoS) -> Subscription {
    Subscription::new(TopicFilter::try_from(filter).unwrap(), qos)
}

impl Sim<crate::broker::AllowAll> {
    pub(crate) fn new(config: BrokerConfig) -> Self {
        Sim::with_broker(Broker::new(config))
    }
}

impl<H: BrokerHooks> Sim<H> {
    pub(crate) fn with_broker(broker: Broker<H>) -> Self {
        Sim {
            broker,
            now: Instant::from_millis(1_000),
            clients: Vec::new(),
            broker_events: Vec::new(),
            store: crate::store::MemoryStore::new(),
            store_durable: true,
            pending_ops: Vec::new(),
            pending_mark: 0,
        }
    }

    /// Adds a client (not connected yet); returns its index.
    pub(crate) fn add(&mut self, config: ClientConfig) -> usize {
        self.clients.push(SimClient {
            client: Client::new(config),
            connection: None,
            rx: BytesMut::new(),
            events: Vec::new(),
        });
        self.clients.len() - 1
    }

    /// Opens a transport for client `i` and runs until quiet.
    pub(crate) fn connect(&mut self, i: usize) {
        let id = self
            .broker
            .handle_connection_opened(self.now, TransportInfo::default())
            .expect("room for a connection");
        let c = &mut self.clients[i];
        c.connection = Some(id);
        c.rx.clear();
        c.client.handle_connected(self.now);
        self.run();
    }

    /// Connects client `i` again; returns Session Present from its CONNACK.
    pub(crate) fn reconnect(&mut self, i: usize) -> bool {
        let _ = self.events(i);
        self.connect(i);
        let events = self.events(i);
        let present = events.iter().find_map(|e| match e {
            ClientEvent::Connected {
                session_present, ..
            } => Some(*session_present),
            _ => None,
        });
        // Put the rest back for the test to read.
        self.clients[i].events = events;
        present.expect("client connected")
    }

    /// Adds and connects a client; asserts CONNACK accepted it.
    pub(crate) fn join(&mut self, config: ClientConfig) -> usize {
        let i = self.add(config);
        self.connect(i);
        assert!(
            self.clients[i].client.is_connected(),
            "client {i}: {:?}",
            self.clients[i].events
        );
        i
    }

    /// Moves bytes both ways until nothing moves.
    pub(crate) fn run(&mut self) {
        for _ in 0..1_000 {
            let mut moved = false;
            for i in 0..self.clients.len() {
                let mut out = Vec::new();
                let c = &mut self.clients[i];
                let _ = c.client.poll_transmit(&mut out);
                while let Some(e) = c.client.poll_event() {
                    c.events.push(e);
                }
                let Some(id) = c.connection else { continue };
                if !out.is_empty() {
                    moved = true;
                    let mut rx = BytesMut::from(&out[..]);
                    self.broker.handle_input(self.now, id, &mut rx);
                }
                // A client that closed by itself closes its transport.
                if self.clients[i].client.state() == ConnectionState::Disconnected {
                    self.clients[i].connection = None;
                    self.broker.handle_closed(self.now, id);
                    moved = true;
                }
            }
            while let Some(id) = self.broker.poll_writable() {
                let mut out = Vec::new();
                let _ = self.broker.poll_transmit(id, &mut out);
                if let Some(c) = self.clients.iter_mut().find(|c| c.connection == Some(id)) {
                    moved = true;
                    c.rx.extend_from_slice(&out);
                    c.client.handle_input(self.now, &mut c.rx);
                }
            }
            while let Some(id) = self.broker.poll_close() {
                moved = true;
                if let Some(c) = self.clients.iter_mut().find(|c| c.connection == Some(id)) {
                    c.connection = None;
                    c.client.handle_closed(self.now);
                }
                self.broker.handle_closed(self.now, id);
            }
            while let Some(e) = self.broker.poll_event() {
                self.broker_events.push(e);
            }
            let mut ops = Vec::new();
            let mark = self.broker.poll_store_ops(&mut ops);
            if !ops.is_empty() && self.store_durable {
                let _ = crate::store::SessionStore::apply(&mut self.store, &ops);
                self.broker.handle_store_durable(self.now, mark);
                moved = true;
            } else if !ops.is_empty() {
                self.pending_ops.extend(ops);
                self.pending_mark = mark;
            }
            if !moved {
                return;
            }
        }
        panic!("the simulation does not settle");
    }

    /// Advances virtual time by `ms`, firing every deadline on the way.
    pub(crate) fn advance(&mut self, ms: u64) {
        let end = self.now + Duration::from_millis(ms);
        loop {
            let next = self
                .clients
                .iter()
                .filter_map(|c| c.client.poll_timeout())
                .chain(self.broker.poll_timeout())
                .min();
            match next {
                Some(t) if t <= end => {
                    self.now = self.now.max(t);
                    self.broker.handle_timeout(self.now);
                    for c in &mut self.clients {
                        if c.client.poll_timeout().is_some_and(|d| d <= self.now) {
                            c.client.handle_timeout(self.now);
                        }
                    }
                    self.run();
                }
                _ => break,
            }
        }
        self.now = end;
        self.run();
    }

    /// The store finishes its pending batch (when `store_durable` is off).
    pub(crate) fn flush_store(&mut self) {
        let ops = core::mem::take(&mut self.pending_ops);
        let _ = crate::store::SessionStore::apply(&mut self.store, &ops);
        self.broker
            .handle_store_durable(self.now, self.pending_mark);
        self.run();
    }

    /// The broker process dies and restarts from its store: every transport drops. Batches not
    /// made durable are lost.
    pub(crate) fn restart_lossy(&mut self, broker: Broker<H>) {
        self.pending_ops.clear();
        self.restart(broker);
    }

    /// The broker process dies and restarts from its store: every transport drops.
    pub(crate) fn restart(&mut self, broker: Broker<H>) {
        let snapshot = self.store.snapshot().clone();
        self.broker = broker;
        self.broker.restore(self.now, snapshot);
        for c in &mut self.clients {
            c.connection = None;
            c.client.handle_closed(self.now);
        }
        self.run();
    }

    /// The transport of client `i` breaks (no DISCONNECT).
    pub(crate) fn cut(&mut self, i: usize) {
        let c = &mut self.clients[i];
        c.client.handle_closed(self.now);
        if let Some(id) = c.connection.take() {
            self.broker.handle_closed(self.now, id);
        }
        self.run();
    }

    pub(crate) fn publish(&mut self, i: usize, p: Publish) {
        let _ = self.clients[i]
            .client
            .publish(self.now, p)
            .expect("publish accepted");
        self.run();
    }

    pub(crate) fn subscribe(&mut self, i: usize, subs: &[Subscription]) {
        let _ = self.clients[i]
            .client
            .subscribe(self.now, subs)
            .expect("subscribe accepted");
        self.run();
    }

    /// Events of client `i` since the last call.
    pub(crate) fn events(&mut self, i: usize) -> Vec<ClientEvent> {
        self.run();
        core::mem::take(&mut self.clients[i].events)
    }

    /// Payloads of the messages client `i` received since the last call.
    pub(crate) fn received(&mut self, i: usize) -> Vec<Publish> {
        self.events(i)
            .into_iter()
            .filter_map(|e| match e {
                ClientEvent::Message { publish, .. } => Some(publish),
                _ => None,
            })
            .collect()
    }
}
