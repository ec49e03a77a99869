//! QUIC on loopback, real sockets and real stores (redb in directories on the local disk,
//! durable commits):
//!
//! 1. Bulk transfer: `link::quic::exchange` between a node holding the bundles and an
//!    empty one, from connect until both exchanges are done (the receiver has committed
//!    everything), next to raw quinn throughput of the same bytes in the same run (one
//!    unidirectional stream, `write_all` of the same byte vectors, read to the end), same
//!    TLS setup, same runtime. Sets: 10,000 bundles of 1 KiB and 16 of 16 MiB. Goal:
//!    Caravan >= 70% of raw.
//! 2. Daemon memory, real processes (`target/release/caravan`, built if missing): idle
//!    RSS of `caravan daemon` (goal <= 30 MiB), and the peak RSS (VmHWM) of two daemons
//!    moving 1 GiB (64 bundles of 16 MiB) from one to the other (goal <= 100 MiB).
//!
//! `cargo bench --bench quic -- [transfer|small|large|rss]` runs everything, or a part.
//!
//! Who sends: neither end reads the bundles (this measures the link, not the CRDT). The
//! bundles are of a community's feed, encrypted under an epoch whose key nobody holds.
//! The sender founded that community and lists the receiver on its roster, so the
//! receiver is entitled to them. (A relay holding no keys would send an empty stranger
//! none of what it carries: over a live link carried bundles go only toward their
//! destinations, `spec/sync.md`; the first line printed checks this.) The receiver is not
//! a member yet: it stores them as a relay does, within its relay quota.

#![allow(missing_docs)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use caravan::link::quic;
use caravan::{CommunityId, Identity, Node, Role};

/// Epoch of the bundles' encryption key: nobody holds it.
const EPOCH_NOBODY_HOLDS: u32 = 7;

/// Feed bundles under a key nobody holds, cloaked for the community's current key (so the
/// sender, its founder, sees whose they are and passes them to the members).
fn bundles(cid: CommunityId, route: ([u8; 32], u32), count: usize, size: usize) -> Vec<Vec<u8>> {
    common::feed_bundles_cloaked(cid, EPOCH_NOBODY_HOLDS, count, size, Some(route))
}

fn tmpdir() -> tempfile::TempDir {
    tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap()
}

/// A sender (founder of a community, receiver on its roster) and the receiver's identity
/// file, kept in a template home that each round copies into a fresh one.
struct Pair {
    sender: Option<Node>,
    sender_home: tempfile::TempDir,
    cid: CommunityId,
    receiver_template: tempfile::TempDir,
}

impl Pair {
    fn new() -> Pair {
        let (sender_home, receiver_template) = (tmpdir(), tmpdir());
        let mut sender = Node::open(sender_home.path(), "Hub").unwrap();
        // The hub carries every load of the run (more than the default quota).
        sender.set_relay_quota(16 << 30).unwrap();
        let receiver = Node::open(receiver_template.path(), "Village").unwrap();
        let cid = sender.create_community("Bench", "").unwrap();
        sender.invite(&cid, &receiver.card(), Role::Member).unwrap();
        Pair { sender: Some(sender), sender_home, cid, receiver_template }
    }

    /// Imports `count` bundles of `size` bytes into the sender, a few at a time; returns
    /// their total size, their digests, and (if `keep`) their bytes.
    fn load(&mut self, count: usize, size: usize, keep: bool) -> (u64, Vec<[u8; 32]>, Vec<Vec<u8>>) {
        let per = (64 << 20) / size.max(1);
        let (mut total, mut digests, mut kept) = (0u64, Vec::new(), Vec::new());
        let sender = self.sender.as_mut().unwrap();
        let mut left = count;
        while left > 0 {
            let n = left.min(per.clamp(1, 4096));
            let route = sender.community_key(&self.cid).unwrap();
            let set = bundles(self.cid, route, n, size);
            let r = sender.import_many(set.iter().map(Vec::as_slice)).unwrap();
            assert_eq!(
                r.waiting(),
                n,
                "{:?}",
                r.outcomes.iter().filter(|o| !matches!(o, caravan::Outcome::Waiting(_))).collect::<Vec<_>>()
            );
            total += set.iter().map(|b| b.len() as u64).sum::<u64>();
            digests.extend(set.iter().map(|b| caravan::bundle_digest(b)));
            if keep {
                kept.extend(set);
            }
            left -= n;
        }
        (total, digests, kept)
    }

