//! The named scenarios, each checked for what it is about.

use caravan::routing::{Caravan, Epidemic};
use caravan_testnets::scenario;
use caravan_testnets::sim::{self, Breaks, Outcome};

fn run(sc: &scenario::Scenario) -> Outcome {
    let out = sim::run(sc, &Caravan::default(), Breaks::default());
    assert!(out.violations.is_empty(), "{}: {:?}", sc.name, out.violations);
    assert_eq!(out.metrics.delivery_ratio(), 1.0, "{}", sc.name);
    out
}

#[test]
fn every_named_scenario_converges_and_releases_custody() {
    for sc in scenario::named() {
        let out = run(&sc);
        assert_eq!(out.metrics.open_custody, 0, "{}: custody still open", sc.name);
        assert_eq!(out.metrics.final_data_storage, 0, "{}: delivered bundles still stored", sc.name);
        assert!(out.metrics.peak_storage > 0);
    }
}

#[test]
fn the_relay_that_fills_up_stays_within_its_quota_and_still_delivers() {
    let out = run(&scenario::relay_fills_up());
    assert!(out.metrics.peak_quota_permille >= 900, "the relay never filled: {:?}", out.metrics);
    assert!(out.metrics.peak_quota_permille <= 1000);
}

#[test]
fn epidemic_also_converges_on_the_named_scenarios() {
    for sc in scenario::named() {
        let out = sim::run(&sc, &Epidemic, Breaks::default());
        assert!(out.violations.is_empty(), "{}: {:?}", sc.name, out.violations);
    }
}
