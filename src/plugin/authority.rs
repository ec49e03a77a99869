//! The authority kind: a community's authority log (`membership.md`) as a document.
//!
//! Each operation is one root key `op/<id in hex>` holding the operation's signed bytes.
//! Automerge only carries and merges the set: an operation proves its author by its own
//! signature and names the operations it follows, so the log reads the same from any
//! replica, snapshot or not. Every member may write (a member may leave); who may do what
//! is the resolution's to say, at every node alike, so an operation that breaks a rule is
//! kept in the log (void) rather than refused: refusing it at some nodes and not others
//! would leave the operations that follow it waiting at some nodes forever.

use automerge::legacy::{Key as LegacyKey, ObjectId, OpType};
use automerge::transaction::Transactable;
use automerge::{AutoCommit, ROOT, ScalarValue};

use super::{Action, Broken, DocKind, Home, Key, Op, Target, Writer, Writers};
use crate::authority::Signed;
use crate::doc::CommunityId;
use crate::routing::Class;
use crate::store::hex;

/// A community's authority log.
pub struct Authority;

const OP_PREFIX: &str = "op/";

impl DocKind for Authority {
    kind_basics!("authority", Home::Members, Writers::Members, Class::Membership);
    fn check(&self, _by: &Writer, ops: &[Op]) -> Result<(), Broken> {
        // One operation per change: a log change is one signed operation.
        if ops.len() > 1 {
            return Err(Broken { rule: "a change to the authority log holds one operation" });
        }
        let well_formed = ops.iter().all(|op| {
            op.target == Target::Root
                && op.action == Action::Put
                && matches!(&op.key, Key::Map(k) if k.strip_prefix(OP_PREFIX).is_some_and(|id| id.len() == 64))
        });
        if well_formed { Ok(()) } else { Err(Broken { rule: "the authority log only takes new signed operations" }) }
    }
    fn show(&self, doc: &AutoCommit) -> Vec<String> {
        use automerge::ReadDoc;
        doc.keys(ROOT).filter(|k| k.starts_with(OP_PREFIX)).map(|k| format!("operation {}", &k[3..19])).collect()
    }
}

/// Adds a signed operation to the log document.
pub fn put_op(doc: &mut AutoCommit, op: &Signed) -> Result<(), automerge::AutomergeError> {
    doc.put(ROOT, format!("{OP_PREFIX}{}", hex(&op.id)), ScalarValue::Bytes(op.bytes.clone()))
}

/// Every valid operation of `community` ever put in the log document (read from its
/// history, so a later put under the same key hides nothing). Values that are not a
/// signed operation of this community, or sit under another id's key, are skipped.
pub fn ops_in(doc: &mut AutoCommit, community: &CommunityId) -> Vec<Signed> {
    let mut out: Vec<Signed> = Vec::new();
    for change in doc.get_changes(&[]) {
        let Ok(expanded) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| change.decode())) else {
            continue;
        };
        for op in &expanded.operations {
            let (ObjectId::Root, LegacyKey::Map(key), OpType::Put(ScalarValue::Bytes(bytes))) =
                (&op.obj, &op.key, &op.action)
            else {
                continue;
            };
            let Some(id) = key.strip_prefix(OP_PREFIX) else { continue };
            let Ok(signed) = Signed::open(bytes, community) else { continue };
            if hex(&signed.id) == id && !out.iter().any(|o| o.id == signed.id) {
                out.push(signed);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authority::{Op as AuthOp, resolve};
    use crate::doc::Role;
    use crate::identity::Identity;
    use crate::plugin::ops::ops_of;

    #[test]
    fn the_log_reads_every_signed_operation_ever_put_and_nothing_else() {
        let cid = CommunityId([5; 20]);
        let (f, a) = (Identity::generate(), Identity::generate());
        let add = Signed::sign(
            &f,
            AuthOp {
                community: cid,
                author: f.signing_public(),
                follows: vec![],
                action: crate::authority::Action::Add {
                    member: a.signing_public(),
                    agreement: a.agreement_public(),
                    role: Role::Owner,
                },
                rekey: None,
            },
        );
        let mut doc = AutoCommit::new();
        put_op(&mut doc, &add).unwrap();
        doc.commit();
        let change = doc.get_last_local_change().unwrap().clone();
        assert_eq!(Authority.check(&Writer { node: f.node_id(), role: None }, &ops_of(&change).unwrap()), Ok(()));
        // Junk under an op key, and an overwrite of the real one: the real one still reads.
        doc.put(ROOT, format!("op/{}", hex(&add.id)), ScalarValue::Bytes(vec![1, 2, 3])).unwrap();
        doc.put(ROOT, format!("op/{}", hex(&[0; 32])), ScalarValue::Bytes(add.bytes.clone())).unwrap();
        doc.commit();
        let ops = ops_in(&mut doc, &cid);
        assert_eq!(ops, vec![add.clone()]);
        assert_eq!(resolve(f.signing_public(), &ops).role(&a.signing_public()), Some(Role::Owner));
        // Anything but a new root key is refused by the kind's rule, and so are two
        // operations in one change.
        let by = Writer { node: f.node_id(), role: None };
        doc.put(ROOT, "name", "x").unwrap();
        doc.commit();
        let change = doc.get_last_local_change().unwrap().clone();
        assert!(Authority.check(&by, &ops_of(&change).unwrap()).is_err());
        doc.put(ROOT, format!("op/{}", hex(&[1; 32])), ScalarValue::Bytes(vec![1])).unwrap();
        doc.put(ROOT, format!("op/{}", hex(&[2; 32])), ScalarValue::Bytes(vec![2])).unwrap();
        doc.commit();
        let change = doc.get_last_local_change().unwrap().clone();
        assert!(Authority.check(&by, &ops_of(&change).unwrap()).is_err());
    }
}
