//! Helpers for the interop tests (feature `interop`): finding the outside peers (a missing one
//! is a failure, never a skip), spawning them under a kill-on-drop guard, free loopback ports,
//! our library server with a subscription probe, throwaway `mosquitto` and `amqtt` brokers, and
//! the paho-mqtt and MQTT.js helper scripts.
//!
//! The server under test is the library [`Server`]; the `myqttd` binary is a thin wrapper around
//! it (configuration, listeners and storage), so what holds here holds for `myqttd`.

use std::future::Future;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use myqtt_tokio::server::{Server, ServerBuilder, SubscribeDecision};
use serde_json::Value;
use tokio::io::AsyncReadExt;
use tokio::process::{Child, Command};

/// Where `apt-get` installs binaries that may not be on a non-root `PATH`.
const EXTRA_DIRS: &[&str] = &["/usr/sbin", "/usr/local/sbin", "/sbin"];

/// The Debian package that ships `bin`.
fn debian_package(bin: &str) -> &'static str {
    match bin {
        "mosquitto" => "mosquitto",
        "mosquitto_pub" | "mosquitto_sub" => "mosquitto-clients",
        "python3" => "python3",
        "node" | "npm" => "nodejs npm",
        _ => "the package that provides it",
    }
}

/// The path of the peer program `bin`, searched on `PATH` and in the `sbin` directories.
///
/// # Panics
///
/// If it is not installed: under the `interop` feature a missing peer is a failure.
pub fn require(bin: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs = std::env::split_paths(&path).chain(EXTRA_DIRS.iter().map(PathBuf::from));
    for dir in dirs {
        let candidate = dir.join(bin);
        if is_executable(&candidate) {
            return candidate;
        }
    }
    panic!(
        "interop peer {bin} not installed: run .ci/run or apt-get install -y {}",
        debian_package(bin)
    );
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// `python3` with paho-mqtt 2.x importable.
///
/// # Panics
///
/// If python3 or paho-mqtt 2.x is missing.
pub fn require_paho() -> PathBuf {
    let python = require("python3");
    let out = std::process::Command::new(&python)
        .args(["-c", "import paho.mqtt; print(paho.mqtt.__version__)"])
        .output()
        .expect("python3 runs");
    let version = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    if !out.status.success() {
        panic!(
            "interop peer paho-mqtt not installed: run .ci/run or python3 -m pip install \
             paho-mqtt ({})",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    if !version.starts_with("2.") {
        panic!(
            "interop peer paho-mqtt is {version}, 2.x needed: run .ci/run or python3 -m pip \
             install --upgrade paho-mqtt"
        );
    }
    python
}

/// Runs `body` with an overall time limit.
///
/// # Panics
///
/// If `body` takes longer than `secs` seconds.
pub async fn within<F: Future>(secs: u64, body: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(secs), body)
        .await
        .unwrap_or_else(|_| panic!("interop test timed out after {secs} s"))
}

/// A free loopback port (bound then released; the window for a clash is tiny).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind 127.0.0.1:0")
}

/// What a finished peer process left.
#[derive(Debug)]
pub struct Output {
    /// Exit status.
    pub status: ExitStatus,
    /// Everything it printed on stdout.
    pub stdout: String,
    /// Everything it printed on stderr.
    pub stderr: String,
}

/// A spawned peer process, killed (SIGKILL) when dropped.
#[derive(Debug)]
pub struct PeerProcess {
    child: Child,
    name: String,
}

impl PeerProcess {
    /// Spawns `program args...` with piped stdout and stderr.
    ///
    /// # Panics
    ///
    /// If the process cannot be started.
    pub fn spawn<I, S>(program: &Path, args: I) -> PeerProcess
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));
        PeerProcess {
            child,
            name: program.display().to_string(),
        }
    }

    /// Kills the process with SIGKILL (an abrupt close for its connections) and reaps it.
    pub async fn kill(&mut self) {
        let _ = self.child.kill().await;
    }

    /// Waits up to `secs` seconds for the process to exit and returns its output.
    ///
    /// # Panics
    ///
    /// If it is still running after `secs` seconds (it is then killed).
    pub async fn finish(&mut self, secs: u64) -> Output {
        let mut stdout = self.child.stdout.take().expect("stdout piped");
        let mut stderr = self.child.stderr.take().expect("stderr piped");
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let result = tokio::time::timeout(Duration::from_secs(secs), async {
            let (o, e, status) = tokio::join!(
                stdout.read_to_end(&mut out),
                stderr.read_to_end(&mut err),
                self.child.wait()
            );
            o.and(e).and(status)
        })
        .await;
        let status = match result {
            Ok(status) => status.expect("waiting for the peer"),
            Err(_) => {
                let _ = self.child.start_kill();
                panic!(
                    "{} still running after {secs} s; stdout so far: {:?}",
                    self.name,
                    String::from_utf8_lossy(&out)
                );
            }
        };
        Output {
            status,
            stdout: String::from_utf8_lossy(&out).into_owned(),
            stderr: String::from_utf8_lossy(&err).into_owned(),
        }
    }
}

