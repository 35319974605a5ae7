//! Client persistence across process restarts: the store operations a client emits, and a
//! fresh client restored from them finishing every QoS 1/2 exchange at every stage
//! (MQTT 3.1.1 §4.4, MQTT 5.0 §4.4). A "crash" here is dropping the client and keeping only
//! what the store operations recorded.

use alloc::vec;
use alloc::vec::Vec;

use super::scripted_server::*;
use crate::client::{
    ClientConfig, ClientEvent, ClientSnapshot, ClientStoreOp, PublishOutcome, RestoreError,
    StoredPublish, StoredStage,
};
use crate::codec::*;
use crate::session::OutboundStage;

const VERSIONS: [ProtocolVersion; 3] = [
    ProtocolVersion::V3_1,
    ProtocolVersion::V3_1_1,
    ProtocolVersion::V5,
];

fn persistent(version: ProtocolVersion) -> ClientConfig {
    let mut cfg = config(version);
    cfg.clean_start = false;
    cfg.persist = true;
    cfg
}

/// A scripted client whose store operations go into `disk` as a runtime would apply them.
struct Process {
    s: Script,
    disk: ClientSnapshot,
}

impl Process {
    fn start(cfg: ClientConfig) -> Process {
        Process {
            s: Script::new(cfg),
            disk: ClientSnapshot::default(),
        }
    }

    /// Drains the store operations of the last step into the disk (before looking at what was
    /// sent, as the durability rule requires) and returns them.
    fn sync(&mut self) -> Vec<ClientStoreOp> {
        let ops: Vec<ClientStoreOp> =
            core::iter::from_fn(|| self.s.client.poll_store_op()).collect();
        for op in &ops {
            self.disk.apply(op.clone());
        }
        ops
    }

    /// Syncs, then returns what the client sent.
    fn sent(&mut self) -> Vec<Packet> {
        self.sync();
        self.s.sent()
    }

    /// The process dies: everything not on disk is gone. A new process restores the disk into a
    /// fresh client; returns the restored tokens.
    fn crash_and_restore(&mut self) -> Vec<crate::client::PublishToken> {
        let cfg = self.s.client.config().clone();
        let now = self.s.now;
        self.s = Script::new(cfg);
        self.s.now = now;
        self.s
            .client
            .restore(self.disk.clone())
            .expect("the disk restores")
    }
}

fn with_id(mut p: Publish, id: u16, dup: bool) -> Publish {
    p.packet_id = Some(pid(id));
    p.dup = dup;
    p
}

/// The store operations of one publish are emitted in the same step as its PUBLISH bytes, so a
/// runtime that syncs them first never sends an unstored message; without `persist` nothing is
/// recorded.
#[test]
fn publish_is_recorded_with_its_bytes() {
    let mut p = Process::start(persistent(ProtocolVersion::V5));
    p.s.connect(false);
    let msg = message("t", b"1", QoS::AtLeastOnce);
    let _ = p.s.client.publish(p.s.now, msg.clone()).unwrap();
    assert_eq!(
        p.sync(),
        vec![
            ClientStoreOp::PublishAdd {
                seq: 0,
                publish: msg.clone()
            },
            ClientStoreOp::PublishSent {
                seq: 0,
                packet_id: pid(1)
            },
        ]
    );
    assert_eq!(p.s.sent(), vec![Packet::Publish(with_id(msg, 1, false))]);
    // QoS 0 is never stored.
    let _ =
        p.s.client
            .publish(p.s.now, message("t", b"0", QoS::AtMostOnce))
            .unwrap();
    assert!(p.sync().is_empty());

    let mut off = Script::new(config(ProtocolVersion::V5));
    off.connect(false);
    let _ = off
        .client
        .publish(off.now, message("t", b"1", QoS::ExactlyOnce))
        .unwrap();
    assert_eq!(off.client.poll_store_op(), None);
}

