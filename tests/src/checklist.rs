//! Helpers of the MyQtt checklist tests (`tests/checklist_*.rs`, see `tests/CHECKLIST.md`):
//! a raw MQTT peer over TCP or WebSocket (packets from the codec, so the server is checked
//! without our client in between), the library server on a loopback port, client options and
//! message waits with bounded timeouts, and `myqttd` chores (password files, signals).

use std::future::Future;
use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use bytes::{Buf, BytesMut};
use myqtt_proto::codec::{
    ConnAck, Connect, DecodeError, MqttString, Packet, PacketId, ProtocolVersion, Publish, QoS,
    ReasonCode, Subscribe, SubscribeProperties, Subscription, Unsubscribe, UnsubscribeProperties,
};
use myqtt_proto::topic::{TopicFilter, TopicName};
use myqtt_tokio::client::{Client, ClientError, ConnectOptions, Messages, ReconnectPolicy};
use myqtt_tokio::server::{Server, ServerBuilder};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

/// Runs a test body with an overall time limit of `secs` seconds.
///
/// # Panics
///
/// If the body takes longer.
pub async fn within<F: Future>(secs: u64, body: F) -> F::Output {
    timeout(Duration::from_secs(secs), body)
        .await
        .expect("test timed out")
}

/// Starts `builder` with one TCP listener on a free loopback port; returns the server and
/// that listener's address.
///
/// # Panics
///
/// If the server does not start.
pub async fn start(builder: ServerBuilder) -> (Server, SocketAddr) {
    let server = builder
        .listen("127.0.0.1:0")
        .start()
        .await
        .expect("the server starts");
    let addr = server.local_addrs()[0];
    (server, addr)
}

/// Client options for `id`: no automatic reconnection, 5 s operation timeout.
pub fn options(id: &str, version: ProtocolVersion) -> ConnectOptions {
    ConnectOptions::new(id)
        .version(version)
        .reconnect(ReconnectPolicy::disabled())
        .operation_timeout(Duration::from_secs(5))
}

/// Connects our client, retrying for up to 2 s while the port is not open yet.
///
/// # Errors
///
/// The last connection error (a refusal is returned at once).
pub async fn connect(addr: SocketAddr, options: ConnectOptions) -> Result<Client, ClientError> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    loop {
        match Client::connect(addr, options.clone()).await {
            Err(ClientError::Io(_)) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            other => return other,
        }
    }
}

/// The next message, or a panic after 3 s.
///
/// # Panics
///
/// If none arrives or the stream ends.
pub async fn next(messages: &mut Messages) -> Publish {
    timeout(Duration::from_secs(3), messages.recv())
        .await
        .expect("no message within 3 s")
        .expect("message stream ended")
}

/// Asserts that no message arrives within `ms` milliseconds.
///
/// # Panics
///
/// If one does.
pub async fn none_within(messages: &mut Messages, ms: u64) {
    if let Ok(Some(m)) = timeout(Duration::from_millis(ms), messages.recv()).await {
        panic!("unexpected message on {}", m.topic);
    }
}

/// A topic name.
///
/// # Panics
///
/// If `topic` is not a valid topic name.
pub fn topic(topic: &str) -> TopicName {
    TopicName::try_from(topic).expect("a valid topic name")
}

/// A PUBLISH packet (`id` is ignored at QoS 0).
///
/// # Panics
///
/// If `topic` is invalid.
pub fn publish(topic_name: &str, payload: &[u8], qos: QoS, id: u16, retain: bool) -> Packet {
    let mut p = Publish::new(topic(topic_name), payload.to_vec());
    p.qos = qos;
    p.packet_id = if qos == QoS::AtMostOnce {
        None
    } else {
        PacketId::new(id)
    };
    p.retain = retain;
    Packet::Publish(p)
}

/// A CONNECT packet.
///
/// # Panics
///
/// If `id` is not a valid MQTT string.
pub fn connect_packet(version: ProtocolVersion, id: &str, clean: bool) -> Connect {
    let mut c = Connect::new(
        version,
        MqttString::try_from(id).expect("a valid client id"),
    );
    c.clean_start = clean;
    if version.is_v5() && !clean {
        c.properties.session_expiry_interval = Some(3600);
    }
    c
}

