//! The client store: what is applied is what loads back after reopening, with the semantics of
//! `ClientSnapshot::apply`; clients sharing a file stay apart; a process killed with SIGKILL
//! loses no batch whose `apply` returned.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use bytes::Bytes;
use myqtt_host::client_store::ClientStore;
use myqtt_proto::client::{ClientSnapshot, ClientStoreOp, StoredStage};
use myqtt_proto::codec::{MqttString, PacketId, Publish, PublishProperties, QoS};
use myqtt_proto::session::OutboundStage;
use myqtt_proto::topic::TopicName;

fn id(s: &str) -> MqttString {
    MqttString::try_from(s).unwrap()
}

fn pid(v: u16) -> PacketId {
    PacketId::new(v).unwrap()
}

fn publish(topic: &str, payload: &[u8], qos: QoS) -> Publish {
    let mut p = Publish::new(
        TopicName::try_from(topic).unwrap(),
        Bytes::copy_from_slice(payload),
    );
    p.qos = qos;
    p
}

/// Every stage of every op, across a reopen, equals the reference snapshot.
#[test]
fn reopen_returns_what_was_written() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("client-data");
    let me = id("sensor-1");
    let props = PublishProperties {
        content_type: Some(id("text/plain")),
        ..PublishProperties::default()
    };
    let mut with_props = publish("a/b", b"with properties", QoS::ExactlyOnce);
    with_props.properties = props;
    with_props.retain = true;
    let batches = vec![
        vec![
            ClientStoreOp::PublishAdd {
                seq: 0,
                publish: publish("a", b"q1", QoS::AtLeastOnce),
            },
            ClientStoreOp::PublishSent {
                seq: 0,
                packet_id: pid(1),
            },
            ClientStoreOp::PublishAdd {
                seq: 1,
                publish: with_props,
            },
            ClientStoreOp::PublishSent {
                seq: 1,
                packet_id: pid(2),
            },
        ],
        vec![
            ClientStoreOp::PublishReleased { seq: 1 },
            ClientStoreOp::PublishAdd {
                seq: 2,
                publish: publish("q", b"queued", QoS::ExactlyOnce),
            },
            ClientStoreOp::PublishAdd {
                seq: 3,
                publish: publish("gone", b"x", QoS::AtLeastOnce),
            },
            ClientStoreOp::PublishRemove { seq: 3 },
            ClientStoreOp::InboundQos2 {
                packet_id: pid(7),
                pending: true,
            },
            ClientStoreOp::InboundQos2 {
                packet_id: pid(8),
                pending: true,
            },
            ClientStoreOp::InboundQos2 {
                packet_id: pid(8),
                pending: false,
            },
            // Ops on unknown keys are ignored, as by ClientSnapshot::apply.
            ClientStoreOp::PublishSent {
                seq: 99,
                packet_id: pid(9),
            },
            ClientStoreOp::PublishReleased { seq: 98 },
        ],
    ];
    let mut expected = ClientSnapshot::default();
    {
        let mut store = ClientStore::open(&dir).unwrap();
        assert_eq!(store.path(), dir.join(ClientStore::FILE_NAME));
        for batch in &batches {
            store.apply(&me, batch).unwrap();
            for op in batch {
                expected.apply(op.clone());
            }
        }
        assert_eq!(store.load(&me).unwrap(), expected);
    }
    let store = ClientStore::open(&dir).unwrap();
    let loaded = store.load(&me).unwrap();
    assert_eq!(loaded, expected);
    assert_eq!(loaded.publishes.len(), 3);
    assert_eq!(
        loaded.publishes[&1].stage,
        StoredStage::InFlight {
            packet_id: pid(2),
            stage: OutboundStage::AwaitPubComp
        }
    );
    assert!(loaded.publishes[&1].publish.retain);
    assert_eq!(loaded.publishes[&2].stage, StoredStage::Queued);
    assert_eq!(
        loaded.inbound_qos2.iter().copied().collect::<Vec<_>>(),
        [pid(7)]
    );
    // Only the chosen directory holds anything: one fixed file name.
    let files: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
    assert_eq!(files.len(), 1);
}

/// Client ids are keys inside the file: ids that are prefixes of each other or look like paths
/// stay apart, and nothing is created outside the directory.
#[test]
fn client_ids_are_keys_not_paths() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("store");
    let mut store = ClientStore::open(&dir).unwrap();
    let ids = ["a", "ab", "../../etc/passwd", "a/b", ""];
    for (i, c) in ids.iter().enumerate() {
        store
            .apply(
                &id(c),
                &[ClientStoreOp::InboundQos2 {
                    packet_id: pid(i as u16 + 1),
                    pending: true,
                }],
            )
            .unwrap();
    }
    for (i, c) in ids.iter().enumerate() {
        let loaded = store.load(&id(c)).unwrap();
        assert_eq!(
            loaded.inbound_qos2.iter().copied().collect::<Vec<_>>(),
            [pid(i as u16 + 1)],
            "{c:?}"
        );
    }
    assert!(store.load(&id("other")).unwrap().is_empty());
    let entries: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().collect();
    assert_eq!(entries.len(), 1, "only the store directory");
}

const CRASH_DIR_ENV: &str = "MYQTT_CLIENT_STORE_CRASH_DIR";

fn crash_batch(i: u64) -> [ClientStoreOp; 3] {
    [
        ClientStoreOp::PublishAdd {
            seq: i,
            publish: publish("crash", &[7; 256], QoS::ExactlyOnce),
        },
        ClientStoreOp::PublishSent {
            seq: i,
            packet_id: pid((i % 60_000) as u16 + 1),
        },
        ClientStoreOp::InboundQos2 {
            packet_id: pid((i % 60_000) as u16 + 1),
            pending: i.is_multiple_of(2),
        },
    ]
}

/// The child of [`sigkill_keeps_every_acknowledged_batch`]: applies batches forever, printing
/// each index once `apply` returned. Does nothing when run on its own.
#[test]
#[ignore = "run by sigkill_keeps_every_acknowledged_batch"]
fn crash_child() {
    use std::io::Write;
    let Some(dir) = std::env::var_os(CRASH_DIR_ENV) else {
        return;
    };
    let mut store = ClientStore::open(Path::new(&dir)).unwrap();
    let mut out = std::io::stdout().lock();
    for i in 0.. {
        store.apply(&id("crashy"), &crash_batch(i)).unwrap();
        writeln!(out, "committed {i}").unwrap();
        out.flush().unwrap();
    }
}

/// A client process killed with SIGKILL (no destructors, no clean close of the database) keeps
/// every batch whose `apply` returned, each whole.
#[test]
fn sigkill_keeps_every_acknowledged_batch() {
    use std::io::BufRead;
    use std::process::{Command, Stdio};

    let tmp = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "crash_child", "--ignored", "--nocapture"])
        .env(CRASH_DIR_ENV, tmp.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut acknowledged = None;
    for line in std::io::BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if let Some(i) = line.strip_prefix("committed ") {
            let i: u64 = i.parse().unwrap();
            acknowledged = Some(i);
            if i >= 30 {
                break;
            }
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let acknowledged = acknowledged.expect("the child committed batches");

    let loaded = ClientStore::open(tmp.path())
        .unwrap()
        .load(&id("crashy"))
        .unwrap();
    let mut expected = ClientSnapshot::default();
    let mut i = 0;
    while i <= acknowledged || (expected.publishes.len() as u64) < loaded.publishes.len() as u64 {
        for op in crash_batch(i) {
            expected.apply(op);
        }
        i += 1;
    }
    assert_eq!(loaded, expected);
}
