//! PUBLISH from clients, routing to subscriptions, delivery to sessions with flow control, and
//! the QoS handshakes on both sides (MQTT 3.1.1 §3.3, §4.3-4.6; MQTT 5.0 §3.3, §4.3-4.9).

use alloc::collections::{BTreeMap, VecDeque};
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

use super::session::Session;
use super::{
    Broker, BrokerConfig, BrokerEvent, BrokerHooks, ConnectionId, Delivery, DropReason, Message,
    PublishDecision, QueueFullPolicy,
};
use crate::codec::{MqttString, Packet, PacketError, Publish, PublishAck, QoS, ReasonCode};
use crate::server::ServerConnection;
use crate::session::PubRecOutcome;
use crate::time::Instant;
use crate::topic;

impl<H: BrokerHooks> Broker<H> {
    pub(crate) fn on_publish(&mut self, now: Instant, id: ConnectionId, publish: Publish) {
        let Some(conn) = self.connections.get_mut(&id) else {
            return;
        };
        let Some(client_id) = conn.client_id.clone() else {
            return;
        };
        let v5 = conn.wire.version().is_v5();
        let wire = &mut conn.wire;
        // MQTT 5.0 [MQTT-3.3.4-6]: a client never sends Subscription Identifiers.
        if !publish.properties.subscription_identifiers.is_empty() {
            wire.violation(
                ReasonCode::ProtocolError,
                Some(PacketError::UnexpectedPacket(
                    crate::codec::PacketType::Publish,
                )),
            );
            return;
        }
        // MQTT 5.0 [MQTT-3.2.2-11] / [MQTT-3.2.2-14]: what CONNACK said is not available.
        if v5 && publish.qos > self.config.maximum_qos {
            wire.violation(ReasonCode::QoSNotSupported, None);
            return;
        }
        if v5 && publish.retain && !self.config.retain_available {
            wire.violation(ReasonCode::RetainNotSupported, None);
            return;
        }
        if topic::levels(&publish.topic).count() > self.config.max_topic_levels {
            wire.violation(ReasonCode::TopicNameInvalid, None);
            return;
        }
        let Some(session) = self.sessions.get_mut(&client_id) else {
            return;
        };
        if let (QoS::ExactlyOnce, Some(pid)) = (publish.qos, publish.packet_id) {
            if session.inbound_qos2.contains(pid) {
                // A resend before PUBREL: acknowledge again, route only once ([MQTT-4.3.3-2]).
                wire.send_packet(now, &Packet::PubRec(PublishAck::new(pid)));
                return;
            }
            // MQTT 5.0 [MQTT-3.3.4-9]: the client exceeded our Receive Maximum.
            if v5 && session.inbound_qos2.len() >= usize::from(self.config.receive_maximum) {
                wire.violation(ReasonCode::ReceiveMaximumExceeded, None);
                return;
            }
            session.inbound_qos2.on_publish(pid);
        }
        let decision = self.hooks.on_publish(&conn.view(id), &publish);
        let (reason, routed) = match decision {
            PublishDecision::Allow => {
                let message = Message::from_publish(now, &publish, Some(client_id));
                let matched = self.publish_message(now, message);
                let reason = if matched == 0 && v5 {
                    ReasonCode::NoMatchingSubscribers
                } else {
                    ReasonCode::Success
                };
                (reason, true)
            }
            PublishDecision::Discard => (ReasonCode::Success, false),
            PublishDecision::Refuse(code) if v5 => (code, false),
            PublishDecision::Refuse(_) => (ReasonCode::Success, false),
            PublishDecision::Close => {
                if let Some(conn) = self.connections.get_mut(&id) {
                    conn.wire.disconnect(now, ReasonCode::NotAuthorized);
                }
                return;
            }
        };
        let _ = routed;
        let (Some(pid), Some(conn)) = (publish.packet_id, self.connections.get_mut(&id)) else {
            return;
        };
        let mut ack = PublishAck::new(pid);
        ack.reason_code = reason;
        match publish.qos {
            QoS::AtLeastOnce => conn.wire.send_packet(now, &Packet::PubAck(ack)),
            QoS::ExactlyOnce => {
                if reason.is_error() {
                    // MQTT 5.0 §4.3.3: a PUBREC with an error ends the exchange.
                    if let Some(s) = conn
                        .client_id
                        .as_ref()
                        .and_then(|c| self.sessions.get_mut(c))
                    {
                        s.inbound_qos2.on_pubrel(pid);
                    }
                }
                conn.wire.send_packet(now, &Packet::PubRec(ack));
            }
            QoS::AtMostOnce => {}
        }
    }

