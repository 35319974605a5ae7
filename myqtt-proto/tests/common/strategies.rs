//! Proptest strategies generating arbitrary *valid* MQTT packets for one protocol version.
//!
//! Every strategy takes the [`ProtocolVersion`] and produces only what that version can carry:
//! MQTT 3.x packets have default properties, Success acknowledgments, the six 3.x CONNACK codes,
//! SUBACK codes 0/1/2/0x80, empty UNSUBACK payloads and subscription options with the QoS only.
//! MQTT 5.0 packets set every property independently and draw reason codes from those MQTT 5.0
//! Table 2-6 allows for the packet type.

use bytes::Bytes;
use core::num::{NonZeroU16, NonZeroU32};
use myqtt_proto::codec::varint::MAX_VARINT;
use myqtt_proto::codec::{
    AckProperties, Auth, AuthProperties, ConnAck, ConnAckProperties, Connect, ConnectProperties,
    Disconnect, DisconnectProperties, MqttString, Packet, PacketId, PacketType, PayloadFormat,
    ProtocolVersion, Publish, PublishAck, PublishProperties, QoS, ReasonCode, RetainHandling,
    SubAck, Subscribe, SubscribeProperties, Subscription, SubscriptionOptions, UnsubAck,
    Unsubscribe, UnsubscribeProperties, UserProperty, Will, WillProperties,
};
use myqtt_proto::topic::{TopicFilter, TopicName};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;

/// How densely optional MQTT 5.0 properties are populated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fill {
    /// Each property independently absent or present.
    Random,
    /// Every property present (and at least one User Property).
    All,
}

fn opt<T: core::fmt::Debug + Clone + 'static>(
    fill: Fill,
    s: impl Strategy<Value = T> + 'static,
) -> BoxedStrategy<Option<T>> {
    match fill {
        Fill::Random => proptest::option::of(s).boxed(),
        Fill::All => s.prop_map(Some).boxed(),
    }
}

// ---- scalars ----

/// Any character MQTT allows in a UTF-8 string: everything but U+0000 (surrogates cannot be a
/// `char`), biased towards ASCII, multi-byte characters, U+FEFF and non-characters.
fn mqtt_char() -> BoxedStrategy<char> {
    prop_oneof![
        6 => proptest::char::range('\u{1}', '\u{7f}'),
        3 => any::<char>().prop_map(|c| if c == '\0' { '\u{1}' } else { c }),
        1 => select(vec!['\u{FEFF}', '\u{FFFF}', '\u{10FFFF}', 'é', '€', '𝄞', '\u{7F}', '\u{80}']),
    ]
    .boxed()
}

/// A character allowed inside a topic level: no U+0000, `/`, `+` or `#`.
fn level_char() -> BoxedStrategy<char> {
    mqtt_char()
        .prop_map(|c| match c {
            '/' | '+' | '#' => '_',
            c => c,
        })
        .boxed()
}

fn string_of(chars: BoxedStrategy<char>, max: usize) -> BoxedStrategy<String> {
    vec(chars, 0..=max)
        .prop_map(|v| v.into_iter().collect())
        .boxed()
}

fn mqtt(s: String) -> MqttString {
    MqttString::try_from(s).expect("generated strings are valid MQTT strings")
}

/// An arbitrary MQTT UTF-8 string of up to `max` characters (possibly empty).
pub(crate) fn mqtt_string(max: usize) -> BoxedStrategy<MqttString> {
    string_of(mqtt_char(), max).prop_map(mqtt).boxed()
}

/// Arbitrary binary data, mostly short.
pub(crate) fn binary() -> BoxedStrategy<Bytes> {
    prop_oneof![
        4 => vec(any::<u8>(), 0..=16),
        1 => vec(any::<u8>(), 17..=200),
    ]
    .prop_map(Bytes::from)
    .boxed()
}

/// An application payload: usually short, sometimes long enough for a two- or three-byte
/// Remaining Length.
pub(crate) fn payload() -> BoxedStrategy<Bytes> {
    prop_oneof![
        16 => vec(any::<u8>(), 0..=64),
        4 => vec(any::<u8>(), 100..=400),
        1 => vec(any::<u8>(), 16_370..=16_400),
    ]
    .prop_map(Bytes::from)
    .boxed()
}

