//! What a runtime reports about an accepted TLS session: the SNI server name and the client
//! certificate's subject and fingerprint.

use core::fmt::Write as _;

use rustls::ServerConnection;

/// The facts of a completed server-side handshake that go into the connection's
/// `TransportInfo` (MyQtt's `myqtt_conn_get_server_name`, `myqtt_tls_get_peer_ssl_digest`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsSessionInfo {
    /// The server name the client announced through SNI.
    pub server_name: Option<String>,
    /// The client certificate's subject as an RFC 4514 string (`CN=client,O=Example`), when a
    /// client certificate was presented and its subject could be read.
    pub peer_certificate_subject: Option<String>,
    /// SHA-256 fingerprint of the client certificate ([`fingerprint_sha256`] format).
    pub peer_certificate_fingerprint: Option<String>,
    /// The negotiated ALPN protocol.
    pub alpn_protocol: Option<Vec<u8>>,
}

impl TlsSessionInfo {
    /// Reads the facts from a server connection once its handshake has completed (with
    /// tokio-rustls: `stream.get_ref().1`).
    pub fn from_server(connection: &ServerConnection) -> Self {
        let leaf = connection
            .peer_certificates()
            .and_then(|chain| chain.first());
        TlsSessionInfo {
            server_name: connection.server_name().map(str::to_owned),
            peer_certificate_subject: leaf.and_then(|c| certificate_subject(c)),
            peer_certificate_fingerprint: leaf.map(|c| fingerprint_sha256(c)),
            alpn_protocol: connection.alpn_protocol().map(<[u8]>::to_vec),
        }
    }

    /// The client's identity for `TransportInfo::peer_certificate_subject`: the subject, or
    /// `sha256:<fingerprint>` when the subject could not be read; `None` without a client
    /// certificate.
    pub fn peer_identity(&self) -> Option<String> {
        self.peer_certificate_subject.clone().or_else(|| {
            self.peer_certificate_fingerprint
                .as_ref()
                .map(|f| format!("sha256:{f}"))
        })
    }
}

/// The SHA-256 fingerprint of a DER certificate as upper-case hex pairs joined by colons
/// (`AB:CD:...`), the format of `openssl x509 -fingerprint -sha256`.
pub fn fingerprint_sha256(der: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, der);
    let mut out = String::with_capacity(digest.as_ref().len() * 3);
    for (i, byte) in digest.as_ref().iter().enumerate() {
        if i > 0 {
            out.push(':');
        }
        let _ = write!(out, "{byte:02X}");
    }
    out
}

/// The subject of a DER certificate as an RFC 4514 string: relative distinguished names from
/// the most specific (`CN`) to the least, joined by `,` (multi-valued ones by `+`), with the
/// usual short names (`CN`, `O`, `OU`, `C`, `L`, `ST`, `STREET`, `DC`, `UID`, and OpenSSL's
/// `emailAddress`) and dotted OIDs with `#`-hex values otherwise.
///
/// `None` if the input is not a certificate this reader understands. It never panics, whatever
/// the input.
pub fn certificate_subject(der: &[u8]) -> Option<String> {
    let (cert, _) = expect(der, SEQUENCE)?;
    let (tbs, _) = expect(cert, SEQUENCE)?;
    let mut rest = tbs;
    if rest.first() == Some(&VERSION_TAG) {
        rest = tlv(rest)?.2;
    }
    // serialNumber, signature, issuer, validity; then subject.
    for _ in 0..4 {
        rest = tlv(rest)?.2;
    }
    let (name, _) = expect(rest, SEQUENCE)?;
    format_name(name)
}

const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const OID: u8 = 0x06;
const VERSION_TAG: u8 = 0xA0;

/// One DER element: (tag, contents, what follows). Single-byte tags only (all X.509 name
/// elements use them); definite lengths of up to four bytes.
fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, mut rest) = rest.split_first()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let (bytes, after) = rest.split_at(n);
        rest = after;
        bytes
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b))
    };
    if rest.len() < len {
        return None;
    }
    let (contents, after) = rest.split_at(len);
    Some((tag, contents, after))
}

/// The contents of an element with this tag, and what follows it.
fn expect(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (found, contents, rest) = tlv(input)?;
    (found == tag).then_some((contents, rest))
}

