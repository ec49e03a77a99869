//! LAN discovery beacons (`caravan::link::lan::open`): any datagram heard on the LAN.
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::beacon(data));
