//! Handling of packets received from the server.

use alloc::boxed::Box;

use super::{
    Client, ClientEvent, ClientStoreOp, CloseReason, ConnectionState, PublishOutcome, RequestKind,
    ServerLimits,
};
use crate::codec::{
    Auth, ConnAck, Disconnect, Packet, PacketId, ProtocolVersion, Publish, PublishAck, QoS,
    ReasonCode, SubAck, Subscribe, SubscribeProperties, Subscription, UnsubAck,
};
use crate::session::{AckKind, OutboundAliases, PubRecOutcome, Resend};
use crate::time::Instant;

impl Client {
    pub(super) fn handle_packet(&mut self, now: Instant, packet: Packet) {
        match (self.state, packet) {
            (ConnectionState::Connecting, Packet::ConnAck(ack)) => self.on_connack(now, *ack),
            (_, Packet::Auth(auth)) => self.on_auth(Box::new(auth)),
            (_, Packet::Disconnect(d)) => self.on_disconnect(d),
            (ConnectionState::Connected, Packet::Publish(p)) => self.on_publish(now, p),
            (ConnectionState::Connected, Packet::PubAck(a)) => self.on_puback(now, a),
            (ConnectionState::Connected, Packet::PubRec(a)) => self.on_pubrec(now, a),
            (ConnectionState::Connected, Packet::PubRel(a)) => self.on_pubrel(now, a),
            (ConnectionState::Connected, Packet::PubComp(a)) => self.on_pubcomp(now, a),
            (ConnectionState::Connected, Packet::SubAck(a)) => self.on_suback(a),
            (ConnectionState::Connected, Packet::UnsubAck(a)) => self.on_unsuback(a),
            (ConnectionState::Connected, Packet::PingResp) => self.on_pingresp(),
            // Anything else is a packet a server never sends, or sends out of order: a second
            // CONNACK, data before CONNACK ([MQTT-3.2.0-1]), CONNECT/SUBSCRIBE/PINGREQ...
            (_, other) => {
                let t = other.packet_type();
                self.protocol_violation(
                    ReasonCode::ProtocolError,
                    Some(crate::codec::PacketError::UnexpectedPacket(t)),
                );
            }
        }
    }

    fn on_connack(&mut self, now: Instant, ack: ConnAck) {
        self.connect_deadline = None;
        if ack.reason_code.is_error() {
            self.state = ConnectionState::Disconnected;
            self.abort_connection_state();
            self.events
                .push_back(ClientEvent::Closed(CloseReason::Refused(Box::new(ack))));
            return;
        }
        // [MQTT-3.2.2-4] (3.1.1) / MQTT 5.0 §3.2.2.1.1: a client that asked for a clean session
        // and is told a session is present MUST close the connection.
        if self.config.clean_start && ack.session_present {
            self.protocol_violation(ReasonCode::ProtocolError, None);
            return;
        }
        self.state = ConnectionState::Connected;
        if self.config.clean_start_first_only {
            // The session now exists: later connections resume it.
            self.config.clean_start = false;
        }
        self.server = if self.config.version.is_v5() {
            ServerLimits::from_connack(&ack.properties, self.config.keep_alive)
        } else {
            ServerLimits::assumed(self.config.keep_alive)
        };
        if let Some(id) = &ack.properties.assigned_client_identifier {
            // MQTT 5.0 §3.2.2.3.7: use the assigned identifier from now on.
            self.config.client_id = id.clone();
        }
        let alias_max = if self.config.auto_topic_alias {
            self.server.topic_alias_maximum
        } else {
            0
        };
        self.outbound_aliases = OutboundAliases::new(alias_max);
        // MQTT 3.1 CONNACK has no Session Present flag: a 3.1 server keeps the session of a
        // client that connects with Clean Session 0 (MQTT 3.1 §3.1), so the client assumes it.
        let session_present = ack.session_present
            || (self.config.version == ProtocolVersion::V3_1 && !self.config.clean_start);
        if session_present {
            // MQTT 3.1.1 §4.4 / MQTT 5.0 §4.4: resend unacknowledged PUBLISH (DUP) and PUBREL,
            // in the original order ([MQTT-4.4.0-1], [MQTT-4.6.0-1]).
            for item in self.outbound.resend() {
                match item {
                    Resend::Publish(p) => self.send_publish(now, &p),
                    Resend::PubRel(id) => self.send(now, &Packet::PubRel(PublishAck::new(id))),
                }
            }
        } else {
            // Nothing of the old session survives on the server: messages in flight are lost,
            // and the server will not resend QoS 2 messages we are tracking.
            for entry in self.outbound.drain() {
                self.ids.release(entry.publish_id());
                let seq = entry.tag.seq;
                self.store(|| ClientStoreOp::PublishRemove { seq });
                self.events.push_back(ClientEvent::Published {
                    token: entry.tag.token,
                    outcome: PublishOutcome::SessionLost,
                });
            }
            self.forget_inbound_qos2();
        }
        self.events.push_back(ClientEvent::Connected {
            session_present,
            connack: Box::new(ack),
        });
        if self.config.resubscribe && !session_present && !self.granted.is_empty() {
            self.resubscribe(now);
        }
        self.pump(now);
    }

