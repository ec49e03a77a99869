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

mod columns;
use columns::*;

#[cfg(test)]
mod tests;
