//! Property test: a client driven by random commands, server behaviour, time steps and
//! disconnects, against a model server that follows the protocol.
//!
//! Invariants ([MQTT-2.3.1-2] / [MQTT-2.2.1-3], [MQTT-4.3.3-2], token completion):
//! - a new PUBLISH, SUBSCRIBE or UNSUBSCRIBE never uses a packet id still in flight;
//! - a QoS 2 message is delivered to the application at most once;
//! - every publish and request token completes exactly once (after a final
//!   `discard_session`), and a valid server never sees a protocol violation.

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec::Vec;
use bytes::Bytes;
use proptest::prelude::*;

use super::scripted_server::*;
use crate::client::{ClientEvent, CloseReason};
use crate::codec::*;
use crate::topic::TopicFilter;

#[derive(Clone, Debug)]
enum Op {
    Publish(u8),
    Subscribe,
    AckPublish(usize),
    AckSubscribe(usize),
    ServerPublish(u8, u16),
    ServerResend(usize),
    ServerRelease(usize),
    /// The transport drops; with `true`, the PUBRECs of this connection are lost with it.
    Drop(bool),
    Reconnect(bool),
    Advance(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u8..3).prop_map(Op::Publish),
        1 => Just(Op::Subscribe),
        4 => any::<usize>().prop_map(Op::AckPublish),
        1 => any::<usize>().prop_map(Op::AckSubscribe),
        3 => ((1u8..3), (1u16..6)).prop_map(|(q, id)| Op::ServerPublish(q, id)),
        1 => any::<usize>().prop_map(Op::ServerResend),
        2 => any::<usize>().prop_map(Op::ServerRelease),
        1 => any::<bool>().prop_map(Op::Drop),
        2 => any::<bool>().prop_map(Op::Reconnect),
        1 => (0u64..90_000).prop_map(Op::Advance),
    ]
}

#[derive(Default)]
struct Model {
    connected: bool,
    q1: BTreeSet<u16>,
    q2_unreceived: BTreeSet<u16>,
    q2_wait_rel: BTreeSet<u16>,
    q2_released: BTreeSet<u16>,
    requests: BTreeSet<u16>,
    /// Server-originated QoS 2: id -> (message number, stage: 0 sent, 1 PUBREC seen, 2 PUBREL sent).
    server_q2: BTreeMap<u16, (u64, u8)>,
    next_message: u64,
    delivered: BTreeMap<u64, u32>,
    publish_tokens: BTreeMap<u64, u32>,
    request_tokens: BTreeMap<u64, u32>,
}

impl Model {
    fn in_flight(&self, id: u16) -> bool {
        self.q1.contains(&id)
            || self.q2_unreceived.contains(&id)
            || self.q2_wait_rel.contains(&id)
            || self.q2_released.contains(&id)
            || self.requests.contains(&id)
    }

    fn forget_session(&mut self) {
        self.q1.clear();
        self.q2_unreceived.clear();
        self.q2_wait_rel.clear();
        self.q2_released.clear();
        self.server_q2.clear();
    }
}

fn nth(set: &BTreeSet<u16>, k: usize) -> Option<u16> {
    if set.is_empty() {
        None
    } else {
        set.iter().nth(k % set.len()).copied()
    }
}

