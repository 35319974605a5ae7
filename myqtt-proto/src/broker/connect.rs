//! CONNECT handling: client identifiers, authentication decisions, takeover, session start and
//! resume, CONNACK (MQTT 3.1.1 §3.1-3.2, MQTT 5.0 §3.1-3.2, §4.12).

use alloc::boxed::Box;
use alloc::format;

use super::session::{Session, SessionExpiry};
use super::{
    Broker, BrokerEvent, BrokerHooks, ConnectDecision, ConnectRequest, ConnectionId, TakeoverPolicy,
};
use crate::codec::{
    Auth, AuthProperties, ConnAck, ConnAckProperties, Connect, MqttString, Packet, ProtocolVersion,
    QoS, ReasonCode,
};
use crate::session::OutboundStage;
use crate::store::StoreOp;
use crate::time::{Duration, Instant};

/// Longest client identifier MQTT 3.1 allows (MQTT 3.1 §3.1 "Client Identifier").
const V31_MAX_CLIENT_ID_CHARS: usize = 23;

impl<H: BrokerHooks> Broker<H> {
    pub(crate) fn on_connect(&mut self, now: Instant, id: ConnectionId, connect: Box<Connect>) {
        let version = connect.protocol_version;
        let mut client_id = connect.client_id.clone();
        let mut assigned = false;
        if client_id.is_empty() {
            // [MQTT-3.1.3-8] (3.1.1): an empty id requires Clean Session 1; MQTT 3.1 requires
            // 1 to 23 characters. 5.0 [MQTT-3.1.3-6]: the server assigns an id.
            if version == ProtocolVersion::V3_1
                || (version == ProtocolVersion::V3_1_1 && !connect.clean_start)
            {
                self.refuse(now, id, ReasonCode::ClientIdentifierNotValid);
                return;
            }
            client_id = self.assign_client_id();
            assigned = true;
        }
        let too_long = client_id.len() > self.config.max_client_id_len
            || (version == ProtocolVersion::V3_1
                && client_id.chars().count() > V31_MAX_CLIENT_ID_CHARS);
        if too_long {
            self.refuse(now, id, ReasonCode::ClientIdentifierNotValid);
            return;
        }
        let Some(conn) = self.connections.get_mut(&id) else {
            return;
        };
        conn.client_id = Some(client_id);
        conn.username = connect.username.clone();
        conn.assigned_id = assigned;
        let decision = {
            let request = ConnectRequest {
                client: conn.view(id),
                connect: &connect,
            };
            self.hooks.on_connect(&request)
        };
        match decision {
            ConnectDecision::Accept => self.complete_connect(now, id, connect),
            ConnectDecision::Reject(code) => self.refuse(now, id, code),
            ConnectDecision::Defer => conn.pending = Some(connect),
            ConnectDecision::ContinueAuth(properties) => {
                if connect.properties.authentication_method.is_none() || !version.is_v5() {
                    // No enhanced authentication was asked for: nothing to continue.
                    self.refuse(now, id, ReasonCode::BadAuthenticationMethod);
                    return;
                }
                let method = connect.properties.authentication_method.clone();
                conn.pending = Some(connect);
                Self::send_auth(
                    now,
                    conn,
                    ReasonCode::ContinueAuthentication,
                    method,
                    properties,
                );
            }
        }
    }

    fn send_auth(
        now: Instant,
        conn: &mut super::Conn,
        reason_code: ReasonCode,
        method: Option<MqttString>,
        mut properties: AuthProperties,
    ) {
        properties.authentication_method = method;
        conn.wire.send_packet(
            now,
            &Packet::Auth(Auth {
                reason_code,
                properties,
            }),
        );
    }

    /// An AUTH packet from the client: continues connect-time authentication or
    /// re-authentication (MQTT 5.0 §4.12).
    pub(crate) fn on_auth(&mut self, now: Instant, id: ConnectionId, auth: Auth) {
        let Some(conn) = self.connections.get_mut(&id) else {
            return;
        };
        let method = conn
            .pending
            .as_ref()
            .and_then(|c| c.properties.authentication_method.clone());
        let decision = self.hooks.on_auth(&conn.view(id), &auth);
        let connecting = conn.pending.is_some();
        match decision {
            super::AuthDecision::Continue(props) => {
                Self::send_auth(
                    now,
                    conn,
                    ReasonCode::ContinueAuthentication,
                    method.or(auth.properties.authentication_method),
                    props,
                );
            }
            super::AuthDecision::Accept if connecting => {
                if let Some(connect) = conn.pending.take() {
                    self.complete_connect(now, id, connect);
                }
            }
            super::AuthDecision::Accept => {
                let method = auth.properties.authentication_method.clone();
                Self::send_auth(
                    now,
                    conn,
                    ReasonCode::Success,
                    method,
                    AuthProperties::default(),
                );
            }
            super::AuthDecision::Reject(code) if connecting => self.refuse(now, id, code),
            super::AuthDecision::Reject(code) => conn.wire.disconnect(now, code),
        }
    }

