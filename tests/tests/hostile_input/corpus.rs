//! The malformed-input corpus: every malformed case `myqtt-proto/tests/malformed.rs` names that
//! a client can send (the server-to-client packets among them become "a client sent a
//! server's packet"), each with the answer the specification requires from a server:
//!
//! - 3.1.1: the connection is closed, nothing sent ([MQTT-4.8.0-1]); a CONNECT with an
//!   unacceptable protocol level gets CONNACK 0x01 first ([MQTT-3.1.2-2]);
//! - 5.0: DISCONNECT with the reason code of the error, then close ([MQTT-4.13.1-1]);
//! - a malformed first CONNECT (any version): close ([MQTT-3.1.4-1]); 5.0 allows an optional
//!   CONNACK with the reason code, which myqttd does not send.
//!
//! Statement ids are in the case names.

use myqtt_tests::hostile::{V4, V5, connect, connect_packet, frame, string, varint};

/// When the bytes are sent.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Stage {
    /// As the first bytes of the connection.
    First,
    /// After a valid CONNECT at this protocol level was accepted.
    After(u8),
}

/// What the broker must do.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Answer {
    /// Close the connection without sending anything.
    Close,
    /// Send CONNACK with this return / reason code (Session Present 0), then close.
    ConnAck(u8),
    /// Send a 5.0 DISCONNECT with this reason code, then close.
    Disconnect(u8),
    /// Acknowledge `acks` packets of type `ack_type`, then DISCONNECT with `code` and close.
    AcksThenDisconnect { ack_type: u8, acks: usize, code: u8 },
}

/// One hostile input.
#[derive(Clone, Debug)]
pub(crate) struct Case {
    pub(crate) name: &'static str,
    pub(crate) stage: Stage,
    pub(crate) wire: Vec<u8>,
    pub(crate) answer: Answer,
}

/// Topic Alias Maximum and Receive Maximum the corpus broker is configured with.
pub(crate) const TOPIC_ALIAS_MAXIMUM: u16 = 4;
pub(crate) const RECEIVE_MAXIMUM: usize = 10;

// 5.0 reason codes (MQTT 5.0 §2.4, Table 2-6).
const MALFORMED: u8 = 0x81;
const PROTOCOL_ERROR: u8 = 0x82;
const TOPIC_FILTER_INVALID: u8 = 0x8F;
const TOPIC_NAME_INVALID: u8 = 0x90;
const RECEIVE_MAXIMUM_EXCEEDED: u8 = 0x93;
const TOPIC_ALIAS_INVALID: u8 = 0x94;
const PACKET_TOO_LARGE: u8 = 0x95;

fn case(name: &'static str, stage: Stage, wire: Vec<u8>, answer: Answer) -> Case {
    Case {
        name,
        stage,
        wire,
        answer,
    }
}

/// 5.0 CONNECT with the given property block and client id "c".
fn connect_v5_props(props: &[u8]) -> Vec<u8> {
    let mut rest = vec![props.len() as u8];
    rest.extend_from_slice(props);
    rest.extend(string(b"c"));
    connect(V5, 0x02, &rest)
}

/// 3.1.1 QoS 0 PUBLISH of "payload" to `topic`.
fn publish_v4(topic: &[u8]) -> Vec<u8> {
    let mut body = string(topic);
    body.extend_from_slice(b"payload");
    frame(0x30, &body)
}

/// 5.0 PUBLISH (`first` byte) to `topic` with `pid` and the property block `props`.
fn publish_v5(first: u8, topic: &[u8], pid: Option<u16>, props: &[u8]) -> Vec<u8> {
    let mut body = string(topic);
    if let Some(pid) = pid {
        body.extend_from_slice(&pid.to_be_bytes());
    }
    body.push(props.len() as u8);
    body.extend_from_slice(props);
    body.extend_from_slice(b"payload");
    frame(first, &body)
}

/// 3.1.1 SUBSCRIBE, packet id 1, one `filter` with `options`.
fn subscribe_v4(filter: &[u8], options: u8) -> Vec<u8> {
    let mut body = vec![0x00, 0x01];
    body.extend(string(filter));
    body.push(options);
    frame(0x82, &body)
}

/// 5.0 SUBSCRIBE, packet id 1, property block `props`, one `filter` with `options`.
fn subscribe_v5(props: &[u8], filter: &[u8], options: u8) -> Vec<u8> {
    let mut body = vec![0x00, 0x01, props.len() as u8];
    body.extend_from_slice(props);
    body.extend(string(filter));
    body.push(options);
    frame(0x82, &body)
}

