//! Field-level parsers and writers shared by every packet: integers, variable byte integers,
//! UTF-8 strings, binary data (MQTT 3.1.1 §1.5, MQTT 5.0 §1.5).
//!
//! Parsers are `nom` parsers over `&[u8]` slices of one packet body held in [`Bytes`]; strings
//! and binary fields are returned as zero-copy [`Bytes::slice_ref`] views of that body.

use bytes::{BufMut, Bytes};
use nom::{IResult, Parser};

use super::string::MqttString;
use super::varint::{MAX_VARINT, VarIntRead, read_varint, varint_len, write_varint};
use super::{EncodeError, PacketError, PacketId};

/// The error type of every body parser: a [`PacketError`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Failure(pub(crate) PacketError);

impl<I> nom::error::ParseError<I> for Failure {
    /// Every `nom` primitive we use fails only when input runs out, and the body is complete,
    /// so running out means a field overruns the packet.
    fn from_error_kind(_input: I, _kind: nom::error::ErrorKind) -> Self {
        Failure(PacketError::UnexpectedEnd)
    }

    fn append(_input: I, _kind: nom::error::ErrorKind, other: Self) -> Self {
        other
    }
}

/// Result of a body parser.
pub(crate) type PResult<'a, T> = IResult<&'a [u8], T, Failure>;

/// A parser failure carrying `e`.
pub(crate) fn fail(e: PacketError) -> nom::Err<Failure> {
    nom::Err::Failure(Failure(e))
}

/// Turns a body parser result into the packet error it carries.
pub(crate) fn into_packet_error(e: nom::Err<Failure>) -> PacketError {
    match e {
        nom::Err::Error(Failure(e)) | nom::Err::Failure(Failure(e)) => e,
        nom::Err::Incomplete(_) => PacketError::UnexpectedEnd,
    }
}

/// One byte.
#[inline]
pub(crate) fn byte(i: &[u8]) -> PResult<'_, u8> {
    nom::number::complete::u8(i)
}

/// Two Byte Integer, big-endian (MQTT 5.0 §1.5.2).
#[inline]
pub(crate) fn u16_be(i: &[u8]) -> PResult<'_, u16> {
    nom::number::complete::be_u16(i)
}

/// Four Byte Integer, big-endian (MQTT 5.0 §1.5.3).
#[inline]
pub(crate) fn u32_be(i: &[u8]) -> PResult<'_, u32> {
    nom::number::complete::be_u32(i)
}

/// Variable Byte Integer (MQTT 5.0 §1.5.5), within a complete body.
#[inline]
pub(crate) fn varint(i: &[u8]) -> PResult<'_, u32> {
    match read_varint(i).map_err(fail)? {
        VarIntRead::Value(v, n) => Ok((&i[n..], v)),
        VarIntRead::Incomplete => Err(fail(PacketError::UnexpectedEnd)),
    }
}

/// A non-zero packet identifier ([MQTT-2.3.1-1]).
#[inline]
pub(crate) fn packet_id(i: &[u8]) -> PResult<'_, PacketId> {
    let (i, raw) = u16_be(i)?;
    let id = PacketId::new(raw).ok_or_else(|| fail(PacketError::PacketIdZero))?;
    Ok((i, id))
}

/// Binary Data (MQTT 5.0 §1.5.6) as a slice of the input.
#[inline]
pub(crate) fn binary_slice(i: &[u8]) -> PResult<'_, &[u8]> {
    nom::multi::length_data(nom::number::complete::be_u16).parse(i)
}

/// Binary Data as a zero-copy view of `body`.
#[inline]
pub(crate) fn binary<'a>(body: &Bytes, i: &'a [u8]) -> PResult<'a, Bytes> {
    let (i, data) = binary_slice(i)?;
    Ok((i, body.slice_ref(data)))
}

/// UTF-8 Encoded String (MQTT 5.0 §1.5.4) as a zero-copy view of `body`.
#[inline]
pub(crate) fn string<'a>(body: &Bytes, i: &'a [u8]) -> PResult<'a, MqttString> {
    let (i, data) = binary_slice(i)?;
    let s = MqttString::from_bytes(body.slice_ref(data)).map_err(|e| fail(e.into()))?;
    Ok((i, s))
}

/// Fails with [`PacketError::TrailingBytes`] unless `i` is empty.
pub(crate) fn expect_end(i: &[u8]) -> Result<(), PacketError> {
    if i.is_empty() {
        Ok(())
    } else {
        Err(PacketError::TrailingBytes)
    }
}

/// Writes a UTF-8 string or binary field: two-byte length, then the bytes.
///
/// The caller has checked `data.len() <= 65535` (strings by construction, binary in
/// `binary_len`).
#[inline]
pub(crate) fn put_binary<B: BufMut + ?Sized>(buf: &mut B, data: &[u8]) {
    debug_assert!(
        data.len() <= usize::from(u16::MAX),
        "length checked by encoded_len"
    );
    buf.put_u16(data.len() as u16);
    buf.put_slice(data);
}

/// Encoded size of a binary field, or [`EncodeError::BinaryTooLong`].
pub(crate) fn binary_len(data: &[u8]) -> Result<usize, EncodeError> {
    if data.len() > usize::from(u16::MAX) {
        Err(EncodeError::BinaryTooLong)
    } else {
        Ok(2 + data.len())
    }
}

/// Encoded size of a variable byte integer, or [`EncodeError::ValueTooLarge`].
pub(crate) fn checked_varint_len(v: u32) -> Result<usize, EncodeError> {
    if v > MAX_VARINT {
        Err(EncodeError::ValueTooLarge)
    } else {
        Ok(varint_len(v))
    }
}

/// Writes a variable byte integer.
pub(crate) fn put_varint<B: BufMut + ?Sized>(buf: &mut B, v: u32) {
    write_varint(buf, v);
}
