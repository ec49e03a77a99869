//! What each fuzz target checks, one function per target. The fuzz targets
//! (`fuzz_targets/*.rs`) and the replay of every kept crash (`tests/fuzz_regressions.rs`
//! in the main crate) both include this file, so a kept input is replayed through
//! exactly the code that found it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use caravan::change_scan::{inflate_bundle, scan_bundle, scan_change};
use caravan::custody::Signal;
use caravan::envelope::{self, Batch, ChangeEncoding, Grant};
use caravan::limits::AUTOMERGE_BUNDLE_BYTES_MAX;
use caravan::limits::HANDOVER_ENTRIES_MAX;
use caravan::link::quic::{
    ENDPOINTS_MAX, encode_handover, parse_endpoints, parse_handover, parse_receipt, parse_summary,
};
use caravan::{ContactCard, Node};

/// The golden corpus (`bundles/`).
pub fn corpus() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    if here.join("bundles").is_dir() { here.join("bundles") } else { here.join("../bundles") }
}

/// The golden corpus's time: its invitation's creation time.
pub fn corpus_time() -> u64 {
    let json = std::fs::read_to_string(corpus().join("invitation.json")).unwrap();
    json.split("\"created_unix_ms\":")
        .nth(1)
        .and_then(|s| s.trim_start().split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|s| s.parse().ok())
        .unwrap()
}

/// Every route recorded in the golden corpus (each bundle's, beside it in its JSON), so a
/// check can open what the corpus's readers open.
pub fn golden_routes() -> &'static [caravan::cloak::Route] {
    static R: OnceLock<Vec<caravan::cloak::Route>> = OnceLock::new();
    R.get_or_init(|| {
        // Release lists are cloaked for everyone.
        let mut out = vec![caravan::cloak::Route::releases()];
        for dir in ["", "custody-v1", "kinds-v1", "membership-v1", "social-v1"] {
            let Ok(entries) = std::fs::read_dir(corpus().join(dir)) else { continue };
            for e in entries.flatten() {
                if e.path().extension().is_none_or(|x| x != "json") {
                    continue;
                }
                let text = std::fs::read_to_string(e.path()).unwrap_or_default();
                for part in text.split("\"route\": \"").skip(1) {
                    let hex = &part[..64.min(part.len())];
                    let mut r = [0u8; 32];
                    if hex.len() == 64
                        && r.iter_mut()
                            .enumerate()
                            .all(|(i, b)| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).map(|v| *b = v).is_ok())
                    {
                        out.push(caravan::cloak::Route(r));
                    }
                }
            }
        }
        out
    })
}

/// `cloak`: reading a cloak (`caravan::cloak::read_untimed`) never panics; what reads is
/// padded to a bucket and addressed to its tag; opening it with any route (the corpus's,
/// and a wrong one) never panics, and what opens is checked as a bundle and an envelope.
pub fn cloak(data: &[u8]) {
    let Ok(outer) = caravan::cloak::read_untimed(data) else { return };
    let len = outer.info.payload.len();
    assert_eq!(caravan::cloak::bucket(len), Some(len));
    assert_eq!(caravan::cloak::tag_of(&outer.info.destination), Some(outer.tag));
    let _ = outer.open(&caravan::cloak::Route([0; 32]));
    for route in golden_routes() {
        if let Ok(inner) = outer.open(route) {
            assert!(inner.len() + caravan::cloak::CLOAK_OVERHEAD <= len);
            bundle(&inner);
            envelope(&inner);
        }
    }
}

/// `bundle`: BPv7 parsing (`caravan::bundle::parse` and `parse_untimed`) never panics;
/// what parses has its payload inside the input, and both agree.
pub fn bundle(data: &[u8]) {
    let untimed = caravan::bundle::parse_untimed(data);
    if let Ok(info) = &untimed {
        assert!(info.payload.start <= info.payload.end && info.payload.end <= data.len());
    }
    // Two clocks: one inside the corpus's lifetimes, one far past them.
    for now in [1_796_044_460_000, u64::MAX] {
        if let Ok(info) = caravan::bundle::parse(data, now) {
            assert_eq!(Ok(&info), untimed.as_ref());
        }
    }
}

