//! Every bound Caravan enforces, in one place, each with its reason.
//!
//! Names carry their unit last. Decoders check these before allocating, so a crafted
//! bundle cannot exhaust memory; the stores check them before accepting data.

/// Largest whole bundle we parse. Bundles carry change batches of one document; a
/// batch larger than this is split by the sender. Bounds memory per import.
pub const BUNDLE_BYTES_MAX: usize = 64 * 1024 * 1024 + 64 * 1024;

/// Largest payload envelope (CBOR) we decode. Same reason as `BUNDLE_BYTES_MAX`.
pub const ENVELOPE_BYTES_MAX: usize = 64 * 1024 * 1024 + 32 * 1024;

/// Largest encoded header inside an envelope: ids, epoch and heads only.
pub const HEADER_BYTES_MAX: usize = 32 * 1024;

/// Most heads a sender may announce for one document. Real documents have a handful of
/// concurrent heads; a few hundred is generous and bounds the work of the sync planner.
pub const HEADS_COUNT_MAX: usize = 256;

/// Most Automerge changes in one batch. Each costs about 20 us to decode and apply even
/// when tiny, so 40,000 is under a second; senders put at most half as many in a batch.
pub const BATCH_CHANGES_MAX: usize = 40_000;

/// Largest Automerge `bundle()` encoding we decode (after inflating); larger batches
/// travel as raw changes. Bounds the decompression an authorised but hostile member
/// can cause inside Automerge.
pub const AUTOMERGE_BUNDLE_BYTES_MAX: usize = 1024 * 1024;

/// Largest decompressed change batch in bytes.
pub const BATCH_BYTES_MAX: usize = 64 * 1024 * 1024;

/// Longest membership certificate chain (root owner, then delegated owners).
pub const CERT_CHAIN_LEN_MAX: usize = 4;

/// Longest display name or community name, in bytes.
pub const NAME_BYTES_MAX: usize = 128;

/// Longest document id string: `c/<26 chars>/<part>` or `p/<32 chars>/<audience>`.
pub const DOC_ID_BYTES_MAX: usize = 96;

/// Default bundle lifetime: thirty days, long enough for a stick to travel a region.
pub const BUNDLE_LIFETIME_DEFAULT_SECS: u64 = 30 * 24 * 3600;

/// Bundles created this far in the future (clock skew) are still accepted.
pub const CLOCK_SKEW_MAX_SECS: u64 = 24 * 3600;

/// How many remembered heads we keep per (peer, document). Excess heads are dropped
/// oldest first; forgetting only makes us send more, never less.
pub const PEER_HEADS_COUNT_MAX: usize = 64;

/// Incremental document chunks kept before the store compacts to one saved document.
pub const DOC_CHUNKS_COUNT_MAX: u64 = 64;

/// Bundles verified in parallel per chunk of `import_many`, bounding memory held by
/// decrypted batches not yet merged.
pub const IMPORT_CHUNK_COUNT_MAX: usize = 4096;

/// Largest custody-signal administrative record we decode. A signal answers for ranges of
/// one sender's bundles; 64 KiB holds thousands of ranges.
pub const SIGNAL_BYTES_MAX: usize = 64 * 1024;

/// Most entries (disposition, source) in one custody signal.
pub const SIGNAL_ENTRIES_MAX: usize = 1024;

/// Most sequence-number ranges in one custody signal, all entries together.
pub const SIGNAL_RANGES_MAX: usize = 4096;

/// Most bundles remembered as refused for a permanent reason (by digest, until they
/// expire): a stick that offers a refused bundle again costs one lookup, not a decode.
/// The oldest entries go first; forgetting one only costs that decode again.
pub const REFUSED_COUNT_MAX: usize = 65_536;

/// Default cap on the lifetime of a bundle this node takes in: a relay keeps nothing for
/// longer than this whatever the primary block (which any carrier can rewrite) says.
/// Our own bundles live 30 days and are renewed while undelivered.
pub const LIFETIME_CAP_DEFAULT_SECS: u64 = 60 * 24 * 3600;

/// Most invitations waiting for consent; the oldest go first. Each is small, but anyone
/// can send one.
pub const INVITES_PENDING_MAX: usize = 64;

