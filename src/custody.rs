//! Custody, free of I/O: who is responsible for a bundle until it reaches a destination,
//! what a receiver answers, and when a holder may forget a bundle.
//!
//! The rules (`spec/custody.md`):
//!
//! - The author of a bundle is its custodian, for each of its destinations (the addressed
//!   node, every member of the addressed community or audience). A destination takes
//!   custody of its own copy: it keeps its own and its communities' data and never evicts
//!   it, so its promise holds. Carriers (relays) hold copies inside a quota that may
//!   evict, so they never take custody; it stays with the author while they carry.
//! - A destination that stored a bundle durably answers with a custody signal to the
//!   bundle's source, *after* its store committed. Refusals carry a reason.
//! - The custodian keeps offering the bundle (to destinations, and carrier copies) until
//!   every destination has answered or the bundle expires.
//! - A holder forgets a bundle only when every destination is known (from signed heads
//!   summaries) to hold its changes; the author then announces `Delivered` so carriers
//!   drop their copies too.
//!
//! Everything here is a function of its arguments, so the node and the `testnets`
//! simulator run the same decisions.

use std::collections::BTreeMap;

use crate::identity::NodeId;

pub use crate::limits::{REFUSALS_KEPT, RENEW_BEFORE_MS, REOFFER_AFTER_MS};

/// A bundle's identity in custody signals: its source node and the creation sequence
/// number (sources number their bundles 1, 2, 3, ..., so one source's ids form ranges).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BundleId {
    /// The node that created the bundle.
    pub source: NodeId,
    /// Its creation sequence number.
    pub seq: u64,
}

/// What a receiver did with a bundle, as carried in a custody signal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum Disposition {
    /// Custody accepted: the bundle is stored durably at a destination.
    Accepted = 0,
    /// Already held (custody was accepted earlier): releases the custodian too.
    Redundant = 1,
    /// Refused: no space for it.
    NoSpace = 2,
    /// Refused: it had expired on arrival.
    Expired = 3,
    /// Refused: not accepted from this source (invalid, not authorised, or blocked).
    NotAccepted = 4,
    /// Every destination holds the bundle's changes: holders may forget it.
    Delivered = 5,
}

impl Disposition {
    /// All dispositions, in code order.
    pub const ALL: [Disposition; 6] = [
        Disposition::Accepted,
        Disposition::Redundant,
        Disposition::NoSpace,
        Disposition::Expired,
        Disposition::NotAccepted,
        Disposition::Delivered,
    ];

    /// The wire code.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// Parses a wire code.
    pub fn from_code(code: u8) -> Option<Self> {
        Self::ALL.get(code as usize).copied()
    }

    /// Whether this answer ends the custodian's responsibility.
    pub fn releases(self) -> bool {
        matches!(self, Disposition::Accepted | Disposition::Redundant | Disposition::Delivered)
    }

    /// Short lowercase name, for reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Disposition::Accepted => "accepted",
            Disposition::Redundant => "redundant",
            Disposition::NoSpace => "no space",
            Disposition::Expired => "expired",
            Disposition::NotAccepted => "not accepted from this source",
            Disposition::Delivered => "delivered",
        }
    }
}

/// One line of an aggregated signal: a disposition for ranges of one source's bundles.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignalEntry {
    /// What happened to these bundles.
    pub disposition: Disposition,
    /// Their source node.
    pub source: NodeId,
    /// Inclusive, sorted, disjoint, non-adjacent ranges of sequence numbers.
    pub ranges: Vec<(u64, u64)>,
}

/// An aggregated custody signal (compare the compressed custody signal of the BPv7
/// custody transfer drafts): dispositions for ranges of bundle ids.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Signal {
    /// Entries sorted by (disposition, source).
    pub entries: Vec<SignalEntry>,
}

