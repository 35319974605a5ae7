//! Property tests: every packet type, with every property, round-trips through the codec in
//! every protocol version where it exists (DESIGN §6).
//!
//! For each generated packet `p` and version `v` ([`check_round_trip`]):
//! - `encoded_len` is exact: `encode` into a buffer of exactly that size writes all of it, and a
//!   buffer one byte shorter gives `BufferTooSmall { required }`;
//! - `encode_to` appends the same bytes to a `Vec` (and refuses a too-short slice);
//! - `decode` with `max_packet_size = n` gives back `p` and consumes exactly its bytes, also when
//!   another packet follows; with `n - 1` it refuses the packet as too large from its header;
//! - every strict prefix (a sample of them for big packets) is `Incomplete` and left unconsumed.
//!
//! Cases per packet type and version: [`CASES`] with random properties, plus [`FULL_CASES`] with
//! every MQTT 5.0 property present. Set `PROPTEST_CASES` to override both.

mod common {
    pub(crate) mod strategies;
}

use bytes::{Bytes, BytesMut};
use common::strategies::{self as strat, Fill};
use core::num::{NonZeroU16, NonZeroU32};
use myqtt_proto::codec::{
    Auth, Connect, DecodeError, EncodeError, MqttString, Packet, PacketError, PacketId, PacketType,
    ProtocolVersion, Publish, PublishProperties, QoS, Subscribe, SubscribeProperties, Subscription,
    Unsubscribe, UnsubscribeProperties, UserProperty, Will, WillProperties,
};
use myqtt_proto::topic::{TopicFilter, TopicName};
use proptest::prelude::*;
use proptest::test_runner::{TestCaseError, TestRunner};

const VERSIONS: [ProtocolVersion; 3] = [
    ProtocolVersion::V3_1,
    ProtocolVersion::V3_1_1,
    ProtocolVersion::V5,
];

/// Random cases per packet type and protocol version.
const CASES: u32 = 256;
/// Cases per packet type with every MQTT 5.0 property present.
const FULL_CASES: u32 = 64;
/// Packets up to this size have every strict prefix checked; bigger ones a sample.
const ALL_PREFIXES_UP_TO: usize = 96;

// ---- the round-trip property ----

/// Length of the fixed header at the front of an encoded packet.
fn fixed_header_len(wire: &[u8]) -> usize {
    let length_bytes = wire[1..]
        .iter()
        .position(|b| b & 0x80 == 0)
        .expect("complete remaining length")
        + 1;
    1 + length_bytes
}

/// The strict prefix lengths to try: all of them for small packets, otherwise the fixed header
/// region, a few in the middle and the last few.
fn prefix_lengths(n: usize) -> Vec<usize> {
    if n <= ALL_PREFIXES_UP_TO {
        return (0..n).collect();
    }
    let mut lens: Vec<usize> = (0..=8).collect();
    lens.extend([n / 4, n / 3, n / 2, 3 * n / 4]);
    lens.extend(n - 4..n);
    lens.sort_unstable();
    lens.dedup();
    lens
}