    /// Accepts a CONNECT whose decision was deferred ([`ConnectDecision::Defer`]).
    pub fn accept(&mut self, now: Instant, connection: ConnectionId) {
        let Some(conn) = self.connections.get_mut(&connection) else {
            return;
        };
        if let Some(connect) = conn.pending.take() {
            self.complete_connect(now, connection, connect);
        }
        self.after_wire(now, connection);
    }

    /// Refuses a CONNECT whose decision was deferred, with `code` (e.g. Bad User Name or
    /// Password; 3.x clients get the nearest return code).
    pub fn reject(&mut self, now: Instant, connection: ConnectionId, code: ReasonCode) {
        let Some(conn) = self.connections.get_mut(&connection) else {
            return;
        };
        if conn.pending.take().is_some() {
            self.refuse(now, connection, code);
        }
        self.after_wire(now, connection);
    }

    fn refuse(&mut self, now: Instant, id: ConnectionId, code: ReasonCode) {
        if let Some(conn) = self.connections.get_mut(&id) {
            let code = if code.is_error() && code.is_valid_for(crate::codec::PacketType::ConnAck) {
                code
            } else {
                ReasonCode::UnspecifiedError
            };
            conn.wire.reject(
                now,
                ConnAck {
                    reason_code: code,
                    ..Default::default()
                },
            );
        }
    }

    fn assign_client_id(&mut self) -> MqttString {
        loop {
            self.next_assigned_id += 1;
            let candidate = format!(
                "{}{}",
                self.config.assigned_id_prefix, self.next_assigned_id
            );
            if !self.sessions.contains_key(candidate.as_str()) {
                return MqttString::try_from(candidate).unwrap_or_default();
            }
        }
    }

    fn session_expiry(&self, connect: &Connect) -> (SessionExpiry, Option<u32>) {
        if connect.protocol_version.is_v5() {
            let asked = connect.properties.session_expiry_interval.unwrap_or(0);
            let granted = asked.min(self.config.max_session_expiry_interval);
            let expiry = match granted {
                0 => SessionExpiry::OnClose,
                u32::MAX => SessionExpiry::Never,
                secs => SessionExpiry::After(Duration::from_secs(u64::from(secs))),
            };
            // MQTT 5.0 §3.2.2.3.2: tell the client when the server uses another value.
            (expiry, (granted != asked).then_some(granted))
        } else if connect.clean_start {
            (SessionExpiry::OnClose, None)
        } else {
            (
                self.config
                    .v3_session_expiry
                    .map_or(SessionExpiry::Never, SessionExpiry::After),
                None,
            )
        }
    }

