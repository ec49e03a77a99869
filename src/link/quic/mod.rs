//! QUIC links (quinn + rustls): the TLS identity *is* the node identity. Each end
//! presents its Ed25519 node key as an RFC 7250 raw public key and proves it in the
//! handshake; a dialler names the key it expects (from the peer's contact card) and the
//! handshake fails for any other, so a node that shows another node's card without its
//! key is refused. No certificate authority, no trust on first use. A listener accepts
//! any node and learns who it is from the key (unknown nodes get only public content and
//! relay traffic, by policy above this layer).

use crate::identity::NodeId;
use crate::link::LinkNode;
use crate::report::ImportReport;

mod frames;
mod tls;
mod transfer;

pub use frames::*;
pub use tls::*;
use transfer::{blocking, transfer};

pub use crate::limits::{
    ENDPOINTS_BYTES_MAX, ENDPOINTS_MAX, LINK_BATCH_BYTES, LINK_BATCH_COUNT, SEND_AHEAD_BYTES, SEND_CHUNK_BYTES,
    SEND_CHUNK_COUNT, SUMMARY_DIGESTS_MAX,
};

/// ALPN protocol name of Caravan's QUIC exchange.
pub const ALPN: &[u8] = b"caravan/2";

/// Why a QUIC link could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QuicError {
    /// The TLS configuration could not be built.
    #[error("TLS setup: {0}")]
    Tls(String),
    /// The connection failed or the peer broke the exchange protocol.
    #[error("link: {0}")]
    Link(String),
    /// The peer did not prove a node key.
    #[error("the peer did not prove a node key")]
    Anonymous,
    /// Local storage failed.
    #[error(transparent)]
    Node(#[from] crate::Error),
}

/// What one exchange over a connection did.
#[derive(Debug, Default)]
pub struct Exchange {
    /// The node at the other end.
    pub peer: Option<NodeId>,
    /// Bundles we sent in the first round (what the peer lacked).
    pub sent: usize,
    /// Bundles we sent in the second round: custody answers for what we received, and
    /// anything else that became due during the session.
    pub sent_second_round: usize,
    /// Bundles the peer was entitled to and already held (by its summary): not sent.
    pub skipped: usize,
    /// What importing the peer's bundles did.
    pub received: ImportReport,
    /// Bundles handed over with carrier copies that the peer took.
    pub copies_handed: usize,
    /// Bundles handed over with carrier copies that the peer did not take (no room):
    /// their copies were not spent.
    pub refused_copies: usize,
}

/// How much a peer is trusted with, and how often received bundles are committed.
#[derive(Debug, Clone, Copy)]
pub struct LinkOptions {
    /// The operator configured this peer to relay through (`[[peer]]` in `config.toml`):
    /// it learns every endpoint this node receives for and carries its custody signals.
    /// Any other node learns only what concerns it ([`Node::summary_for`]).
    pub relay: bool,
    /// Commit received bundles every this many bundles...
    pub batch_count: usize,
    /// ...or this many bytes.
    pub batch_bytes: usize,
}

impl Default for LinkOptions {
    fn default() -> Self {
        LinkOptions { relay: false, batch_count: LINK_BATCH_COUNT, batch_bytes: LINK_BATCH_BYTES }
    }
}

/// One exchange over an established connection, the same on both ends: each side sends
/// a summary (the digests it holds and the endpoints it receives for, as far as the peer
/// may know them), then the bundles the other is entitled to (`Target::Peer`) and does
/// not hold, plus relay traffic, in priority order, then an end marker; each imports
/// what it received, committed as it goes; a second round carries the custody answers.
pub async fn exchange(node: &mut (impl LinkNode + Send), conn: &quinn::Connection) -> Result<Exchange, QuicError> {
    exchange_shared(&tokio::sync::Mutex::new(node), conn, LinkOptions::default()).await
}

/// [`exchange`], committing received bundles every `batch_count` bundles or
/// `batch_bytes` bytes.
pub async fn exchange_with(
    node: &mut (impl LinkNode + Send),
    conn: &quinn::Connection,
    batch_count: usize,
    batch_bytes_max: usize,
) -> Result<Exchange, QuicError> {
    let options = LinkOptions { batch_count, batch_bytes: batch_bytes_max, ..LinkOptions::default() };
    exchange_shared(&tokio::sync::Mutex::new(node), conn, options).await
}

