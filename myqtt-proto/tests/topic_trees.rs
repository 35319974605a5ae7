//! The broker's topic trees against the reference matcher (MQTT 3.1.1 §4.7, MQTT 5.0 §4.7):
//! [`SubscriptionTrie::for_each_match`] must visit exactly the subscriptions whose filter
//! [`matches`] the topic name, and [`RetainedTree::for_each_matching`] exactly the stored topics
//! the filter matches, each once, in the order of `iter()`, before and after removals.
//!
//! Statement ids differ between the versions for the wildcard rules: `#` is 3.1.1
//! [MQTT-4.7.1-2] / 5.0 [MQTT-4.7.1-1], `+` is 3.1.1 [MQTT-4.7.1-3] / 5.0 [MQTT-4.7.1-2];
//! [MQTT-4.7.2-1] and [MQTT-4.7.3-4] are the same in both.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};

use myqtt_proto::broker::retained::RetainedTree;
use myqtt_proto::broker::trie::SubscriptionTrie;
use myqtt_proto::topic::{TopicFilter, TopicName, matches};
use proptest::prelude::*;
use proptest::sample::Index;

// ---------------------------------------------------------------------------------------------
// Generators

/// A valid topic filter of 1 to 4 levels over `a`, `b`, `$s`, the empty level, `+` and `#`;
/// `#` only as the last level.
fn filter() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop::sample::select(&["a", "b", "$s", "", "+", "#"][..]),
        1..=4,
    )
    .prop_map(|levels| {
        // Cut after the first `#`: it must be the last level [MQTT-4.7.1-2] (3.1.1).
        let end = levels
            .iter()
            .position(|l| *l == "#")
            .map_or(levels.len(), |i| i + 1);
        levels[..end].join("/")
    })
    .prop_filter("a filter is not empty", |f| !f.is_empty())
}

/// A valid topic name of 1 to 4 levels over `a`, `b`, `$s` and the empty level.
fn topic() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(&["a", "b", "$s", ""][..]), 1..=4)
        .prop_map(|levels| levels.join("/"))
        .prop_filter("a topic name is not empty", |t| !t.is_empty())
}

/// A subscription: filter, key (a stand-in for the client id), value (its options).
fn subscription() -> impl Strategy<Value = (String, u8, u16)> {
    (filter(), 0u8..4, any::<u16>())
}

/// A removal: either an existing entry (picked by the index) or an arbitrary one.
fn removal<T: Strategy>(arbitrary: T) -> impl Strategy<Value = (bool, Index, T::Value)> {
    (any::<bool>(), any::<Index>(), arbitrary)
}

// ---------------------------------------------------------------------------------------------
// Checks

type SubModel = BTreeMap<(String, u8), u16>;

/// Everything observable about `trie` agrees with `model`, and matching every topic of
/// `topics` agrees with the naive matcher.
fn check_trie(
    trie: &SubscriptionTrie<u8, u16>,
    model: &SubModel,
    topics: &[String],
) -> Result<(), TestCaseError> {
    prop_assert_eq!(trie.len(), model.len());
    prop_assert_eq!(trie.is_empty(), model.is_empty());
    let filters: BTreeSet<&str> = model.keys().map(|(f, _)| f.as_str()).collect();
    prop_assert_eq!(trie.filter_count(), filters.len());

    let all: Vec<(&str, &u8, &u16)> = trie.iter().collect();
    let as_model: SubModel = all
        .iter()
        .map(|(f, k, v)| ((f.to_string(), **k), **v))
        .collect();
    prop_assert_eq!(all.len(), as_model.len(), "iter() yields no duplicates");
    prop_assert_eq!(&as_model, model);
    for ((f, k), v) in model {
        prop_assert_eq!(trie.get(f, k), Some(v));
    }

    for topic in topics {
        let mut hits = Vec::new();
        trie.for_each_match(topic, |f, k, v| hits.push((f, *k, *v)));
        let unique: BTreeSet<_> = hits.iter().copied().collect();
        prop_assert_eq!(
            unique.len(),
            hits.len(),
            "duplicates for {:?}: {:?}",
            topic,
            hits
        );
        let expected: Vec<(&str, u8, u16)> = all
            .iter()
            .filter(|(f, _, _)| matches(f, topic))
            .map(|(f, k, v)| (*f, **k, **v))
            .collect();
        // Same set as the naive matcher, and in the order of `iter()`.
        prop_assert_eq!(&hits, &expected, "topic {:?}", topic);
    }
    Ok(())
}

