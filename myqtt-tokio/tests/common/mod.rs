//! A tiny in-test broker for the client tests: `myqtt_proto::broker::Broker` driven directly
//! over loopback TCP (one task owns the broker; one task per connection moves bytes), plus a
//! fake server that accepts the connection and then never answers.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use myqtt_proto::broker::{
    Broker, BrokerConfig, BrokerHooks, ConnectDecision, ConnectRequest, ConnectionId, TransportInfo,
};
use myqtt_proto::codec::{Publish, ReasonCode};
use myqtt_tokio::Clock;
use myqtt_tokio::client::Messages;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// Runs a test body with an overall time limit.
pub async fn within<F: Future>(secs: u64, body: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(secs), body)
        .await
        .expect("test timed out")
}

/// The next message, or a panic after two seconds.
pub async fn next(messages: &mut Messages) -> Publish {
    tokio::time::timeout(Duration::from_secs(2), messages.recv())
        .await
        .expect("no message within 2 s")
        .expect("message stream ended")
}

/// Asserts that no message arrives within `ms` milliseconds.
pub async fn none_within(messages: &mut Messages, ms: u64) {
    if let Ok(m) = tokio::time::timeout(Duration::from_millis(ms), messages.recv()).await {
        panic!("unexpected message {m:?}");
    }
}

/// Policy the test changes at run time.
#[derive(Default)]
pub struct Policy {
    /// Required password, if any (Bad User Name or Password otherwise).
    pub password: Option<Bytes>,
    /// Client ids refused with Server unavailable.
    pub blocked: BTreeSet<String>,
}

struct Hooks(Arc<Mutex<Policy>>);

impl BrokerHooks for Hooks {
    fn on_connect(&mut self, request: &ConnectRequest<'_>) -> ConnectDecision {
        let policy = self.0.lock().unwrap();
        if policy.blocked.contains(request.client.client_id) {
            return ConnectDecision::Reject(ReasonCode::ServerUnavailable);
        }
        match &policy.password {
            Some(p) if request.connect.password.as_ref() != Some(p) => {
                ConnectDecision::Reject(ReasonCode::BadUserNameOrPassword)
            }
            _ => ConnectDecision::Accept,
        }
    }
}

enum Cmd {
    Accepted(TcpStream),
    Input(ConnectionId, BytesMut),
    Closed(ConnectionId),
    Kill(String, oneshot::Sender<usize>),
}

enum Out {
    Bytes(Vec<u8>),
    Close,
}

struct Conn {
    out: mpsc::UnboundedSender<Out>,
    task: JoinHandle<()>,
    rx: BytesMut,
}

/// The broker; stops when dropped.
pub struct TestBroker {
    pub addr: SocketAddr,
    pub policy: Arc<Mutex<Policy>>,
    cmd: mpsc::UnboundedSender<Cmd>,
    tasks: Vec<JoinHandle<()>>,
}

