//! Contact cards: the text form (`ContactCard::parse`) and the binary form
//! (`ContactCard::from_bytes`, also inside every LAN beacon).
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::card(data));
