//! Picks the domain of a new connection, as MyQttD's `myqttd_domain_find_by_indications`
//! does, but deterministically: when named domains exist, the connection's CONNECT is read
//! before it is handed to a domain, and the first rule that applies wins:
//!
//! 1. a Client Identifier ending in `@<domain>` (the suffix is removed before the domain sees
//!    the CONNECT);
//! 2. a User Name ending in `@<domain>` (likewise removed);
//! 3. the TLS SNI server name or WebSocket `Host` equal to a domain's name;
//! 4. the named domains in the order they were added: the first whose `on_connect` accepts the
//!    client (MyQttD probed them in hash order);
//! 5. the default domain, whose `on_connect` decides.
//!
//! A domain chosen by rules 1–3 is final: its `on_connect` alone decides. Names compare
//! case-insensitively. A suffix naming no domain is left in place (an `@` is a valid client-id
//! character).

use std::sync::{Arc, RwLock};

use bytes::{Bytes, BytesMut};
use futures_io::AsyncRead;
use myqtt_proto::ProtocolVersion;
use myqtt_proto::broker::{ConnectDecision, ConnectionId, TransportInfo};
use myqtt_proto::codec::{Connect, DecodeError, FixedHeader, MqttString, Packet};
use tracing::debug;

use super::connection::read_some;
use super::domain::DomainRoute;
use super::hooks::ConnectInfo;
use crate::runtime::{Runtime, timeout};

/// The domains connections can reach; replaced as a whole when a domain is added or removed,
/// so a connection routes against one consistent table.
#[derive(Debug)]
pub(crate) struct Routes {
    table: RwLock<Arc<RouteTable>>,
}

/// The default domain and the named ones, in the order they were added.
#[derive(Clone, Debug)]
pub(crate) struct RouteTable {
    pub(crate) default: DomainRoute,
    pub(crate) named: Vec<DomainRoute>,
}

impl RouteTable {
    fn named(&self, name: &str) -> Option<&DomainRoute> {
        self.named.iter().find(|d| {
            d.name
                .as_deref()
                .is_some_and(|n| n.eq_ignore_ascii_case(name))
        })
    }
}

impl Routes {
    pub(crate) fn new(table: RouteTable) -> Self {
        Routes {
            table: RwLock::new(Arc::new(table)),
        }
    }

