//! QUIC links (quinn + rustls): the TLS identity *is* the node identity. Each end
//! presents its Ed25519 node key as an RFC 7250 raw public key and proves it in the
//! handshake; a dialler names the key it expects (from the peer's contact card) and the
//! handshake fails for any other, so a node that shows another node's card without its
//! key is refused. No certificate authority, no trust on first use. A listener accepts
//! any node and learns who it is from the key (unknown nodes get only public content and
//! relay traffic, by policy above this layer).

use std::sync::Arc;

use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms, verify_tls13_signature_with_raw_key};
use rustls::pki_types::{CertificateDer, PrivatePkcs8KeyDer, ServerName, SubjectPublicKeyInfoDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::sign::CertifiedKey;
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, SignatureScheme};

use crate::identity::{Identity, NodeId};
use crate::limits::BUNDLE_BYTES_MAX;
use crate::node::{ImportReport, Node};

/// ALPN protocol name of Caravan's QUIC exchange.
pub const ALPN: &[u8] = b"caravan/1";

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

/// Bundles fetched from the store at a time for sending...
pub const SEND_CHUNK_COUNT: usize = 64;

/// ...or fewer, so a fetch holds at most about this many bytes.
pub const SEND_CHUNK_BYTES: u64 = 8 << 20;

/// Bytes fetched but not yet written that a sender may hold: the next chunk is fetched
/// while one is written only within this (a bundle larger than it waits for the link).
pub const SEND_AHEAD_BYTES: u32 = 16 << 20;

/// A live link commits what it received every this many bundles...
pub const LINK_BATCH_COUNT: usize = 1024;

/// ...or this many bytes, whichever comes first.
pub const LINK_BATCH_BYTES: usize = 8 << 20;

/// Most digests in a summary (32 bytes each): bounds what a peer can make us hold.
pub const SUMMARY_DIGESTS_MAX: usize = 1 << 20;

/// Most endpoints a peer may say it receives for (its own and its communities').
pub const ENDPOINTS_MAX: usize = 4096;

/// Most bytes of the endpoint list.
pub const ENDPOINTS_BYTES_MAX: usize = 256 * 1024;

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
}

fn link_err(e: impl std::fmt::Display) -> QuicError {
    QuicError::Link(e.to_string())
}

async fn write_frame(send: &mut quinn::SendStream, bytes: &[u8]) -> Result<(), QuicError> {
    let len = u32::try_from(bytes.len()).map_err(link_err)?;
    send.write_all(&len.to_be_bytes()).await.map_err(link_err)?;
    send.write_all(bytes).await.map_err(link_err)
}

/// Reads one frame of at most `max` bytes; `None` at the end marker (a zero length).
async fn read_frame(recv: &mut quinn::RecvStream, max: usize) -> Result<Option<Vec<u8>>, QuicError> {
    let mut len = [0u8; 4];
    recv.read_exact(&mut len).await.map_err(link_err)?;
    let len = u32::from_be_bytes(len) as usize;
    if len == 0 {
        return Ok(None);
    }
    if len > max {
        return Err(QuicError::Link(format!("frame of {len} bytes, over the limit of {max}")));
    }
    let mut buf = vec![0u8; len];
    recv.read_exact(&mut buf).await.map_err(link_err)?;
    Ok(Some(buf))
}

/// Decodes a peer's summary frame: the digests it holds, 32 bytes each, at most
/// [`SUMMARY_DIGESTS_MAX`] of them (an empty frame is an empty summary).
pub fn parse_summary(frame: &[u8]) -> Result<std::collections::HashSet<[u8; 32]>, QuicError> {
    if frame.len() % 32 != 0 {
        return Err(QuicError::Link("summary is not a list of 32-byte digests".into()));
    }
    if frame.len() / 32 > SUMMARY_DIGESTS_MAX {
        return Err(QuicError::Link(format!("summary of more than {SUMMARY_DIGESTS_MAX} digests")));
    }
    Ok(frame.chunks_exact(32).filter_map(|c| <[u8; 32]>::try_from(c).ok()).collect())
}

/// Decodes a peer's endpoint list frame: UTF-8, one endpoint a line, empty lines
/// ignored, at most [`ENDPOINTS_MAX`] endpoints kept.
pub fn parse_endpoints(frame: &[u8]) -> Result<Vec<String>, QuicError> {
    Ok(std::str::from_utf8(frame)
        .map_err(|_| QuicError::Link("endpoint list is not UTF-8".into()))?
        .split('\n')
        .filter(|e| !e.is_empty())
        .take(ENDPOINTS_MAX)
        .map(str::to_string)
        .collect())
}

