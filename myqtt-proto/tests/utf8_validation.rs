//! MQTT UTF-8 string validation (MQTT 3.1.1 §1.5.3, MQTT 5.0 §1.5.4): the counterpart of
//! MyQtt's `test_00_b`.
//!
//! Policy under test (see `myqtt_proto::codec` string docs): an MQTT string must be well-formed
//! UTF-8 (no overlong forms, no encoded surrogates, nothing above U+10FFFF), must not contain
//! U+0000 and is at most 65,535 bytes long. The BOM U+FEFF is kept, and non-characters
//! (U+FFFE, U+FFFF, U+FDD0, ...) and control characters are accepted on purpose: the
//! specifications only say a receiver MAY reject them.
//!
//! Statement ids: well-formed UTF-8 is 3.1.1 [MQTT-1.5.3-1] / 5.0 [MQTT-1.5.4-1], no U+0000 is
//! [MQTT-1.5.3-2] / [MQTT-1.5.4-2], the BOM is [MQTT-1.5.3-3] / [MQTT-1.5.4-3].

use bytes::BytesMut;
use myqtt_proto::codec::{
    DecodeError, MAX_STRING_LEN, MqttString, Packet, PacketError, ProtocolVersion, ReasonCode,
    StringError, validate_utf8,
};
use proptest::prelude::*;

/// One row: what the bytes are, the bytes, and the expected outcome.
type Row = (&'static str, &'static [u8], Result<(), StringError>);

const OK: Result<(), StringError> = Ok(());
const BAD: Result<(), StringError> = Err(StringError::InvalidUtf8);
const NUL: Result<(), StringError> = Err(StringError::NullCharacter);

/// Asserts every row against [`validate_utf8`] and [`MqttString::from_bytes`]; accepted bytes
/// must come back unchanged (nothing stripped or replaced).
fn check_rows(rows: &[Row]) {
    for &(what, bytes, expected) in rows {
        check(what, bytes, expected);
    }
}

fn check(what: &str, bytes: &[u8], expected: Result<(), StringError>) {
    let got = validate_utf8(bytes);
    match expected {
        Ok(()) => {
            let s = got.unwrap_or_else(|e| panic!("{what}: {bytes:02X?} rejected with {e:?}"));
            assert_eq!(s.as_bytes(), bytes, "{what}: returned text differs");
        }
        Err(e) => assert_eq!(got, Err(e), "{what}: {bytes:02X?}"),
    }
    let owned = MqttString::from_bytes(bytes::Bytes::copy_from_slice(bytes));
    assert_eq!(
        owned
            .as_ref()
            .map(|s| s.as_bytes().as_ref())
            .map_err(|e| *e),
        expected.map(|()| bytes),
        "{what}: MqttString::from_bytes"
    );
}

/// Well-formed strings, including the edges of every encoding length.
const VALID: &[Row] = &[
    ("empty string", b"", OK),
    ("one ASCII letter", b"a", OK),
    ("topic-like ASCII", b"sport/tennis/player1", OK),
    ("$SYS topic", b"$SYS/broker/load", OK),
    (
        "ASCII printable range",
        b" !\"#$%&'()*+,-./0123456789:;<=>?@AZ[\\]^_`az{|}~",
        OK,
    ),
    ("control character U+0001", b"\x01", OK),
    ("control character U+001F", b"a\x1Fb", OK),
    ("DEL U+007F", b"\x7F", OK),
    ("smallest 2-byte U+0080", b"\xC2\x80", OK),
    ("C1 control U+009F", b"\xC2\x9F", OK),
    ("copyright sign U+00A9", b"\xC2\xA9", OK),
    ("largest 2-byte U+07FF", b"\xDF\xBF", OK),
    ("smallest 3-byte U+0800", b"\xE0\xA0\x80", OK),
    ("euro sign U+20AC", b"\xE2\x82\xAC", OK),
    ("last before surrogates U+D7FF", b"\xED\x9F\xBF", OK),
    ("first after surrogates U+E000", b"\xEE\x80\x80", OK),
    ("non-character U+FDD0", b"\xEF\xB7\x90", OK),
    ("BOM U+FEFF alone", b"\xEF\xBB\xBF", OK),
    ("BOM U+FEFF leading", b"\xEF\xBB\xBFa/b", OK),
    ("BOM U+FEFF inside", b"a/\xEF\xBB\xBF/b", OK),
    ("non-character U+FFFE", b"\xEF\xBF\xBE", OK),
    ("non-character U+FFFF", b"\xEF\xBF\xBF", OK),
    ("smallest 4-byte U+10000", b"\xF0\x90\x80\x80", OK),
    ("emoji U+1F600", b"\xF0\x9F\x98\x80", OK),
    ("non-character U+1FFFF", b"\xF0\x9F\xBF\xBF", OK),
    ("largest code point U+10FFFF", b"\xF4\x8F\xBF\xBF", OK),
    (
        "mixed 1/2/3/4-byte",
        b"a\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80",
        OK,
    ),
    (
        "Greek kosme",
        b"\xCE\xBA\xE1\xBD\xB9\xCF\x83\xCE\xBC\xCE\xB5",
        OK,
    ),
    ("Japanese", b"\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E", OK),
];

