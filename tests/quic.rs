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
