//! Commands from the application: publish, subscribe, unsubscribe, ping, ack, auth, disconnect.

use alloc::vec::Vec;

use super::{
    AckHandle, Client, ClientEvent, ClientStoreOp, CloseReason, CommandError, ConnectionState,
    PublishOutcome, PublishToken, Queued, Request, RequestKind, RequestToken, Tag,
};
use crate::codec::{
    Auth, AuthProperties, Disconnect, DisconnectProperties, Packet, PacketId, Publish, QoS,
    ReasonCode, Subscribe, SubscribeProperties, Subscription, Unsubscribe, UnsubscribeProperties,
};
use crate::time::Instant;
use crate::topic::TopicFilter;

impl Client {
    /// Publishes a message; returns the token that [`ClientEvent::Published`] completes.
    ///
    /// The packet id and DUP flag are set by the client. QoS 0 completes as soon as it is handed
    /// to the transport; QoS 1/2 on PUBACK / PUBCOMP. Messages wait in a bounded queue while the
    /// inflight window (the server's Receive Maximum, [MQTT-3.3.4-7]) is full or while
    /// disconnected, and are sent in order. With [`ClientConfig::persist`](super::ClientConfig::persist)
    /// a QoS 1/2 message is recorded for the store first. Poll the store, transmit and events
    /// afterwards.
    pub fn publish(
        &mut self,
        now: Instant,
        mut publish: Publish,
    ) -> Result<PublishToken, CommandError> {
        publish.packet_id = None;
        publish.dup = false;
        self.check_publish(&publish)?;
        if self.queue.len() >= self.config.max_queued {
            return Err(CommandError::QueueFull);
        }
        let token = self.next_publish_token();
        let seq = self.next_seq;
        self.next_seq += 1;
        if publish.qos != QoS::AtMostOnce {
            self.store(|| ClientStoreOp::PublishAdd {
                seq,
                publish: publish.clone(),
            });
        }
        self.queue.push_back(Queued {
            publish,
            token,
            seq,
        });
        self.pump(now);
        Ok(token)
    }

    /// Refuses what the server said it does not accept (MQTT 5.0 §3.2.2.3) and what cannot be
    /// encoded.
    fn check_publish(&self, publish: &Publish) -> Result<(), CommandError> {
        if publish.qos > self.server.maximum_qos {
            return Err(CommandError::QoSNotSupported);
        }
        if publish.retain && !self.server.retain_available {
            return Err(CommandError::RetainNotSupported);
        }
        let mut probe = publish.clone();
        if probe.qos != QoS::AtMostOnce {
            probe.packet_id = Some(PacketId::MAX);
        }
        let len = probe
            .encoded_len(self.config.version)
            .map_err(|_| CommandError::InvalidPacket)?;
        if !self.server.allows_packet(len) {
            return Err(CommandError::PacketTooLarge);
        }
        Ok(())
    }

    /// Sends queued publishes while connected and the inflight window has room.
    pub(super) fn pump(&mut self, now: Instant) {
        if self.state != ConnectionState::Connected {
            return;
        }
        let window = usize::from(self.config.max_inflight.min(self.server.receive_maximum)).max(1);
        while let Some(front) = self.queue.front() {
            if front.publish.qos != QoS::AtMostOnce && self.outbound.len() >= window {
                break;
            }
            let Some(Queued {
                mut publish,
                token,
                seq,
            }) = self.queue.pop_front()
            else {
                break;
            };
            // Limits may have changed since the message was queued (a new CONNACK).
            if let Err(e) = self.check_publish(&publish) {
                if publish.qos != QoS::AtMostOnce {
                    self.store(|| ClientStoreOp::PublishRemove { seq });
                }
                self.events.push_back(ClientEvent::Published {
                    token,
                    outcome: PublishOutcome::Rejected(e),
                });
                continue;
            }
            if publish.qos == QoS::AtMostOnce {
                self.send_publish(now, &publish);
                self.events.push_back(ClientEvent::Published {
                    token,
                    outcome: PublishOutcome::Acknowledged(ReasonCode::Success),
                });
                continue;
            }
            let Some(id) = self.ids.allocate() else {
                self.queue.push_front(Queued {
                    publish,
                    token,
                    seq,
                });
                break;
            };
            publish.packet_id = Some(id);
            // Recorded with the PUBLISH bytes of this step: durable before they leave.
            self.store(|| ClientStoreOp::PublishSent { seq, packet_id: id });
            self.send_publish(now, &publish);
            if let Err((p, tag)) = self.outbound.insert(publish, Tag { token, seq }) {
                // Unreachable: the id was just allocated and the QoS is 1 or 2.
                self.ids.release(id);
                self.store(|| ClientStoreOp::PublishRemove { seq });
                debug_assert!(false, "fresh packet id {id} for {p:?} already in flight");
                self.events.push_back(ClientEvent::Published {
                    token: tag.token,
                    outcome: PublishOutcome::Rejected(CommandError::InvalidPacket),
                });
            }
        }
    }

