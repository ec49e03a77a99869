//! The `caravan` command: argument parsing and friendly output over the library.

use std::path::Path;
use std::process::ExitCode;

use caravan::{CommunityId, ContactCard, Node, NodeId, Outcome, Target};
use clap::Parser;

mod cli;
mod demo;

use cli::args::*;
use cli::{files as caravan_files, progress};

/// Bundles imported per durable commit: big enough to amortise the fsync, small enough
/// that progress survives an interruption.
const IMPORT_FILES_PER_COMMIT: usize = 64;
/// Bundle bytes read per durable commit (a file holds at most one bundle's size, so one
/// commit holds at most this plus one bundle).
const IMPORT_BYTES_PER_COMMIT: usize = 64 << 20;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("caravan: {e}");
            ExitCode::FAILURE
        }
    }
}

/// A daemon moves bundles of up to tens of MiB for weeks. glibc serves a large buffer
/// from its own mapping and unmaps it on free, but after the first such free it raises
/// that threshold, and later large buffers come from heaps that are not given back: a
/// sender daemon's resident size then held about three such buffers it had freed. A
/// fixed threshold keeps every buffer of 1 MiB or more a mapping of its own; two arenas
/// (instead of one per thread) keep freed store pages from scattering across threads.
#[allow(unsafe_code)]
fn release_large_buffers() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; called before any other thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

/// The passphrase of a node whose keys are sealed: from CARAVAN_PASSPHRASE_FILE (or a
/// systemd credential), else asked on the terminal. `None` if the keys are not sealed.
fn passphrase_for(home: &Path) -> Result<Option<zeroize::Zeroizing<String>>, String> {
    let sealed = std::fs::read(home.join("identity.key")).is_ok_and(|b| caravan::keystore::is_sealed(&b));
    if !sealed {
        return Ok(None);
    }
    if let Some(p) = caravan::keystore::passphrase_from_environment().map_err(|e| e.to_string())? {
        return Ok(Some(p));
    }
    ask_passphrase("passphrase for this node's keys: ").map(Some)
}

/// Asks for a passphrase on the terminal (not echoed).
fn ask_passphrase(prompt: &str) -> Result<zeroize::Zeroizing<String>, String> {
    if !std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        return Err("this node's keys are sealed under a passphrase: run on a terminal, or set \
                    CARAVAN_PASSPHRASE_FILE to a file holding it"
            .into());
    }
    let p = rpassword::prompt_password(prompt).map_err(|e| format!("reading the passphrase: {e}"))?;
    Ok(zeroize::Zeroizing::new(p))
}

