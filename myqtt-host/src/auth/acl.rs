//! Access control lists: who may publish to which topics and subscribe to which filters.

use std::collections::HashMap;
use std::fmt;

use myqtt_proto::topic::{TopicFilter, levels, matches};
use serde::Deserialize;

/// What a rule is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AclAction {
    /// PUBLISH to a topic.
    Publish,
    /// SUBSCRIBE to a topic filter.
    Subscribe,
    /// Both.
    Both,
}

impl AclAction {
    fn covers(self, action: AclAction) -> bool {
        self == AclAction::Both || self == action
    }
}

/// Allow or deny.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AclPermission {
    /// The operation goes ahead.
    #[default]
    Allow,
    /// The operation is refused (PUBLISH: Not authorized; SUBSCRIBE: Not authorized).
    Deny,
}

impl AclPermission {
    /// Whether this is [`AclPermission::Allow`].
    pub fn is_allowed(self) -> bool {
        self == AclPermission::Allow
    }
}

impl fmt::Display for AclPermission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AclPermission::Allow => "allow",
            AclPermission::Deny => "deny",
        })
    }
}

/// One ACL rule, as written in the `[[acl.rules]]` tables of the `myqttd` config:
///
/// ```toml
/// [[acl.rules]]
/// user = "alice"          # optional: without it the rule applies to every client
/// action = "both"         # publish | subscribe | both
/// pattern = "home/%u/#"   # a topic filter; %c = client id, %u = user name
/// permission = "allow"    # allow | deny
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AclRule {
    /// The user name the rule is for; `None`: a default rule, for every client.
    #[serde(default)]
    pub user: Option<String>,
    /// Publish, subscribe or both.
    pub action: AclAction,
    /// A topic filter (`+` and `#` wildcards) in which `%c` stands for the client identifier
    /// and `%u` for the user name.
    pub pattern: String,
    /// What happens when the rule matches.
    pub permission: AclPermission,
}

impl AclRule {
    /// A rule for every client.
    pub fn new(action: AclAction, pattern: impl Into<String>, permission: AclPermission) -> Self {
        AclRule {
            user: None,
            action,
            pattern: pattern.into(),
            permission,
        }
    }

    /// The same rule, for `user` only.
    pub fn for_user(mut self, user: impl Into<String>) -> Self {
        self.user = Some(user.into());
        self
    }
}

/// An ACL rule that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AclError {
    /// The pattern (with `%c` and `%u` standing for one ordinary level) is not a valid topic
    /// filter.
    #[error("ACL rule {index}: invalid pattern `{pattern}`: {reason}")]
    InvalidPattern {
        /// Position of the rule, from 0.
        index: usize,
        /// The pattern.
        pattern: String,
        /// Why.
        reason: String,
    },
}

/// A rule ready for checks.
#[derive(Clone, Debug)]
struct CompiledRule {
    action: AclAction,
    pattern: String,
    /// Whether the pattern contains `%c` or `%u`.
    substitutes: bool,
    permission: AclPermission,
}

/// The access control list of a broker: [`AclRule`]s and a default.
///
/// # Evaluation
///
/// For a client with user name `u`, the rules for `u` come first, in the order they were
/// given, then the rules without a user, in order; the first rule that matches decides.
/// When no rule matches, the [default](Acl::default_permission) decides. Anonymous clients
/// (no user name) only see the rules without a user. Rules for a user are only as good as
/// the authentication of that user name: use them with a password file.
///
/// A rule matches when its action covers the operation and its pattern, after substitution,
/// matches:
/// - **publish**: the topic name matches the pattern as a topic filter
///   ([`matches()`]; note that a pattern starting with a wildcard does not match topics
///   starting with `$`, MQTT 5.0 [MQTT-4.7.2-1]);
/// - **subscribe**, `allow` rule: the pattern covers the requested filter, i.e. every topic the
///   filter can match is matched by the pattern ([`filter_covers`]): `a/#` covers `a/+/b`,
///   `a/+` does not cover `a/#`;
/// - **subscribe**, `deny` rule: the requested filter overlaps the pattern, i.e. some topic
///   is matched by both ([`filters_overlap`]). So with `deny a/secret` before `allow a/#`, a
///   subscription to `a/#` or `a/+` is refused: the broker checks subscriptions, not each
///   delivered message, so granting them would leak `a/secret`.
///
/// For shared subscriptions (`$share/<group>/<filter>`) the inner filter is checked.
///
/// # Substitution
///
/// `%c` is replaced by the client identifier and `%u` by the user name. A value that could
/// change the shape of the pattern (one containing `+`, `#`, `/` or NUL, starting with `$`, or
/// empty) and a missing user name are never substituted: an `allow` rule using them does not
/// match and a `deny` rule using them matches everything (fail closed). So a client with the
/// identifier `+` or `#` gains nothing from `allow clients/%c/#`, and a user named `a/b`
/// cannot reach into user `a`'s tree through `home/%u/#`.
#[derive(Clone, Debug, Default)]
pub struct Acl {
    default: AclPermission,
    by_user: HashMap<String, Vec<CompiledRule>>,
    general: Vec<CompiledRule>,
}

