//! The subscription trie: every subscription of the broker, indexed by topic filter level, so
//! that routing a PUBLISH visits only the filters that can match its topic name (MQTT 3.1.1
//! §4.7, MQTT 5.0 §4.7).
//!
//! A [`SubscriptionTrie`] stores, for each topic filter, a `BTreeMap<K, V>` of subscribers: the
//! broker picks `K` (typically the client id, plus the share name of a shared subscription,
//! MQTT 5.0 §4.8.2) and `V` (the subscription options). Shared subscriptions are stored under
//! their inner filter ([`TopicFilter::match_filter`](crate::topic::TopicFilter::match_filter)),
//! with the share name in the key.
//!
//! Matching follows [`topic::matches`](crate::topic::matches) exactly:
//! - `+` matches one level, an empty one included (3.1.1 [MQTT-4.7.1-3], 5.0 [MQTT-4.7.1-2]);
//! - `#` matches its parent and every level below (3.1.1 [MQTT-4.7.1-2], 5.0 [MQTT-4.7.1-1]):
//!   `sport/#` matches `sport`;
//! - a filter whose first level is a wildcard does not match a topic starting with `$`
//!   ([MQTT-4.7.2-1]);
//! - levels compare byte for byte, without normalization ([MQTT-4.7.3-4]); empty levels count.
//!
//! ```
//! use myqtt_proto::broker::trie::SubscriptionTrie;
//!
//! let mut trie = SubscriptionTrie::new();
//! trie.insert("sport/#", "alice", 1u8);
//! trie.insert("sport/+/player1", "bob", 0u8);
//! trie.insert("#", "carol", 2u8);
//!
//! let mut hits = Vec::new();
//! trie.for_each_match("sport/tennis/player1", |filter, client, qos| {
//!     hits.push((filter, *client, *qos));
//! });
//! assert_eq!(
//!     hits,
//!     [("#", "carol", 2), ("sport/#", "alice", 1), ("sport/+/player1", "bob", 0)],
//! );
//!
//! // `#` does not see `$SYS` topics [MQTT-4.7.2-1].
//! let mut count = 0;
//! trie.for_each_match("$SYS/broker/load", |_, _, _| count += 1);
//! assert_eq!(count, 0);
//! ```
//!
//! # Order
//! Iteration ([`SubscriptionTrie::iter`]) and matching visit filters in *trie order*: at each
//! level, the filter ending there, then `…/#`, then the `+` branch, then the literal levels in
//! ascending byte order; the subscribers of one filter come in ascending key order. The order
//! depends only on the set of subscriptions, never on insertion history or a hash seed
//! (DESIGN §1.8), and the matches of a topic come in the same relative order as in `iter()`.
//!
//! # Depth
//! The walks recurse once per filter level (matching only at `+` levels), and dropping the trie
//! recurses through its nodes. The broker bounds the number of topic levels it accepts
//! (DESIGN §1.6), which bounds the stack use here.

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::collections::btree_map;
use alloc::vec;
use alloc::vec::Vec;
use core::iter::FusedIterator;

/// Subscriptions indexed by topic filter level: the broker's routing table (MQTT 3.1.1 §4.7,
/// MQTT 5.0 §4.7).
///
/// Each topic filter holds a `BTreeMap<K, V>` of subscribers. Add with
/// [`insert`](Self::insert) on SUBSCRIBE, drop with [`remove`](Self::remove) on UNSUBSCRIBE or
/// [`remove_key`](Self::remove_key) when a session ends, and route a PUBLISH with
/// [`for_each_match`](Self::for_each_match). Filters should be valid
/// ([`TopicFilter::validate`](crate::topic::TopicFilter::validate)); an invalid one does not
/// panic: a `#` that is not the last level, or a wildcard inside a level, is stored as a
/// literal level, which no valid topic name matches.
#[derive(Clone, Debug)]
pub struct SubscriptionTrie<K, V> {
    /// The level before the first one: every filter has at least one level, so the root's own
    /// `terminal` stays empty.
    root: Node<K, V>,
    /// Number of (filter, key) subscriptions.
    len: usize,
    /// Number of filters with at least one subscriber.
    filters: usize,
}

