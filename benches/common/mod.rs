//! What several benches share.

use std::path::Path;
use std::time::{Duration, Instant};

use caravan::envelope::{self, Batch, ChangeEncoding, Header, Kind};
use caravan::{CommunityId, DocId, Identity, Part, batch, bundle, cloak, crypto};

/// `count` signed, encrypted feed bundles of community `cid` under key `epoch` (a key
/// nobody else holds), from a fresh author, each carrying `size` bytes of changes.
pub fn feed_bundles(cid: CommunityId, epoch: u32, count: usize, size: usize) -> Vec<Vec<u8>> {
    feed_bundles_cloaked(cid, epoch, count, size, None)
}

/// [`feed_bundles`], cloaked for the holders of `route` (a community key and its epoch)
/// instead of the inner key: those holders see which community they belong to (and
/// pass them to its members) without reading them.
pub fn feed_bundles_cloaked(
    cid: CommunityId,
    epoch: u32,
    count: usize,
    size: usize,
    route: Option<([u8; 32], u32)>,
) -> Vec<Vec<u8>> {
    let author = Identity::generate();
    let feed = DocId::Community { id: cid, part: Part::FEED };
    let key = crypto::random_32();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
    let mut changes = vec![0u8; size];
    (0..count)
        .map(|i| {
            crypto::fill_random(&mut changes[..64.min(size)]);
            let b = Batch {
                authority: vec![],
                author: author.signing_public(),
                genesis: None,
                chain: vec![],
                encoding: ChangeEncoding::Raw,
                changes: changes.clone(),
            };
            let h = Header {
                kind: Kind::Batch,
                author: author.node_id(),
                seq: i as u64 + 1,
                doc: feed.to_string(),
                epoch,
                heads: vec![],
                encrypted: true,
            };
            let (hb, body) = batch::seal(&author, &h, &b, Some(&key));
            let inner = bundle::build(
                &author.node_id().endpoint(),
                &feed.endpoint(),
                now,
                i as u64,
                Duration::from_secs(86_400),
                &envelope::encode_envelope(&hb, &body),
            )
            .unwrap();
            // Cloaked as its author would: for the holders of that key (nobody here).
            let (route_key, route_epoch) = route.unwrap_or((key, epoch));
            let to = cloak::To::Group(cloak::Route::of_key(&format!("c/{cid}"), route_epoch, &route_key));
            cloak::cloak(&inner, to, now, Duration::from_secs(86_400), &crypto::random_32()).unwrap().bytes
        })
        .collect()
}

/// The least a durable store of `bundles` costs with redb, measured: each bundle inserted
/// under its BLAKE3 digest in one table (in parts of at most
/// [`caravan::store::BUNDLE_PART_BYTES`], as the node keeps large ones), one durable commit
/// every `batch_count` bundles or `batch_bytes` bytes, in a fresh database under `dir`. No
/// parsing, checks or metadata: no import into redb can take less, so a link that must store
/// what it moves runs at most at `raw / max(raw, this)` of its raw speed.
#[allow(dead_code)]
pub fn redb_store_only(dir: &Path, bundles: &[Vec<u8>], batch_count: usize, batch_bytes: usize) -> Duration {
    const T: redb::TableDefinition<&[u8], &[u8]> = redb::TableDefinition::new("floor");
    let path = dir.join("floor.redb");
    let db = redb::Builder::new().set_cache_size(caravan::store::CACHE_BYTES).create(&path).unwrap();
    let start = Instant::now();
    for batch in batches(bundles, batch_count, batch_bytes) {
        let tx = db.begin_write().unwrap();
        {
            let mut t = tx.open_table(T).unwrap();
            for b in batch {
                let digest = blake3::hash(b);
                for (i, part) in b.chunks(caravan::store::BUNDLE_PART_BYTES).enumerate() {
                    let mut key = digest.as_bytes().to_vec();
                    key.extend_from_slice(&(i as u32).to_be_bytes());
                    t.insert(key.as_slice(), part).unwrap();
                }
            }
        }
        tx.commit().unwrap();
    }
    let t = start.elapsed();
    drop(db);
    std::fs::remove_file(&path).ok();
    t
}

/// `bundles` cut into runs of at most `count` bundles, closed once they reach `bytes`.
fn batches(bundles: &[Vec<u8>], count: usize, bytes: usize) -> Vec<&[Vec<u8>]> {
    let mut out = Vec::new();
    let (mut start, mut size) = (0, 0);
    for (i, b) in bundles.iter().enumerate() {
        size += b.len();
        if i + 1 - start >= count || size >= bytes {
            out.push(&bundles[start..=i]);
            start = i + 1;
            size = 0;
        }
    }
    if start < bundles.len() {
        out.push(&bundles[start..]);
    }
    out
}
