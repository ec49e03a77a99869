//! LAN sync parties: signed UDP multicast beacons (`spec/sync.md`, "LAN discovery").
//!
//! Every few seconds a daemon with `discovery = true` sends a beacon to a multicast group:
//! its contact card, its QUIC port and the time, signed by its node key. A daemon that
//! hears a valid beacon dials the sender at the packet's source address and the beacon's
//! port, expecting the card's key in the QUIC handshake; so a forged or replayed beacon
//! can at worst make it dial an address that then fails the handshake. Encoding and
//! checking are pure functions; the socket is at the bottom.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

use crate::crypto;
use crate::identity::{ContactCard, Identity};

pub use crate::limits::{
    BEACON_BYTES_MAX, BEACON_EVERY, BEACONS_PER_ADDRESS_PER_SEC, HEARD_TTL, STRANGER_BEACONS_PER_SEC,
    STRANGERS_HEARD_MAX,
};

/// The default beacon group and port (organisation-local multicast scope).
pub const GROUP_DEFAULT: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(239, 255, 67, 86), 4434);

/// Domain separation for beacon signatures.
pub const CONTEXT_BEACON: &str = "caravan 2026-11 lan beacon v1";

/// First bytes of every beacon.
pub const MAGIC: &[u8; 4] = b"CRVB";

/// Beacon format version.
pub const VERSION: u8 = 1;

/// Why a datagram is not a beacon we accept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BeaconError {
    /// Too short, too long, or not starting with the magic bytes.
    #[error("not a Caravan beacon")]
    Foreign,
    /// A version this code does not read.
    #[error("beacon version {0} is not supported")]
    Version(u8),
    /// The lengths inside do not add up.
    #[error("malformed beacon: {0}")]
    Malformed(&'static str),
    /// The card inside is bad.
    #[error("beacon card: {0}")]
    Card(String),
    /// The signature does not verify with the card's key.
    #[error("beacon signature does not verify")]
    Signature,
}

/// A beacon's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Beacon {
    /// Who sent it.
    pub card: ContactCard,
    /// Its QUIC port.
    pub port: u16,
    /// Its clock when it sent the beacon (ms since the epoch); later beacons from one node
    /// replace earlier ones, and older ones are ignored.
    pub sent_ms: u64,
}

/// Encodes and signs a beacon:
/// `"CRVB" | version(1) | port(u16 BE) | sent_ms(u64 BE) | card_len(u16 BE) | card | sig(64)`,
/// where `sig` is Ed25519 by the card's key over everything before it under
/// [`CONTEXT_BEACON`].
pub fn seal(identity: &Identity, card: &ContactCard, port: u16, sent_ms: u64) -> Vec<u8> {
    let card = card.to_bytes();
    let mut out = Vec::with_capacity(4 + 1 + 2 + 8 + 2 + card.len() + 64);
    out.extend_from_slice(MAGIC);
    out.push(VERSION);
    out.extend_from_slice(&port.to_be_bytes());
    out.extend_from_slice(&sent_ms.to_be_bytes());
    out.extend_from_slice(&(card.len() as u16).to_be_bytes());
    out.extend_from_slice(&card);
    let sig = identity.sign(CONTEXT_BEACON, &[&out]);
    out.extend_from_slice(&sig);
    out
}

/// Checks and decodes a beacon.
pub fn open(bytes: &[u8]) -> Result<Beacon, BeaconError> {
    if bytes.len() > BEACON_BYTES_MAX || bytes.len() < 17 + 64 || &bytes[..4] != MAGIC {
        return Err(BeaconError::Foreign);
    }
    if bytes[4] != VERSION {
        return Err(BeaconError::Version(bytes[4]));
    }
    let port = u16::from_be_bytes([bytes[5], bytes[6]]);
    let mut t = [0u8; 8];
    t.copy_from_slice(&bytes[7..15]);
    let sent_ms = u64::from_be_bytes(t);
    let card_len = u16::from_be_bytes([bytes[15], bytes[16]]) as usize;
    if bytes.len() != 17 + card_len + 64 {
        return Err(BeaconError::Malformed("length does not match its card"));
    }
    let (signed, sig) = bytes.split_at(17 + card_len);
    let card = ContactCard::from_bytes(&signed[17..]).map_err(|e| BeaconError::Card(e.to_string()))?;
    let mut signature = [0u8; 64];
    signature.copy_from_slice(sig);
    crypto::verify(&card.signing_public, CONTEXT_BEACON, &[signed], &signature).map_err(|_| BeaconError::Signature)?;
    if port == 0 {
        return Err(BeaconError::Malformed("port 0"));
    }
    Ok(Beacon { card, port, sent_ms })
}