/// Checks every codec property listed in the module documentation for `p` in `v`.
fn check_round_trip(p: &Packet, v: ProtocolVersion) -> Result<(), TestCaseError> {
    let n = p
        .encoded_len(v)
        .map_err(|e| TestCaseError::fail(format!("encoded_len: {e:?}")))?;
    prop_assert!(n >= 2, "a packet has at least a two-byte fixed header");

    // `encode` into exactly `n` bytes.
    let mut wire = vec![0u8; n];
    prop_assert_eq!(p.encode(v, &mut wire), Ok(n));

    // ... and into one byte less.
    let mut short = vec![0u8; n - 1];
    prop_assert_eq!(
        p.encode(v, &mut short),
        Err(EncodeError::BufferTooSmall { required: n })
    );

    // `encode_to` appends identical bytes to a growable buffer, after what is already there.
    let mut grown = vec![0xA5u8; 3];
    prop_assert_eq!(p.encode_to(v, &mut grown), Ok(n));
    prop_assert_eq!(&grown[..3], &[0xA5u8; 3][..]);
    prop_assert_eq!(&grown[3..], &wire[..]);
    prop_assert_eq!(p.to_bytes(v), Ok(Bytes::from(wire.clone())));
    // `encode_to` onto a fixed slice that cannot hold the packet refuses it.
    let mut fixed = vec![0u8; n - 1];
    prop_assert_eq!(
        p.encode_to(v, &mut fixed.as_mut_slice()),
        Err(EncodeError::BufferTooSmall { required: n })
    );

    // `decode` with the limit at exactly the packet size.
    let mut rx = BytesMut::from(&wire[..]);
    prop_assert_eq!(Packet::decode(&mut rx, v, n), Ok(p.clone()));
    prop_assert!(rx.is_empty(), "{} bytes left over", rx.len());

    // Two packets back to back: each decode consumes exactly one.
    let mut rx = BytesMut::from(&wire[..]);
    rx.extend_from_slice(&wire);
    prop_assert_eq!(Packet::decode(&mut rx, v, n), Ok(p.clone()));
    prop_assert_eq!(&rx[..], &wire[..]);
    prop_assert_eq!(Packet::decode(&mut rx, v, n), Ok(p.clone()));
    prop_assert!(rx.is_empty());

    // One byte over the limit: refused from the fixed header.
    let mut rx = BytesMut::from(&wire[..]);
    prop_assert_eq!(
        Packet::decode(&mut rx, v, n - 1),
        Err(DecodeError::Invalid(PacketError::PacketTooLarge {
            size: n,
            max: n - 1
        }))
    );

    // Strict prefixes are incomplete and left untouched; once the fixed header is complete the
    // number of missing bytes is exact.
    let header_len = fixed_header_len(&wire);
    for len in prefix_lengths(n) {
        let mut rx = BytesMut::from(&wire[..len]);
        match Packet::decode(&mut rx, v, n) {
            Err(DecodeError::Incomplete { needed }) => {
                prop_assert!(needed >= 1, "prefix {}: needed 0", len);
                prop_assert!(
                    len + needed <= n,
                    "prefix {}/{}: needed {} overshoots",
                    len,
                    n,
                    needed
                );
                if len >= header_len {
                    prop_assert_eq!(needed, n - len, "prefix {}/{}", len, n);
                }
            }
            other => {
                return Err(TestCaseError::fail(format!(
                    "prefix {len}/{n}: expected Incomplete, got {other:?}"
                )));
            }
        }
        prop_assert_eq!(rx.len(), len, "prefix {} was consumed", len);
    }
    Ok(())
}

/// Runs [`check_round_trip`] on `cases` packets drawn from `strategy` in version `v`.
fn round_trips_in(v: ProtocolVersion, cases: u32, strategy: BoxedStrategy<Packet>) {
    let mut config = ProptestConfig::with_cases(cases);
    if let Some(n) = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        config.cases = n;
    }
    // Manual runners have no source file to persist regressions next to.
    config.failure_persistence = None;
    let mut runner = TestRunner::new(config);
    if let Err(e) = runner.run(&strategy, |p| check_round_trip(&p, v)) {
        panic!("{v}: {e}");
    }
}

/// Random packets in every version, then (MQTT 5.0) packets with every property present.
fn round_trips(strategy: impl Fn(ProtocolVersion, Fill) -> BoxedStrategy<Packet>) {
    for v in VERSIONS {
        round_trips_in(v, CASES, strategy(v, Fill::Random));
    }
    round_trips_in(
        ProtocolVersion::V5,
        FULL_CASES,
        strategy(ProtocolVersion::V5, Fill::All),
    );
}

// ---- one test per packet type ----

