//! The `social` target's checks: the social kinds' values, rules and views.

use super::*;

/// `social`: the social kinds' value decoders and write rules, on attacker-chosen
/// Automerge values. The input is `selector (1) ‖ a, b, n, flags (1 each) ‖ value`:
/// - `selector % 5` is the kind (reviews, exchange, polls, certs, links) and
///   `selector / 5 % 8` the key's shape within it (7: the key is the value's text up
///   to its first zero byte, the value the rest);
/// - `a`, `b` name nodes (`NodeId([a; 20])`) and `n` the key's number, so keys look
///   valid and the value decoders are reached;
/// - `flags`: bits 0-1 the action (Put, Put, Delete, Make map), bit 2 "overwrites",
///   bits 3-4 the target (root map key, root position, own object, another's object),
///   bits 5-6 the value (bytes, or with 3 a uint or a string), bit 7 "ids from the
///   value": the key names the keys the value carries (the proofs' parties, the
///   certifier, the link's owners, the statement's hash), so a well-signed value passes.
///
/// Every public decoder (`Proof`, `Close`, certificate `Statement` and `Certificate`,
/// `Link`) takes the value, and what decodes has one spelling. The kind's check runs for
/// each writer the key names, as member and as owner (certificates also with no log, the
/// empty log, and a log where the value's signers certify with `k = n`); what a kind
/// accepts keeps its rule's shape. The value then goes into a document (beside a poll or
/// proposal it may refer to) and the kind's view reads it (polls also recount).
pub fn social(data: &[u8]) {
    let _ = social_accepted(data);
}