/// `count` QoS 2 PUBLISH packets to "t" with packet ids 1..=count, never released.
fn qos2_burst(count: usize) -> Vec<u8> {
    (1..=count as u16)
        .flat_map(|pid| publish_v5(0x34, b"t", Some(pid), &[]))
        .collect()
}

/// Cases sent as the first bytes of a connection.
fn first_packet_cases() -> Vec<Case> {
    use Answer::{Close, ConnAck};
    let f = Stage::First;
    let with_flags = |flags: u8| {
        let mut wire = connect_packet(V4, "c");
        wire[0] = 0x10 | flags;
        wire
    };
    vec![
        case("first: reserved packet type 0", f, vec![0x00, 0x00], Close),
        case("first: AUTH before CONNECT", f, vec![0xF0, 0x00], Close),
        case(
            "first: CONNECT flags 0001 [MQTT-2.2.2-2]",
            f,
            with_flags(1),
            Close,
        ),
        case(
            "first: PUBLISH before CONNECT [MQTT-3.1.0-1]",
            f,
            publish_v4(b"t"),
            Close,
        ),
        case(
            "first: PINGREQ before CONNECT [MQTT-3.1.0-1]",
            f,
            vec![0xC0, 0x00],
            Close,
        ),
        case(
            "first: CONNACK from a client",
            f,
            vec![0x20, 0x02, 0x00, 0x00],
            Close,
        ),
        case(
            "first: remaining length of 5 bytes",
            f,
            vec![0x10, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F],
            Close,
        ),
        case(
            "first: non-minimal remaining length [MQTT-1.5.5-1]",
            f,
            vec![0xC0, 0x80, 0x00],
            Close,
        ),
        case(
            "first: CONNECT announcing 256 MB",
            f,
            vec![0x10, 0xFF, 0xFF, 0xFF, 0x7F],
            Close,
        ),
        case(
            "first: CONNECT reserved flag [MQTT-3.1.2-3]",
            f,
            connect(V4, 0x03, &string(b"c")),
            Close,
        ),
        case(
            "first: will QoS without will flag [MQTT-3.1.2-13]",
            f,
            connect(V4, 0x0A, &string(b"c")),
            Close,
        ),
        case(
            "first: will retain without will flag [MQTT-3.1.2-15]",
            f,
            connect(V4, 0x22, &string(b"c")),
            Close,
        ),
        case(
            "first: will QoS 3 [MQTT-3.1.2-12]",
            f,
            connect(V4, 0x1E, &string(b"c")),
            Close,
        ),
        case(
            "first: password without user name in 3.1.1 [MQTT-3.1.2-22]",
            f,
            connect(V4, 0x42, &[0x00, 0x01, b'c', 0x00, 0x00]),
            Close,
        ),
        case(
            "first: will topic with wildcard",
            f,
            connect(V4, 0x06, &[0x00, 0x01, b'c', 0x00, 0x01, b'+', 0x00, 0x00]),
            Close,
        ),
        case(
            "first: CONNECT trailing bytes",
            f,
            connect(V4, 0x02, &[0x00, 0x01, b'c', 0xFF]),
            Close,
        ),
        case(
            "first: client id not UTF-8 [MQTT-1.5.3-1]",
            f,
            connect(V4, 0x02, &[0x00, 0x02, 0xFF, 0xFE]),
            Close,
        ),
        case(
            "first: client id with U+0000 [MQTT-1.5.3-2]",
            f,
            connect(V4, 0x02, &[0x00, 0x03, b'a', 0x00, b'b']),
            Close,
        ),
        case(
            "first: CONNECT missing client id",
            f,
            connect(V4, 0x02, &[]),
            Close,
        ),
        case(
            "first: 5.0 authentication data without method",
            f,
            connect_v5_props(&[0x16, 0x00, 0x01, 0xAA]),
            Close,
        ),
        case(
            "first: 5.0 receive maximum 0",
            f,
            connect_v5_props(&[0x21, 0x00, 0x00]),
            Close,
        ),
        case(
            "first: 5.0 maximum packet size 0",
            f,
            connect_v5_props(&[0x27, 0, 0, 0, 0]),
            Close,
        ),
        case(
            "first: 5.0 request problem information 2",
            f,
            connect_v5_props(&[0x17, 0x02]),
            Close,
        ),
        case(
            "first: 5.0 duplicate session expiry",
            f,
            connect_v5_props(&[0x11, 0, 0, 0, 1, 0x11, 0, 0, 0, 1]),
            Close,
        ),
        case(
            "first: 5.0 topic alias in CONNECT",
            f,
            connect_v5_props(&[0x23, 0x00, 0x01]),
            Close,
        ),
        // [MQTT-3.1.2-2] (3.1.1): an unsupported level gets return code 0x01, then close.
        case(
            "first: protocol level 6 [MQTT-3.1.2-2]",
            f,
            connect(6, 0x02, &string(b"c")),
            ConnAck(0x01),
        ),
        case(
            "first: MQIsdp with level 4",
            f,
            frame(
                0x10,
                &[
                    0x00, 0x06, b'M', b'Q', b'I', b's', b'd', b'p', 4, 2, 0, 60, 0, 1, b'c',
                ],
            ),
            ConnAck(0x01),
        ),
        // [MQTT-3.1.2-1] lets the server close or answer per "some other specification";
        // myqttd answers 0x01 like an unknown level.
        case(
            "first: unknown protocol name [MQTT-3.1.2-1]",
            f,
            frame(
                0x10,
                &[0x00, 0x04, b'M', b'Q', b'T', b'X', 4, 2, 0, 60, 0, 1, b'c'],
            ),
            ConnAck(0x01),
        ),
        // 3.1.1 [MQTT-3.1.3-8]/[MQTT-3.1.3-9]: an empty id with Clean Session 0 gets 0x02.
        case(
            "first: empty client id with clean session 0 [MQTT-3.1.3-8]",
            f,
            connect(V4, 0x00, &string(b"")),
            ConnAck(0x02),
        ),
        // 5.0 [MQTT-3.1.3-8]: a rejected client id gets 0x85 Client Identifier not valid.
        case(
            "first: 5.0 client id over max_client_id_len [MQTT-3.1.3-8]",
            f,
            {
                let mut rest = vec![0x00];
                rest.extend(string(&[b'x'; 300]));
                connect(V5, 0x02, &rest)
            },
            ConnAck(0x85),
        ),
        case(
            "first: 3.1.1 client id over max_client_id_len [MQTT-3.1.3-9]",
            f,
            connect(V4, 0x02, &string(&[b'x'; 300])),
            ConnAck(0x02),
        ),
    ]
}

