//! Every decoder a bundle's bytes meet before any key is used: BPv7, envelope, signed
//! body, batch, grant, raw changes. None may panic or allocate past its cap.
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::envelope(data));