/// How many (writer, role, log) checks accepted the input (see [`social`]).
pub fn social_accepted(data: &[u8]) -> usize {
    use caravan::automerge::{ObjType, ScalarValue};
    use caravan::plugin::{Action, DocKind, Key, Op, Target, Writer};
    use caravan::plugin::{certificate, exchange, link, poll, review};
    use caravan::{NodeId, Role};

    let Some((&sel, rest)) = data.split_first() else { return 0 };
    let (head, value) = rest.split_at(rest.len().min(4));
    let h = |i: usize| head.get(i).copied().unwrap_or(0);
    let (a, b, n, flags) = (h(0), h(1), h(2), h(3));
    let (kind, shape, derived) = (sel % 5, sel / 5 % 8, flags & 0x80 != 0);
    let (na, nb) = (NodeId([a; 20]), NodeId([b; 20]));
    let fixed_hash = caravan::store::hex(&[a; 32]);
    let signer_at = |at: usize, v: &[u8]| -> Option<NodeId> {
        Some(NodeId::from_signing_public(v.get(at..at + 32)?.try_into().ok()?))
    };

    social_decoders(value);

    // The key (and, for shape 7, the value that follows it).
    let (raw_key, value) = if shape == 7 {
        let cut = value.iter().position(|&x| x == 0).unwrap_or(value.len());
        (Some(String::from_utf8_lossy(&value[..cut]).into_owned()), value.get(cut + 1..).unwrap_or(&[]))
    } else {
        (None, value)
    };
    social_decoders(value);
    let id = |derived_id: Option<NodeId>, fixed: NodeId| if derived { derived_id.unwrap_or(fixed) } else { fixed };

    let (key, writers): (String, Vec<NodeId>) = match kind {
        // Reviews: `r/<reviewer>/<proposer>/<n>/<seller>`.
        0 => {
            let proposer = id(signer_at(10, value), na);
            let seller = id(signer_at(10 + exchange::Proof::LEN, value), nb);
            let reviewer = if shape & 1 == 0 { proposer } else { seller };
            let key = match shape {
                4 => format!("r/{reviewer}/{proposer}/{n}/{seller}/x"),
                5 => format!("r/{reviewer}/{proposer}/18446744073709551616/{seller}"),
                _ => format!("r/{reviewer}/{proposer}/{n}/{seller}"),
            };
            let stranger = if shape & 2 == 0 { reviewer } else { NodeId([n; 20]) };
            (key, vec![reviewer, stranger])
        }
        // Exchanges: `x/<proposer>/<n>` or `s/<party>/<proposer>/<n>/<seller>/<step>`.
        1 => {
            let party = id(signer_at(0, value), na);
            let other = if derived { na } else { nb };
            let (proposer, seller) = if shape & 4 == 0 { (party, other) } else { (other, party) };
            let key = match shape & 3 {
                0 => format!("x/{party}/{n}"),
                1 => format!("s/{party}/{proposer}/{n}/{seller}/accepted"),
                2 => format!("s/{party}/{proposer}/{n}/{seller}/completed"),
                _ => format!("s/{party}/{proposer}/{n}/{seller}/cancelled"),
            };
            (key, vec![party, other])
        }
        // Polls: `p/<author>/<n>`, `v/<author>/<n>/<voter>`, `close/<author>/<n>`.
        2 => {
            let key = match shape & 3 {
                0 => format!("p/{na}/{n}"),
                1 => format!("v/{na}/{n}/{nb}"),
                _ => format!("close/{na}/{n}"),
            };
            (key, vec![na, nb])
        }
        // Certificates: `s/<hash>/<certifier>`, `c/<hash>`, `r/<hash>`.
        3 => match shape & 3 {
            0 => {
                let st = value.get(96..).and_then(certificate::Statement::decode);
                let hash = if derived { st.map(|s| s.hash_hex()) } else { None }.unwrap_or(fixed_hash);
                let signer = id(signer_at(0, value), nb);
                (format!("s/{hash}/{signer}"), vec![signer, nb])
            }
            1 => {
                let cert = certificate::Certificate::decode(value).filter(|_| derived);
                let hash = cert.as_ref().map(|c| c.statement.hash_hex()).unwrap_or(fixed_hash);
                let mut writers: Vec<NodeId> =
                    cert.map(|c| c.signatures.iter().take(3).map(|s| s.signer()).collect()).unwrap_or_default();
                writers.push(nb);
                (format!("c/{hash}"), writers)
            }
            2 => (format!("r/{fixed_hash}"), vec![na]),
            _ => (format!("r/{}", String::from_utf8_lossy(value)), vec![na]),
        },
        // Links: `p/<hash>`, `u/<hash>`, `l/<hash>`.
        _ => {
            let what = ["p", "u", "l", "l"][usize::from(shape & 3)];
            let hash = if derived { link_statement(value).map(|s| s.hash_hex()) } else { None }.unwrap_or(fixed_hash);
            let mut writers = vec![nb];
            if derived {
                if what == "l" {
                    if let Some(l) = link::Link::decode(value) {
                        writers = vec![l.sides[usize::from(shape & 1)].signer(), nb];
                    }
                } else if let Some(s) = value.get(50..).and_then(link_side_signer) {
                    writers = vec![s, nb];
                }
            }
            (format!("{what}/{hash}"), writers)
        }
    };
    let key = raw_key.unwrap_or(key);

    let action = match flags & 3 {
        2 => Action::Delete,
        3 => Action::Make(ObjType::Map),
        _ => Action::Put,
    };
    let (target, op_key) = match (flags >> 3) & 3 {
        0 => (Target::Root, Key::Map(key.clone())),
        1 => (Target::Root, Key::Seq),
        2 => (Target::Own, Key::Map(key.clone())),
        _ => (Target::Others, Key::Map(key.clone())),
    };
    let scalar = match (flags >> 5) & 3 {
        3 if value.len() % 2 == 0 => {
            let mut le = [0u8; 8];
            let take = value.len().min(8);
            le[..take].copy_from_slice(&value[..take]);
            ScalarValue::Uint(u64::from_le_bytes(le))
        }
        3 => ScalarValue::Str(String::from_utf8_lossy(value).as_ref().into()),
        _ => ScalarValue::Bytes(value.to_vec()),
    };
    let op = Op {
        value: (action == Action::Put).then(|| scalar.clone()),
        overwrites: flags & 4 != 0,
        ..Op::new(target.clone(), op_key, action)
    };
    let ops = std::slice::from_ref(&op);
    let put_once = target == Target::Root && op.map_key().is_some() && action == Action::Put && !op.overwrites;

    let kinds: [&dyn DocKind; 5] =
        [&review::Reviews, &exchange::Exchanges, &poll::Polls, &certificate::Certificates, &link::Links];
    let k = kinds[usize::from(kind)];
    let mut accepted = 0;
    for node in &writers {
        for role in [Role::Member, Role::Owner] {
            let by = Writer { node: *node, role: Some(role) };
            let verdict = k.check(&by, ops);
            if verdict.is_err() {
                continue;
            }
            accepted += 1;
            match kind {
                // Written once, by a party or certifier or owner: always a fresh Put.
                0 | 3 | 4 => assert!(put_once, "{} accepted {op:?}", k.name()),
                // Only an owner closes.
                2 if key.starts_with("close/") && target == Target::Root => {
                    assert!(role == Role::Owner && put_once, "a close by {role:?}: {op:?}")
                }
                _ => {}
            }
        }
    }
    if kind == 3 {
        static EMPTY: OnceLock<caravan::authority::State> = OnceLock::new();
        let empty = EMPTY.get_or_init(|| caravan::authority::resolve([0; 32], &[]));
        // A log where every key the value carries at a signature's place certifies.
        let mut theirs = empty.clone();
        theirs.threshold = n;
        for at in [0, 1, 97, 193] {
            if let Some(pk) = value.get(at..at + 32) {
                theirs.certifiers.insert(pk.try_into().unwrap());
            }
        }
        if let Some(c) = certificate::Certificate::decode(value) {
            theirs.certifiers.extend(c.signatures.iter().map(|s| s.public));
        }
        for node in &writers {
            for role in [Role::Member, Role::Owner] {
                let by = Writer { node: *node, role: Some(role) };
                assert_eq!(k.check(&by, ops), k.check_with_log(&by, ops, None));
                if k.check_with_log(&by, ops, Some(empty)).is_ok() {
                    // No one certifies: only a revocation (an owner's) passes.
                    assert!(key.starts_with("r/") && role == Role::Owner, "with no certifiers: {op:?}");
                    accepted += 1;
                }
                if k.check_with_log(&by, ops, Some(&theirs)).is_ok() {
                    assert!(put_once);
                    accepted += 1;
                }
            }
        }
    }

    social_view(kind, &key, &op, na, nb, n, derived);
    accepted
}

