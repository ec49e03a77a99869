//! The relay quota, free of I/O: how much a node carries for others and what it evicts.
//!
//! "Each user allocates some space on his own disk for relaying the content of other
//! users." A node's own data and its communities' data never count against the quota and
//! are never evicted for relayed data. Relayed bundles carry no custody (see `custody`),
//! so evicting one loses nothing: its custodian still holds it.
//!
//! Admission of a relayed bundle that does not fit: expired relayed bundles go first; then
//! the largest bundle of the heaviest source, as long as that source is heavier than the
//! incoming bundle's source would be with it. A source that already has the largest share
//! cannot push out lighter sources: its bundle is refused instead (no space). So the quota
//! is shared fairly: a flood from one source only ever displaces that source.

use std::collections::BTreeMap;

use crate::identity::NodeId;

pub use crate::limits::QUOTA_DEFAULT_BYTES;

/// The share of the small bundles a relay cannot authenticate (cloaks it cannot open of up
/// to `FLOOD_BYTES_MAX`: answers, release lists, grants, announcements, short posts): one
/// pool in the fair sharing. (No node id is all zeros but with probability 2^-160.)
pub const UNAUTHENTICATED: NodeId = NodeId([0; 20]);

/// The share of the larger bundles a relay cannot authenticate. Two pools by size, since
/// a carrier learns nothing else of a cloak: when both contend, each gets half, so a
/// relay full of content still takes the answers that release it, and a flood of small
/// bundles cannot take all of it either.
pub const UNAUTHENTICATED_LARGE: NodeId = NodeId([0xff; 20]);

/// One relayed bundle held, as the quota sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Held<K> {
    /// The holder's key for it (a digest, an index).
    pub key: K,
    /// Its source node.
    pub source: NodeId,
    /// Stored size in bytes.
    pub bytes: u64,
    /// Expiry (ms since the Unix epoch).
    pub expires_ms: u64,
}

/// Why a relayed bundle was not admitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum QuotaRefusal {
    /// Larger than the whole quota.
    #[error("bundle of {0} bytes is larger than the relay quota")]
    LargerThanQuota(u64),
    /// Its source already holds the largest share; nothing fairer to evict.
    #[error("relay quota is full and this source already has the largest share")]
    Full,
}

/// Decides whether `incoming` fits into the quota, and which held bundles to evict to make
/// room. `held` is every relayed bundle currently stored. The returned keys, once removed,
/// leave `incoming` fitting within `quota` bytes.
pub fn admit<K: Copy + Ord>(
    held: &[Held<K>],
    incoming: &Held<K>,
    quota: u64,
    now_ms: u64,
) -> Result<Vec<K>, QuotaRefusal> {
    if incoming.bytes > quota {
        return Err(QuotaRefusal::LargerThanQuota(incoming.bytes));
    }
    let mut used: u64 = held.iter().map(|h| h.bytes).sum();
    if used + incoming.bytes <= quota {
        return Ok(Vec::new());
    }
    let mut evict = Vec::new();
    // Expired first, oldest expiry first.
    let mut expired: Vec<&Held<K>> = held.iter().filter(|h| h.expires_ms <= now_ms).collect();
    expired.sort_by_key(|h| (h.expires_ms, h.key));
    let mut gone = std::collections::BTreeSet::new();
    for h in expired {
        if used + incoming.bytes <= quota {
            break;
        }
        used -= h.bytes;
        evict.push(h.key);
        gone.insert(h.key);
    }
    // Then by source weight.
    let mut by_source: BTreeMap<NodeId, Vec<&Held<K>>> = BTreeMap::new();
    for h in held.iter().filter(|h| !gone.contains(&h.key)) {
        by_source.entry(h.source).or_default().push(h);
    }
    for list in by_source.values_mut() {
        // Largest last, so `pop` takes it; ties broken by key for determinism.
        list.sort_by_key(|h| (h.bytes, std::cmp::Reverse(h.key)));
    }
    while used + incoming.bytes > quota {
        let weight = |s: &NodeId, list: &Vec<&Held<K>>| {
            list.iter().map(|h| h.bytes).sum::<u64>() + if *s == incoming.source { incoming.bytes } else { 0 }
        };
        let Some((&heaviest, _)) =
            by_source.iter().filter(|(_, l)| !l.is_empty()).max_by_key(|(s, l)| (weight(s, l), std::cmp::Reverse(**s)))
        else {
            return Err(QuotaRefusal::Full);
        };
        let incoming_weight = by_source.get(&incoming.source).map_or(incoming.bytes, |l| weight(&incoming.source, l));
        let heaviest_weight = weight(&heaviest, &by_source[&heaviest]);
        if heaviest == incoming.source || heaviest_weight <= incoming_weight {
            return Err(QuotaRefusal::Full);
        }
        let Some(h) = by_source.get_mut(&heaviest).and_then(|l| l.pop()) else {
            return Err(QuotaRefusal::Full);
        };
        used -= h.bytes;
        evict.push(h.key);
    }
    Ok(evict)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn h(key: u32, source: u8, bytes: u64, expires_ms: u64) -> Held<u32> {
        Held { key, source: NodeId([source; 20]), bytes, expires_ms }
    }

    #[test]
    fn fits_without_eviction() {
        assert_eq!(admit(&[h(1, 1, 40, 100)], &h(2, 2, 60, 100), 100, 0), Ok(vec![]));
    }

    #[test]
    fn expired_go_first_then_the_heaviest_source_largest_first() {
        let held = [h(1, 1, 30, 100), h(2, 1, 20, 100), h(3, 2, 10, 5), h(4, 3, 25, 100)];
        // 85 used, 30 incoming from source 4, quota 100: expired (3) then source 1's largest (1).
        assert_eq!(admit(&held, &h(9, 4, 30, 100), 100, 10), Ok(vec![3, 1]));
    }

    #[test]
    fn a_heavy_source_cannot_push_out_lighter_ones() {
        let held = [h(1, 1, 60, 100), h(2, 2, 30, 100)];
        assert_eq!(admit(&held, &h(9, 1, 20, 100), 100, 0), Err(QuotaRefusal::Full));
        assert_eq!(admit(&held, &h(9, 3, 200, 100), 100, 0), Err(QuotaRefusal::LargerThanQuota(200)));
        assert_eq!(admit(&held, &h(9, 2, 20, 100), 100, 0), Ok(vec![1]));
    }

    proptest! {
        #[test]
        fn never_exceeds_the_quota(
            sizes in proptest::collection::vec((0u8..5, 1u64..8, 0u64..20), 0..14),
            incoming in (0u8..5, 1u64..60),
        ) {
            let held: Vec<Held<u32>> =
                sizes.iter().enumerate().map(|(i, &(s, b, e))| h(i as u32, s, b, e)).collect();
            let quota = 100;
            let used: u64 = held.iter().map(|x| x.bytes).sum();
            prop_assume!(used <= quota);
            let inc = h(999, incoming.0, incoming.1, 50);
            if let Ok(evict) = admit(&held, &inc, quota, 10) {
                let freed: u64 = held.iter().filter(|x| evict.contains(&x.key)).map(|x| x.bytes).sum();
                prop_assert!(used - freed + inc.bytes <= quota);
                // Nothing of a lighter source than the incoming one's is evicted unless expired.
                for x in held.iter().filter(|x| evict.contains(&x.key) && x.expires_ms > 10) {
                    prop_assert!(x.source != inc.source);
                }
            }
        }
    }
}
