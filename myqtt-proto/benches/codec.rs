//! Codec benchmarks: myqtt against rumqttc's `mqttbytes`, side by side.
//!
//! Every frame is built once with myqtt, checked to decode with rumqttc (and to re-encode to the
//! same length), then measured in one criterion group per operation and frame, with the functions
//! `myqtt` and `rumqttc`:
//!
//! - `decode/<frame>`: both libraries decode owned packets from a `BytesMut` receive buffer
//!   pre-filled with many copies of the frame (refilled outside the timed region), the way a
//!   connection drains its socket buffer. Decoded packets are kept and dropped outside the timed
//!   region, for both.
//! - `encode/<frame>`: myqtt `Packet::encode` into a reused `[u8]` buffer; rumqttc
//!   `Packet::write` into a reused, cleared `BytesMut`. Both write the whole frame, payload
//!   included.
//! - `encode_header/<frame>`: myqtt only, a *different operation*: `Publish::encode_header`
//!   writes the fixed and variable headers and leaves the payload `Bytes` to be sent as is
//!   (zero-copy fan-out). rumqttc has no equivalent.
//!
//! Run: `cargo bench -p myqtt-proto --bench codec` (see BENCHMARKS.md).

use std::hint::black_box;
use std::num::{NonZeroU16, NonZeroU32};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use criterion::{Bencher, Criterion, Throughput, criterion_group};

use myqtt_proto::codec::{Connect, MAX_PACKET_SIZE, Publish};
use myqtt_proto::codec::{
    ConnectProperties, MqttString, PacketId, PublishProperties, Subscribe, Subscription,
    SubscriptionOptions, UserProperty, Will, WillProperties,
};
use myqtt_proto::topic::{TopicFilter, TopicName};
use myqtt_proto::{Packet, ProtocolVersion, QoS};

use rumqttc::mqttbytes::v4 as r4;
use rumqttc::v5::mqttbytes::v5 as r5;

const TOPIC: &str = "sensors/building-7/floor-3/room-42/temperature";

fn s(v: &str) -> MqttString {
    MqttString::try_from(v).expect("valid MQTT string literal")
}

fn topic(v: &str) -> TopicName {
    TopicName::try_from(v).expect("valid topic literal")
}

fn payload(len: usize) -> Bytes {
    (0..len)
        .map(|i| (i % 251) as u8)
        .collect::<Vec<u8>>()
        .into()
}

fn publish(payload_len: usize, props: PublishProperties) -> Packet {
    Packet::Publish(Publish {
        dup: false,
        qos: QoS::AtLeastOnce,
        retain: false,
        topic: topic(TOPIC),
        packet_id: PacketId::new(4242),
        properties: props,
        payload: payload(payload_len),
    })
}

/// Message expiry, content type, correlation data, response topic and (optionally) one user
/// property.
fn publish_props(user_property: bool) -> PublishProperties {
    PublishProperties {
        message_expiry_interval: Some(3600),
        content_type: Some(s("application/json")),
        correlation_data: Some(Bytes::from_static(b"req-0001-abcdef")),
        response_topic: Some(topic("replies/client-42")),
        user_properties: if user_property {
            vec![UserProperty::new(s("trace-id"), s("4bf92f3577b34da6"))]
        } else {
            Vec::new()
        },
        ..PublishProperties::default()
    }
}

fn connect(version: ProtocolVersion) -> Packet {
    let v5 = version.is_v5();
    let mut c = Connect::new(version, s("bench-client-0001"));
    c.keep_alive = 30;
    c.clean_start = true;
    c.username = Some(s("alice"));
    c.password = Some(Bytes::from_static(b"correct-horse-battery-staple"));
    c.will = Some(Will {
        topic: topic("clients/bench-client-0001/status"),
        payload: Bytes::from_static(b"offline"),
        qos: QoS::AtLeastOnce,
        retain: true,
        properties: if v5 {
            WillProperties {
                will_delay_interval: Some(10),
                ..WillProperties::default()
            }
        } else {
            WillProperties::default()
        },
    });
    if v5 {
        c.properties = ConnectProperties {
            session_expiry_interval: Some(86_400),
            receive_maximum: NonZeroU16::new(100),
            maximum_packet_size: NonZeroU32::new(1 << 20),
            topic_alias_maximum: Some(16),
            ..ConnectProperties::default()
        };
    }
    Packet::Connect(Box::new(c))
}