fn format_name(mut name: &[u8]) -> Option<String> {
    let mut rdns = Vec::new();
    while !name.is_empty() {
        let (mut set, rest) = expect(name, SET)?;
        name = rest;
        let mut parts = Vec::new();
        while !set.is_empty() {
            let (attribute, rest) = expect(set, SEQUENCE)?;
            set = rest;
            let (oid, element) = expect(attribute, OID)?;
            let (tag, value, after) = tlv(element)?;
            let encoded = &element[..element.len() - after.len()];
            let oid = dotted_oid(oid)?;
            let value = match (short_name(&oid), string_value(tag, value)) {
                (Some(short), Some(text)) => format!("{short}={}", escape(&text)),
                _ => format!("{oid}=#{}", hex(encoded)),
            };
            parts.push(value);
        }
        rdns.push(parts.join("+"));
    }
    rdns.reverse();
    Some(rdns.join(","))
}

fn dotted_oid(oid: &[u8]) -> Option<String> {
    let mut arcs: Vec<u64> = Vec::new();
    let mut value: u64 = 0;
    for &b in oid {
        value = value.checked_mul(128)? | u64::from(b & 0x7f);
        if b & 0x80 == 0 {
            if arcs.is_empty() {
                let first = (value / 40).min(2);
                arcs.push(first);
                arcs.push(value - first * 40);
            } else {
                arcs.push(value);
            }
            value = 0;
        }
    }
    if arcs.is_empty() || oid.last().is_some_and(|b| b & 0x80 != 0) {
        return None;
    }
    Some(
        arcs.iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join("."),
    )
}

fn short_name(oid: &str) -> Option<&'static str> {
    Some(match oid {
        "2.5.4.3" => "CN",
        "2.5.4.6" => "C",
        "2.5.4.7" => "L",
        "2.5.4.8" => "ST",
        "2.5.4.9" => "STREET",
        "2.5.4.10" => "O",
        "2.5.4.11" => "OU",
        "0.9.2342.19200300.100.1.25" => "DC",
        "0.9.2342.19200300.100.1.1" => "UID",
        "1.2.840.113549.1.9.1" => "emailAddress",
        _ => return None,
    })
}

/// A directory string's text: UTF8String, PrintableString, IA5String, TeletexString (read as
/// Latin-1) or BMPString (UTF-16BE).
fn string_value(tag: u8, value: &[u8]) -> Option<String> {
    match tag {
        0x0c | 0x13 | 0x16 => core::str::from_utf8(value).ok().map(str::to_owned),
        0x14 => Some(value.iter().map(|&b| char::from(b)).collect()),
        0x1e => {
            if !value.len().is_multiple_of(2) {
                return None;
            }
            let units = value
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]));
            char::decode_utf16(units)
                .collect::<Result<String, _>>()
                .ok()
        }
        _ => None,
    }
}

/// RFC 4514 §2.4 escaping.
fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let last = value.chars().count().saturating_sub(1);
    for (i, c) in value.chars().enumerate() {
        let special = matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';')
            || (i == 0 && matches!(c, '#' | ' '))
            || (i == last && c == ' ');
        if c == '\0' {
            out.push_str("\\00");
            continue;
        }
        if special {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn cert_with(dn: &[(rcgen::DnType, &str)]) -> Vec<u8> {
        let mut params = rcgen::CertificateParams::new(vec!["client".to_owned()]).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        for (t, v) in dn {
            params.distinguished_name.push(t.clone(), *v);
        }
        let key = rcgen::KeyPair::generate().unwrap();
        params.self_signed(&key).unwrap().der().to_vec()
    }

    #[test]
    fn subject_in_rfc4514_order() {
        let der = cert_with(&[
            (rcgen::DnType::CountryName, "ES"),
            (rcgen::DnType::OrganizationName, "ASPL, S.L."),
            (rcgen::DnType::CommonName, "client-1"),
        ]);
        assert_eq!(
            certificate_subject(&der).as_deref(),
            Some("CN=client-1,O=ASPL\\, S.L.,C=ES")
        );
    }

    #[test]
    fn unknown_attribute_is_hex() {
        let der = cert_with(&[(rcgen::DnType::CustomDnType(vec![1, 2, 3, 4]), "x")]);
        assert_eq!(
            certificate_subject(&der).as_deref(),
            Some("1.2.3.4=#0c0178")
        );
    }

    #[test]
    fn fingerprint_format() {
        let f = fingerprint_sha256(b"abc");
        assert_eq!(f.len(), 32 * 3 - 1);
        assert!(f.starts_with("BA:78:16:BF:"));
    }

    #[test]
    fn garbage_never_panics() {
        let der = cert_with(&[(rcgen::DnType::CommonName, "c")]);
        for cut in 0..der.len() {
            let _ = certificate_subject(&der[..cut]);
        }
        for i in 0..der.len() {
            let mut bad = der.clone();
            bad[i] ^= 0xff;
            let _ = certificate_subject(&bad);
        }
        assert_eq!(certificate_subject(&[]), None);
        assert_eq!(
            certificate_subject(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]),
            None
        );
    }
}