/// One filter level. Empty nodes (no terminal, no children) are pruned on removal.
#[derive(Clone, Debug)]
struct Node<K, V> {
    /// Subscribers of the filter that ends at this level.
    terminal: Option<Box<Terminal<K, V>>>,
    /// Subscribers of the filter `<this level>/#`; `#` is always the last level.
    hash: Option<Box<Terminal<K, V>>>,
    /// The `+` level below this one.
    plus: Option<Box<Node<K, V>>>,
    /// Literal levels below this one.
    children: BTreeMap<Box<str>, Node<K, V>>,
}

/// The subscribers of one filter, with the filter's full text so matching never rebuilds it.
#[derive(Clone, Debug)]
struct Terminal<K, V> {
    filter: Box<str>,
    subscribers: BTreeMap<K, V>,
}

impl<K, V> Node<K, V> {
    const fn new() -> Self {
        Node {
            terminal: None,
            hash: None,
            plus: None,
            children: BTreeMap::new(),
        }
    }

    fn is_empty(&self) -> bool {
        self.terminal.is_none()
            && self.hash.is_none()
            && self.plus.is_none()
            && self.children.is_empty()
    }
}

impl<K, V> Terminal<K, V> {
    fn visit<'a>(&'a self, f: &mut impl FnMut(&'a str, &'a K, &'a V)) {
        for (key, value) in &self.subscribers {
            f(&self.filter, key, value);
        }
    }
}

/// Splits the first level off `s`: `"a/b/c"` gives `("a", Some("b/c"))`, `"a"` gives
/// `("a", None)` and `"a/"` gives `("a", Some(""))`, the same levels as
/// [`topic::levels`](crate::topic::levels).
fn split_level(s: &str) -> (&str, Option<&str>) {
    match s.split_once('/') {
        Some((level, rest)) => (level, Some(rest)),
        None => (s, None),
    }
}

impl<K: Ord, V> Default for SubscriptionTrie<K, V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: Ord, V> SubscriptionTrie<K, V> {
    /// An empty trie. Does not allocate.
    pub const fn new() -> Self {
        SubscriptionTrie {
            root: Node::new(),
            len: 0,
            filters: 0,
        }
    }

    /// Number of subscriptions: (filter, key) pairs.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are no subscriptions.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of distinct topic filters with at least one subscriber.
    pub fn filter_count(&self) -> usize {
        self.filters
    }

    /// Subscribes `key` to `filter` with `value`, and returns the value it replaces if `key`
    /// was already subscribed to exactly this filter.
    ///
    /// Call it for each topic filter of a SUBSCRIBE once the broker has granted it. A
    /// subscription with an identical filter replaces the existing one (3.1.1 and 5.0
    /// [MQTT-3.8.4-3]); the filter is compared byte for byte ([MQTT-4.7.3-4]). Allocates the
    /// missing levels and, for a new filter, one copy of its text.
    pub fn insert(&mut self, filter: &str, key: K, value: V) -> Option<V> {
        let slot = self.slot_mut(filter);
        let new_filter = slot.is_none();
        let terminal = slot.get_or_insert_with(|| {
            Box::new(Terminal {
                filter: filter.into(),
                subscribers: BTreeMap::new(),
            })
        });
        let replaced = terminal.subscribers.insert(key, value);
        if new_filter {
            self.filters += 1;
        }
        if replaced.is_none() {
            self.len += 1;
        }
        replaced
    }

    /// The terminal slot of `filter`, creating the levels on the way.
    fn slot_mut(&mut self, filter: &str) -> &mut Option<Box<Terminal<K, V>>> {
        let mut node = &mut self.root;
        let mut rest = filter;
        loop {
            let (level, next) = split_level(rest);
            if level == "#" && next.is_none() {
                return &mut node.hash;
            }
            node = if level == "+" {
                node.plus.get_or_insert_with(|| Box::new(Node::new()))
            } else {
                if !node.children.contains_key(level) {
                    node.children.insert(level.into(), Node::new());
                }
                node.children
                    .get_mut(level)
                    .expect("the level was inserted just above if it was missing")
            };
            match next {
                Some(next) => rest = next,
                None => return &mut node.terminal,
            }
        }
    }

