//! A scripted MQTT server for client transcripts: it decodes what the client sends, injects
//! what a server would answer, and advances virtual time.

use alloc::vec::Vec;
use bytes::{Bytes, BytesMut};

use crate::client::{Client, ClientConfig, ClientEvent};
use crate::codec::{
    ConnAck, MqttString, Packet, PacketId, ProtocolVersion, Publish, PublishAck, QoS, ReasonCode,
};
use crate::time::{Duration, Instant};
use crate::topic::TopicName;

/// A client under test, its virtual clock, and the server side of the transcript.
pub(crate) struct Script {
    pub(crate) client: Client,
    pub(crate) now: Instant,
    pub(crate) version: ProtocolVersion,
}

pub(crate) fn config(version: ProtocolVersion) -> ClientConfig {
    ClientConfig::new(version, MqttString::try_from("test-client").unwrap())
}

pub(crate) fn topic(s: &str) -> TopicName {
    TopicName::try_from(s).unwrap()
}

pub(crate) fn pid(v: u16) -> PacketId {
    PacketId::new(v).unwrap()
}

pub(crate) fn message(t: &str, payload: &'static [u8], qos: QoS) -> Publish {
    let mut p = Publish::new(topic(t), Bytes::from_static(payload));
    p.qos = qos;
    p
}

pub(crate) fn ack(id: u16) -> PublishAck {
    PublishAck::new(pid(id))
}

impl Script {
    pub(crate) fn new(config: ClientConfig) -> Self {
        let version = config.version;
        Script {
            client: Client::new(config),
            now: Instant::from_millis(1_000),
            version,
        }
    }

    /// Everything the client sent since the last call, decoded as the server would.
    pub(crate) fn sent(&mut self) -> Vec<Packet> {
        let mut wire = Vec::new();
        let _ = self.client.poll_transmit(&mut wire);
        let mut rx = BytesMut::from(&wire[..]);
        let mut packets = Vec::new();
        while !rx.is_empty() {
            packets.push(
                Packet::decode(&mut rx, self.version, usize::MAX)
                    .expect("client sends valid packets"),
            );
        }
        packets
    }

    /// Delivers `packet` from the server to the client.
    pub(crate) fn feed(&mut self, packet: Packet) {
        let mut wire = BytesMut::new();
        packet
            .encode_to(self.version, &mut wire)
            .expect("scripted packets encode");
        self.feed_bytes(&wire);
    }

    /// Delivers raw bytes from the server.
    pub(crate) fn feed_bytes(&mut self, bytes: &[u8]) {
        let mut rx = BytesMut::from(bytes);
        self.client.handle_input(self.now, &mut rx);
    }

    /// All events since the last call.
    pub(crate) fn events(&mut self) -> Vec<ClientEvent> {
        core::iter::from_fn(|| self.client.poll_event()).collect()
    }

    /// Moves virtual time forward by `ms`, firing the client's timer as a runtime would.
    pub(crate) fn advance(&mut self, ms: u64) {
        let end = self.now + Duration::from_millis(ms);
        while let Some(t) = self.client.poll_timeout() {
            if t > end {
                break;
            }
            self.now = t.max(self.now);
            self.client.handle_timeout(self.now);
        }
        self.now = end;
    }

    /// Transport up, CONNECT out, CONNACK in with `connack`. Returns the CONNECT sent.
    pub(crate) fn connect_with(&mut self, connack: ConnAck) -> Packet {
        self.client.handle_connected(self.now);
        let mut sent = self.sent();
        assert_eq!(sent.len(), 1, "exactly one CONNECT");
        self.feed(connack.into());
        sent.remove(0)
    }

    /// Connects with a plain successful CONNACK and drains the Connected event.
    pub(crate) fn connect(&mut self, session_present: bool) {
        self.connect_with(ConnAck {
            session_present,
            ..Default::default()
        });
        // A 3.1 CONNACK cannot say; the client assumes a session for Clean Session 0.
        let expected = session_present
            || (self.version == ProtocolVersion::V3_1 && !self.client.config().clean_start);
        let events = self.events();
        assert!(
            matches!(events.first(), Some(ClientEvent::Connected { session_present: sp, .. }) if *sp == expected),
            "{events:?}"
        );
    }

    /// The transport drops.
    pub(crate) fn drop_transport(&mut self) {
        self.client.handle_closed(self.now);
    }
}

/// Shorthand: a PUBACK/PUBREC/... with a 5.0 reason code.
pub(crate) fn ack_with(id: u16, reason: ReasonCode) -> PublishAck {
    let mut a = ack(id);
    a.reason_code = reason;
    a
}