impl Signal {
    /// Aggregates individual answers into ranges.
    pub fn aggregate(items: impl IntoIterator<Item = (Disposition, BundleId)>) -> Signal {
        let mut by: BTreeMap<(Disposition, NodeId), Vec<u64>> = BTreeMap::new();
        for (d, id) in items {
            by.entry((d, id.source)).or_default().push(id.seq);
        }
        let entries = by
            .into_iter()
            .map(|((disposition, source), mut seqs)| {
                seqs.sort_unstable();
                seqs.dedup();
                let mut ranges: Vec<(u64, u64)> = Vec::new();
                for s in seqs {
                    match ranges.last_mut() {
                        Some((_, hi)) if hi.checked_add(1) == Some(s) => *hi = s,
                        _ => ranges.push((s, s)),
                    }
                }
                SignalEntry { disposition, source, ranges }
            })
            .collect();
        Signal { entries }
    }

    /// Whether the signal carries nothing.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The disposition it gives for `id`, if any (the first entry that covers it).
    pub fn disposition_of(&self, id: &BundleId) -> Option<Disposition> {
        self.entries
            .iter()
            .find(|e| e.source == id.source && e.ranges.iter().any(|&(lo, hi)| (lo..=hi).contains(&id.seq)))
            .map(|e| e.disposition)
    }

    /// Number of bundle ids covered (saturating).
    pub fn len(&self) -> u64 {
        self.entries
            .iter()
            .flat_map(|e| e.ranges.iter())
            .fold(0u64, |n, &(lo, hi)| n.saturating_add(hi.saturating_sub(lo).saturating_add(1)))
    }
}

/// How the receiver stands to a bundle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Standing {
    /// The receiver is a destination: it may take custody.
    Destination,
    /// The receiver only carries it for others.
    Carrier,
}

/// What a receiver knows about one arriving bundle.
#[derive(Clone, Copy, Debug)]
pub struct Arrival {
    /// Destination or carrier.
    pub standing: Standing,
    /// Already stored here.
    pub held: bool,
    /// Its lifetime has passed.
    pub expired: bool,
    /// It passed every check (format, signature, authorisation) or, for a carrier, the
    /// checks it can do without keys.
    pub valid: bool,
    /// There is room for it (a destination's disk; a carrier's relay quota after eviction).
    pub room: bool,
}

/// The receiver's decision for one bundle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Receipt {
    /// Store it (within the same transaction as everything else of this import).
    pub store: bool,
    /// The answer for the custodian; sent only after the store committed. Carriers
    /// answer only on live links (so a custodian can give its copies elsewhere), never
    /// with a signal bundle.
    pub answer: Disposition,
}

/// Decides what to do with an arriving bundle. Checks run cheapest first: a bundle that
/// is already held is redundant even if it has since expired.
pub fn receive(a: Arrival) -> Receipt {
    let (store, answer) = if a.held {
        (false, Disposition::Redundant)
    } else if a.expired {
        (false, Disposition::Expired)
    } else if !a.valid {
        (false, Disposition::NotAccepted)
    } else if !a.room {
        (false, Disposition::NoSpace)
    } else {
        (true, Disposition::Accepted)
    };
    Receipt { store, answer }
}

impl Standing {
    /// Whether the receiver takes custody, and so answers with a custody signal bundle
    /// (for refusals too): only destinations do.
    pub fn takes_custody(self) -> bool {
        self == Standing::Destination
    }
}

/// A custodian's record of one bundle in its custody.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// The bundle.
    pub id: BundleId,
    /// When it expires (ms since the Unix epoch).
    pub expires_ms: u64,
    /// Destinations that have not yet taken custody, sorted. Custody is released when
    /// this is empty.
    pub pending: Vec<NodeId>,
    /// Copies still to hand to carriers (the routing strategy's budget).
    pub copies: u32,
    /// When copies were last handed out (ms); the budget refills after `REOFFER_AFTER_MS`
    /// without a release, so a lost stick or a full relay does not strand the bundle.
    pub last_spray_ms: u64,
    /// Refusals heard, newest last (bounded by `REFUSALS_KEPT`).
    pub refusals: Vec<(NodeId, Disposition)>,
}

/// What an answer did to a custodian's record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignalEffect {
    /// The last pending destination took custody (or the author declared the bundle
    /// delivered): stop offering; the record goes.
    Released,
    /// One more destination took custody; others are still pending.
    Progress,
    /// A refusal was noted; custody stays.
    Noted,
    /// Ignored: the sender is not a pending destination, so its acceptance means nothing.
    Ignored,
}

