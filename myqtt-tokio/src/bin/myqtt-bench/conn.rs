//! A raw MQTT connection: a TCP or TLS socket, the `myqtt-proto` codec and two buffers.
//!
//! Nothing is sent until [`Conn::flush`]: callers queue many packets, then write them with one
//! call. Every socket operation is bounded by the connection's deadline and fails with
//! [`io::ErrorKind::TimedOut`] once it has passed.

use std::io;
use std::sync::Arc;

use bytes::BytesMut;
use myqtt_host::tls::{ClientTls, PemSource};
use myqtt_proto::codec::{
    Connect, DecodeError, Disconnect, MqttString, Packet, PacketId, ProtocolVersion, QoS,
    ReasonCode, Subscribe, SubscribeProperties, Subscription,
};
use myqtt_proto::topic::TopicFilter;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout_at};
use tokio_rustls::TlsConnector;

use crate::Opts;

/// Largest packet accepted from the broker.
const MAX_PACKET: usize = 256 << 20;
/// MQTT 5.0 Session Expiry Interval of persistent sessions, in seconds: long enough to be kept
/// across a run, short enough that a broker forgets the sessions of earlier runs.
const SESSION_EXPIRY_S: u32 = 300;

/// A byte stream: TCP or TLS over TCP.
trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// Where and how to connect: address, protocol version, TLS.
#[derive(Clone)]
pub(crate) struct Target {
    addr: String,
    version: ProtocolVersion,
    keep_alive: u16,
    tls: Option<(TlsConnector, ServerName<'static>)>,
    /// Whether connections ask for a persistent session (see [`Target::persistent`]).
    persistent: bool,
}

impl Target {
    /// The broker named by the options; fails on bad TLS options or CA file.
    pub(crate) fn new(opts: &Opts) -> Result<Target, String> {
        let tls = if opts.tls {
            let mut client = ClientTls::new();
            client = match (&opts.cafile, opts.insecure) {
                (_, true) => client.danger_accept_any_server_certificate(),
                (Some(path), false) => client.ca(PemSource::path(path)),
                (None, false) => client.webpki_roots(),
            };
            let config = client.build().map_err(|e| format!("TLS: {e}"))?;
            let name = opts
                .server_name
                .clone()
                .unwrap_or_else(|| opts.host.clone());
            let name = ServerName::try_from(name).map_err(|e| format!("TLS server name: {e}"))?;
            Some((TlsConnector::from(Arc::clone(&config)), name))
        } else {
            None
        };
        let version = match opts.version {
            5 => ProtocolVersion::V5,
            _ => ProtocolVersion::V3_1_1,
        };
        Ok(Target {
            addr: format!("{}:{}", opts.host, opts.port),
            version,
            keep_alive: opts.keep_alive,
            tls,
            persistent: false,
        })
    }

    /// The same broker, but connections ask for a persistent session: Clean Session 0 (3.1.1)
    /// or Clean Start 0 with a Session Expiry Interval (5.0), so that the broker keeps (and,
    /// with persistence, stores) their subscriptions and QoS 1/2 messages. A session the
    /// broker already had is refused: its stale messages would be counted as this run's.
    pub(crate) fn persistent(&self) -> Target {
        Target {
            persistent: true,
            ..self.clone()
        }
    }

    /// Opens a connection and completes CONNECT/CONNACK (clean start unless
    /// [`Target::persistent`], `--keep-alive`) before `deadline`. `read_chunk` is the receive buffer growth step: large for data
    /// connections, small for idle ones.
    pub(crate) async fn connect(
        &self,
        client_id: &str,
        deadline: Instant,
        read_chunk: usize,
    ) -> io::Result<Conn> {
        let tcp = timeout_at(deadline, TcpStream::connect(&self.addr))
            .await
            .map_err(|_| timed_out())??;
        tcp.set_nodelay(true)?;
        let io: Box<dyn Io> = match &self.tls {
            None => Box::new(tcp),
            Some((connector, name)) => Box::new(
                timeout_at(deadline, connector.connect(name.clone(), tcp))
                    .await
                    .map_err(|_| timed_out())??,
            ),
        };
        let mut conn = Conn {
            io,
            rx: BytesMut::new(),
            tx: Vec::new(),
            version: self.version,
            deadline,
            read_chunk,
            receive_maximum: u16::MAX,
        };
        let id = MqttString::try_from(client_id).map_err(io::Error::other)?;
        conn.queue(&Packet::Connect(Box::new(self.connect_packet(id))))?;
        conn.flush().await?;
        match conn.recv().await? {
            Packet::ConnAck(ack) if self.persistent && ack.session_present => Err(
                io::Error::other(format!("the broker already had a session for {client_id}")),
            ),
            Packet::ConnAck(ack) if !ack.reason_code.is_error() => {
                if let Some(max) = ack.properties.receive_maximum {
                    conn.receive_maximum = max.get();
                }
                Ok(conn)
            }
            Packet::ConnAck(ack) => Err(io::Error::other(format!(
                "CONNECT refused: {}",
                ack.reason_code.description()
            ))),
            other => Err(unexpected(&other)),
        }
    }

