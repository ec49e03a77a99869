//! Routing, free of I/O: which bundles a contact gets, in which order, and how many
//! carrier copies go with each (`spec/routing.md`).
//!
//! A strategy sees, for one contact, every bundle the holder may offer that the peer is
//! not known to hold, with the peer's relation to it. `Epidemic` gives everything.
//! `Caravan` (the default) gives bundles for the peer first; epidemic within the trust
//! scope (the peer is a friend or co-member of the holder, and the holder is a
//! destination or the author of the bundle); to strangers acting as carriers, binary
//! spray-and-wait: half of the holder's remaining copies, never the last one. With a
//! contact plan (the windows in which nodes meet), a stranger that meets a destination
//! before the holder does gets half the copies and even the last one, and one that meets
//! it later than the holder gets none.

use crate::identity::NodeId;
use crate::schedule::Window;

pub use crate::limits::LARGE_BYTES;

/// How urgent a bundle is; lower goes first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Class {
    /// Custody signals, revocations, key grants and invitations: nothing else is
    /// readable or releasable without them.
    Control = 0,
    /// Community rosters.
    Membership = 1,
    /// Profiles and communities' public parts.
    Profile = 2,
    /// Wiki pages and feeds.
    Content = 3,
    /// Market listings.
    Market = 4,
    /// Anything over `LARGE_BYTES`.
    Large = 5,
}

impl Class {
    /// The class of a bundle of `bytes` whose content is of class `content`.
    pub fn of(content: Class, bytes: u64) -> Class {
        if bytes >= LARGE_BYTES && content != Class::Control { Class::Large } else { content }
    }
}

/// The peer's relation to one bundle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Relation {
    /// The peer is a destination (the addressed node, a member of the community).
    Destination,
    /// The peer is in the holder's trust scope (friend or co-member) and the holder is
    /// the author or a destination of the bundle.
    Trusted,
    /// Anyone else: a carrier.
    Stranger,
}

/// One bundle the holder could send in this contact.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Offer {
    /// Its class.
    pub class: Class,
    /// Its size in bytes.
    pub bytes: u64,
    /// Its expiry (ms); sooner goes first within a class.
    pub expires_ms: u64,
    /// The peer's relation to it.
    pub relation: Relation,
    /// Carrier copies the holder may still hand out.
    pub copies: u32,
    /// When the holder next meets a destination, by the contact plan (ms; `None`: not
    /// in the plan).
    pub holder_next_ms: Option<u64>,
    /// When the peer next meets a destination, by the contact plan.
    pub peer_next_ms: Option<u64>,
}

/// The decision for one offer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pick {
    /// Index into the offers.
    pub index: usize,
    /// Carrier copies handed to the peer with it (taken from the holder's budget).
    pub copies: u32,
}

/// A routing strategy.
pub trait Strategy: Send + Sync {
    /// Short name, for reports.
    fn name(&self) -> &'static str;
    /// Carrier copies a new bundle starts with at its custodian.
    fn initial_copies(&self) -> u32;
    /// Picks and orders what to send. Must be a pure function of `offers`.
    fn choose(&self, offers: &[Offer]) -> Vec<Pick>;
}

fn ordered(offers: &[Offer], keep: impl Fn(&Offer) -> Option<u32>) -> Vec<Pick> {
    let mut chosen: Vec<(Relation, Class, u64, usize, u32)> = offers
        .iter()
        .enumerate()
        .filter_map(|(i, o)| keep(o).map(|c| (o.relation, o.class, o.expires_ms, i, c)))
        .collect();
    chosen.sort_unstable();
    chosen.into_iter().map(|(_, _, _, index, copies)| Pick { index, copies }).collect()
}

/// Flooding: every bundle to every contact. The baseline.
#[derive(Clone, Copy, Debug, Default)]
pub struct Epidemic;

impl Strategy for Epidemic {
    fn name(&self) -> &'static str {
        "epidemic"
    }
    fn initial_copies(&self) -> u32 {
        u32::MAX
    }
    fn choose(&self, offers: &[Offer]) -> Vec<Pick> {
        ordered(offers, |_| Some(u32::MAX))
    }
}

/// Caravan's routing: destinations first, epidemic within trust, bounded copies to
/// strangers.
#[derive(Clone, Copy, Debug)]
pub struct Caravan {
    /// Carrier copies a new bundle starts with.
    pub copies: u32,
}

impl Default for Caravan {
    fn default() -> Self {
        Caravan { copies: 8 }
    }
}

impl Strategy for Caravan {
    fn name(&self) -> &'static str {
        "caravan"
    }
    fn initial_copies(&self) -> u32 {
        self.copies
    }
    fn choose(&self, offers: &[Offer]) -> Vec<Pick> {
        ordered(offers, |o| match o.relation {
            // Destinations and trusted peers get every bundle; as carriers for the other
            // destinations they also get half the copies, so what they take can go on
            // past strangers (binary spray).
            Relation::Destination | Relation::Trusted => Some(o.copies / 2),
            // The plan says this carrier meets a destination first: half, even the last.
            Relation::Stranger if sooner(o.peer_next_ms, o.holder_next_ms) && o.copies >= 1 => {
                Some(o.copies.div_ceil(2))
            }
            // The plan says we meet one first: keep our copies.
            Relation::Stranger if o.peer_next_ms.is_some() && o.holder_next_ms.is_some() => None,
            // Binary spray: hand over half; with one copy left, wait for a destination.
            Relation::Stranger if o.copies >= 2 => Some(o.copies / 2),
            Relation::Stranger => None,
        })
    }
}

