//! PUBLISH from clients, routing to subscriptions, delivery to sessions with flow control, and
//! the QoS handshakes on both sides (MQTT 3.1.1 §3.3, §4.3-4.6; MQTT 5.0 §3.3, §4.3-4.9).

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::num::NonZeroU32;

use super::session::Session;
use super::{
    Broker, BrokerConfig, BrokerEvent, BrokerHooks, ConnectionId, Delivery, DropReason, Message,
    PublishDecision, QueueFullPolicy,
};
use crate::codec::{MqttString, Packet, PacketError, Publish, PublishAck, QoS, ReasonCode};
use crate::server::ServerConnection;
use crate::session::{PubRecOutcome, SentId};
use crate::store::StoreOp;
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
        let held = conn.held_acks;
        let wire = &mut conn.wire;
        // Acknowledgments held for the store count against our Receive Maximum
        // ([MQTT-3.3.4-9]); 3.x has no such limit but gets the same bound, so a client cannot
        // pile up held acknowledgments while the disk is slow.
        if publish.packet_id.is_some() && held >= usize::from(self.config.receive_maximum) {
            wire.violation(ReasonCode::ReceiveMaximumExceeded, None);
            return;
        }
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
            self.out.store(session, || StoreOp::InboundQos2 {
                client_id: session.client_id.clone(),
                packet_id: pid,
                pending: true,
            });
        }
        let decision = self.hooks.on_publish(&conn.view(id), &publish);
        let (qos, packet_id) = (publish.qos, publish.packet_id);
        let (reason, routed) = match decision {
            PublishDecision::Allow => {
                let message = Message::from_received(now, publish, Some(client_id));
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
        let (Some(pid), Some(conn)) = (packet_id, self.connections.get_mut(&id)) else {
            return;
        };
        let mut ack = PublishAck::new(pid);
        ack.reason_code = reason;
        let packet = match qos {
            QoS::AtLeastOnce => Packet::PubAck(ack),
            QoS::ExactlyOnce => {
                if reason.is_error() {
                    // MQTT 5.0 §4.3.3: a PUBREC with an error ends the exchange.
                    if let Some(s) = conn
                        .client_id
                        .as_ref()
                        .and_then(|c| self.sessions.get_mut(c))
                    {
                        s.inbound_qos2.on_pubrel(pid);
                        self.out.store(s, || StoreOp::InboundQos2 {
                            client_id: s.client_id.clone(),
                            packet_id: pid,
                            pending: false,
                        });
                    }
                }
                Packet::PubRec(ack)
            }
            QoS::AtMostOnce => return,
        };
        // Durability::Strict: the acknowledgment waits until what this message changed in the
        // store is durable, and never overtakes an earlier held packet of any connection.
        let target = super::HoldTarget {
            id,
            wire: &mut conn.wire,
            held: Some(&mut conn.held_acks),
        };
        self.out.send_or_hold(now, target, packet, true);
    }

    /// Publishes a message from the broker itself (MyQtt's server-side publish, admin replies):
    /// retained if asked, routed to every matching subscription. Returns the number of sessions
    /// it was delivered or queued to.
    pub fn publish(&mut self, now: Instant, publish: Publish) -> usize {
        let message = Message::from_publish(now, &publish, None);
        self.publish_message(now, message)
    }

    /// Stores or clears the retained message, then routes to subscribers. Returns how many
    /// sessions got it.
    pub(crate) fn publish_message(&mut self, now: Instant, message: Message) -> usize {
        let message = Arc::new(message);
        if message.retain && self.config.retain_available {
            self.store_retained(&message);
        }
        // The scratch list keeps its capacity from message to message (DESIGN §1.7: no
        // allocation per message beyond what routing needs).
        let mut targets = core::mem::take(&mut self.targets);
        self.match_subscribers(&message, &mut targets);
        let n = targets.len();
        // One PUBLISH for all the subscribers it goes out to at once: only QoS, RETAIN, packet
        // id and subscription ids differ between them, and the payload is never cloned.
        let mut template = None;
        for target in targets.drain(..) {
            self.route(now, &message, target, &mut template);
        }
        self.targets = targets;
        n
    }

    fn store_retained(&mut self, message: &Arc<Message>) {
        let topic = message.topic.as_str();
        if message.payload.is_empty() {
            // [MQTT-3.3.1-10] [MQTT-3.3.1-11]: an empty retained message clears the topic and is
            // not stored.
            if self.retained.remove(topic).is_some() {
                self.out.store_always(|| StoreOp::RetainClear {
                    topic: message.topic.clone(),
                });
            }
        } else if self.retained.get(topic).is_some()
            || self.retained.len() < self.config.max_retained_messages
        {
            // [MQTT-3.3.1-5]: replace; QoS 0 retained messages are kept too (MyQtt dropped them).
            self.retained.insert(topic, message.clone());
            self.out.store_always(|| StoreOp::RetainSet {
                message: message.clone(),
            });
        }
    }

    /// Who gets `message`, with what QoS, RETAIN and subscription ids: one copy per session
    /// with the highest granted QoS of its matching subscriptions ([MQTT-3.3.5-1]) and all their
    /// identifiers (5.0 [MQTT-3.3.4-3]); one member per shared subscription group (5.0 §4.8.2).
    /// Fills `targets` (empty on entry) in client identifier order.
    fn match_subscribers(&mut self, message: &Arc<Message>, targets: &mut Vec<Target>) {
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
                targets.push(target(&key.client_id, message, entry));
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
            targets.push(target(client_id, message, entry));
        }
        // One delivery per session. The trie visits each filter's subscribers in client id
        // order, so with one matching filter the stable sort is a single pass.
        targets.sort_by(|a, b| a.client_id.cmp(&b.client_id));
        targets.dedup_by(|later, kept| {
            if later.client_id != kept.client_id {
                return false;
            }
            kept.qos = kept.qos.max(later.qos);
            kept.retain |= later.retain;
            for sid in &later.subscription_ids {
                if let Err(at) = kept.subscription_ids.binary_search(sid) {
                    // Kept sorted, so the order does not depend on the trie's.
                    kept.subscription_ids.insert(at, *sid);
                }
            }
            true
        });
    }

    /// Routes `message` to one session. QoS 0 to a connected session with nothing queued goes
    /// out at once from `template` without a [`Delivery`] (no reference count taken on the
    /// message); everything else goes through [`Broker::deliver`].
    fn route(
        &mut self,
        now: Instant,
        message: &Arc<Message>,
        target: Target,
        template: &mut Option<Publish>,
    ) {
        let Target {
            client_id,
            qos,
            retain,
            subscription_ids,
        } = target;
        if qos == QoS::AtMostOnce
            && let Some(session) = self.sessions.get_mut(&client_id)
            && session.queue.is_empty()
            && let Some(id) = session.connection
            && let Some(conn) = self
                .connections
                .get_mut(&id)
                .filter(|c| c.wire.state() == crate::server::ServerState::Connected)
        {
            let parts = (message.as_ref(), retain, subscription_ids.as_slice());
            send_at_most_once(
                now,
                &mut conn.wire,
                session,
                id,
                parts,
                &mut self.out,
                template,
            );
            self.writable.insert(id);
            return;
        }
        let delivery = Delivery {
            message: message.clone(),
            qos,
            retain,
            subscription_ids,
        };
        self.deliver_with(now, &client_id, delivery, template);
    }

    /// Gives `delivery` to the session of `client_id`: sent now if connected and the inflight
    /// window allows, queued otherwise (bounded).
    pub(crate) fn deliver(&mut self, now: Instant, client_id: &MqttString, delivery: Delivery) {
        self.deliver_with(now, client_id, delivery, &mut None);
    }

    /// [`Broker::deliver`], sending from `template`, a PUBLISH of the same message built by
    /// the first immediate send (see [`send_one`]).
    fn deliver_with(
        &mut self,
        now: Instant,
        client_id: &MqttString,
        delivery: Delivery,
        template: &mut Option<Publish>,
    ) {
        let Some(session) = self.sessions.get_mut(client_id) else {
            return;
        };
        let live = session
            .connection
            .and_then(|c| self.connections.get_mut(&c))
            .filter(|c| c.wire.state() == crate::server::ServerState::Connected);
        match live {
            Some(conn) => {
                if can_send_now(&self.config, session, &delivery) {
                    if let Err(delivery) = send_one(
                        now,
                        &mut conn.wire,
                        session,
                        delivery,
                        &mut self.out,
                        template,
                    ) {
                        enqueue(&self.config, session, delivery, &mut self.out);
                    }
                } else {
                    enqueue(&self.config, session, delivery, &mut self.out);
                    pump(now, &self.config, &mut conn.wire, session, &mut self.out);
                }
                if let Some(id) = session.connection {
                    self.writable.insert(id);
                }
            }
            None if delivery.qos == QoS::AtMostOnce && !self.config.queue_qos0_offline => {}
            None => enqueue(&self.config, session, delivery, &mut self.out),
        }
    }

    pub(crate) fn on_puback(&mut self, now: Instant, id: ConnectionId, ack: PublishAck) {
        let (config, out, found) = self.session_of(id);
        if let Some((wire, session)) = found
            && session.outbound.on_puback(ack.packet_id).is_some()
        {
            out.store(session, || StoreOp::InflightDone {
                client_id: session.client_id.clone(),
                packet_id: ack.packet_id,
            });
            pump(now, config, wire, session, out);
        }
    }

    pub(crate) fn on_pubrec(&mut self, now: Instant, id: ConnectionId, rec: PublishAck) {
        let (config, out, found) = self.session_of(id);
        if let Some((wire, session)) = found {
            let v5 = wire.version().is_v5();
            match session.outbound.on_pubrec(rec.packet_id, rec.reason_code) {
                Some(outcome @ (PubRecOutcome::SendPubRel | PubRecOutcome::Duplicate)) => {
                    if outcome == PubRecOutcome::SendPubRel {
                        out.store(session, || StoreOp::InflightReleased {
                            client_id: session.client_id.clone(),
                            packet_id: rec.packet_id,
                        });
                    }
                    // Once the subscriber has PUBREL it forgets the message: the release must
                    // be durable first, or a restart would send the PUBLISH again [MQTT-4.3.3-12].
                    let target = super::HoldTarget {
                        id,
                        wire,
                        held: None,
                    };
                    let rel = Packet::PubRel(PublishAck::new(rec.packet_id));
                    out.send_or_hold(now, target, rel, true);
                }
                Some(PubRecOutcome::Refused(..)) => {
                    out.store(session, || StoreOp::InflightDone {
                        client_id: session.client_id.clone(),
                        packet_id: rec.packet_id,
                    });
                    pump(now, config, wire, session, out);
                }
                None if v5 => {
                    let mut rel = PublishAck::new(rec.packet_id);
                    rel.reason_code = ReasonCode::PacketIdentifierNotFound;
                    wire.send_packet(now, &Packet::PubRel(rel));
                }
                None => {}
            }
        }
    }

    pub(crate) fn on_pubcomp(&mut self, now: Instant, id: ConnectionId, comp: PublishAck) {
        let (config, out, found) = self.session_of(id);
        if let Some((wire, session)) = found
            && session.outbound.on_pubcomp(comp.packet_id).is_some()
        {
            out.store(session, || StoreOp::InflightDone {
                client_id: session.client_id.clone(),
                packet_id: comp.packet_id,
            });
            pump(now, config, wire, session, out);
        }
    }

    pub(crate) fn on_pubrel(&mut self, now: Instant, id: ConnectionId, rel: PublishAck) {
        let (_, out, found) = self.session_of(id);
        if let Some((wire, session)) = found {
            let known = session.inbound_qos2.on_pubrel(rel.packet_id);
            if known {
                out.store(session, || StoreOp::InboundQos2 {
                    client_id: session.client_id.clone(),
                    packet_id: rel.packet_id,
                    pending: false,
                });
            }
            let mut comp = PublishAck::new(rel.packet_id);
            if !known && wire.version().is_v5() {
                comp.reason_code = ReasonCode::PacketIdentifierNotFound;
            }
            // [MQTT-4.3.3-11] (5.0) / [MQTT-4.3.3-2] (3.1.1): PUBCOMP for every PUBREL. The
            // client may reuse the packet id once it has PUBCOMP, so the release is durable
            // first: otherwise a restart would take the new message for a duplicate.
            let target = super::HoldTarget {
                id,
                wire,
                held: None,
            };
            out.send_or_hold(now, target, Packet::PubComp(comp), true);
        }
    }

    /// The wire and session of connection `id`, borrowed next to the configuration and the
    /// outputs (split borrows: nothing is cloned per acknowledgment).
    #[allow(clippy::type_complexity)]
    fn session_of(
        &mut self,
        id: ConnectionId,
    ) -> (
        &BrokerConfig,
        &mut super::Outputs,
        Option<(&mut ServerConnection, &mut Session)>,
    ) {
        let found = self.connections.get_mut(&id).and_then(|conn| {
            let session = self.sessions.get_mut(conn.client_id.as_ref()?)?;
            Some((&mut conn.wire, session))
        });
        (&self.config, &mut self.out, found)
    }
}

