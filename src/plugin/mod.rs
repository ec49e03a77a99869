//! Document kinds as plug-ins.
//!
//! The kernel seals, signs, encrypts, carries, takes custody of and merges every document
//! alike; what differs between kinds is said by a [`DocKind`]: its name and version, where
//! its documents live and who reads them ([`Home`]), which roles may write at all
//! ([`Writers`]), the per-item rule every change must keep ([`DocKind::check`], judged
//! from the signed change's own operations at every receiving node), and its routing
//! class. The built-in kinds (profile, community roster, public part, wiki, feed) are
//! plug-ins on this same trait (`builtin`). `spec/plugins.md` states the rules a
//! plug-in must keep.

use std::fmt;

use crate::doc::Role;
use crate::identity::NodeId;
use crate::routing::Class;

/// The fixed parts of a built-in kind's `DocKind` impl (version 1); `check`, `show` and
/// the rest follow it in the impl.
macro_rules! kind_basics {
    ($name:literal, $home:expr, $writers:expr, $class:expr) => {
        fn name(&self) -> &'static str {
            $name
        }
        fn version(&self) -> u32 {
            1
        }
        fn home(&self) -> Home {
            $home
        }
        fn writers(&self) -> Writers {
            $writers
        }
        fn class(&self) -> Class {
            $class
        }
    };
}

pub mod authority;
pub mod builtin;
pub mod certificate;
pub mod exchange;
pub mod link;
pub mod market;
pub mod ops;
pub mod poll;
pub mod registry;
pub mod review;
pub mod wiki;

pub use ops::{Action, Key, Op, Target};
pub use registry::{KindName, RegisterError, find, register};

/// Where a kind's documents live, which decides who can read them (and so how they are
/// encrypted and addressed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Home {
    /// A community's, readable by its members (encrypted under the community key).
    Members,
    /// A community's, readable by anyone (signed, not encrypted).
    CommunityPublic,
    /// A node's profile, one document per audience.
    Profile,
    /// A community's, readable by its members and by their friends (the key travels in
    /// slots, one per member's friends pass: `crypto.md`).
    FriendsOfMembers,
}

/// Who may write a kind's documents at all (per-item rules come on top, [`DocKind::check`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Writers {
    /// Community owners.
    Owners,
    /// Community owners and editors.
    Editors,
    /// Every member of the community.
    Members,
    /// The profile's owner.
    ProfileOwner,
}

impl Writers {
    /// Whether a community member with `role` may write.
    pub fn admit(self, role: Role) -> bool {
        match self {
            Writers::Owners => role == Role::Owner,
            Writers::Editors => matches!(role, Role::Owner | Role::Editor),
            Writers::Members => true,
            Writers::ProfileOwner => false,
        }
    }
}

/// The author of a change being judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Writer {
    /// The node that signed it (its Automerge actor is that node's signing key).
    pub node: NodeId,
    /// Its role in the community (`None` for profiles).
    pub role: Option<Role>,
}

/// A write rule a change broke: named, so a refusal says which.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Broken {
    /// The rule, in words ("a member writes only its own posts").
    pub rule: &'static str,
}

impl fmt::Display for Broken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.rule)
    }
}

/// A document kind.
///
/// ```
/// use caravan::plugin::{Broken, DocKind, Home, Op, Writer, Writers, own_items};
/// use caravan::routing::Class;
///
/// /// Events on a community calendar: every member adds events, and changes only its own.
/// struct Calendar;
///
/// impl DocKind for Calendar {
///     fn name(&self) -> &'static str { "calendar" }
///     fn version(&self) -> u32 { 1 }
///     fn home(&self) -> Home { Home::Members }
///     fn writers(&self) -> Writers { Writers::Members }
///     fn class(&self) -> Class { Class::Content }
///     fn check(&self, by: &Writer, ops: &[Op]) -> Result<(), Broken> {
///         // Keys are `event/<author node id>/<n>`.
///         own_items(ops, by, |key| key.strip_prefix("event/")?.split('/').next(), "a member changes only its own events")
///     }
/// }
/// assert_eq!(Calendar.name(), "calendar");
/// ```
pub trait DocKind: Send + Sync + 'static {
    /// Short, stable name: the last part of its documents' ids (`c/<community>/<name>`).
    fn name(&self) -> &'static str;
    /// Layout version: a node refuses changes to a kind whose version it does not know.
    fn version(&self) -> u32;
    /// Where its documents live.
    fn home(&self) -> Home;
    /// Who may write at all.
    fn writers(&self) -> Writers;
    /// Routing priority class of its bundles.
    fn class(&self) -> Class;
    /// The per-item rule: whether `by` may make these operations (one change's). Called
    /// on import at every node, for every change but an owner's snapshot (which vouches
    /// for changes already judged). The default admits whatever [`DocKind::writers`] admits.
    fn check(&self, by: &Writer, ops: &[Op]) -> Result<(), Broken> {
        let _ = (by, ops);
        Ok(())
    }
    /// The per-item rule of a kind that also needs the community's membership as this
    /// node's authority log resolves it now (who certifies, how many must sign): called
    /// for community documents instead of [`DocKind::check`], with `log` when this node
    /// holds the community's log. The default is `check`. Such a rule is judged like a
    /// role: a node whose log has moved on may refuse what another took.
    fn check_with_log(&self, by: &Writer, ops: &[Op], log: Option<&crate::authority::State>) -> Result<(), Broken> {
        let _ = log;
        self.check(by, ops)
    }
    /// Whether [`DocKind::check`] reads the operations (if not, they are not expanded:
    /// a large text change costs nothing more).
    fn inspects_ops(&self) -> bool {
        true
    }
    /// How a document of the kind reads on a terminal (`caravan show`): one line per
    /// item, for people. The default lists the root keys.
    fn show(&self, doc: &automerge::AutoCommit) -> Vec<String> {
        use automerge::ReadDoc;
        doc.keys(automerge::ROOT).collect()
    }
    /// Which Rust type implements the kind (so registering the same kind twice is told
    /// apart from two kinds claiming one name). Not meant to be overridden.
    #[doc(hidden)]
    fn type_key(&self) -> std::any::TypeId {
        std::any::TypeId::of::<Self>()
    }
}

