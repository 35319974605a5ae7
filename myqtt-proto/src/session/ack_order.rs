//! Acknowledgment ordering for applications that acknowledge messages themselves.
//!
//! MQTT requires PUBACK and PUBREC to be sent in the order the PUBLISH packets were received
//! (MQTT 3.1.1 [MQTT-4.6.0-2], [MQTT-4.6.0-3]; MQTT 5.0 §4.6). When the application acknowledges
//! out of order, later acknowledgments wait here until the earlier ones are given.

use alloc::collections::VecDeque;

use crate::codec::{PacketId, ReasonCode};

/// Which acknowledgment a received PUBLISH needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AckKind {
    /// PUBACK for QoS 1.
    PubAck,
    /// PUBREC for QoS 2.
    PubRec,
}

#[derive(Clone, Debug)]
struct Pending {
    id: PacketId,
    kind: AckKind,
    reason: Option<ReasonCode>,
}

/// Received QoS 1/2 messages whose acknowledgment is not sent yet, in arrival order.
#[derive(Clone, Debug, Default)]
pub struct AckOrder {
    pending: VecDeque<Pending>,
}

impl AckOrder {
    /// Nothing pending.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a received PUBLISH that needs `kind`.
    pub fn push(&mut self, id: PacketId, kind: AckKind) {
        self.pending.push_back(Pending {
            id,
            kind,
            reason: None,
        });
    }

    /// The application acknowledged `id` with `reason`. Returns false if `id` is not pending
    /// or was acknowledged already.
    pub fn ack(&mut self, id: PacketId, reason: ReasonCode) -> bool {
        match self
            .pending
            .iter_mut()
            .find(|p| p.id == id && p.reason.is_none())
        {
            Some(p) => {
                p.reason = Some(reason);
                true
            }
            None => false,
        }
    }

    /// The next acknowledgment that may be sent now, in arrival order.
    pub fn pop_ready(&mut self) -> Option<(AckKind, PacketId, ReasonCode)> {
        let reason = self.pending.front()?.reason?;
        let p = self.pending.pop_front()?;
        Some((p.kind, p.id, reason))
    }

    /// Whether `id` awaits its acknowledgment.
    pub fn contains(&self, id: PacketId) -> bool {
        self.pending.iter().any(|p| p.id == id)
    }

    /// Number of received messages not acknowledged on the wire yet.
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    /// Whether nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Forgets everything (the connection is gone: the server resends unacknowledged messages).
    pub fn clear(&mut self) {
        self.pending.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// [MQTT-4.6.0-2] [MQTT-4.6.0-3]: acks leave in arrival order even when given out of order.
    #[test]
    fn out_of_order_acks_are_sent_in_arrival_order() {
        let id = |v| PacketId::new(v).unwrap();
        let mut q = AckOrder::new();
        q.push(id(1), AckKind::PubAck);
        q.push(id(2), AckKind::PubRec);
        q.push(id(3), AckKind::PubAck);
        assert!(q.ack(id(3), ReasonCode::Success));
        assert!(q.ack(id(2), ReasonCode::Success));
        assert_eq!(q.pop_ready(), None, "1 is not acknowledged yet");
        assert!(q.ack(id(1), ReasonCode::Success));
        assert!(!q.ack(id(1), ReasonCode::Success));
        assert_eq!(
            q.pop_ready(),
            Some((AckKind::PubAck, id(1), ReasonCode::Success))
        );
        assert_eq!(
            q.pop_ready(),
            Some((AckKind::PubRec, id(2), ReasonCode::Success))
        );
        assert_eq!(
            q.pop_ready(),
            Some((AckKind::PubAck, id(3), ReasonCode::Success))
        );
        assert!(q.is_empty());
    }
}
