//! Helpers for the hostile-input tests (`tests/hostile_input.rs`): hand-built MQTT bytes sent
//! over raw TCP for what a well-behaved client never sends, the broker's answers read back
//! packet by packet, a pair of well-behaved clients ([`Chat`]) that must keep exchanging
//! messages meanwhile, and memory readings of the broker process.
//!
//! Byte layouts follow MQTT 3.1.1 §2–3 and MQTT 5.0 §2–3; nothing here uses the myqtt codec,
//! so the tests do not trust the code they check.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use myqtt_proto::codec::QoS;
use myqtt_tokio::client::{Client, ConnectOptions, Messages, ReconnectPolicy};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::task::JoinHandle;
use tokio::time::{Instant, timeout, timeout_at};

/// Protocol level of MQTT 3.1.1 in CONNECT.
pub const V4: u8 = 4;
/// Protocol level of MQTT 5.0 in CONNECT.
pub const V5: u8 = 5;

/// How long a raw helper waits for the broker before it calls the broker stuck.
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);

/// The Variable Byte Integer encoding of `n` (MQTT 3.1.1 §2.2.3, 5.0 §1.5.5).
pub fn varint(mut n: usize) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let mut byte = (n % 128) as u8;
        n /= 128;
        if n > 0 {
            byte |= 0x80;
        }
        out.push(byte);
        if n == 0 {
            return out;
        }
    }
}

/// A packet: the first fixed-header byte, the remaining length, then `body`.
pub fn frame(first: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![first];
    out.extend(varint(body.len()));
    out.extend_from_slice(body);
    out
}

/// A two-byte-length-prefixed string or binary field (MQTT 3.1.1 §1.5.3, 5.0 §1.5.4).
pub fn string(s: &[u8]) -> Vec<u8> {
    let len = u16::try_from(s.len()).expect("a field shorter than 64 KiB");
    let mut out = len.to_be_bytes().to_vec();
    out.extend_from_slice(s);
    out
}

/// A CONNECT with protocol name "MQTT", `level`, connect `flags`, keep alive 60 s, then `rest`
/// as given (5.0 properties, payload).
pub fn connect(level: u8, flags: u8, rest: &[u8]) -> Vec<u8> {
    let mut body = vec![0x00, 0x04, b'M', b'Q', b'T', b'T', level, flags, 0x00, 0x3C];
    body.extend_from_slice(rest);
    frame(0x10, &body)
}

/// A valid clean-start CONNECT for `client_id` at `level` ([`V4`] or [`V5`]).
pub fn connect_packet(level: u8, client_id: &str) -> Vec<u8> {
    let mut rest = Vec::new();
    if level == V5 {
        rest.push(0x00); // no properties
    }
    rest.extend(string(client_id.as_bytes()));
    connect(level, 0x02, &rest)
}

/// One MQTT packet as read back: the first fixed-header byte and the body after the
/// remaining length.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawPacket {
    /// Packet type (high nibble) and flags (low nibble).
    pub first: u8,
    /// Everything after the remaining length.
    pub body: Vec<u8>,
}

impl RawPacket {
    /// The packet type (MQTT 3.1.1 §2.2.1): 2 CONNACK, 3 PUBLISH, 14 DISCONNECT...
    pub fn packet_type(&self) -> u8 {
        self.first >> 4
    }

    /// The reason code of a CONNACK (3.1.1 return code or 5.0 reason code) or of a 5.0
    /// DISCONNECT (0x00 when the body is empty, 5.0 §3.14.2.1); `None` for other packets.
    pub fn reason_code(&self) -> Option<u8> {
        match self.packet_type() {
            2 => self.body.get(1).copied(),
            14 => Some(self.body.first().copied().unwrap_or(0)),
            _ => None,
        }
    }
}

/// Splits `bytes` into whole packets; an error names a truncated or invalid tail.
pub fn split_packets(mut bytes: &[u8]) -> Result<Vec<RawPacket>, String> {
    let mut packets = Vec::new();
    while !bytes.is_empty() {
        match parse_packet(bytes)? {
            Some((packet, used)) => {
                packets.push(packet);
                bytes = &bytes[used..];
            }
            None => return Err(format!("a truncated packet at the end: {bytes:02X?}")),
        }
    }
    Ok(packets)
}

