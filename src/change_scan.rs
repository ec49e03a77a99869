//! Bounds Automerge binary data before Automerge decodes it.
//!
//! # Why
//!
//! Every change Caravan imports was signed by a member, but a member can be hostile or
//! compromised, and Automerge's decoders have no resource bounds:
//!
//! - a *compressed change* chunk (type 2) is inflated with no cap: a 2 MB signed change
//!   took 24.6 s and 6.3 GB of memory before it was refused;
//! - an Automerge `Bundle` whose columns carry the DEFLATE bit is inflated with no cap;
//! - run-length encoded columns declare their row counts, and Automerge walks every
//!   declared row: `Change::from_bytes` verifies each op, so a 143-byte change can declare
//!   billions of ops (a real 143-byte change deleting 5 M characters takes 1.2 s to decode
//!   and 49 s and 2 GB to apply);
//! - some declared values size allocations directly (`Vec::with_capacity` of a declared
//!   predecessor or dependency count, a per-change op buffer of `max_op - start_op + 1`):
//!   `Bundle::try_from` aborts the whole process (a failed 8 TiB allocation, no panic to
//!   catch) on a bundle whose dependency count column declares 2^40;
//! - some malformed bundle columns make Automerge panic instead of returning an error (an
//!   action above 7, a string running past its column, extra bytes past theirs, a
//!   dependency on a later change, an actor index past the list), and its bundle decoder
//!   reads strings with `from_utf8_unchecked` (see "What a scan guarantees").
//!
//! [`scan_change`] and [`scan_bundle`] read the bytes the way Automerge will, in time
//! linear in their length (plus, for a bundle, a walk over its change rows, themselves
//! capped by [`BATCH_CHANGES_MAX`]), allocating nothing at all, never panicking, and
//! refuse anything compressed or declaring more rows than the caps in
//! [`crate::limits`]. Only bytes that pass are handed to Automerge. The scan checks
//! structure and sizes, not meaning: Automerge still verifies the ops, and may still
//! refuse what passes here.
//!
//! # Use
//!
//! - Raw changes: [`scan_changes`] over the batch's change chunks (each with
//!   [`scan_change`], totals capped), then `Change::from_bytes` on each.
//! - Bundles: `Automerge::bundle(..).bytes()` deflates every column longer than 256 bytes,
//!   which [`scan_bundle`] refuses, so a sender passes those bytes through
//!   [`inflate_bundle`] (capped, at `AUTOMERGE_BUNDLE_BYTES_MAX`) before sending; the
//!   receiver runs [`scan_bundle`], then `Bundle::try_from`, then `to_changes` under
//!   `catch_unwind`. ([`inflate_bundle`] is bounded, so a receiver may also use it to
//!   accept deflated columns.)
//!
//! # The format, as far as the scan relies on it
//!
//! The reference is the Automerge binary format specification
//! (<https://automerge.org/automerge-binary-format-spec/>, formerly
//! <https://alexjg.github.io/automerge-storage-docs/>); the bundle chunk is newer than the
//! specification and is described here from Automerge 0.12's `storage/bundle`.
//!
//! **Integers.** `uLEB` is unsigned LEB128, `sLEB` signed LEB128 (two's complement, sign
//! bit of the last byte extended), both at most 10 bytes and 64 bits. The scan accepts
//! non-minimal ("overlong") encodings as Automerge's column decoders do.
//!
//! **Chunk.** `85 6f 4a 83` (magic), 4 checksum bytes (the first four of the SHA-256 of
//! type byte, length and body; not checked here, Automerge computes the hash anyway), one
//! chunk type byte (0 document, 1 change, 2 compressed change, 3 bundle), the body length
//! as uLEB, then exactly that many body bytes. A compressed change's body is a raw
//! DEFLATE stream of an uncompressed change's body, so its inflated size is unknowable
//! without inflating it: it is refused, as are document chunks and unknown types.
//!
//! **Column metadata.** A uLEB count, then per column a uLEB *spec* (a `u32`) and a uLEB
//! byte length; the columns' data follow back to back in the same order. A spec is
//! `id << 4 | deflate << 3 | type`, where type is 0 group, 1 actor, 2 integer, 3 delta,
//! 4 boolean, 5 string, 6 value metadata, 7 raw value. Columns appear in ascending order
//! of their spec with the deflate bit cleared. Any column with the deflate bit is
//! refused. A column may be empty; an absent column reads as empty.
//!
//! **Column encodings.** Types 0, 1, 2, 3, 5 and 6 are run-length encoded: a sequence of
//! runs, each starting with an sLEB count `n`. If `n > 0`, one value follows, repeated
//! `n` times; if `n < 0`, `-n` values follow, each once (a literal run); if `n = 0`, a uLEB
//! count of nulls follows. Values are uLEB for group (a count of rows in the group's
//! other columns), actor (an index into the chunk's actor list), integer and value
//! metadata; sLEB for delta (differences from the previous non-null value, starting from
//! 0); and for strings a uLEB byte length then that many UTF-8 bytes. Value metadata is
//! `length << 4 | type code`, and `length` bytes of the raw value column (type 7, same
//! id, directly after) belong to that row (types 0 null, 1 false and 2 true carry length
//! 0). Booleans (type 4) are a sequence of uLEB run lengths, alternately `false` and
//! `true`, starting with `false` (the first run may be 0). A column's *rows* are the
//! values it decodes to; counting them needs one step per run (or per literal value),
//! so it is linear in the column's bytes however many rows a run declares, and the scan
//! stops at the first run that passes the cap.
//!
//! **Change chunk** (type 1) body: uLEB count of dependencies and 32 bytes each; the
//! author's actor id (uLEB length, bytes); seq (uLEB); start op (uLEB, non-zero); time
//! (sLEB); message (uLEB length, UTF-8); uLEB count of other actors, each a uLEB length
//! and bytes; column metadata and data; then any remaining bytes are the change's extra
//! bytes. The op columns (id, type): obj 0 actor and 0 integer, key 1 actor, 1 delta and
//! 1 string, insert 3 boolean, action 4 integer, value 5 metadata and 5 raw, pred 7 group
//! with 7 actor and 7 delta, expand 9 boolean, mark name 10 string. Automerge reads one op
//! per row of the action column (`0x42`), so that is the op count; other columns are
//! capped the same way, unknown ones too (Automerge keeps and ignores them). Actor
//! indices count the author as 0 and the other actors from 1.
//!
//! **Bundle chunk** (type 3) body: uLEB count of external dependencies and 32 bytes each;
//! uLEB count of actors, each a uLEB length and bytes; the change columns (metadata,
//! data); the op columns (metadata, data); nothing after. Change columns: actor `0x01`,
//! seq `0x03`, start op `0x13`, max op `0x23`, time `0x33`, message `0x45`, dependency
//! count `0x50` (group) with dependency indices `0x53` (delta), extra byte count `0x60`
//! (group) with the extra bytes `0x67` (raw). One change per row of the actor column;
//! change `i` holds ops `start_op..=max_op`; a dependency index below the change count
//! names an earlier change of the bundle, above it an external dependency. Op columns:
//! obj `0x01`/`0x03`, key `0x11`/`0x13`/`0x15`, op id actor `0x21`, insert `0x34`,
//! action `0x42` (0 to 7), value `0x56`/`0x57`, pred `0x70`/`0x71`/`0x73`, expand
//! `0x94`, mark name `0xa5`, and the op id counters either as `0xb3` (for each op in
//! (actor, counter) order, its position in the bundle) or, in older bundles, `0x23`
//! (each op's counter). One op per row of `0x21`. Here Automerge refuses unknown columns.
//!
//! # What a scan guarantees
//!
//! For a change: exactly one uncompressed change chunk, no deflated column, every column
//! well formed and within its byte range, at most [`CHANGE_OPS_MAX`] rows in any column
//! and in the sum of the pred group, strings valid UTF-8, value lengths within the raw
//! value column, actor indices within the actor list, delta columns within `i64`, op
//! counters (object, key, predecessor) within `u32` (Automerge unwraps that conversion).
//!
//! For a bundle, the same for its columns (at most [`BATCH_OPS_MAX`] op rows and
//! [`BATCH_CHANGES_MAX`] changes), and: no null op id actor or change actor (a null
//! silently ends Automerge's iteration), actions 0 to 7 (Automerge's column decoder
//! panics on others), the declared op ranges of the changes add up to exactly the op rows
//! and each holds at most [`CHANGE_OPS_MAX`] ops (Automerge sizes a buffer from each),
//! each change's dependencies name an earlier change or an external dependency
//! (Automerge unwraps that lookup), the extra byte counts fit the extra column (Automerge
//! splits there unchecked), and strings are valid UTF-8 (the bundle decoder reads them
//! unchecked).
//!
//! What it does not check: the checksum or hash, that op ids are consistent with the
//! changes holding them, predecessor references, or anything about the document the
//! changes apply to. In particular `Bundle::to_changes` still panics (it does not abort)
//! on a bundle whose op ids disagree with its changes' op ranges (`collector.rs`: an
//! `assert!` on a duplicate op id, an `unwrap` of `MissingOps`); checking that would take
//! memory in proportion to the ops, so callers should run `to_changes` under
//! `std::panic::catch_unwind`. What passes the scan, `Change::from_bytes` and
//! `Bundle::try_from` decoded without panicking in the property tests below.

use crate::limits::{BATCH_CHANGES_MAX, BATCH_OPS_MAX, CHANGE_OPS_MAX};

/// [`BATCH_CHANGES_MAX`] as a row count.
const CHANGES_MAX: u64 = BATCH_CHANGES_MAX as u64;

// Row counts are capped well below 2^32 so that a run's count times a delta (at most
// 2^64) never overflows the i128 arithmetic of the delta checks.
const _: () = assert!(CHANGES_MAX < 1 << 32 && BATCH_OPS_MAX < 1 << 32 && CHANGE_OPS_MAX < 1 << 32);

/// What a successful scan found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Scanned {
    /// Length of the scanned bytes.
    pub bytes: usize,
    /// Changes held: 1 for a change chunk, the change rows of a bundle.
    pub changes: u64,
    /// Ops held: the rows of the op columns, which Automerge decodes one by one.
    pub ops: u64,
}

impl Scanned {
    /// Adds another scan's counts to this one.
    fn add(&mut self, other: Scanned) {
        self.bytes = self.bytes.saturating_add(other.bytes);
        self.changes = self.changes.saturating_add(other.changes);
        self.ops = self.ops.saturating_add(other.ops);
    }
}

