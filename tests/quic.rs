//! QUIC on loopback, real sockets: both ends prove their node keys; a dialler that
//! expects one node and reaches another (a card shown without its key) is refused.

use caravan::Identity;
use caravan::link::quic::{self, peer_node};

async fn listener(id: &Identity) -> quinn::Endpoint {
    quinn::Endpoint::server(quic::server_config(id).unwrap(), "127.0.0.1:0".parse().unwrap()).unwrap()
}

fn dialler(id: &Identity, expected: &Identity) -> quinn::Endpoint {
    let mut ep = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    ep.set_default_client_config(quic::client_config(id, &expected.signing_public()).unwrap());
    ep
}

#[tokio::test]
async fn both_ends_learn_who_the_other_is_and_talk() {
    let (hub, village) = (Identity::generate(), Identity::generate());
    let server = listener(&hub).await;
    let addr = server.local_addr().unwrap();
    let accept = tokio::spawn(async move {
        let conn = server.accept().await.unwrap().await.unwrap();
        let who = peer_node(&conn);
        let (mut send, mut recv) = conn.accept_bi().await.unwrap();
        let got = recv.read_to_end(1024).await.unwrap();
        send.write_all(b"hello village").await.unwrap();
        send.finish().unwrap();
        let _ = send.stopped().await;
        (who, got)
    });
    let client = dialler(&village, &hub);
    let conn = client.connect(addr, "caravan").unwrap().await.unwrap();
    assert_eq!(peer_node(&conn), Some(hub.node_id()));
    let (mut send, mut recv) = conn.open_bi().await.unwrap();
    send.write_all(b"hello hub").await.unwrap();
    send.finish().unwrap();
    let reply = recv.read_to_end(1024).await.unwrap();
    assert_eq!(reply, b"hello village");
    let (who, got) = accept.await.unwrap();
    assert_eq!(who, Some(village.node_id()));
    assert_eq!(got, b"hello hub");
}

#[tokio::test]
async fn a_node_that_is_not_the_expected_one_is_refused() {
    let (impostor, real_hub, village) = (Identity::generate(), Identity::generate(), Identity::generate());
    // The impostor listens where the village expects the hub: it can show the hub's card,
    // but it cannot prove the hub's key.
    let server = listener(&impostor).await;
    let addr = server.local_addr().unwrap();
    tokio::spawn(async move {
        if let Some(incoming) = server.accept().await {
            let _ = incoming.await;
        }
    });
    let client = dialler(&village, &real_hub);
    let result = client.connect(addr, "caravan").unwrap().await;
    assert!(result.is_err(), "connected to an impostor");
}

#[tokio::test]
async fn two_nodes_exchange_over_quic_and_converge() {
    use caravan::{Node, Role};
    let (ha, hb) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut a = Node::open(ha.path(), "Hub").unwrap();
    let mut b = Node::open(hb.path(), "Village").unwrap();
    b.add_contact(&a.card(), &[]).unwrap();
    a.add_contact(&b.card(), &[]).unwrap();
    let wells = a.create_community("Wells", "").unwrap();
    a.invite(&wells, &b.card(), Role::Editor).unwrap();
    a.put_wiki_page(&wells, "North well", "Pump fixed in May.\n").unwrap();
    b.set_profile_field("name", "Village B", caravan::Audience::Public).unwrap();

    let a_id = Identity::load_or_create(&ha.path().join("identity.key")).unwrap();
    let b_id = Identity::load_or_create(&hb.path().join("identity.key")).unwrap();
    let server = listener(&a_id).await;
    let addr = server.local_addr().unwrap();
    let hub = tokio::spawn(async move {
        let mut outcomes = Vec::new();
        for _ in 0..2 {
            let conn = server.accept().await.unwrap().await.unwrap();
            outcomes.push(quic::exchange(&mut a, &conn).await.unwrap());
        }
        (a, outcomes)
    });
    let client = dialler(&b_id, &a_id);
    let conn = client.connect(addr, "caravan").unwrap().await.unwrap();
    let first = quic::exchange(&mut b, &conn).await.unwrap();
    assert!(first.received.rejected().is_empty(), "{:?}", first.received.rejected());
    assert_eq!(b.wiki_page(&wells, "North well").unwrap().as_deref(), Some("Pump fixed in May.\n"));
    conn.close(0u32.into(), b"done");
    // A second session sends nothing the other already holds.
    b.put_wiki_page(&wells, "North well", "Pump fixed in May.\nRope replaced.\n").unwrap();
    let conn = client.connect(addr, "caravan").unwrap().await.unwrap();
    let second = quic::exchange(&mut b, &conn).await.unwrap();
    conn.close(0u32.into(), b"done");
    let (mut a, at_hub) = hub.await.unwrap();
    assert_eq!(at_hub[0].peer, Some(b_id.node_id()));
    assert!(at_hub[0].sent >= 4, "{:?}", at_hub[0]);
    // Nothing either side holds is sent again (the hub has even forgotten its delivered
    // bundles, and the village's summary keeps them from coming back).
    assert_eq!(second.received.duplicates(), 0, "the hub resent what the village holds: {second:?}");
    assert_eq!(at_hub[1].received.duplicates(), 0, "the village resent what the hub holds: {:?}", at_hub[1]);
    assert!(
        at_hub[0].received.custody_released() > 0,
        "the village's answers came back in the same session: {:?}",
        at_hub[0].received
    );
    assert!(second.sent >= 1);
    assert_eq!(a.wiki_page(&wells, "North well").unwrap().as_deref(), Some("Pump fixed in May.\nRope replaced.\n"));
    assert!(a.profile(&b.node_id()).unwrap().iter().any(|f| f.value == "Village B"));
}

