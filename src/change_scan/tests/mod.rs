//! The scan against what Automerge writes and against crafted attacks.
//! (Compiled only in tests: `#[cfg(test)] mod tests;` in `mod.rs`.)
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
        Edit::ListInsert(i, v) => doc.insert(&*list, usize::from(i) % (list_len + 1), ScalarValue::from(v)).unwrap(),
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

mod attacks;