impl Drop for PeerProcess {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

/// Runs `program args...` to completion within `secs` seconds.
///
/// # Panics
///
/// If it fails to start, runs too long or exits unsuccessfully.
pub async fn run_ok<I, S>(program: &Path, args: I, secs: u64) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let out = PeerProcess::spawn(program, args).finish(secs).await;
    assert!(
        out.status.success(),
        "{} failed ({}): stdout {:?} stderr {:?}",
        program.display(),
        out.status,
        out.stdout,
        out.stderr
    );
    out
}

/// Our library server on `127.0.0.1:0`, recording which client subscribed to what, so that a
/// test can wait until a spawned subscriber is really subscribed.
pub struct TestServer {
    server: Server,
    subscribed: Arc<Mutex<Vec<(String, String)>>>,
    _storage: Option<tempfile::TempDir>,
}

impl TestServer {
    /// Starts the server (in-memory store).
    pub async fn start() -> TestServer {
        Self::start_with(false).await
    }

    /// Starts the server, with durable storage in a temporary directory if `durable`.
    ///
    /// # Panics
    ///
    /// If the server cannot start.
    pub async fn start_with(durable: bool) -> TestServer {
        Self::start_custom(durable, |builder| builder.listen("127.0.0.1:0")).await
    }

    /// Starts the server with the listeners `configure` adds (TCP, TLS, WebSocket: see
    /// [`addrs`](Self::addrs)), with durable storage in a temporary directory if `durable`.
    ///
    /// # Panics
    ///
    /// If the server cannot start.
    pub async fn start_custom(
        durable: bool,
        configure: impl FnOnce(ServerBuilder) -> ServerBuilder,
    ) -> TestServer {
        let subscribed = Arc::new(Mutex::new(Vec::new()));
        let log = subscribed.clone();
        let mut builder = configure(Server::builder()).on_subscribe(move |client, sub| {
            if let Ok(mut log) = log.lock() {
                log.push((client.client_id.to_owned(), sub.filter.as_str().to_owned()));
            }
            SubscribeDecision::Grant(sub.options.qos)
        });
        let storage = if durable {
            let dir = tempfile::tempdir().expect("temporary directory");
            builder = builder.storage(dir.path());
            Some(dir)
        } else {
            None
        };
        let server = builder.start().await.expect("server starts");
        TestServer {
            server,
            subscribed,
            _storage: storage,
        }
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.server.local_addrs()[0]
    }

    /// Every listening address: TCP listeners first, then TLS, WebSocket and secure WebSocket
    /// ones, each kind in the order it was added (see `Server::local_addrs`).
    pub fn addrs(&self) -> &[SocketAddr] {
        self.server.local_addrs()
    }

    /// The listening port, as a string for command lines.
    pub fn port(&self) -> String {
        self.addr().port().to_string()
    }

