//! Client transcripts: connecting, keepalive, server limits, protocol violations.

use alloc::boxed::Box;
use alloc::vec;
use bytes::Bytes;
use core::num::{NonZeroU16, NonZeroU32};

use super::scripted_server::*;
use crate::client::{ClientEvent, CloseReason, CommandError, ConnectionState};
use crate::codec::*;
use crate::time::Duration;

/// CONNECT carries every configured option; CONNACK with session present is reported.
/// [MQTT-3.1.0-1] [MQTT-3.1.2-4] [MQTT-3.1.2-8] [MQTT-3.1.2-9] [MQTT-3.1.2-14] [MQTT-3.1.2-19] [MQTT-3.1.2-21] [MQTT-3.2.2-2]
#[test]
fn connect_sends_every_option_and_reports_session_present() {
    let mut cfg = config(ProtocolVersion::V5);
    cfg.clean_start = false;
    cfg.keep_alive = 30;
    cfg.username = Some(MqttString::try_from("aspl").unwrap());
    cfg.password = Some(Bytes::from_static(b"test"));
    let mut will_props = WillProperties::default();
    will_props.will_delay_interval = Some(5);
    cfg.will = Some(Will {
        topic: topic("will/t"),
        payload: Bytes::from_static(b"bye"),
        qos: QoS::AtLeastOnce,
        retain: true,
        properties: will_props,
    });
    cfg.properties.session_expiry_interval = Some(3600);
    cfg.properties.receive_maximum = NonZeroU16::new(10);
    cfg.properties.maximum_packet_size = NonZeroU32::new(4096);
    cfg.properties.topic_alias_maximum = Some(4);
    cfg.properties.request_problem_information = Some(true);
    cfg.properties.request_response_information = Some(true);
    cfg.properties.user_properties.push(UserProperty::new(
        MqttString::try_from("k").unwrap(),
        MqttString::try_from("v").unwrap(),
    ));
    let expected = cfg.connect_packet();
    let mut s = Script::new(cfg);
    let sent = s.connect_with(ConnAck {
        session_present: true,
        ..Default::default()
    });
    assert_eq!(sent, Packet::Connect(Box::new(expected.clone())));
    assert_eq!(expected.properties.session_expiry_interval, Some(3600));
    let events = s.events();
    assert!(
        matches!(
            events[..],
            [ClientEvent::Connected {
                session_present: true,
                ..
            }]
        ),
        "{events:?}"
    );
    assert!(s.client.is_connected());
}

/// A refused CONNACK closes with the server's code (3.1.1 return codes map to reason codes).
/// [MQTT-3.2.2-5] [MQTT-3.2.2-6]
#[test]
fn refused_connack_reports_the_code() {
    let mut s = Script::new(config(ProtocolVersion::V3_1_1));
    s.connect_with(ConnAck {
        reason_code: ReasonCode::BadUserNameOrPassword,
        ..Default::default()
    });
    let events = s.events();
    assert!(
        matches!(&events[..], [ClientEvent::Closed(CloseReason::Refused(ack))] if ack.reason_code == ReasonCode::BadUserNameOrPassword),
        "{events:?}"
    );
    assert_eq!(s.client.state(), ConnectionState::Disconnected);
}

/// No CONNACK within the connect timeout closes the connection.
#[test]
fn connect_timeout_without_connack() {
    let mut s = Script::new(config(ProtocolVersion::V3_1_1));
    s.client.handle_connected(s.now);
    let _ = s.sent();
    s.advance(29_999);
    assert!(s.events().is_empty());
    s.advance(1);
    assert_eq!(
        s.events(),
        vec![ClientEvent::Closed(CloseReason::ConnectTimeout)]
    );
    assert_eq!(s.client.poll_timeout(), None);
}

/// PINGREQ after keep-alive seconds without sending anything; PINGRESP keeps the connection;
/// a missing PINGRESP ends it after the ping timeout.
/// [MQTT-3.1.2-23] [MQTT-3.12.4-1]
#[test]
fn keepalive_pings_when_idle_and_times_out_without_pingresp() {
    let mut cfg = config(ProtocolVersion::V3_1_1);
    cfg.keep_alive = 10;
    cfg.ping_timeout = Duration::from_secs(5);
    let mut s = Script::new(cfg);
    s.connect(false);
    s.advance(9_999);
    assert!(s.sent().is_empty());
    s.advance(1);
    assert_eq!(s.sent(), vec![Packet::PingReq]);
    s.advance(1_000);
    s.feed(Packet::PingResp);
    assert!(s.events().is_empty(), "automatic pings are silent");
    // Sending anything resets the idle timer.
    s.advance(5_000);
    let _ = s
        .client
        .publish(s.now, message("t", b"x", QoS::AtMostOnce))
        .unwrap();
    let _ = s.sent();
    let _ = s.events();
    s.advance(9_999);
    assert!(s.sent().is_empty());
    s.advance(1);
    assert_eq!(s.sent(), vec![Packet::PingReq]);
    s.advance(5_000);
    assert_eq!(
        s.events(),
        vec![ClientEvent::Closed(CloseReason::KeepAliveTimeout)]
    );
}

