//! `caravan wiki`: writing, reading and listing a community's wiki pages, their history,
//! and bringing an old text back.

use std::path::Path;

use super::{community, open};
use crate::cli::args::WikiCommand;
use crate::cli::output::{error_text, print_json};
use crate::cli::output::{outln, outp};
use crate::cli::words::{Names, count, parse_at, when};

pub(crate) fn run(home: &Path, command: WikiCommand) -> Result<(), String> {
    match command {
        WikiCommand::Put { community: c, page, file, allow_empty } => {
            let (text, from) = match &file {
                Some(f) => (
                    std::fs::read_to_string(f).map_err(|err| format!("{}: {err}", f.display()))?,
                    f.display().to_string(),
                ),
                None => (crate::cli::output::read_stdin().map_err(|err| format!("stdin: {err}"))?, "stdin".into()),
            };
            if text.is_empty() && !allow_empty {
                return Err(format!(
                    "{from} is empty: writing it would empty page {page:?}; add --allow-empty if that is what you \
                     want (`caravan wiki restore` can bring the text back)"
                ));
            }
            let mut node = open(home)?;
            let cid = community(&mut node, &c)?;
            node.put_wiki_page(&cid, &page, &text).map_err(error_text)?;
        }
        WikiCommand::Get { community: c, page, at } => {
            let mut node = open(home)?;
            let cid = community(&mut node, &c)?;
            let text = match at {
                None => node.wiki_page(&cid, &page).map_err(error_text)?,
                Some(at) => Some(node.wiki_page_at(&cid, &page, parse_at(&at)?).map_err(error_text)?),
            };
            match text {
                Some(t) => outp!("{t}"),
                None => return Err(format!("no page {page:?} (or you cannot read this community)")),
            }
        }
        WikiCommand::History { community: c, page, json } => {
            let mut node = open(home)?;
            let cid = community(&mut node, &c)?;
            let versions = node.wiki_history(&cid, &page).map_err(error_text)?;
            if versions.is_empty() {
                return Err(format!("no page {page:?} (or you cannot read this community)"));
            }
            if json {
                print_json(serde_json::Value::Array(
                    versions
                        .iter()
                        .map(|v| {
                            serde_json::json!({
                                "version": v.n,
                                "author": v.author.map(|a| a.to_string()),
                                "at_unix_ms": v.at_unix_ms,
                                "lines_added": v.lines.map(|l| l.0),
                                "lines_removed": v.lines.map(|l| l.1),
                            })
                        })
                        .collect(),
                ));
                return Ok(());
            }
            let names = Names::load(&mut node);
            let now = node.now();
            for v in &versions {
                let who = v.author.map_or_else(|| "someone unknown".to_string(), |a| names.of(&a));
                let at = v.at_unix_ms.map_or_else(|| "at an unknown time".to_string(), |t| when(t, now));
                let lines = match v.lines {
                    Some((0, 0)) => "no line changed".to_string(),
                    Some((a, r)) => format!("+{a} -{r} {}", if a + r == 1 { "line" } else { "lines" }),
                    None => String::new(),
                };
                outln!("{:>3}  {at:<18} {who:<24} {lines}", v.n);
            }
        }
        WikiCommand::Restore { community: c, page, at } => {
            let at = parse_at(&at)?;
            let mut node = open(home)?;
            let cid = community(&mut node, &c)?;
            let (n, total) = node.restore_wiki_page(&cid, &page, at).map_err(error_text)?;
            if n == total {
                outln!("Page {page:?} already has the text of version {n}; nothing changed.");
                return Ok(());
            }
            outln!(
                "Page {page:?} has its text of version {n} again, as version {total} (undo with `caravan wiki restore {c} {page:?} --at {}`).",
                total - 1
            );
        }
        WikiCommand::List { community: c, json } => {
            let mut node = open(home)?;
            let cid = community(&mut node, &c)?;
            let pages = node.wiki_pages(&cid).map_err(error_text)?;
            if json {
                print_json(serde_json::json!(pages));
            } else if pages.is_empty() {
                outln!("{}", count(0, "page", "pages"));
            } else {
                for p in pages {
                    outln!("{p}");
                }
            }
        }
    }
    Ok(())
}