/// Reads what the client sent and updates the model, answering PINGREQ.
fn observe(s: &mut Script, m: &mut Model) {
    loop {
        let sent = s.sent();
        if sent.is_empty() {
            break;
        }
        for packet in sent {
            match packet {
                Packet::Publish(p) => {
                    let Some(id) = p.packet_id.map(PacketId::get) else {
                        continue;
                    };
                    if p.dup {
                        assert!(
                            m.in_flight(id),
                            "DUP resend of id {id} that is not in flight"
                        );
                    } else {
                        assert!(!m.in_flight(id), "packet id {id} reused while in flight");
                        if p.qos == QoS::AtLeastOnce {
                            m.q1.insert(id);
                        } else {
                            m.q2_unreceived.insert(id);
                        }
                    }
                }
                Packet::PubRel(a) => {
                    let id = a.packet_id.get();
                    assert!(
                        m.q2_wait_rel.remove(&id) || m.q2_released.contains(&id),
                        "PUBREL for {id}"
                    );
                    m.q2_released.insert(id);
                }
                Packet::Subscribe(sub) => {
                    let id = sub.packet_id.get();
                    assert!(!m.in_flight(id), "packet id {id} reused while in flight");
                    m.requests.insert(id);
                }
                Packet::PubRec(a) => {
                    if let Some(entry) = m.server_q2.get_mut(&a.packet_id.get()) {
                        entry.1 = entry.1.max(1);
                    }
                }
                Packet::PubComp(a) => {
                    m.server_q2.remove(&a.packet_id.get());
                }
                Packet::PingReq => s.feed(Packet::PingResp),
                Packet::PubAck(_) | Packet::Connect(_) => {}
                other => panic!("unexpected packet from the client: {other:?}"),
            }
        }
    }
    for event in s.events() {
        match event {
            ClientEvent::Published { token, .. } => {
                *m.publish_tokens.entry(token.0).or_default() += 1
            }
            ClientEvent::Subscribed { token, .. } | ClientEvent::RequestAborted { token } => {
                *m.request_tokens.entry(token.0).or_default() += 1
            }
            ClientEvent::Message { publish, .. } if publish.qos == QoS::ExactlyOnce => {
                let n = u64::from_be_bytes(publish.payload[..8].try_into().unwrap());
                let count = m.delivered.entry(n).or_default();
                *count += 1;
                assert_eq!(*count, 1, "QoS 2 message {n} delivered twice");
            }
            ClientEvent::Closed(CloseReason::ProtocolViolation { reason, error }) => {
                panic!("valid server flagged as violating: {reason:?} {error:?}")
            }
            ClientEvent::Closed(_) => {
                // The connection is gone: pending requests were aborted with it.
                m.connected = false;
                m.requests.clear();
            }
            _ => {}
        }
    }
}

