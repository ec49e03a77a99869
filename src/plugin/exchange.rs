//! Exchanges (`spec/plugins.md`, "exchange"): two members agree about one market listing,
//! one step at a time, each step signed by the party that takes it and carried one-way
//! (a stick weeks later will do). The buyer proposes; the listing's author accepts;
//! each party marks it completed; either may cancel before both completed.
//!
//! Everything a rule needs is in the keys, so every node judges a change alike from the
//! change alone: a proposal is `x/<proposer>/<n>` (a map: listing, seller, note, time),
//! written by its proposer; a step is `s/<party>/<proposer>/<n>/<seller>/<step>` (its
//! value the time), written by that party, who must be the proposer or the seller it
//! names, and only the seller accepts. A step naming another seller than its proposal's
//! counts for nothing. A `completed` step holds the party's [`Proof`]: its signature that
//! it completed this exchange, which a review carries wherever it goes (`review`).

use automerge::transaction::Transactable;
use automerge::{AutoCommit, ObjType, ROOT, ReadDoc, Value};

use super::market::{number, text};

use super::ops::{Action, Target};
use super::{Broken, DocKind, Home, Op, Writer, Writers};
use crate::crypto::{self, CONTEXT_EXCHANGE_COMPLETED};
use crate::identity::{Identity, NodeId};
use crate::routing::Class;

/// A community's exchanges (members only).
pub struct Exchanges;

const RULE_OWN: &str = "a member writes only its own proposals and steps";
const RULE_PARTY: &str = "only a party of an exchange takes its steps, and only the seller accepts";
const RULE_PROOF: &str = "a completed step holds its party's signature, and a step once taken stands";

impl DocKind for Exchanges {
    kind_basics!("exchange", Home::Members, Writers::Members, Class::Market);

    fn check(&self, by: &Writer, ops: &[Op]) -> Result<(), Broken> {
        let me = by.node.to_string();
        for op in ops {
            match (&op.target, op.map_key()) {
                (Target::Own, _) => {}
                (Target::Root, Some(key)) => {
                    if let Some(rest) = key.strip_prefix("x/") {
                        if rest.split('/').next() != Some(me.as_str()) {
                            return Err(Broken { rule: RULE_OWN });
                        }
                    } else if let Some(step) = Step::parse(key) {
                        if step.party != me {
                            return Err(Broken { rule: RULE_OWN });
                        }
                        let party = step.party == step.proposer || step.party == step.seller;
                        if !party || step.proposer == step.seller {
                            return Err(Broken { rule: RULE_PARTY });
                        }
                        if step.step == StepKind::Accepted && step.party != step.seller {
                            return Err(Broken { rule: RULE_PARTY });
                        }
                        if op.action != Action::Put || op.overwrites {
                            return Err(Broken { rule: RULE_PROOF });
                        }
                        if step.step == StepKind::Completed {
                            let proof = op.bytes().and_then(Proof::decode).ok_or(Broken { rule: RULE_PROOF })?;
                            if proof.party().to_string() != step.party || !proof.holds(&step.exchange()) {
                                return Err(Broken { rule: RULE_PROOF });
                            }
                        }
                    } else {
                        return Err(Broken { rule: RULE_OWN });
                    }
                }
                _ => return Err(Broken { rule: RULE_OWN }),
            }
        }
        Ok(())
    }

    fn show(&self, doc: &AutoCommit) -> Vec<String> {
        exchanges(doc).iter().map(|x| format!("{} {:?} about {} ({})", x.id, x.state, x.listing, x.note)).collect()
    }
}

/// A step of an exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepKind {
    /// The seller agrees.
    Accepted,
    /// This party says it is done.
    Completed,
    /// This party calls it off.
    Cancelled,
}

impl StepKind {
    fn as_str(self) -> &'static str {
        match self {
            StepKind::Accepted => "accepted",
            StepKind::Completed => "completed",
            StepKind::Cancelled => "cancelled",
        }
    }
}

struct Step<'a> {
    party: &'a str,
    proposer: &'a str,
    n: &'a str,
    seller: &'a str,
    step: StepKind,
}

impl<'a> Step<'a> {
    fn parse(key: &'a str) -> Option<Self> {
        let mut p = key.strip_prefix("s/")?.split('/');
        let (party, proposer, n, seller, step) = (p.next()?, p.next()?, p.next()?, p.next()?, p.next()?);
        if p.next().is_some() || n.parse::<u64>().is_err() {
            return None;
        }
        let step = match step {
            "accepted" => StepKind::Accepted,
            "completed" => StepKind::Completed,
            "cancelled" => StepKind::Cancelled,
            _ => return None,
        };
        for id in [party, proposer, seller] {
            NodeId::parse(id)?;
        }
        Some(Step { party, proposer, n, seller, step })
    }

