//! Writes the checked-in seed corpora (`corpus/<target>/seed-*`).
//!
//! Run after codec changes that alter the wire format:
//! `cargo test --manifest-path fuzz/Cargo.toml -- --ignored generate`

use std::num::{NonZeroU16, NonZeroU32};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use myqtt_proto::codec::{
    AckProperties, Auth, ConnAck, Connect, Disconnect, MqttString, Packet, PacketId,
    ProtocolVersion, Publish, PublishAck, QoS, ReasonCode, RetainHandling, SubAck, Subscribe,
    Subscription, UnsubAck, Unsubscribe, UserProperty, Will,
};
use myqtt_proto::codec::{PayloadFormat, WillProperties};
use myqtt_proto::topic::{TopicFilter, TopicName};

fn s(v: &str) -> MqttString {
    MqttString::try_from(v).unwrap()
}
fn name(v: &str) -> TopicName {
    TopicName::try_from(v).unwrap()
}
fn filter(v: &str) -> TopicFilter {
    TopicFilter::try_from(v).unwrap()
}
fn pid(v: u16) -> PacketId {
    PacketId::new(v).unwrap()
}
fn user(k: &str, v: &str) -> UserProperty {
    UserProperty::new(s(k), s(v))
}

fn ack_props() -> AckProperties {
    AckProperties {
        reason_string: Some(s("because")),
        user_properties: vec![user("k", "v")],
    }
}

