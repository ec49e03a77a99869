//! The `caravan` command: argument parsing and friendly output over the library.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use caravan::{Audience, CommunityId, ContactCard, Node, NodeId, Outcome, Role, Target};
use clap::{Parser, Subcommand};

mod demo;

/// Bundles imported per durable commit: big enough to amortise the fsync, small enough
/// that progress survives an interruption.
const IMPORT_FILES_PER_COMMIT: usize = 64;
/// Bundle bytes read per durable commit (a file holds at most one bundle's size, so one
/// commit holds at most this plus one bundle).
const IMPORT_BYTES_PER_COMMIT: usize = 64 << 20;

/// Caravan: keep profiles and community documents in sync over USB sticks, daily
/// windows and local networks. Nothing is lost while a bundle waits for the next contact.
#[derive(Parser)]
#[command(
    name = "caravan",
    version,
    after_help = "Start with `caravan init --name NAME`, give `caravan id` to the people you trust, and see the whole \
                  story with `caravan demo`."
)]
struct Cli {
    /// The node's home directory (identity, database).
    #[arg(long, global = true, env = "CARAVAN_HOME", value_name = "DIR")]
    home: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create this node: a new identity and an empty store.
    Init {
        /// Display name shown on your contact card.
        #[arg(long)]
        name: String,
        /// Seal this node's keys (its identity, every community and audience key) under a
        /// passphrase, asked on the terminal (or read from CARAVAN_PASSPHRASE_FILE). Every
        /// later command needs it; the daemon reads it from a file or a systemd credential.
        #[arg(long)]
        passphrase: bool,
    },
    /// Print this node's contact card (one line; give it to people you trust).
    Id,
    /// Manage contacts.
    #[command(subcommand)]
    Contact(ContactCommand),
    /// Edit or show profiles.
    #[command(subcommand)]
    Profile(ProfileCommand),
    /// Create, join and inspect communities.
    #[command(subcommand)]
    Community(CommunityCommand),
    /// Read and write a community's wiki.
    #[command(subcommand)]
    Wiki(WikiCommand),
    /// Post to a community's feed.
    Post {
        /// Community id.
        community: String,
        /// The post's text.
        text: String,
    },
    /// Show a community's feed.
    Feed {
        /// Community id.
        community: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Write bundles into a directory, one file each (`<digest>.bundle`).
    Export {
        /// Directory to write into (created if missing). Existing bundles are kept.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Only what this peer (node id) needs.
        #[arg(long, value_name = "NODE", conflicts_with = "community")]
        to: Option<String>,
        /// Only what this community's members need.
        #[arg(long, value_name = "COMMUNITY")]
        community: Option<String>,
    },
    /// Import bundle files (or every `*.bundle` in directories).
    Import {
        /// Files or directories.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Print a JSON summary.
        #[arg(long)]
        json: bool,
    },
    /// Sync with a USB stick (or any directory): take what is new on it, then leave on it
    /// what this node holds that is not there yet.
    Sync {
        /// The stick's mount point; Caravan uses (and creates) its `caravan` folder.
        #[arg(long, value_name = "DIR")]
        stick: PathBuf,
        /// Write at most this many bytes to the stick.
        #[arg(long, value_name = "N")]
        max_bytes: Option<u64>,
        /// Print the summary as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run as a daemon: listen for QUIC connections, and sync with the configured peers
    /// (and, with `discovery = true`, with nodes found on the LAN) while a window is open,
    /// until SIGINT or SIGTERM. Settings: `config.toml` in the node's home (see
    /// spec/config.md), or --config. Logs go to stderr (CARAVAN_LOG=caravan=debug for more).
    Daemon {
        /// Configuration file (default: config.toml in the node's home; missing = defaults).
        #[arg(long)]
        config: Option<PathBuf>,
        /// For a node whose keys are sealed: the file holding the passphrase (else
        /// CARAVAN_PASSPHRASE_FILE, or the systemd credential `caravan-passphrase`).
        #[arg(long, value_name = "FILE")]
        passphrase_file: Option<PathBuf>,
    },
    /// Show or set how much this node carries for others (the relay quota, default 1 GiB).
    /// Its own and its communities' data never count against it.
    Relay {
        /// New quota, in bytes or with a unit: 500MB, 2GiB, 0 (carry nothing).
        #[arg(long)]
        quota: Option<String>,
        /// The longest lifetime, in days, of a bundle this node takes in (default 60):
        /// longer ones are refused, so nothing kept for others outlives it.
        #[arg(long, value_name = "DAYS")]
        max_lifetime: Option<u64>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show this node's identity, contacts, communities and pending invitations, custody
    /// of its bundles by destination, relay usage, configured peers and the next window;
    /// while a daemon runs, also who is connected now and the last syncs.
    Status {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run three villages, one community and a carried stick in a temporary directory,
    /// and show that every village converges.
    Demo,
}

#[derive(Subcommand)]
enum ContactCommand {
    /// Add a contact from their card, optionally into audiences of your profile.
    Add {
        /// The contact card (`caravan1_...`).
        card: String,
        /// Audiences of your profile they may read.
        #[arg(long, value_parser = parse_audience)]
        audience: Vec<Audience>,
    },
    /// List contacts.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum ProfileCommand {
    /// Set a field of your profile.
    Set {
        /// Field name (name, about, location, skills, ...).
        field: String,
        /// Value.
        value: String,
        /// Who may read it.
        #[arg(long, default_value = "public", value_parser = parse_audience)]
        audience: Audience,
    },
    /// Show a profile (yours by default): the fields this node can read.
    Show {
        /// Node id.
        node: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum CommunityCommand {
    /// Found a community; prints its id on the last line.
    Create {
        /// Name.
        name: String,
        /// Public description.
        #[arg(long, default_value = "")]
        description: String,
    },
    /// Invite someone by their contact card.
    Invite {
        /// Community id.
        community: String,
        /// Their contact card.
        card: String,
        /// Their role.
        #[arg(long, default_value = "member", value_parser = parse_role)]
        role: Role,
    },
    /// List your communities.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List a community's members.
    Members {
        /// Community id.
        community: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List invitations waiting for your consent.
    Invites {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Accept an invitation.
    Accept {
        /// Invitation id (from `community invites`).
        id: String,
    },
}

#[derive(Subcommand)]
enum WikiCommand {
    /// Write a page from a file or stdin; applied as a diff, so concurrent edits
    /// elsewhere in the page survive.
    Put {
        /// Community id.
        community: String,
        /// Page name.
        page: String,
        /// Read the text from this file instead of stdin.
        #[arg(long)]
        file: Option<PathBuf>,
    },
    /// Print a page's text exactly.
    Get {
        /// Community id.
        community: String,
        /// Page name.
        page: String,
    },
    /// List pages.
    List {
        /// Community id.
        community: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

fn parse_audience(s: &str) -> Result<Audience, String> {
    Audience::parse(s).ok_or_else(|| "expected public, friends, family, business or friends-of-friends".into())
}

fn parse_role(s: &str) -> Result<Role, String> {
    Role::parse(s).ok_or_else(|| "expected owner, editor or member".into())
}

fn default_home() -> PathBuf {
    if let Some(d) = std::env::var_os("XDG_DATA_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(d).join("caravan");
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."));
    home.join(".local/share/caravan")
}

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

/// Progress bars on a terminal; nothing when stderr is not one.
mod progress {
    use std::io::IsTerminal;

    use caravan::link::stick::Progress;
    use indicatif::{ProgressBar, ProgressStyle};

    pub struct Bars {
        on_terminal: bool,
        reading: Option<ProgressBar>,
        writing: Option<ProgressBar>,
    }

    impl Bars {
        pub fn new() -> Self {
            Bars { on_terminal: std::io::stderr().is_terminal(), reading: None, writing: None }
        }

        pub fn update(&mut self, p: Progress) {
            if !self.on_terminal {
                return;
            }
            match p {
                Progress::Reading { done, total } => {
                    let bar = self.reading.get_or_insert_with(|| {
                        let b = ProgressBar::new(total as u64);
                        b.set_style(
                            ProgressStyle::with_template("reading stick {bar:30} {pos}/{len} records {eta}")
                                .expect("valid template"),
                        );
                        b
                    });
                    bar.set_position(done as u64);
                }
                Progress::Writing { done, total } => {
                    if let Some(r) = self.reading.take() {
                        r.finish_and_clear();
                    }
                    let bar = self.writing.get_or_insert_with(|| {
                        let b = ProgressBar::new(total);
                        b.set_style(
                            ProgressStyle::with_template("writing stick {bar:30} {bytes}/{total_bytes} {eta}")
                                .expect("valid template"),
                        );
                        b
                    });
                    bar.set_position(done);
                }
            }
        }
    }

    impl Drop for Bars {
        fn drop(&mut self) {
            for b in [self.reading.take(), self.writing.take()].into_iter().flatten() {
                b.finish_and_clear();
            }
        }
    }
}

/// Bundle files in a directory: one `<digest>.bundle` per bundle, written atomically.
///
/// Files come from anywhere (a stick, a download): only regular files are read, a file
/// found inside a directory is never reached through a link, no open can hang on a FIFO,
/// and no file is read past one bundle's largest size.
mod caravan_files {
    use std::fs::File;
    use std::io::{Read, Write};
    use std::path::{Path, PathBuf};

    use caravan::limits::BUNDLE_BYTES_MAX;
    use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags};

    /// A file to import.
    pub struct BundleFile {
        pub path: PathBuf,
        /// Named on the command line (a link there is followed: the user typed it), rather
        /// than found in a directory.
        pub typed: bool,
    }

    fn describe(t: FileType) -> &'static str {
        match t {
            FileType::Symlink => "a symbolic link",
            FileType::Directory => "a directory",
            FileType::Fifo => "a FIFO",
            FileType::Socket => "a socket",
            FileType::CharacterDevice => "a character device",
            FileType::BlockDevice => "a block device",
            _ => "not a regular file",
        }
    }

    /// Writes each bundle as `<digest>.bundle`: to a new temporary name (created, never
    /// opened through a link or over an existing file), synced, then renamed.
    pub fn write_bundles(dir: &Path, bundles: &[Vec<u8>]) -> Result<usize, String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let mut written = 0;
        for b in bundles {
            let name = format!("{}.bundle", &blake3::hash(b).to_hex()[..32]);
            let path = dir.join(&name);
            if path.exists() {
                continue;
            }
            // Write to a temporary name, sync, then rename: a reader never sees half a bundle.
            let tmp = dir.join(format!(".{name}.tmp"));
            let mut f = create_new(&tmp).map_err(|e| format!("{}: {e}", tmp.display()))?;
            f.write_all(b).and_then(|_| f.sync_all()).map_err(|e| format!("{}: {e}", tmp.display()))?;
            std::fs::rename(&tmp, &path).map_err(|e| format!("{}: {e}", path.display()))?;
            written += 1;
        }
        Ok(written)
    }

    /// `O_CREAT | O_EXCL | O_NOFOLLOW`; a leftover of an interrupted export (whatever it
    /// is: removing a name never touches what a link points at) is removed first.
    fn create_new(path: &Path) -> std::io::Result<File> {
        let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let mode = Mode::from_raw_mode(0o644);
        match rfs::open(path, flags, mode) {
            Err(rustix::io::Errno::EXIST) => {
                std::fs::remove_file(path)?;
                Ok(File::from(rfs::open(path, flags, mode)?))
            }
            r => Ok(File::from(r?)),
        }
    }

    /// The files to import: files named, and every `*.bundle` in directories named.
    pub fn list_bundle_files(paths: &[PathBuf]) -> Result<Vec<BundleFile>, String> {
        let mut out = Vec::new();
        for p in paths {
            if p.is_dir() {
                let mut files: Vec<PathBuf> = std::fs::read_dir(p)
                    .map_err(|e| format!("{}: {e}", p.display()))?
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|f| f.extension().is_some_and(|x| x == "bundle"))
                    .collect();
                files.sort();
                out.extend(files.into_iter().map(|path| BundleFile { path, typed: false }));
            } else if p.symlink_metadata().is_ok() {
                out.push(BundleFile { path: p.clone(), typed: true });
            } else {
                return Err(format!("{}: no such file or directory", p.display()));
            }
        }
        Ok(out)
    }

    /// Reads one bundle file: a regular file of at most `BUNDLE_BYTES_MAX` bytes.
    pub fn read_bundle(f: &BundleFile) -> Result<Vec<u8>, String> {
        let mut flags = OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOCTTY | OFlags::NONBLOCK;
        if !f.typed {
            flags |= OFlags::NOFOLLOW;
            if let Ok(st) = rfs::statat(rfs::CWD, &f.path, AtFlags::SYMLINK_NOFOLLOW) {
                let t = FileType::from_raw_mode(st.st_mode);
                if t != FileType::RegularFile {
                    return Err(describe(t).into());
                }
            }
        }
        let fd = rfs::open(&f.path, flags, Mode::empty()).map_err(|e| std::io::Error::from(e).to_string())?;
        let st = rfs::fstat(&fd).map_err(|e| std::io::Error::from(e).to_string())?;
        let t = FileType::from_raw_mode(st.st_mode);
        if t != FileType::RegularFile {
            return Err(describe(t).into());
        }
        let mut data = Vec::new();
        File::from(fd).take(BUNDLE_BYTES_MAX as u64 + 1).read_to_end(&mut data).map_err(|e| e.to_string())?;
        if data.len() > BUNDLE_BYTES_MAX {
            return Err(format!("larger than {BUNDLE_BYTES_MAX} bytes, the largest bundle Caravan reads"));
        }
        Ok(data)
    }
}