/// `bp7_differential`: whatever `caravan::bundle::parse_untimed` accepts, a second BPv7
/// implementation (dtn7-rs's `bp7`) parses and validates too.
pub fn bp7_differential(data: &[u8]) {
    if caravan::bundle::parse_untimed(data).is_ok() {
        let bundle = bp7::Bundle::try_from(data.to_vec());
        assert!(bundle.is_ok(), "caravan accepts, bp7 does not parse: {:?}", bundle.err());
        let valid = bundle.unwrap().validate();
        assert!(valid.is_ok(), "caravan accepts, bp7 does not validate: {:?}", valid.err());
    }
}

/// `envelope`: every decoder a bundle's bytes meet before any key is used (BPv7,
/// envelope, signed body, batch, grant, raw changes); a decoded envelope has one spelling.
pub fn envelope(data: &[u8]) {
    if let Ok(info) = caravan::bundle::parse(data, 1_795_400_000_000) {
        let _ = envelope::decode_envelope(&data[info.payload]);
    }
    if let Ok(env) = envelope::decode_envelope(data) {
        assert_eq!(envelope::encode_envelope(env.header_bytes, env.body), data);
        assert_eq!(env.header.encode(), env.header_bytes);
    }
    let _ = envelope::decode_signed(data);
    let _ = envelope::Batch::decode(data);
    let _ = envelope::Grant::decode(data);
    let _ = envelope::decode_raw_changes(data);
}

/// `batch`: a batch's signed inside (`Batch::decode`, one spelling), then its changes
/// (`caravan::batch::decode_changes`). Also the input (after an encoding byte) as the
/// change bytes of a batch, so the change decoders are reached directly.
pub fn batch(data: &[u8]) {
    if let Ok(batch) = Batch::decode(data) {
        assert_eq!(batch.encode(), data, "a batch has one spelling");
        let _ = caravan::batch::decode_changes(&batch);
    }
    if let Some((&which, changes)) = data.split_first() {
        let encoding = match which % 3 {
            0 => ChangeEncoding::Raw,
            1 => ChangeEncoding::AutomergeBundle,
            _ => ChangeEncoding::DeflatedAutomergeBundle,
        };
        let batch = Batch {
            authority: vec![],
            author: [0; 32],
            genesis: None,
            chain: vec![],
            encoding,
            changes: changes.to_vec(),
        };
        let _ = caravan::batch::decode_changes(&batch);
    }
}

/// `grant`: a grant (`Grant::decode`) and the signed wrapper around it
/// (`envelope::decode_signed`), each with one spelling.
pub fn grant(data: &[u8]) {
    if let Ok(grant) = Grant::decode(data) {
        assert_eq!(grant.encode(), data, "a grant has one spelling");
    }
    if let Ok((inner, signature)) = envelope::decode_signed(data) {
        assert_eq!(envelope::encode_signed(inner, &signature), data, "a signed body has one spelling");
        if let Ok(grant) = Grant::decode(inner) {
            assert_eq!(grant.encode(), inner);
        }
    }
}

/// `signal`: custody signal records (`envelope::decode_signal_record`), one spelling.
pub fn signal(data: &[u8]) {
    if let Ok(record) = envelope::decode_signal_record(data) {
        let inner = envelope::encode_signal(&record.signer, &Signal { entries: record.signal.entries.clone() });
        assert_eq!(inner, record.inner);
        assert_eq!(envelope::encode_signal_record(record.inner, &record.signature), data);
    }
}