pub(crate) fn packet_id() -> BoxedStrategy<PacketId> {
    prop_oneof![
        (1..=u16::MAX).prop_map(|v| PacketId::new(v).expect("non-zero")),
        select(vec![PacketId::MIN, PacketId::MAX]),
    ]
    .boxed()
}

pub(crate) fn qos() -> BoxedStrategy<QoS> {
    select(vec![QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce]).boxed()
}

fn u16_any() -> BoxedStrategy<u16> {
    prop_oneof![any::<u16>(), select(vec![0, 1, u16::MAX])].boxed()
}

fn u32_any() -> BoxedStrategy<u32> {
    prop_oneof![any::<u32>(), select(vec![0, 1, u32::MAX])].boxed()
}

fn non_zero_u16() -> BoxedStrategy<NonZeroU16> {
    prop_oneof![1..=u16::MAX, select(vec![1, u16::MAX])]
        .prop_map(|v| NonZeroU16::new(v).expect("non-zero"))
        .boxed()
}

fn non_zero_u32() -> BoxedStrategy<NonZeroU32> {
    prop_oneof![1..=u32::MAX, select(vec![1, u32::MAX])]
        .prop_map(|v| NonZeroU32::new(v).expect("non-zero"))
        .boxed()
}

/// A Subscription Identifier, 1 to 268,435,455, spread over the four Variable Byte Integer
/// sizes and their boundaries (MQTT 5.0 §3.8.2.1.2).
pub(crate) fn subscription_identifier() -> BoxedStrategy<NonZeroU32> {
    prop_oneof![
        1..=127u32,
        128..=16_383u32,
        16_384..=2_097_151u32,
        2_097_152..=MAX_VARINT,
        select(vec![
            1, 127, 128, 16_383, 16_384, 2_097_151, 2_097_152, MAX_VARINT
        ]),
    ]
    .prop_map(|v| NonZeroU32::new(v).expect("non-zero"))
    .boxed()
}

/// A reason code MQTT 5.0 Table 2-6 allows in `packet`, found by trying every byte value.
pub(crate) fn reason_code_for(packet: PacketType) -> BoxedStrategy<ReasonCode> {
    let codes: Vec<ReasonCode> = (0..=255u8)
        .filter_map(ReasonCode::from_u8)
        .filter(|c| c.is_valid_for(packet))
        .collect();
    select(codes).boxed()
}

// ---- topics ----

/// A topic level without wildcards or separators; may be empty.
fn topic_level() -> BoxedStrategy<String> {
    string_of(level_char(), 6)
}

/// A topic name: non-empty, no `+` or `#`, levels separated by `/` (empty levels allowed).
pub(crate) fn topic_name() -> BoxedStrategy<TopicName> {
    vec(topic_level(), 1..=4)
        .prop_map(|levels| {
            let mut s = levels.join("/");
            if s.is_empty() {
                s.push('/');
            }
            TopicName::try_from(s.as_str()).expect("generated topic names are valid")
        })
        .boxed()
}

/// A topic filter level: `+` or a plain level.
fn filter_level() -> BoxedStrategy<String> {
    prop_oneof![3 => topic_level(), 1 => Just("+".to_owned())].boxed()
}

/// A topic filter with valid wildcards: `+` alone in any level, `#` alone in the last level.
fn plain_filter() -> BoxedStrategy<String> {
    (vec(filter_level(), 1..=4), any::<bool>())
        .prop_map(|(mut levels, multi)| {
            // Keep plain filters plain: a first level of exactly `$share` would make a shared
            // subscription out of what follows.
            if levels[0] == "$share" {
                levels[0].push('_');
            }
            if multi {
                if levels.len() == 1 && levels[0].is_empty() {
                    levels[0] = "#".to_owned();
                } else {
                    levels.push("#".to_owned());
                }
            }
            let s = levels.join("/");
            if s.is_empty() { "#".to_owned() } else { s }
        })
        .boxed()
}