/// One exchange over an established connection, the same on both ends: each side sends
/// a summary (the digests it holds), then the bundles the other is entitled to
/// (`Target::Peer`) and does not hold, in priority order, then an end marker; each
/// imports what it received in one transaction. Custody answers travel as bundles in the
/// next exchange. (Resuming a dropped transfer, flow control across imports and
/// link-level acknowledgements are the daemon's, still to come.)
pub async fn exchange(node: &mut Node, conn: &quinn::Connection) -> Result<Exchange, QuicError> {
    exchange_with(node, conn, LINK_BATCH_COUNT, LINK_BATCH_BYTES).await
}

/// [`exchange`], committing received bundles every `batch_count` bundles or
/// `batch_bytes` bytes.
pub async fn exchange_with(
    node: &mut Node,
    conn: &quinn::Connection,
    batch_count: usize,
    batch_bytes_max: usize,
) -> Result<Exchange, QuicError> {
    let peer = peer_node(conn).ok_or(QuicError::Anonymous)?;
    let mut summary = Vec::new();
    for d in node.held_digests()?.into_iter().take(SUMMARY_DIGESTS_MAX) {
        summary.extend_from_slice(&d);
    }
    let endpoints = node.endpoints()?.into_iter().take(ENDPOINTS_MAX).collect::<Vec<_>>().join("\n");
    let mut send = conn.open_uni().await.map_err(link_err)?;
    write_frame(&mut send, &summary).await?;
    write_frame(&mut send, endpoints.as_bytes()).await?;
    let mut recv = conn.accept_uni().await.map_err(link_err)?;
    let theirs = read_frame(&mut recv, SUMMARY_DIGESTS_MAX * 32).await?.unwrap_or_default();
    let held = parse_summary(&theirs)?;
    let their_endpoints = read_frame(&mut recv, ENDPOINTS_BYTES_MAX).await?.unwrap_or_default();
    let their_endpoints = parse_endpoints(&their_endpoints)?;
    let plan = node.plan_link(peer, &their_endpoints, &held)?;
    let wanted: Vec<([u8; 32], u32)> = plan.outgoing.iter().map(|o| (o.digest, o.bytes)).collect();
    let mut out = Exchange { peer: Some(peer), skipped: plan.skipped, ..Exchange::default() };
    let (send, sent, received, got) = transfer(node, send, Ok(recv), &wanted, batch_count, batch_bytes_max).await?;
    out.sent = sent;
    out.received = received;
    // Second round, on fresh streams: the custody answers for what each side just
    // stored (and anything else now due), so custodians learn in this session.
    let mut known = held;
    known.extend(wanted.iter().map(|(d, _)| *d));
    known.extend(got);
    let plan = node.plan_link(peer, &their_endpoints, &known)?;
    let wanted: Vec<([u8; 32], u32)> = plan.outgoing.iter().map(|o| (o.digest, o.bytes)).collect();
    // (The peer sees a new stream only once data is on it: accept while sending.)
    let send2 = conn.open_uni().await.map_err(link_err)?;
    let (send2, sent, received, _) =
        transfer(node, send2, Err(conn.clone()), &wanted, batch_count, batch_bytes_max).await?;
    out.sent_second_round = sent;
    out.received.outcomes.extend(received.outcomes);
    out.received.unlocked += received.unlocked;
    let _ = send.stopped().await;
    let _ = send2.stopped().await;
    Ok(out)
}

/// Aborts a spawned task when dropped: a failed exchange stops its reader and writer
/// (a writer stopped this way never sends the end marker, so the peer sees a broken link,
/// not a finished one).
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Runs blocking store work (an import, a fetch) off the async worker where the runtime
/// allows it, so the reading and writing tasks keep the link busy meanwhile.
fn blocking<R>(f: impl FnOnce() -> R) -> R {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        _ => f(),
    }
}

/// A batch the reading task hands over: the whole bundles read, and whether the peer's
/// stream ended after them (`Ok(true)`), goes on (`Ok(false)`) or failed.
type ReadBatch = (Vec<Vec<u8>>, Result<bool, QuicError>);

