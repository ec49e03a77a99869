//! Links between communities (`spec/plugins.md`, "links"): a formal link, signed by an
//! owner of each, that lets designated public content flow group to group (the farmers'
//! public market shown to the consumers' members, and theirs to the farmers').
//!
//! Each side's signature carries its signer's membership certificate chain, so anyone
//! can check, from the record alone, that an owner of each community signed: nothing
//! needs the other community's members-only log. Keys, in each community's public part:
//! - `p/<statement hash>`: a proposal, one side's signed statement;
//! - `l/<statement hash>`: the link, the statement with both sides' signatures;
//! - `u/<statement hash>`: an owner of either side ends it.

use automerge::{AutoCommit, ROOT, ReadDoc};

use super::ops::{Action, Target};
use super::{Broken, DocKind, Home, Op, Writer, Writers};
use crate::crypto::{self, CONTEXT_LINK};
use crate::doc::{CommunityId, Role};
use crate::envelope::{Cert, Genesis};
use crate::identity::{Identity, NodeId};
use crate::limits::CERT_CHAIN_LEN_MAX;
use crate::routing::Class;

/// A community's links (public).
pub struct Links;

const RULE_BOTH: &str = "a link is signed by an owner of each community";
const RULE_SIDE: &str = "a proposal or an unlink is signed by an owner of one of the two communities, who writes it";
const RULE_FORM: &str = "link records are written once, well-formed, under their statement's hash";

impl DocKind for Links {
    kind_basics!("links", Home::CommunityPublic, Writers::Owners, Class::Membership);

    fn check(&self, by: &Writer, ops: &[Op]) -> Result<(), Broken> {
        for op in ops {
            let (Target::Root, Some(key)) = (&op.target, op.map_key()) else {
                return Err(Broken { rule: RULE_FORM });
            };
            if op.action != Action::Put || op.overwrites {
                return Err(Broken { rule: RULE_FORM });
            }
            let bytes = op.bytes().ok_or(Broken { rule: RULE_FORM })?;
            let (what, hash) = key.split_once('/').ok_or(Broken { rule: RULE_FORM })?;
            match what {
                "p" | "u" => {
                    let (s, side) = decode_side_record(bytes).ok_or(Broken { rule: RULE_FORM })?;
                    if s.hash_hex() != hash {
                        return Err(Broken { rule: RULE_FORM });
                    }
                    let msg = if what == "p" { s.encode() } else { unlink_message(&s) };
                    if side.signer() != by.node || !side.owner_of_either(&s, &msg) {
                        return Err(Broken { rule: RULE_SIDE });
                    }
                }
                "l" => {
                    let l = Link::decode(bytes).ok_or(Broken { rule: RULE_FORM })?;
                    if l.statement.hash_hex() != hash {
                        return Err(Broken { rule: RULE_FORM });
                    }
                    if !l.holds() {
                        return Err(Broken { rule: RULE_BOTH });
                    }
                    if l.sides[0].signer() != by.node && l.sides[1].signer() != by.node {
                        return Err(Broken { rule: RULE_BOTH });
                    }
                }
                _ => return Err(Broken { rule: RULE_FORM }),
            }
        }
        Ok(())
    }

    fn show(&self, doc: &AutoCommit) -> Vec<String> {
        read(doc)
            .iter()
            .map(|e| format!("{} {} <-> {} {:?}", e.hash_hex, e.statement.a, e.statement.b, e.state))
            .collect()
    }
}

/// What a link lets flow: each a community's public kind.
pub const SHARES: [(&str, u8); 3] = [("market", 1), ("feed", 2), ("reviews", 4)];

/// The public kind a share name stands for.
pub fn shared_kind(share: &str) -> Option<&'static str> {
    match share {
        "market" => Some("market-public"),
        "feed" => Some("public-feed"),
        "reviews" => Some("reviews"),
        _ => None,
    }
}

/// What the owners sign: the two communities (the proposer's first), what flows, and
/// the proposer's number for it (a new link after an unlink is a new statement).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// The proposing community.
    pub a: CommunityId,
    /// The other.
    pub b: CommunityId,
    /// What flows both ways, a set of [`SHARES`] bits.
    pub shares: u8,
    /// The proposer's number (its clock when it proposed).
    pub n: u64,
}

impl Statement {
    const VERSION: u8 = 1;
    const LEN: usize = 1 + 20 + 20 + 1 + 8;

