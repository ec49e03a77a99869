//! Documents: what they are called (ids, audiences, roles, key scopes). What a document
//! holds and who may write what is its kind's (`crate::plugin`).
//!
//! A profile is one Automerge document per audience (`p/<node>/<audience>`), so each
//! audience's content can be encrypted under its own key. A community is one document per
//! kind (`c/<community>/<kind>`: roster, public, wiki, feed, market, or a registered
//! plug-in's), and one per wiki page (`c/<community>/wiki/<page id>`), so permission
//! checks start from the document id and the author's role, and reading one part never
//! loads another.

use std::fmt;

use data_encoding::BASE32_NOPAD;

use crate::identity::NodeId;
use crate::plugin::{DocKind, Home, KindName, builtin, registry};
use crate::routing::Class;

/// Who a profile document is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Audience {
    /// Anyone: signed, not encrypted.
    Public,
    /// Contacts marked as friends.
    Friends,
    /// Contacts marked as family.
    Family,
    /// Contacts marked as business.
    Business,
    /// Friends, and the friends of friends they pass the key to.
    FriendsOfFriends,
}

impl Audience {
    /// Every audience, in bit order.
    pub const ALL: [Audience; 5] =
        [Audience::Public, Audience::Friends, Audience::Family, Audience::Business, Audience::FriendsOfFriends];

    /// Text name used in document ids and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            Audience::Public => "public",
            Audience::Friends => "friends",
            Audience::Family => "family",
            Audience::Business => "business",
            Audience::FriendsOfFriends => "friends-of-friends",
        }
    }

    /// Parses the text name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }

    pub(crate) fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

impl fmt::Display for Audience {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A member's role in a community.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// Runs the community: edits everything, invites, grants roles.
    Owner,
    /// Edits the wiki and posts to the feed.
    Editor,
    /// Posts to the feed and reads everything.
    Member,
}

impl Role {
    /// Wire code.
    pub fn code(self) -> u8 {
        match self {
            Role::Owner => 0,
            Role::Editor => 1,
            Role::Member => 2,
        }
    }

    /// From a wire code.
    pub fn from_code(code: u8) -> Option<Self> {
        match code {
            0 => Some(Role::Owner),
            1 => Some(Role::Editor),
            2 => Some(Role::Member),
            _ => None,
        }
    }

    /// Text name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Editor => "editor",
            Role::Member => "member",
        }
    }

    /// Parses the text name.
    pub fn parse(s: &str) -> Option<Self> {
        [Role::Owner, Role::Editor, Role::Member].into_iter().find(|r| r.as_str() == s)
    }

    /// The name with its article, for sentences ("an owner", "a member").
    pub fn with_article(self) -> &'static str {
        match self {
            Role::Owner => "an owner",
            Role::Editor => "an editor",
            Role::Member => "a member",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A community's id: 160 bits of BLAKE3 over its genesis (root owner key and nonce).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CommunityId(pub [u8; 20]);

impl CommunityId {
    /// Parses the 32-character text form.
    pub fn parse(text: &str) -> Option<Self> {
        let bytes = BASE32_NOPAD.decode(text.to_ascii_uppercase().as_bytes()).ok()?;
        Some(CommunityId(bytes.try_into().ok()?))
    }

    /// The community's group endpoint id, destination of all its content bundles.
    pub fn endpoint(&self) -> String {
        format!("dtn://{self}/~community")
    }
}

impl fmt::Display for CommunityId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&BASE32_NOPAD.encode(&self.0).to_ascii_lowercase())
    }
}

impl fmt::Debug for CommunityId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CommunityId({self})")
    }
}

/// One of a community's documents: a document of a kind (`c/<community>/<kind>`), or
/// one wiki page (`c/<community>/wiki/<page id>`). The built-in kinds are constants
/// ([`Part::ROSTER`], ...); nothing in the kernel treats them apart from a plug-in's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Part {
    /// The community's document of a kind, built in or a plug-in's.
    Kind(KindName),
    /// One wiki page (`wiki/<page id>`): each page is a document of its own, so reading or
    /// syncing one never loads another.
    Page(PageId),
}

/// A wiki page's id within its community: 128 bits of BLAKE3 over the community and the
/// page's name, so editors creating the same page concurrently make the same document,
/// and carriers do not see page names.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PageId(pub [u8; 16]);

