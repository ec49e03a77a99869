//! Polls (`spec/plugins.md`, "polls"): a member asks a question with options; members
//! vote, each voter's causally latest position counting; an owner closes the poll with a
//! commitment to the tally and to a Merkle root of the positions it counted, so any
//! member can recount offline from the document and check the result. Ballots are open
//! (every member reads every position); secret ballots are not offered.
//!
//! Keys (all at the root, each naming its writer, so every rule is judged from the
//! change alone):
//! - `p/<author>/<n>`: a poll, a map: `question`, `options` (one per line), `heads` (the
//!   authority heads its author had seen, 32 bytes each: who may vote is who was a member
//!   there), `closes` (ms; 0 when only an owner's close ends it), `at` (ms);
//! - `v/<author>/<n>/<voter>`: the voter's position, the option's index (uint); put
//!   again to change it, deleted to withdraw;
//! - `close/<author>/<n>`: an owner's close, bytes ([`Close`]), put once.

use automerge::{AutoCommit, ChangeHash, ObjType, ROOT, ReadDoc, ScalarValue, Value};

use super::market::{number, text};
use super::ops::{Action, Target};
use super::{Broken, DocKind, Home, Op, Writer, Writers};
use crate::crypto::{self, CONTEXT_POLL_LEAF, CONTEXT_POLL_NODE};
use crate::doc::Role;
use crate::identity::NodeId;
use crate::limits::{POLL_HEADS_MAX, POLL_OPTIONS_MAX};
use crate::routing::Class;

/// A community's polls (members only).
pub struct Polls;

const RULE_OWN: &str = "a member writes only its own polls and its own votes";
const RULE_CLOSE: &str = "only an owner closes a poll, once, with a well-formed commitment";

impl DocKind for Polls {
    kind_basics!("polls", Home::Members, Writers::Members, Class::Content);

    fn check(&self, by: &Writer, ops: &[Op]) -> Result<(), Broken> {
        let me = by.node.to_string();
        for op in ops {
            let ok = match (&op.target, op.map_key()) {
                (Target::Own, _) => true,
                (Target::Root, Some(key)) => {
                    if let Some(rest) = key.strip_prefix("p/") {
                        PollRef::parse(rest).is_some_and(|p| p.author == by.node)
                    } else if let Some(rest) = key.strip_prefix("v/") {
                        let (poll, voter) = rest.rsplit_once('/').unwrap_or_default();
                        PollRef::parse(poll).is_some() && voter == me
                    } else if let Some(rest) = key.strip_prefix("close/") {
                        let form =
                            op.action == Action::Put && !op.overwrites && op.bytes().and_then(Close::decode).is_some();
                        if PollRef::parse(rest).is_none() || by.role != Some(Role::Owner) || !form {
                            return Err(Broken { rule: RULE_CLOSE });
                        }
                        true
                    } else {
                        false
                    }
                }
                _ => false,
            };
            if !ok {
                return Err(Broken { rule: RULE_OWN });
            }
        }
        Ok(())
    }

    fn show(&self, doc: &AutoCommit) -> Vec<String> {
        polls(doc)
            .iter()
            .map(|p| {
                let closed = if p.close.is_some() { " (closed)" } else { "" };
                format!("{} {:?}{closed}: {}", p.id.id(), p.question, p.options.join(" / "))
            })
            .collect()
    }
}

/// Which poll: its author and the author's number for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PollRef {
    /// Who asked.
    pub author: NodeId,
    /// The author's number for it.
    pub n: u64,
}

impl PollRef {
    fn parse(s: &str) -> Option<Self> {
        let (author, n) = s.split_once('/')?;
        Some(PollRef { author: NodeId::parse(author)?, n: n.parse().ok()? })
    }

    /// Its id: `<author>/<n>`.
    pub fn id(&self) -> String {
        format!("{}/{}", self.author, self.n)
    }
}

/// An owner's close: what it counted and the result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Close {
    /// The poll document's heads the count was made at: the positions are those visible
    /// there (what came later is not counted).
    pub heads: Vec<[u8; 32]>,
    /// Votes per option.
    pub counts: Vec<u32>,
    /// Merkle root of the counted positions ([`merkle_root`]).
    pub root: [u8; 32],
}

impl Close {
    const VERSION: u8 = 1;