/// Reads the peer's frames on their own task, in batches of `batch_count` bundles or
/// `batch_bytes` bytes. It reads the next batch while the previous one is imported, and
/// no further: at most two batches are in memory.
fn spawn_reader(
    recv: Result<quinn::RecvStream, quinn::Connection>,
    batch_count: usize,
    batch_bytes: usize,
) -> (tokio::sync::mpsc::Receiver<ReadBatch>, AbortOnDrop<()>) {
    let (tx, rx) = tokio::sync::mpsc::channel::<ReadBatch>(1);
    let task = tokio::spawn(async move {
        let mut recv = match recv {
            Ok(r) => r,
            Err(conn) => match conn.accept_uni().await {
                Ok(r) => r,
                Err(e) => {
                    let _ = tx.send((Vec::new(), Err(link_err(e)))).await;
                    return;
                }
            },
        };
        loop {
            let Ok(permit) = tx.reserve().await else { return };
            let (mut batch, mut bytes) = (Vec::new(), 0usize);
            let state = loop {
                match read_frame(&mut recv, BUNDLE_BYTES_MAX).await {
                    Ok(Some(b)) => {
                        bytes += b.len();
                        batch.push(b);
                        if batch.len() >= batch_count || bytes >= batch_bytes {
                            break Ok(false);
                        }
                    }
                    Ok(None) => break Ok(true),
                    Err(e) => break Err(e),
                }
            };
            let last = !matches!(state, Ok(false));
            permit.send((batch, state));
            if last {
                return;
            }
        }
    });
    (rx, AbortOnDrop(task))
}

/// A fetched chunk on its way to the writing task, holding its share of the read-ahead.
type Chunk = (Vec<([u8; 32], Vec<u8>)>, tokio::sync::OwnedSemaphorePermit);

/// The writing task: it returns the stream and how many bundles it wrote.
type Writer = AbortOnDrop<Result<(quinn::SendStream, usize), QuicError>>;

/// Writes the chunks it is given on its own task, then the end marker; returns the
/// stream and the number of bundles written. A chunk's read-ahead is released once it
/// is written.
fn spawn_writer(mut send: quinn::SendStream) -> (tokio::sync::mpsc::Sender<Chunk>, Writer) {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Chunk>(2);
    let task = tokio::spawn(async move {
        let mut sent = 0;
        while let Some((chunk, _read_ahead)) = rx.recv().await {
            for (d, b) in chunk {
                write_frame(&mut send, &b).await?;
                tracing::debug!("sent bundle {}", crate::store::hex(&d));
                sent += 1;
            }
        }
        write_frame(&mut send, &[]).await?;
        send.finish().map_err(link_err)?;
        Ok((send, sent))
    });
    (tx, AbortOnDrop(task))
}

