//! The `myqttd` configuration file (TOML): listeners, storage, users, ACLs and limits.
//!
//! Every key is optional and the defaults are the zero-config broker: one plain TCP listener
//! on `127.0.0.1:1883`, state in `./myqttd-data`, anonymous clients accepted, everything
//! allowed, [`BrokerConfig::default`] limits. Unknown keys are errors that name the key and
//! its line, so a typo never silently leaves a default in place.
//!
//! ```
//! use myqtt_host::config::MyqttdConfig;
//!
//! let config = MyqttdConfig::parse(r#"
//!     anonymous = false
//!     password_file = "/etc/myqttd/passwd"
//!
//!     [[listeners]]
//!     bind = "0.0.0.0"
//!     port = 1883
//!
//!     [acl]
//!     default = "deny"
//!     [[acl.rules]]
//!     action = "both"
//!     pattern = "clients/%c/#"
//!     permission = "allow"
//!
//!     [limits]
//!     max_connections = 500
//! "#)?;
//! assert_eq!(config.listeners[0].address(), "0.0.0.0:1883");
//! assert_eq!(config.broker_config().max_connections, 500);
//! config.validate()?;
//! # Ok::<(), myqtt_host::config::ConfigError>(())
//! ```
//!
//! The file `myqtt-tokio/myqttd.example.toml` documents every key.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use myqtt_proto::broker::{BrokerConfig, Durability, QueueFullPolicy, TakeoverPolicy};
use myqtt_proto::time::Duration;
use serde::Deserialize;

use crate::auth::{Acl, AclError, AclPermission, AclRule};

/// Why a configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// The file is not valid TOML or does not fit the schema (unknown key, wrong type...).
    /// The message names the line, the column and the key.
    #[error("{}{message}", path.as_ref().map(|p| format!("{}: ", p.display())).unwrap_or_default())]
    Parse {
        /// The file, if parsed from one.
        path: Option<PathBuf>,
        /// The line (from 1) of the problem, when known.
        line: Option<usize>,
        /// The parser's message (`TOML parse error at line 3, column 1 ... unknown field
        /// `prot`, expected one of ...`).
        message: String,
    },
    /// A listener whose TLS settings do not fit its kind.
    #[error(
        "listener {index} ({kind} on {address}): tls and wss listeners need `certificate` and `key` (or `sni` entries); tcp and ws listeners take no TLS settings"
    )]
    UnsupportedListener {
        /// Position in `listeners`, from 0.
        index: usize,
        /// Its kind.
        kind: ListenerKind,
        /// Its `bind:port`.
        address: String,
    },
    /// A setting that is well formed but cannot work (no listener, a limit of zero...).
    #[error("{0}")]
    Invalid(String),
    /// An ACL rule with an invalid pattern.
    #[error(transparent)]
    Acl(#[from] AclError),
}

/// The whole `myqttd` configuration. Fields map one to one onto the TOML keys.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MyqttdConfig {
    /// Where to accept connections (`[[listeners]]`). Default: one TCP listener on
    /// `127.0.0.1:1883`.
    pub listeners: Vec<ListenerConfig>,
    /// Directory of the durable store. Default `./myqttd-data`; relative paths are relative to
    /// the working directory.
    pub data_dir: PathBuf,
    /// Keep persistent sessions and retained messages on disk in `data_dir`. Default true.
    pub persistence: bool,
    /// Accept clients without a user name. Default true. When false, `password_file` is
    /// required and every client must log in.
    pub anonymous: bool,
    /// The users ([`PasswordFile`](crate::auth::PasswordFile) format, managed with
    /// `myqttd passwd`). When set, a client that sends a user name must give its password,
    /// even with `anonymous = true`.
    pub password_file: Option<PathBuf>,
    /// Access control (`[acl]`). Default: allow everything.
    pub acl: AclConfig,
    /// Broker limits and policies (`[limits]`).
    pub limits: LimitsConfig,
    /// MyQttD's domains (virtual hosts), as `[[domains]]` tables: each is a broker of its own
    /// with its own users, ACLs, storage and limits. The settings above form the default
    /// domain, which serves connections that reach no named one. Default: none.
    pub domains: Vec<DomainConfig>,
}