/// Writes one frame of the exchange (`spec/sync.md`): a big-endian u32 length, then bytes.
async fn frame(send: &mut quinn::SendStream, bytes: &[u8]) {
    send.write_all(&(bytes.len() as u32).to_be_bytes()).await.unwrap();
    send.write_all(bytes).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_exchange_keeps_what_was_committed_and_is_not_resent() {
    use caravan::{Node, Role, Target};
    let (hh, hv) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut hub = Node::open(hh.path(), "Hub").unwrap();
    let mut village = Node::open(hv.path(), "Village").unwrap();
    hub.add_contact(&village.card(), &[]).unwrap();
    let wells = village.create_community("Wells", "").unwrap();
    village.invite(&wells, &hub.card(), Role::Member).unwrap();
    for i in 0..40 {
        village.post(&wells, &format!("post {i}")).unwrap();
        village.plan_export(Target::Everyone).unwrap(); // one bundle per post
    }
    let bundles = village.export(Target::Peer(hub.node_id())).unwrap();
    assert!(bundles.len() > 40, "{}", bundles.len());

    let (hub_id, village_id) = (
        Identity::load_or_create(&hh.path().join("identity.key")).unwrap(),
        Identity::load_or_create(&hv.path().join("identity.key")).unwrap(),
    );
    let server = listener(&hub_id).await;
    let addr = server.local_addr().unwrap();
    let hub_task = tokio::spawn(async move {
        let mut results = Vec::new();
        for _ in 0..2 {
            let conn = server.accept().await.unwrap().await.unwrap();
            // Commits every 16 bundles (the default is 1,024 or 8 MiB).
            results.push(quic::exchange_with(&mut hub, &conn, 16, 8 << 20).await.map(|x| x.received.new_bundles()));
        }
        (hub, results)
    });

    // First session: the village's side is cut after 36 bundles, with no end marker.
    let client = dialler(&village_id, &hub_id);
    let conn = client.connect(addr, "caravan").unwrap().await.unwrap();
    let mut send = conn.open_uni().await.unwrap();
    frame(&mut send, &[]).await; // an empty summary
    frame(&mut send, &[]).await; // no endpoints
    frame(&mut send, &[1]).await; // no carrier copies (a hand-over frame: its version byte)
    let mut recv = conn.accept_uni().await.unwrap();
    for _ in 0..2 {
        // The hub's summary, then its endpoints.
        let mut len = [0u8; 4];
        recv.read_exact(&mut len).await.unwrap();
        let mut frame = vec![0u8; u32::from_be_bytes(len) as usize];
        recv.read_exact(&mut frame).await.unwrap();
    }
    for b in &bundles[..36] {
        frame(&mut send, b).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    conn.close(1u32.into(), b"unplugged");

    // Second session, the real exchange: what the hub committed is not sent again.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let conn = client.connect(addr, "caravan").unwrap().await.unwrap();
    let second = quic::exchange(&mut village, &conn).await.unwrap();
    conn.close(0u32.into(), b"done");
    let (mut hub, results) = hub_task.await.unwrap();
    assert!(results[0].is_err(), "the cut session should fail: {:?}", results[0]);
    // Two batches of 16 were committed as they came, and the 4 whole bundles read after
    // them when the link failed: none of the 36 is sent again.
    assert!(second.skipped >= 36, "resent what the hub had committed: {second:?}");
    assert!(second.sent <= bundles.len() - 36, "{second:?}");
    assert_eq!(hub.feed(&wells).unwrap().len(), 40);
}

/// One live session between two nodes over loopback QUIC: `x` dials `y`, a peer its
/// operator configured (so `x` tells it the endpoints to relay for, as a daemon does).
async fn session(
    x: &mut caravan::Node,
    x_home: &std::path::Path,
    y: &mut caravan::Node,
    y_home: &std::path::Path,
) -> quic::Exchange {
    let xi = Identity::load_or_create(&x_home.join("identity.key")).unwrap();
    let yi = Identity::load_or_create(&y_home.join("identity.key")).unwrap();
    let server = listener(&yi).await;
    let addr = server.local_addr().unwrap();
    let client = dialler(&xi, &yi);
    let (a, b) = tokio::join!(
        async {
            let conn = server.accept().await.unwrap().await.unwrap();
            let r = quic::exchange(y, &conn).await;
            conn.close(0u32.into(), b"done");
            r
        },
        async {
            let conn = client.connect(addr, "caravan").unwrap().await.unwrap();
            let relay = quic::LinkOptions { relay: true, ..quic::LinkOptions::default() };
            quic::exchange_shared(&tokio::sync::Mutex::new(x), &conn, relay).await
        }
    );
    a.unwrap();
    b.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chain_of_two_pure_relays_delivers_and_custody_comes_back() {
    use caravan::{Node, Role, Target};
    let homes: Vec<_> = (0..4).map(|_| tempfile::tempdir().unwrap()).collect();
    let h: Vec<&std::path::Path> = homes.iter().map(|d| d.path()).collect();
    let mut m1 = Node::open(h[0], "Village 1").unwrap();
    let mut r1 = Node::open(h[1], "Relay 1").unwrap();
    let mut r2 = Node::open(h[2], "Relay 2").unwrap();
    let mut m2 = Node::open(h[3], "Village 2").unwrap();
    m2.add_contact(&m1.card(), &[]).unwrap();
    let wells = m1.create_community("Wells", "").unwrap();
    m1.invite(&wells, &m2.card(), Role::Editor).unwrap();
    // The invitation went by stick; the page is written after: only the chain carries it.
    let stick = m1.export(Target::Peer(m2.node_id())).unwrap();
    m2.import_many(stick.iter().map(Vec::as_slice)).unwrap();
    assert_eq!(m2.communities().unwrap().len(), 1);
    m1.put_wiki_page(&wells, "North well", "Pump fixed in May.\n").unwrap();

    // m1 - r1 - r2 - m2: each meets only its neighbours; r1 and r2 are members of
    // nothing and hold no keys.
    let x = session(&mut m1, h[0], &mut r1, h[1]).await;
    assert!(x.copies_handed > 0, "the custodian hands carrier copies to the first relay: {x:?}");
    let x = session(&mut r1, h[1], &mut r2, h[2]).await;
    assert!(x.copies_handed > 0, "the first relay hands some of its copies on to the second: {x:?}");
    assert!(r2.relay_usage().unwrap().0 > 0);
    session(&mut m2, h[3], &mut r2, h[2]).await;
    assert_eq!(m2.wiki_page(&wells, "North well").unwrap().as_deref(), Some("Pump fixed in May.\n"));
    assert!(m1.custody().unwrap().open > 0, "m1 has not heard back yet");
    // m2's custody answer travels back the same way.
    session(&mut r1, h[1], &mut r2, h[2]).await;
    session(&mut m1, h[0], &mut r1, h[1]).await;
    assert_eq!(m1.custody().unwrap().open, 0, "m2's custody signal came back through both relays");
    for relay in [&mut r1, &mut r2] {
        assert_eq!(relay.wiki_page(&wells, "North well").ok().flatten(), None, "a relay cannot read what it carries");
        assert!(relay.communities().unwrap().is_empty());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_carrier_copy_refused_for_lack_of_room_is_not_spent() {
    use caravan::{Node, Role};
    let homes: Vec<_> = (0..4).map(|_| tempfile::tempdir().unwrap()).collect();
    let h: Vec<&std::path::Path> = homes.iter().map(|d| d.path()).collect();
    let mut a = Node::open(h[0], "Village A").unwrap();
    let c = Node::open(h[1], "Village C").unwrap();
    let mut full = Node::open(h[2], "Full relay").unwrap();
    let mut roomy = Node::open(h[3], "Roomy relay").unwrap();
    full.set_relay_quota(0).unwrap();
    let wells = a.create_community("Wells", "").unwrap();
    a.invite(&wells, &c.card(), Role::Editor).unwrap();
    a.put_wiki_page(&wells, "North well", "Pump fixed in May.\n").unwrap();
    let x = session(&mut a, h[0], &mut full, h[2]).await;
    assert!(x.refused_copies > 0 && x.copies_handed == 0, "the full relay takes no copy: {x:?}");
    assert_eq!(full.relay_usage().unwrap().0, 0);
    // Nothing was spent: the next carrier gets as many copies as the first was offered,
    // and a second meeting with it gets the rest of the spray.
    let first = session(&mut a, h[0], &mut roomy, h[3]).await;
    assert_eq!(first.copies_handed, x.refused_copies, "{first:?}");
    let second = session(&mut a, h[0], &mut roomy, h[3]).await;
    assert_eq!(second.copies_handed, 0, "the carrier holds them all now: {second:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pure_relay_carries_a_community_between_two_members_and_custody_comes_back() {
    use caravan::{Node, Role};
    let homes: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let (ha, hb, hc) = (homes[0].path(), homes[1].path(), homes[2].path());
    let mut a = Node::open(ha, "Village A").unwrap();
    let mut b = Node::open(hb, "Relay B").unwrap();
    let mut c = Node::open(hc, "Village C").unwrap();
    c.add_contact(&a.card(), &[]).unwrap();
    let wells = a.create_community("Wells", "").unwrap();
    a.invite(&wells, &c.card(), Role::Editor).unwrap();
    a.put_wiki_page(&wells, "North well", "Pump fixed in May.\n").unwrap();
    assert!(a.custody().unwrap().open > 0);
    // A and C never meet: B, which is in neither's contacts nor the community, sits between.
    session(&mut a, ha, &mut b, hb).await;
    assert!(b.relay_usage().unwrap().0 > 0, "the relay carries A's bundles");
    session(&mut c, hc, &mut b, hb).await;
    // C joined with the invitation in that session; from the next one it receives for
    // the community's endpoint, so B hands over what it carries for it.
    assert_eq!(c.communities().unwrap().len(), 1);
    session(&mut c, hc, &mut b, hb).await;
    assert_eq!(c.wiki_page(&wells, "North well").unwrap().as_deref(), Some("Pump fixed in May.\n"));
    c.put_wiki_page(&wells, "South well", "Dry since June.\n").unwrap();
    session(&mut c, hc, &mut b, hb).await; // C's answers and page go to B
    session(&mut a, ha, &mut b, hb).await;
    assert_eq!(a.wiki_page(&wells, "South well").unwrap().as_deref(), Some("Dry since June.\n"));
    assert_eq!(a.custody().unwrap().open, 0, "C's custody signal came back through B: {:?}", a.custody().unwrap());
    assert_eq!(b.wiki_page(&wells, "North well").ok().flatten(), None, "the relay cannot read what it carries");
}

#[test]
fn the_contact_plan_decides_which_carrier_gets_copies() {
    use caravan::routing::ContactPlan;
    use caravan::schedule::Window;
    use caravan::{Node, Role};
    use std::collections::HashSet;
    let homes: Vec<_> = (0..4).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut a = Node::open(homes[0].path(), "Village A").unwrap();
    let c = Node::open(homes[1].path(), "Village C").unwrap();
    let soon = Node::open(homes[2].path(), "Bus (meets C today)").unwrap();
    let late = Node::open(homes[3].path(), "Truck (meets C next week)").unwrap();
    let wells = a.create_community("Wells", "").unwrap();
    a.invite(&wells, &c.card(), Role::Editor).unwrap();
    a.put_wiki_page(&wells, "North well", "Pump fixed in May.\n").unwrap();
    let own_for_c = |a: &mut Node, peer: &Node| {
        a.plan_link(peer.node_id(), &[peer.node_id().endpoint()], &HashSet::new(), false).unwrap().outgoing.len()
    };
    // No plan: binary spray to any carrier.
    assert!(own_for_c(&mut a, &late) > 0);
    // A meets C tomorrow at 09:00, the bus at any time, the truck once next year.
    let mut plan = ContactPlan::default();
    let tomorrow = jiff::Zoned::now().with_time_zone(jiff::tz::TimeZone::UTC).date().tomorrow().unwrap();
    plan.add(a.node_id(), c.node_id(), vec![Window::once(&format!("{tomorrow} 09:00-10:00"), "UTC").unwrap()]);
    plan.add(soon.node_id(), c.node_id(), vec![]);
    let next_year = tomorrow.saturating_add(jiff::ToSpan::days(300));
    plan.add(late.node_id(), c.node_id(), vec![Window::once(&format!("{next_year} 09:00-10:00"), "UTC").unwrap()]);
    a.set_contact_plan(plan);
    assert_eq!(own_for_c(&mut a, &late), 0, "the truck meets C after A does: A keeps its copies");
    assert!(own_for_c(&mut a, &soon) > 0, "the bus meets C first: it gets copies");
}
