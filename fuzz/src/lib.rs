//! Shared checks for the myqtt-proto fuzz targets.
//!
//! The seed corpora under `corpus/<target>/seed-*` are written by the ignored test
//! `seeds::generate`: `cargo test --manifest-path fuzz/Cargo.toml -- --ignored generate`.

use bytes::BytesMut;
use myqtt_proto::codec::{DecodeError, Packet, ProtocolVersion};

/// Maximum packet size the decode targets accept: large enough for anything a fuzz input holds.
pub const MAX_PACKET_SIZE: usize = 1 << 24;

/// Decodes `data` as a stream of packets on a connection speaking `version`.
///
/// - Nothing may panic.
/// - `Incomplete` leaves the buffer untouched; a success consumes at least one byte.
/// - Every decoded packet also decodes with `decode_exact` from exactly its own bytes.
/// - Every decoded packet re-encodes (with its own version for CONNECT), `encoded_len` equals
///   the bytes written, and decoding those bytes gives an equal packet. The re-encoding need
///   not be byte-identical to the input (non-canonical omissions are allowed).
pub fn check_decode(data: &[u8], version: ProtocolVersion) {
    let mut buf = BytesMut::from(data);
    loop {
        let before = buf.clone();
        match Packet::decode(&mut buf, version, MAX_PACKET_SIZE) {
            Ok(packet) => {
                let used = before.len() - buf.len();
                assert!(used > 0, "a decoded packet consumed no bytes");
                let frame = before.freeze().slice(..used);
                match Packet::decode_exact(frame.clone(), version, MAX_PACKET_SIZE) {
                    Ok(p) => assert_eq!(p, packet, "decode_exact differs from decode"),
                    Err(e) => panic!("decode accepted {frame:02x?} but decode_exact says {e:?}"),
                }
                check_round_trip(&packet, version);
            }
            Err(DecodeError::Incomplete { .. }) => {
                assert_eq!(buf, before, "Incomplete must leave the buffer unchanged");
                return;
            }
            // A real connection closes here.
            Err(_) => return,
        }
    }
}

/// Encodes `packet` for `version` (its own version for CONNECT) and decodes it back.
pub fn check_round_trip(packet: &Packet, version: ProtocolVersion) {
    let version = match packet {
        Packet::Connect(c) => c.protocol_version,
        _ => version,
    };
    let len = match packet.encoded_len(version) {
        Ok(len) => len,
        Err(e) => panic!("decoded packet does not re-encode for {version:?}: {e:?}\n{packet:?}"),
    };

    let mut out = Vec::new();
    let written = packet
        .encode_to(version, &mut out)
        .expect("encoded_len succeeded, so encode_to must");
    assert_eq!(
        written, len,
        "encode_to returned a length other than encoded_len"
    );
    assert_eq!(
        out.len(),
        len,
        "encode_to wrote a length other than encoded_len"
    );

    let mut slice = vec![0u8; len + 3];
    let n = packet
        .encode(version, &mut slice)
        .expect("encode into a big enough slice");
    assert_eq!(&slice[..n], &out[..], "encode and encode_to disagree");
    if len > 0 {
        match packet.encode(version, &mut slice[..len - 1]) {
            Err(myqtt_proto::codec::EncodeError::BufferTooSmall { required }) => {
                assert_eq!(required, len, "BufferTooSmall reports the wrong size")
            }
            other => panic!("encode into a short slice gave {other:?}"),
        }
    }

    let mut again = BytesMut::from(&out[..]);
    match Packet::decode(&mut again, version, MAX_PACKET_SIZE) {
        Ok(decoded) => {
            assert!(again.is_empty(), "re-decode left {} bytes", again.len());
            assert_eq!(
                &decoded, packet,
                "round trip changed the packet ({version:?}, wire {out:02x?})"
            );
        }
        Err(e) => panic!(
            "re-encoded packet does not decode ({version:?}): {e:?}\nwire {out:02x?}\n{packet:?}"
        ),
    }
}

pub mod ops;
#[cfg(test)]
mod seeds;