/// QoS 1 in flight when the process dies: the restored client resends the PUBLISH with DUP and
/// its original packet id, and PUBACK completes the restored token and clears the disk.
/// [MQTT-4.4.0-1] [MQTT-3.3.1-1] [MQTT-4.3.2-1]
#[test]
fn qos1_in_flight_survives_a_restart() {
    for version in VERSIONS {
        let mut p = Process::start(persistent(version));
        p.s.connect(false);
        let msg = message("q1", b"at least once", QoS::AtLeastOnce);
        let _ = p.s.client.publish(p.s.now, msg.clone()).unwrap();
        let _ = p.s.client.publish(p.s.now, msg.clone()).unwrap();
        assert_eq!(p.sent().len(), 2);
        p.s.feed(Packet::PubAck(ack(1)));
        p.sync();
        assert_eq!(
            p.disk.publishes.len(),
            1,
            "{version}: the acknowledged one is gone"
        );

        let tokens = p.crash_and_restore();
        assert_eq!(tokens.len(), 1);
        assert_eq!(p.s.client.inflight_len(), 1);
        p.s.connect(true);
        assert_eq!(
            p.sent(),
            vec![Packet::Publish(with_id(msg, 2, true))],
            "{version}"
        );
        p.s.feed(Packet::PubAck(ack(2)));
        assert_eq!(
            p.s.events(),
            vec![ClientEvent::Published {
                token: tokens[0],
                outcome: PublishOutcome::Acknowledged(ReasonCode::Success)
            }]
        );
        p.sync();
        assert!(p.disk.is_empty(), "{version}: {:?}", p.disk);
    }
}

/// QoS 2 at each stage when the process dies. Before PUBREC: the PUBLISH again with DUP.
/// After PUBREC: PUBREL again, never the PUBLISH. Completed once, by PUBCOMP.
/// [MQTT-4.4.0-1] [MQTT-3.3.1-1] [MQTT-4.3.3-3] [MQTT-4.6.0-1]
#[test]
fn qos2_survives_a_restart_at_every_stage() {
    for version in VERSIONS {
        let mut p = Process::start(persistent(version));
        p.s.connect(false);
        let msg = message("q2", b"exactly once", QoS::ExactlyOnce);
        let _ = p.s.client.publish(p.s.now, msg.clone()).unwrap();
        assert_eq!(p.sent().len(), 1);
        assert_eq!(
            p.disk.publishes[&0].stage,
            StoredStage::InFlight {
                packet_id: pid(1),
                stage: OutboundStage::AwaitPubRec
            }
        );

        // Stage 1: awaiting PUBREC.
        let tokens = p.crash_and_restore();
        p.s.connect(true);
        assert_eq!(
            p.sent(),
            vec![Packet::Publish(with_id(msg.clone(), 1, true))],
            "{version}"
        );
        p.s.feed(Packet::PubRec(ack(1)));
        assert_eq!(p.sent(), vec![Packet::PubRel(ack(1))]);
        assert_eq!(
            p.disk.publishes[&0].stage,
            StoredStage::InFlight {
                packet_id: pid(1),
                stage: OutboundStage::AwaitPubComp
            }
        );
        assert!(p.s.events().is_empty(), "not complete before PUBCOMP");

        // Stage 2: PUBREL sent, awaiting PUBCOMP.
        let tokens2 = p.crash_and_restore();
        assert_eq!(tokens2.len(), 1);
        p.s.connect(true);
        assert_eq!(
            p.sent(),
            vec![Packet::PubRel(ack(1))],
            "{version}: PUBREL, not the PUBLISH [MQTT-4.3.3-3]"
        );
        p.s.feed(Packet::PubComp(ack(1)));
        assert_eq!(
            p.s.events(),
            vec![ClientEvent::Published {
                token: tokens2[0],
                outcome: PublishOutcome::Acknowledged(ReasonCode::Success)
            }]
        );
        p.sync();
        assert!(p.disk.is_empty());
        let _ = tokens;

        // Stage 3: completed; a later restart has nothing to send.
        assert!(p.crash_and_restore().is_empty());
        p.s.connect(true);
        assert!(p.sent().is_empty());
        assert!(p.s.events().is_empty());
    }
}

