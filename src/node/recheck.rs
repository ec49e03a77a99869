//! Rules judged against the community's log (`DocKind::check_with_log`), judged again
//! once an import's own log changes are merged: a batch the pre-pass refused only
//! because of the log it saw waits until the chunk's log documents are merged, then is
//! taken or refused (refused without being remembered: the log that admits it may come
//! later, in any order).

use super::import::{Import, Taken};
use super::preopen::{Pre, Verified};
use super::*;

/// A batch the pre-pass set aside for judging again: its bytes, digest, pre-pass result
/// and place in the report.
pub(super) type Deferred<'a> = (&'a [u8], [u8; 32], Pre, usize);

impl Node {
    /// Judges the deferred batches of a chunk against the log as it stands after the
    /// chunk's merge, and takes in those that hold.
    pub(super) fn take_deferred(&mut self, imp: &mut Import, deferred: Vec<Deferred<'_>>) -> Result<(), Error> {
        if deferred.is_empty() {
            return Ok(());
        }
        let mut batches = Vec::new();
        for (bytes, digest, mut pre, index) in deferred {
            let Pre::Batch { verified, .. } = &mut pre else { continue };
            // Refused, but not remembered: the log that admits it may come later (any
            // order), and then a copy is judged again. Its author is a member whose
            // signature held: what it can send is bounded by the member limits.
            if let Some(broken) = self.rule_with_log(imp, verified)? {
                let Pre::Batch { info, payload, verified } = &pre else { continue };
                imp.report.outcomes[index] =
                    self.wait_or_refuse(imp, bytes, digest, info, *payload, verified, broken)?;
                continue;
            }
            verified.recheck = false;
            if let Some(outcome) = self.take_in(imp, bytes, digest, pre, index, &mut batches)? {
                imp.report.outcomes[index] = outcome;
            }
        }
        self.merge_batches(imp, batches)
    }

    /// A batch its kind's rule refuses against the log as it stands now: if its author
    /// wrote it under log operations this node lacks, it waits for them (kept, judged
    /// again when the log moves); else it is refused (not remembered).
    #[allow(clippy::too_many_arguments)]
    fn wait_or_refuse(
        &mut self,
        imp: &mut Import,
        bytes: &[u8],
        digest: [u8; 32],
        info: &crate::bundle::BundleInfo,
        payload: [u8; 32],
        verified: &Verified,
        rejection: Rejection,
    ) -> Result<Outcome, Error> {
        if let (DocId::Community { id: cid, .. }, Some(m)) = (verified.doc, &verified.member)
            && self.resolved(&imp.t, &cid).is_ok_and(|r| r.state.lacks(&m.authority))
        {
            let scope = super::authority::log_wait_scope(&cid);
            let held = self.hold(imp, bytes, digest, info, payload, verified, &scope)?;
            return Ok(held.unwrap_or(Outcome::Waiting(WaitReason::Log { community: cid })));
        }
        Ok(Outcome::Rejected(rejection))
    }

    /// The rule a batch breaks against its community's log as it stands now, if any.
    pub(super) fn rule_with_log(&mut self, imp: &Import, verified: &Verified) -> Result<Option<Rejection>, Error> {
        let (DocId::Community { id: cid, .. }, Some(kind)) = (verified.doc, verified.doc.kind()) else {
            return Ok(None);
        };
        let log = self.resolved(&imp.t, &cid).ok().map(|r| r.state.clone());
        let role =
            verified.member.as_ref().map(|m| log.as_ref().and_then(|l| l.role(&m.signer)).unwrap_or(m.cert_role));
        let by = crate::plugin::Writer { node: verified.author, role };
        Ok(verified.changes.iter().find_map(|c| {
            let ops = crate::plugin::ops::ops_of(c)?;
            kind.check_with_log(&by, &ops, log.as_deref())
                .err()
                .map(|b| Rejection::Rule { kind: kind.name().to_string(), rule: b.rule.to_string() })
        }))
    }

    /// Batches whose kind's rule failed against the log the pre-pass saw (`recheck`) and
    /// reached the merge without being judged again (a re-read): judged against the log
    /// as it stands now; those that still fail are refused.
    pub(super) fn judge_again<'a>(&mut self, imp: &mut Import, items: Vec<Taken<'a>>) -> Result<Vec<Taken<'a>>, Error> {
        if !items.iter().any(|i| i.verified.recheck) {
            return Ok(items);
        }
        let mut kept = Vec::with_capacity(items.len());
        for item in items {
            if !item.verified.recheck {
                kept.push(item);
                continue;
            }
            match self.rule_with_log(imp, &item.verified)? {
                None => kept.push(item),
                // Not remembered as refused: the log that admits it may come later.
                Some(rejection) => {
                    let Taken { index, digest, info, payload, verified, bytes } = item;
                    imp.report.outcomes[index] =
                        self.wait_or_refuse(imp, bytes, digest, &info, payload, &verified, rejection)?;
                }
            }
        }
        Ok(kept)
    }
}
