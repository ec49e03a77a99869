//! Crafted attacks on the scan: compressed chunks, run-length floods, counters past
//! their range, mutated columns; and what passes the scan, Automerge decodes.

use super::*;
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
    assert_eq!(inflate_bundle(&garbage, 1 << 20), Err(ScanError::BadDeflate { spec: bundle::OP_VALUE | DEFLATE_BIT }));
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
    assert_eq!(scan_bundle(&forward), Err(ScanError::Malformed("bundle change dependency names no earlier change")));
    // Declared counts Automerge allocates for: `Bundle::try_from` asks for 8 TiB and
    // aborts the process on this dependency count (no panic to catch).
    let mut counts = Vec::new();
    write_sleb(&mut counts, changes);
    write_uleb(&mut counts, 1 << 40);
    let huge_deps = replace(0, bundle::CH_DEP_COUNT, counts);
    assert_eq!(scan_bundle(&huge_deps), Err(ScanError::TooManyRows { spec: bundle::CH_DEP_COUNT, max: CHANGES_MAX }));
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
    assert!(matches!(scan_bundle(&bad_utf8), Err(ScanError::MalformedColumn { reason: "string is not UTF-8", .. })));
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
            let v =
                if ty == ColType::Delta { (true, r.sleb("").unwrap()) } else { (false, r.uleb("").unwrap() as i64) };
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
