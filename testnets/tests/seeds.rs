//! The property, over many random disrupted networks: after the last edit, with a
//! schedule connected over time, every reader of every document converges, no
//! acknowledged change is lost, and no relay exceeds its quota.
//!
//! `CARAVAN_SEEDS=10000 cargo test -p caravan-testnets --release --test seeds` runs more.

use caravan::routing::Caravan;
use caravan_testnets::scenario::{self, Params};
use caravan_testnets::sim::{self, Breaks};
use caravan_testnets::{check_seeds, replay_command};

#[test]
fn every_seed_converges_within_quota() {
    let count: u64 = std::env::var("CARAVAN_SEEDS").ok().and_then(|s| s.parse().ok()).unwrap_or(500);
    let failures = check_seeds(0..count, Breaks::default());
    for (seed, v) in &failures {
        eprintln!("seed {seed}: {v}\n  replay: {}", replay_command(*seed));
    }
    assert!(failures.is_empty(), "{} of {count} seeds failed", failures.len());
}

#[test]
fn a_seed_replays_identically() {
    let p = Params::property();
    let a = sim::run(&scenario::random(42, &p), &Caravan::default(), Breaks::default());
    let b = sim::run(&scenario::random(42, &p), &Caravan::default(), Breaks::default());
    assert_eq!(format!("{:?}", a.metrics), format!("{:?}", b.metrics));
    let c = sim::run(&scenario::random(43, &p), &Caravan::default(), Breaks::default());
    assert_ne!(format!("{:?}", a.metrics), format!("{:?}", c.metrics));
}

#[test]
fn faults_really_happen() {
    // The property run must include every fault it claims to: otherwise passing seeds
    // prove less than they seem.
    let p = Params::property();
    let sc = scenario::random(7, &p);
    let has = |f: fn(&scenario::Event) -> bool| sc.events.iter().any(|e| f(&e.event));
    assert!(has(|e| matches!(e, scenario::Event::Crash { .. })));
    assert!(has(|e| matches!(e, scenario::Event::Visit { .. })));
    assert!(has(|e| matches!(e, scenario::Event::Join { .. })));
    assert!(p.faults.link_drop > 0.0 && p.faults.crash_in_transfer > 0.0 && p.faults.duplicate > 0.0);
    let lost = (0..50)
        .any(|s| scenario::random(s, &p).events.iter().any(|e| matches!(e.event, scenario::Event::LoseStick { .. })));
    assert!(lost, "no seed loses a stick");
    let out = sim::run(&sc, &Caravan::default(), Breaks::default());
    assert!(out.metrics.peak_quota_permille > 900, "relays never filled: {:?}", out.metrics);
}