/// A topic filter; in MQTT 5.0 sometimes a shared subscription `$share/<name>/<filter>`.
pub(crate) fn topic_filter(version: ProtocolVersion) -> BoxedStrategy<TopicFilter> {
    let share_name = vec(level_char(), 1..=6).prop_map(|v| v.into_iter().collect::<String>());
    let shared = (share_name, plain_filter()).prop_map(|(g, f)| format!("$share/{g}/{f}"));
    let raw = if version.is_v5() {
        prop_oneof![4 => plain_filter(), 1 => shared].boxed()
    } else {
        plain_filter()
    };
    raw.prop_map(|s| TopicFilter::try_from(s.as_str()).expect("generated filters are valid"))
        .boxed()
}

// ---- MQTT 5.0 properties ----

/// User Properties: order and duplicates matter, so names and values often repeat.
pub(crate) fn user_properties(fill: Fill) -> BoxedStrategy<Vec<UserProperty>> {
    let part = || {
        prop_oneof![
            1 => select(vec!["k", "dup", ""]).prop_map(|s| mqtt(s.to_owned())),
            2 => mqtt_string(8),
        ]
    };
    let pair = (part(), part()).prop_map(|(k, v)| UserProperty::new(k, v));
    let min = if fill == Fill::All { 1 } else { 0 };
    vec(pair, min..=4).boxed()
}

fn payload_format() -> BoxedStrategy<PayloadFormat> {
    select(vec![PayloadFormat::Unspecified, PayloadFormat::Utf8]).boxed()
}

pub(crate) fn connect_properties(fill: Fill) -> BoxedStrategy<ConnectProperties> {
    (
        opt(fill, u32_any()),
        opt(fill, non_zero_u16()),
        opt(fill, non_zero_u32()),
        opt(fill, u16_any()),
        opt(fill, any::<bool>()),
        opt(fill, any::<bool>()),
        user_properties(fill),
        opt(fill, mqtt_string(10)),
        opt(fill, binary()),
    )
        .prop_map(
            |(sei, rm, mps, tam, rri, rpi, user_properties, method, data)| ConnectProperties {
                session_expiry_interval: sei,
                receive_maximum: rm,
                maximum_packet_size: mps,
                topic_alias_maximum: tam,
                request_response_information: rri,
                request_problem_information: rpi,
                user_properties,
                // Authentication Data without a method is a Protocol Error (MQTT 5.0 §3.1.2.11.10).
                authentication_data: data.filter(|_| method.is_some()),
                authentication_method: method,
            },
        )
        .boxed()
}

pub(crate) fn will_properties(fill: Fill) -> BoxedStrategy<WillProperties> {
    (
        opt(fill, u32_any()),
        opt(fill, payload_format()),
        opt(fill, u32_any()),
        opt(fill, mqtt_string(10)),
        opt(fill, topic_name()),
        opt(fill, binary()),
        user_properties(fill),
    )
        .prop_map(
            |(wdi, pfi, mei, ct, rt, cd, user_properties)| WillProperties {
                will_delay_interval: wdi,
                payload_format_indicator: pfi,
                message_expiry_interval: mei,
                content_type: ct,
                response_topic: rt,
                correlation_data: cd,
                user_properties,
            },
        )
        .boxed()
}

pub(crate) fn connack_properties(fill: Fill) -> BoxedStrategy<ConnAckProperties> {
    let first = (
        opt(fill, u32_any()),
        opt(fill, non_zero_u16()),
        // Maximum QoS is 0 or 1; absent means 2 (MQTT 5.0 §3.2.2.3.4).
        opt(fill, select(vec![QoS::AtMostOnce, QoS::AtLeastOnce])),
        opt(fill, any::<bool>()),
        opt(fill, non_zero_u32()),
        opt(fill, mqtt_string(23)),
        opt(fill, u16_any()),
        opt(fill, mqtt_string(10)),
    );
    let second = (
        user_properties(fill),
        opt(fill, any::<bool>()),
        opt(fill, any::<bool>()),
        opt(fill, any::<bool>()),
        opt(fill, u16_any()),
        opt(fill, mqtt_string(10)),
        opt(fill, mqtt_string(10)),
        opt(fill, mqtt_string(10)),
        opt(fill, binary()),
    );
    (first, second)
        .prop_map(
            |((sei, rm, mq, ra, mps, aci, tam, rs), (up, wsa, sia, ssa, ska, ri, sr, am, ad))| {
                ConnAckProperties {
                    session_expiry_interval: sei,
                    receive_maximum: rm,
                    maximum_qos: mq,
                    retain_available: ra,
                    maximum_packet_size: mps,
                    assigned_client_identifier: aci,
                    topic_alias_maximum: tam,
                    reason_string: rs,
                    user_properties: up,
                    wildcard_subscription_available: wsa,
                    subscription_identifiers_available: sia,
                    shared_subscription_available: ssa,
                    server_keep_alive: ska,
                    response_information: ri,
                    server_reference: sr,
                    authentication_method: am,
                    authentication_data: ad,
                }
            },
        )
        .boxed()
}

