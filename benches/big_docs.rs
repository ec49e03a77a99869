//! A community with one 5 MB wiki page: what reading, listing, syncing and writing cost,
//! as whole `caravan` processes (wall time and peak resident memory), beside a process
//! that does nothing but open the node (`caravan id`) in the same run.
//!
//! `cargo bench --bench big_docs` prints a table; figures are in `benches/README.md`.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const PAGE_MB: usize = 5;

struct Run {
    wall: Duration,
    peak_mib: f64,
    stdout: Vec<u8>,
}

/// Runs `caravan --home HOME ARGS`, insisting on success; wall time and peak RSS (the
/// kernel's high-water mark, `VmHWM`, read every 2 ms while the process lives).
fn caravan(home: &Path, args: &[&str]) -> Run {
    let start = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_caravan"))
        .arg("--home")
        .arg(home)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("caravan runs");
    let status_file = format!("/proc/{}/status", child.id());
    let (mut out, mut err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let reader = std::thread::spawn(move || {
        use std::io::Read;
        let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
        out.read_to_end(&mut stdout).unwrap();
        err.read_to_end(&mut stderr).unwrap();
        (stdout, stderr)
    });
    let mut peak_kib = 0u64;
    let status = loop {
        if let Ok(s) = std::fs::read_to_string(&status_file)
            && let Some(kib) = s.lines().find_map(|l| l.strip_prefix("VmHWM:"))
        {
            peak_kib = peak_kib.max(kib.trim().trim_end_matches(" kB").trim().parse().unwrap_or(0));
        }
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let wall = start.elapsed();
    let (stdout, stderr) = reader.join().unwrap();
    assert!(status.success(), "caravan {args:?} failed: {}", String::from_utf8_lossy(&stderr));
    Run { wall, peak_mib: peak_kib as f64 / 1024.0, stdout }
}

/// Deterministic text that reads like a village log and does not compress to nothing.
fn page_text(bytes: usize) -> String {
    const WORDS: [&str; 24] = [
        "well", "pump", "north", "village", "water", "May", "fixed", "the", "by", "on", "river", "seed", "market",
        "school", "road", "bridge", "harvest", "goats", "rain", "dry", "council", "repair", "spring", "stones",
    ];
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut out = String::with_capacity(bytes + 100);
    let mut line = 0u64;
    while out.len() < bytes {
        line += 1;
        out.push_str(&format!("{line}. "));
        for _ in 0..(8 + x % 9) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            out.push_str(WORDS[(x % WORDS.len() as u64) as usize]);
            out.push(' ');
        }
        out.push_str(&format!("({:x})\n", x >> 40));
    }
    out
}

fn main() {
    // Criterion-style arguments (`--bench`) are accepted and ignored.
    let dir = tempfile::tempdir().unwrap();
    let (a, b, stick) = (dir.path().join("a"), dir.path().join("b"), dir.path().join("stick"));
    std::fs::create_dir(&stick).unwrap();
    let s = stick.to_str().unwrap();
    caravan(&a, &["init", "--name", "Asha"]);
    caravan(&b, &["init", "--name", "Bako"]);
    let card = |h: &Path| String::from_utf8(caravan(h, &["id"]).stdout).unwrap().trim().to_string();
    let (a_card, b_card) = (card(&a), card(&b));
    caravan(&a, &["contact", "add", &b_card]);
    caravan(&b, &["contact", "add", &a_card]);
    let created = caravan(&a, &["community", "create", "Wells"]);
    let cid = String::from_utf8(created.stdout).unwrap().lines().last().unwrap().trim().to_string();
    caravan(&a, &["community", "invite", &cid, &b_card]);
    caravan(&a, &["wiki", "put", &cid, "Small page", "--file", write(dir.path(), "small", "The pump works.\n")]);
    let text = page_text(PAGE_MB * 1_000_000);
    let big_file = write(dir.path(), "big", &text);

    let baseline = caravan(&a, &["id"]);
    let put = caravan(&a, &["wiki", "put", &cid, "Big page", "--file", big_file]);
    let first_sync_a = caravan(&a, &["sync", "--stick", s]);
    let first_sync_b = caravan(&b, &["sync", "--stick", s]);
    // Settle: answers back to A, A's notices to B.
    for _ in 0..2 {
        caravan(&a, &["sync", "--stick", s]);
        caravan(&b, &["sync", "--stick", s]);
    }
    let quiet_a = caravan(&a, &["sync", "--stick", s]);
    let quiet_b = caravan(&b, &["sync", "--stick", s]);
    let get_small = caravan(&b, &["wiki", "get", &cid, "Small page"]);
    assert_eq!(get_small.stdout, b"The pump works.\n");
    let list = caravan(&b, &["wiki", "list", &cid]);
    assert!(String::from_utf8_lossy(&list.stdout).contains("Big page"));
    let get_big = caravan(&b, &["wiki", "get", &cid, "Big page"]);
    assert!(get_big.stdout == text.as_bytes(), "the big page came back different");
    // One line changed in the middle of the big page.
    let mid = text[text.len() / 2..].find('\n').unwrap() + text.len() / 2 + 1;
    let edited = format!("{}An edit in the middle.\n{}", &text[..mid], &text[mid..]);
    let edit_file = write(dir.path(), "edited", &edited);
    let edit = caravan(&a, &["wiki", "put", &cid, "Big page", "--file", edit_file]);
    let edit_sync = caravan(&a, &["sync", "--stick", s]);

    let mb = text.len() as f64 / 1e6;
    let row = |what: &str, r: &Run, goal_s: Option<f64>, goal_mib: Option<f64>| {
        let goal = match (goal_s, goal_mib) {
            (None, None) => String::new(),
            (s, m) => {
                let met = s.is_none_or(|s| r.wall.as_secs_f64() < s) && m.is_none_or(|m| r.peak_mib < m);
                let mut parts = Vec::new();
                if let Some(s) = s {
                    parts.push(format!("< {s} s"));
                }
                if let Some(m) = m {
                    parts.push(format!("< {m} MiB"));
                }
                format!("{}: {}", parts.join(", "), if met { "met" } else { "**not met**" })
            }
        };
        println!(
            "| {what} | {:.2} s | {:.0} MiB | {:.1}x | {goal} |",
            r.wall.as_secs_f64(),
            r.peak_mib,
            r.peak_mib / baseline.peak_mib,
        );
    };
    println!("\nA community with one {mb:.1} MB wiki page (whole `caravan` processes, release build)\n");
    println!("| command | wall | peak memory | memory / `caravan id` | goal |");
    println!("|---|---|---|---|---|");
    println!(
        "| `caravan id` (opens the node, nothing else) | {:.2} s | {:.0} MiB | 1.0x | |",
        baseline.wall.as_secs_f64(),
        baseline.peak_mib
    );
    row("`wiki get` of another page", &get_small, Some(1.0), Some(200.0));
    row("`wiki list`", &list, Some(1.0), Some(200.0));
    row("sync with nothing new (owner)", &quiet_a, Some(1.0), Some(200.0));
    row("sync with nothing new (member)", &quiet_b, Some(1.0), Some(200.0));
    row("`wiki put` of the big page", &put, None, Some(300.0));
    row("`wiki get` of the big page", &get_big, None, Some(300.0));
    row("first sync, owner (seals the page, writes it to the stick)", &first_sync_a, None, None);
    row("first sync, member (takes the page in)", &first_sync_b, None, None);
    row("`wiki put` of a one-line edit of the big page (owner)", &edit, None, Some(300.0));
    row("its sync (seals the edit)", &edit_sync, None, None);
    println!(
        "\nMemory per MB of page text (above `caravan id`): put {:.1} MiB/MB, get {:.1} MiB/MB, member's first sync {:.1} MiB/MB",
        (put.peak_mib - baseline.peak_mib) / mb,
        (get_big.peak_mib - baseline.peak_mib) / mb,
        (first_sync_b.peak_mib - baseline.peak_mib) / mb
    );
}

fn write<'a>(dir: &Path, name: &str, text: &str) -> &'a str {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    Box::leak(p.to_string_lossy().into_owned().into_boxed_str())
}
