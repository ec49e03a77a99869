//! Helpers shared by the integration tests: nodes in temporary homes, deterministic
//! shuffles, and hand-sealed bundles for adversarial cases.
#![allow(dead_code)]

use caravan::crypto::{self, CONTEXT_BATCH_SIGNATURE};
use caravan::envelope::{self, Batch, ChangeEncoding, Genesis, Header, Kind};
use caravan::{Identity, Node};

pub struct TestNode {
    pub node: Node,
    pub home: tempfile::TempDir,
}

pub fn node(name: &str) -> TestNode {
    let home = tempfile::tempdir().unwrap();
    let node = Node::open(home.path(), name).unwrap();
    TestNode { node, home }
}

/// A small deterministic generator (xorshift), so failures replay from their seed.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    /// Shuffles and adds duplicates of about a third of the items.
    pub fn shuffle_with_duplicates(&mut self, items: &[Vec<u8>]) -> Vec<Vec<u8>> {
        let mut out: Vec<Vec<u8>> = items.to_vec();
        for item in items {
            if self.below(3) == 0 {
                out.push(item.clone());
            }
        }
        for i in (1..out.len()).rev() {
            let j = self.below(i + 1);
            out.swap(i, j);
        }
        out
    }
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64
}

/// Seals a batch by hand: `author` signs, `key` (if any) encrypts, `source` is the
/// bundle's source node endpoint; cloaked for `doc`'s readers (under the same key).
/// Lets tests build bundles the library would refuse to.
#[allow(clippy::too_many_arguments)]
pub fn forge_batch(
    author: &Identity,
    source: &str,
    doc: &str,
    destination: &str,
    key: Option<([u8; 32], u32)>,
    genesis: Option<Genesis>,
    chain: Vec<caravan::envelope::Cert>,
    raw_changes: &[Vec<u8>],
) -> Vec<u8> {
    forge_batch_under(vec![], author, source, doc, destination, key, genesis, chain, raw_changes)
}

/// [`forge_batch`] with the authority heads its author claims to have written under.
#[allow(clippy::too_many_arguments)]
pub fn forge_batch_under(
    authority: Vec<[u8; 32]>,
    author: &Identity,
    source: &str,
    doc: &str,
    destination: &str,
    key: Option<([u8; 32], u32)>,
    genesis: Option<Genesis>,
    chain: Vec<caravan::envelope::Cert>,
    raw_changes: &[Vec<u8>],
) -> Vec<u8> {
    let inner = forge_inner_under(authority, author, source, doc, destination, key, genesis, chain, raw_changes);
    cloak_for(&inner, doc, key.as_ref().map(|(k, e)| (k, *e)))
}

/// [`forge_batch`]'s inner bundle, not cloaked.
#[allow(clippy::too_many_arguments)]
pub fn forge_inner(
    author: &Identity,
    source: &str,
    doc: &str,
    destination: &str,
    key: Option<([u8; 32], u32)>,
    genesis: Option<Genesis>,
    chain: Vec<caravan::envelope::Cert>,
    raw_changes: &[Vec<u8>],
) -> Vec<u8> {
    forge_inner_under(vec![], author, source, doc, destination, key, genesis, chain, raw_changes)
}

/// [`forge_inner`] with the authority heads its author claims.
#[allow(clippy::too_many_arguments)]
pub fn forge_inner_under(
    authority: Vec<[u8; 32]>,
    author: &Identity,
    source: &str,
    doc: &str,
    destination: &str,
    key: Option<([u8; 32], u32)>,
    genesis: Option<Genesis>,
    chain: Vec<caravan::envelope::Cert>,
    raw_changes: &[Vec<u8>],
) -> Vec<u8> {
    let refs: Vec<&[u8]> = raw_changes.iter().map(Vec::as_slice).collect();
    let batch = Batch {
        authority,
        author: author.signing_public(),
        genesis,
        chain,
        encoding: ChangeEncoding::Raw,
        changes: envelope::encode_raw_changes(&refs),
    };
    // Each forged bundle gets its own custody sequence number, far from any real node's.
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1_000_000);
    let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    // The header names the node the bundle claims to come from (its source endpoint),
    // whoever signs it.
    let claimed = source
        .strip_prefix("dtn://")
        .and_then(|r| r.split('/').next())
        .and_then(caravan::NodeId::parse)
        .unwrap_or_else(|| author.node_id());
    let header = Header {
        kind: Kind::Batch,
        author: claimed,
        seq,
        doc: doc.to_string(),
        epoch: key.map_or(0, |k| k.1),
        heads: vec![],
        encrypted: key.is_some(),
    };
    let hb = header.encode();
    let inner = batch.encode();
    let sig = author.sign(CONTEXT_BATCH_SIGNATURE, &[&hb, &inner]);
    let signed = envelope::encode_signed(&inner, &sig);
    let body = match key {
        Some((k, _)) => crypto::seal(&k, &hb, &signed),
        None => signed,
    };
    caravan::bundle::build(
        source,
        destination,
        now_ms(),
        seq,
        std::time::Duration::from_secs(3600),
        &envelope::encode_envelope(&hb, &body),
    )
    .unwrap()
}

