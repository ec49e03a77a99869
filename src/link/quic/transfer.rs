//! Moving bundles over one stream each way: fetching and writing on one side, reading
//! and importing on the other, each on its own task so the link stays busy while the
//! store works.

use super::frames::{link_err, read_frame, write_frame};
use super::{LinkOptions, QuicError, SEND_AHEAD_BYTES, SEND_CHUNK_BYTES, SEND_CHUNK_COUNT};
use crate::limits::BUNDLE_BYTES_MAX;
use crate::link::LinkNode;
use crate::report::ImportReport;

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
pub(super) fn blocking<R>(f: impl FnOnce() -> R) -> R {
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
pub(super) async fn transfer<N: LinkNode + Send>(
    node: &tokio::sync::Mutex<N>,
    send: quinn::SendStream,
    recv: Result<quinn::RecvStream, quinn::Connection>,
    wanted: &[([u8; 32], u32)],
    options: LinkOptions,
) -> Result<(quinn::SendStream, usize, ImportReport, Vec<[u8; 32]>), QuicError> {
    // Fetching and importing share the node, never held across a network wait.
    let (to_writer, writer) = spawn_writer(send);
    let (mut from_reader, _reader) = spawn_reader(recv, options.batch_count, options.batch_bytes);
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
                let r = blocking(|| guard.import_bundles(&batch.iter().map(Vec::as_slice).collect::<Vec<_>>()))?;
                drop(guard);
                for b in &batch {
                    let d = crate::bundle::bundle_digest(b);
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
