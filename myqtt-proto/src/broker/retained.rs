//! Retained messages indexed by topic name level, so that a new subscription finds the retained
//! messages its topic filter matches without scanning them all (MQTT 3.1.1 §3.3.1.3 and §4.7,
//! MQTT 5.0 §3.3.1.3 and §4.7).
//!
//! A [`RetainedTree`] holds at most one value per topic name: the broker stores the last
//! retained message of each topic there, replacing the previous one (3.1.1 and 5.0
//! [MQTT-3.3.1-5]) and removing it when a retained PUBLISH has an empty payload (3.1.1
//! [MQTT-3.3.1-10], 5.0 [MQTT-3.3.1-6]). Those decisions are the broker's; this module is the
//! index.
//!
//! [`RetainedTree::for_each_matching`] walks the tree guided by a topic filter, with the
//! semantics of [`topic::matches`](crate::topic::matches):
//! - `+` takes every child at its level, an empty level included (3.1.1 [MQTT-4.7.1-3], 5.0
//!   [MQTT-4.7.1-2]);
//! - `#` takes the whole subtree, the parent level included (3.1.1 [MQTT-4.7.1-2], 5.0
//!   [MQTT-4.7.1-1]): `sport/#` finds `sport`;
//! - a wildcard in the first level does not descend into first levels starting with `$`
//!   ([MQTT-4.7.2-1]), so `#` does not return `$SYS/...`;
//! - levels compare byte for byte ([MQTT-4.7.3-4]); empty levels count.
//!
//! ```
//! use myqtt_proto::broker::retained::RetainedTree;
//!
//! let mut retained = RetainedTree::new();
//! retained.insert("sport", "scores");
//! retained.insert("sport/tennis/player1", "ace");
//! retained.insert("$SYS/broker/uptime", "42");
//!
//! let mut found = Vec::new();
//! retained.for_each_matching("sport/#", |topic, message| found.push((topic, *message)));
//! assert_eq!(found, [("sport", "scores"), ("sport/tennis/player1", "ace")]);
//!
//! let mut all = 0;
//! retained.for_each_matching("#", |_, _| all += 1);
//! assert_eq!(all, 2, "`#` does not see $SYS [MQTT-4.7.2-1]");
//! ```
//!
//! # Order
//! Iteration and matching visit topics in *level order*: a topic before the topics below it,
//! sibling levels in ascending byte order. The order depends only on the stored topics
//! (DESIGN §1.8), and the matches of a filter come in the same relative order as in
//! [`RetainedTree::iter`].
//!
//! # Depth
//! The walks recurse once per topic level, and dropping the tree recurses through its nodes.
//! The broker bounds the number of topic levels it accepts (DESIGN §1.6), which bounds the
//! stack use here.

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::vec;
use alloc::vec::Vec;
use core::iter::FusedIterator;

/// One value per topic name, indexed by level for wildcard lookups: the broker's retained
/// messages (MQTT 3.1.1 §3.3.1.3, MQTT 5.0 §3.3.1.3).
///
/// Store with [`insert`](Self::insert) on a retained PUBLISH, clear with
/// [`remove`](Self::remove) on a retained PUBLISH with an empty payload, expire with
/// [`retain`](Self::retain), and answer a new subscription with
/// [`for_each_matching`](Self::for_each_matching). Keys should be valid topic names
/// ([`TopicName::validate`](crate::topic::TopicName::validate)): no wildcards. Any string is
/// stored without panicking; a stored `+` or `#` level is only reached by that literal level
/// of a filter.
#[derive(Clone, Debug)]
pub struct RetainedTree<V> {
    /// The level before the first one: every topic has at least one level, so the root's own
    /// entry stays empty.
    root: Node<V>,
    /// Number of stored topics.
    len: usize,
}

/// One topic level. Empty nodes (no entry, no children) are pruned on removal.
#[derive(Clone, Debug)]
struct Node<V> {
    /// The value of the topic that ends at this level, with the topic's full text.
    entry: Option<Box<Entry<V>>>,
    /// The levels below this one.
    children: BTreeMap<Box<str>, Node<V>>,
}

