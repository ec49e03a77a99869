//! `caravan sync`: one trip's exchange with a USB stick, with progress bars.

use std::path::Path;

use super::open;
use crate::cli::output::print_json;
use crate::cli::output::{errln, outln};
use crate::cli::progress;

/// Syncs the node with the stick mounted at `stick`, writing at most `max_bytes`.
pub(crate) fn run(home: &Path, stick: &Path, max_bytes: Option<u64>, json: bool) -> Result<(), String> {
    let mut node = open(home)?;
    let mut bars = progress::Bars::new();
    let mut on_progress = |p| bars.update(p);
    let options = caravan::link::stick::SyncOptions { max_bytes, progress: Some(&mut on_progress) };
    let r = caravan::link::stick::sync(&mut *node, stick, options).map_err(|e| e.to_string())?;
    drop(bars);
    for reason in &r.rejected {
        errln!("rejected: {reason}");
    }
    for line in &r.skipped {
        errln!("{line}");
    }
    if json {
        print_json(serde_json::json!({
            "records": r.records, "known": r.known, "damaged": r.damaged, "expired": r.expired,
            "new": r.new_bundles, "changes": r.new_changes, "waiting": r.waiting,
            "rejected": r.rejected.len(), "rejections": r.rejected, "exported": r.exported,
            "custody_released": r.custody_released, "not_carried": r.not_carried,
            "carried": r.carried, "bytes_written": r.bytes_written, "bytes_read": r.bytes_read,
            "expired_segments": r.expired_segments, "full": r.full, "skipped": r.skipped,
            "millis": r.millis as u64,
        }));
    } else {
        outln!(
            "read {} records ({} already here, {} damaged, {} expired): {} new bundles, {} new changes, {} waiting, {} rejected",
            r.records,
            r.known,
            r.damaged,
            r.expired,
            r.new_bundles,
            r.new_changes,
            r.waiting,
            r.rejected.len()
        );
        if r.custody_released > 0 {
            outln!("custody released for {} of our bundles (every destination has them)", r.custody_released);
        }
        if r.not_carried > 0 {
            outln!(
                "{} bundles for others left on the stick: no fair room for their senders in the relay quota \
                 (`caravan relay`)",
                r.not_carried
            );
        }
        outln!(
            "wrote {} bundles ({} carried for others), {} bytes{}; {} expired segments removed; {:.1} s",
            r.exported,
            r.carried,
            r.bytes_written,
            if r.full { ", STICK FULL: the rest waits for the next trip" } else { "" },
            r.expired_segments,
            r.millis as f64 / 1000.0
        );
        if !r.skipped.is_empty() {
            outln!(
                "left alone {} entries on the stick that are not Caravan files it may use (named above)",
                r.skipped.len()
            );
        }
    }
    Ok(())
}
