//! Writes the fuzz targets' seed inputs, derived from the golden corpus (`bundles/`) and
//! from small values made here, into `fuzz/corpus/<target>/`. Run by `fuzz/seed.sh`:
//! `cargo run --example fuzz_seeds -- fuzz/corpus`.

use std::path::{Path, PathBuf};

use automerge::transaction::Transactable;
use caravan::envelope::{self, Batch, Cert, ChangeEncoding, Genesis, Grant, Invitation};

fn put(dir: &Path, target: &str, name: &str, bytes: &[u8]) {
    let d = dir.join(target);
    std::fs::create_dir_all(&d).expect("corpus folder");
    std::fs::write(d.join(name), bytes).expect("seed file");
}

/// Every route recorded in the corpus's JSON files (`"route": "<hex>"`).
fn routes(corpus: &Path) -> Vec<caravan::cloak::Route> {
    // Release lists are cloaked for everyone.
    let mut out = vec![caravan::cloak::Route::releases()];
    for dir in ["", "custody-v1", "kinds-v1", "membership-v1", "social-v1"] {
        for e in std::fs::read_dir(corpus.join(dir)).expect("corpus") {
            let p = e.expect("entry").path();
            if p.extension().is_none_or(|x| x != "json") {
                continue;
            }
            let text = std::fs::read_to_string(&p).expect("json");
            for part in text.split("\"route\": \"").skip(1) {
                let hex = part.get(..64).expect("a route");
                let mut r = [0u8; 32];
                for (i, b) in r.iter_mut().enumerate() {
                    *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).expect("hex");
                }
                out.push(caravan::cloak::Route(r));
            }
        }
    }
    out
}