    /// Subscribes to one or more filters; [`ClientEvent::Subscribed`] carries one result per
    /// filter. Requires a connection.
    pub fn subscribe(
        &mut self,
        now: Instant,
        subscriptions: &[Subscription],
    ) -> Result<RequestToken, CommandError> {
        self.subscribe_with_properties(now, subscriptions, SubscribeProperties::default())
    }

    /// [`Client::subscribe`] with 5.0 properties (subscription identifier, user properties).
    pub fn subscribe_with_properties(
        &mut self,
        now: Instant,
        subscriptions: &[Subscription],
        properties: SubscribeProperties,
    ) -> Result<RequestToken, CommandError> {
        self.require_connected()?;
        if subscriptions.is_empty() {
            return Err(CommandError::InvalidPacket);
        }
        if self.config.version.is_v5() {
            let s = &self.server;
            let wildcard = subscriptions.iter().any(|x| x.filter.has_wildcards());
            let shared = subscriptions.iter().any(|x| x.filter.is_shared());
            if (wildcard && !s.wildcard_subscription_available)
                || (shared && !s.shared_subscription_available)
                || (properties.subscription_identifier.is_some()
                    && !s.subscription_identifiers_available)
            {
                return Err(CommandError::FeatureNotSupported);
            }
        }
        let count = subscriptions.len();
        let build = |packet_id| {
            Packet::Subscribe(Subscribe {
                packet_id,
                subscriptions: subscriptions.to_vec(),
                properties: properties.clone(),
            })
        };
        let tracked = if self.config.resubscribe {
            super::Tracked::Subscribe(subscriptions.to_vec())
        } else {
            super::Tracked::Nothing
        };
        self.send_request(now, RequestKind::Subscribe, count, tracked, false, build)
    }

    /// Unsubscribes from one or more filters. Requires a connection.
    pub fn unsubscribe(
        &mut self,
        now: Instant,
        filters: &[TopicFilter],
    ) -> Result<RequestToken, CommandError> {
        self.unsubscribe_with_properties(now, filters, UnsubscribeProperties::default())
    }

    /// [`Client::unsubscribe`] with 5.0 user properties.
    pub fn unsubscribe_with_properties(
        &mut self,
        now: Instant,
        filters: &[TopicFilter],
        properties: UnsubscribeProperties,
    ) -> Result<RequestToken, CommandError> {
        self.require_connected()?;
        if filters.is_empty() {
            return Err(CommandError::InvalidPacket);
        }
        let build = |packet_id| {
            Packet::Unsubscribe(Unsubscribe {
                packet_id,
                filters: filters.to_vec(),
                properties: properties.clone(),
            })
        };
        let tracked = if self.config.resubscribe {
            super::Tracked::Unsubscribe(filters.to_vec())
        } else {
            super::Tracked::Nothing
        };
        self.send_request(
            now,
            RequestKind::Unsubscribe,
            filters.len(),
            tracked,
            false,
            build,
        )
    }

    pub(super) fn send_request(
        &mut self,
        now: Instant,
        kind: RequestKind,
        filters: usize,
        tracked: super::Tracked,
        internal: bool,
        build: impl Fn(PacketId) -> Packet,
    ) -> Result<RequestToken, CommandError> {
        let len = build(PacketId::MAX)
            .encoded_len(self.config.version)
            .map_err(|_| CommandError::InvalidPacket)?;
        if !self.server.allows_packet(len) {
            return Err(CommandError::PacketTooLarge);
        }
        let id = self
            .ids
            .allocate()
            .ok_or(CommandError::NoPacketIdAvailable)?;
        let token = self.next_request_token();
        self.send(now, &build(id));
        self.requests.insert(
            id,
            Request {
                token,
                kind,
                filters,
                tracked,
                internal,
            },
        );
        Ok(token)
    }

    /// Sends PINGREQ; [`ClientEvent::PingResponse`] follows the PINGRESP (MyQtt `conn.ping`).
    pub fn ping(&mut self, now: Instant) -> Result<(), CommandError> {
        self.require_connected()?;
        self.send(now, &Packet::PingReq);
        self.user_pings += 1;
        self.ping_sent.get_or_insert(now);
        Ok(())
    }

    /// Acknowledges a message received in manual-ack mode with Success.
    pub fn ack(&mut self, now: Instant, handle: AckHandle) -> Result<(), CommandError> {
        self.ack_with_reason(now, handle, ReasonCode::Success)
    }