/// CONNECT with and without will, user name and password, every CONNECT and Will property.
///
/// MQTT 3.1.1: [MQTT-3.1.2-3] [MQTT-3.1.2-9] [MQTT-3.1.2-11] [MQTT-3.1.2-13] [MQTT-3.1.2-14]
/// [MQTT-3.1.2-15] [MQTT-3.1.2-18] [MQTT-3.1.2-19] [MQTT-3.1.2-20] [MQTT-3.1.2-21]
/// [MQTT-3.1.2-22] [MQTT-3.1.3-1] [MQTT-3.1.3-3] [MQTT-3.1.3-4] [MQTT-3.1.3-10]
/// [MQTT-3.1.3-11] [MQTT-1.5.3-1] [MQTT-1.5.3-2] [MQTT-1.5.3-3].
/// MQTT 5.0: [MQTT-3.1.2-3] [MQTT-3.1.2-9] [MQTT-3.1.2-11] [MQTT-3.1.2-12] [MQTT-3.1.2-13]
/// [MQTT-3.1.2-16] [MQTT-3.1.2-17] [MQTT-3.1.2-18] [MQTT-3.1.2-19] [MQTT-3.1.3-1]
/// [MQTT-3.1.3-3] [MQTT-3.1.3-4] [MQTT-3.1.3-11] [MQTT-3.1.3-12] [MQTT-2.2.2-1]
/// [MQTT-1.5.4-1] [MQTT-1.5.4-2] [MQTT-1.5.4-3] [MQTT-1.5.7-1] [MQTT-3.3.2-14].
#[test]
fn connect_round_trips_in_every_version() {
    round_trips(strat::connect);
}

/// CONNACK: the six 3.x return codes (no Session Present in 3.1), every 5.0 CONNACK reason code
/// and property.
///
/// MQTT 5.0: [MQTT-3.2.2-1] [MQTT-3.2.2-8] [MQTT-2.2.2-1] [MQTT-1.5.7-1].
#[test]
fn connack_round_trips_in_every_version() {
    round_trips(strat::connack);
}

/// PUBLISH at every QoS, with DUP and RETAIN, topic names with multi-byte characters and U+FEFF,
/// payloads up to a three-byte Remaining Length, every PUBLISH property (including several
/// Subscription Identifiers of every Variable Byte Integer size), and the 5.0 zero-length topic
/// with a Topic Alias.
///
/// MQTT 3.1.1: [MQTT-2.3.1-1] [MQTT-3.3.1-2] [MQTT-3.3.2-1] [MQTT-3.3.2-2] [MQTT-1.5.3-1]
/// [MQTT-1.5.3-2] [MQTT-1.5.3-3].
/// MQTT 5.0: [MQTT-2.2.1-2] [MQTT-3.3.1-2] [MQTT-3.3.2-1] [MQTT-3.3.2-2] [MQTT-3.3.2-8]
/// [MQTT-3.3.2-13] [MQTT-3.3.2-14] [MQTT-3.3.2-19] [MQTT-2.2.2-1] [MQTT-1.5.4-1]
/// [MQTT-1.5.4-2] [MQTT-1.5.4-3] [MQTT-1.5.5-1] [MQTT-1.5.7-1] [MQTT-4.7.0-1].
#[test]
fn publish_round_trips_in_every_version() {
    round_trips(strat::publish);
}

/// PUBACK: Success only in 3.x; every PUBACK reason code, Reason String and User Properties in
/// 5.0 (with the short forms that omit the reason code or the properties).
///
/// MQTT 3.1.1: [MQTT-2.3.1-6]. MQTT 5.0: [MQTT-3.4.2-1] [MQTT-1.5.7-1].
#[test]
fn puback_round_trips_in_every_version() {
    round_trips(|v, fill| strat::publish_ack(v, PacketType::PubAck, fill));
}

/// PUBREC, as PUBACK.
///
/// MQTT 3.1.1: [MQTT-2.3.1-6]. MQTT 5.0: [MQTT-3.5.2-1] [MQTT-1.5.7-1].
#[test]
fn pubrec_round_trips_in_every_version() {
    round_trips(|v, fill| strat::publish_ack(v, PacketType::PubRec, fill));
}

