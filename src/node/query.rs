//! Read-only questions about what the store holds.

use super::import::Known;
use super::*;

impl Node {
    /// A stored bundle's bytes.
    pub fn bundle_bytes(&self, digest: &[u8; 32]) -> Result<Option<Vec<u8>>, Error> {
        Ok(self.store.read()?.bundle(digest)?)
    }

    /// Stored bundles' bytes, fetched in one read transaction (`None` where not held).
    pub fn bundles_bytes(&self, digests: &[[u8; 32]]) -> Result<Vec<Option<Vec<u8>>>, Error> {
        Ok(self.store.read()?.bundles(digests)?)
    }

    /// Which of these bundles this node need not be given: held, held and forgotten
    /// (delivered, consumed), or refused before for good; in one read transaction.
    pub fn holds_each(&self, digests: &[[u8; 32]]) -> Result<Vec<bool>, Error> {
        let view = self.store.read()?;
        digests.iter().map(|d| Ok(self.known(&view, d)? != Known::No)).collect()
    }

    /// Whether this node already holds a bundle (by its digest, see [`bundle_digest`]), or
    /// carried it and dropped it as delivered.
    pub fn holds(&self, digest: &[u8; 32]) -> Result<bool, Error> {
        Ok(self.holds_each(&[*digest])?.first().copied().unwrap_or(false))
    }

    /// Notes that an exchange with `peer` just completed (shown by `caravan status`).
    pub fn record_contact(&mut self, peer: &NodeId) -> Result<(), Error> {
        let now = (self.clock)();
        let mut t = self.write_txn()?;
        t.set_meta(&format!("seen|{peer}"), &now.to_le_bytes())?;
        // Anyone can connect: only the most recent few are remembered.
        let mut seen = t.meta_prefix("seen|")?;
        if seen.len() > SEEN_PEERS_MAX {
            seen.sort_by_key(|(_, v)| v.as_slice().try_into().map_or(0, u64::from_le_bytes));
            for (k, _) in &seen[..seen.len() - SEEN_PEERS_MAX] {
                t.remove_meta(k)?;
            }
        }
        t.commit()?;
        Ok(())
    }

    /// Nodes this node has exchanged with over live links, with when it last did (ms).
    pub fn contacts_seen(&self) -> Result<Vec<(NodeId, u64)>, Error> {
        let rows = self.store.read()?.meta_prefix("seen|")?;
        Ok(rows
            .into_iter()
            .filter_map(|(k, v)| {
                let node = NodeId::parse(k.strip_prefix("seen|")?)?;
                Some((node, u64::from_le_bytes(v.as_slice().try_into().ok()?)))
            })
            .collect())
    }

    /// Digests of every bundle stored, and of those forgotten as delivered: what a peer
    /// on a live link need not send.
    pub fn held_digests(&self) -> Result<Vec<[u8; 32]>, Error> {
        let view = self.store.read()?;
        let mut out: Vec<[u8; 32]> = view.all_bundle_meta()?.into_iter().map(|(d, _)| d).collect();
        // Forgotten as delivered: a peer must not send them back either.
        out.extend(view.all_forgotten()?);
        Ok(out)
    }

    /// Durable store commits since this node was opened: each user operation (an edit,
    /// an invitation, an import) commits once, or not at all if it changed nothing.
    pub fn store_commits(&self) -> u64 {
        self.store.commits()
    }

    /// A digest of everything this node keeps (bundles, documents, keys, contacts,
    /// custody, what it forgot as delivered), leaving out only its memory of refused
    /// input. Equal before and after an import means the import changed nothing kept.
    pub fn fingerprint(&self) -> Result<[u8; 32], Error> {
        Ok(self.store.read()?.fingerprint()?)
    }

    /// Bundles stored (ours, our communities', and carried for others): count and bytes.
    pub fn stored(&self) -> Result<(usize, u64), Error> {
        let view = self.store.read()?;
        let all = view.all_bundle_meta()?;
        Ok((all.len(), all.iter().map(|(_, m)| m.bytes as u64).sum()))
    }
}