    /// The terminal of exactly `filter`, if it has subscribers.
    fn terminal(&self, filter: &str) -> Option<&Terminal<K, V>> {
        let mut node = &self.root;
        let mut rest = filter;
        loop {
            let (level, next) = split_level(rest);
            if level == "#" && next.is_none() {
                return node.hash.as_deref();
            }
            node = if level == "+" {
                node.plus.as_deref()?
            } else {
                node.children.get(level)?
            };
            match next {
                Some(next) => rest = next,
                None => return node.terminal.as_deref(),
            }
        }
    }

    /// The value of `key`'s subscription to exactly `filter` (no wildcard matching: `a/+` is
    /// only the filter `a/+`).
    pub fn get(&self, filter: &str, key: &K) -> Option<&V> {
        self.terminal(filter)?.subscribers.get(key)
    }

    /// Mutable access to the value of `key`'s subscription to exactly `filter`.
    pub fn get_mut(&mut self, filter: &str, key: &K) -> Option<&mut V> {
        let mut node = &mut self.root;
        let mut rest = filter;
        loop {
            let (level, next) = split_level(rest);
            if level == "#" && next.is_none() {
                return node.hash.as_deref_mut()?.subscribers.get_mut(key);
            }
            node = if level == "+" {
                node.plus.as_deref_mut()?
            } else {
                node.children.get_mut(level)?
            };
            match next {
                Some(next) => rest = next,
                None => return node.terminal.as_deref_mut()?.subscribers.get_mut(key),
            }
        }
    }

    /// Unsubscribes `key` from exactly `filter` and returns the removed value.
    ///
    /// Call it for each topic filter of an UNSUBSCRIBE: the filter is compared character by
    /// character with the stored ones, wildcards included (3.1.1 and 5.0 [MQTT-3.10.4-1]).
    /// Levels left without subscriptions are freed.
    pub fn remove(&mut self, filter: &str, key: &K) -> Option<V> {
        let (value, filter_emptied) = remove_in(&mut self.root, filter, key)?;
        self.len -= 1;
        if filter_emptied {
            self.filters -= 1;
        }
        Some(value)
    }

    /// Removes `key` from every filter and returns how many subscriptions it had; levels left
    /// without subscriptions are freed.
    ///
    /// Call it when a session ends (clean start, session expiry). Visits the whole trie.
    pub fn remove_key(&mut self, key: &K) -> usize {
        let mut removed = 0;
        let mut filters_emptied = 0;
        remove_key_in(&mut self.root, key, &mut removed, &mut filters_emptied);
        self.len -= removed;
        self.filters -= filters_emptied;
        removed
    }

    /// Calls `f(filter, key, value)` for every subscription whose filter matches the topic
    /// name `topic` (MQTT 3.1.1 §4.7, MQTT 5.0 §4.7), each exactly once, in trie order (see
    /// the [module docs](self)).
    ///
    /// Call it to route a PUBLISH; `topic` is the PUBLISH's topic name (after topic-alias
    /// resolution). The semantics are those of [`topic::matches`](crate::topic::matches): `+`
    /// is one level, `#` the parent and the rest, and filters starting with a wildcard skip
    /// topics starting with `$` ([MQTT-4.7.2-1]). The walk visits only the literal level of the
    /// topic, the `+` branch and the `#` leaf at each level, and allocates nothing.
    pub fn for_each_match<'a>(&'a self, topic: &str, mut f: impl FnMut(&'a str, &'a K, &'a V)) {
        let root = &self.root;
        let (level, next) = split_level(topic);
        // [MQTT-4.7.2-1]: `#` and `+/...` at the first level do not see `$` topics.
        if !topic.starts_with('$') {
            if let Some(hash) = &root.hash {
                hash.visit(&mut f);
            }
            if let Some(plus) = &root.plus {
                match_in(plus, next, &mut f);
            }
        }
        if let Some(child) = root.children.get(level) {
            match_in(child, next, &mut f);
        }
    }

    /// Every subscription as `(filter, key, value)`, in trie order (see the
    /// [module docs](self)).
    pub fn iter(&self) -> Iter<'_, K, V> {
        let stack = vec![&self.root];
        Iter {
            stack,
            hash_next: None,
            current: None,
        }
    }
}

