//! The `myqttd` broker as a child process, for tests that need the real broker process:
//! memory (VmRSS) readings, `kill -9`, its logs, its data directory.
//!
//! The process is this package's `myqttd-tests` binary, which runs
//! [`myqtt_tokio::myqttd::main`] (the `myqttd` binary's whole program): cargo builds a
//! package's binaries before its integration tests, so it is always fresh, whatever command
//! ran the tests.

use std::io::Read;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The path of the `myqttd-tests` binary (see the module documentation).
///
/// # Panics
///
/// If it is not where cargo puts it (next to the test binary's `deps` directory).
pub fn binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        // <target>/<profile>/deps/<test binary>
        let exe = std::env::current_exe().expect("the test binary's path");
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("a test binary lives in <target>/<profile>/deps");
        let path = profile_dir.join(format!("myqttd-tests{}", std::env::consts::EXE_SUFFIX));
        assert!(
            path.is_file(),
            "{} is missing: run the tests with cargo test -p myqtt-tests",
            path.display()
        );
        path
    })
}

/// A loopback port nobody listens on right now.
///
/// # Panics
///
/// If no port can be bound.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

/// A running `myqttd`; killed (SIGKILL) when dropped.
#[derive(Debug)]
pub struct Myqttd {
    child: Child,
    addr: SocketAddr,
    log: PathBuf,
}

impl Myqttd {
    /// Starts `myqttd --port <port> <args>`, logging to `log` (stderr and stdout), and waits
    /// until it accepts TCP connections.
    ///
    /// # Panics
    ///
    /// If it does not start listening within 10 s (its log is printed).
    pub fn start(port: u16, args: &[&str], log: &Path) -> Myqttd {
        let file = std::fs::File::create(log).expect("the log file");
        let child = Command::new(binary())
            .arg("--port")
            .arg(port.to_string())
            .args(args)
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or("info".into()),
            )
            .stdout(file.try_clone().expect("the log file"))
            .stderr(file)
            .spawn()
            .expect("myqttd starts");
        let mut broker = Myqttd {
            child,
            addr: ([127, 0, 0, 1], port).into(),
            log: log.to_owned(),
        };
        broker.wait_listening();
        broker
    }

    fn wait_listening(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if TcpStream::connect_timeout(&self.addr, Duration::from_millis(200)).is_ok() {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("myqttd exited with {status}:\n{}", self.log_text());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("myqttd did not listen in time:\n{}", self.log_text());
    }

    /// Its MQTT address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its resident memory in KiB (`VmRSS` in `/proc/<pid>/status`; Linux).
    pub fn rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
        line.split_whitespace().nth(1)?.parse().ok()
    }

    /// What it logged so far.
    pub fn log_text(&self) -> String {
        let mut text = String::new();
        if let Ok(mut file) = std::fs::File::open(&self.log) {
            let _ = file.read_to_string(&mut text);
        }
        text
    }

    /// Whether the process still runs.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// SIGKILL, then reap it.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Myqttd {
    fn drop(&mut self) {
        self.kill9();
    }
}