    /// Subscribes again to everything granted before: the server kept no session
    /// (MQTT 3.1.1 §4.1 / MQTT 5.0 §4.1, subscriptions are session state).
    fn resubscribe(&mut self, now: Instant) {
        let subs: alloc::vec::Vec<Subscription> = self.granted.values().cloned().collect();
        let build = |packet_id| {
            Packet::Subscribe(Subscribe {
                packet_id,
                subscriptions: subs.clone(),
                properties: SubscribeProperties::default(),
            })
        };
        let tracked = super::Tracked::Subscribe(subs.clone());
        // Fails only if every id is taken or the packet is above the server's maximum size;
        // the subscriptions stay remembered for the next connection then.
        let _ = self.send_request(
            now,
            RequestKind::Subscribe,
            subs.len(),
            tracked,
            true,
            build,
        );
    }

    fn on_auth(&mut self, auth: Box<Auth>) {
        let in_auth =
            self.config.version.is_v5() && self.config.properties.authentication_method.is_some();
        match auth.reason_code {
            ReasonCode::ContinueAuthentication if in_auth => {
                self.events.push_back(ClientEvent::AuthChallenge(auth));
            }
            // MQTT 5.0 §4.12.1: re-authentication completes with AUTH Success.
            ReasonCode::Success if in_auth && self.state == ConnectionState::Connected => {}
            // A server never sends Re-authenticate, and AUTH without a method is a Protocol
            // Error (§4.12).
            _ => self.protocol_violation(ReasonCode::ProtocolError, None),
        }
    }

    fn on_disconnect(&mut self, d: Disconnect) {
        self.close(CloseReason::ServerDisconnect(Box::new(d)));
    }