/// One `[[domains]]` table: a virtual host (MyQttD `<domain>`). A client reaches it with a
/// client id or user name ending in `@name` (the suffix is removed), a TLS SNI name or
/// WebSocket `Host` equal to `name`, or else by being accepted by its users (domains are tried
/// in file order).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DomainConfig {
    /// The domain's name (case-insensitive; no `@`, `/`, backslash or spaces).
    pub name: String,
    /// Its durable store. Default: `<data_dir>/domains/<name>`.
    #[serde(default)]
    pub data_dir: Option<PathBuf>,
    /// Accept clients without a user name. Default true; with false, `password_file` is
    /// required.
    #[serde(default = "yes")]
    pub anonymous: bool,
    /// The domain's users (same format as the top-level `password_file`).
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// The domain's access control (`[domains.acl]`). Default: allow everything.
    #[serde(default)]
    pub acl: AclConfig,
    /// The domain's limits (`[domains.limits]`). Default: the top-level `[limits]`; when
    /// present, keys it leaves out take the built-in defaults.
    #[serde(default)]
    pub limits: Option<LimitsConfig>,
}

fn yes() -> bool {
    true
}

impl DomainConfig {
    /// The ACL the domain's `[domains.acl]` describes.
    pub fn acl(&self) -> Result<Acl, ConfigError> {
        Ok(Acl::from_rules(
            self.acl.default,
            self.acl.rules.iter().cloned(),
        )?)
    }

    /// Checks the name, the users/anonymous combination, the ACL and the limits.
    fn validate(&self) -> Result<(), ConfigError> {
        check_domain_name(&self.name).map_err(ConfigError::Invalid)?;
        let context = format!("domain {}: ", self.name);
        check_users(self.anonymous, self.password_file.as_deref(), &self.acl()?)
            .map_err(|e| ConfigError::Invalid(format!("{context}{e}")))?;
        match &self.limits {
            Some(limits) => limits
                .validate()
                .map_err(|e| ConfigError::Invalid(format!("{context}{e}"))),
            None => Ok(()),
        }
    }
}

/// Checks that `name` can name a domain: usable in `id@name` and as a host or directory
/// name — non-empty, not `.` or `..`, without `@`, `/`, backslash, whitespace or control
/// characters. The error says why.
pub fn check_domain_name(name: &str) -> Result<(), String> {
    let bad = |c: char| c == '@' || c == '/' || c == '\\' || c.is_whitespace() || c.is_control();
    if name.is_empty() || name == "." || name == ".." || name.chars().any(bad) {
        return Err(format!(
            "invalid domain name {name:?}: it must be non-empty without '@', '/', '\\' or spaces"
        ));
    }
    Ok(())
}

/// The rules users and ACLs must follow, for the default domain and every named one.
fn check_users(anonymous: bool, password_file: Option<&Path>, acl: &Acl) -> Result<(), String> {
    if !anonymous && password_file.is_none() {
        return Err(
            "anonymous = false needs a password_file (create one with `myqttd passwd -f FILE USER`)"
                .into(),
        );
    }
    if acl.depends_on_username() && password_file.is_none() {
        return Err(
            "ACL rules with `user` or `%u` need a password_file: without one, user names are not authenticated"
                .into(),
        );
    }
    Ok(())
}

impl Default for MyqttdConfig {
    fn default() -> Self {
        MyqttdConfig {
            listeners: vec![ListenerConfig::default()],
            data_dir: PathBuf::from("./myqttd-data"),
            persistence: true,
            anonymous: true,
            password_file: None,
            acl: AclConfig::default(),
            limits: LimitsConfig::default(),
            domains: Vec::new(),
        }
    }
}