    fn fresh_receiver(&self) -> (Node, tempfile::TempDir) {
        let home = tmpdir();
        std::fs::copy(self.receiver_template.path().join("identity.key"), home.path().join("identity.key")).unwrap();
        let mut node = Node::open(home.path(), "Village").unwrap();
        node.set_relay_quota(16 << 30).unwrap();
        (node, home)
    }

    fn identities(&self) -> (Identity, Identity) {
        (
            Identity::load_or_create(&self.sender_home.path().join("identity.key")).unwrap(),
            Identity::load_or_create(&self.receiver_template.path().join("identity.key")).unwrap(),
        )
    }
}

fn endpoints(server_id: &Identity, client_id: &Identity) -> (quinn::Endpoint, quinn::Endpoint) {
    let server =
        quinn::Endpoint::server(quic::server_config(server_id).unwrap(), "127.0.0.1:0".parse().unwrap()).unwrap();
    let mut client = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    client.set_default_client_config(quic::client_config(client_id, &server_id.signing_public()).unwrap());
    (server, client)
}

/// One Caravan exchange, the sender listening, a fresh receiver (new home, same identity)
/// dialling; the time from connect until both exchanges are done.
fn caravan_round(rt: &tokio::runtime::Runtime, pair: &mut Pair, count: usize) -> Duration {
    let (sender_id, receiver_id) = pair.identities();
    let (mut receiver, _home) = pair.fresh_receiver();
    let mut sender = pair.sender.take().unwrap();
    let (t, sender) = rt.block_on(async {
        let (server, client) = endpoints(&sender_id, &receiver_id);
        let addr = server.local_addr().unwrap();
        let start = Instant::now();
        let hub = tokio::spawn(async move {
            let conn = server.accept().await.unwrap().await.unwrap();
            let x = quic::exchange(&mut sender, &conn).await.unwrap();
            (sender, x, conn, server)
        });
        let village = tokio::spawn(async move {
            let conn = client.connect(addr, "caravan").unwrap().await.unwrap();
            let x = quic::exchange(&mut receiver, &conn).await.unwrap();
            (receiver, x, conn, client)
        });
        let (hub, village) = (hub.await.unwrap(), village.await.unwrap());
        let t = start.elapsed();
        assert!(hub.1.sent >= count, "sent {:?}", hub.1);
        assert!(village.1.received.waiting() >= count, "{:?}", village.1.received.rejected());
        village.2.close(0u32.into(), b"done");
        hub.3.wait_idle().await;
        (t, hub.0)
    });
    pair.sender = Some(sender);
    t
}

