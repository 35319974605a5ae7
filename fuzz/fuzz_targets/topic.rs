//! Topic names, topic filters and matching.
//!
//! Input: `<filter> 0x00 <topic>` (without a 0 byte, the whole input is used as both). Nothing
//! may panic on any strings; for a valid filter and a valid topic name, `matches` and
//! `TopicFilter::matches` must agree with the naive reference matcher below.
#![no_main]

use libfuzzer_sys::fuzz_target;
use myqtt_proto::topic::{TopicFilter, TopicName, matches};

/// Reference matcher over the levels (MQTT 3.1.1 / 5.0 §4.7), for a valid filter.
fn reference(filter: &[&str], topic: &[&str]) -> bool {
    match (filter.split_first(), topic.split_first()) {
        // `#` is last in a valid filter and matches the parent level and any children.
        (Some((&"#", _)), _) => true,
        (Some((&"+", f)), Some((_, t))) => reference(f, t),
        (Some((f0, f)), Some((t0, t))) => f0 == t0 && reference(f, t),
        (None, None) => true,
        _ => false,
    }
}

fn reference_matches(filter: &str, topic: &str) -> bool {
    // [MQTT-4.7.2-1]: a leading wildcard does not match topics starting with `$`.
    if topic.starts_with('$') && (filter.starts_with('+') || filter.starts_with('#')) {
        return false;
    }
    let f: Vec<&str> = filter.split('/').collect();
    let t: Vec<&str> = topic.split('/').collect();
    reference(&f, &t)
}

fn check_str(s: &str) {
    // Validation must agree between `validate` and the checked constructors.
    let filter_ok = TopicFilter::validate(s).is_ok();
    let name_ok = TopicName::validate(s).is_ok();
    if TopicFilter::try_from(s).is_ok() {
        assert!(
            filter_ok,
            "TryFrom accepted a filter validate rejects: {s:?}"
        );
    }
    if TopicName::try_from(s).is_ok() {
        assert!(name_ok, "TryFrom accepted a name validate rejects: {s:?}");
    }
    // A valid topic name is also a valid filter (without wildcards), unless it is a
    // malformed `$share/` prefix.
    if name_ok && !s.starts_with("$share/") {
        assert!(filter_ok, "valid name {s:?} is not a valid filter");
    }
}

fuzz_target!(|data: &[u8]| {
    let (f, t) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, data),
    };
    let f = String::from_utf8_lossy(f);
    let t = String::from_utf8_lossy(t);
    let (f, t) = (f.as_ref(), t.as_ref());

    check_str(f);
    check_str(t);
    // Must not panic on any strings, valid or not.
    let _ = matches(f, t);
    let _ = matches(t, f);

    let (Ok(filter), Ok(name)) = (TopicFilter::try_from(f), TopicName::try_from(t)) else {
        return;
    };
    if let Some(rest) = f.strip_prefix("$share/") {
        // Shared subscription: `TopicFilter::matches` uses the inner filter.
        let (_share, inner) = rest.split_once('/').expect("validated $share filter");
        let expected = reference_matches(inner, t);
        assert_eq!(
            filter.matches(&name),
            expected,
            "TopicFilter::matches({f:?}, {t:?}) (shared, inner {inner:?})"
        );
    } else {
        let expected = reference_matches(f, t);
        assert_eq!(matches(f, t), expected, "matches({f:?}, {t:?})");
        assert_eq!(
            filter.matches(&name),
            expected,
            "TopicFilter::matches({f:?}, {t:?})"
        );
    }
    // A topic name read as a filter (no wildcards) matches exactly itself.
    if !t.starts_with("$share/") {
        assert!(matches(t, t), "a name must match itself: {t:?}");
    }
});