fn main() {
    let out = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "fuzz/corpus".into()));
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("bundles");

    // Every golden bundle, and what is inside its cloak (opened with the route recorded
    // beside it) as far as no other key is needed.
    let routes = routes(&corpus);
    let mut bundles = Vec::new();
    for dir in [
        corpus.clone(),
        corpus.join("custody-v1"),
        corpus.join("kinds-v1"),
        corpus.join("membership-v1"),
        corpus.join("social-v1"),
    ] {
        for e in std::fs::read_dir(&dir).expect("corpus") {
            let p = e.expect("entry").path();
            if p.extension().is_some_and(|x| x == "bundle") {
                let name = p.file_stem().unwrap().to_string_lossy().into_owned();
                bundles.push((name, std::fs::read(&p).expect("bundle")));
            }
        }
    }
    bundles.sort();
    for (name, cloaked) in &bundles {
        for t in ["bundle", "bp7_differential", "cloak", "import"] {
            put(&out, t, name, cloaked);
        }
        let outer = caravan::cloak::read_untimed(cloaked).expect("golden cloak reads");
        let Some(bytes) = routes.iter().find_map(|r| outer.open(r).ok()) else { continue };
        let bytes = &bytes;
        for t in ["bundle", "bp7_differential", "envelope"] {
            put(&out, t, &format!("{name}.inner"), bytes);
        }
        let info = caravan::bundle::parse_untimed(bytes).expect("golden bundle parses");
        let payload = &bytes[info.payload];
        if info.admin_record {
            put(&out, "signal", name, payload);
            continue;
        }
        put(&out, "envelope", &format!("{name}.payload"), payload);
        let env = envelope::decode_envelope(payload).expect("golden envelope");
        put(&out, "envelope", &format!("{name}.header"), env.header_bytes);
        put(&out, "grant", &format!("{name}.body"), env.body);
        if env.header.encrypted {
            continue;
        }
        let (inner, _) = envelope::decode_signed(env.body).expect("signed body");
        put(&out, "grant", &format!("{name}.signed"), env.body);
        put(&out, "batch", name, inner);
        let batch = Batch::decode(inner).expect("golden batch");
        put(&out, "batch", &format!("{name}.changes"), &[&[batch.encoding as u8][..], &batch.changes].concat());
        if batch.encoding == ChangeEncoding::Raw {
            for (i, c) in envelope::decode_raw_changes(&batch.changes).expect("raw changes").iter().enumerate() {
                put(&out, "change_scan", &format!("{name}.{i}"), c);
            }
        }
    }

    // Automerge changes and bundles made here: several ops of each kind.
    let mut doc = automerge::AutoCommit::new();
    let list = doc.put_object(automerge::ROOT, "list", automerge::ObjType::List).unwrap();
    let text = doc.put_object(automerge::ROOT, "text", automerge::ObjType::Text).unwrap();
    for i in 0..6 {
        doc.put(automerge::ROOT, format!("k{i}"), i as i64).unwrap();
        doc.insert(&list, 0, format!("item {i}")).unwrap();
        doc.splice_text(&text, 0, 0, "héllo ").unwrap();
        doc.increment(automerge::ROOT, "k0", 1).ok();
        doc.delete(&list, 0).ok();
        doc.commit();
    }
    let changes = doc.get_changes(&[]);
    for (i, c) in changes.iter().enumerate() {
        put(&out, "change_scan", &format!("made.{i}"), c.raw_bytes());
    }
    let bundle = doc.bundle(changes.iter().map(|c| c.hash())).expect("bundle").bytes().to_vec();
    put(&out, "change_scan", "made.bundle.deflated", &bundle);
    let plain = caravan::change_scan::inflate_bundle(&bundle, 1 << 20).expect("inflate");
    put(&out, "change_scan", "made.bundle", &plain);
    for (which, enc) in [(0u8, ChangeEncoding::Raw), (1, ChangeEncoding::AutomergeBundle)] {
        let bytes = match enc {
            ChangeEncoding::Raw => {
                envelope::encode_raw_changes(&changes.iter().map(|c| c.raw_bytes()).collect::<Vec<_>>())
            }
            _ => plain.clone(),
        };
        put(&out, "batch", &format!("made.changes.{which}"), &[&[which][..], &bytes].concat());
    }
    let (enc, bytes) = caravan::batch::encode_changes(&mut doc, &changes);
    put(&out, "batch", "made.changes.encoded", &[&[enc as u8][..], &bytes].concat());

    // Batches and grants with a community's genesis and certificate chain.
    let genesis = Genesis { root: [1; 32], nonce: [2; 16] };
    let cert = Cert { community: [3; 20], member: [4; 32], role: 1, issuer: [1; 32], signature: [5; 64] };
    let batch = Batch {
        authority: vec![],
        author: [4; 32],
        genesis: Some(genesis),
        chain: vec![cert.clone()],
        encoding: enc,
        changes: bytes,
    };
    put(&out, "batch", "made.community", &batch.encode());
    let grant = Grant {
        granter: [1; 32],
        recipient: [4; 32],
        scope: "c/abcdefghijklmnopqrstuvwxyz234567".into(),
        epoch: 2,
        key: [6; 32],
        invitation: Some(Invitation { genesis, chain: vec![cert], name: "Wells".into(), earlier_keys: vec![] }),
    };
    put(&out, "grant", "made.invitation", &grant.encode());
    put(&out, "grant", "made.invitation.signed", &envelope::encode_signed(&grant.encode(), &[7; 64]));
    let plain_grant = Grant { invitation: None, scope: "p/node/friends".into(), ..grant };
    put(&out, "grant", "made.grant", &plain_grant.encode());

    // Contact cards, the LAN beacon, QUIC frames.
    for e in std::fs::read_dir(corpus.join("keys")).expect("keys") {
        let p = e.expect("entry").path();
        if p.extension().is_some_and(|x| x == "card") {
            let name = p.file_stem().unwrap().to_string_lossy().into_owned();
            let text = std::fs::read_to_string(&p).expect("card");
            put(&out, "card", &format!("{name}.txt"), text.trim().as_bytes());
            let card = caravan::ContactCard::parse(&text).expect("golden card");
            put(&out, "card", &format!("{name}.bin"), &card.to_bytes());
        }
    }
    let beacon = std::fs::read(corpus.join("lan-v1/beacon.bin")).expect("beacon");
    put(&out, "beacon", "beacon", &beacon);
    put(&out, "card", "beacon", &beacon[17..beacon.len() - 64]);
    let digests: Vec<u8> = (0u8..4).flat_map(|i| [i; 32]).collect();
    put(&out, "quic_frames", "summary", &[&[0u8][..], &digests].concat());
    let handover: Vec<u8> = digests.chunks(32).flat_map(|d| [d, &[0, 0, 0, 4][..]].concat()).collect();
    put(&out, "quic_frames", "handover", &[&[2u8, 1][..], &handover].concat());
    put(&out, "quic_frames", "receipt", &[&[3u8, 1][..], &digests].concat());
    put(&out, "quic_frames", "endpoints", b"\x01dtn://3cvb4syx6jwlu6jjj6ht525exg2yw2dy/\ndtn://c/abc/~members\n");

    // Configuration text.
    let spec = std::fs::read_to_string(corpus.join("../spec/config.md")).expect("spec");
    let example = spec.split("```toml\n").nth(1).and_then(|s| s.split("```").next()).expect("example");
    let card = std::fs::read_to_string(corpus.join("keys/a.card")).expect("card");
    put(&out, "config", "spec", example.replace("caravan1_...", card.trim()).as_bytes());
    put(
        &out,
        "config",
        "windows",
        format!(
            "listen = \"[::]:4433\"\nrelay_quota = 5000000\ndiscovery = true\ntime_scale = 60.0\n\
             [[window]]\nweekly = \"sat 09:00-12:00\"\nzone = \"Europe/Paris\"\n\
             [[window]]\nonce = \"2026-12-01 22:00-02:00\"\n\
             [[contact]]\nbetween = [\"{}\", \"3cvb4syx6jwlu6jjj6ht525exg2yw2dy\"]\nweekly = \"monday 10:00-11:00\"\n",
            card.trim()
        )
        .as_bytes(),
    );
    put(&out, "config", "empty", b"");

    // The stick: the golden segment and index, each alone and together.
    let stick = corpus.join("stick-v1/caravan");
    let file = |ext: &str| {
        let p = std::fs::read_dir(&stick)
            .expect("stick")
            .map(|e| e.expect("entry").path())
            .find(|p| p.extension().is_some_and(|x| x == ext))
            .expect("a golden stick file");
        std::fs::read(p).expect("stick file")
    };
    let (seg, idx) = (file("seg"), file("idx"));
    put(&out, "stick", "segment", &[&[0u8][..], &seg].concat());
    put(&out, "stick", "index", &[&[1u8][..], &idx].concat());
    let at = (seg.len() as u16).to_le_bytes();
    put(&out, "stick", "both", &[&[2u8, at[0], at[1]][..], &seg, &idx].concat());
}
