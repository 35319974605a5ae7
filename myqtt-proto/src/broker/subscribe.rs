//! SUBSCRIBE and UNSUBSCRIBE: authorization, the trie, SUBACK/UNSUBACK and retained messages
//! at subscribe time (MQTT 3.1.1 §3.8-3.11, MQTT 5.0 §3.8-3.11, §4.8).

use alloc::sync::Arc;
use alloc::vec::Vec;

use super::session::SessionSubscription;
use super::{
    Broker, BrokerHooks, ConnectionId, Delivery, Message, SubscribeDecision, SubscriberKey,
    TrieEntry,
};
use crate::codec::{
    AckProperties, MqttString, Packet, QoS, ReasonCode, RetainHandling, SubAck, Subscribe,
    Subscription, UnsubAck, Unsubscribe,
};
use crate::store::StoreOp;
use crate::time::Instant;
use crate::topic::{self, TopicFilter};

/// The trie key and filter of a subscription: shared subscriptions are keyed by share name
/// and matched with their inner filter (MQTT 5.0 §4.8.2).
pub(crate) fn trie_key(
    client_id: &MqttString,
    filter: &TopicFilter,
) -> (SubscriberKey, MqttString) {
    let share = filter
        .shared()
        .and_then(|s| MqttString::try_from(s.share_name).ok());
    let key = SubscriberKey {
        client_id: client_id.clone(),
        share,
    };
    let match_filter = MqttString::try_from(filter.match_filter()).unwrap_or_default();
    (key, match_filter)
}

impl<H: BrokerHooks> Broker<H> {
    /// The reason a subscription cannot be granted before asking the hook, if any.
    fn refuse_subscription(&self, client_id: &MqttString, s: &Subscription) -> Option<ReasonCode> {
        let filter = &s.filter;
        if filter.is_shared() && !self.config.shared_subscriptions {
            return Some(ReasonCode::SharedSubscriptionsNotSupported);
        }
        if filter.has_wildcards() && !self.config.wildcard_subscriptions {
            return Some(ReasonCode::WildcardSubscriptionsNotSupported);
        }
        if topic::levels(filter.match_filter()).count() > self.config.max_topic_levels {
            return Some(ReasonCode::TopicFilterInvalid);
        }
        let session = self.sessions.get(client_id)?;
        if !session.subscriptions.contains_key(filter)
            && session.subscriptions.len() >= self.config.max_subscriptions_per_session
        {
            return Some(ReasonCode::QuotaExceeded);
        }
        None
    }

