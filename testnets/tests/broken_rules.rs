//! A deliberately broken custody rule must be caught by the simulator: otherwise the
//! seeds that pass prove nothing.

use caravan::routing::Caravan;
use caravan_testnets::check_seeds;
use caravan_testnets::scenario;
use caravan_testnets::sim::{self, Breaks};

#[test]
fn releasing_custody_on_send_loses_changes_behind_a_full_relay() {
    let sc = scenario::relay_fills_up();
    let ok = sim::run(&sc, &Caravan::default(), Breaks::default());
    assert!(ok.violations.is_empty(), "{:?}", ok.violations);
    let broken = sim::run(&sc, &Caravan::default(), Breaks { release_on_send: true, ..Breaks::default() });
    assert!(
        broken.violations.iter().any(|v| v.contains("lacks")),
        "releasing on send went unnoticed: {:?}",
        broken.violations
    );
}

#[test]
fn broken_rules_fail_random_seeds() {
    for breaks in [
        Breaks { release_on_send: true, ..Breaks::default() },
        Breaks { signal_before_commit: true, ..Breaks::default() },
    ] {
        let failures = check_seeds(0..100, breaks);
        eprintln!("{breaks:?}: {} of 100 seeds fail", failures.len());
        assert!(!failures.is_empty(), "{breaks:?} passed every seed");
    }
}