/// [`exchange`] with a node shared by several exchanges at once (a daemon's): the node is
/// locked only for store work (a summary, a plan, a fetch, an import), never while
/// waiting for the network, so a slow or silent peer keeps no other out.
pub async fn exchange_shared<N: LinkNode + Send>(
    node: &tokio::sync::Mutex<N>,
    conn: &quinn::Connection,
    options: LinkOptions,
) -> Result<Exchange, QuicError> {
    let peer = peer_node(conn).ok_or(QuicError::Anonymous)?;
    let ours = {
        let mut guard = node.lock().await;
        blocking(|| guard.summary_for(peer, options.relay))?
    };
    let summary = encode_summary(&ours.digests);
    let endpoints = encode_endpoints(&ours.endpoints);
    let mut send = conn.open_uni().await.map_err(link_err)?;
    // Written while the peer's are read: a summary can be larger than the stream's
    // flow-control window, and both ends send theirs first.
    let writing = async {
        write_frame(&mut send, &summary).await?;
        write_frame(&mut send, &endpoints).await
    };
    let reading = async {
        let mut recv = conn.accept_uni().await.map_err(link_err)?;
        let theirs = read_frame(&mut recv, SUMMARY_DIGESTS_MAX * 32).await?.unwrap_or_default();
        let held = parse_summary(&theirs)?;
        let their_endpoints = read_frame(&mut recv, ENDPOINTS_BYTES_MAX).await?.unwrap_or_default();
        Ok::<_, QuicError>((recv, held, parse_endpoints(&their_endpoints)?))
    };
    let (written, read) = tokio::join!(writing, reading);
    written?;
    let (mut recv, held, their_endpoints) = read?;
    let plan = {
        let mut guard = node.lock().await;
        blocking(|| guard.plan_link(peer, &their_endpoints, &held, options.relay))?
    };
    let wanted: Vec<([u8; 32], u32)> = plan.outgoing.iter().map(|o| (o.digest, o.bytes)).collect();
    // The carrier copies that go with what we send, and those the peer gives us.
    let handed = plan.handover();
    let handover = encode_handover(&handed);
    let (written, read) = tokio::join!(write_frame(&mut send, &handover), async {
        parse_handover(&read_frame(&mut recv, HANDOVER_FRAME_MAX).await?.unwrap_or_default())
    });
    written?;
    let given = read?;
    let mut out = Exchange { peer: Some(peer), skipped: plan.skipped, ..Exchange::default() };
    let (send, sent, received, got) = transfer(node, send, Ok(recv), &wanted, options).await?;
    out.sent = sent;
    out.received = received;
    // Second round, on fresh streams: first what each side now holds of what the other
    // handed over with copies (the copies are spent by it), then the custody answers for
    // what each side just stored (and anything else now due), so custodians learn in
    // this session. No carrier copies go in this round.
    let receipt = {
        let mut guard = node.lock().await;
        blocking(|| guard.take_handover(&given))?
    };
    let mut send2 = conn.open_uni().await.map_err(link_err)?;
    let receipt = encode_receipt(&receipt);
    let (written, read) = tokio::join!(write_frame(&mut send2, &receipt), async {
        let mut recv2 = conn.accept_uni().await.map_err(link_err)?;
        let frame = read_frame(&mut recv2, RECEIPT_FRAME_MAX).await?.unwrap_or_default();
        Ok::<_, QuicError>((recv2, parse_receipt(&frame)?))
    });
    written?;
    let (recv2, their_receipt) = read?;
    let mut known = held;
    known.extend(wanted.iter().map(|(d, _)| *d));
    known.extend(got);
    let plan = {
        let mut guard = node.lock().await;
        blocking(|| {
            let n = &mut *guard;
            out.refused_copies = n.handed_over(&handed, &their_receipt)?;
            n.plan_link_with(peer, &their_endpoints, &known, options.relay, false)
        })?
    };
    out.copies_handed = handed.len() - out.refused_copies;
    let wanted: Vec<([u8; 32], u32)> = plan.outgoing.iter().map(|o| (o.digest, o.bytes)).collect();
    let (send2, sent, received, _) = transfer(node, send2, Ok(recv2), &wanted, options).await?;
    out.sent_second_round = sent;
    out.received.outcomes.extend(received.outcomes);
    out.received.unlocked += received.unlocked;
    let _ = send.stopped().await;
    let _ = send2.stopped().await;
    Ok(out)
}