/// 3.1.1 [MQTT-1.5.3-1] [MQTT-1.5.3-3], 5.0 [MQTT-1.5.4-1] [MQTT-1.5.4-3]
#[test]
fn well_formed_strings_are_accepted_unchanged() {
    check_rows(VALID);
}

/// Overlong encodings: of `/` (0x2F), of U+0000, and of the largest value of each shorter form.
const OVERLONG: &[Row] = &[
    ("overlong '/' 2-byte", b"\xC0\xAF", BAD),
    ("overlong '/' 3-byte", b"\xE0\x80\xAF", BAD),
    ("overlong '/' 4-byte", b"\xF0\x80\x80\xAF", BAD),
    ("overlong '/' 5-byte", b"\xF8\x80\x80\x80\xAF", BAD),
    ("overlong '/' 6-byte", b"\xFC\x80\x80\x80\x80\xAF", BAD),
    ("overlong '/' inside a topic", b"a\xC0\xAFb", BAD),
    ("overlong NUL 2-byte", b"\xC0\x80", BAD),
    ("overlong NUL 3-byte", b"\xE0\x80\x80", BAD),
    ("overlong NUL 4-byte", b"\xF0\x80\x80\x80", BAD),
    ("overlong U+007F 2-byte", b"\xC1\xBF", BAD),
    ("overlong U+07FF 3-byte", b"\xE0\x9F\xBF", BAD),
    ("overlong U+FFFF 4-byte", b"\xF0\x8F\xBF\xBF", BAD),
];

/// Overlong forms are not well-formed, and an overlong NUL is invalid UTF-8 rather than a NUL.
/// 3.1.1 [MQTT-1.5.3-1], 5.0 [MQTT-1.5.4-1]
#[test]
fn overlong_encodings_are_rejected() {
    check_rows(OVERLONG);
}

/// UTF-8 encodings of the surrogate code points U+D800..U+DFFF, single and paired (CESU-8).
const SURROGATES: &[Row] = &[
    ("U+D800", b"\xED\xA0\x80", BAD),
    ("U+DB7F", b"\xED\xAD\xBF", BAD),
    ("U+DB80", b"\xED\xAE\x80", BAD),
    ("U+DBFF", b"\xED\xAF\xBF", BAD),
    ("U+DC00", b"\xED\xB0\x80", BAD),
    ("U+DF80", b"\xED\xBE\x80", BAD),
    ("U+DFFF", b"\xED\xBF\xBF", BAD),
    ("pair U+D800 U+DC00", b"\xED\xA0\x80\xED\xB0\x80", BAD),
    ("pair U+DBFF U+DFFF", b"\xED\xAF\xBF\xED\xBF\xBF", BAD),
    ("surrogate after text", b"a/b\xED\xA0\x80", BAD),
];

/// 3.1.1 [MQTT-1.5.3-1], 5.0 [MQTT-1.5.4-1]
#[test]
fn encoded_surrogates_are_rejected() {
    check_rows(SURROGATES);
}

