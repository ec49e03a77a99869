//! Membership that changes, through the binary over a stick: removal with a new key,
//! demotion, leaving, and the log that says what happened.

mod common;

use common::{caravan, card, init, node_id, ok, sync_stick, with_stdin};
use std::path::Path;

#[test]
fn removed_members_read_nothing_new_demoted_editors_edit_nothing_and_the_log_says_why() {
    let (a, b, c) = (init("Ana"), init("Bo"), init("Cy"));
    let (a, b, c) = (a.path(), b.path(), c.path());
    let stick = tempfile::tempdir().unwrap();
    let stick = stick.path();
    for (x, y) in [(a, b), (a, c), (b, a), (c, a)] {
        ok(x, &["contact", "add", &card(y)]);
    }
    ok(a, &["community", "create", "Wells"]);
    ok(a, &["community", "invite", "Wells", &card(b)]);
    ok(a, &["community", "invite", "Wells", &card(c), "--role", "editor"]);
    ok(a, &["post", "Wells", "before the removal"]);
    sync_stick(a, stick);
    for n in [b, c] {
        sync_stick(n, stick);
        assert!(ok(n, &["feed", "Wells"]).contains("before the removal"));
    }
    let members = ok(a, &["community", "members", "Wells"]);
    assert!(members.contains("Bo") && members.contains("Cy  (editor)"), "{members}");

    // Only owners remove.
    let out = caravan(c, &["community", "remove", "Wells", "Bo"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("may not remove members"), "{out:?}");

    let said = ok(a, &["community", "remove", "Wells", "Bo"]);
    assert!(said.contains("Removed Bo from Wells") && said.contains("what was shared before stays readable"), "{said}");
    ok(a, &["post", "Wells", "after the removal"]);
    assert!(with_stdin(a, &["wiki", "put", "Wells", "Plan"], "the new well goes north\n").status.success());
    sync_stick(a, stick);
    sync_stick(b, stick);
    sync_stick(c, stick);

    // Bo keeps what came before, reads nothing after, and is told.
    let feed_b = ok(b, &["feed", "Wells"]);
    assert!(feed_b.contains("before the removal") && !feed_b.contains("after the removal"), "{feed_b}");
    assert!(!ok(b, &["wiki", "list", "Wells"]).contains("Plan"));
    assert!(ok(b, &["community", "list"]).contains("Wells  (no longer a member)"));
    let out = caravan(b, &["post", "Wells", "let me back"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no longer a member"), "{out:?}");
    // Cy reads everything.
    assert!(ok(c, &["feed", "Wells"]).contains("after the removal"));
    assert!(ok(c, &["wiki", "get", "Wells", "Plan"]).contains("north"));

    // Demoted, Cy's node refuses its wiki edits; the log says what happened.
    assert!(ok(a, &["community", "role", "Wells", "Cy", "member"]).contains("Cy is now a member of Wells"));
    sync_stick(a, stick);
    sync_stick(c, stick);
    let out = with_stdin(c, &["wiki", "put", "Wells", "Plan"], "south after all\n");
    assert!(!out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("a member may not"), "{out:?}");
    let log = ok(c, &["community", "log", "Wells"]);
    for line in ["Ana founded it", "Ana invited Bo as a member", "Ana removed Bo", "Ana made Cy (you) a member"] {
        assert!(log.contains(line), "{line:?} not in {log}");
    }
    let json: serde_json::Value = serde_json::from_str(&ok(c, &["community", "log", "Wells", "--json"])).unwrap();
    assert!(json.as_array().unwrap().iter().all(|e| e["outcome"] == "applied"), "{json}");

    // Cy leaves; Ana's next post is sealed for Ana alone, under a new key.
    assert!(ok(c, &["community", "leave", "Wells"]).contains("You left Wells"));
    sync_stick(c, stick);
    sync_stick(a, stick);
    ok(a, &["post", "Wells", "after Cy left"]);
    sync_stick(a, stick);
    sync_stick(c, stick);
    assert!(!ok(c, &["feed", "Wells"]).contains("after Cy left"));
    assert!(ok(a, &["community", "log", "Wells"]).contains("Cy left"));
    // The last owner cannot leave.
    let out = caravan(a, &["community", "leave", "Wells"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("last owner"), "{out:?}");
}

#[test]
fn each_circle_reaches_exactly_its_members_before_and_after_someone_leaves_it() {
    let (a, b, c, d) = (init("Ana"), init("Bo"), init("Cy"), init("Di"));
    let (a, b, c, d) = (a.path(), b.path(), c.path(), d.path());
    let stick = tempfile::tempdir().unwrap();
    let stick = stick.path();
    ok(a, &["contact", "add", &card(b), "--audience", "friends", "--audience", "family"]);
    ok(a, &["contact", "add", &card(c), "--audience", "friends"]);
    ok(a, &["contact", "add", &card(d), "--audience", "business"]);
    for n in [b, c, d] {
        ok(n, &["contact", "add", &card(a)]);
    }
    ok(a, &["profile", "set", "phone", "555-0101", "--audience", "friends"]);
    ok(a, &["profile", "set", "address", "12 Well Road", "--audience", "family"]);
    ok(a, &["profile", "set", "hours", "9 to 5", "--audience", "business"]);
    sync_stick(a, stick);
    let reads = |n: &Path| {
        sync_stick(n, stick);
        ok(n, &["profile", "show", "Ana"])
    };
    let (rb, rc, rd) = (reads(b), reads(c), reads(d));
    assert!(rb.contains("555-0101") && rb.contains("12 Well Road") && !rb.contains("9 to 5"), "{rb}");
    assert!(rc.contains("555-0101") && !rc.contains("12 Well Road") && !rc.contains("9 to 5"), "{rc}");
    assert!(rd.contains("9 to 5") && !rd.contains("555-0101") && !rd.contains("12 Well Road"), "{rd}");

    let said = ok(a, &["contact", "remove", "Cy", "--audience", "friends"]);
    assert!(said.contains("Took Cy out of friends") && said.contains("new key"), "{said}");
    let circles = ok(a, &["circle", "list"]);
    assert!(circles.contains("friends: Bo  (key epoch 1)"), "{circles}");
    assert!(circles.contains("family: Bo  (its first key)"), "{circles}");
    ok(a, &["profile", "set", "meeting", "Tuesday at the north well", "--audience", "friends"]);
    sync_stick(a, stick);
    let (rb, rc, rd) = (reads(b), reads(c), reads(d));
    assert!(rb.contains("Tuesday at the north well"), "{rb}");
    assert!(!rc.contains("Tuesday"), "a removed friend reads what came after: {rc}");
    assert!(rc.contains("555-0101"), "what came before stays readable: {rc}");
    assert!(!rd.contains("Tuesday"), "{rd}");
}

#[test]
fn a_quarantined_member_is_hidden_until_released_and_the_log_says_so() {
    let (a, b) = (init("Ana"), init("Spammy"));
    let (a, b) = (a.path(), b.path());
    let stick = tempfile::tempdir().unwrap();
    let stick = stick.path();
    ok(a, &["contact", "add", &card(b)]);
    ok(b, &["contact", "add", &card(a)]);
    ok(a, &["community", "create", "Wells"]);
    ok(a, &["community", "invite", "Wells", &card(b)]);
    sync_stick(a, stick);
    sync_stick(b, stick);
    ok(b, &["post", "Wells", "cheap pills"]);
    sync_stick(b, stick);
    sync_stick(a, stick);
    assert!(ok(a, &["feed", "Wells"]).contains("cheap pills"));
    assert!(ok(a, &["community", "quarantine", "Wells", "Spammy"]).contains("Quarantined Spammy in Wells"));
    assert!(!ok(a, &["feed", "Wells"]).contains("cheap pills"));
    assert!(ok(a, &["community", "members", "Wells"]).contains("Spammy  (member, quarantined)"));
    ok(b, &["post", "Wells", "more pills"]);
    sync_stick(b, stick);
    sync_stick(a, stick);
    assert!(!ok(a, &["feed", "Wells"]).contains("pills"));
    assert!(ok(a, &["community", "log", "Wells"]).contains("quarantined Spammy"));
    assert!(ok(a, &["community", "release", "Wells", "Spammy"]).contains("Lifted the quarantine"));
    let feed = ok(a, &["feed", "Wells"]);
    assert!(feed.contains("cheap pills") && feed.contains("more pills"), "{feed}");
}

#[test]
fn friends_of_friends_and_friends_of_members_reach_exactly_their_readers_over_a_stick() {
    let people: Vec<tempfile::TempDir> = ["Ana", "Bo", "Cy", "Di", "Mo", "Fe"].iter().map(|n| init(n)).collect();
    let [a, b, c, d, m, f] = [0, 1, 2, 3, 4, 5].map(|i| people[i].path());
    let stick = tempfile::tempdir().unwrap();
    let stick = stick.path();
    // Ana-Bo and Bo-Cy and Cy-Di are friends; Mo is in Ana's community, Fe is Mo's friend.
    for (x, y) in [(a, b), (b, c), (c, d), (m, f)] {
        ok(x, &["contact", "add", &card(y), "--audience", "friends"]);
        ok(y, &["contact", "add", &card(x), "--audience", "friends"]);
    }
    ok(a, &["contact", "add", &card(m)]);
    ok(m, &["contact", "add", &card(a)]);
    ok(a, &["community", "create", "Wells"]);
    ok(a, &["community", "invite", "Wells", &card(m)]);
    let everyone = [a, b, c, d, m, f];
    let round = || {
        for n in everyone {
            sync_stick(n, stick);
        }
    };
    round();
    round();
    ok(a, &["profile", "set", "party", "Saturday at the well", "--audience", "friends-of-friends"]);
    ok(m, &["post", "Wells", "--friends-of-members", "open day on Sunday"]);
    round();
    round();
    let ana = node_id(a);
    let wells = ok(a, &["community", "list", "--json"]);
    let wells: serde_json::Value = serde_json::from_str(&wells).unwrap();
    let wells = wells[0]["id"].as_str().unwrap().to_string();
    let mut fof = Vec::new();
    let mut fom = Vec::new();
    for (name, n) in [("Bo", b), ("Cy", c), ("Di", d), ("Mo", m), ("Fe", f)] {
        if ok(n, &["profile", "show", &ana]).contains("Saturday at the well") {
            fof.push(name);
        }
        let out = caravan(n, &["feed", &wells, "--friends-of-members"]);
        if String::from_utf8_lossy(&out.stdout).contains("open day on Sunday") {
            fom.push(name);
        }
    }
    assert_eq!(fof, ["Bo", "Cy"], "friends of friends: Ana's friend and its friend");
    // Ana (a member) counts Bo a friend, Mo (a member) counts Fe: both read; Cy and Di,
    // friends of friends, do not.
    assert_eq!(fom, ["Bo", "Mo", "Fe"], "friends of members: the members and their friends");
    assert!(ok(a, &["feed", "Wells", "--friends-of-members"]).contains("open day on Sunday"));
}

/// A member made editor edits the wiki; another member gets the edit on another stick,
/// from the new editor, with the promotion that stick carries: it reads the page.
#[test]
fn a_new_editor_s_first_edit_reaches_members_who_learn_of_the_promotion_with_it() {
    let (a, b, c) = (init("Ana"), init("Bo"), init("Cy"));
    let (a, b, c) = (a.path(), b.path(), c.path());
    let (s1, s2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    for (x, y) in [(a, b), (a, c), (b, a), (c, a)] {
        ok(x, &["contact", "add", &card(y)]);
    }
    ok(a, &["community", "create", "Wells"]);
    ok(a, &["community", "invite", "Wells", &card(b)]);
    ok(a, &["community", "invite", "Wells", &card(c)]);
    sync_stick(a, s1.path());
    sync_stick(b, s1.path());
    sync_stick(c, s1.path());
    ok(b, &["post", "Wells", "hello from Bo"]);
    sync_stick(b, s2.path());
    sync_stick(c, s2.path());
    assert!(ok(c, &["feed", "Wells"]).contains("hello from Bo"));

    assert!(ok(a, &["community", "role", "Wells", "Bo", "editor"]).contains("Bo is now an editor of Wells"));
    sync_stick(a, s1.path());
    sync_stick(b, s1.path());
    assert!(with_stdin(b, &["wiki", "put", "Wells", "Plan"], "the new well goes north\n").status.success());
    // Cy never sees Ana's stick again: Bo's stick brings the edit and the promotion.
    sync_stick(b, s2.path());
    let said = ok(c, &["sync", "--stick", s2.path().to_str().unwrap()]);
    assert!(ok(c, &["wiki", "get", "Wells", "Plan"]).contains("north"), "{said}");
    assert!(ok(c, &["community", "members", "Wells"]).contains("Bo  (editor)"));
}

/// A member made owner invites a newcomer: the promotion brings it an owner
/// certificate, so the newcomer accepts the invitation, and its first post reaches a
/// member who gets it on the newcomer's stick, with the operations that admit it.
#[test]
fn an_owner_made_by_the_log_invites_and_its_newcomer_is_read_everywhere() {
    let (a, b, c, d) = (init("Ana"), init("Bo"), init("Cy"), init("Dee"));
    let (a, b, c, d) = (a.path(), b.path(), c.path(), d.path());
    let (s1, s2, s3) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    for (x, y) in [(a, b), (a, c), (b, a), (c, a), (b, d), (d, b), (c, d), (d, c)] {
        ok(x, &["contact", "add", &card(y)]);
    }
    ok(a, &["community", "create", "Wells"]);
    ok(a, &["community", "invite", "Wells", &card(b)]);
    ok(a, &["community", "invite", "Wells", &card(c)]);
    for n in [a, b, c] {
        sync_stick(n, s1.path());
    }
    assert!(ok(a, &["community", "role", "Wells", "Bo", "owner"]).contains("Bo is now an owner of Wells"));
    sync_stick(a, s1.path());
    sync_stick(b, s1.path());
    ok(b, &["community", "invite", "Wells", &card(d)]);
    sync_stick(b, s2.path());
    sync_stick(d, s2.path());
    assert!(ok(d, &["community", "list"]).contains("Wells"));
    ok(d, &["post", "Wells", "hello from Dee"]);
    // Cy never sees Ana's or Bo's sticks again: Dee's brings everything.
    sync_stick(d, s3.path());
    sync_stick(c, s3.path());
    assert!(ok(c, &["feed", "Wells"]).contains("hello from Dee"));
    let members = ok(c, &["community", "members", "Wells"]);
    assert!(members.contains("Bo  (owner)") && members.contains("Dee"), "{members}");
}
