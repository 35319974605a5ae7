//! Outbound QoS 1 and QoS 2 handshakes (MQTT 3.1.1 §4.3.2-4.3.3, MQTT 5.0 §4.3.2-4.3.3) and
//! their resend after reconnect (MQTT 3.1.1 §4.4, MQTT 5.0 §4.4).

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::vec::Vec;

use super::id_map::IdMap;
use crate::codec::{PacketId, Publish, QoS, ReasonCode};

/// Where an outbound QoS 1/2 message is in its handshake.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutboundStage {
    /// QoS 1: PUBLISH sent, waiting for PUBACK.
    AwaitPubAck,
    /// QoS 2: PUBLISH sent, waiting for PUBREC.
    AwaitPubRec,
    /// QoS 2: PUBREL sent, waiting for PUBCOMP.
    AwaitPubComp,
}

/// What [`OutboundQos`] keeps of a message it tracks: a [`Publish`] as sent (the client, which
/// resends it as is), or just its packet id and QoS ([`SentId`]: the broker, which rebuilds
/// the PUBLISH from its own copy of the message, so a delivery does not clone one).
pub trait InFlight {
    /// The packet identifier it was sent with.
    fn packet_id(&self) -> Option<PacketId>;
    /// The QoS it was sent with.
    fn qos(&self) -> QoS;
}

impl InFlight for Publish {
    fn packet_id(&self) -> Option<PacketId> {
        self.packet_id
    }
    fn qos(&self) -> QoS {
        self.qos
    }
}

/// The packet id and QoS of a PUBLISH sent, for owners that keep the message elsewhere.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SentId {
    /// Packet Identifier.
    pub packet_id: PacketId,
    /// QoS 1 or 2.
    pub qos: QoS,
}

impl InFlight for SentId {
    fn packet_id(&self) -> Option<PacketId> {
        Some(self.packet_id)
    }
    fn qos(&self) -> QoS {
        self.qos
    }
}

/// One message in flight, with the caller's tag (a token, a queue reference...).
#[derive(Clone, Debug)]
pub struct OutboundEntry<T, M = Publish> {
    /// The PUBLISH as sent (with its packet id), or what the owner keeps of it.
    pub publish: M,
    /// Handshake stage.
    pub stage: OutboundStage,
    /// The caller's tag.
    pub tag: T,
}

/// What to send again on a resumed session, in the original order ([MQTT-4.4.0-1],
/// [MQTT-4.6.0-1]).
#[allow(clippy::large_enum_variant)] // short-lived, built only on reconnect
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Resend {
    /// The PUBLISH again, with DUP set ([MQTT-3.3.1-1]).
    Publish(Publish),
    /// The PUBREL again.
    PubRel(PacketId),
}

/// Outcome of a PUBREC.
#[derive(Debug, PartialEq, Eq)]
pub enum PubRecOutcome<T> {
    /// Send PUBREL for this id and wait for PUBCOMP ([MQTT-4.3.3-3]).
    SendPubRel,
    /// The receiver refused the message (reason code >= 0x80, MQTT 5.0 §4.3.3): the handshake
    /// ends here, the id is free and the tag is returned.
    Refused(T, ReasonCode),
    /// A PUBREC for a message already released: send PUBREL again.
    Duplicate,
}

/// The outbound QoS 1/2 messages of one session.
///
/// Kept in send order, which is the resend order after a reconnect ([MQTT-4.4.0-1]), with
/// an index from packet id to position. Acknowledgments mostly arrive in send order, so the
/// usual completion pops the front of the queue: no tree rebalancing moves the (large)
/// entries around, which made a `BTreeMap` keyed by packet id the top cost of QoS 1 fan-out.
/// A message completed out of order leaves an empty slot behind until it reaches the front;
/// slots are compacted when they outnumber the live entries, so a message that is never
/// acknowledged cannot make the queue grow without bound.
///
/// Nothing is allocated while nothing is in flight (an idle session costs one pointer): the
/// window is created by the first message and freed when the last one completes.
#[derive(Clone, Debug)]
pub struct OutboundQos<T, M = Publish> {
    window: Option<Box<Window<T, M>>>,
}

/// The messages of an [`OutboundQos`] while some are in flight.
#[derive(Clone, Debug)]
struct Window<T, M> {
    /// Entries in send order; `None` for one completed out of order.
    order: VecDeque<Option<OutboundEntry<T, M>>>,
    /// Send sequence number of `order[0]`.
    first_seq: u64,
    /// Packet id -> send sequence number, for every entry in flight.
    index: IdMap<u64>,
}

