//! Differential: whatever `caravan::bundle::parse_untimed` accepts as a BPv7 bundle, a
//! second implementation (dtn7-rs's `bp7`) must accept and validate too. A disagreement
//! is a finding: Caravan would accept bundles another BPv7 node refuses.
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::bp7_differential(data));