    /// Accepts the client: takeover, session, CONNACK, resend of what was in flight.
    pub(crate) fn complete_connect(
        &mut self,
        now: Instant,
        id: ConnectionId,
        connect: Box<Connect>,
    ) {
        let Some(client_id) = self.connections.get(&id).and_then(|c| c.client_id.clone()) else {
            return;
        };
        // Takeover ([MQTT-3.1.4-2], 5.0 [MQTT-3.1.4-3]) or MyQtt's opt-in rejection.
        if let Some(old) = self.sessions.get(&client_id).and_then(|s| s.connection)
            && old != id
        {
            match self.config.takeover_policy {
                TakeoverPolicy::RejectNew => {
                    self.refuse(now, id, ReasonCode::ClientIdentifierNotValid);
                    return;
                }
                TakeoverPolicy::TakeOver => {
                    if let Some(conn) = self.connections.get_mut(&old) {
                        conn.wire.disconnect(now, ReasonCode::SessionTakenOver);
                    }
                    self.after_wire(now, old);
                }
            }
        }
        // MQTT 5.0 §3.1.2.5: a new connection before the Will Delay Interval elapses cancels the
        // pending will.
        self.wills.remove(&client_id);

        let version = connect.protocol_version;
        let (expiry, expiry_changed) = self.session_expiry(&connect);
        if connect.clean_start && self.sessions.contains_key(&client_id) {
            // [MQTT-3.1.2-6] / 5.0 [MQTT-3.1.2-4]: discard any existing session.
            self.end_session(now, &client_id);
        }
        let session_present = self.sessions.contains_key(&client_id);
        if !session_present && self.sessions.len() >= self.config.max_sessions {
            self.refuse(now, id, ReasonCode::QuotaExceeded);
            return;
        }
        let generation = self.fresh_generation();
        let session = self.sessions.get_or_insert_with(client_id.clone(), || {
            Session::new(client_id.clone(), version, expiry)
        });
        let was_persistent = session.expiry != SessionExpiry::OnClose;
        session.connection = Some(id);
        session.version = version;
        session.expiry = expiry;
        if expiry == SessionExpiry::OnClose {
            if was_persistent && session_present {
                // Resumed with expiry 0: it no longer outlives the connection, nor a restart.
                self.out.store_always(|| StoreOp::SessionRemove {
                    client_id: client_id.clone(),
                });
            }
        } else {
            self.out.store(session, || StoreOp::SessionUpsert {
                client_id: client_id.clone(),
                expiry,
            });
        }
        session.expires_at = None;
        session.generation = generation;
        session.client_receive_maximum = if version.is_v5() {
            connect
                .properties
                .receive_maximum
                .map_or(u16::MAX, |n| n.get())
        } else {
            u16::MAX
        };

        let Some(conn) = self.connections.get_mut(&id) else {
            return;
        };
        conn.will = connect.will.clone().map(Box::new);
        conn.connect_session_expiry = connect.properties.session_expiry_interval.unwrap_or(0);
        let mut ack = ConnAck {
            session_present,
            reason_code: ReasonCode::Success,
            properties: ConnAckProperties::default(),
        };
        if version.is_v5() {
            let p = &mut ack.properties;
            let c = &self.config;
            p.receive_maximum = core::num::NonZeroU16::new(c.receive_maximum);
            p.maximum_packet_size = u32::try_from(c.max_packet_size)
                .ok()
                .and_then(core::num::NonZeroU32::new);
            p.topic_alias_maximum = (c.topic_alias_maximum > 0).then_some(c.topic_alias_maximum);
            p.retain_available = (!c.retain_available).then_some(false);
            p.maximum_qos = (c.maximum_qos < QoS::ExactlyOnce).then_some(c.maximum_qos);
            p.wildcard_subscription_available = (!c.wildcard_subscriptions).then_some(false);
            p.shared_subscription_available = (!c.shared_subscriptions).then_some(false);
            p.server_keep_alive = c.server_keep_alive;
            p.session_expiry_interval = expiry_changed;
            if conn.assigned_id {
                p.assigned_client_identifier = Some(client_id.clone());
            }
        }
        let client_alias_max = connect.properties.topic_alias_maximum.unwrap_or(0);
        conn.wire.accept(now, ack, client_alias_max);
        self.out.events.push_back(BrokerEvent::ClientConnected {
            connection: id,
            client_id: client_id.clone(),
            session_present,
        });

        // MQTT 3.1.1 §4.4 / 5.0 §4.4: resend unacknowledged PUBLISH (DUP) and PUBREL in the
        // original order, then what was queued.
        let Some(session) = self.sessions.get_mut(&client_id) else {
            return;
        };
        // Under Durability::Strict they wait for what they depend on to be durable, as when
        // first sent (see `routing::send_one`).
        // The PUBLISH is rebuilt from the delivery, with the expiry time left [MQTT-3.3.2-6]
        // and DUP set [MQTT-3.3.1-1].
        for entry in session.outbound.iter() {
            let pid = entry.publish_id();
            let (packet, after_store) = match entry.stage {
                OutboundStage::AwaitPubComp => {
                    (Packet::PubRel(crate::codec::PublishAck::new(pid)), true)
                }
                _ => {
                    let mut publish = entry.tag.message.to_publish(now, &entry.tag);
                    publish.packet_id = Some(pid);
                    publish.dup = true;
                    (
                        Packet::Publish(publish),
                        entry.publish.qos == QoS::ExactlyOnce,
                    )
                }
            };
            let target = super::HoldTarget {
                id,
                wire: &mut conn.wire,
                held: None,
            };
            self.out.send_or_hold(now, target, packet, after_store);
        }
        super::routing::pump(now, &self.config, &mut conn.wire, session, &mut self.out);
    }
}
