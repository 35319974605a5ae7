//! The MQTT 3.1 / 3.1.1 / 5.0 wire codec.
//!
//! # Decoding
//! Two stages (DESIGN §3): [`FixedHeader::parse`] reads the type, flags and remaining length from
//! a possibly partial buffer and checks the size against the receiver's maximum *before* the body
//! is buffered; then [`Packet::decode_body`] parses exactly that body with `nom`.
//! [`Packet::decode`] does both on a [`BytesMut`] receive buffer, consuming one whole packet or
//! nothing. [`DecodeError::Incomplete`] (read more) and [`DecodeError::Invalid`] (close the
//! connection, with [`PacketError::reason_code`] in 5.0) are different outcomes.
//!
//! Decoded strings, topics and payloads are [`Bytes`] views of the receive buffer: decoding a
//! PUBLISH without User Properties performs no heap allocation.
//!
//! # Encoding
//! [`Packet::encoded_len`] is exact; [`Packet::encode`] writes into a caller slice or reports
//! [`EncodeError::BufferTooSmall`]; [`Packet::encode_to`] appends to any [`BufMut`].
//! MQTT 5.0-only content (properties, reason codes other than those 3.x can express, 5.0
//! subscription options) is not written when encoding for 3.x.

mod ack;
mod connack;
mod connect;
mod disconnect;
mod error;
mod fixed_header;
mod primitives;
pub mod properties;
mod publish;
mod qos;
mod reason_code;
mod string;
mod subscribe;
mod unsubscribe;
pub mod varint;
mod version;

use bytes::{BufMut, Bytes, BytesMut};

pub use ack::{PubAck, PubComp, PubRec, PubRel, PublishAck};
pub use connack::ConnAck;
pub use connect::{Connect, Will};
pub use disconnect::{Auth, Disconnect};
pub use error::{DecodeError, EncodeError, PacketError};
pub use fixed_header::{FixedHeader, PacketType};
pub use properties::{
    AckProperties, AuthProperties, ConnAckProperties, ConnectProperties, DisconnectProperties,
    PayloadFormat, PublishProperties, SubscribeProperties, UnsubscribeProperties, UserProperty,
    WillProperties,
};
pub use publish::Publish;
pub use qos::{PacketId, QoS};
pub use reason_code::ReasonCode;
pub use string::{MAX_STRING_LEN, MqttString, StringError, validate_str, validate_utf8};
pub use subscribe::{RetainHandling, SubAck, Subscribe, Subscription, SubscriptionOptions};
pub use unsubscribe::{UnsubAck, Unsubscribe};
pub use version::ProtocolVersion;

/// The largest packet MQTT can express: a 5-byte fixed header plus the maximum remaining length.
pub const MAX_PACKET_SIZE: usize = 5 + varint::MAX_VARINT as usize;

/// Any MQTT control packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Packet {
    /// CONNECT (boxed: large and rare).
    Connect(alloc::boxed::Box<Connect>),
    /// CONNACK (boxed: large and rare).
    ConnAck(alloc::boxed::Box<ConnAck>),
    /// PUBLISH.
    Publish(Publish),
    /// PUBACK.
    PubAck(PubAck),
    /// PUBREC.
    PubRec(PubRec),
    /// PUBREL.
    PubRel(PubRel),
    /// PUBCOMP.
    PubComp(PubComp),
    /// SUBSCRIBE.
    Subscribe(Subscribe),
    /// SUBACK.
    SubAck(SubAck),
    /// UNSUBSCRIBE.
    Unsubscribe(Unsubscribe),
    /// UNSUBACK.
    UnsubAck(UnsubAck),
    /// PINGREQ.
    PingReq,
    /// PINGRESP.
    PingResp,
    /// DISCONNECT.
    Disconnect(Disconnect),
    /// AUTH (MQTT 5.0).
    Auth(Auth),
}

impl Packet {
    /// The packet's type.
    pub fn packet_type(&self) -> PacketType {
        match self {
            Packet::Connect(_) => PacketType::Connect,
            Packet::ConnAck(_) => PacketType::ConnAck,
            Packet::Publish(_) => PacketType::Publish,
            Packet::PubAck(_) => PacketType::PubAck,
            Packet::PubRec(_) => PacketType::PubRec,
            Packet::PubRel(_) => PacketType::PubRel,
            Packet::PubComp(_) => PacketType::PubComp,
            Packet::Subscribe(_) => PacketType::Subscribe,
            Packet::SubAck(_) => PacketType::SubAck,
            Packet::Unsubscribe(_) => PacketType::Unsubscribe,
            Packet::UnsubAck(_) => PacketType::UnsubAck,
            Packet::PingReq => PacketType::PingReq,
            Packet::PingResp => PacketType::PingResp,
            Packet::Disconnect(_) => PacketType::Disconnect,
            Packet::Auth(_) => PacketType::Auth,
        }
    }