/// Whether contact time `a` is known and strictly before `b` (unknown is never).
fn sooner(a: Option<u64>, b: Option<u64>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => a < b,
        (Some(_), None) => true,
        (None, _) => false,
    }
}

/// A contact plan: who meets whom, and when (windows; none means at any time). Built by
/// the daemon from its configured peers and windows, and from `[[contact]]` entries
/// describing other nodes' contacts (`spec/routing.md`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ContactPlan {
    contacts: Vec<(NodeId, NodeId, Vec<Window>)>,
}

impl ContactPlan {
    /// Adds a recurring contact between `a` and `b` (symmetric).
    pub fn add(&mut self, a: NodeId, b: NodeId, windows: Vec<Window>) {
        self.contacts.push((a, b, windows));
    }

    /// Whether the plan is empty.
    pub fn is_empty(&self) -> bool {
        self.contacts.is_empty()
    }

    /// When `from` next meets any of `to` directly (now if a window is open or the
    /// contact has no windows); `None` if the plan has no such contact.
    pub fn next_contact(&self, from: NodeId, to: &[NodeId], now_ms: u64) -> Option<u64> {
        self.contacts
            .iter()
            .filter_map(|(a, b, w)| {
                let other = if *a == from {
                    b
                } else if *b == from {
                    a
                } else {
                    return None;
                };
                if !to.contains(other) {
                    return None;
                }
                if w.is_empty() || crate::schedule::open(w, now_ms) {
                    Some(now_ms)
                } else {
                    w.iter().filter_map(|w| w.next_open(now_ms)).min()
                }
            })
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offer(class: Class, relation: Relation, copies: u32, expires_ms: u64) -> Offer {
        Offer { class, bytes: 100, expires_ms, relation, copies, holder_next_ms: None, peer_next_ms: None }
    }

    #[test]
    fn the_contact_plan_prefers_the_carrier_that_meets_the_destination_first() {
        let strategy = Caravan::default();
        let with = |copies, holder, peer| Offer {
            holder_next_ms: holder,
            peer_next_ms: peer,
            ..offer(Class::Content, Relation::Stranger, copies, 9)
        };
        let picks = |o: Offer| strategy.choose(&[o]).first().map(|p| p.copies);
        // No plan: binary spray, never the last copy.
        assert_eq!(picks(with(8, None, None)), Some(4));
        assert_eq!(picks(with(1, None, None)), None);
        // The carrier meets the destination sooner: half, and the last copy too.
        assert_eq!(picks(with(8, Some(50), Some(10))), Some(4));
        assert_eq!(picks(with(1, Some(50), Some(10))), Some(1));
        assert_eq!(picks(with(1, None, Some(10))), Some(1));
        // We meet it sooner (or at the same time): keep every copy.
        assert_eq!(picks(with(8, Some(10), Some(50))), None);
        assert_eq!(picks(with(8, Some(10), Some(10))), None);
        // We have a contact, the carrier is not in the plan: ordinary spray.
        assert_eq!(picks(with(8, Some(10), None)), Some(4));
    }

    #[test]
    fn a_contact_plan_finds_the_next_window_toward_a_destination() {
        let ids: Vec<NodeId> = (0..4).map(|i| NodeId([i; 20])).collect();
        let mut plan = ContactPlan::default();
        let day = 86_400_000;
        plan.add(ids[0], ids[1], vec![Window::daily("18:00-19:00", "UTC").unwrap()]);
        plan.add(ids[2], ids[1], vec![]);
        let at = |h: u64| 20_000 * day + h * 3_600_000;
        assert_eq!(plan.next_contact(ids[0], &[ids[1]], at(10)), Some(at(18)));
        assert_eq!(plan.next_contact(ids[1], &[ids[0]], at(18)), Some(at(18)), "open now");
        assert_eq!(plan.next_contact(ids[1], &[ids[0]], at(20)), Some(at(18) + day));
        assert_eq!(plan.next_contact(ids[2], &[ids[1], ids[3]], at(3)), Some(at(3)), "no windows: any time");
        assert_eq!(plan.next_contact(ids[0], &[ids[3]], at(3)), None);
        assert_eq!(plan.next_contact(ids[3], &[ids[1]], at(3)), None);
    }

    #[test]
    fn destinations_first_then_by_class_and_expiry() {
        let offers = [
            offer(Class::Content, Relation::Stranger, 8, 5),
            offer(Class::Content, Relation::Destination, 0, 9),
            offer(Class::Control, Relation::Destination, 0, 9),
            offer(Class::Content, Relation::Destination, 0, 3),
            offer(Class::Profile, Relation::Trusted, 0, 1),
            offer(Class::Content, Relation::Stranger, 1, 1),
        ];
        let c = Caravan::default().choose(&offers);
        assert_eq!(c.iter().map(|s| s.index).collect::<Vec<_>>(), vec![2, 3, 1, 4, 0]);
        assert_eq!(c.last().map(|s| s.copies), Some(4));
        let e = Epidemic.choose(&offers);
        assert_eq!(e.len(), 6);
    }

    #[test]
    fn large_bundles_go_last() {
        assert_eq!(Class::of(Class::Content, LARGE_BYTES), Class::Large);
        assert_eq!(Class::of(Class::Control, LARGE_BYTES), Class::Control);
        assert!(Class::Market < Class::Large);
    }
}
