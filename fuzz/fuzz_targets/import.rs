//! Whole bundles into a node that holds keys (the golden corpus's reader `b`, with the
//! corpus's invitation already taken in), so mutated bundles reach decryption,
//! signature checks and the Automerge decoders. Start from `../bundles/*.bundle`.
#![no_main]

use std::sync::{Arc, Mutex, OnceLock};

use caravan::Node;
use libfuzzer_sys::fuzz_target;

struct Fixture {
    node: Node,
    _home: tempfile::TempDir,
}

fn fixture() -> &'static Mutex<Fixture> {
    static F: OnceLock<Mutex<Fixture>> = OnceLock::new();
    F.get_or_init(|| {
        let corpus = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../bundles");
        let home = tempfile::tempdir().unwrap();
        std::fs::copy(corpus.join("keys/b.key"), home.path().join("identity.key")).unwrap();
        let mut node = Node::open(home.path(), "b").unwrap();
        let card = std::fs::read_to_string(corpus.join("keys/a.card")).unwrap();
        node.add_contact(&caravan::ContactCard::parse(&card).unwrap(), &[]).unwrap();
        let json = std::fs::read_to_string(corpus.join("invitation.json")).unwrap();
        let created: u64 = json
            .split("\"created_unix_ms\":")
            .nth(1)
            .and_then(|s| s.trim_start().split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|s| s.parse().ok())
            .unwrap();
        node.set_clock(Arc::new(move || created + 1000));
        node.import(&std::fs::read(corpus.join("invitation.bundle")).unwrap()).unwrap();
        Mutex::new(Fixture { node, _home: home })
    })
}

fuzz_target!(|data: &[u8]| {
    let mut f = fixture().lock().unwrap();
    // Local storage must not fail; any outcome for the bundle itself is fine.
    f.node.import(data).expect("store failure on fuzz input");
});
