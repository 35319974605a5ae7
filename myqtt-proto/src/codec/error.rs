//! Decode and encode errors, and the reason code each decode error maps to.
//!
//! # Error → reason code map
//!
//! A receiver that meets one of these errors closes the connection; in MQTT 5.0 it first sends
//! the reason code below in CONNACK (before the connection is accepted) or DISCONNECT (MQTT 5.0
//! §4.13). MQTT 3.x has no such codes: the connection is just closed (MQTT 3.1.1 §4.8), except
//! [`PacketError::UnsupportedProtocolVersion`], answered with CONNACK return code 1.
//!
//! | error | reason code |
//! |---|---|
//! | `PacketTooLarge` | 0x95 Packet too large (MQTT 5.0 §3.1.2.11.4, [MQTT-3.1.2-24]) |
//! | `UnsupportedProtocolVersion`, `InvalidProtocolName` | 0x84 Unsupported Protocol Version ([MQTT-3.1.2-2]) |
//! | `InvalidTopicName` | 0x90 Topic Name invalid (MQTT 5.0 §3.3.2.1, [MQTT-3.3.2-2]) |
//! | `InvalidTopicFilter` | 0x8F Topic Filter invalid (MQTT 5.0 §4.7) |
//! | `InvalidTopicAlias` | 0x94 Topic Alias invalid ([MQTT-3.3.2-8]) |
//! | `PacketIdZero`, `DuplicateProperty`, `InvalidPropertyValue`, `EmptyTopicWithoutAlias`, `NoTopicFilters`, `RetainHandlingThree`, `NoLocalOnSharedSubscription`, `AuthenticationDataWithoutMethod`, `UnexpectedPacket` | 0x82 Protocol Error (MQTT 5.0 §2.2.1, §2.2.2.2, §3.3.2.1, §3.8.3, §3.8.3.1, §3.1.2.11.10) |
//! | everything else (framing, flags, UTF-8, lengths, reserved bits, unknown codes/properties) | 0x81 Malformed Packet (MQTT 5.0 §1.5, §2.1.3, §2.2.2.2) |

use core::fmt;

use super::{PacketType, ReasonCode};