    /// `version (1) ‖ heads (1 + 32 each) ‖ counts (1 + 4 LE each) ‖ root (32)`.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![Self::VERSION, self.heads.len() as u8];
        for h in &self.heads {
            out.extend_from_slice(h);
        }
        out.push(self.counts.len() as u8);
        for c in &self.counts {
            out.extend_from_slice(&c.to_le_bytes());
        }
        out.extend_from_slice(&self.root);
        out
    }

    /// From its bytes; `None` unless exactly well-formed.
    pub fn decode(b: &[u8]) -> Option<Self> {
        let (&version, rest) = b.split_first()?;
        let (&nh, mut rest) = rest.split_first()?;
        if version != Self::VERSION || usize::from(nh) > POLL_HEADS_MAX {
            return None;
        }
        let mut heads = Vec::with_capacity(usize::from(nh));
        for _ in 0..nh {
            let (h, r) = rest.split_at_checked(32)?;
            heads.push(h.try_into().ok()?);
            rest = r;
        }
        let (&nc, mut rest) = rest.split_first()?;
        if usize::from(nc) > POLL_OPTIONS_MAX {
            return None;
        }
        let mut counts = Vec::with_capacity(usize::from(nc));
        for _ in 0..nc {
            let (c, r) = rest.split_at_checked(4)?;
            counts.push(u32::from_le_bytes(c.try_into().ok()?));
            rest = r;
        }
        let root: [u8; 32] = rest.try_into().ok()?;
        Some(Close { heads, counts, root })
    }
}

/// A poll as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Poll {
    /// Which.
    pub id: PollRef,
    /// The question.
    pub question: String,
    /// The options, in order.
    pub options: Vec<String>,
    /// The authority heads its author cited: who was a member there may vote.
    pub authority_heads: Vec<[u8; 32]>,
    /// When voting ends by the author's word (ms; 0: when an owner closes it).
    pub closes_unix_ms: u64,
    /// When it was asked (the author's clock).
    pub at_unix_ms: u64,
    /// Each voter's current position (option index), as the document stands; not yet
    /// judged for eligibility.
    pub positions: Vec<(NodeId, usize)>,
    /// The close, if an owner closed it.
    pub close: Option<Close>,
}

/// Makes a poll as `me`; returns its reference.
pub fn create(
    doc: &mut AutoCommit,
    me: &NodeId,
    now: u64,
    question: &str,
    options: &[String],
    authority_heads: &[[u8; 32]],
    closes_unix_ms: u64,
) -> Result<PollRef, automerge::AutomergeError> {
    use automerge::transaction::Transactable;
    let mut n = now;
    while doc.get(ROOT, format!("p/{me}/{n}").as_str())?.is_some() {
        n += 1;
    }
    let id = PollRef { author: *me, n };
    let obj = doc.put_object(ROOT, format!("p/{}", id.id()), ObjType::Map)?;
    doc.put(&obj, "question", question)?;
    doc.put(&obj, "options", options.join("\n"))?;
    doc.put(&obj, "heads", authority_heads.concat())?;
    doc.put(&obj, "closes", closes_unix_ms)?;
    doc.put(&obj, "at", now)?;
    Ok(id)
}

/// `me` takes position `option` (an index) in poll `p`.
pub fn vote(doc: &mut AutoCommit, me: &NodeId, p: &PollRef, option: usize) -> Result<(), automerge::AutomergeError> {
    use automerge::transaction::Transactable;
    doc.put(ROOT, format!("v/{}/{me}", p.id()), option as u64)
}

/// Writes an owner's close of `p`.
pub fn close(doc: &mut AutoCommit, p: &PollRef, c: &Close) -> Result<(), automerge::AutomergeError> {
    use automerge::transaction::Transactable;
    doc.put(ROOT, format!("close/{}", p.id()), c.encode())
}

/// Every poll in the document, oldest first.
pub fn polls(doc: &AutoCommit) -> Vec<Poll> {
    let mut out = Vec::new();
    let mut votes: Vec<(PollRef, NodeId, usize)> = Vec::new();
    let mut closes: Vec<(PollRef, Close)> = Vec::new();
    for key in doc.keys(ROOT) {
        if let Some(rest) = key.strip_prefix("v/") {
            let Some((poll, voter)) = rest.rsplit_once('/') else { continue };
            let (Some(p), Some(v)) = (PollRef::parse(poll), NodeId::parse(voter)) else { continue };
            if let Ok(Some((Value::Scalar(s), _))) = doc.get(ROOT, key.as_str())
                && let ScalarValue::Uint(i) = s.as_ref()
            {
                votes.push((p, v, *i as usize));
            }
        } else if let Some(rest) = key.strip_prefix("close/") {
            let Some(p) = PollRef::parse(rest) else { continue };
            if let Some(c) = super::market::bytes(doc, &ROOT, &key).and_then(|b| Close::decode(&b)) {
                closes.push((p, c));
            }
        } else if let Some(rest) = key.strip_prefix("p/") {
            let Some(id) = PollRef::parse(rest) else { continue };
            let Ok(Some((Value::Object(ObjType::Map), obj))) = doc.get(ROOT, key.as_str()) else { continue };
            let options: Vec<String> = text(doc, &obj, "options")
                .unwrap_or_default()
                .lines()
                .map(str::to_string)
                .take(POLL_OPTIONS_MAX)
                .collect();
            let heads = super::market::bytes(doc, &obj, "heads")
                .map(|b| b.chunks_exact(32).take(POLL_HEADS_MAX).filter_map(|h| h.try_into().ok()).collect())
                .unwrap_or_default();
            if options.len() < 2 {
                continue;
            }
            out.push(Poll {
                id,
                question: text(doc, &obj, "question").unwrap_or_default(),
                options,
                authority_heads: heads,
                closes_unix_ms: number(doc, &obj, "closes").unwrap_or(0),
                at_unix_ms: number(doc, &obj, "at").unwrap_or(0),
                positions: Vec::new(),
                close: None,
            });
        }
    }
    for p in out.iter_mut() {
        p.positions =
            votes.iter().filter(|(r, _, i)| *r == p.id && *i < p.options.len()).map(|(_, v, i)| (*v, *i)).collect();
        p.positions.sort();
        p.close = closes.iter().find(|(r, _)| *r == p.id).map(|(_, c)| c.clone());
    }
    out.sort_by_key(|p| (p.at_unix_ms, p.id));
    out
}

