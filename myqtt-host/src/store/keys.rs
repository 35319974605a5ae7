//! Keys of the per-session tables: `client id ‖ 0x00 ‖ rest`.
//!
//! MQTT strings never contain U+0000 ([MQTT-1.5.4-2]), so the first zero byte ends the client
//! id, and all of one session's rows lie in the key range `[id ‖ 0x00, id ‖ 0x01)`: removing a
//! session is one range delete per table, and no client id is a prefix of another's range.

use bytes::Bytes;
use myqtt_proto::codec::{MqttString, PacketId};
use myqtt_proto::topic::{TopicFilter, TopicName};

use super::StoreError;

/// The byte between the client id and the rest of a key.
const SEPARATOR: u8 = 0x00;

/// Writes `client id ‖ 0x00 ‖ rest` into `out`, replacing its contents.
pub(super) fn session_key<'a>(
    out: &'a mut Vec<u8>,
    client_id: &MqttString,
    rest: &[u8],
) -> &'a [u8] {
    out.clear();
    out.extend_from_slice(client_id.as_bytes());
    out.push(SEPARATOR);
    out.extend_from_slice(rest);
    out
}

/// The key range `[id ‖ 0x00, id ‖ 0x01)` holding exactly the rows of `client_id`.
pub(super) fn session_range(client_id: &MqttString) -> (Vec<u8>, Vec<u8>) {
    let mut start = Vec::with_capacity(client_id.len() + 1);
    start.extend_from_slice(client_id.as_bytes());
    let mut end = start.clone();
    start.push(SEPARATOR);
    end.push(SEPARATOR + 1);
    (start, end)
}

/// A client id stored as a key or key prefix.
pub(super) fn client_id(bytes: &[u8]) -> Result<MqttString, StoreError> {
    MqttString::from_bytes(Bytes::copy_from_slice(bytes))
        .map_err(|e| StoreError::Corrupt(format!("client id {}: {e}", bytes.escape_ascii())))
}

/// Splits a per-session key into the client id and the rest.
pub(super) fn split(key: &[u8]) -> Result<(MqttString, &[u8]), StoreError> {
    let at = key.iter().position(|b| *b == SEPARATOR).ok_or_else(|| {
        StoreError::Corrupt(format!("key {} has no separator", key.escape_ascii()))
    })?;
    Ok((client_id(&key[..at])?, &key[at + 1..]))
}

/// Big-endian, so the queue table iterates in sequence order.
pub(super) fn seq(seq: u64) -> [u8; 8] {
    seq.to_be_bytes()
}

/// Decodes [`seq`].
pub(super) fn decode_seq(rest: &[u8]) -> Result<u64, StoreError> {
    let b: [u8; 8] = rest
        .try_into()
        .map_err(|_| StoreError::Corrupt(format!("queue key suffix of {} bytes", rest.len())))?;
    Ok(u64::from_be_bytes(b))
}

/// Big-endian packet identifier.
pub(super) fn packet_id(id: PacketId) -> [u8; 2] {
    id.get().to_be_bytes()
}

/// Decodes [`packet_id`].
pub(super) fn decode_packet_id(rest: &[u8]) -> Result<PacketId, StoreError> {
    let b: [u8; 2] = rest.try_into().map_err(|_| {
        StoreError::Corrupt(format!("packet id key suffix of {} bytes", rest.len()))
    })?;
    PacketId::new(u16::from_be_bytes(b))
        .ok_or_else(|| StoreError::Corrupt("packet id 0 in a key".into()))
}

/// A subscription key's topic filter.
pub(super) fn decode_filter(rest: &[u8]) -> Result<TopicFilter, StoreError> {
    let s = client_id(rest)?;
    TopicFilter::try_from(s)
        .map_err(|e| StoreError::Corrupt(format!("topic filter {}: {e}", rest.escape_ascii())))
}

/// A retained key's topic name.
pub(super) fn decode_topic(key: &[u8]) -> Result<TopicName, StoreError> {
    let s = client_id(key)?;
    TopicName::try_from(s)
        .map_err(|e| StoreError::Corrupt(format!("topic {}: {e}", key.escape_ascii())))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn ranges_do_not_overlap() {
        let a = MqttString::from_static("a");
        let a1 = MqttString::try_from("a\u{1}").unwrap();
        let ab = MqttString::from_static("ab");
        let (start, end) = session_range(&a);
        let mut buf = Vec::new();
        let in_range = |k: &[u8]| start.as_slice() <= k && k < end.as_slice();
        assert!(in_range(session_key(&mut buf, &a, &[])));
        assert!(in_range(session_key(&mut buf, &a, &[0xff; 4])));
        assert!(!in_range(session_key(&mut buf, &a1, &[])));
        assert!(!in_range(session_key(&mut buf, &ab, &[0])));
        assert!(!in_range(a.as_bytes()));
        let key = session_key(&mut buf, &a1, b"x/+").to_vec();
        let (id, rest) = split(&key).unwrap();
        assert_eq!((id.as_str(), rest), ("a\u{1}", &b"x/+"[..]));
        assert!(split(b"no separator").is_err());
        assert!(decode_packet_id(&[0, 0]).is_err());
        assert!(decode_seq(&[0; 7]).is_err());
    }
}
