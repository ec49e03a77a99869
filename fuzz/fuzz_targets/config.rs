//! Daemon configuration text (`caravan::config::Config::parse`), as in `config.toml`.
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::config(data));