/// Visits the matches below `node`, which matched the topic levels before `rest` (`None`: the
/// topic is exhausted). Recurses on the `+` branch, loops on the literal one.
fn match_in<'a, K, V>(
    mut node: &'a Node<K, V>,
    mut rest: Option<&str>,
    f: &mut impl FnMut(&'a str, &'a K, &'a V),
) {
    loop {
        let Some(topic) = rest else {
            // The topic ends here: the filter ending here, and `…/#` by the parent rule.
            if let Some(terminal) = &node.terminal {
                terminal.visit(f);
            }
            if let Some(hash) = &node.hash {
                hash.visit(f);
            }
            return;
        };
        if let Some(hash) = &node.hash {
            hash.visit(f);
        }
        let (level, next) = split_level(topic);
        if let Some(plus) = &node.plus {
            match_in(plus, next, f);
        }
        match node.children.get(level) {
            Some(child) => {
                node = child;
                rest = next;
            }
            None => return,
        }
    }
}

/// Removes `key` from `filter` below `node`; returns the value and whether the filter lost its
/// last subscriber. Prunes the levels that become empty.
fn remove_in<K: Ord, V>(node: &mut Node<K, V>, filter: &str, key: &K) -> Option<(V, bool)> {
    let (level, next) = split_level(filter);
    if level == "#" && next.is_none() {
        return remove_from_slot(&mut node.hash, key);
    }
    if level == "+" {
        let child = node.plus.as_deref_mut()?;
        let removed = remove_in_child(child, next, key)?;
        if child.is_empty() {
            node.plus = None;
        }
        Some(removed)
    } else {
        let child = node.children.get_mut(level)?;
        let removed = remove_in_child(child, next, key)?;
        if child.is_empty() {
            node.children.remove(level);
        }
        Some(removed)
    }
}

fn remove_in_child<K: Ord, V>(
    child: &mut Node<K, V>,
    next: Option<&str>,
    key: &K,
) -> Option<(V, bool)> {
    match next {
        Some(next) => remove_in(child, next, key),
        None => remove_from_slot(&mut child.terminal, key),
    }
}

fn remove_from_slot<K: Ord, V>(
    slot: &mut Option<Box<Terminal<K, V>>>,
    key: &K,
) -> Option<(V, bool)> {
    let terminal = slot.as_deref_mut()?;
    let value = terminal.subscribers.remove(key)?;
    let emptied = terminal.subscribers.is_empty();
    if emptied {
        *slot = None;
    }
    Some((value, emptied))
}

fn remove_key_in<K: Ord, V>(
    node: &mut Node<K, V>,
    key: &K,
    removed: &mut usize,
    filters_emptied: &mut usize,
) {
    for slot in [&mut node.terminal, &mut node.hash] {
        if let Some((_, emptied)) = remove_from_slot(slot, key) {
            *removed += 1;
            *filters_emptied += usize::from(emptied);
        }
    }
    if let Some(plus) = node.plus.as_deref_mut() {
        remove_key_in(plus, key, removed, filters_emptied);
        if plus.is_empty() {
            node.plus = None;
        }
    }
    node.children.retain(|_, child| {
        remove_key_in(child, key, removed, filters_emptied);
        !child.is_empty()
    });
}

/// Iterator over every subscription of a [`SubscriptionTrie`] as `(filter, key, value)`, in
/// trie order; from [`SubscriptionTrie::iter`].
#[derive(Debug)]
pub struct Iter<'a, K, V> {
    /// Nodes still to visit, the next one on top.
    stack: Vec<&'a Node<K, V>>,
    /// The `…/#` filter of the node being visited, after its own filter.
    hash_next: Option<&'a Terminal<K, V>>,
    /// The filter being yielded and the rest of its subscribers.
    current: Option<(&'a str, btree_map::Iter<'a, K, V>)>,
}

