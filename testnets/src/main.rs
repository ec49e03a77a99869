//! `testnets`: runs Caravan's simulated scenarios, seeds and figures.

use std::process::ExitCode;
use std::time::Instant;

use caravan_testnets::scenario::{self, Params};
use caravan_testnets::sim::{self, Breaks, MaliceCount, Metrics};
use caravan_testnets::{replay_command, replay_hostile_command, run_seeds, strategy};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "testnets", about = "Caravan's deterministic network simulator")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs one scenario (a named one, or the random property scenario of a seed) and
    /// prints its figures and any broken property.
    Run {
        /// A named scenario (see `list`).
        #[arg(long, conflicts_with = "seed")]
        scenario: Option<String>,
        /// A seed of the random property scenario.
        #[arg(long)]
        seed: Option<u64>,
        /// Routing strategy: caravan or epidemic.
        #[arg(long, default_value = "caravan")]
        strategy: String,
        /// Break a custody rule on purpose: signal-before-commit, release-on-send or
        /// primary-seq-custody.
        #[arg(long)]
        r#break: Option<String>,
        /// With --seed: hostile carriers in the scenario whatever the seed draws.
        #[arg(long, requires = "seed")]
        hostile: bool,
    },
    /// Runs the random property scenario for many seeds; prints a replay command per failure.
    Seeds {
        /// First seed.
        #[arg(long, default_value_t = 0)]
        from: u64,
        /// How many seeds.
        #[arg(long, default_value_t = 500)]
        count: u64,
        /// Hostile carriers in every seed (by default a share of seeds has them).
        #[arg(long)]
        hostile: bool,
        /// Break a custody rule on purpose (see `run`).
        #[arg(long)]
        r#break: Option<String>,
    },
    /// Lists the named scenarios.
    List,
    /// Measures the figures: routing on 100 nodes (epidemic vs caravan) and simulator speed
    /// on 1,000 nodes for 30 days.
    Report {
        /// Seed of the networks.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

fn print_metrics(m: &Metrics) {
    println!(
        "delivery {:.4} ({}/{} pairs), median delay {} contacts, {:.2} transmissions per delivery \
         ({} data, {} control), {} snapshots",
        m.delivery_ratio(),
        m.delivered,
        m.pairs,
        m.median_delay(),
        m.transmissions_per_delivery(),
        m.data_transmissions,
        m.control_transmissions,
        m.snapshots
    );
    println!(
        "storage peak {} B, final {} B ({} B of change bundles), open custody {}, peak relay use {:.1}% of quota",
        m.peak_storage,
        m.final_storage,
        m.final_data_storage,
        m.open_custody,
        m.peak_quota_permille as f64 / 10.0
    );
    if m.malice.any() {
        print_malice(&m.malice);
    }
}

fn print_malice(c: &MaliceCount) {
    println!(
        "hostile carriers: {} re-wrapped ({} onto another bundle's sequence number), {} re-addressed, {} withheld, \
         {} duplicated, {} replayed ({} already delivered and forgotten); receivers recognised {} tampered copies by \
         signed content, refused {}, took {}",
        c.rewrapped,
        c.colliding,
        c.readdressed,
        c.withheld,
        c.duplicated,
        c.replayed,
        c.replayed_forgotten,
        c.recognised,
        c.refused,
        c.taken
    );
}

fn parse_break(b: Option<&str>) -> Result<Breaks, String> {
    match b {
        None => Ok(Breaks::default()),
        Some("signal-before-commit") => Ok(Breaks { signal_before_commit: true, ..Breaks::default() }),
        Some("release-on-send") => Ok(Breaks { release_on_send: true, ..Breaks::default() }),
        Some("primary-seq-custody") => Ok(Breaks { primary_seq_custody: true, ..Breaks::default() }),
        Some(other) => Err(format!(
            "unknown rule to break {other:?}: signal-before-commit, release-on-send or primary-seq-custody"
        )),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Run { scenario: name, seed, strategy: strat, r#break, hostile } => {
            let Some(strat) = strategy(&strat) else {
                eprintln!("error: unknown strategy {strat:?}: caravan or epidemic");
                return ExitCode::from(2);
            };
            let breaks = match parse_break(r#break.as_deref()) {
                Ok(b) => b,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(2);
                }
            };
            let sc = match (name, seed) {
                (Some(n), _) => match scenario::by_name(&n) {
                    Some(sc) => sc,
                    None => {
                        eprintln!("error: no scenario named {n:?}; `testnets list` shows them");
                        return ExitCode::from(2);
                    }
                },
                (None, Some(s)) if hostile => scenario::random(s, &scenario::with_malice(Params::property())),
                (None, Some(s)) => scenario::random(s, &Params::property()),
                (None, None) => {
                    eprintln!("error: give --scenario NAME or --seed N");
                    return ExitCode::from(2);
                }
            };
            let t = Instant::now();
            let out = sim::run(&sc, strat.as_ref(), breaks);
            println!(
                "{} with {} routing: {} nodes, {:.2} s",
                sc.name,
                strat.name(),
                sc.nodes,
                t.elapsed().as_secs_f64()
            );
            if !sc.hostile.is_empty() {
                println!("hostile carriers {:?}: {:?}", sc.hostile, sc.malice);
            }
            print_metrics(&out.metrics);
            for v in &out.violations {
                println!("VIOLATION: {v}");
            }
            if out.violations.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE }
        }
        Command::Seeds { from, count, hostile, r#break } => {
            let breaks = match parse_break(r#break.as_deref()) {
                Ok(b) => b,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(2);
                }
            };
            let params = if hostile { scenario::with_malice(Params::property()) } else { Params::property() };
            let t = Instant::now();
            let run = run_seeds(from..from + count, &params, breaks);
            for (seed, v) in &run.failures {
                let replay = if hostile { replay_hostile_command(*seed) } else { replay_command(*seed) };
                println!("seed {seed} failed: {v}\n  replay: {replay}");
            }
            println!(
                "{count} seeds from {from} ({} with hostile carriers): {} failed, {:.1} s",
                run.hostile_seeds,
                run.failures.len(),
                t.elapsed().as_secs_f64()
            );
            print_malice(&run.malice);
            if run.failures.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE }
        }
        Command::List => {
            for sc in scenario::named() {
                println!("{}", sc.name);
            }
            ExitCode::SUCCESS
        }
        Command::Report { seed } => {
            let sc = scenario::random(seed, &Params::hundred());
            println!("100 nodes, {} events, seed {seed}", sc.events.len());
            let mut figures = Vec::new();
            for name in ["epidemic", "caravan"] {
                let strat = strategy(name).expect("known strategy");
                let out = sim::run(&sc, strat.as_ref(), Breaks::default());
                println!("- {name}:");
                print_metrics(&out.metrics);
                for v in &out.violations {
                    println!("  VIOLATION: {v}");
                }
                figures.push(out.metrics);
            }
            let (e, c) = (&figures[0], &figures[1]);
            println!(
                "caravan/epidemic: delivery {:.4} vs {:.4}, transmissions per delivery {:.3}x",
                c.delivery_ratio(),
                e.delivery_ratio(),
                c.transmissions_per_delivery() / e.transmissions_per_delivery().max(f64::MIN_POSITIVE)
            );
            let big = scenario::random(seed, &Params::thousand());
            let t = Instant::now();
            let strat = strategy("caravan").expect("known strategy");
            let out = sim::run(&big, strat.as_ref(), Breaks::default());
            println!(
                "1000 nodes, 30 days, {} events, {} contacts, {} bundles: {:.2} s",
                big.events.len(),
                out.metrics.contacts,
                out.metrics.bundles,
                t.elapsed().as_secs_f64()
            );
            print_metrics(&out.metrics);
            ExitCode::SUCCESS
        }
    }
}