fn step(s: &mut Script, m: &mut Model, op: Op) {
    match op {
        Op::Publish(q) => {
            let qos = QoS::from_u8(q).unwrap();
            if let Ok(t) = s.client.publish(s.now, message("m", b"p", qos)) {
                m.publish_tokens.entry(t.0).or_default();
            }
        }
        Op::Subscribe => {
            let sub = [Subscription::new(
                TopicFilter::try_from("a/#").unwrap(),
                QoS::ExactlyOnce,
            )];
            if let Ok(t) = s.client.subscribe(s.now, &sub) {
                m.request_tokens.entry(t.0).or_default();
            }
        }
        Op::AckPublish(k) if m.connected => {
            let all: BTreeSet<u16> =
                m.q1.iter()
                    .chain(&m.q2_unreceived)
                    .chain(&m.q2_released)
                    .copied()
                    .collect();
            if let Some(id) = nth(&all, k) {
                if m.q1.remove(&id) {
                    s.feed(Packet::PubAck(ack(id)));
                } else if m.q2_unreceived.remove(&id) {
                    m.q2_wait_rel.insert(id);
                    s.feed(Packet::PubRec(ack(id)));
                } else if m.q2_released.remove(&id) {
                    s.feed(Packet::PubComp(ack(id)));
                }
            }
        }
        Op::AckSubscribe(k) if m.connected => {
            if let Some(id) = nth(&m.requests, k) {
                m.requests.remove(&id);
                let codes = alloc::vec![ReasonCode::GrantedQoS2];
                s.feed(
                    SubAck {
                        packet_id: pid(id),
                        reason_codes: codes,
                        properties: Default::default(),
                    }
                    .into(),
                );
            }
        }
        Op::ServerPublish(q, id) if m.connected => {
            let number = m.next_message;
            m.next_message += 1;
            let mut p = Publish::new(topic("a/b"), Bytes::copy_from_slice(&number.to_be_bytes()));
            p.qos = QoS::from_u8(q).unwrap();
            p.packet_id = Some(pid(id));
            if p.qos == QoS::ExactlyOnce {
                if m.server_q2.contains_key(&id) {
                    return; // a real server does not reuse an id in flight
                }
                m.server_q2.insert(id, (number, 0));
            }
            s.feed(p.into());
        }
        Op::ServerResend(k) if m.connected => {
            let ids: BTreeSet<u16> = m
                .server_q2
                .iter()
                .filter(|(_, (_, stage))| *stage == 0)
                .map(|(id, _)| *id)
                .collect();
            if let Some(id) = nth(&ids, k) {
                let number = m.server_q2[&id].0;
                let mut p =
                    Publish::new(topic("a/b"), Bytes::copy_from_slice(&number.to_be_bytes()));
                p.qos = QoS::ExactlyOnce;
                p.dup = true;
                p.packet_id = Some(pid(id));
                s.feed(p.into());
            }
        }
        Op::ServerRelease(k) if m.connected => {
            let ids: BTreeSet<u16> = m
                .server_q2
                .iter()
                .filter(|(_, (_, stage))| *stage >= 1)
                .map(|(id, _)| *id)
                .collect();
            if let Some(id) = nth(&ids, k) {
                if let Some(entry) = m.server_q2.get_mut(&id) {
                    entry.1 = 2;
                }
                s.feed(Packet::PubRel(ack(id)));
            }
        }
        Op::Drop(lose_pubrecs) if m.connected => {
            if lose_pubrecs {
                for entry in m.server_q2.values_mut().filter(|e| e.1 == 1) {
                    entry.1 = 0;
                }
            }
            s.drop_transport();
            m.connected = false;
            m.requests.clear();
        }
        Op::Reconnect(session_present) if !m.connected => {
            s.client.handle_connected(s.now);
            let connect = s.sent();
            assert!(matches!(connect[..], [Packet::Connect(_)]));
            if !session_present {
                m.forget_session();
            }
            m.connected = true;
            s.feed(
                ConnAck {
                    session_present,
                    ..Default::default()
                }
                .into(),
            );
        }
        Op::Advance(ms) => {
            // Time passes in one-second steps, the server answering pings as it goes.
            for _ in 0..ms / 1000 {
                s.advance(1000);
                observe(s, m);
            }
            s.advance(ms % 1000);
        }
        _ => {}
    }
}

fn run(version: ProtocolVersion, ops: Vec<Op>) {
    let mut cfg = config(version);
    cfg.clean_start = false;
    cfg.max_inflight = 4;
    cfg.max_queued = 8;
    let mut s = Script::new(cfg);
    let mut m = Model::default();
    step(&mut s, &mut m, Op::Reconnect(false));
    observe(&mut s, &mut m);
    for op in ops {
        step(&mut s, &mut m, op);
        observe(&mut s, &mut m);
    }
    s.drop_transport();
    s.client.discard_session();
    observe(&mut s, &mut m);
    for (token, n) in m.publish_tokens.iter().chain(&m.request_tokens) {
        assert_eq!(*n, 1, "token {token} completed {n} times");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// [MQTT-2.3.1-2] [MQTT-2.2.1-3] [MQTT-4.3.3-2] [MQTT-4.4.0-1] [MQTT-4.6.0-1]
    #[test]
    fn random_sessions_keep_ids_unique_qos2_exactly_once_and_tokens_single(
        ops in proptest::collection::vec(op(), 1..120),
        v5 in any::<bool>(),
    ) {
        run(if v5 { ProtocolVersion::V5 } else { ProtocolVersion::V3_1_1 }, ops);
    }
}