/// Sends `wanted` (fetched from the store a chunk at a time) while receiving and
/// committing the peer's frames, until both ends have sent their end markers. Network
/// reads and writes run on their own tasks, so the link stays busy while the store works:
/// the next batch is read while one is imported, the next chunk fetched while one is
/// written. Returns the stream, what was sent, what importing did, and the digests received.
async fn transfer(
    node: &mut Node,
    send: quinn::SendStream,
    recv: Result<quinn::RecvStream, quinn::Connection>,
    wanted: &[([u8; 32], u32)],
    batch_count: usize,
    batch_bytes_max: usize,
) -> Result<(quinn::SendStream, usize, ImportReport, Vec<[u8; 32]>), QuicError> {
    // Fetching and importing share the node, never held across a network wait.
    let node = tokio::sync::Mutex::new(node);
    let (to_writer, writer) = spawn_writer(send);
    let (mut from_reader, _reader) = spawn_reader(recv, batch_count, batch_bytes_max);
    let sending = async {
        // Chunks of at most SEND_CHUNK_COUNT bundles and about SEND_CHUNK_BYTES.
        let mut chunks: Vec<Vec<[u8; 32]>> = vec![Vec::new()];
        let mut chunk_sizes = vec![0u64];
        for (d, size) in wanted {
            let (Some(c), Some(b)) = (chunks.last_mut(), chunk_sizes.last_mut()) else { break };
            if !c.is_empty() && (c.len() >= SEND_CHUNK_COUNT || *b + *size as u64 > SEND_CHUNK_BYTES) {
                chunks.push(vec![*d]);
                chunk_sizes.push(*size as u64);
            } else {
                c.push(*d);
                *b += *size as u64;
            }
        }
        let ahead = std::sync::Arc::new(tokio::sync::Semaphore::new(SEND_AHEAD_BYTES as usize));
        for (chunk, bytes) in chunks.iter().zip(chunk_sizes) {
            // Room first, then fetch: what waits to be written stays within SEND_AHEAD_BYTES.
            let want = u32::try_from(bytes).unwrap_or(u32::MAX).min(SEND_AHEAD_BYTES);
            let Ok(room) = ahead.clone().acquire_many_owned(want).await else { break };
            let guard = node.lock().await;
            let fetched = blocking(|| guard.bundles_bytes(chunk))?;
            drop(guard);
            let chunk = chunk.iter().copied().zip(fetched).filter_map(|(d, b)| b.map(|b| (d, b))).collect();
            if to_writer.send((chunk, room)).await.is_err() {
                break; // The writer failed: its error is reported below.
            }
        }
        drop(to_writer);
        Ok::<(), QuicError>(())
    };
    let receiving = async {
        let mut report = ImportReport::default();
        let mut digests = Vec::new();
        while let Some((batch, state)) = from_reader.recv().await {
            // Commit as we go: what is committed survives a dropped connection and is in
            // our next summary, so it is not sent again. When the link failed, the whole
            // bundles read before it are kept all the same.
            if !batch.is_empty() {
                let mut guard = node.lock().await;
                let r = blocking(|| guard.import_many(batch.iter().map(Vec::as_slice)))?;
                drop(guard);
                for b in &batch {
                    let d = crate::node::bundle_digest(b);
                    tracing::debug!("committed bundle {}", crate::store::hex(&d));
                    digests.push(d);
                }
                if state.is_err() {
                    tracing::info!("link failed: kept the {} bundles read before it", r.outcomes.len());
                }
                report.outcomes.extend(r.outcomes);
                report.unlocked += r.unlocked;
            }
            if state? {
                return Ok::<(ImportReport, Vec<[u8; 32]>), QuicError>((report, digests));
            }
        }
        Err(QuicError::Link("the reading task stopped".into()))
    };
    let (sending, received) = tokio::join!(sending, receiving);
    let (report, digests) = received?;
    sending?;
    let mut writer = writer;
    let (send, sent) = (&mut writer.0).await.map_err(link_err)??;
    Ok((send, sent, report, digests))
}

/// The SubjectPublicKeyInfo DER of an Ed25519 key: what this node presents.
pub fn spki_of(public: &[u8; 32]) -> Option<Vec<u8>> {
    use ed25519_dalek::pkcs8::EncodePublicKey;
    let key = ed25519_dalek::VerifyingKey::from_bytes(public).ok()?;
    key.to_public_key_der().ok().map(|d| d.as_bytes().to_vec())
}

/// The Ed25519 key in a presented raw public key; `None` unless it is exactly the
/// DER this code writes for an Ed25519 key (one spelling only).
pub fn key_of(spki: &[u8]) -> Option<[u8; 32]> {
    use ed25519_dalek::pkcs8::DecodePublicKey;
    let key = ed25519_dalek::VerifyingKey::from_public_key_der(spki).ok()?.to_bytes();
    (spki_of(&key)?.as_slice() == spki).then_some(key)
}