/// One session a message is routed to, in the broker's scratch list: a [`Delivery`] without
/// the message, which is the same for all.
#[derive(Debug)]
pub(crate) struct Target {
    client_id: MqttString,
    qos: QoS,
    retain: bool,
    subscription_ids: Vec<NonZeroU32>,
}

/// What one matching subscription asks for: [MQTT-3.8.4-6] min(publish QoS, granted QoS);
/// 3.1.1 [MQTT-3.3.1-9]: live deliveries carry RETAIN 0, 5.0 Retain As Published keeps the
/// publisher's flag ([MQTT-3.3.1-12]).
fn target(client_id: &MqttString, message: &Message, entry: &super::TrieEntry) -> Target {
    Target {
        client_id: client_id.clone(),
        qos: message.qos.min(entry.options.qos),
        retain: message.retain && entry.options.retain_as_published,
        subscription_ids: entry.identifier.into_iter().collect(),
    }
}

/// The PUBLISH of `message` for one session: built into `template` on first use, then only
/// the per-session fields are rewritten (topic, payload, properties and remaining expiry are
/// the same for every session at the same `now`).
fn fill_template<'t>(
    template: &'t mut Option<Publish>,
    now: Instant,
    message: &Message,
    qos: QoS,
    retain: bool,
    subscription_ids: &[NonZeroU32],
) -> &'t mut Publish {
    match template {
        Some(publish) => {
            publish.dup = false;
            publish.qos = qos;
            publish.retain = retain;
            publish.packet_id = None;
            let ids = &mut publish.properties.subscription_identifiers;
            ids.clear();
            ids.extend_from_slice(subscription_ids);
            publish
        }
        None => template.insert(message.publish_for(now, qos, retain, subscription_ids)),
    }
}