impl MyqttdConfig {
    /// Reads and parses a configuration file (it is not [validated](Self::validate) yet).
    pub fn load(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text).map_err(|e| match e {
            ConfigError::Parse { line, message, .. } => ConfigError::Parse {
                path: Some(path.to_owned()),
                line,
                message,
            },
            other => other,
        })
    }

    /// Parses the TOML text of a configuration (it is not [validated](Self::validate) yet).
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(|e: toml::de::Error| {
            let line = e
                .span()
                .map(|span| text[..span.start.min(text.len())].matches('\n').count() + 1);
            ConfigError::Parse {
                path: None,
                line,
                message: e.to_string().trim_end().to_owned(),
            }
        })
    }

    /// Checks what parsing cannot: at least one listener, all of a supported kind; a password
    /// file when anonymous clients are refused or ACL rules trust user names; valid ACL
    /// patterns; limits that are not zero.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.listeners.is_empty() {
            return Err(ConfigError::Invalid(
                "no listener: add a [[listeners]] table".into(),
            ));
        }
        for (index, listener) in self.listeners.iter().enumerate() {
            listener.check_supported(index)?;
        }
        check_users(self.anonymous, self.password_file.as_deref(), &self.acl()?)
            .map_err(ConfigError::Invalid)?;
        for (i, domain) in self.domains.iter().enumerate() {
            domain.validate()?;
            let name = &domain.name;
            if self.domains[..i]
                .iter()
                .any(|d| d.name.eq_ignore_ascii_case(name))
            {
                return Err(ConfigError::Invalid(format!(
                    "domain {name:?} is configured twice"
                )));
            }
        }
        self.limits.validate()
    }

    /// The ACL the `[acl]` section describes.
    pub fn acl(&self) -> Result<Acl, ConfigError> {
        Ok(Acl::from_rules(
            self.acl.default,
            self.acl.rules.iter().cloned(),
        )?)
    }

    /// [`BrokerConfig::default`] with the `[limits]` applied (`persistence` is left to the
    /// server's storage setting).
    pub fn broker_config(&self) -> BrokerConfig {
        let mut config = BrokerConfig::default();
        self.limits.apply(&mut config);
        config
    }

    /// The broker configuration of a named domain: its own `[domains.limits]`, or the
    /// top-level `[limits]`.
    pub fn domain_broker_config(&self, domain: &DomainConfig) -> BrokerConfig {
        let mut config = BrokerConfig::default();
        domain
            .limits
            .as_ref()
            .unwrap_or(&self.limits)
            .apply(&mut config);
        config
    }

    /// Where a named domain keeps its state: its `data_dir`, or `<data_dir>/domains/<name>`
    /// (the name is a validated configuration value, never a client-supplied string).
    pub fn domain_data_dir(&self, domain: &DomainConfig) -> PathBuf {
        domain
            .data_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("domains").join(&domain.name))
    }
}

/// The kind of a listener.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ListenerKind {
    /// MQTT over plain TCP.
    #[default]
    Tcp,
    /// MQTT over TLS (needs `certificate` and `key`, or `sni` entries).
    Tls,
    /// MQTT over WebSocket (binary frames, `mqtt` subprotocol).
    Ws,
    /// MQTT over WebSocket over TLS (certificates as for `tls`).
    Wss,
}

impl fmt::Display for ListenerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ListenerKind::Tcp => "tcp",
            ListenerKind::Tls => "tls",
            ListenerKind::Ws => "ws",
            ListenerKind::Wss => "wss",
        })
    }
}

/// One `[[listeners]]` table.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ListenerConfig {
    /// Address to bind (an IP address or a host name). Default `127.0.0.1`.
    pub bind: String,
    /// Port. Default 1883; 0 picks a free port.
    pub port: u16,
    /// `tcp` (default), `tls`, `ws` or `wss`.
    pub kind: ListenerKind,
    /// TLS: PEM certificate chain used when no `sni` entry matches the server name (MyQttD
    /// mod-ssl's `default` certificate).
    pub certificate: Option<PathBuf>,
    /// TLS: PEM private key of `certificate`.
    pub key: Option<PathBuf>,
    /// TLS: a certificate per server name announced with SNI (MyQttD `<cert serverName crt
    /// key>`), as `[[listeners.sni]]` tables.
    pub sni: Vec<SniCertificate>,
    /// TLS: PEM CA bundle; when set, clients must present a certificate it signed (mutual TLS).
    pub client_ca: Option<PathBuf>,
}

/// One `[[listeners.sni]]` table: the certificate for one TLS server name.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SniCertificate {
    /// The server name clients announce (case-insensitive).
    pub server_name: String,
    /// PEM certificate chain.
    pub certificate: PathBuf,
    /// PEM private key.
    pub key: PathBuf,
}

impl Default for ListenerConfig {
    fn default() -> Self {
        ListenerConfig {
            bind: "127.0.0.1".into(),
            port: 1883,
            kind: ListenerKind::Tcp,
            certificate: None,
            key: None,
            sni: Vec::new(),
            client_ca: None,
        }
    }
}

impl ListenerConfig {
    /// `bind:port`, with brackets around an IPv6 address (`[::1]:1883`).
    pub fn address(&self) -> String {
        if self.bind.contains(':') && !self.bind.starts_with('[') {
            format!("[{}]:{}", self.bind, self.port)
        } else {
            format!("{}:{}", self.bind, self.port)
        }
    }

    /// Whether the listener speaks TLS (`tls`, `wss`).
    pub fn is_tls(&self) -> bool {
        matches!(self.kind, ListenerKind::Tls | ListenerKind::Wss)
    }