/// Every public decoder of the social kinds on `v`; what decodes has one spelling.
fn social_decoders(v: &[u8]) {
    use caravan::plugin::{certificate, exchange, link, poll};
    if let Some(p) = exchange::Proof::decode(v) {
        assert_eq!(p.encode()[..], *v);
        let _ = p.party();
    }
    for at in [10, 10 + exchange::Proof::LEN] {
        let _ = v.get(at..at + exchange::Proof::LEN).and_then(exchange::Proof::decode);
    }
    if let Some(c) = poll::Close::decode(v) {
        assert_eq!(c.encode(), v);
    }
    for st in [v, v.get(96..).unwrap_or_default()] {
        if let Some(s) = certificate::Statement::decode(st) {
            assert_eq!(s.encode(), st);
            let _ = (s.hash_hex(), s.about(), s.listing());
        }
    }
    if let Some(c) = certificate::Certificate::decode(v) {
        assert_eq!(c.encode(), v);
        let valid = c.valid_signers(|_| true);
        assert!(valid.len() <= c.signatures.len());
    }
    if let Some(l) = link::Link::decode(v) {
        assert_eq!(l.encode(), v);
        let _ = (l.holds(), l.statement.share_names(), l.statement.other(&l.statement.a));
        for s in &l.sides {
            let _ = (s.signer(), s.community());
        }
    }
}

/// A link statement's fields as they stand at the start of `v` (`link::Statement`'s
/// decoder is private; the hash of what is read is the key a record is filed under).
fn link_statement(v: &[u8]) -> Option<caravan::plugin::link::Statement> {
    let v = v.get(..50)?;
    Some(caravan::plugin::link::Statement {
        a: caravan::CommunityId(v[1..21].try_into().ok()?),
        b: caravan::CommunityId(v[21..41].try_into().ok()?),
        shares: v[41],
        n: u64::from_le_bytes(v[42..50].try_into().ok()?),
    })
}

