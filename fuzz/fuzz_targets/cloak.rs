//! The cloak (`caravan::cloak`): reading the outer layer never panics; what reads is
//! padded to a bucket; opening it with any route never panics, and what opens is checked
//! as a bundle and an envelope.
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::cloak(data));
