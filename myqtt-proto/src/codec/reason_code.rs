//! MQTT 5.0 reason codes (MQTT 5.0 §2.4, Table 2-6) and their MQTT 3.x counterparts.
//!
//! One [`ReasonCode`] type serves every packet and version. The value 0x00 means "Success",
//! "Normal disconnection" or "Granted QoS 0" depending on the packet, so those share one variant
//! with associated constants for the other names.
//!
//! MQTT 3.1 / 3.1.1 have a smaller vocabulary: CONNACK return codes 0-5 (MQTT 3.1.1 §3.2.2.3) and
//! SUBACK return codes 0, 1, 2 and 0x80 (MQTT 3.1.1 §3.9.3). See [`ReasonCode::to_v3_connack`]
//! and [`ReasonCode::from_v3_connack`] for the CONNACK mapping.

use core::fmt;

use super::PacketType;

macro_rules! reason_codes {
    ($( $(#[$doc:meta])* $name:ident = $value:literal, $text:literal, [$($packet:ident),*]; )*) => {
        /// A reason code (MQTT 5.0 §2.4). Which packets may carry which code is checked on decode
        /// ([`ReasonCode::is_valid_for`]).
        #[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[non_exhaustive]
        pub enum ReasonCode {
            $( $(#[$doc])* $name = $value, )*
        }

        impl ReasonCode {
            /// The code with wire value `v`, if MQTT 5.0 defines one.
            pub const fn from_u8(v: u8) -> Option<ReasonCode> {
                match v {
                    $( $value => Some(ReasonCode::$name), )*
                    _ => None,
                }
            }

            /// The specification's name for this code.
            pub const fn description(self) -> &'static str {
                match self {
                    $( ReasonCode::$name => $text, )*
                }
            }

            /// Whether MQTT 5.0 Table 2-6 allows this code in a packet of type `packet`.
            pub const fn is_valid_for(self, packet: PacketType) -> bool {
                let allowed: &[PacketType] = match self {
                    $( ReasonCode::$name => &[$(PacketType::$packet),*], )*
                };
                let mut i = 0;
                while i < allowed.len() {
                    if allowed[i] as u8 == packet as u8 {
                        return true;
                    }
                    i += 1;
                }
                false
            }
        }
    };
}

reason_codes! {
    /// Success / Normal disconnection / Granted QoS 0.
    #[default]
    Success = 0x00, "Success", [ConnAck, PubAck, PubRec, PubRel, PubComp, SubAck, UnsubAck, Disconnect, Auth];
    /// Granted QoS 1.
    GrantedQoS1 = 0x01, "Granted QoS 1", [SubAck];
    /// Granted QoS 2.
    GrantedQoS2 = 0x02, "Granted QoS 2", [SubAck];
    /// Disconnect with Will Message.
    DisconnectWithWillMessage = 0x04, "Disconnect with Will Message", [Disconnect];
    /// No matching subscribers.
    NoMatchingSubscribers = 0x10, "No matching subscribers", [PubAck, PubRec];
    /// No subscription existed.
    NoSubscriptionExisted = 0x11, "No subscription existed", [UnsubAck];
    /// Continue authentication.
    ContinueAuthentication = 0x18, "Continue authentication", [Auth];
    /// Re-authenticate.
    ReAuthenticate = 0x19, "Re-authenticate", [Auth];
    /// Unspecified error.
    UnspecifiedError = 0x80, "Unspecified error", [ConnAck, PubAck, PubRec, SubAck, UnsubAck, Disconnect];
    /// Malformed Packet.
    MalformedPacket = 0x81, "Malformed Packet", [ConnAck, Disconnect];
    /// Protocol Error.
    ProtocolError = 0x82, "Protocol Error", [ConnAck, Disconnect];
    /// Implementation specific error.
    ImplementationSpecificError = 0x83, "Implementation specific error", [ConnAck, PubAck, PubRec, SubAck, UnsubAck, Disconnect];
    /// Unsupported Protocol Version.
    UnsupportedProtocolVersion = 0x84, "Unsupported Protocol Version", [ConnAck];
    /// Client Identifier not valid.
    ClientIdentifierNotValid = 0x85, "Client Identifier not valid", [ConnAck];
    /// Bad User Name or Password.
    BadUserNameOrPassword = 0x86, "Bad User Name or Password", [ConnAck];
    /// Not authorized.
    NotAuthorized = 0x87, "Not authorized", [ConnAck, PubAck, PubRec, SubAck, UnsubAck, Disconnect];
    /// Server unavailable.
    ServerUnavailable = 0x88, "Server unavailable", [ConnAck];
    /// Server busy.
    ServerBusy = 0x89, "Server busy", [ConnAck, Disconnect];
    /// Banned.
    Banned = 0x8A, "Banned", [ConnAck];
    /// Server shutting down.
    ServerShuttingDown = 0x8B, "Server shutting down", [Disconnect];
    /// Bad authentication method.
    BadAuthenticationMethod = 0x8C, "Bad authentication method", [ConnAck, Disconnect];
    /// Keep Alive timeout.
    KeepAliveTimeout = 0x8D, "Keep Alive timeout", [Disconnect];
    /// Session taken over.
    SessionTakenOver = 0x8E, "Session taken over", [Disconnect];
    /// Topic Filter invalid.
    TopicFilterInvalid = 0x8F, "Topic Filter invalid", [SubAck, UnsubAck, Disconnect];
    /// Topic Name invalid.
    TopicNameInvalid = 0x90, "Topic Name invalid", [ConnAck, PubAck, PubRec, Disconnect];
    /// Packet Identifier in use.
    PacketIdentifierInUse = 0x91, "Packet Identifier in use", [PubAck, PubRec, SubAck, UnsubAck];
    /// Packet Identifier not found.
    PacketIdentifierNotFound = 0x92, "Packet Identifier not found", [PubRel, PubComp];
    /// Receive Maximum exceeded.
    ReceiveMaximumExceeded = 0x93, "Receive Maximum exceeded", [Disconnect];
    /// Topic Alias invalid.
    TopicAliasInvalid = 0x94, "Topic Alias invalid", [Disconnect];
    /// Packet too large.
    PacketTooLarge = 0x95, "Packet too large", [ConnAck, Disconnect];
    /// Message rate too high.
    MessageRateTooHigh = 0x96, "Message rate too high", [Disconnect];
    /// Quota exceeded.
    QuotaExceeded = 0x97, "Quota exceeded", [ConnAck, PubAck, PubRec, SubAck, Disconnect];
    /// Administrative action.
    AdministrativeAction = 0x98, "Administrative action", [Disconnect];
    /// Payload format invalid.
    PayloadFormatInvalid = 0x99, "Payload format invalid", [ConnAck, PubAck, PubRec, Disconnect];
    /// Retain not supported.
    RetainNotSupported = 0x9A, "Retain not supported", [ConnAck, Disconnect];
    /// QoS not supported.
    QoSNotSupported = 0x9B, "QoS not supported", [ConnAck, Disconnect];
    /// Use another server.
    UseAnotherServer = 0x9C, "Use another server", [ConnAck, Disconnect];
    /// Server moved.
    ServerMoved = 0x9D, "Server moved", [ConnAck, Disconnect];
    /// Shared Subscriptions not supported.
    SharedSubscriptionsNotSupported = 0x9E, "Shared Subscriptions not supported", [SubAck, Disconnect];
    /// Connection rate exceeded.
    ConnectionRateExceeded = 0x9F, "Connection rate exceeded", [ConnAck, Disconnect];
    /// Maximum connect time.
    MaximumConnectTime = 0xA0, "Maximum connect time", [Disconnect];
    /// Subscription Identifiers not supported.
    SubscriptionIdentifiersNotSupported = 0xA1, "Subscription Identifiers not supported", [SubAck, Disconnect];
    /// Wildcard Subscriptions not supported.
    WildcardSubscriptionsNotSupported = 0xA2, "Wildcard Subscriptions not supported", [SubAck, Disconnect];
}

impl ReasonCode {
    /// 0x00 in DISCONNECT.
    pub const NORMAL_DISCONNECTION: ReasonCode = ReasonCode::Success;
    /// 0x00 in SUBACK.
    pub const GRANTED_QOS_0: ReasonCode = ReasonCode::Success;

    /// The wire value.
    pub const fn as_u8(self) -> u8 {
        self as u8
    }

    /// Whether this code reports an error (value 0x80 or above, MQTT 5.0 §2.4).
    pub const fn is_error(self) -> bool {
        self.as_u8() >= 0x80
    }

    /// The SUBACK code granting `qos`.
    pub const fn granted(qos: super::QoS) -> ReasonCode {
        match qos {
            super::QoS::AtMostOnce => ReasonCode::Success,
            super::QoS::AtLeastOnce => ReasonCode::GrantedQoS1,
            super::QoS::ExactlyOnce => ReasonCode::GrantedQoS2,
        }
    }

    /// The QoS a SUBACK code grants, or `None` for a failure code.
    pub const fn granted_qos(self) -> Option<super::QoS> {
        match self {
            ReasonCode::Success => Some(super::QoS::AtMostOnce),
            ReasonCode::GrantedQoS1 => Some(super::QoS::AtLeastOnce),
            ReasonCode::GrantedQoS2 => Some(super::QoS::ExactlyOnce),
            _ => None,
        }
    }

    /// The MQTT 3.1 / 3.1.1 CONNACK return code for this reason (MQTT 3.1.1 §3.2.2.3).
    ///
    /// Exact for the six 3.x codes; other 5.0 codes map to the closest 3.x meaning:
    /// authentication failures to 4 (bad user name or password), authorization and bans to 5
    /// (not authorized), everything else to 3 (server unavailable).
    pub const fn to_v3_connack(self) -> u8 {
        match self {
            ReasonCode::Success => 0,
            ReasonCode::UnsupportedProtocolVersion => 1,
            ReasonCode::ClientIdentifierNotValid => 2,
            ReasonCode::BadUserNameOrPassword | ReasonCode::BadAuthenticationMethod => 4,
            ReasonCode::NotAuthorized | ReasonCode::Banned => 5,
            _ => 3,
        }
    }

    /// The reason for an MQTT 3.1 / 3.1.1 CONNACK return code 0-5; `None` for reserved values.
    pub const fn from_v3_connack(code: u8) -> Option<ReasonCode> {
        match code {
            0 => Some(ReasonCode::Success),
            1 => Some(ReasonCode::UnsupportedProtocolVersion),
            2 => Some(ReasonCode::ClientIdentifierNotValid),
            3 => Some(ReasonCode::ServerUnavailable),
            4 => Some(ReasonCode::BadUserNameOrPassword),
            5 => Some(ReasonCode::NotAuthorized),
            _ => None,
        }
    }
}

impl fmt::Debug for ReasonCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (0x{:02X})", self.description(), self.as_u8())
    }
}

impl fmt::Display for ReasonCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

impl TryFrom<u8> for ReasonCode {
    type Error = u8;
    fn try_from(v: u8) -> Result<Self, u8> {
        ReasonCode::from_u8(v).ok_or(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_defined_value_round_trips_and_others_are_refused() {
        let mut defined = 0;
        for v in 0..=255u8 {
            if let Some(code) = ReasonCode::from_u8(v) {
                assert_eq!(code.as_u8(), v);
                defined += 1;
            }
        }
        // MQTT 5.0 Table 2-6 defines 43 distinct values.
        assert_eq!(defined, 43);
        assert_eq!(ReasonCode::from_u8(0x03), None);
        assert_eq!(ReasonCode::from_u8(0xA3), None);
    }

    #[test]
    fn table_2_6_packet_permissions() {
        assert!(ReasonCode::Success.is_valid_for(PacketType::Auth));
        assert!(ReasonCode::GrantedQoS2.is_valid_for(PacketType::SubAck));
        assert!(!ReasonCode::GrantedQoS2.is_valid_for(PacketType::PubAck));
        assert!(ReasonCode::PacketIdentifierNotFound.is_valid_for(PacketType::PubRel));
        assert!(!ReasonCode::PacketIdentifierNotFound.is_valid_for(PacketType::PubAck));
        assert!(ReasonCode::SessionTakenOver.is_valid_for(PacketType::Disconnect));
        assert!(!ReasonCode::SessionTakenOver.is_valid_for(PacketType::ConnAck));
        assert!(!ReasonCode::Success.is_valid_for(PacketType::Publish));
    }

    #[test]
    fn v3_connack_mapping_is_exact_for_the_six_codes() {
        for code in 0..=5u8 {
            let rc = ReasonCode::from_v3_connack(code).unwrap();
            assert_eq!(rc.to_v3_connack(), code);
        }
        assert_eq!(ReasonCode::from_v3_connack(6), None);
        assert_eq!(ReasonCode::Banned.to_v3_connack(), 5);
        assert_eq!(ReasonCode::ServerBusy.to_v3_connack(), 3);
    }
}