/// Why received bytes are not a valid MQTT packet.
///
/// Every variant maps to the MQTT 5.0 reason code that the specification names for it; see
/// [`PacketError::reason_code`] and the table in the module docs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PacketError {
    /// The packet is bigger than the receiver's maximum packet size (MQTT 5.0 §3.1.2.11.4).
    PacketTooLarge {
        /// Total size of the packet, fixed header included.
        size: usize,
        /// The limit it broke.
        max: usize,
    },
    /// Packet type 0 is reserved, or AUTH (15) outside MQTT 5.0 (MQTT 3.1.1 §2.2.1).
    ReservedPacketType(u8),
    /// The fixed header flags are not the ones the packet type requires ([MQTT-2.2.2-1],
    /// [MQTT-2.2.2-2], MQTT 5.0 [MQTT-2.1.3-1]).
    InvalidHeaderFlags {
        /// The packet type.
        packet_type: PacketType,
        /// The flags received.
        flags: u8,
    },
    /// The remaining length field continues past its fourth byte (MQTT 3.1.1 §2.2.3).
    RemainingLengthTooLong,
    /// A variable byte integer is longer than needed ([MQTT-1.5.5-1]).
    NonMinimalVariableInteger,
    /// The packet ends before a field it announces ends.
    UnexpectedEnd,
    /// Bytes are left over after the last field of the packet.
    TrailingBytes,
    /// QoS 3 in a PUBLISH, Will QoS or subscription option ([MQTT-3.3.1-4], [MQTT-3.1.2-12]).
    InvalidQoS,
    /// DUP set on a QoS 0 PUBLISH ([MQTT-3.3.1-2]).
    DupWithQoS0,
    /// A packet identifier of zero ([MQTT-2.3.1-1], MQTT 5.0 [MQTT-2.2.1-3]).
    PacketIdZero,
    /// A string is not well-formed UTF-8 ([MQTT-1.5.3-1]).
    InvalidUtf8,
    /// A string contains U+0000 ([MQTT-1.5.3-2]).
    NullCharacter,
    /// A string longer than 65,535 bytes (only reachable when encoding).
    StringTooLong,
    /// A topic name with wildcards, or otherwise unusable ([MQTT-3.3.2-2], [MQTT-4.7.3-1]).
    InvalidTopicName,
    /// A zero-length topic name without a topic alias (MQTT 5.0 §3.3.2.1, 3.x [MQTT-4.7.3-1]).
    EmptyTopicWithoutAlias,
    /// A topic filter that breaks the wildcard rules ([MQTT-4.7.1-2], [MQTT-4.7.1-3]).
    InvalidTopicFilter,
    /// CONNECT protocol name is neither `MQTT` nor `MQIsdp` ([MQTT-3.1.2-1]).
    InvalidProtocolName,
    /// CONNECT protocol level is not 3, 4 or 5 ([MQTT-3.1.2-2]).
    UnsupportedProtocolVersion(u8),
    /// CONNECT reserved flag is set ([MQTT-3.1.2-3]).
    ConnectReservedFlag,
    /// Will QoS or Will Retain set without the Will Flag, or Will QoS 3
    /// ([MQTT-3.1.2-11], [MQTT-3.1.2-13], [MQTT-3.1.2-15]).
    InconsistentWillFlags,
    /// Password flag set without the User Name flag in MQTT 3.x ([MQTT-3.1.2-22]).
    PasswordWithoutUsername,
    /// CONNACK acknowledge flags other than session present are set ([MQTT-3.2.2-1]... MQTT 5.0 §3.2.2.1).
    InvalidConnAckFlags,
    /// CONNACK return code is not one 3.x defines (MQTT 3.1.1 §3.2.2.3).
    InvalidConnAckCode(u8),
    /// A reason code that is undefined or not allowed in this packet (MQTT 5.0 §2.4).
    InvalidReasonCode {
        /// The packet type.
        packet_type: PacketType,
        /// The code received.
        code: u8,
    },
    /// A property identifier that is unknown or not allowed in this packet (MQTT 5.0 §2.2.2.2).
    PropertyNotAllowed {
        /// The packet type.
        packet_type: PacketType,
        /// The property identifier.
        id: u32,
    },
    /// A property that may appear once appears twice (MQTT 5.0 §2.2.2.2).
    DuplicateProperty(u8),
    /// A property with a value the specification forbids (e.g. Receive Maximum 0, a boolean
    /// property other than 0 or 1, Subscription Identifier 0).
    InvalidPropertyValue(u8),
    /// Topic Alias 0 ([MQTT-3.3.2-8]).
    InvalidTopicAlias,
    /// Authentication Data without Authentication Method (MQTT 5.0 §3.1.2.11.10).
    AuthenticationDataWithoutMethod,
    /// SUBSCRIBE or UNSUBSCRIBE without any topic filter ([MQTT-3.8.3-3], [MQTT-3.10.3-2]).
    NoTopicFilters,
    /// Reserved bits of the subscription options are set ([MQTT-3.8.3-4] / MQTT 5.0 [MQTT-3.8.3-5]).
    InvalidSubscriptionOptions,
    /// Retain Handling 3 (MQTT 5.0 §3.8.3.1).
    RetainHandlingThree,
    /// No Local on a shared subscription (MQTT 5.0 [MQTT-3.8.3-4]).
    NoLocalOnSharedSubscription,
    /// A packet that is well-formed but not allowed here (e.g. a second CONNECT, [MQTT-3.1.0-2]).
    UnexpectedPacket(PacketType),
}

