//! Topic alias tables, one per direction and connection (MQTT 5.0 §3.3.2.3.4).
//!
//! Aliases never outlive the network connection ([MQTT-3.3.2-7]): both tables are cleared on
//! reconnect.

use alloc::collections::BTreeMap;
use core::num::NonZeroU16;

use crate::codec::{Publish, ReasonCode};
use crate::topic::TopicName;

/// Why an inbound topic alias is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AliasError {
    /// Alias above the Topic Alias Maximum this side announced ([MQTT-3.2.2-17] for the client,
    /// [MQTT-3.1.2-26] for the server): "Topic Alias invalid".
    OutOfRange(u16),
    /// An empty topic with an alias that has no mapping yet: a Protocol Error (§3.3.2.3.4).
    Unknown(u16),
}

impl AliasError {
    /// The DISCONNECT reason code for this error.
    pub const fn reason_code(self) -> ReasonCode {
        match self {
            AliasError::OutOfRange(_) => ReasonCode::TopicAliasInvalid,
            AliasError::Unknown(_) => ReasonCode::ProtocolError,
        }
    }
}

/// Aliases the peer set for PUBLISH packets it sends us.
#[derive(Clone, Debug, Default)]
pub struct InboundAliases {
    maximum: u16,
    map: BTreeMap<u16, TopicName>,
}

impl InboundAliases {
    /// A table accepting aliases 1..=`maximum` (the Topic Alias Maximum we announced).
    pub fn new(maximum: u16) -> Self {
        InboundAliases {
            maximum,
            map: BTreeMap::new(),
        }
    }

    /// Resolves the alias of a received PUBLISH in place: a topic with an alias (re)defines the
    /// mapping; an empty topic takes the mapped one. The alias property is removed afterwards,
    /// so the application sees the full topic only.
    pub fn resolve(&mut self, publish: &mut Publish) -> Result<(), AliasError> {
        let Some(alias) = publish.properties.topic_alias.take() else {
            return Ok(());
        };
        let alias = alias.get();
        if alias > self.maximum {
            return Err(AliasError::OutOfRange(alias));
        }
        if publish.topic.is_empty() {
            publish.topic = self
                .map
                .get(&alias)
                .cloned()
                .ok_or(AliasError::Unknown(alias))?;
        } else {
            self.map.insert(alias, publish.topic.clone());
        }
        Ok(())
    }

    /// Forgets all mappings (new connection), keeping the maximum.
    pub fn clear(&mut self) {
        self.map.clear();
    }

    /// Changes the maximum (new connection) and forgets all mappings.
    pub fn reset(&mut self, maximum: u16) {
        self.maximum = maximum;
        self.map.clear();
    }
}

/// Aliases we assign to topics we publish to, bounded by the peer's Topic Alias Maximum.
///
/// A topic gets an alias on first use while free aliases remain: that PUBLISH carries both the
/// topic and the alias; later ones carry the alias and an empty topic. Topics beyond the
/// maximum are sent in full.
#[derive(Clone, Debug, Default)]
pub struct OutboundAliases {
    maximum: u16,
    map: BTreeMap<TopicName, NonZeroU16>,
}

impl OutboundAliases {
    /// A table that may use aliases 1..=`maximum` (the peer's Topic Alias Maximum).
    pub fn new(maximum: u16) -> Self {
        OutboundAliases {
            maximum,
            map: BTreeMap::new(),
        }
    }

    /// Rewrites `publish` for sending. Leaves a publish that already has an alias unchanged.
    pub fn apply(&mut self, publish: &mut Publish) {
        if publish.properties.topic_alias.is_some() || publish.topic.is_empty() {
            return;
        }
        if let Some(alias) = self.map.get(&publish.topic) {
            publish.properties.topic_alias = Some(*alias);
            publish.topic = TopicName::empty();
            return;
        }
        let next = self.map.len() + 1;
        if next <= usize::from(self.maximum)
            && let Some(alias) = u16::try_from(next).ok().and_then(NonZeroU16::new)
        {
            self.map.insert(publish.topic.clone(), alias);
            publish.properties.topic_alias = Some(alias);
        }
    }

    /// Changes the maximum (new connection) and forgets all mappings.
    pub fn reset(&mut self, maximum: u16) {
        self.maximum = maximum;
        self.map.clear();
    }

    /// Whether aliases can be used at all.
    pub fn is_enabled(&self) -> bool {
        self.maximum > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn publish(topic: &str, alias: u16) -> Publish {
        let t = if topic.is_empty() {
            TopicName::empty()
        } else {
            TopicName::try_from(topic).unwrap()
        };
        let mut p = Publish::new(t, Bytes::new());
        p.properties.topic_alias = NonZeroU16::new(alias);
        p
    }

    /// [MQTT-3.3.2-10] [MQTT-3.3.2-11] [MQTT-3.3.2-12]: a mapping is set by a topic with an
    /// alias and used by an empty topic; unknown and out-of-range aliases are refused.
    #[test]
    fn inbound_aliases_map_and_refuse() {
        let mut t = InboundAliases::new(2);
        let mut p = publish("a/b", 1);
        t.resolve(&mut p).unwrap();
        assert_eq!(p.topic, "a/b");
        assert_eq!(p.properties.topic_alias, None);
        let mut p = publish("", 1);
        t.resolve(&mut p).unwrap();
        assert_eq!(p.topic, "a/b");
        assert_eq!(t.resolve(&mut publish("", 2)), Err(AliasError::Unknown(2)));
        assert_eq!(
            t.resolve(&mut publish("x", 3)),
            Err(AliasError::OutOfRange(3))
        );
        assert_eq!(
            AliasError::OutOfRange(3).reason_code(),
            ReasonCode::TopicAliasInvalid
        );
        t.clear();
        assert_eq!(t.resolve(&mut publish("", 1)), Err(AliasError::Unknown(1)));
    }

    /// [MQTT-3.3.2-7] [MQTT-3.3.2-8]: outbound aliases are bounded by the peer maximum and
    /// start at 1.
    #[test]
    fn outbound_aliases_are_bounded() {
        let mut t = OutboundAliases::new(1);
        let mut p = publish("a", 0);
        t.apply(&mut p);
        assert_eq!(
            (
                p.topic.as_str(),
                p.properties.topic_alias.map(NonZeroU16::get)
            ),
            ("a", Some(1))
        );
        let mut p = publish("a", 0);
        t.apply(&mut p);
        assert_eq!(
            (
                p.topic.as_str(),
                p.properties.topic_alias.map(NonZeroU16::get)
            ),
            ("", Some(1))
        );
        let mut p = publish("b", 0);
        t.apply(&mut p);
        assert_eq!((p.topic.as_str(), p.properties.topic_alias), ("b", None));
        let mut off = OutboundAliases::new(0);
        let mut p = publish("a", 0);
        off.apply(&mut p);
        assert_eq!(p.properties.topic_alias, None);
    }
}
