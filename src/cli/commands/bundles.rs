//! `caravan export` and `caravan import`: bundles to and from files.

use std::path::{Path, PathBuf};

use caravan::limits::{IMPORT_BYTES_PER_COMMIT, IMPORT_FILES_PER_COMMIT};
use caravan::{NodeId, Outcome, Target};

use super::{community, open};
use crate::cli::files as caravan_files;
use crate::cli::news::News;
use crate::cli::output::{errln, outln};
use crate::cli::output::{error_text, print_json};
use crate::cli::progress::Bars;
use crate::cli::words::count;

/// Writes the bundles for `to` (a node), else `c` (a community), else everyone, to `out`.
pub(crate) fn export(home: &Path, out: &Path, to: Option<String>, c: Option<String>) -> Result<(), String> {
    let mut node = open(home)?;
    let target = match (to, c) {
        (Some(n), _) => Target::Peer(NodeId::parse(n.trim()).ok_or_else(|| format!("{n:?} is not a node id"))?),
        (None, Some(c)) => Target::Community(community(&mut node, &c)?),
        (None, None) => Target::Everyone,
    };
    let bundles = node.export(target).map_err(error_text)?;
    let written = caravan_files::write_bundles(out, &bundles)?;
    outln!("Exported {} ({written} new files) to {}.", count(bundles.len(), "bundle", "bundles"), out.display());
    Ok(())
}

/// Imports the bundle files in `paths`, committing in batches.
pub(crate) fn import(home: &Path, paths: &[PathBuf], json: bool) -> Result<(), String> {
    let mut node = open(home)?;
    let files = caravan_files::list_bundle_files(paths)?;
    let news = News::watch(&mut node);
    let mut bars = Bars::new("import");
    let mut done = 0usize;
    let mut totals = Totals::default();
    let (mut read, mut refused) = (0usize, 0usize);
    let mut rest = files.iter().peekable();
    while rest.peek().is_some() {
        // Bounded by count and by bytes: each file is at most one bundle's size.
        let (mut names, mut data, mut bytes) = (Vec::new(), Vec::new(), 0usize);
        while names.len() < IMPORT_FILES_PER_COMMIT && bytes < IMPORT_BYTES_PER_COMMIT {
            let Some(f) = rest.next() else { break };
            done += 1;
            match caravan_files::read_bundle(f) {
                Ok(b) => {
                    bytes += b.len();
                    names.push(&f.path);
                    data.push(b);
                }
                Err(why) => {
                    errln!("refused {}: {why}", f.path.display());
                    refused += 1;
                }
            }
        }
        bars.files(done, files.len());
        if data.is_empty() {
            continue;
        }
        read += data.len();
        let report = node.import_many(data.iter().map(Vec::as_slice)).map_err(error_text)?;
        for (f, o) in names.iter().zip(&report.outcomes) {
            match o {
                Outcome::Rejected(r @ caravan::Rejection::Format(_)) => {
                    errln!("rejected {}: not a valid bundle: {r}", f.display())
                }
                Outcome::Rejected(r) => errln!("rejected {}: {r}", f.display()),
                _ => {}
            }
        }
        totals.add(&report);
    }
    drop(bars);
    if json {
        print_json(serde_json::json!({
            "read": read, "refused": refused, "new": totals.new, "changes": totals.changes,
            "duplicate": totals.duplicate, "waiting": totals.waiting, "rejected": totals.rejected,
            "unlocked": totals.unlocked,
        }));
    } else {
        let lines = news.lines(&mut node);
        if lines.is_empty() {
            outln!("Nothing new for you in these files.");
        } else {
            for l in lines {
                outln!("{l}");
            }
        }
        let mut parts = vec![format!("{} new", totals.new), format!("{} already here", totals.duplicate)];
        if totals.waiting > 0 {
            parts.push(format!("{} kept to carry or to read once a key arrives", totals.waiting));
        }
        if totals.rejected + refused > 0 {
            parts.push(format!("{} refused (named above)", totals.rejected + refused));
        }
        outln!("Read {}: {}.", count(read + refused, "file", "files"), parts.join(", "));
    }
    let taken = totals.new + totals.duplicate + totals.waiting + totals.unlocked;
    if taken == 0 && refused + totals.rejected > 0 {
        return Err(format!(
            "nothing could be imported: {} of {} files refused or rejected (named above)",
            refused + totals.rejected,
            refused + read
        ));
    }
    Ok(())
}

/// An import's counts summed over its commits.
#[derive(Default)]
struct Totals {
    new: usize,
    changes: usize,
    duplicate: usize,
    waiting: usize,
    rejected: usize,
    unlocked: usize,
}

impl Totals {
    fn add(&mut self, r: &caravan::ImportReport) {
        self.new += r.new_bundles();
        self.changes += r.new_changes();
        self.duplicate += r.duplicates();
        self.waiting += r.waiting();
        self.rejected += r.rejected().len();
        self.unlocked += r.unlocked;
    }
}
