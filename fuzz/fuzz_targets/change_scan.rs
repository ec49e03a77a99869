//! The bounded Automerge pre-scan (`caravan::change_scan`): `scan_change`, `scan_bundle`
//! and `inflate_bundle` never panic; and whatever passes a scan, Automerge decodes
//! (`Change::from_bytes`, `Bundle::try_from` then `to_changes`) without panicking or
//! aborting: that is the scan's promise.
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::change_scan(data));