impl Acl {
    /// An ACL without rules that answers `default` to everything.
    pub fn new(default: AclPermission) -> Self {
        Acl {
            default,
            by_user: HashMap::new(),
            general: Vec::new(),
        }
    }

    /// An ACL from `rules` (in order) and a default; fails on the first invalid pattern.
    pub fn from_rules(
        default: AclPermission,
        rules: impl IntoIterator<Item = AclRule>,
    ) -> Result<Self, AclError> {
        let mut acl = Acl::new(default);
        for (index, rule) in rules.into_iter().enumerate() {
            acl.push_at(index, rule)?;
        }
        Ok(acl)
    }

    /// Appends a rule (after the existing rules of the same user, or the default rules).
    pub fn push(&mut self, rule: AclRule) -> Result<(), AclError> {
        let index = self.general.len() + self.by_user.values().map(Vec::len).sum::<usize>();
        self.push_at(index, rule)
    }

    fn push_at(&mut self, index: usize, rule: AclRule) -> Result<(), AclError> {
        let invalid = |reason: &str| AclError::InvalidPattern {
            index,
            pattern: rule.pattern.clone(),
            reason: reason.to_owned(),
        };
        let probe = rule.pattern.replace("%c", "x").replace("%u", "x");
        TopicFilter::validate(&probe).map_err(|e| invalid(&e.to_string()))?;
        if probe.starts_with("$share/") {
            return Err(invalid(
                "patterns match the inner filter of shared subscriptions; drop `$share/<group>/`",
            ));
        }
        let compiled = CompiledRule {
            action: rule.action,
            substitutes: rule.pattern.contains("%c") || rule.pattern.contains("%u"),
            pattern: rule.pattern,
            permission: rule.permission,
        };
        match rule.user {
            Some(user) => self.by_user.entry(user).or_default().push(compiled),
            None => self.general.push(compiled),
        }
        Ok(())
    }

    /// What happens when no rule matches.
    pub fn default_permission(&self) -> AclPermission {
        self.default
    }

    /// Whether the ACL allows everything (no rules, default allow): the broker can skip it.
    pub fn allows_everything(&self) -> bool {
        self.default == AclPermission::Allow && self.general.is_empty() && self.by_user.is_empty()
    }

    /// Whether any rule names a user or substitutes `%u` (such rules trust the user name, so
    /// it should be authenticated).
    pub fn depends_on_username(&self) -> bool {
        !self.by_user.is_empty() || self.general.iter().any(|r| r.pattern.contains("%u"))
    }

    /// May client `client_id`, logged in as `username`, publish to `topic` (a valid topic name)?
    pub fn check_publish(
        &self,
        client_id: &str,
        username: Option<&str>,
        topic: &str,
    ) -> AclPermission {
        self.check(client_id, username, AclAction::Publish, |pattern, _| {
            matches(pattern, topic)
        })
    }

    /// May client `client_id`, logged in as `username`, subscribe to `filter` (a valid topic
    /// filter, possibly `$share/<group>/<filter>`)?
    pub fn check_subscribe(
        &self,
        client_id: &str,
        username: Option<&str>,
        filter: &str,
    ) -> AclPermission {
        let filter = shared_inner(filter);
        self.check(
            client_id,
            username,
            AclAction::Subscribe,
            |pattern, permission| match permission {
                AclPermission::Allow => filter_covers(pattern, filter),
                AclPermission::Deny => filters_overlap(pattern, filter),
            },
        )
    }

