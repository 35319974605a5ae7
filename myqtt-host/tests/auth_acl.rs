//! ACL evaluation tables: order, defaults, %c/%u substitution, injection, filter coverage.

use myqtt_host::auth::{
    Acl, AclAction, AclError, AclPermission, AclRule, filter_covers, filters_overlap,
};

use AclAction::{Both, Publish, Subscribe};
use AclPermission::{Allow, Deny};

fn rule(action: AclAction, pattern: &str, permission: AclPermission) -> AclRule {
    AclRule::new(action, pattern, permission)
}

/// One check: (operation, client id, user, topic or filter, expected).
type Row<'a> = (AclAction, &'a str, Option<&'a str>, &'a str, AclPermission);

fn run_table(acl: &Acl, rows: &[Row<'_>]) {
    for (i, &(op, client, user, topic, expected)) in rows.iter().enumerate() {
        let got = match op {
            Publish => acl.check_publish(client, user, topic),
            Subscribe => acl.check_subscribe(client, user, topic),
            Both => panic!("row {i}: pick publish or subscribe"),
        };
        assert_eq!(
            got, expected,
            "row {i}: {op:?} client={client:?} user={user:?} {topic:?}"
        );
    }
}

#[test]
fn rule_table() {
    let acl = Acl::from_rules(
        Deny,
        [
            rule(Both, "admin/secret", Deny).for_user("alice"),
            rule(Both, "admin/#", Allow).for_user("alice"),
            rule(Publish, "clients/%c/#", Allow),
            rule(Subscribe, "clients/%c/#", Allow),
            rule(Both, "home/%u/#", Allow),
            rule(Publish, "public/readonly/#", Deny),
            rule(Both, "public/#", Allow),
            rule(Subscribe, "news/+", Allow),
            rule(Publish, "id/%c-%u/status", Allow),
        ],
    )
    .unwrap();
    let rows: &[Row<'_>] = &[
        // User rules come first, in order; then the default rules.
        (Publish, "c1", Some("alice"), "admin/x", Allow),
        (Subscribe, "c1", Some("alice"), "admin/+/y", Allow),
        (Publish, "c1", Some("alice"), "admin/secret", Deny),
        (Publish, "c1", Some("bob"), "admin/x", Deny),
        (Publish, "c1", None, "admin/x", Deny),
        (Publish, "c1", Some("alice"), "public/x", Allow),
        // %c
        (Publish, "dev1", None, "clients/dev1/temp", Allow),
        (Publish, "dev1", None, "clients/dev1", Allow),
        (Publish, "dev1", None, "clients/dev2/temp", Deny),
        (Subscribe, "dev1", None, "clients/dev1/#", Allow),
        (Subscribe, "dev1", None, "clients/+/temp", Deny),
        (Subscribe, "dev1", None, "clients/#", Deny),
        // %u
        (Publish, "c", Some("bob"), "home/bob/light", Allow),
        (Publish, "c", Some("bob"), "home/alice/light", Deny),
        (Publish, "c", None, "home//light", Deny),
        (Subscribe, "c", Some("bob"), "home/bob/+", Allow),
        // %c and %u in one level
        (Publish, "dev1", Some("bob"), "id/dev1-bob/status", Allow),
        (Publish, "dev1", None, "id/dev1-/status", Deny),
        // Action filtering and first match
        (Publish, "c", None, "public/readonly/x", Deny),
        (Subscribe, "c", None, "public/readonly/x", Allow),
        (Subscribe, "c", None, "news/today", Allow),
        (Publish, "c", None, "news/today", Deny),
        (Subscribe, "c", None, "news/#", Deny),
        // Default
        (Publish, "c", None, "other", Deny),
        (Subscribe, "c", None, "#", Deny),
        // Shared subscriptions are checked by their inner filter.
        (Subscribe, "c", None, "$share/g/public/+", Allow),
        (Subscribe, "c", None, "$share/g/admin/x", Deny),
    ];
    run_table(&acl, rows);
}

#[test]
fn injection_through_client_id_and_user_name() {
    let acl = Acl::from_rules(
        Deny,
        [
            rule(Both, "clients/%c/#", Allow),
            rule(Both, "home/%u/#", Allow),
            rule(Both, "%c/inbox", Allow),
        ],
    )
    .unwrap();
    let rows: &[Row<'_>] = &[
        // A client id or user name that is a wildcard must not match everything.
        (Publish, "+", None, "clients/other/x", Deny),
        (Publish, "#", None, "clients/other/x", Deny),
        (Subscribe, "#", None, "clients/#", Deny),
        (Subscribe, "+", None, "clients/+/x", Deny),
        (Publish, "c", Some("+"), "home/alice/x", Deny),
        (Publish, "c", Some("#"), "home/alice/x", Deny),
        (Subscribe, "c", Some("#"), "home/#", Deny),
        // Nor may a `/` reach into another's tree.
        (Publish, "c", Some("alice/x"), "home/alice/x/y", Deny),
        (Subscribe, "a/b", None, "clients/a/b/#", Deny),
        (Publish, "other/x", None, "clients/other/x/y", Deny),
        // Nor a leading `$` into the `$` topics.
        (Publish, "$SYS", None, "$SYS/inbox", Deny),
        // Wildcard characters inside a level are not wildcards but are still refused.
        (Publish, "a+b", None, "clients/a+b/x", Deny),
        // The same rules still work for ordinary values.
        (Publish, "dev", None, "clients/dev/x", Allow),
        (Publish, "dev", None, "dev/inbox", Allow),
        (Publish, "c", Some("alice"), "home/alice/x", Allow),
        (Publish, "c", Some("al%uce"), "home/al%uce/x", Allow),
    ];
    run_table(&acl, rows);
}

#[test]
fn deny_rules_with_unusable_values_fail_closed() {
    let acl = Acl::from_rules(
        Allow,
        [
            rule(Both, "private/%u/#", Deny),
            rule(Both, "quarantine/%c", Deny),
        ],
    )
    .unwrap();
    let rows: &[Row<'_>] = &[
        (Publish, "c", Some("bob"), "private/bob/x", Deny),
        (Publish, "c", Some("bob"), "private/alice/x", Allow),
        (Publish, "c", Some("bob"), "other", Allow),
        // No user name: the %u deny rule applies to everything.
        (Publish, "c", None, "other", Deny),
        // A user name that cannot be substituted: the same.
        (Publish, "c", Some("a/b"), "other", Deny),
        (Subscribe, "#", Some("bob"), "other", Deny),
    ];
    run_table(&acl, rows);
}

#[test]
fn subscribe_deny_rules_refuse_overlapping_filters() {
    let acl = Acl::from_rules(
        Deny,
        [rule(Both, "a/secret", Deny), rule(Both, "a/#", Allow)],
    )
    .unwrap();
    let rows: &[Row<'_>] = &[
        (Subscribe, "c", None, "a/x", Allow),
        (Subscribe, "c", None, "a/x/#", Allow),
        (Subscribe, "c", None, "a/secret", Deny),
        (Subscribe, "c", None, "a/+", Deny),
        (Subscribe, "c", None, "a/#", Deny),
        (Subscribe, "c", None, "+/secret", Deny),
        (Subscribe, "c", None, "a/secret/x", Allow),
        (Publish, "c", None, "a/secret", Deny),
        (Publish, "c", None, "a/public", Allow),
    ];
    run_table(&acl, rows);
}

#[test]
fn defaults() {
    let allow = Acl::new(Allow);
    assert!(allow.allows_everything());
    assert!(allow.check_publish("c", None, "x").is_allowed());
    assert!(allow.check_subscribe("c", None, "#").is_allowed());
    let deny = Acl::new(Deny);
    assert!(!deny.allows_everything());
    assert_eq!(deny.check_publish("c", Some("u"), "x"), Deny);
    assert_eq!(deny.check_subscribe("c", Some("u"), "x"), Deny);
    assert_eq!(deny.default_permission(), Deny);
    // A `#` pattern does not reach `$` topics.
    let hash = Acl::from_rules(Deny, [rule(Both, "#", Allow)]).unwrap();
    assert_eq!(hash.check_publish("c", None, "$SYS/x"), Deny);
    assert_eq!(hash.check_subscribe("c", None, "$SYS/#"), Deny);
    assert_eq!(hash.check_subscribe("c", None, "+/x"), Allow);
}

#[test]
fn username_dependence() {
    assert!(
        !Acl::from_rules(Deny, [rule(Both, "%c/#", Allow)])
            .unwrap()
            .depends_on_username()
    );
    assert!(
        Acl::from_rules(Deny, [rule(Both, "%u/#", Allow)])
            .unwrap()
            .depends_on_username()
    );
    assert!(
        Acl::from_rules(Deny, [rule(Both, "x", Allow).for_user("u")])
            .unwrap()
            .depends_on_username()
    );
}

#[test]
fn push_appends_in_order() {
    let mut acl = Acl::new(Deny);
    acl.push(rule(Publish, "a/b", Deny)).unwrap();
    acl.push(rule(Publish, "a/+", Allow)).unwrap();
    assert_eq!(acl.check_publish("c", None, "a/b"), Deny);
    assert_eq!(acl.check_publish("c", None, "a/c"), Allow);
}

#[test]
fn invalid_patterns_are_refused() {
    for (i, pattern) in ["", "a/#/b", "a+/b", "a/b#", "$share/g/a", "%c#"]
        .iter()
        .enumerate()
    {
        let rules = [rule(Both, "ok/#", Allow), rule(Both, pattern, Allow)];
        match Acl::from_rules(Deny, rules) {
            Err(AclError::InvalidPattern {
                index, pattern: p, ..
            }) => {
                assert_eq!(index, 1, "{i}");
                assert_eq!(p, *pattern);
            }
            Ok(_) => panic!("{pattern:?} accepted"),
        }
    }
    let err = Acl::from_rules(Deny, [rule(Both, "a/#/b", Allow)]).unwrap_err();
    assert!(err.to_string().contains("a/#/b"), "{err}");
}

#[test]
fn filter_coverage_table() {
    // (pattern, filter, pattern covers filter)
    let table = [
        ("a/#", "a/+/b", true),
        ("a/#", "a", true),
        ("a/#", "a/#", true),
        ("a/#", "a/b/c", true),
        ("a/#", "b/#", false),
        ("a/#", "#", false),
        ("a/+", "a/#", false),
        ("a/+", "a/b", true),
        ("a/+", "a/+", true),
        ("a/+", "a", false),
        ("a/+", "a/b/c", false),
        ("a/+/c", "a/+/c", true),
        ("a/+/c", "a/b/+", false),
        ("a/b", "a/b", true),
        ("a/b", "a/+", false),
        ("a/b", "a/b/#", false),
        ("a", "a/#", false),
        ("#", "#", true),
        ("#", "+/+/#", true),
        ("#", "a/b", true),
        ("#", "$SYS/#", false),
        ("+/#", "$SYS/x", false),
        ("+", "$SYS", false),
        ("$SYS/#", "$SYS/+", true),
        ("+/+", "+/+", true),
        ("+/+", "+/#", false),
        ("+/#", "+", true),
        ("+/#", "#", true),
        ("+/+/#", "+/#", false),
        ("a/+/#", "a/+/#", true),
        ("a/+/#", "a/#", false),
        ("a/+/#", "a/b/#", true),
        ("/a", "/a", true),
        ("+/a", "/a", true),
        ("a//b", "a/+/b", false),
        ("a/+/b", "a//b", true),
    ];
    for (pattern, filter, expected) in table {
        assert_eq!(
            filter_covers(pattern, filter),
            expected,
            "{pattern} covers {filter}"
        );
    }
}

#[test]
fn filter_overlap_table() {
    // (a, b, some topic matches both)
    let table = [
        ("a/+", "+/b", true),
        ("a", "a/#", true),
        ("a/+", "a", false),
        ("#", "$SYS/x", false),
        ("$SYS/#", "$SYS/x", true),
        ("a/b", "a/c", false),
        ("a/+/c", "a/b/+", true),
        ("+/+", "a/b/c", false),
        ("#", "+", true),
        ("a/#", "b/#", false),
    ];
    for (a, b, expected) in table {
        assert_eq!(filters_overlap(a, b), expected, "{a} ~ {b}");
        assert_eq!(filters_overlap(b, a), expected, "{b} ~ {a}");
    }
}

/// Coverage agrees with brute force over a small universe of topics.
#[test]
fn filter_coverage_agrees_with_brute_force() {
    let atoms = ["a", "b", "", "$s"];
    // Every topic of 1 to 3 levels over the atoms.
    let mut topics = Vec::new();
    for x in atoms {
        topics.push(x.to_owned());
        for y in atoms {
            if y.starts_with('$') {
                continue;
            }
            topics.push(format!("{x}/{y}"));
            for z in atoms {
                if !z.starts_with('$') {
                    topics.push(format!("{x}/{y}/{z}"));
                }
            }
        }
    }
    let level_choices = ["a", "b", "$s", "+", "#"];
    let mut filters = Vec::new();
    for x in level_choices {
        filters.push(x.to_owned());
        if x == "#" {
            continue;
        }
        for y in level_choices {
            if y == "$s" {
                continue;
            }
            filters.push(format!("{x}/{y}"));
        }
    }
    let matches = myqtt_proto::topic::matches;
    // Topics are at most 3 levels deep, so skip filters whose reach differs beyond that: with
    // at most 2 filter levels, every distinction shows within 3 levels.
    for p in &filters {
        for f in &filters {
            let brute = topics.iter().all(|t| !matches(f, t) || matches(p, t));
            assert_eq!(filter_covers(p, f), brute, "{p} covers {f}");
            let overlap = topics.iter().any(|t| matches(f, t) && matches(p, t));
            assert_eq!(filters_overlap(p, f), overlap, "{p} ~ {f}");
        }
    }
}
