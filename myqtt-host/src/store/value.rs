//! Encoding of stored values (see the table layout in the [module docs](super)).
//!
//! Every value starts with [`FORMAT`]. Decoding checks every byte it reads and returns
//! [`StoreError::Corrupt`] for anything it does not understand: stored bytes are never trusted
//! enough to panic on, or to size an allocation from.

use std::num::NonZeroU32;
use std::sync::Arc;

use bytes::Bytes;
use myqtt_proto::broker::{Delivery, Message, SessionExpiry, SessionSubscription};
use myqtt_proto::codec::{
    MqttString, Packet, PacketId, ProtocolVersion, Publish, QoS, RetainHandling,
    SubscriptionOptions,
};
use myqtt_proto::session::OutboundStage;
use myqtt_proto::time::{Duration, Instant};

use super::StoreError;

/// Version of the value encoding, the first byte of every value.
pub(super) const FORMAT: u8 = 1;

/// Bit of the message flags byte: an expiry instant follows.
const HAS_EXPIRY: u8 = 0b01;
/// Bit of the message flags byte: an origin client id follows.
const HAS_ORIGIN: u8 = 0b10;

fn corrupt(what: impl Into<String>) -> StoreError {
    StoreError::Corrupt(what.into())
}

/// A cursor over stored bytes whose reads fail instead of panicking.
struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    /// Starts reading a value, checking its format byte.
    fn value(buf: &'a [u8]) -> Result<Self, StoreError> {
        let mut r = Reader { buf };
        match r.u8("format byte")? {
            FORMAT => Ok(r),
            other => Err(corrupt(format!("unknown value format {other}"))),
        }
    }

    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], StoreError> {
        if self.buf.len() < n {
            return Err(corrupt(format!(
                "truncated at {what}: {n} bytes needed, {} left",
                self.buf.len()
            )));
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], StoreError> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N, what)?);
        Ok(out)
    }

    fn u8(&mut self, what: &str) -> Result<u8, StoreError> {
        Ok(self.array::<1>(what)?[0])
    }

    fn u16(&mut self, what: &str) -> Result<u16, StoreError> {
        Ok(u16::from_be_bytes(self.array(what)?))
    }

    fn u32(&mut self, what: &str) -> Result<u32, StoreError> {
        Ok(u32::from_be_bytes(self.array(what)?))
    }

    fn u64(&mut self, what: &str) -> Result<u64, StoreError> {
        Ok(u64::from_be_bytes(self.array(what)?))
    }

    fn bool(&mut self, what: &str) -> Result<bool, StoreError> {
        match self.u8(what)? {
            0 => Ok(false),
            1 => Ok(true),
            other => Err(corrupt(format!("{what}: {other} is not a boolean"))),
        }
    }

    fn qos(&mut self, what: &str) -> Result<QoS, StoreError> {
        let b = self.u8(what)?;
        QoS::from_u8(b).ok_or_else(|| corrupt(format!("{what}: invalid QoS {b}")))
    }

    fn rest(&mut self) -> &'a [u8] {
        core::mem::take(&mut self.buf)
    }

    fn finish(self, what: &str) -> Result<(), StoreError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(corrupt(format!(
                "{} trailing bytes after {what}",
                self.buf.len()
            )))
        }
    }
}

/// Session value: `FORMAT`, then tag 0 (no expiry recorded yet), 1 (`OnClose`),
/// 2 (`After`, followed by the duration as u64 milliseconds) or 3 (`Never`).
pub(super) fn encode_session(out: &mut Vec<u8>, expiry: Option<SessionExpiry>) {
    out.push(FORMAT);
    match expiry {
        None => out.push(0),
        Some(SessionExpiry::OnClose) => out.push(1),
        Some(SessionExpiry::After(d)) => {
            out.push(2);
            out.extend_from_slice(&d.as_millis().to_be_bytes());
        }
        Some(SessionExpiry::Never) => out.push(3),
    }
}

/// Decodes [`encode_session`].
pub(super) fn decode_session(buf: &[u8]) -> Result<Option<SessionExpiry>, StoreError> {
    let mut r = Reader::value(buf)?;
    let expiry = match r.u8("session expiry tag")? {
        0 => None,
        1 => Some(SessionExpiry::OnClose),
        2 => Some(SessionExpiry::After(Duration::from_millis(
            r.u64("session expiry duration")?,
        ))),
        3 => Some(SessionExpiry::Never),
        other => return Err(corrupt(format!("unknown session expiry tag {other}"))),
    };
    r.finish("session expiry")?;
    Ok(expiry)
}