pub(crate) fn publish_properties(fill: Fill) -> BoxedStrategy<PublishProperties> {
    let min_ids = if fill == Fill::All { 1 } else { 0 };
    (
        opt(fill, payload_format()),
        opt(fill, u32_any()),
        opt(fill, non_zero_u16()),
        opt(fill, topic_name()),
        opt(fill, binary()),
        user_properties(fill),
        vec(subscription_identifier(), min_ids..=3),
        opt(fill, mqtt_string(10)),
    )
        .prop_map(|(pfi, mei, ta, rt, cd, up, sids, ct)| PublishProperties {
            payload_format_indicator: pfi,
            message_expiry_interval: mei,
            topic_alias: ta,
            response_topic: rt,
            correlation_data: cd,
            user_properties: up,
            subscription_identifiers: sids,
            content_type: ct,
        })
        .boxed()
}

pub(crate) fn ack_properties(fill: Fill) -> BoxedStrategy<AckProperties> {
    (opt(fill, mqtt_string(12)), user_properties(fill))
        .prop_map(|(reason_string, user_properties)| AckProperties {
            reason_string,
            user_properties,
        })
        .boxed()
}

pub(crate) fn subscribe_properties(fill: Fill) -> BoxedStrategy<SubscribeProperties> {
    (opt(fill, subscription_identifier()), user_properties(fill))
        .prop_map(
            |(subscription_identifier, user_properties)| SubscribeProperties {
                subscription_identifier,
                user_properties,
            },
        )
        .boxed()
}

pub(crate) fn unsubscribe_properties(fill: Fill) -> BoxedStrategy<UnsubscribeProperties> {
    user_properties(fill)
        .prop_map(|user_properties| UnsubscribeProperties { user_properties })
        .boxed()
}

pub(crate) fn disconnect_properties(fill: Fill) -> BoxedStrategy<DisconnectProperties> {
    (
        opt(fill, u32_any()),
        opt(fill, mqtt_string(12)),
        user_properties(fill),
        opt(fill, mqtt_string(12)),
    )
        .prop_map(|(sei, rs, up, sr)| DisconnectProperties {
            session_expiry_interval: sei,
            reason_string: rs,
            user_properties: up,
            server_reference: sr,
        })
        .boxed()
}

pub(crate) fn auth_properties(fill: Fill) -> BoxedStrategy<AuthProperties> {
    (
        opt(fill, mqtt_string(10)),
        opt(fill, binary()),
        opt(fill, mqtt_string(12)),
        user_properties(fill),
    )
        .prop_map(|(am, ad, rs, up)| AuthProperties {
            authentication_method: am,
            authentication_data: ad,
            reason_string: rs,
            user_properties: up,
        })
        .boxed()
}

/// `props` in MQTT 5.0, the default (empty) set in 3.x.
fn props_for<T: Default + core::fmt::Debug + Clone + 'static>(
    version: ProtocolVersion,
    props: impl FnOnce() -> BoxedStrategy<T>,
) -> BoxedStrategy<T> {
    if version.is_v5() {
        props()
    } else {
        Just(T::default()).boxed()
    }
}

// ---- packets ----

fn will(version: ProtocolVersion, fill: Fill) -> BoxedStrategy<Will> {
    (
        topic_name(),
        binary(),
        qos(),
        any::<bool>(),
        props_for(version, || will_properties(fill)),
    )
        .prop_map(|(topic, payload, qos, retain, properties)| Will {
            topic,
            payload,
            qos,
            retain,
            properties,
        })
        .boxed()
}

