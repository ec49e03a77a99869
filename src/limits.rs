//! Every bound Caravan enforces, in one place, each with its reason.
//!
//! Names carry their unit last. Decoders check these before allocating, so a crafted
//! bundle cannot exhaust memory; the stores check them before accepting data.
//! The rest are the budgets, rates and deadlines that keep a node's memory, disk and
//! time bounded whatever its peers do, and the defaults that set them.

use std::time::Duration;

// --- Bundles and what decoders accept ---

/// Largest whole bundle we parse. Bundles carry change batches of one document; a
/// batch larger than this is split by the sender. Bounds memory per import.
pub const BUNDLE_BYTES_MAX: usize = 64 * 1024 * 1024 + 64 * 1024;

/// Most release secrets in one release list (`spec/custody.md`): 32 KiB of secrets.
pub const RELEASES_MAX: usize = 1024;

/// Largest bundle a carrier floods to every peer when it cannot open it (the cloaks of
/// up to 1 KiB, and their primary block): answers, release lists, grants, announcements.
pub const FLOOD_BYTES_MAX: usize = 1024 + 128;

/// Most communities a node reads the friends-of-members feed of as a member's friend.
pub const FOM_FOLLOWED_MAX: usize = 64;

/// Largest cloak (a bundle's outer payload, `spec/bundle.md`): the largest padding bucket.
pub const CLOAK_PAYLOAD_MAX: usize = 64 * 1024 * 1024;

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

// --- Changes and batches ---

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

/// Most operations a local edit puts in one change: half of [`CHANGE_OPS_MAX`], well under
/// what others accept, so every peer takes our changes.
pub const OPS_PER_CHANGE: usize = (CHANGE_OPS_MAX / 2) as usize;

// --- Node and store ---

/// How many remembered heads we keep per (peer, document). Excess heads are dropped
/// oldest first; forgetting only makes us send more, never less.
pub const PEER_HEADS_COUNT_MAX: usize = 64;

/// Incremental document chunks kept before the store compacts to one saved document.
pub const DOC_CHUNKS_COUNT_MAX: u64 = 64;

/// Bundles verified in parallel per chunk of `import_many`, bounding memory held by
/// decrypted batches not yet merged.
pub const IMPORT_CHUNK_COUNT_MAX: usize = 4096;

/// redb's page cache per store (read cache and the open transaction's dirty pages).
/// At 16 MiB, exporting 10,000 small bundles to a stick ran about a third slower.
pub const CACHE_BYTES: usize = 32 << 20;

/// The daemon's page cache: it runs for weeks and moves bundles of many MiB, so it keeps
/// its resident size down rather than its reads fast.
pub const DAEMON_CACHE_BYTES: usize = 16 << 20;

// --- Custody, and what a node keeps for others ---

/// Largest custody-signal administrative record we decode. A signal answers for ranges of
/// one sender's bundles; 64 KiB holds thousands of ranges.
pub const SIGNAL_BYTES_MAX: usize = 64 * 1024;

/// Most entries (disposition, source) in one custody signal.
pub const SIGNAL_ENTRIES_MAX: usize = 1024;

/// Most sequence-number ranges in one custody signal, all entries together.
pub const SIGNAL_RANGES_MAX: usize = 4096;

/// How long a custodian waits for releases before spraying new carrier copies: long
/// enough not to flood carriers, short enough that a lost stick or a full relay does not
/// strand a bundle.
pub const REOFFER_AFTER_MS: u64 = 7 * 24 * 3600 * 1000;

/// A bundle still in custody is renewed (the same signed payload in a new primary block)
/// this long before it expires, so a destination that has not had it yet still can.
pub const RENEW_BEFORE_MS: u64 = 3 * 24 * 3600 * 1000;

/// Refusals remembered per custody record, for status reports: the newest are kept, so
/// destinations that refuse again and again cannot grow a record.
pub const REFUSALS_KEPT: usize = 8;

