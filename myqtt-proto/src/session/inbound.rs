//! Inbound QoS 2 exactly-once tracking (MQTT 3.1.1 §4.3.3, MQTT 5.0 §4.3.3).

use alloc::collections::BTreeSet;

use crate::codec::PacketId;

/// Packet ids of QoS 2 messages received and acknowledged with PUBREC, awaiting PUBREL.
///
/// The message is delivered onward on its first PUBLISH; until the PUBREL arrives a PUBLISH with
/// the same id is answered with PUBREC again and not delivered twice ([MQTT-4.3.3-2] "Method B"
/// of the 3.1.1 Figure 4.3, MQTT 5.0 [MQTT-4.3.3-9], [MQTT-4.3.3-10]).
#[derive(Clone, Debug, Default)]
pub struct InboundQos2 {
    awaiting_pubrel: BTreeSet<PacketId>,
}

impl InboundQos2 {
    /// Nothing received.
    pub fn new() -> Self {
        Self::default()
    }

    /// A QoS 2 PUBLISH arrived: `true` if it is new and must be delivered, `false` if it repeats
    /// one not yet released (answer PUBREC, do not deliver).
    pub fn on_publish(&mut self, id: PacketId) -> bool {
        self.awaiting_pubrel.insert(id)
    }

    /// A PUBREL arrived: `true` if the id was known. Either way the receiver answers PUBCOMP
    /// (with reason 0x92 Packet Identifier not found in 5.0 when unknown).
    pub fn on_pubrel(&mut self, id: PacketId) -> bool {
        self.awaiting_pubrel.remove(&id)
    }

    /// Whether `id` waits for PUBREL.
    pub fn contains(&self, id: PacketId) -> bool {
        self.awaiting_pubrel.contains(&id)
    }

    /// Ids awaiting PUBREL, ascending.
    pub fn iter(&self) -> impl Iterator<Item = PacketId> + '_ {
        self.awaiting_pubrel.iter().copied()
    }

    /// Number of ids awaiting PUBREL.
    pub fn len(&self) -> usize {
        self.awaiting_pubrel.len()
    }

    /// Whether no id awaits PUBREL.
    pub fn is_empty(&self) -> bool {
        self.awaiting_pubrel.is_empty()
    }

    /// Forgets every id (the session ended).
    pub fn clear(&mut self) {
        self.awaiting_pubrel.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// [MQTT-4.3.3-2] [MQTT-4.3.3-3]: a repeated PUBLISH before PUBREL is not delivered again;
    /// after PUBREL the id may be reused for a new message.
    #[test]
    fn duplicates_before_pubrel_are_not_delivered() {
        let mut q = InboundQos2::new();
        let id = PacketId::new(5).unwrap();
        assert!(q.on_publish(id));
        assert!(!q.on_publish(id));
        assert!(q.on_pubrel(id));
        assert!(!q.on_pubrel(id));
        assert!(q.on_publish(id), "a new message after PUBREL");
    }
}
