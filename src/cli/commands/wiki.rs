//! `caravan wiki`: writing, reading and listing a community's wiki pages.

use std::path::Path;

use super::{community, open};
use crate::cli::args::WikiCommand;
use crate::cli::output::{error_text, print_json};

pub(crate) fn run(home: &Path, command: WikiCommand) -> Result<(), String> {
    match command {
        WikiCommand::Put { community: c, page, file } => {
            let text = match file {
                Some(f) => std::fs::read_to_string(&f).map_err(|err| format!("{}: {err}", f.display()))?,
                None => std::io::read_to_string(std::io::stdin()).map_err(|err| format!("stdin: {err}"))?,
            };
            open(home)?.put_wiki_page(&community(&c)?, &page, &text).map_err(error_text)?;
        }
        WikiCommand::Get { community: c, page } => {
            match open(home)?.wiki_page(&community(&c)?, &page).map_err(error_text)? {
                Some(t) => print!("{t}"),
                None => return Err(format!("no page {page:?} (or you cannot read this community)")),
            }
        }
        WikiCommand::List { community: c, json } => {
            let pages = open(home)?.wiki_pages(&community(&c)?).map_err(error_text)?;
            if json {
                print_json(serde_json::json!(pages));
            } else {
                for p in pages {
                    println!("{p}");
                }
            }
        }
    }
    Ok(())
}