/// MQTT 5.0 Server Keep Alive replaces the client's value; keep alive 0 disables pings.
/// [MQTT-3.2.2-21] [MQTT-3.1.2-22]
#[test]
fn server_keep_alive_overrides_and_zero_disables() {
    let mut s = Script::new(config(ProtocolVersion::V5));
    let mut ack = ConnAck::default();
    ack.properties.server_keep_alive = Some(2);
    s.connect_with(ack);
    s.advance(2_000);
    assert_eq!(s.sent(), vec![Packet::PingReq]);

    let mut cfg = config(ProtocolVersion::V3_1_1);
    cfg.keep_alive = 0;
    let mut s = Script::new(cfg);
    s.connect(false);
    assert_eq!(s.client.poll_timeout(), None);
}

/// The application's ping gets its PingResponse event (MyQtt `conn.ping`).
#[test]
fn explicit_ping_reports_the_response() {
    let mut s = Script::new(config(ProtocolVersion::V3_1_1));
    assert_eq!(s.client.ping(s.now), Err(CommandError::NotConnected));
    s.connect(false);
    s.client.ping(s.now).unwrap();
    assert_eq!(s.sent(), vec![Packet::PingReq]);
    s.feed(Packet::PingResp);
    assert_eq!(s.events(), vec![ClientEvent::PingResponse]);
}

/// An empty client id with a 5.0 Assigned Client Identifier: the client adopts it.
/// [MQTT-3.1.3-6] [MQTT-3.2.2-16]
#[test]
fn assigned_client_identifier_is_adopted() {
    let mut cfg = config(ProtocolVersion::V5);
    cfg.client_id = MqttString::empty();
    let mut s = Script::new(cfg);
    let mut ack = ConnAck::default();
    ack.properties.assigned_client_identifier = Some(MqttString::try_from("auto-7").unwrap());
    s.connect_with(ack);
    assert_eq!(s.client.client_id(), "auto-7");
}

/// A clean-start client told that a session is present closes the connection.
/// [MQTT-3.2.2-4]
#[test]
fn session_present_after_clean_start_is_a_violation() {
    let mut s = Script::new(config(ProtocolVersion::V5));
    s.connect_with(ConnAck {
        session_present: true,
        ..Default::default()
    });
    assert_eq!(
        s.sent(),
        vec![Packet::Disconnect(Disconnect::new(
            ReasonCode::ProtocolError
        ))]
    );
    assert!(matches!(
        s.events()[..],
        [ClientEvent::Closed(CloseReason::ProtocolViolation { .. })]
    ));
}

/// Server protocol violations: 5.0 answers DISCONNECT with the reason code, 3.1.1 just closes;
/// nothing panics and later input is ignored.
/// [MQTT-3.2.0-1] [MQTT-4.8.0-1]
#[test]
fn server_protocol_violations_close_with_the_right_code() {
    // Data before CONNACK.
    let mut s = Script::new(config(ProtocolVersion::V5));
    s.client.handle_connected(s.now);
    let _ = s.sent();
    s.feed(Packet::PingResp);
    assert_eq!(
        s.sent(),
        vec![Packet::Disconnect(Disconnect::new(
            ReasonCode::ProtocolError
        ))]
    );
    assert!(matches!(
        s.events()[..],
        [ClientEvent::Closed(CloseReason::ProtocolViolation {
            reason: ReasonCode::ProtocolError,
            ..
        })]
    ));
    s.feed(Packet::PingResp);
    assert!(
        s.sent().is_empty() && s.events().is_empty(),
        "closed: input ignored"
    );

    // A malformed packet (reserved type 0) in 5.0: DISCONNECT Malformed Packet.
    let mut s = Script::new(config(ProtocolVersion::V5));
    s.connect(false);
    s.feed_bytes(&[0x00, 0x00]);
    assert_eq!(
        s.sent(),
        vec![Packet::Disconnect(Disconnect::new(
            ReasonCode::MalformedPacket
        ))]
    );

    // The same in 3.1.1: no DISCONNECT from a client for errors, just close.
    let mut s = Script::new(config(ProtocolVersion::V3_1_1));
    s.connect(false);
    s.feed_bytes(&[0xC0, 0x00]); // PINGREQ is never sent by a server
    assert!(s.sent().is_empty());
    assert!(matches!(
        s.events()[..],
        [ClientEvent::Closed(CloseReason::ProtocolViolation {
            reason: ReasonCode::ProtocolError,
            ..
        })]
    ));

    // A SUBACK for nothing we asked.
    let mut s = Script::new(config(ProtocolVersion::V5));
    s.connect(false);
    s.feed(
        SubAck {
            packet_id: pid(9),
            reason_codes: vec![ReasonCode::Success],
            properties: Default::default(),
        }
        .into(),
    );
    assert_eq!(
        s.sent(),
        vec![Packet::Disconnect(Disconnect::new(
            ReasonCode::ProtocolError
        ))]
    );
}