/// How a [`Peer`] frames its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    Tcp,
    WebSocket,
}

/// A raw MQTT peer: packets from the codec over TCP, or over WebSocket binary frames (a small
/// RFC 6455 client written here, so the server's framing is checked byte by byte).
#[derive(Debug)]
pub struct Peer {
    stream: TcpStream,
    /// MQTT bytes received and not decoded yet.
    rx: BytesMut,
    /// WebSocket bytes received and not unframed yet.
    raw: BytesMut,
    framing: Framing,
    version: ProtocolVersion,
    /// WebSocket data frames received, by opcode: (binary, text).
    pub frames: (usize, usize),
}

impl Peer {
    /// Opens a TCP connection.
    ///
    /// # Panics
    ///
    /// If the connection fails.
    pub async fn open(addr: SocketAddr, version: ProtocolVersion) -> Peer {
        Peer {
            stream: TcpStream::connect(addr).await.expect("TCP connect"),
            rx: BytesMut::new(),
            raw: BytesMut::new(),
            framing: Framing::Tcp,
            version,
            frames: (0, 0),
        }
    }

    /// Opens a WebSocket connection with `Host: host` offering the `mqtt` subprotocol; returns
    /// the peer and the HTTP response head.
    ///
    /// # Panics
    ///
    /// If the connection fails or the server does not switch protocols.
    pub async fn open_ws(addr: SocketAddr, host: &str, version: ProtocolVersion) -> (Peer, String) {
        let mut stream = TcpStream::connect(addr).await.expect("TCP connect");
        let request = format!(
            "GET /mqtt HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
             Sec-WebSocket-Protocol: mqtt\r\n\r\n"
        );
        stream
            .write_all(request.as_bytes())
            .await
            .expect("handshake sent");
        let mut raw = BytesMut::new();
        let head = timeout(Duration::from_secs(5), async {
            loop {
                if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
                    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
                    raw.advance(end + 4);
                    return head;
                }
                let n = stream.read_buf(&mut raw).await.expect("handshake read");
                assert!(n > 0, "closed during the WebSocket handshake");
            }
        })
        .await
        .expect("WebSocket handshake in time");
        assert!(
            head.starts_with("HTTP/1.1 101"),
            "no protocol switch: {head}"
        );
        // RFC 6455 §4.2.2: the accept value for the sample key of §1.3.
        assert!(
            head.contains("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
            "wrong accept: {head}"
        );
        let peer = Peer {
            stream,
            rx: BytesMut::new(),
            raw,
            framing: Framing::WebSocket,
            version,
            frames: (0, 0),
        };
        (peer, head)
    }

    /// Sends raw MQTT bytes (one masked binary frame over WebSocket).
    ///
    /// # Panics
    ///
    /// If the write fails.
    pub async fn send_bytes(&mut self, bytes: &[u8]) {
        let framed;
        let out = match self.framing {
            Framing::Tcp => bytes,
            Framing::WebSocket => {
                framed = ws_frame(bytes);
                &framed[..]
            }
        };
        self.stream.write_all(out).await.expect("write");
    }

    /// Sends CONNECT and returns the CONNACK's reason code, or `None` if the server closed
    /// the connection instead of answering (a write or read error counts as closed).
    pub async fn try_connect(&mut self, connect: Connect) -> Option<ReasonCode> {
        let bytes = self.encode(Packet::Connect(Box::new(connect)));
        let framed = match self.framing {
            Framing::Tcp => bytes,
            Framing::WebSocket => ws_frame(&bytes),
        };
        self.stream.write_all(&framed).await.ok()?;
        match self.recv().await {
            Some(Packet::ConnAck(ack)) => Some(ack.reason_code),
            None => None,
            other => panic!("expected CONNACK, got {other:?}"),
        }
    }

    /// Encodes and sends a packet.
    ///
    /// # Panics
    ///
    /// If it cannot be encoded or written.
    pub async fn send(&mut self, packet: Packet) {
        let bytes = packet.to_bytes(self.version).expect("encodable packet");
        self.send_bytes(&bytes).await;
    }