/// What passes `scan_bundle`, `Bundle::try_from` decodes without panicking or aborting.
/// (`to_changes` is not called here: it can still panic on op ids that disagree with
/// their changes, which the scan does not check (see `change_scan`'s docs); the node
/// calls it under `catch_unwind` and refuses the bundle, which
/// `tests/fuzz_regressions.rs` replays outside the fuzzer, where a panic can unwind.)
fn automerge_bundle(bytes: &[u8]) {
    if scan_bundle(bytes).is_ok() {
        let _ = automerge::Bundle::try_from(bytes);
    }
}

/// `change_scan`: `scan_change`, `scan_bundle` and `inflate_bundle` never panic, and what
/// passes a scan Automerge decodes (`Change::from_bytes`, `Bundle::try_from`) without
/// panicking or aborting.
pub fn change_scan(data: &[u8]) {
    if scan_change(data).is_ok() {
        let _ = automerge::Change::from_bytes(data.to_vec());
    }
    automerge_bundle(data);
    if let Ok(inflated) = inflate_bundle(data, AUTOMERGE_BUNDLE_BYTES_MAX) {
        assert!(inflated.len() <= data.len() + AUTOMERGE_BUNDLE_BYTES_MAX);
        automerge_bundle(&inflated);
    }
}

/// `card`: contact cards, binary (`ContactCard::from_bytes`, one form) and text
/// (`ContactCard::parse`, which round-trips).
pub fn card(data: &[u8]) {
    if let Ok(card) = ContactCard::from_bytes(data) {
        assert_eq!(card.to_bytes(), data, "a card has one binary form");
    }
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(card) = ContactCard::parse(text)
    {
        assert_eq!(ContactCard::parse(&card.to_string()).ok().as_ref(), Some(&card));
    }
}

/// `beacon`: LAN discovery beacons (`caravan::link::lan::open`), any datagram.
pub fn beacon(data: &[u8]) {
    if let Ok(beacon) = caravan::link::lan::open(data) {
        assert_ne!(beacon.port, 0);
    }
}

/// `quic_frames`: the QUIC exchange's summary, endpoint list, hand-over and receipt
/// frames; the first byte picks which.
pub fn quic_frames(data: &[u8]) {
    let Some((&which, frame)) = data.split_first() else { return };
    match which & 3 {
        0 => {
            if let Ok(held) = parse_summary(frame) {
                assert!(frame.len() % 32 == 0 && held.len() <= frame.len() / 32);
            }
        }
        1 => {
            if let Ok(endpoints) = parse_endpoints(frame) {
                assert!(
                    endpoints.len() <= ENDPOINTS_MAX && endpoints.iter().all(|e| !e.is_empty() && !e.contains('\n'))
                );
            }
        }
        2 => {
            if let Ok(handed) = parse_handover(frame) {
                assert_eq!(encode_handover(&handed), frame, "a hand-over frame has one spelling");
            }
        }
        _ => {
            if let Ok(held) = parse_receipt(frame) {
                assert!(held.len() <= HANDOVER_ENTRIES_MAX && held.len() <= frame.len() / 32);
            }
        }
    }
}

/// `config`: daemon configuration text (`Config::parse`), and the contact plan it gives.
pub fn config(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(config) = caravan::config::Config::parse(text, "<fuzz>")
    {
        let _ = config.contact_plan(caravan::NodeId([0; 20]));
    }
}