    /// Publishes a message from the broker itself (MyQtt's server-side publish, admin replies):
    /// retained if asked, routed to every matching subscription. Returns the number of sessions
    /// it was delivered or queued to.
    pub fn publish(&mut self, now: Instant, publish: Publish) -> usize {
        let message = Message::from_publish(now, &publish, None);
        let n = self.publish_message(now, message);
        self.book_all();
        n
    }

    /// Marks every connection with output as writable.
    pub(crate) fn book_all(&mut self) {
        let ids: Vec<ConnectionId> = self.connections.keys().copied().collect();
        for id in ids {
            self.book(id);
        }
    }

    /// Stores or clears the retained message, then routes to subscribers. Returns how many
    /// sessions got it.
    pub(crate) fn publish_message(&mut self, now: Instant, message: Message) -> usize {
        let message = Arc::new(message);
        if message.retain && self.config.retain_available {
            self.store_retained(&message);
        }
        let targets = self.match_subscribers(&message);
        let n = targets.len();
        for (client_id, delivery) in targets {
            self.deliver(now, &client_id, delivery);
        }
        n
    }

    fn store_retained(&mut self, message: &Arc<Message>) {
        let topic = message.topic.as_str();
        if message.payload.is_empty() {
            // [MQTT-3.3.1-10] [MQTT-3.3.1-11]: an empty retained message clears the topic and is
            // not stored.
            self.retained.remove(topic);
        } else if self.retained.get(topic).is_some()
            || self.retained.len() < self.config.max_retained_messages
        {
            // [MQTT-3.3.1-5]: replace; QoS 0 retained messages are kept too (MyQtt dropped them).
            self.retained.insert(topic, message.clone());
        }
    }

    /// Who gets `message`, with what QoS, RETAIN and subscription ids: one copy per session
    /// with the highest granted QoS of its matching subscriptions ([MQTT-3.3.5-1]) and all their
    /// identifiers (5.0 [MQTT-3.3.4-3]); one member per shared subscription group (5.0 §4.8.2).
    fn match_subscribers(&mut self, message: &Arc<Message>) -> BTreeMap<MqttString, Delivery> {
        let mut targets: BTreeMap<MqttString, Delivery> = BTreeMap::new();
        let mut groups: BTreeMap<(MqttString, String), Vec<(MqttString, super::TrieEntry)>> =
            BTreeMap::new();
        let origin = message.origin.as_ref();
        self.subscriptions
            .for_each_match(message.topic.as_str(), |filter, key, entry| {
                if let Some(share) = &key.share {
                    groups
                        .entry((share.clone(), String::from(filter)))
                        .or_default()
                        .push((key.client_id.clone(), *entry));
                    return;
                }
                // MQTT 5.0 [MQTT-3.8.3-3]: No Local.
                if entry.options.no_local && origin == Some(&key.client_id) {
                    return;
                }
                merge_target(&mut targets, &key.client_id, message, entry);
            });
        for ((share, filter), members) in groups {
            let cursor = self.shared_cursor.entry((share, filter)).or_insert(0);
            let connected =
                |c: &MqttString| self.sessions.get(c).is_some_and(|s| s.connection.is_some());
            let n = members.len();
            let pick = (0..n)
                .map(|i| (*cursor + i) % n)
                .find(|&i| connected(&members[i].0))
                .unwrap_or(*cursor % n);
            *cursor = (pick + 1) % n;
            let (client_id, entry) = &members[pick];
            merge_target(&mut targets, client_id, message, entry);
        }
        targets
    }