/// PUBREL, whose fixed header flags are 0010.
///
/// MQTT 3.1.1: [MQTT-2.3.1-6] [MQTT-3.6.1-1]. MQTT 5.0: [MQTT-3.6.1-1] [MQTT-3.6.2-1]
/// [MQTT-1.5.7-1].
#[test]
fn pubrel_round_trips_in_every_version() {
    round_trips(|v, fill| strat::publish_ack(v, PacketType::PubRel, fill));
}

/// PUBCOMP, as PUBACK.
///
/// MQTT 3.1.1: [MQTT-2.3.1-6]. MQTT 5.0: [MQTT-3.7.2-1] [MQTT-1.5.7-1].
#[test]
fn pubcomp_round_trips_in_every_version() {
    round_trips(|v, fill| strat::publish_ack(v, PacketType::PubComp, fill));
}

/// SUBSCRIBE with one to five filters using `+` and `#`, every subscription option in 5.0
/// (never No Local on a `$share/` filter), the Subscription Identifier and User Properties.
///
/// MQTT 3.1.1: [MQTT-2.3.1-1] [MQTT-3.8.1-1] [MQTT-3.8.3-1] [MQTT-3.8.3-3] [MQTT-3.8.3-4]
/// [MQTT-4.7.1-2] [MQTT-4.7.1-3].
/// MQTT 5.0: [MQTT-3.8.1-1] [MQTT-3.8.3-1] [MQTT-3.8.3-2] [MQTT-3.8.3-4] [MQTT-3.8.3-5]
/// [MQTT-4.7.1-1] [MQTT-4.7.1-2] [MQTT-4.8.2-1] [MQTT-4.8.2-2] [MQTT-1.5.5-1].
#[test]
fn subscribe_round_trips_in_every_version() {
    round_trips(strat::subscribe);
}

/// SUBACK: granted QoS 0/1/2 or 0x80 in 3.x, every SUBACK reason code in 5.0, in order.
///
/// MQTT 3.1.1: [MQTT-3.9.3-1] [MQTT-3.9.3-2] [MQTT-2.3.1-7].
/// MQTT 5.0: [MQTT-3.9.3-1] [MQTT-3.9.3-2] [MQTT-1.5.7-1].
#[test]
fn suback_round_trips_in_every_version() {
    round_trips(strat::suback);
}

/// UNSUBSCRIBE with one to five filters (`$share/` ones in 5.0) and User Properties.
///
/// MQTT 3.1.1: [MQTT-2.3.1-1] [MQTT-3.10.1-1] [MQTT-3.10.3-1] [MQTT-3.10.3-2].
/// MQTT 5.0: [MQTT-3.10.1-1] [MQTT-3.10.3-1] [MQTT-3.10.3-2] [MQTT-4.8.2-1] [MQTT-4.8.2-2].
#[test]
fn unsubscribe_round_trips_in_every_version() {
    round_trips(strat::unsubscribe);
}

/// UNSUBACK: no payload in 3.x; every UNSUBACK reason code, in order, and properties in 5.0.
///
/// MQTT 3.1.1: [MQTT-2.3.1-7]. MQTT 5.0: [MQTT-3.11.3-1] [MQTT-3.11.3-2] [MQTT-1.5.7-1].
#[test]
fn unsuback_round_trips_in_every_version() {
    round_trips(strat::unsuback);
}

/// PINGREQ and PINGRESP: a bare fixed header with reserved flags 0000.
///
/// MQTT 3.1.1: [MQTT-2.2.2-1]. MQTT 5.0: [MQTT-2.1.3-1].
#[test]
fn pingreq_and_pingresp_round_trip_in_every_version() {
    for v in VERSIONS {
        round_trips_in(v, 1, Just(Packet::PingReq).boxed());
        round_trips_in(v, 1, Just(Packet::PingResp).boxed());
    }
}

