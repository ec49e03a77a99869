//! What one Automerge change does, as a plug-in's write rules see it: each operation's
//! target object, key and action, with object ids reduced to "the root" or "made by this
//! change's author" / "made by someone else". Read from the signed change itself, so every
//! node judges a change alike, whatever it holds of the document.

use automerge::legacy::{self, ObjectId};
use automerge::{ActorId, Change, ObjType};

/// The object an operation changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// The document's root map.
    Root,
    /// An object made by the author of the change (in this change or an earlier one).
    Own,
    /// An object made by someone else.
    Others,
}

/// Where in the object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Key {
    /// A map key.
    Map(String),
    /// A position in a list or text.
    Seq,
}

/// What the operation does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Sets a scalar value.
    Put,
    /// Makes a new object (map, list, text, table).
    Make(ObjType),
    /// Deletes a key or element.
    Delete,
    /// Increments a counter.
    Increment,
    /// Begins or ends a mark (rich text).
    Mark,
}

/// One operation of a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Op {
    /// The object it changes.
    pub target: Target,
    /// The key or position.
    pub key: Key,
    /// What it does.
    pub action: Action,
}

impl Op {
    /// The map key, if the operation is on a map.
    pub fn map_key(&self) -> Option<&str> {
        match &self.key {
            Key::Map(k) => Some(k),
            Key::Seq => None,
        }
    }
}

/// The operations of `change`, or `None` if Automerge cannot expand it (it was verified
/// when decoded, so this does not happen for changes that reach a plug-in).
pub fn ops_of(change: &Change) -> Option<Vec<Op>> {
    let expanded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| change.decode())).ok()?;
    let author = change.actor_id();
    Some(expanded.operations.iter().map(|op| view(op, author)).collect())
}

fn view(op: &legacy::Op, author: &ActorId) -> Op {
    let target = match &op.obj {
        ObjectId::Root => Target::Root,
        ObjectId::Id(id) if id.actor() == author => Target::Own,
        ObjectId::Id(_) => Target::Others,
    };
    let key = match &op.key {
        legacy::Key::Map(k) => Key::Map(k.to_string()),
        legacy::Key::Seq(_) => Key::Seq,
    };
    let action = match &op.action {
        legacy::OpType::Make(t) => Action::Make(*t),
        legacy::OpType::Delete => Action::Delete,
        legacy::OpType::Increment(_) => Action::Increment,
        legacy::OpType::Put(_) => Action::Put,
        legacy::OpType::MarkBegin(_) | legacy::OpType::MarkEnd(_) => Action::Mark,
    };
    Op { target, key, action }
}

#[cfg(test)]
mod tests {
    use super::*;
    use automerge::transaction::Transactable;
    use automerge::{AutoCommit, ROOT};

    fn last_change(doc: &mut AutoCommit) -> Change {
        doc.commit();
        doc.get_changes(&[]).last().cloned().unwrap()
    }

    #[test]
    fn ops_name_their_target_key_and_action() {
        let a = ActorId::from(vec![1u8; 32]);
        let b = ActorId::from(vec![2u8; 32]);
        let mut doc = AutoCommit::new().with_actor(a);
        doc.put(ROOT, "title", "x").unwrap();
        let list = doc.put_object(ROOT, "items", ObjType::List).unwrap();
        doc.insert(&list, 0, "first").unwrap();
        let c = last_change(&mut doc);
        let ops = ops_of(&c).unwrap();
        assert_eq!(ops[0], Op { target: Target::Root, key: Key::Map("title".into()), action: Action::Put });
        assert_eq!(ops[1].action, Action::Make(ObjType::List));
        assert_eq!(ops[2], Op { target: Target::Own, key: Key::Seq, action: Action::Put });
        // Someone else changes A's list: the target is another's object.
        let mut other = doc.fork().with_actor(b);
        other.insert(&list, 1, "second").unwrap();
        other.delete(ROOT, "title").unwrap();
        other.commit();
        let theirs = other.get_last_local_change().unwrap();
        let ops = ops_of(&theirs).unwrap();
        assert_eq!(ops[0].target, Target::Others);
        assert_eq!(ops[1], Op { target: Target::Root, key: Key::Map("title".into()), action: Action::Delete });
    }
}
