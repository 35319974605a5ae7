//! Interpreters that turn fuzz input into operations on the client and broker state machines.
//!
//! The input is read as a little program: one opcode byte, then its operands. Raw MQTT bytes
//! fed to the machines come from the input itself, so the corpus seeds (valid packet
//! sequences) let the fuzzer reach deep states quickly.

use bytes::{Bytes, BytesMut};
use myqtt_proto::broker::{Broker, BrokerConfig, ConnectionId, TransportInfo};
use myqtt_proto::client::{Client, ClientConfig, ClientEvent};
use myqtt_proto::codec::{MqttString, ProtocolVersion, Publish, QoS, ReasonCode, Subscription};
use myqtt_proto::store::{MemoryStore, SessionStore};
use myqtt_proto::time::{Duration, Instant};
use myqtt_proto::topic::{TopicFilter, TopicName};

/// Reads operands from the fuzz input.
struct Input<'a> {
    data: &'a [u8],
}

impl<'a> Input<'a> {
    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.data.split_first()?;
        self.data = rest;
        Some(b)
    }

    fn bytes(&mut self) -> &'a [u8] {
        let n = usize::from(self.byte().unwrap_or(0)).min(self.data.len());
        let (chunk, rest) = self.data.split_at(n);
        self.data = rest;
        chunk
    }
}

const TOPICS: [&str; 4] = ["a", "a/b", "a/b/c", "$SYS/x"];
const FILTERS: [&str; 5] = ["a", "a/+", "a/#", "#", "$share/g/a/#"];

fn version(b: u8) -> ProtocolVersion {
    match b % 3 {
        0 => ProtocolVersion::V3_1,
        1 => ProtocolVersion::V3_1_1,
        _ => ProtocolVersion::V5,
    }
}

fn publish(b: u8) -> Publish {
    let mut p = Publish::new(
        TopicName::try_from(TOPICS[usize::from(b) % TOPICS.len()]).unwrap(),
        Bytes::from_static(b"payload"),
    );
    p.qos = QoS::from_u8(b % 3).unwrap_or_default();
    p.retain = b & 0x80 != 0;
    p
}

fn subscription(b: u8) -> Subscription {
    Subscription::new(
        TopicFilter::try_from(FILTERS[usize::from(b) % FILTERS.len()]).unwrap(),
        QoS::from_u8(b % 3).unwrap_or_default(),
    )
}

/// Runs a client program. Limits: 4 in flight, 8 queued.
pub fn run_client_ops(data: &[u8]) {
    let mut input = Input { data };
    let flags = input.byte().unwrap_or(0);
    let mut config = ClientConfig::new(version(flags), MqttString::try_from("fuzz").unwrap());
    config.manual_acks = flags & 0x10 != 0;
    config.clean_start = flags & 0x20 != 0;
    config.auto_topic_alias = flags & 0x40 != 0;
    config.max_inflight = 4;
    config.max_queued = 8;
    config.max_incoming_packet_size = 64 * 1024;
    config.properties.topic_alias_maximum = Some(4);
    let mut client = Client::new(config);
    let mut now = Instant::ZERO;
    let mut rx = BytesMut::new();
    let mut acks = Vec::new();
    let mut out = Vec::new();
    while let Some(op) = input.byte() {
        match op % 12 {
            0 => client.handle_connected(now),
            1 | 2 | 3 => {
                rx.extend_from_slice(input.bytes());
                client.handle_input(now, &mut rx);
            }
            4 => {
                now += Duration::from_millis(u64::from(input.byte().unwrap_or(0)) * 500);
                client.handle_timeout(now);
            }
            5 => {
                rx.clear();
                client.handle_closed(now);
            }
            6 => {
                let _ = client.publish(now, publish(input.byte().unwrap_or(0)));
            }
            7 => {
                let _ = client.subscribe(now, &[subscription(input.byte().unwrap_or(0))]);
            }
            8 => {
                let f = TopicFilter::try_from(
                    FILTERS[usize::from(input.byte().unwrap_or(0)) % FILTERS.len()],
                )
                .unwrap();
                let _ = client.unsubscribe(now, &[f]);
            }
            9 => {
                let _ = client.ping(now);
            }
            10 => {
                if let Some(handle) = acks.pop() {
                    let _ = client.ack(now, handle);
                }
            }
            _ => client.disconnect(now, ReasonCode::Success),
        }
        out.clear();
        let _ = client.poll_transmit(&mut out);
        while let Some(event) = client.poll_event() {
            if let ClientEvent::Message {
                ack: Some(handle), ..
            } = event
            {
                acks.push(handle);
            }
        }
        acks.truncate(64);
        assert!(client.inflight_len() <= 4, "inflight window exceeded");
        assert!(client.queued_len() <= 8, "publish queue exceeded");
        assert_eq!(
            client.packet_ids_in_use(),
            client.inflight_len() + client.pending_requests(),
            "packet ids leak"
        );
        assert!(
            rx.len() <= 64 * 1024 + 8 + 255,
            "receive buffer grows without bound"
        );
    }
}