/// Raw quinn: the same bytes on one unidirectional stream, same TLS setup.
fn raw_round(rt: &tokio::runtime::Runtime, pair: &Pair, set: &[Vec<u8>]) -> Duration {
    let (sender_id, receiver_id) = pair.identities();
    let total: usize = set.iter().map(Vec::len).sum();
    let set = std::sync::Arc::new(set.to_vec());
    rt.block_on(async {
        let (server, client) = endpoints(&sender_id, &receiver_id);
        let addr = server.local_addr().unwrap();
        let start = Instant::now();
        let hub = tokio::spawn(async move {
            let conn = server.accept().await.unwrap().await.unwrap();
            let mut send = conn.open_uni().await.unwrap();
            for b in set.iter() {
                send.write_all(b).await.unwrap();
            }
            send.finish().unwrap();
            let _ = send.stopped().await;
            (conn, server)
        });
        let village = tokio::spawn(async move {
            let conn = client.connect(addr, "caravan").unwrap().await.unwrap();
            let mut recv = conn.accept_uni().await.unwrap();
            let mut buf = vec![0u8; 1 << 20];
            let mut got = 0;
            while let Some(n) = recv.read(&mut buf).await.unwrap() {
                got += n;
            }
            (got, conn, client)
        });
        let (got, conn, _client) = village.await.unwrap();
        let t = start.elapsed();
        assert_eq!(got, total);
        conn.close(0u32.into(), b"done");
        let (_, server) = hub.await.unwrap();
        server.wait_idle().await;
        t
    })
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn transfer(rt: &tokio::runtime::Runtime, label: &str, count: usize, size: usize, rounds: usize) {
    let mut pair = Pair::new();
    let (total, _, set) = pair.load(count, size, true);
    let (mut ours, mut raws, mut floors, mut floors_one) = (vec![], vec![], vec![], vec![]);
    for _ in 0..rounds {
        raws.push(raw_round(rt, &pair, &set));
        ours.push(caravan_round(rt, &mut pair, count));
        let dir = tmpdir();
        floors.push(common::redb_store_only(dir.path(), &set, quic::LINK_BATCH_COUNT, quic::LINK_BATCH_BYTES));
        floors_one.push(common::redb_store_only(dir.path(), &set, usize::MAX, usize::MAX));
    }
    let (o, r, fl, fl1) = (median(ours.clone()), median(raws.clone()), median(floors), median(floors_one));
    let mbs = |d: Duration| total as f64 / d.as_secs_f64() / 1e6;
    println!("{label}: {count} bundles, {:.1} MB, median of {rounds} rounds", total as f64 / 1e6);
    println!(
        "  caravan exchange {:>8.3} s {:>8.1} MB/s {:>9.0} bundles/s   (rounds: {})",
        o.as_secs_f64(),
        mbs(o),
        count as f64 / o.as_secs_f64(),
        ours.iter().map(|d| format!("{:.3}", d.as_secs_f64())).collect::<Vec<_>>().join(" ")
    );
    println!(
        "  raw quinn stream {:>8.3} s {:>8.1} MB/s                       (rounds: {})",
        r.as_secs_f64(),
        mbs(r),
        raws.iter().map(|d| format!("{:.3}", d.as_secs_f64())).collect::<Vec<_>>().join(" ")
    );
    println!("  caravan / raw: {:.0}% (goal >= 70%)", r.as_secs_f64() / o.as_secs_f64() * 100.0);
    println!(
        "  redb store alone {:>8.3} s {:>8.1} MB/s (same bundles and commits, no checks, no network); caravan / store alone {:.0}%",
        fl.as_secs_f64(),
        mbs(fl),
        fl.as_secs_f64() / o.as_secs_f64() * 100.0
    );
    println!(
        "  redb store alone, one commit {:>8.3} s {:>8.1} MB/s: ceiling for any receiver that stores durably in redb, overlapping perfectly: {:.0}% of raw",
        fl1.as_secs_f64(),
        mbs(fl1),
        r.as_secs_f64() / r.max(fl.min(fl1)).as_secs_f64() * 100.0
    );
}

/// What a keyless relay sends an empty stranger over QUIC of what it carries (none: the
/// stranger is no destination of it).
fn relay_check(rt: &tokio::runtime::Runtime) {
    let (rh, sh) = (tmpdir(), tmpdir());
    let mut relay = Node::open(rh.path(), "relay").unwrap();
    let stranger = Node::open(sh.path(), "stranger").unwrap();
    drop(stranger);
    let set = common::feed_bundles(CommunityId([9; 20]), 0, 10, 1024);
    assert_eq!(relay.import_many(set.iter().map(Vec::as_slice)).unwrap().waiting(), 10);
    let relay_id = Identity::load_or_create(&rh.path().join("identity.key")).unwrap();
    let stranger_id = Identity::load_or_create(&sh.path().join("identity.key")).unwrap();
    let mut stranger = Node::open(sh.path(), "stranger").unwrap();
    let sent = rt.block_on(async {
        let (server, client) = endpoints(&relay_id, &stranger_id);
        let addr = server.local_addr().unwrap();
        let hub = tokio::spawn(async move {
            let conn = server.accept().await.unwrap().await.unwrap();
            quic::exchange(&mut relay, &conn).await.unwrap().sent
        });
        let conn = client.connect(addr, "caravan").unwrap().await.unwrap();
        quic::exchange(&mut stranger, &conn).await.unwrap();
        hub.await.unwrap()
    });
    println!("a keyless relay carrying 10 bundles sends an empty stranger {sent} of them over QUIC");
}

// ----- daemon processes ---------------------------------------------------------------

fn target_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).parent().unwrap().to_path_buf()
}

fn binary() -> PathBuf {
    let exe = target_dir().join("release").join("caravan");
    if !exe.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "--release", "--bin", "caravan", "--manifest-path"])
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"))
            .status()
            .expect("cargo build");
        assert!(status.success(), "cargo build --release --bin caravan failed");
    }
    exe
}