/// Most bundles remembered as refused for a permanent reason (by digest, until they
/// expire): a stick that offers a refused bundle again costs one lookup, not a decode.
/// The oldest entries go first; forgetting one only costs that decode again.
pub const REFUSED_COUNT_MAX: usize = 65_536;

/// Default cap on the lifetime of a bundle this node takes in: a relay keeps nothing for
/// longer than this whatever the primary block (which any carrier can rewrite) says.
/// Our own bundles live 30 days and are renewed while undelivered.
pub const LIFETIME_CAP_DEFAULT_SECS: u64 = 60 * 24 * 3600;

/// Default relay quota: 1 GiB of disk for everything a node keeps for others (its own and
/// its communities' data never count), so carrying for strangers has a fixed cost.
pub const QUOTA_DEFAULT_BYTES: u64 = 1 << 30;

/// Most invitations waiting for consent; the oldest go first. Each is small, but anyone
/// can send one.
pub const INVITES_PENDING_MAX: usize = 64;

/// Most peers remembered as "last seen" (for `caravan status`); anyone can connect, so
/// the oldest are forgotten.
pub const SEEN_PEERS_MAX: usize = 256;

/// Most authors whose delivered ranges a carrier remembers (so it does not carry their
/// delivered bundles again); anyone can sign notices for bundles of its own.
pub const DELIVERED_SOURCES_MAX: usize = 4096;

// --- Routing ---

/// Most carrier copies a node takes with a bundle it carries for others. The count comes
/// from the peer that handed the bundle over (unsigned, so capped): a custodian starts
/// with 8 and hands on at most half, so no honest hand-over is larger.
pub const CARRIER_COPIES_MAX: u32 = 8;

/// Bundles at least this large go last whatever they carry, so a large file does not hold
/// up small changes on a short contact.
pub const LARGE_BYTES: u64 = 256 * 1024;

// --- Live links (QUIC) ---

/// Most entries in a live link's hand-over frame (digest and copies, 36 bytes each):
/// carrier copies offered in one round. More carried bundles go without copies this
/// time (they are handed over at a later contact).
pub const HANDOVER_ENTRIES_MAX: usize = 16_384;

/// Largest hand-over frame we read: the version byte and [`HANDOVER_ENTRIES_MAX`] entries
/// (digest 32 bytes, copies 4).
pub const HANDOVER_FRAME_MAX: usize = 1 + HANDOVER_ENTRIES_MAX * 36;

/// Largest receipt frame we read: the version byte and [`HANDOVER_ENTRIES_MAX`] digests.
pub const RECEIPT_FRAME_MAX: usize = 1 + HANDOVER_ENTRIES_MAX * 32;

/// Bundles fetched from the store at a time for sending...
pub const SEND_CHUNK_COUNT: usize = 64;

/// ...or fewer, so a fetch holds at most about this many bytes.
pub const SEND_CHUNK_BYTES: u64 = 8 << 20;

/// Bytes fetched but not yet written that a sender may hold: the next chunk is fetched
/// while one is written only within this (a bundle larger than it waits for the link).
pub const SEND_AHEAD_BYTES: u32 = 16 << 20;

/// A live link commits what it received every this many bundles...
pub const LINK_BATCH_COUNT: usize = 1024;

/// ...or this many bytes, whichever comes first: bounds what waits in memory uncommitted.
pub const LINK_BATCH_BYTES: usize = 8 << 20;

/// Most digests in a summary (32 bytes each): bounds what a peer can make us hold.
pub const SUMMARY_DIGESTS_MAX: usize = 1 << 20;

/// Most endpoints a peer may say it receives for (its own and its communities'): bounds
/// what a peer can make us hold and match against.
pub const ENDPOINTS_MAX: usize = 4096;

/// Most bytes of a peer's endpoint list, whatever its count: same reason.
pub const ENDPOINTS_BYTES_MAX: usize = 256 * 1024;