impl PacketError {
    /// The MQTT 5.0 reason code a receiver sends (in CONNACK or DISCONNECT) for this error.
    pub const fn reason_code(&self) -> ReasonCode {
        match self {
            PacketError::PacketTooLarge { .. } => ReasonCode::PacketTooLarge,
            PacketError::UnsupportedProtocolVersion(_) | PacketError::InvalidProtocolName => {
                ReasonCode::UnsupportedProtocolVersion
            }
            PacketError::InvalidTopicName => ReasonCode::TopicNameInvalid,
            PacketError::InvalidTopicFilter => ReasonCode::TopicFilterInvalid,
            PacketError::InvalidTopicAlias => ReasonCode::TopicAliasInvalid,
            PacketError::PacketIdZero
            | PacketError::DuplicateProperty(_)
            | PacketError::InvalidPropertyValue(_)
            | PacketError::EmptyTopicWithoutAlias
            | PacketError::NoTopicFilters
            | PacketError::RetainHandlingThree
            | PacketError::NoLocalOnSharedSubscription
            | PacketError::AuthenticationDataWithoutMethod
            | PacketError::UnexpectedPacket(_) => ReasonCode::ProtocolError,
            PacketError::ReservedPacketType(_)
            | PacketError::InvalidHeaderFlags { .. }
            | PacketError::RemainingLengthTooLong
            | PacketError::NonMinimalVariableInteger
            | PacketError::UnexpectedEnd
            | PacketError::TrailingBytes
            | PacketError::InvalidQoS
            | PacketError::DupWithQoS0
            | PacketError::InvalidUtf8
            | PacketError::NullCharacter
            | PacketError::StringTooLong
            | PacketError::ConnectReservedFlag
            | PacketError::InconsistentWillFlags
            | PacketError::PasswordWithoutUsername
            | PacketError::InvalidConnAckFlags
            | PacketError::InvalidConnAckCode(_)
            | PacketError::InvalidReasonCode { .. }
            | PacketError::PropertyNotAllowed { .. }
            | PacketError::InvalidSubscriptionOptions => ReasonCode::MalformedPacket,
        }
    }
}

impl fmt::Display for PacketError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PacketError::PacketTooLarge { size, max } => {
                write!(f, "packet of {size} bytes exceeds the maximum of {max}")
            }
            PacketError::ReservedPacketType(t) => write!(f, "reserved packet type {t}"),
            PacketError::InvalidHeaderFlags { packet_type, flags } => {
                write!(
                    f,
                    "invalid fixed header flags {flags:#06b} for {packet_type:?}"
                )
            }
            PacketError::InvalidConnAckCode(c) => write!(f, "invalid CONNACK return code {c}"),
            PacketError::InvalidReasonCode { packet_type, code } => {
                write!(
                    f,
                    "reason code {code:#04x} is not allowed in {packet_type:?}"
                )
            }
            PacketError::PropertyNotAllowed { packet_type, id } => {
                write!(f, "property {id:#04x} is not allowed in {packet_type:?}")
            }
            PacketError::DuplicateProperty(id) => write!(f, "property {id:#04x} appears twice"),
            PacketError::InvalidPropertyValue(id) => {
                write!(f, "property {id:#04x} has a forbidden value")
            }
            PacketError::UnsupportedProtocolVersion(l) => {
                write!(f, "unsupported protocol level {l}")
            }
            PacketError::UnexpectedPacket(t) => write!(f, "unexpected {t:?} packet"),
            other => f.write_str(match other {
                PacketError::RemainingLengthTooLong => "remaining length longer than 4 bytes",
                PacketError::NonMinimalVariableInteger => "variable byte integer is not minimal",
                PacketError::UnexpectedEnd => "packet ends inside a field",
                PacketError::TrailingBytes => "unexpected bytes after the last field",
                PacketError::InvalidQoS => "QoS 3 is not a valid QoS",
                PacketError::DupWithQoS0 => "DUP set on a QoS 0 PUBLISH",
                PacketError::PacketIdZero => "packet identifier 0",
                PacketError::InvalidUtf8 => "string is not well-formed UTF-8",
                PacketError::NullCharacter => "string contains U+0000",
                PacketError::StringTooLong => "string longer than 65535 bytes",
                PacketError::InvalidTopicName => "invalid topic name",
                PacketError::EmptyTopicWithoutAlias => "empty topic name without topic alias",
                PacketError::InvalidTopicFilter => "invalid topic filter",
                PacketError::InvalidProtocolName => "unknown protocol name",
                PacketError::ConnectReservedFlag => "CONNECT reserved flag set",
                PacketError::InconsistentWillFlags => "inconsistent will flags",
                PacketError::PasswordWithoutUsername => "password flag without user name flag",
                PacketError::InvalidConnAckFlags => "reserved CONNACK flags set",
                PacketError::InvalidTopicAlias => "topic alias 0",
                PacketError::AuthenticationDataWithoutMethod => {
                    "authentication data without authentication method"
                }
                PacketError::NoTopicFilters => "no topic filter in (UN)SUBSCRIBE",
                PacketError::InvalidSubscriptionOptions => "reserved subscription option bits set",
                PacketError::RetainHandlingThree => "retain handling 3",
                PacketError::NoLocalOnSharedSubscription => "no local on a shared subscription",
                _ => "invalid packet",
            }),
        }
    }
}