/// Representative packets for `version`, with names for the seed files.
fn packets(version: ProtocolVersion) -> Vec<(&'static str, Packet)> {
    let v5 = version == ProtocolVersion::V5;
    let mut out: Vec<(&'static str, Packet)> = Vec::new();

    // CONNECT: minimal, then with will, user name, password and (5.0) properties.
    out.push(("connect-min", Connect::new(version, s("client-1")).into()));
    let mut c = Connect::new(version, s("myqtt-client"));
    c.clean_start = false;
    c.keep_alive = 30;
    let mut will = Will {
        topic: name("clients/myqtt-client/status"),
        payload: Bytes::from_static(b"offline"),
        qos: QoS::AtLeastOnce,
        retain: true,
        properties: WillProperties::default(),
    };
    if v5 {
        will.properties = WillProperties {
            will_delay_interval: Some(5),
            payload_format_indicator: Some(PayloadFormat::Utf8),
            message_expiry_interval: Some(3600),
            content_type: Some(s("text/plain")),
            response_topic: Some(name("reply/here")),
            correlation_data: Some(Bytes::from_static(b"\x01\x02")),
            user_properties: vec![user("will", "yes")],
        };
        c.properties.session_expiry_interval = Some(120);
        c.properties.receive_maximum = NonZeroU16::new(20);
        c.properties.maximum_packet_size = NonZeroU32::new(65536);
        c.properties.topic_alias_maximum = Some(10);
        c.properties.request_response_information = Some(true);
        c.properties.request_problem_information = Some(false);
        c.properties.user_properties = vec![user("a", "1"), user("a", "2")];
    }
    c.will = Some(will);
    c.username = Some(s("user"));
    c.password = Some(Bytes::from_static(b"secret\x00\xff"));
    out.push(("connect-full", c.into()));
    if v5 {
        let mut c = Connect::new(version, s(""));
        c.properties.authentication_method = Some(s("SCRAM-SHA-1"));
        c.properties.authentication_data = Some(Bytes::from_static(b"client-first"));
        out.push(("connect-auth", c.into()));
    }

    // CONNACK.
    out.push(("connack-ok", ConnAck::default().into()));
    let mut ca = ConnAck {
        // MQTT 3.1 has no Session Present flag.
        session_present: version != ProtocolVersion::V3_1,
        ..ConnAck::default()
    };
    if v5 {
        ca.properties.session_expiry_interval = Some(60);
        ca.properties.receive_maximum = NonZeroU16::new(100);
        ca.properties.maximum_qos = Some(QoS::AtLeastOnce);
        ca.properties.retain_available = Some(true);
        ca.properties.maximum_packet_size = NonZeroU32::new(1 << 20);
        ca.properties.assigned_client_identifier = Some(s("auto-1"));
        ca.properties.topic_alias_maximum = Some(16);
        ca.properties.reason_string = Some(s("welcome"));
        ca.properties.user_properties = vec![user("srv", "myqtt")];
        ca.properties.wildcard_subscription_available = Some(true);
        ca.properties.subscription_identifiers_available = Some(true);
        ca.properties.shared_subscription_available = Some(false);
        ca.properties.server_keep_alive = Some(45);
        ca.properties.response_information = Some(s("resp/"));
    }
    out.push(("connack-session", ca.into()));
    let refused = ConnAck {
        reason_code: if v5 {
            ReasonCode::Banned
        } else {
            ReasonCode::NotAuthorized
        },
        ..ConnAck::default()
    };
    out.push(("connack-refused", refused.into()));

    // PUBLISH at each QoS.
    out.push((
        "publish-qos0",
        Publish::new(name("a/b"), &b"hello"[..]).into(),
    ));
    let mut p = Publish::new(name("sensors/1/temp"), &b"21.5"[..]);
    p.qos = QoS::AtLeastOnce;
    p.retain = true;
    p.packet_id = Some(pid(1));
    if v5 {
        p.properties.payload_format_indicator = Some(PayloadFormat::Utf8);
        p.properties.message_expiry_interval = Some(10);
        p.properties.content_type = Some(s("text/plain"));
        p.properties.user_properties = vec![user("unit", "C")];
    }
    out.push(("publish-qos1", p.into()));
    let mut p = Publish::new(name("$SYS/broker/uptime"), vec![0u8; 300]);
    p.qos = QoS::ExactlyOnce;
    p.dup = true;
    p.packet_id = Some(pid(65535));
    if v5 {
        p.properties.topic_alias = NonZeroU16::new(3);
        p.properties.response_topic = Some(name("reply/1"));
        p.properties.correlation_data = Some(Bytes::from_static(b"corr"));
        p.properties.subscription_identifiers = vec![NonZeroU32::new(1).unwrap()];
    }
    out.push(("publish-qos2", p.into()));
    if v5 {
        // Topic alias only: empty topic name.
        let mut p = Publish::new(TopicName::empty(), &b"aliased"[..]);
        p.properties.topic_alias = NonZeroU16::new(3);
        out.push(("publish-alias", p.into()));
    }

    // Acknowledgements.
    let ack = |id: u16| PublishAck::new(pid(id));
    out.push(("puback", Packet::PubAck(ack(1))));
    out.push(("pubrec", Packet::PubRec(ack(2))));
    out.push(("pubrel", Packet::PubRel(ack(2))));
    out.push(("pubcomp", Packet::PubComp(ack(2))));
    if v5 {
        let mut a = ack(7);
        a.reason_code = ReasonCode::NoMatchingSubscribers;
        a.properties = ack_props();
        out.push(("puback-props", Packet::PubAck(a)));
        let mut a = ack(8);
        a.reason_code = ReasonCode::PacketIdentifierNotFound;
        out.push(("pubrel-code", Packet::PubRel(a)));
    }

    // SUBSCRIBE / SUBACK.
    let mut subs = vec![
        Subscription::new(filter("a/+/c"), QoS::AtMostOnce),
        Subscription::new(filter("sport/#"), QoS::AtLeastOnce),
        Subscription::new(filter("#"), QoS::ExactlyOnce),
    ];
    if v5 {
        subs[1].options.no_local = true;
        subs[1].options.retain_as_published = true;
        subs[2].options.retain_handling = RetainHandling::SendAtSubscribeIfNew;
        subs.push(Subscription::new(filter("$share/g/x/y"), QoS::AtLeastOnce));
    }
    let mut sub = Subscribe {
        packet_id: pid(10),
        subscriptions: subs,
        properties: Default::default(),
    };
    if v5 {
        sub.properties.subscription_identifier = NonZeroU32::new(268_435_455);
        sub.properties.user_properties = vec![user("s", "t")];
    }
    out.push(("subscribe", sub.into()));
    let mut codes = vec![
        ReasonCode::Success,
        ReasonCode::GrantedQoS1,
        ReasonCode::GrantedQoS2,
        ReasonCode::UnspecifiedError,
    ];
    if v5 {
        codes.push(ReasonCode::SharedSubscriptionsNotSupported);
    }
    let suback = SubAck {
        packet_id: pid(10),
        reason_codes: codes,
        properties: if v5 { ack_props() } else { Default::default() },
    };
    out.push(("suback", suback.into()));

    // UNSUBSCRIBE / UNSUBACK.
    let mut unsub = Unsubscribe {
        packet_id: pid(11),
        filters: vec![filter("a/+/c"), filter("sport/#")],
        properties: Default::default(),
    };
    if v5 {
        unsub.properties.user_properties = vec![user("u", "v")];
    }
    out.push(("unsubscribe", unsub.into()));
    let unsuback = UnsubAck {
        packet_id: pid(11),
        reason_codes: if v5 {
            vec![ReasonCode::Success, ReasonCode::NoSubscriptionExisted]
        } else {
            Vec::new()
        },
        properties: Default::default(),
    };
    out.push(("unsuback", unsuback.into()));

    // PING, DISCONNECT, AUTH.
    out.push(("pingreq", Packet::PingReq));
    out.push(("pingresp", Packet::PingResp));
    out.push(("disconnect", Disconnect::default().into()));
    if v5 {
        let mut d = Disconnect::new(ReasonCode::DisconnectWithWillMessage);
        d.properties.session_expiry_interval = Some(0);
        d.properties.reason_string = Some(s("bye"));
        d.properties.user_properties = vec![user("x", "y")];
        out.push(("disconnect-will", d.into()));
        let mut d = Disconnect::new(ReasonCode::UseAnotherServer);
        d.properties.server_reference = Some(s("other:1883"));
        out.push(("disconnect-moved", d.into()));
        out.push(("auth-empty", Auth::default().into()));
        let mut a = Auth {
            reason_code: ReasonCode::ContinueAuthentication,
            ..Auth::default()
        };
        a.properties.authentication_method = Some(s("SCRAM-SHA-1"));
        a.properties.authentication_data = Some(Bytes::from_static(b"server-first"));
        a.properties.reason_string = Some(s("continue"));
        out.push(("auth-continue", a.into()));
    }
    out
}

fn encode(p: &Packet, version: ProtocolVersion) -> Vec<u8> {
    let mut out = Vec::new();
    p.encode_to(version, &mut out).unwrap();
    out
}

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    std::fs::write(dir.join(format!("seed-{name}")), bytes).unwrap();
}