    /// The table as it is now.
    pub(crate) fn current(&self) -> Arc<RouteTable> {
        self.table
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Replaces the table with `change` applied to a copy of it.
    pub(crate) fn update(&self, change: impl FnOnce(&mut RouteTable)) {
        let mut guard = self
            .table
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut table = RouteTable::clone(&guard);
        change(&mut table);
        *guard = Arc::new(table);
    }
}

/// Where a connection goes and what it starts with.
pub(crate) struct Routed {
    /// The chosen domain.
    pub(crate) route: DomainRoute,
    /// Bytes already read (the CONNECT, possibly rewritten, and anything after it).
    pub(crate) first: BytesMut,
    /// The decision of the domain's `on_connect`, when probing already took it.
    pub(crate) decided: Option<ConnectDecision>,
}

/// Chooses the domain of a fresh connection (see the module documentation). `None` when the
/// client closed or sent no complete packet within the default domain's connect timeout.
pub(crate) async fn route<R, S>(
    stream: &mut S,
    transport: &TransportInfo,
    table: &RouteTable,
) -> Option<Routed>
where
    R: Runtime,
    S: AsyncRead + Unpin,
{
    let default = || Routed {
        route: table.default.clone(),
        first: BytesMut::new(),
        decided: None,
    };
    if table.named.is_empty() {
        return Some(default());
    }
    let limits = &table.default;
    let read = read_first_packet(stream, limits.max_packet_size);
    let Some(Some((mut buf, whole))) = timeout::<R, _>(limits.connect_timeout, read).await else {
        let peer = transport.remote_addr.as_deref().unwrap_or("?");
        debug!(%peer, "no CONNECT in time or connection closed before it");
        return None;
    };
    let mut packet_bytes = buf.split_to(whole);
    // Anything that is not a valid CONNECT goes to the default domain untouched, which answers
    // as the specification requires.
    let decoded = Packet::decode(
        &mut packet_bytes.clone(),
        ProtocolVersion::V3_1_1,
        limits.max_packet_size,
    );
    let Ok(Packet::Connect(mut connect)) = decoded else {
        packet_bytes.unsplit(buf);
        return Some(Routed {
            first: packet_bytes,
            ..default()
        });
    };
    let explicit = strip_domain(&mut connect.client_id, table)
        .or_else(|| {
            let username = connect.username.as_mut()?;
            strip_domain(username, table)
        })
        .or_else(|| table.named(transport.server_name.as_deref()?).cloned());
    let (route, decided, rewritten) = match explicit {
        Some(route) => (route, None, true),
        None => match probe(&connect, transport, table).await {
            Some(route) => (route, Some(ConnectDecision::Accept), false),
            None => (table.default.clone(), None, false),
        },
    };
    let mut first = if rewritten {
        encode(&connect).unwrap_or(packet_bytes)
    } else {
        packet_bytes
    };
    first.unsplit(buf);
    Some(Routed {
        route,
        first,
        decided,
    })
}

/// Reads until the buffer holds one whole packet; returns the buffer and that packet's
/// length. A fixed header that is invalid or announces more than `max_packet_size` ends the
/// wait too, with the bytes so far as the "packet", so the default domain can answer it.
async fn read_first_packet<S>(stream: &mut S, max_packet_size: usize) -> Option<(BytesMut, usize)>
where
    S: AsyncRead + Unpin,
{
    let mut buf = BytesMut::with_capacity(256);
    loop {
        match FixedHeader::parse(&buf, ProtocolVersion::V3_1_1, max_packet_size) {
            Ok(header) if buf.len() >= header.packet_len() => {
                let len = header.packet_len();
                return Some((buf, len));
            }
            Ok(_) | Err(DecodeError::Incomplete { .. }) => {}
            Err(DecodeError::Invalid(_)) => {
                let len = buf.len();
                return Some((buf, len));
            }
        }
        match read_some(stream, &mut buf, 1024).await {
            Ok(0) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

/// Removes an `@<domain>` suffix naming a known domain from `value`; returns that domain.
fn strip_domain(value: &mut MqttString, table: &RouteTable) -> Option<DomainRoute> {
    let (head, name) = value.as_str().rsplit_once('@')?;
    let route = table.named(name)?.clone();
    let head_len = head.len();
    let stripped = MqttString::from_bytes(value.as_bytes().slice(..head_len)).ok()?;
    *value = stripped;
    Some(route)
}

/// The first named domain whose `on_connect` accepts the client (a domain without one accepts
/// everyone).
async fn probe(
    connect: &Connect,
    transport: &TransportInfo,
    table: &RouteTable,
) -> Option<DomainRoute> {
    for route in &table.named {
        let Some(handler) = &route.on_connect else {
            return Some(route.clone());
        };
        let info = ConnectInfo {
            connection: ConnectionId(0),
            client_id: connect.client_id.as_str().to_owned(),
            username: connect.username.as_deref().map(str::to_owned),
            password: connect.password.clone(),
            version: connect.protocol_version,
            server_name: transport.server_name.clone(),
            is_tls: transport.is_tls,
            remote_addr: transport.remote_addr.clone(),
            peer_certificate_subject: transport.peer_certificate_subject.clone(),
            will_topic: connect.will.as_ref().map(|w| w.topic.as_str().to_owned()),
            domain: route.name.clone(),
            handle: None,
        };
        if handler(info).await == ConnectDecision::Accept {
            return Some(route.clone());
        }
    }
    None
}

/// The CONNECT re-encoded after a suffix was removed.
fn encode(connect: &Connect) -> Option<BytesMut> {
    let version = connect.protocol_version;
    let bytes: Bytes = Packet::Connect(Box::new(connect.clone()))
        .to_bytes(version)
        .ok()?;
    Some(BytesMut::from(&bytes[..]))
}