    /// Decodes one packet from the front of `buf`, consuming exactly its bytes on success.
    ///
    /// `version` is the connection's protocol version (a CONNECT carries its own and ignores
    /// it). `max_packet_size` bounds the whole packet, fixed header included; a larger one is
    /// refused from its fixed header alone. On [`DecodeError::Incomplete`] `buf` is unchanged.
    #[inline]
    pub fn decode(
        buf: &mut BytesMut,
        version: ProtocolVersion,
        max_packet_size: usize,
    ) -> Result<Packet, DecodeError> {
        let header = FixedHeader::parse(buf, version, max_packet_size)?;
        let total = header.packet_len();
        if buf.len() < total {
            return Err(DecodeError::Incomplete {
                needed: total - buf.len(),
            });
        }
        if let Some(packet) = Packet::decode_small(&header, &buf[header.header_len..total], version)
        {
            bytes::Buf::advance(buf, total);
            return Ok(packet);
        }
        // Advance before freezing: the body shares the receive buffer without an extra
        // reference-count round trip for the whole frame.
        let mut frame = buf.split_to(total);
        bytes::Buf::advance(&mut frame, header.header_len);
        Packet::decode_body(&header, frame.freeze(), version).map_err(DecodeError::Invalid)
    }

    /// Decodes a packet from a buffer that holds exactly one whole packet.
    pub fn decode_exact(
        frame: Bytes,
        version: ProtocolVersion,
        max_packet_size: usize,
    ) -> Result<Packet, DecodeError> {
        let header = FixedHeader::parse(&frame, version, max_packet_size)?;
        let total = header.packet_len();
        if frame.len() < total {
            return Err(DecodeError::Incomplete {
                needed: total - frame.len(),
            });
        }
        if frame.len() > total {
            return Err(PacketError::TrailingBytes.into());
        }
        Packet::decode_body(&header, frame.slice(header.header_len..), version)
            .map_err(DecodeError::Invalid)
    }

    /// The packets that keep nothing of their body (acknowledgments in their short forms,
    /// PINGREQ, PINGRESP), decoded from a borrowed body: splitting them off the receive buffer
    /// would cost two atomic reference-count operations per packet, a visible share of a QoS 1
    /// fan-out. `None` when the packet needs the full path.
    #[inline]
    fn decode_small(header: &FixedHeader, body: &[u8], version: ProtocolVersion) -> Option<Packet> {
        let t = header.packet_type;
        Some(match t {
            PacketType::PubAck => Packet::PubAck(PublishAck::decode_short(t, body, version)?),
            PacketType::PubRec => Packet::PubRec(PublishAck::decode_short(t, body, version)?),
            PacketType::PubRel => Packet::PubRel(PublishAck::decode_short(t, body, version)?),
            PacketType::PubComp => Packet::PubComp(PublishAck::decode_short(t, body, version)?),
            PacketType::PingReq if body.is_empty() => Packet::PingReq,
            PacketType::PingResp if body.is_empty() => Packet::PingResp,
            _ => return None,
        })
    }

    /// Second decoding stage: parses `body`, exactly `header.remaining_length` bytes.
    #[inline]
    pub fn decode_body(
        header: &FixedHeader,
        body: Bytes,
        version: ProtocolVersion,
    ) -> Result<Packet, PacketError> {
        if body.len() != header.remaining_length as usize {
            return Err(PacketError::UnexpectedEnd);
        }
        let t = header.packet_type;
        Ok(match t {
            PacketType::Connect => Packet::Connect(alloc::boxed::Box::new(Connect::decode(&body)?)),
            PacketType::ConnAck => {
                Packet::ConnAck(alloc::boxed::Box::new(ConnAck::decode(&body, version)?))
            }
            PacketType::Publish => Packet::Publish(Publish::decode(header.flags, body, version)?),
            PacketType::PubAck => Packet::PubAck(PublishAck::decode(t, &body, version)?),
            PacketType::PubRec => Packet::PubRec(PublishAck::decode(t, &body, version)?),
            PacketType::PubRel => Packet::PubRel(PublishAck::decode(t, &body, version)?),
            PacketType::PubComp => Packet::PubComp(PublishAck::decode(t, &body, version)?),
            PacketType::Subscribe => Packet::Subscribe(Subscribe::decode(&body, version)?),
            PacketType::SubAck => Packet::SubAck(SubAck::decode(&body, version)?),
            PacketType::Unsubscribe => Packet::Unsubscribe(Unsubscribe::decode(&body, version)?),
            PacketType::UnsubAck => Packet::UnsubAck(UnsubAck::decode(&body, version)?),
            PacketType::PingReq => {
                primitives::expect_end(&body)?;
                Packet::PingReq
            }
            PacketType::PingResp => {
                primitives::expect_end(&body)?;
                Packet::PingResp
            }
            PacketType::Disconnect => Packet::Disconnect(Disconnect::decode(&body, version)?),
            PacketType::Auth => Packet::Auth(Auth::decode(&body)?),
        })
    }

    fn first_byte(&self) -> u8 {
        match self {
            Packet::Publish(p) => p.first_byte(),
            other => {
                let t = other.packet_type();
                (t as u8) << 4 | t.required_flags().unwrap_or(0)
            }
        }
    }

