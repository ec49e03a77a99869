//! A wiki page's history: its versions (one per edit), the text at any of them, and
//! restoring an old text as a new edit (so it syncs like any other).
//!
//! Automerge keeps every change. A version is one edit: the changes one author made in
//! one go (same actor, same time stamp, each following the previous), which a big edit
//! splits into several to stay within what other nodes accept. Times are the author's
//! clock as it signed them: shown, never trusted for anything else.

use automerge::{AutoCommit, ChangeHash, ObjType, PatchAction, ROOT, ReadDoc, Value};

use super::Node;
use crate::doc::{CommunityId, DocId, PageId, Part};
use crate::error::Error;
use crate::identity::NodeId;
use crate::limits::HISTORY_STATS_MAX;
use crate::plugin::wiki::EDIT_GOES_ON;

/// One version of a wiki page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageVersion {
    /// Its number, from 1 (the page's first edit).
    pub n: usize,
    /// Who made it (`None`: an actor that is no node's key).
    pub author: Option<NodeId>,
    /// When, by its author's clock (`None` when the edit carries no time).
    pub at_unix_ms: Option<u64>,
    /// Lines it added and removed (a changed line counts once each way); `None` for
    /// versions older than the last `HISTORY_STATS_MAX`, which are not measured.
    pub lines: Option<(usize, usize)>,
    heads: Vec<ChangeHash>,
}

/// Which version: by number, or the last one made at or before a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageAt {
    /// Version `n` (from 1).
    Version(usize),
    /// The last version stamped at or before this time (Unix ms).
    Time(u64),
}

impl Node {
    /// The versions of wiki page `page`, oldest first (empty if there is no such page
    /// or this node cannot read the community).
    pub fn wiki_history(&mut self, cid: &CommunityId, page: &str) -> Result<Vec<PageVersion>, Error> {
        let view = self.store.read()?;
        self.membership(&view, cid)?;
        let id = DocId::Community { id: *cid, part: Part::Page(PageId::of(cid, page)) };
        let doc = &mut self.load_doc(&view, id)?.doc;
        let mut versions = versions(doc);
        let from = versions.len().saturating_sub(HISTORY_STATS_MAX);
        let mut before: Vec<ChangeHash> = if from == 0 { Vec::new() } else { versions[from - 1].heads.clone() };
        for v in &mut versions[from..] {
            v.lines = Some(line_stat(doc, &before, &v.heads));
            before = v.heads.clone();
        }
        Ok(versions)
    }

    /// The text of wiki page `page` as it was at `at` (`Error::Invalid` naming the
    /// versions there are, if there is no such version).
    pub fn wiki_page_at(&mut self, cid: &CommunityId, page: &str, at: PageAt) -> Result<String, Error> {
        Ok(self.version_at(cid, page, at)?.0)
    }

    /// Brings back the text page `page` had at `at`, as a new edit (owners and editors).
    /// Returns the version brought back and the page's latest version after it (the same
    /// as before when the text was already that one).
    pub fn restore_wiki_page(&mut self, cid: &CommunityId, page: &str, at: PageAt) -> Result<(usize, usize), Error> {
        let (text, n, _) = self.version_at(cid, page, at)?;
        self.put_wiki_page(cid, page, &text)?;
        let (_, _, latest) = self.version_at(cid, page, PageAt::Version(1))?;
        Ok((n, latest))
    }

    /// The text at `at`, that version's number, and how many versions there are.
    fn version_at(&mut self, cid: &CommunityId, page: &str, at: PageAt) -> Result<(String, usize, usize), Error> {
        let view = self.store.read()?;
        self.membership(&view, cid)?;
        let id = DocId::Community { id: *cid, part: Part::Page(PageId::of(cid, page)) };
        let doc = &mut self.load_doc(&view, id)?.doc;
        let all = versions(doc);
        let chosen = match at {
            PageAt::Version(n) => all.iter().find(|v| v.n == n),
            PageAt::Time(ms) => all.iter().rev().find(|v| v.at_unix_ms.is_some_and(|t| t <= ms)),
        };
        match chosen {
            Some(v) => Ok((text_at(doc, &v.heads), v.n, all.len())),
            None => Err(Error::Invalid(no_version(page, at, all.len()))),
        }
    }
}

/// Why `at` names no version of `page`, in words.
fn no_version(page: &str, at: PageAt, count: usize) -> String {
    match (at, count) {
        (_, 0) => format!("no page {page:?} (or you cannot read this community)"),
        (PageAt::Version(n), _) => format!("page {page:?} has versions 1 to {count}, not {n}"),
        (PageAt::Time(_), _) => format!("page {page:?} had no version yet at that time"),
    }
}