impl Record {
    /// A new record for a bundle we authored, with its destinations (ourselves excluded).
    pub fn new(id: BundleId, expires_ms: u64, mut pending: Vec<NodeId>, copies: u32, now_ms: u64) -> Record {
        pending.sort_unstable();
        pending.dedup();
        Record { id, expires_ms, pending, copies, last_spray_ms: now_ms, refusals: Vec::new() }
    }

    /// Applies an answer from `from`. Only a pending destination's acceptance counts; a
    /// `Delivered` counts only from the bundle's own source.
    pub fn on_answer(&mut self, from: NodeId, d: Disposition) -> SignalEffect {
        if d == Disposition::Delivered {
            if from != self.id.source {
                return SignalEffect::Ignored;
            }
            self.pending.clear();
            return SignalEffect::Released;
        }
        if d.releases() {
            let Ok(i) = self.pending.binary_search(&from) else { return SignalEffect::Ignored };
            self.pending.remove(i);
            #[cfg(feature = "policy-breaks")]
            if breaks::releasing_on_first_answer() {
                self.pending.clear();
            }
            return if self.pending.is_empty() { SignalEffect::Released } else { SignalEffect::Progress };
        }
        if self.refusals.len() == REFUSALS_KEPT {
            self.refusals.remove(0);
        }
        self.refusals.push((from, d));
        SignalEffect::Noted
    }

    /// Whether `node` still has to take custody.
    pub fn awaits(&self, node: &NodeId) -> bool {
        self.pending.binary_search(node).is_ok()
    }

    /// Whether the bundle should be renewed at `now_ms`: destinations are still pending
    /// and it expires within `RENEW_BEFORE_MS`.
    pub fn needs_renewal(&self, now_ms: u64) -> bool {
        !self.pending.is_empty() && self.expires_ms <= now_ms.saturating_add(RENEW_BEFORE_MS)
    }

    /// Whether the record is still live at `now_ms`.
    pub fn live(&self, now_ms: u64) -> bool {
        self.expires_ms > now_ms
    }

    /// Refills the carrier budget if nothing released custody for `REOFFER_AFTER_MS`
    /// since copies were last handed out.
    pub fn refill(&mut self, initial_copies: u32, now_ms: u64) {
        if self.copies < initial_copies && now_ms.saturating_sub(self.last_spray_ms) >= REOFFER_AFTER_MS {
            self.copies = initial_copies;
            self.last_spray_ms = now_ms;
        }
    }

    /// Takes `n` copies out of the budget (after handing them to a carrier).
    pub fn spend(&mut self, n: u32, now_ms: u64) {
        self.copies = self.copies.saturating_sub(n);
        self.last_spray_ms = now_ms;
    }
}

/// Why stored record bytes could not be read back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("custody record is malformed")]
pub struct RecordFormatError;

