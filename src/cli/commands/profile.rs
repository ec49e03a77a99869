//! `caravan profile`: setting this node's profile fields and showing anyone's.

use std::path::Path;

use super::{open, who};
use crate::cli::args::ProfileCommand;
use crate::cli::output::outln;
use crate::cli::output::{error_text, print_json};

pub(crate) fn run(home: &Path, command: ProfileCommand) -> Result<(), String> {
    match command {
        ProfileCommand::Set { field, value, audience } => {
            open(home)?.set_profile_field(&field, &value, audience).map_err(error_text)?;
        }
        ProfileCommand::Post { text, audience } => {
            open(home)?.add_profile_post(&text, audience).map_err(error_text)?;
            outln!("Posted on your profile for {}; it leaves with your next sync.", audience.as_str());
        }
        ProfileCommand::Show { node: whose, json } => {
            let mut node = open(home)?;
            let id = match whose {
                None => node.node_id(),
                Some(s) => who(&mut node, &s)?,
            };
            let fields = node.profile(&id).map_err(error_text)?;
            if json {
                print_json(serde_json::Value::Array(
                    fields
                        .iter()
                        .map(
                            |f| serde_json::json!({"audience": f.audience.as_str(), "field": f.name, "value": f.value}),
                        )
                        .collect(),
                ));
            } else {
                for f in fields {
                    outln!("{} = {}  ({})", f.name, f.value, f.audience);
                }
            }
        }
    }
    Ok(())
}
