//! Topic names and topic filters (MQTT 3.1.1 §4.7, MQTT 5.0 §4.7), and shared subscriptions
//! (MQTT 5.0 §4.8.2).
//!
//! [`TopicName`] is what a PUBLISH is sent to: no wildcards ([MQTT-3.3.2-2]). [`TopicFilter`] is
//! what a subscription asks for: `+` matches one level, `#` the rest ([MQTT-4.7.1-2],
//! [MQTT-4.7.1-3] in 3.1.1 numbering; [MQTT-4.7.1-1], [MQTT-4.7.1-2] in 5.0). Both are
//! [`MqttString`]s, so UTF-8 and U+0000 rules already hold.
//!
//! # Matching
//! [`matches()`] (and [`TopicFilter::matches`]) decide whether a topic name matches a filter
//! (MQTT 3.1.1 §4.7.1, MQTT 5.0 §4.7.1):
//! - levels are separated by `/`, and empty levels are significant: `a//b` has three levels and
//!   `/a` two, the first one empty (§4.7.1.1);
//! - `+` matches exactly one level, which may be empty (§4.7.1.3);
//! - `#` matches its parent level and any number of child levels: `sport/#` matches `sport`,
//!   `sport/` and `sport/tennis/player1` (§4.7.1.2);
//! - a filter starting with `+` or `#` never matches a topic starting with `$`, so `#` does not
//!   see `$SYS/...` ([MQTT-4.7.2-1], §4.7.2);
//! - comparison is byte-wise: case-sensitive, with no normalization ([MQTT-4.7.3-4]).
//!
//! ```
//! use myqtt_proto::topic::{TopicFilter, TopicName, matches};
//!
//! assert!(matches("sport/+/player1", "sport/tennis/player1"));
//! assert!(matches("sport/#", "sport"));
//! assert!(!matches("#", "$SYS/broker/load"));
//!
//! let shared = TopicFilter::try_from("$share/group/sport/#").unwrap();
//! let shared_sub = shared.shared().unwrap();
//! assert_eq!((shared_sub.share_name, shared_sub.filter), ("group", "sport/#"));
//! assert!(shared.matches(&TopicName::try_from("sport/tennis").unwrap()));
//! ```

use core::fmt;
use core::ops::Deref;

use crate::codec::{MqttString, StringError};

/// Why a string is not a valid topic name or filter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TopicError {
    /// Zero length ([MQTT-4.7.3-1]).
    Empty,
    /// A topic name containing `+` or `#` ([MQTT-3.3.2-2]; 3.1.1 [MQTT-4.7.1-1], 5.0
    /// [MQTT-4.7.0-1]).
    WildcardInName,
    /// `#` not alone in the last level, or `+` not alone in its level (3.1.1 [MQTT-4.7.1-2]
    /// [MQTT-4.7.1-3], 5.0 [MQTT-4.7.1-1] [MQTT-4.7.1-2]).
    InvalidWildcard,
    /// A `$share/` filter without a valid share name and filter (MQTT 5.0 §4.8.2,
    /// [MQTT-4.8.2-1], [MQTT-4.8.2-2]).
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
    ///
    /// The `$share/` rules apply in every protocol version, as in mosquitto: MQTT 3.1.1 leaves
    /// topics starting with `$` to the server ("Server implementations MAY use Topic Names that
    /// start with a leading $ character for other purposes", §4.7.2), and myqtt gives `$share/`
    /// the 5.0 meaning there too, so `$share/g` is refused rather than silently treated as a
    /// plain filter.
    pub fn validate(s: &str) -> Result<(), TopicError> {
        if s.is_empty() {
            return Err(TopicError::Empty);
        }
        if let Some(rest) = s.strip_prefix(SHARE_PREFIX) {
            // [MQTT-4.8.2-1] [MQTT-4.8.2-2]: a non-empty ShareName without `/`, `+`, `#`,
            // then `/` and a Topic Filter.
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

    /// Whether `topic` matches this filter (MQTT 3.1.1 §4.7, MQTT 5.0 §4.7); see [`matches()`].
    ///
    /// A shared subscription (`$share/<name>/<filter>`, MQTT 5.0 §4.8.2) matches with its inner
    /// filter: `$share/g/sport/#` matches `sport/tennis`. Choosing which member of the share
    /// group receives the message is the broker's job, not this function's.
    pub fn matches(&self, topic: &TopicName) -> bool {
        matches(self.match_filter(), topic.as_str())
    }

    /// The share name and inner filter of a shared subscription (MQTT 5.0 §4.8.2), or `None` if
    /// this filter does not start with `$share/`.
    ///
    /// Validation guarantees that a filter starting with `$share/` has a non-empty share name
    /// without wildcards and a non-empty, valid inner filter ([MQTT-4.8.2-1], [MQTT-4.8.2-2]).
    pub fn shared(&self) -> Option<SharedSubscription<'_>> {
        SharedSubscription::parse(self.as_str())
    }

    /// The filter that topics are matched against: the inner filter of a shared subscription
    /// (`sport/#` for `$share/g/sport/#`), otherwise the whole filter.
    ///
    /// Use it as the key of a subscription trie; the share name groups subscribers.
    pub fn match_filter(&self) -> &str {
        match self.shared() {
            Some(shared) => shared.filter,
            None => self.as_str(),
        }
    }

    /// Whether the filter used for matching ([`TopicFilter::match_filter`]) contains a `+` or
    /// `#` wildcard (MQTT 3.1.1 §4.7.1, MQTT 5.0 §4.7.1). A filter without wildcards matches
    /// exactly one topic name, its own text.
    pub fn has_wildcards(&self) -> bool {
        self.match_filter().bytes().any(|b| b == b'+' || b == b'#')
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
        self.0.starts_with(SHARE_PREFIX)
    }
}

