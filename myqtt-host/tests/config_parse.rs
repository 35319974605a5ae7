//! myqttd configuration: defaults, the example file, errors.

use std::path::PathBuf;

use myqtt_host::auth::{AclAction, AclPermission, AclRule};
use myqtt_host::config::{
    ConfigError, DurabilitySetting, ListenerConfig, ListenerKind, MyqttdConfig, QueueFullSetting,
    TakeoverSetting,
};
use myqtt_proto::broker::{BrokerConfig, TakeoverPolicy};

fn example_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../myqtt-tokio/myqttd.example.toml")
}

#[test]
fn empty_file_is_the_zero_config_broker() {
    for text in ["", "# nothing\n", "[limits]\n", "[acl]\n"] {
        let config = MyqttdConfig::parse(text).unwrap();
        assert_eq!(config, MyqttdConfig::default(), "{text:?}");
    }
    let config = MyqttdConfig::default();
    assert_eq!(config.listeners.len(), 1);
    assert_eq!(config.listeners[0].address(), "127.0.0.1:1883");
    assert_eq!(config.listeners[0].kind, ListenerKind::Tcp);
    assert_eq!(config.data_dir, PathBuf::from("./myqttd-data"));
    assert!(config.persistence);
    assert!(config.anonymous);
    assert_eq!(config.password_file, None);
    assert_eq!(config.acl.default, AclPermission::Allow);
    assert!(config.acl.rules.is_empty());
    assert!(config.acl().unwrap().allows_everything());
    config.validate().unwrap();

    // The limits are BrokerConfig's defaults, field by field.
    let broker = config.broker_config();
    let d = BrokerConfig::default();
    assert_eq!(format!("{broker:?}"), format!("{d:?}"));
}

#[test]
fn example_file_parses_and_validates() {
    let config = MyqttdConfig::load(example_path()).unwrap();
    config.validate().unwrap();
    assert!(!config.anonymous);
    assert_eq!(
        config.password_file,
        Some(PathBuf::from("/etc/myqttd/passwd"))
    );
    assert_eq!(config.listeners.len(), 2);
    assert_eq!(config.listeners[0].address(), "0.0.0.0:1883");
    assert_eq!(config.listeners[1].address(), "[::1]:1883");
    assert_eq!(config.acl.default, AclPermission::Deny);
    assert_eq!(config.acl.rules.len(), 5);
    assert_eq!(
        config.acl.rules[0],
        AclRule::new(AclAction::Both, "#", AclPermission::Allow).for_user("admin")
    );
    assert_eq!(config.limits.server_keep_alive, Some(60));
    assert_eq!(config.limits.takeover_policy, TakeoverSetting::TakeOver);
    assert_eq!(
        config.limits.queue_full_policy,
        QueueFullSetting::DropNewest
    );
    assert_eq!(config.limits.durability, DurabilitySetting::Strict);

    let acl = config.acl().unwrap();
    assert!(
        acl.check_publish("c", Some("admin"), "announcements/x")
            .is_allowed()
    );
    assert!(
        !acl.check_publish("c", Some("bob"), "announcements/x")
            .is_allowed()
    );
    assert!(
        acl.check_subscribe("c", Some("bob"), "announcements/#")
            .is_allowed()
    );
    assert!(
        acl.check_publish("dev7", Some("bob"), "clients/dev7/t")
            .is_allowed()
    );
    assert!(
        acl.check_subscribe("dev7", Some("bob"), "home/bob/#")
            .is_allowed()
    );
    assert!(
        !acl.check_subscribe("dev7", Some("bob"), "home/+/x")
            .is_allowed()
    );

    // Apart from server_keep_alive, the example spells out the defaults.
    let mut broker = config.broker_config();
    assert_eq!(broker.server_keep_alive, Some(60));
    broker.server_keep_alive = None;
    assert_eq!(
        format!("{broker:?}"),
        format!("{:?}", BrokerConfig::default())
    );
}