impl Record {
    /// Encodes the record for the store (the source is implied: it is always us):
    /// seq u64, expires u64, copies u32, last spray u64, pending count u16, pending ids,
    /// refusal count u8, refusals (id, code); integers little-endian.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(31 + 20 * self.pending.len() + 21 * self.refusals.len());
        out.extend_from_slice(&self.id.seq.to_le_bytes());
        out.extend_from_slice(&self.expires_ms.to_le_bytes());
        out.extend_from_slice(&self.copies.to_le_bytes());
        out.extend_from_slice(&self.last_spray_ms.to_le_bytes());
        out.extend_from_slice(&(self.pending.len() as u16).to_le_bytes());
        for p in &self.pending {
            out.extend_from_slice(&p.0);
        }
        out.push(self.refusals.len() as u8);
        for (n, d) in &self.refusals {
            out.extend_from_slice(&n.0);
            out.push(d.code());
        }
        out
    }

    /// Decodes a stored record of a bundle from `source`.
    pub fn from_bytes(source: NodeId, b: &[u8]) -> Result<Record, RecordFormatError> {
        fn take<'a>(b: &mut &'a [u8], n: usize) -> Result<&'a [u8], RecordFormatError> {
            let (head, rest) = b.split_at_checked(n).ok_or(RecordFormatError)?;
            *b = rest;
            Ok(head)
        }
        fn u64_le(b: &mut &[u8]) -> Result<u64, RecordFormatError> {
            Ok(u64::from_le_bytes(take(b, 8)?.try_into().map_err(|_| RecordFormatError)?))
        }
        fn node(b: &mut &[u8]) -> Result<NodeId, RecordFormatError> {
            Ok(NodeId(take(b, 20)?.try_into().map_err(|_| RecordFormatError)?))
        }
        let mut b = b;
        let seq = u64_le(&mut b)?;
        let expires_ms = u64_le(&mut b)?;
        let copies = u32::from_le_bytes(take(&mut b, 4)?.try_into().map_err(|_| RecordFormatError)?);
        let last_spray_ms = u64_le(&mut b)?;
        let n = u16::from_le_bytes(take(&mut b, 2)?.try_into().map_err(|_| RecordFormatError)?);
        let pending = (0..n).map(|_| node(&mut b)).collect::<Result<Vec<_>, _>>()?;
        let r = take(&mut b, 1)?[0];
        let mut refusals = Vec::with_capacity(r as usize);
        for _ in 0..r {
            let n = node(&mut b)?;
            let d = Disposition::from_code(take(&mut b, 1)?[0]).ok_or(RecordFormatError)?;
            refusals.push((n, d));
        }
        if !b.is_empty() {
            return Err(RecordFormatError);
        }
        Ok(Record { id: BundleId { source, seq }, expires_ms, pending, copies, last_spray_ms, refusals })
    }
}

/// Whether a holder may forget a bundle: every destination is known to hold every one of
/// its changes. `has(node, change)` answers from signed heads summaries. A bundle with no
/// known destinations is never forgotten this way (only by expiry).
pub fn deliverable<N: Copy, C: Copy>(destinations: &[N], changes: &[C], has: impl Fn(N, C) -> bool) -> bool {
    !destinations.is_empty() && destinations.iter().all(|&n| changes.iter().all(|&c| has(n, c)))
}

/// Deliberately broken rules, switched on for one thread by tests that check the
/// simulators notice a broken policy (feature `policy-breaks`; in no other build).
#[cfg(feature = "policy-breaks")]
pub mod breaks {
    use std::cell::Cell;

    thread_local! {
        static RELEASE_ON_FIRST_ANSWER: Cell<bool> = const { Cell::new(false) };
    }

    /// Runs `f` with custody released by the first accepting answer from any pending
    /// destination, as if the others had answered too (the rest never get the bundle
    /// from its custodian).
    pub fn release_on_first_answer<R>(f: impl FnOnce() -> R) -> R {
        RELEASE_ON_FIRST_ANSWER.with(|b| b.set(true));
        let out = f();
        RELEASE_ON_FIRST_ANSWER.with(|b| b.set(false));
        out
    }

