//! Variable byte integers (MQTT 3.1.1 §2.2.3 "Remaining Length", MQTT 5.0 §1.5.5).

use bytes::BufMut;

use super::PacketError;

/// Largest value a variable byte integer can hold (four bytes of seven bits).
pub const MAX_VARINT: u32 = 268_435_455;

/// Bytes needed to encode `value` (1 to 4); values above [`MAX_VARINT`] report 4 and must be
/// refused by the caller.
pub const fn varint_len(value: u32) -> usize {
    match value {
        0..=127 => 1,
        128..=16_383 => 2,
        16_384..=2_097_151 => 3,
        _ => 4,
    }
}

/// Writes `value` with the minimum number of bytes ([MQTT-1.5.5-1]).
///
/// The caller guarantees `value <= MAX_VARINT` and room for [`varint_len`] bytes.
pub(crate) fn write_varint<B: BufMut + ?Sized>(buf: &mut B, value: u32) {
    debug_assert!(value <= MAX_VARINT, "caller checks the varint range");
    let mut v = value;
    loop {
        let byte = (v % 128) as u8;
        v /= 128;
        if v > 0 {
            buf.put_u8(byte | 0x80);
        } else {
            buf.put_u8(byte);
            break;
        }
    }
}

/// Outcome of reading a variable byte integer from the front of a buffer that may be partial.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VarIntRead {
    /// The value and how many bytes it took.
    Value(u32, usize),
    /// The buffer ends before the last byte of the integer.
    Incomplete,
}

/// Reads a variable byte integer from the front of `input`.
///
/// A fifth byte (continuation bit on the fourth) is [`PacketError::RemainingLengthTooLong`]; a
/// multi-byte encoding whose last byte is zero is longer than needed and is
/// [`PacketError::NonMinimalVariableInteger`] ([MQTT-1.5.5-1]).
pub fn read_varint(input: &[u8]) -> Result<VarIntRead, PacketError> {
    let mut value: u32 = 0;
    for (i, &byte) in input.iter().take(4).enumerate() {
        value |= u32::from(byte & 0x7F) << (7 * i);
        if byte & 0x80 == 0 {
            if i > 0 && byte == 0 {
                return Err(PacketError::NonMinimalVariableInteger);
            }
            return Ok(VarIntRead::Value(value, i + 1));
        }
    }
    if input.len() >= 4 {
        Err(PacketError::RemainingLengthTooLong)
    } else {
        Ok(VarIntRead::Incomplete)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    fn encode(v: u32) -> Vec<u8> {
        let mut out = Vec::new();
        write_varint(&mut out, v);
        out
    }

    /// MQTT 3.1.1 §2.2.3 Table 2.4 boundaries; MyQtt test_00_a's values included.
    #[test]
    fn remaining_length_boundaries_round_trip() {
        let cases: &[(u32, &[u8])] = &[
            (0, &[0x00]),
            (89, &[0x59]),
            (127, &[0x7F]),
            (128, &[0x80, 0x01]),
            (16_383, &[0xFF, 0x7F]),
            (16_384, &[0x80, 0x80, 0x01]),
            (2_097_151, &[0xFF, 0xFF, 0x7F]),
            (2_097_152, &[0x80, 0x80, 0x80, 0x01]),
            (268_435_455, &[0xFF, 0xFF, 0xFF, 0x7F]),
        ];
        for &(value, bytes) in cases {
            assert_eq!(encode(value), bytes, "encoding {value}");
            assert_eq!(varint_len(value), bytes.len(), "length of {value}");
            assert_eq!(
                read_varint(bytes),
                Ok(VarIntRead::Value(value, bytes.len()))
            );
        }
    }

    #[test]
    fn five_byte_lengths_and_268435456_are_refused() {
        // 268,435,456 would need a fifth byte: 0x80 0x80 0x80 0x80 0x01.
        assert_eq!(
            read_varint(&[0x80, 0x80, 0x80, 0x80, 0x01]),
            Err(PacketError::RemainingLengthTooLong)
        );
        assert_eq!(
            read_varint(&[0xFF, 0xFF, 0xFF, 0xFF, 0x7F]),
            Err(PacketError::RemainingLengthTooLong)
        );
        assert_eq!(varint_len(MAX_VARINT + 1), 4);
    }

    #[test]
    fn partial_and_non_minimal_encodings() {
        assert_eq!(read_varint(&[]), Ok(VarIntRead::Incomplete));
        assert_eq!(read_varint(&[0x80]), Ok(VarIntRead::Incomplete));
        assert_eq!(read_varint(&[0xFF, 0xFF, 0xFF]), Ok(VarIntRead::Incomplete));
        assert_eq!(
            read_varint(&[0x80, 0x00]),
            Err(PacketError::NonMinimalVariableInteger)
        );
        assert_eq!(
            read_varint(&[0xFF, 0x80, 0x00]),
            Err(PacketError::NonMinimalVariableInteger)
        );
    }
}
