//! The local dashboard in a real headless Chromium: the page loads, shows a community's
//! wiki page text (escaped) and a peer that just synced; a POST without the token, or
//! with another site's Host, is refused; with the token it posts to the feed.
//!
//! Needs Chromium (`.ci/run` installs Debian's `chromium`): without it the test says
//! loudly that it skipped, except under `CI`, where it fails.

mod common;

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{caravan, daemon, free_port, ok};

fn chromium() -> Option<String> {
    ["chromium", "chromium-browser", "google-chrome"].into_iter().find_map(|c| {
        let found = Command::new("sh").arg("-c").arg(format!("command -v {c}")).output().ok()?;
        found.status.success().then(|| String::from_utf8_lossy(&found.stdout).trim().to_string())
    })
}

/// `chromium --headless` on `url` with `extra` arguments; returns its stdout.
fn headless(browser: &str, profile: &std::path::Path, url: &str, extra: &[&str]) -> String {
    let out = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--virtual-time-budget=3000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(url)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "chromium failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// One raw HTTP/1.1 request; returns the status code and the body.
fn http(port: u16, host: &str, method: &str, path: &str, form: &str) -> (u16, String) {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{form}",
        form.len()
    )
    .unwrap();
    let mut response = String::new();
    let _ = s.read_to_string(&mut response);
    let code = response.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (code, response)
}

#[test]
fn the_dashboard_shows_pages_and_peers_in_chromium_and_refuses_posts_without_the_token() {
    let Some(browser) = chromium() else {
        assert!(std::env::var_os("CI").is_none(), "CI must install chromium (.ci/run does)");
        eprintln!(
            "\n*** SKIPPING the dashboard test: no chromium here (apt-get install chromium, or run .ci/run) ***\n"
        );
        return;
    };
    let (hub, village) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (h, v) = (hub.path(), village.path());
    ok(h, &["init", "--name", "Lake Hub"]);
    ok(v, &["init", "--name", "Mbita"]);
    let (card_h, card_v) = (ok(h, &["id"]).trim().to_string(), ok(v, &["id"]).trim().to_string());
    ok(h, &["contact", "add", &card_v]);
    ok(v, &["contact", "add", &card_h]);
    let (port_h, port_v, port_web) = (free_port(), free_port(), free_port());
    std::fs::write(
        h.join("config.toml"),
        format!(
            "listen = \"127.0.0.1:{port_h}\"\ndashboard = \"127.0.0.1:{port_web}\"\n[[peer]]\ncard = \"{card_v}\"\naddress = \"127.0.0.1:{port_v}\"\n"
        ),
    )
    .unwrap();
    std::fs::write(v.join("config.toml"), format!("listen = \"127.0.0.1:{port_v}\"\n")).unwrap();
    let _hub = daemon(h);
    let _village = daemon(v);
    assert!(
        std::fs::read_to_string(h.join("daemon.log"))
            .unwrap()
            .contains(&format!("dashboard on http://127.0.0.1:{port_web}/"))
    );

    ok(h, &["community", "create", "Lake Villages"]);
    ok(h, &["community", "invite", "Lake Villages", &card_v, "--role", "editor"]);
    let page = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(page.path(), "North well: <b>pump</b> works & \"fixed\".\n").unwrap();
    ok(h, &["wiki", "put", "Lake Villages", "Water", "--file", page.path().to_str().unwrap()]);
    // The village takes it live: a peer that just synced.
    let start = Instant::now();
    while caravan(v, &["wiki", "get", "Lake Villages", "Water"]).stdout.is_empty() {
        assert!(start.elapsed() < Duration::from_secs(30), "the village did not sync");
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_secs(3)); // the daemon's report refreshes every 2 s

    let profile = tempfile::tempdir().unwrap();
    let url = format!("http://127.0.0.1:{port_web}/");
    let dom = headless(&browser, profile.path(), &url, &["--dump-dom"]);
    assert!(dom.contains("<h1 id=\"name\">Lake Hub</h1>"), "{dom}");
    assert!(dom.contains("Lake Villages"), "{dom}");
    assert!(dom.contains(">Water</a>"), "{dom}");
    assert!(dom.contains("<span class=\"sync-peer\">Mbita</span>"), "the peer that just synced: {dom}");
    assert!(dom.contains("<svg"), "the contact card's QR code: {dom}");
    // The page's text, escaped: its markup is text, not elements.
    let cid = ok(h, &["community", "list", "--json"]);
    let cid: serde_json::Value = serde_json::from_str(&cid).unwrap();
    let cid = cid[0]["id"].as_str().unwrap().to_string();
    let page_dom = headless(&browser, profile.path(), &format!("{url}page?c={cid}&p=Water"), &["--dump-dom"]);
    assert!(page_dom.contains("North well: &lt;b&gt;pump&lt;/b&gt; works &amp; \"fixed\"."), "{page_dom}");
    assert!(!page_dom.contains("<b>pump</b>"), "{page_dom}");
    // It renders: a screenshot of the page is a real image.
    let shot = profile.path().join("dashboard.png");
    headless(&browser, profile.path(), &url, &[&format!("--screenshot={}", shot.display()), "--window-size=1000,1400"]);
    let png = std::fs::read(&shot).unwrap();
    assert!(png.starts_with(b"\x89PNG") && png.len() > 10_000, "{} bytes", png.len());

    // State changes need the token; other sites' Host and Origin get nothing.
    let host = format!("127.0.0.1:{port_web}");
    let form = format!("community={cid}&text=hello+from+nowhere");
    assert_eq!(http(port_web, &host, "POST", "/post", &form).0, 403, "a POST without the token");
    assert_eq!(http(port_web, &host, "POST", "/post", &format!("token=wrong&{form}")).0, 403);
    assert_eq!(http(port_web, "evil.example", "GET", "/", "").0, 403, "another Host");
    let token = std::fs::read_to_string(h.join("dashboard.token")).unwrap();
    assert_eq!(
        http(port_web, &format!("evil.example:{port_web}"), "POST", "/post", &format!("token={token}&{form}")).0,
        403
    );
    assert!(!ok(h, &["feed", "Lake Villages"]).contains("hello from nowhere"));
    let (code, _) = http(
        port_web,
        &host,
        "POST",
        "/post",
        &format!("token={}&community={cid}&text=Market+on+Friday", token.trim()),
    );
    assert_eq!(code, 303, "a POST with the token");
    assert!(ok(h, &["feed", "Lake Villages"]).contains("Market on Friday"));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(h.join("dashboard.token")).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
}