/// Sends a QoS 0 message to the connected session (connection `id`): nothing is kept.
/// Expired messages are dropped ([MQTT-3.3.2-5]), and messages above the client's Maximum
/// Packet Size discarded for it ([MQTT-3.1.2-25]).
fn send_at_most_once(
    now: Instant,
    wire: &mut ServerConnection,
    session: &Session,
    id: ConnectionId,
    (message, retain, subscription_ids): (&Message, bool, &[NonZeroU32]),
    out: &mut super::Outputs,
    template: &mut Option<Publish>,
) {
    let dropped = |reason| BrokerEvent::MessageDropped {
        client_id: session.client_id.clone(),
        reason,
    };
    if message.is_expired(now) {
        out.events.push_back(dropped(DropReason::Expired));
        return;
    }
    if !out.congested.is_empty() && out.congested.contains(&id) {
        out.events.push_back(dropped(DropReason::Congested));
        return;
    }
    let publish = fill_template(
        template,
        now,
        message,
        QoS::AtMostOnce,
        retain,
        subscription_ids,
    );
    let target = super::HoldTarget {
        id,
        wire,
        held: None,
    };
    if !out.send_publish_or_hold(now, target, publish, false) {
        out.events.push_back(dropped(DropReason::TooLarge));
    }
}