impl PageId {
    /// The id of page `name` in community `cid`.
    pub fn of(cid: &CommunityId, name: &str) -> Self {
        let h = crate::crypto::derive(crate::crypto::CONTEXT_WIKI_PAGE, &[&cid.0, name.as_bytes()]);
        PageId(h[..16].try_into().expect("16 of 32 bytes"))
    }

    fn parse(s: &str) -> Option<Self> {
        let bytes = BASE32_NOPAD.decode(s.to_ascii_uppercase().as_bytes()).ok()?;
        let id = PageId(bytes.try_into().ok()?);
        // One spelling only.
        (id.to_string() == s).then_some(id)
    }
}

impl fmt::Display for PageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&BASE32_NOPAD.encode(&self.0).to_ascii_lowercase())
    }
}

impl fmt::Debug for PageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PageId({self})")
    }
}

impl Part {
    /// The roster (kind `roster`): who is in, with which role.
    pub const ROSTER: Part = Part::Kind(KindName::of("roster"));
    /// The public part (kind `public`): name and description, readable by anyone.
    pub const PUBLIC: Part = Part::Kind(KindName::of("public"));
    /// The wiki's index (kind `wiki`).
    pub const WIKI: Part = Part::Kind(KindName::of("wiki"));
    /// The feed (kind `feed`).
    pub const FEED: Part = Part::Kind(KindName::of("feed"));
    /// Posts for the members' friends (kind `fom-feed`).
    pub const FOM_FEED: Part = Part::Kind(KindName::of("fom-feed"));
    /// The members' friends passes (kind `passes`).
    pub const PASSES: Part = Part::Kind(KindName::of("passes"));
    /// The community's authority log (`membership.md`).
    pub const AUTHORITY: Part = Part::Kind(KindName::of("authority"));

    /// The built-in kinds every community has, in priority order (membership first).
    pub const BUILT_IN: [Part; 5] = [Part::AUTHORITY, Part::ROSTER, Part::PUBLIC, Part::WIKI, Part::FEED];

    /// Text name, as in document ids (`wiki/<page id>` for a page).
    pub fn name(self) -> String {
        match self {
            Part::Page(p) => format!("wiki/{p}"),
            Part::Kind(k) => k.to_string(),
        }
    }

    /// Parses a part's name as in document ids.
    pub fn parse(s: &str) -> Option<Self> {
        if let Some(p) = s.strip_prefix("wiki/") {
            return PageId::parse(p).map(Part::Page);
        }
        // Names of built-in kinds that live elsewhere are not community parts.
        if s == builtin::Profile.name() || s == builtin::WikiPage.name() {
            return None;
        }
        KindName::new(s).map(Part::Kind)
    }

    /// Whether a member with `role` may write this part (its kind's writers; nobody, for
    /// a kind this process does not know).
    pub fn writable_by(self, role: Role) -> bool {
        self.kind().is_some_and(|k| k.writers().admit(role))
    }

    /// The document kind this part is (`None`: a plug-in kind not registered here).
    pub fn kind(self) -> Option<&'static dyn DocKind> {
        match self {
            Part::Page(_) => Some(&builtin::WikiPage),
            Part::Kind(k) => registry::find(k.as_str()),
        }
    }
}

/// Identifies one Automerge document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DocId {
    /// One audience of a node's profile.
    Profile {
        /// The profile's owner, its only writer.
        owner: NodeId,
        /// Who may read it.
        audience: Audience,
    },
    /// One part of a community.
    Community {
        /// The community.
        id: CommunityId,
        /// Which document of it.
        part: Part,
    },
}

impl DocId {
    /// Parses `p/<node>/<audience>` or `c/<community>/<part>`.
    pub fn parse(s: &str) -> Option<Self> {
        let mut it = s.splitn(3, '/');
        let (kind, id, sub) = (it.next()?, it.next()?, it.next()?);
        match kind {
            "p" => Some(DocId::Profile { owner: NodeId::parse(id)?, audience: Audience::parse(sub)? }),
            "c" => Some(DocId::Community { id: CommunityId::parse(id)?, part: Part::parse(sub)? }),
            _ => None,
        }
    }