fn open(home: &Path) -> Result<Node, String> {
    if !home.join("identity.key").exists() {
        return Err(format!("no node in {}; create one with `caravan init --name NAME`", home.display()));
    }
    let passphrase = passphrase_for(home)?;
    let opened = Node::open_with(home, "", caravan::store::CACHE_BYTES, passphrase.as_ref().map(|p| p.as_str()));
    opened.map_err(|e| match caravan::status::read(home).and_then(|s| s.daemon) {
        // redb allows one process at a time.
        Some(d) => format!(
            "the node in {} is in use by a running `caravan daemon` (pid {}); stop it first (`caravan status` works meanwhile)",
            home.display(),
            d.pid
        ),
        None => e.to_string(),
    })
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

fn community(s: &str) -> Result<CommunityId, String> {
    CommunityId::parse(s.trim()).ok_or_else(|| format!("{s:?} is not a community id (32 letters and digits)"))
}

fn card(s: &str) -> Result<ContactCard, String> {
    ContactCard::parse(s).map_err(|e| e.to_string())
}

/// Prints one JSON value on its own line.
fn print_json(v: serde_json::Value) {
    println!("{v}");
}

fn run(cli: Cli) -> Result<(), String> {
    let home = cli.home.unwrap_or_else(default_home);
    let e = |e: caravan::Error| e.to_string();
    match cli.command {
        Command::Init { name, passphrase } => {
            if home.join("identity.key").exists() {
                return Err(format!("a node already exists in {}", home.display()));
            }
            let secret = if passphrase {
                let p = match caravan::keystore::passphrase_from_environment().map_err(|e| e.to_string())? {
                    Some(p) => p,
                    None => {
                        let first = ask_passphrase("passphrase to seal this node's keys: ")?;
                        let again = ask_passphrase("the same passphrase again: ")?;
                        if *first != *again {
                            return Err("the two passphrases differ; nothing was created".into());
                        }
                        first
                    }
                };
                if p.chars().count() < 8 {
                    return Err("a passphrase needs at least 8 characters; nothing was created".into());
                }
                Some(p)
            } else {
                None
            };
            let node = Node::open_with(&home, &name, caravan::store::CACHE_BYTES, secret.as_ref().map(|p| p.as_str()))
                .map_err(e)?;
            if secret.is_some() {
                println!(
                    "the node's keys are sealed under your passphrase: keep it safe, nothing opens them without it"
                );
            }
            println!("created node {} ({}) in {}", node.node_id(), node.name(), home.display());
            println!("{}", node.card());
        }
        Command::Id => println!("{}", open(&home)?.card()),
        Command::Contact(ContactCommand::Add { card: c, audience }) => {
            let mut node = open(&home)?;
            let c = card(&c)?;
            node.add_contact(&c, &audience).map_err(e)?;
            println!("added {} ({})", c.name, c.node_id());
        }
        Command::Contact(ContactCommand::List { json }) => {
            let node = open(&home)?;
            let contacts = node.contacts().map_err(e)?;
            if json {
                print_json(serde_json::Value::Array(
                    contacts
                        .iter()
                        .map(|c| {
                            let audiences: Vec<&str> = c.audiences.iter().map(|a| a.as_str()).collect();
                            serde_json::json!({"node": c.card.node_id().to_string(), "name": c.card.name, "audiences": audiences})
                        })
                        .collect(),
                ));
            } else {
                for c in contacts {
                    let aud: Vec<&str> = c.audiences.iter().map(|a| a.as_str()).collect();
                    println!("{}  {}  {}", c.card.node_id(), c.card.name, aud.join(","));
                }
            }
        }
        Command::Profile(ProfileCommand::Set { field, value, audience }) => {
            open(&home)?.set_profile_field(&field, &value, audience).map_err(e)?;
        }
        Command::Profile(ProfileCommand::Show { node: who, json }) => {
            let mut node = open(&home)?;
            let id = match who {
                None => node.node_id(),
                Some(s) => NodeId::parse(s.trim()).ok_or_else(|| format!("{s:?} is not a node id"))?,
            };
            let fields = node.profile(&id).map_err(e)?;
            if json {
                print_json(serde_json::Value::Array(
                    fields
                        .iter()
                        .map(
                            |f| serde_json::json!({"audience": f.audience.as_str(), "field": f.name, "value": f.value}),
                        )
                        .collect(),
                ));
            } else {
                for f in fields {
                    println!("{} = {}  ({})", f.name, f.value, f.audience);
                }
            }
        }
        Command::Community(CommunityCommand::Create { name, description }) => {
            let cid = open(&home)?.create_community(&name, &description).map_err(e)?;
            println!("created community {name:?}");
            println!("{cid}");
        }
        Command::Community(CommunityCommand::Invite { community: c, card: k, role }) => {
            let mut node = open(&home)?;
            let k = card(&k)?;
            node.invite(&community(&c)?, &k, role).map_err(e)?;
            println!("invited {} as {role}; the invitation leaves with the next export", k.name);
        }
        Command::Community(CommunityCommand::List { json }) => {
            let list = open(&home)?.communities().map_err(e)?;
            if json {
                print_json(serde_json::Value::Array(
                    list.iter()
                        .map(|c| serde_json::json!({"id": c.id.to_string(), "name": c.name, "role": c.role.as_str()}))
                        .collect(),
                ));
            } else {
                for c in list {
                    println!("{}  {}  ({})", c.id, c.name, c.role);
                }
            }
        }
        Command::Community(CommunityCommand::Members { community: c, json }) => {
            let list = open(&home)?.members(&community(&c)?).map_err(e)?;
            if json {
                print_json(serde_json::Value::Array(
                    list.iter()
                        .map(|(n, r, name)| serde_json::json!({"node": n, "role": r.as_str(), "name": name}))
                        .collect(),
                ));
            } else {
                for (n, r, name) in list {
                    println!("{n}  {r}  {name}");
                }
            }
        }
        Command::Community(CommunityCommand::Invites { json }) => {
            let list = open(&home)?.invites().map_err(e)?;
            if json {
                print_json(serde_json::Value::Array(
                    list.iter()
                        .map(|i| {
                            serde_json::json!({
                                "id": i.id, "community": i.community.to_string(), "name": i.name,
                                "from": i.from.to_string(), "role": i.role.as_str(),
                            })
                        })
                        .collect(),
                ));
            } else if list.is_empty() {
                println!("no invitations waiting");
            } else {
                for i in list {
                    println!("{}  {} as {} from {}", i.id, i.name, i.role, i.from);
                }
            }
        }
        Command::Community(CommunityCommand::Accept { id }) => {
            let cid = open(&home)?.accept_invite(&id).map_err(e)?;
            println!("joined {cid}");
        }
        Command::Wiki(WikiCommand::Put { community: c, page, file }) => {
            let text = match file {
                Some(f) => std::fs::read_to_string(&f).map_err(|err| format!("{}: {err}", f.display()))?,
                None => std::io::read_to_string(std::io::stdin()).map_err(|err| format!("stdin: {err}"))?,
            };
            open(&home)?.put_wiki_page(&community(&c)?, &page, &text).map_err(e)?;
        }
        Command::Wiki(WikiCommand::Get { community: c, page }) => {
            match open(&home)?.wiki_page(&community(&c)?, &page).map_err(e)? {
                Some(t) => print!("{t}"),
                None => return Err(format!("no page {page:?} (or you cannot read this community)")),
            }
        }
        Command::Wiki(WikiCommand::List { community: c, json }) => {
            let pages = open(&home)?.wiki_pages(&community(&c)?).map_err(e)?;
            if json {
                print_json(serde_json::json!(pages));
            } else {
                for p in pages {
                    println!("{p}");
                }
            }
        }
        Command::Post { community: c, text } => open(&home)?.post(&community(&c)?, &text).map_err(e)?,
        Command::Feed { community: c, json } => {
            let posts = open(&home)?.feed(&community(&c)?).map_err(e)?;
            if json {
                print_json(serde_json::Value::Array(
                    posts
                        .iter()
                        .map(|p| serde_json::json!({"author": p.author, "at_unix_ms": p.at_unix_ms, "text": p.text}))
                        .collect(),
                ));
            } else {
                for p in posts {
                    println!("[{}] {}: {}", p.at_unix_ms / 1000, p.author, p.text);
                }
            }
        }
        Command::Export { out, to, community: c } => {
            let mut node = open(&home)?;
            let target = match (to, c) {
                (Some(n), _) => Target::Peer(NodeId::parse(n.trim()).ok_or_else(|| format!("{n:?} is not a node id"))?),
                (None, Some(c)) => Target::Community(community(&c)?),
                (None, None) => Target::Everyone,
            };
            let bundles = node.export(target).map_err(e)?;
            let written = caravan_files::write_bundles(&out, &bundles)?;
            println!("exported {} bundles ({written} new files) to {}", bundles.len(), out.display());
        }
        Command::Import { paths, json } => {
            let mut node = open(&home)?;
            let files = caravan_files::list_bundle_files(&paths)?;
            let mut totals = Totals::default();
            let (mut read, mut refused) = (0usize, 0usize);
            let mut rest = files.iter().peekable();
            while rest.peek().is_some() {
                // Bounded by count and by bytes: each file is at most one bundle's size.
                let (mut names, mut data, mut bytes) = (Vec::new(), Vec::new(), 0usize);
                while names.len() < IMPORT_FILES_PER_COMMIT && bytes < IMPORT_BYTES_PER_COMMIT {
                    let Some(f) = rest.next() else { break };
                    match caravan_files::read_bundle(f) {
                        Ok(b) => {
                            bytes += b.len();
                            names.push(&f.path);
                            data.push(b);
                        }
                        Err(why) => {
                            eprintln!("refused {}: {why}", f.path.display());
                            refused += 1;
                        }
                    }
                }
                if data.is_empty() {
                    continue;
                }
                read += data.len();
                let report = node.import_many(data.iter().map(Vec::as_slice)).map_err(e)?;
                for (f, o) in names.iter().zip(&report.outcomes) {
                    if let Outcome::Rejected(r) = o {
                        eprintln!("rejected {}: {r}", f.display());
                    }
                }
                totals.add(&report);
            }
            if json {
                print_json(serde_json::json!({
                    "read": read, "refused": refused, "new": totals.new, "changes": totals.changes,
                    "duplicate": totals.duplicate, "waiting": totals.waiting, "rejected": totals.rejected,
                    "unlocked": totals.unlocked,
                }));
            } else {
                println!(
                    "read {} bundles: {} new ({} changes), {} duplicate, {} waiting, {} rejected, {} unlocked{}",
                    read,
                    totals.new,
                    totals.changes,
                    totals.duplicate,
                    totals.waiting,
                    totals.rejected,
                    totals.unlocked,
                    if refused > 0 { format!("; {refused} files refused (named above)") } else { String::new() }
                );
            }
        }
        Command::Daemon { config, passphrase_file } => {
            // Only check there is a node here: the daemon opens the store itself (and waits
            // for a command that holds it for a moment).
            if !home.join("identity.key").exists() {
                return Err(format!("no node in {}; create one with `caravan init --name NAME`", home.display()));
            }
            let filter = tracing_subscriber::EnvFilter::try_from_env("CARAVAN_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("caravan=info"));
            tracing_subscriber::fmt()
                .with_env_filter(filter)
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
                .with_writer(std::io::stderr)
                .init();
            release_large_buffers();
            // A file given by name must exist; only the home's own config.toml may be absent.
            if let Some(given) = &config
                && !given.exists()
            {
                return Err(format!("{}: no such file (leave out --config to use the defaults)", given.display()));
            }
            let path = config.unwrap_or_else(|| home.join("config.toml"));
            let config = caravan::config::Config::load(&path).map_err(|e| e.to_string())?;
            let runtime = tokio::runtime::Runtime::new().map_err(|e| format!("cannot start the runtime: {e}"))?;
            eprintln!(
                "caravan daemon: listening on {} (QUIC), {} peers, {} windows",
                config.listen,
                config.peers.len(),
                config.windows.len()
            );
            if config.discovery {
                eprintln!("caravan daemon: LAN discovery on {}", config.discovery_group);
            }
            let sealed = std::fs::read(home.join("identity.key")).is_ok_and(|b| caravan::keystore::is_sealed(&b));
            let passphrase = match (passphrase_file, sealed) {
                (_, false) => None,
                (Some(f), true) => Some(caravan::keystore::read_passphrase_file(&f).map_err(|e| e.to_string())?),
                (None, true) => {
                    Some(caravan::keystore::passphrase_from_environment().map_err(|e| e.to_string())?.ok_or(
                        "this node's keys are sealed under a passphrase: give the daemon --passphrase-file FILE, \
                     CARAVAN_PASSPHRASE_FILE, or the systemd credential caravan-passphrase",
                    )?)
                }
            };
            let stats = runtime
                .block_on(caravan::daemon::run_with(&home, config, passphrase, shutdown_signal()))
                .map_err(|e| e.to_string())?;
            eprintln!(
                "caravan daemon: stopped ({} accepted, {} dialled, {} failed dials, {} discovered)",
                stats.accepted, stats.dialled, stats.dial_failures, stats.discovered
            );
        }
        Command::Relay { quota, max_lifetime, json } => {
            let mut node = open(&home)?;
            if let Some(q) = quota {
                node.set_relay_quota(caravan::config::parse_size(&q)?).map_err(e)?;
            }
            if let Some(days) = max_lifetime {
                if days == 0 || days > 3650 {
                    return Err(format!("--max-lifetime {days}: give 1 to 3650 days"));
                }
                node.set_lifetime_cap(std::time::Duration::from_secs(days * 86_400)).map_err(e)?;
            }
            let (used, quota) = node.relay_usage().map_err(e)?;
            let cap_days = node.lifetime_cap().as_secs() / 86_400;
            if json {
                print_json(serde_json::json!({
                    "used_bytes": used, "quota_bytes": quota, "max_lifetime_days": cap_days,
                }));
            } else {
                use caravan::status::human_bytes;
                println!(
                    "keeping {} for others, of a quota of {} ({:.1}%); nothing kept longer than {cap_days} days",
                    human_bytes(used),
                    human_bytes(quota),
                    if quota == 0 { 0.0 } else { used as f64 * 100.0 / quota as f64 }
                );
            }
        }
        Command::Status { json } => {
            let now =
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
            // A running daemon holds the store and keeps its report in a file; otherwise
            // the store is read directly.
            let status = match caravan::status::running(&home) {
                Some(from_daemon) => from_daemon,
                None => match open(&home) {
                    Ok(mut node) => {
                        let config =
                            caravan::config::Config::load(&home.join("config.toml")).map_err(|e| e.to_string())?;
                        caravan::status::collect(&mut node, &config, now).map_err(e)?
                    }
                    Err(err) => caravan::status::read(&home).ok_or(err)?,
                },
            };
            if json {
                print_json(serde_json::to_value(&status).map_err(|e| e.to_string())?);
            } else {
                print!("{}", caravan::status::render(&status, now));
            }
        }
        Command::Sync { stick, max_bytes, json } => {
            let mut node = open(&home)?;
            let mut bars = progress::Bars::new();
            let mut on_progress = |p| bars.update(p);
            let options = caravan::link::stick::SyncOptions { max_bytes, progress: Some(&mut on_progress) };
            let r = caravan::link::stick::sync(&mut node, &stick, options).map_err(|e| e.to_string())?;
            drop(bars);
            for reason in &r.rejected {
                eprintln!("rejected: {reason}");
            }
            for line in &r.skipped {
                eprintln!("{line}");
            }
            if json {
                print_json(serde_json::json!({
                    "records": r.records, "known": r.known, "damaged": r.damaged, "expired": r.expired,
                    "new": r.new_bundles, "changes": r.new_changes, "waiting": r.waiting,
                    "rejected": r.rejected.len(), "rejections": r.rejected, "exported": r.exported,
                    "custody_released": r.custody_released, "not_carried": r.not_carried,
                    "carried": r.carried, "bytes_written": r.bytes_written, "bytes_read": r.bytes_read,
                    "expired_segments": r.expired_segments, "full": r.full, "skipped": r.skipped,
                    "millis": r.millis as u64,
                }));
            } else {
                println!(
                    "read {} records ({} already here, {} damaged, {} expired): {} new bundles, {} new changes, {} waiting, {} rejected",
                    r.records,
                    r.known,
                    r.damaged,
                    r.expired,
                    r.new_bundles,
                    r.new_changes,
                    r.waiting,
                    r.rejected.len()
                );
                if r.custody_released > 0 {
                    println!("custody released for {} of our bundles (every destination has them)", r.custody_released);
                }
                if r.not_carried > 0 {
                    println!(
                        "{} bundles for others left on the stick: no fair room for their senders in the relay quota \
                         (`caravan relay`)",
                        r.not_carried
                    );
                }
                println!(
                    "wrote {} bundles ({} carried for others), {} bytes{}; {} expired segments removed; {:.1} s",
                    r.exported,
                    r.carried,
                    r.bytes_written,
                    if r.full { ", STICK FULL: the rest waits for the next trip" } else { "" },
                    r.expired_segments,
                    r.millis as f64 / 1000.0
                );
                if !r.skipped.is_empty() {
                    println!(
                        "left alone {} entries on the stick that are not Caravan files it may use (named above)",
                        r.skipped.len()
                    );
                }
            }
        }
        Command::Demo => demo::run()?,
    }
    Ok(())
}

#[derive(Default)]
struct Totals {
    new: usize,
    changes: usize,
    duplicate: usize,
    waiting: usize,
    rejected: usize,
    unlocked: usize,
}

impl Totals {
    fn add(&mut self, r: &caravan::ImportReport) {
        self.new += r.new_bundles();
        self.changes += r.new_changes();
        self.duplicate += r.duplicates();
        self.waiting += r.waiting();
        self.rejected += r.rejected().len();
        self.unlocked += r.unlocked;
    }
}
