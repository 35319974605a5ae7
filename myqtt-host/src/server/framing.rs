//! Cuts a connection's byte stream into whole packets on the connection's own task, and once
//! the client is accepted decodes them there too, so that the broker actor only routes: the
//! decoding work (framing, UTF-8 and topic checks, splitting payloads off the receive buffer)
//! runs in parallel on every core instead of on the actor's one.
//!
//! The actor always receives whole packets, in order: raw frames until the broker says the
//! transport may decode ([`Broker::transport_decoding`](myqtt_proto::broker::Broker)),
//! decoded packets after. Anything this side cannot frame or decode is passed on as bytes,
//! with everything after it (or, for a packet that failed to decode here, its error), so the
//! broker answers it exactly as it answers malformed input (the reason code the
//! specification names, then the close).

use bytes::BytesMut;
use myqtt_proto::ProtocolVersion;
use myqtt_proto::codec::{DecodeError, FixedHeader, Packet, PacketError};

/// What one read produced, to hand to the actor in this order.
#[derive(Debug, Default)]
pub(crate) struct Framed {
    /// Packets decoded here (only after the client was accepted).
    pub(crate) packets: Vec<Packet>,
    /// Why decoding stopped after `packets` (the broker answers it; nothing is decoded here
    /// afterwards).
    pub(crate) error: Option<PacketError>,
    /// Whole raw frames, or after a framing error everything from the bad header on.
    pub(crate) raw: BytesMut,
}

impl Framed {
    /// Nothing for the actor.
    pub(crate) fn is_empty(&self) -> bool {
        self.packets.is_empty() && self.error.is_none() && self.raw.is_empty()
    }
}

/// The framing state of one connection.
#[derive(Debug)]
pub(crate) struct Framer {
    /// Bytes of a packet that is not complete yet; `None` between packets. Boxed: the framer
    /// lives in every idle connection's task.
    partial: Option<Box<BytesMut>>,
    /// Largest packet framed before the client is accepted (the domain's limit; after, the
    /// broker passes its own with each read).
    max_packet_size: u32,
    /// A framing or decoding error was seen: every later byte goes to the broker as is.
    passthrough: bool,
}

impl Framer {
    /// A framer for a new connection whose domain accepts packets up to `max_packet_size`.
    pub(crate) fn new(max_packet_size: usize) -> Self {
        Framer {
            partial: None,
            max_packet_size: u32::try_from(max_packet_size).unwrap_or(u32::MAX),
            passthrough: false,
        }
    }

    /// Takes one read's bytes; `decoding` is what the broker allows now (version and maximum
    /// packet size), `None` while only raw frames may be passed.
    pub(crate) fn push(
        &mut self,
        chunk: BytesMut,
        decoding: Option<(ProtocolVersion, usize)>,
    ) -> Framed {
        let mut buf = match self.partial.take() {
            None => chunk,
            Some(partial) => {
                let mut buf = *partial;
                buf.extend_from_slice(&chunk);
                buf
            }
        };
        let mut framed = Framed::default();
        if self.passthrough {
            framed.raw = buf;
            return framed;
        }
        match decoding {
            Some((version, max)) => self.decode(&mut buf, version, max, &mut framed),
            None => self.frame(&mut buf, &mut framed),
        }
        if !buf.is_empty() {
            self.partial = Some(Box::new(buf));
        }
        framed
    }

    /// Decodes every whole packet of `buf` into `framed.packets`.
    fn decode(
        &mut self,
        buf: &mut BytesMut,
        version: ProtocolVersion,
        max: usize,
        framed: &mut Framed,
    ) {
        while !buf.is_empty() {
            match Packet::decode(buf, version, max) {
                Ok(packet) => framed.packets.push(packet),
                Err(DecodeError::Incomplete { .. }) => return,
                Err(DecodeError::Invalid(error)) => {
                    // The broker answers it and closes: what follows is passed on unread.
                    self.passthrough = true;
                    framed.error = Some(error);
                    framed.raw = buf.split();
                    return;
                }
            }
        }
    }