/// Publishes accepted but never sent (no connection yet) survive as well and are sent after the
/// restored in-flight ones, in order, with DUP 0 and fresh ids that skip the restored ones.
/// [MQTT-4.6.0-1] [MQTT-2.3.1-2] [MQTT-3.3.1-1]
#[test]
fn queued_publishes_survive_a_restart_in_order() {
    let mut p = Process::start(persistent(ProtocolVersion::V3_1_1));
    p.s.connect(false);
    let first = message("o", b"1", QoS::AtLeastOnce);
    let _ = p.s.client.publish(p.s.now, first.clone()).unwrap();
    assert_eq!(p.sent().len(), 1);
    p.s.drop_transport();
    let _ = p.s.events();
    let second = message("o", b"2", QoS::ExactlyOnce);
    let third = message("o", b"3", QoS::AtLeastOnce);
    let _ = p.s.client.publish(p.s.now, second.clone()).unwrap();
    let _ =
        p.s.client
            .publish(p.s.now, message("o", b"qos0", QoS::AtMostOnce))
            .unwrap();
    let _ = p.s.client.publish(p.s.now, third.clone()).unwrap();
    p.sync();
    assert_eq!(p.disk.publishes.len(), 3, "QoS 0 is not stored");

    let tokens = p.crash_and_restore();
    assert_eq!(tokens.len(), 3);
    assert_eq!((p.s.client.inflight_len(), p.s.client.queued_len()), (1, 2));
    p.s.connect(true);
    assert_eq!(
        p.sent(),
        vec![
            Packet::Publish(with_id(first, 1, true)),
            Packet::Publish(with_id(second, 2, false)),
            Packet::Publish(with_id(third, 3, false)),
        ]
    );
    for (id, stage) in [
        (1, OutboundStage::AwaitPubAck),
        (2, OutboundStage::AwaitPubRec),
        (3, OutboundStage::AwaitPubAck),
    ] {
        assert!(p.disk.publishes.values().any(|sp| sp.stage
            == StoredStage::InFlight {
                packet_id: pid(id),
                stage
            }));
    }
    // A new publish after the restart does not collide with the stored keys.
    let _ =
        p.s.client
            .publish(p.s.now, message("o", b"4", QoS::AtLeastOnce))
            .unwrap();
    let ops = p.sync();
    assert!(
        matches!(ops.first(), Some(ClientStoreOp::PublishAdd { seq: 4, .. })),
        "{ops:?}"
    );
    assert_eq!(p.disk.publishes.len(), 4);
}

/// A QoS 2 message received before the crash is not delivered again when the server resends it
/// after the restart: the restored id is answered with PUBREC, PUBREL releases it, and a new
/// message with the same id afterwards is delivered.
/// 3.1.1 [MQTT-4.3.3-2] 5.0 [MQTT-4.3.3-10] [MQTT-4.4.0-1]
#[test]
fn inbound_qos2_is_not_delivered_twice_after_a_restart() {
    for version in VERSIONS {
        let mut p = Process::start(persistent(version));
        p.s.connect(false);
        let mut incoming = with_id(message("in", b"once", QoS::ExactlyOnce), 7, false);
        p.s.feed(Packet::Publish(incoming.clone()));
        let ops = p.sync();
        assert_eq!(
            ops,
            vec![ClientStoreOp::InboundQos2 {
                packet_id: pid(7),
                pending: true
            }],
            "recorded in the step that delivers it"
        );
        assert!(matches!(
            p.s.events().as_slice(),
            [ClientEvent::Message { .. }]
        ));
        assert_eq!(p.s.sent(), vec![Packet::PubRec(ack(7))]);

        // The PUBREC was lost with the process; the server resends the PUBLISH with DUP.
        p.crash_and_restore();
        p.s.connect(true);
        incoming.dup = true;
        p.s.feed(Packet::Publish(incoming.clone()));
        assert!(
            p.s.events().is_empty(),
            "{version}: delivered twice after a restart"
        );
        assert_eq!(p.sent(), vec![Packet::PubRec(ack(7))]);
        p.s.feed(Packet::PubRel(ack(7)));
        assert_eq!(
            p.sync(),
            vec![ClientStoreOp::InboundQos2 {
                packet_id: pid(7),
                pending: false
            }],
            "released on disk before PUBCOMP leaves"
        );
        assert_eq!(p.s.sent(), vec![Packet::PubComp(ack(7))]);
        assert!(p.disk.is_empty());

        incoming.dup = false;
        incoming.payload = bytes::Bytes::from_static(b"new");
        p.s.feed(Packet::Publish(incoming));
        assert!(
            matches!(p.s.events().as_slice(), [ClientEvent::Message { publish, .. }] if publish.payload == "new"),
            "{version}: after PUBREL the id starts a new message"
        );
    }
}