/// The common per-item rule: items are root keys that name their author (`owner_of`
/// returns the node id text a key names, or `None` for keys outside the collection).
/// A change may put or delete only keys naming its own author, and change only objects
/// its author made; anything else breaks `rule`.
pub fn own_items(
    ops: &[Op],
    by: &Writer,
    owner_of: fn(&str) -> Option<&str>,
    rule: &'static str,
) -> Result<(), Broken> {
    let me = by.node.to_string();
    for op in ops {
        let ok = match (&op.target, op.map_key()) {
            (Target::Root, Some(key)) => owner_of(key) == Some(me.as_str()),
            (Target::Own, _) => true,
            _ => false,
        };
        if !ok {
            return Err(Broken { rule });
        }
    }
    Ok(())
}

/// A short handle for an item's id (a listing, an exchange, a poll), for people to read
/// and type: eight letters and digits of the id's hash. Ids (`<author>/<n>`) stay in
/// `--json`; every command that takes an item takes its handle (or its id).
///
/// ```
/// let h = caravan::plugin::handle("x2mloekx3vo6oweh6rla5eghckazpwrl/1796129060029");
/// assert_eq!(h.len(), 8);
/// assert!(caravan::plugin::names_item("x2mloekx3vo6oweh6rla5eghckazpwrl/1796129060029", &h[..5]));
/// ```
pub fn handle(id: &str) -> String {
    let hash = blake3::hash(id.as_bytes());
    let text = data_encoding::BASE32_NOPAD.encode(&hash.as_bytes()[..10]).to_ascii_lowercase();
    text[..crate::limits::HANDLE_LEN].to_string()
}

/// Whether what a person typed names the item with id `id`: the whole id, the start of
/// it, or at least the first four characters of its [`handle`] (a leading `#` allowed,
/// quoted from a shell).
/// Several items may match a short start: callers say so and ask for more.
pub fn names_item(id: &str, given: &str) -> bool {
    let given = given.trim();
    if given.is_empty() {
        return false;
    }
    if id.starts_with(given) {
        return true;
    }
    let short = given.strip_prefix('#').unwrap_or(given);
    short.len() >= crate::limits::HANDLE_TYPED_MIN && handle(id).starts_with(&short.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(target: Target, key: &str, action: Action) -> Op {
        Op::new(target, Key::Map(key.into()), action)
    }

    #[test]
    fn own_items_admits_only_the_authors_keys_and_objects() {
        let me = NodeId([1; 20]);
        let other = NodeId([2; 20]);
        let by = Writer { node: me, role: Some(Role::Member) };
        fn owner(k: &str) -> Option<&str> {
            k.strip_prefix("item/")?.split('/').next()
        }
        let rule = "own items";
        let mine = format!("item/{me}/1");
        let theirs = format!("item/{other}/1");
        assert_eq!(own_items(&[op(Target::Root, &mine, Action::Put)], &by, owner, rule), Ok(()));
        assert_eq!(own_items(&[op(Target::Root, &mine, Action::Delete)], &by, owner, rule), Ok(()));
        assert_eq!(own_items(&[op(Target::Own, "text", Action::Put)], &by, owner, rule), Ok(()));
        for bad in [
            op(Target::Root, &theirs, Action::Put),
            op(Target::Root, &theirs, Action::Delete),
            op(Target::Root, "title", Action::Put),
            op(Target::Others, "text", Action::Put),
            Op::new(Target::Root, Key::Seq, Action::Put),
        ] {
            let ops = [op(Target::Root, &mine, Action::Put), bad.clone()];
            assert_eq!(own_items(&ops, &by, owner, rule), Err(Broken { rule }), "{bad:?}");
        }
    }

    #[test]
    fn handles_name_one_item_and_need_four_characters() {
        let (a, b) = ("x2mloekx3vo6oweh6rla5eghckazpwrl/1", "x2mloekx3vo6oweh6rla5eghckazpwrl/2");
        let (ha, hb) = (handle(a), handle(b));
        assert_eq!(ha.len(), crate::limits::HANDLE_LEN);
        assert_ne!(ha, hb, "items of one author get different handles");
        assert!(names_item(a, &ha) && names_item(a, &ha[..4]) && names_item(a, &format!("#{}", &ha[..5])));
        assert!(names_item(a, &ha.to_ascii_uppercase()));
        assert!(!names_item(a, &ha[..3]), "three characters of a handle name nothing");
        assert!(!names_item(a, &hb) || ha.starts_with(&hb), "another item's handle");
        assert!(names_item(a, a) && names_item(a, "x2mloek"), "the id and its start still work");
        assert!(!names_item(a, "") && !names_item(a, "   "));
    }

    #[test]
    fn writers_admit_roles() {
        assert!(Writers::Owners.admit(Role::Owner) && !Writers::Owners.admit(Role::Editor));
        assert!(Writers::Editors.admit(Role::Editor) && !Writers::Editors.admit(Role::Member));
        assert!(Writers::Members.admit(Role::Member));
        assert!(!Writers::ProfileOwner.admit(Role::Owner));
    }
}