    /// Waits (up to 10 s) until `client_id` has subscribed to `filter`.
    ///
    /// # Panics
    ///
    /// If it has not after 10 s.
    pub async fn wait_subscribed(&self, client_id: &str, filter: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let found = self
                .subscribed
                .lock()
                .map(|log| log.iter().any(|(c, f)| c == client_id && f == filter))
                .unwrap_or(false);
            if found {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{client_id} did not subscribe to {filter} within 10 s"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Stops the server.
    pub async fn shutdown(self) {
        self.server.shutdown().await;
    }
}

/// Debian's `mosquitto` broker on a free loopback port with a throwaway config; killed when
/// dropped.
pub struct Mosquitto {
    process: PeerProcess,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Mosquitto {
    /// Starts the broker and waits until it accepts connections.
    ///
    /// # Panics
    ///
    /// If mosquitto is missing or does not listen within 10 s.
    pub async fn start() -> Mosquitto {
        Self::start_with("").await
    }

    /// Starts the broker with `extra` appended to its config (after the plain TCP listener on
    /// [`addr`](Self::addr)), e.g. a TLS `listener` with its `cafile`/`certfile`/`keyfile`, and
    /// waits until the TCP listener accepts connections.
    ///
    /// # Panics
    ///
    /// If mosquitto is missing, rejects the config or does not listen within 10 s.
    pub async fn start_with(extra: &str) -> Mosquitto {
        let bin = require("mosquitto");
        let dir = tempfile::tempdir().expect("temporary directory");
        let port = free_port();
        let config = dir.path().join("mosquitto.conf");
        std::fs::write(
            &config,
            format!(
                "listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n{extra}\n"
            ),
        )
        .expect("write mosquitto.conf");
        let mut process = PeerProcess::spawn(&bin, [Path::new("-c"), config.as_path()]);
        wait_listening(&mut process, "mosquitto", port).await;
        Mosquitto {
            process,
            port,
            _dir: dir,
        }
    }

    /// `127.0.0.1:<port>`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Kills the broker.
    pub async fn stop(mut self) {
        self.process.kill().await;
    }
}

/// Runs `tests/peers/paho_peer.py <args>` (paho-mqtt 2.x) within `secs` seconds and returns the
/// JSON objects it printed, one per line.
///
/// # Panics
///
/// If paho is missing, the script fails or prints something that is not JSON.
pub async fn paho(args: &[&str], secs: u64) -> Vec<Value> {
    let python = require_paho();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("peers/paho_peer.py");
    let mut all: Vec<&std::ffi::OsStr> = vec![script.as_os_str()];
    all.extend(args.iter().map(std::ffi::OsStr::new));
    let out = PeerProcess::spawn(&python, all).finish(secs).await;
    assert!(
        out.status.success(),
        "paho_peer.py {args:?} failed ({}): stdout {:?} stderr {:?}",
        out.status,
        out.stdout,
        out.stderr
    );
    out.stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("paho_peer.py printed {l:?}: {e}"))
        })
        .collect()
}