/// Most peers remembered as "last seen" (for `caravan status`); anyone can connect, so
/// the oldest are forgotten.
pub const SEEN_PEERS_MAX: usize = 256;

/// Most authors whose delivered ranges a carrier remembers (so it does not carry their
/// delivered bundles again); anyone can sign notices for bundles of its own.
pub const DELIVERED_SOURCES_MAX: usize = 4096;
/// Largest stick marker (`caravan/CARAVAN.TXT`) we read; only its first line counts. A
/// marker that is a huge file (or a link to a device) costs at most this much.
pub const STICK_MARKER_BYTES_MAX: usize = 4096;

/// Directory entries of a stick's `caravan/` folder looked at per listing. A FAT directory
/// holds at most 65,536 entries (and Caravan writes two per segment), so a real stick
/// never comes near; a hostile one costs bounded time and memory. Entries past the cap
/// are not looked at, and the sync says so.
pub const STICK_DIR_ENTRIES_MAX: usize = 65_536;

/// Most records in one stick segment, and so most counting entries in its index. Writers
/// start a new segment at this count (or at `SEGMENT_BYTES_MAX`, 1 GiB: about 1 KiB per
/// record on average); readers stop counting there. Bounds the work of one index however
/// large its file claims to be.
pub const STICK_SEGMENT_RECORDS_MAX: u64 = 1 << 20;

/// Index bytes read from a stick at a time (1,024 entries of 56 bytes): an index is
/// streamed, never read whole, so a sparse or endless index costs this much memory.
pub const STICK_INDEX_READ_BYTES: usize = 56 * 1024;

/// Skipped stick entries named one by one in a sync's report; past this many, one last
/// line says more were skipped. Bounds the report of a stick full of hostile entries.
pub const STICK_SKIPPED_LINES_MAX: usize = 256;

/// Segment numbers tried when creating a new segment whose name is taken (planted files
/// named like ours): each taken name moves to the next number.
pub const STICK_CREATE_TRIES_MAX: u32 = 64;
/// Most ops in one Automerge change, checked by [`crate::change_scan`] before Automerge
/// sees the bytes. Automerge decodes and applies a change op by op, and a run-length
/// encoded column declares any number of ops in a few bytes: a 143-byte change can
/// delete 5 M characters (1.2 s to decode, 49 s and 2 GB to apply). Measured (Automerge
/// 0.12, release, `Change::from_bytes` then `apply_changes`, CPU time on the 2-core
/// development machine under load): deleting text 7.7-9.9 us per op, inserting text
/// 4.3-5.2 us, map puts 3.1 us, about 0.5 KB of peak memory per op. A change cannot be
/// split across batches, so it gets the batch's cap: at most about a second of CPU.
/// Authors must commit larger edits as several changes, or every peer refuses them.
pub const CHANGE_OPS_MAX: u64 = BATCH_OPS_MAX;

/// Most ops in one batch, all its changes together (raw changes, or the op rows of one
/// Automerge bundle). With the measurements above, 100,000 deletes took 0.8-1.0 s of CPU
/// and +50 MB of memory to decode and apply, 100,000 inserts 0.45 s: one bundle costs its
/// receiver about a second at most. Senders split larger batches.
pub const BATCH_OPS_MAX: u64 = 100_000;

/// Raw change bytes a sender puts in one batch at most (a batch is split past it): well
/// under the bundle cap, so that a batch of large changes never needs a bundle too big
/// to carry.
pub const BATCH_SPLIT_BYTES: usize = 16 * 1024 * 1024;

/// Most carrier copies a node takes with a bundle it carries for others. The count comes
/// from the peer that handed the bundle over (unsigned, so capped): a custodian starts
/// with 8 and hands on at most half, so no honest hand-over is larger.
pub const CARRIER_COPIES_MAX: u32 = 8;

/// Most entries in a live link's hand-over frame (digest and copies, 36 bytes each):
/// carrier copies offered in one round. More carried bundles go without copies this
/// time (they are handed over at a later contact).
pub const HANDOVER_ENTRIES_MAX: usize = 16_384;
