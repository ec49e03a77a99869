//! Reviews (`spec/plugins.md`, "reviews"): after an exchange both parties completed, each
//! party may rate the other once, 1 to 5, with a text.
//!
//! A review proves itself wherever it is copied, as an OpenBazaar rating is bound to its
//! order: it carries both parties' signed proofs that they completed the exchange
//! ([`Proof`]) and the reviewer's own signature over the review. So it is judged from the
//! change alone at every node (no document state, no order of arrival), and a view can
//! re-check every review it counts, whoever stored it (an owner's snapshot included).
//!
//! Reviews live in a community's public part (home `CommunityPublic`): anyone who follows
//! the community reads them, so a node's standing can be checked with peers beyond one
//! community. Who reads a standing, and how much each review counts, is the reader's:
//! `node::reputation`.
//!
//! A review is the root key `r/<reviewer>/<proposer>/<n>/<seller>` holding bytes:
//! `version (1) ‖ rating (1) ‖ time (8, LE ms) ‖ proposer's proof (96) ‖ seller's proof
//! (96) ‖ reviewer's signature (64) ‖ text (UTF-8)`. Put once, never changed or deleted.

use automerge::{AutoCommit, ROOT, ReadDoc};

use super::exchange::{ExchangeRef, Proof};
use super::ops::{Action, Target};
use super::{Broken, DocKind, Home, Op, Writer, Writers};
use crate::crypto::{self, CONTEXT_REVIEW_SIGNATURE};
use crate::identity::{Identity, NodeId};
use crate::limits::{REVIEW_TEXT_MAX, REVIEWS_PER_CHANGE_MAX};
use crate::routing::Class;

/// A community's reviews (public).
pub struct Reviews;

const RULE_OWN: &str = "a member writes only its own reviews";
const RULE_COMPLETED: &str =
    "a review cites an exchange both parties signed as completed, is written by a party of it and signed by it";
const RULE_ONCE: &str = "a review is written once, never changed or deleted";
const RULE_FORM: &str = "a review rates 1 to 5, with a text of at most 2000 bytes";
const RULE_MANY: &str = "a change adds at most 64 reviews";

const VERSION: u8 = 1;
const FIXED: usize = 1 + 1 + 8 + Proof::LEN * 2 + 64;

impl DocKind for Reviews {
    kind_basics!("reviews", Home::CommunityPublic, Writers::Members, Class::Market);

    fn check(&self, by: &Writer, ops: &[Op]) -> Result<(), Broken> {
        let mut n = 0;
        for op in ops {
            let (Target::Root, Some(key)) = (&op.target, op.map_key()) else {
                return Err(Broken { rule: RULE_OWN });
            };
            let (reviewer, x) = parse_key(key).ok_or(Broken { rule: RULE_OWN })?;
            if reviewer != by.node {
                return Err(Broken { rule: RULE_OWN });
            }
            if op.action != Action::Put || op.overwrites {
                return Err(Broken { rule: RULE_ONCE });
            }
            n += 1;
            if n > REVIEWS_PER_CHANGE_MAX {
                return Err(Broken { rule: RULE_MANY });
            }
            let review = op.bytes().ok_or(Broken { rule: RULE_FORM }).and_then(|b| decode(b, reviewer, x))?;
            review.verify()?;
        }
        Ok(())
    }

    fn show(&self, doc: &AutoCommit) -> Vec<String> {
        reviews(doc)
            .iter()
            .map(|r| {
                format!(
                    "{} rated {} {}/5 for exchange {}: {}",
                    r.reviewer,
                    r.subject(),
                    r.rating,
                    r.exchange.id(),
                    r.text
                )
            })
            .collect()
    }
}

/// A review as read (every signature in it checked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Review {
    /// Who wrote it (a party of the exchange).
    pub reviewer: NodeId,
    /// The exchange it is about.
    pub exchange: ExchangeRef,
    /// 1 to 5.
    pub rating: u8,
    /// The reviewer's words.
    pub text: String,
    /// When the reviewer wrote it (its clock), ms since the Unix epoch.
    pub at_unix_ms: u64,
    proofs: [Proof; 2],
    signature: [u8; 64],
}

impl Review {
    /// Whom it rates: the other party.
    pub fn subject(&self) -> NodeId {
        if self.reviewer == self.exchange.proposer { self.exchange.seller } else { self.exchange.proposer }
    }

