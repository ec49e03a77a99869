//! One-way sync decisions, free of I/O: which stored bundles go to a destination, in
//! which order, decided only from what this node holds and what it has learned (from
//! bundles received) that the other side has. Nothing here asks the other side.

use std::collections::{HashMap, HashSet};

use crate::doc::{CommunityId, DocId};
use crate::identity::NodeId;
use crate::store::{BundleMeta, BundleState};

/// Who an export is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// One peer: what it is entitled to and is not known to have.
    Peer(NodeId),
    /// Every member of a community: its documents and its members' invitations.
    Community(CommunityId),
    /// Every bundle this node holds and has not seen expire (a courier's full load).
    Everyone,
}

/// What the planner needs to know about the target, computed by the node from its
/// documents and the heads it has learned.
#[derive(Debug, Default)]
pub struct Scope {
    /// Documents in scope that this node can read, with the bundles that carry changes
    /// some recipient is not known to have.
    pub lacking: HashMap<String, HashSet<[u8; 32]>>,
    /// Our latest sealed bundle per document in scope; always sent, since its heads tell
    /// the recipient what we have.
    pub latest_own: HashMap<String, [u8; 32]>,
    /// Other members' latest heads announcements of documents in scope: small, and the
    /// only way a custodian that never meets a member learns what it holds.
    pub relayed_heads: HashSet<[u8; 32]>,
    /// Documents in scope we cannot read (bundles waiting for a key): sent whole.
    pub opaque_docs: HashSet<String>,
    /// Node endpoints of the recipients: their key grants and custody signals are in scope.
    pub grant_destinations: HashSet<String>,
    /// (destination, scope) pairs known delivered: the recipient has already sent us
    /// content under that scope, so it holds the key.
    pub grants_delivered: HashSet<(String, String)>,
    /// Send everything.
    pub everything: bool,
}

/// Picks and orders the bundles to export. `catalog` is every stored bundle.
pub fn plan(catalog: &[([u8; 32], BundleMeta)], scope: &Scope, now_unix_ms: u64) -> Vec<[u8; 32]> {
    let mut chosen: Vec<(u8, u64, [u8; 32])> = catalog
        .iter()
        .filter(|(_, m)| m.expires_unix_ms >= now_unix_ms)
        .filter_map(|(digest, m)| {
            let wanted = match m.state {
                BundleState::Invite | BundleState::Consumed => false,
                _ if scope.everything => true,
                BundleState::Grant | BundleState::Carried => {
                    scope.grant_destinations.contains(&m.destination)
                        && !scope.grants_delivered.contains(&(m.destination.clone(), m.doc.clone()))
                }
                BundleState::Applied => {
                    scope.lacking.get(&m.doc).is_some_and(|l| l.contains(digest))
                        || scope.latest_own.get(&m.doc) == Some(digest)
                        || scope.relayed_heads.contains(digest)
                }
                BundleState::WaitingKey => scope.opaque_docs.contains(&m.doc),
                // Custody signals go to their custodian (and with couriers, to everyone).
                BundleState::Signal => scope.grant_destinations.contains(&m.destination),
            };
            wanted.then(|| (priority(m), m.expires_unix_ms, *digest))
        })
        .collect();
    chosen.sort();
    chosen.into_iter().map(|(_, _, d)| d).collect()
}

/// Key grants and invitations first (nothing else is readable without them), then by
/// document kind: membership, profiles, wiki, feed.
fn priority(m: &BundleMeta) -> u8 {
    match m.state {
        BundleState::Grant
        | BundleState::Carried
        | BundleState::Invite
        | BundleState::Signal
        | BundleState::Consumed => 0,
        _ => DocId::parse(&m.doc).map_or(9, |d| d.priority()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(state: BundleState, doc: &str, dest: &str, expires: u64) -> BundleMeta {
        BundleMeta {
            state,
            author: crate::identity::NodeId([1; 20]),
            seq: 1,
            verified: true,
            payload: [0; 32],
            doc: doc.into(),
            destination: dest.into(),
            expires_unix_ms: expires,
            changes: 1,
            bytes: 10,
            kind: crate::store::PayloadKind::Batch,
            payload_at: (0, 10),
            opener: None,
            release: [0; 32],
        }
    }

    #[test]
    fn sends_only_what_is_lacking_grants_first_never_expired() {
        let cid = CommunityId([3; 20]);
        let wiki = DocId::Community { id: cid, part: crate::doc::Part::WIKI }.to_string();
        let roster = DocId::Community { id: cid, part: crate::doc::Part::ROSTER }.to_string();
        let catalog = vec![
            ([1; 32], meta(BundleState::Applied, &wiki, "g", 100)),
            ([2; 32], meta(BundleState::Applied, &wiki, "g", 100)),
            ([3; 32], meta(BundleState::Applied, &roster, "g", 100)),
            ([4; 32], meta(BundleState::Grant, "c/x", "dtn://b/caravan", 100)),
            ([5; 32], meta(BundleState::Grant, "c/x", "dtn://z/caravan", 100)),
            ([6; 32], meta(BundleState::Applied, &wiki, "g", 10)),
        ];
        let mut scope = Scope::default();
        scope.lacking.insert(wiki.clone(), [[2; 32], [6; 32]].into());
        scope.latest_own.insert(roster.clone(), [3; 32]);
        scope.grant_destinations.insert("dtn://b/caravan".into());
        assert_eq!(plan(&catalog, &scope, 50), vec![[4; 32], [3; 32], [2; 32]]);
        scope.everything = true;
        assert_eq!(plan(&catalog, &scope, 50).len(), 5);
    }
}
