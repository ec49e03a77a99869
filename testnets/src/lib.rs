//! Caravan's testnets: multi-node scenarios and the harness that runs them.
//!
//! The simulator (`sim`) drives the library's I/O-free custody, relay-quota and routing
//! decisions over scenarios (`scenario`) that are pure data: a seed gives the same run,
//! bit for bit, every time. A failing seed prints the one command that replays it.

pub mod scenario;
pub mod sim;

use caravan::routing::{Caravan, Epidemic, Strategy};

/// The strategy called `name` (`caravan` or `epidemic`).
pub fn strategy(name: &str) -> Option<Box<dyn Strategy>> {
    match name {
        "caravan" => Some(Box::new(Caravan::default())),
        "epidemic" => Some(Box::new(Epidemic)),
        _ => None,
    }
}

/// The command that replays a random seed of the property run.
pub fn replay_command(seed: u64) -> String {
    format!("cargo run --release -p caravan-testnets -- run --seed {seed}")
}

/// Runs the property scenario for each seed; returns the failures with their first
/// violation.
pub fn check_seeds(seeds: impl IntoIterator<Item = u64>, breaks: sim::Breaks) -> Vec<(u64, String)> {
    let params = scenario::Params::property();
    let strategy = Caravan::default();
    seeds
        .into_iter()
        .filter_map(|seed| {
            let sc = scenario::random(seed, &params);
            let out = sim::run(&sc, &strategy, breaks);
            out.violations.first().map(|v| (seed, v.clone()))
        })
        .collect()
}
