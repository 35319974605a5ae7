//! Client transcripts: disconnects at every step of the QoS handshakes, and what a resumed or
//! lost session does with them (MQTT 3.1.1 §4.4, MQTT 5.0 §4.4).

use alloc::vec;
use alloc::vec::Vec;

use super::scripted_server::*;
use crate::client::{ClientConfig, ClientEvent, CloseReason, PublishOutcome};
use crate::codec::*;
use crate::topic::TopicFilter;

fn persistent(version: ProtocolVersion) -> ClientConfig {
    let mut cfg = config(version);
    cfg.clean_start = false;
    cfg
}

fn with_dup(mut p: Publish) -> Publish {
    p.dup = true;
    p
}

fn qos2(id: u16) -> Publish {
    let mut p = message("r", b"exactly", QoS::ExactlyOnce);
    p.packet_id = Some(pid(id));
    p
}

/// Disconnect before PUBREC: the resumed session gets the PUBLISH again with DUP set; before
/// PUBCOMP: PUBREL again; after PUBCOMP: nothing. Completes exactly once.
/// [MQTT-4.4.0-1] [MQTT-3.3.1-1] [MQTT-4.3.3-3] [MQTT-4.6.0-1]
#[test]
fn qos2_resumes_at_every_step() {
    for version in [
        ProtocolVersion::V3_1,
        ProtocolVersion::V3_1_1,
        ProtocolVersion::V5,
    ] {
        // Step 1: PUBLISH sent, connection lost before PUBREC.
        let mut s = Script::new(persistent(version));
        s.connect(false);
        let token = s
            .client
            .publish(s.now, message("r", b"exactly", QoS::ExactlyOnce))
            .unwrap();
        assert_eq!(s.sent(), vec![Packet::Publish(qos2(1))]);
        s.drop_transport();
        assert_eq!(
            s.events(),
            vec![ClientEvent::Closed(CloseReason::TransportClosed)]
        );
        s.connect(true);
        assert_eq!(
            s.sent(),
            vec![Packet::Publish(with_dup(qos2(1)))],
            "{version}"
        );
        // Step 2: PUBREC received, PUBREL sent, lost before PUBCOMP.
        s.feed(Packet::PubRec(ack(1)));
        assert_eq!(s.sent(), vec![Packet::PubRel(ack(1))]);
        s.drop_transport();
        let _ = s.events();
        s.connect(true);
        assert_eq!(
            s.sent(),
            vec![Packet::PubRel(ack(1))],
            "PUBREL, not the PUBLISH [MQTT-4.3.3-3]"
        );
        // Step 3: PUBCOMP received; a later resume has nothing to send.
        s.feed(Packet::PubComp(ack(1)));
        assert_eq!(
            s.events(),
            vec![ClientEvent::Published {
                token,
                outcome: PublishOutcome::Acknowledged(ReasonCode::Success)
            }]
        );
        s.drop_transport();
        let _ = s.events();
        s.connect(true);
        assert!(s.sent().is_empty());
        assert!(s.events().is_empty(), "completed exactly once");
    }
}