    /// Acknowledges a message in manual-ack mode with a 5.0 reason code (an error code >= 0x80
    /// refuses it). Acknowledgments leave in the order the messages arrived
    /// ([MQTT-4.6.0-2], [MQTT-4.6.0-3]), so this may release earlier-given ones too.
    pub fn ack_with_reason(
        &mut self,
        now: Instant,
        handle: AckHandle,
        reason: ReasonCode,
    ) -> Result<(), CommandError> {
        if handle.connection != self.connection || self.state != ConnectionState::Connected {
            return Err(CommandError::UnknownAck);
        }
        let reason = if self.config.version.is_v5() {
            reason
        } else {
            ReasonCode::Success
        };
        if !self.acks.ack(handle.packet_id, reason) {
            return Err(CommandError::UnknownAck);
        }
        while let Some((kind, id, rc)) = self.acks.pop_ready() {
            self.send_ack(now, kind, id, rc);
        }
        Ok(())
    }

    /// Answers an [`ClientEvent::AuthChallenge`] with the next step of enhanced authentication
    /// (MQTT 5.0 §4.12). The method is filled in from the configuration.
    pub fn auth(
        &mut self,
        now: Instant,
        mut properties: AuthProperties,
    ) -> Result<(), CommandError> {
        let method = self.auth_method()?;
        if self.state == ConnectionState::Disconnected {
            return Err(CommandError::NotConnected);
        }
        properties.authentication_method = Some(method);
        let auth = Auth {
            reason_code: ReasonCode::ContinueAuthentication,
            properties,
        };
        self.send(now, &Packet::Auth(auth));
        Ok(())
    }

    /// Starts re-authentication on an established connection (MQTT 5.0 §4.12.1).
    pub fn reauthenticate(
        &mut self,
        now: Instant,
        mut properties: AuthProperties,
    ) -> Result<(), CommandError> {
        let method = self.auth_method()?;
        self.require_connected()?;
        properties.authentication_method = Some(method);
        let auth = Auth {
            reason_code: ReasonCode::ReAuthenticate,
            properties,
        };
        self.send(now, &Packet::Auth(auth));
        Ok(())
    }

    fn auth_method(&self) -> Result<crate::codec::MqttString, CommandError> {
        match &self.config.properties.authentication_method {
            Some(m) if self.config.version.is_v5() => Ok(m.clone()),
            _ => Err(CommandError::NoAuthInProgress),
        }
    }

    /// Sends DISCONNECT and ends the connection: the server discards the will
    /// ([MQTT-3.14.4-3]) unless `reason` is Disconnect with Will Message (5.0). QoS 1/2 state
    /// and queued publishes are kept for a later resume. Poll transmit, then close the transport.
    pub fn disconnect(&mut self, now: Instant, reason: ReasonCode) {
        self.disconnect_with_properties(now, reason, DisconnectProperties::default());
    }

    /// [`Client::disconnect`] with 5.0 properties (session expiry update, reason string...).
    pub fn disconnect_with_properties(
        &mut self,
        now: Instant,
        reason: ReasonCode,
        properties: DisconnectProperties,
    ) {
        if self.state == ConnectionState::Disconnected {
            return;
        }
        let d = if self.config.version.is_v5() {
            Disconnect {
                reason_code: reason,
                properties,
            }
        } else {
            Disconnect::default()
        };
        self.send(now, &Packet::Disconnect(d));
        self.close(CloseReason::Local(reason));
    }

    /// Drops the whole session state (for a client that is closed for good or starts over):
    /// every queued or in-flight publish completes with [`PublishOutcome::Discarded`].
    /// With [`ClientConfig::persist`](super::ClientConfig::persist) their removal is recorded
    /// for the store too.
    pub fn discard_session(&mut self) {
        let mut dropped: Vec<(PublishToken, Option<u64>)> = self
            .outbound
            .drain()
            .into_iter()
            .map(|e| (e.tag.token, Some(e.tag.seq)))
            .collect();
        dropped.extend(
            self.queue
                .drain(..)
                .map(|q| (q.token, (q.publish.qos != QoS::AtMostOnce).then_some(q.seq))),
        );
        for (token, seq) in dropped {
            if let Some(seq) = seq {
                self.store(|| ClientStoreOp::PublishRemove { seq });
            }
            self.events.push_back(ClientEvent::Published {
                token,
                outcome: PublishOutcome::Discarded,
            });
        }
        self.ids.clear();
        self.forget_inbound_qos2();
        self.acks.clear();
        for (_, r) in core::mem::take(&mut self.requests) {
            if !r.internal {
                self.events
                    .push_back(ClientEvent::RequestAborted { token: r.token });
            }
        }
    }

    fn require_connected(&self) -> Result<(), CommandError> {
        if self.state == ConnectionState::Connected {
            Ok(())
        } else {
            Err(CommandError::NotConnected)
        }
    }
}