    /// An error unless this listener can be served (`index` is its position, for the message):
    /// TLS listeners need a default `certificate` and `key` or at least one `sni` entry, and a
    /// `certificate` needs its `key`; plain listeners take no TLS settings.
    pub fn check_supported(&self, index: usize) -> Result<(), ConfigError> {
        let unsupported = || ConfigError::UnsupportedListener {
            index,
            kind: self.kind,
            address: self.address(),
        };
        let has_tls_settings = self.certificate.is_some()
            || self.key.is_some()
            || !self.sni.is_empty()
            || self.client_ca.is_some();
        if !self.is_tls() {
            return if has_tls_settings {
                Err(unsupported())
            } else {
                Ok(())
            };
        }
        if self.certificate.is_some() != self.key.is_some() {
            return Err(unsupported());
        }
        if self.certificate.is_none() && self.sni.is_empty() {
            return Err(unsupported());
        }
        Ok(())
    }
}

/// The `[acl]` table.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AclConfig {
    /// What happens when no rule matches: `allow` (default) or `deny`.
    pub default: AclPermission,
    /// The rules (`[[acl.rules]]`), evaluated as [`Acl`] describes.
    pub rules: Vec<AclRule>,
}

/// Takeover policy names in the config file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TakeoverSetting {
    /// The new connection with a client id in use wins (the MQTT specifications).
    #[default]
    TakeOver,
    /// The new connection is refused (MyQtt's old default).
    RejectNew,
}

/// Queue-full policy names in the config file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum QueueFullSetting {
    /// Drop the new message.
    #[default]
    DropNewest,
    /// Drop the oldest queued message.
    DropOldest,
}

/// Durability names in the config file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DurabilitySetting {
    /// QoS 1/2 acknowledgments wait for the disk.
    #[default]
    Strict,
    /// Acknowledge at once.
    Relaxed,
}

/// The `[limits]` table: a subset of [`BrokerConfig`] under the same names. Defaults are
/// [`BrokerConfig::default`]'s.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// [`BrokerConfig::max_connections`].
    pub max_connections: usize,
    /// [`BrokerConfig::max_packet_size`], in bytes.
    pub max_packet_size: usize,
    /// [`BrokerConfig::max_sessions`].
    pub max_sessions: usize,
    /// [`BrokerConfig::receive_maximum`].
    pub receive_maximum: u16,
    /// [`BrokerConfig::max_inflight`].
    pub max_inflight: u16,
    /// [`BrokerConfig::max_queued_messages`].
    pub max_queued_messages: usize,
    /// [`BrokerConfig::queue_full_policy`]: `drop-newest` or `drop-oldest`.
    pub queue_full_policy: QueueFullSetting,
    /// [`BrokerConfig::queue_qos0_offline`].
    pub queue_qos0_offline: bool,
    /// [`BrokerConfig::max_topic_levels`].
    pub max_topic_levels: usize,
    /// [`BrokerConfig::max_client_id_len`], in bytes.
    pub max_client_id_len: usize,
    /// [`BrokerConfig::max_subscriptions_per_session`].
    pub max_subscriptions_per_session: usize,
    /// [`BrokerConfig::max_retained_messages`].
    pub max_retained_messages: usize,
    /// [`BrokerConfig::topic_alias_maximum`].
    pub topic_alias_maximum: u16,
    /// [`BrokerConfig::connect_timeout`], in seconds.
    pub connect_timeout_secs: u64,
    /// [`BrokerConfig::server_keep_alive`], in seconds; absent: keep the client's value.
    pub server_keep_alive: Option<u16>,
    /// [`BrokerConfig::max_session_expiry_interval`], in seconds.
    pub max_session_expiry_interval: u32,
    /// [`BrokerConfig::v3_session_expiry`], in seconds; 0: 3.x persistent sessions never
    /// expire.
    pub v3_session_expiry_secs: u64,
    /// [`BrokerConfig::takeover_policy`]: `take-over` or `reject-new`.
    pub takeover_policy: TakeoverSetting,
    /// [`BrokerConfig::wildcard_subscriptions`].
    pub wildcard_subscriptions: bool,
    /// [`BrokerConfig::shared_subscriptions`].
    pub shared_subscriptions: bool,
    /// [`BrokerConfig::retain_available`].
    pub retain_available: bool,
    /// [`BrokerConfig::durability`]: `strict` or `relaxed`.
    pub durability: DurabilitySetting,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        let d = BrokerConfig::default();
        LimitsConfig {
            max_connections: d.max_connections,
            max_packet_size: d.max_packet_size,
            max_sessions: d.max_sessions,
            receive_maximum: d.receive_maximum,
            max_inflight: d.max_inflight,
            max_queued_messages: d.max_queued_messages,
            queue_full_policy: match d.queue_full_policy {
                QueueFullPolicy::DropNewest => QueueFullSetting::DropNewest,
                QueueFullPolicy::DropOldest => QueueFullSetting::DropOldest,
            },
            queue_qos0_offline: d.queue_qos0_offline,
            max_topic_levels: d.max_topic_levels,
            max_client_id_len: d.max_client_id_len,
            max_subscriptions_per_session: d.max_subscriptions_per_session,
            max_retained_messages: d.max_retained_messages,
            topic_alias_maximum: d.topic_alias_maximum,
            connect_timeout_secs: d.connect_timeout.as_secs(),
            server_keep_alive: d.server_keep_alive,
            max_session_expiry_interval: d.max_session_expiry_interval,
            v3_session_expiry_secs: d.v3_session_expiry.map_or(0, |e| e.as_secs()),
            takeover_policy: match d.takeover_policy {
                TakeoverPolicy::TakeOver => TakeoverSetting::TakeOver,
                TakeoverPolicy::RejectNew => TakeoverSetting::RejectNew,
            },
            wildcard_subscriptions: d.wildcard_subscriptions,
            shared_subscriptions: d.shared_subscriptions,
            retain_available: d.retain_available,
            durability: match d.durability {
                Durability::Strict => DurabilitySetting::Strict,
                Durability::Relaxed => DurabilitySetting::Relaxed,
            },
        }
    }
}

