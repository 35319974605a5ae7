//! Broker scenarios: hooks as decisions (MyQtt checklist test_07, test_21, test_23; MyQttD
//! test_05, test_16, test_18-19 semantics).

use alloc::string::String;
use alloc::vec::Vec;
use bytes::Bytes;

use super::sim::*;
use crate::broker::{
    Broker, BrokerConfig, BrokerHooks, ClientView, ConnectDecision, ConnectRequest, ConnectionId,
    PublishDecision, SubscribeDecision, TransportInfo,
};
use crate::client::{ClientEvent, CloseReason, PublishOutcome};
use crate::codec::{MqttString, ProtocolVersion, Publish, QoS, ReasonCode, Subscription};

use ProtocolVersion::{V3_1_1, V5};

/// The regression listener's policy: only `aspl`/`test` may connect, `defer/*` client ids are
/// decided later, publishes to `discard/#` are discarded, `close/conn` closes the publisher,
/// `deny/#` subscriptions are refused and `low/#` is granted QoS 0 at most.
#[derive(Default)]
struct Policy {
    deferred: Vec<ConnectionId>,
    seen_server_names: Vec<Option<String>>,
}

impl BrokerHooks for Policy {
    fn on_connect(&mut self, request: &ConnectRequest<'_>) -> ConnectDecision {
        self.seen_server_names
            .push(request.client.transport.server_name.clone());
        if request.client.client_id.starts_with("defer") {
            self.deferred.push(request.client.connection);
            return ConnectDecision::Defer;
        }
        let ok = request.connect.username.as_deref() == Some("aspl")
            && request.connect.password.as_deref() == Some(&b"test"[..]);
        if ok {
            ConnectDecision::Accept
        } else {
            ConnectDecision::Reject(ReasonCode::BadUserNameOrPassword)
        }
    }

    fn on_publish(&mut self, _client: &ClientView<'_>, publish: &Publish) -> PublishDecision {
        if publish.topic.starts_with("discard/") {
            PublishDecision::Discard
        } else if publish.topic == "close/conn" {
            PublishDecision::Close
        } else if publish.topic.starts_with("refuse/") {
            PublishDecision::Refuse(ReasonCode::NotAuthorized)
        } else {
            PublishDecision::Allow
        }
    }

    fn on_subscribe(&mut self, _client: &ClientView<'_>, s: &Subscription) -> SubscribeDecision {
        if s.filter.starts_with("deny/") {
            SubscribeDecision::Deny(ReasonCode::NotAuthorized)
        } else if s.filter.starts_with("low/") {
            SubscribeDecision::Grant(QoS::AtMostOnce)
        } else {
            SubscribeDecision::Grant(s.options.qos)
        }
    }
}

fn authed(version: ProtocolVersion, id: &str) -> crate::client::ClientConfig {
    let mut c = client_config(version, id);
    c.username = Some(MqttString::try_from("aspl").unwrap());
    c.password = Some(Bytes::from_static(b"test"));
    c
}

fn sim() -> Sim<Policy> {
    Sim::with_broker(Broker::with_hooks(
        BrokerConfig::default(),
        Policy::default(),
    ))
}

/// Wrong credentials are refused with the hook's code (3.1.1 return code 4), right ones
/// accepted (MyQtt test_07, MyQttD test_05).
/// [MQTT-3.2.2-5] [MQTT-3.2.2-6]
#[test]
fn on_connect_authenticates() {
    for version in [V3_1_1, V5] {
        let mut sim = sim();
        let mut bad = authed(version, "bad");
        bad.password = Some(Bytes::from_static(b"wrong"));
        let i = sim.add(bad);
        sim.connect(i);
        assert!(
            matches!(&sim.events(i)[..], [ClientEvent::Closed(CloseReason::Refused(a))] if a.reason_code == ReasonCode::BadUserNameOrPassword)
        );
        let ok = sim.join(authed(version, "good"));
        assert!(sim.clients[ok].client.is_connected());
        assert_eq!(
            sim.broker
                .client(sim.clients[ok].connection.unwrap())
                .unwrap()
                .username,
            Some("aspl")
        );
    }
}

/// on_connect may defer; the runtime answers later (MyQtt DEFERRED, test_23).
#[test]
fn deferred_connect_is_answered_later() {
    let mut sim = sim();
    let i = sim.add(authed(V3_1_1, "defer-1"));
    sim.connect(i);
    assert!(!sim.clients[i].client.is_connected());
    sim.advance(2_000);
    let conn = sim.broker.hooks().deferred[0];
    sim.broker.accept(sim.now, conn);
    sim.run();
    assert!(sim.clients[i].client.is_connected());
    let j = sim.add(authed(V3_1_1, "defer-2"));
    sim.connect(j);
    let conn = sim.broker.hooks().deferred[1];
    sim.broker.reject(sim.now, conn, ReasonCode::NotAuthorized);
    sim.run();
    assert!(
        matches!(&sim.events(j)[..], [ClientEvent::Closed(CloseReason::Refused(a))] if a.reason_code == ReasonCode::NotAuthorized)
    );
}

