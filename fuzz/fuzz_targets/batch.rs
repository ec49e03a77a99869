//! A signed batch's inside (`envelope::Batch::decode`), then its changes
//! (`caravan::batch::decode_changes`, which hands them to Automerge). Also tried: the
//! input as the change bytes of a batch in each encoding, so the change decoders are
//! reached without first finding a valid batch.
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::batch(data));