/// What starts a shared subscription's topic filter ([MQTT-4.8.2-1]).
const SHARE_PREFIX: &str = "$share/";

/// The parts of a shared subscription filter `$share/<share_name>/<filter>` (MQTT 5.0 §4.8.2).
///
/// Obtained from [`TopicFilter::shared`]; borrows the filter's text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SharedSubscription<'a> {
    /// The ShareName: identifies the group of sessions that share the subscription; non-empty,
    /// without `/`, `+` or `#` ([MQTT-4.8.2-1], [MQTT-4.8.2-2]).
    pub share_name: &'a str,
    /// The Topic Filter after the share name, used for matching (may contain wildcards).
    pub filter: &'a str,
}

impl<'a> SharedSubscription<'a> {
    /// Splits `$share/<name>/<filter>` into its parts; `None` if `s` does not start with
    /// `$share/` or has no `/` after the share name. It does not validate the parts: use it on
    /// a [`TopicFilter`], whose construction did.
    fn parse(s: &'a str) -> Option<Self> {
        let (share_name, filter) = s.strip_prefix(SHARE_PREFIX)?.split_once('/')?;
        Some(SharedSubscription { share_name, filter })
    }
}

/// The levels of a topic name or filter: the pieces between `/` separators (MQTT 3.1.1
/// §4.7.1.1, MQTT 5.0 §4.7.1.1).
///
/// Empty levels are kept: `"/a//b/"` yields `""`, `"a"`, `""`, `"b"`, `""`, and `""` yields
/// one empty level. Allocation free.
pub fn levels(s: &str) -> impl DoubleEndedIterator<Item = &str> + Clone {
    s.split('/')
}