    fn check(
        &self,
        client_id: &str,
        username: Option<&str>,
        action: AclAction,
        rule_matches: impl Fn(&str, AclPermission) -> bool,
    ) -> AclPermission {
        let user_rules = username
            .and_then(|u| self.by_user.get(u))
            .map(Vec::as_slice)
            .unwrap_or_default();
        for rule in user_rules.iter().chain(&self.general) {
            if !rule.action.covers(action) {
                continue;
            }
            let matched = if rule.substitutes {
                match substitute(&rule.pattern, client_id, username) {
                    Some(pattern) => rule_matches(&pattern, rule.permission),
                    // Unsafe or missing value: allow rules do not match, deny rules do.
                    None => rule.permission == AclPermission::Deny,
                }
            } else {
                rule_matches(&rule.pattern, rule.permission)
            };
            if matched {
                return rule.permission;
            }
        }
        self.default
    }
}

/// The filter part of `$share/<group>/<filter>`, or `filter` itself.
fn shared_inner(filter: &str) -> &str {
    filter
        .strip_prefix("$share/")
        .and_then(|rest| rest.split_once('/'))
        .map_or(filter, |(_, inner)| inner)
}

/// Whether `value` can replace a placeholder without changing the pattern's shape.
fn safe_value(value: &str) -> bool {
    !value.is_empty() && !value.starts_with('$') && !value.contains(['+', '#', '/', '\0'])
}

/// `pattern` with `%c` and `%u` replaced, or `None` if a needed value is missing or unsafe.
fn substitute(pattern: &str, client_id: &str, username: Option<&str>) -> Option<String> {
    let mut out = String::with_capacity(pattern.len() + 16);
    let mut rest = pattern;
    while let Some(pos) = rest.find('%') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        let value = match after.as_bytes().first() {
            Some(b'c') => Some(client_id),
            Some(b'u') => Some(username?),
            _ => None,
        };
        match value {
            Some(value) => {
                if !safe_value(value) {
                    return None;
                }
                out.push_str(value);
                rest = &after[1..];
            }
            None => {
                out.push('%');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    Some(out)
}

/// Whether the topic filter `pattern` covers the topic filter `filter`: every topic name that
/// `filter` matches is also matched by `pattern` (both valid filters, compared as
/// [`matches()`] compares, including the rule that filters starting with a wildcard do not match
/// topics starting with `$`).
///
/// `a/#` covers `a`, `a/+/b` and `a/#`; `a/+` covers `a/b` and `a/+` but not `a/#` nor
/// `a/b/c`; `+/#` covers `#` (topic names have at least one level); `#` does not cover
/// `$SYS/#`.
pub fn filter_covers(pattern: &str, filter: &str) -> bool {
    if dollar_mismatch(pattern, filter) {
        return false;
    }
    let mut p = levels(pattern);
    let mut f = levels(filter);
    let mut first = true;
    loop {
        match (p.next(), f.next()) {
            // `#` matches whatever is left, including nothing.
            (Some("#"), _) => return true,
            (None, None) => return true,
            // `+` covers any single level, but not `#` (zero or several levels)... except that
            // `+/#` covers `#` as the first level, where "zero levels" cannot happen: every
            // topic name has at least one level.
            (Some("+"), Some(level)) => {
                if level == "#" {
                    return first && p.next() == Some("#") && p.next().is_none();
                }
            }
            (Some(p_level), Some(f_level)) => {
                if p_level != f_level {
                    return false;
                }
            }
            _ => return false,
        }
        first = false;
    }
}

/// Whether some topic name is matched by both topic filters `a` and `b` (both valid).
///
/// `a/+` and `+/b` overlap (`a/b`); `a` and `a/#` overlap (`a`); `a/+` and `a` do not; `#`
/// and `$SYS/x` do not.
pub fn filters_overlap(a: &str, b: &str) -> bool {
    if dollar_mismatch(a, b) || dollar_mismatch(b, a) {
        return false;
    }
    let mut x = levels(a);
    let mut y = levels(b);
    loop {
        match (x.next(), y.next()) {
            (Some("#"), _) | (_, Some("#")) => return true,
            (None, None) => return true,
            (Some(l), Some(r)) => {
                if l != "+" && r != "+" && l != r {
                    return false;
                }
            }
            _ => return false,
        }
    }
}

/// Whether `wild` starts with a wildcard and `other` with a literal `$` level: then `wild`
/// matches none of `other`'s topics ([MQTT-4.7.2-1]).
fn dollar_mismatch(wild: &str, other: &str) -> bool {
    (wild.starts_with('+') || wild.starts_with('#')) && other.starts_with('$')
}