/// User Name and Password. MQTT 3.x has no password without a user name ([MQTT-3.1.2-22]);
/// MQTT 5.0 allows one (§3.1.2.9).
fn credentials(version: ProtocolVersion) -> BoxedStrategy<(Option<MqttString>, Option<Bytes>)> {
    let username = proptest::option::of(mqtt_string(12));
    let password = proptest::option::of(binary());
    (username, password)
        .prop_map(move |(u, p)| {
            if version.is_v5() || u.is_some() {
                (u, p)
            } else {
                (None, None)
            }
        })
        .boxed()
}

pub(crate) fn connect(version: ProtocolVersion, fill: Fill) -> BoxedStrategy<Packet> {
    let client_id = if version == ProtocolVersion::V3_1 {
        // MQTT 3.1 §3.1: the Client Identifier is 1 to 23 characters long.
        vec(mqtt_char(), 1..=23)
            .prop_map(|v| mqtt(v.into_iter().collect()))
            .boxed()
    } else {
        // 3.1.1 and 5.0 allow a zero-length Client Identifier (§3.1.3.1).
        mqtt_string(23)
    };
    (
        any::<bool>(),
        u16_any(),
        client_id,
        proptest::option::of(will(version, fill)),
        credentials(version),
        props_for(version, || connect_properties(fill)),
    )
        .prop_map(
            move |(clean_start, keep_alive, client_id, will, (username, password), properties)| {
                Packet::from(Connect {
                    protocol_version: version,
                    clean_start,
                    keep_alive,
                    client_id,
                    will,
                    username,
                    password,
                    properties,
                })
            },
        )
        .boxed()
}

pub(crate) fn connack(version: ProtocolVersion, fill: Fill) -> BoxedStrategy<Packet> {
    let code = if version.is_v5() {
        // Success is one code of 22: favour it so Session Present is exercised too.
        prop_oneof![1 => Just(ReasonCode::Success), 3 => reason_code_for(PacketType::ConnAck)]
            .boxed()
    } else {
        (0..=5u8)
            .prop_map(|c| ReasonCode::from_v3_connack(c).expect("codes 0-5 exist in 3.x"))
            .boxed()
    };
    (
        any::<bool>(),
        code,
        props_for(version, || connack_properties(fill)),
    )
        .prop_map(move |(session_present, reason_code, properties)| {
            Packet::from(ConnAck {
                // MQTT 3.1 has no Session Present flag; a refusal never has a session
                // (3.1.1 §3.2.2.2, [MQTT-3.2.2-6] in 5.0).
                session_present: session_present
                    && version != ProtocolVersion::V3_1
                    && reason_code == ReasonCode::Success,
                reason_code,
                properties,
            })
        })
        .boxed()
}

pub(crate) fn publish(version: ProtocolVersion, fill: Fill) -> BoxedStrategy<Packet> {
    (
        qos(),
        any::<bool>(),
        any::<bool>(),
        topic_name(),
        // MQTT 5.0: sometimes a zero-length topic relying on a Topic Alias (§3.3.2.1).
        prop_oneof![4 => Just(false), 1 => Just(version.is_v5())],
        packet_id(),
        props_for(version, || publish_properties(fill)),
        payload(),
    )
        .prop_map(
            move |(qos, dup, retain, topic, alias_only, id, mut properties, payload)| {
                let topic = if alias_only {
                    properties.topic_alias = properties.topic_alias.or(NonZeroU16::new(1));
                    TopicName::empty()
                } else {
                    topic
                };
                let qos0 = qos == QoS::AtMostOnce;
                Packet::Publish(Publish {
                    dup: dup && !qos0,
                    qos,
                    retain,
                    topic,
                    packet_id: (!qos0).then_some(id),
                    properties,
                    payload,
                })
            },
        )
        .boxed()
}

/// PUBACK, PUBREC, PUBREL or PUBCOMP, chosen by `packet`.
pub(crate) fn publish_ack(
    version: ProtocolVersion,
    packet: PacketType,
    fill: Fill,
) -> BoxedStrategy<Packet> {
    let code = if version.is_v5() {
        reason_code_for(packet)
    } else {
        Just(ReasonCode::Success).boxed()
    };
    (
        packet_id(),
        code,
        props_for(version, || ack_properties(fill)),
    )
        .prop_map(move |(packet_id, reason_code, properties)| {
            let ack = PublishAck {
                packet_id,
                reason_code,
                properties,
            };
            match packet {
                PacketType::PubAck => Packet::PubAck(ack),
                PacketType::PubRec => Packet::PubRec(ack),
                PacketType::PubRel => Packet::PubRel(ack),
                PacketType::PubComp => Packet::PubComp(ack),
                other => unreachable!("{other:?} is not a publish acknowledgment"),
            }
        })
        .boxed()
}