/// The first packet in `bytes` and how many bytes it took, `None` if incomplete.
fn parse_packet(bytes: &[u8]) -> Result<Option<(RawPacket, usize)>, String> {
    let Some(&first) = bytes.first() else {
        return Ok(None);
    };
    let mut len = 0usize;
    let mut at = 1;
    loop {
        let Some(&byte) = bytes.get(at) else {
            return Ok(None);
        };
        len += usize::from(byte & 0x7F) << (7 * (at - 1));
        at += 1;
        if byte & 0x80 == 0 {
            break;
        }
        if at > 4 {
            return Err(format!("a remaining length over 4 bytes: {bytes:02X?}"));
        }
    }
    if bytes.len() < at + len {
        return Ok(None);
    }
    let body = bytes[at..at + len].to_vec();
    Ok(Some((RawPacket { first, body }, at + len)))
}

/// A raw TCP connection to the broker speaking hand-built bytes.
#[derive(Debug)]
pub struct Raw {
    stream: TcpStream,
    rx: Vec<u8>,
}

impl Raw {
    /// Opens a TCP connection to `addr`.
    pub async fn open(addr: SocketAddr) -> io::Result<Raw> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Raw {
            stream,
            rx: Vec::new(),
        })
    }

    /// Opens a TCP connection to `addr` with a small receive buffer, for a client that stops
    /// reading: the broker's writes back up after a few KiB instead of megabytes.
    pub async fn open_small_buffer(addr: SocketAddr) -> io::Result<Raw> {
        let socket = TcpSocket::new_v4()?;
        socket.set_recv_buffer_size(4096)?;
        let stream = socket.connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Raw {
            stream,
            rx: Vec::new(),
        })
    }

    /// Opens a connection and sends a valid clean-start CONNECT for `client_id` at `level`;
    /// fails unless the answer is a CONNACK accepting it (return / reason code 0).
    pub async fn handshake(addr: SocketAddr, level: u8, client_id: &str) -> Result<Raw, String> {
        let mut raw = Raw::open(addr).await.map_err(|e| format!("connect: {e}"))?;
        raw.send(&connect_packet(level, client_id))
            .await
            .map_err(|e| format!("send CONNECT: {e}"))?;
        let ack = raw.read_packet(ANSWER_TIMEOUT).await?;
        if ack.packet_type() != 2 || ack.reason_code() != Some(0) {
            return Err(format!("{client_id}: CONNECT not accepted: {ack:02X?}"));
        }
        Ok(raw)
    }

    /// Writes `bytes` and flushes.
    pub async fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes).await?;
        self.stream.flush().await
    }

    /// Reads the next packet, waiting at most `within`.
    pub async fn read_packet(&mut self, within: Duration) -> Result<RawPacket, String> {
        let deadline = Instant::now() + within;
        loop {
            if let Some((packet, used)) = parse_packet(&self.rx)? {
                self.rx.drain(..used);
                return Ok(packet);
            }
            let mut chunk = [0u8; 4096];
            match timeout_at(deadline, self.stream.read(&mut chunk)).await {
                Err(_) => return Err(format!("no packet within {within:?}")),
                Ok(Ok(0)) => return Err("closed by the broker".into()),
                Ok(Ok(n)) => self.rx.extend_from_slice(&chunk[..n]),
                Ok(Err(e)) => return Err(format!("read: {e}")),
            }
        }
    }

    /// Reads until the broker closes the connection (end of stream or reset) and returns
    /// every byte it sent that no earlier read took; an error if it is still open after
    /// `within`.
    pub async fn read_to_close(&mut self, within: Duration) -> Result<Vec<u8>, String> {
        let deadline = Instant::now() + within;
        let mut got = std::mem::take(&mut self.rx);
        let mut chunk = vec![0u8; 64 * 1024];
        loop {
            match timeout_at(deadline, self.stream.read(&mut chunk)).await {
                Err(_) => {
                    return Err(format!(
                        "still open after {within:?} (received {} bytes: {:02X?})",
                        got.len(),
                        &got[..got.len().min(32)]
                    ));
                }
                Ok(Ok(0)) => return Ok(got),
                Ok(Ok(n)) => got.extend_from_slice(&chunk[..n]),
                Ok(Err(e)) if e.kind() == io::ErrorKind::ConnectionReset => return Ok(got),
                Ok(Err(e)) => return Err(format!("read: {e}")),
            }
        }
    }

    /// The local address (its port names this connection in `/proc/net/tcp`).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.stream.local_addr()
    }
}

