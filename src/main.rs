//! The `caravan` command: parses the arguments, runs the command from `cli::commands`
//! and turns its error into the exit code.

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};

mod cli;
mod demo;

use cli::args::*;

fn main() -> ExitCode {
    let matches = Cli::command().get_matches();
    // `--home` given on this command line (not from CARAVAN_HOME): the demo honours it.
    let home_given = matches.value_source("home") == Some(clap::parser::ValueSource::CommandLine);
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let home = cli.home.unwrap_or_else(default_home);
    // While a daemon runs for this home, it does the work (the store opens in one process).
    if cli::control::can_forward(&cli.command) {
        let args: Vec<String> = std::env::args_os().skip(1).map(|a| a.to_string_lossy().into_owned()).collect();
        if let Some(result) = cli::control::forward(&home, &cli.command, args) {
            return match result {
                Ok(true) => ExitCode::SUCCESS,
                Ok(false) => ExitCode::FAILURE,
                Err(e) => {
                    cli::output::err(&format!("caravan: {e}\n"));
                    ExitCode::FAILURE
                }
            };
        }
    }
    let result = match cli.command {
        Command::Demo => demo::run(home_given.then_some(home.as_path())),
        command => cli::dispatch(&home, command),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            cli::output::err(&format!("caravan: {e}\n"));
            ExitCode::FAILURE
        }
    }
}
