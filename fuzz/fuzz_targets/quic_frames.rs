//! The QUIC exchange's first frames: the peer's summary (32-byte digests) and its
//! endpoint list (`caravan::link::quic::parse_summary`, `parse_endpoints`). The first
//! input byte picks the frame.
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::quic_frames(data));