    fn on_publish(&mut self, now: Instant, mut publish: Publish) {
        if let Err(e) = self.inbound_aliases.resolve(&mut publish) {
            self.protocol_violation(e.reason_code(), None);
            return;
        }
        let Some(id) = publish.packet_id else {
            self.events
                .push_back(ClientEvent::Message { publish, ack: None });
            return;
        };
        // MQTT 5.0 [MQTT-3.3.4-9]: the server must respect the Receive Maximum we announced.
        let unacked = self.inbound_qos2.len() + self.acks.len();
        let is_new_qos2 = publish.qos == QoS::ExactlyOnce && !self.inbound_qos2.contains(id);
        if self.config.version.is_v5()
            && (publish.qos == QoS::AtLeastOnce || is_new_qos2)
            && unacked >= usize::from(self.config.inbound_receive_maximum())
        {
            self.protocol_violation(ReasonCode::ReceiveMaximumExceeded, None);
            return;
        }
        let kind = match publish.qos {
            QoS::AtLeastOnce => AckKind::PubAck,
            _ => {
                if !self.inbound_qos2.on_publish(id) {
                    // A repeat before PUBREL (also one resent after a restart, for an id
                    // restored from the store): acknowledge again, never deliver twice
                    // ([MQTT-4.3.3-2], 5.0 [MQTT-4.3.3-10]); in manual mode the pending ack will
                    // answer it.
                    if !self.acks.contains(id) {
                        self.send(now, &Packet::PubRec(PublishAck::new(id)));
                    }
                    return;
                }
                // Durable before the message reaches the application or PUBREC leaves, so a
                // crash cannot deliver it twice.
                self.store(|| ClientStoreOp::InboundQos2 {
                    packet_id: id,
                    pending: true,
                });
                AckKind::PubRec
            }
        };
        if self.config.manual_acks {
            self.acks.push(id, kind);
            let ack = Some(super::AckHandle {
                packet_id: id,
                connection: self.connection,
            });
            self.events.push_back(ClientEvent::Message { publish, ack });
        } else {
            self.events
                .push_back(ClientEvent::Message { publish, ack: None });
            self.send_ack(now, kind, id, ReasonCode::Success);
        }
    }

    /// Sends PUBACK or PUBREC for a received message.
    pub(super) fn send_ack(
        &mut self,
        now: Instant,
        kind: AckKind,
        id: PacketId,
        reason: ReasonCode,
    ) {
        let mut ack = PublishAck::new(id);
        ack.reason_code = reason;
        match kind {
            AckKind::PubAck => self.send(now, &Packet::PubAck(ack)),
            AckKind::PubRec => {
                // MQTT 5.0 §4.3.3: a PUBREC with an error ends the exchange; no PUBREL follows.
                if reason.is_error() && self.inbound_qos2.on_pubrel(id) {
                    self.store(|| ClientStoreOp::InboundQos2 {
                        packet_id: id,
                        pending: false,
                    });
                }
                self.send(now, &Packet::PubRec(ack));
            }
        }
    }

    fn on_pubrel(&mut self, now: Instant, rel: PublishAck) {
        let known = self.inbound_qos2.on_pubrel(rel.packet_id);
        if known {
            // Durable before PUBCOMP leaves: once the server has it, it may reuse the id for a
            // new message, which a stale stored id would swallow.
            self.store(|| ClientStoreOp::InboundQos2 {
                packet_id: rel.packet_id,
                pending: false,
            });
        }
        let mut comp = PublishAck::new(rel.packet_id);
        if !known && self.config.version.is_v5() {
            comp.reason_code = ReasonCode::PacketIdentifierNotFound;
        }
        // [MQTT-4.3.3-4]: answer every PUBREL with PUBCOMP.
        self.send(now, &Packet::PubComp(comp));
    }

    fn on_puback(&mut self, now: Instant, ack: PublishAck) {
        if let Some(entry) = self.outbound.on_puback(ack.packet_id) {
            self.ids.release(ack.packet_id);
            let seq = entry.tag.seq;
            self.store(|| ClientStoreOp::PublishRemove { seq });
            self.events.push_back(ClientEvent::Published {
                token: entry.tag.token,
                outcome: PublishOutcome::Acknowledged(ack.reason_code),
            });
            self.pump(now);
        }
    }