#[test]
fn limits_map_onto_broker_config() {
    let config = MyqttdConfig::parse(
        r#"
        [limits]
        max_connections = 5
        max_packet_size = 4096
        max_inflight = 7
        max_queued_messages = 9
        max_sessions = 11
        takeover_policy = "reject-new"
        queue_full_policy = "drop-oldest"
        durability = "relaxed"
        v3_session_expiry_secs = 0
        connect_timeout_secs = 3
        wildcard_subscriptions = false
        "#,
    )
    .unwrap();
    config.validate().unwrap();
    let b = config.broker_config();
    assert_eq!(b.max_connections, 5);
    assert_eq!(b.max_packet_size, 4096);
    assert_eq!(b.max_inflight, 7);
    assert_eq!(b.max_queued_messages, 9);
    assert_eq!(b.max_sessions, 11);
    assert_eq!(b.takeover_policy, TakeoverPolicy::RejectNew);
    assert_eq!(b.v3_session_expiry, None);
    assert_eq!(b.connect_timeout.as_secs(), 3);
    assert!(!b.wildcard_subscriptions);
}

fn parse_err(text: &str) -> String {
    match MyqttdConfig::parse(text) {
        Ok(c) => panic!("{text:?} parsed: {c:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn unknown_keys_are_errors_naming_key_and_line() {
    let cases = [
        ("anonymus = false\n", "anonymus", 1),
        ("\n[limits]\nmax_conections = 3\n", "max_conections", 3),
        (
            "[[listeners]]\nport = 1\nprotocol = \"tcp\"\n",
            "protocol",
            3,
        ),
        ("[acl]\ndefault = \"deny\"\npolicy = \"x\"\n", "policy", 3),
        (
            "[[acl.rules]]\naction = \"both\"\npattern = \"#\"\npermission = \"allow\"\nusr = \"a\"\n",
            "usr",
            5,
        ),
    ];
    for (text, key, line) in cases {
        let err = MyqttdConfig::parse(text).unwrap_err();
        let message = err.to_string();
        assert!(message.contains(key), "{message}");
        assert!(message.contains(&format!("line {line}")), "{message}");
        match err {
            ConfigError::Parse { line: l, .. } => assert_eq!(l, Some(line), "{message}"),
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn wrong_values_are_errors() {
    let m = parse_err("anonymous = \"no\"\n");
    assert!(m.contains("line 1"), "{m}");
    let m = parse_err("[[listeners]]\nkind = \"quic\"\n");
    assert!(m.contains("quic"), "{m}");
    let m = parse_err("[[listeners]]\nport = 70000\n");
    assert!(m.contains("line 2"), "{m}");
    let m = parse_err("[acl]\ndefault = \"maybe\"\n");
    assert!(m.contains("maybe"), "{m}");
    let m =
        parse_err("[[acl.rules]]\naction = \"read\"\npattern = \"#\"\npermission = \"allow\"\n");
    assert!(m.contains("read"), "{m}");
    let m = parse_err("[[acl.rules]]\naction = \"both\"\npermission = \"allow\"\n");
    assert!(m.contains("pattern"), "{m}");
    let m = parse_err("persistence = yes\n");
    assert!(m.contains("line 1"), "{m}");
}

#[test]
fn load_errors_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("myqttd.toml");
    std::fs::write(&path, "port = 1883\n").unwrap();
    let m = MyqttdConfig::load(&path).unwrap_err().to_string();
    assert!(m.contains("myqttd.toml"), "{m}");
    assert!(m.contains("port"), "{m}");
    let m = MyqttdConfig::load(dir.path().join("nope.toml"))
        .unwrap_err()
        .to_string();
    assert!(m.contains("nope.toml"), "{m}");
}

#[test]
fn validation() {
    let invalid = |text: &str| -> String {
        MyqttdConfig::parse(text)
            .unwrap()
            .validate()
            .unwrap_err()
            .to_string()
    };
    let m = invalid("listeners = []\n");
    assert!(m.contains("no listener"), "{m}");
    // A TLS listener needs a certificate and key (or SNI entries); a tcp one takes none.
    let m = invalid("[[listeners]]\nkind = \"tls\"\nport = 8883\n");
    assert!(m.contains("tls") && m.contains("certificate"), "{m}");
    assert!(m.contains("127.0.0.1:8883"), "{m}");
    let m = invalid("[[listeners]]\nkind = \"tls\"\ncertificate = \"c.pem\"\n");
    assert!(m.contains("key"), "{m}");
    let m = invalid("[[listeners]]\nkey = \"k.pem\"\n");
    assert!(m.contains("take no TLS settings"), "{m}");
    // Well-formed TLS and WebSocket listeners validate.
    MyqttdConfig::parse(
        "[[listeners]]\nkind = \"wss\"\nport = 8884\ncertificate = \"c.pem\"\nkey = \"k.pem\"\nclient_ca = \"ca.pem\"\n\
         [[listeners.sni]]\nserver_name = \"a.example\"\ncertificate = \"a.pem\"\nkey = \"a.key\"\n\
         [[listeners]]\nkind = \"ws\"\nport = 8080\n",
    )
    .unwrap()
    .validate()
    .unwrap();
    let m = invalid("[[listeners]]\n[[listeners]]\nkind = \"wss\"\n");
    assert!(m.contains("listener 1") && m.contains("wss"), "{m}");
    let m = invalid("anonymous = false\n");
    assert!(m.contains("password_file"), "{m}");
    let m = invalid(
        "[[acl.rules]]\nuser = \"a\"\naction = \"both\"\npattern = \"#\"\npermission = \"allow\"\n",
    );
    assert!(m.contains("password_file"), "{m}");
    let m =
        invalid("[[acl.rules]]\naction = \"both\"\npattern = \"a/%u\"\npermission = \"allow\"\n");
    assert!(m.contains("password_file"), "{m}");
    let m =
        invalid("[[acl.rules]]\naction = \"both\"\npattern = \"a/#/b\"\npermission = \"allow\"\n");
    assert!(m.contains("a/#/b"), "{m}");
    let m = invalid("[limits]\nmax_connections = 0\n");
    assert!(m.contains("max_connections"), "{m}");

    // %c rules need no password file.
    MyqttdConfig::parse(
        "[[acl.rules]]\naction = \"both\"\npattern = \"c/%c/#\"\npermission = \"allow\"\n",
    )
    .unwrap()
    .validate()
    .unwrap();
}

#[test]
fn listener_addresses() {
    let l = |bind: &str, port| ListenerConfig {
        bind: bind.into(),
        port,
        kind: ListenerKind::Tcp,
        ..ListenerConfig::default()
    };
    assert_eq!(l("0.0.0.0", 1).address(), "0.0.0.0:1");
    assert_eq!(l("::", 1883).address(), "[::]:1883");
    assert_eq!(l("[::1]", 1883).address(), "[::1]:1883");
    assert_eq!(l("localhost", 0).address(), "localhost:0");
}

#[test]
fn domains_have_their_own_users_acl_storage_and_limits() {
    let config = MyqttdConfig::parse(
        r#"
        data_dir = "/srv/myqttd"
        [limits]
        max_connections = 7
        [[domains]]
        name = "a.test"
        anonymous = false
        password_file = "/etc/a.passwd"
        [domains.acl]
        default = "deny"
        [domains.limits]
        max_connections = 3
        [[domains]]
        name = "b.test"
        data_dir = "/elsewhere"
        "#,
    )
    .unwrap();
    config.validate().unwrap();
    let (a, b) = (&config.domains[0], &config.domains[1]);
    assert!(!a.anonymous && b.anonymous);
    assert_eq!(config.domain_broker_config(a).max_connections, 3);
    // Without [domains.limits], the top-level limits.
    assert_eq!(config.domain_broker_config(b).max_connections, 7);
    assert_eq!(
        config.domain_data_dir(a),
        PathBuf::from("/srv/myqttd/domains/a.test")
    );
    assert_eq!(config.domain_data_dir(b), PathBuf::from("/elsewhere"));
    assert!(!a.acl().unwrap().allows_everything());
    assert!(b.acl().unwrap().allows_everything());
}

#[test]
fn bad_domains_are_refused() {
    for (text, needle) in [
        ("[[domains]]\nname = \"\"", "domain name"),
        ("[[domains]]\nname = \"a@b\"", "domain name"),
        ("[[domains]]\nname = \"../x\"", "domain name"),
        ("[[domains]]\nname = \"..\"", "domain name"),
        (
            "[[domains]]\nname = \"a\"\n[[domains]]\nname = \"A\"",
            "configured twice",
        ),
        (
            "[[domains]]\nname = \"a\"\nanonymous = false",
            "domain a: anonymous = false needs a password_file",
        ),
        (
            "[[domains]]\nname = \"a\"\n[domains.limits]\nmax_connections = 0",
            "domain a: [limits] max_connections",
        ),
    ] {
        let config = MyqttdConfig::parse(text).unwrap();
        let error = config.validate().unwrap_err().to_string();
        assert!(error.contains(needle), "{text:?}: {error}");
    }
    // A typo in a domain table is an error with its line.
    let error = MyqttdConfig::parse("[[domains]]\nname = \"a\"\nanonymus = true").unwrap_err();
    assert!(error.to_string().contains("anonymus"), "{error}");
}