    /// The CONNECT packet of client `id`.
    fn connect_packet(&self, id: MqttString) -> Connect {
        let mut connect = Connect::new(self.version, id);
        connect.keep_alive = self.keep_alive;
        if self.persistent {
            connect.clean_start = false;
            if self.version == ProtocolVersion::V5 {
                connect.properties.session_expiry_interval = Some(SESSION_EXPIRY_S);
            }
        }
        connect
    }
}

/// An open MQTT connection (after CONNACK).
pub(crate) struct Conn {
    io: Box<dyn Io>,
    rx: BytesMut,
    /// Encoded packets waiting for [`Conn::flush`].
    pub(crate) tx: Vec<u8>,
    version: ProtocolVersion,
    deadline: Instant,
    read_chunk: usize,
    /// The broker's Receive Maximum (MQTT 5.0; 65535 when absent).
    pub(crate) receive_maximum: u16,
}

impl Conn {
    /// The deadline of every operation on this connection.
    pub(crate) fn deadline(&self) -> Instant {
        self.deadline
    }

    /// The connection's protocol version.
    pub(crate) fn version(&self) -> ProtocolVersion {
        self.version
    }

    /// Appends `packet` to the send buffer.
    pub(crate) fn queue(&mut self, packet: &Packet) -> io::Result<()> {
        packet
            .encode_to(self.version, &mut self.tx)
            .map(drop)
            .map_err(io::Error::other)
    }

    /// Writes the whole send buffer.
    pub(crate) async fn flush(&mut self) -> io::Result<()> {
        if self.tx.is_empty() {
            return Ok(());
        }
        let write = async {
            self.io.write_all(&self.tx).await?;
            self.io.flush().await
        };
        timeout_at(self.deadline, write)
            .await
            .map_err(|_| timed_out())??;
        self.tx.clear();
        Ok(())
    }

    /// Reads what the socket has (at least one byte) into the receive buffer; end of stream
    /// is an error.
    pub(crate) async fn read_more(&mut self) -> io::Result<()> {
        if self.rx.capacity() - self.rx.len() < self.read_chunk / 2 {
            self.rx.reserve(self.read_chunk);
        }
        let n = timeout_at(self.deadline, self.io.read_buf(&mut self.rx))
            .await
            .map_err(|_| timed_out())??;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "broker closed the connection",
            ));
        }
        Ok(())
    }

    /// The next whole packet already received, if any.
    pub(crate) fn try_packet(&mut self) -> io::Result<Option<Packet>> {
        match Packet::decode(&mut self.rx, self.version, MAX_PACKET) {
            Ok(p) => Ok(Some(p)),
            Err(DecodeError::Incomplete { .. }) => Ok(None),
            Err(e) => Err(io::Error::new(io::ErrorKind::InvalidData, e.to_string())),
        }
    }

    /// The next packet, reading as needed.
    pub(crate) async fn recv(&mut self) -> io::Result<Packet> {
        loop {
            if let Some(p) = self.try_packet()? {
                return Ok(p);
            }
            self.read_more().await?;
        }
    }

    /// Subscribes to `filter` at `qos` and waits for a successful SUBACK.
    pub(crate) async fn subscribe(&mut self, filter: &str, qos: QoS) -> io::Result<()> {
        let filter = TopicFilter::try_from(filter).map_err(io::Error::other)?;
        self.queue(&Packet::Subscribe(Subscribe {
            packet_id: PacketId::MIN,
            subscriptions: vec![Subscription::new(filter, qos)],
            properties: SubscribeProperties::default(),
        }))?;
        self.flush().await?;
        match self.recv().await? {
            Packet::SubAck(ack) if ack.reason_codes.iter().all(|c| !c.is_error()) => Ok(()),
            Packet::SubAck(ack) => Err(io::Error::other(format!(
                "SUBSCRIBE refused: {:?}",
                ack.reason_codes
            ))),
            other => Err(unexpected(&other)),
        }
    }

    /// Sends DISCONNECT and closes, ignoring errors (the broker may be gone).
    pub(crate) async fn disconnect(mut self) {
        let _ = self.queue(&Packet::Disconnect(Disconnect::new(ReasonCode::Success)));
        let _ = self.flush().await;
        let _ = timeout_at(self.deadline, self.io.shutdown()).await;
    }
}

/// The error of an operation that missed its deadline.
pub(crate) fn timed_out() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "hard timeout reached")
}

/// The error for a packet the broker should not have sent here.
pub(crate) fn unexpected(packet: &Packet) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("unexpected {:?} from the broker", packet.packet_type()),
    )
}
