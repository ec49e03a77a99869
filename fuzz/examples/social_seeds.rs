//! Writes the `social` fuzz target's seeds into `<dir>` (default `fuzz/corpus/social`):
//! well-signed values of each social kind, laid out as `checks::social` reads its input
//! (so each reaches its kind's accepting path, which this checks), and a few plain
//! ones. Run by `fuzz/seed.sh`; deterministic (identities from fixed secrets).

#[path = "../checks.rs"]
mod checks;

use caravan::envelope::Genesis;
use caravan::plugin::exchange::{ExchangeRef, Proof};
use caravan::plugin::{certificate, link, poll, review};
use caravan::{CommunityId, Identity, NodeId};

/// Bit 7 of the flags byte: the key names the ids the value carries.
const DERIVED: u8 = 0x80;
/// Bits 5-6 set: the value is a uint (an even-length value) or a string.
const SCALAR: u8 = 0x60;
/// Bits 0-1 set: the operation makes a map.
const MAKE: u8 = 3;

fn input(kind: u8, shape: u8, a: u8, b: u8, n: u8, flags: u8, value: &[u8]) -> Vec<u8> {
    [&[kind + 5 * shape, a, b, n, flags][..], value].concat()
}

fn main() {
    let dir = std::path::PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "fuzz/corpus/social".into()));
    std::fs::create_dir_all(&dir).expect("corpus folder");
    let who = |i: u8| Identity::from_secret_bytes(&[i; 64]);
    let (buyer, seller, c1, c2, fo, co) = (who(1), who(2), who(3), who(4), who(5), who(6));
    let mut valid: Vec<(&str, Vec<u8>)> = Vec::new();

    // Reviews: each party's review of a completed exchange (n = 17).
    let x = ExchangeRef { proposer: buyer.node_id(), n: 17, seller: seller.node_id() };
    let proofs = [Proof::sign(&buyer, &x), Proof::sign(&seller, &x)];
    let r = review::write(&buyer, &x, proofs, 4, "good eggs", 1_000).unwrap();
    valid.push(("review-by-proposer", input(0, 0, 0, 0, 17, DERIVED, &r)));
    let r = review::write(&seller, &x, proofs, 5, "paid on time", 2_000).unwrap();
    valid.push(("review-by-seller", input(0, 1, 0, 0, 17, DERIVED, &r)));

    // Exchanges: a proposal, the seller's acceptance, each party's completed step
    // (the other party is `NodeId([7; 20])`, n = 5).
    let other = NodeId([7; 20]);
    valid.push(("exchange-proposal", input(1, 0, 1, 2, 5, MAKE, &[])));
    valid.push(("exchange-accepted", input(1, 5, 1, 2, 5, SCALAR, &1_000u64.to_le_bytes())));
    let p = Proof::sign(&buyer, &ExchangeRef { proposer: buyer.node_id(), n: 5, seller: other });
    valid.push(("exchange-completed-by-proposer", input(1, 2, 7, 0, 5, DERIVED, &p.encode())));
    let p = Proof::sign(&seller, &ExchangeRef { proposer: other, n: 5, seller: seller.node_id() });
    valid.push(("exchange-completed-by-seller", input(1, 6, 7, 0, 5, DERIVED, &p.encode())));

    // Polls: a poll, a vote, an owner's close.
    valid.push(("poll", input(2, 0, 1, 2, 3, MAKE, &[])));
    valid.push(("poll-vote", input(2, 1, 1, 2, 3, SCALAR, &0u64.to_le_bytes())));
    let close = poll::Close { heads: vec![[3; 32]], counts: vec![1, 0], root: [4; 32] }.encode();
    valid.push(("poll-close", input(2, 2, 1, 2, 3, DERIVED, &close)));

    // Certificates: a certifier's signature, a certificate of two, a revocation.
    let skill = certificate::Statement {
        community: CommunityId([5; 20]),
        subject: certificate::Subject::Skill { node: NodeId([1; 20]), skill: "beekeeping".into() },
        expires_unix_ms: 9,
    };
    let listing = certificate::Statement {
        subject: certificate::Subject::Listing { author: NodeId([2; 20]), n: 7, content: [3; 32] },
        ..skill.clone()
    };
    for (sig_name, cert_name, st) in
        [("cert-signature-skill", "cert-skill", &skill), ("cert-signature-listing", "cert-listing", &listing)]
    {
        let sig = certificate::Signature::sign(&c1, st).encode_with_statement(st);
        valid.push((sig_name, input(3, 0, 0, 0, 1, DERIVED, &sig)));
        let c = certificate::Certificate {
            statement: st.clone(),
            signatures: vec![certificate::Signature::sign(&c1, st), certificate::Signature::sign(&c2, st)],
        };
        valid.push((cert_name, input(3, 1, 0, 0, 2, DERIVED, &c.encode())));
    }
    valid.push(("cert-revocation", input(3, 2, 1, 2, 0, SCALAR, &5u64.to_le_bytes())));

    // Links: a proposal, an unlink, the link (written by either side).
    let genesis = |i: &Identity| Genesis { root: i.signing_public(), nonce: [1; 16] };
    let (fg, cg) = (genesis(&fo), genesis(&co));
    let s = link::Statement {
        a: caravan::membership::community_id(&fg),
        b: caravan::membership::community_id(&cg),
        shares: 5,
        n: 7,
    };
    valid.push(("link-proposal", input(4, 0, 0, 0, 0, DERIVED, &link::propose(&fo, &s, fg, vec![]))));
    valid.push(("link-unlink", input(4, 1, 0, 0, 0, DERIVED, &link::unlink(&co, &s, cg, vec![]))));
    let both = link::Link {
        statement: s.clone(),
        sides: [link::Side::sign(&fo, fg, vec![], &s.encode()), link::Side::sign(&co, cg, vec![], &s.encode())],
    }
    .encode();
    valid.push(("link-by-first", input(4, 2, 0, 0, 0, DERIVED, &both)));
    valid.push(("link-by-second", input(4, 3, 0, 0, 0, DERIVED, &both)));

    for (name, data) in &valid {
        assert!(checks::social_accepted(data) > 0, "seed {name} is not accepted by its kind");
        std::fs::write(dir.join(format!("valid-{name}")), data).expect("seed file");
    }

    // Plain ones: empty, short, a key given as text (shape 7), a value of each length
    // class the decoders know, in fixed (not derived) ids.
    let review_key = format!("r/{}/{}/17/{}", buyer.node_id(), buyer.node_id(), seller.node_id());
    let plain: Vec<(&str, Vec<u8>)> = vec![
        ("empty", vec![]),
        ("one", vec![0]),
        ("raw-key-review", [&[35, 0, 0, 0, 0][..], review_key.as_bytes(), &[0], &valid[0].1[5..]].concat()),
        ("raw-key-poll", [&[37, 0, 0, 0, 0][..], b"v/x/1/y".as_slice()].concat()),
        ("proof-size", input(1, 2, 1, 2, 3, 0, &[9; Proof::LEN])),
        ("cert-size", input(3, 1, 1, 2, 3, 0, &[1; 1 + 96 + 90])),
        ("link-size", input(4, 2, 1, 2, 3, 0, &[1; 50 + 2 * (49 + 64)])),
    ];
    for (name, data) in &plain {
        checks::social(data);
        std::fs::write(dir.join(format!("plain-{name}")), data).expect("seed file");
    }
    println!("social: {} seeds in {}", valid.len() + plain.len(), dir.display());
}