/// Why Automerge data was refused before Automerge saw it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ScanError {
    /// The bytes do not start with Automerge's magic bytes.
    #[error("not an Automerge chunk (bad magic bytes)")]
    NotAutomerge,
    /// A compressed change chunk (type 2): inflating it is unbounded.
    #[error("compressed change chunk refused: its inflated size is unbounded")]
    CompressedChange,
    /// A chunk of another type than the one expected.
    #[error("chunk type {found} where {expected} was expected")]
    WrongChunkType {
        /// The chunk type byte found.
        found: u8,
        /// The chunk type expected (1 change, 3 bundle).
        expected: u8,
    },
    /// The input ends before the structure it declares.
    #[error("truncated {0}")]
    Truncated(&'static str),
    /// Bytes after the end of the chunk or of its last section.
    #[error("bytes after the end of the {0}")]
    TrailingBytes(&'static str),
    /// A column carries the DEFLATE bit: inflating it is unbounded.
    #[error("column {spec:#x} is DEFLATE-compressed")]
    DeflatedColumn {
        /// The column's spec.
        spec: u32,
    },
    /// More ops than the cap, in one change or one batch.
    #[error("more than {max} ops")]
    TooManyOps {
        /// The cap that was passed.
        max: u64,
    },
    /// More changes than the cap in one batch.
    #[error("more than {max} changes")]
    TooManyChanges {
        /// The cap that was passed.
        max: u64,
    },
    /// A group column declares more grouped rows (predecessors, dependencies) than the cap.
    #[error("column {spec:#x} groups more than {max} rows")]
    TooManyRows {
        /// The group column's spec.
        spec: u32,
        /// The cap that was passed.
        max: u64,
    },
    /// A column's data ends inside a run or value.
    #[error("column {spec:#x} is truncated")]
    ColumnTruncated {
        /// The column's spec.
        spec: u32,
    },
    /// A column's data is not a valid encoding for its type, or breaks a rule of the format.
    #[error("column {spec:#x}: {reason}")]
    MalformedColumn {
        /// The column's spec.
        spec: u32,
        /// What is wrong.
        reason: &'static str,
    },
    /// Anything else that breaks the format.
    #[error("malformed: {0}")]
    Malformed(&'static str),
    /// [`inflate_bundle`]: the columns inflate past the cap.
    #[error("columns inflate past {max} bytes")]
    InflatesTooLarge {
        /// The cap that was passed.
        max: usize,
    },
    /// [`inflate_bundle`]: a column is not a valid DEFLATE stream.
    #[error("column {spec:#x} is not a valid DEFLATE stream")]
    BadDeflate {
        /// The column's spec (with the DEFLATE bit).
        spec: u32,
    },
}

/// Automerge's chunk magic bytes.
pub const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
/// Chunk type of an uncompressed change.
pub const CHUNK_CHANGE: u8 = 1;
/// Chunk type of a DEFLATE-compressed change.
pub const CHUNK_COMPRESSED_CHANGE: u8 = 2;
/// Chunk type of a bundle.
pub const CHUNK_BUNDLE: u8 = 3;

const HASH_BYTES: u64 = 32;
const DEFLATE_BIT: u32 = 0b1000;

/// Scans one Automerge change chunk: exactly one uncompressed change (type 1), nothing
/// before or after it. See the module docs for what passing guarantees.
pub fn scan_change(bytes: &[u8]) -> Result<Scanned, ScanError> {
    let body = chunk_body(bytes, CHUNK_CHANGE)?;
    let mut r = Reader::new(body);
    let deps = r.uleb("change dependencies")?;
    r.skip(deps.saturating_mul(HASH_BYTES), "change dependencies")?;
    r.length_prefixed("change actor")?;
    r.uleb("change seq")?;
    if r.uleb("change start op")? == 0 {
        return Err(ScanError::Malformed("change start op is zero"));
    }
    r.sleb("change time")?;
    let message = r.length_prefixed("change message")?;
    if std::str::from_utf8(message).is_err() {
        return Err(ScanError::Malformed("change message is not UTF-8"));
    }
    let others = r.uleb("change actors")?;
    // Each actor takes at least one byte: refuse a count the rest cannot hold before looping.
    if others > r.remaining() as u64 {
        return Err(ScanError::Truncated("change actors"));
    }
    for _ in 0..others {
        r.length_prefixed("change actor")?;
    }
    let actors = others + 1;
    let columns = Columns::parse(&mut r, "change columns")?;
    // The rest of the body is the change's extra bytes, kept as they are.

    let cap = CHANGE_OPS_MAX;
    let mut ops = 0;
    let mut prev: Option<(u32, Summary)> = None;
    for (spec, data) in columns.iter() {
        let over = ScanError::TooManyOps { max: cap };
        let summary = walk_column(spec, data, cap, over)?;
        if CHANGE_COUNTERS.contains(&spec) {
            check_counters(spec, &summary)?;
        }
        match col_type(spec) {
            ColType::Group if summary.sum > cap => return Err(ScanError::TooManyRows { spec, max: cap }),
            ColType::Actor if summary.max.is_some_and(|m| m >= actors) => {
                return Err(ScanError::MalformedColumn { spec, reason: "actor index outside the actor list" });
            }
            ColType::Value => match prev {
                Some((p, meta)) if col_type(p) == ColType::ValueMeta && col_id(p) == col_id(spec) => {
                    if meta.sum > data.len() as u64 {
                        return Err(ScanError::MalformedColumn { spec, reason: "values longer than their column" });
                    }
                }
                _ => return Err(ScanError::MalformedColumn { spec, reason: "raw values without their metadata" }),
            },
            _ => {}
        }
        // Value metadata must have its raw column right after, unless it declares no bytes.
        if let Some((p, meta)) = prev
            && col_type(p) == ColType::ValueMeta
            && meta.sum > 0
            && !(col_type(spec) == ColType::Value && col_id(spec) == col_id(p))
        {
            return Err(ScanError::MalformedColumn { spec: p, reason: "values longer than their column" });
        }
        if spec == CHANGE_ACTION {
            ops = summary.rows;
        }
        prev = Some((spec, summary));
    }
    if let Some((p, meta)) = prev
        && col_type(p) == ColType::ValueMeta
        && meta.sum > 0
    {
        return Err(ScanError::MalformedColumn { spec: p, reason: "values longer than their column" });
    }
    Ok(Scanned { bytes: bytes.len(), changes: 1, ops })
}

/// Scans the raw changes of one batch with [`scan_change`], and caps their totals at
/// [`BATCH_OPS_MAX`] ops and [`BATCH_CHANGES_MAX`] changes.
pub fn scan_changes<'a>(changes: impl IntoIterator<Item = &'a [u8]>) -> Result<Scanned, ScanError> {
    let mut total = Scanned::default();
    for change in changes {
        total.add(scan_change(change)?);
        if total.changes > CHANGES_MAX {
            return Err(ScanError::TooManyChanges { max: CHANGES_MAX });
        }
        if total.ops > BATCH_OPS_MAX {
            return Err(ScanError::TooManyOps { max: BATCH_OPS_MAX });
        }
    }
    Ok(total)
}

/// Scans one Automerge bundle chunk (type 3, as `Automerge::bundle` writes it), nothing
/// before or after it. See the module docs for what passing guarantees.
pub fn scan_bundle(bytes: &[u8]) -> Result<Scanned, ScanError> {
    let body = chunk_body(bytes, CHUNK_BUNDLE)?;
    let mut r = Reader::new(body);
    let external = r.uleb("bundle dependencies")?;
    r.skip(external.saturating_mul(HASH_BYTES), "bundle dependencies")?;
    let actors = r.uleb("bundle actors")?;
    if actors > r.remaining() as u64 {
        return Err(ScanError::Truncated("bundle actors"));
    }
    for _ in 0..actors {
        r.length_prefixed("bundle actor")?;
    }
    let change_cols = Columns::parse(&mut r, "bundle change columns")?;
    let op_cols = Columns::parse(&mut r, "bundle op columns")?;
    if !r.is_empty() {
        return Err(ScanError::TrailingBytes("bundle's op columns"));
    }

    // Change columns.
    let cap = CHANGES_MAX;
    let mut ch = BundleChangeCols::default();
    let mut extra_bytes = 0;
    for (spec, data) in change_cols.iter() {
        let summary = walk_column(spec, data, cap, ScanError::TooManyChanges { max: cap })?;
        match spec {
            bundle::CH_ACTOR => {
                if summary.nulls > 0 {
                    return Err(ScanError::MalformedColumn { spec, reason: "null change actor" });
                }
                if summary.max.is_some_and(|m| m >= actors) {
                    return Err(ScanError::MalformedColumn { spec, reason: "actor index outside the actor list" });
                }
                ch.changes = summary.rows;
            }
            bundle::CH_START_OP => ch.start_op = data,
            bundle::CH_MAX_OP => ch.max_op = data,
            bundle::CH_DEP_COUNT => {
                if summary.sum > cap {
                    return Err(ScanError::TooManyRows { spec, max: cap });
                }
                ch.dep_count = data;
            }
            bundle::CH_DEPS => ch.deps = data,
            bundle::CH_EXTRA_COUNT => extra_bytes = summary.sum,
            bundle::CH_EXTRA => {
                if extra_bytes > data.len() as u64 {
                    return Err(ScanError::MalformedColumn { spec, reason: "extra bytes longer than their column" });
                }
                extra_bytes = 0;
            }
            bundle::CH_SEQ | bundle::CH_TIME | bundle::CH_MESSAGE => {}
            _ => return Err(ScanError::MalformedColumn { spec, reason: "unknown bundle change column" }),
        }
    }
    if extra_bytes > 0 {
        return Err(ScanError::MalformedColumn {
            spec: bundle::CH_EXTRA,
            reason: "extra bytes longer than their column",
        });
    }

    // Op columns.
    let cap = BATCH_OPS_MAX;
    let mut ops = 0;
    let mut counters = None;
    let mut value_bytes = 0;
    for (spec, data) in op_cols.iter() {
        let summary = walk_column(spec, data, cap, ScanError::TooManyOps { max: cap })?;
        if bundle::COUNTERS.contains(&spec) {
            check_counters(spec, &summary)?;
        }
        match spec {
            bundle::OP_OBJ_ACTOR | bundle::OP_KEY_ACTOR | bundle::OP_ID_ACTOR | bundle::OP_PRED_ACTOR => {
                if summary.max.is_some_and(|m| m >= actors) {
                    return Err(ScanError::MalformedColumn { spec, reason: "actor index outside the actor list" });
                }
                if spec == bundle::OP_ID_ACTOR {
                    if summary.nulls > 0 {
                        return Err(ScanError::MalformedColumn { spec, reason: "null op id actor" });
                    }
                    ops = summary.rows;
                }
            }
            bundle::OP_ACTION => {
                if summary.max.is_some_and(|m| m > 7) {
                    return Err(ScanError::MalformedColumn { spec, reason: "unknown action" });
                }
            }
            bundle::OP_VALUE_META => value_bytes = summary.sum,
            bundle::OP_VALUE => {
                if value_bytes > data.len() as u64 {
                    return Err(ScanError::MalformedColumn { spec, reason: "values longer than their column" });
                }
                value_bytes = 0;
            }
            bundle::OP_PRED_COUNT => {
                if summary.sum > cap {
                    return Err(ScanError::TooManyRows { spec, max: cap });
                }
            }
            // The inverse column wins over the legacy one when both are present.
            bundle::OP_ID_CTR_INVERSE => counters = Some(summary.rows),
            bundle::OP_ID_CTR => counters = counters.or(Some(summary.rows)),
            bundle::OP_OBJ_CTR
            | bundle::OP_KEY_CTR
            | bundle::OP_KEY_STR
            | bundle::OP_INSERT
            | bundle::OP_PRED_CTR
            | bundle::OP_EXPAND
            | bundle::OP_MARK_NAME => {}
            _ => return Err(ScanError::MalformedColumn { spec, reason: "unknown bundle op column" }),
        }
    }
    if value_bytes > 0 {
        return Err(ScanError::MalformedColumn { spec: bundle::OP_VALUE, reason: "values longer than their column" });
    }
    // Automerge reads an op while both its id actor and its counter are there.
    if counters.unwrap_or(0) != ops {
        return Err(ScanError::Malformed("bundle op counters and op actors differ in number"));
    }
    let declared = ch.walk(external)?;
    if declared != ops {
        return Err(ScanError::Malformed("bundle changes declare another number of ops than it holds"));
    }
    Ok(Scanned { bytes: bytes.len(), changes: ch.changes, ops })
}

/// Rewrites a bundle as `Automerge::bundle(..).bytes()` writes it (columns longer than
/// 256 bytes DEFLATE-compressed) into the uncompressed form [`scan_bundle`] accepts and
/// `automerge::Bundle::try_from` reads the same way, inflating at most `max_bytes` of
/// output in all: a bomb is refused, never expanded. Safe on untrusted input (it checks
/// the chunk and column structure as [`scan_bundle`] does, not the column contents).
///
/// The chunk keeps its checksum bytes, as Automerge's own uncompressed copy of a bundle
/// does: `Bundle::try_from` never checks a bundle's checksum (`load_incremental` would).
pub fn inflate_bundle(bytes: &[u8], max_bytes: usize) -> Result<Vec<u8>, ScanError> {
    use std::io::Read;

    let body = chunk_body(bytes, CHUNK_BUNDLE)?;
    let mut r = Reader::new(body);
    let external = r.uleb("bundle dependencies")?;
    r.skip(external.saturating_mul(HASH_BYTES), "bundle dependencies")?;
    let actors = r.uleb("bundle actors")?;
    if actors > r.remaining() as u64 {
        return Err(ScanError::Truncated("bundle actors"));
    }
    for _ in 0..actors {
        r.length_prefixed("bundle actor")?;
    }
    let prefix = &body[..r.pos];
    let sets = [
        Columns::parse_with(&mut r, "bundle change columns", true)?,
        Columns::parse_with(&mut r, "bundle op columns", true)?,
    ];
    if !r.is_empty() {
        return Err(ScanError::TrailingBytes("bundle's op columns"));
    }

    let too_large = ScanError::InflatesTooLarge { max: max_bytes };
    let mut out = Vec::with_capacity(prefix.len());
    out.extend_from_slice(prefix);
    let mut data = Vec::new();
    for set in &sets {
        // Inflate this set's columns into `data`, then write its metadata and the data.
        data.clear();
        let mut lens = Vec::with_capacity(usize::try_from(set.count).unwrap_or(0));
        for (spec, column) in set.iter_raw() {
            let start = data.len();
            if spec & DEFLATE_BIT == 0 {
                data.extend_from_slice(column);
            } else {
                let budget = max_bytes.saturating_sub(out.len() + data.len());
                flate2::read::DeflateDecoder::new(column)
                    .take(budget as u64 + 1)
                    .read_to_end(&mut data)
                    .map_err(|_| ScanError::BadDeflate { spec })?;
            }
            if out.len() + data.len() > max_bytes {
                return Err(too_large);
            }
            lens.push((spec & !DEFLATE_BIT, data.len() - start));
        }
        write_uleb(&mut out, lens.len() as u64);
        for (spec, len) in lens {
            write_uleb(&mut out, u64::from(spec));
            write_uleb(&mut out, len as u64);
        }
        out.extend_from_slice(&data);
        if out.len() > max_bytes {
            return Err(too_large);
        }
    }
    let mut chunk = Vec::with_capacity(out.len() + 19);
    chunk.extend_from_slice(&bytes[..9]); // magic, checksum, type: checked by chunk_body
    write_uleb(&mut chunk, out.len() as u64);
    chunk.extend_from_slice(&out);
    Ok(chunk)
}

fn write_uleb(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// Checks the chunk header and returns the body: magic, checksum, `expected` chunk type,
/// uLEB length equal to what follows.
fn chunk_body(bytes: &[u8], expected: u8) -> Result<&[u8], ScanError> {
    let mut r = Reader::new(bytes);
    let magic = r.take(4, "chunk header")?;
    if magic != MAGIC {
        return Err(ScanError::NotAutomerge);
    }
    r.skip(4, "chunk header")?; // checksum
    let chunk_type = r.take(1, "chunk header")?[0];
    if chunk_type == CHUNK_COMPRESSED_CHANGE {
        return Err(ScanError::CompressedChange);
    }
    if chunk_type != expected {
        return Err(ScanError::WrongChunkType { found: chunk_type, expected });
    }
    let len = r.uleb("chunk header")?;
    let rest = r.remaining() as u64;
    if len > rest {
        return Err(ScanError::Truncated("chunk"));
    }
    if len < rest {
        return Err(ScanError::TrailingBytes("chunk"));
    }
    Ok(r.rest())
}

/// The action column of a change chunk: one row per op.
const CHANGE_ACTION: u32 = 0x42;

/// The op counter columns of a change chunk: object (integer), key and predecessor
/// (delta). Each value must fit in a `u32`.
const CHANGE_COUNTERS: [u32; 3] = [0x02, 0x13, 0x73];

/// Column specs of the bundle chunk (Automerge 0.12, `storage/bundle/builder.rs`).
mod bundle {
    pub const CH_ACTOR: u32 = 0x01;
    pub const CH_SEQ: u32 = 0x03;
    pub const CH_START_OP: u32 = 0x13;
    pub const CH_MAX_OP: u32 = 0x23;
    pub const CH_TIME: u32 = 0x33;
    pub const CH_MESSAGE: u32 = 0x45;
    pub const CH_DEP_COUNT: u32 = 0x50;
    pub const CH_DEPS: u32 = 0x53;
    pub const CH_EXTRA_COUNT: u32 = 0x60;
    pub const CH_EXTRA: u32 = 0x67;

    pub const OP_OBJ_ACTOR: u32 = 0x01;
    pub const OP_OBJ_CTR: u32 = 0x03;
    pub const OP_KEY_ACTOR: u32 = 0x11;
    pub const OP_KEY_CTR: u32 = 0x13;
    pub const OP_KEY_STR: u32 = 0x15;
    pub const OP_ID_ACTOR: u32 = 0x21;
    pub const OP_ID_CTR: u32 = 0x23;
    pub const OP_INSERT: u32 = 0x34;
    pub const OP_ACTION: u32 = 0x42;
    pub const OP_VALUE_META: u32 = 0x56;
    pub const OP_VALUE: u32 = 0x57;
    pub const OP_PRED_COUNT: u32 = 0x70;
    pub const OP_PRED_ACTOR: u32 = 0x71;
    pub const OP_PRED_CTR: u32 = 0x73;
    pub const OP_EXPAND: u32 = 0x94;
    pub const OP_MARK_NAME: u32 = 0xa5;
    pub const OP_ID_CTR_INVERSE: u32 = 0xb3;

    /// The op counter columns: each value must fit in a `u32`.
    pub const COUNTERS: [u32; 4] = [OP_OBJ_CTR, OP_KEY_CTR, OP_ID_CTR, OP_PRED_CTR];
}

/// The bundle change columns that are read row by row, together.
#[derive(Default)]
struct BundleChangeCols<'a> {
    changes: u64,
    start_op: &'a [u8],
    max_op: &'a [u8],
    dep_count: &'a [u8],
    deps: &'a [u8],
}

impl BundleChangeCols<'_> {
    /// Walks the change rows (at most [`BATCH_CHANGES_MAX`], and their dependencies at
    /// most as many again, both checked before) and returns the ops they declare.
    fn walk(&self, external: u64) -> Result<u64, ScanError> {
        let mut start = Cursor::delta(self.start_op, bundle::CH_START_OP);
        let mut max = Cursor::delta(self.max_op, bundle::CH_MAX_OP);
        let mut dep_count = Cursor::rle(self.dep_count, bundle::CH_DEP_COUNT, false);
        let mut deps = Cursor::delta(self.deps, bundle::CH_DEPS);
        let changes = i128::from(self.changes);
        let mut declared: u64 = 0;
        for index in 0..changes {
            let (Some(s), Some(m)) = (start.next()?.flatten(), max.next()?.flatten()) else {
                return Err(ScanError::Malformed("bundle change without start or max op"));
            };
            if s < 1 || m < s - 1 {
                return Err(ScanError::Malformed("bundle change with a negative op range"));
            }
            let n = (m - s + 1) as u64; // 0 <= m - s + 1 < 2^64: both are within i64
            if n > CHANGE_OPS_MAX {
                return Err(ScanError::TooManyOps { max: CHANGE_OPS_MAX });
            }
            declared = declared.saturating_add(n);
            if declared > BATCH_OPS_MAX {
                return Err(ScanError::TooManyOps { max: BATCH_OPS_MAX });
            }
            let count = dep_count.next()?.flatten().unwrap_or(0);
            for _ in 0..count {
                let Some(dep) = deps.next()?.flatten() else {
                    return Err(ScanError::Malformed("bundle change dependency missing"));
                };
                let earlier = (0..index).contains(&dep);
                let outside = (changes..changes + i128::from(external)).contains(&dep);
                if !earlier && !outside {
                    return Err(ScanError::Malformed("bundle change dependency names no earlier change"));
                }
            }
        }
        Ok(declared)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ColType {
    Group,
    Actor,
    Integer,
    Delta,
    Boolean,
    Str,
    ValueMeta,
    Value,
}

fn col_type(spec: u32) -> ColType {
    match spec & 0b111 {
        0 => ColType::Group,
        1 => ColType::Actor,
        2 => ColType::Integer,
        3 => ColType::Delta,
        4 => ColType::Boolean,
        5 => ColType::Str,
        6 => ColType::ValueMeta,
        _ => ColType::Value,
    }
}

fn col_id(spec: u32) -> u32 {
    spec >> 4
}

/// A parsed column metadata block and the column data after it. Holds only slices.
struct Columns<'a> {
    meta: &'a [u8],
    count: u64,
    data: &'a [u8],
}

impl<'a> Columns<'a> {
    /// Parses column metadata: checks it, refuses deflated columns, and takes the data.
    fn parse(r: &mut Reader<'a>, what: &'static str) -> Result<Self, ScanError> {
        Self::parse_with(r, what, false)
    }

    /// Like [`Columns::parse`], with deflated columns accepted when `deflated` is true.
    fn parse_with(r: &mut Reader<'a>, what: &'static str, deflated: bool) -> Result<Self, ScanError> {
        let count = r.uleb(what)?;
        // Each column's metadata takes at least two bytes.
        if count > r.remaining() as u64 / 2 {
            return Err(ScanError::Truncated(what));
        }
        let start = r.pos;
        let mut total: u64 = 0;
        let mut last: Option<u32> = None;
        for _ in 0..count {
            let spec = r.uleb(what)?;
            let spec = u32::try_from(spec).map_err(|_| ScanError::Malformed("column spec wider than 32 bits"))?;
            let len = r.uleb(what)?;
            if spec & DEFLATE_BIT != 0 && !deflated {
                return Err(ScanError::DeflatedColumn { spec });
            }
            let spec = spec & !DEFLATE_BIT;
            if last.is_some_and(|l| l > spec) {
                return Err(ScanError::Malformed("columns out of order"));
            }
            last = Some(spec);
            total = total.checked_add(len).ok_or(ScanError::Truncated(what))?;
        }
        let meta = &r.data[start..r.pos];
        let data = r.take(total, what)?;
        Ok(Columns { meta, count, data })
    }

    /// The columns as (spec, data), in order.
    fn iter(&self) -> impl Iterator<Item = (u32, &'a [u8])> + 'a {
        self.iter_raw().map(|(spec, data)| (spec & !DEFLATE_BIT, data))
    }

    /// The columns as (spec with its DEFLATE bit, data), in order.
    fn iter_raw(&self) -> impl Iterator<Item = (u32, &'a [u8])> + 'a {
        let mut meta = Reader::new(self.meta);
        let data = self.data;
        let mut offset = 0usize;
        // `parse` checked every entry and that the lengths add up to `data`.
        (0..self.count).map_while(move |_| {
            let spec = u32::try_from(meta.uleb("").ok()?).ok()?;
            let len = usize::try_from(meta.uleb("").ok()?).ok()?;
            let end = offset.checked_add(len)?;
            let column = data.get(offset..end)?;
            offset = end;
            Some((spec, column))
        })
    }
}

/// What walking one column found.
#[derive(Debug, Clone, Copy, Default)]
struct Summary {
    /// Rows, nulls included.
    rows: u64,
    /// Null rows.
    nulls: u64,
    /// For a group column the sum of its values (rows grouped); for value metadata the sum
    /// of the lengths (raw bytes declared). Saturating.
    sum: u64,
    /// Largest unsigned value (group, actor, integer, value metadata columns).
    max: Option<u64>,
    /// Largest value of a delta column.
    delta_max: Option<i64>,
}

impl Summary {
    fn add_rows(&mut self, n: u64, cap: u64, over: &ScanError) -> Result<(), ScanError> {
        self.rows = self.rows.saturating_add(n);
        if self.rows > cap { Err(over.clone()) } else { Ok(()) }
    }
}

/// Walks one column, counting its rows with one step per run or literal value, and stops
/// with `over` as soon as they pass `cap`. Validates every value's encoding.
fn walk_column(spec: u32, data: &[u8], cap: u64, over: ScanError) -> Result<Summary, ScanError> {
    let ty = col_type(spec);
    let mut s = Summary::default();
    let mut r = Reader::new(data);
    let e = |err: ScanError| column_error(spec, err);
    match ty {
        ColType::Value => {}
        ColType::Boolean => {
            while !r.is_empty() {
                let n = r.uleb("").map_err(e)?;
                s.add_rows(n, cap, &over)?;
            }
        }
        _ => {
            // Deltas accumulate from 0; every value a run produces must fit in i64.
            let mut absolute: i128 = 0;
            while !r.is_empty() {
                let count = r.sleb("").map_err(e)?;
                if count == 0 {
                    let n = r.uleb("").map_err(e)?;
                    s.add_rows(n, cap, &over)?;
                    s.nulls = s.nulls.saturating_add(n);
                    continue;
                }
                let (repeat, values) = if count > 0 { (count.unsigned_abs(), 1) } else { (1, count.unsigned_abs()) };
                // Check the rows before reading the values, so a huge literal run stops here.
                s.add_rows(repeat.saturating_mul(values), cap, &over)?;
                for _ in 0..values {
                    match ty {
                        ColType::Str => {
                            let bytes = r.length_prefixed("").map_err(e)?;
                            if std::str::from_utf8(bytes).is_err() {
                                return Err(ScanError::MalformedColumn { spec, reason: "string is not UTF-8" });
                            }
                        }
                        ColType::Delta => {
                            let delta = r.sleb("").map_err(e)?;
                            // rows <= cap < 2^32 and |delta| <= 2^63: no overflow in i128.
                            let first = absolute + i128::from(delta);
                            absolute += i128::from(delta) * i128::from(repeat);
                            // A run's values go one way: its largest is its first or its last.
                            let (Ok(first), Ok(last)) = (i64::try_from(first), i64::try_from(absolute)) else {
                                return Err(ScanError::MalformedColumn { spec, reason: "delta value outside i64" });
                            };
                            let high = first.max(last);
                            s.delta_max = Some(s.delta_max.map_or(high, |m| m.max(high)));
                        }
                        _ => {
                            let v = r.uleb("").map_err(e)?;
                            let counted = match ty {
                                ColType::ValueMeta => v >> 4,
                                ColType::Group => v,
                                _ => 0,
                            };
                            s.sum = s.sum.saturating_add(counted.saturating_mul(repeat));
                            s.max = Some(s.max.map_or(v, |m| m.max(v)));
                        }
                    }
                }
            }
        }
    }
    Ok(s)
}

/// Refuses an op counter column holding a value past `u32::MAX`: Automerge 0.12 keeps op
/// ids as two `u32`s and converts these counters with `unwrap` (`OpId::new`), a panic.
fn check_counters(spec: u32, summary: &Summary) -> Result<(), ScanError> {
    let highest = summary.max.map(i128::from).max(summary.delta_max.map(i128::from));
    if highest.is_some_and(|h| h > i128::from(u32::MAX)) {
        return Err(ScanError::MalformedColumn { spec, reason: "op counter wider than 32 bits" });
    }
    Ok(())
}

/// Names the column in an error from reading its data.
fn column_error(spec: u32, err: ScanError) -> ScanError {
    match err {
        ScanError::Truncated(_) => ScanError::ColumnTruncated { spec },
        ScanError::Malformed(reason) => ScanError::MalformedColumn { spec, reason },
        other => other,
    }
}

/// Reads one run-length encoded column row by row. Used only on columns whose rows were
/// already counted and capped by [`walk_column`].
struct Cursor<'a> {
    r: Reader<'a>,
    spec: u32,
    signed: bool,
    delta: bool,
    absolute: i128,
    left: u64,
    run: Run,
}

#[derive(Clone, Copy)]
enum Run {
    Repeat(i128),
    Literal,
    Null,
}

impl<'a> Cursor<'a> {
    fn rle(data: &'a [u8], spec: u32, signed: bool) -> Self {
        Cursor { r: Reader::new(data), spec, signed, delta: false, absolute: 0, left: 0, run: Run::Null }
    }

    fn delta(data: &'a [u8], spec: u32) -> Self {
        Cursor { delta: true, ..Self::rle(data, spec, true) }
    }

    fn value(&mut self) -> Result<i128, ScanError> {
        let e = |err| column_error(self.spec, err);
        Ok(if self.signed { i128::from(self.r.sleb("").map_err(e)?) } else { i128::from(self.r.uleb("").map_err(e)?) })
    }

    /// The next row: `None` at the end, `Some(None)` for a null.
    fn next(&mut self) -> Result<Option<Option<i128>>, ScanError> {
        while self.left == 0 {
            if self.r.is_empty() {
                return Ok(None);
            }
            let count = self.r.sleb("").map_err(|err| column_error(self.spec, err))?;
            if count > 0 {
                self.left = count.unsigned_abs();
                self.run = Run::Repeat(self.value()?);
            } else if count < 0 {
                self.left = count.unsigned_abs();
                self.run = Run::Literal;
            } else {
                self.left = self.r.uleb("").map_err(|err| column_error(self.spec, err))?;
                self.run = Run::Null;
            }
        }
        self.left -= 1;
        let v = match self.run {
            Run::Repeat(v) => v,
            Run::Literal => self.value()?,
            Run::Null => return Ok(Some(None)),
        };
        if self.delta {
            // walk_column checked every absolute value fits in i64.
            self.absolute += v;
            Ok(Some(Some(self.absolute)))
        } else {
            Ok(Some(Some(v)))
        }
    }
}

/// A cursor over bytes. Every read checks bounds and returns an error, never panics.
struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(data: &'a [u8]) -> Self {
        Reader { data, pos: 0 }
    }

    fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }

    fn is_empty(&self) -> bool {
        self.pos >= self.data.len()
    }

    fn rest(&self) -> &'a [u8] {
        &self.data[self.pos..]
    }

    fn take(&mut self, n: u64, what: &'static str) -> Result<&'a [u8], ScanError> {
        let n = usize::try_from(n).map_err(|_| ScanError::Truncated(what))?;
        if n > self.remaining() {
            return Err(ScanError::Truncated(what));
        }
        let out = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    fn skip(&mut self, n: u64, what: &'static str) -> Result<(), ScanError> {
        self.take(n, what).map(|_| ())
    }

    fn length_prefixed(&mut self, what: &'static str) -> Result<&'a [u8], ScanError> {
        let len = self.uleb(what)?;
        self.take(len, what)
    }

    fn byte(&mut self, what: &'static str) -> Result<u8, ScanError> {
        let b = *self.data.get(self.pos).ok_or(ScanError::Truncated(what))?;
        self.pos += 1;
        Ok(b)
    }

    /// Unsigned LEB128, at most 64 bits.
    fn uleb(&mut self, what: &'static str) -> Result<u64, ScanError> {
        let mut value: u64 = 0;
        for i in 0..10 {
            let b = self.byte(what)?;
            let bits = u64::from(b & 0x7f);
            if i == 9 && b > 1 {
                return Err(ScanError::Malformed("LEB128 wider than 64 bits"));
            }
            value |= bits << (7 * i);
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(ScanError::Malformed("LEB128 wider than 64 bits"))
    }

    /// Signed LEB128, at most 64 bits.
    fn sleb(&mut self, what: &'static str) -> Result<i64, ScanError> {
        let mut value: i64 = 0;
        for i in 0..10 {
            let b = self.byte(what)?;
            if i == 9 && b != 0x00 && b != 0x7f {
                return Err(ScanError::Malformed("LEB128 wider than 64 bits"));
            }
            value |= i64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                let shift = 7 * (i + 1);
                if shift < 64 && b & 0x40 != 0 {
                    value |= -1i64 << shift;
                }
                return Ok(value);
            }
        }
        Err(ScanError::Malformed("LEB128 wider than 64 bits"))
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::time::{Duration, Instant};

    use automerge::marks::{ExpandMark, Mark};
    use automerge::transaction::Transactable;
    use automerge::{AutoCommit, Change, ObjId, ObjType, ROOT, ReadDoc, ScalarValue};
    use proptest::prelude::*;

    use super::*;
    use crate::limits::AUTOMERGE_BUNDLE_BYTES_MAX;

    /// How long refusing an attack may take: 50 ms optimised, generous unoptimised.
    const QUICK: Duration = Duration::from_millis(if cfg!(debug_assertions) { 500 } else { 50 });

    fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration) {
        let t = Instant::now();
        let out = f();
        (out, t.elapsed())
    }

    // ---- documents from random edits ----

    #[derive(Debug, Clone)]
    enum Val {
        Str(String),
        Int(i64),
        Uint(u64),
        F64(f64),
        Bool(bool),
        Null,
        Bytes(Vec<u8>),
        Counter(i64),
        Timestamp(i64),
    }

    impl From<Val> for ScalarValue {
        fn from(v: Val) -> Self {
            match v {
                Val::Str(s) => ScalarValue::Str(s.into()),
                Val::Int(i) => ScalarValue::Int(i),
                Val::Uint(u) => ScalarValue::Uint(u),
                Val::F64(f) => ScalarValue::F64(f),
                Val::Bool(b) => ScalarValue::Boolean(b),
                Val::Null => ScalarValue::Null,
                Val::Bytes(b) => ScalarValue::Bytes(b),
                Val::Counter(c) => ScalarValue::counter(c),
                Val::Timestamp(t) => ScalarValue::Timestamp(t),
            }
        }
    }

    #[derive(Debug, Clone)]
    enum Edit {
        Put(u8, Val),
        PutObject(u8, u8),
        Delete(u8),
        Increment(i64),
        ListInsert(u16, Val),
        ListInsertObject(u16),
        ListDelete(u16, u16),
        Splice(u16, u16, String),
        BigInsert(u16, u16),
        DeleteAllText,
        Mark(u16, u16, u8),
        /// Another actor puts concurrently (a fork merged back): later puts get two preds.
        Concurrent(u8, Val, Val),
        Commit,
    }

    fn val() -> impl Strategy<Value = Val> {
        prop_oneof![
            ".{0,12}".prop_map(Val::Str),
            any::<i64>().prop_map(Val::Int),
            any::<u64>().prop_map(Val::Uint),
            any::<f64>().prop_map(Val::F64),
            any::<bool>().prop_map(Val::Bool),
            Just(Val::Null),
            proptest::collection::vec(any::<u8>(), 0..40).prop_map(Val::Bytes),
            any::<i32>().prop_map(|c| Val::Counter(c.into())),
            any::<i64>().prop_map(Val::Timestamp),
        ]
    }

    fn edit() -> impl Strategy<Value = Edit> {
        prop_oneof![
            4 => (0u8..6, val()).prop_map(|(k, v)| Edit::Put(k, v)),
            1 => (0u8..6, 0u8..3).prop_map(|(k, t)| Edit::PutObject(k, t)),
            1 => (0u8..6).prop_map(Edit::Delete),
            1 => (-100i64..100).prop_map(Edit::Increment),
            2 => (any::<u16>(), val()).prop_map(|(i, v)| Edit::ListInsert(i, v)),
            1 => any::<u16>().prop_map(Edit::ListInsertObject),
            1 => (any::<u16>(), 0u16..4).prop_map(|(i, n)| Edit::ListDelete(i, n)),
            3 => (any::<u16>(), 0u16..8, ".{0,16}").prop_map(|(i, d, s)| Edit::Splice(i, d, s)),
            1 => (any::<u16>(), 200u16..3000).prop_map(|(i, n)| Edit::BigInsert(i, n)),
            1 => Just(Edit::DeleteAllText),
            1 => (any::<u16>(), any::<u16>(), 0u8..3).prop_map(|(s, l, n)| Edit::Mark(s, l, n)),
            1 => (0u8..6, val(), val()).prop_map(|(k, a, b)| Edit::Concurrent(k, a, b)),
            3 => Just(Edit::Commit),
        ]
    }

    struct Doc {
        doc: AutoCommit,
        map: ObjId,
        list: ObjId,
        text: ObjId,
    }

    fn new_doc() -> Doc {
        let mut doc = AutoCommit::new();
        let map = doc.put_object(ROOT, "map", ObjType::Map).unwrap();
        let list = doc.put_object(ROOT, "list", ObjType::List).unwrap();
        let text = doc.put_object(ROOT, "text", ObjType::Text).unwrap();
        doc.put(ROOT, "n", ScalarValue::counter(0)).unwrap();
        doc.commit();
        Doc { doc, map, list, text }
    }

    fn key(k: u8) -> String {
        format!("k{k}")
    }

    fn apply(d: &mut Doc, e: Edit) {
        let Doc { doc, map, list, text } = d;
        let list_len = doc.length(&*list);
        let text_len = doc.length(&*text);
        match e {
            Edit::Put(k, v) => doc.put(&*map, key(k), ScalarValue::from(v)).unwrap(),
            Edit::PutObject(k, t) => {
                let ty = [ObjType::Map, ObjType::List, ObjType::Text][usize::from(t)];
                let obj = doc.put_object(ROOT, format!("o{k}"), ty).unwrap();
                match ty {
                    ObjType::Map => doc.put(&obj, "inner", 1).unwrap(),
                    ObjType::List => doc.insert(&obj, 0, "first").unwrap(),
                    _ => doc.splice_text(&obj, 0, 0, "nested").unwrap(),
                }
            }
            Edit::Delete(k) => {
                let _ = doc.delete(&*map, key(k));
            }
            Edit::Increment(by) => doc.increment(ROOT, "n", by).unwrap(),
            Edit::ListInsert(i, v) => {
                doc.insert(&*list, usize::from(i) % (list_len + 1), ScalarValue::from(v)).unwrap()
            }
            Edit::ListInsertObject(i) => {
                let obj = doc.insert_object(&*list, usize::from(i) % (list_len + 1), ObjType::Map).unwrap();
                doc.put(&obj, "x", true).unwrap();
            }
            Edit::ListDelete(i, n) => {
                if list_len > 0 {
                    let at = usize::from(i) % list_len;
                    let n = usize::from(n).min(list_len - at);
                    doc.splice(&*list, at, n as isize, Vec::<ScalarValue>::new()).unwrap();
                }
            }
            Edit::Splice(i, del, s) => {
                let at = usize::from(i) % (text_len + 1);
                let del = usize::from(del).min(text_len - at);
                doc.splice_text(&*text, at, del as isize, &s).unwrap();
            }
            Edit::BigInsert(i, n) => {
                let at = usize::from(i) % (text_len + 1);
                doc.splice_text(&*text, at, 0, &"lorem ipsum ".repeat(usize::from(n) / 12 + 1)).unwrap();
            }
            Edit::DeleteAllText => doc.splice_text(&*text, 0, text_len as isize, "").unwrap(),
            Edit::Mark(s, l, n) => {
                if text_len > 1 {
                    let start = usize::from(s) % (text_len - 1);
                    let end = (start + 1 + usize::from(l) % (text_len - start)).min(text_len);
                    let name = ["bold", "link", "comment"][usize::from(n)];
                    let mark = Mark::new(name.to_string(), true, start, end);
                    doc.mark(&*text, mark, ExpandMark::After).unwrap();
                }
            }
            Edit::Concurrent(k, a, b) => {
                doc.commit();
                let mut other = doc.fork();
                other.put(&*map, key(k), ScalarValue::from(a)).unwrap();
                other.commit();
                doc.put(&*map, key(k), ScalarValue::from(b)).unwrap();
                doc.commit();
                doc.merge(&mut other).unwrap();
            }
            Edit::Commit => {
                doc.commit();
            }
        }
    }

    fn doc_from(edits: Vec<Edit>) -> AutoCommit {
        let mut d = new_doc();
        for e in edits {
            apply(&mut d, e);
        }
        d.doc.commit();
        d.doc
    }

    /// What Automerge itself counts in a change.
    fn automerge_ops(c: &Change) -> u64 {
        let n = c.len() as u64;
        if n > 0 {
            assert_eq!(c.max_op() - c.start_op().get() + 1, n);
        }
        n
    }

    /// The bundle bytes exactly as `batch::encode_changes` takes them.
    fn bundle_bytes(doc: &mut AutoCommit, changes: &[Change]) -> Vec<u8> {
        doc.bundle(changes.iter().map(|c| c.hash())).unwrap().bytes().to_vec()
    }

    fn check_doc(doc: &mut AutoCommit) -> Result<(), TestCaseError> {
        let changes = doc.get_changes(&[]);
        for c in &changes {
            let scanned = scan_change(c.raw_bytes());
            prop_assert_eq!(
                scanned,
                Ok(Scanned { bytes: c.raw_bytes().len(), changes: 1, ops: automerge_ops(c) }),
                "change {:?}",
                c.hash()
            );
        }
        let total: u64 = changes.iter().map(automerge_ops).sum();
        let all = scan_changes(changes.iter().map(|c| c.raw_bytes())).unwrap();
        prop_assert_eq!(all.ops, total);
        prop_assert_eq!(all.changes, changes.len() as u64);

        // A bundle of all of them, and of the later half (with external dependencies).
        for part in [&changes[..], &changes[changes.len() / 2..]] {
            if part.len() < 2 {
                continue;
            }
            let wire = bundle_bytes(doc, part);
            let ops: u64 = part.iter().map(automerge_ops).sum();
            let plain = inflate_bundle(&wire, AUTOMERGE_BUNDLE_BYTES_MAX).unwrap();
            let expected = Scanned { bytes: plain.len(), changes: part.len() as u64, ops };
            prop_assert_eq!(scan_bundle(&plain), Ok(expected));
            // The wire form either has no deflated column and scans the same, or is refused.
            match scan_bundle(&wire) {
                Ok(s) => prop_assert_eq!(s, Scanned { bytes: wire.len(), ..expected }),
                Err(e) => prop_assert!(matches!(e, ScanError::DeflatedColumn { .. }), "{e}"),
            }
            // The inflated form is the same bundle to Automerge.
            let back = automerge::Bundle::try_from(plain.as_slice()).unwrap().to_changes().unwrap();
            prop_assert_eq!(
                back.iter().map(|c| c.hash()).collect::<Vec<_>>(),
                part.iter().map(|c| c.hash()).collect::<Vec<_>>()
            );
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

        #[test]
        fn every_change_and_bundle_automerge_writes_scans_with_its_op_count(
            edits in proptest::collection::vec(edit(), 1..40)
        ) {
            let mut doc = doc_from(edits);
            check_doc(&mut doc)?;
        }

        #[test]
        fn random_bytes_are_refused_quickly_without_panic(
            bytes in proptest::collection::vec(any::<u8>(), 0..2048),
            chunk_type in 0u8..5,
        ) {
            // As they are, and behind a valid header so the scan reaches the body.
            let mut framed = Vec::from(MAGIC);
            framed.extend([0, 0, 0, 0, chunk_type]);
            write_uleb(&mut framed, bytes.len() as u64);
            framed.extend(&bytes);
            for input in [&bytes, &framed] {
                let (_, took) = timed(|| (scan_change(input), scan_bundle(input)));
                prop_assert!(took < QUICK, "{took:?}");
                let _ = inflate_bundle(input, 1 << 16);
            }
        }

        #[test]
        fn mutated_changes_and_bundles_never_panic(
            edits in proptest::collection::vec(edit(), 1..12),
            flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        ) {
            let mut doc = doc_from(edits);
            let changes = doc.get_changes(&[]);
            let mut inputs: Vec<Vec<u8>> = changes.iter().map(|c| c.raw_bytes().to_vec()).collect();
            if changes.len() >= 2 {
                let wire = bundle_bytes(&mut doc, &changes);
                inputs.push(inflate_bundle(&wire, AUTOMERGE_BUNDLE_BYTES_MAX).unwrap());
            }
            for mut input in inputs {
                for (at, byte) in &flips {
                    let i = at.index(input.len());
                    input[i] = *byte;
                }
                // Rewrite the chunk length so the scan reaches the body.
                let input = reframe(&input);
                let (_, took) = timed(|| (scan_change(&input), scan_bundle(&input)));
                prop_assert!(took < QUICK, "{took:?}");
            }
        }
    }

    /// Rebuilds a chunk's header around its body so its length is right again.
    fn reframe(chunk: &[u8]) -> Vec<u8> {
        let mut r = Reader::new(chunk);
        if r.skip(9, "").is_err() || r.uleb("").is_err() {
            return chunk.to_vec();
        }
        with_body(chunk, r.rest())
    }

    fn with_body(chunk: &[u8], body: &[u8]) -> Vec<u8> {
        let mut out = chunk[..9].to_vec();
        write_uleb(&mut out, body.len() as u64);
        out.extend_from_slice(body);
        out
    }

    // ---- crafted attacks ----

    fn deflate(data: &[u8]) -> Vec<u8> {
        let mut z = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
        z.write_all(data).unwrap();
        z.finish().unwrap()
    }

    /// A DEFLATE stream of 16 MiB of zeros: about 16 KiB (built once, it is slow unoptimised).
    fn zeros_bomb() -> &'static [u8] {
        static BOMB: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
        BOMB.get_or_init(|| {
            let mut z = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
            let zeros = vec![0u8; 1 << 20];
            for _ in 0..16 {
                z.write_all(&zeros).unwrap();
            }
            z.finish().unwrap()
        })
    }

    /// The body of a chunk (after magic, checksum, type and length).
    fn body_of(chunk: &[u8]) -> &[u8] {
        let mut r = Reader::new(chunk);
        r.skip(9, "").unwrap();
        r.uleb("").unwrap();
        r.rest()
    }

    /// A compressed change chunk (type 2), as Automerge's `Compressed::compress` writes it.
    fn compressed_chunk(checksum: &[u8], deflated_body: &[u8]) -> Vec<u8> {
        let mut out = Vec::from(MAGIC);
        out.extend_from_slice(checksum);
        out.push(CHUNK_COMPRESSED_CHANGE);
        write_uleb(&mut out, deflated_body.len() as u64);
        out.extend_from_slice(deflated_body);
        out
    }

    fn text_change(insert: usize, delete: usize) -> Change {
        let mut d = new_doc();
        d.doc.splice_text(&d.text, 0, 0, &"x".repeat(insert)).unwrap();
        d.doc.commit();
        if delete > 0 {
            d.doc.splice_text(&d.text, 0, delete as isize, "").unwrap();
            d.doc.commit();
        }
        d.doc.get_last_local_change().unwrap()
    }

    #[test]
    fn compressed_changes_are_refused_even_real_ones_and_bombs() {
        let change = text_change(2000, 0);
        let raw = change.raw_bytes();
        let real = compressed_chunk(&raw[4..8], &deflate(body_of(raw)));
        // Automerge takes it: the construction is right.
        assert_eq!(Change::from_bytes(real.clone()).unwrap().hash(), change.hash());
        assert_eq!(scan_change(&real), Err(ScanError::CompressedChange));

        // 16 MiB of inflated garbage behind a 16 KiB chunk.
        let bomb = compressed_chunk(&raw[4..8], zeros_bomb());
        assert!(bomb.len() < 32 * 1024, "{}", bomb.len());
        let (result, took) = timed(|| scan_change(&bomb));
        assert_eq!(result, Err(ScanError::CompressedChange));
        assert!(took < QUICK, "{took:?}");
        // Neither is a bundle.
        assert_eq!(scan_bundle(&bomb), Err(ScanError::CompressedChange));
        assert_eq!(inflate_bundle(&bomb, 1 << 20), Err(ScanError::CompressedChange));
    }

    /// Rebuilds a bundle (uncompressed form) with its columns changed by `f`, which gets
    /// (set, spec, data) and returns (spec, data) or `None` to drop the column.
    fn rebuild_bundle(plain: &[u8], f: impl Fn(usize, u32, &[u8]) -> Option<(u32, Vec<u8>)>) -> Vec<u8> {
        let body = body_of(plain);
        let mut r = Reader::new(body);
        let deps = r.uleb("").unwrap();
        r.skip(deps * 32, "").unwrap();
        for _ in 0..r.uleb("").unwrap() {
            r.length_prefixed("").unwrap();
        }
        let mut out = body[..r.pos].to_vec();
        for set in 0..2 {
            let cols = Columns::parse(&mut r, "").unwrap();
            let new: Vec<(u32, Vec<u8>)> = cols.iter().filter_map(|(spec, data)| f(set, spec, data)).collect();
            write_uleb(&mut out, new.len() as u64);
            for (spec, data) in &new {
                write_uleb(&mut out, u64::from(*spec));
                write_uleb(&mut out, data.len() as u64);
            }
            for (_, data) in &new {
                out.extend_from_slice(data);
            }
        }
        with_body(plain, &out)
    }

    fn some_bundle() -> (Vec<u8>, Vec<Change>) {
        let mut d = new_doc();
        for i in 0..30 {
            d.doc.splice_text(&d.text, 0, 0, &format!("line {i} of some text\n")).unwrap();
            d.doc.put(&d.map, key(i % 4), i64::from(i)).unwrap();
            d.doc.commit();
        }
        let changes = d.doc.get_changes(&[]);
        let wire = bundle_bytes(&mut d.doc, &changes);
        (wire, changes)
    }

    #[test]
    fn bundles_with_deflated_columns_are_refused_and_inflate_is_capped() {
        let (wire, changes) = some_bundle();
        // Automerge's own output deflates its long columns.
        assert!(matches!(scan_bundle(&wire), Err(ScanError::DeflatedColumn { .. })));
        let plain = inflate_bundle(&wire, AUTOMERGE_BUNDLE_BYTES_MAX).unwrap();
        let ops: u64 = changes.iter().map(automerge_ops).sum();
        assert_eq!(scan_bundle(&plain).unwrap().ops, ops);

        // The value column replaced by 16 MiB of deflated zeros.
        let attack = rebuild_bundle(&plain, |set, spec, data| {
            Some(if set == 1 && spec == bundle::OP_VALUE {
                (spec | DEFLATE_BIT, zeros_bomb().to_vec())
            } else {
                (spec, data.to_vec())
            })
        });
        let (result, took) = timed(|| scan_bundle(&attack));
        assert_eq!(result, Err(ScanError::DeflatedColumn { spec: bundle::OP_VALUE | DEFLATE_BIT }));
        assert!(took < QUICK, "{took:?}");
        let (result, took) = timed(|| inflate_bundle(&attack, 1 << 20));
        assert_eq!(result, Err(ScanError::InflatesTooLarge { max: 1 << 20 }));
        assert!(took < QUICK * 4, "{took:?}"); // inflates 1 MiB
        // A stream that is not DEFLATE at all.
        let garbage = rebuild_bundle(&plain, |set, spec, data| {
            Some(if set == 1 && spec == bundle::OP_VALUE {
                (spec | DEFLATE_BIT, vec![0xff; 64])
            } else {
                (spec, data.to_vec())
            })
        });
        assert_eq!(
            inflate_bundle(&garbage, 1 << 20),
            Err(ScanError::BadDeflate { spec: bundle::OP_VALUE | DEFLATE_BIT })
        );
    }

    /// Rebuilds a change with its columns changed by `f` (spec, data) -> data.
    fn rebuild_change(raw: &[u8], f: impl Fn(u32, &[u8]) -> Vec<u8>) -> Vec<u8> {
        let body = body_of(raw);
        let mut r = Reader::new(body);
        let deps = r.uleb("").unwrap();
        r.skip(deps * 32, "").unwrap();
        r.length_prefixed("").unwrap();
        r.uleb("").unwrap();
        r.uleb("").unwrap();
        r.sleb("").unwrap();
        r.length_prefixed("").unwrap();
        for _ in 0..r.uleb("").unwrap() {
            r.length_prefixed("").unwrap();
        }
        let mut out = body[..r.pos].to_vec();
        let cols = Columns::parse(&mut r, "").unwrap();
        let new: Vec<(u32, Vec<u8>)> = cols.iter().map(|(spec, data)| (spec, f(spec, data))).collect();
        write_uleb(&mut out, new.len() as u64);
        for (spec, data) in &new {
            write_uleb(&mut out, u64::from(*spec));
            write_uleb(&mut out, data.len() as u64);
        }
        for (_, data) in &new {
            out.extend_from_slice(data);
        }
        out.extend_from_slice(r.rest());
        with_body(raw, &out)
    }

    fn write_sleb(out: &mut Vec<u8>, mut v: i64) {
        loop {
            let byte = (v & 0x7f) as u8;
            v >>= 7;
            if (v == 0 && byte & 0x40 == 0) || (v == -1 && byte & 0x40 != 0) {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }

    #[test]
    fn a_run_rewritten_to_two_to_the_forty_ops_is_refused() {
        let n = 5000;
        let change = text_change(n, n);
        assert_eq!(automerge_ops(&change), n as u64);
        assert!(change.raw_bytes().len() < 200, "{}", change.raw_bytes().len());
        assert_eq!(scan_change(change.raw_bytes()).unwrap().ops, n as u64);
        // The action column is one run: sLEB count 5000, uLEB value 3 (delete).
        let patched = rebuild_change(change.raw_bytes(), |spec, data| {
            if spec != CHANGE_ACTION {
                return data.to_vec();
            }
            let mut r = Reader::new(data);
            assert_eq!(r.sleb("").unwrap(), n as i64);
            let mut out = Vec::new();
            write_sleb(&mut out, 1 << 40);
            out.extend_from_slice(r.rest());
            out
        });
        let (result, took) = timed(|| scan_change(&patched));
        assert_eq!(result, Err(ScanError::TooManyOps { max: CHANGE_OPS_MAX }));
        assert!(took < QUICK, "{took:?}");

        // Every column's long runs at once, as a real attack would write them.
        let patched_all = rebuild_change(change.raw_bytes(), |spec, data| {
            let mut out = Vec::new();
            let mut r = Reader::new(data);
            match col_type(spec) {
                ColType::Boolean => {
                    while !r.is_empty() {
                        let c = r.uleb("").unwrap();
                        write_uleb(&mut out, if c >= 1000 { 1 << 40 } else { c });
                    }
                }
                ColType::Value => out.extend_from_slice(data),
                _ => {
                    while !r.is_empty() {
                        let start = r.pos;
                        let c = r.sleb("").unwrap();
                        if c >= 1000 {
                            write_sleb(&mut out, 1 << 40);
                            let v = r.pos;
                            let _ = if col_type(spec) == ColType::Delta {
                                r.sleb("").map(|_| ())
                            } else {
                                r.uleb("").map(|_| ())
                            };
                            out.extend_from_slice(&data[v..r.pos]);
                        } else {
                            // Copy the rest as it is.
                            out.extend_from_slice(&data[start..]);
                            break;
                        }
                    }
                }
            }
            out
        });
        let (result, took) = timed(|| scan_change(&patched_all));
        assert!(matches!(result, Err(ScanError::TooManyOps { .. } | ScanError::TooManyRows { .. })), "{result:?}");
        assert!(took < QUICK, "{took:?}");
    }

    #[test]
    fn truncations_at_every_byte_are_refused() {
        let mut doc = doc_from(vec![
            Edit::Put(1, Val::Str("hello".into())),
            Edit::Splice(0, 0, "some text here".into()),
            Edit::Commit,
            Edit::Concurrent(1, Val::Int(1), Val::Bytes(vec![1, 2, 3])),
            Edit::Mark(0, 4, 0),
            Edit::BigInsert(3, 400),
            Edit::Commit,
            Edit::Increment(5),
            Edit::DeleteAllText,
        ]);
        let changes = doc.get_changes(&[]);
        let (wire, _) = some_bundle();
        let plain = inflate_bundle(&wire, AUTOMERGE_BUNDLE_BYTES_MAX).unwrap();
        let mut chunks: Vec<Vec<u8>> = changes.iter().map(|c| c.raw_bytes().to_vec()).collect();
        chunks.push(plain);
        for chunk in &chunks {
            let bundle = chunk[8] == CHUNK_BUNDLE;
            let scan = |b: &[u8]| if bundle { scan_bundle(b) } else { scan_change(b) };
            assert!(scan(chunk).is_ok());
            let body_start = chunk.len() - body_of(chunk).len();
            for cut in 0..chunk.len() {
                let (result, took) = timed(|| scan(&chunk[..cut]));
                assert!(result.is_err(), "cut at {cut}");
                assert!(took < QUICK, "{took:?}");
                // The body cut with the header made to match: the scan goes deeper.
                if cut >= body_start {
                    let refit = with_body(chunk, &chunk[body_start..cut]);
                    assert!(scan(&refit).is_err(), "body cut at {cut}");
                }
            }
        }
    }

    #[test]
    fn other_chunk_types_and_trailing_bytes_are_refused() {
        let change = text_change(10, 0);
        let raw = change.raw_bytes();
        let mut doc_chunk = raw.to_vec();
        doc_chunk[8] = 0;
        assert_eq!(scan_change(&doc_chunk), Err(ScanError::WrongChunkType { found: 0, expected: 1 }));
        doc_chunk[8] = 9;
        assert_eq!(scan_change(&doc_chunk), Err(ScanError::WrongChunkType { found: 9, expected: 1 }));
        assert_eq!(scan_bundle(raw), Err(ScanError::WrongChunkType { found: 1, expected: 3 }));
        let mut long = raw.to_vec();
        long.push(0);
        assert_eq!(scan_change(&long), Err(ScanError::TrailingBytes("chunk")));
        let mut bad = raw.to_vec();
        bad[0] = 0;
        assert_eq!(scan_change(&bad), Err(ScanError::NotAutomerge));
        assert_eq!(scan_change(&[]), Err(ScanError::Truncated("chunk header")));
        // Two changes are not one.
        let two = [raw, raw].concat();
        assert!(scan_change(&two).is_err());
    }

    #[test]
    fn bundle_structure_breaking_automerge_assumptions_is_refused() {
        let (wire, _) = some_bundle();
        let plain = inflate_bundle(&wire, AUTOMERGE_BUNDLE_BYTES_MAX).unwrap();
        let replace = |set: usize, which: u32, new: Vec<u8>| {
            rebuild_bundle(&plain, |s, spec, data| {
                Some(if s == set && spec == which { (spec, new.clone()) } else { (spec, data.to_vec()) })
            })
        };
        let rle = |runs: &[(i64, u64)]| {
            let mut out = Vec::new();
            for &(count, value) in runs {
                write_sleb(&mut out, count);
                write_uleb(&mut out, value);
            }
            out
        };
        // An action Automerge's decoder would panic on.
        let ops = scan_bundle(&plain).unwrap().ops as i64;
        let bad_action = replace(1, bundle::OP_ACTION, rle(&[(ops, 9)]));
        assert_eq!(
            scan_bundle(&bad_action),
            Err(ScanError::MalformedColumn { spec: bundle::OP_ACTION, reason: "unknown action" })
        );
        // An actor index past the actor list.
        let bad_actor = replace(1, bundle::OP_ID_ACTOR, rle(&[(ops, 7)]));
        assert!(matches!(scan_bundle(&bad_actor), Err(ScanError::MalformedColumn { spec: bundle::OP_ID_ACTOR, .. })));
        // A change claiming more ops than the bundle holds.
        let changes = scan_bundle(&plain).unwrap().changes as i64;
        let mut max = Vec::new();
        write_sleb(&mut max, 1);
        write_sleb(&mut max, 1 << 40);
        let bad_range = replace(0, bundle::CH_MAX_OP, max);
        assert!(scan_bundle(&bad_range).is_err());
        // A dependency on a later change of the bundle (Automerge unwraps that lookup).
        let mut counts = Vec::new();
        write_sleb(&mut counts, changes);
        write_uleb(&mut counts, 1);
        let mut deps = Vec::new();
        write_sleb(&mut deps, 1);
        write_sleb(&mut deps, 5);
        write_sleb(&mut deps, changes - 1);
        write_sleb(&mut deps, 0);
        let forward = rebuild_bundle(&plain, |s, spec, data| match (s, spec) {
            (0, bundle::CH_DEP_COUNT) => Some((spec, counts.clone())),
            (0, bundle::CH_DEPS) => Some((spec, deps.clone())),
            _ => Some((spec, data.to_vec())),
        });
        assert_eq!(
            scan_bundle(&forward),
            Err(ScanError::Malformed("bundle change dependency names no earlier change"))
        );
        // Declared counts Automerge allocates for: `Bundle::try_from` asks for 8 TiB and
        // aborts the process on this dependency count (no panic to catch).
        let mut counts = Vec::new();
        write_sleb(&mut counts, changes);
        write_uleb(&mut counts, 1 << 40);
        let huge_deps = replace(0, bundle::CH_DEP_COUNT, counts);
        assert_eq!(
            scan_bundle(&huge_deps),
            Err(ScanError::TooManyRows { spec: bundle::CH_DEP_COUNT, max: CHANGES_MAX })
        );
        let mut counts = Vec::new();
        write_sleb(&mut counts, ops);
        write_uleb(&mut counts, 1 << 40);
        let huge_preds = replace(1, bundle::OP_PRED_COUNT, counts);
        assert_eq!(
            scan_bundle(&huge_preds),
            Err(ScanError::TooManyRows { spec: bundle::OP_PRED_COUNT, max: BATCH_OPS_MAX })
        );
        // Invalid UTF-8 in a string column (Automerge's bundle decoder reads strings unchecked).
        let mut bad_str = Vec::new();
        write_sleb(&mut bad_str, ops);
        write_uleb(&mut bad_str, 2);
        bad_str.extend([0xc3, 0x28]);
        let bad_utf8 = replace(1, bundle::OP_KEY_STR, bad_str);
        assert!(matches!(
            scan_bundle(&bad_utf8),
            Err(ScanError::MalformedColumn { reason: "string is not UTF-8", .. })
        ));
        // A delta column running past i64.
        let mut big = Vec::new();
        write_sleb(&mut big, 3);
        write_sleb(&mut big, i64::MAX / 2);
        let overflow = replace(1, bundle::OP_KEY_CTR, big);
        assert!(matches!(
            scan_bundle(&overflow),
            Err(ScanError::MalformedColumn { reason: "delta value outside i64", .. })
        ));
        // Extra bytes declared past their column (Automerge splits there unchecked).
        let extra = rebuild_bundle(&plain, |s, spec, data| match (s, spec) {
            (0, bundle::CH_EXTRA_COUNT) => None,
            (0, bundle::CH_EXTRA) => None,
            _ => Some((spec, data.to_vec())),
        });
        assert!(scan_bundle(&extra).is_ok());
        let mut counts = Vec::new();
        write_sleb(&mut counts, changes);
        write_uleb(&mut counts, 3);
        let extra = rebuild_bundle(&plain, |s, spec, data| match (s, spec) {
            (0, bundle::CH_EXTRA_COUNT) => Some((spec, counts.clone())),
            _ => Some((spec, data.to_vec())),
        });
        assert!(matches!(scan_bundle(&extra), Err(ScanError::MalformedColumn { spec: bundle::CH_EXTRA, .. })));
    }

    #[test]
    fn leb128_reading_matches_the_format() {
        let mut r = Reader::new(&[0xe5, 0x8e, 0x26]);
        assert_eq!(r.uleb("").unwrap(), 624_485);
        let mut r = Reader::new(&[0xc0, 0xbb, 0x78]);
        assert_eq!(r.sleb("").unwrap(), -123_456);
        for v in [0, 1, -1, 63, -64, 64, -65, i64::MAX, i64::MIN] {
            let mut out = Vec::new();
            write_sleb(&mut out, v);
            assert_eq!(Reader::new(&out).sleb("").unwrap(), v);
        }
        for v in [0, 127, 128, u64::MAX] {
            let mut out = Vec::new();
            write_uleb(&mut out, v);
            assert_eq!(Reader::new(&out).uleb("").unwrap(), v);
        }
        assert!(Reader::new(&[0xff; 10]).uleb("").is_err());
        assert!(Reader::new(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02]).uleb("").is_err());
        assert!(Reader::new(&[0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01]).sleb("").is_err());
        assert!(Reader::new(&[0x80]).uleb("").is_err());
    }

    /// Re-encodes one run-length or boolean column with its `which`-th number (a run
    /// count, a null count or a value) replaced by `new`: well formed, but saying
    /// something else.
    fn tweak_column(spec: u32, data: &[u8], which: usize, new: i64) -> Vec<u8> {
        let ty = col_type(spec);
        if matches!(ty, ColType::Value | ColType::Str) {
            return data.to_vec();
        }
        let mut nums: Vec<(bool, i64)> = Vec::new(); // (signed, value) in order
        let mut r = Reader::new(data);
        while !r.is_empty() {
            if ty == ColType::Boolean {
                nums.push((false, r.uleb("").unwrap() as i64));
                continue;
            }
            let count = r.sleb("").unwrap();
            nums.push((true, count));
            if count == 0 {
                nums.push((false, r.uleb("").unwrap() as i64));
                continue;
            }
            for _ in 0..if count > 0 { 1 } else { -count } {
                let v = if ty == ColType::Delta {
                    (true, r.sleb("").unwrap())
                } else {
                    (false, r.uleb("").unwrap() as i64)
                };
                nums.push(v);
            }
        }
        if nums.is_empty() {
            return data.to_vec();
        }
        let k = which % nums.len();
        nums[k].1 = if nums[k].0 { new } else { new.abs() };
        let mut out = Vec::new();
        for (signed, v) in nums {
            if signed { write_sleb(&mut out, v) } else { write_uleb(&mut out, v as u64) }
        }
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

        /// What passes the scan, Automerge decodes without panicking and quickly: changes
        /// with `Change::from_bytes`, bundles with `Bundle::try_from`. (`Bundle::to_changes`
        /// still panics on some bundles whose op ids disagree with their changes, which the
        /// scan does not check: see the module docs.)
        #[test]
        fn what_scans_automerge_decodes_without_panic(
            edits in proptest::collection::vec(edit(), 2..12),
            column in any::<prop::sample::Index>(),
            which in any::<usize>(),
            new in -4i64..12,
            flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..3),
        ) {
            let mut doc = doc_from(edits);
            let changes = doc.get_changes(&[]);
            let raw = changes[column.index(changes.len())].raw_bytes();
            let target = column.index(16) as u32;
            let mut inputs = vec![rebuild_change(raw, |spec, data| {
                if col_id(spec) == target { tweak_column(spec, data, which, new) } else { data.to_vec() }
            })];
            let wire = bundle_bytes(&mut doc, &changes);
            let plain = inflate_bundle(&wire, AUTOMERGE_BUNDLE_BYTES_MAX).unwrap();
            let (set, target) = (which % 2, column.index(17));
            let seen = std::cell::Cell::new(0);
            inputs.push(rebuild_bundle(&plain, |s, spec, data| {
                if s == set {
                    seen.set(seen.get() + 1);
                    if seen.get() == target + 1 {
                        return Some((spec, tweak_column(spec, data, which / 2, new)));
                    }
                }
                Some((spec, data.to_vec()))
            }));
            for mut input in inputs {
                let body = input.len() - body_of(&input).len();
                for (at, byte) in &flips {
                    let i = body + at.index(input.len() - body);
                    input[i] = *byte;
                }
                let input = reframe(&input);
                let t = Instant::now();
                if input[8] == CHUNK_BUNDLE {
                    if scan_bundle(&input).is_ok() {
                        let _ = automerge::Bundle::try_from(input.as_slice());
                    }
                } else if scan_change(&input).is_ok() {
                    let _ = Change::from_bytes(input);
                }
                prop_assert!(t.elapsed() < QUICK * 4, "{:?}", t.elapsed());
            }
        }
    }

    /// The measurement behind [`CHANGE_OPS_MAX`] and [`BATCH_OPS_MAX`]: what one change of
    /// `BATCH_OPS_MAX` ops costs its receiver to decode and apply. Run optimised:
    /// `cargo test --release --lib change_scan::tests::measure -- --ignored --nocapture`.
    #[test]
    #[ignore = "a measurement, not a check: run it optimised"]
    fn measure_decode_and_apply_cost_per_op() {
        let n = BATCH_OPS_MAX as usize;
        for kind in ["insert text", "delete text", "put map keys"] {
            let mut d = new_doc();
            if kind == "delete text" {
                d.doc.splice_text(&d.text, 0, 0, &"x".repeat(n)).unwrap();
                d.doc.commit();
            }
            let base = d.doc.get_changes(&[]);
            match kind {
                "insert text" => d.doc.splice_text(&d.text, 0, 0, &"word ".repeat(n / 5)).unwrap(),
                "delete text" => d.doc.splice_text(&d.text, 0, n as isize, "").unwrap(),
                _ => (0..n).for_each(|i| d.doc.put(&d.map, format!("k{i}"), i as i64).unwrap()),
            }
            d.doc.commit();
            let raw = d.doc.get_last_local_change().unwrap().raw_bytes().to_vec();
            let mut receiver = AutoCommit::new();
            receiver.apply_changes(base).unwrap();
            let (scanned, scan) = timed(|| scan_change(&raw).unwrap());
            let (change, decode) = timed(|| Change::from_bytes(raw.clone()).unwrap());
            let ((), apply) = timed(|| receiver.apply_changes([change]).unwrap());
            let per_op = (decode + apply).as_secs_f64() * 1e6 / scanned.ops as f64;
            eprintln!(
                "{kind}: {} ops in {} bytes: scan {scan:?}, decode {decode:?}, apply {apply:?}, {per_op:.2} us/op",
                scanned.ops,
                raw.len()
            );
        }
    }

    /// Found by the `change_scan` fuzz target: a change whose key counter (`0x13`) or
    /// object counter (`0x02`) is past `u32::MAX` passed the scan, and
    /// `Change::from_bytes` panicked (`OpId::new` unwraps the conversion to `u32`).
    #[test]
    fn op_counters_past_32_bits_are_refused() {
        let hex = |parts: &[&str]| data_encoding::HEXLOWER.decode(parts.concat().as_bytes()).unwrap();
        let key_counter = hex(&[
            "856f4a8397c85868018501001091a6e9ec9b4d00244482769513ac1ee001014000000c010402081102130a1510340342",
            "07560b570e700471027302006308000600020000000000100002001efefffffffff80000feff00000000000000000000",
            "0000002508030701fe02040801140a7f167c6627000600007ffd017f01000502000000bb6aece0ff0000000000637f04",
        ]);
        let obj_counter = hex(&[
            "856f4a8395c85868018501001091a6e9ec82bb7600da9b449513ac1ee001010000000c010402081104130a1510340342",
            "07560b570e7004710273020000030004fffffffffffa0100040200000322007f0504017f7b7d046c6973740474000900",
            "0000300000fd07017e020c080103007c7f0202000000000000000307017e0204c36830a16c6c6f200a007f017f007f04",
        ]);
        for (bytes, spec) in [(key_counter, 0x13), (obj_counter, 0x02)] {
            assert_eq!(
                scan_change(&bytes),
                Err(ScanError::MalformedColumn { spec, reason: "op counter wider than 32 bits" })
            );
        }
    }
}