/// The node at the other end of an established connection.
pub fn peer_node(conn: &quinn::Connection) -> Option<NodeId> {
    let certs = conn.peer_identity()?.downcast::<Vec<CertificateDer<'static>>>().ok()?;
    key_of(certs.first()?.as_ref()).map(|k| NodeId::from_signing_public(&k))
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn certified_key(identity: &Identity) -> Result<Arc<CertifiedKey>, QuicError> {
    let spki = spki_of(&identity.signing_public()).ok_or_else(|| QuicError::Tls("node key".into()))?;
    let pkcs8 = identity.signing_pkcs8().ok_or_else(|| QuicError::Tls("node key encoding".into()))?;
    let signer = rustls::crypto::ring::sign::any_eddsa_type(&PrivatePkcs8KeyDer::from(pkcs8))
        .map_err(|e| QuicError::Tls(e.to_string()))?;
    Ok(Arc::new(CertifiedKey::new(vec![CertificateDer::from(spki)], signer)))
}

/// Checks a peer's raw public key: Ed25519, and the expected one if any.
#[derive(Debug)]
struct NodeKeyVerifier {
    expected: Option<[u8; 32]>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl NodeKeyVerifier {
    fn new(expected: Option<[u8; 32]>) -> Self {
        NodeKeyVerifier { expected, algorithms: provider().signature_verification_algorithms }
    }

    fn check(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
    ) -> Result<(), rustls::Error> {
        if !intermediates.is_empty() {
            return Err(rustls::Error::InvalidCertificate(CertificateError::BadEncoding));
        }
        let key =
            key_of(end_entity.as_ref()).ok_or(rustls::Error::InvalidCertificate(CertificateError::BadEncoding))?;
        match self.expected {
            Some(want) if want != key => Err(rustls::Error::InvalidCertificate(CertificateError::NotValidForName)),
            _ => Ok(()),
        }
    }

    fn verify13(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature_with_raw_key(
            message,
            &SubjectPublicKeyInfoDer::from(cert.as_ref()),
            dss,
            &self.algorithms,
        )
    }
}

impl ServerCertVerifier for NodeKeyVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.check(end_entity, intermediates).map(|_| ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Err(rustls::Error::PeerIncompatible(rustls::PeerIncompatible::Tls12NotOffered))
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.verify13(message, cert, dss)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        vec![SignatureScheme::ED25519]
    }
    fn requires_raw_public_keys(&self) -> bool {
        true
    }
}

impl ClientCertVerifier for NodeKeyVerifier {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }
    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        self.check(end_entity, intermediates).map(|_| ClientCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Err(rustls::Error::PeerIncompatible(rustls::PeerIncompatible::Tls12NotOffered))
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.verify13(message, cert, dss)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        vec![SignatureScheme::ED25519]
    }
    fn requires_raw_public_keys(&self) -> bool {
        true
    }
}

/// A listener's configuration: presents our key, requires the dialler's (any node).
pub fn server_config(identity: &Identity) -> Result<quinn::ServerConfig, QuicError> {
    let mut tls = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| QuicError::Tls(e.to_string()))?
        .with_client_cert_verifier(Arc::new(NodeKeyVerifier::new(None)))
        .with_cert_resolver(Arc::new(rustls::server::AlwaysResolvesServerRawPublicKeys::new(certified_key(identity)?)));
    tls.alpn_protocols = vec![ALPN.to_vec()];
    let quic = QuicServerConfig::try_from(tls).map_err(|e| QuicError::Tls(e.to_string()))?;
    Ok(quinn::ServerConfig::with_crypto(Arc::new(quic)))
}

/// A dialler's configuration: presents our key, and accepts only `expected` (the
/// Ed25519 key from the peer's contact card).
pub fn client_config(identity: &Identity, expected: &[u8; 32]) -> Result<quinn::ClientConfig, QuicError> {
    let mut tls = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| QuicError::Tls(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(NodeKeyVerifier::new(Some(*expected))))
        .with_client_cert_resolver(Arc::new(rustls::client::AlwaysResolvesClientRawPublicKeys::new(certified_key(
            identity,
        )?)));
    tls.alpn_protocols = vec![ALPN.to_vec()];
    let quic = QuicClientConfig::try_from(tls).map_err(|e| QuicError::Tls(e.to_string()))?;
    Ok(quinn::ClientConfig::new(Arc::new(quic)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_and_endpoint_frames() {
        let mut frame = vec![1u8; 32];
        frame.extend_from_slice(&[2u8; 32]);
        frame.extend_from_slice(&[1u8; 32]);
        let held = parse_summary(&frame).unwrap();
        assert_eq!(held.len(), 2);
        assert!(held.contains(&[1u8; 32]) && held.contains(&[2u8; 32]));
        assert!(parse_summary(&[]).unwrap().is_empty());
        assert!(parse_summary(&frame[..33]).is_err());

        assert_eq!(parse_endpoints(b"dtn://a/\n\ndtn://b/\n").unwrap(), ["dtn://a/", "dtn://b/"]);
        assert!(parse_endpoints(b"").unwrap().is_empty());
        assert!(parse_endpoints(b"dtn://a/\xff").is_err());
        let many = "e\n".repeat(ENDPOINTS_MAX + 10);
        assert_eq!(parse_endpoints(many.as_bytes()).unwrap().len(), ENDPOINTS_MAX);
    }

    #[test]
    fn raw_public_keys_have_one_spelling() {
        let id = Identity::generate();
        let spki = spki_of(&id.signing_public()).unwrap();
        assert_eq!(key_of(&spki), Some(id.signing_public()));
        let mut longer = spki.clone();
        longer.push(0);
        assert_eq!(key_of(&longer), None);
        assert_eq!(key_of(&spki[..spki.len() - 1]), None);
    }
}