/// Broken structure: stray continuation bytes, truncated sequences, impossible bytes, values
/// above U+10FFFF.
const MALFORMED: &[Row] = &[
    ("lone continuation 0x80", b"\x80", BAD),
    ("lone continuation 0xBF", b"\xBF", BAD),
    ("continuation between letters", b"a\x80b", BAD),
    ("three continuations", b"\x80\xBF\x80", BAD),
    ("2-byte lead alone", b"\xC2", BAD),
    ("2-byte lead then ASCII", b"\xC2a", BAD),
    ("3-byte lead alone", b"\xE2", BAD),
    ("3-byte truncated after 2", b"\xE2\x82", BAD),
    ("3-byte with bad second byte", b"\xE2\x28\xA1", BAD),
    ("4-byte truncated after 2", b"\xF0\x9F", BAD),
    ("4-byte truncated after 3", b"\xF0\x9F\x98", BAD),
    ("truncated at end of text", b"abc\xE2\x82", BAD),
    ("lead bytes without continuations", b"\xC2\xE2\xF0", BAD),
    ("C0 alone", b"\xC0", BAD),
    ("C1 alone", b"\xC1", BAD),
    ("U+110000 (F4 90)", b"\xF4\x90\x80\x80", BAD),
    ("U+13FFFF (F4 BF)", b"\xF4\xBF\xBF\xBF", BAD),
    ("F5 lead", b"\xF5\x80\x80\x80", BAD),
    ("U+1FFFFF (F7)", b"\xF7\xBF\xBF\xBF", BAD),
    ("5-byte U+200000", b"\xF8\x88\x80\x80\x80", BAD),
    ("6-byte U+7FFFFFFF", b"\xFD\xBF\xBF\xBF\xBF\xBF", BAD),
    ("0xFE", b"\xFE", BAD),
    ("0xFF", b"\xFF", BAD),
    ("BOM of UTF-16", b"\xFE\xFF", BAD),
    ("0xFF between letters", b"a\xFFb", BAD),
];

/// 3.1.1 [MQTT-1.5.3-1], 5.0 [MQTT-1.5.4-1]
#[test]
fn malformed_sequences_are_rejected() {
    check_rows(MALFORMED);
}

/// U+0000 anywhere.
const NULLS: &[Row] = &[
    ("NUL alone", b"\x00", NUL),
    ("NUL inside", b"a\x00b", NUL),
    ("NUL at end", b"abc\x00", NUL),
    ("NUL at start", b"\x00abc", NUL),
    ("NUL after 2-byte char", b"\xC3\xA9\x00", NUL),
];

/// 3.1.1 [MQTT-1.5.3-2], 5.0 [MQTT-1.5.4-2]
#[test]
fn null_character_is_rejected() {
    check_rows(NULLS);
}

/// The two-byte length prefix limits strings to 65,535 bytes (MQTT 3.1.1 §1.5.3, 5.0 §1.5.4).
#[test]
fn strings_longer_than_65535_bytes_are_rejected() {
    assert_eq!(MAX_STRING_LEN, 65_535);
    check("65535 ASCII bytes", &[b'a'; 65_535], OK);
    check(
        "21845 euro signs (65535 bytes)",
        "€".repeat(21_845).as_bytes(),
        OK,
    );
    check(
        "65536 ASCII bytes",
        &[b'a'; 65_536],
        Err(StringError::TooLong),
    );
    let mut two_byte_tail = vec![b'a'; 65_534];
    two_byte_tail.extend_from_slice("é".as_bytes());
    check(
        "65534 ASCII + U+00E9",
        &two_byte_tail,
        Err(StringError::TooLong),
    );
    check("100000 bytes", &[b'a'; 100_000], Err(StringError::TooLong));
}

#[test]
fn tables_have_at_least_60_sequences() {
    let total = VALID.len() + OVERLONG.len() + SURROGATES.len() + MALFORMED.len() + NULLS.len() + 5; // the length rows
    assert!(total >= 60, "{total}");
}

// ---------------------------------------------------------------------------------------------
// Through the decoder: a PUBLISH whose topic breaks the rules closes the connection.