/// The golden stick's file with extension `ext` (named by its writer's pseudonym).
fn golden_stick_file(ext: &str) -> String {
    std::fs::read_dir(corpus().join("stick-v1/caravan"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .find(|n| n.ends_with(ext))
        .unwrap()
}

/// Every entry of `dir` by name, and the identity's bytes.
fn home_state(dir: &Path) -> (Vec<String>, Vec<u8>) {
    let mut names: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    (names, std::fs::read(dir.join("identity.key")).unwrap())
}

/// `stick`: the golden stick (`bundles/stick-v1/`, written by a real sync) with its
/// segment and/or index replaced by the input, synced into a fresh node (the corpus's
/// reader `b`): `stick::sync` never panics, and the node's home keeps its identity and
/// its files, and opens again. Input: a mode byte, then the bytes. Mode 0: the bytes are
/// the segment; 1: the index; otherwise two bytes (u16 LE) say where the rest splits
/// into segment, then index.
pub fn stick(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else { return };
    let golden = corpus().join("stick-v1/caravan");
    let (seg_name, idx_name) = (golden_stick_file(".seg"), golden_stick_file(".idx"));
    let (seg, idx): (Vec<u8>, Vec<u8>) = match mode {
        0 => (rest.to_vec(), std::fs::read(golden.join(&idx_name)).unwrap()),
        1 => (std::fs::read(golden.join(&seg_name)).unwrap(), rest.to_vec()),
        _ => {
            let Some((at, bytes)) = rest.split_first_chunk::<2>() else { return };
            let at = (u16::from_le_bytes(*at) as usize).min(bytes.len());
            (bytes[..at].to_vec(), bytes[at..].to_vec())
        }
    };
    let stick = tempfile::tempdir().unwrap();
    let folder = stick.path().join("caravan");
    std::fs::create_dir(&folder).unwrap();
    std::fs::copy(golden.join("CARAVAN.TXT"), folder.join("CARAVAN.TXT")).unwrap();
    std::fs::write(folder.join(&seg_name), &seg).unwrap();
    std::fs::write(folder.join(&idx_name), &idx).unwrap();

    let home = tempfile::tempdir().unwrap();
    std::fs::copy(corpus().join("keys/b.key"), home.path().join("identity.key")).unwrap();
    let mut node = Node::open(home.path(), "b").unwrap();
    let now = corpus_time() + 2000;
    node.set_clock(Arc::new(move || now));
    for who in ["a", "d"] {
        let text = std::fs::read_to_string(corpus().join(format!("keys/{who}.card"))).unwrap();
        node.add_contact(&ContactCard::parse(&text).unwrap(), &[]).unwrap();
    }
    let before = home_state(home.path());
    // A hostile stick may be refused or partly read; it must not break the node.
    let _ = caravan::link::stick::sync(&mut node, stick.path(), Default::default());
    drop(node);
    assert_eq!(home_state(home.path()), before, "the stick changed the node's home");
    Node::open(home.path(), "b").unwrap();
}

struct ImportFixture {
    node: Node,
    _home: tempfile::TempDir,
}

/// `import`: whole bundles into a node that holds keys (the corpus's reader `b`, with
/// the corpus's invitation already taken in), so mutated bundles reach decryption,
/// signature checks and the Automerge decoders. Local storage never fails; any outcome
/// for the bundle itself is fine.
pub fn import(data: &[u8]) {
    static F: OnceLock<Mutex<ImportFixture>> = OnceLock::new();
    let fixture = F.get_or_init(|| {
        let home = tempfile::tempdir().unwrap();
        std::fs::copy(corpus().join("keys/b.key"), home.path().join("identity.key")).unwrap();
        let mut node = Node::open(home.path(), "b").unwrap();
        let card = std::fs::read_to_string(corpus().join("keys/a.card")).unwrap();
        node.add_contact(&ContactCard::parse(&card).unwrap(), &[]).unwrap();
        let created = corpus_time();
        node.set_clock(Arc::new(move || created + 1000));
        node.import(&std::fs::read(corpus().join("invitation.bundle")).unwrap()).unwrap();
        Mutex::new(ImportFixture { node, _home: home })
    });
    let mut f = fixture.lock().unwrap_or_else(|e| e.into_inner());
    f.node.import(data).expect("store failure on fuzz input");
}

#[path = "social_checks.rs"]
mod social_checks;
#[allow(unused_imports)]
pub use social_checks::{social, social_accepted};
