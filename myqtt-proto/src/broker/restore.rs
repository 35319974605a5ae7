//! Rebuilding broker state from storage at start (DESIGN §3 "Storage").

use super::session::{Session, SessionExpiry};
use super::{Broker, BrokerHooks, TrieEntry};
use crate::codec::ProtocolVersion;
use crate::session::SentId;
use crate::store::StoreSnapshot;
use crate::time::Instant;

impl<H: BrokerHooks> Broker<H> {
    /// Restores sessions (offline), their subscriptions, queued and in-flight messages and
    /// inbound QoS 2 state, and retained messages from `snapshot`. Call before opening
    /// connections. Expired messages are dropped; offline sessions start their expiry now.
    ///
    /// Messages that were in flight are resent with DUP when their client reconnects, in
    /// packet identifier order (the original send order is not stored).
    pub fn restore(&mut self, now: Instant, mut snapshot: StoreSnapshot) {
        snapshot.drop_expired(now);
        for (topic, message) in snapshot.retained {
            self.retained.insert(topic.as_str(), message);
        }
        for (client_id, stored) in snapshot.sessions {
            let Some(expiry) = stored.expiry.filter(|e| *e != SessionExpiry::OnClose) else {
                continue;
            };
            let mut session = Session::new(client_id.clone(), ProtocolVersion::V3_1_1, expiry);
            for (filter, subscription) in stored.subscriptions {
                let (key, match_filter) = super::subscribe::trie_key(&client_id, &filter);
                let entry = TrieEntry {
                    options: subscription.options,
                    identifier: subscription.identifier,
                };
                self.subscriptions.insert(&match_filter, key, entry);
                session.subscriptions.insert(filter, subscription);
            }
            for (seq, delivery) in stored.queue {
                session.next_seq = session.next_seq.max(seq + 1);
                session.queue.push_back((seq, delivery));
            }
            for (packet_id, (delivery, stage)) in stored.inflight {
                let sent = SentId {
                    packet_id,
                    qos: delivery.qos,
                };
                let _ = session.outbound.restore(sent, stage, delivery);
            }
            for packet_id in stored.inbound_qos2 {
                session.inbound_qos2.on_publish(packet_id);
            }
            if let SessionExpiry::After(d) = expiry {
                let generation = self.fresh_generation();
                session.generation = generation;
                session.expires_at = Some(now + d);
                self.timers.insert((
                    now + d,
                    super::Timer::session_expiry(client_id.clone(), generation),
                ));
            }
            self.sessions.insert(client_id, session);
        }
    }
}