/// Empty slots tolerated beyond the live entries before [`OutboundQos`] compacts its queue.
const SLACK: usize = 32;

/// Room a new window starts with, so that a burst of a few messages allocates once.
const INITIAL_WINDOW: usize = 8;

impl<T, M> Default for OutboundQos<T, M> {
    fn default() -> Self {
        OutboundQos { window: None }
    }
}

impl<T, M: InFlight> OutboundQos<T, M> {
    /// No message in flight.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a QoS 1/2 PUBLISH just sent. The caller allocated its packet id.
    ///
    /// Returns the entry back if the publish is QoS 0, has no id, or the id is already in flight.
    #[allow(clippy::result_large_err)] // hands the caller's values back; never on the hot path
    pub fn insert(&mut self, publish: M, tag: T) -> Result<(), (M, T)> {
        let stage = match publish.qos() {
            QoS::AtLeastOnce => OutboundStage::AwaitPubAck,
            QoS::ExactlyOnce => OutboundStage::AwaitPubRec,
            QoS::AtMostOnce => return Err((publish, tag)),
        };
        self.restore(publish, stage, tag)
    }

    /// Puts back a message restored from storage at `stage`, after the ones already present in
    /// the resend order. Gives the values back if the publish has no id or the id is taken.
    #[allow(clippy::result_large_err)] // hands the caller's values back; never on the hot path
    pub fn restore(&mut self, publish: M, stage: OutboundStage, tag: T) -> Result<(), (M, T)> {
        let Some(id) = publish.packet_id() else {
            return Err((publish, tag));
        };
        let w = self.window.get_or_insert_with(|| {
            Box::new(Window {
                order: VecDeque::with_capacity(INITIAL_WINDOW),
                first_seq: 0,
                index: IdMap::with_capacity_and_hasher(INITIAL_WINDOW, Default::default()),
            })
        });
        if w.index.contains_key(&id.get()) {
            return Err((publish, tag));
        }
        w.index.insert(id.get(), w.first_seq + w.order.len() as u64);
        w.order.push_back(Some(OutboundEntry {
            publish,
            stage,
            tag,
        }));
        Ok(())
    }

    /// PUBACK received: completes a QoS 1 message ([MQTT-4.3.2-1]). `None` if `id` is not a
    /// QoS 1 message in flight.
    pub fn on_puback(&mut self, id: PacketId) -> Option<OutboundEntry<T, M>> {
        self.complete(id, OutboundStage::AwaitPubAck)
    }

    /// PUBREC received for `id` with `reason`. `None` if `id` is not a QoS 2 message in flight.
    pub fn on_pubrec(&mut self, id: PacketId, reason: ReasonCode) -> Option<PubRecOutcome<T>> {
        let entry = self.get_mut(id)?;
        match entry.stage {
            OutboundStage::AwaitPubRec if reason.is_error() => {
                let e = self.remove(id)?;
                Some(PubRecOutcome::Refused(e.tag, reason))
            }
            OutboundStage::AwaitPubRec => {
                // [MQTT-4.3.3-3]: after PUBREC the sender MUST NOT resend the PUBLISH; the
                // PUBREL takes its place in the resend order.
                entry.stage = OutboundStage::AwaitPubComp;
                Some(PubRecOutcome::SendPubRel)
            }
            OutboundStage::AwaitPubComp => Some(PubRecOutcome::Duplicate),
            OutboundStage::AwaitPubAck => None,
        }
    }

    /// PUBCOMP received: completes a QoS 2 message. `None` if `id` is not waiting for PUBCOMP.
    pub fn on_pubcomp(&mut self, id: PacketId) -> Option<OutboundEntry<T, M>> {
        self.complete(id, OutboundStage::AwaitPubComp)
    }

    /// Removes every message (the session was not resumed); returns them in send order.
    pub fn drain(&mut self) -> Vec<OutboundEntry<T, M>> {
        self.window
            .take()
            .map(|w| w.order.into_iter().flatten().collect())
            .unwrap_or_default()
    }

    /// The entry for `id`, if in flight.
    pub fn get(&self, id: PacketId) -> Option<&OutboundEntry<T, M>> {
        let w = self.window.as_ref()?;
        w.order.get(w.position(id)?)?.as_ref()
    }

    /// Messages in flight.
    pub fn len(&self) -> usize {
        self.window.as_ref().map_or(0, |w| w.index.len())
    }

    /// Whether nothing is in flight.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Entries in send order.
    pub fn iter(&self) -> impl Iterator<Item = &OutboundEntry<T, M>> {
        self.window.iter().flat_map(|w| w.order.iter().flatten())
    }

