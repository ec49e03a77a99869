//! BPv7 parsing (`caravan::bundle::parse` and `parse_untimed`): never a panic, and what
//! parses has a payload range inside the input and agrees between the two.
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::bundle(data));