/// Discard still completes the publisher's QoS 1/2 handshake (MyQtt left it hanging);
/// Refuse reports the reason in 5.0; nothing is routed either way.
/// [MQTT-4.3.2-2] [MQTT-4.3.3-2]
#[test]
fn discarded_publishes_are_acknowledged_not_routed() {
    let mut sim = sim();
    let s = sim.join(authed(V5, "s"));
    let p = sim.join(authed(V5, "p"));
    sim.subscribe(s, &[sub("#", QoS::ExactlyOnce)]);
    for qos in [QoS::AtLeastOnce, QoS::ExactlyOnce] {
        sim.publish(p, msg("discard/me", b"x", qos, false));
        let done = sim
            .events(p)
            .into_iter()
            .filter(|e| {
                matches!(
                    e,
                    ClientEvent::Published {
                        outcome: PublishOutcome::Acknowledged(ReasonCode::Success),
                        ..
                    }
                )
            })
            .count();
        assert_eq!(done, 1, "{qos:?}");
        sim.publish(p, msg("refuse/me", b"x", qos, false));
        let refused = sim
            .events(p)
            .into_iter()
            .filter(|e| {
                matches!(
                    e,
                    ClientEvent::Published {
                        outcome: PublishOutcome::Acknowledged(ReasonCode::NotAuthorized),
                        ..
                    }
                )
            })
            .count();
        assert_eq!(refused, 1, "{qos:?}");
    }
    assert!(sim.received(s).is_empty());
    assert_eq!(sim.clients[p].client.packet_ids_in_use(), 0);
}

/// Close closes the publisher's connection at once (MyQtt PUBLISH_CONN_CLOSE, test_21): its
/// pending publishes do not hang.
#[test]
fn close_decision_ends_the_connection() {
    let mut sim = sim();
    let p = sim.join(authed(V5, "p"));
    sim.publish(p, msg("close/conn", b"", QoS::ExactlyOnce, false));
    let events = sim.events(p);
    assert!(events.iter().any(|e| matches!(e, ClientEvent::Closed(CloseReason::ServerDisconnect(d)) if d.reason_code == ReasonCode::NotAuthorized)), "{events:?}");
    assert!(!sim.clients[p].client.is_connected());
}

/// on_subscribe may deny (0x80 in 3.1.1, the reason in 5.0) or lower the QoS
/// (MyQttD test_16 semantics).
/// [MQTT-3.9.3-2] [MQTT-3.8.4-7]
#[test]
fn on_subscribe_denies_or_downgrades() {
    for version in [V3_1_1, V5] {
        let mut sim = sim();
        let s = sim.join(authed(version, "s"));
        sim.subscribe(
            s,
            &[
                sub("deny/x", QoS::AtLeastOnce),
                sub("low/x", QoS::ExactlyOnce),
                sub("ok/x", QoS::ExactlyOnce),
            ],
        );
        let results = sim
            .events(s)
            .into_iter()
            .find_map(|e| match e {
                ClientEvent::Subscribed { results, .. } => Some(results),
                _ => None,
            })
            .unwrap();
        let denied = if version == V5 {
            ReasonCode::NotAuthorized
        } else {
            ReasonCode::UnspecifiedError
        };
        assert_eq!(
            results,
            [denied, ReasonCode::Success, ReasonCode::GrantedQoS2]
        );
        assert_eq!(sim.broker.subscriptions_of("s").map(|i| i.count()), Some(2));
    }
}

/// Hooks see the transport facts the runtime supplied (server name for SNI/Host-based
/// domains, TLS on or off).
#[test]
fn hooks_see_server_name_and_tls() {
    let mut broker = Broker::with_hooks(BrokerConfig::default(), Policy::default());
    let now = crate::time::Instant::ZERO;
    let transport = TransportInfo {
        server_name: Some("test19a.localhost".into()),
        is_tls: true,
        ..Default::default()
    };
    let conn = broker.handle_connection_opened(now, transport).unwrap();
    let mut client = crate::client::Client::new(authed(V3_1_1, "tls"));
    client.handle_connected(now);
    let mut wire = Vec::new();
    let _ = client.poll_transmit(&mut wire);
    broker.handle_input(now, conn, &mut bytes::BytesMut::from(&wire[..]));
    assert_eq!(
        broker.hooks().seen_server_names,
        [Some(String::from("test19a.localhost"))]
    );
    let view = broker.client(conn).unwrap();
    assert!(view.transport.is_tls);
    assert_eq!(view.client_id, "tls");
}
