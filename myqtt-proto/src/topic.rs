//! Topic names and topic filters (MQTT 3.1.1 §4.7, MQTT 5.0 §4.7).
//!
//! [`TopicName`] is what a PUBLISH is sent to: no wildcards ([MQTT-3.3.2-2]). [`TopicFilter`] is
//! what a subscription asks for: `+` matches one level, `#` the rest ([MQTT-4.7.1-2],
//! [MQTT-4.7.1-3]). Both are [`MqttString`]s, so UTF-8 and U+0000 rules already hold.

use core::fmt;
use core::ops::Deref;

use crate::codec::{MqttString, StringError};

/// Why a string is not a valid topic name or filter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TopicError {
    /// Zero length ([MQTT-4.7.3-1]).
    Empty,
    /// A topic name containing `+` or `#` ([MQTT-3.3.2-2], [MQTT-4.7.0-1]).
    WildcardInName,
    /// `#` not alone in the last level, or `+` not alone in its level ([MQTT-4.7.1-2],
    /// [MQTT-4.7.1-3]).
    InvalidWildcard,
    /// A `$share/` filter without a valid share name and filter (MQTT 5.0 §4.8.2).
    InvalidSharedSubscription,
    /// Not an MQTT UTF-8 string.
    String(StringError),
}

impl fmt::Display for TopicError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TopicError::Empty => f.write_str("topic is empty"),
            TopicError::WildcardInName => f.write_str("topic name contains a wildcard"),
            TopicError::InvalidWildcard => f.write_str("wildcard not alone in its level"),
            TopicError::InvalidSharedSubscription => f.write_str("invalid shared subscription"),
            TopicError::String(e) => fmt::Display::fmt(e, f),
        }
    }
}

impl core::error::Error for TopicError {}

impl From<StringError> for TopicError {
    fn from(e: StringError) -> Self {
        TopicError::String(e)
    }
}

/// A topic name: a non-empty MQTT string without `+` or `#`.
///
/// The one exception is [`TopicName::empty`], the zero-length name an MQTT 5.0 PUBLISH uses
/// when it carries a Topic Alias instead (MQTT 5.0 §3.3.2.1).
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TopicName(MqttString);

impl TopicName {
    /// The zero-length name of an MQTT 5.0 PUBLISH that relies on a Topic Alias.
    pub const fn empty() -> Self {
        TopicName(MqttString::empty())
    }

    /// Checks the topic name rules on `s`.
    pub fn validate(s: &str) -> Result<(), TopicError> {
        if s.is_empty() {
            return Err(TopicError::Empty);
        }
        if s.bytes().any(|b| b == b'+' || b == b'#') {
            return Err(TopicError::WildcardInName);
        }
        Ok(())
    }

    /// The name as `&str`.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// The underlying string.
    pub fn as_mqtt_str(&self) -> &MqttString {
        &self.0
    }

    /// Converts into the underlying string.
    pub fn into_inner(self) -> MqttString {
        self.0
    }
}

impl TryFrom<MqttString> for TopicName {
    type Error = TopicError;
    fn try_from(s: MqttString) -> Result<Self, TopicError> {
        TopicName::validate(&s)?;
        Ok(TopicName(s))
    }
}

impl TryFrom<&str> for TopicName {
    type Error = TopicError;
    fn try_from(s: &str) -> Result<Self, TopicError> {
        TopicName::validate(s)?;
        Ok(TopicName(MqttString::try_from(s)?))
    }
}

/// A topic filter: a non-empty MQTT string whose wildcards stand alone in their levels.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TopicFilter(MqttString);

impl TopicFilter {
    /// Checks the topic filter rules on `s`, including `$share/<name>/<filter>` (MQTT 5.0 §4.8.2).
    pub fn validate(s: &str) -> Result<(), TopicError> {
        if s.is_empty() {
            return Err(TopicError::Empty);
        }
        if let Some(rest) = s.strip_prefix("$share/") {
            let (share, filter) = rest
                .split_once('/')
                .ok_or(TopicError::InvalidSharedSubscription)?;
            if share.is_empty() || share.bytes().any(|b| b == b'+' || b == b'#') {
                return Err(TopicError::InvalidSharedSubscription);
            }
            if filter.is_empty() {
                return Err(TopicError::InvalidSharedSubscription);
            }
            return validate_levels(filter);
        }
        validate_levels(s)
    }

    /// The filter as `&str`.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// The underlying string.
    pub fn as_mqtt_str(&self) -> &MqttString {
        &self.0
    }

    /// Converts into the underlying string.
    pub fn into_inner(self) -> MqttString {
        self.0
    }

    /// Whether this is a shared subscription (`$share/<name>/<filter>`, MQTT 5.0 §4.8.2).
    pub fn is_shared(&self) -> bool {
        self.0.starts_with("$share/")
    }
}

fn validate_levels(s: &str) -> Result<(), TopicError> {
    let mut levels = s.split('/').peekable();
    while let Some(level) = levels.next() {
        let is_last = levels.peek().is_none();
        if level.contains('#') && (level != "#" || !is_last) {
            return Err(TopicError::InvalidWildcard);
        }
        if level.contains('+') && level != "+" {
            return Err(TopicError::InvalidWildcard);
        }
    }
    Ok(())
}

impl TryFrom<MqttString> for TopicFilter {
    type Error = TopicError;
    fn try_from(s: MqttString) -> Result<Self, TopicError> {
        TopicFilter::validate(&s)?;
        Ok(TopicFilter(s))
    }
}

impl TryFrom<&str> for TopicFilter {
    type Error = TopicError;
    fn try_from(s: &str) -> Result<Self, TopicError> {
        TopicFilter::validate(s)?;
        Ok(TopicFilter(MqttString::try_from(s)?))
    }
}

macro_rules! str_like {
    ($t:ty) => {
        impl Deref for $t {
            type Target = str;
            fn deref(&self) -> &str {
                self.as_str()
            }
        }
        impl AsRef<str> for $t {
            fn as_ref(&self) -> &str {
                self.as_str()
            }
        }
        impl fmt::Debug for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(self.as_str(), f)
            }
        }
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl PartialEq<str> for $t {
            fn eq(&self, other: &str) -> bool {
                self.as_str() == other
            }
        }
        impl PartialEq<&str> for $t {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }
    };
}

str_like!(TopicName);
str_like!(TopicFilter);