/// `inner` cloaked as its author would for document `doc` (under `key` and its epoch,
/// or its owner's public route), so the nodes that read `doc` open it.
pub fn cloak_for(inner: &[u8], doc: &str, key: Option<(&[u8; 32], u32)>) -> Vec<u8> {
    let route = match caravan::doc::DocId::parse(doc) {
        Some(d) => caravan::cloak::route_for(&d, key),
        None => caravan::cloak::Route::public(doc),
    };
    let release = caravan::crypto::random_32();
    caravan::cloak::cloak(
        inner,
        caravan::cloak::To::Group(route),
        now_ms(),
        std::time::Duration::from_secs(3600),
        &release,
    )
    .unwrap()
    .bytes
}

/// Raw Automerge changes made by `actor` (an Ed25519 public key) on a fresh document.
pub fn changes_by(actor: &[u8; 32], key: &str, value: &str) -> Vec<Vec<u8>> {
    use automerge::transaction::Transactable;
    let mut d = automerge::AutoCommit::new().with_actor(automerge::ActorId::from(actor.to_vec()));
    d.put(automerge::ROOT, key, value).unwrap();
    d.commit();
    d.get_changes(&[]).iter().map(|c| c.raw_bytes().to_vec()).collect()
}

/// Raw Automerge changes made by `actor` putting `value` (bytes) at `key` of a fresh
/// document.
pub fn bytes_change_by(actor: &[u8; 32], key: &str, value: &[u8]) -> Vec<Vec<u8>> {
    use automerge::transaction::Transactable;
    let mut d = automerge::AutoCommit::new().with_actor(automerge::ActorId::from(actor.to_vec()));
    d.put(automerge::ROOT, key, value.to_vec()).unwrap();
    d.commit();
    d.get_changes(&[]).iter().map(|c| c.raw_bytes().to_vec()).collect()
}

/// The identity of a test node, read from its home (for forging what only it can sign).
pub fn identity_of(home: &std::path::Path) -> Identity {
    let secret: [u8; 64] = std::fs::read(home.join("identity.key")).unwrap().try_into().unwrap();
    Identity::from_secret_bytes(&secret)
}

/// Hash of a file's bytes (to show a store file did not change).
pub fn file_digest(path: &std::path::Path) -> blake3::Hash {
    blake3::hash(&std::fs::read(path).unwrap())
}

/// Runs the `caravan` binary with `--home`.
pub fn caravan(home: &std::path::Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_caravan")).arg("--home").arg(home).args(args).output().unwrap()
}

/// Runs the binary, insists on success, returns stdout.
pub fn ok(home: &std::path::Path, args: &[&str]) -> String {
    let out = caravan(home, args);
    assert!(out.status.success(), "caravan {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// `caravan sync --stick DIR --json`, parsed.
pub fn sync_json(home: &std::path::Path, stick: &std::path::Path) -> serde_json::Value {
    serde_json::from_str(ok(home, &["sync", "--stick", stick.to_str().unwrap(), "--json"]).trim()).unwrap()
}

/// The golden corpus's bundles, in file-name order.
pub fn corpus_bundles() -> Vec<Vec<u8>> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("bundles");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "bundle"))
        .collect();
    paths.sort();
    paths.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