const MAX_PACKET: usize = 1 << 20;

/// A QoS 0 PUBLISH frame: 0x30, remaining length, topic length, topic, (5.0: properties length
/// 0), payload.
fn publish_frame(version: ProtocolVersion, topic: &[u8], payload: &[u8]) -> BytesMut {
    let props: &[u8] = if version == ProtocolVersion::V5 {
        &[0x00]
    } else {
        &[]
    };
    let remaining = 2 + topic.len() + props.len() + payload.len();
    assert!(remaining < 128, "one-byte remaining length");
    let mut frame = vec![0x30, remaining as u8];
    frame.extend_from_slice(&(topic.len() as u16).to_be_bytes());
    frame.extend_from_slice(topic);
    frame.extend_from_slice(props);
    frame.extend_from_slice(payload);
    BytesMut::from(&frame[..])
}

fn decode_publish_topic(version: ProtocolVersion, topic: &[u8]) -> Result<String, DecodeError> {
    let mut rx = publish_frame(version, topic, b"payload");
    match Packet::decode(&mut rx, version, MAX_PACKET)? {
        Packet::Publish(p) => {
            assert_eq!(&p.payload[..], b"payload");
            Ok(p.topic.as_str().to_owned())
        }
        other => panic!("decoded {other:?}"),
    }
}

/// A 3.1.1 PUBLISH whose topic holds an encoded surrogate is malformed. [MQTT-1.5.3-1]
#[test]
fn v3_1_1_publish_with_surrogate_in_topic_is_invalid_utf8() {
    for topic in [
        &b"a/\xED\xA0\x80"[..],
        b"\xED\xBF\xBF",
        b"a/\xED\xA0\x80\xED\xB0\x80/b",
    ] {
        assert_eq!(
            decode_publish_topic(ProtocolVersion::V3_1_1, topic),
            Err(DecodeError::Invalid(PacketError::InvalidUtf8)),
            "{topic:02X?}"
        );
    }
}

/// A 3.1.1 PUBLISH whose topic holds an overlong `/` is malformed (it must not be read as a
/// level separator). [MQTT-1.5.3-1]
#[test]
fn v3_1_1_publish_with_overlong_slash_in_topic_is_invalid_utf8() {
    assert_eq!(
        decode_publish_topic(ProtocolVersion::V3_1_1, b"a\xC0\xAFb"),
        Err(DecodeError::Invalid(PacketError::InvalidUtf8))
    );
}

/// A 3.1.1 PUBLISH whose topic holds U+0000 is rejected. [MQTT-1.5.3-2] [MQTT-4.7.3-2]
#[test]
fn v3_1_1_publish_with_null_in_topic_is_rejected() {
    for topic in [&b"a\x00b"[..], b"\x00", b"a/b\x00"] {
        assert_eq!(
            decode_publish_topic(ProtocolVersion::V3_1_1, topic),
            Err(DecodeError::Invalid(PacketError::NullCharacter)),
            "{topic:02X?}"
        );
    }
}

/// The same rules in MQTT 5.0, where both errors map to reason code 0x81 Malformed Packet.
/// [MQTT-1.5.4-1] [MQTT-1.5.4-2]
#[test]
fn v5_publish_with_surrogate_or_null_in_topic_is_malformed() {
    let surrogate = decode_publish_topic(ProtocolVersion::V5, b"a/\xED\xA0\x80");
    assert_eq!(
        surrogate,
        Err(DecodeError::Invalid(PacketError::InvalidUtf8))
    );
    let null = decode_publish_topic(ProtocolVersion::V5, b"a\x00b");
    assert_eq!(null, Err(DecodeError::Invalid(PacketError::NullCharacter)));
    assert_eq!(
        PacketError::InvalidUtf8.reason_code(),
        ReasonCode::MalformedPacket
    );
    assert_eq!(
        PacketError::NullCharacter.reason_code(),
        ReasonCode::MalformedPacket
    );
}

