//! A deliberately broken custody rule must be caught by the simulator: otherwise the
//! seeds that pass prove nothing.

use caravan::routing::Caravan;
use caravan_testnets::scenario::{self, Params};
use caravan_testnets::sim::{self, Breaks};
use caravan_testnets::{check_seeds, run_seeds};

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
        Breaks { primary_seq_custody: true, ..Breaks::default() },
    ] {
        let failures = check_seeds(0..100, breaks);
        eprintln!("{breaks:?}: {} of 100 seeds fail", failures.len());
        assert!(!failures.is_empty(), "{breaks:?} passed every seed");
    }
}

const PRIMARY_SEQ: Breaks = Breaks { primary_seq_custody: true, signal_before_commit: false, release_on_send: false };

#[test]
fn custody_by_primary_sequence_number_loses_changes_through_a_hostile_relay() {
    let sc = scenario::hostile_relay();
    let ok = sim::run(&sc, &Caravan::default(), Breaks::default());
    assert!(ok.violations.is_empty(), "{:?}", ok.violations);
    assert!(ok.metrics.malice.colliding > 0, "{:?}", ok.metrics.malice);
    // Answering for the primary block's sequence number, C answers for bundles of A's it
    // never received, and A releases and forgets them.
    let broken = sim::run(&sc, &Caravan::default(), PRIMARY_SEQ);
    assert!(
        broken.violations.iter().any(|v| v.contains("released custody") && v.contains("lacks it")),
        "{:?}",
        broken.violations
    );
    // The same relay, honest: the old rule held. The hostile carrier is what breaks it.
    let mut honest = sc.clone();
    honest.hostile.clear();
    let out = sim::run(&honest, &Caravan::default(), PRIMARY_SEQ);
    assert!(out.violations.is_empty(), "{:?}", out.violations);
}

#[test]
fn custody_by_primary_sequence_number_fails_only_where_hostile_carriers_are() {
    let hostile = run_seeds(0..60, &scenario::with_malice(Params::property()), PRIMARY_SEQ);
    eprintln!("primary-seq-custody, hostile carriers: {} of 60 seeds fail", hostile.failures.len());
    assert!(hostile.failures.len() >= 20, "{:?}", hostile.failures);
    let mut p = Params::property();
    p.malice_share = 0.0;
    let honest = run_seeds(0..60, &p, PRIMARY_SEQ);
    assert!(honest.failures.is_empty(), "the old rule failed without hostile carriers: {:?}", honest.failures);
}

/// One broken rule in the shared policy (`custody::Record::on_answer` releasing on the
/// first destination's answer) must fail seeds under both drivers: the model and the
/// real nodes. Members other than the first to answer then lack changes.
#[test]
fn a_broken_rule_in_the_shared_policy_fails_the_model_and_the_real_nodes() {
    use caravan::custody::breaks;
    use caravan_testnets::nodes;
    let lacks = |f: &[(u64, Vec<String>)]| f.iter().filter(|(_, v)| v.iter().any(|v| v.contains("lacks"))).count();
    let model = breaks::release_on_first_answer(|| check_seeds(0..100, Breaks::default()));
    eprintln!("model, releasing on the first answer: {} of 100 seeds fail", model.len());
    assert!(model.iter().any(|(_, v)| v.contains("lacks")), "the model did not notice: {model:?}");
    let honest = check_seeds(0..100, Breaks::default());
    assert!(honest.is_empty(), "{honest:?}");
    let seeds = 0..24;
    let real = breaks::release_on_first_answer(|| nodes::check_seeds(seeds.clone()));
    let real_honest = nodes::check_seeds(seeds);
    eprintln!(
        "real nodes, releasing on the first answer: {} of 24 seeds fail ({} with members lacking changes); \
         {} fail unbroken",
        real.len(),
        lacks(&real),
        real_honest.len()
    );
    assert!(lacks(&real) > lacks(&real_honest), "the real nodes did not notice: {real:?}");
}