    /// Both parties' proofs hold and the reviewer signed the review.
    fn verify(&self) -> Result<(), Broken> {
        let x = &self.exchange;
        let [p, s] = &self.proofs;
        let reviewer_key = if self.reviewer == x.proposer { &p.public } else { &s.public };
        let ok = x.proposer != x.seller
            && x.has_party(&self.reviewer)
            && p.party() == x.proposer
            && s.party() == x.seller
            && p.holds(x)
            && s.holds(x)
            && crypto::verify(reviewer_key, CONTEXT_REVIEW_SIGNATURE, &signed_parts(self).each(), &self.signature)
                .is_ok();
        if ok { Ok(()) } else { Err(Broken { rule: RULE_COMPLETED }) }
    }
}

struct Parts {
    statement: [u8; 48],
    rating: [u8; 1],
    at: [u8; 8],
    text: Vec<u8>,
}

impl Parts {
    fn each(&self) -> [&[u8]; 4] {
        [&self.statement, &self.rating, &self.at, &self.text]
    }
}

fn signed_parts(r: &Review) -> Parts {
    Parts {
        statement: r.exchange.statement(),
        rating: [r.rating],
        at: r.at_unix_ms.to_le_bytes(),
        text: r.text.as_bytes().to_vec(),
    }
}

/// The key of `reviewer`'s review of exchange `x`.
pub fn key(reviewer: &NodeId, x: &ExchangeRef) -> String {
    format!("r/{reviewer}/{}/{}/{}", x.proposer, x.n, x.seller)
}

fn parse_key(key: &str) -> Option<(NodeId, ExchangeRef)> {
    let mut p = key.strip_prefix("r/")?.split('/');
    let (reviewer, proposer, n, seller) = (p.next()?, p.next()?, p.next()?, p.next()?);
    if p.next().is_some() {
        return None;
    }
    let x = ExchangeRef { proposer: NodeId::parse(proposer)?, n: n.parse().ok()?, seller: NodeId::parse(seller)? };
    Some((NodeId::parse(reviewer)?, x))
}

/// Why a review cannot be written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReviewError {
    /// Outside 1 to 5.
    #[error("a rating is a whole number from 1 to 5 (not {0})")]
    Rating(u8),
    /// Text over [`REVIEW_TEXT_MAX`] bytes.
    #[error("a review's text is at most {REVIEW_TEXT_MAX} bytes (this one is {0})")]
    Text(usize),
    /// The proofs do not show both parties completed it, or `me` is not a party.
    #[error("only a party of an exchange both parties completed reviews it")]
    NotCompleted,
}

/// `me`'s review of exchange `x`, whose parties' proofs are `proofs` (the proposer's,
/// then the seller's), as the bytes a review key holds.
pub fn write(
    me: &Identity,
    x: &ExchangeRef,
    proofs: [Proof; 2],
    rating: u8,
    text: &str,
    at_unix_ms: u64,
) -> Result<Vec<u8>, ReviewError> {
    if !(1..=5).contains(&rating) {
        return Err(ReviewError::Rating(rating));
    }
    if text.len() > REVIEW_TEXT_MAX {
        return Err(ReviewError::Text(text.len()));
    }
    let mut review = Review {
        reviewer: me.node_id(),
        exchange: *x,
        rating,
        text: text.to_string(),
        at_unix_ms,
        proofs,
        signature: [0; 64],
    };
    review.signature = me.sign(CONTEXT_REVIEW_SIGNATURE, &signed_parts(&review).each());
    review.verify().map_err(|_| ReviewError::NotCompleted)?;
    Ok(encode(&review))
}

fn encode(r: &Review) -> Vec<u8> {
    let mut out = Vec::with_capacity(FIXED + r.text.len());
    out.push(VERSION);
    out.push(r.rating);
    out.extend_from_slice(&r.at_unix_ms.to_le_bytes());
    out.extend_from_slice(&r.proofs[0].encode());
    out.extend_from_slice(&r.proofs[1].encode());
    out.extend_from_slice(&r.signature);
    out.extend_from_slice(r.text.as_bytes());
    out
}

/// Reads a review's bytes (the form only; [`Review::verify`] checks its signatures).
fn decode(b: &[u8], reviewer: NodeId, exchange: ExchangeRef) -> Result<Review, Broken> {
    let bad = Broken { rule: RULE_FORM };
    if b.len() < FIXED || b.len() > FIXED + REVIEW_TEXT_MAX || b[0] != VERSION || !(1..=5).contains(&b[1]) {
        return Err(bad);
    }
    let at = u64::from_le_bytes(b[2..10].try_into().map_err(|_| bad)?);
    let p = Proof::decode(&b[10..10 + Proof::LEN]).ok_or(bad)?;
    let s = Proof::decode(&b[10 + Proof::LEN..10 + 2 * Proof::LEN]).ok_or(bad)?;
    let signature: [u8; 64] = b[FIXED - 64..FIXED].try_into().map_err(|_| bad)?;
    let text = std::str::from_utf8(&b[FIXED..]).map_err(|_| bad)?.to_string();
    Ok(Review { reviewer, exchange, rating: b[1], text, at_unix_ms: at, proofs: [p, s], signature })
}