    /// The encoded bytes of `packet` for this peer's version.
    ///
    /// # Panics
    ///
    /// If it cannot be encoded.
    pub fn encode(&self, packet: Packet) -> Vec<u8> {
        packet
            .to_bytes(self.version)
            .expect("encodable packet")
            .to_vec()
    }

    /// The next packet within `ms` milliseconds: `Err(())` on timeout, `Ok(None)` when the
    /// server closed the connection (or reset it).
    ///
    /// # Panics
    ///
    /// If the server sends bytes that do not decode, or a WebSocket text frame.
    pub async fn recv_within(&mut self, ms: u64) -> Result<Option<Packet>, ()> {
        timeout(Duration::from_millis(ms), self.recv_inner())
            .await
            .map_err(|_| ())
    }

    /// The next packet (5 s at most); `None` when the server closed the connection.
    ///
    /// # Panics
    ///
    /// On timeout or garbage.
    pub async fn recv(&mut self) -> Option<Packet> {
        self.recv_within(5000)
            .await
            .expect("the server answered in time")
    }

    async fn recv_inner(&mut self) -> Option<Packet> {
        loop {
            match Packet::decode(&mut self.rx, self.version, 1 << 24) {
                Ok(p) => return Some(p),
                Err(DecodeError::Incomplete { .. }) => {}
                Err(e) => panic!("server sent garbage: {e}"),
            }
            if self.framing == Framing::WebSocket {
                match self.unframe() {
                    Some(true) => continue,
                    Some(false) => return None,
                    None => {}
                }
            }
            let buf = match self.framing {
                Framing::Tcp => &mut self.rx,
                Framing::WebSocket => &mut self.raw,
            };
            if self.stream.read_buf(buf).await.unwrap_or(0) == 0 {
                return None;
            }
        }
    }

    /// Moves one complete server frame from `raw` to `rx`: `Some(true)` if a frame was taken,
    /// `Some(false)` on a close frame, `None` if no complete frame is buffered.
    fn unframe(&mut self) -> Option<bool> {
        let raw = &self.raw;
        if raw.len() < 2 {
            return None;
        }
        assert_eq!(
            raw[1] & 0x80,
            0,
            "server frames are not masked (RFC 6455 §5.1)"
        );
        let (len, header) = match raw[1] & 0x7f {
            126 if raw.len() >= 4 => (usize::from(u16::from_be_bytes([raw[2], raw[3]])), 4),
            127 if raw.len() >= 10 => {
                let mut b = [0u8; 8];
                b.copy_from_slice(&raw[2..10]);
                (
                    usize::try_from(u64::from_be_bytes(b)).expect("frame size"),
                    10,
                )
            }
            126 | 127 => return None,
            n => (usize::from(n), 2),
        };
        if raw.len() < header + len {
            return None;
        }
        let opcode = raw[0] & 0x0f;
        self.raw.advance(header);
        let payload = self.raw.split_to(len);
        match opcode {
            0x0 | 0x2 => {
                if opcode == 0x2 {
                    self.frames.0 += 1;
                }
                self.rx.extend_from_slice(&payload);
                Some(true)
            }
            0x1 => {
                self.frames.1 += 1;
                panic!("the server sent a text frame (MQTT needs binary frames)");
            }
            0x8 => Some(false),
            // Ping / pong: nothing for MQTT.
            _ => Some(true),
        }
    }

    /// Sends CONNECT and returns the CONNACK.
    ///
    /// # Panics
    ///
    /// If the answer is not a CONNACK.
    pub async fn connect_with(&mut self, connect: Connect) -> ConnAck {
        self.send(Packet::Connect(Box::new(connect))).await;
        match self.recv().await {
            Some(Packet::ConnAck(ack)) => *ack,
            other => panic!("expected CONNACK, got {other:?}"),
        }
    }

    /// Connects with client id `id` and the clean-session flag `clean`.
    ///
    /// # Panics
    ///
    /// If the answer is not a CONNACK.
    pub async fn connect(&mut self, id: &str, clean: bool) -> ConnAck {
        let c = connect_packet(self.version, id, clean);
        self.connect_with(c).await
    }