/// A count: votes per option, the positions counted (by voter), and their Merkle root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tally {
    /// Votes per option.
    pub counts: Vec<u32>,
    /// The positions counted, by voter id.
    pub counted: Vec<(NodeId, usize)>,
    /// Their Merkle root.
    pub root: [u8; 32],
}

/// Counts `poll`'s positions of voters `eligible` admits.
pub fn tally(poll: &Poll, eligible: impl Fn(&NodeId) -> bool) -> Tally {
    let mut counts = vec![0u32; poll.options.len()];
    let counted: Vec<(NodeId, usize)> = poll.positions.iter().filter(|(v, _)| eligible(v)).copied().collect();
    for (_, i) in &counted {
        counts[*i] += 1;
    }
    let root = merkle_root(&counted);
    Tally { counts, counted, root }
}

/// The Merkle root of positions sorted by voter: each leaf is `H_leaf(voter id ‖ option
/// (4, LE))`, each inner node `H_node(left ‖ right)`, an odd last node goes up as it is;
/// no positions: `H_leaf()` of nothing.
pub fn merkle_root(positions: &[(NodeId, usize)]) -> [u8; 32] {
    let mut sorted = positions.to_vec();
    sorted.sort();
    let mut level: Vec<[u8; 32]> =
        sorted.iter().map(|(v, i)| crypto::derive(CONTEXT_POLL_LEAF, &[&v.0, &(*i as u32).to_le_bytes()])).collect();
    if level.is_empty() {
        return crypto::derive(CONTEXT_POLL_LEAF, &[]);
    }
    while level.len() > 1 {
        level = level
            .chunks(2)
            .map(|pair| match pair {
                [a, b] => crypto::derive(CONTEXT_POLL_NODE, &[a, b]),
                [a] => *a,
                _ => unreachable!("chunks of two"),
            })
            .collect();
    }
    level[0]
}

/// What a recount found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recount {
    /// The count made again from the document at the close's heads.
    pub tally: Tally,
    /// Whether it matches the close's counts and root.
    pub matches: bool,
}

/// Recounts poll `p` from the document as it stood at its close's heads, with the same
/// eligibility; `None` if it is not closed, or this document lacks what the close counted.
pub fn recount(doc: &AutoCommit, p: &PollRef, eligible: impl Fn(&NodeId) -> bool) -> Option<Recount> {
    let close = polls(doc).into_iter().find(|x| x.id == *p)?.close?;
    let heads: Vec<ChangeHash> = close.heads.iter().map(|h| ChangeHash(*h)).collect();
    let then = doc.clone().fork_at(&heads).ok()?;
    let poll = polls(&then).into_iter().find(|x| x.id == *p)?;
    let tally = tally(&poll, eligible);
    let matches = tally.counts == close.counts && tally.root == close.root;
    Some(Recount { tally, matches })
}

#[cfg(test)]
mod tests {
    use super::super::ops::Key;
    use super::*;
    use automerge::transaction::Transactable;

    fn op(key: &str, action: Action) -> Op {
        Op::new(Target::Root, Key::Map(key.into()), action)
    }