    fn exchange(&self) -> ExchangeRef {
        let id = |t: &str| NodeId::parse(t).unwrap_or(NodeId([0; 20]));
        ExchangeRef { proposer: id(self.proposer), n: self.n.parse().unwrap_or(0), seller: id(self.seller) }
    }
}

/// Which exchange: its proposer, the proposer's number for it, and the seller. Unique
/// across communities (a proposer numbers its proposals apart).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ExchangeRef {
    /// The proposer.
    pub proposer: NodeId,
    /// The proposer's number for it.
    pub n: u64,
    /// The listing's author.
    pub seller: NodeId,
}

impl ExchangeRef {
    /// The exchange's id as people give it: `<proposer>/<n>`.
    pub fn id(&self) -> String {
        format!("{}/{}", self.proposer, self.n)
    }

    /// Whether `node` is a party of it.
    pub fn has_party(&self, node: &NodeId) -> bool {
        self.proposer == *node || self.seller == *node
    }

    /// The statement a party signs when it completes the exchange (and a reviewer's
    /// signature starts with).
    pub(crate) fn statement(&self) -> [u8; 48] {
        let mut out = [0u8; 48];
        out[..20].copy_from_slice(&self.proposer.0);
        out[20..28].copy_from_slice(&self.n.to_le_bytes());
        out[28..].copy_from_slice(&self.seller.0);
        out
    }
}

/// A party's signature that it completed an exchange: its Ed25519 key and signature
/// (96 bytes on the wire), checkable by anyone, wherever it is copied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Proof {
    /// The party's Ed25519 key.
    pub public: [u8; 32],
    /// Its signature over the exchange.
    pub signature: [u8; 64],
}

impl Proof {
    /// Bytes on the wire.
    pub const LEN: usize = 96;

    /// `me` signs that it completed `x`.
    pub fn sign(me: &Identity, x: &ExchangeRef) -> Self {
        Proof { public: me.signing_public(), signature: me.sign(CONTEXT_EXCHANGE_COMPLETED, &[&x.statement()]) }
    }

    /// The party whose proof it is.
    pub fn party(&self) -> NodeId {
        NodeId::from_signing_public(&self.public)
    }

    /// Whether it proves that a party of `x` completed `x`.
    pub fn holds(&self, x: &ExchangeRef) -> bool {
        x.has_party(&self.party())
            && crypto::verify(&self.public, CONTEXT_EXCHANGE_COMPLETED, &[&x.statement()], &self.signature).is_ok()
    }

    /// The wire form.
    pub fn encode(&self) -> [u8; Self::LEN] {
        let mut out = [0u8; Self::LEN];
        out[..32].copy_from_slice(&self.public);
        out[32..].copy_from_slice(&self.signature);
        out
    }

    /// From the wire form (exactly [`Proof::LEN`] bytes).
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        if bytes.len() != Self::LEN {
            return None;
        }
        let (public, signature) = bytes.split_at(32);
        Some(Proof { public: public.try_into().ok()?, signature: signature.try_into().ok()? })
    }
}

/// Where an exchange stands, as both parties' signed steps say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Proposed by the buyer; the seller has not answered.
    Proposed,
    /// The seller accepted.
    Accepted,
    /// Both parties marked it completed.
    Completed,
    /// A party called it off before both completed.
    Cancelled,
}

impl State {
    /// The word for it.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Proposed => "proposed",
            State::Accepted => "accepted",
            State::Completed => "completed",
            State::Cancelled => "cancelled",
        }
    }
}

/// An exchange as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchange {
    /// Its id: `<proposer>/<n>`.
    pub id: String,
    /// Who proposed it (the buyer, or whoever answers a request).
    pub proposer: NodeId,
    /// The listing's author.
    pub seller: NodeId,
    /// The market listing it is about (`<author>/<n>`).
    pub listing: String,
    /// The proposer's note.
    pub note: String,
    /// When it was proposed (the proposer's clock), ms since the Unix epoch.
    pub proposed_unix_ms: u64,
    /// Where it stands.
    pub state: State,
    /// Which parties marked it completed, each with its signed proof.
    pub completed_by: Vec<(NodeId, Proof)>,
}

impl Exchange {
    /// Which exchange it is.
    pub fn reference(&self) -> ExchangeRef {
        ExchangeRef {
            proposer: self.proposer,
            n: self.id.rsplit('/').next().and_then(|n| n.parse().ok()).unwrap_or(0),
            seller: self.seller,
        }
    }

    /// Whether `node` marked it completed.
    pub fn completed(&self, node: &NodeId) -> bool {
        self.completed_by.iter().any(|(n, _)| n == node)
    }

    /// Whether `node` is a party of it.
    pub fn has_party(&self, node: &NodeId) -> bool {
        self.proposer == *node || self.seller == *node
    }
}

