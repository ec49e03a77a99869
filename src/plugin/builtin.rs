//! The built-in kinds, on the same trait any plug-in implements.

use automerge::transaction::Transactable;
use automerge::{AutoCommit, ObjType, ROOT, ReadDoc, ScalarValue, Value};

use super::{Broken, DocKind, Home, Op, Writer, Writers, own_items};
use crate::doc::Role;
use crate::identity::NodeId;
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
/// A community's posts for its members' friends: every member posts, and edits or
/// deletes only its own; members and their friends read.
pub struct FomFeed;
/// A community's public posts: every member posts, and edits or deletes only its own;
/// anyone who follows the community reads them.
pub struct PublicFeed;
/// The friends passes a community's members publish (`crypto.md`): each member writes
/// only its own.
pub struct Passes;

/// The node id a pass's key names: `pass/<author>`.
pub(crate) fn pass_owner(key: &str) -> Option<&str> {
    key.strip_prefix("pass/")
}

impl DocKind for FomFeed {
    kind_basics!("fom-feed", Home::FriendsOfMembers, Writers::Members, Class::Content);
    fn check(&self, by: &Writer, ops: &[Op]) -> Result<(), Broken> {
        own_items(ops, by, post_author, "a member adds, edits and deletes only its own posts")
    }
    fn show(&self, doc: &AutoCommit) -> Vec<String> {
        read_posts(doc).into_iter().map(|p| format!("{} {}: {}", day(p.at_unix_ms), p.author, p.text)).collect()
    }
}

impl DocKind for PublicFeed {
    kind_basics!("public-feed", Home::CommunityPublic, Writers::Members, Class::Content);
    fn check(&self, by: &Writer, ops: &[Op]) -> Result<(), Broken> {
        own_items(ops, by, post_author, "a member adds, edits and deletes only its own posts")
    }
    fn show(&self, doc: &AutoCommit) -> Vec<String> {
        read_posts(doc).into_iter().map(|p| format!("{} {}: {}", day(p.at_unix_ms), p.author, p.text)).collect()
    }
}

impl DocKind for Passes {
    kind_basics!("passes", Home::Members, Writers::Members, Class::Membership);
    fn check(&self, by: &Writer, ops: &[Op]) -> Result<(), Broken> {
        own_items(ops, by, pass_owner, "a member publishes only its own friends pass")
    }
    fn show(&self, doc: &AutoCommit) -> Vec<String> {
        doc.keys(ROOT).filter_map(|k| pass_owner(&k).map(|n| format!("friends pass of {n}"))).collect()
    }
}

impl DocKind for Roster {
    kind_basics!("roster", Home::Members, Writers::Owners, Class::Membership);
    fn inspects_ops(&self) -> bool {
        false
    }
    fn show(&self, doc: &AutoCommit) -> Vec<String> {
        read_roster(doc).into_iter().map(|(node, role, name)| format!("{name} ({role}), {node}")).collect()
    }
}

impl DocKind for CommunityPublic {
    kind_basics!("public", Home::CommunityPublic, Writers::Owners, Class::Profile);
    fn inspects_ops(&self) -> bool {
        false
    }
    fn show(&self, doc: &AutoCommit) -> Vec<String> {
        ["name", "description"].iter().filter_map(|k| Some(format!("{k}: {}", read_str(doc, k)?))).collect()
    }
}

impl DocKind for Wiki {
    kind_basics!("wiki", Home::Members, Writers::Editors, Class::Content);
    fn inspects_ops(&self) -> bool {
        false
    }
    fn show(&self, doc: &AutoCommit) -> Vec<String> {
        let mut pages = super::wiki::index_names(doc);
        pages.extend(list_pages(doc));
        pages.sort();
        pages.dedup();
        pages
    }
}

impl DocKind for WikiPage {
    kind_basics!("wiki-page", Home::Members, Writers::Editors, Class::Content);
    fn inspects_ops(&self) -> bool {
        false
    }
    fn show(&self, doc: &AutoCommit) -> Vec<String> {
        super::wiki::read_body(doc).map(|t| t.lines().map(str::to_string).collect()).unwrap_or_default()
    }
}