/// Queues `delivery` for `session`, applying the queue bound and its policy.
pub(crate) fn enqueue(
    config: &BrokerConfig,
    session: &mut Session,
    delivery: Delivery,
    out: &mut super::Outputs,
) {
    if session.queue.len() >= config.max_queued_messages {
        let dropped = BrokerEvent::MessageDropped {
            client_id: session.client_id.clone(),
            reason: DropReason::QueueFull,
        };
        match config.queue_full_policy {
            QueueFullPolicy::DropNewest => {
                out.events.push_back(dropped);
                return;
            }
            QueueFullPolicy::DropOldest => {
                if let Some((seq, _)) = session.queue.pop_front() {
                    out.store(session, || StoreOp::Dequeue {
                        client_id: session.client_id.clone(),
                        seq,
                    });
                }
                out.events.push_back(dropped);
            }
        }
    }
    let seq = session.next_seq;
    session.next_seq += 1;
    out.store(session, || StoreOp::Enqueue {
        client_id: session.client_id.clone(),
        seq,
        delivery: delivery.clone(),
    });
    session.queue.push_back((seq, delivery));
}

/// The inflight window: the smaller of the broker's limit and the client's Receive Maximum
/// ([MQTT-3.3.4-7], [MQTT-3.3.4-8]).
fn window(config: &BrokerConfig, session: &Session) -> usize {
    usize::from(config.max_inflight.min(session.client_receive_maximum)).max(1)
}