/// A heads announcement for `doc`, signed by `author`, whose header carries an unknown
/// field of `pad` bytes: another spelling of a signed structure.
pub fn forge_padded_announcement(author: &Identity, doc: &str, destination: &str, pad: usize) -> Vec<u8> {
    #[derive(serde::Serialize)]
    struct PaddedHeader<'a> {
        k: u8,
        a: serde_bytes::ByteBuf,
        q: u64,
        d: &'a str,
        e: u32,
        s: Vec<serde_bytes::ByteBuf>,
        x: bool,
        z: serde_bytes::ByteBuf,
    }
    let hb = serde_cbor::to_vec(&PaddedHeader {
        k: 0,
        a: serde_bytes::ByteBuf::from(author.node_id().0.to_vec()),
        q: 1,
        d: doc,
        e: 0,
        s: vec![],
        x: false,
        z: serde_bytes::ByteBuf::from(vec![0u8; pad]),
    })
    .unwrap();
    let batch = Batch {
        authority: vec![],
        author: author.signing_public(),
        genesis: None,
        chain: vec![],
        encoding: ChangeEncoding::Raw,
        changes: vec![0x80],
    };
    let inner = batch.encode();
    let sig = author.sign(CONTEXT_BATCH_SIGNATURE, &[&hb, &inner]);
    let body = envelope::encode_signed(&inner, &sig);
    let inner = caravan::bundle::build(
        &author.node_id().endpoint(),
        destination,
        now_ms(),
        1,
        std::time::Duration::from_secs(3600),
        &envelope::encode_envelope(&hb, &body),
    )
    .unwrap();
    cloak_for(&inner, doc, None)
}

/// An Automerge compressed change chunk (chunk type 2) whose DEFLATE body inflates to
/// `inflated` bytes: what Automerge would expand without a bound.
pub fn compressed_change_bomb(actor: &[u8; 32], inflated: usize) -> Vec<u8> {
    use std::io::Write;
    let _ = actor;
    let mut z = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..inflated.div_ceil(zeros.len()) {
        z.write_all(&zeros).unwrap();
    }
    let body = z.finish().unwrap();
    let mut chunk = vec![0x85, 0x6f, 0x4a, 0x83, 0, 0, 0, 0, 2];
    let mut len = body.len() as u64;
    loop {
        let byte = (len & 0x7f) as u8;
        len >>= 7;
        if len == 0 {
            chunk.push(byte);
            break;
        }
        chunk.push(byte | 0x80);
    }
    chunk.extend_from_slice(&body);
    chunk
}

/// A free local port (UDP and TCP are both free on loopback in practice).
pub fn free_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A `caravan daemon` process, stopped with SIGTERM when dropped; its stderr goes to
/// `daemon.log` in its home.
pub struct Daemon(pub std::process::Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill").arg("-TERM").arg(self.0.id().to_string()).status();
        let _ = self.0.wait();
    }
}

/// Starts `caravan daemon` for `home`; returns once its control socket answers.
pub fn daemon(home: &std::path::Path) -> Daemon {
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_caravan"))
        .arg("--home")
        .arg(home)
        .arg("daemon")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(home.join("daemon.log")).unwrap())
        .spawn()
        .unwrap();
    let until = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::os::unix::net::UnixStream::connect(home.join("control.sock")).is_err() {
        assert!(std::time::Instant::now() < until, "the daemon for {} did not start", home.display());
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    Daemon(child)
}

/// Runs the binary with `--home` and `args`, `input` on its stdin.
pub fn with_stdin(home: &std::path::Path, args: &[&str], input: &str) -> std::process::Output {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_caravan"))
        .arg("--home")
        .arg(home)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

/// A new home initialised through the binary with display name `name`.
#[allow(dead_code)]
pub fn init(name: &str) -> tempfile::TempDir {
    let home = tempfile::tempdir().unwrap();
    ok(home.path(), &["init", "--name", name]);
    home
}

/// The node's contact card, as `caravan id` prints it.
#[allow(dead_code)]
pub fn card(home: &std::path::Path) -> String {
    ok(home, &["id"]).trim().to_string()
}

/// `caravan sync --stick` through the binary.
#[allow(dead_code)]
pub fn sync_stick(home: &std::path::Path, stick: &std::path::Path) {
    ok(home, &["sync", "--stick", stick.to_str().unwrap()]);
}

/// The node's id, as `caravan status --json` says it.
#[allow(dead_code)]
pub fn node_id(home: &std::path::Path) -> String {
    let status: serde_json::Value = serde_json::from_str(&ok(home, &["status", "--json"])).unwrap();
    status["node"].as_str().map(str::to_string).unwrap_or_else(|| panic!("no node id in {status}"))
}
