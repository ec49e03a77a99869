//! Every input a fuzz target ever crashed on (`tests/fuzz-crashes/<target>/`, minimised),
//! replayed through the very function that target calls (`fuzz/checks.rs`, included
//! here): each must now pass. See `fuzz/README.md`.

#[path = "../fuzz/checks.rs"]
mod checks;

use std::path::Path;

/// The kept inputs under `tests/fuzz-crashes/<folder>/`, sorted by name.
fn inputs(folder: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz-crashes").join(folder);
    let Ok(entries) = std::fs::read_dir(&dir) else { return Vec::new() };
    let mut paths: Vec<_> = entries.map(|e| e.unwrap().path()).filter(|p| p.is_file()).collect();
    paths.sort();
    paths.into_iter().map(|p| (p.display().to_string(), std::fs::read(&p).unwrap())).collect()
}

/// Replays every kept input of `target` through `check`; returns how many there were.
fn replay(target: &str, check: fn(&[u8])) -> usize {
    let inputs = inputs(target);
    for (name, data) in &inputs {
        eprintln!("replaying {name}");
        check(data);
    }
    inputs.len()
}

macro_rules! replays {
    ($($target:ident),* $(,)?) => {$(
        #[test]
        fn $target() {
            replay(stringify!($target), checks::$target);
        }
    )*};
}

replays!(
    bundle,
    cloak,
    bp7_differential,
    envelope,
    batch,
    grant,
    signal,
    change_scan,
    card,
    beacon,
    quic_frames,
    config,
    stick,
    import,
    social,
);

/// The batch target's finds (Automerge panicking inside `Bundle::try_from` on compact
/// batches) are refused by the change scan before Automerge sees them.
#[test]
fn batch_finds_are_refused_by_the_change_scan() {
    let inputs = inputs("batch");
    assert!(!inputs.is_empty());
    for (name, data) in inputs {
        assert_eq!(data[0] % 3, 1, "{name}");
        assert!(caravan::change_scan::scan_bundle(&data[1..]).is_err(), "{name}");
    }
}

/// The change_scan target's finds of 2026-11-30: compact Automerge bundles that pass the
/// scan and make Automerge's `Bundle::to_changes` panic (`MissingOps`: op ids that
/// disagree with their changes, which the scan leaves to Automerge). Inside a batch the
/// node decodes them under `catch_unwind`: each is refused, and the process goes on.
#[test]
fn change_scan_finds_are_refused_by_the_batch_decoder() {
    use caravan::envelope::{Batch, ChangeEncoding};
    let finds: Vec<_> = inputs("change_scan").into_iter().filter(|(name, _)| name.contains("crash-")).collect();
    let mut panicking = 0;
    for (name, data) in &finds {
        if caravan::change_scan::scan_bundle(data).is_err() {
            continue;
        }
        let raw = std::panic::catch_unwind(|| automerge::Bundle::try_from(&data[..]).map(|b| b.to_changes()));
        panicking += usize::from(raw.is_err());
        let batch = Batch {
            authority: vec![],
            author: [0; 32],
            genesis: None,
            chain: vec![],
            encoding: ChangeEncoding::AutomergeBundle,
            changes: data.clone(),
        };
        assert!(caravan::batch::decode_changes(&batch).is_err(), "{name} was not refused");
    }
    assert!(panicking >= 3, "the finds no longer make Automerge panic: {panicking} do");
}

/// The golden corpus's seeds pass every check too (the checks themselves are sound).
#[test]
fn golden_inputs_pass_every_check() {
    let corpus = checks::corpus();
    for name in ["profile-public", "community-wiki", "invitation", "custody-v1/signal"] {
        let bytes = std::fs::read(corpus.join(format!("{name}.bundle"))).unwrap();
        for check in [checks::bundle, checks::bp7_differential, checks::envelope, checks::import, checks::cloak] {
            check(&bytes);
        }
    }
    // The corpus's routes open its bundles (so the cloak target reaches the inner decoders).
    let opened = ["profile-public", "community-wiki", "invitation"]
        .iter()
        .filter(|name| {
            let bytes = std::fs::read(corpus.join(format!("{name}.bundle"))).unwrap();
            let outer = caravan::cloak::read_untimed(&bytes).unwrap();
            checks::golden_routes().iter().any(|r| outer.open(r).is_ok())
        })
        .count();
    assert_eq!(opened, 3);
    checks::beacon(&std::fs::read(corpus.join("lan-v1/beacon.bin")).unwrap());
    checks::card(std::fs::read_to_string(corpus.join("keys/a.card")).unwrap().trim().as_bytes());
    let seg = std::fs::read_dir(corpus.join("stick-v1/caravan"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "seg"))
        .map(|p| std::fs::read(p).unwrap())
        .unwrap();
    checks::stick(&[&[0u8][..], &seg].concat());
}