    /// `version (1) ‖ a (20) ‖ b (20) ‖ shares (1) ‖ n (8, LE)`.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![Self::VERSION];
        out.extend_from_slice(&self.a.0);
        out.extend_from_slice(&self.b.0);
        out.push(self.shares);
        out.extend_from_slice(&self.n.to_le_bytes());
        out
    }

    fn decode(b: &[u8]) -> Option<Self> {
        if b.len() != Self::LEN || b[0] != Self::VERSION {
            return None;
        }
        let s = Statement {
            a: CommunityId(b[1..21].try_into().ok()?),
            b: CommunityId(b[21..41].try_into().ok()?),
            shares: b[41],
            n: u64::from_le_bytes(b[42..50].try_into().ok()?),
        };
        let all: u8 = SHARES.iter().map(|(_, bit)| bit).sum();
        (s.a != s.b && s.shares != 0 && s.shares & !all == 0).then_some(s)
    }

    /// Its hash in hex: what keys name it by.
    pub fn hash_hex(&self) -> String {
        crate::store::hex(&crypto::derive(CONTEXT_LINK, &[&self.encode()]))
    }

    /// The share names it carries.
    pub fn share_names(&self) -> Vec<&'static str> {
        SHARES.iter().filter(|(_, bit)| self.shares & bit != 0).map(|(n, _)| *n).collect()
    }

    /// The other community, seen from `me`.
    pub fn other(&self, me: &CommunityId) -> CommunityId {
        if self.a == *me { self.b } else { self.a }
    }
}

fn unlink_message(s: &Statement) -> Vec<u8> {
    [b"unlink".as_slice(), &s.encode()].concat()
}

/// One side's signature: its signer's membership chain in its community and its
/// signature over a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Side {
    /// The community's genesis.
    pub genesis: Genesis,
    /// The signer's certificate chain (empty for the founder).
    pub chain: Vec<Cert>,
    /// The signature.
    pub signature: [u8; 64],
}

impl Side {
    /// `me`, a member of the community of `genesis` with `chain`, signs `message`.
    pub fn sign(me: &Identity, genesis: Genesis, chain: Vec<Cert>, message: &[u8]) -> Self {
        Side { genesis, chain, signature: me.sign(CONTEXT_LINK, &[message]) }
    }

    fn signer_key(&self) -> [u8; 32] {
        self.chain.last().map_or(self.genesis.root, |c| c.member)
    }

    /// Who signed.
    pub fn signer(&self) -> NodeId {
        NodeId::from_signing_public(&self.signer_key())
    }

    /// The community its chain is of.
    pub fn community(&self) -> CommunityId {
        crate::membership::community_id(&self.genesis)
    }

    /// Whether an owner of `community` signed `message`.
    fn owner_signed(&self, community: &CommunityId, message: &[u8]) -> bool {
        let pk = self.signer_key();
        let owner = crate::membership::check_chain(community, &self.genesis, &self.chain, &pk, &|_| false)
            .is_ok_and(|(role, _)| role == Role::Owner);
        owner && crypto::verify(&pk, CONTEXT_LINK, &[message], &self.signature).is_ok()
    }

    fn owner_of_either(&self, s: &Statement, message: &[u8]) -> bool {
        let c = self.community();
        (c == s.a || c == s.b) && self.owner_signed(&c, message)
    }

    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.genesis.root);
        out.extend_from_slice(&self.genesis.nonce);
        out.push(self.chain.len() as u8);
        for c in &self.chain {
            out.extend_from_slice(&c.community);
            out.extend_from_slice(&c.member);
            out.push(c.role);
            out.extend_from_slice(&c.issuer);
            out.extend_from_slice(&c.signature);
        }
        out.extend_from_slice(&self.signature);
    }

    fn decode(b: &[u8]) -> Option<(Self, &[u8])> {
        let (root, b) = b.split_at_checked(32)?;
        let (nonce, b) = b.split_at_checked(16)?;
        let (&n, mut b) = b.split_first()?;
        if usize::from(n) > CERT_CHAIN_LEN_MAX {
            return None;
        }
        let mut chain = Vec::with_capacity(usize::from(n));
        for _ in 0..n {
            let (c, rest) = b.split_at_checked(20 + 32 + 1 + 32 + 64)?;
            chain.push(Cert {
                community: c[..20].try_into().ok()?,
                member: c[20..52].try_into().ok()?,
                role: c[52],
                issuer: c[53..85].try_into().ok()?,
                signature: c[85..149].try_into().ok()?,
            });
            b = rest;
        }
        let (sig, rest) = b.split_at_checked(64)?;
        let genesis = Genesis { root: root.try_into().ok()?, nonce: nonce.try_into().ok()? };
        Some((Side { genesis, chain, signature: sig.try_into().ok()? }, rest))
    }
}