/// Malformed or forbidden packets after an accepted 3.1.1 CONNECT: the server closes the
/// connection without answering ([MQTT-4.8.0-1]).
fn v4_cases() -> Vec<Case> {
    let s = Stage::After(V4);
    let close = |name, wire| case(name, s, wire, Answer::Close);
    vec![
        close("3.1.1: reserved packet type 0", vec![0x00, 0x00]),
        close("3.1.1: AUTH (reserved in 3.1.1)", vec![0xF0, 0x00]),
        close(
            "3.1.1: PUBREL flags 0000 [MQTT-3.6.1-1]",
            vec![0x60, 0x02, 0x00, 0x01],
        ),
        close(
            "3.1.1: SUBSCRIBE flags 0000 [MQTT-3.8.1-1]",
            vec![0x80, 0x06, 0x00, 0x01, 0x00, 0x01, b'a', 0x00],
        ),
        close(
            "3.1.1: UNSUBSCRIBE flags 0000 [MQTT-3.10.1-1]",
            vec![0xA0, 0x05, 0x00, 0x01, 0x00, 0x01, b'a'],
        ),
        close("3.1.1: PINGREQ flags 0001 [MQTT-2.2.2-2]", vec![0xC1, 0x00]),
        close(
            "3.1.1: PUBLISH QoS 3 [MQTT-3.3.1-4]",
            vec![0x36, 0x05, 0x00, 0x01, b't', 0x00, 0x01],
        ),
        close(
            "3.1.1: remaining length of 5 bytes",
            vec![0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F],
        ),
        close(
            "3.1.1: non-minimal remaining length",
            vec![0xC0, 0x80, 0x00],
        ),
        close(
            "3.1.1: DUP on QoS 0 [MQTT-3.3.1-2]",
            vec![0x38, 0x03, 0x00, 0x01, b't'],
        ),
        close(
            "3.1.1: packet id 0 [MQTT-2.3.1-1]",
            vec![0x32, 0x05, 0x00, 0x01, b't', 0x00, 0x00],
        ),
        close(
            "3.1.1: topic name with + [MQTT-3.3.2-2]",
            publish_v4(b"a/+"),
        ),
        close(
            "3.1.1: topic name with # [MQTT-3.3.2-2]",
            publish_v4(b"a/#"),
        ),
        close(
            "3.1.1: empty topic [MQTT-4.7.3-1]",
            vec![0x30, 0x02, 0x00, 0x00],
        ),
        close(
            "3.1.1: overlong UTF-8 in topic [MQTT-1.5.3-1]",
            publish_v4(&[b'a', 0xC0, 0xAF]),
        ),
        close(
            "3.1.1: surrogate in topic [MQTT-1.5.3-1]",
            publish_v4(&[0xED, 0xA0, 0x80]),
        ),
        close(
            "3.1.1: U+0000 in topic [MQTT-1.5.3-2]",
            publish_v4(&[b'a', 0x00, b'b']),
        ),
        close(
            "3.1.1: topic length past the end",
            vec![0x30, 0x04, 0x00, 0x09, b'a', b'b'],
        ),
        close(
            "3.1.1: QoS 1 without room for packet id",
            vec![0x32, 0x04, 0x00, 0x01, b't', 0x00],
        ),
        close(
            "3.1.1: second CONNECT [MQTT-3.1.0-2]",
            connect_packet(V4, "again"),
        ),
        close(
            "3.1.1: CONNACK reserved flags [MQTT-3.2.2-1]",
            vec![0x20, 0x02, 0x02, 0x00],
        ),
        close("3.1.1: CONNACK return code 6", vec![0x20, 0x02, 0x00, 0x06]),
        close("3.1.1: PINGRESP from a client", vec![0xD0, 0x00]),
        close(
            "3.1.1: PUBACK remaining length 3",
            vec![0x40, 0x03, 0x00, 0x01, 0x00],
        ),
        close("3.1.1: PUBACK truncated packet id", vec![0x40, 0x01, 0x00]),
        close(
            "3.1.1: SUBSCRIBE without filters [MQTT-3.8.3-3]",
            frame(0x82, &[0x00, 0x01]),
        ),
        close(
            "3.1.1: filter a/b# [MQTT-4.7.1-2]",
            subscribe_v4(b"a/b#", 0),
        ),
        close(
            "3.1.1: filter a/#/b [MQTT-4.7.1-2]",
            subscribe_v4(b"a/#/b", 0),
        ),
        close("3.1.1: filter a+ [MQTT-4.7.1-3]", subscribe_v4(b"a+", 0)),
        close("3.1.1: empty filter [MQTT-4.7.3-1]", subscribe_v4(b"", 0)),
        close(
            "3.1.1: subscription option bit 2 [MQTT-3.8.3-4]",
            subscribe_v4(b"a", 0x04),
        ),
        close(
            "3.1.1: subscription QoS 3 [MQTT-3.8.3-4]",
            subscribe_v4(b"a", 0x03),
        ),
        close(
            "3.1.1: subscription options byte missing",
            frame(0x82, &[0x00, 0x01, 0x00, 0x01, b'a']),
        ),
        close(
            "3.1.1: SUBACK code 3 from a client",
            vec![0x90, 0x03, 0x00, 0x01, 0x03],
        ),
        close(
            "3.1.1: UNSUBSCRIBE without filters [MQTT-3.10.3-2]",
            vec![0xA2, 0x02, 0x00, 0x01],
        ),
        close(
            "3.1.1: UNSUBSCRIBE invalid filter",
            vec![0xA2, 0x06, 0x00, 0x01, 0x00, 0x02, b'a', b'#'],
        ),
        close(
            "3.1.1: UNSUBACK with payload from a client",
            vec![0xB0, 0x03, 0x00, 0x01, 0x00],
        ),
        close("3.1.1: PINGREQ with a body", vec![0xC0, 0x01, 0x00]),
        close("3.1.1: DISCONNECT with a body", vec![0xE0, 0x01, 0x00]),
        close(
            "3.1.1: PUBLISH announcing 256 MB",
            vec![0x30, 0xFF, 0xFF, 0xFF, 0x7F],
        ),
    ]
}

