//! The social kinds (reviews, exchanges, polls, certificates, links): their value
//! decoders and write rules on attacker-chosen Automerge values, for members and owners,
//! and their document views. See `checks::social` for the input's layout.
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::social(data));
