//! Whole bundles into a node that holds keys (the golden corpus's reader `b`, with the
//! corpus's invitation already taken in), so mutated bundles reach decryption,
//! signature checks and the Automerge decoders. Start from `../bundles/*.bundle`.
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::import(data));