/// Waits until `process` (named `name`) accepts TCP connections on `127.0.0.1:port`.
///
/// # Panics
///
/// If it exits first (its stderr is printed) or does not listen within 10 s.
async fn wait_listening(process: &mut PeerProcess, name: &str, port: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = process.child.try_wait() {
            let out = process.finish(5).await;
            panic!("{name} exited ({status}): {} {}", out.stdout, out.stderr);
        }
        assert!(
            Instant::now() < deadline,
            "{name} does not listen on 127.0.0.1:{port}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The directory of the helper scripts, `tests/peers`.
fn peers_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("peers")
}

/// Parses what a JSON-lines peer script printed, one object per non-empty line.
///
/// # Panics
///
/// If the script failed or printed something that is not JSON.
fn json_lines(name: &str, args: &[&str], out: &Output) -> Vec<Value> {
    assert!(
        out.status.success(),
        "{name} {args:?} failed ({}): stdout {:?} stderr {:?}",
        out.status,
        out.stdout,
        out.stderr
    );
    out.stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{name} printed {l:?}: {e}")))
        .collect()
}

/// The MQTT.js (npm `mqtt`) version the helper script is written for: the major version
/// pinned in `tests/peers/node/package.json`.
const MQTTJS_MAJOR: &str = "5.";

/// `node`, with MQTT.js 5.x installed in `tests/peers/node/node_modules` (by `npm ci` there).
///
/// # Panics
///
/// If node or MQTT.js is missing, or MQTT.js is not 5.x.
pub fn require_mqttjs() -> PathBuf {
    let node = require("node");
    let manifest = peers_dir().join("node/node_modules/mqtt/package.json");
    let Ok(text) = std::fs::read_to_string(&manifest) else {
        panic!(
            "interop peer MQTT.js not installed ({} missing): run .ci/run or \
             (cd tests/peers/node && npm ci)",
            manifest.display()
        );
    };
    let version = serde_json::from_str::<Value>(&text)
        .ok()
        .and_then(|v| v["version"].as_str().map(str::to_owned))
        .unwrap_or_default();
    assert!(
        version.starts_with(MQTTJS_MAJOR),
        "interop peer MQTT.js is {version:?}, {MQTTJS_MAJOR}x needed: run .ci/run or \
         (cd tests/peers/node && npm ci)"
    );
    node
}

/// Runs `tests/peers/mqttjs_peer.js <args>` (MQTT.js) within `secs` seconds and returns the
/// JSON objects it printed, one per line.
///
/// # Panics
///
/// If node or MQTT.js is missing, the script fails or prints something that is not JSON.
pub async fn mqttjs(args: &[&str], secs: u64) -> Vec<Value> {
    let node = require_mqttjs();
    let script = peers_dir().join("mqttjs_peer.js");
    let mut all: Vec<&std::ffi::OsStr> = vec![script.as_os_str()];
    all.extend(args.iter().map(std::ffi::OsStr::new));
    let out = PeerProcess::spawn(&node, all).finish(secs).await;
    json_lines("mqttjs_peer.js", args, &out)
}

/// Runs `tests/peers/paho_tls_peer.py --ca <ca> <args>` (paho_peer.py's scenarios over TLS,
/// trusting the PEM CA `ca`) within `secs` seconds and returns the JSON objects it printed.
///
/// # Panics
///
/// If paho is missing, the script fails or prints something that is not JSON.
pub async fn paho_tls(ca: &Path, args: &[&str], secs: u64) -> Vec<Value> {
    let python = require_paho();
    let script = peers_dir().join("paho_tls_peer.py");
    let mut all: Vec<&std::ffi::OsStr> = vec![script.as_os_str(), "--ca".as_ref(), ca.as_os_str()];
    all.extend(args.iter().map(std::ffi::OsStr::new));
    let out = PeerProcess::spawn(&python, all).finish(secs).await;
    json_lines("paho_tls_peer.py", args, &out)
}

/// The `amqtt` release `.ci/run` installs (`pip install amqtt==...`).
pub const AMQTT_VERSION: &str = "0.12.1";

/// `python3` with the `amqtt` broker (PyPI, [`AMQTT_VERSION`]) importable.
///
/// # Panics
///
/// If python3 or amqtt is missing, or amqtt is another version.
pub fn require_amqtt() -> PathBuf {
    let python = require("python3");
    let out = std::process::Command::new(&python)
        .args(["-c", "import amqtt; print(amqtt.__version__)"])
        .output()
        .expect("python3 runs");
    let version = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert!(
        out.status.success(),
        "interop peer amqtt not installed: run .ci/run or python3 -m pip install \
         amqtt=={AMQTT_VERSION} ({})",
        String::from_utf8_lossy(&out.stderr).trim()
    );
    assert_eq!(
        version, AMQTT_VERSION,
        "interop peer amqtt: run .ci/run or python3 -m pip install amqtt=={AMQTT_VERSION}"
    );
    python
}

/// The `amqtt` broker (Python, MQTT 3.1.1 only) on a free loopback port with a throwaway
/// config; killed when dropped.
///
/// Its anonymous-authentication plugin is configured with `allow_anonymous: false`, so that it
/// accepts any client that sends a user name (the password is not checked) and only those:
/// amqtt 0.12 queues QoS 1 and 2 messages for an offline persistent session only when the
/// client was not anonymous. Clients of this broker send a user name, [`Amqtt::USER`].
pub struct Amqtt {
    process: PeerProcess,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Amqtt {
    /// The user name clients of this broker send.
    pub const USER: &str = "myqtt";

    /// Starts the broker and waits until it accepts connections.
    ///
    /// # Panics
    ///
    /// If amqtt is missing or does not listen within 10 s.
    pub async fn start() -> Amqtt {
        let python = require_amqtt();
        let dir = tempfile::tempdir().expect("temporary directory");
        let port = free_port();
        let config = dir.path().join("amqtt.yaml");
        std::fs::write(
            &config,
            format!(
                "listeners:\n  default:\n    type: tcp\n    bind: 127.0.0.1:{port}\n\
                 plugins:\n  amqtt.plugins.authentication.AnonymousAuthPlugin:\n    \
                 allow_anonymous: false\n"
            ),
        )
        .expect("write amqtt.yaml");
        let mut process = PeerProcess::spawn(
            &python,
            [
                "-m".as_ref(),
                "amqtt.scripts.broker_script".as_ref(),
                "-c".as_ref(),
                config.as_os_str(),
            ],
        );
        wait_listening(&mut process, "amqtt", port).await;
        Amqtt {
            process,
            port,
            _dir: dir,
        }
    }

    /// `127.0.0.1:<port>`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Kills the broker.
    pub async fn stop(mut self) {
        self.process.kill().await;
    }
}

/// The scenarios every helper script (`paho_peer.py`, `mqttjs_peer.js`) runs, with their QoS,
/// and the protocol versions they run in: the TLS interop tests go through all of them.
pub const PEER_SCENARIOS: [(&str, u64); 6] = [
    ("pubsub", 0),
    ("pubsub", 1),
    ("pubsub", 2),
    ("will", 1),
    ("retained", 1),
    ("session", 1),
];

/// The protocol versions of [`PEER_SCENARIOS`], as the helper scripts name them.
pub const PEER_VERSIONS: [&str; 2] = ["311", "5"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[should_panic(expected = "interop peer myqtt-no-such-peer not installed: run .ci/run or")]
    fn a_missing_peer_is_a_failure() {
        require("myqtt-no-such-peer");
    }

    #[test]
    fn installed_peers_are_found() {
        assert!(require("mosquitto_sub").ends_with("mosquitto_sub"));
        assert!(require("mosquitto").ends_with("mosquitto"));
    }
}
