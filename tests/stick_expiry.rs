//! Expired bundles are not read from a stick, and segments holding only expired bundles
//! are removed from it.

use std::sync::Arc;
use std::time::Duration;

use caravan::Node;
use caravan::link::stick;

#[test]
fn expired_bundles_are_skipped_and_dead_segments_dropped() {
    let (ha, hb, st) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let t0 = 1_800_000_000_000u64;
    let mut a = Node::open(ha.path(), "A").unwrap();
    a.set_clock(Arc::new(move || t0));
    a.set_bundle_lifetime(Duration::from_secs(60));
    let wells = a.create_community("Wells", "").unwrap();
    a.put_wiki_page(&wells, "P", "soon stale\n").unwrap();
    let written = stick::sync(&mut a, st.path(), Default::default()).unwrap().exported;
    assert!(written >= 3);

    // B arrives an hour later: nothing on the stick is alive.
    let mut b = Node::open(hb.path(), "B").unwrap();
    b.set_clock(Arc::new(move || t0 + 3_600_000));
    let r = stick::sync(&mut b, st.path(), Default::default()).unwrap();
    assert_eq!(r.expired, written, "{r:?}");
    assert_eq!((r.new_bundles, r.rejected.len()), (0, 0), "{r:?}");
    assert_eq!(r.expired_segments, 1, "{r:?}");
    let left: Vec<_> = std::fs::read_dir(st.path().join("caravan"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(&a.node_id().to_string()))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}