/// Runs a broker program over up to 6 connections, with persistence into a memory store and
/// occasional restarts from it. Limits are small so that they are reached.
pub fn run_broker_ops(data: &[u8]) {
    let mut input = Input { data };
    let config = || {
        let mut c = BrokerConfig::default();
        c.max_connections = 6;
        c.max_sessions = 16;
        c.max_packet_size = 16 * 1024;
        c.max_inflight = 4;
        c.max_queued_messages = 8;
        c.max_subscriptions_per_session = 8;
        c.max_retained_messages = 8;
        c.receive_maximum = 8;
        c.persistence = true;
        c.queue_qos0_offline = true;
        c
    };
    let mut broker = Broker::new(config());
    let mut store = MemoryStore::new();
    let mut now = Instant::ZERO;
    let mut conns: Vec<(ConnectionId, BytesMut)> = Vec::new();
    let mut out = Vec::new();
    let mut ops = Vec::new();
    while let Some(op) = input.byte() {
        match op % 10 {
            0 => {
                if let Ok(id) = broker.handle_connection_opened(now, TransportInfo::default()) {
                    conns.push((id, BytesMut::new()));
                }
            }
            1..=4 => {
                if !conns.is_empty() {
                    let k = usize::from(input.byte().unwrap_or(0)) % conns.len();
                    let (id, rx) = &mut conns[k];
                    rx.extend_from_slice(input.bytes());
                    broker.handle_input(now, *id, rx);
                }
            }
            5 => {
                if !conns.is_empty() {
                    let k = usize::from(input.byte().unwrap_or(0)) % conns.len();
                    let (id, _) = conns.swap_remove(k);
                    broker.handle_closed(now, id);
                }
            }
            6 => {
                now += Duration::from_millis(u64::from(input.byte().unwrap_or(0)) * 1000);
                broker.handle_timeout(now);
            }
            7 => {
                let _ = broker.publish(now, publish(input.byte().unwrap_or(0)));
            }
            8 => {
                if !conns.is_empty() {
                    let k = usize::from(input.byte().unwrap_or(0)) % conns.len();
                    broker.disconnect(now, conns[k].0, ReasonCode::AdministrativeAction);
                }
            }
            _ => {
                // The process restarts from its store: every connection is gone.
                let snapshot = store.load().unwrap_or_default();
                broker = Broker::new(config());
                broker.restore(now, snapshot);
                conns.clear();
            }
        }
        while let Some(id) = broker.poll_writable() {
            out.clear();
            let _ = broker.poll_transmit(id, &mut out);
        }
        while let Some(id) = broker.poll_close() {
            broker.handle_closed(now, id);
            conns.retain(|(c, _)| *c != id);
        }
        while broker.poll_event().is_some() {}
        ops.clear();
        let _ = broker.poll_store_ops(&mut ops);
        let _ = store.apply(&ops);
        assert!(broker.connection_count() <= 6, "connection limit exceeded");
        assert!(broker.session_count() <= 16, "session limit exceeded");
        assert!(broker.retained_count() <= 8, "retained limit exceeded");
        for id in broker.session_ids().cloned().collect::<Vec<_>>() {
            assert!(
                broker.queued_len(&id).unwrap_or(0) <= 8,
                "queue limit exceeded"
            );
            assert!(
                broker.inflight_len(&id).unwrap_or(0) <= 8,
                "inflight limit exceeded"
            );
            assert!(
                broker.subscriptions_of(&id).map_or(0, |s| s.count()) <= 8,
                "subscription limit exceeded"
            );
        }
        for (_, rx) in &conns {
            assert!(
                rx.len() <= 16 * 1024 + 16 + 255,
                "receive buffer grows without bound"
            );
        }
    }
}
