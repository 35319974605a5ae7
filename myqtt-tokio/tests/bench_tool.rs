//! `myqtt-bench` against the library server on loopback: every scenario briefly, over 3.1.1
//! and 5.0, TCP and TLS, checking that the one JSON line on stdout is complete and sane.
#![allow(clippy::unwrap_used)]

use std::process::Command;

use myqtt_host::tls::{PemSource, ServerTls};
use myqtt_tokio::server::Server;
use serde_json::Value;

/// Runs `myqtt-bench <args> --port <port>` and parses its single stdout line.
async fn bench(port: u16, args: &[&str]) -> Value {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_myqtt-bench"));
    cmd.args(args).args([
        "--port",
        &port.to_string(),
        "--timeout",
        "30",
        "--drain",
        "1",
    ]);
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stdout.lines().count(), 1, "one line: {stdout:?}\n{stderr}");
    let v: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert!(out.status.success(), "{args:?} failed: {v}\n{stderr}");
    assert!(v.get("error").is_none(), "{v}");
    assert_eq!(v["timed_out"], false, "{v}");
    assert!(v["tool_cpu"].as_f64().unwrap() >= 0.0, "{v}");
    v
}

async fn start() -> (Server, u16) {
    let server = Server::builder()
        .listen("127.0.0.1:0")
        .start()
        .await
        .unwrap();
    let port = server.local_addrs()[0].port();
    (server, port)
}

fn u(v: &Value, key: &str) -> u64 {
    v[key]
        .as_u64()
        .unwrap_or_else(|| panic!("{key} missing: {v}"))
}

/// fanin at QoS 0, 1 and 2 (3.1.1 and 5.0): every message arrives once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fanin_all_qos() {
    let (server, port) = start().await;
    for (qos, version) in [("0", "4"), ("1", "4"), ("2", "5"), ("1", "5")] {
        let args = [
            "fanin",
            "--qos",
            qos,
            "--version",
            version,
            "--publishers",
            "3",
            "--messages",
            "2000",
            "--inflight",
            "16",
        ];
        let v = bench(port, &args).await;
        assert_eq!(v["scenario"], "fanin");
        assert_eq!(u(&v, "sent"), 6000, "{v}");
        assert_eq!(u(&v, "expected"), 6000, "{v}");
        assert_eq!(
            (u(&v, "received"), u(&v, "lost"), u(&v, "duplicates")),
            (6000, 0, 0),
            "{v}"
        );
        assert!(v["msgs_per_s"].as_f64().unwrap() > 0.0, "{v}");
        if qos != "0" {
            assert_eq!(u(&v, "inflight"), 16, "{v}");
        }
    }
    server.shutdown().await;
}

/// fanin at QoS 1 to a persistent subscriber (3.1.1 and 5.0) on a broker with storage (strict
/// durability): every message arrives, through the store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fanin_persistent_subscriber() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::builder()
        .listen("127.0.0.1:0")
        .storage(dir.path())
        .start()
        .await
        .unwrap();
    let port = server.local_addrs()[0].port();
    for version in ["4", "5"] {
        let args = [
            "fanin",
            "--qos",
            "1",
            "--version",
            version,
            "--publishers",
            "2",
            "--messages",
            "1000",
            "--inflight",
            "16",
            "--persistent-subscriber",
        ];
        let v = bench(port, &args).await;
        assert_eq!(v["persistent_subscriber"], true, "{v}");
        assert_eq!((u(&v, "received"), u(&v, "lost")), (2000, 0), "{v}");
    }
    server.shutdown().await;
}

/// fanout 1 -> 5 at QoS 1, and the broker's CPU and memory read from /proc.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fanout_counts_deliveries() {
    let (server, port) = start().await;
    let pid = std::process::id().to_string();
    let args = [
        "fanout",
        "--qos",
        "1",
        "--subscribers",
        "5",
        "--messages",
        "1000",
        "--broker-pid",
        &pid,
    ];
    let v = bench(port, &args).await;
    assert_eq!(
        (u(&v, "expected"), u(&v, "received"), u(&v, "lost")),
        (5000, 5000, 0),
        "{v}"
    );
    assert!(v["deliveries_per_s"].as_f64().unwrap() > 0.0, "{v}");
    assert!(v["broker_cpu"].as_f64().is_some(), "{v}");
    assert!(u(&v, "broker_rss_kib_before") > 0, "{v}");
    assert!(u(&v, "broker_rss_kib_after") > 0, "{v}");
    server.shutdown().await;
}

/// latency at a fixed rate: the right number of messages, ordered percentiles.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latency_percentiles() {
    let (server, port) = start().await;
    let args = ["latency", "--qos", "1", "--rate", "500", "--duration", "1"];
    let v = bench(port, &args).await;
    assert_eq!((u(&v, "messages"), u(&v, "received")), (500, 500), "{v}");
    assert_eq!(u(&v, "lost"), 0, "{v}");
    let p = |k: &str| v[k].as_f64().unwrap();
    assert!(p("p50_ms") > 0.0, "{v}");
    assert!(
        p("p50_ms") <= p("p90_ms") && p("p90_ms") <= p("p99_ms") && p("p99_ms") <= p("max_ms"),
        "{v}"
    );
    // Paced: 500 messages at 500/s take about a second.
    assert!(p("elapsed_s") > 0.8, "{v}");
    server.shutdown().await;
}

/// conns: every connection succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conns_all_succeed() {
    let (server, port) = start().await;
    let args = ["conns", "--connections", "200", "--conn-rate", "2000"];
    let v = bench(port, &args).await;
    assert_eq!((u(&v, "succeeded"), u(&v, "failed")), (200, 0), "{v}");
    assert!(v["connects_per_s"].as_f64().unwrap() > 0.0, "{v}");
    assert!(v["connack_max_ms"].as_f64().unwrap() > 0.0, "{v}");
    server.shutdown().await;
}

/// fanin over TLS (a self-signed certificate, `--insecure`) at QoS 2.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fanin_over_tls() {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let tls = ServerTls::new()
        .certificate(
            PemSource::bytes(cert.cert.pem()),
            PemSource::bytes(cert.signing_key.serialize_pem()),
        )
        .build()
        .unwrap();
    let server = Server::builder()
        .listen_tls("127.0.0.1:0", tls)
        .start()
        .await
        .unwrap();
    let port = server.local_addrs()[0].port();
    let args = [
        "fanin",
        "--tls",
        "--insecure",
        "--qos",
        "2",
        "--publishers",
        "2",
        "--messages",
        "500",
    ];
    let v = bench(port, &args).await;
    assert_eq!(v["tls"], true);
    assert_eq!((u(&v, "received"), u(&v, "lost")), (1000, 0), "{v}");
    server.shutdown().await;
}
