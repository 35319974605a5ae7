//! What the tests of the `myqttd` binary share: the binary, a kill-on-drop guard, `myqttd
//! passwd`, free ports and connecting while the broker starts.
#![allow(dead_code, clippy::unwrap_used)]

use std::io::Write;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use myqtt_tokio::client::{Client, ClientError, ConnectOptions, Connector};

/// The `myqttd` binary of this package.
pub(crate) const MYQTTD: &str = env!("CARGO_BIN_EXE_myqttd");

/// Kills the broker when the test ends, whatever happens.
pub(crate) struct Broker(pub(crate) Child);

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Adds `user` with `password` to the password file `file` (`myqttd passwd`).
pub(crate) fn passwd(file: &Path, user: &str, password: &str) {
    let mut child = Command::new(MYQTTD)
        .args(["passwd", "-f"])
        .arg(file)
        .arg(user)
        .stdin(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
    assert!(child.wait().unwrap().success());
}

/// A loopback port nobody listens on right now.
pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Connects through `connector`, retrying for up to `patience` while the connection cannot
/// even be opened (the broker is still starting).
pub(crate) async fn connect_when_up<C: Connector + Clone>(
    connector: C,
    options: ConnectOptions,
    patience: Duration,
) -> Result<Client, ClientError> {
    let deadline = Instant::now() + patience;
    loop {
        match Client::connect_with(connector.clone(), options.clone()).await {
            Err(ClientError::Io(_)) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            other => return other,
        }
    }
}
