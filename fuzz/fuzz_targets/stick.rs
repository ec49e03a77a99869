//! The stick reader. A stick that a real sync wrote (`bundles/stick-v1/`, a relay that
//! carried the whole golden corpus) has its segment and/or index replaced by the input,
//! then a fresh node (the corpus's reader `b`) syncs with it: `caravan::link::stick::sync`
//! must never panic, and the node's home must keep its identity and its files.
//!
//! Input: a mode byte, then the bytes. Mode 0: the bytes are the segment (the golden
//! index stays); 1: the bytes are the index (the golden segment stays); otherwise the
//! next two bytes (u16 LE) say where the bytes split into segment then index.
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::stick(data));
