//! End-to-end import of 10,000 bundles of 1 KiB each (decode, verify, decrypt, merge,
//! durable commit) into a member's redb store. Goal: >= 5,000 bundles/s.

#![allow(missing_docs)]

use std::path::Path;
use std::time::{Duration, Instant};

use automerge::transaction::Transactable;
use caravan::envelope::{self, Batch, ChangeEncoding, Header, Kind};
use caravan::{Audience, DocId, Identity, Node, Part, Role, Target, batch, bundle};
use criterion::{Criterion, Throughput, criterion_group};

const COUNT: usize = 10_000;

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

/// A member's home with the invitation already taken in, and 10,000 one-post bundles
/// sealed by the founder with the library's own sealing code.
fn fixture() -> (tempfile::TempDir, Vec<Vec<u8>>) {
    let a_home = tempfile::tempdir().unwrap();
    let b_home = tempfile::tempdir().unwrap();
    let mut a = Node::open(a_home.path(), "A").unwrap();
    let mut b = Node::open(b_home.path(), "B").unwrap();
    b.add_contact(&a.card(), &[Audience::Friends]).unwrap();
    let cid = a.create_community("Bench", "").unwrap();
    a.invite(&cid, &b.card(), Role::Member).unwrap();
    let setup = a.export(Target::Everyone).unwrap();
    b.import_many(setup.iter().map(Vec::as_slice)).unwrap();
    drop(b);

    let secret: [u8; 64] = std::fs::read(a_home.path().join("identity.key")).unwrap().try_into().unwrap();
    let author = Identity::from_secret_bytes(&secret);
    let (key, epoch) = a.community_key(&cid).unwrap();
    let (genesis, chain) = a.membership_proof(&cid).unwrap();
    let feed = DocId::Community { id: cid, part: Part::FEED };
    let mut doc = automerge::AutoCommit::new().with_actor(automerge::ActorId::from(author.signing_public().to_vec()));
    let text = "x".repeat(900);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
    let mut bundles = Vec::with_capacity(COUNT);
    for i in 0..COUNT {
        // Keyed as the feed's rule wants: `post/<time>/<author>/<n>`.
        let post_key = format!("post/{now:013}/{}/{i}", author.node_id());
        let post = doc.put_object(automerge::ROOT, post_key, automerge::ObjType::Map).unwrap();
        doc.put(&post, "text", text.as_str()).unwrap();
        doc.commit();
        let change = doc.get_last_local_change().unwrap();
        let batch = Batch {
            authority: vec![],
            author: author.signing_public(),
            genesis: Some(genesis),
            chain: chain.clone(),
            encoding: ChangeEncoding::Raw,
            changes: envelope::encode_raw_changes(&[change.raw_bytes()]),
        };
        let header = Header {
            kind: Kind::Batch,
            author: author.node_id(),
            seq: i as u64 + 1000,
            doc: feed.to_string(),
            epoch,
            heads: vec![change.hash().0],
            encrypted: true,
        };
        let (h, body) = batch::seal(&author, &header, &batch, Some(&key));
        let payload = envelope::encode_envelope(&h, &body);
        let inner = bundle::build(
            &author.node_id().endpoint(),
            &feed.endpoint(),
            now,
            i as u64 + 1000,
            Duration::from_secs(86_400),
            &payload,
        )
        .unwrap();
        // Cloaked as the author does: for the holders of the community's key.
        let route = caravan::cloak::Route::of_key(&format!("c/{cid}"), epoch, &key);
        let to = caravan::cloak::To::Group(route);
        let release = caravan::crypto::random_32();
        bundles.push(caravan::cloak::cloak(&inner, to, now, Duration::from_secs(86_400), &release).unwrap().bytes);
    }
    let avg = bundles.iter().map(Vec::len).sum::<usize>() / COUNT;
    println!("fixture: {COUNT} bundles, {avg} bytes each on average");
    (b_home, bundles)
}

fn import_all(template: &Path, bundles: &[Vec<u8>]) -> Duration {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(template, dir.path());
    let mut node = Node::open(dir.path(), "B").unwrap();
    let start = Instant::now();
    let report = node.import_many(bundles.iter().map(Vec::as_slice)).unwrap();
    let took = start.elapsed();
    assert_eq!(report.new_bundles(), COUNT, "{:?}", report.rejected().first());
    took
}

fn benches(c: &mut Criterion) {
    let (template, bundles) = fixture();
    let mut g = c.benchmark_group("import");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(30));
    g.throughput(Throughput::Elements(COUNT as u64));
    g.bench_function("10k x 1KiB bundles, end to end", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| import_all(template.path(), &bundles)).sum())
    });
    g.finish();
    let mut runs: Vec<f64> = (0..5).map(|_| import_all(template.path(), &bundles).as_secs_f64()).collect();
    runs.sort_by(|a, b| a.partial_cmp(b).unwrap());
    println!("\nimport of {COUNT} x 1 KiB bundles: median {:.0} bundles/s (goal >= 5000)", COUNT as f64 / runs[2]);
}

criterion_group!(group, benches);

fn main() {
    group();
    criterion::Criterion::default().configure_from_args().final_summary();
}
