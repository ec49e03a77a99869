//! What the daemon reports: each exchange noted for `caravan status` and the dashboard,
//! and the status file rewritten from the node's part and the daemon's.

use super::{Ctx, now_ms, with};
use crate::identity::NodeId;
use crate::link::quic::{self, QuicError};
use crate::schedule;
use crate::status::{self, DaemonLine, Status, SyncLine};

pub(super) fn record_sync(ctx: &Ctx, peer: NodeId, direction: &str, result: &Result<quic::Exchange, QuicError>) {
    let line = match result {
        Ok(x) => {
            tracing::info!(
                "sync with {peer} ({direction}): sent {}, received {} ({} new, {} stored unread, {} duplicate, {} refused)",
                x.sent,
                x.received.outcomes.len(),
                x.received.new_bundles(),
                x.received.waiting(),
                x.received.duplicates(),
                x.received.rejected().len() + x.received.not_carried()
            );
            SyncLine {
                peer: peer.to_string(),
                at_unix_ms: now_ms(),
                direction: direction.into(),
                sent: x.sent,
                received_new: x.received.new_bundles(),
                error: String::new(),
            }
        }
        Err(e) => {
            tracing::warn!("sync with {peer} ({direction}) failed: {e}");
            SyncLine {
                peer: peer.to_string(),
                at_unix_ms: now_ms(),
                direction: direction.into(),
                sent: 0,
                received_new: 0,
                error: e.to_string(),
            }
        }
    };
    with(&ctx.shared, |s| {
        s.syncs.push_back(line);
        while s.syncs.len() > status::SYNCS_KEPT {
            s.syncs.pop_front();
        }
    });
}

/// Rewrites the status file: the node's part when the node is free (else the last one),
/// the daemon's part always.
pub(super) async fn refresh_status(ctx: &Ctx) {
    if let Ok(mut node) = ctx.node.try_lock() {
        // Windows are judged on the daemon's clock (scaled in testnets); the report gives
        // real times.
        let scaled = schedule::scaled(ctx.started_ms, now_ms(), ctx.config.time_scale);
        match status::collect(&mut node, &ctx.config, scaled) {
            Ok(mut s) => {
                s.next_window_unix_ms = s
                    .next_window_unix_ms
                    .map(|t| ctx.started_ms + (t.saturating_sub(ctx.started_ms) as f64 / ctx.config.time_scale) as u64);
                with(&ctx.shared, |sh| sh.node_status = Some(s))
            }
            Err(e) => tracing::warn!("collecting status: {e}"),
        }
    }
    let Some(s) = report(ctx) else {
        return;
    };
    if let Err(e) = status::write(&ctx.home, &s) {
        tracing::warn!("writing {}: {e}", status::file(&ctx.home).display());
    }
}

/// The status as of the last refresh: the node's part, and the daemon's now.
pub(super) fn report(ctx: &Ctx) -> Option<Status> {
    with(&ctx.shared, |sh| {
        let mut s = sh.node_status.clone()?;
        for p in &mut s.peers {
            p.connected = NodeId::parse(&p.node).is_some_and(|id| sh.connected.contains_key(&id));
        }
        let mut connected: Vec<String> = sh.connected.keys().map(|n| n.to_string()).collect();
        connected.sort();
        let mut discovered: Vec<(String, String)> =
            sh.discovered.iter().map(|(n, h)| (n.to_string(), h.addr.to_string())).collect();
        discovered.sort();
        s.daemon = Some(DaemonLine {
            pid: std::process::id(),
            listen: ctx.listen.to_string(),
            started_unix_ms: ctx.started_ms,
            updated_unix_ms: now_ms(),
            connected,
            discovered,
            syncs: sh.syncs.iter().cloned().collect(),
        });
        Some(s)
    })
}