impl LimitsConfig {
    /// Writes these limits into `config`.
    pub fn apply(&self, config: &mut BrokerConfig) {
        config.max_connections = self.max_connections;
        config.max_packet_size = self.max_packet_size;
        config.max_sessions = self.max_sessions;
        config.receive_maximum = self.receive_maximum;
        config.max_inflight = self.max_inflight;
        config.max_queued_messages = self.max_queued_messages;
        config.queue_full_policy = match self.queue_full_policy {
            QueueFullSetting::DropNewest => QueueFullPolicy::DropNewest,
            QueueFullSetting::DropOldest => QueueFullPolicy::DropOldest,
        };
        config.queue_qos0_offline = self.queue_qos0_offline;
        config.max_topic_levels = self.max_topic_levels;
        config.max_client_id_len = self.max_client_id_len;
        config.max_subscriptions_per_session = self.max_subscriptions_per_session;
        config.max_retained_messages = self.max_retained_messages;
        config.topic_alias_maximum = self.topic_alias_maximum;
        config.connect_timeout = Duration::from_secs(self.connect_timeout_secs);
        config.server_keep_alive = self.server_keep_alive;
        config.max_session_expiry_interval = self.max_session_expiry_interval;
        config.v3_session_expiry = match self.v3_session_expiry_secs {
            0 => None,
            secs => Some(Duration::from_secs(secs)),
        };
        config.takeover_policy = match self.takeover_policy {
            TakeoverSetting::TakeOver => TakeoverPolicy::TakeOver,
            TakeoverSetting::RejectNew => TakeoverPolicy::RejectNew,
        };
        config.wildcard_subscriptions = self.wildcard_subscriptions;
        config.shared_subscriptions = self.shared_subscriptions;
        config.retain_available = self.retain_available;
        config.durability = match self.durability {
            DurabilitySetting::Strict => Durability::Strict,
            DurabilitySetting::Relaxed => Durability::Relaxed,
        };
    }

    /// An error for limits that would make the broker unusable.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let zero = [
            ("max_connections", self.max_connections == 0),
            ("max_packet_size", self.max_packet_size < 2),
            ("max_sessions", self.max_sessions == 0),
            ("receive_maximum", self.receive_maximum == 0),
            ("max_inflight", self.max_inflight == 0),
            ("max_topic_levels", self.max_topic_levels == 0),
            ("max_client_id_len", self.max_client_id_len == 0),
            ("connect_timeout_secs", self.connect_timeout_secs == 0),
        ];
        match zero.iter().find(|(_, bad)| *bad) {
            Some((key, _)) => Err(ConfigError::Invalid(format!("[limits] {key} is too small"))),
            None => Ok(()),
        }
    }
}
