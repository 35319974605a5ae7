//! Topic filter matching (MQTT 3.1.1 §4.7, MQTT 5.0 §4.7, §4.8.2): the counterpart of MyQtt's
//! `test_00_d` (matching table and invalid filters), plus a property test against a naive
//! recursive matcher.
//!
//! Statement ids differ between the versions for the wildcard rules: `#` is 3.1.1
//! [MQTT-4.7.1-2] / 5.0 [MQTT-4.7.1-1], `+` is 3.1.1 [MQTT-4.7.1-3] / 5.0 [MQTT-4.7.1-2];
//! [MQTT-4.7.2-1] and [MQTT-4.7.3-x] are the same in both.

use myqtt_proto::topic::{SharedSubscription, TopicError, TopicFilter, TopicName, matches};
use proptest::prelude::*;

/// One row of a matching table: filter, topic name, expected outcome.
type Case = (&'static str, &'static str, bool);

/// Asserts every row with the free function and with [`TopicFilter::matches`], after checking
/// that the row only uses valid filters and topic names (so it tests the spec, not the
/// unspecified behaviour on invalid input).
fn check_table(table: &[Case]) {
    for &(filter, topic, expected) in table {
        let f = TopicFilter::try_from(filter)
            .unwrap_or_else(|e| panic!("table filter {filter:?} is invalid: {e}"));
        let t = TopicName::try_from(topic)
            .unwrap_or_else(|e| panic!("table topic {topic:?} is invalid: {e}"));
        assert_eq!(
            matches(filter, topic),
            expected,
            "matches({filter:?}, {topic:?})"
        );
        assert_eq!(
            f.matches(&t),
            expected,
            "TopicFilter({filter:?}).matches({topic:?})"
        );
    }
}

/// `+` matches exactly one level, an empty one included (spec examples of §4.7.1.3 first).
const SINGLE_LEVEL: &[Case] = &[
    ("sport/tennis/+", "sport/tennis/player1", true),
    ("sport/tennis/+", "sport/tennis/player2", true),
    ("sport/tennis/+", "sport/tennis/player1/ranking", false),
    ("sport/+", "sport", false),
    ("sport/+", "sport/", true),
    ("+/+", "/finance", true),
    ("/+", "/finance", true),
    ("+", "/finance", false),
    ("+", "sport", true),
    ("+/tennis/#", "sport/tennis/player1", true),
    ("sport/+/player1", "sport/tennis/player1", true),
    ("sport/+/player1", "sport/tennis/player2", false),
    ("sport/+/player1", "sport/player1", false),
    ("+/+/+", "a/b/c", true),
    ("+/+/+", "a/b", false),
    ("+/+", "a/b/c", false),
    ("+/b", "a/b", true),
    ("+/b", "a/c", false),
    ("a/+/c", "a//c", true),
    ("+/+", "/", true),
];

/// 3.1.1 [MQTT-4.7.1-3], 5.0 [MQTT-4.7.1-2]
#[test]
fn single_level_wildcard_matches_exactly_one_level() {
    check_table(SINGLE_LEVEL);
}

/// `#` matches its parent and any number of child levels (spec examples of §4.7.1.2 first).
const MULTI_LEVEL: &[Case] = &[
    ("sport/tennis/player1/#", "sport/tennis/player1", true),
    (
        "sport/tennis/player1/#",
        "sport/tennis/player1/ranking",
        true,
    ),
    (
        "sport/tennis/player1/#",
        "sport/tennis/player1/score/wimbledon",
        true,
    ),
    ("sport/#", "sport", true),
    ("sport/#", "sport/", true),
    ("sport/#", "sport/tennis/player1", true),
    ("sport/#", "sports", false),
    ("sport/#", "sportx/tennis", false),
    ("sport/tennis/#", "sport", false),
    ("sport/tennis/#", "sport/football/x", false),
    ("#", "sport/tennis/player1", true),
    ("#", "a", true),
    ("#", "/", true),
    ("#", "/a", true),
    ("a/b/#", "a/b/c/d/e/f", true),
    ("+/#", "a", true),
    ("+/#", "a/b/c", true),
    ("/#", "/a/b", true),
    ("/#", "a", false),
];

/// 3.1.1 [MQTT-4.7.1-2], 5.0 [MQTT-4.7.1-1]
#[test]
fn multi_level_wildcard_matches_parent_and_children() {
    check_table(MULTI_LEVEL);
}