fn free_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// VmRSS and VmHWM of a process, in bytes.
fn rss(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .map(|kib| kib * 1024)
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

struct Daemon {
    child: Child,
    log: PathBuf,
}

impl Daemon {
    /// Starts `caravan daemon` for `home`, its stderr (the log) to `home/daemon.log`.
    fn start(exe: &Path, home: &Path) -> Daemon {
        let log = home.join("daemon.log");
        let child = Command::new(exe)
            .arg("--home")
            .arg(home)
            .arg("daemon")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Daemon { child, log }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, then what it logged.
    fn stop(mut self) -> String {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let _ = self.child.wait();
        self.log()
    }
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1 << 20) as f64
}

fn idle(exe: &Path) {
    let home = tmpdir();
    let out = Command::new(exe).arg("--home").arg(home.path()).args(["init", "--name", "Idle"]).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    std::fs::write(home.path().join("config.toml"), format!("listen = \"127.0.0.1:{}\"\n", free_port())).unwrap();
    let d = Daemon::start(exe, home.path());
    std::thread::sleep(Duration::from_secs(3));
    let (rss, hwm) = rss(d.pid()).expect("daemon running");
    let log = d.stop();
    println!("idle daemon after 3 s: VmRSS {:.1} MiB, VmHWM {:.1} MiB (goal RSS <= 30 MiB)", mib(rss), mib(hwm));
    assert!(log.contains("stopped"), "{log}");
}

/// Sender and receiver daemons moving `count` bundles of `size` bytes; peak RSS of both.
fn peak(exe: &Path, count: usize, size: usize) {
    let mut pair = Pair::new();
    let (total, digests, _) = pair.load(count, size, false);
    let sender_card = pair.sender.as_ref().unwrap().card().to_string();
    drop(pair.sender.take());
    let receiver_home = tmpdir();
    std::fs::copy(pair.receiver_template.path().join("identity.key"), receiver_home.path().join("identity.key"))
        .unwrap();
    drop(Node::open(receiver_home.path(), "Village").unwrap());
    let sender_port = free_port();
    std::fs::write(pair.sender_home.path().join("config.toml"), format!("listen = \"127.0.0.1:{sender_port}\"\n"))
        .unwrap();
    std::fs::write(
        receiver_home.path().join("config.toml"),
        format!(
            "listen = \"127.0.0.1:{}\"\nrelay_quota = \"16GiB\"\n\n[[peer]]\ncard = \"{sender_card}\"\naddress = \"127.0.0.1:{sender_port}\"\n",
            free_port()
        ),
    )
    .unwrap();
    let sender = Daemon::start(exe, pair.sender_home.path());
    std::thread::sleep(Duration::from_millis(500));
    let start = Instant::now();
    let receiver = Daemon::start(exe, receiver_home.path());
    // Done when the receiver logs its first successful exchange ("sync with ... (dialled):
    // sent ..."): it has committed everything it received. Checked below by opening its
    // store. (Not by the store's size: redb grows its file ahead of the data.)
    let mut peak_rss = (0, 0);
    let done_at = loop {
        std::thread::sleep(Duration::from_millis(100));
        if let (Some((s, _)), Some((r, _))) = (rss(sender.pid()), rss(receiver.pid())) {
            peak_rss = (peak_rss.0.max(s), peak_rss.1.max(r));
        }
        if receiver.log().lines().any(|l| l.contains("sync with") && l.contains("): sent")) {
            break start.elapsed();
        }
        assert!(start.elapsed() < Duration::from_secs(300), "no exchange after 300 s: {}", receiver.log());
    };
    let (_, hwm_s) = rss(sender.pid()).unwrap();
    let (_, hwm_r) = rss(receiver.pid()).unwrap();
    let (log_s, log_r) = (sender.stop(), receiver.stop());
    let check = Node::open(receiver_home.path(), "").unwrap();
    let held = check.holds_each(&digests).unwrap().into_iter().filter(|h| *h).count();
    assert_eq!(held, digests.len(), "the receiver holds {held} of {}: {log_s} / {log_r}", digests.len());
    drop(check);
    println!(
        "daemons moving {count} x {} MiB ({:.2} GiB), done {:.1} s after the receiver started ({})",
        size >> 20,
        total as f64 / (1u64 << 30) as f64,
        done_at.as_secs_f64(),
        log_r.lines().find(|l| l.contains("sync with")).unwrap_or("no sync logged").trim()
    );
    println!("  sender:   VmHWM {:>7.1} MiB (largest VmRSS sampled {:>7.1} MiB)", mib(hwm_s), mib(peak_rss.0));
    println!(
        "  receiver: VmHWM {:>7.1} MiB (largest VmRSS sampled {:>7.1} MiB)   goal <= 100 MiB",
        mib(hwm_r),
        mib(peak_rss.1)
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let part = |name: &str| args.is_empty() || args.iter().any(|a| a == name);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    if part("transfer") || part("small") || part("large") {
        relay_check(&rt);
    }
    if part("transfer") || part("small") {
        transfer(&rt, "10,000 x 1 KiB", 10_000, 1024, 5);
    }
    if part("transfer") || part("large") {
        transfer(&rt, "16 x 16 MiB", 16, 16 << 20, 3);
    }
    if part("rss") {
        let exe = binary();
        idle(&exe);
        peak(&exe, 64, 16 << 20);
    }
}