    #[test]
    fn members_write_their_own_polls_and_votes_and_only_owners_close() {
        let (a, b) = (NodeId([1; 20]), NodeId([2; 20]));
        let member = |n| Writer { node: n, role: Some(Role::Member) };
        let owner = |n| Writer { node: n, role: Some(Role::Owner) };
        let close = Close { heads: vec![[3; 32]], counts: vec![1, 0], root: [4; 32] }.encode();
        let put_close = |k: &str| Op { value: Some(close.clone().into()), ..op(k, Action::Put) };
        assert!(Polls.check(&member(a), &[op(&format!("p/{a}/1"), Action::Make(ObjType::Map))]).is_ok());
        assert!(Polls.check(&member(b), &[op(&format!("p/{a}/1"), Action::Make(ObjType::Map))]).is_err());
        assert!(Polls.check(&member(b), &[op(&format!("v/{a}/1/{b}"), Action::Put)]).is_ok());
        assert!(Polls.check(&member(b), &[op(&format!("v/{a}/1/{b}"), Action::Delete)]).is_ok());
        assert!(Polls.check(&member(b), &[op(&format!("v/{a}/1/{a}"), Action::Put)]).is_err(), "another's vote");
        assert!(Polls.check(&owner(b), &[put_close(&format!("close/{a}/1"))]).is_ok());
        assert!(Polls.check(&member(b), &[put_close(&format!("close/{a}/1"))]).is_err(), "a member closes");
        let again = Op { overwrites: true, ..put_close(&format!("close/{a}/1")) };
        assert!(Polls.check(&owner(b), &[again]).is_err(), "closed twice");
        let junk = Op { value: Some(vec![1u8, 9].into()), ..op(&format!("close/{a}/1"), Action::Put) };
        assert!(Polls.check(&owner(b), &[junk]).is_err(), "malformed commitment");
        assert!(Polls.check(&owner(b), &[op("question", Action::Put)]).is_err());
    }

    #[test]
    fn the_latest_position_counts_and_a_recount_checks_the_close() {
        let (a, b, c) = (NodeId([1; 20]), NodeId([2; 20]), NodeId([3; 20]));
        let mut doc = AutoCommit::new();
        let opts = ["yes".to_string(), "no".to_string()];
        let p = create(&mut doc, &a, 1_000, "Dig a well?", &opts, &[[9; 32]], 0).unwrap();
        vote(&mut doc, &a, &p, 0).unwrap();
        vote(&mut doc, &b, &p, 0).unwrap();
        vote(&mut doc, &b, &p, 1).unwrap(); // b changes its mind
        vote(&mut doc, &c, &p, 0).unwrap(); // c is not eligible
        let eligible = |n: &NodeId| *n != c;
        let poll = polls(&doc).remove(0);
        let t = tally(&poll, eligible);
        assert_eq!(t.counts, vec![1, 1]);
        assert_eq!(t.counted, vec![(a, 0), (b, 1)]);
        doc.commit();
        let heads: Vec<[u8; 32]> = doc.get_heads().iter().map(|h| h.0).collect();
        close(&mut doc, &p, &Close { heads, counts: t.counts.clone(), root: t.root }).unwrap();
        // A vote after the close is not counted by the recount.
        vote(&mut doc, &a, &p, 1).unwrap();
        let r = recount(&doc, &p, eligible).unwrap();
        assert!(r.matches);
        assert_eq!(r.tally, t);
        // A close that lies about the count, or about who voted what, fails the recount.
        let mut lie = doc.fork();
        let heads: Vec<[u8; 32]> = lie.get_heads().iter().map(|h| h.0).collect();
        lie.delete(ROOT, format!("close/{}", p.id())).unwrap();
        close(&mut lie, &p, &Close { heads: heads.clone(), counts: vec![2, 0], root: t.root }).unwrap();
        assert!(!recount(&lie, &p, eligible).unwrap().matches);
        let swapped = merkle_root(&[(a, 1), (b, 0)]);
        lie.put(ROOT, format!("close/{}", p.id()), Close { heads, counts: vec![1, 1], root: swapped }.encode())
            .unwrap();
        assert!(!recount(&lie, &p, eligible).unwrap().matches);
    }

    #[test]
    fn the_merkle_root_binds_every_position() {
        let ps: Vec<(NodeId, usize)> = (0..5u8).map(|i| (NodeId([i; 20]), usize::from(i % 2))).collect();
        let root = merkle_root(&ps);
        let mut reordered = ps.clone();
        reordered.reverse();
        assert_eq!(merkle_root(&reordered), root, "order of listing does not matter");
        for i in 0..ps.len() {
            let mut changed = ps.clone();
            changed[i].1 ^= 1;
            assert_ne!(merkle_root(&changed), root);
            let mut fewer = ps.clone();
            fewer.remove(i);
            assert_ne!(merkle_root(&fewer), root);
        }
        assert_ne!(merkle_root(&[]), root);
        assert_eq!(
            Close::decode(&Close { heads: vec![], counts: vec![0, 7], root }.encode()).unwrap().counts,
            vec![0, 7]
        );
        assert!(Close::decode(&[1, 0, 0]).is_none());
    }
}