/// Malformed or forbidden packets after an accepted 5.0 CONNECT: DISCONNECT with the reason
/// code, then close ([MQTT-4.13.1-1], MQTT 5.0 §4.13).
fn v5_cases() -> Vec<Case> {
    let s = Stage::After(V5);
    let dis = |name, wire, code| case(name, s, wire, Answer::Disconnect(code));
    let topic_33_levels = {
        let mut t = b"a/".repeat(32);
        t.push(b'a');
        t
    };
    vec![
        dis("5.0: reserved packet type 0", vec![0x00, 0x00], MALFORMED),
        dis(
            "5.0: DISCONNECT flags 0010 [MQTT-2.1.3-1]",
            vec![0xE2, 0x00],
            MALFORMED,
        ),
        dis(
            "5.0: PUBACK flags 1000 [MQTT-2.1.3-1]",
            vec![0x48, 0x02, 0x00, 0x01],
            MALFORMED,
        ),
        dis(
            "5.0: PUBREL flags 0000 [MQTT-3.6.1-1]",
            vec![0x60, 0x02, 0x00, 0x01],
            MALFORMED,
        ),
        dis(
            "5.0: SUBSCRIBE flags 0000 [MQTT-3.8.1-1]",
            vec![0x80, 0x07, 0x00, 0x01, 0x00, 0x00, 0x01, b'a', 0x00],
            MALFORMED,
        ),
        dis(
            "5.0: UNSUBSCRIBE flags 0000 [MQTT-3.10.1-1]",
            vec![0xA0, 0x06, 0x00, 0x01, 0x00, 0x00, 0x01, b'a'],
            MALFORMED,
        ),
        dis("5.0: PINGREQ flags 0001", vec![0xC1, 0x00], MALFORMED),
        dis(
            "5.0: PUBLISH QoS 3 [MQTT-3.3.1-4]",
            vec![0x36, 0x06, 0x00, 0x01, b't', 0x00, 0x01, 0x00],
            MALFORMED,
        ),
        dis(
            "5.0: remaining length of 5 bytes",
            vec![0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F],
            MALFORMED,
        ),
        dis(
            "5.0: non-minimal remaining length [MQTT-1.5.5-1]",
            vec![0xC0, 0x80, 0x00],
            MALFORMED,
        ),
        dis(
            "5.0: DUP on QoS 0 [MQTT-3.3.1-2]",
            publish_v5(0x38, b"t", None, &[]),
            MALFORMED,
        ),
        dis(
            "5.0: packet id 0 [MQTT-2.2.1-3]",
            publish_v5(0x32, b"t", Some(0), &[]),
            PROTOCOL_ERROR,
        ),
        // A wildcard or empty level makes the name not "correctly formed": strictly Malformed
        // Packet (0x81) by Table 2-6's wording of 0x90/0x8F. myqttd (and the codec table in
        // myqtt-proto/tests/malformed.rs) answers 0x90 / 0x8F; both close the connection.
        dis(
            "5.0: topic name with + [MQTT-3.3.2-2]",
            publish_v5(0x30, b"a/+", None, &[]),
            TOPIC_NAME_INVALID,
        ),
        dis(
            "5.0: topic name with # [MQTT-3.3.2-2]",
            publish_v5(0x30, b"a/#", None, &[]),
            TOPIC_NAME_INVALID,
        ),
        dis(
            "5.0: topic name of 33 levels (max_topic_levels 32)",
            publish_v5(0x30, &topic_33_levels, None, &[]),
            TOPIC_NAME_INVALID,
        ),
        dis(
            "5.0: empty topic without alias [MQTT-3.3.2-1]",
            publish_v5(0x30, b"", None, &[]),
            PROTOCOL_ERROR,
        ),
        dis(
            "5.0: overlong UTF-8 in topic [MQTT-1.5.4-1]",
            publish_v5(0x30, &[b'a', 0xC0, 0xAF], None, &[]),
            MALFORMED,
        ),
        dis(
            "5.0: surrogate in topic [MQTT-1.5.4-1]",
            publish_v5(0x30, &[0xED, 0xA0, 0x80], None, &[]),
            MALFORMED,
        ),
        dis(
            "5.0: U+0000 in topic [MQTT-1.5.4-2]",
            publish_v5(0x30, &[b'a', 0x00, b'b'], None, &[]),
            MALFORMED,
        ),
        dis(
            "5.0: topic length past the end",
            vec![0x30, 0x04, 0x00, 0x09, b'a', b'b'],
            MALFORMED,
        ),
        dis(
            "5.0: topic alias 0 [MQTT-3.3.2-8]",
            publish_v5(0x30, b"t", None, &[0x23, 0x00, 0x00]),
            TOPIC_ALIAS_INVALID,
        ),
        dis(
            "5.0: topic alias above the maximum [MQTT-3.3.2-9]",
            publish_v5(
                0x30,
                b"t",
                None,
                &[0x23, 0x00, TOPIC_ALIAS_MAXIMUM as u8 + 1],
            ),
            TOPIC_ALIAS_INVALID,
        ),
        dis(
            "5.0: empty topic with an unmapped alias",
            publish_v5(0x30, b"", None, &[0x23, 0x00, 0x01]),
            PROTOCOL_ERROR,
        ),
        dis(
            "5.0: session expiry in PUBLISH",
            publish_v5(0x30, b"t", None, &[0x11, 0, 0, 0, 1]),
            MALFORMED,
        ),
        dis(
            "5.0: duplicate message expiry",
            publish_v5(0x30, b"t", None, &[0x02, 0, 0, 0, 1, 0x02, 0, 0, 0, 2]),
            PROTOCOL_ERROR,
        ),
        dis(
            "5.0: payload format indicator 2",
            publish_v5(0x30, b"t", None, &[0x01, 0x02]),
            PROTOCOL_ERROR,
        ),
        dis(
            "5.0: subscription identifier 0",
            publish_v5(0x30, b"t", None, &[0x0B, 0x00]),
            PROTOCOL_ERROR,
        ),
        dis(
            "5.0: subscription identifier from a client [MQTT-3.3.4-6]",
            publish_v5(0x30, b"t", None, &[0x0B, 0x01]),
            PROTOCOL_ERROR,
        ),
        dis(
            "5.0: unknown property 0x7F",
            publish_v5(0x30, b"t", None, &[0x7F, 0x00]),
            MALFORMED,
        ),
        dis(
            "5.0: two-byte property id 0x80 0x01",
            publish_v5(0x30, b"t", None, &[0x80, 0x01, 0x00]),
            MALFORMED,
        ),
        dis(
            "5.0: property length past the end",
            vec![0x30, 0x05, 0x00, 0x01, b't', 0x09, 0x01],
            MALFORMED,
        ),
        dis(
            "5.0: property value past its block",
            publish_v5(0x30, b"t", None, &[0x02, 0x00, 0x00]),
            MALFORMED,
        ),
        dis(
            "5.0: response topic with wildcard [MQTT-3.3.2-14]",
            publish_v5(0x30, b"t", None, &[0x08, 0x00, 0x01, b'#']),
            TOPIC_NAME_INVALID,
        ),
        dis(
            "5.0: PUBACK packet id 0",
            vec![0x40, 0x02, 0x00, 0x00],
            PROTOCOL_ERROR,
        ),
        dis(
            "5.0: PUBACK reason 0x92",
            vec![0x40, 0x03, 0x00, 0x01, 0x92],
            MALFORMED,
        ),
        dis(
            "5.0: PUBREL reason 0x10",
            vec![0x62, 0x03, 0x00, 0x01, 0x10],
            MALFORMED,
        ),
        dis(
            "5.0: PUBCOMP undefined reason 0x03",
            vec![0x70, 0x03, 0x00, 0x01, 0x03],
            MALFORMED,
        ),
        dis(
            "5.0: SUBSCRIBE without filters [MQTT-3.8.3-2]",
            frame(0x82, &[0x00, 0x01, 0x00]),
            PROTOCOL_ERROR,
        ),
        dis(
            "5.0: filter a/b# [MQTT-4.7.1-1]",
            subscribe_v5(&[], b"a/b#", 0),
            TOPIC_FILTER_INVALID,
        ),
        dis(
            "5.0: filter a/#/b [MQTT-4.7.1-1]",
            subscribe_v5(&[], b"a/#/b", 0),
            TOPIC_FILTER_INVALID,
        ),
        dis(
            "5.0: filter a+ [MQTT-4.7.1-2]",
            subscribe_v5(&[], b"a+", 0),
            TOPIC_FILTER_INVALID,
        ),
        dis(
            "5.0: empty filter [MQTT-4.7.3-1]",
            subscribe_v5(&[], b"", 0),
            TOPIC_FILTER_INVALID,
        ),
        dis(
            "5.0: subscription option bit 6 [MQTT-3.8.3-5]",
            subscribe_v5(&[], b"a", 0x40),
            MALFORMED,
        ),
        dis(
            "5.0: subscription QoS 3",
            subscribe_v5(&[], b"a", 0x03),
            MALFORMED,
        ),
        dis(
            "5.0: retain handling 3",
            subscribe_v5(&[], b"a", 0x30),
            PROTOCOL_ERROR,
        ),
        dis(
            "5.0: no local on shared subscription [MQTT-3.8.3-4]",
            subscribe_v5(&[], b"$share/g/a", 0x04),
            PROTOCOL_ERROR,
        ),
        dis(
            "5.0: subscription options byte missing",
            frame(0x82, &[0x00, 0x01, 0x00, 0x00, 0x01, b'a']),
            MALFORMED,
        ),
        dis(
            "5.0: duplicate subscription identifier",
            subscribe_v5(&[0x0B, 0x01, 0x0B, 0x02], b"a", 0),
            PROTOCOL_ERROR,
        ),
        dis(
            "5.0: UNSUBSCRIBE without filters [MQTT-3.10.3-2]",
            vec![0xA2, 0x03, 0x00, 0x01, 0x00],
            PROTOCOL_ERROR,
        ),
        dis(
            "5.0: UNSUBSCRIBE invalid filter",
            vec![0xA2, 0x07, 0x00, 0x01, 0x00, 0x00, 0x02, b'a', b'#'],
            TOPIC_FILTER_INVALID,
        ),
        dis(
            "5.0: DISCONNECT reason 0x84",
            vec![0xE0, 0x01, 0x84],
            MALFORMED,
        ),
        dis(
            "5.0: DISCONNECT topic alias property",
            vec![0xE0, 0x05, 0x00, 0x03, 0x23, 0x00, 0x01],
            MALFORMED,
        ),
        dis("5.0: AUTH reason 0x80", vec![0xF0, 0x01, 0x80], MALFORMED),
        dis(
            "5.0: second CONNECT [MQTT-3.1.0-2]",
            connect_packet(V5, "again"),
            PROTOCOL_ERROR,
        ),
        dis(
            "5.0: CONNACK from a client",
            vec![0x20, 0x03, 0x00, 0x00, 0x00],
            PROTOCOL_ERROR,
        ),
        dis(
            "5.0: CONNACK reason session taken over",
            vec![0x20, 0x03, 0x00, 0x8E, 0x00],
            MALFORMED,
        ),
        dis(
            "5.0: CONNACK maximum QoS 2",
            vec![0x20, 0x05, 0x00, 0x00, 0x02, 0x24, 0x02],
            PROTOCOL_ERROR,
        ),
        dis(
            "5.0: SUBACK from a client",
            vec![0x90, 0x04, 0x00, 0x01, 0x00, 0x00],
            PROTOCOL_ERROR,
        ),
        dis(
            "5.0: UNSUBACK from a client",
            vec![0xB0, 0x04, 0x00, 0x01, 0x00, 0x00],
            PROTOCOL_ERROR,
        ),
        dis(
            "5.0: PINGRESP from a client",
            vec![0xD0, 0x00],
            PROTOCOL_ERROR,
        ),
        dis(
            "5.0: PINGREQ with a body",
            vec![0xC0, 0x01, 0x00],
            MALFORMED,
        ),
        // MQTT 5.0 §3.1.2.11.4 / §4.13: a packet above the Maximum Packet Size is refused
        // from its fixed header with 0x95.
        dis(
            "5.0: PUBLISH announcing 256 MB",
            vec![0x30, 0xFF, 0xFF, 0xFF, 0x7F],
            PACKET_TOO_LARGE,
        ),
        dis(
            "5.0: PUBLISH just above max_packet_size",
            {
                let mut header = vec![0x30];
                header.extend(varint(1 << 20));
                header
            },
            PACKET_TOO_LARGE,
        ),
        case(
            "5.0: QoS 2 beyond the Receive Maximum [MQTT-3.3.4-9]",
            s,
            qos2_burst(RECEIVE_MAXIMUM + 1),
            Answer::AcksThenDisconnect {
                ack_type: 5,
                acks: RECEIVE_MAXIMUM,
                code: RECEIVE_MAXIMUM_EXCEEDED,
            },
        ),
    ]
}

/// The whole corpus.
pub(crate) fn cases() -> Vec<Case> {
    let mut all = first_packet_cases();
    all.extend(v4_cases());
    all.extend(v5_cases());
    all
}
