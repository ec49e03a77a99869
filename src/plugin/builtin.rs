//! The built-in kinds, on the same trait any plug-in implements.

use super::{Broken, DocKind, Home, Op, Writer, Writers, own_items};
use crate::routing::Class;

/// A community's roster: who is in, with which role. Owners write.
pub struct Roster;
/// A community's public part: name and description, readable by anyone. Owners write.
pub struct CommunityPublic;
/// A community's wiki: the index of its pages (name to page document). Owners and
/// editors edit it.
pub struct Wiki;
/// One wiki page: its name and its text as a list of lines. Owners and editors edit any
/// page.
pub struct WikiPage;
/// A community's feed: every member posts, and edits or deletes only its own posts.
pub struct Feed;
/// One audience of a node's profile: fields and posts. Only its owner writes.
pub struct Profile;

impl DocKind for Roster {
    fn name(&self) -> &'static str {
        "roster"
    }
    fn version(&self) -> u32 {
        1
    }
    fn home(&self) -> Home {
        Home::Members
    }
    fn writers(&self) -> Writers {
        Writers::Owners
    }
    fn class(&self) -> Class {
        Class::Membership
    }
    fn inspects_ops(&self) -> bool {
        false
    }
}

impl DocKind for CommunityPublic {
    fn name(&self) -> &'static str {
        "public"
    }
    fn version(&self) -> u32 {
        1
    }
    fn home(&self) -> Home {
        Home::CommunityPublic
    }
    fn writers(&self) -> Writers {
        Writers::Owners
    }
    fn class(&self) -> Class {
        Class::Profile
    }
    fn inspects_ops(&self) -> bool {
        false
    }
}

impl DocKind for Wiki {
    fn name(&self) -> &'static str {
        "wiki"
    }
    fn version(&self) -> u32 {
        1
    }
    fn home(&self) -> Home {
        Home::Members
    }
    fn writers(&self) -> Writers {
        Writers::Editors
    }
    fn class(&self) -> Class {
        Class::Content
    }
    fn inspects_ops(&self) -> bool {
        false
    }
}

impl DocKind for WikiPage {
    fn name(&self) -> &'static str {
        "wiki-page"
    }
    fn version(&self) -> u32 {
        1
    }
    fn home(&self) -> Home {
        Home::Members
    }
    fn writers(&self) -> Writers {
        Writers::Editors
    }
    fn class(&self) -> Class {
        Class::Content
    }
    fn inspects_ops(&self) -> bool {
        false
    }
}

/// The node id a feed post's key names: `post/<time ms>/<author>[/<n>]`.
pub(crate) fn post_author(key: &str) -> Option<&str> {
    let mut parts = key.strip_prefix("post/")?.split('/');
    let _time = parts.next()?;
    parts.next()
}

impl DocKind for Feed {
    fn name(&self) -> &'static str {
        "feed"
    }
    fn version(&self) -> u32 {
        1
    }
    fn home(&self) -> Home {
        Home::Members
    }
    fn writers(&self) -> Writers {
        Writers::Members
    }
    fn class(&self) -> Class {
        Class::Content
    }
    fn check(&self, by: &Writer, ops: &[Op]) -> Result<(), Broken> {
        own_items(ops, by, post_author, "a member adds, edits and deletes only its own posts")
    }
}

impl DocKind for Profile {
    fn name(&self) -> &'static str {
        "profile"
    }
    fn version(&self) -> u32 {
        1
    }
    fn home(&self) -> Home {
        Home::Profile
    }
    fn writers(&self) -> Writers {
        Writers::ProfileOwner
    }
    fn class(&self) -> Class {
        Class::Profile
    }
    fn inspects_ops(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doc::Role;
    use crate::identity::NodeId;
    use crate::plugin::{Action, Key, Target};

    #[test]
    fn the_feed_admits_only_the_authors_own_posts() {
        let (me, other) = (NodeId([1; 20]), NodeId([2; 20]));
        let by = Writer { node: me, role: Some(Role::Owner) };
        let put = |key: String| Op { target: Target::Root, key: Key::Map(key), action: Action::Put };
        assert_eq!(Feed.check(&by, &[put(format!("post/1796000000000/{me}"))]), Ok(()));
        assert_eq!(Feed.check(&by, &[put(format!("post/1796000000000/{me}/2"))]), Ok(()));
        // Not even an owner writes another member's post, or outside the posts.
        assert!(Feed.check(&by, &[put(format!("post/1796000000000/{other}"))]).is_err());
        assert!(Feed.check(&by, &[put("title".into())]).is_err());
        assert!(Feed.check(&by, &[put(format!("post/{me}"))]).is_err());
    }
}