fn subscribe(version: ProtocolVersion) -> Packet {
    let mut opts = SubscriptionOptions::new(QoS::AtLeastOnce);
    if version.is_v5() {
        opts.no_local = true;
        opts.retain_as_published = true;
    }
    let sub = |f: &str, qos| Subscription {
        filter: TopicFilter::try_from(f).expect("valid filter literal"),
        options: SubscriptionOptions { qos, ..opts },
    };
    Packet::Subscribe(Subscribe {
        packet_id: PacketId::new(7).expect("non-zero"),
        subscriptions: vec![
            sub("sensors/+/floor-3/+/temperature", QoS::AtLeastOnce),
            sub("alerts/#", QoS::ExactlyOnce),
            sub("clients/bench-client-0001/commands", QoS::AtMostOnce),
        ],
        properties: Default::default(),
    })
}

/// One benchmark case: a frame and both libraries' decoded form of it.
struct Case {
    name: String,
    version: ProtocolVersion,
    myqtt: Packet,
    frame: Bytes,
    rumqttc: RPacket,
}

// Not boxed: boxing would add an allocation to rumqttc's timed decode path.
#[allow(clippy::large_enum_variant)]
#[derive(Clone)]
enum RPacket {
    V4(r4::Packet),
    V5(r5::Packet),
}

const R_MAX: usize = 1 << 28;

impl RPacket {
    fn read(version: ProtocolVersion, buf: &mut BytesMut) -> RPacket {
        match version {
            ProtocolVersion::V5 => RPacket::V5(r5::Packet::read(buf, None).expect("rumqttc v5")),
            _ => RPacket::V4(r4::Packet::read(buf, R_MAX).expect("rumqttc v4")),
        }
    }

    fn write(&self, buf: &mut BytesMut) -> usize {
        match self {
            RPacket::V4(p) => p.write(buf, R_MAX).expect("rumqttc v4 write"),
            RPacket::V5(p) => p.write(buf, None).expect("rumqttc v5 write"),
        }
    }
}

impl Case {
    fn new(name: &str, version: ProtocolVersion, myqtt: Packet) -> Case {
        let frame = myqtt.to_bytes(version).expect("encodable");
        // The frame must mean the same to both libraries.
        let mut buf = BytesMut::from(&frame[..]);
        let back = Packet::decode(&mut buf, version, MAX_PACKET_SIZE).expect("myqtt decodes");
        assert_eq!(back, myqtt, "{name}: myqtt round trip");
        let mut buf = BytesMut::from(&frame[..]);
        let rumqttc = RPacket::read(version, &mut buf);
        assert!(buf.is_empty(), "{name}: rumqttc consumed the whole frame");
        let mut out = BytesMut::new();
        let n = rumqttc.write(&mut out);
        assert_eq!(
            n,
            frame.len(),
            "{name}: rumqttc re-encodes to the same length"
        );
        if !version.is_v5() {
            assert_eq!(&out[..], &frame[..], "{name}: identical 3.1.1 bytes");
        }
        Case {
            name: name.to_owned(),
            version,
            myqtt,
            frame,
            rumqttc,
        }
    }
}

