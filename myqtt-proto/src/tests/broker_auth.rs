//! Broker scenarios: MQTT 5.0 enhanced authentication through the hooks, and Server Keep
//! Alive.

use bytes::Bytes;

use super::sim::*;
use crate::broker::{
    AuthDecision, Broker, BrokerConfig, BrokerHooks, ClientView, ConnectDecision, ConnectRequest,
};
use crate::client::{ClientEvent, CloseReason};
use crate::codec::{Auth, AuthProperties, MqttString, ProtocolVersion, ReasonCode};

/// A two-step challenge/response: CONNECT carries the method and first data; the hook
/// continues with a challenge; the client's AUTH answer decides.
struct ChallengeResponse;

impl BrokerHooks for ChallengeResponse {
    fn on_connect(&mut self, request: &ConnectRequest<'_>) -> ConnectDecision {
        match request.connect.properties.authentication_method.as_deref() {
            Some("CHALLENGE") => {
                let mut p = AuthProperties::default();
                p.authentication_data = Some(Bytes::from_static(b"nonce-1"));
                ConnectDecision::ContinueAuth(p)
            }
            _ => ConnectDecision::Reject(ReasonCode::BadAuthenticationMethod),
        }
    }

    fn on_auth(&mut self, _client: &ClientView<'_>, auth: &Auth) -> AuthDecision {
        if auth.properties.authentication_data.as_deref() == Some(&b"signed:nonce-1"[..]) {
            AuthDecision::Accept
        } else {
            AuthDecision::Reject(ReasonCode::NotAuthorized)
        }
    }
}

fn auth_client(id: &str) -> crate::client::ClientConfig {
    let mut c = client_config(ProtocolVersion::V5, id);
    c.properties.authentication_method = Some(MqttString::try_from("CHALLENGE").unwrap());
    c
}

/// [MQTT-4.12.0-1] [MQTT-4.12.0-2] [MQTT-4.12.0-3]
#[test]
fn enhanced_authentication_through_hooks() {
    for (answer, accepted) in [(&b"signed:nonce-1"[..], true), (&b"forged"[..], false)] {
        let mut sim = Sim::with_broker(Broker::with_hooks(
            BrokerConfig::default(),
            ChallengeResponse,
        ));
        let i = sim.add(auth_client("a"));
        sim.connect(i);
        let challenge = sim.events(i).into_iter().find_map(|e| match e {
            ClientEvent::AuthChallenge(a) => Some(a),
            _ => None,
        });
        let challenge = challenge.expect("AUTH continue from the server");
        assert_eq!(challenge.reason_code, ReasonCode::ContinueAuthentication);
        assert_eq!(
            challenge.properties.authentication_data.as_deref(),
            Some(&b"nonce-1"[..])
        );
        let mut p = AuthProperties::default();
        p.authentication_data = Some(Bytes::copy_from_slice(answer));
        sim.clients[i].client.auth(sim.now, p).unwrap();
        sim.run();
        assert_eq!(sim.clients[i].client.is_connected(), accepted);
        if !accepted {
            assert!(sim.events(i).iter().any(|e| matches!(e, ClientEvent::Closed(CloseReason::Refused(a)) if a.reason_code == ReasonCode::NotAuthorized)));
        }
    }
}

/// A configured Server Keep Alive is sent in CONNACK and enforced at 1.5 times its value;
/// the client adopts it for its pings.
/// [MQTT-3.2.2-21] [MQTT-3.1.2-24]
#[test]
fn server_keep_alive_override() {
    let mut config = BrokerConfig::default();
    config.server_keep_alive = Some(4);
    let mut sim = Sim::new(config);
    let i = sim.join(client_config(ProtocolVersion::V5, "ka"));
    assert_eq!(sim.clients[i].client.server_limits().keep_alive, 4);
    // The client pings every 4 s, so the broker never times it out.
    sim.advance(60_000);
    assert!(sim.clients[i].client.is_connected());
}