/// Proposes an exchange about `listing` (`<seller>/<n>`) as `me`; returns its id.
pub fn propose(
    doc: &mut AutoCommit,
    me: &NodeId,
    now_unix_ms: u64,
    listing: &str,
    note: &str,
) -> Result<String, automerge::AutomergeError> {
    let seller = listing.split('/').next().unwrap_or_default();
    let mut n = now_unix_ms;
    while doc.get(ROOT, format!("x/{me}/{n}").as_str())?.is_some() {
        n += 1;
    }
    let id = format!("{me}/{n}");
    let obj = doc.put_object(ROOT, format!("x/{id}"), ObjType::Map)?;
    doc.put(&obj, "listing", listing)?;
    doc.put(&obj, "seller", seller)?;
    doc.put(&obj, "note", note)?;
    doc.put(&obj, "at", now_unix_ms)?;
    Ok(id)
}

/// Takes a step in exchange `x` as `me` (a party of it); a completed step holds `me`'s
/// proof ([`Proof::sign`]).
pub fn step(
    doc: &mut AutoCommit,
    me: &Identity,
    x: &Exchange,
    step: StepKind,
    now: u64,
) -> Result<(), automerge::AutomergeError> {
    let key = format!("s/{}/{}/{}/{}", me.node_id(), x.id, x.seller, step.as_str());
    if doc.get(ROOT, key.as_str())?.is_some() {
        return Ok(()); // taken before: a step stands
    }
    match step {
        StepKind::Completed => doc.put(ROOT, key, Proof::sign(me, &x.reference()).encode().to_vec()),
        _ => doc.put(ROOT, key, now),
    }
}

/// Every exchange in the document, oldest first, each with where it stands.
pub fn exchanges(doc: &AutoCommit) -> Vec<Exchange> {
    let mut out = Vec::new();
    let mut steps: Vec<(String, String, String, StepKind, Option<Proof>)> = Vec::new();
    for key in doc.keys(ROOT) {
        if let Some(step) = Step::parse(&key) {
            let proof = super::market::bytes(doc, &ROOT, &key).and_then(|b| Proof::decode(&b));
            steps.push((
                format!("{}/{}", step.proposer, step.n),
                step.seller.to_string(),
                step.party.to_string(),
                step.step,
                proof,
            ));
            continue;
        }
        let Some(id) = key.strip_prefix("x/") else { continue };
        let Ok(Some((Value::Object(ObjType::Map), obj))) = doc.get(ROOT, key.as_str()) else { continue };
        let (Some(proposer), Some(listing)) =
            (id.split('/').next().and_then(NodeId::parse), text(doc, &obj, "listing"))
        else {
            continue;
        };
        // The seller is the listing's author, whatever else the proposal says.
        let Some(seller) = listing.split('/').next().and_then(NodeId::parse) else { continue };
        if seller == proposer {
            continue;
        }
        out.push(Exchange {
            id: id.to_string(),
            proposer,
            seller,
            listing,
            note: text(doc, &obj, "note").unwrap_or_default(),
            proposed_unix_ms: number(doc, &obj, "at").unwrap_or(0),
            state: State::Proposed,
            completed_by: Vec::new(),
        });
    }
    for x in out.iter_mut() {
        let seller = x.seller.to_string();
        let reference = x.reference();
        let mine = steps.iter().filter(|(id, s, ..)| *id == x.id && *s == seller);
        let (mut accepted, mut cancelled) = (false, false);
        for (_, _, party, step, proof) in mine {
            let Some(party) = NodeId::parse(party) else { continue };
            match (step, proof) {
                (StepKind::Accepted, _) if party == x.seller => accepted = true,
                // Counted only with its party's proof (re-checked: a snapshot is not
                // judged change by change).
                (StepKind::Completed, Some(p)) if p.party() == party && !x.completed(&party) && p.holds(&reference) => {
                    x.completed_by.push((party, *p))
                }
                (StepKind::Cancelled, _) if x.has_party(&party) => cancelled = true,
                _ => {}
            }
        }
        x.completed_by.sort_by_key(|(n, _)| *n);
        x.state = if x.completed_by.len() == 2 {
            State::Completed
        } else if cancelled {
            State::Cancelled
        } else if accepted || x.completed(&x.seller) {
            State::Accepted
        } else {
            State::Proposed
        };
    }
    out.sort_by(|a, b| (a.proposed_unix_ms, &a.id).cmp(&(b.proposed_unix_ms, &b.id)));
    out
}

#[cfg(test)]
mod tests {
    use super::super::ops::{Action, Key};
    use super::*;

    fn op(key: &str) -> Op {
        Op::new(Target::Root, Key::Map(key.into()), Action::Put)
    }

    fn put(key: &str, value: Vec<u8>) -> Op {
        Op { value: Some(value.into()), ..op(key) }
    }