/// The same resend reaches a client without the restored id as a new message: the restore is
/// what prevents the duplicate above.
#[test]
fn without_restore_the_resent_qos2_would_be_delivered_again() {
    let mut s = Script::new(persistent(ProtocolVersion::V5));
    s.connect(true);
    s.feed(Packet::Publish(with_id(
        message("in", b"once", QoS::ExactlyOnce),
        7,
        true,
    )));
    assert!(matches!(
        s.events().as_slice(),
        [ClientEvent::Message { .. }]
    ));
}

/// A manual-ack client that dies before the application acknowledged a QoS 2 message does not
/// get it again: its id was stored when it was delivered.
/// 5.0 [MQTT-4.3.3-10] [MQTT-4.6.0-2]
#[test]
fn manual_ack_qos2_is_stored_before_delivery() {
    let mut cfg = persistent(ProtocolVersion::V5);
    cfg.manual_acks = true;
    let mut p = Process::start(cfg);
    p.s.connect(false);
    let mut incoming = with_id(message("in", b"once", QoS::ExactlyOnce), 3, false);
    p.s.feed(Packet::Publish(incoming.clone()));
    assert_eq!(p.sync().len(), 1);
    assert!(
        p.s.sent().is_empty(),
        "no PUBREC before the application acks"
    );
    assert!(matches!(
        p.s.events().as_slice(),
        [ClientEvent::Message { ack: Some(_), .. }]
    ));
    p.crash_and_restore();
    p.s.connect(true);
    incoming.dup = true;
    p.s.feed(Packet::Publish(incoming));
    assert!(p.s.events().is_empty());
    assert_eq!(p.sent(), vec![Packet::PubRec(ack(3))]);
}

/// Restored state meets a server without the session: messages in flight complete with
/// SessionLost and leave the disk, received QoS 2 ids are forgotten, queued ones are sent.
/// MQTT 3.1.1 §4.4 [MQTT-4.4.0-1]
#[test]
fn restored_state_without_a_server_session() {
    let mut p = Process::start(persistent(ProtocolVersion::V5));
    p.s.connect(false);
    let _ =
        p.s.client
            .publish(p.s.now, message("a", b"1", QoS::ExactlyOnce))
            .unwrap();
    p.s.feed(Packet::Publish(with_id(
        message("in", b"x", QoS::ExactlyOnce),
        9,
        false,
    )));
    let _ = p.sent();
    let _ = p.s.events();
    p.s.drop_transport();
    let _ =
        p.s.client
            .publish(p.s.now, message("a", b"2", QoS::AtLeastOnce))
            .unwrap();
    p.sync();

    let tokens = p.crash_and_restore();
    p.s.connect_with(ConnAck::default());
    let events = p.s.events();
    assert!(
        events.contains(&ClientEvent::Published {
            token: tokens[0],
            outcome: PublishOutcome::SessionLost
        }),
        "{events:?}"
    );
    let ops = p.sync();
    assert!(ops.contains(&ClientStoreOp::PublishRemove { seq: 0 }));
    assert!(ops.contains(&ClientStoreOp::InboundQos2 {
        packet_id: pid(9),
        pending: false
    }));
    // The queued one went out with a fresh id.
    assert_eq!(
        p.s.sent(),
        vec![Packet::Publish(with_id(
            message("a", b"2", QoS::AtLeastOnce),
            1,
            false
        ))]
    );
    assert_eq!(p.disk.publishes.len(), 1);
    assert!(p.disk.inbound_qos2.is_empty());
}