/// Subscription value: `FORMAT`, the options byte as MQTT 5.0 encodes it (§3.8.3.1: QoS in
/// bits 0-1, No Local bit 2, Retain As Published bit 3, Retain Handling bits 4-5), then the
/// Subscription Identifier as u32 (0 when absent, a value the protocol never uses).
pub(super) fn encode_subscription(out: &mut Vec<u8>, s: &SessionSubscription) {
    let o = s.options;
    out.push(FORMAT);
    out.push(
        o.qos.as_u8()
            | u8::from(o.no_local) << 2
            | u8::from(o.retain_as_published) << 3
            | (o.retain_handling as u8) << 4,
    );
    out.extend_from_slice(&s.identifier.map_or(0, NonZeroU32::get).to_be_bytes());
}

/// Decodes [`encode_subscription`].
pub(super) fn decode_subscription(buf: &[u8]) -> Result<SessionSubscription, StoreError> {
    let mut r = Reader::value(buf)?;
    let b = r.u8("subscription options")?;
    if b & 0b1100_0000 != 0 {
        return Err(corrupt(format!(
            "subscription options {b:#04x}: reserved bits set"
        )));
    }
    let qos = QoS::from_u8(b & 0b11)
        .ok_or_else(|| corrupt(format!("subscription options {b:#04x}: QoS 3")))?;
    let retain_handling = match (b >> 4) & 0b11 {
        0 => RetainHandling::SendAtSubscribe,
        1 => RetainHandling::SendAtSubscribeIfNew,
        2 => RetainHandling::DoNotSend,
        _ => {
            return Err(corrupt(format!(
                "subscription options {b:#04x}: Retain Handling 3"
            )));
        }
    };
    let identifier = NonZeroU32::new(r.u32("subscription identifier")?);
    r.finish("subscription")?;
    Ok(SessionSubscription {
        options: SubscriptionOptions {
            qos,
            no_local: b & 0b0100 != 0,
            retain_as_published: b & 0b1000 != 0,
            retain_handling,
        },
        identifier,
    })
}

/// Message body (no format byte): a flags byte ([`HAS_EXPIRY`], [`HAS_ORIGIN`]), the expiry
/// instant as u64 milliseconds if flagged, the origin client id as u16 length + UTF-8 if
/// flagged, then the message as an MQTT 5.0 PUBLISH packet to the end of the value: topic,
/// payload, QoS, RETAIN and every property, in the codec's own encoding. A QoS 1/2 message
/// carries the placeholder packet identifier 1, ignored when decoding.
fn encode_message(out: &mut Vec<u8>, m: &Message) -> Result<(), StoreError> {
    let mut flags = 0;
    if m.expires_at.is_some() {
        flags |= HAS_EXPIRY;
    }
    if m.origin.is_some() {
        flags |= HAS_ORIGIN;
    }
    out.push(flags);
    if let Some(at) = m.expires_at {
        out.extend_from_slice(&at.as_millis().to_be_bytes());
    }
    if let Some(origin) = &m.origin {
        let len = u16::try_from(origin.len())
            .map_err(|_| StoreError::Unencodable(format!("origin of {} bytes", origin.len())))?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(origin.as_bytes());
    }
    let publish = Publish {
        dup: false,
        qos: m.qos,
        retain: m.retain,
        topic: m.topic.clone(),
        packet_id: (m.qos != QoS::AtMostOnce).then_some(PacketId::MIN),
        properties: m.properties.clone(),
        payload: m.payload.clone(),
    };
    Packet::Publish(publish)
        .encode_to(ProtocolVersion::V5, out)
        .map_err(|e| StoreError::Unencodable(format!("message on {:?}: {e}", m.topic.as_str())))?;
    Ok(())
}

fn decode_message(r: &mut Reader<'_>) -> Result<Message, StoreError> {
    let flags = r.u8("message flags")?;
    if flags & !(HAS_EXPIRY | HAS_ORIGIN) != 0 {
        return Err(corrupt(format!("unknown message flags {flags:#04x}")));
    }
    let expires_at = if flags & HAS_EXPIRY != 0 {
        Some(Instant::from_millis(r.u64("message expiry")?))
    } else {
        None
    };
    let origin = if flags & HAS_ORIGIN != 0 {
        let len = usize::from(r.u16("origin length")?);
        let bytes = Bytes::copy_from_slice(r.take(len, "origin")?);
        Some(MqttString::from_bytes(bytes).map_err(|e| corrupt(format!("origin: {e}")))?)
    } else {
        None
    };
    let frame = Bytes::copy_from_slice(r.rest());
    let publish = match Packet::decode_exact(frame, ProtocolVersion::V5, usize::MAX) {
        Ok(Packet::Publish(p)) => p,
        Ok(other) => {
            return Err(corrupt(format!(
                "message: {:?} packet instead of PUBLISH",
                other.packet_type()
            )));
        }
        Err(e) => return Err(corrupt(format!("message PUBLISH: {e}"))),
    };
    Ok(Message {
        topic: publish.topic,
        payload: publish.payload,
        qos: publish.qos,
        retain: publish.retain,
        properties: publish.properties,
        expires_at,
        origin,
    })
}