fn cases() -> Vec<Case> {
    use ProtocolVersion::{V3_1_1, V5};
    let mut out = Vec::new();
    for (label, len) in [("64B", 64), ("1KB", 1024), ("64KB", 64 * 1024)] {
        out.push(Case::new(
            &format!("publish_v311_{label}"),
            V3_1_1,
            publish(len, PublishProperties::default()),
        ));
        out.push(Case::new(
            &format!("publish_v5_props_{label}"),
            V5,
            publish(len, publish_props(true)),
        ));
        out.push(Case::new(
            &format!("publish_v5_props_nouser_{label}"),
            V5,
            publish(len, publish_props(false)),
        ));
    }
    out.push(Case::new("connect_v311", V3_1_1, connect(V3_1_1)));
    out.push(Case::new("connect_v5", V5, connect(V5)));
    out.push(Case::new("subscribe3_v311", V3_1_1, subscribe(V3_1_1)));
    out.push(Case::new("subscribe3_v5", V5, subscribe(V5)));
    out
}

/// Times `decode` over receive buffers holding many back-to-back copies of `frame`. Filling the
/// buffer and dropping the decoded packets happen outside the timed region.
// The benchmark measures wall time itself; the sans-IO rule on `Instant::now` is for the library.
#[allow(clippy::disallowed_methods)]
fn decode_bench<T>(b: &mut Bencher<'_>, frame: &[u8], mut decode: impl FnMut(&mut BytesMut) -> T) {
    // Up to 512 frames or 4 MiB per refill.
    let per_fill = (4 * 1024 * 1024 / frame.len()).clamp(16, 512);
    b.iter_custom(|iters| {
        let mut total = Duration::ZERO;
        let mut left = iters;
        let mut kept = Vec::with_capacity(per_fill);
        while left > 0 {
            let n = left.min(per_fill as u64) as usize;
            let mut buf = BytesMut::with_capacity(n * frame.len());
            for _ in 0..n {
                buf.extend_from_slice(frame);
            }
            let start = Instant::now();
            for _ in 0..n {
                kept.push(decode(black_box(&mut buf)));
            }
            total += start.elapsed();
            assert!(buf.is_empty());
            kept.clear();
            left -= n as u64;
        }
        total
    });
}

fn bench_decode(c: &mut Criterion, cases: &[Case]) {
    for case in cases {
        let mut g = c.benchmark_group(format!("decode/{}", case.name));
        g.throughput(Throughput::Bytes(case.frame.len() as u64));
        let v = case.version;
        g.bench_function("myqtt", |b| {
            decode_bench(b, &case.frame, |buf| {
                Packet::decode(buf, v, MAX_PACKET_SIZE).expect("valid frame")
            })
        });
        g.bench_function("rumqttc", |b| {
            decode_bench(b, &case.frame, |buf| RPacket::read(v, buf))
        });
        g.finish();
    }
}

fn bench_encode(c: &mut Criterion, cases: &[Case]) {
    for case in cases {
        let mut g = c.benchmark_group(format!("encode/{}", case.name));
        g.throughput(Throughput::Bytes(case.frame.len() as u64));
        let v = case.version;
        g.bench_function("myqtt", |b| {
            let mut out = vec![0u8; case.frame.len()];
            b.iter(|| {
                black_box(&case.myqtt)
                    .encode(v, black_box(&mut out[..]))
                    .expect("fits")
            });
            assert_eq!(&out[..], &case.frame[..]);
        });
        g.bench_function("rumqttc", |b| {
            let mut out = BytesMut::with_capacity(case.frame.len());
            b.iter(|| {
                out.clear();
                black_box(&case.rumqttc).write(black_box(&mut out))
            });
            assert_eq!(out.len(), case.frame.len());
        });
        g.finish();

        if let Packet::Publish(p) = &case.myqtt {
            // A different operation: headers only, the payload is sent from its own `Bytes`.
            let mut g = c.benchmark_group(format!("encode_header/{}", case.name));
            g.throughput(Throughput::Elements(1));
            g.bench_function("myqtt", |b| {
                let mut out = [0u8; 256];
                b.iter(|| {
                    black_box(p)
                        .encode_header(v, black_box(&mut out[..]))
                        .expect("fits")
                });
            });
            g.finish();
        }
    }
}

