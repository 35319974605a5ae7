//! Zero-copy hot path (DESIGN §1.7): decoding a PUBLISH from a `BytesMut` receive buffer performs
//! no heap allocation per packet, and its topic, payload and string/binary properties are views
//! of the receive buffer; encoding into a caller slice allocates nothing.
//!
//! A counting global allocator wraps `System`. Counts are kept per thread, so tests running in
//! parallel in this binary do not disturb each other.
#![allow(unsafe_code)] // `GlobalAlloc` is an unsafe trait; the library itself forbids unsafe code.
#![allow(clippy::unwrap_used)] // test helpers outside `#[test]` functions

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::num::NonZeroU16;

use bytes::{Bytes, BytesMut};
use myqtt_proto::codec::{
    Connect, MAX_PACKET_SIZE, MqttString, PacketId, Publish, PublishProperties,
};
use myqtt_proto::topic::TopicName;
use myqtt_proto::{Packet, ProtocolVersion, QoS};

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn count_one() {
    // `try_with`: the slot may already be gone while the thread is being torn down.
    let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
}

// SAFETY: every call is forwarded unchanged to `System`; the counter is a const-initialised
// thread-local `Cell` without destructor, so touching it never allocates or re-enters.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_one();
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count_one();
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_one();
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Heap allocations made by this thread while running `f`.
fn allocations<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let before = ALLOCATIONS.with(Cell::get);
    let out = f();
    let after = ALLOCATIONS.with(Cell::get);
    (out, after - before)
}

const PACKETS: usize = 1000;

fn s(v: &str) -> MqttString {
    MqttString::try_from(v).unwrap()
}

fn publish(i: usize, properties: PublishProperties) -> Packet {
    let payload: Vec<u8> = (0..200).map(|b| (b + i) as u8).collect();
    Packet::Publish(Publish {
        dup: false,
        qos: QoS::AtLeastOnce,
        retain: false,
        topic: TopicName::try_from(format!("sensors/{i}/temperature").as_str()).unwrap(),
        packet_id: PacketId::new(1 + (i % 65_535) as u16),
        properties,
        payload: Bytes::from(payload),
    })
}

fn v5_properties() -> PublishProperties {
    PublishProperties {
        message_expiry_interval: Some(60),
        topic_alias: NonZeroU16::new(3),
        content_type: Some(s("application/octet-stream")),
        correlation_data: Some(Bytes::from_static(b"correlation-0001")),
        response_topic: Some(TopicName::try_from("replies/client-1").unwrap()),
        ..PublishProperties::default()
    }
}

/// Whether `part` lies inside `whole` (same memory, not a copy).
fn within(part: &[u8], whole: (usize, usize)) -> bool {
    let p = part.as_ptr() as usize;
    p >= whole.0 && p + part.len() <= whole.0 + whole.1
}

/// Decodes `PACKETS` frames from one pre-filled receive buffer and checks allocations and
/// buffer sharing.
fn decode_without_allocating(version: ProtocolVersion, properties: fn() -> PublishProperties) {
    let expected: Vec<Packet> = (0..PACKETS).map(|i| publish(i, properties())).collect();
    let mut rx = BytesMut::new();
    for p in &expected {
        p.encode_to(version, &mut rx).unwrap();
    }
    let region = (rx.as_ptr() as usize, rx.len());
    let mut decoded: Vec<Packet> = Vec::with_capacity(PACKETS);

    let ((), allocs) = allocations(|| {
        while !rx.is_empty() {
            let p = Packet::decode(&mut rx, version, MAX_PACKET_SIZE).expect("valid frame");
            decoded.push(p);
        }
    });
    // One-time promotion of the `BytesMut` to shared storage on the first `split_to`; nothing
    // per packet.
    assert!(
        allocs <= 1,
        "{version}: {allocs} allocations decoding {PACKETS} PUBLISH packets"
    );
    assert_eq!(decoded, expected, "{version}: decoded packets");
    for p in &decoded {
        let Packet::Publish(p) = p else {
            panic!("not a PUBLISH")
        };
        assert!(within(p.topic.as_bytes(), region), "topic is a view");
        assert!(within(&p.payload, region), "payload is a view");
        let props = &p.properties;
        if let Some(ct) = &props.content_type {
            assert!(within(ct.as_bytes(), region), "content type is a view");
        }
        if let Some(rt) = &props.response_topic {
            assert!(within(rt.as_bytes(), region), "response topic is a view");
        }
        if let Some(cd) = &props.correlation_data {
            assert!(within(cd, region), "correlation data is a view");
        }
    }
}

#[test]
fn counting_allocator_sees_allocations() {
    let (v, allocs) = allocations(|| vec![1u8; 64]);
    assert_eq!(v.len(), 64);
    assert_eq!(allocs, 1);
}

#[test]
fn decode_publish_v311_allocates_nothing_per_packet() {
    decode_without_allocating(ProtocolVersion::V3_1_1, PublishProperties::default);
}

#[test]
fn decode_publish_v5_with_properties_allocates_nothing_per_packet() {
    decode_without_allocating(ProtocolVersion::V5, v5_properties);
}

#[test]
fn encode_into_a_slice_allocates_nothing() {
    let mut out = vec![0u8; 4096];
    let mut connect = Connect::new(ProtocolVersion::V5, s("client-1"));
    connect.username = Some(s("alice"));
    connect.password = Some(Bytes::from_static(b"secret"));
    let cases = [
        (
            ProtocolVersion::V3_1_1,
            publish(1, PublishProperties::default()),
        ),
        (ProtocolVersion::V5, publish(2, v5_properties())),
        (ProtocolVersion::V5, Packet::Connect(Box::new(connect))),
    ];
    for (version, packet) in &cases {
        let (n, allocs) = allocations(|| packet.encode(*version, &mut out).unwrap());
        assert_eq!(allocs, 0, "{version}: encode allocated");
        assert_eq!(&out[..n], &packet.to_bytes(*version).unwrap()[..]);
        if let Packet::Publish(p) = packet {
            let (h, allocs) = allocations(|| p.encode_header(*version, &mut out).unwrap());
            assert_eq!(allocs, 0, "{version}: encode_header allocated");
            assert_eq!(h + p.payload.len(), n);
        }
    }
}