/// Retained value: `FORMAT` + the message body.
pub(super) fn encode_retained(out: &mut Vec<u8>, m: &Message) -> Result<(), StoreError> {
    out.push(FORMAT);
    encode_message(out, m)
}

/// Decodes [`encode_retained`].
pub(super) fn decode_retained(buf: &[u8]) -> Result<Message, StoreError> {
    decode_message(&mut Reader::value(buf)?)
}

/// Delivery body (no format byte): QoS, RETAIN (0/1), the number of subscription identifiers
/// as u32 and each as u32, then the message body.
fn encode_delivery_body(out: &mut Vec<u8>, d: &Delivery) -> Result<(), StoreError> {
    out.push(d.qos.as_u8());
    out.push(u8::from(d.retain));
    let n = u32::try_from(d.subscription_ids.len()).map_err(|_| {
        StoreError::Unencodable(format!(
            "{} subscription identifiers",
            d.subscription_ids.len()
        ))
    })?;
    out.extend_from_slice(&n.to_be_bytes());
    for id in &d.subscription_ids {
        out.extend_from_slice(&id.get().to_be_bytes());
    }
    encode_message(out, &d.message)
}

fn decode_delivery_body(r: &mut Reader<'_>) -> Result<Delivery, StoreError> {
    let qos = r.qos("delivery QoS")?;
    let retain = r.bool("delivery RETAIN")?;
    let n = r.u32("subscription identifier count")?;
    // Sized from what is there, never from the stored count alone.
    let mut subscription_ids = Vec::with_capacity(usize::min(n as usize, r.buf.len() / 4));
    for _ in 0..n {
        let id = r.u32("subscription identifier")?;
        subscription_ids
            .push(NonZeroU32::new(id).ok_or_else(|| corrupt("subscription identifier 0"))?);
    }
    let message = Arc::new(decode_message(r)?);
    Ok(Delivery {
        message,
        qos,
        retain,
        subscription_ids,
    })
}

/// Queue value: `FORMAT` + the delivery body.
pub(super) fn encode_queued(out: &mut Vec<u8>, d: &Delivery) -> Result<(), StoreError> {
    out.push(FORMAT);
    encode_delivery_body(out, d)
}

/// Decodes [`encode_queued`].
pub(super) fn decode_queued(buf: &[u8]) -> Result<Delivery, StoreError> {
    decode_delivery_body(&mut Reader::value(buf)?)
}

/// Offset of the stage byte in an inflight value.
pub(super) const STAGE_OFFSET: usize = 1;

/// The stored code of a stage.
pub(super) fn stage_code(stage: OutboundStage) -> u8 {
    match stage {
        OutboundStage::AwaitPubAck => 0,
        OutboundStage::AwaitPubRec => 1,
        OutboundStage::AwaitPubComp => 2,
    }
}

/// Inflight value: `FORMAT`, the stage (0 PUBACK, 1 PUBREC, 2 PUBCOMP awaited), then the
/// delivery body. The stage sits at [`STAGE_OFFSET`] so a release rewrites that byte alone.
pub(super) fn encode_inflight(
    out: &mut Vec<u8>,
    d: &Delivery,
    stage: OutboundStage,
) -> Result<(), StoreError> {
    out.push(FORMAT);
    out.push(stage_code(stage));
    encode_delivery_body(out, d)
}

/// Decodes [`encode_inflight`].
pub(super) fn decode_inflight(buf: &[u8]) -> Result<(Delivery, OutboundStage), StoreError> {
    let mut r = Reader::value(buf)?;
    let stage = match r.u8("inflight stage")? {
        0 => OutboundStage::AwaitPubAck,
        1 => OutboundStage::AwaitPubRec,
        2 => OutboundStage::AwaitPubComp,
        other => return Err(corrupt(format!("unknown inflight stage {other}"))),
    };
    Ok((decode_delivery_body(&mut r)?, stage))
}

/// Checks the format byte of an inflight value before its stage byte is rewritten in place.
pub(super) fn check_inflight(buf: &[u8]) -> Result<(), StoreError> {
    let mut r = Reader::value(buf)?;
    r.u8("inflight stage")?;
    Ok(())
}