#[derive(Clone, Debug)]
struct Entry<V> {
    topic: Box<str>,
    value: V,
}

impl<V> Node<V> {
    const fn new() -> Self {
        Node {
            entry: None,
            children: BTreeMap::new(),
        }
    }

    fn is_empty(&self) -> bool {
        self.entry.is_none() && self.children.is_empty()
    }

    fn visit<'a>(&'a self, f: &mut impl FnMut(&'a str, &'a V)) {
        if let Some(entry) = &self.entry {
            f(&entry.topic, &entry.value);
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

impl<V> Default for RetainedTree<V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<V> RetainedTree<V> {
    /// An empty tree. Does not allocate.
    pub const fn new() -> Self {
        RetainedTree {
            root: Node::new(),
            len: 0,
        }
    }

    /// Number of stored topics.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no topic is stored.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Stores `value` for `topic` and returns the value it replaces.
    ///
    /// Call it for a PUBLISH with RETAIN set and a non-empty payload: the new message replaces
    /// the topic's retained message ([MQTT-3.3.1-5]). Allocates the missing levels and, for a
    /// new topic, one copy of its text.
    pub fn insert(&mut self, topic: &str, value: V) -> Option<V> {
        let mut node = &mut self.root;
        let mut rest = topic;
        loop {
            let (level, next) = split_level(rest);
            if !node.children.contains_key(level) {
                node.children.insert(level.into(), Node::new());
            }
            node = node
                .children
                .get_mut(level)
                .expect("the level was inserted just above if it was missing");
            match next {
                Some(next) => rest = next,
                None => break,
            }
        }
        match &mut node.entry {
            Some(entry) => Some(core::mem::replace(&mut entry.value, value)),
            None => {
                node.entry = Some(Box::new(Entry {
                    topic: topic.into(),
                    value,
                }));
                self.len += 1;
                None
            }
        }
    }

    /// The node of exactly `topic`.
    fn node(&self, topic: &str) -> Option<&Node<V>> {
        let mut node = &self.root;
        let mut rest = topic;
        loop {
            let (level, next) = split_level(rest);
            node = node.children.get(level)?;
            match next {
                Some(next) => rest = next,
                None => return Some(node),
            }
        }
    }

    /// The value stored for exactly `topic` (no wildcard matching).
    pub fn get(&self, topic: &str) -> Option<&V> {
        Some(&self.node(topic)?.entry.as_deref()?.value)
    }

    /// Mutable access to the value stored for exactly `topic`.
    pub fn get_mut(&mut self, topic: &str) -> Option<&mut V> {
        let mut node = &mut self.root;
        let mut rest = topic;
        loop {
            let (level, next) = split_level(rest);
            node = node.children.get_mut(level)?;
            match next {
                Some(next) => rest = next,
                None => return Some(&mut node.entry.as_deref_mut()?.value),
            }
        }
    }

    /// Removes the value stored for `topic` and returns it; levels left empty are freed.
    ///
    /// Call it for a retained PUBLISH with an empty payload (3.1.1 [MQTT-3.3.1-10], 5.0
    /// [MQTT-3.3.1-6]).
    pub fn remove(&mut self, topic: &str) -> Option<V> {
        let value = remove_in(&mut self.root, topic)?;
        self.len -= 1;
        Some(value)
    }

    /// Keeps only the topics for which `keep(topic, &mut value)` returns `true`, visiting them
    /// in level order; levels left empty are freed.
    ///
    /// Use it to drop retained messages whose Message Expiry Interval has passed (MQTT 5.0
    /// §3.3.2.3.3): the closure may also update the value (for example the remaining
    /// expiry).
    pub fn retain(&mut self, mut keep: impl FnMut(&str, &mut V) -> bool) {
        let mut removed = 0;
        retain_in(&mut self.root, &mut keep, &mut removed);
        self.len -= removed;
    }

    /// Calls `f(topic, value)` for every stored topic that the topic filter `filter` matches
    /// (MQTT 3.1.1 §4.7, MQTT 5.0 §4.7), each once, in level order.
    ///
    /// Call it when a subscription is made, to send the matching retained messages (MQTT 5.0
    /// Retain Handling, §3.8.3.1). Pass the filter used for matching
    /// ([`TopicFilter::match_filter`](crate::topic::TopicFilter::match_filter)). The semantics
    /// are those of [`topic::matches`](crate::topic::matches); the walk follows literal levels
    /// directly, and allocates nothing.
    pub fn for_each_matching<'a>(&'a self, filter: &str, mut f: impl FnMut(&'a str, &'a V)) {
        match_in(&self.root, filter, true, &mut f);
    }

    /// Every stored topic and its value, in level order.
    pub fn iter(&self) -> Iter<'_, V> {
        let stack = vec![&self.root];
        Iter { stack }
    }
}

