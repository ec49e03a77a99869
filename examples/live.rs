//! An app that edits while live sync runs: two villages, each a `Handle` with live sync
//! on loopback; Kisumu writes a wiki page, and Homa Bay's app hears of it as an event
//! (which community, which page, by whom) a moment later, over QUIC.
//!
//! Run with `cargo run --example live`.

use std::time::Duration;

use caravan::config::{Config, Peer};
use caravan::{Change, Handle, Role, What};
use tokio_stream::StreamExt;

fn free_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0").and_then(|s| s.local_addr()).map(|a| a.port()).unwrap_or(47_110)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let kisumu = Handle::open(&dir.path().join("kisumu"), "Kisumu").await?;
    let homa_bay = Handle::open(&dir.path().join("homa-bay"), "Homa Bay").await?;
    let (card_k, card_h) = (kisumu.run(|n| n.card()).await, homa_bay.run(|n| n.card()).await);
    let (card, theirs) = (card_k.clone(), card_h.clone());
    homa_bay.run(move |n| n.add_contact(&card, &[])).await?;
    kisumu.run(move |n| n.add_contact(&theirs, &[])).await?;

    // Each dials the other on loopback; live sync runs beside the app's own work.
    let (port_k, port_h) = (free_port(), free_port());
    let config = |port: u16, peer: &caravan::ContactCard, peer_port: u16| Config {
        listen: format!("127.0.0.1:{port}").parse().expect("an address"),
        peers: vec![Peer { card: peer.clone(), address: format!("127.0.0.1:{peer_port}") }],
        ..Config::default()
    };
    let live_k = kisumu.serve(config(port_k, &card_h, port_h)).await?;
    let live_h = homa_bay.serve(config(port_h, &card_k, port_k)).await?;
    let mut heard = homa_bay.events();

    let invitee = card_h.clone();
    let lake = kisumu
        .run(move |n| -> Result<_, caravan::Error> {
            let lake = n.create_community("Lake Villages", "Water, markets and news")?;
            n.invite(&lake, &invitee, Role::Editor)?;
            Ok(lake)
        })
        .await?;
    kisumu.put_wiki_page(&lake, "Water", "North well: pump works.\n").await?;
    println!("Kisumu wrote the page \"Water\" while live sync ran.");

    let kisumu_id = card_k.node_id();
    let wait = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(change) = heard.next().await {
            if let Change::Doc { community: Some(c), what: What::WikiPage(page), by, .. } = &change
                && *c == lake
                && by.contains(&kisumu_id)
            {
                return Some(page.clone());
            }
        }
        None
    });
    let page = wait.await.ok().flatten().ok_or("Homa Bay did not hear of the page within 30 s")?;
    let text = homa_bay.wiki_page(&lake, &page).await?.unwrap_or_default();
    println!("Homa Bay heard: page {page:?} changed by Kisumu; it reads {:?}.", text.trim_end());

    live_k.stop().await;
    live_h.stop().await;
    Ok(())
}
