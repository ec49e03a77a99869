//! Property: whatever the interleaving of edits and partial, lossy, reordered deliveries,
//! once every bundle has reached every node (in any order, with duplicates), all nodes
//! hold identical documents.

mod common;

use caravan::{DocId, Part, Role, Target};
use common::{Rng, TestNode, node};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    /// Node 0 or 1 (owner, editor) rewrites one line of the shared page.
    Edit { who: usize, line: usize, word: u8 },
    /// Any node posts.
    Post { who: usize },
    /// `from` exports everything; a random part of it reaches `to`, shuffled.
    Deliver { from: usize, to: usize, seed: u64 },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..2usize, 0..4usize, any::<u8>()).prop_map(|(who, line, word)| Op::Edit { who, line, word }),
        (0..3usize).prop_map(|who| Op::Post { who }),
        (0..3usize, 0..3usize, any::<u64>()).prop_map(|(from, to, seed)| Op::Deliver { from, to, seed: seed | 1 }),
    ]
}

fn page(n: &mut TestNode, cid: &caravan::CommunityId) -> String {
    n.node.wiki_page(cid, "P").unwrap().unwrap_or_default()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn any_interleaving_converges(ops in proptest::collection::vec(op(), 1..14), seed in 1u64..u64::MAX) {
        let mut nodes = [node("A"), node("B"), node("C")];
        for i in 1..3 {
            let card = nodes[0].node.card();
            nodes[i].node.add_contact(&card, &[]).unwrap();
        }
        let cid = nodes[0].node.create_community("P", "").unwrap();
        let (b, c) = (nodes[1].node.card(), nodes[2].node.card());
        nodes[0].node.invite(&cid, &b, Role::Editor).unwrap();
        nodes[0].node.invite(&cid, &c, Role::Member).unwrap();
        nodes[0].node.put_wiki_page(&cid, "P", "l0\nl1\nl2\nl3\n").unwrap();
        let mut posts = 0;
        for op in &ops {
            match *op {
                Op::Edit { who, line, word } => {
                    if nodes[who].node.role(&cid).is_err() {
                        continue; // not joined yet: nothing to edit
                    }
                    let current = page(&mut nodes[who], &cid);
                    let mut lines: Vec<String> = current.lines().map(str::to_string).collect();
                    if line < lines.len() {
                        lines[line] = format!("{} w{word}", lines[line]);
                        nodes[who].node.put_wiki_page(&cid, "P", &(lines.join("\n") + "\n")).unwrap();
                    }
                }
                Op::Post { who } => {
                    if nodes[who].node.role(&cid).is_ok() {
                        nodes[who].node.post(&cid, "hello").unwrap();
                        posts += 1;
                    }
                }
                Op::Deliver { from, to, seed } => {
                    if from == to {
                        continue;
                    }
                    let mut rng = Rng(seed);
                    let sent = nodes[from].node.export(Target::Everyone).unwrap();
                    let arrived: Vec<Vec<u8>> = rng.shuffle_with_duplicates(&sent).into_iter().filter(|_| rng.below(3) != 0).collect();
                    let r = nodes[to].node.import_many(arrived.iter().map(Vec::as_slice)).unwrap();
                    prop_assert!(r.rejected().is_empty(), "{:?}", r.rejected());
                }
            }
        }
        // Finally everything reaches everyone, shuffled with duplicates.
        let mut rng = Rng(seed);
        let all: Vec<Vec<Vec<u8>>> = nodes.iter_mut().map(|n| n.node.export(Target::Everyone).unwrap()).collect();
        for (i, n) in nodes.iter_mut().enumerate() {
            let incoming: Vec<Vec<u8>> = all.iter().enumerate().filter(|(j, _)| *j != i).flat_map(|(_, v)| v.clone()).collect();
            let r = n.node.import_many(rng.shuffle_with_duplicates(&incoming).iter().map(Vec::as_slice)).unwrap();
            prop_assert!(r.rejected().is_empty(), "{:?}", r.rejected());
        }
        let reference = page(&mut nodes[0], &cid);
        prop_assert_eq!(reference.lines().count(), 4);
        for n in nodes.iter_mut() {
            prop_assert_eq!(page(n, &cid), reference.clone());
            prop_assert_eq!(n.node.feed(&cid).unwrap().len(), posts);
        }
        for part in Part::BUILT_IN {
            let id = DocId::Community { id: cid, part };
            let h = nodes[0].node.heads(id).unwrap();
            for n in nodes.iter_mut().skip(1) {
                prop_assert_eq!(n.node.heads(id).unwrap(), h.clone());
            }
        }
    }
}