    fn get_mut(&mut self, id: PacketId) -> Option<&mut OutboundEntry<T, M>> {
        let w = self.window.as_mut()?;
        let at = w.position(id)?;
        w.order.get_mut(at)?.as_mut()
    }

    /// Takes `id` out of the queue, then drops the empty slots at the front, compacts the
    /// queue when it holds far more slots than messages, and frees the window once empty.
    fn remove(&mut self, id: PacketId) -> Option<OutboundEntry<T, M>> {
        let w = self.window.as_mut()?;
        let at = w.position(id)?;
        self.remove_at(id, at)
    }

    /// Removes `id` if it is at `stage` (one lookup, the usual acknowledgment).
    fn complete(&mut self, id: PacketId, stage: OutboundStage) -> Option<OutboundEntry<T, M>> {
        let w = self.window.as_mut()?;
        let at = w.position(id)?;
        if w.order.get(at)?.as_ref()?.stage != stage {
            return None;
        }
        self.remove_at(id, at)
    }

    /// Removes `id`, found at `at` in the queue.
    fn remove_at(&mut self, id: PacketId, at: usize) -> Option<OutboundEntry<T, M>> {
        let w = self.window.as_mut()?;
        w.index.remove(&id.get());
        let entry = w.order.get_mut(at)?.take();
        while let Some(None) = w.order.front() {
            w.order.pop_front();
            w.first_seq += 1;
        }
        if w.order.is_empty() {
            self.window = None;
        } else if w.order.len() > 2 * w.index.len() + SLACK {
            w.compact();
        }
        entry
    }
}

impl<T, M: InFlight> Window<T, M> {
    fn position(&self, id: PacketId) -> Option<usize> {
        let seq = self.index.get(&id.get())?;
        usize::try_from(seq - self.first_seq).ok()
    }

    /// Removes the empty slots, keeping the order, and renumbers the index.
    fn compact(&mut self) {
        self.order.retain(Option::is_some);
        self.first_seq = 0;
        for (seq, entry) in self.order.iter().flatten().enumerate() {
            self.index.insert(entry.publish_id().get(), seq as u64);
        }
    }
}

impl<T> OutboundQos<T, Publish> {
    /// Everything to send again after reconnecting to a present session, in the original send
    /// order: unacknowledged PUBLISH with DUP set, and PUBREL for released ones
    /// ([MQTT-4.4.0-1], [MQTT-4.6.0-1], [MQTT-3.3.1-1]).
    pub fn resend(&mut self) -> Vec<Resend> {
        self.window
            .iter_mut()
            .flat_map(|w| w.order.iter_mut().flatten())
            .map(|e| match e.stage {
                OutboundStage::AwaitPubComp => Resend::PubRel(e.publish_id()),
                _ => {
                    e.publish.dup = true;
                    Resend::Publish(e.publish.clone())
                }
            })
            .collect()
    }
}