/// Visits the stored topics below `node` that the filter levels `filter` match; `at_root`:
/// `node` is the root, where wildcards skip levels starting with `$` ([MQTT-4.7.2-1]).
fn match_in<'a, V>(
    node: &'a Node<V>,
    filter: &str,
    at_root: bool,
    f: &mut impl FnMut(&'a str, &'a V),
) {
    let (level, next) = split_level(filter);
    match level {
        "#" if next.is_none() => {
            // The parent level itself (the root has no entry), then everything below.
            node.visit(f);
            for (name, child) in &node.children {
                if !(at_root && name.starts_with('$')) {
                    visit_all(child, f);
                }
            }
        }
        "+" => {
            for (name, child) in &node.children {
                if !(at_root && name.starts_with('$')) {
                    match_child(child, next, f);
                }
            }
        }
        literal => {
            if let Some(child) = node.children.get(literal) {
                match_child(child, next, f);
            }
        }
    }
}

/// `child` matched a filter level; `next` is the rest of the filter (`None`: it ended there).
fn match_child<'a, V>(child: &'a Node<V>, next: Option<&str>, f: &mut impl FnMut(&'a str, &'a V)) {
    match next {
        Some(next) => match_in(child, next, false, f),
        None => child.visit(f),
    }
}

fn visit_all<'a, V>(node: &'a Node<V>, f: &mut impl FnMut(&'a str, &'a V)) {
    node.visit(f);
    for child in node.children.values() {
        visit_all(child, f);
    }
}

/// Removes the value of `topic` below `node`, pruning the levels that become empty.
fn remove_in<V>(node: &mut Node<V>, topic: &str) -> Option<V> {
    let (level, next) = split_level(topic);
    let child = node.children.get_mut(level)?;
    let value = match next {
        Some(next) => remove_in(child, next)?,
        None => child.entry.take()?.value,
    };
    if child.is_empty() {
        node.children.remove(level);
    }
    Some(value)
}

fn retain_in<V>(
    node: &mut Node<V>,
    keep: &mut impl FnMut(&str, &mut V) -> bool,
    removed: &mut usize,
) {
    if let Some(entry) = node.entry.as_deref_mut()
        && !keep(&entry.topic, &mut entry.value)
    {
        node.entry = None;
        *removed += 1;
    }
    node.children.retain(|_, child| {
        retain_in(child, keep, removed);
        !child.is_empty()
    });
}

/// Iterator over every stored topic of a [`RetainedTree`] and its value, in level order; from
/// [`RetainedTree::iter`].
#[derive(Debug)]
pub struct Iter<'a, V> {
    /// Nodes still to visit, the next one on top.
    stack: Vec<&'a Node<V>>,
}

impl<'a, V> Iterator for Iter<'a, V> {
    type Item = (&'a str, &'a V);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let node = self.stack.pop()?;
            self.stack.extend(node.children.values().rev());
            if let Some(entry) = node.entry.as_deref() {
                return Some((&entry.topic, &entry.value));
            }
        }
    }
}

impl<V> FusedIterator for Iter<'_, V> {}

impl<'a, V> IntoIterator for &'a RetainedTree<V> {
    type Item = (&'a str, &'a V);
    type IntoIter = Iter<'a, V>;