/// DISCONNECT: empty in 3.x; every DISCONNECT reason code and property in 5.0, including the
/// zero-length form for Normal disconnection.
///
/// MQTT 5.0: [MQTT-3.14.1-1] [MQTT-3.14.2-1] [MQTT-1.5.7-1].
#[test]
fn disconnect_round_trips_in_every_version() {
    round_trips(strat::disconnect);
}

/// AUTH (MQTT 5.0 only): every AUTH reason code and property; before 5.0 it cannot be encoded.
///
/// MQTT 5.0: [MQTT-3.15.1-1] [MQTT-3.15.2-1] [MQTT-1.5.7-1].
#[test]
fn auth_round_trips_in_v5_and_does_not_exist_before() {
    round_trips_in(ProtocolVersion::V5, CASES, strat::auth(Fill::Random));
    round_trips_in(ProtocolVersion::V5, FULL_CASES, strat::auth(Fill::All));
    for v in [ProtocolVersion::V3_1, ProtocolVersion::V3_1_1] {
        assert_eq!(
            Packet::from(Auth::default()).encoded_len(v),
            Err(EncodeError::NotInVersion)
        );
    }
}

// ---- targeted cases the random ones might rarely hit ----

fn s(v: &str) -> MqttString {
    MqttString::try_from(v).expect("valid MQTT string")
}

/// A PUBLISH whose Remaining Length sits on each boundary of the Variable Byte Integer sizes
/// (127/128, 16,383/16,384, 2,097,151/2,097,152), so the fixed header takes two to five bytes.
///
/// MQTT 5.0: [MQTT-1.5.5-1].
#[test]
fn publish_round_trips_on_every_remaining_length_boundary() {
    for v in VERSIONS {
        let mut publish = Publish::new(
            TopicName::try_from("a/b").expect("valid topic"),
            Bytes::new(),
        );
        publish.qos = QoS::AtLeastOnce;
        publish.packet_id = PacketId::new(7);
        let base = Packet::Publish(publish.clone())
            .encoded_len(v)
            .expect("encodable")
            - 2;
        for remaining in [127usize, 128, 16_383, 16_384, 2_097_151, 2_097_152] {
            publish.payload = Bytes::from(vec![0x5Au8; remaining - base]);
            let p = Packet::Publish(publish.clone());
            let n = p.encoded_len(v).expect("encodable");
            let header = 1 + myqtt_proto::codec::varint::varint_len(remaining as u32);
            assert_eq!(n, header + remaining, "{v}: remaining length {remaining}");
            check_round_trip(&p, v).unwrap_or_else(|e| panic!("{v} {remaining}: {e}"));
        }
    }
}

/// User Properties keep their order and duplicates, and strings keep a leading U+FEFF and
/// multi-byte characters, in every 5.0 packet that has properties.
///
/// MQTT 5.0: [MQTT-1.5.4-3] [MQTT-1.5.7-1].
/// MQTT 3.1.1: [MQTT-1.5.3-3].
#[test]
fn user_properties_keep_order_duplicates_and_bom() {
    let users = vec![
        UserProperty::new(s("\u{FEFF}k"), s("1")),
        UserProperty::new(s("a"), s("𝄞")),
        UserProperty::new(s("\u{FEFF}k"), s("1")),
        UserProperty::new(s("a"), s("")),
        UserProperty::new(s(""), s("\u{FEFF}")),
    ];
    let topic = TopicName::try_from("\u{FEFF}/é/€").expect("valid topic");
    let mut publish = Publish::new(topic, &b"\xEF\xBB\xBF"[..]);
    publish.properties = PublishProperties {
        user_properties: users.clone(),
        subscription_identifiers: vec![
            NonZeroU32::new(5).expect("non-zero"),
            NonZeroU32::new(5).expect("non-zero"),
            NonZeroU32::new(1).expect("non-zero"),
        ],
        topic_alias: NonZeroU16::new(3),
        ..PublishProperties::default()
    };
    for v in VERSIONS {
        let mut p = publish.clone();
        if !v.is_v5() {
            p.properties = PublishProperties::default();
        }
        check_round_trip(&Packet::Publish(p), v).unwrap_or_else(|e| panic!("{v}: {e}"));
    }
    let p = Packet::Publish(publish);
    let wire = p.to_bytes(ProtocolVersion::V5).expect("encodable");
    let decoded = Packet::decode(
        &mut BytesMut::from(&wire[..]),
        ProtocolVersion::V5,
        wire.len(),
    )
    .expect("decodable");
    let Packet::Publish(decoded) = decoded else {
        panic!("not a PUBLISH: {decoded:?}");
    };
    assert_eq!(decoded.topic.as_str(), "\u{FEFF}/é/€");
    assert_eq!(decoded.properties.user_properties, users);
    assert_eq!(
        decoded
            .properties
            .subscription_identifiers
            .iter()
            .map(|n| n.get())
            .collect::<Vec<_>>(),
        [5, 5, 1]
    );
}