    #[test]
    fn each_party_takes_only_its_own_steps_and_only_the_seller_accepts() {
        let (b, s) = (Identity::generate(), Identity::generate());
        let (buyer, seller, other) = (b.node_id(), s.node_id(), NodeId([3; 20]));
        let by = |n: NodeId| Writer { node: n, role: None };
        let x = format!("{buyer}/5");
        let step = |party: &NodeId, s: &str| format!("s/{party}/{x}/{seller}/{s}");
        let k = Exchanges;
        assert!(k.check(&by(buyer), &[op(&format!("x/{x}"))]).is_ok());
        assert!(k.check(&by(seller), &[op(&format!("x/{x}"))]).is_err(), "someone else's proposal");
        assert!(k.check(&by(seller), &[op(&step(&seller, "accepted"))]).is_ok());
        assert!(k.check(&by(buyer), &[op(&step(&buyer, "accepted"))]).is_err(), "the buyer accepts");
        let x5 = ExchangeRef { proposer: buyer, n: 5, seller };
        let proof = |who: &Identity, x: &ExchangeRef| Proof::sign(who, x).encode().to_vec();
        assert!(k.check(&by(buyer), &[put(&step(&buyer, "completed"), proof(&b, &x5))]).is_ok());
        assert!(k.check(&by(buyer), &[op(&step(&buyer, "completed"))]).is_err(), "completed without a proof");
        let x6 = ExchangeRef { n: 6, ..x5 };
        assert!(k.check(&by(buyer), &[put(&step(&buyer, "completed"), proof(&b, &x6))]).is_err(), "another's proof");
        assert!(k.check(&by(buyer), &[put(&step(&buyer, "completed"), proof(&s, &x5))]).is_err(), "the other's proof");
        let again = Op { overwrites: true, ..put(&step(&buyer, "completed"), proof(&b, &x5)) };
        assert!(k.check(&by(buyer), &[again]).is_err(), "a step taken again");
        let undo = Op::new(Target::Root, Key::Map(step(&buyer, "completed")), Action::Delete);
        assert!(k.check(&by(buyer), &[undo]).is_err(), "a step taken back");
        assert!(
            k.check(&by(buyer), &[put(&step(&seller, "completed"), proof(&s, &x5))]).is_err(),
            "a step for the other party"
        );
        assert!(k.check(&by(other), &[op(&step(&other, "completed"))]).is_err(), "not a party");
        assert!(k.check(&by(buyer), &[op(&format!("s/{buyer}/{x}/{seller}/paid"))]).is_err(), "no such step");
        assert!(k.check(&by(buyer), &[op("note")]).is_err());
    }

    #[test]
    fn an_exchange_moves_as_both_parties_say() {
        let (b, s) = (Identity::generate(), Identity::generate());
        let (buyer, seller) = (b.node_id(), s.node_id());
        let mut doc = AutoCommit::new();
        let id = propose(&mut doc, &buyer, 1_000, &format!("{seller}/7"), "two dozen").unwrap();
        let x = |d: &AutoCommit| exchanges(d).into_iter().find(|x| x.id == id).unwrap();
        assert_eq!(x(&doc).state, State::Proposed);
        let now = x(&doc);
        step(&mut doc, &s, &now, StepKind::Accepted, 2_000).unwrap();
        assert_eq!(x(&doc).state, State::Accepted);
        step(&mut doc, &b, &now, StepKind::Completed, 3_000).unwrap();
        assert_eq!(x(&doc).state, State::Accepted, "one party alone does not complete it");
        // A completed step without a valid proof (as a snapshot could hold) counts for nothing.
        doc.put(ROOT, format!("s/{seller}/{id}/{seller}/completed"), vec![0u8; Proof::LEN]).unwrap();
        assert_eq!(x(&doc).state, State::Accepted);
        doc.delete(ROOT, format!("s/{seller}/{id}/{seller}/completed")).unwrap();
        step(&mut doc, &s, &now, StepKind::Completed, 4_000).unwrap();
        assert_eq!(x(&doc).state, State::Completed);
        assert!(x(&doc).completed_by.iter().all(|(n, p)| p.party() == *n && p.holds(&x(&doc).reference())));
        // A cancel after both completed changes nothing; a step naming another seller
        // counts for nothing.
        step(&mut doc, &b, &now, StepKind::Cancelled, 5_000).unwrap();
        assert_eq!(x(&doc).state, State::Completed);
        let other = propose(&mut doc, &buyer, 6_000, &format!("{seller}/8"), "").unwrap();
        doc.put(ROOT, format!("s/{seller}/{other}/{}/accepted", NodeId([9; 20])), 7_000u64).unwrap();
        assert_eq!(exchanges(&doc).iter().find(|x| x.id == other).unwrap().state, State::Proposed);
    }
}