    fn into_iter(self) -> Iter<'a, V> {
        self.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topic::matches;

    const TOPICS: &[&str] = &[
        "a", "a/", "a/b", "a//b", "a/c/b", "/a", "/", "//", "$SYS", "$SYS/x", "$SYS/", "b", "A",
        "a/b/c", "",
    ];

    const FILTERS: &[&str] = &[
        "#", "+", "+/+", "+/#", "a", "a/#", "a/+", "a/b", "a/b/#", "a//b", "a/+/b", "/a", "/+",
        "/#", "$SYS/#", "$SYS/+", "$SYS", "+/b", "a/", "", "A/#", "c/#", "+/+/+/+",
    ];

    fn filled() -> RetainedTree<usize> {
        let mut tree = RetainedTree::new();
        for (i, topic) in TOPICS.iter().enumerate() {
            assert_eq!(tree.insert(topic, i), None);
        }
        tree
    }

    fn matching<'a>(tree: &'a RetainedTree<usize>, filter: &str) -> Vec<(&'a str, usize)> {
        let mut found = Vec::new();
        tree.for_each_matching(filter, |t, v| found.push((t, *v)));
        found
    }

    /// [MQTT-4.7.1-2] [MQTT-4.7.1-3] (3.1.1) [MQTT-4.7.2-1]: the walk agrees with `matches`.
    #[test]
    fn matches_like_the_reference_matcher() {
        let tree = filled();
        for filter in FILTERS {
            let naive: Vec<(&str, usize)> = tree
                .iter()
                .filter(|(t, _)| matches(filter, t))
                .map(|(t, v)| (t, *v))
                .collect();
            assert_eq!(matching(&tree, filter), naive, "filter {filter:?}");
        }
    }

    #[test]
    fn level_order() {
        let tree = filled();
        let topics: Vec<&str> = tree.iter().map(|(t, _)| t).collect();
        assert_eq!(
            topics,
            [
                "", "/", "//", "/a", "$SYS", "$SYS/", "$SYS/x", "A", "a", "a/", "a//b", "a/b",
                "a/b/c", "a/c/b", "b",
            ]
        );
    }

    /// [MQTT-3.3.1-5]: a new retained message replaces the topic's one.
    #[test]
    fn insert_replaces_get_and_get_mut() {
        let mut tree = RetainedTree::new();
        assert_eq!(tree.insert("a/b", 1), None);
        assert_eq!(tree.insert("a/b", 2), Some(1));
        assert_eq!(tree.len(), 1);
        assert_eq!(tree.get("a/b"), Some(&2));
        assert_eq!(tree.get("a"), None);
        assert_eq!(tree.get("a/+"), None);
        assert_eq!(tree.get("a/b/c"), None);
        *tree.get_mut("a/b").unwrap() = 3;
        assert_eq!(tree.get("a/b"), Some(&3));
        assert_eq!(tree.get_mut("a"), None);
    }

    #[test]
    fn remove_prunes_every_level() {
        let mut tree = filled();
        assert_eq!(tree.remove("a/x"), None);
        assert_eq!(tree.remove("a/b/c/d"), None);
        assert_eq!(tree.remove("a/+"), None);
        assert_eq!(tree.len(), TOPICS.len());
        for (i, topic) in TOPICS.iter().enumerate() {
            assert_eq!(tree.remove(topic), Some(i));
            assert_eq!(tree.remove(topic), None);
            assert_eq!(tree.len(), TOPICS.len() - i - 1);
        }
        assert!(tree.is_empty());
        assert!(tree.root.is_empty(), "every level was freed");
    }

    #[test]
    fn retain_drops_and_updates() {
        let mut tree = filled();
        tree.retain(|_, v| {
            *v *= 10;
            *v % 20 == 0
        });
        assert_eq!(tree.len(), TOPICS.len().div_ceil(2));
        assert!(tree.iter().all(|(_, v)| v % 20 == 0));
        assert_eq!(tree.get("a"), Some(&0));
        tree.retain(|_, _| false);
        assert!(tree.is_empty());
        assert!(tree.root.is_empty());
    }
}
