//! Documents of any kind, through the plug-in API: reading and editing a community's
//! document of a registered kind, and holding our own edits to the kind's rule.

use super::*;
use crate::plugin::{Writer, ops};

impl Node {
    /// Reads this node's copy of community `cid`'s document of the registered kind
    /// `kind` (empty if it holds none), with `f`.
    ///
    /// ```
    /// # fn main() -> Result<(), caravan::Error> {
    /// let home = tempfile::tempdir().unwrap();
    /// let mut node = caravan::Node::open(home.path(), "Village A")?;
    /// let wells = node.create_community("Wells", "")?;
    /// let keys = node.read_kind(&wells, "market", |doc| automerge::ReadDoc::length(doc, automerge::ROOT))?;
    /// assert_eq!(keys, 0);
    /// # Ok(()) }
    /// ```
    pub fn read_kind<R>(
        &mut self,
        cid: &CommunityId,
        kind: &str,
        f: impl FnOnce(&AutoCommit) -> R,
    ) -> Result<R, Error> {
        let id = kind_doc(cid, kind)?;
        let view = self.store.read()?;
        if let Some(carried) = self.carried_doc(&view, id)? {
            return Ok(f(&carried));
        }
        Ok(f(&self.load_doc(&view, id)?.doc))
    }

    /// Edits community `cid`'s document of the registered kind `kind` with `f` (given
    /// this node's id and the time) and commits it durably. Refused if this node's role
    /// may not write the kind, or if the edit breaks the kind's rule (every other node
    /// would refuse it).
    pub fn edit_kind<R>(
        &mut self,
        cid: &CommunityId,
        kind: &str,
        f: impl FnOnce(&mut AutoCommit, &NodeId, u64) -> Result<R, automerge::AutomergeError>,
    ) -> Result<R, Error> {
        let id = kind_doc(cid, kind)?;
        let DocId::Community { part, .. } = id else { unreachable!("a community document") };
        self.require_role(cid, part, "write this document")?;
        let mut out = None;
        self.edit(id, |d, me, now| {
            out = Some(f(d, me, now)?);
            Ok(())
        })?;
        Ok(out.expect("set by a successful edit"))
    }

    /// Whether our changes to `id` made since `before` break its kind's rule.
    pub(super) fn breaks_rule(
        &mut self,
        r: &impl Reads,
        id: DocId,
        before: &[ChangeHash],
    ) -> Result<Option<Error>, Error> {
        let Some(kind) = id.kind() else { return Ok(Some(Error::UnknownKind(id.to_string()))) };
        if !kind.inspects_ops() {
            return Ok(None);
        }
        let (role, log) = match id {
            DocId::Community { id: cid, part } => {
                let role = self.membership(r, &cid)?.2;
                // The log itself is judged by its resolution, never by a rule over it.
                let log =
                    if part == Part::AUTHORITY { None } else { self.resolved(r, &cid).ok().map(|l| l.state.clone()) };
                (Some(role), log)
            }
            DocId::Profile { .. } => (None, None),
        };
        let by = Writer { node: self.node_id(), role };
        let actor = self.actor();
        let Some(state) = self.docs.get_mut(&id) else { return Ok(None) };
        for c in state.doc.get_changes(before).into_iter().filter(|c| *c.actor_id() == actor) {
            let ops = ops::ops_of(&c).unwrap_or_default();
            if let Err(broken) = kind.check_with_log(&by, &ops, log.as_deref()) {
                return Ok(Some(Error::Rule { kind: kind.name().to_string(), rule: broken.rule.to_string() }));
            }
        }
        Ok(None)
    }
}

/// The document of kind `kind` in community `cid`, if the kind is registered.
fn kind_doc(cid: &CommunityId, kind: &str) -> Result<DocId, Error> {
    // A kind's document by its name (a page is reached through the wiki, not by kind).
    let part = match Part::parse(kind) {
        Some(Part::Page(_)) | None => return Err(Error::UnknownKind(kind.to_string())),
        Some(p) => p,
    };
    if part.kind().is_none() {
        return Err(Error::UnknownKind(kind.to_string()));
    }
    Ok(DocId::Community { id: *cid, part })
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{Kit, carry, community};
    use super::*;
    use automerge::transaction::Transactable;

    #[test]
    fn an_edit_that_breaks_the_kinds_rule_is_not_made() {
        let kit = Kit::new();
        let (mut a, mut b) = (kit.node("A"), kit.node("B"));
        let cid = community(&mut a, &mut b, Role::Member);
        let before = a.fingerprint().unwrap();
        let err = a.edit_kind(&cid, "market", |d, _, _| d.put(automerge::ROOT, "listing/someone-else/1", "x"));
        assert!(matches!(err, Err(Error::Rule { .. })), "{err:?}");
        assert_eq!(a.fingerprint().unwrap(), before, "a refused edit was stored");
        assert_eq!(a.read_kind(&cid, "market", |d| automerge::ReadDoc::length(d, automerge::ROOT)).unwrap(), 0);
        assert!(matches!(a.read_kind(&cid, "no-such-kind", |_| ()), Err(Error::UnknownKind(_))));
        carry(&mut a, &mut b);
    }
}