    fn on_pubrec(&mut self, now: Instant, rec: PublishAck) {
        match self.outbound.on_pubrec(rec.packet_id, rec.reason_code) {
            Some(PubRecOutcome::SendPubRel) => {
                if let Some(entry) = self.outbound.get(rec.packet_id) {
                    let seq = entry.tag.seq;
                    self.store(|| ClientStoreOp::PublishReleased { seq });
                }
                self.send(now, &Packet::PubRel(PublishAck::new(rec.packet_id)));
            }
            Some(PubRecOutcome::Duplicate) => {
                self.send(now, &Packet::PubRel(PublishAck::new(rec.packet_id)));
            }
            Some(PubRecOutcome::Refused(tag, reason)) => {
                self.ids.release(rec.packet_id);
                self.store(|| ClientStoreOp::PublishRemove { seq: tag.seq });
                self.events.push_back(ClientEvent::Published {
                    token: tag.token,
                    outcome: PublishOutcome::Acknowledged(reason),
                });
                self.pump(now);
            }
            None if self.config.version.is_v5() => {
                // MQTT 5.0 §3.6.2.1: 0x92 tells the server we hold no such message.
                let mut rel = PublishAck::new(rec.packet_id);
                rel.reason_code = ReasonCode::PacketIdentifierNotFound;
                self.send(now, &Packet::PubRel(rel));
            }
            None => {}
        }
    }

    fn on_pubcomp(&mut self, now: Instant, comp: PublishAck) {
        if let Some(entry) = self.outbound.on_pubcomp(comp.packet_id) {
            self.ids.release(comp.packet_id);
            let seq = entry.tag.seq;
            self.store(|| ClientStoreOp::PublishRemove { seq });
            // The server accepted the message with its PUBREC. A PUBCOMP "Packet Identifier not
            // found" answers a PUBREL resent after reconnect for a message it already released:
            // "not an error during recovery" (MQTT 5.0 §3.7.2.1), so the publish succeeded.
            let reason = match comp.reason_code {
                ReasonCode::PacketIdentifierNotFound => ReasonCode::Success,
                other => other,
            };
            self.events.push_back(ClientEvent::Published {
                token: entry.tag.token,
                outcome: PublishOutcome::Acknowledged(reason),
            });
            self.pump(now);
        }
    }

    fn take_request(
        &mut self,
        id: PacketId,
        kind: RequestKind,
        results: usize,
    ) -> Option<super::Request> {
        match self.requests.get(&id) {
            // [MQTT-3.9.3-1]: one return code per filter, in order.
            Some(r)
                if r.kind == kind
                    && (results == r.filters
                        || (kind == RequestKind::Unsubscribe
                            && results == 0
                            && !self.config.version.is_v5())) =>
            {
                self.ids.release(id);
                self.requests.remove(&id)
            }
            _ => None,
        }
    }

    fn on_suback(&mut self, ack: SubAck) {
        match self.take_request(
            ack.packet_id,
            RequestKind::Subscribe,
            ack.reason_codes.len(),
        ) {
            Some(request) => {
                if let super::Tracked::Subscribe(subs) = request.tracked {
                    for (sub, rc) in subs.into_iter().zip(&ack.reason_codes) {
                        if rc.is_error() {
                            self.granted.remove(&sub.filter);
                        } else {
                            self.granted.insert(sub.filter.clone(), sub);
                        }
                    }
                }
                let results = ack.reason_codes;
                self.events.push_back(if request.internal {
                    ClientEvent::Resubscribed { results }
                } else {
                    ClientEvent::Subscribed {
                        token: request.token,
                        results,
                    }
                });
            }
            None => self.protocol_violation(ReasonCode::ProtocolError, None),
        }
    }

    fn on_unsuback(&mut self, ack: UnsubAck) {
        match self.take_request(
            ack.packet_id,
            RequestKind::Unsubscribe,
            ack.reason_codes.len(),
        ) {
            Some(request) => {
                if let super::Tracked::Unsubscribe(filters) = request.tracked {
                    for filter in &filters {
                        self.granted.remove(filter);
                    }
                }
                self.events.push_back(ClientEvent::Unsubscribed {
                    token: request.token,
                    results: ack.reason_codes,
                });
            }
            None => self.protocol_violation(ReasonCode::ProtocolError, None),
        }
    }

    fn on_pingresp(&mut self) {
        self.ping_sent = None;
        if self.user_pings > 0 {
            self.user_pings -= 1;
            self.events.push_back(ClientEvent::PingResponse);
        }
    }
}