/// A refusing PUBREC (5.0) and discard_session remove stored publishes.
#[test]
fn refused_and_discarded_publishes_leave_the_store() {
    let mut p = Process::start(persistent(ProtocolVersion::V5));
    p.s.connect(false);
    let _ =
        p.s.client
            .publish(p.s.now, message("a", b"1", QoS::ExactlyOnce))
            .unwrap();
    let _ = p.sent();
    p.s.feed(Packet::PubRec(ack_with(1, ReasonCode::QuotaExceeded)));
    p.sync();
    assert!(p.disk.is_empty());
    let _ =
        p.s.client
            .publish(p.s.now, message("a", b"2", QoS::AtLeastOnce))
            .unwrap();
    p.s.feed(Packet::Publish(with_id(
        message("in", b"x", QoS::ExactlyOnce),
        4,
        false,
    )));
    p.sync();
    assert!(!p.disk.is_empty());
    p.s.client.discard_session();
    p.sync();
    assert!(p.disk.is_empty(), "{:?}", p.disk);
}

/// Bad snapshots are refused with a typed error and change nothing; restoring needs a fresh
/// client.
#[test]
fn restore_refuses_inconsistent_snapshots() {
    let stored = |qos, stage| StoredPublish {
        publish: message("t", b"x", qos),
        stage,
    };
    let in_flight = |id, stage| StoredStage::InFlight {
        packet_id: pid(id),
        stage,
    };
    let cases = [
        (
            vec![(1, stored(QoS::AtMostOnce, StoredStage::Queued))],
            RestoreError::QoS0 { seq: 1 },
        ),
        (
            vec![(
                2,
                stored(QoS::AtLeastOnce, in_flight(1, OutboundStage::AwaitPubComp)),
            )],
            RestoreError::StageMismatch { seq: 2 },
        ),
        (
            vec![(
                3,
                stored(QoS::ExactlyOnce, in_flight(1, OutboundStage::AwaitPubAck)),
            )],
            RestoreError::StageMismatch { seq: 3 },
        ),
        (
            vec![
                (
                    4,
                    stored(QoS::AtLeastOnce, in_flight(5, OutboundStage::AwaitPubAck)),
                ),
                (
                    5,
                    stored(QoS::ExactlyOnce, in_flight(5, OutboundStage::AwaitPubRec)),
                ),
            ],
            RestoreError::DuplicatePacketId(pid(5)),
        ),
    ];
    for (publishes, error) in cases {
        let mut s = Script::new(persistent(ProtocolVersion::V5));
        let snapshot = ClientSnapshot {
            publishes: publishes.into_iter().collect(),
            inbound_qos2: Default::default(),
        };
        assert_eq!(s.client.restore(snapshot), Err(error));
        assert_eq!(s.client.inflight_len() + s.client.queued_len(), 0);
    }
    let mut s = Script::new(persistent(ProtocolVersion::V5));
    s.connect(false);
    assert_eq!(
        s.client.restore(ClientSnapshot::default()),
        Err(RestoreError::NotFresh)
    );
}

mod sim_restarts {
    //! A persisting publisher dies at every point of the QoS 2 exchange with the real broker
    //! and restarts from what it stored; the subscriber gets every message exactly once.

    use alloc::vec::Vec;
    use bytes::BytesMut;

    use crate::broker::BrokerConfig;
    use crate::client::{Client, ClientEvent, ClientSnapshot, PublishOutcome};
    use crate::codec::{ProtocolVersion, QoS, ReasonCode};
    use crate::tests::sim::{Sim, msg, persistent, sub};

    /// Moves the broker's output: to the publisher `p` only if `to_p`, to everyone else always.
    fn route(sim: &mut Sim<crate::broker::AllowAll>, p: usize, to_p: bool) {
        while let Some(id) = sim.broker.poll_writable() {
            let mut out = Vec::new();
            let _ = sim.broker.poll_transmit(id, &mut out);
            if sim.clients[p].connection == Some(id) {
                if to_p {
                    let mut rx = BytesMut::from(&out[..]);
                    sim.clients[p].client.handle_input(sim.now, &mut rx);
                }
            } else if let Some(c) = sim.clients.iter_mut().find(|c| c.connection == Some(id)) {
                let mut rx = BytesMut::from(&out[..]);
                c.client.handle_input(sim.now, &mut rx);
            }
        }
    }