fn benches(c: &mut Criterion) {
    let cases = cases();
    bench_decode(c, &cases);
    bench_encode(c, &cases);
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
        .sample_size(50)
}

criterion_group! {
    name = codec;
    config = config();
    targets = benches
}

/// `MYQTT_BENCH_INTERLEAVED=1 cargo bench -p myqtt-proto --bench codec`: instead of criterion,
/// runs myqtt and rumqttc in alternating short rounds and keeps the fastest round of each.
/// Interference from other processes only ever adds time, so on a shared machine the minimum
/// over interleaved rounds gives a steadier *ratio* than two sequential criterion runs.
#[allow(clippy::disallowed_methods)] // wall-clock timing is the point of a benchmark
fn interleaved() {
    const ROUNDS: usize = 30;
    fn best(rounds: &mut [f64], f: impl FnOnce() -> f64) {
        let t = f();
        if t < rounds[0] {
            rounds[0] = t;
        }
    }
    fn decode_round<T>(frame: &[u8], n: usize, mut f: impl FnMut(&mut BytesMut) -> T) -> f64 {
        let mut buf = BytesMut::with_capacity(n * frame.len());
        for _ in 0..n {
            buf.extend_from_slice(frame);
        }
        let mut kept = Vec::with_capacity(n);
        let start = Instant::now();
        for _ in 0..n {
            kept.push(f(black_box(&mut buf)));
        }
        let t = start.elapsed().as_nanos() as f64 / n as f64;
        drop(kept);
        t
    }
    fn encode_round(n: usize, mut f: impl FnMut()) -> f64 {
        let start = Instant::now();
        for _ in 0..n {
            f();
        }
        start.elapsed().as_nanos() as f64 / n as f64
    }
    println!("| operation | frame | myqtt best (ns) | rumqttc best (ns) | rumqttc / myqtt |");
    println!("|---|---|---:|---:|---:|");
    for case in cases() {
        let v = case.version;
        let n = (4 * 1024 * 1024 / case.frame.len()).clamp(16, 512);
        let (mut m, mut r) = ([f64::MAX], [f64::MAX]);
        for _ in 0..ROUNDS {
            best(&mut m, || {
                decode_round(&case.frame, n, |b| {
                    Packet::decode(b, v, MAX_PACKET_SIZE).expect("valid")
                })
            });
            best(&mut r, || {
                decode_round(&case.frame, n, |b| RPacket::read(v, b))
            });
        }
        println!(
            "| decode | {} | {:.1} | {:.1} | {:.2}x |",
            case.name,
            m[0],
            r[0],
            r[0] / m[0]
        );
        let mut out = vec![0u8; case.frame.len()];
        let mut bm = BytesMut::with_capacity(case.frame.len());
        let (mut m, mut r) = ([f64::MAX], [f64::MAX]);
        let n = if case.frame.len() > 8192 { 200 } else { 5000 };
        for _ in 0..ROUNDS {
            best(&mut m, || {
                encode_round(n, || {
                    black_box(
                        black_box(&case.myqtt)
                            .encode(v, black_box(&mut out[..]))
                            .expect("fits"),
                    );
                })
            });
            best(&mut r, || {
                encode_round(n, || {
                    bm.clear();
                    black_box(black_box(&case.rumqttc).write(black_box(&mut bm)));
                })
            });
        }
        println!(
            "| encode | {} | {:.1} | {:.1} | {:.2}x |",
            case.name,
            m[0],
            r[0],
            r[0] / m[0]
        );
    }
}

fn main() {
    if std::env::var_os("MYQTT_BENCH_INTERLEAVED").is_some() {
        interleaved();
        return;
    }
    codec();
    Criterion::default().configure_from_args().final_summary();
}