/// The node a datagram claims to come from, read without checking anything: only to
/// decide how much checking it gets (beacons from nodes we know are not held back by
/// the budget for strangers). `None` if it does not even look like a beacon.
pub fn claimed_node(bytes: &[u8]) -> Option<crate::identity::NodeId> {
    if bytes.len() > BEACON_BYTES_MAX || bytes.get(..4)? != MAGIC {
        return None;
    }
    let name_len = *bytes.get(17 + 1)? as usize;
    let key: [u8; 32] = bytes.get(17 + 2 + name_len..17 + 2 + name_len + 32)?.try_into().ok()?;
    Some(crate::identity::NodeId::from_signing_public(&key))
}

/// A token bucket: `rate` per second, at most `burst` at once.
#[derive(Debug, Clone, Copy)]
pub struct Bucket {
    tokens: f64,
    at: std::time::Instant,
}

impl Bucket {
    /// A full bucket.
    pub fn new(burst: f64) -> Self {
        Bucket { tokens: burst, at: std::time::Instant::now() }
    }

    /// Takes one token if there is one.
    pub fn take(&mut self, rate: f64, burst: f64) -> bool {
        let now = std::time::Instant::now();
        self.tokens = (self.tokens + now.duration_since(self.at).as_secs_f64() * rate).min(burst);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Where to dial the sender of `beacon` heard from `from`.
pub fn address_of(beacon: &Beacon, from: SocketAddr) -> SocketAddr {
    SocketAddr::new(from.ip(), beacon.port)
}

/// A socket that sends to and hears `group`: address and port reusable (several daemons
/// on one machine), multicast loop on (they hear each other), TTL 1 (the local network
/// only). With `interface` set, beacons leave through that local address.
pub fn socket(group: SocketAddrV4, interface: Option<Ipv4Addr>) -> std::io::Result<tokio::net::UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    s.set_reuse_address(true)?;
    #[cfg(unix)]
    s.set_reuse_port(true)?;
    s.bind(&SocketAddr::from((Ipv4Addr::UNSPECIFIED, group.port())).into())?;
    let local = interface.unwrap_or(Ipv4Addr::UNSPECIFIED);
    s.join_multicast_v4(group.ip(), &local)?;
    if let Some(i) = interface {
        s.set_multicast_if_v4(&i)?;
    }
    s.set_multicast_loop_v4(true)?;
    s.set_multicast_ttl_v4(1)?;
    s.set_nonblocking(true)?;
    tokio::net::UdpSocket::from_std(s.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_beacon_round_trips_and_any_damage_is_refused() {
        let id = Identity::generate();
        let card = id.card("Laptop 3");
        let b = seal(&id, &card, 4433, 1_700_000_000_000);
        let back = open(&b).unwrap();
        assert_eq!(back, Beacon { card: card.clone(), port: 4433, sent_ms: 1_700_000_000_000 });
        for i in 0..b.len() {
            let mut d = b.clone();
            d[i] ^= 0x40;
            assert!(open(&d).is_err(), "byte {i} flipped was accepted");
        }
        assert_eq!(open(&b[..b.len() - 1]), Err(BeaconError::Malformed("length does not match its card")));
        assert_eq!(open(b"hello"), Err(BeaconError::Foreign));
        // Another node's card with our signature: refused.
        let other = Identity::generate();
        let forged = seal(&other, &card, 4433, 1);
        assert_eq!(open(&forged), Err(BeaconError::Signature));
        assert_eq!(address_of(&back, "10.0.0.7:4434".parse().unwrap()), "10.0.0.7:4433".parse().unwrap());
        // The claimed sender is read without checks, and only from something beacon-shaped.
        assert_eq!(claimed_node(&b), Some(id.node_id()));
        assert_eq!(claimed_node(&forged), Some(id.node_id()));
        assert_eq!(claimed_node(b"hello"), None);
        assert_eq!(claimed_node(&b[..20]), None);
    }

    #[test]
    fn a_bucket_lets_a_burst_through_then_only_its_rate() {
        let mut b = Bucket::new(3.0);
        let passed = (0..100).filter(|_| b.take(1.0, 3.0)).count();
        assert_eq!(passed, 3, "a burst of 100 let {passed} through");
        std::thread::sleep(std::time::Duration::from_millis(1100));
        assert!(b.take(1.0, 3.0), "a token comes back after a second");
    }
}