/// QoS 1 messages in flight are resent with DUP, in the original order, before new ones.
/// [MQTT-4.4.0-1] [MQTT-4.6.0-1]
#[test]
fn qos1_resend_keeps_order_and_sets_dup() {
    let mut s = Script::new(persistent(ProtocolVersion::V3_1_1));
    s.connect(false);
    for body in [b"1", b"2", b"3"] {
        let _ = s
            .client
            .publish(s.now, message("o", body, QoS::AtLeastOnce))
            .unwrap();
    }
    let _ = s.sent();
    s.feed(Packet::PubAck(ack(2)));
    s.drop_transport();
    // Published while offline: queued, sent after the resends.
    let _ = s
        .client
        .publish(s.now, message("o", b"4", QoS::AtLeastOnce))
        .unwrap();
    let _ = s.events();
    s.connect(true);
    let sent: Vec<(bool, u16, Vec<u8>)> = s
        .sent()
        .into_iter()
        .map(|p| match p {
            Packet::Publish(p) => (p.dup, p.packet_id.unwrap().get(), p.payload.to_vec()),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        sent,
        vec![
            (true, 1, b"1".to_vec()),
            (true, 3, b"3".to_vec()),
            (false, 4, b"4".to_vec())
        ]
    );
    // Identifiers move forward: 2 was freed by its PUBACK but 4 is the next one handed out.
}

/// The server did not keep the session: messages in flight are reported lost, queued ones
/// are still sent, and QoS 2 tracking of inbound messages is reset.
/// [MQTT-3.2.2-2] [MQTT-4.1.0-1]
#[test]
fn session_not_present_reports_lost_messages() {
    let mut s = Script::new(persistent(ProtocolVersion::V5));
    s.connect(false);
    let lost = s
        .client
        .publish(s.now, message("o", b"1", QoS::AtLeastOnce))
        .unwrap();
    let _ = s.sent();
    s.feed(qos2(5).into());
    let _ = s.sent();
    let _ = s.events();
    s.drop_transport();
    let queued = s
        .client
        .publish(s.now, message("o", b"2", QoS::AtLeastOnce))
        .unwrap();
    let _ = s.events();
    s.connect_with(ConnAck::default());
    let events = s.events();
    assert_eq!(
        events[0],
        ClientEvent::Published {
            token: lost,
            outcome: PublishOutcome::SessionLost
        }
    );
    assert!(matches!(
        events[1],
        ClientEvent::Connected {
            session_present: false,
            ..
        }
    ));
    let sent = s.sent();
    assert!(
        matches!(&sent[..], [Packet::Publish(p)] if p.payload.as_ref() == b"2" && !p.dup),
        "{sent:?}"
    );
    // The old QoS 2 id 5 is forgotten: a new message with id 5 is delivered.
    s.feed(qos2(5).into());
    assert!(matches!(s.events()[..], [ClientEvent::Message { .. }]));
    s.feed(Packet::PubAck(ack(2)));
    assert_eq!(
        s.events(),
        vec![ClientEvent::Published {
            token: queued,
            outcome: PublishOutcome::Acknowledged(ReasonCode::Success)
        }]
    );
}

/// Inbound QoS 2 across a reconnect: the server's resend (DUP) is acknowledged but not
/// delivered again; the PUBREL completes it.
/// [MQTT-4.3.3-2] [MQTT-4.4.0-1]
#[test]
fn inbound_qos2_is_exactly_once_across_reconnect() {
    let mut s = Script::new(persistent(ProtocolVersion::V3_1_1));
    s.connect(false);
    s.feed(qos2(9).into());
    assert_eq!(s.sent(), vec![Packet::PubRec(ack(9))]);
    assert_eq!(s.events().len(), 1);
    s.drop_transport();
    let _ = s.events();
    s.connect(true);
    s.feed(with_dup(qos2(9)).into());
    assert_eq!(s.sent(), vec![Packet::PubRec(ack(9))]);
    assert!(s.events().is_empty());
    s.feed(Packet::PubRel(ack(9)));
    assert_eq!(s.sent(), vec![Packet::PubComp(ack(9))]);
}

/// A SUBSCRIBE pending when the connection drops is aborted (the token completes once) and its
/// id is free again.
#[test]
fn pending_subscribe_is_aborted_on_disconnect() {
    let mut s = Script::new(config(ProtocolVersion::V3_1_1));
    s.connect(false);
    let sub = [Subscription::new(
        TopicFilter::try_from("a").unwrap(),
        QoS::AtLeastOnce,
    )];
    let token = s.client.subscribe(s.now, &sub).unwrap();
    s.drop_transport();
    let events = s.events();
    assert_eq!(events[0], ClientEvent::RequestAborted { token });
    assert_eq!(s.client.packet_ids_in_use(), 0);
}

/// discard_session completes every outstanding token with Discarded.
#[test]
fn discard_session_completes_everything() {
    let mut s = Script::new(persistent(ProtocolVersion::V3_1_1));
    s.connect(false);
    let a = s
        .client
        .publish(s.now, message("a", b"", QoS::AtLeastOnce))
        .unwrap();
    s.drop_transport();
    let b = s
        .client
        .publish(s.now, message("a", b"", QoS::ExactlyOnce))
        .unwrap();
    let _ = s.events();
    s.client.discard_session();
    assert_eq!(
        s.events(),
        vec![
            ClientEvent::Published {
                token: a,
                outcome: PublishOutcome::Discarded
            },
            ClientEvent::Published {
                token: b,
                outcome: PublishOutcome::Discarded
            },
        ]
    );
    assert_eq!(
        (
            s.client.inflight_len(),
            s.client.queued_len(),
            s.client.packet_ids_in_use()
        ),
        (0, 0, 0)
    );
}

/// A PUBREL resent after reconnect may be answered with PUBCOMP "Packet Identifier not found"
/// by a server that released the id already: "not an error during recovery" (MQTT 5.0
/// §3.7.2.1), so the publish completes as a success.
#[test]
fn pubcomp_not_found_after_resume_is_success() {
    let mut s = Script::new(persistent(ProtocolVersion::V5));
    s.connect(false);
    let token = s
        .client
        .publish(s.now, message("r", b"exactly", QoS::ExactlyOnce))
        .unwrap();
    let _ = s.sent();
    s.feed(Packet::PubRec(ack(1)));
    let _ = s.sent();
    s.drop_transport();
    let _ = s.events();
    s.connect(true);
    assert_eq!(s.sent(), vec![Packet::PubRel(ack(1))]);
    s.feed(Packet::PubComp(ack_with(
        1,
        ReasonCode::PacketIdentifierNotFound,
    )));
    assert_eq!(
        s.events(),
        vec![ClientEvent::Published {
            token,
            outcome: PublishOutcome::Acknowledged(ReasonCode::Success)
        }]
    );
}

/// With `clean_start_first_only`, the first CONNECT starts clean and reconnections resume.
/// [MQTT-3.1.2-4] [MQTT-3.1.2-5]
#[test]
fn clean_start_first_only() {
    let mut cfg = config(ProtocolVersion::V5);
    cfg.clean_start_first_only = true;
    cfg.properties.session_expiry_interval = Some(600);
    let mut s = Script::new(cfg);
    let first = s.connect_with(ConnAck::default());
    assert!(matches!(&first, Packet::Connect(c) if c.clean_start));
    let _ = s.events();
    s.drop_transport();
    let _ = s.events();
    let again = s.connect_with(ConnAck {
        session_present: true,
        ..Default::default()
    });
    assert!(matches!(&again, Packet::Connect(c) if !c.clean_start));
    assert!(matches!(
        s.events()[..],
        [ClientEvent::Connected {
            session_present: true,
            ..
        }]
    ));
}

/// With `resubscribe`, a connection without a session restores the granted subscriptions with
/// their options (subscriptions are session state, MQTT 5.0 §4.1); refused and unsubscribed
/// filters are not restored; a present session needs nothing.
/// [MQTT-3.2.2-2] [MQTT-3.8.4-1]
#[test]
fn resubscribes_when_the_session_is_gone() {
    use crate::topic::TopicFilter;
    let mut cfg = config(ProtocolVersion::V5);
    cfg.resubscribe = true;
    cfg.clean_start = false;
    let mut s = Script::new(cfg);
    s.connect(false);
    let mut a = Subscription::new(TopicFilter::try_from("a/#").unwrap(), QoS::AtLeastOnce);
    a.options.no_local = true;
    let subs = [
        a.clone(),
        Subscription::new(TopicFilter::try_from("b").unwrap(), QoS::ExactlyOnce),
        Subscription::new(TopicFilter::try_from("denied").unwrap(), QoS::AtMostOnce),
    ];
    let _ = s.client.subscribe(s.now, &subs).unwrap();
    let _ = s.sent();
    let codes = vec![
        ReasonCode::GrantedQoS1,
        ReasonCode::GrantedQoS2,
        ReasonCode::NotAuthorized,
    ];
    s.feed(
        SubAck {
            packet_id: pid(1),
            reason_codes: codes,
            properties: Default::default(),
        }
        .into(),
    );
    let _ = s
        .client
        .unsubscribe(s.now, &[TopicFilter::try_from("b").unwrap()])
        .unwrap();
    let _ = s.sent();
    s.feed(
        UnsubAck {
            packet_id: pid(2),
            reason_codes: vec![ReasonCode::Success],
            properties: Default::default(),
        }
        .into(),
    );
    let _ = s.events();

    s.drop_transport();
    let _ = s.events();
    s.connect_with(ConnAck::default());
    match &s.sent()[..] {
        [Packet::Subscribe(sub)] => assert_eq!(sub.subscriptions, vec![a]),
        other => panic!("{other:?}"),
    }
    let events = s.events();
    assert!(
        matches!(
            events[..],
            [ClientEvent::Connected {
                session_present: false,
                ..
            }]
        ),
        "{events:?}"
    );
    s.feed(
        SubAck {
            packet_id: pid(3),
            reason_codes: vec![ReasonCode::GrantedQoS1],
            properties: Default::default(),
        }
        .into(),
    );
    assert_eq!(
        s.events(),
        vec![ClientEvent::Resubscribed {
            results: vec![ReasonCode::GrantedQoS1]
        }]
    );

    s.drop_transport();
    let _ = s.events();
    s.connect_with(ConnAck {
        session_present: true,
        ..Default::default()
    });
    assert!(s.sent().is_empty(), "the server kept the subscriptions");
}