/// The node id a feed post's key names: `post/<time ms>/<author>[/<n>]`.
pub(crate) fn post_author(key: &str) -> Option<&str> {
    let mut parts = key.strip_prefix("post/")?.split('/');
    let _time = parts.next()?;
    parts.next()
}

impl DocKind for Feed {
    kind_basics!("feed", Home::Members, Writers::Members, Class::Content);
    fn check(&self, by: &Writer, ops: &[Op]) -> Result<(), Broken> {
        own_items(ops, by, post_author, "a member adds, edits and deletes only its own posts")
    }
    fn show(&self, doc: &AutoCommit) -> Vec<String> {
        read_posts(doc).into_iter().map(|p| format!("{} {}: {}", day(p.at_unix_ms), p.author, p.text)).collect()
    }
}

impl DocKind for Profile {
    kind_basics!("profile", Home::Profile, Writers::ProfileOwner, Class::Profile);
    fn inspects_ops(&self) -> bool {
        false
    }
    fn show(&self, doc: &AutoCommit) -> Vec<String> {
        let mut lines: Vec<String> = read_fields(doc).into_iter().map(|(k, v)| format!("{k}: {v}")).collect();
        lines.extend(read_posts(doc).into_iter().map(|p| format!("{} {}", day(p.at_unix_ms), p.text)));
        lines
    }
}

/// A day and time as people write them (UTC).
pub(crate) fn day(ms: u64) -> String {
    jiff::Timestamp::from_millisecond(ms as i64).map(|t| t.strftime("%Y-%m-%d %H:%M").to_string()).unwrap_or_default()
}

// --- Layouts: typed reads and edits of the built-in kinds ---

// Flat root keys, never nested containers created lazily: two nodes creating the same
// container concurrently would make one of them invisible.
const FIELD_PREFIX: &str = "field/";
const POST_PREFIX: &str = "post/";
const PAGE_PREFIX: &str = "page/";
const MEMBER_PREFIX: &str = "member/";

/// A post in a profile or a community feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Post {
    /// Author's node id (text).
    pub author: String,
    /// When it was written, milliseconds since the Unix epoch (author's clock).
    pub at_unix_ms: u64,
    /// The text.
    pub text: String,
}

fn get_str(doc: &AutoCommit, obj: &automerge::ObjId, key: &str) -> Option<String> {
    match doc.get(obj, key).ok()?? {
        (Value::Scalar(s), _) => match s.as_ref() {
            ScalarValue::Str(t) => Some(t.to_string()),
            _ => None,
        },
        (Value::Object(ObjType::Text), id) => doc.text(&id).ok(),
        _ => None,
    }
}

/// Sets a scalar string at a root key.
pub(crate) fn put_str(doc: &mut AutoCommit, key: &str, value: &str) -> Result<(), automerge::AutomergeError> {
    doc.put(ROOT, key, value)
}

/// Reads a scalar string at a root key.
pub(crate) fn read_str(doc: &AutoCommit, key: &str) -> Option<String> {
    get_str(doc, &ROOT, key)
}

/// Profile field `name` at its root key.
pub(crate) fn field_key(name: &str) -> String {
    format!("{FIELD_PREFIX}{name}")
}

/// All `field/*` entries of a profile document.
pub(crate) fn read_fields(doc: &AutoCommit) -> Vec<(String, String)> {
    doc.keys(ROOT)
        .filter_map(|k| {
            let name = k.strip_prefix(FIELD_PREFIX)?.to_string();
            Some((name, read_str(doc, &k)?))
        })
        .collect()
}