/// A BOM in a topic reaches the application unchanged; U+FFFF is accepted by policy.
/// [MQTT-1.5.3-3] [MQTT-1.5.4-3]
#[test]
fn publish_topic_keeps_bom_and_accepts_non_characters() {
    for version in [ProtocolVersion::V3_1_1, ProtocolVersion::V5] {
        assert_eq!(
            decode_publish_topic(version, b"\xEF\xBB\xBFa/b").as_deref(),
            Ok("\u{FEFF}a/b")
        );
        assert_eq!(
            decode_publish_topic(version, b"a/\xEF\xBF\xBF").as_deref(),
            Ok("a/\u{FFFF}")
        );
    }
}

/// A 3.1.1 SUBSCRIBE whose topic filter holds an encoded surrogate or U+0000 is rejected too.
/// [MQTT-1.5.3-1] [MQTT-1.5.3-2]
#[test]
fn v3_1_1_subscribe_with_bad_filter_string_is_rejected() {
    for (filter, error) in [
        (&b"a/\xED\xB0\x80"[..], PacketError::InvalidUtf8),
        (b"a/\x00/#", PacketError::NullCharacter),
    ] {
        // 0x82, remaining length, packet id 1, filter length, filter, requested QoS 0.
        let mut frame = vec![0x82, (2 + 2 + filter.len() + 1) as u8, 0x00, 0x01];
        frame.extend_from_slice(&(filter.len() as u16).to_be_bytes());
        frame.extend_from_slice(filter);
        frame.push(0x00);
        let mut rx = BytesMut::from(&frame[..]);
        assert_eq!(
            Packet::decode(&mut rx, ProtocolVersion::V3_1_1, MAX_PACKET),
            Err(DecodeError::Invalid(error)),
            "{filter:02X?}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Property test against an independent well-formedness check.

/// Well-formed UTF-8 per the Unicode Standard, Table 3-7 (and RFC 3629 §4), byte ranges only.
fn naive_well_formed(mut b: &[u8]) -> bool {
    let cont = |x: u8| (0x80..=0xBF).contains(&x);
    while let Some(&lead) = b.first() {
        let (len, second) = match lead {
            0x00..=0x7F => (1, 0x00..=0xFF),
            0xC2..=0xDF => (2, 0x80..=0xBF),
            0xE0 => (3, 0xA0..=0xBF),
            0xE1..=0xEC | 0xEE..=0xEF => (3, 0x80..=0xBF),
            0xED => (3, 0x80..=0x9F),
            0xF0 => (4, 0x90..=0xBF),
            0xF1..=0xF3 => (4, 0x80..=0xBF),
            0xF4 => (4, 0x80..=0x8F),
            _ => return false,
        };
        if b.len() < len {
            return false;
        }
        if len > 1 && (!second.contains(&b[1]) || !b[2..len].iter().all(|&x| cont(x))) {
            return false;
        }
        b = &b[len..];
    }
    true
}

fn naive_validate(b: &[u8]) -> Result<(), StringError> {
    if !naive_well_formed(b) {
        Err(StringError::InvalidUtf8)
    } else if b.len() > MAX_STRING_LEN {
        Err(StringError::TooLong)
    } else if b.contains(&0) {
        Err(StringError::NullCharacter)
    } else {
        Ok(())
    }
}

/// Random bytes, valid strings, and valid strings with one byte changed.
fn byte_strings() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..12),
        any::<String>().prop_map(String::into_bytes),
        (any::<String>(), any::<prop::sample::Index>(), any::<u8>()).prop_map(|(s, i, x)| {
            let mut b = s.into_bytes();
            if !b.is_empty() {
                let at = i.index(b.len());
                b[at] = x;
            }
            b
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    /// `validate_utf8` agrees with the Table 3-7 byte ranges and the U+0000 rule.
    /// 3.1.1 [MQTT-1.5.3-1] [MQTT-1.5.3-2], 5.0 [MQTT-1.5.4-1] [MQTT-1.5.4-2]
    #[test]
    fn validate_utf8_agrees_with_naive_validator(bytes in byte_strings()) {
        let got = validate_utf8(&bytes).map(|s| s.as_bytes().to_vec());
        prop_assert_eq!(got, naive_validate(&bytes).map(|()| bytes.clone()));
    }
}
