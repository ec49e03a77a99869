//! `caravan sync`: one trip's exchange with a USB stick, with one progress display.

use std::path::Path;

use super::open;
use crate::cli::news::News;
use crate::cli::output::print_json;
use crate::cli::output::{errln, outln};
use crate::cli::progress;
use crate::cli::words::count;

/// Syncs the node with the stick mounted at `stick`, writing at most `max_bytes`.
pub(crate) fn run(home: &Path, stick: &Path, max_bytes: Option<u64>, json: bool, verbose: bool) -> Result<(), String> {
    let mut node = open(home)?;
    let news = News::watch(&mut node);
    let mut bars = progress::Bars::new("sync");
    let mut on_progress = |p| bars.update(p);
    let options = caravan::link::stick::SyncOptions { max_bytes, progress: Some(&mut on_progress) };
    let r = caravan::link::stick::sync(&mut *node, stick, options).map_err(|e| e.to_string())?;
    drop(bars);
    // Bundles of blocked nodes are refused at every trip: one line says so.
    let blocked = r.rejected.iter().filter(|why| why.ends_with("a node blocked here")).count();
    for reason in r.rejected.iter().filter(|why| !why.ends_with("a node blocked here")) {
        errln!("rejected: {reason}");
    }
    if blocked > 0 {
        errln!("left {} from nodes you blocked", count(blocked, "bundle", "bundles"));
    }
    for line in &r.skipped {
        errln!("{line}");
    }
    let lines = news.lines(&mut node);
    let noted = caravan::status::StickSync {
        at_unix_ms: node.now(),
        stick: stick.display().to_string(),
        took: r.new_bundles,
        left: r.exported,
        news: lines.clone(),
    };
    if let Err(e) = caravan::status::note_stick_sync(home, noted) {
        errln!("could not note this sync for the dashboard: {e}");
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
        return Ok(());
    }
    if lines.is_empty() {
        outln!("Nothing new on the stick for you.");
    } else {
        outln!("From the stick:");
        for l in lines {
            outln!("  {l}");
        }
    }
    if r.custody_released > 0 {
        outln!(
            "{} of yours reached every destination: the stick's carriers may let {} go.",
            count(r.custody_released, "bundle", "bundles"),
            if r.custody_released == 1 { "it" } else { "them" }
        );
    }
    if r.not_carried > 0 {
        let (used, quota) = node.relay_usage().map_err(|e| e.to_string())?;
        outln!(
            "Left {} for others on the stick: carrying them would take more than a fair share of your relay \
             quota ({} of {} used; `caravan relay --quota`).",
            count(r.not_carried, "bundle", "bundles"),
            caravan::words::human_bytes(used),
            caravan::words::human_bytes(quota)
        );
    }
    let left = match (r.exported, r.carried) {
        (0, _) => "Left nothing new on the stick".to_string(),
        (n, 0) => format!("Left {} on the stick", count(n, "bundle", "bundles")),
        (n, c) => format!("Left {} on the stick ({} carried for others)", count(n, "bundle", "bundles"), c),
    };
    let secs = r.millis as f64 / 1000.0;
    let full = if r.full { " The stick is full: the rest waits for the next trip." } else { "" };
    if r.bytes_written == 0 {
        outln!("{left} ({secs:.1} s).{full}");
    } else {
        outln!("{left}; {} written in {secs:.1} s.{full}", caravan::words::human_bytes(r.bytes_written));
    }
    if !r.rejected.is_empty() {
        outln!("Refused {} (named above); nothing of them was kept.", count(r.rejected.len(), "bundle", "bundles"));
    }
    if !r.skipped.is_empty() {
        outln!(
            "Left alone {} on the stick that {} not Caravan's (named above).",
            count(r.skipped.len(), "entry", "entries"),
            if r.skipped.len() == 1 { "is" } else { "are" }
        );
    }
    if verbose {
        outln!(
            "read {} records ({} already here, {} damaged, {} expired): {} new bundles, {} new changes, {} waiting, \
             {} rejected; wrote {} bundles, {} bytes; {} expired segments removed",
            r.records,
            r.known,
            r.damaged,
            r.expired,
            r.new_bundles,
            r.new_changes,
            r.waiting,
            r.rejected.len(),
            r.exported,
            r.bytes_written,
            r.expired_segments
        );
    }
    Ok(())
}