/// A connection silent for this long is closed (the handshake included): a peer that
/// stops answering holds nothing open. (No keep-alives: a probe restarts the timer, and a
/// cut link would then be noticed later.)
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

// --- LAN discovery ---

/// Beacons larger than this are not ours (a card is at most ~400 bytes): bounds what one
/// datagram costs to look at.
pub const BEACON_BYTES_MAX: usize = 1024;

/// How often a daemon sends its beacon: nodes on one LAN find each other within seconds,
/// for one small datagram each time.
pub const BEACON_EVERY: Duration = Duration::from_secs(2);

/// A peer not heard for this long (many missed beacons) is forgotten, so a node that left
/// is not dialled for ever.
pub const HEARD_TTL: Duration = Duration::from_secs(30);

/// Beacons checked per second from any one address (each costs two signature checks).
pub const BEACONS_PER_ADDRESS_PER_SEC: f64 = 2.0;

/// Beacons from nodes we do not know checked per second, all addresses together.
pub const STRANGER_BEACONS_PER_SEC: f64 = 20.0;

/// Nodes we do not know remembered as heard on the LAN at once: anyone on the LAN can
/// send beacons, so the memory of them is bounded.
pub const STRANGERS_HEARD_MAX: usize = 64;

// --- Daemon and its configuration ---

/// How long in-flight exchanges may take to finish after a shutdown request, so a slow
/// peer cannot hold up a stop.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Dial backoff: first retry after this, doubling up to `BACKOFF_MAX`, so an unreachable
/// peer is not dialled in a tight loop.
pub const BACKOFF_MIN: Duration = Duration::from_secs(1);

/// Longest wait between dial attempts to one peer, so a peer that comes back is found
/// within a minute.
pub const BACKOFF_MAX: Duration = Duration::from_secs(60);

/// After a successful exchange, the next one with that peer (while the window lasts): new
/// data moves soon, without syncing back to back.
pub const RESYNC_AFTER: Duration = Duration::from_secs(30);

/// How often the status file is rewritten (and after every exchange): fresh enough for
/// `caravan status`, rare enough to cost nothing.
pub const STATUS_EVERY: Duration = Duration::from_secs(2);

/// Exchanges running at once; a connection beyond them is refused at once (its node
/// retries later), so no number of peers can exhaust the daemon.
pub const EXCHANGES_MAX: usize = 16;

/// How long a connecting node has to finish the QUIC handshake (prove its key), so a node
/// that connects and goes silent holds nothing for long.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Default whole-exchange deadline (config `exchange_timeout_secs`), so a peer that
/// trickles keeps nothing open for ever: an hour moves gigabytes on the slowest links we
/// meet.
pub const EXCHANGE_TIMEOUT_DEFAULT: Duration = Duration::from_secs(3600);

/// Syncs kept in the daemon's status report (the newest), so the status file stays small
/// however long the daemon runs.
pub const SYNCS_KEPT: usize = 20;

/// Largest configuration file read: far more than any real one, so a huge file (or a link
/// to a device) costs bounded memory.
pub const CONFIG_BYTES_MAX: u64 = 1 << 20;

// --- Sticks ---

/// Largest stick marker (`caravan/CARAVAN.TXT`) we read; only its first line counts. A
/// marker that is a huge file (or a link to a device) costs at most this much.
pub const STICK_MARKER_BYTES_MAX: usize = 4096;

/// Directory entries of a stick's `caravan/` folder looked at per listing. A FAT directory
/// holds at most 65,536 entries (and Caravan writes two per segment), so a real stick
/// never comes near; a hostile one costs bounded time and memory. Entries past the cap
/// are not looked at, and the sync says so.
pub const STICK_DIR_ENTRIES_MAX: usize = 65_536;

/// Segment files are closed at this size (FAT32 caps files at 4 GiB).
pub const SEGMENT_BYTES_MAX: u64 = 1 << 30;

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