/// A zero-length level is a level: `a//b` has three, `/a` two (§4.7.1.1).
const EMPTY_LEVELS: &[Case] = &[
    ("a//b", "a//b", true),
    ("a//b", "a/b", false),
    ("a/b", "a//b", false),
    ("/a", "/a", true),
    ("/a", "a", false),
    ("a", "/a", false),
    ("a/", "a", false),
    ("a", "a/", false),
    ("a/", "a/", true),
    ("/", "/", true),
    ("//", "/", false),
    ("/", "//", false),
    ("a/+/b", "a//b", true),
    ("+/a", "/a", true),
    ("/finance", "/finance", true),
    ("finance", "/finance", false),
];

/// Empty levels are neither collapsed nor dropped: no normalization [MQTT-4.7.3-4].
#[test]
fn empty_levels_and_leading_slash_are_significant() {
    check_table(EMPTY_LEVELS);
}

/// `$` topics and filters starting with a wildcard (spec examples of §4.7.2 first).
const DOLLAR: &[Case] = &[
    ("#", "$SYS", false),
    ("#", "$SYS/broker/load", false),
    ("+/monitor/Clients", "$SYS/monitor/Clients", false),
    ("$SYS/#", "$SYS/monitor/Clients", true),
    ("$SYS/#", "$SYS", true),
    ("$SYS/monitor/+", "$SYS/monitor/Clients", true),
    ("$SYS/+", "$SYS/load", true),
    ("+/#", "$SYS/x", false),
    ("+", "$SYS", false),
    ("+", "$", false),
    ("#", "$", false),
    ("$", "$", true),
    ("a/#", "a/$b", true),
    ("a/+", "a/$b", true),
    ("+/+", "a/$b", true),
    ("#", "a$", true),
];

/// [MQTT-4.7.2-1]
#[test]
fn dollar_topics_are_not_matched_by_leading_wildcards() {
    check_table(DOLLAR);
}

/// Byte-wise comparison: case, combining characters and spaces all count.
const CASE_AND_NORMALIZATION: &[Case] = &[
    ("ACCOUNTS", "ACCOUNTS", true),
    ("ACCOUNTS", "Accounts", false),
    ("accounts", "Accounts", false),
    ("Sport/+", "sport/tennis", false),
    ("sport/+", "Sport/tennis", false),
    ("$sys/#", "$SYS/broker", false),
    ("caf\u{e9}", "cafe\u{301}", false),
    ("cafe\u{301}", "cafe\u{301}", true),
    ("a ", "a", false),
    (" /a", " /a", true),
];

/// [MQTT-4.7.3-4]
#[test]
fn matching_is_case_sensitive_without_normalization() {
    check_table(CASE_AND_NORMALIZATION);
}

/// Shared subscriptions match with the filter after the share name (MQTT 5.0 §4.8.2).
const SHARED: &[Case] = &[
    ("$share/g/sport/#", "sport/tennis", true),
    ("$share/g/sport/#", "sport", true),
    ("$share/g/+", "a", true),
    ("$share/g/+", "a/b", false),
    ("$share/g/#", "$SYS/x", false),
    ("$share/g/$SYS/#", "$SYS/x", true),
    ("$share/g/a/b", "a/b", true),
    ("$share/g/a/b", "$share/g/a/b", false),
    ("$share/group/+/b", "/b", true),
];

/// Shared filters are not matched literally but by their inner filter, including the `$` rule
/// on the inner filter (MQTT 5.0 §4.8.2). [MQTT-4.7.2-1]
#[test]
fn shared_filters_match_with_their_inner_filter() {
    for &(filter, topic, expected) in SHARED {
        let f = TopicFilter::try_from(filter).unwrap();
        let t = TopicName::try_from(topic).unwrap();
        assert!(f.is_shared(), "{filter}");
        assert_eq!(f.matches(&t), expected, "{filter:?} vs {topic:?}");
        assert_eq!(matches(f.match_filter(), topic), expected);
    }
    // The free function takes a filter literally.
    assert!(matches("$share/g/a/b", "$share/g/a/b"));
    assert!(!matches("$share/g/a/b", "a/b"));
}