impl<T, M: InFlight> OutboundEntry<T, M> {
    /// The packet id of this entry (always present: [`OutboundQos::insert`] checks it).
    pub fn publish_id(&self) -> PacketId {
        self.publish.packet_id().unwrap_or(PacketId::MIN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topic::TopicName;
    use alloc::vec;
    use bytes::Bytes;

    fn publish(id: u16, qos: QoS) -> Publish {
        let mut p = Publish::new(TopicName::try_from("t").unwrap(), Bytes::from_static(b"x"));
        p.qos = qos;
        p.packet_id = PacketId::new(id);
        p
    }

    fn id(v: u16) -> PacketId {
        PacketId::new(v).unwrap()
    }

    /// [MQTT-4.3.2-1] [MQTT-4.3.3-1] [MQTT-4.3.3-3]
    #[test]
    fn qos1_and_qos2_handshakes() {
        let mut out = OutboundQos::new();
        out.insert(publish(1, QoS::AtLeastOnce), "a").unwrap();
        out.insert(publish(2, QoS::ExactlyOnce), "b").unwrap();
        assert!(out.insert(publish(2, QoS::AtLeastOnce), "dup").is_err());
        assert!(out.insert(publish(3, QoS::AtMostOnce), "q0").is_err());
        assert!(
            out.on_puback(id(2)).is_none(),
            "PUBACK does not complete QoS 2"
        );
        assert_eq!(out.on_puback(id(1)).map(|e| e.tag), Some("a"));
        assert!(out.on_pubcomp(id(2)).is_none(), "PUBCOMP before PUBREC");
        assert_eq!(
            out.on_pubrec(id(2), ReasonCode::Success),
            Some(PubRecOutcome::SendPubRel)
        );
        assert_eq!(
            out.on_pubrec(id(2), ReasonCode::Success),
            Some(PubRecOutcome::Duplicate)
        );
        assert_eq!(out.on_pubcomp(id(2)).map(|e| e.tag), Some("b"));
        assert!(out.is_empty());
    }

    /// MQTT 5.0 §4.3.3: a PUBREC with an error code ends the QoS 2 exchange.
    #[test]
    fn refused_pubrec_ends_the_exchange() {
        let mut out = OutboundQos::new();
        out.insert(publish(9, QoS::ExactlyOnce), 7).unwrap();
        assert_eq!(
            out.on_pubrec(id(9), ReasonCode::QuotaExceeded),
            Some(PubRecOutcome::Refused(7, ReasonCode::QuotaExceeded))
        );
        assert!(out.is_empty());
    }

    /// [MQTT-4.4.0-1] [MQTT-4.6.0-1] [MQTT-3.3.1-1]: resend in original order, DUP set, PUBREL
    /// for released messages.
    #[test]
    fn resend_keeps_the_original_order() {
        let mut out = OutboundQos::new();
        out.insert(publish(30, QoS::ExactlyOnce), ()).unwrap();
        out.insert(publish(10, QoS::AtLeastOnce), ()).unwrap();
        out.insert(publish(20, QoS::ExactlyOnce), ()).unwrap();
        out.on_pubrec(id(30), ReasonCode::Success);
        let resend = out.resend();
        let mut p10 = publish(10, QoS::AtLeastOnce);
        p10.dup = true;
        let mut p20 = publish(20, QoS::ExactlyOnce);
        p20.dup = true;
        assert_eq!(
            resend,
            vec![
                Resend::PubRel(id(30)),
                Resend::Publish(p10),
                Resend::Publish(p20)
            ]
        );
        assert_eq!(out.drain().len(), 3);
        assert!(out.is_empty());
    }

    /// [MQTT-4.4.0-1]: out-of-order completions keep the resend order of the rest, and a
    /// message that is never acknowledged does not make the queue grow with the traffic that
    /// passes it.
    #[test]
    fn out_of_order_completions_stay_bounded_and_ordered() {
        let mut out = OutboundQos::new();
        out.insert(publish(1, QoS::ExactlyOnce), 1u32).unwrap();
        for n in 0..10_000u32 {
            let pid = 2 + (n % 60_000) as u16;
            out.insert(publish(pid, QoS::AtLeastOnce), n).unwrap();
            out.insert(publish(pid + 1, QoS::AtLeastOnce), n).unwrap();
            // Acknowledge the newer one first, then the older one.
            assert!(out.on_puback(id(pid + 1)).is_some());
            assert!(out.on_puback(id(pid)).is_some());
            let slots = out.window.as_ref().map_or(0, |w| w.order.len());
            assert!(slots <= 2 * out.len() + SLACK + 1, "{slots}");
        }
        out.insert(publish(5, QoS::AtLeastOnce), 5).unwrap();
        out.insert(publish(4, QoS::ExactlyOnce), 4).unwrap();
        out.insert(publish(3, QoS::AtLeastOnce), 3).unwrap();
        assert!(out.on_puback(id(5)).is_some());
        let order: Vec<u16> = out.iter().map(|e| e.publish_id().get()).collect();
        assert_eq!(order, vec![1, 4, 3]);
        assert_eq!(
            out.on_pubrec(id(4), ReasonCode::Success),
            Some(PubRecOutcome::SendPubRel)
        );
        assert_eq!(out.get(id(3)).map(|e| e.tag), Some(3));
        let resend = out.resend();
        assert!(matches!(resend[0], Resend::Publish(ref p) if p.packet_id == Some(id(1))));
        assert_eq!(resend[1], Resend::PubRel(id(4)));
        assert!(matches!(resend[2], Resend::Publish(ref p) if p.packet_id == Some(id(3))));
        assert_eq!(out.len(), 3);
    }

    /// A window that emptied gives its memory back.
    #[test]
    fn an_emptied_queue_returns_its_memory() {
        let mut out = OutboundQos::new();
        for n in 1..=500u16 {
            out.insert(publish(n, QoS::AtLeastOnce), ()).unwrap();
        }
        for n in 1..=500u16 {
            assert!(out.on_puback(id(n)).is_some());
        }
        assert!(out.is_empty());
        assert!(out.window.is_none());
    }
}