/// A proposal's or an unlink's bytes: the statement, then one side.
pub fn side_record(s: &Statement, side: &Side) -> Vec<u8> {
    let mut out = s.encode();
    side.encode(&mut out);
    out
}

fn decode_side_record(b: &[u8]) -> Option<(Statement, Side)> {
    let s = Statement::decode(b.get(..Statement::LEN)?)?;
    let (side, rest) = Side::decode(&b[Statement::LEN..])?;
    rest.is_empty().then_some((s, side))
}

/// `me` signs a proposal of `s` as an owner of its community.
pub fn propose(me: &Identity, s: &Statement, genesis: Genesis, chain: Vec<Cert>) -> Vec<u8> {
    side_record(s, &Side::sign(me, genesis, chain, &s.encode()))
}

/// `me` ends the link of `s` as an owner of either community.
pub fn unlink(me: &Identity, s: &Statement, genesis: Genesis, chain: Vec<Cert>) -> Vec<u8> {
    side_record(s, &Side::sign(me, genesis, chain, &unlink_message(s)))
}

/// A link: the statement signed by an owner of each community (`a`'s side first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// What was agreed.
    pub statement: Statement,
    /// `a`'s owner's signature, then `b`'s.
    pub sides: [Side; 2],
}

impl Link {
    /// `statement ‖ a's side ‖ b's side`.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = self.statement.encode();
        self.sides[0].encode(&mut out);
        self.sides[1].encode(&mut out);
        out
    }

    /// From its bytes; `None` unless well-formed.
    pub fn decode(b: &[u8]) -> Option<Self> {
        let s = Statement::decode(b.get(..Statement::LEN)?)?;
        let (x, rest) = Side::decode(&b[Statement::LEN..])?;
        let (y, rest) = Side::decode(rest)?;
        rest.is_empty().then_some(Link { statement: s, sides: [x, y] })
    }

    /// Whether an owner of each community signed it.
    pub fn holds(&self) -> bool {
        let m = self.statement.encode();
        self.sides[0].owner_signed(&self.statement.a, &m) && self.sides[1].owner_signed(&self.statement.b, &m)
    }
}

/// Where a statement stands in a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkState {
    /// Proposed by an owner of `by`; the other side has not signed (here).
    Proposed {
        /// The proposing community.
        by: CommunityId,
        /// The proposal's side, for the other owner to countersign.
        side: Side,
    },
    /// Signed by both.
    Linked(Link),
    /// Ended by an owner of `by`.
    Unlinked {
        /// Which side ended it.
        by: CommunityId,
    },
}

impl LinkState {
    /// How far it went: a statement is at its furthest state (unlinked over linked over
    /// proposed), whichever document said it.
    pub fn rank(&self) -> u8 {
        match self {
            LinkState::Proposed { .. } => 0,
            LinkState::Linked(_) => 1,
            LinkState::Unlinked { .. } => 2,
        }
    }
}

/// A statement as one links document holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Its hash in hex.
    pub hash_hex: String,
    /// The statement.
    pub statement: Statement,
    /// How far it went.
    pub state: LinkState,
}

