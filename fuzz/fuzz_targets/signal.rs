//! Custody signal records (`envelope::decode_signal_record`), the payload of a BPv7
//! administrative record: what decodes re-encodes to the same bytes.
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::signal(data));
