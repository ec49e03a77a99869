//! Caravan's testnets: multi-node scenarios and the harness that runs them.
//!
//! The simulator (`sim`) drives the library's I/O-free custody, relay-quota and routing
//! decisions over scenarios (`scenario`) that are pure data: a seed gives the same run,
//! bit for bit, every time. A failing seed prints the one command that replays it.

pub mod nodes;
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

/// The replay command for a seed run with hostile carriers forced on.
pub fn replay_hostile_command(seed: u64) -> String {
    format!("{} --hostile", replay_command(seed))
}

/// What a run of many seeds found.
#[derive(Debug, Default)]
pub struct SeedRun {
    /// Seeds run.
    pub seeds: u64,
    /// Of those, seeds with hostile carriers.
    pub hostile_seeds: u64,
    /// Failed seeds with their first violation.
    pub failures: Vec<(u64, String)>,
    /// What the hostile carriers did, over all seeds.
    pub malice: sim::MaliceCount,
}

/// Runs the random scenario of `params` for each seed.
pub fn run_seeds(seeds: impl IntoIterator<Item = u64>, params: &scenario::Params, breaks: sim::Breaks) -> SeedRun {
    let strategy = Caravan::default();
    let mut run = SeedRun::default();
    for seed in seeds {
        let sc = scenario::random(seed, params);
        let out = sim::run(&sc, &strategy, breaks);
        run.seeds += 1;
        run.hostile_seeds += u64::from(!sc.hostile.is_empty());
        run.malice.add(&out.metrics.malice);
        if let Some(v) = out.violations.first() {
            run.failures.push((seed, v.clone()));
        }
    }
    run
}

/// Runs the property scenario for each seed (hostile carriers in a share of them);
/// returns the failures with their first violation.
pub fn check_seeds(seeds: impl IntoIterator<Item = u64>, breaks: sim::Breaks) -> Vec<(u64, String)> {
    run_seeds(seeds, &scenario::Params::property(), breaks).failures
}