/// The document's versions in causal order, without line counts.
fn versions(doc: &mut AutoCommit) -> Vec<PageVersion> {
    let mut out: Vec<PageVersion> = Vec::new();
    let mut heads: Vec<ChangeHash> = Vec::new();
    // The previous change, if it said the edit goes on.
    let mut open: Option<(Vec<u8>, ChangeHash)> = None;
    for c in doc.get_changes(&[]) {
        let (actor, time, hash) = (c.actor_id().to_bytes().to_vec(), c.timestamp(), c.hash());
        heads.retain(|h| !c.deps().contains(h));
        heads.push(hash);
        let continues = open.as_ref().is_some_and(|(a, prev)| *a == actor && c.deps() == std::slice::from_ref(prev));
        if continues && let Some(v) = out.last_mut() {
            v.heads = heads.clone();
        } else {
            let author = <[u8; 32]>::try_from(actor.as_slice()).ok().map(|k| NodeId::from_signing_public(&k));
            let at_unix_ms = u64::try_from(time).ok().filter(|t| *t > 0).map(|t| t.saturating_mul(1000));
            out.push(PageVersion { n: out.len() + 1, author, at_unix_ms, lines: None, heads: heads.clone() });
        }
        open = (c.message() == Some(EDIT_GOES_ON)).then_some((actor, hash));
    }
    out
}

/// Lines added and removed between two sets of heads.
fn line_stat(doc: &mut AutoCommit, before: &[ChangeHash], after: &[ChangeHash]) -> (usize, usize) {
    let (mut added, mut removed) = (0, 0);
    for patch in doc.diff(before, after) {
        match patch.action {
            PatchAction::Insert { values, .. } => added += values.len(),
            PatchAction::DeleteSeq { length, .. } => removed += length,
            PatchAction::PutSeq { .. } => {
                added += 1;
                removed += 1;
            }
            _ => {}
        }
    }
    (added, removed)
}

/// The page's text at `heads`.
fn text_at(doc: &AutoCommit, heads: &[ChangeHash]) -> String {
    let Ok(Some((Value::Object(ObjType::List), list))) = doc.get_at(ROOT, "lines", heads) else {
        return String::new();
    };
    doc.list_range_at(&list, .., heads)
        .map(|item| match item.value {
            automerge::ValueRef::Scalar(automerge::ScalarValueRef::Str(t)) => t.into_owned(),
            _ => String::new(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{Kit, carry, community};
    use super::*;
    use crate::doc::Role;

    #[test]
    fn versions_read_restore_and_merge_with_other_authors() {
        let kit = Kit::new();
        let (mut a, mut b) = (kit.node("A"), kit.node("B"));
        let cid = community(&mut a, &mut b, Role::Editor);
        a.put_wiki_page(&cid, "well", "dry\n").unwrap();
        kit.advance(60_000);
        a.put_wiki_page(&cid, "well", "dry\nfixed on Monday\n").unwrap();
        carry(&mut a, &mut b);
        kit.advance(60_000);
        b.put_wiki_page(&cid, "well", "").unwrap();
        let h = b.wiki_history(&cid, "well").unwrap();
        assert_eq!(h.len(), 3, "{h:?}");
        assert_eq!(h[0].author, Some(a.node_id()));
        assert_eq!(h[2].author, Some(b.node_id()));
        assert_eq!(h.iter().map(|v| v.lines).collect::<Vec<_>>(), [Some((1, 0)), Some((1, 0)), Some((0, 2))]);
        assert!(h[0].at_unix_ms < h[1].at_unix_ms && h[1].at_unix_ms < h[2].at_unix_ms);
        assert_eq!(b.wiki_page_at(&cid, "well", PageAt::Version(1)).unwrap(), "dry\n");
        let e = b.wiki_page_at(&cid, "well", PageAt::Version(4)).unwrap_err().to_string();
        assert_eq!(e, "page \"well\" has versions 1 to 3, not 4");
        let t1 = h[1].at_unix_ms.unwrap();
        assert_eq!(b.wiki_page_at(&cid, "well", PageAt::Time(t1 + 1)).unwrap(), "dry\nfixed on Monday\n");
        assert!(b.wiki_page_at(&cid, "well", PageAt::Time(h[0].at_unix_ms.unwrap() - 1)).is_err());
        // Restoring is a new edit that every node takes like any other.
        assert_eq!(b.restore_wiki_page(&cid, "well", PageAt::Version(2)).unwrap(), (2, 4));
        // Bringing back the text the page has makes no new version, and says so.
        assert_eq!(b.restore_wiki_page(&cid, "well", PageAt::Version(4)).unwrap(), (4, 4));
        assert_eq!(b.wiki_page(&cid, "well").unwrap().as_deref(), Some("dry\nfixed on Monday\n"));
        assert_eq!(b.wiki_history(&cid, "well").unwrap().len(), 4);
        carry(&mut b, &mut a);
        assert_eq!(a.wiki_page(&cid, "well").unwrap().as_deref(), Some("dry\nfixed on Monday\n"));
        assert!(matches!(b.restore_wiki_page(&cid, "well", PageAt::Version(9)), Err(Error::Invalid(_))));
    }

    #[test]
    fn a_big_edit_is_one_version() {
        let kit = Kit::new();
        let (mut a, mut b) = (kit.node("A"), kit.node("B"));
        let cid = community(&mut a, &mut b, Role::Member);
        let text: String = (0..crate::limits::OPS_PER_CHANGE * 2 + 5).map(|i| format!("{i}\n")).collect();
        a.put_wiki_page(&cid, "big", &text).unwrap();
        let h = a.wiki_history(&cid, "big").unwrap();
        assert_eq!(h.len(), 1, "{h:?}");
        assert_eq!(h[0].lines, Some((crate::limits::OPS_PER_CHANGE * 2 + 5, 0)));
    }
}