/// A packet above the Maximum Packet Size the client announced is refused with 0x95 from its
/// fixed header. [MQTT-3.1.2-25]
#[test]
fn incoming_packet_too_large() {
    let mut cfg = config(ProtocolVersion::V5);
    cfg.properties.maximum_packet_size = NonZeroU32::new(64);
    let mut s = Script::new(cfg);
    s.connect(false);
    // Only the header of a 200-byte PUBLISH arrives.
    s.feed_bytes(&[0x30, 0xC5, 0x01]);
    assert_eq!(
        s.sent(),
        vec![Packet::Disconnect(Disconnect::new(
            ReasonCode::PacketTooLarge
        ))]
    );
    assert!(matches!(
        s.events()[..],
        [ClientEvent::Closed(CloseReason::ProtocolViolation {
            reason: ReasonCode::PacketTooLarge,
            ..
        })]
    ));
}

/// A 5.0 DISCONNECT from the server is reported with its reason and Server Reference
/// (redirection, MQTT 5.0 §4.11).
#[test]
fn server_disconnect_and_redirection_are_reported() {
    let mut s = Script::new(config(ProtocolVersion::V5));
    s.connect(false);
    let mut d = Disconnect::new(ReasonCode::UseAnotherServer);
    d.properties.server_reference = Some(MqttString::try_from("other:1883").unwrap());
    s.feed(d.clone().into());
    assert_eq!(
        s.events(),
        vec![ClientEvent::Closed(CloseReason::ServerDisconnect(
            Box::new(d)
        ))]
    );
    assert!(
        s.sent().is_empty(),
        "no answer to a DISCONNECT [MQTT-3.14.4-1]"
    );
}

/// Local DISCONNECT: 5.0 carries the reason; the client is disconnected afterwards.
/// [MQTT-3.14.4-1] [MQTT-3.14.4-2]
#[test]
fn local_disconnect_with_reason() {
    let mut s = Script::new(config(ProtocolVersion::V5));
    s.connect(false);
    s.client
        .disconnect(s.now, ReasonCode::DisconnectWithWillMessage);
    assert_eq!(
        s.sent(),
        vec![Packet::Disconnect(Disconnect::new(
            ReasonCode::DisconnectWithWillMessage
        ))]
    );
    assert_eq!(
        s.events(),
        vec![ClientEvent::Closed(CloseReason::Local(
            ReasonCode::DisconnectWithWillMessage
        ))]
    );
    assert_eq!(s.client.state(), ConnectionState::Disconnected);
}

/// Enhanced authentication (MQTT 5.0 §4.12): the challenge is an event, the answer a command.
/// [MQTT-4.12.0-1]
#[test]
fn enhanced_authentication_exchange() {
    let mut cfg = config(ProtocolVersion::V5);
    cfg.properties.authentication_method = Some(MqttString::try_from("SCRAM").unwrap());
    cfg.properties.authentication_data = Some(Bytes::from_static(b"client-first"));
    let mut s = Script::new(cfg);
    s.client.handle_connected(s.now);
    let _ = s.sent();
    let mut challenge = Auth {
        reason_code: ReasonCode::ContinueAuthentication,
        ..Default::default()
    };
    challenge.properties.authentication_method = Some(MqttString::try_from("SCRAM").unwrap());
    challenge.properties.authentication_data = Some(Bytes::from_static(b"server-first"));
    s.feed(challenge.clone().into());
    assert_eq!(
        s.events(),
        vec![ClientEvent::AuthChallenge(Box::new(challenge))]
    );
    let mut answer = AuthProperties::default();
    answer.authentication_data = Some(Bytes::from_static(b"client-final"));
    s.client.auth(s.now, answer).unwrap();
    let sent = s.sent();
    assert!(
        matches!(&sent[..], [Packet::Auth(a)] if a.reason_code == ReasonCode::ContinueAuthentication
        && a.properties.authentication_method.as_deref() == Some("SCRAM"))
    );
    s.feed(ConnAck::default().into());
    assert!(matches!(s.events()[..], [ClientEvent::Connected { .. }]));
}
