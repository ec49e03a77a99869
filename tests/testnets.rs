//! Testnets of real processes: each test runs one script of `testnets/net/`, which starts
//! `caravan daemon` processes in network namespaces (veth links, a bridge for the LAN,
//! delay, loss and rate limits) and checks convergence through the command line. They
//! need root and `ip netns`; elsewhere each test says SKIPPED and passes. One at a time
//! (they time windows and cuts on a shared CPU); each line of their output is kept for a
//! failure's message. See testnets/README.md, "Real processes".

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The scripts time windows and link cuts: they run one after another.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// A script that runs longer than this is stopped (SIGTERM: it cleans up) and fails.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(240);

/// Written straight to stderr, past the test harness's capture: skips and timings show
/// in `cargo test`'s output.
fn loud(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// Why namespaces cannot be used here, if they cannot.
fn unusable() -> Option<String> {
    let uid = Command::new("id").arg("-u").output().ok()?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return Some("needs root for network namespaces".into());
    }
    let probe = format!("cvprobe-rs-{}", std::process::id());
    match Command::new("ip").args(["netns", "add", &probe]).stderr(Stdio::null()).status() {
        Ok(s) if s.success() => {
            let _ = Command::new("ip").args(["netns", "del", &probe]).status();
            None
        }
        Ok(_) => Some("`ip netns add` fails here".into()),
        Err(e) => Some(format!("no `ip` command ({e})")),
    }
}

fn run(script: &str) {
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(why) = unusable() {
        loud(&format!("SKIPPED: testnets/net/{script}: {why}"));
        return;
    }
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("testnets/net").join(script);
    let log = tempfile::NamedTempFile::new().unwrap();
    let start = Instant::now();
    let mut child = {
        use std::os::unix::process::CommandExt;
        Command::new("bash")
            .arg(&path)
            .env("CARAVAN", env!("CARGO_BIN_EXE_caravan"))
            .stdin(Stdio::null())
            .stdout(log.reopen().unwrap())
            .stderr(log.reopen().unwrap())
            .process_group(0)
            .spawn()
            .unwrap()
    };
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break Some(s);
        }
        if start.elapsed() > SCRIPT_TIMEOUT {
            // SIGTERM to its process group (the script, its daemons, a `sleep` it waits on)
            // lets the script remove its namespaces; SIGKILL after a grace period.
            let pid = child.id().to_string();
            let _ = Command::new("kill").args(["-TERM", "--", &format!("-{pid}")]).status();
            let grace = Instant::now();
            while grace.elapsed() < Duration::from_secs(30) && child.try_wait().unwrap().is_none() {
                std::thread::sleep(Duration::from_millis(200));
            }
            let _ = Command::new("kill").args(["-KILL", "--", &format!("-{pid}")]).status();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let output = std::fs::read_to_string(log.path()).unwrap_or_default();
    let secs = start.elapsed().as_secs_f64();
    match status.and_then(|s| s.code()) {
        Some(0) => loud(&format!("testnets/net/{script}: passed in {secs:.1} s")),
        Some(77) => match output.lines().find(|l| l.starts_with("SKIPPED")) {
            Some(line) => loud(line),
            None => loud(&format!("SKIPPED: testnets/net/{script}")),
        },
        Some(code) => panic!("testnets/net/{script} failed (exit {code}) after {secs:.1} s:\n{output}"),
        None => panic!("testnets/net/{script} was stopped after {secs:.1} s (timeout or signal):\n{output}"),
    }
}

/// A - B - C, B a pure relay on two separate links: A's and C's writings cross through
/// B, and their custody signals come back.
#[test]
fn chain_through_a_pure_relay() {
    run("chain.sh");
}

/// M1 - R1 - R2 - M2, R1 and R2 pure relays, each node reaching only its neighbours:
/// carrier copies travel relay to relay, so each village's page reaches the other and
/// custody is released when the signals come back.
#[test]
fn relay_chain_of_two_pure_relays() {
    run("relay_chain.sh");
}

/// A hub dials two villages only inside its daily window (a day is two minutes): none
/// before, both during, none after (kernel counters); the villages' posts cross.
#[test]
fn hub_dials_only_inside_its_daily_window() {
    run("hub.sh");
}

/// Five laptops on one switch, discovery only: invitations then posts spread to all five.
#[test]
fn lan_party_of_five_with_discovery_only() {
    run("lan.sh");
}

/// A slow link cut mid-transfer for longer than QUIC's idle timeout, then restored:
/// nothing lost, nothing re-sent after the receiver committed it.
#[test]
fn link_cut_mid_transfer_then_restored() {
    run("cut.sh");
}