    pub(crate) fn releasing_on_first_answer() -> bool {
        RELEASE_ON_FIRST_ANSWER.with(Cell::get)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(source: u8, seq: u64) -> BundleId {
        BundleId { source: NodeId([source; 20]), seq }
    }

    #[test]
    fn signals_aggregate_into_ranges_per_source_and_disposition() {
        let items = [
            (Disposition::Accepted, id(1, 3)),
            (Disposition::Accepted, id(1, 1)),
            (Disposition::Accepted, id(1, 2)),
            (Disposition::Accepted, id(1, 7)),
            (Disposition::Accepted, id(2, 7)),
            (Disposition::NoSpace, id(1, 4)),
            (Disposition::Accepted, id(1, 2)),
        ];
        let s = Signal::aggregate(items);
        assert_eq!(s.entries.len(), 3);
        assert_eq!(s.entries[0].ranges, vec![(1, 3), (7, 7)]);
        assert_eq!(s.len(), 6);
        assert_eq!(s.disposition_of(&id(1, 2)), Some(Disposition::Accepted));
        assert_eq!(s.disposition_of(&id(1, 4)), Some(Disposition::NoSpace));
        assert_eq!(s.disposition_of(&id(1, 5)), None);
        assert_eq!(s.disposition_of(&id(2, 7)), Some(Disposition::Accepted));
    }

    #[test]
    fn receipt_checks_in_order() {
        let a = Arrival { standing: Standing::Destination, held: false, expired: false, valid: true, room: true };
        assert_eq!(receive(a), Receipt { store: true, answer: Disposition::Accepted });
        assert_eq!(receive(Arrival { held: true, expired: true, ..a }).answer, Disposition::Redundant);
        assert_eq!(receive(Arrival { expired: true, valid: false, ..a }).answer, Disposition::Expired);
        assert_eq!(receive(Arrival { valid: false, room: false, ..a }).answer, Disposition::NotAccepted);
        let full = receive(Arrival { room: false, ..a });
        assert_eq!(full, Receipt { store: false, answer: Disposition::NoSpace });
        assert!(Standing::Destination.takes_custody());
        assert!(!Standing::Carrier.takes_custody());
    }

    #[test]
    fn custody_is_released_when_every_destination_took_it() {
        let (c, d, relay) = (NodeId([3; 20]), NodeId([4; 20]), NodeId([9; 20]));
        let mut r = Record::new(id(1, 1), 100, vec![d, c, c], 4, 0);
        assert_eq!(r.pending, vec![c, d]);
        assert_eq!(r.on_answer(relay, Disposition::Accepted), SignalEffect::Ignored);
        assert_eq!(r.on_answer(relay, Disposition::NoSpace), SignalEffect::Noted);
        assert_eq!(r.refusals, vec![(relay, Disposition::NoSpace)]);
        assert_eq!(r.on_answer(c, Disposition::Delivered), SignalEffect::Ignored);
        assert_eq!(r.on_answer(c, Disposition::Accepted), SignalEffect::Progress);
        assert_eq!(r.on_answer(c, Disposition::Accepted), SignalEffect::Ignored);
        assert!(r.awaits(&d));
        assert_eq!(r.on_answer(d, Disposition::Redundant), SignalEffect::Released);
        let mut r = Record::new(id(1, 2), 100, vec![d], 4, 0);
        assert_eq!(r.on_answer(NodeId([1; 20]), Disposition::Delivered), SignalEffect::Released);
    }

    #[test]
    fn records_round_trip_and_reject_garbage() {
        let mut r = Record::new(id(1, 9), 77, vec![NodeId([4; 20]), NodeId([2; 20])], 8, 5);
        r.on_answer(NodeId([6; 20]), Disposition::NoSpace);
        let bytes = r.to_bytes();
        assert_eq!(Record::from_bytes(NodeId([1; 20]), &bytes), Ok(r));
        for cut in 0..bytes.len() {
            assert_eq!(Record::from_bytes(NodeId([1; 20]), &bytes[..cut]), Err(RecordFormatError));
        }
    }

    #[test]
    fn renewal_only_while_destinations_wait() {
        let mut r = Record::new(id(1, 1), 10 * RENEW_BEFORE_MS, vec![NodeId([2; 20])], 4, 0);
        assert!(!r.needs_renewal(RENEW_BEFORE_MS));
        assert!(r.needs_renewal(9 * RENEW_BEFORE_MS));
        r.on_answer(NodeId([2; 20]), Disposition::Accepted);
        assert!(!r.needs_renewal(9 * RENEW_BEFORE_MS));
    }

    #[test]
    fn carrier_budget_refills_only_after_silence() {
        let mut r = Record::new(id(1, 1), u64::MAX, vec![], 4, 0);
        r.spend(4, 10);
        r.refill(4, REOFFER_AFTER_MS);
        assert_eq!(r.copies, 0);
        r.refill(4, REOFFER_AFTER_MS + 10);
        assert_eq!(r.copies, 4);
    }

    #[test]
    fn forgetting_needs_every_destination() {
        let has = |n: u8, c: u8| n != 3 || c != 2;
        assert!(deliverable(&[1, 2], &[1, 2], has));
        assert!(!deliverable(&[1, 3], &[1, 2], has));
        assert!(!deliverable::<u8, u8>(&[], &[1], has));
    }
}
