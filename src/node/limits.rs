//! Per-member limits: what one member of a community can make this node store per day
//! (`security.md`). Counted by this node's clock, per community and author, from the
//! bytes of the bundles taken in; never from anything a bundle says about itself.

use super::*;
use crate::limits::{MEMBER_BUNDLES_PER_DAY_DEFAULT, MEMBER_BYTES_PER_DAY_DEFAULT};

const DAY_MS: u64 = 86_400_000;

/// The per-member daily limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemberLimits {
    /// Bytes of bundles per member, community and day.
    pub bytes_per_day: u64,
    /// Bundles per member, community and day.
    pub bundles_per_day: u32,
}

impl Default for MemberLimits {
    fn default() -> Self {
        MemberLimits { bytes_per_day: MEMBER_BYTES_PER_DAY_DEFAULT, bundles_per_day: MEMBER_BUNDLES_PER_DAY_DEFAULT }
    }
}

impl Node {
    /// The per-member daily limits in force.
    pub fn member_limits(&self) -> Result<MemberLimits, Error> {
        self.member_limits_in(&self.store.read()?)
    }

    /// Sets the per-member daily limits (kept in the store).
    pub fn set_member_limits(&mut self, limits: MemberLimits) -> Result<(), Error> {
        let mut t = self.write_txn()?;
        t.set_meta("member_bytes_per_day", &limits.bytes_per_day.to_le_bytes())?;
        t.set_meta("member_bundles_per_day", &u64::from(limits.bundles_per_day).to_le_bytes())?;
        t.commit()?;
        Ok(())
    }

    /// Counts a bundle of `author` in `community` against today's share, or says which
    /// limit it would pass (then nothing is counted).
    pub(super) fn charge_member(
        &mut self,
        t: &mut Txn,
        community: &CommunityId,
        author: &NodeId,
        bytes: u64,
        now: u64,
    ) -> Result<Result<(), Rejection>, Error> {
        let limits = self.member_limits_in(t)?;
        let key = format!("member-day/{community}/{author}");
        let today = (now / DAY_MS) as u32;
        // day le32 ‖ bytes le64 ‖ bundles le32; anything else (another day) starts at 0.
        let counted = t.meta(&key)?.and_then(|v| {
            let (day, rest) = v.split_first_chunk::<4>()?;
            let (bytes, rest) = rest.split_first_chunk::<8>()?;
            let bundles: [u8; 4] = rest.try_into().ok()?;
            (u32::from_le_bytes(*day) == today).then(|| (u64::from_le_bytes(*bytes), u32::from_le_bytes(bundles)))
        });
        let (mut used_bytes, mut used_bundles) = counted.unwrap_or((0, 0));
        let limit = if used_bytes.saturating_add(bytes) > limits.bytes_per_day {
            Some(format!("{} a day", crate::words::human_bytes(limits.bytes_per_day)))
        } else if used_bundles >= limits.bundles_per_day {
            Some(format!("{} bundles a day", limits.bundles_per_day))
        } else {
            None
        };
        if let Some(limit) = limit {
            return Ok(Err(Rejection::MemberLimit { community: *community, author: author.to_string(), limit }));
        }
        used_bytes += bytes;
        used_bundles += 1;
        let mut v = today.to_le_bytes().to_vec();
        v.extend_from_slice(&used_bytes.to_le_bytes());
        v.extend_from_slice(&used_bundles.to_le_bytes());
        t.set_meta(&key, &v)?;
        Ok(Ok(()))
    }

    fn member_limits_in(&self, r: &impl Reads) -> Result<MemberLimits, Error> {
        let d = MemberLimits::default();
        let get = |k: &str| -> Result<Option<u64>, Error> {
            Ok(r.meta(k)?.and_then(|b| b.try_into().ok().map(u64::from_le_bytes)))
        };
        Ok(MemberLimits {
            bytes_per_day: get("member_bytes_per_day")?.unwrap_or(d.bytes_per_day),
            bundles_per_day: get("member_bundles_per_day")?
                .map_or(d.bundles_per_day, |n| u32::try_from(n).unwrap_or(u32::MAX)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{Kit, community};
    use super::*;

    /// A member who floods a community makes the others store at most its daily share;
    /// the rest is refused (not remembered) and taken the next day.
    #[test]
    fn one_member_cannot_make_others_store_more_than_its_daily_share() {
        let kit = Kit::new();
        let (mut a, mut b) = (kit.node("A"), kit.node("B"));
        let cid = community(&mut a, &mut b, Role::Member);
        a.set_member_limits(MemberLimits { bytes_per_day: 1 << 30, bundles_per_day: 5 }).unwrap();
        let mut flood = Vec::new();
        for i in 0..12 {
            b.post(&cid, &format!("buy now {i}")).unwrap();
            flood.extend(b.export(Target::Everyone).unwrap());
        }
        flood.sort();
        flood.dedup();
        let r = a.import_many(flood.iter().map(Vec::as_slice)).unwrap();
        let limited = r.rejected().iter().filter(|x| matches!(x, Rejection::MemberLimit { .. })).count();
        assert!(limited > 0, "{r:?}");
        let stored_from_b = a
            .store
            .read()
            .unwrap()
            .all_bundle_meta()
            .unwrap()
            .into_iter()
            .filter(|(_, m)| m.author == b.node_id() && m.doc.starts_with("c/") && m.changes > 0)
            .count();
        assert!(stored_from_b <= 5, "{stored_from_b} bundles of B stored");
        let seen = a.feed(&cid).unwrap().len();
        assert!(seen < 12);
        // The next day, what was refused comes in.
        kit.advance(DAY_MS);
        for _ in 0..3 {
            a.import_many(flood.iter().map(Vec::as_slice)).unwrap();
            kit.advance(DAY_MS);
        }
        assert_eq!(a.feed(&cid).unwrap().len(), 12);
        // Bytes count too.
        a.set_member_limits(MemberLimits { bytes_per_day: 10, bundles_per_day: 100 }).unwrap();
        b.post(&cid, "one more").unwrap();
        let r = a.import_many(b.export(Target::Everyone).unwrap().iter().map(Vec::as_slice)).unwrap();
        assert!(r.rejected().iter().any(|x| matches!(x, Rejection::MemberLimit { .. })), "{r:?}");
    }
}
