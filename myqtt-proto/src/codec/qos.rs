//! Quality of service levels and packet identifiers.

use core::fmt;
use core::num::NonZeroU16;

/// Quality of service of a PUBLISH (MQTT 3.1.1 §4.3, MQTT 5.0 §4.3).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum QoS {
    /// At most once delivery (QoS 0).
    #[default]
    AtMostOnce = 0,
    /// At least once delivery (QoS 1).
    AtLeastOnce = 1,
    /// Exactly once delivery (QoS 2).
    ExactlyOnce = 2,
}

impl QoS {
    /// The QoS with wire value `v`; `None` for 3, which is malformed ([MQTT-3.3.1-4]).
    pub const fn from_u8(v: u8) -> Option<QoS> {
        match v {
            0 => Some(QoS::AtMostOnce),
            1 => Some(QoS::AtLeastOnce),
            2 => Some(QoS::ExactlyOnce),
            _ => None,
        }
    }

    /// The wire value (0, 1 or 2).
    pub const fn as_u8(self) -> u8 {
        self as u8
    }
}

impl TryFrom<u8> for QoS {
    type Error = u8;
    fn try_from(v: u8) -> Result<Self, u8> {
        QoS::from_u8(v).ok_or(v)
    }
}

impl fmt::Display for QoS {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "QoS {}", self.as_u8())
    }
}

/// A packet identifier: never zero (MQTT 3.1.1 §2.3.1, MQTT 5.0 §2.2.1, [MQTT-2.3.1-1]).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PacketId(NonZeroU16);

impl PacketId {
    /// The smallest identifier.
    pub const MIN: PacketId = PacketId(NonZeroU16::MIN);
    /// The largest identifier.
    pub const MAX: PacketId = PacketId(NonZeroU16::MAX);

    /// The identifier `v`, or `None` for 0.
    pub const fn new(v: u16) -> Option<PacketId> {
        match NonZeroU16::new(v) {
            Some(n) => Some(PacketId(n)),
            None => None,
        }
    }

    /// The numeric value.
    pub const fn get(self) -> u16 {
        self.0.get()
    }

    /// The identifier after this one, wrapping from 65535 to 1.
    pub const fn next(self) -> PacketId {
        match NonZeroU16::new(self.0.get().wrapping_add(1)) {
            Some(n) => PacketId(n),
            None => PacketId::MIN,
        }
    }
}

impl fmt::Debug for PacketId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PacketId({})", self.get())
    }
}

impl fmt::Display for PacketId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.get(), f)
    }
}

impl From<PacketId> for u16 {
    fn from(p: PacketId) -> u16 {
        p.get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qos_wire_values() {
        assert_eq!(QoS::from_u8(0), Some(QoS::AtMostOnce));
        assert_eq!(QoS::from_u8(2), Some(QoS::ExactlyOnce));
        assert_eq!(QoS::from_u8(3), None);
        assert_eq!(QoS::try_from(1u8), Ok(QoS::AtLeastOnce));
        assert!(QoS::AtMostOnce < QoS::ExactlyOnce);
    }

    #[test]
    fn packet_id_is_never_zero() {
        assert_eq!(PacketId::new(0), None);
        assert_eq!(PacketId::MAX.next(), PacketId::MIN);
        assert_eq!(PacketId::new(7).map(PacketId::get), Some(7));
    }
}
