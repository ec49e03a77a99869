//! Routing, free of I/O: which bundles a contact gets, in which order, and how many
//! carrier copies go with each (`spec/routing.md`).
//!
//! A strategy sees, for one contact, every bundle the holder may offer that the peer is
//! not known to hold, with the peer's relation to it. `Epidemic` gives everything.
//! `Caravan` (the default) gives bundles for the peer first; epidemic within the trust
//! scope (the peer is a friend or co-member of the holder, and the holder is a
//! destination or the author of the bundle); to strangers acting as carriers, binary
//! spray-and-wait: half of the holder's remaining copies, never the last one.

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

/// Bundles at least this large go last whatever they carry.
pub const LARGE_BYTES: u64 = 256 * 1024;

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
            Relation::Destination | Relation::Trusted => Some(0),
            // Binary spray: hand over half; with one copy left, wait for a destination.
            Relation::Stranger if o.copies >= 2 => Some(o.copies / 2),
            Relation::Stranger => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offer(class: Class, relation: Relation, copies: u32, expires_ms: u64) -> Offer {
        Offer { class, bytes: 100, expires_ms, relation, copies }
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