/// [MQTT-4.8.2-1] [MQTT-4.8.2-2]
#[test]
fn shared_filter_splits_into_share_name_and_filter() {
    let f = TopicFilter::try_from("$share/consumer1/sport/tennis/+").unwrap();
    assert_eq!(
        f.shared(),
        Some(SharedSubscription {
            share_name: "consumer1",
            filter: "sport/tennis/+",
        })
    );
    assert_eq!(f.match_filter(), "sport/tennis/+");
    assert!(f.has_wildcards());
    let plain = TopicFilter::try_from("$SYS/broker").unwrap();
    assert_eq!(plain.shared(), None);
    assert_eq!(plain.match_filter(), "$SYS/broker");
    assert!(!plain.has_wildcards());
    for bad in [
        "$share//a",
        "$share/g",
        "$share/g+/a",
        "$share/g#/a",
        "$share/g/",
    ] {
        assert_eq!(
            TopicFilter::try_from(bad),
            Err(TopicError::InvalidSharedSubscription),
            "{bad:?}"
        );
    }
}

/// MyQtt test_00_d's invalid filters, and the other misplaced wildcards.
/// 3.1.1 [MQTT-4.7.1-2] [MQTT-4.7.1-3], 5.0 [MQTT-4.7.1-1] [MQTT-4.7.1-2]; [MQTT-4.7.3-1]
#[test]
fn misplaced_wildcards_make_a_filter_invalid() {
    for bad in [
        "sport/tennis#",
        "sport/tennis/#/ranking",
        "sport+",
        "a/b#",
        "a/#/b",
        "a+",
        "+a",
        "#/",
        "#/#",
        "a/++",
    ] {
        assert_eq!(
            TopicFilter::try_from(bad),
            Err(TopicError::InvalidWildcard),
            "{bad:?}"
        );
    }
    assert_eq!(TopicFilter::try_from(""), Err(TopicError::Empty));
    for good in ["#", "+", "+/+", "sport/#", "/+", "+/tennis/#"] {
        assert!(TopicFilter::try_from(good).is_ok(), "{good:?}");
    }
}

/// Topic names never carry wildcards; matching a name against itself always succeeds.
/// 3.1.1 [MQTT-4.7.1-1], 5.0 [MQTT-4.7.0-1]; [MQTT-3.3.2-2] [MQTT-4.7.3-1]
#[test]
fn topic_names_reject_wildcards() {
    for bad in ["+", "#", "sport/+", "sport/#", "a+b", "a#"] {
        assert_eq!(
            TopicName::try_from(bad),
            Err(TopicError::WildcardInName),
            "{bad:?}"
        );
    }
    assert_eq!(TopicName::try_from(""), Err(TopicError::Empty));
    for name in ["$SYS", "a//b", "/", "sport/tennis"] {
        assert!(matches(name, name), "{name:?}");
    }
}

#[test]
fn tables_have_at_least_55_cases() {
    let total = SINGLE_LEVEL.len()
        + MULTI_LEVEL.len()
        + EMPTY_LEVELS.len()
        + DOLLAR.len()
        + CASE_AND_NORMALIZATION.len()
        + SHARED.len();
    assert!(total >= 55, "{total}");
}

// ---------------------------------------------------------------------------------------------
// Property test against a naive matcher.

/// The reference: split both on `/` and match recursively, with `#` consuming zero or more
/// levels by backtracking, and the `$` rule applied first ([MQTT-4.7.2-1]).
fn naive_matches(filter: &str, topic: &str) -> bool {
    fn rec(f: &[&str], t: &[&str]) -> bool {
        match (f.first(), t.first()) {
            (None, None) => true,
            (Some(&"#"), _) => rec(&f[1..], t) || (!t.is_empty() && rec(f, &t[1..])),
            (Some(&"+"), Some(_)) => rec(&f[1..], &t[1..]),
            (Some(fl), Some(tl)) => fl == tl && rec(&f[1..], &t[1..]),
            _ => false,
        }
    }
    let starts_with_wildcard = filter.starts_with('+') || filter.starts_with('#');
    if starts_with_wildcard && topic.starts_with('$') {
        return false;
    }
    let f: Vec<&str> = filter.split('/').collect();
    let t: Vec<&str> = topic.split('/').collect();
    rec(&f, &t)
}

/// Topic levels over {a, b, $}.
fn topic_level() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["", "a", "b", "$", "$a", "ab", "a$"]).prop_map(String::from)
}