/// Inbound QoS 2 value: empty (the key says it all).
pub(super) fn decode_inbound(buf: &[u8]) -> Result<(), StoreError> {
    Reader { buf }.finish("inbound QoS 2 marker")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use myqtt_proto::codec::{PayloadFormat, PublishProperties, UserProperty};
    use myqtt_proto::topic::TopicName;
    use proptest::prelude::*;

    fn message() -> Message {
        Message {
            topic: TopicName::try_from("a/b").unwrap(),
            payload: Bytes::from_static(b"hello"),
            qos: QoS::ExactlyOnce,
            retain: true,
            properties: PublishProperties {
                payload_format_indicator: Some(PayloadFormat::Utf8),
                message_expiry_interval: Some(30),
                topic_alias: None,
                response_topic: Some(TopicName::try_from("reply/here").unwrap()),
                correlation_data: Some(Bytes::from_static(&[0, 1, 2])),
                user_properties: vec![UserProperty::new(
                    MqttString::from_static("k"),
                    MqttString::from_static("v"),
                )],
                subscription_identifiers: vec![],
                content_type: Some(MqttString::from_static("text/plain")),
            },
            expires_at: Some(Instant::from_millis(0)),
            origin: Some(MqttString::from_static("publisher")),
        }
    }

    fn delivery() -> Delivery {
        Delivery {
            message: Arc::new(message()),
            qos: QoS::AtLeastOnce,
            retain: false,
            subscription_ids: vec![NonZeroU32::new(7).unwrap(), NonZeroU32::MAX],
        }
    }

    #[test]
    fn round_trips() {
        let mut buf = Vec::new();
        encode_retained(&mut buf, &message()).unwrap();
        assert_eq!(decode_retained(&buf).unwrap(), message());

        let mut plain = message();
        plain.qos = QoS::AtMostOnce;
        plain.expires_at = None;
        plain.origin = None;
        plain.properties = PublishProperties::default();
        buf.clear();
        encode_retained(&mut buf, &plain).unwrap();
        assert_eq!(decode_retained(&buf).unwrap(), plain);

        buf.clear();
        encode_queued(&mut buf, &delivery()).unwrap();
        assert_eq!(decode_queued(&buf).unwrap(), delivery());

        buf.clear();
        encode_inflight(&mut buf, &delivery(), OutboundStage::AwaitPubRec).unwrap();
        buf[STAGE_OFFSET] = stage_code(OutboundStage::AwaitPubComp);
        assert_eq!(
            decode_inflight(&buf).unwrap(),
            (delivery(), OutboundStage::AwaitPubComp)
        );

        for expiry in [
            None,
            Some(SessionExpiry::OnClose),
            Some(SessionExpiry::After(Duration::from_millis(u64::MAX))),
            Some(SessionExpiry::Never),
        ] {
            buf.clear();
            encode_session(&mut buf, expiry);
            assert_eq!(decode_session(&buf).unwrap(), expiry);
        }

        let sub = SessionSubscription {
            options: SubscriptionOptions {
                qos: QoS::ExactlyOnce,
                no_local: true,
                retain_as_published: true,
                retain_handling: RetainHandling::DoNotSend,
            },
            identifier: NonZeroU32::new(268_435_455),
        };
        buf.clear();
        encode_subscription(&mut buf, &sub);
        assert_eq!(decode_subscription(&buf).unwrap(), sub);
    }

    #[test]
    fn corruption_is_an_error() {
        let mut buf = Vec::new();
        encode_inflight(&mut buf, &delivery(), OutboundStage::AwaitPubAck).unwrap();
        // Every truncation, and every single-byte change of the header, fails cleanly or
        // decodes to something; none panics.
        for len in 0..buf.len() {
            assert!(decode_inflight(&buf[..len]).is_err(), "truncated to {len}");
        }
        for i in 0..buf.len() {
            let mut bad = buf.clone();
            bad[i] ^= 0xff;
            let _ = decode_inflight(&bad);
        }
        assert!(matches!(
            decode_queued(&[FORMAT + 1]),
            Err(StoreError::Corrupt(_))
        ));
        // A huge identifier count is not trusted to size an allocation.
        let mut huge = vec![FORMAT, 1, 0];
        huge.extend_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(decode_queued(&huge), Err(StoreError::Corrupt(_))));
        assert!(decode_inbound(&[0]).is_err());
        assert!(decode_session(&[FORMAT, 2, 0]).is_err());
        assert!(decode_subscription(&[FORMAT, 0x30, 0, 0, 0, 0]).is_err());
    }

    proptest! {
        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..96)) {
            let mut with_format = vec![FORMAT];
            with_format.extend_from_slice(&bytes);
            for buf in [&bytes[..], &with_format[..]] {
                let _ = decode_session(buf);
                let _ = decode_subscription(buf);
                let _ = decode_retained(buf);
                let _ = decode_queued(buf);
                let _ = decode_inflight(buf);
                let _ = check_inflight(buf);
                let _ = decode_inbound(buf);
            }
        }
    }
}