    /// Length of the variable header and payload, validating what encoding needs.
    fn remaining_len(&self, version: ProtocolVersion) -> Result<u32, EncodeError> {
        let len = match self {
            Packet::Connect(c) => c.remaining_len()?,
            Packet::ConnAck(c) => c.remaining_len(version)?,
            Packet::Publish(p) => p.remaining_len(version)?,
            Packet::PubAck(a) | Packet::PubRec(a) | Packet::PubRel(a) | Packet::PubComp(a) => {
                a.remaining_len(version)?
            }
            Packet::Subscribe(s) => s.remaining_len(version)?,
            Packet::SubAck(s) => s.remaining_len(version)?,
            Packet::Unsubscribe(u) => u.remaining_len(version)?,
            Packet::UnsubAck(u) => u.remaining_len(version)?,
            Packet::PingReq | Packet::PingResp => 0,
            Packet::Disconnect(d) => d.remaining_len(version)?,
            Packet::Auth(a) => a.remaining_len(version)?,
        };
        u32::try_from(len)
            .ok()
            .filter(|l| *l <= varint::MAX_VARINT)
            .ok_or(EncodeError::PacketTooLarge)
    }

    fn write_body<B: BufMut + ?Sized>(&self, version: ProtocolVersion, buf: &mut B) {
        match self {
            Packet::Connect(c) => c.write_body(buf),
            Packet::ConnAck(c) => c.write_body(version, buf),
            Packet::Publish(p) => p.write_body(version, buf),
            Packet::PubAck(a) | Packet::PubRec(a) | Packet::PubRel(a) | Packet::PubComp(a) => {
                a.write_body(version, buf)
            }
            Packet::Subscribe(s) => s.write_body(version, buf),
            Packet::SubAck(s) => s.write_body(version, buf),
            Packet::Unsubscribe(u) => u.write_body(version, buf),
            Packet::UnsubAck(u) => u.write_body(version, buf),
            Packet::PingReq | Packet::PingResp => {}
            Packet::Disconnect(d) => d.write_body(version, buf),
            Packet::Auth(a) => a.write_body(buf),
        }
    }

    /// Exact number of bytes [`Packet::encode`] writes for `version`.
    pub fn encoded_len(&self, version: ProtocolVersion) -> Result<usize, EncodeError> {
        let remaining = self.remaining_len(version)?;
        Ok(FixedHeader::encoded_len(remaining) + remaining as usize)
    }

    /// Encodes into `out`, returning the number of bytes written.
    pub fn encode(&self, version: ProtocolVersion, out: &mut [u8]) -> Result<usize, EncodeError> {
        if let Packet::Publish(p) = self {
            // The hot path: one length computation, the payload copied in one go.
            return p.encode(version, out);
        }
        let remaining = self.remaining_len(version)?;
        let required = FixedHeader::encoded_len(remaining) + remaining as usize;
        if out.len() < required {
            return Err(EncodeError::BufferTooSmall { required });
        }
        let mut w = &mut out[..required];
        self.write_all(version, remaining, &mut w);
        debug_assert!(w.is_empty(), "encoded_len is exact");
        Ok(required)
    }

    /// Appends the encoded packet to `buf` (a `Vec<u8>`, a `BytesMut`, ...), returning its
    /// length. Fails with [`EncodeError::BufferTooSmall`] if `buf` cannot grow enough.
    pub fn encode_to<B: BufMut + ?Sized>(
        &self,
        version: ProtocolVersion,
        buf: &mut B,
    ) -> Result<usize, EncodeError> {
        let remaining = self.remaining_len(version)?;
        let required = FixedHeader::encoded_len(remaining) + remaining as usize;
        if buf.remaining_mut() < required {
            return Err(EncodeError::BufferTooSmall { required });
        }
        self.write_all(version, remaining, buf);
        Ok(required)
    }

    /// Encodes into a new [`Bytes`].
    #[cfg(feature = "alloc")]
    pub fn to_bytes(&self, version: ProtocolVersion) -> Result<Bytes, EncodeError> {
        let mut buf = BytesMut::with_capacity(self.encoded_len(version)?);
        self.encode_to(version, &mut buf)?;
        Ok(buf.freeze())
    }

    fn write_all<B: BufMut + ?Sized>(&self, version: ProtocolVersion, remaining: u32, buf: &mut B) {
        buf.put_u8(self.first_byte());
        varint::write_varint(buf, remaining);
        self.write_body(version, buf);
    }
}

macro_rules! from_packet {
    ($($variant:ident($t:ty)),*) => {$(
        impl From<$t> for Packet {
            fn from(p: $t) -> Packet {
                Packet::$variant(p.into())
            }
        }
    )*};
}

from_packet!(
    Connect(Connect),
    ConnAck(ConnAck),
    Publish(Publish),
    Subscribe(Subscribe),
    SubAck(SubAck),
    Unsubscribe(Unsubscribe),
    UnsubAck(UnsubAck),
    Disconnect(Disconnect),
    Auth(Auth)
);