fn corpus(target: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(target);
    std::fs::create_dir_all(&dir).unwrap();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let is_seed = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("seed-"));
        if is_seed {
            std::fs::remove_file(path).unwrap();
        }
    }
    dir
}

/// Every seed packet round-trips (a cheap check that the seeds are meaningful).
#[test]
fn seeds_round_trip() {
    for version in [
        ProtocolVersion::V3_1,
        ProtocolVersion::V3_1_1,
        ProtocolVersion::V5,
    ] {
        for (_, p) in packets(version) {
            crate::check_round_trip(&p, version);
            crate::check_decode(&encode(&p, version), version);
        }
    }
}

#[test]
#[ignore = "writes the seed corpora; run on purpose"]
fn generate() {
    for (target, version) in [
        ("decode_v31", ProtocolVersion::V3_1),
        ("decode_v311", ProtocolVersion::V3_1_1),
        ("decode_v5", ProtocolVersion::V5),
    ] {
        let dir = corpus(target);
        let packets = packets(version);
        for (name, p) in &packets {
            write(&dir, name, &encode(p, version));
        }
        // A session as a stream: CONNECT, SUBSCRIBE, PUBLISH, PINGREQ, DISCONNECT, and a
        // truncated tail so that `Incomplete` is exercised too.
        let mut stream = Vec::new();
        for want in [
            "connect-full",
            "subscribe",
            "publish-qos1",
            "pingreq",
            "disconnect",
        ] {
            let (_, p) = packets.iter().find(|(n, _)| *n == want).unwrap();
            stream.extend(encode(p, version));
        }
        write(&dir, "stream", &stream);
        let (_, p) = packets.iter().find(|(n, _)| *n == "publish-qos2").unwrap();
        let publish = encode(p, version);
        stream.extend(&publish[..publish.len() / 2]);
        write(&dir, "stream-truncated", &stream);
    }

    // Topic target input: filter, a 0 byte, topic name.
    let dir = corpus("topic");
    let pairs = [
        ("a/b/c", "a/b/c"),
        ("a/+/c", "a/b/c"),
        ("a/#", "a"),
        ("a/#", "a/b/c/d"),
        ("#", "x/y"),
        ("+", "/"),
        ("+/+", "/finance"),
        ("/+", "/finance"),
        ("sport/tennis/+", "sport/tennis/player1/ranking"),
        ("#", "$SYS/broker/load"),
        ("+/broker/#", "$SYS/broker/load"),
        ("$SYS/#", "$SYS/broker/load"),
        ("$share/group/a/+", "a/b"),
        ("a/b#", "a/b"),
        ("a/+b/c", "a/xb/c"),
        ("", "a"),
        ("a//+", "a//x"),
        ("€/+/ü", "€/ß/ü"),
    ];
    for (i, (f, t)) in pairs.iter().enumerate() {
        let mut bytes = f.as_bytes().to_vec();
        bytes.push(0);
        bytes.extend(t.as_bytes());
        write(&dir, &format!("{i:02}"), &bytes);
    }
}