/// Whether `delivery` can go out right now without overtaking queued messages.
pub(crate) fn can_send_now(config: &BrokerConfig, session: &Session, delivery: &Delivery) -> bool {
    session.queue.is_empty()
        && (delivery.qos == QoS::AtMostOnce || session.outbound.len() < window(config, session))
}

/// Sends one delivery. Expired messages are dropped ([MQTT-3.3.2-5]); messages above the
/// client's Maximum Packet Size are discarded for this client ([MQTT-3.1.2-25]). Gives the
/// delivery back if no packet identifier is free.
///
/// `template` is `Some` when routing one message to many sessions: the PUBLISH is built into
/// it on first use and reused for the next sessions, so a subscriber's delivery costs no
/// clone of topic, payload or properties unless the packet must be kept (QoS 1/2 in flight,
/// or held for the store).
pub(crate) fn send_one(
    now: Instant,
    wire: &mut ServerConnection,
    session: &mut Session,
    delivery: Delivery,
    out: &mut super::Outputs,
    template: &mut Option<Publish>,
) -> Result<(), Delivery> {
    let dropped = |session: &Session, reason| BrokerEvent::MessageDropped {
        client_id: session.client_id.clone(),
        reason,
    };
    if delivery.message.is_expired(now) {
        out.events.push_back(dropped(session, DropReason::Expired));
        return Ok(());
    }
    let Some(id) = session.connection else {
        return Err(delivery);
    };
    if delivery.qos == QoS::AtMostOnce {
        let parts = (
            delivery.message.as_ref(),
            delivery.retain,
            delivery.subscription_ids.as_slice(),
        );
        send_at_most_once(now, wire, session, id, parts, out, template);
        return Ok(());
    }
    let publish = fill_template(
        template,
        now,
        &delivery.message,
        delivery.qos,
        delivery.retain,
        &delivery.subscription_ids,
    );
    let Some(pid) = session.allocate_packet_id() else {
        return Err(delivery);
    };
    publish.packet_id = Some(pid);
    if !wire.publish_fits(publish) {
        out.events.push_back(dropped(session, DropReason::TooLarge));
        return Ok(());
    }
    out.store(session, || StoreOp::InflightAdd {
        client_id: session.client_id.clone(),
        packet_id: pid,
        delivery: delivery.clone(),
    });
    let qos = delivery.qos;
    let sent = SentId {
        packet_id: pid,
        qos: delivery.qos,
    };
    if session.outbound.insert(sent, delivery).is_err() {
        // Unreachable: the id was just allocated and the QoS is 1 or 2.
        return Ok(());
    }
    // A QoS 2 PUBLISH waits until its in-flight record is durable: lost in a crash, the
    // message would be sent again from the queue under a new packet id and delivered twice
    // [MQTT-4.3.3-12]. (QoS 1 may be delivered twice; it only keeps its place in line.)
    let target = super::HoldTarget {
        id,
        wire,
        held: None,
    };
    out.send_publish_or_hold(now, target, publish, qos == QoS::ExactlyOnce);
    Ok(())
}

/// Sends queued deliveries while the inflight window has room, in order.
pub(crate) fn pump(
    now: Instant,
    config: &BrokerConfig,
    wire: &mut ServerConnection,
    session: &mut Session,
    out: &mut super::Outputs,
) {
    if wire.state() != crate::server::ServerState::Connected {
        return;
    }
    let window = window(config, session);
    while let Some((_, front)) = session.queue.front() {
        if front.qos != QoS::AtMostOnce
            && !front.message.is_expired(now)
            && session.outbound.len() >= window
        {
            break;
        }
        let Some((seq, delivery)) = session.queue.pop_front() else {
            break;
        };
        if let Err(delivery) = send_one(now, wire, session, delivery, out, &mut None) {
            session.queue.push_front((seq, delivery));
            break;
        }
        out.store(session, || StoreOp::Dequeue {
            client_id: session.client_id.clone(),
            seq,
        });
    }
}