    /// The publisher's bytes go to the broker (or are lost with the process if `!deliver`).
    fn transmit(sim: &mut Sim<crate::broker::AllowAll>, p: usize, deliver: bool) {
        let mut out = Vec::new();
        let _ = sim.clients[p].client.poll_transmit(&mut out);
        if let (true, Some(id)) = (deliver, sim.clients[p].connection) {
            let mut rx = BytesMut::from(&out[..]);
            sim.broker.handle_input(sim.now, id, &mut rx);
        }
    }

    /// [MQTT-4.4.0-1] [MQTT-4.3.3-3] 5.0 [MQTT-4.3.3-10]: exactly once across publisher crashes
    /// before sending, after PUBLISH, after PUBREC, after PUBREL and after PUBCOMP.
    #[test]
    fn exactly_once_across_publisher_crashes_at_every_point() {
        for version in [ProtocolVersion::V3_1_1, ProtocolVersion::V5] {
            let mut sim = Sim::new(BrokerConfig::default());
            let s = sim.join(persistent(version, "sub"));
            sim.subscribe(s, &[sub("x", QoS::ExactlyOnce)]);
            let _ = sim.events(s);
            let mut cfg = persistent(version, "pub");
            cfg.persist = true;
            let p = sim.join(cfg.clone());
            let mut disk = ClientSnapshot::default();
            let mut completed = 0;
            for k in 0u8..10 {
                let _ = sim.clients[p]
                    .client
                    .publish(sim.now, msg("x", &[k], QoS::ExactlyOnce, false))
                    .unwrap();
                // Stage by stage, syncing the store before any byte moves.
                let sync = |sim: &mut Sim<_>, disk: &mut ClientSnapshot| {
                    while let Some(op) = sim.clients[p].client.poll_store_op() {
                        disk.apply(op);
                    }
                };
                let crash_after = k % 5; // 0 before PUBLISH ... 4 after PUBCOMP
                sync(&mut sim, &mut disk);
                transmit(&mut sim, p, crash_after >= 1); // PUBLISH
                route(&mut sim, p, crash_after >= 2); // PUBREC
                sync(&mut sim, &mut disk);
                transmit(&mut sim, p, crash_after >= 3); // PUBREL
                route(&mut sim, p, crash_after >= 4); // PUBCOMP
                sync(&mut sim, &mut disk);
                completed += sim.clients[p]
                    .client
                    .poll_event()
                    .into_iter()
                    .filter(|e| matches!(e, ClientEvent::Published { .. }))
                    .count();

                // The process dies; a new one restores the disk and reconnects.
                if let Some(id) = sim.clients[p].connection.take() {
                    sim.broker.handle_closed(sim.now, id);
                }
                sim.run();
                let mut fresh = Client::new(cfg.clone());
                let tokens = fresh.restore(disk.clone()).unwrap();
                assert_eq!(
                    tokens.len(),
                    usize::from(crash_after < 4),
                    "{version} k={k}"
                );
                sim.clients[p].client = fresh;
                sim.clients[p].events.clear();
                assert!(sim.reconnect(p), "{version}: the broker kept the session");
                let done: Vec<_> = sim
                    .events(p)
                    .into_iter()
                    .filter_map(|e| match e {
                        ClientEvent::Published { token, outcome } => Some((token, outcome)),
                        _ => None,
                    })
                    .collect();
                let expected: Vec<_> = tokens
                    .iter()
                    .map(|t| (*t, PublishOutcome::Acknowledged(ReasonCode::Success)))
                    .collect();
                assert_eq!(done, expected, "{version} k={k}");
                completed += done.len();
                sync(&mut sim, &mut disk);
                assert!(disk.is_empty(), "{version} k={k}: {disk:?}");
            }
            assert_eq!(completed, 10);
            let got: Vec<u8> = sim.received(s).iter().map(|m| m.payload[0]).collect();
            assert_eq!(
                got,
                (0u8..10).collect::<Vec<_>>(),
                "{version}: exactly once, in order"
            );
        }
    }
}
