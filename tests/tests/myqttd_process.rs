//! The `myqttd` process harness itself: it starts, listens, reports its memory and dies on
//! SIGKILL.

use myqtt_tests::myqttd::{Myqttd, free_port};

#[test]
fn myqttd_starts_reports_memory_and_dies_on_sigkill() {
    let dir = std::env::temp_dir().join(format!("myqttd-harness-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    let mut broker = Myqttd::start(free_port(), &["--no-persistence"], &dir.join("log"));
    assert!(broker.is_running());
    let rss = broker.rss_kib().expect("VmRSS on Linux");
    assert!(rss > 0 && rss < 1024 * 1024, "{rss} KiB");
    broker.kill9();
    assert!(!broker.is_running());
    assert!(
        broker.log_text().contains("listening"),
        "{}",
        broker.log_text()
    );
    let _ = std::fs::remove_dir_all(&dir);
}