/// Every review in the document whose signatures hold, in key order.
pub fn reviews(doc: &AutoCommit) -> Vec<Review> {
    let mut out = Vec::new();
    for key in doc.keys(ROOT) {
        let Some((reviewer, x)) = parse_key(&key) else { continue };
        let Some(b) = super::market::bytes(doc, &ROOT, &key) else { continue };
        if let Ok(r) = decode(&b, reviewer, x)
            && r.verify().is_ok()
        {
            out.push(r);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::ops::Key;
    use super::*;
    use automerge::transaction::Transactable;

    fn put(key: &str, value: Vec<u8>) -> Op {
        Op { value: Some(value.into()), ..Op::new(Target::Root, Key::Map(key.into()), Action::Put) }
    }

    struct Deal {
        buyer: Identity,
        seller: Identity,
        x: ExchangeRef,
    }

    fn deal() -> Deal {
        let (buyer, seller) = (Identity::generate(), Identity::generate());
        let x = ExchangeRef { proposer: buyer.node_id(), n: 17, seller: seller.node_id() };
        Deal { buyer, seller, x }
    }

    impl Deal {
        fn proofs(&self) -> [Proof; 2] {
            [Proof::sign(&self.buyer, &self.x), Proof::sign(&self.seller, &self.x)]
        }
    }

    #[test]
    fn a_review_needs_both_proofs_a_party_and_its_signature() {
        let d = deal();
        let by = |i: &Identity| Writer { node: i.node_id(), role: None };
        let review = write(&d.buyer, &d.x, d.proofs(), 4, "good eggs", 1_000).unwrap();
        let k = key(&d.buyer.node_id(), &d.x);
        assert_eq!(Reviews.check(&by(&d.buyer), &[put(&k, review.clone())]), Ok(()));
        // Written under another reviewer's key, or by someone else.
        assert!(Reviews.check(&by(&d.seller), &[put(&k, review.clone())]).is_err());
        let theirs = key(&d.seller.node_id(), &d.x);
        assert!(Reviews.check(&by(&d.buyer), &[put(&theirs, review.clone())]).is_err());
        // Changed, overwritten or deleted.
        let again = Op { overwrites: true, ..put(&k, review.clone()) };
        assert!(Reviews.check(&by(&d.buyer), &[again]).is_err());
        let gone = Op::new(Target::Root, Key::Map(k.clone()), Action::Delete);
        assert!(Reviews.check(&by(&d.buyer), &[gone]).is_err());
        // A flipped bit anywhere in it (rating, proofs, signature, text).
        for i in 1..review.len() {
            let mut bad = review.clone();
            bad[i] ^= 1;
            assert!(Reviews.check(&by(&d.buyer), &[put(&k, bad)]).is_err(), "byte {i}");
        }
        // Only the seller's proof (the buyer never completed it): refused, and cannot be written.
        let [_, s] = d.proofs();
        assert_eq!(write(&d.seller, &d.x, [s, s], 5, "", 1).unwrap_err(), ReviewError::NotCompleted);
        // A third node, with both real proofs, is no party.
        let other = Identity::generate();
        assert_eq!(write(&other, &d.x, d.proofs(), 5, "", 1).unwrap_err(), ReviewError::NotCompleted);
        assert_eq!(write(&d.buyer, &d.x, d.proofs(), 6, "", 1).unwrap_err(), ReviewError::Rating(6));
        // Proofs of another exchange.
        let y = ExchangeRef { n: 18, ..d.x };
        let proofs = [Proof::sign(&d.buyer, &y), Proof::sign(&d.seller, &y)];
        assert!(write(&d.buyer, &d.x, proofs, 5, "", 1).is_err());
    }

    #[test]
    fn the_view_counts_only_reviews_whose_signatures_hold() {
        let d = deal();
        let mut doc = AutoCommit::new();
        let good = write(&d.seller, &d.x, d.proofs(), 5, "paid on time", 2_000).unwrap();
        doc.put(ROOT, key(&d.seller.node_id(), &d.x), good.clone()).unwrap();
        // As a snapshot could hold it: the buyer's "review" forged by someone else.
        let mut forged = write(&d.buyer, &d.x, d.proofs(), 5, "", 3_000).unwrap();
        forged[1] = 1;
        doc.put(ROOT, key(&d.buyer.node_id(), &d.x), forged).unwrap();
        let all = reviews(&doc);
        assert_eq!(all.len(), 1);
        assert_eq!((all[0].reviewer, all[0].subject(), all[0].rating), (d.seller.node_id(), d.buyer.node_id(), 5));
        assert_eq!(all[0].text, "paid on time");
    }
}