    pub(crate) fn on_subscribe(&mut self, now: Instant, id: ConnectionId, subscribe: Subscribe) {
        let Some(client_id) = self.connections.get(&id).and_then(|c| c.client_id.clone()) else {
            return;
        };
        let mut codes = Vec::with_capacity(subscribe.subscriptions.len());
        let mut retained_for: Vec<(Subscription, QoS)> = Vec::new();
        for s in &subscribe.subscriptions {
            let decision = match self.refuse_subscription(&client_id, s) {
                Some(code) => SubscribeDecision::Deny(code),
                None => match self.connections.get(&id) {
                    Some(conn) => self.hooks.on_subscribe(&conn.view(id), s),
                    None => return,
                },
            };
            let granted = match decision {
                SubscribeDecision::Grant(q) => q.min(s.options.qos).min(self.config.maximum_qos),
                SubscribeDecision::Deny(code) => {
                    codes.push(if code.is_error() {
                        code
                    } else {
                        ReasonCode::UnspecifiedError
                    });
                    continue;
                }
            };
            let mut options = s.options;
            options.qos = granted;
            let identifier = subscribe.properties.subscription_identifier;
            let (key, match_filter) = trie_key(&client_id, &s.filter);
            self.subscriptions.insert(
                &match_filter,
                key,
                TrieEntry {
                    options,
                    identifier,
                },
            );
            let Some(session) = self.sessions.get_mut(&client_id) else {
                return;
            };
            // [MQTT-3.8.4-3]: a subscription to the same filter replaces the old one.
            let subscription = SessionSubscription {
                options,
                identifier,
            };
            self.out.store(session, || StoreOp::Subscribe {
                client_id: client_id.clone(),
                filter: s.filter.clone(),
                subscription: subscription.clone(),
            });
            let existed = session
                .subscriptions
                .insert(s.filter.clone(), subscription)
                .is_some();
            codes.push(ReasonCode::granted(granted));
            // MQTT 5.0 §3.8.3.1 Retain Handling; [MQTT-3.3.1-6] in 3.1.1. Shared subscriptions
            // get no retained messages at subscribe time (MQTT 5.0 §4.8.2).
            let send_retained = !s.filter.is_shared()
                && match options.retain_handling {
                    RetainHandling::SendAtSubscribe => true,
                    RetainHandling::SendAtSubscribeIfNew => !existed,
                    RetainHandling::DoNotSend => false,
                };
            if send_retained {
                retained_for.push((
                    Subscription {
                        filter: s.filter.clone(),
                        options,
                    },
                    granted,
                ));
            }
        }
        let Some(conn) = self.connections.get_mut(&id) else {
            return;
        };
        // [MQTT-3.8.4-1]: SUBACK with the same packet id, one code per filter ([MQTT-3.9.3-1]).
        let ack = SubAck {
            packet_id: subscribe.packet_id,
            reason_codes: codes,
            properties: AckProperties::default(),
        };
        // Durability::Strict: the client must not learn of a subscription a crash could still
        // take away from a session the restarted broker reports as present.
        let target = super::HoldTarget {
            id,
            wire: &mut conn.wire,
            held: None,
        };
        self.out
            .send_or_hold(now, target, Packet::SubAck(ack), true);
        // Retained messages follow the SUBACK, flagged RETAIN 1 ([MQTT-3.3.1-8]), with the QoS
        // downgraded to the granted one.
        for (sub, granted) in retained_for {
            let mut matching: Vec<Arc<Message>> = Vec::new();
            self.retained
                .for_each_matching(sub.filter.match_filter(), |_, m| {
                    if !m.is_expired(now) {
                        matching.push(m.clone());
                    }
                });
            let identifier = subscribe.properties.subscription_identifier;
            for message in matching {
                let delivery = Delivery {
                    qos: message.qos.min(granted),
                    retain: true,
                    subscription_ids: identifier.into_iter().collect(),
                    message,
                };
                self.deliver(now, &client_id, delivery);
            }
        }
    }

    pub(crate) fn on_unsubscribe(
        &mut self,
        now: Instant,
        id: ConnectionId,
        unsubscribe: Unsubscribe,
    ) {
        let Some(conn) = self.connections.get(&id) else {
            return;
        };
        let Some(client_id) = conn.client_id.clone() else {
            return;
        };
        let mut codes = Vec::with_capacity(unsubscribe.filters.len());
        for filter in &unsubscribe.filters {
            if let Some(conn) = self.connections.get(&id) {
                self.hooks.on_unsubscribe(&conn.view(id), filter);
            }
            let removed = self
                .sessions
                .get_mut(&client_id)
                .is_some_and(|s| s.subscriptions.remove(filter).is_some());
            if removed {
                if let Some(session) = self.sessions.get(&client_id) {
                    self.out.store(session, || StoreOp::Unsubscribe {
                        client_id: client_id.clone(),
                        filter: filter.clone(),
                    });
                }
                let (key, match_filter) = trie_key(&client_id, filter);
                self.subscriptions.remove(&match_filter, &key);
            }
            codes.push(if removed {
                ReasonCode::Success
            } else {
                ReasonCode::NoSubscriptionExisted
            });
        }
        let Some(conn) = self.connections.get_mut(&id) else {
            return;
        };
        let reason_codes = if conn.wire.version().is_v5() {
            codes
        } else {
            Vec::new()
        };
        // [MQTT-3.10.4-4]: UNSUBACK even when nothing was removed.
        let ack = UnsubAck {
            packet_id: unsubscribe.packet_id,
            reason_codes,
            properties: AckProperties::default(),
        };
        // Durability::Strict: likewise, an unsubscription is durable before it is confirmed.
        let target = super::HoldTarget {
            id,
            wire: &mut conn.wire,
            held: None,
        };
        self.out
            .send_or_hold(now, target, Packet::UnsubAck(ack), true);
    }

    /// Removes every subscription of a session from the trie.
    pub(crate) fn unsubscribe_all(&mut self, client_id: &MqttString) {
        let Some(session) = self.sessions.get(client_id) else {
            return;
        };
        let filters: Vec<TopicFilter> = session.subscriptions.keys().cloned().collect();
        for filter in filters {
            let (key, match_filter) = trie_key(client_id, &filter);
            self.subscriptions.remove(&match_filter, &key);
        }
    }
}