    /// The document kind (`None`: a plug-in kind not registered here).
    pub fn kind(&self) -> Option<&'static dyn DocKind> {
        match self {
            DocId::Profile { .. } => Some(&builtin::Profile),
            DocId::Community { part, .. } => part.kind(),
        }
    }

    /// Whether content is public (signed only) rather than encrypted. (A document of a
    /// kind not known here counts as private: it is only carried.)
    pub fn is_public(&self) -> bool {
        match self {
            DocId::Profile { audience, .. } => *audience == Audience::Public,
            DocId::Community { part, .. } => part.kind().is_some_and(|k| k.home() == Home::CommunityPublic),
        }
    }

    /// The key scope that encrypts this document, if it is not public.
    pub fn key_scope(&self) -> Option<String> {
        if self.is_public() {
            return None;
        }
        Some(match self {
            DocId::Profile { owner, audience } => format!("p/{owner}/{audience}"),
            DocId::Community { id, part } if part.kind().is_some_and(|k| k.home() == Home::FriendsOfMembers) => {
                format!("c/{id}/fom")
            }
            DocId::Community { id, .. } => format!("c/{id}"),
        })
    }

    /// The group endpoint id bundles of this document are addressed to.
    pub fn endpoint(&self) -> String {
        match self {
            DocId::Profile { owner, audience } => format!("dtn://{owner}/~profile/{audience}"),
            DocId::Community { id, .. } => id.endpoint(),
        }
    }

    /// Export priority: lower goes first. Its kind's routing class (membership, then
    /// profiles and public parts, then content, then the market); a kind not known here
    /// last.
    pub fn priority(&self) -> u8 {
        self.kind().map_or(Class::Large as u8, |k| k.class() as u8)
    }
}

impl fmt::Display for DocId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DocId::Profile { owner, audience } => write!(f, "p/{owner}/{audience}"),
            DocId::Community { id, part } => write!(f, "c/{id}/{}", part.name()),
        }
    }
}

/// Parses a key scope (`c/<community>` or `p/<node>/<audience>`).
pub fn parse_scope(scope: &str) -> Option<ScopeOwner> {
    let mut it = scope.split('/');
    match (it.next()?, it.next()?, it.next(), it.next()) {
        ("c", id, None, None) => Some(ScopeOwner::Community(CommunityId::parse(id)?)),
        ("c", id, Some("fom"), None) => Some(ScopeOwner::FriendsOfMembers(CommunityId::parse(id)?)),
        ("p", node, Some(aud), None) => {
            let audience = Audience::parse(aud).filter(|a| *a != Audience::Public)?;
            Some(ScopeOwner::Profile(NodeId::parse(node)?, audience))
        }
        _ => None,
    }
}

/// What a key scope protects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScopeOwner {
    /// A community's members-only documents.
    Community(CommunityId),
    /// One audience of a node's profile.
    Profile(NodeId, Audience),
    /// A community's documents for its members' friends.
    FriendsOfMembers(CommunityId),
}

pub use crate::plugin::builtin::Post;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doc_ids_round_trip() {
        let node = crate::identity::Identity::generate().node_id();
        let cid = CommunityId([9u8; 20]);
        for d in [
            DocId::Profile { owner: node, audience: Audience::FriendsOfFriends },
            DocId::Community { id: cid, part: Part::WIKI },
            DocId::Community { id: cid, part: Part::Page(PageId::of(&cid, "North well")) },
            DocId::Community { id: cid, part: Part::Kind(KindName::new("market").unwrap()) },
            DocId::Community { id: cid, part: Part::Kind(KindName::new("not-registered").unwrap()) },
        ] {
            assert_eq!(DocId::parse(&d.to_string()), Some(d));
        }
        let page = DocId::Community { id: cid, part: Part::Page(PageId::of(&cid, "x")) }.to_string();
        // One spelling of a page id; built-in names that are not community parts; no
        // more parts than a page has.
        assert_eq!(DocId::parse(&page.to_uppercase()), None);
        assert_eq!(DocId::parse(&format!("{page}/x")), None);
        assert_eq!(DocId::parse(&format!("c/{cid}/wiki-page")), None);
        assert_eq!(DocId::parse(&format!("c/{cid}/profile")), None);
        assert_eq!(DocId::parse(&format!("c/{cid}/Market")), None);
        assert_ne!(PageId::of(&cid, "x"), PageId::of(&CommunityId([8u8; 20]), "x"), "ids differ by community");
        assert_eq!(DocId::parse("c/zz/wiki"), None);
        assert_eq!(DocId::parse("x/a/b"), None);
    }
}