    /// Gives `delivery` to the session of `client_id`: sent now if connected and the inflight
    /// window allows, queued otherwise (bounded).
    pub(crate) fn deliver(&mut self, now: Instant, client_id: &MqttString, delivery: Delivery) {
        let Some(session) = self.sessions.get_mut(client_id) else {
            return;
        };
        let live = session
            .connection
            .and_then(|c| self.connections.get_mut(&c))
            .filter(|c| c.wire.state() == crate::server::ServerState::Connected);
        match live {
            Some(conn) => {
                enqueue(&self.config, session, delivery, &mut self.events);
                pump(now, &self.config, &mut conn.wire, session, &mut self.events);
                if let Some(id) = session.connection {
                    self.writable.insert(id);
                }
            }
            None if delivery.qos == QoS::AtMostOnce && !self.config.queue_qos0_offline => {}
            None => enqueue(&self.config, session, delivery, &mut self.events),
        }
    }

    fn session_of(&mut self, id: ConnectionId) -> Option<(&mut ServerConnection, &mut Session)> {
        let conn = self.connections.get_mut(&id)?;
        let session = self.sessions.get_mut(conn.client_id.as_ref()?)?;
        Some((&mut conn.wire, session))
    }

    pub(crate) fn on_puback(&mut self, now: Instant, id: ConnectionId, ack: PublishAck) {
        let config = self.config.clone();
        let mut events = core::mem::take(&mut self.events);
        if let Some((wire, session)) = self.session_of(id)
            && session.outbound.on_puback(ack.packet_id).is_some()
        {
            session.ids.release(ack.packet_id);
            pump(now, &config, wire, session, &mut events);
        }
        self.events = events;
    }

    pub(crate) fn on_pubrec(&mut self, now: Instant, id: ConnectionId, rec: PublishAck) {
        let config = self.config.clone();
        let mut events = core::mem::take(&mut self.events);
        if let Some((wire, session)) = self.session_of(id) {
            let v5 = wire.version().is_v5();
            match session.outbound.on_pubrec(rec.packet_id, rec.reason_code) {
                Some(PubRecOutcome::SendPubRel | PubRecOutcome::Duplicate) => {
                    wire.send_packet(now, &Packet::PubRel(PublishAck::new(rec.packet_id)));
                }
                Some(PubRecOutcome::Refused(..)) => {
                    session.ids.release(rec.packet_id);
                    pump(now, &config, wire, session, &mut events);
                }
                None if v5 => {
                    let mut rel = PublishAck::new(rec.packet_id);
                    rel.reason_code = ReasonCode::PacketIdentifierNotFound;
                    wire.send_packet(now, &Packet::PubRel(rel));
                }
                None => {}
            }
        }
        self.events = events;
    }

    pub(crate) fn on_pubcomp(&mut self, now: Instant, id: ConnectionId, comp: PublishAck) {
        let config = self.config.clone();
        let mut events = core::mem::take(&mut self.events);
        if let Some((wire, session)) = self.session_of(id)
            && session.outbound.on_pubcomp(comp.packet_id).is_some()
        {
            session.ids.release(comp.packet_id);
            pump(now, &config, wire, session, &mut events);
        }
        self.events = events;
    }

    pub(crate) fn on_pubrel(&mut self, now: Instant, id: ConnectionId, rel: PublishAck) {
        if let Some((wire, session)) = self.session_of(id) {
            let known = session.inbound_qos2.on_pubrel(rel.packet_id);
            let mut comp = PublishAck::new(rel.packet_id);
            if !known && wire.version().is_v5() {
                comp.reason_code = ReasonCode::PacketIdentifierNotFound;
            }
            // [MQTT-4.3.3-11] (5.0) / [MQTT-4.3.3-2] (3.1.1): PUBCOMP for every PUBREL.
            wire.send_packet(now, &Packet::PubComp(comp));
        }
    }
}

