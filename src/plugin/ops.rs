//! What one Automerge change does, as a plug-in's write rules see it: each operation's
//! target object, key and action, with object ids reduced to "the root" or "made by this
//! change's author" / "made by someone else". Read from the signed change itself, so every
//! node judges a change alike, whatever it holds of the document.

use automerge::legacy::{self, ObjectId};
use automerge::{ActorId, Change, ObjType, ScalarValue};

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
#[derive(Debug, Clone, PartialEq)]
pub struct Op {
    /// The object it changes.
    pub target: Target,
    /// The key or position.
    pub key: Key,
    /// What it does.
    pub action: Action,
    /// The value a `Put` sets (`None` for other actions).
    pub value: Option<ScalarValue>,
    /// Whether it replaces or deletes a value its author had seen (an Automerge
    /// operation's predecessors): a first `Put` of a key overwrites nothing.
    pub overwrites: bool,
}

impl Op {
    /// An operation that sets no value and overwrites nothing (for tests and rules that
    /// look only at targets and keys).
    pub fn new(target: Target, key: Key, action: Action) -> Self {
        Op { target, key, action, value: None, overwrites: false }
    }

    /// The bytes a `Put` of a byte string sets.
    pub fn bytes(&self) -> Option<&[u8]> {
        match &self.value {
            Some(ScalarValue::Bytes(b)) => Some(b),
            _ => None,
        }
    }

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
    Some(expanded.operations.into_iter().map(|op| view(op, author)).collect())
}

fn view(op: legacy::Op, author: &ActorId) -> Op {
    let target = match &op.obj {
        ObjectId::Root => Target::Root,
        ObjectId::Id(id) if id.actor() == author => Target::Own,
        ObjectId::Id(_) => Target::Others,
    };
    let key = match &op.key {
        legacy::Key::Map(k) => Key::Map(k.to_string()),
        legacy::Key::Seq(_) => Key::Seq,
    };
    let overwrites = !op.pred.is_empty();
    let (action, value) = match op.action {
        legacy::OpType::Make(t) => (Action::Make(t), None),
        legacy::OpType::Delete => (Action::Delete, None),
        legacy::OpType::Increment(_) => (Action::Increment, None),
        legacy::OpType::Put(v) => (Action::Put, Some(v)),
        legacy::OpType::MarkBegin(_) | legacy::OpType::MarkEnd(_) => (Action::Mark, None),
    };
    Op { target, key, action, value, overwrites }
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
        assert_eq!(ops[0].target, Target::Root);
        assert_eq!(ops[0].key, Key::Map("title".into()));
        assert_eq!((ops[0].action, ops[0].value.clone(), ops[0].overwrites), (Action::Put, Some("x".into()), false));
        assert_eq!(ops[1].action, Action::Make(ObjType::List));
        assert_eq!((&ops[2].target, &ops[2].key, ops[2].action), (&Target::Own, &Key::Seq, Action::Put));
        // Someone else changes A's list: the target is another's object.
        let mut other = doc.fork().with_actor(b);
        other.insert(&list, 1, "second").unwrap();
        other.delete(ROOT, "title").unwrap();
        other.commit();
        let theirs = other.get_last_local_change().unwrap();
        let ops = ops_of(&theirs).unwrap();
        assert_eq!(ops[0].target, Target::Others);
        assert_eq!(ops[1], Op { overwrites: true, ..Op::new(Target::Root, Key::Map("title".into()), Action::Delete) });
        // A second put of a key replaces the value its author saw.
        other.put(ROOT, "count", 1u64).unwrap();
        other.commit();
        other.put(ROOT, "count", 2u64).unwrap();
        other.commit();
        let again = ops_of(&other.get_last_local_change().unwrap()).unwrap();
        assert!(again[0].overwrites && again[0].value == Some(ScalarValue::Uint(2)));
    }
}
