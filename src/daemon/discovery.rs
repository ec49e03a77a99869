//! LAN discovery for the daemon: sending this node's signed beacon, and hearing others'
//! within per-address and stranger budgets (what a beacon proves is `link::lan`).

use std::collections::HashMap;
use std::net::IpAddr;

use tokio::time::Instant;

use super::{Ctx, Heard, now_ms, with};
use crate::link::lan;

pub(super) async fn beacon_loop(ctx: &Ctx, socket: &tokio::net::UdpSocket) {
    let card = ctx.node.lock().await.card();
    loop {
        let beacon = lan::seal(&ctx.identity, &card, ctx.listen.port(), now_ms());
        if let Err(e) = socket.send_to(&beacon, std::net::SocketAddr::V4(ctx.config.discovery_group)).await {
            tracing::debug!("sending a beacon: {e}");
        }
        tokio::time::sleep(lan::BEACON_EVERY).await;
    }
}

pub(super) async fn listen_loop(ctx: &Ctx, socket: &tokio::net::UdpSocket) {
    let me = ctx.identity.node_id();
    let mut buf = vec![0u8; lan::BEACON_BYTES_MAX + 1];
    // Each beacon costs two signature checks: per address, and for strangers in all, only
    // so many are checked per second; the rest are dropped unread.
    let mut per_address: HashMap<IpAddr, lan::Bucket> = HashMap::new();
    let mut strangers = lan::Bucket::new(lan::STRANGER_BEACONS_PER_SEC);
    loop {
        let Ok((n, from)) = socket.recv_from(&mut buf).await else { continue };
        if per_address.len() > 4096 {
            per_address.clear();
        }
        let bucket = per_address.entry(from.ip()).or_insert_with(|| lan::Bucket::new(lan::BEACONS_PER_ADDRESS_PER_SEC));
        if !bucket.take(lan::BEACONS_PER_ADDRESS_PER_SEC, lan::BEACONS_PER_ADDRESS_PER_SEC) {
            continue;
        }
        let known = lan::claimed_node(&buf[..n]).is_some_and(|id| ctx.known.contains(&id));
        if !known && !strangers.take(lan::STRANGER_BEACONS_PER_SEC, lan::STRANGER_BEACONS_PER_SEC) {
            continue;
        }
        let beacon = match lan::open(&buf[..n]) {
            Ok(b) => b,
            Err(e) => {
                tracing::debug!("ignoring a datagram from {from}: {e}");
                continue;
            }
        };
        let id = beacon.card.node_id();
        if id == me {
            continue;
        }
        let addr = lan::address_of(&beacon, from);
        with(&ctx.shared, |s| {
            let known = s.discovered.get(&id).map(|h| h.sent_ms);
            if known.is_some_and(|t| beacon.sent_ms <= t) {
                return; // older or replayed
            }
            if known.is_none() {
                // Strangers heard at once are bounded: anyone on the LAN can make keys.
                let strangers = s.discovered.keys().filter(|k| !ctx.known.contains(k)).count();
                if !ctx.known.contains(&id) && strangers >= lan::STRANGERS_HEARD_MAX {
                    return;
                }
                s.stats.discovered += 1;
                tracing::info!("discovered {} ({id}) at {addr}", beacon.card.name);
            }
            s.discovered.insert(id, Heard { card: beacon.card, addr, sent_ms: beacon.sent_ms, at: Instant::now() });
        });
    }
}