    /// Subscribes to `filters` (packet id `id`) and returns the SUBACK codes.
    ///
    /// # Panics
    ///
    /// If a filter is invalid or the answer is not the SUBACK.
    pub async fn subscribe(&mut self, id: u16, filters: &[(&str, QoS)]) -> Vec<ReasonCode> {
        let subscriptions = filters
            .iter()
            .map(|(f, q)| Subscription::new(TopicFilter::try_from(*f).expect("a valid filter"), *q))
            .collect();
        self.send(Packet::Subscribe(Subscribe {
            packet_id: PacketId::new(id).expect("a non-zero packet id"),
            subscriptions,
            properties: SubscribeProperties::default(),
        }))
        .await;
        match self.recv().await {
            Some(Packet::SubAck(a)) if a.packet_id.get() == id => a.reason_codes,
            other => panic!("expected SUBACK {id}, got {other:?}"),
        }
    }

    /// Unsubscribes from `filters` and waits for the UNSUBACK.
    ///
    /// # Panics
    ///
    /// If a filter is invalid or the answer is not the UNSUBACK.
    pub async fn unsubscribe(&mut self, id: u16, filters: &[&str]) {
        self.send(Packet::Unsubscribe(Unsubscribe {
            packet_id: PacketId::new(id).expect("a non-zero packet id"),
            filters: filters
                .iter()
                .map(|f| TopicFilter::try_from(*f).expect("a valid filter"))
                .collect(),
            properties: UnsubscribeProperties::default(),
        }))
        .await;
        match self.recv().await {
            Some(Packet::UnsubAck(a)) if a.packet_id.get() == id => {}
            other => panic!("expected UNSUBACK {id}, got {other:?}"),
        }
    }

    /// The next packet, which must be a PUBLISH.
    ///
    /// # Panics
    ///
    /// If it is something else.
    pub async fn expect_publish(&mut self) -> Publish {
        match self.recv().await {
            Some(Packet::Publish(p)) => p,
            other => panic!("expected PUBLISH, got {other:?}"),
        }
    }

    /// Asserts that nothing arrives within `ms` milliseconds (a close counts as nothing).
    ///
    /// # Panics
    ///
    /// If a packet arrives.
    pub async fn quiet(&mut self, ms: u64) {
        if let Ok(Some(p)) = self.recv_within(ms).await {
            panic!("unexpected packet {p:?}");
        }
    }

    /// Closes the socket without DISCONNECT.
    pub fn drop_socket(self) {
        drop(self);
    }
}

/// One masked, final, binary WebSocket frame carrying `payload`.
fn ws_frame(payload: &[u8]) -> Vec<u8> {
    const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];
    let mut out = vec![0x82];
    match payload.len() {
        n if n < 126 => out.push(0x80 | u8::try_from(n).expect("small")),
        n if n <= 0xffff => {
            out.push(0x80 | 126);
            out.extend_from_slice(&u16::try_from(n).expect("medium").to_be_bytes());
        }
        n => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&MASK);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ MASK[i % 4]));
    out
}

/// Adds or replaces `user` in the `myqttd` password file `file` (`myqttd passwd -f`).
///
/// # Panics
///
/// If the command fails.
pub fn passwd(file: &Path, user: &str, password: &str) {
    let mut child = Command::new(crate::myqttd::binary())
        .args(["passwd", "-f"])
        .arg(file)
        .arg(user)
        .stdin(Stdio::piped())
        .stderr(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .expect("myqttd passwd runs");
    writeln!(child.stdin.take().expect("stdin"), "{password}").expect("password written");
    assert!(child.wait().expect("myqttd passwd ends").success());
}

/// Removes `user` from the password file (`myqttd passwd -f FILE --delete USER`).
///
/// # Panics
///
/// If the command fails.
pub fn passwd_delete(file: &Path, user: &str) {
    let status = Command::new(crate::myqttd::binary())
        .args(["passwd", "-f"])
        .arg(file)
        .arg("--delete")
        .arg(user)
        .stderr(Stdio::null())
        .stdout(Stdio::null())
        .status()
        .expect("myqttd passwd runs");
    assert!(status.success());
}

/// Sends `signal` (`"HUP"`, `"TERM"`, ...) to process `pid` with `kill(1)`.
///
/// # Panics
///
/// If `kill` fails.
pub fn signal(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill -{signal} {pid} failed");
}