/// Everything observable about `tree` agrees with `model`, and matching every filter of
/// `filters` agrees with naive filtering of the stored topics.
fn check_retained(
    tree: &RetainedTree<u16>,
    model: &BTreeMap<String, u16>,
    filters: &[String],
) -> Result<(), TestCaseError> {
    prop_assert_eq!(tree.len(), model.len());
    prop_assert_eq!(tree.is_empty(), model.is_empty());
    let all: Vec<(&str, &u16)> = tree.iter().collect();
    let as_model: BTreeMap<String, u16> = all.iter().map(|(t, v)| (t.to_string(), **v)).collect();
    prop_assert_eq!(all.len(), as_model.len(), "iter() yields no duplicates");
    prop_assert_eq!(&as_model, model);
    for (t, v) in model {
        prop_assert_eq!(tree.get(t), Some(v));
    }

    for filter in filters {
        let mut found = Vec::new();
        tree.for_each_matching(filter, |t, v| found.push((t, *v)));
        let unique: BTreeSet<_> = found.iter().copied().collect();
        prop_assert_eq!(
            unique.len(),
            found.len(),
            "duplicates for {:?}: {:?}",
            filter,
            found
        );
        let expected: Vec<(&str, u16)> = all
            .iter()
            .filter(|(t, _)| matches(filter, t))
            .map(|(t, v)| (*t, **v))
            .collect();
        prop_assert_eq!(&found, &expected, "filter {:?}", filter);
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Properties

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// The trie matches like the naive matcher, with no duplicates, before and after random
    /// removals; an identical filter replaces the subscription (3.1.1 and 5.0 [MQTT-3.8.4-3]);
    /// removal compares filters character by character, wildcards included (3.1.1 and 5.0
    /// [MQTT-3.10.4-1]).
    /// 3.1.1 [MQTT-4.7.1-2] [MQTT-4.7.1-3], 5.0 [MQTT-4.7.1-1] [MQTT-4.7.1-2]; [MQTT-4.7.2-1]
    #[test]
    fn trie_matches_like_the_naive_matcher(
        subs in prop::collection::vec(subscription(), 0..40),
        topics in prop::collection::vec(topic(), 1..16),
        removals in prop::collection::vec(removal((filter(), 0u8..4)), 0..30),
    ) {
        for t in &topics {
            prop_assert_eq!(TopicName::validate(t), Ok(()));
        }
        let mut trie = SubscriptionTrie::new();
        let mut model = SubModel::new();
        for (f, k, v) in subs {
            prop_assert_eq!(TopicFilter::validate(&f), Ok(()), "generated filter {:?}", f);
            prop_assert_eq!(trie.insert(&f, k, v), model.insert((f, k), v));
        }
        check_trie(&trie, &model, &topics)?;

        for (existing, index, (f, k)) in removals {
            let (f, k) = if existing && !model.is_empty() {
                model.keys().nth(index.index(model.len())).cloned().unwrap()
            } else {
                (f, k)
            };
            prop_assert_eq!(trie.remove(&f, &k), model.remove(&(f.clone(), k)), "remove {:?}", (f, k));
        }
        check_trie(&trie, &model, &topics)?;
    }

    /// `remove_key` drops a key from every filter and counts what it dropped.
    #[test]
    fn trie_remove_key(
        subs in prop::collection::vec(subscription(), 0..40),
        topics in prop::collection::vec(topic(), 1..8),
        key in 0u8..4,
    ) {
        let mut trie = SubscriptionTrie::new();
        let mut model = SubModel::new();
        for (f, k, v) in subs {
            trie.insert(&f, k, v);
            model.insert((f, k), v);
        }
        let before = model.len();
        model.retain(|(_, k), _| *k != key);
        prop_assert_eq!(trie.remove_key(&key), before - model.len());
        check_trie(&trie, &model, &topics)?;
    }

    /// The retained tree returns exactly the stored topics a filter matches, with no
    /// duplicates, before and after removals and `retain`; a new value replaces the topic's
    /// one (the index side of [MQTT-3.3.1-5]).
    /// 3.1.1 [MQTT-4.7.1-2] [MQTT-4.7.1-3], 5.0 [MQTT-4.7.1-1] [MQTT-4.7.1-2]; [MQTT-4.7.2-1]
    #[test]
    fn retained_matches_like_the_naive_matcher(
        entries in prop::collection::vec((topic(), any::<u16>()), 0..40),
        filters in prop::collection::vec(filter(), 1..16),
        removals in prop::collection::vec(removal(topic()), 0..20),
        modulus in 1u16..5,
    ) {
        let mut tree = RetainedTree::new();
        let mut model = BTreeMap::new();
        for (t, v) in entries {
            prop_assert_eq!(TopicName::validate(&t), Ok(()), "generated topic {:?}", t);
            prop_assert_eq!(tree.insert(&t, v), model.insert(t, v));
        }
        check_retained(&tree, &model, &filters)?;

        for (existing, index, t) in removals {
            let t = if existing && !model.is_empty() {
                model.keys().nth(index.index(model.len())).cloned().unwrap()
            } else {
                t
            };
            prop_assert_eq!(tree.remove(&t), model.remove(&t), "remove {:?}", t);
        }
        check_retained(&tree, &model, &filters)?;

        // Expiry-style pruning, also updating the kept values.
        tree.retain(|_, v| {
            *v = v.wrapping_add(1);
            *v % modulus != 0
        });
        model.retain(|_, v| {
            *v = v.wrapping_add(1);
            *v % modulus != 0
        });
        check_retained(&tree, &model, &filters)?;
    }

    /// Inserting then removing everything, in any order, leaves both structures empty.
    #[test]
    fn insert_then_remove_all_leaves_empty(
        subs in prop::collection::vec(subscription(), 0..40).prop_shuffle(),
        order in prop::collection::vec(subscription(), 0..40)
            .prop_flat_map(|v| (Just(v.clone()), Just(v).prop_shuffle())),
        topics in prop::collection::vec(topic(), 1..8),
    ) {
        let (inserted, removed) = order;
        let mut trie = SubscriptionTrie::new();
        for (f, k, v) in subs.iter().chain(&inserted) {
            trie.insert(f, *k, *v);
        }
        for (f, k, _) in removed.iter().chain(&subs) {
            trie.remove(f, k);
        }
        check_trie(&trie, &SubModel::new(), &topics)?;
        prop_assert_eq!(trie.iter().count(), 0);

        let mut tree = RetainedTree::new();
        for (t, _, v) in inserted.iter().map(|(f, k, v)| (f.replace(['+', '#'], "a"), k, v)) {
            tree.insert(&t, *v);
        }
        for t in &topics {
            tree.insert(t, 0);
        }
        for (t, _, _) in removed.iter().map(|(f, k, v)| (f.replace(['+', '#'], "a"), k, v)) {
            tree.remove(&t);
        }
        for t in topics.iter().rev() {
            tree.remove(t);
        }
        prop_assert!(tree.is_empty());
        prop_assert_eq!(tree.iter().count(), 0);
        let filters: Vec<String> = ["#", "+", "+/#", "a/#", "$s/#"].map(String::from).into();
        check_retained(&tree, &BTreeMap::new(), &filters)?;
    }
}

// ---------------------------------------------------------------------------------------------
// Tables

/// One row: filter, topic name, expected outcome.
type Case = (&'static str, &'static str, bool);

/// Checks every row on both trees at once: a trie holding every row's filter under the row's
/// index, and a retained tree holding every row's topic. Also checks each row against
/// [`matches`], so the table tests the spec, not the trees' own idea of it.
fn check_table(table: &[Case]) {
    let mut trie = SubscriptionTrie::new();
    let mut retained = RetainedTree::new();
    for (row, &(filter, topic, expected)) in table.iter().enumerate() {
        TopicFilter::validate(filter).unwrap();
        TopicName::validate(topic).unwrap();
        assert_eq!(
            matches(filter, topic),
            expected,
            "row {row}: matches({filter:?}, {topic:?})"
        );
        trie.insert(filter, row, ());
        retained.insert(topic, ());
    }
    for (row, &(filter, topic, expected)) in table.iter().enumerate() {
        let mut hit = false;
        trie.for_each_match(topic, |f, k, ()| hit |= *k == row && f == filter);
        assert_eq!(hit, expected, "row {row}: trie, {filter:?} vs {topic:?}");
        let mut found = false;
        retained.for_each_matching(filter, |t, ()| found |= t == topic);
        assert_eq!(
            found, expected,
            "row {row}: retained, {filter:?} vs {topic:?}"
        );
    }
}

/// A filter starting with a wildcard never matches a topic name starting with `$`; a `$`
/// filter, or a `$` level after the first, matches normally. [MQTT-4.7.2-1]
#[test]
fn dollar_topics() {
    check_table(&[
        ("#", "$SYS/broker/load", false),
        ("+/broker/load", "$SYS/broker/load", false),
        ("+/+/+", "$SYS/broker/load", false),
        ("+/#", "$SYS/broker/load", false),
        ("$SYS/#", "$SYS/broker/load", true),
        ("$SYS/broker/+", "$SYS/broker/load", true),
        ("$SYS/+/load", "$SYS/broker/load", true),
        ("+/monitor/Clients", "$SYS/monitor/Clients", false),
        ("$SYS/monitor/+", "$SYS/monitor/Clients", true),
        ("#", "$", false),
        ("+", "$", false),
        ("$", "$", true),
        ("$SYS", "$SYS", true),
        ("#", "SYS/broker", true),
        ("+", "a$", true),
        ("a/#", "a/$b", true),
        ("a/+", "a/$b", true),
        ("#", "/$SYS", true),
    ]);
}

/// `#` matches its parent level and everything below it.
/// 3.1.1 [MQTT-4.7.1-2], 5.0 [MQTT-4.7.1-1]
#[test]
fn multi_level_wildcard_and_parent() {
    check_table(&[
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
        ("sport/#", "sports", false),
        ("sport/tennis/#", "sport", false),
        ("#", "sport", true),
        ("#", "/", true),
        ("+/#", "sport", true),
        ("+/+/#", "sport", false),
        ("sport/+", "sport", false),
        ("sport/+", "sport/", true),
    ]);
}

/// Empty levels are levels: `/finance` has two, `a//b` three.
/// 3.1.1 [MQTT-4.7.1-3], 5.0 [MQTT-4.7.1-2]
#[test]
fn empty_levels() {
    check_table(&[
        ("+/+", "/finance", true),
        ("/+", "/finance", true),
        ("+", "/finance", false),
        ("a/+/b", "a//b", true),
        ("a//b", "a//b", true),
        ("a/b", "a//b", false),
        ("a/+", "a/", true),
        ("a", "a/", false),
        ("a/", "a", false),
        ("+/+", "/", true),
        ("/", "/", true),
        ("+", "/", false),
        ("//#", "/", true),
        ("/#", "//", true),
    ]);
}

/// Matching is case-sensitive and byte-wise, without normalization. [MQTT-4.7.3-4]
#[test]
fn case_sensitive() {
    check_table(&[
        ("ACCOUNTS", "Accounts", false),
        ("Accounts", "Accounts", true),
        ("a/B", "a/b", false),
        ("+/B", "a/b", false),
        ("caf\u{e9}", "cafe\u{301}", false),
        ("caf\u{e9}", "caf\u{e9}", true),
    ]);
}

/// Removing a subscription leaves the others of the same filter and the other filters alone;
/// a removed key no longer receives. 3.1.1 and 5.0 [MQTT-3.10.4-1]
#[test]
fn unsubscribe_is_exact() {
    let mut trie = SubscriptionTrie::new();
    trie.insert("a/+", "alice", 1);
    trie.insert("a/+", "bob", 2);
    trie.insert("a/b", "alice", 3);
    assert_eq!(trie.remove("a/b/#", &"alice"), None);
    assert_eq!(trie.remove("a/#", &"alice"), None);
    assert_eq!(trie.remove("a/+", &"alice"), Some(1));
    let mut hits = Vec::new();
    trie.for_each_match("a/b", |f, k, v| hits.push((f, *k, *v)));
    assert_eq!(hits, [("a/+", "bob", 2), ("a/b", "alice", 3)]);
    assert_eq!((trie.len(), trie.filter_count()), (2, 2));
}