/// A field of `/proc/<pid>/status` in KiB (`VmRSS`, `VmHWM` the peak resident size...).
pub fn proc_status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status
        .lines()
        .find(|l| l.strip_prefix(field).is_some_and(|r| r.starts_with(':')))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Two well-behaved myqtt clients: `listener` subscribes to a topic, `talker` publishes to it
/// at QoS 1. The hostile tests check that they keep exchanging messages while the broker is
/// under attack. Reconnection is off, so a dropped chat connection fails the round trip.
pub struct Chat {
    listener: Client,
    talker: Client,
    inbox: Messages,
    topic: String,
    next: u64,
}

impl Chat {
    /// Connects the pair (5.0, with `login` as user name and password if given) and
    /// subscribes the listener to `chat/<tag>`.
    ///
    /// # Panics
    ///
    /// If either cannot connect or subscribe.
    pub async fn join(addr: SocketAddr, tag: &str, login: Option<(&str, &str)>) -> Chat {
        let options = |role: &str| {
            let mut o = ConnectOptions::new(format!("chat-{tag}-{role}"))
                .keep_alive(30)
                .reconnect(ReconnectPolicy::disabled())
                .operation_timeout(Duration::from_secs(10));
            if let Some((user, password)) = login {
                o = o.credentials(user, password.as_bytes().to_vec());
            }
            o
        };
        let listener = Client::connect(addr, options("listener"))
            .await
            .expect("the chat listener connects");
        let talker = Client::connect(addr, options("talker"))
            .await
            .expect("the chat talker connects");
        let topic = format!("chat/{tag}");
        let inbox = listener.messages();
        listener
            .subscribe(topic.as_str(), QoS::AtLeastOnce)
            .await
            .expect("the chat listener subscribes");
        Chat {
            listener,
            talker,
            inbox,
            topic,
            next: 0,
        }
    }

    /// One QoS 1 message from the talker, acknowledged by the broker and received by the
    /// listener, each within 10 s.
    pub async fn round_trip(&mut self) -> Result<(), String> {
        self.next += 1;
        let payload = self.next.to_string();
        self.talker
            .publish(
                self.topic.as_str(),
                payload.clone().into_bytes(),
                QoS::AtLeastOnce,
                false,
            )
            .await
            .map_err(|e| format!("chat publish {payload}: {e}"))?;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match timeout_at(deadline, self.inbox.recv()).await {
                Err(_) => return Err(format!("chat message {payload} not received in 10 s")),
                Ok(None) => return Err("the chat listener's inbox closed".into()),
                Ok(Some(m)) if m.payload.as_ref() == payload.as_bytes() => return Ok(()),
                Ok(Some(_)) => {}
            }
        }
    }

    /// Keeps doing round trips in a task until [`Chatter::finish`].
    pub fn spawn(mut self) -> Chatter {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let task = tokio::spawn(async move {
            let mut done = 0;
            while !flag.load(Ordering::Relaxed) {
                self.round_trip()
                    .await
                    .map_err(|e| format!("after {done} round trips: {e}"))?;
                done += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            self.round_trip()
                .await
                .map_err(|e| format!("final round trip: {e}"))?;
            let _ = timeout(Duration::from_secs(2), self.listener.close()).await;
            let _ = timeout(Duration::from_secs(2), self.talker.close()).await;
            Ok(done + 1)
        });
        Chatter { stop, task }
    }
}

/// A [`Chat`] doing round trips in the background.
pub struct Chatter {
    stop: Arc<AtomicBool>,
    task: JoinHandle<Result<usize, String>>,
}

impl Chatter {
    /// Stops the round trips after a last one and returns how many completed.
    ///
    /// # Panics
    ///
    /// If any round trip failed: the well-behaved clients were disturbed.
    pub async fn finish(self) -> usize {
        self.stop.store(true, Ordering::Relaxed);
        match self.task.await {
            Ok(Ok(n)) => n,
            Ok(Err(e)) => panic!("the well-behaved clients stopped exchanging messages: {e}"),
            Err(e) => panic!("the chat task failed: {e}"),
        }
    }
}
