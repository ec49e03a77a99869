//! A grant's signed inside (`envelope::Grant::decode`) and the signed wrapper around it
//! (`envelope::decode_signed`), as the node opens them.
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::grant(data));