/// Every statement in a links document, each at its furthest valid state (unlinked over
/// linked over proposed), every signature checked.
pub fn read(doc: &AutoCommit) -> Vec<Entry> {
    let mut out: Vec<Entry> = Vec::new();
    for key in doc.keys(ROOT) {
        let Some((what, hash)) = key.split_once('/') else { continue };
        let Some(b) = super::market::bytes(doc, &ROOT, &key) else { continue };
        let b = b.as_slice();
        let found = match what {
            "p" => decode_side_record(b)
                .filter(|(s, side)| side.owner_of_either(s, &s.encode()))
                .map(|(s, side)| (s, LinkState::Proposed { by: side.community(), side })),
            "u" => decode_side_record(b)
                .filter(|(s, side)| side.owner_of_either(s, &unlink_message(s)))
                .map(|(s, side)| (s, LinkState::Unlinked { by: side.community() })),
            "l" => Link::decode(b).filter(Link::holds).map(|l| (l.statement.clone(), LinkState::Linked(l))),
            _ => None,
        };
        let Some((statement, state)) = found else { continue };
        if statement.hash_hex() != hash {
            continue;
        }
        match out.iter_mut().find(|e| e.hash_hex == hash) {
            Some(e) if state.rank() > e.state.rank() => e.state = state,
            Some(_) => {}
            None => out.push(Entry { hash_hex: hash.to_string(), statement, state }),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::ops::Key;
    use super::*;

    fn put(key: &str, value: Vec<u8>) -> Op {
        Op { value: Some(value.into()), ..Op::new(Target::Root, Key::Map(key.into()), Action::Put) }
    }

    /// A founder's community: its genesis (the founder signs with an empty chain).
    fn founded(by: &Identity) -> (CommunityId, Genesis) {
        let genesis = Genesis { root: by.signing_public(), nonce: crypto::random_32()[..16].try_into().unwrap() };
        (crate::membership::community_id(&genesis), genesis)
    }

    #[test]
    fn a_link_holds_only_with_an_owner_of_each_side() {
        let (fo, co, other) = (Identity::generate(), Identity::generate(), Identity::generate());
        let ((farmers, fg), (consumers, cg), (_, og)) = (founded(&fo), founded(&co), founded(&other));
        let s = Statement { a: farmers, b: consumers, shares: 1, n: 7 };
        let h = s.hash_hex();
        let by = |i: &Identity| Writer { node: i.node_id(), role: Some(Role::Owner) };
        let proposal = propose(&fo, &s, fg, vec![]);
        assert_eq!(Links.check(&by(&fo), &[put(&format!("p/{h}"), proposal.clone())]), Ok(()));
        assert!(Links.check(&by(&co), &[put(&format!("p/{h}"), proposal.clone())]).is_err(), "written by another");
        let side = |i: &Identity, g: Genesis| Side::sign(i, g, vec![], &s.encode());
        let both = Link { statement: s.clone(), sides: [side(&fo, fg), side(&co, cg)] };
        assert!(both.holds());
        assert_eq!(Links.check(&by(&co), &[put(&format!("l/{h}"), both.encode())]), Ok(()));
        // One side signed twice, a stranger's community for the other, or a bad signature.
        for (bad, why) in [
            (Link { statement: s.clone(), sides: [side(&fo, fg), side(&fo, fg)] }, "one side twice"),
            (Link { statement: s.clone(), sides: [side(&fo, fg), side(&other, og)] }, "another community's owner"),
            (
                Link { statement: s.clone(), sides: [side(&fo, fg), Side { signature: [7; 64], ..side(&co, cg) }] },
                "a forged signature",
            ),
        ] {
            assert_eq!(
                Links.check(&by(&fo), &[put(&format!("l/{h}"), bad.encode())]),
                Err(Broken { rule: RULE_BOTH }),
                "{why}"
            );
        }
        // An unlink by an owner of either side; not by a third.
        let u = unlink(&co, &s, cg, vec![]);
        assert_eq!(Links.check(&by(&co), &[put(&format!("u/{h}"), u)]), Ok(()));
        let u = unlink(&other, &s, og, vec![]);
        assert!(Links.check(&by(&other), &[put(&format!("u/{h}"), u)]).is_err());
    }

    #[test]
    fn the_view_keeps_each_statement_at_its_furthest_state() {
        use automerge::transaction::Transactable;
        let (fo, co) = (Identity::generate(), Identity::generate());
        let ((farmers, fg), (consumers, cg)) = (founded(&fo), founded(&co));
        let s = Statement { a: farmers, b: consumers, shares: 3, n: 1 };
        let h = s.hash_hex();
        let mut doc = AutoCommit::new();
        doc.put(ROOT, format!("p/{h}"), propose(&fo, &s, fg, vec![])).unwrap();
        assert!(matches!(read(&doc)[0].state, LinkState::Proposed { by, .. } if by == farmers));
        let link = Link {
            statement: s.clone(),
            sides: [Side::sign(&fo, fg, vec![], &s.encode()), Side::sign(&co, cg, vec![], &s.encode())],
        };
        doc.put(ROOT, format!("l/{h}"), link.encode()).unwrap();
        assert!(matches!(read(&doc)[0].state, LinkState::Linked(_)));
        assert_eq!(read(&doc)[0].statement.share_names(), vec!["market", "feed"]);
        doc.put(ROOT, format!("u/{h}"), unlink(&fo, &s, fg, vec![])).unwrap();
        assert!(matches!(read(&doc)[0].state, LinkState::Unlinked { by } if by == farmers));
    }
}