/// Bundles imported per node transaction while reading a stick (each transaction ends in
/// one fsync)...
pub const IMPORT_BATCH_COUNT: usize = 4096;

/// ...or fewer, so a transaction holds at most about this many bundle bytes.
pub const IMPORT_BATCH_BYTES: usize = 64 << 20;

/// Index entries of a stick looked up in the store at a time: bounds memory however many
/// entries a stick has.
pub const LOOKUP_COUNT: usize = 4096;

/// Bundle bytes fetched from the store at a time while writing a stick: bounds memory
/// however much there is to write.
pub const FETCH_BYTES_MAX: u64 = 16 << 20;

/// Records are handed to a stick's file in writes of about this size: few system calls,
/// a bounded buffer.
pub const WRITE_BUFFER_BYTES: usize = 1 << 20;

/// Bytes appended to a stick between data syncs while writing: records count only once
/// synced, so a stick pulled mid-write loses at most about this much of the write.
pub const SYNC_EVERY_BYTES: u64 = 64 << 20;

// --- Command line ---

/// Bundles `caravan import` takes in per durable commit: big enough to amortise the
/// fsync, small enough that progress survives an interruption.
pub const IMPORT_FILES_PER_COMMIT: usize = 64;

/// Bundle bytes `caravan import` reads per durable commit (a file holds at most one
/// bundle's size, so one commit holds at most this plus one bundle).
pub const IMPORT_BYTES_PER_COMMIT: usize = 64 << 20;

// --- Keys at rest ---

/// Most memory (KiB) a sealed key file may ask Argon2 for: reading a damaged or planted
/// file must not take the machine's memory.
pub const KEY_FILE_MEMORY_KIB_MAX: u32 = 1024 * 1024;

/// Most Argon2 passes a sealed key file may ask for.
pub const KEY_FILE_PASSES_MAX: u32 = 16;

/// Most Argon2 lanes a sealed key file may ask for.
pub const KEY_FILE_LANES_MAX: u32 = 8;

// --- Document kinds ---

/// Longest kind name, in bytes (it is part of every document id of the kind).
pub const KIND_NAME_BYTES_MAX: usize = 16;

/// Longest element of a wiki page's list of lines, in bytes: a longer line is cut (at a
/// character boundary), so one edit in a very long line rewrites at most this much.
pub const LINE_BYTES_MAX: usize = 4096;

/// Most seconds a wiki page's line diff may take before it settles for a coarser one
/// (two long unrelated texts would otherwise take quadratic time).
pub const WIKI_DIFF_SECS_MAX: u64 = 2;

/// The longest text read as a contact card (a card is a few hundred characters; wrapped
/// over lines with indentation, a few more).
pub const CARD_TEXT_BYTES_MAX: usize = 16 * 1024;

/// Nodes a node can block.
pub const BLOCKED_MAX: usize = 4096;

/// How long a daemon waits for a command that holds the store to let go of it.
pub const OPEN_WAIT: Duration = Duration::from_secs(10);

/// Events a [`crate::Handle`] subscriber may fall behind by before it skips the oldest.
pub const EVENTS_BUFFERED: usize = 1024;

/// A page's history counts the lines each of its last this many versions added and
/// removed (each count diffs the document once; older versions are listed uncounted).
pub const HISTORY_STATS_MAX: usize = 50;

/// Stored bytes of documents a node keeps loaded between operations (least recently used
/// dropped first): a daemon that touched a big page does not hold it for good. A loaded
/// document takes about 10-15 times its stored size in memory (`benches/README.md`).
pub const DOC_CACHE_BYTES: u64 = 8 << 20;

// --- The authority log (membership.md) ---

/// Most operations in one community's authority log that resolution reads. Resolution
/// keeps one ancestor bit set per operation (N^2/8 bytes: 2 MiB at this cap) and may
/// replay the log once per voided removal; a village community makes a few hundred.
pub const AUTHORITY_OPS_MAX: usize = 4096;

