//! What several benches share.

use std::time::Duration;

use caravan::envelope::{self, Batch, ChangeEncoding, Header, Kind};
use caravan::{CommunityId, DocId, Identity, Part, batch, bundle, crypto};

/// `count` signed, encrypted feed bundles of community `cid` under key `epoch` (a key
/// nobody else holds), from a fresh author, each carrying `size` bytes of changes.
pub fn feed_bundles(cid: CommunityId, epoch: u32, count: usize, size: usize) -> Vec<Vec<u8>> {
    let author = Identity::generate();
    let feed = DocId::Community { id: cid, part: Part::Feed };
    let key = crypto::random_32();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
    let mut changes = vec![0u8; size];
    (0..count)
        .map(|i| {
            crypto::fill_random(&mut changes[..64.min(size)]);
            let b = Batch {
                author: author.signing_public(),
                genesis: None,
                chain: vec![],
                encoding: ChangeEncoding::Raw,
                changes: changes.clone(),
            };
            let h = Header { kind: Kind::Batch, doc: feed.to_string(), epoch, heads: vec![], encrypted: true };
            let (hb, body) = batch::seal(&author, &h, &b, Some(&key));
            bundle::build(
                &author.node_id().endpoint(),
                &feed.endpoint(),
                now,
                i as u64,
                Duration::from_secs(86_400),
                &envelope::encode_envelope(&hb, &body),
            )
            .unwrap()
        })
        .collect()
}
