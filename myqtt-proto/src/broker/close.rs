//! Connections ending: wills (with delay), session end and expiry (MQTT 3.1.1 §3.1.2.5,
//! §3.1.2.4; MQTT 5.0 §3.1.2.5, §3.1.3.2.2, §4.1).

use super::session::SessionExpiry;
use super::{Broker, BrokerEvent, BrokerHooks, ConnectionId, Message, PendingWill, Timer};
use crate::codec::{MqttString, Publish, PublishProperties, Will};
use crate::server::CloseCause;
use crate::store::StoreOp;
use crate::time::{Duration, Instant};

impl<H: BrokerHooks> Broker<H> {
    pub(crate) fn on_closed(&mut self, now: Instant, id: ConnectionId, cause: CloseCause) {
        let Some(conn) = self.connections.get_mut(&id) else {
            return;
        };
        if conn.close_reported {
            return;
        }
        conn.close_reported = true;
        conn.pending = None;
        self.closes.push_back(id);
        let client_id = conn.client_id.clone();
        let will = if cause.publishes_will() {
            conn.will.take().map(|will| *will)
        } else {
            None
        };
        let connect_expiry = conn.connect_session_expiry;
        self.out.events.push_back(BrokerEvent::ConnectionClosed {
            connection: id,
            client_id: client_id.clone(),
            cause: cause.clone(),
        });
        let Some(client_id) = client_id else { return };
        let Some(session) = self.sessions.get_mut(&client_id) else {
            return;
        };
        if session.connection != Some(id) {
            return; // refused, or taken over already
        }
        session.connection = None;
        // MQTT 5.0 §3.14.2.2.2: DISCONNECT may change the Session Expiry Interval, unless
        // CONNECT had set it to 0 ([MQTT-3.14.2-2]).
        if let CloseCause::ClientDisconnect(d) = &cause
            && let Some(secs) = d.properties.session_expiry_interval
            && connect_expiry != 0
        {
            let secs = secs.min(self.config.max_session_expiry_interval);
            let expiry = match secs {
                0 => SessionExpiry::OnClose,
                u32::MAX => SessionExpiry::Never,
                s => SessionExpiry::After(Duration::from_secs(u64::from(s))),
            };
            session.expiry = expiry;
            self.out.store(session, || StoreOp::SessionUpsert {
                client_id: client_id.clone(),
                expiry,
            });
        }
        let expiry = session.expiry;
        if let Some(will) = will {
            let delay = will.properties.will_delay_interval.unwrap_or(0);
            if delay == 0 || expiry == SessionExpiry::OnClose {
                self.publish_will(now, &client_id, will);
            } else {
                // [MQTT-3.1.3-9]: wait for the delay, unless the client reconnects first.
                let generation = self.fresh_generation();
                let due = now + Duration::from_secs(u64::from(delay));
                self.wills
                    .insert(client_id.clone(), PendingWill { will, generation });
                self.timers
                    .insert((due, Timer::will(client_id.clone(), generation)));
            }
        }
        match expiry {
            SessionExpiry::OnClose => self.end_session(now, &client_id),
            SessionExpiry::After(d) => {
                let generation = self.fresh_generation();
                if let Some(session) = self.sessions.get_mut(&client_id) {
                    session.generation = generation;
                    session.expires_at = Some(now + d);
                }
                self.timers
                    .insert((now + d, Timer::session_expiry(client_id, generation)));
            }
            SessionExpiry::Never => {}
        }
    }

    fn publish_will(&mut self, now: Instant, client_id: &MqttString, will: Will) {
        let props = &will.properties;
        let properties = PublishProperties {
            payload_format_indicator: props.payload_format_indicator,
            message_expiry_interval: props.message_expiry_interval,
            content_type: props.content_type.clone(),
            response_topic: props.response_topic.clone(),
            correlation_data: props.correlation_data.clone(),
            user_properties: props.user_properties.clone(),
            ..PublishProperties::default()
        };
        let publish = Publish {
            dup: false,
            qos: will.qos,
            retain: will.retain,
            topic: will.topic,
            packet_id: None,
            properties,
            payload: will.payload,
        };
        let message = Message::from_publish(now, &publish, Some(client_id.clone()));
        self.publish_message(now, message);
        self.out.events.push_back(BrokerEvent::WillPublished {
            client_id: client_id.clone(),
        });
    }

    pub(crate) fn fire_will(&mut self, now: Instant, client_id: &MqttString, generation: u64) {
        if self
            .wills
            .get(client_id)
            .is_some_and(|w| w.generation == generation)
            && let Some(pending) = self.wills.remove(client_id)
        {
            self.publish_will(now, client_id, pending.will);
        }
    }

    pub(crate) fn expire_session(&mut self, now: Instant, client_id: &MqttString, generation: u64) {
        let expired = self
            .sessions
            .get(client_id)
            .is_some_and(|s| s.connection.is_none() && s.generation == generation);
        if expired {
            self.end_session(now, client_id);
        }
    }

    /// Ends a session: its subscriptions, queue and QoS state go; a will still waiting for its
    /// delay is published now ("or the Session ends", MQTT 5.0 §3.1.3.2.2).
    pub(crate) fn end_session(&mut self, now: Instant, client_id: &MqttString) {
        self.unsubscribe_all(client_id);
        if self.sessions.remove(client_id).is_some() {
            // Also for sessions that were stored before their expiry dropped to zero.
            self.out.store_always(|| StoreOp::SessionRemove {
                client_id: client_id.clone(),
            });
            self.out.events.push_back(BrokerEvent::SessionEnded {
                client_id: client_id.clone(),
            });
        }
        if let Some(pending) = self.wills.remove(client_id) {
            self.publish_will(now, client_id, pending.will);
        }
    }

    /// Closes `connection` from the server side (MyQtt `conn.shutdown()`): 5.0 clients get
    /// DISCONNECT with `reason` (e.g. Server shutting down, Administrative action).
    pub fn disconnect(
        &mut self,
        now: Instant,
        connection: ConnectionId,
        reason: crate::codec::ReasonCode,
    ) {
        if let Some(conn) = self.connections.get_mut(&connection) {
            conn.wire.disconnect(now, reason);
        }
        self.after_wire(now, connection);
    }
}