/// Largest encoded authority operation: a rekey holds one slot (104 bytes) per member.
pub const AUTHORITY_OP_BYTES_MAX: usize = 512 * 1024;

/// Most key slots in one rekey: the members a community can hold.
pub const AUTHORITY_SLOTS_MAX: usize = 4096;

/// Most operations an operation follows (its authority heads).
pub const AUTHORITY_FOLLOWS_MAX: usize = 64;

/// Most earlier community keys an invitation carries (36 bytes each, within a grant's
/// `HEADER_BYTES_MAX`): a community rekeyed more often hands newcomers only the latest.
pub const EPOCH_KEYS_MAX: usize = 512;

// --- What one member can make the others store (security.md) ---

/// Default bytes of bundles one member of a community can make this node store per day
/// (by this node's clock), beyond which its bundles are refused until the next day (not
/// remembered: they come again, and its custody keeps them meanwhile). Counted on
/// arrival, so it must hold a busy member's month of backlog off one stick: generous for
/// a village's wiki and feed; a flood stops at it.
pub const MEMBER_BYTES_PER_DAY_DEFAULT: u64 = 256 * 1024 * 1024;

/// Default bundles one member of a community can make this node store per day.
pub const MEMBER_BUNDLES_PER_DAY_DEFAULT: u32 = 20_000;

/// Most slots in a slot grant (friends of friends, friends of members): one per friend
/// or member whose pass the granter holds.
pub const SLOTS_MAX: usize = 4096;

/// Largest encoded slot grant: `SLOTS_MAX` slots of 80 bytes, and room.
pub const SLOT_GRANT_BYTES_MAX: usize = 512 * 1024;

/// Largest Automerge change in a community's authority log: one operation (at most
/// `AUTHORITY_OP_BYTES_MAX`) and the change's own fields. Every member reads the whole
/// log each time it moves, so no member can make that cost more than its operations.
pub const AUTHORITY_CHANGE_BYTES_MAX: usize = AUTHORITY_OP_BYTES_MAX + 4096;

// --- The social plug-ins (plugins.md) ---

/// Most reviews one change may add: each costs three signature checks on import.
pub const REVIEWS_PER_CHANGE_MAX: usize = 64;

/// Largest review text, in bytes.
pub const REVIEW_TEXT_MAX: usize = 2000;

/// Most sources (nodes and communities) one node follows.
pub const FOLLOWING_MAX: usize = 1024;

/// Most options a poll offers.
pub const POLL_OPTIONS_MAX: usize = 32;

/// Most authority heads a poll cites, and document heads a poll's close names.
pub const POLL_HEADS_MAX: usize = 64;

/// Largest certification threshold (certifiers who must sign the same statement).
pub const CERT_THRESHOLD_MAX: u8 = 16;

/// Most signatures one certificate statement gathers (beyond, the rest are not read).
pub const CERT_SIGNERS_MAX: usize = 64;

/// Longest skill a certificate names, in bytes.
pub const CERT_SKILL_MAX: usize = 200;

/// Default bytes of a followed source's public content a node keeps and passes on; past
/// it, the source's oldest bundles go first (the documents read from them stay).
pub const FOLLOW_BUDGET_DEFAULT: u64 = 16 * 1024 * 1024;

/// Most ended links a node remembers (their statements' hashes), newest kept.
pub const LINKS_ENDED_MAX: usize = 1024;

/// A public document (a profile's, a community's public part) is sealed again whole,
/// as a snapshot, once this many more bundles of it are stored: a follower that starts
/// late behind a relay that kept only the newest within its budget reads it all.
pub const PUBLIC_SNAPSHOT_AFTER: u64 = 8;

/// Characters of an item's handle (`plugin::handle`), and the fewest of them a command
/// takes to name the item.
pub const HANDLE_LEN: usize = 8;
/// See [`HANDLE_LEN`].
pub const HANDLE_TYPED_MIN: usize = 4;
