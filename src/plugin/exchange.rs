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
//! counts for nothing.

use automerge::transaction::Transactable;
use automerge::{AutoCommit, ObjType, ROOT, ReadDoc, Value};

use super::market::{number, text};

use super::ops::Target;
use super::{Broken, DocKind, Home, Op, Writer, Writers};
use crate::identity::NodeId;
use crate::routing::Class;

/// A community's exchanges (members only).
pub struct Exchanges;

const RULE_OWN: &str = "a member writes only its own proposals and steps";
const RULE_PARTY: &str = "only a party of an exchange takes its steps, and only the seller accepts";

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
                        if !party || (step.step == StepKind::Accepted && step.party != step.seller) {
                            return Err(Broken { rule: RULE_PARTY });
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
    /// Which parties marked it completed.
    pub completed_by: Vec<NodeId>,
}

impl Exchange {
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

/// Takes a step in exchange `x` as `me` (a party of it).
pub fn step(
    doc: &mut AutoCommit,
    me: &NodeId,
    x: &Exchange,
    step: StepKind,
    now: u64,
) -> Result<(), automerge::AutomergeError> {
    let key = format!("s/{me}/{}/{}/{}", x.id, x.seller, step.as_str());
    doc.put(ROOT, key, now)
}

/// Every exchange in the document, oldest first, each with where it stands.
pub fn exchanges(doc: &AutoCommit) -> Vec<Exchange> {
    let mut out = Vec::new();
    let mut steps: Vec<(String, String, String, StepKind)> = Vec::new();
    for key in doc.keys(ROOT) {
        if let Some(step) = Step::parse(&key) {
            steps.push((
                format!("{}/{}", step.proposer, step.n),
                step.seller.to_string(),
                step.party.to_string(),
                step.step,
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
        let mine = steps.iter().filter(|(id, s, _, _)| *id == x.id && *s == seller);
        let (mut accepted, mut cancelled) = (false, false);
        for (_, _, party, step) in mine {
            let Some(party) = NodeId::parse(party) else { continue };
            match step {
                StepKind::Accepted if party == x.seller => accepted = true,
                StepKind::Completed if x.has_party(&party) && !x.completed_by.contains(&party) => {
                    x.completed_by.push(party)
                }
                StepKind::Cancelled if x.has_party(&party) => cancelled = true,
                _ => {}
            }
        }
        x.completed_by.sort();
        x.state = if x.completed_by.len() == 2 {
            State::Completed
        } else if cancelled {
            State::Cancelled
        } else if accepted || x.completed_by.contains(&x.seller) {
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
        Op { target: Target::Root, key: Key::Map(key.into()), action: Action::Put }
    }

    #[test]
    fn each_party_takes_only_its_own_steps_and_only_the_seller_accepts() {
        let (buyer, seller, other) = (NodeId([1; 20]), NodeId([2; 20]), NodeId([3; 20]));
        let by = |n: NodeId| Writer { node: n, role: None };
        let x = format!("{buyer}/5");
        let step = |party: &NodeId, s: &str| format!("s/{party}/{x}/{seller}/{s}");
        let k = Exchanges;
        assert!(k.check(&by(buyer), &[op(&format!("x/{x}"))]).is_ok());
        assert!(k.check(&by(seller), &[op(&format!("x/{x}"))]).is_err(), "someone else's proposal");
        assert!(k.check(&by(seller), &[op(&step(&seller, "accepted"))]).is_ok());
        assert!(k.check(&by(buyer), &[op(&step(&buyer, "accepted"))]).is_err(), "the buyer accepts");
        assert!(k.check(&by(buyer), &[op(&step(&buyer, "completed"))]).is_ok());
        assert!(k.check(&by(buyer), &[op(&step(&seller, "completed"))]).is_err(), "a step for the other party");
        assert!(k.check(&by(other), &[op(&step(&other, "completed"))]).is_err(), "not a party");
        assert!(k.check(&by(buyer), &[op(&format!("s/{buyer}/{x}/{seller}/paid"))]).is_err(), "no such step");
        assert!(k.check(&by(buyer), &[op("note")]).is_err());
    }

    #[test]
    fn an_exchange_moves_as_both_parties_say() {
        let (buyer, seller) = (NodeId([1; 20]), NodeId([2; 20]));
        let mut doc = AutoCommit::new();
        let id = propose(&mut doc, &buyer, 1_000, &format!("{seller}/7"), "two dozen").unwrap();
        let x = |d: &AutoCommit| exchanges(d).into_iter().find(|x| x.id == id).unwrap();
        assert_eq!(x(&doc).state, State::Proposed);
        let now = x(&doc);
        step(&mut doc, &seller, &now, StepKind::Accepted, 2_000).unwrap();
        assert_eq!(x(&doc).state, State::Accepted);
        step(&mut doc, &buyer, &now, StepKind::Completed, 3_000).unwrap();
        assert_eq!(x(&doc).state, State::Accepted, "one party alone does not complete it");
        step(&mut doc, &seller, &now, StepKind::Completed, 4_000).unwrap();
        assert_eq!(x(&doc).state, State::Completed);
        // A cancel after both completed changes nothing; a step naming another seller
        // counts for nothing.
        step(&mut doc, &buyer, &now, StepKind::Cancelled, 5_000).unwrap();
        assert_eq!(x(&doc).state, State::Completed);
        let other = propose(&mut doc, &buyer, 6_000, &format!("{seller}/8"), "").unwrap();
        doc.put(ROOT, format!("s/{seller}/{other}/{}/accepted", NodeId([9; 20])), 7_000u64).unwrap();
        assert_eq!(exchanges(&doc).iter().find(|x| x.id == other).unwrap().state, State::Proposed);
    }
}
