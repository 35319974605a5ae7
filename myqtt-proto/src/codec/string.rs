//! UTF-8 encoded strings as MQTT defines them (MQTT 3.1.1 §1.5.3, MQTT 5.0 §1.5.4).
//!
//! An [`MqttString`] is well-formed UTF-8 (so it holds no surrogate code points, U+D800..U+DFFF,
//! [MQTT-1.5.3-1] / [MQTT-1.5.4-1]), never contains U+0000 ([MQTT-1.5.3-2] / [MQTT-1.5.4-2]) and is
//! at most 65,535 bytes long. A BOM (U+FEFF) is kept as-is and never stripped ([MQTT-1.5.3-3] /
//! [MQTT-1.5.4-3]).
//!
//! Control characters and Unicode non-characters (U+FFFE, U+FFFF, ...) are accepted: the
//! specifications say a sender SHOULD NOT send them and a receiver MAY reject them; this codec
//! leaves that policy to the layer above.
//!
//! Decoded strings are slices of the receive buffer: no copy, no allocation.

use bytes::Bytes;
use bytestring::ByteString;
use core::fmt;
use core::ops::Deref;

use super::PacketError;

/// Longest string the two-byte length prefix can describe.
pub const MAX_STRING_LEN: usize = 65_535;

/// Why a byte sequence is not an MQTT UTF-8 string.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StringError {
    /// Not well-formed UTF-8 (includes encoded surrogates and overlong forms) [MQTT-1.5.3-1].
    InvalidUtf8,
    /// Contains the null character U+0000 [MQTT-1.5.3-2].
    NullCharacter,
    /// Longer than 65,535 bytes.
    TooLong,
}

impl fmt::Display for StringError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StringError::InvalidUtf8 => "string is not well-formed UTF-8",
            StringError::NullCharacter => "string contains U+0000",
            StringError::TooLong => "string is longer than 65535 bytes",
        })
    }
}

impl core::error::Error for StringError {}

impl From<StringError> for PacketError {
    fn from(e: StringError) -> Self {
        match e {
            StringError::InvalidUtf8 => PacketError::InvalidUtf8,
            StringError::NullCharacter => PacketError::NullCharacter,
            StringError::TooLong => PacketError::StringTooLong,
        }
    }
}

/// Checks the MQTT rules that go beyond Rust's `str` (which is already well-formed UTF-8).
#[inline]
pub fn validate_str(s: &str) -> Result<(), StringError> {
    if s.len() > MAX_STRING_LEN {
        return Err(StringError::TooLong);
    }
    if s.as_bytes().contains(&0) {
        return Err(StringError::NullCharacter);
    }
    Ok(())
}

/// Checks that `bytes` form an MQTT UTF-8 string and returns it as `&str`.
pub fn validate_utf8(bytes: &[u8]) -> Result<&str, StringError> {
    let s = core::str::from_utf8(bytes).map_err(|_| StringError::InvalidUtf8)?;
    validate_str(s)?;
    Ok(s)
}

/// A validated MQTT UTF-8 string backed by shared [`Bytes`] storage.
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MqttString(ByteString);

impl MqttString {
    /// The empty string.
    pub const fn empty() -> Self {
        MqttString(ByteString::new())
    }

    /// A string from a `'static` literal, checked once.
    ///
    /// # Panics
    /// If `s` breaks the MQTT string rules; meant for literals in source code, never for input
    /// from the network.
    pub fn from_static(s: &'static str) -> Self {
        if let Err(e) = validate_str(s) {
            panic!("invalid MQTT string literal {s:?}: {e}");
        }
        MqttString(ByteString::from_static(s))
    }

    /// Validates `bytes` and wraps them without copying.
    #[inline]
    pub fn from_bytes(bytes: Bytes) -> Result<Self, StringError> {
        let s = ByteString::try_from(bytes).map_err(|_| StringError::InvalidUtf8)?;
        validate_str(&s)?;
        Ok(MqttString(s))
    }

    /// The string as `&str`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The underlying shared bytes (cheap clone).
    pub fn as_bytes(&self) -> &Bytes {
        self.0.as_bytes()
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the string is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Bytes this string takes on the wire: the two-byte length prefix plus the UTF-8 data.
    pub fn encoded_len(&self) -> usize {
        2 + self.len()
    }
}

impl Deref for MqttString {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for MqttString {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for MqttString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for MqttString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<str> for MqttString {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for MqttString {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl TryFrom<&str> for MqttString {
    type Error = StringError;
    fn try_from(s: &str) -> Result<Self, StringError> {
        validate_str(s)?;
        Ok(MqttString(ByteString::from(s)))
    }
}

impl TryFrom<alloc::string::String> for MqttString {
    type Error = StringError;
    fn try_from(s: alloc::string::String) -> Result<Self, StringError> {
        validate_str(&s)?;
        Ok(MqttString(ByteString::from(s)))
    }
}

impl TryFrom<ByteString> for MqttString {
    type Error = StringError;
    fn try_from(s: ByteString) -> Result<Self, StringError> {
        validate_str(&s)?;
        Ok(MqttString(s))
    }
}

impl From<MqttString> for ByteString {
    fn from(s: MqttString) -> ByteString {
        s.0
    }
}

/// Lets maps keyed by `MqttString` be queried with `&str` (same order and equality as `str`).
impl core::borrow::Borrow<str> for MqttString {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}