fn merge_target(
    targets: &mut BTreeMap<MqttString, Delivery>,
    client_id: &MqttString,
    message: &Arc<Message>,
    entry: &super::TrieEntry,
) {
    // [MQTT-3.8.4-6]: min(publish QoS, granted QoS). 3.1.1 [MQTT-3.3.1-9]: live deliveries carry
    // RETAIN 0; 5.0 Retain As Published keeps the publisher's flag ([MQTT-3.3.1-12]).
    let qos = message.qos.min(entry.options.qos);
    let retain = message.retain && entry.options.retain_as_published;
    let target = targets
        .entry(client_id.clone())
        .or_insert_with(|| Delivery {
            message: message.clone(),
            qos,
            retain,
            subscription_ids: Vec::new(),
        });
    target.qos = target.qos.max(qos);
    target.retain |= retain;
    if let Some(sid) = entry.identifier
        && let Err(at) = target.subscription_ids.binary_search(&sid)
    {
        // Kept sorted, so the order does not depend on the trie's.
        target.subscription_ids.insert(at, sid);
    }
}

/// Queues `delivery` for `session`, applying the queue bound and its policy.
pub(crate) fn enqueue(
    config: &BrokerConfig,
    session: &mut Session,
    delivery: Delivery,
    events: &mut VecDeque<BrokerEvent>,
) {
    if session.queue.len() >= config.max_queued_messages {
        let dropped = BrokerEvent::MessageDropped {
            client_id: session.client_id.clone(),
            reason: DropReason::QueueFull,
        };
        match config.queue_full_policy {
            QueueFullPolicy::DropNewest => {
                events.push_back(dropped);
                return;
            }
            QueueFullPolicy::DropOldest => {
                session.queue.pop_front();
                events.push_back(dropped);
            }
        }
    }
    session.queue.push_back(delivery);
}

/// Sends queued deliveries while the inflight window has room: the smaller of the broker's
/// limit and the client's Receive Maximum ([MQTT-3.3.4-7], [MQTT-3.3.4-8]). Expired messages
/// are dropped ([MQTT-3.3.2-5]); messages above the client's Maximum Packet Size are discarded
/// for this client ([MQTT-3.1.2-25]).
pub(crate) fn pump(
    now: Instant,
    config: &BrokerConfig,
    wire: &mut ServerConnection,
    session: &mut Session,
    events: &mut VecDeque<BrokerEvent>,
) {
    if wire.state() != crate::server::ServerState::Connected {
        return;
    }
    let window = usize::from(config.max_inflight.min(session.client_receive_maximum)).max(1);
    while let Some(front) = session.queue.front() {
        if front.message.is_expired(now) {
            session.queue.pop_front();
            events.push_back(BrokerEvent::MessageDropped {
                client_id: session.client_id.clone(),
                reason: DropReason::Expired,
            });
            continue;
        }
        if front.qos != QoS::AtMostOnce && session.outbound.len() >= window {
            break;
        }
        let Some(delivery) = session.queue.pop_front() else {
            break;
        };
        let mut publish = delivery.message.to_publish(now, &delivery);
        if delivery.qos == QoS::AtMostOnce {
            if !wire.send_publish(now, &publish) {
                events.push_back(BrokerEvent::MessageDropped {
                    client_id: session.client_id.clone(),
                    reason: DropReason::TooLarge,
                });
            }
            continue;
        }
        let Some(pid) = session.ids.allocate() else {
            session.queue.push_front(delivery);
            break;
        };
        publish.packet_id = Some(pid);
        if !wire.send_publish(now, &publish) {
            session.ids.release(pid);
            events.push_back(BrokerEvent::MessageDropped {
                client_id: session.client_id.clone(),
                reason: DropReason::TooLarge,
            });
            continue;
        }
        if session.outbound.insert(publish, delivery).is_err() {
            // Unreachable: the id was just allocated and the QoS is 1 or 2.
            session.ids.release(pid);
        }
    }
}