/// Adds a post as one scalar under a root key `post/<time ms>/<author>[/<n>]`: posts
/// never collide (the author is in the key, `n` separates one author's posts in the same
/// millisecond), sort by time, and cost one operation each.
pub(crate) fn add_post(
    doc: &mut AutoCommit,
    author: &NodeId,
    at_unix_ms: u64,
    text: &str,
) -> Result<(), automerge::AutomergeError> {
    let base = format!("{POST_PREFIX}{at_unix_ms:013}/{author}");
    let mut key = base.clone();
    let mut n = 1;
    while doc.get(ROOT, key.as_str())?.is_some() {
        n += 1;
        key = format!("{base}/{n}");
    }
    doc.put(ROOT, key, text)
}

/// All posts, oldest first.
pub(crate) fn read_posts(doc: &AutoCommit) -> Vec<Post> {
    read_posts_keyed(doc).into_iter().map(|(_, p)| p).collect()
}

/// The posts with their keys, oldest first.
pub(crate) fn read_posts_keyed(doc: &AutoCommit) -> Vec<(String, Post)> {
    let mut keys: Vec<String> = doc.keys(ROOT).filter(|k| k.starts_with(POST_PREFIX)).collect();
    keys.sort();
    keys.into_iter()
        .filter_map(|k| {
            let mut parts = k[POST_PREFIX.len()..].split('/');
            let at_unix_ms = parts.next()?.parse().ok()?;
            let author = parts.next()?.to_string();
            let post = Post { author, at_unix_ms, text: read_str(doc, &k)? };
            Some((k, post))
        })
        .collect()
}

/// A wiki page's text, as pages were kept before each page was a document of its own
/// (`plugin::wiki`): still read, never written.
pub(crate) fn read_page(doc: &AutoCommit, page: &str) -> Option<String> {
    match doc.get(ROOT, format!("{PAGE_PREFIX}{page}").as_str()).ok()?? {
        (Value::Object(ObjType::Text), obj) => doc.text(&obj).ok(),
        _ => None,
    }
}

/// Names of all wiki pages, sorted.
pub(crate) fn list_pages(doc: &AutoCommit) -> Vec<String> {
    let mut pages: Vec<String> =
        doc.keys(ROOT).filter_map(|k| k.strip_prefix(PAGE_PREFIX).map(str::to_string)).collect();
    pages.sort();
    pages
}

/// Records a member's role and name in the roster document.
pub(crate) fn put_member(
    doc: &mut AutoCommit,
    node: &NodeId,
    role: Role,
    name: &str,
) -> Result<(), automerge::AutomergeError> {
    let entry = doc.put_object(ROOT, format!("{MEMBER_PREFIX}{node}"), ObjType::Map)?;
    doc.put(&entry, "role", role.as_str())?;
    doc.put(&entry, "name", name)?;
    Ok(())
}

/// The roster: node id text, role, display name.
pub(crate) fn read_roster(doc: &AutoCommit) -> Vec<(String, Role, String)> {
    let mut out: Vec<(String, Role, String)> = doc
        .keys(ROOT)
        .filter_map(|k| {
            let node = k.strip_prefix(MEMBER_PREFIX)?.to_string();
            let (Value::Object(ObjType::Map), obj) = doc.get(ROOT, k.as_str()).ok()?? else {
                return None;
            };
            let role = Role::parse(&get_str(doc, &obj, "role")?)?;
            Some((node, role, get_str(doc, &obj, "name").unwrap_or_default()))
        })
        .collect();
    out.sort();
    out
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
        let put = |key: String| Op::new(Target::Root, Key::Map(key), Action::Put);
        assert_eq!(Feed.check(&by, &[put(format!("post/1796000000000/{me}"))]), Ok(()));
        assert_eq!(Feed.check(&by, &[put(format!("post/1796000000000/{me}/2"))]), Ok(()));
        // Not even an owner writes another member's post, or outside the posts.
        assert!(Feed.check(&by, &[put(format!("post/1796000000000/{other}"))]).is_err());
        assert!(Feed.check(&by, &[put("title".into())]).is_err());
        assert!(Feed.check(&by, &[put(format!("post/{me}"))]).is_err());
    }
}
