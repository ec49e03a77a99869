//! The wiki's layout: an index document per community (page names) and one document per
//! page, whose text is a list of lines.
//!
//! Why lines, not Automerge Text: Text costs an operation (and its memory) per character;
//! a list of lines costs one per line, so a 5 MB page loads in tens of MiB
//! (`benches/big_docs.rs`). Concurrent edits of different lines merge;
//! concurrent edits of one line keep one of them (the other stays in the history).
//!
//! Page document: root `name` (the page's name) and `lines` (a list of strings, each a
//! line with its `\n`, lines over [`LINE_BYTES_MAX`] cut at character boundaries).
//! Index document: root `index/<name>` = the page id (text).

use std::time::{Duration, Instant};

use automerge::transaction::Transactable;
use automerge::{AutoCommit, AutomergeError, ObjId, ObjType, ROOT, ReadDoc, ScalarValue, Value};
use similar::{Algorithm, DiffOp};

use crate::doc::PageId;
use crate::limits::{LINE_BYTES_MAX, OPS_PER_CHANGE, WIKI_DIFF_SECS_MAX};

const INDEX_PREFIX: &str = "index/";

/// The message of a commit that one edit's next commit continues (a big edit is several
/// changes; the page's history shows it as one version).
pub const EDIT_GOES_ON: &str = "part";

/// The page's text cut into the elements of its `lines` list.
pub fn lines_of(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    for line in text.split_inclusive('\n') {
        let mut rest = line;
        while rest.len() > LINE_BYTES_MAX {
            let mut cut = LINE_BYTES_MAX;
            while !rest.is_char_boundary(cut) {
                cut -= 1;
            }
            out.push(&rest[..cut]);
            rest = &rest[cut..];
        }
        out.push(rest);
    }
    out
}

