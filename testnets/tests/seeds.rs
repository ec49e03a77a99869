//! The property, over many random disrupted networks: after the last edit, with a
//! schedule connected over time, every reader of every document converges, no
//! acknowledged change is lost, no author releases custody of a change a destination
//! lacks, and no relay exceeds its quota. About half of the seeds have hostile carriers
//! that re-wrap, re-address, withhold, duplicate and replay what they hand over.
//!
//! `CARAVAN_SEEDS=10000 cargo test -p caravan-testnets --release --test seeds` runs more.

use std::time::Instant;

use caravan::routing::Caravan;
use caravan_testnets::scenario::{self, Params};
use caravan_testnets::sim::{self, Breaks};
use caravan_testnets::{replay_command, run_seeds};

#[test]
fn every_seed_converges_within_quota() {
    let count: u64 = std::env::var("CARAVAN_SEEDS").ok().and_then(|s| s.parse().ok()).unwrap_or(500);
    let t = Instant::now();
    let run = run_seeds(0..count, &Params::property(), Breaks::default());
    eprintln!(
        "{count} seeds ({} with hostile carriers): {} failed, {:.1} s\n{:?}",
        run.hostile_seeds,
        run.failures.len(),
        t.elapsed().as_secs_f64(),
        run.malice
    );
    for (seed, v) in &run.failures {
        eprintln!("seed {seed}: {v}\n  replay: {}", replay_command(*seed));
    }
    assert!(run.failures.is_empty(), "{} of {count} seeds failed", run.failures.len());
    // The hostile carriers must really have done everything they are said to do, and
    // receivers must really have met each kind of tampered copy: otherwise passing
    // seeds prove less than they seem.
    if count >= 100 {
        let share = run.hostile_seeds as f64 / count as f64;
        assert!((0.3..=0.7).contains(&share), "hostile carriers in {share:.2} of the seeds");
        let m = &run.malice;
        for (what, n) in [
            ("re-wrapped", m.rewrapped),
            ("re-numbered onto another bundle", m.colliding),
            ("re-addressed", m.readdressed),
            ("withheld", m.withheld),
            ("duplicated", m.duplicated),
            ("replayed", m.replayed),
            ("replayed after delivery", m.replayed_forgotten),
            ("recognised by signed content", m.recognised),
            ("refused for their primary block", m.refused),
            ("taken as re-wrapped", m.taken),
        ] {
            assert!(n >= count, "only {n} bundles {what} over {count} seeds: {m:?}");
        }
    }
}

#[test]
fn a_seed_replays_identically() {
    let p = Params::property();
    let a = sim::run(&scenario::random(42, &p), &Caravan::default(), Breaks::default());
    let b = sim::run(&scenario::random(42, &p), &Caravan::default(), Breaks::default());
    assert_eq!(format!("{:?}", a.metrics), format!("{:?}", b.metrics));
    let c = sim::run(&scenario::random(43, &p), &Caravan::default(), Breaks::default());
    assert_ne!(format!("{:?}", a.metrics), format!("{:?}", c.metrics));
    // Hostile carriers too.
    let h = scenario::with_malice(p);
    let a = sim::run(&scenario::random(42, &h), &Caravan::default(), Breaks::default());
    let b = sim::run(&scenario::random(42, &h), &Caravan::default(), Breaks::default());
    assert!(a.metrics.malice.any());
    assert_eq!(format!("{:?}", a.metrics), format!("{:?}", b.metrics));
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

#[test]
fn hostile_carriers_leave_the_rest_of_a_seed_alone() {
    // The hostile carriers and their mix are drawn on their own: a seed's network and
    // schedule are the same with or without them, and the mix differs between seeds.
    let p = Params::property();
    let mut honest = p.clone();
    honest.malice_share = 0.0;
    let mut mixes = Vec::new();
    for seed in 0..40 {
        let (a, b) = (scenario::random(seed, &p), scenario::random(seed, &honest));
        assert_eq!(a.events, b.events);
        assert_eq!(a.communities, b.communities);
        assert!(b.hostile.is_empty());
        if !a.hostile.is_empty() {
            assert!(a.malice.any() && a.hostile.len() <= p.hostile.1);
            mixes.push(format!("{:?}", a.malice));
        }
    }
    mixes.dedup();
    assert!(mixes.len() > 5, "{mixes:?}");
}