    /// Moves the whole frames at the front of `buf` into `framed.raw`. The version is not
    /// known yet: frames are cut by the MQTT 5.0 rules, which accept every packet type the
    /// older versions have; the broker decodes them with the right version.
    fn frame(&mut self, buf: &mut BytesMut, framed: &mut Framed) {
        let mut end = 0;
        while end < buf.len() {
            let max = self.max_packet_size as usize;
            match FixedHeader::parse(&buf[end..], ProtocolVersion::V5, max) {
                Ok(header) if buf.len() - end >= header.packet_len() => end += header.packet_len(),
                Ok(_) | Err(DecodeError::Incomplete { .. }) => break,
                Err(DecodeError::Invalid(_)) => {
                    self.passthrough = true;
                    end = buf.len();
                }
            }
        }
        framed.raw = buf.split_to(end);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::{BufMut, Bytes};
    use myqtt_proto::codec::{PacketId, Publish, PublishAck, QoS};
    use myqtt_proto::topic::TopicName;

    const V4: Option<(ProtocolVersion, usize)> = Some((ProtocolVersion::V3_1_1, 1 << 20));

    fn publish(n: u16) -> Packet {
        let mut p = Publish::new(
            TopicName::try_from("a/b").unwrap(),
            Bytes::from(vec![n as u8; 10]),
        );
        p.qos = QoS::AtLeastOnce;
        p.packet_id = PacketId::new(n);
        Packet::Publish(p)
    }

    fn bytes_of(packets: &[Packet]) -> BytesMut {
        let mut out = Vec::new();
        for p in packets {
            p.encode_to(ProtocolVersion::V3_1_1, &mut out).unwrap();
        }
        BytesMut::from(&out[..])
    }

    /// Packets split across reads at every byte come out whole and in order, raw before the
    /// broker allows decoding and decoded after.
    #[test]
    fn packets_split_anywhere_come_out_whole_and_in_order() {
        let packets: Vec<Packet> = (1..=6).map(publish).collect();
        let all = bytes_of(&packets);
        for cut in 1..all.len() {
            let mut framer = Framer::new(1 << 20);
            let first = framer.push(BytesMut::from(&all[..cut]), None);
            assert!(first.packets.is_empty());
            let second = framer.push(BytesMut::from(&all[cut..]), V4);
            let mut raw = first.raw;
            let mut from_raw = Vec::new();
            while !raw.is_empty() {
                from_raw.push(Packet::decode(&mut raw, ProtocolVersion::V3_1_1, 1 << 20).unwrap());
            }
            from_raw.extend(second.packets);
            assert_eq!(from_raw, packets, "cut at {cut}");
            assert!(second.raw.is_empty());
            assert!(framer.partial.is_none());
        }
    }

    /// [MQTT-4.8.0-1] (3.1.1) / [MQTT-4.13.1-1] (5.0): a protocol violation is answered by the
    /// broker, so a malformed packet's error and everything after it are passed on, never
    /// dropped here.
    #[test]
    fn a_malformed_packet_and_what_follows_go_to_the_broker() {
        let mut framer = Framer::new(1 << 20);
        let mut input = bytes_of(&[publish(1)]);
        // PUBACK with a packet identifier of 0: invalid.
        input.put_slice(&[0x40, 0x02, 0x00, 0x00]);
        input.extend_from_slice(&bytes_of(&[publish(2)]));
        let out = framer.push(input, V4);
        assert_eq!(out.packets, vec![publish(1)]);
        assert!(out.error.is_some());
        assert_eq!(out.raw, bytes_of(&[publish(2)]));
        let later = framer.push(bytes_of(&[publish(3)]), V4);
        assert!(later.packets.is_empty(), "passthrough after an error");
        assert_eq!(later.raw, bytes_of(&[publish(3)]));
    }

    /// A frame over the maximum packet size is not buffered here: its header goes to the
    /// broker at once, which refuses it ([MQTT-3.2.2-15]: the client must not exceed the
    /// server's Maximum Packet Size).
    #[test]
    fn an_oversized_frame_is_not_buffered() {
        let mut framer = Framer::new(100);
        // PUBLISH with remaining length 1,000.
        let out = framer.push(BytesMut::from(&[0x30, 0xe8, 0x07, 0x00][..]), None);
        assert_eq!(out.raw.len(), 4);
        assert!(framer.passthrough);
        let ack = Packet::PubAck(PublishAck::new(PacketId::new(1).unwrap()));
        let out = framer.push(bytes_of(&[ack]), V4);
        assert!(out.packets.is_empty());
    }
}