fn string(v: Option<(Value<'_>, automerge::ObjId)>) -> Option<String> {
    match v? {
        (Value::Scalar(s), _) => match s.as_ref() {
            ScalarValue::Str(t) => Some(t.to_string()),
            _ => None,
        },
        _ => None,
    }
}

/// The page's current lines (empty for a new page).
fn current(doc: &AutoCommit) -> Result<(Option<automerge::ObjId>, Vec<String>), automerge::AutomergeError> {
    let Some((Value::Object(ObjType::List), list)) = doc.get(ROOT, "lines")? else { return Ok((None, Vec::new())) };
    let lines = doc
        .list_range(&list, ..)
        .map(|item| match item.value {
            automerge::ValueRef::Scalar(automerge::ScalarValueRef::Str(t)) => t.into_owned(),
            _ => String::new(),
        })
        .collect();
    Ok((Some(list), lines))
}

/// Writes page `name`'s text as a diff of lines against what the page holds, so
/// concurrent edits of other lines survive the merge. Commits every `OPS_PER_CHANGE`
/// operations (no change is bigger than other nodes accept), each commit stamped with
/// `at_unix_s` so the page's history shows one edit as one version.
pub fn put_body(doc: &mut AutoCommit, name: &str, text: &str, at_unix_s: i64) -> Result<(), automerge::AutomergeError> {
    if string(doc.get(ROOT, "name")?).as_deref() != Some(name) {
        doc.put(ROOT, "name", name)?;
    }
    let (list, old) = current(doc)?;
    let list = match list {
        Some(l) => l,
        None => doc.put_object(ROOT, "lines", ObjType::List)?,
    };
    let new = lines_of(text);
    let old_refs: Vec<&str> = old.iter().map(String::as_str).collect();
    // A deadline bounds the worst case (two long, unrelated texts): past it, the diff is
    // coarser, never wrong.
    let deadline = Instant::now() + Duration::from_secs(WIKI_DIFF_SECS_MAX);
    let ops = similar::capture_diff_slices_deadline(Algorithm::Myers, &old_refs, &new, Some(deadline));
    let mut budget = Budget(0, at_unix_s);
    // The list always holds `new[..at]` followed by the rest of `old`: each op works at
    // its new index.
    for op in ops {
        match op {
            DiffOp::Equal { .. } => {}
            DiffOp::Delete { old_len, new_index, .. } => budget.delete(doc, &list, new_index, old_len)?,
            DiffOp::Insert { new_index, new_len, .. } => {
                budget.insert(doc, &list, new_index, &new[new_index..new_index + new_len])?
            }
            DiffOp::Replace { old_len, new_index, new_len, .. } => {
                let common = old_len.min(new_len);
                for k in 0..common {
                    doc.put(&list, new_index + k, new[new_index + k])?;
                    budget.spend(doc, 1);
                }
                budget.delete(doc, &list, new_index + common, old_len - common)?;
                budget.insert(doc, &list, new_index + common, &new[new_index + common..new_index + new_len])?;
            }
        }
    }
    Ok(())
}

/// Operations made since the last commit: a commit every `OPS_PER_CHANGE`, so no change
/// is bigger than other nodes accept; and the edit's time, for each commit.
struct Budget(usize, i64);

impl Budget {
    fn spend(&mut self, doc: &mut AutoCommit, n: usize) {
        self.0 += n;
        if self.0 >= OPS_PER_CHANGE {
            let part = automerge::transaction::CommitOptions::default().with_time(self.1).with_message(EDIT_GOES_ON);
            doc.commit_with(part);
            self.0 = 0;
        }
    }

    fn room(&self) -> usize {
        OPS_PER_CHANGE - self.0
    }

    fn delete(&mut self, doc: &mut AutoCommit, list: &ObjId, at: usize, mut n: usize) -> Result<(), AutomergeError> {
        while n > 0 {
            let k = n.min(self.room());
            doc.splice(list, at, k as isize, std::iter::empty::<ScalarValue>())?;
            self.spend(doc, k);
            n -= k;
        }
        Ok(())
    }

    fn insert(&mut self, doc: &mut AutoCommit, list: &ObjId, at: usize, lines: &[&str]) -> Result<(), AutomergeError> {
        let mut done = 0;
        while done < lines.len() {
            let k = (lines.len() - done).min(self.room());
            let values = lines[done..done + k].iter().map(|l| ScalarValue::Str((*l).into()));
            doc.splice(list, at + done, 0, values)?;
            self.spend(doc, k);
            done += k;
        }
        Ok(())
    }
}

/// The page's text, if the document holds one.
pub fn read_body(doc: &AutoCommit) -> Option<String> {
    let (list, lines) = current(doc).ok()?;
    list.map(|_| lines.concat())
}

/// Whether the index lists page `name`.
pub fn indexed(doc: &AutoCommit, name: &str) -> bool {
    doc.get(ROOT, format!("{INDEX_PREFIX}{name}").as_str()).ok().flatten().is_some()
}

/// Lists page `name` (with its id) in the index.
pub fn index_put(doc: &mut AutoCommit, name: &str, page: &PageId) -> Result<(), automerge::AutomergeError> {
    doc.put(ROOT, format!("{INDEX_PREFIX}{name}"), page.to_string())
}

/// The names the index lists.
pub fn index_names(doc: &AutoCommit) -> Vec<String> {
    doc.keys(ROOT).filter_map(|k| k.strip_prefix(INDEX_PREFIX).map(str::to_string)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_round_trips_and_long_lines_are_cut_on_character_boundaries() {
        let mut d = AutoCommit::new();
        let long = "é".repeat(LINE_BYTES_MAX); // 2 bytes each
        let text = format!("first\n{long}\nlast line without end");
        put_body(&mut d, "Wells", &text, 0).unwrap();
        assert_eq!(read_body(&d).as_deref(), Some(text.as_str()));
        assert!(lines_of(&text).iter().all(|l| l.len() <= LINE_BYTES_MAX));
        assert_eq!(lines_of(&text).len(), 1 + 2 + 1 + 1);
        put_body(&mut d, "Wells", "", 0).unwrap();
        assert_eq!(read_body(&d).as_deref(), Some(""));
    }

    #[test]
    fn concurrent_edits_of_different_lines_merge() {
        let mut a = AutoCommit::new();
        put_body(&mut a, "Wells", "one\ntwo\nthree\nfour\n", 0).unwrap();
        let mut b = a.fork();
        put_body(&mut a, "Wells", "one, by A\ntwo\nthree\nfour\n", 0).unwrap();
        put_body(&mut b, "Wells", "one\ntwo\nthree\nfour, by B\nfive\n", 0).unwrap();
        a.merge(&mut b).unwrap();
        assert_eq!(read_body(&a).unwrap(), "one, by A\ntwo\nthree\nfour, by B\nfive\n");
    }

    #[test]
    fn every_kind_of_edit_gives_exactly_the_new_text() {
        let texts = ["", "a\n", "a\nb\nc\n", "x\na\nc\nd\n", "c\nd\na\nb\n", "a\nb\nc\n", "q\nr\ns\nt\nu\n", "a"];
        for old in texts {
            for new in texts {
                let mut d = AutoCommit::new();
                put_body(&mut d, "p", old, 0).unwrap();
                put_body(&mut d, "p", new, 0).unwrap();
                assert_eq!(read_body(&d).as_deref(), Some(new), "{old:?} -> {new:?}");
            }
        }
    }

    #[test]
    fn a_big_edit_is_several_changes_within_the_cap() {
        let mut d = AutoCommit::new();
        let text: String = (0..OPS_PER_CHANGE * 2 + 10).map(|i| format!("{i}\n")).collect();
        put_body(&mut d, "p", &text, 0).unwrap();
        d.commit();
        let changes = d.get_changes(&[]);
        let biggest = changes.iter().map(|c| c.len()).max().unwrap();
        // The first change also sets the name and makes the list.
        assert!(biggest <= OPS_PER_CHANGE + 2, "{biggest}");
        assert!(biggest as u64 <= crate::limits::CHANGE_OPS_MAX);
        assert_eq!(changes.len(), 3);
        assert_eq!(read_body(&d).unwrap(), text);
    }
}