/// The signer of a link side's bytes: `root (32) ‖ nonce (16) ‖ n (1) ‖ n × cert (149)
/// ‖ signature`, the last certificate's member or, with none, the root.
fn link_side_signer(v: &[u8]) -> Option<caravan::NodeId> {
    let n = usize::from(*v.get(48)?);
    let at = if n == 0 { 0 } else { 49 + (n - 1) * 149 + 20 };
    Some(caravan::NodeId::from_signing_public(v.get(at..at + 32)?.try_into().ok()?))
}

/// The kind's view of a document holding `op` (beside the poll or the proposal its key
/// may refer to).
fn social_view(
    kind: u8,
    key: &str,
    op: &caravan::plugin::Op,
    na: caravan::NodeId,
    nb: caravan::NodeId,
    n: u8,
    derived: bool,
) {
    use caravan::automerge::transaction::Transactable;
    use caravan::automerge::{AutoCommit, ROOT, ScalarValue};
    use caravan::plugin::{Action, DocKind, certificate, exchange, link, poll, review};

    let mut doc = AutoCommit::new();
    let mut poll_ref = None;
    match kind {
        1 => {
            let _ = exchange::propose(&mut doc, &na, u64::from(n), &format!("{nb}/1"), "fuzz");
            let _ = exchange::propose(&mut doc, &nb, u64::from(n), &format!("{na}/1"), "fuzz");
        }
        2 => {
            let options = ["yes".to_string(), "no".to_string()];
            poll_ref = poll::create(&mut doc, &na, u64::from(n), "fuzz?", &options, &[[n; 32]], 0).ok();
            if let Some(p) = &poll_ref {
                let _ = poll::vote(&mut doc, &na, p, 0);
                let _ = poll::vote(&mut doc, &nb, p, usize::from(n));
            }
        }
        _ => {}
    }
    match (op.map_key(), op.action, &op.value) {
        (Some(_), Action::Put, Some(v)) => {
            // A close counted at this document's own heads, so a recount can match.
            let v = match (kind, v) {
                (2, ScalarValue::Bytes(b)) if derived => match poll::Close::decode(b) {
                    Some(c) => {
                        doc.commit();
                        let heads = doc.get_heads().iter().map(|h| h.0).collect();
                        ScalarValue::Bytes(poll::Close { heads, ..c }.encode())
                    }
                    None => v.clone(),
                },
                _ => v.clone(),
            };
            let _ = doc.put(ROOT, key, v);
        }
        (Some(_), Action::Make(t), _) => {
            let _ = doc.put_object(ROOT, key, t);
        }
        _ => {}
    }
    doc.commit();
    match kind {
        0 => {
            let _ = review::Reviews.show(&doc);
            for r in review::reviews(&doc) {
                assert!(r.exchange.has_party(&r.reviewer) && (1..=5).contains(&r.rating));
                let _ = r.subject();
            }
        }
        1 => {
            let _ = exchange::Exchanges.show(&doc);
            for x in exchange::exchanges(&doc) {
                assert!(x.completed_by.len() <= 2);
            }
        }
        2 => {
            let _ = poll::Polls.show(&doc);
            for p in poll::polls(&doc) {
                let t = poll::tally(&p, |v| *v != nb);
                assert_eq!(t.counts.len(), p.options.len());
                let _ = poll::recount(&doc, &p.id, |v| *v != nb);
            }
            if let Some(p) = &poll_ref {
                let _ = poll::recount(&doc, p, |_| true);
            }
        }
        3 => {
            let _ = certificate::Certificates.show(&doc);
            for e in certificate::read(&doc) {
                if let Some(c) = &e.certificate {
                    let _ = c.valid_signers(|_| true);
                }
            }
        }
        _ => {
            let _ = link::Links.show(&doc);
            let _ = link::read(&doc);
        }
    }
}