impl core::error::Error for PacketError {}

/// The outcome of a decode that did not produce a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// Not enough bytes yet: at least `needed` more are required. Not an error of the peer;
    /// read more and try again. The buffer is left untouched.
    Incomplete {
        /// Lower bound of the bytes still missing (exact once the fixed header is complete).
        needed: usize,
    },
    /// The bytes are not a valid packet; the connection must be closed (after sending
    /// [`PacketError::reason_code`] in MQTT 5.0).
    Invalid(PacketError),
}

impl DecodeError {
    /// The peer's violation, or `None` if more bytes are needed.
    pub const fn packet_error(&self) -> Option<PacketError> {
        match self {
            DecodeError::Incomplete { .. } => None,
            DecodeError::Invalid(e) => Some(*e),
        }
    }
}

impl From<PacketError> for DecodeError {
    fn from(e: PacketError) -> Self {
        DecodeError::Invalid(e)
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Incomplete { needed } => {
                write!(f, "incomplete packet: {needed} more bytes needed")
            }
            DecodeError::Invalid(e) => fmt::Display::fmt(e, f),
        }
    }
}

impl core::error::Error for DecodeError {}

/// Why a packet could not be encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum EncodeError {
    /// The output buffer is shorter than the packet; `required` bytes are needed.
    BufferTooSmall {
        /// The packet's encoded length.
        required: usize,
    },
    /// The packet would exceed the 268,435,455-byte remaining length limit (MQTT 3.1.1 §2.2.3).
    PacketTooLarge,
    /// A PUBLISH with QoS 1 or 2 has no packet identifier ([MQTT-2.3.1-1]).
    MissingPacketId,
    /// A QoS 0 PUBLISH has a packet identifier ([MQTT-2.3.1-5], MQTT 5.0 [MQTT-2.2.1-2]).
    UnexpectedPacketId,
    /// DUP set on a QoS 0 PUBLISH ([MQTT-3.3.1-2]).
    DupWithQoS0,
    /// SUBSCRIBE or UNSUBSCRIBE with no topic filter ([MQTT-3.8.3-3], [MQTT-3.10.3-2]).
    NoTopicFilters,
    /// The packet does not exist in this protocol version (AUTH before MQTT 5.0).
    NotInVersion,
    /// An empty topic name in a version or packet where it is not allowed (MQTT 5.0 §3.3.2.1).
    EmptyTopic,
    /// A password without a user name in MQTT 3.x ([MQTT-3.1.2-22]).
    PasswordWithoutUsername,
    /// A variable byte integer value above 268,435,455 (MQTT 5.0 §1.5.5).
    ValueTooLarge,
    /// A binary field longer than 65,535 bytes (MQTT 5.0 §1.5.6).
    BinaryTooLong,
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodeError::BufferTooSmall { required } => {
                write!(f, "output buffer too small: {required} bytes required")
            }
            other => f.write_str(match other {
                EncodeError::PacketTooLarge => "packet exceeds the maximum remaining length",
                EncodeError::MissingPacketId => "QoS 1/2 PUBLISH without packet identifier",
                EncodeError::UnexpectedPacketId => "QoS 0 PUBLISH with packet identifier",
                EncodeError::DupWithQoS0 => "DUP set on a QoS 0 PUBLISH",
                EncodeError::NoTopicFilters => "no topic filter",
                EncodeError::NotInVersion => "packet does not exist in this protocol version",
                EncodeError::EmptyTopic => "empty topic name not allowed here",
                EncodeError::PasswordWithoutUsername => "password without user name in MQTT 3.x",
                EncodeError::ValueTooLarge => "variable byte integer above 268435455",
                EncodeError::BinaryTooLong => "binary data longer than 65535 bytes",
                _ => "cannot encode packet",
            }),
        }
    }
}

impl core::error::Error for EncodeError {}