/// A valid topic name over {a, b, $, /}.
fn topic_name() -> impl Strategy<Value = String> {
    prop::collection::vec(topic_level(), 1..5)
        .prop_map(|levels| levels.join("/"))
        .prop_filter("topic names are not empty", |t| !t.is_empty())
}

/// A valid topic filter over {a, b, $, +, #, /}: levels, `+` alone in a level, `#` only last.
fn topic_filter() -> impl Strategy<Value = String> {
    let level = prop_oneof![3 => topic_level(), 1 => Just("+".to_owned())];
    (prop::collection::vec(level, 0..5), any::<bool>())
        .prop_map(|(mut levels, hash)| {
            if hash || levels.is_empty() {
                levels.push("#".to_owned());
            }
            levels.join("/")
        })
        .prop_filter("topic filters are not empty", |f| !f.is_empty())
}

/// A topic name made from `filter` by replacing `+` with one level and `#` with zero or more:
/// it matches unless the `$` rule forbids it.
fn instance_of(filter: String) -> impl Strategy<Value = (String, String)> {
    let n = filter.split('/').count();
    (
        prop::collection::vec(topic_level(), n),
        prop::collection::vec(topic_level(), 0..3),
    )
        .prop_map(move |(fills, tail)| {
            let mut out: Vec<String> = Vec::new();
            for (level, fill) in filter.split('/').zip(fills) {
                match level {
                    "+" => out.push(fill),
                    "#" => out.extend(tail.iter().cloned()),
                    other => out.push(other.to_owned()),
                }
            }
            let mut topic = out.join("/");
            if topic.is_empty() {
                topic.push('a');
            }
            (filter.clone(), topic)
        })
}

/// A filter and a topic: either independent, or the topic built from the filter.
fn filter_and_topic() -> impl Strategy<Value = (String, String)> {
    prop_oneof![
        (topic_filter(), topic_name()),
        topic_filter().prop_flat_map(instance_of),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    /// `matches` agrees with the naive recursive matcher on valid filters and topic names.
    /// 3.1.1 [MQTT-4.7.1-2] [MQTT-4.7.1-3], 5.0 [MQTT-4.7.1-1] [MQTT-4.7.1-2]; [MQTT-4.7.2-1]
    #[test]
    fn matches_agrees_with_naive_matcher((filter, topic) in filter_and_topic()) {
        prop_assert_eq!(TopicFilter::validate(&filter), Ok(()), "generated filter {:?}", filter);
        prop_assert_eq!(TopicName::validate(&topic), Ok(()), "generated topic {:?}", topic);
        let expected = naive_matches(&filter, &topic);
        prop_assert_eq!(matches(&filter, &topic), expected, "{:?} vs {:?}", filter, topic);
        let f = TopicFilter::try_from(filter.as_str()).unwrap();
        let t = TopicName::try_from(topic.as_str()).unwrap();
        prop_assert_eq!(f.matches(&t), expected);
    }

    /// The same through a shared subscription: `$share/g/<filter>` matches like `<filter>`
    /// (MQTT 5.0 §4.8.2).
    #[test]
    fn shared_filter_matches_like_its_inner_filter((filter, topic) in filter_and_topic()) {
        let shared = TopicFilter::try_from(format!("$share/g/{filter}").as_str()).unwrap();
        let t = TopicName::try_from(topic.as_str()).unwrap();
        prop_assert_eq!(shared.match_filter(), filter.as_str());
        prop_assert_eq!(shared.matches(&t), naive_matches(&filter, &topic));
    }

    /// Any strings over the small alphabet, valid or not: no panic, and agreement with the
    /// reference whenever both are valid.
    #[test]
    fn matches_never_panics_on_alphabet_strings(
        filter in "[ab$+#/]{0,10}",
        topic in "[ab$+#/]{0,10}",
    ) {
        let got = matches(&filter, &topic);
        if TopicFilter::validate(&filter).is_ok() && TopicName::validate(&topic).is_ok() {
            prop_assert_eq!(got, naive_matches(&filter, &topic), "{:?} vs {:?}", filter, topic);
        }
    }

    /// Arbitrary Unicode strings never make `matches` panic.
    #[test]
    fn matches_never_panics_on_arbitrary_strings(filter in any::<String>(), topic in any::<String>()) {
        let _ = matches(&filter, &topic);
    }
}
