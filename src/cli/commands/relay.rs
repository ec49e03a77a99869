//! `caravan relay`: the room kept for others' bundles, set and shown.

use std::path::Path;

use super::open;
use crate::cli::output::outln;
use crate::cli::output::{error_text, print_json};

/// Sets the relay quota and lifetime cap if given, then prints both and the room used.
pub(crate) fn run(
    home: &Path,
    quota: Option<String>,
    max_lifetime: Option<u64>,
    member_bytes: Option<String>,
    member_bundles: Option<u32>,
    json: bool,
) -> Result<(), String> {
    let mut node = open(home)?;
    if member_bytes.is_some() || member_bundles.is_some() {
        let mut limits = node.member_limits().map_err(error_text)?;
        if let Some(b) = member_bytes {
            limits.bytes_per_day = caravan::config::parse_size(&b)?;
        }
        if let Some(n) = member_bundles {
            limits.bundles_per_day = n;
        }
        node.set_member_limits(limits).map_err(error_text)?;
    }
    let limits = node.member_limits().map_err(error_text)?;
    if let Some(q) = quota {
        node.set_relay_quota(caravan::config::parse_size(&q)?).map_err(error_text)?;
    }
    if let Some(days) = max_lifetime {
        if days == 0 || days > 3650 {
            return Err(format!("--max-lifetime {days}: give 1 to 3650 days"));
        }
        node.set_lifetime_cap(std::time::Duration::from_secs(days * 86_400)).map_err(error_text)?;
    }
    let (used, quota) = node.relay_usage().map_err(error_text)?;
    let cap_days = node.lifetime_cap().as_secs() / 86_400;
    if json {
        print_json(serde_json::json!({
            "used_bytes": used, "quota_bytes": quota, "max_lifetime_days": cap_days,
            "member_bytes_per_day": limits.bytes_per_day, "member_bundles_per_day": limits.bundles_per_day,
        }));
    } else {
        use caravan::words::human_bytes;
        outln!(
            "keeping {} for others, of a quota of {} ({:.1}%); nothing kept longer than {cap_days} days",
            human_bytes(used),
            human_bytes(quota),
            if quota == 0 { 0.0 } else { used as f64 * 100.0 / quota as f64 }
        );
        outln!(
            "one member of a community can make this node store at most {} or {} bundles a day",
            human_bytes(limits.bytes_per_day),
            limits.bundles_per_day
        );
    }
    Ok(())
}