fn subscription(version: ProtocolVersion) -> BoxedStrategy<Subscription> {
    let handling = select(vec![
        RetainHandling::SendAtSubscribe,
        RetainHandling::SendAtSubscribeIfNew,
        RetainHandling::DoNotSend,
    ]);
    (
        topic_filter(version),
        qos(),
        any::<bool>(),
        any::<bool>(),
        handling,
    )
        .prop_map(
            move |(filter, qos, no_local, retain_as_published, retain_handling)| {
                let options = if version.is_v5() {
                    SubscriptionOptions {
                        qos,
                        // No Local on a shared subscription is a Protocol Error ([MQTT-3.8.3-4]).
                        no_local: no_local && !filter.is_shared(),
                        retain_as_published,
                        retain_handling,
                    }
                } else {
                    SubscriptionOptions::new(qos)
                };
                Subscription { filter, options }
            },
        )
        .boxed()
}

pub(crate) fn subscribe(version: ProtocolVersion, fill: Fill) -> BoxedStrategy<Packet> {
    (
        packet_id(),
        vec(subscription(version), 1..=5),
        props_for(version, || subscribe_properties(fill)),
    )
        .prop_map(|(packet_id, subscriptions, properties)| {
            Packet::from(Subscribe {
                packet_id,
                subscriptions,
                properties,
            })
        })
        .boxed()
}

pub(crate) fn suback(version: ProtocolVersion, fill: Fill) -> BoxedStrategy<Packet> {
    let code = if version.is_v5() {
        reason_code_for(PacketType::SubAck)
    } else {
        select(vec![
            ReasonCode::GRANTED_QOS_0,
            ReasonCode::GrantedQoS1,
            ReasonCode::GrantedQoS2,
            ReasonCode::UnspecifiedError,
        ])
        .boxed()
    };
    (
        packet_id(),
        vec(code, 1..=5),
        props_for(version, || ack_properties(fill)),
    )
        .prop_map(|(packet_id, reason_codes, properties)| {
            Packet::from(SubAck {
                packet_id,
                reason_codes,
                properties,
            })
        })
        .boxed()
}

pub(crate) fn unsubscribe(version: ProtocolVersion, fill: Fill) -> BoxedStrategy<Packet> {
    (
        packet_id(),
        vec(topic_filter(version), 1..=5),
        props_for(version, || unsubscribe_properties(fill)),
    )
        .prop_map(|(packet_id, filters, properties)| {
            Packet::from(Unsubscribe {
                packet_id,
                filters,
                properties,
            })
        })
        .boxed()
}

pub(crate) fn unsuback(version: ProtocolVersion, fill: Fill) -> BoxedStrategy<Packet> {
    let codes = if version.is_v5() {
        vec(reason_code_for(PacketType::UnsubAck), 1..=5).boxed()
    } else {
        // The 3.x UNSUBACK has no payload.
        Just(Vec::new()).boxed()
    };
    (
        packet_id(),
        codes,
        props_for(version, || ack_properties(fill)),
    )
        .prop_map(|(packet_id, reason_codes, properties)| {
            Packet::from(UnsubAck {
                packet_id,
                reason_codes,
                properties,
            })
        })
        .boxed()
}

pub(crate) fn disconnect(version: ProtocolVersion, fill: Fill) -> BoxedStrategy<Packet> {
    if !version.is_v5() {
        return Just(Packet::from(Disconnect::default())).boxed();
    }
    (
        reason_code_for(PacketType::Disconnect),
        disconnect_properties(fill),
    )
        .prop_map(|(reason_code, properties)| {
            Packet::from(Disconnect {
                reason_code,
                properties,
            })
        })
        .boxed()
}

/// AUTH, which exists in MQTT 5.0 only.
pub(crate) fn auth(fill: Fill) -> BoxedStrategy<Packet> {
    (reason_code_for(PacketType::Auth), auth_properties(fill))
        .prop_map(|(reason_code, properties)| {
            Packet::from(Auth {
                reason_code,
                properties,
            })
        })
        .boxed()
}
