//! Reading Automerge's columns: chunk headers, column metadata, run-length encodings;
//! every read bounds-checked, every row count capped.

use super::*;

/// Checks the chunk header and returns the body: magic, checksum, `expected` chunk type,
/// uLEB length equal to what follows.
pub(super) fn chunk_body(bytes: &[u8], expected: u8) -> Result<&[u8], ScanError> {
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
pub(super) const CHANGE_ACTION: u32 = 0x42;

/// The op counter columns of a change chunk: object (integer), key and predecessor
/// (delta). Each value must fit in a `u32`.
pub(super) const CHANGE_COUNTERS: [u32; 3] = [0x02, 0x13, 0x73];

/// Column specs of the bundle chunk (Automerge 0.12, `storage/bundle/builder.rs`).
pub(super) mod bundle {
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
pub(super) struct BundleChangeCols<'a> {
    pub(super) changes: u64,
    pub(super) start_op: &'a [u8],
    pub(super) max_op: &'a [u8],
    pub(super) dep_count: &'a [u8],
    pub(super) deps: &'a [u8],
}

impl BundleChangeCols<'_> {
    /// Walks the change rows (at most [`BATCH_CHANGES_MAX`], and their dependencies at
    /// most as many again, both checked before) and returns the ops they declare.
    pub(super) fn walk(&self, external: u64) -> Result<u64, ScanError> {
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
pub(super) enum ColType {
    Group,
    Actor,
    Integer,
    Delta,
    Boolean,
    Str,
    ValueMeta,
    Value,
}

pub(super) fn col_type(spec: u32) -> ColType {
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

pub(super) fn col_id(spec: u32) -> u32 {
    spec >> 4
}

/// A parsed column metadata block and the column data after it. Holds only slices.
pub(super) struct Columns<'a> {
    pub(super) meta: &'a [u8],
    pub(super) count: u64,
    pub(super) data: &'a [u8],
}

impl<'a> Columns<'a> {
    /// Parses column metadata: checks it, refuses deflated columns, and takes the data.
    pub(super) fn parse(r: &mut Reader<'a>, what: &'static str) -> Result<Self, ScanError> {
        Self::parse_with(r, what, false)
    }

    /// Like [`Columns::parse`], with deflated columns accepted when `deflated` is true.
    pub(super) fn parse_with(r: &mut Reader<'a>, what: &'static str, deflated: bool) -> Result<Self, ScanError> {
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
    pub(super) fn iter(&self) -> impl Iterator<Item = (u32, &'a [u8])> + 'a {
        self.iter_raw().map(|(spec, data)| (spec & !DEFLATE_BIT, data))
    }

    /// The columns as (spec with its DEFLATE bit, data), in order.
    pub(super) fn iter_raw(&self) -> impl Iterator<Item = (u32, &'a [u8])> + 'a {
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
pub(super) struct Summary {
    /// Rows, nulls included.
    pub(super) rows: u64,
    /// Null rows.
    pub(super) nulls: u64,
    /// For a group column the sum of its values (rows grouped); for value metadata the sum
    /// of the lengths (raw bytes declared). Saturating.
    pub(super) sum: u64,
    /// Largest unsigned value (group, actor, integer, value metadata columns).
    pub(super) max: Option<u64>,
    /// Largest value of a delta column.
    pub(super) delta_max: Option<i64>,
}

impl Summary {
    pub(super) fn add_rows(&mut self, n: u64, cap: u64, over: &ScanError) -> Result<(), ScanError> {
        self.rows = self.rows.saturating_add(n);
        if self.rows > cap { Err(over.clone()) } else { Ok(()) }
    }
}

/// Walks one column, counting its rows with one step per run or literal value, and stops
/// with `over` as soon as they pass `cap`. Validates every value's encoding.
pub(super) fn walk_column(spec: u32, data: &[u8], cap: u64, over: ScanError) -> Result<Summary, ScanError> {
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
pub(super) fn check_counters(spec: u32, summary: &Summary) -> Result<(), ScanError> {
    let highest = summary.max.map(i128::from).max(summary.delta_max.map(i128::from));
    if highest.is_some_and(|h| h > i128::from(u32::MAX)) {
        return Err(ScanError::MalformedColumn { spec, reason: "op counter wider than 32 bits" });
    }
    Ok(())
}

/// Names the column in an error from reading its data.
pub(super) fn column_error(spec: u32, err: ScanError) -> ScanError {
    match err {
        ScanError::Truncated(_) => ScanError::ColumnTruncated { spec },
        ScanError::Malformed(reason) => ScanError::MalformedColumn { spec, reason },
        other => other,
    }
}

/// Reads one run-length encoded column row by row. Used only on columns whose rows were
/// already counted and capped by [`walk_column`].
pub(super) struct Cursor<'a> {
    pub(super) r: Reader<'a>,
    pub(super) spec: u32,
    pub(super) signed: bool,
    pub(super) delta: bool,
    pub(super) absolute: i128,
    pub(super) left: u64,
    pub(super) run: Run,
}

#[derive(Clone, Copy)]
pub(super) enum Run {
    Repeat(i128),
    Literal,
    Null,
}

impl<'a> Cursor<'a> {
    pub(super) fn rle(data: &'a [u8], spec: u32, signed: bool) -> Self {
        Cursor { r: Reader::new(data), spec, signed, delta: false, absolute: 0, left: 0, run: Run::Null }
    }

    pub(super) fn delta(data: &'a [u8], spec: u32) -> Self {
        Cursor { delta: true, ..Self::rle(data, spec, true) }
    }

    pub(super) fn value(&mut self) -> Result<i128, ScanError> {
        let e = |err| column_error(self.spec, err);
        Ok(if self.signed { i128::from(self.r.sleb("").map_err(e)?) } else { i128::from(self.r.uleb("").map_err(e)?) })
    }

    /// The next row: `None` at the end, `Some(None)` for a null.
    pub(super) fn next(&mut self) -> Result<Option<Option<i128>>, ScanError> {
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
pub(super) struct Reader<'a> {
    pub(super) data: &'a [u8],
    pub(super) pos: usize,
}

impl<'a> Reader<'a> {
    pub(super) fn new(data: &'a [u8]) -> Self {
        Reader { data, pos: 0 }
    }

    pub(super) fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }

    pub(super) fn is_empty(&self) -> bool {
        self.pos >= self.data.len()
    }

    pub(super) fn rest(&self) -> &'a [u8] {
        &self.data[self.pos..]
    }

    pub(super) fn take(&mut self, n: u64, what: &'static str) -> Result<&'a [u8], ScanError> {
        let n = usize::try_from(n).map_err(|_| ScanError::Truncated(what))?;
        if n > self.remaining() {
            return Err(ScanError::Truncated(what));
        }
        let out = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    pub(super) fn skip(&mut self, n: u64, what: &'static str) -> Result<(), ScanError> {
        self.take(n, what).map(|_| ())
    }

    pub(super) fn length_prefixed(&mut self, what: &'static str) -> Result<&'a [u8], ScanError> {
        let len = self.uleb(what)?;
        self.take(len, what)
    }

    pub(super) fn byte(&mut self, what: &'static str) -> Result<u8, ScanError> {
        let b = *self.data.get(self.pos).ok_or(ScanError::Truncated(what))?;
        self.pos += 1;
        Ok(b)
    }

    /// Unsigned LEB128, at most 64 bits.
    pub(super) fn uleb(&mut self, what: &'static str) -> Result<u64, ScanError> {
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
    pub(super) fn sleb(&mut self, what: &'static str) -> Result<i64, ScanError> {
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