/// Whether the topic name `topic` matches the topic filter `filter` (MQTT 3.1.1 §4.7, MQTT 5.0
/// §4.7).
///
/// Call it with a valid filter (see [`TopicFilter::validate`]) and a valid topic name (see
/// [`TopicName::validate`]); the rules are in the [module docs](self):
/// - `+` matches exactly one level, including an empty one (3.1.1 [MQTT-4.7.1-3], 5.0
///   [MQTT-4.7.1-2]);
/// - `#` matches the parent level and any number of child levels (3.1.1 [MQTT-4.7.1-2], 5.0
///   [MQTT-4.7.1-1]): `sport/#` matches `sport`;
/// - a filter starting with a wildcard never matches a topic starting with `$`
///   ([MQTT-4.7.2-1]);
/// - case-sensitive, byte-wise comparison without normalization ([MQTT-4.7.3-4]); empty
///   levels count (`a//b`, `/a`).
///
/// The filter is taken literally: `$share/g/a` here is an ordinary filter whose first level is
/// `$share`. Use [`TopicFilter::matches`] or [`TopicFilter::match_filter`] for shared
/// subscriptions (MQTT 5.0 §4.8.2).
///
/// Never panics and never allocates, whatever the strings: for invalid input the answer is
/// unspecified but well defined (a `#` ends the comparison with a match wherever it stands;
/// `+` or `#` inside a level is compared as an ordinary character).
pub fn matches(filter: &str, topic: &str) -> bool {
    // [MQTT-4.7.2-1]: `#...` and `+...` do not see `$SYS/...` and other `$` topics.
    if topic.starts_with('$') && (filter.starts_with('+') || filter.starts_with('#')) {
        return false;
    }
    let mut filter_levels = levels(filter);
    let mut topic_levels = levels(topic);
    loop {
        match (filter_levels.next(), topic_levels.next()) {
            // `#` matches the rest, including nothing (the parent level itself).
            (Some("#"), _) => return true,
            (Some("+"), Some(_)) => {}
            (Some(f), Some(t)) if f == t => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

/// One pass over the bytes: `+` must fill its level, `#` must fill the last level
/// ([MQTT-4.7.1-2], [MQTT-4.7.1-3]). Both are ASCII, so bytes are enough for UTF-8 text.
fn validate_levels(s: &str) -> Result<(), TopicError> {
    let bytes = s.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        if b != b'+' && b != b'#' {
            continue;
        }
        let starts_level = i == 0 || bytes[i - 1] == b'/';
        let next = bytes.get(i + 1);
        let alone = match b {
            b'#' => next.is_none(),
            _ => next.is_none_or(|&n| n == b'/'),
        };
        if !(starts_level && alone) {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// [MQTT-3.3.2-2] [MQTT-4.7.3-1] [MQTT-4.7.3-2]; 3.1.1 [MQTT-4.7.1-1], 5.0 [MQTT-4.7.0-1]
    #[test]
    fn topic_name_validation() {
        for valid in [
            "a",
            "/",
            "//",
            "/a",
            "a/",
            "a//b",
            "sport/tennis/player1",
            "$SYS/broker/load",
            "$share/g/a",
            " ",
            "ünïcödé/€",
        ] {
            assert_eq!(TopicName::validate(valid), Ok(()), "{valid:?}");
            assert!(TopicName::try_from(valid).is_ok(), "{valid:?}");
        }
        assert_eq!(TopicName::validate(""), Err(TopicError::Empty));
        for wildcard in ["+", "#", "a/+", "a/#", "a+", "a#b", "sport/tennis#", "+/a"] {
            assert_eq!(
                TopicName::validate(wildcard),
                Err(TopicError::WildcardInName),
                "{wildcard:?}"
            );
        }
        assert_eq!(
            TopicName::try_from("a\0b"),
            Err(TopicError::String(StringError::NullCharacter))
        );
    }

    /// [MQTT-4.7.3-1]; 3.1.1 [MQTT-4.7.1-2] [MQTT-4.7.1-3], 5.0 [MQTT-4.7.1-1] [MQTT-4.7.1-2]
    #[test]
    fn topic_filter_validation() {
        for valid in [
            "#",
            "+",
            "/",
            "+/+",
            "/+",
            "+/",
            "a//b",
            "sport/#",
            "sport/tennis/#",
            "sport/+",
            "sport/+/player1",
            "+/tennis/#",
            "$SYS/#",
            "$SYS/+/load",
            "a/b/c",
        ] {
            assert_eq!(TopicFilter::validate(valid), Ok(()), "{valid:?}");
            assert!(TopicFilter::try_from(valid).is_ok(), "{valid:?}");
        }
        assert_eq!(TopicFilter::validate(""), Err(TopicError::Empty));
        for invalid in [
            "sport/tennis#",
            "sport/tennis/#/ranking",
            "sport+",
            "a/b#",
            "a/#/b",
            "a+",
            "+a",
            "#a",
            "##",
            "++",
            "#/",
            "#/a",
            "a/+b/c",
            "a/b+/c",
        ] {
            assert_eq!(
                TopicFilter::validate(invalid),
                Err(TopicError::InvalidWildcard),
                "{invalid:?}"
            );
        }
    }

    /// [MQTT-4.8.2-1] [MQTT-4.8.2-2]
    #[test]
    fn shared_filter_validation() {
        for valid in [
            "$share/g/a/#",
            "$share/g/#",
            "$share/g/+",
            "$share/group/a/b",
        ] {
            assert_eq!(TopicFilter::validate(valid), Ok(()), "{valid:?}");
        }
        for invalid in [
            "$share//a",
            "$share/g",
            "$share/g+/a",
            "$share/g#/a",
            "$share/g/",
        ] {
            assert_eq!(
                TopicFilter::validate(invalid),
                Err(TopicError::InvalidSharedSubscription),
                "{invalid:?}"
            );
        }
        // The inner filter follows the ordinary wildcard rules.
        assert_eq!(
            TopicFilter::validate("$share/g/a#"),
            Err(TopicError::InvalidWildcard)
        );
        // `$share` without the trailing `/` is an ordinary filter.
        assert_eq!(TopicFilter::validate("$share"), Ok(()));
    }

    /// [MQTT-4.8.2-1] [MQTT-4.8.2-2]
    #[test]
    fn shared_parts_and_match_filter() {
        let f = TopicFilter::try_from("$share/group/sport/+/player1").unwrap();
        assert!(f.is_shared());
        assert_eq!(
            f.shared(),
            Some(SharedSubscription {
                share_name: "group",
                filter: "sport/+/player1"
            })
        );
        assert_eq!(f.match_filter(), "sport/+/player1");
        assert!(f.has_wildcards());

        let plain = TopicFilter::try_from("sport/tennis").unwrap();
        assert!(!plain.is_shared());
        assert_eq!(plain.shared(), None);
        assert_eq!(plain.match_filter(), "sport/tennis");
        assert!(!plain.has_wildcards());

        let shared_plain = TopicFilter::try_from("$share/g/a/b").unwrap();
        assert!(!shared_plain.has_wildcards());
        assert!(TopicFilter::try_from("#").unwrap().has_wildcards());
        assert!(TopicFilter::try_from("a/+").unwrap().has_wildcards());
    }

    /// [MQTT-4.7.2-1]; 3.1.1 [MQTT-4.7.1-2] [MQTT-4.7.1-3], 5.0 [MQTT-4.7.1-1] [MQTT-4.7.1-2]
    #[test]
    fn filter_method_matches_inner_filter_of_shared() {
        let t = |s: &str| TopicName::try_from(s).unwrap();
        let f = |s: &str| TopicFilter::try_from(s).unwrap();
        assert!(f("$share/g/sport/#").matches(&t("sport/tennis")));
        assert!(f("$share/g/sport/#").matches(&t("sport")));
        assert!(!f("$share/g/sport/#").matches(&t("$share/g/sport/tennis")));
        assert!(!f("$share/g/#").matches(&t("$SYS/load")));
        assert!(f("$share/g/$SYS/#").matches(&t("$SYS/load")));
        assert!(f("sport/+").matches(&t("sport/tennis")));
        assert!(!f("sport/+").matches(&t("sport/tennis/player1")));
    }

    #[test]
    fn levels_keep_empty_levels() {
        assert!(levels("/a//b/").eq(["", "a", "", "b", ""]));
        assert!(levels("").eq([""]));
        assert!(levels("a").eq(["a"]));
    }

    #[test]
    fn matches_never_panics_on_invalid_input() {
        for (filter, topic) in [
            ("", ""),
            ("", "a"),
            ("a", ""),
            ("#", ""),
            ("+", ""),
            ("a/#/b", "a/x/y"),
            ("a#", "a#"),
            ("a+", "a+"),
            ("+/#", "$"),
            ("/", "/"),
        ] {
            let _ = matches(filter, topic);
        }
        assert!(matches("a+", "a+"), "a wildcard inside a level is literal");
        assert!(!matches("a+", "ab"));
    }
}