impl<'a, K, V> Iterator for Iter<'a, K, V> {
    type Item = (&'a str, &'a K, &'a V);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some((filter, subscribers)) = &mut self.current {
                if let Some((key, value)) = subscribers.next() {
                    return Some((filter, key, value));
                }
                self.current = None;
            }
            if let Some(hash) = self.hash_next.take() {
                self.current = Some((&hash.filter, hash.subscribers.iter()));
                continue;
            }
            let node = self.stack.pop()?;
            // Pushed in reverse: `+` first, then the literal levels in ascending order.
            self.stack.extend(node.children.values().rev());
            if let Some(plus) = node.plus.as_deref() {
                self.stack.push(plus);
            }
            self.hash_next = node.hash.as_deref();
            if let Some(terminal) = node.terminal.as_deref() {
                self.current = Some((&terminal.filter, terminal.subscribers.iter()));
            }
        }
    }
}

impl<K, V> FusedIterator for Iter<'_, K, V> {}

impl<'a, K: Ord, V> IntoIterator for &'a SubscriptionTrie<K, V> {
    type Item = (&'a str, &'a K, &'a V);
    type IntoIter = Iter<'a, K, V>;

    fn into_iter(self) -> Iter<'a, K, V> {
        self.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topic::matches;
    use alloc::string::{String, ToString};

    /// `(filter, key, value)` triples, owned.
    type Hits = Vec<(String, u32, u32)>;

    fn matched(trie: &SubscriptionTrie<u32, u32>, topic: &str) -> Hits {
        let mut hits = Vec::new();
        trie.for_each_match(topic, |f, k, v| hits.push((f.to_string(), *k, *v)));
        hits
    }

    fn naive(trie: &SubscriptionTrie<u32, u32>, topic: &str) -> Hits {
        trie.iter()
            .filter(|(f, _, _)| matches(f, topic))
            .map(|(f, k, v)| (f.to_string(), *k, *v))
            .collect()
    }

    const FILTERS: &[&str] = &[
        "#", "+", "+/+", "+/#", "a", "a/#", "a/+", "a/b", "a/b/#", "a//b", "a/+/b", "/a", "/+",
        "/#", "$SYS/#", "$SYS/+", "$SYS", "+/b", "a/", "",
    ];

    const TOPICS: &[&str] = &[
        "a", "a/", "a/b", "a//b", "a/c/b", "/a", "/", "//", "$SYS", "$SYS/x", "$SYS/", "b", "A",
        "a/b/c", "",
    ];

    fn filled() -> SubscriptionTrie<u32, u32> {
        let mut trie = SubscriptionTrie::new();
        for (i, filter) in FILTERS.iter().enumerate() {
            let i = u32::try_from(i).unwrap();
            assert_eq!(trie.insert(filter, i % 3, i), None);
            assert_eq!(trie.insert(filter, 7, i + 100), None);
        }
        trie
    }

    /// [MQTT-4.7.1-2] [MQTT-4.7.1-3] (3.1.1) [MQTT-4.7.2-1]: the trie agrees with `matches`.
    #[test]
    fn matches_like_the_reference_matcher() {
        let trie = filled();
        assert_eq!(trie.len(), 2 * FILTERS.len());
        assert_eq!(trie.filter_count(), FILTERS.len());
        for topic in TOPICS {
            assert_eq!(
                matched(&trie, topic),
                naive(&trie, topic),
                "topic {topic:?}"
            );
        }
    }

    #[test]
    fn trie_order() {
        let trie = filled();
        let filters: Vec<&str> = trie.iter().map(|(f, _, _)| f).step_by(2).collect();
        assert_eq!(
            filters,
            [
                "#", "+", "+/#", "+/+", "+/b", "", "/#", "/+", "/a", "$SYS", "$SYS/#", "$SYS/+",
                "a", "a/#", "a/+", "a/+/b", "a/", "a//b", "a/b", "a/b/#",
            ]
        );
        let keys: Vec<u32> = trie.iter().map(|(_, k, _)| *k).take(2).collect();
        assert_eq!(keys, [0, 7], "keys ascend within a filter");
    }

    /// [MQTT-3.8.4-3]: an identical filter replaces the subscription.
    #[test]
    fn insert_replaces_and_get_finds_exact_filters() {
        let mut trie = SubscriptionTrie::new();
        assert_eq!(trie.insert("a/+", 1u32, 10u32), None);
        assert_eq!(trie.insert("a/+", 1, 11), Some(10));
        assert_eq!(trie.len(), 1);
        assert_eq!(trie.get("a/+", &1), Some(&11));
        assert_eq!(trie.get("a/b", &1), None, "get does not match wildcards");
        assert_eq!(trie.get("a", &1), None);
        assert_eq!(trie.get("a/+/#", &1), None);
        *trie.get_mut("a/+", &1).unwrap() = 12;
        assert_eq!(trie.get("a/+", &1), Some(&12));
        assert_eq!(trie.get_mut("a/#", &1), None);
        trie.insert("a/#", 1, 1);
        *trie.get_mut("a/#", &1).unwrap() = 2;
        assert_eq!(trie.get("a/#", &1), Some(&2));
    }

    /// [MQTT-3.10.4-1]: removal compares filters character by character.
    #[test]
    fn remove_prunes_every_level() {
        let mut trie = filled();
        assert_eq!(trie.remove("a/b", &99), None);
        assert_eq!(trie.remove("a/x", &7), None);
        assert_eq!(trie.remove("A/b", &7), None);
        assert_eq!(trie.remove("a/+/#", &7), None);
        for (i, filter) in FILTERS.iter().enumerate() {
            let i = u32::try_from(i).unwrap();
            assert_eq!(trie.remove(filter, &(i % 3)), Some(i));
            assert_eq!(trie.remove(filter, &(i % 3)), None);
        }
        assert_eq!(trie.len(), FILTERS.len());
        assert_eq!(trie.filter_count(), FILTERS.len());
        for filter in FILTERS.iter().rev() {
            assert!(trie.remove(filter, &7).is_some());
        }
        assert!(trie.is_empty());
        assert_eq!(trie.filter_count(), 0);
        assert!(trie.root.is_empty(), "every level was freed");
    }

    #[test]
    fn remove_key_everywhere() {
        let mut trie = filled();
        assert_eq!(trie.remove_key(&7), FILTERS.len());
        assert_eq!(trie.remove_key(&7), 0);
        assert_eq!(trie.len(), FILTERS.len());
        assert_eq!(trie.filter_count(), FILTERS.len());
        assert!(trie.iter().all(|(_, k, _)| *k != 7));
        let zeros = trie.iter().filter(|(_, k, _)| **k == 0).count();
        assert_eq!(trie.remove_key(&0), zeros);
        assert_eq!(trie.filter_count(), FILTERS.len() - zeros);
        trie.remove_key(&1);
        trie.remove_key(&2);
        assert!(trie.is_empty());
        assert_eq!(trie.filter_count(), 0);
        assert!(trie.root.is_empty());
    }

    /// [MQTT-4.7.2-1]
    #[test]
    fn dollar_topics_skip_leading_wildcards() {
        let mut trie = SubscriptionTrie::new();
        for (i, filter) in ["#", "+/x", "+", "$SYS/#", "$SYS/+", "$SYS/x/#"]
            .into_iter()
            .enumerate()
        {
            trie.insert(filter, u32::try_from(i).unwrap(), 0);
        }
        let hits: Vec<String> = matched(&trie, "$SYS/x").into_iter().map(|h| h.0).collect();
        assert_eq!(hits, ["$SYS/#", "$SYS/+", "$SYS/x/#"]);
        let hits: Vec<String> = matched(&trie, "SYS/x").into_iter().map(|h| h.0).collect();
        assert_eq!(hits, ["#", "+/x"]);
    }

    #[test]
    fn invalid_filters_do_not_panic() {
        let mut trie = SubscriptionTrie::new();
        for filter in ["a/#/b", "a+", "#a", "##", "a/#/#"] {
            trie.insert(filter, 0u32, 0u32);
        }
        assert_eq!(trie.filter_count(), 5);
        // Stored as literal levels, which no valid topic name (no `+`, no `#`) matches.
        for topic in ["a/x/b", "a", "a/b", "a/b/c", "b"] {
            assert_eq!(matched(&trie, topic), Hits::new(), "topic {topic:?}");
        }
        for filter in ["a/#/b", "a+", "#a", "##", "a/#/#"] {
            assert!(trie.remove(filter, &0).is_some());
        }
        assert!(trie.root.is_empty());
    }
}