/// A string of exactly `bytes` UTF-8 bytes ending in multi-byte characters (U+FEFF and U+1D11E).
fn long_string(bytes: usize) -> String {
    let tail = "\u{FEFF}𝄞";
    let mut v = "x".repeat(bytes - tail.len());
    v.push_str(tail);
    v
}

/// Strings and binary data at their 65,535-byte maximum survive in every field that holds one:
/// client id, will topic and payload, user name, password, topic names and filters, and (5.0)
/// string, binary and User Property values.
///
/// MQTT 3.1.1: [MQTT-4.7.3-3] [MQTT-1.5.3-3]. MQTT 5.0: [MQTT-4.7.3-3] [MQTT-1.5.4-3]
/// [MQTT-1.5.7-1].
#[test]
fn fields_at_their_65535_byte_maximum_round_trip() {
    const MAX: usize = 65_535;
    let text = s(&long_string(MAX));
    let topic = TopicName::try_from(long_string(MAX).as_str()).expect("valid topic");
    let filter = TopicFilter::try_from(long_string(MAX).as_str()).expect("valid filter");
    let data = Bytes::from(vec![0xFFu8; MAX]);
    let user = vec![UserProperty::new(text.clone(), text.clone())];
    for v in VERSIONS {
        let v5 = v.is_v5();
        let mut connect = Connect::new(v, text.clone());
        connect.username = Some(text.clone());
        connect.password = Some(data.clone());
        let mut will = Will {
            topic: topic.clone(),
            payload: data.clone(),
            qos: QoS::ExactlyOnce,
            retain: true,
            properties: WillProperties::default(),
        };
        let mut publish = Publish::new(topic.clone(), data.clone());
        if v5 {
            connect.properties.authentication_method = Some(text.clone());
            connect.properties.authentication_data = Some(data.clone());
            connect.properties.user_properties = user.clone();
            will.properties.content_type = Some(text.clone());
            will.properties.response_topic = Some(topic.clone());
            will.properties.correlation_data = Some(data.clone());
            publish.properties.response_topic = Some(topic.clone());
            publish.properties.correlation_data = Some(data.clone());
            publish.properties.content_type = Some(text.clone());
            publish.properties.user_properties = user.clone();
        }
        connect.will = Some(will);
        let mut subscribe = Subscribe {
            packet_id: PacketId::MAX,
            subscriptions: vec![Subscription::new(filter.clone(), QoS::AtLeastOnce)],
            properties: SubscribeProperties::default(),
        };
        let mut unsubscribe = Unsubscribe {
            packet_id: PacketId::MAX,
            filters: vec![filter.clone(), filter.clone()],
            properties: UnsubscribeProperties::default(),
        };
        if v5 {
            subscribe.properties.user_properties = user.clone();
            unsubscribe.properties.user_properties = user.clone();
        }
        let packets = [
            Packet::from(connect),
            Packet::Publish(publish),
            Packet::from(subscribe),
            Packet::from(unsubscribe),
        ];
        for p in &packets {
            check_round_trip(p, v).unwrap_or_else(|e| panic!("{v} {:?}: {e}", p.packet_type()));
        }
    }
}