impl TestBroker {
    pub async fn start() -> TestBroker {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let policy = Arc::new(Mutex::new(Policy::default()));
        let (cmd, mut cmds) = mpsc::unbounded_channel();
        let accept_tx = cmd.clone();
        let accept = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                if accept_tx.send(Cmd::Accepted(stream)).is_err() {
                    return;
                }
            }
        });
        let mut broker = Broker::with_hooks(BrokerConfig::default(), Hooks(policy.clone()));
        let self_tx = cmd.clone();
        let run = tokio::spawn(async move {
            let clock = Clock::new();
            let mut conns: BTreeMap<ConnectionId, Conn> = BTreeMap::new();
            loop {
                let deadline = broker
                    .poll_timeout()
                    .map(|t| tokio::time::Instant::from_std(clock.to_std(t)));
                let cmd = tokio::select! {
                    c = cmds.recv() => match c { Some(c) => Some(c), None => return },
                    () = async { tokio::time::sleep_until(deadline.unwrap()).await }, if deadline.is_some() => None,
                };
                let now = clock.now();
                match cmd {
                    None => broker.handle_timeout(now),
                    Some(Cmd::Accepted(stream)) => {
                        let id = broker
                            .handle_connection_opened(now, TransportInfo::default())
                            .unwrap();
                        let (out, out_rx) = mpsc::unbounded_channel();
                        let task = tokio::spawn(serve(stream, id, self_tx.clone(), out_rx));
                        conns.insert(
                            id,
                            Conn {
                                out,
                                task,
                                rx: BytesMut::new(),
                            },
                        );
                    }
                    Some(Cmd::Input(id, bytes)) => {
                        if let Some(c) = conns.get_mut(&id) {
                            c.rx.extend_from_slice(&bytes);
                            broker.handle_input(now, id, &mut c.rx);
                        }
                    }
                    Some(Cmd::Closed(id)) => {
                        if conns.remove(&id).is_some() {
                            broker.handle_closed(now, id);
                        }
                    }
                    Some(Cmd::Kill(client_id, reply)) => {
                        let ids: Vec<ConnectionId> = conns
                            .keys()
                            .copied()
                            .filter(|id| {
                                broker.client(*id).is_some_and(|v| v.client_id == client_id)
                            })
                            .collect();
                        for id in &ids {
                            // Aborting the task drops the socket: the client sees EOF.
                            conns.remove(id).unwrap().task.abort();
                            broker.handle_closed(now, *id);
                        }
                        let _ = reply.send(ids.len());
                    }
                }
                while let Some(id) = broker.poll_writable() {
                    let mut bytes = Vec::new();
                    let _ = broker.poll_transmit(id, &mut bytes);
                    if let Some(c) = conns.get(&id) {
                        let _ = c.out.send(Out::Bytes(bytes));
                    }
                }
                while let Some(id) = broker.poll_close() {
                    if let Some(c) = conns.get(&id) {
                        let _ = c.out.send(Out::Close);
                    }
                }
                while broker.poll_event().is_some() {}
            }
        });
        TestBroker {
            addr,
            policy,
            cmd,
            tasks: vec![accept, run],
        }
    }

    /// Kills the connection task(s) of `client_id` (the socket is dropped without a word);
    /// returns how many there were.
    pub async fn kill(&self, client_id: &str) -> usize {
        let (tx, rx) = oneshot::channel();
        self.cmd
            .send(Cmd::Kill(client_id.to_owned(), tx))
            .ok()
            .unwrap();
        rx.await.unwrap()
    }
}

impl Drop for TestBroker {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

async fn serve(
    mut stream: TcpStream,
    id: ConnectionId,
    broker: mpsc::UnboundedSender<Cmd>,
    mut out: mpsc::UnboundedReceiver<Out>,
) {
    let mut buf = BytesMut::with_capacity(16 * 1024);
    loop {
        buf.reserve(16 * 1024);
        tokio::select! {
            r = stream.read_buf(&mut buf) => match r {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    if broker.send(Cmd::Input(id, buf.split())).is_err() {
                        break;
                    }
                }
            },
            o = out.recv() => match o {
                Some(Out::Bytes(b)) => {
                    if stream.write_all(&b).await.is_err() {
                        break;
                    }
                }
                Some(Out::Close) | None => break,
            },
        }
    }
    let _ = broker.send(Cmd::Closed(id));
}

/// A server that answers CONNECT with a successful 5.0 CONNACK and then ignores everything.
pub async fn silent_server() -> (SocketAddr, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut buf = [0u8; 1024];
            // CONNECT is small: one read is enough on loopback.
            if stream.read(&mut buf).await.unwrap_or(0) == 0 {
                continue;
            }
            stream
                .write_all(&[0x20, 0x03, 0x00, 0x00, 0x00])
                .await
                .unwrap();
            held.push(tokio::spawn(async move {
                while stream.read(&mut buf).await.unwrap_or(0) > 0 {}
            }));
        }
    });
    (addr, task)
}
