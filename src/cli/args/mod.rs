//! The command line: every command, argument and `--help` text.

use std::path::PathBuf;

use caravan::{Audience, Role};
use clap::{Parser, Subcommand};

mod community;
mod social;

pub(crate) use community::CommunityCommand;
pub(crate) use social::{ExchangeCommand, ListingArgs, MarketCommand, PollCommand};

/// Caravan: keep profiles and community documents in sync over USB sticks, daily
/// windows and local networks. Nothing is lost while a bundle waits for the next contact.
#[derive(Parser)]
#[command(
    name = "caravan",
    version,
    after_help = "Start with `caravan init --name NAME`, give `caravan id` to the people you trust, and see the whole \
                  story with `caravan demo`."
)]
pub(crate) struct Cli {
    /// The node's home directory (identity, database).
    #[arg(long, global = true, env = "CARAVAN_HOME", value_name = "DIR")]
    pub(crate) home: Option<PathBuf>,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Subcommand)]
pub(crate) enum Command {
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
    /// Your profile's circles (its audiences): who is in each, and its key.
    #[command(subcommand)]
    Circle(CircleCommand),
    /// Create, join and inspect communities.
    #[command(subcommand)]
    Community(CommunityCommand),
    /// Read and write a community's wiki.
    #[command(subcommand)]
    Wiki(WikiCommand),
    /// Offer and ask for goods and services in a community's market.
    #[command(subcommand)]
    Market(MarketCommand),
    /// Agree with another member on one of their market listings, one signed step at a
    /// time: you propose, its author accepts, each of you marks it completed (or calls
    /// it off). Each step travels with your next sync.
    #[command(subcommand)]
    Exchange(ExchangeCommand),
    /// Review an exchange both of you completed: a rating 1 to 5 and a few words, once.
    /// The review carries both parties' signed proofs, so anyone who reads it can check
    /// it; it goes to the community's public part with your next sync.
    Review {
        /// The exchange's short id, as `caravan exchange list` shows it (or its first
        /// four characters or more).
        exchange: String,
        /// 1 (poor) to 5 (excellent).
        #[arg(long, value_parser = clap::value_parser!(u8).range(1..=5))]
        rating: u8,
        /// What you would tell others about it.
        #[arg(long, value_name = "TEXT", default_value = "")]
        text: String,
    },
    /// A node's reputation as you see it: what its counterparties said of it, counted
    /// through your ties to them (yourself and your contacts count twice, members of your
    /// communities once). Reviews by nodes you have no tie to are shown apart and count
    /// for nothing, so strangers vouching for each other change nothing for you.
    Reputation {
        /// The node: its name (a contact or a member of your communities), id or card.
        node: String,
        /// Print JSON (node ids, times in ms).
        #[arg(long)]
        json: bool,
    },
    /// Ask a community's members a question, vote, close with a checkable count.
    #[command(subcommand)]
    Poll(PollCommand),
    /// Vote in a poll (again to change your vote: your latest counts).
    Vote {
        /// The poll's short id, as `caravan poll list` shows it (or its first four
        /// characters or more).
        poll: String,
        /// The option: its text, or its number as `poll show` lists it.
        option: String,
    },
    /// Certify, as one of a community's certifiers, a market listing (as it reads now) or
    /// a member's skill. Once as many certifiers as the community asks signed the same
    /// statement, the certificate holds; `--revoke` (owners) ends it.
    Certify {
        /// Community name or id.
        community: String,
        /// A listing's short id (as `caravan market list` shows it), or a member (name, id
        /// or card) with --skill.
        target: String,
        /// The member's skill, in words.
        #[arg(long, value_name = "TEXT")]
        skill: Option<String>,
        /// It holds for this many days (no end if not given).
        #[arg(long, value_name = "DAYS")]
        expires: Option<u32>,
        /// Revoke this certificate instead (owners).
        #[arg(long)]
        revoke: bool,
    },
    /// The certificates about a member (its skills and listings) or one listing, in your
    /// communities: who signed and whether each still holds.
    Certificates {
        /// A listing's short id (as `caravan market list` shows it), or a member: name,
        /// id or card.
        target: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Follow the public content of a node (its public profile and posts) or of a
    /// community (its public part: name, public market, reviews), like an RSS feed: every
    /// link then brings it, whoever carries it, and you pass it on to other followers.
    Follow {
        /// A name (contact, member, or one of your communities), a contact card, a node id,
        /// or a community id (with --community).
        source: String,
        /// The id is a community's.
        #[arg(long)]
        community: bool,
    },
    /// Stop following a node or a community (what was read stays).
    Unfollow {
        /// As for `caravan follow`.
        source: String,
        /// The id is a community's.
        #[arg(long)]
        community: bool,
    },
    /// What you follow, and how much of each source you keep and pass on.
    Following {
        /// Keep and pass on at most this much of each source (like 16MiB; the oldest go
        /// first; what you read stays readable).
        #[arg(long, value_name = "SIZE")]
        budget: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show one of a community's documents as its kind reads it (feed, roster, wiki,
    /// public, market, market-public, or `wiki/<page id>`), whatever the kind.
    Show {
        /// Community id.
        community: String,
        /// The document's kind (see `caravan kinds`).
        kind: String,
    },
    /// List the document kinds this program knows: who writes them, who reads them.
    Kinds {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Post to a community's feed.
    Post {
        /// Community name or id.
        community: String,
        /// The post's text.
        text: String,
        /// Post for the members' friends too: every member and every friend of a member
        /// reads it (and nobody else).
        #[arg(long, conflicts_with = "public")]
        friends_of_members: bool,
        /// Post publicly, in the community's public part: anyone who follows the
        /// community reads it.
        #[arg(long)]
        public: bool,
    },
    /// Show a community's feed, or (`--following`) what everything you follow posted
    /// publicly, newest first.
    Feed {
        /// Community name or id (an id for a community you are not in).
        #[arg(required_unless_present = "following")]
        community: Option<String>,
        /// The posts for the members' friends instead: readable by members and by any
        /// member's friend (you, if one of its members counts you a friend). Not a member?
        /// From then on your syncs look for this community's posts too (what you already
        /// carry for others is read now).
        #[arg(long, conflicts_with_all = ["public", "following"])]
        friends_of_members: bool,
        /// The community's public posts instead.
        #[arg(long, conflicts_with = "following")]
        public: bool,
        /// The public posts of every node and community you follow (`caravan follow`).
        #[arg(long, conflicts_with = "community")]
        following: bool,
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
        /// Also print the detailed counts (records, bundles, changes).
        #[arg(long, short)]
        verbose: bool,
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
        /// What one member of a community can make this node store per day, in bytes or
        /// with a unit (default 256MiB); beyond it, its bundles wait for the next day.
        #[arg(long, value_name = "SIZE")]
        member_bytes_per_day: Option<String>,
        /// How many bundles one member of a community can make this node store per day
        /// (default 20000).
        #[arg(long, value_name = "N")]
        member_bundles_per_day: Option<u32>,
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
    /// Block a node: its bundles are refused and never carried, it is never dialled or
    /// answered on a live link.
    Block {
        /// Its name, node id or card.
        who: String,
    },
    /// Unblock a node: its bundles are taken again the next time they come.
    Unblock {
        /// Its name, node id or card.
        who: String,
    },
    /// List the nodes blocked here.
    Blocked {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run three villages, one community and a carried stick in a temporary directory,
    /// and show that every village converges.
    Demo,
}

#[derive(Subcommand)]
pub(crate) enum ContactCommand {
    /// Add a contact from their card (or update one: a new name, more audiences),
    /// optionally into audiences of your profile.
    Add {
        /// The contact card (`caravan1_...`; line breaks and spaces in it are ignored).
        card: String,
        /// An audience of your profile they may read: friends, family or business (repeat
        /// for several; audiences they are in already stay). Friends-of-friends is not a
        /// list: your friends and their friends read it.
        #[arg(long, value_parser = parse_audience, value_name = "AUDIENCE")]
        audience: Vec<Audience>,
    },
    /// Take a contact out of audiences of your profile, or forget the contact.
    Remove {
        /// Their name, node id or card.
        who: String,
        /// Only take them out of this audience (friends, family, business; repeat for
        /// several): the others in it get a new key. Without it, the contact is forgotten.
        #[arg(long, value_parser = parse_audience, value_name = "AUDIENCE")]
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
pub(crate) enum ProfileCommand {
    /// Set a field of your profile.
    Set {
        /// Field name (name, about, location, skills, ...).
        field: String,
        /// Value.
        value: String,
        /// Who may read it: public, friends, family, business, or friends-of-friends (your
        /// friends and their friends).
        #[arg(long, default_value = "public", value_parser = parse_audience, value_name = "AUDIENCE")]
        audience: Audience,
    },
    /// Post on your profile (public by default: everyone who follows you reads it, as
    /// `caravan feed --following`).
    Post {
        /// The post's text.
        text: String,
        /// Who may read it: public, friends, family, business, or friends-of-friends.
        #[arg(long, default_value = "public", value_parser = parse_audience, value_name = "AUDIENCE")]
        audience: Audience,
    },
    /// Show a profile (yours by default): the fields this node can read.
    Show {
        /// Whose: a name (a contact's or a community member's), a node id or a card.
        node: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
pub(crate) enum CircleCommand {
    /// List each circle (friends, family, business; friends-of-friends is your friends and
    /// their friends), who is in it and
    /// its key epoch. Put people in with `contact add CARD --audience A`, take them out
    /// with `contact remove NAME --audience A` (which gives the rest a new key).
    List {
        /// Print JSON (node ids).
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
pub(crate) enum WikiCommand {
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
        /// Allow empty text (which empties the page; `wiki restore` brings it back).
        #[arg(long)]
        allow_empty: bool,
    },
    /// Print a page's text exactly (now, or as it was at a version or date).
    Get {
        /// Community id.
        community: String,
        /// Page name.
        page: String,
        /// A version number from `wiki history`, a date (2026-11-30: as the page was at
        /// the end of that day) or a date and time (2026-11-30 14:02), in local time.
        #[arg(long, value_name = "N|DATE")]
        at: Option<String>,
    },
    /// Who changed a page and when, one line per version, with lines added and removed.
    History {
        /// Community id.
        community: String,
        /// Page name.
        page: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Bring back a page's text from a version or date, as a new edit (it syncs like any
    /// edit, and can itself be undone).
    Restore {
        /// Community id.
        community: String,
        /// Page name.
        page: String,
        /// A version number from `wiki history`, or a date or date and time (local).
        #[arg(long, value_name = "N|DATE")]
        at: String,
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

pub(crate) fn parse_audience(s: &str) -> Result<Audience, String> {
    Audience::parse(s).ok_or_else(|| "expected public, friends, family, business or friends-of-friends".into())
}

pub(crate) fn parse_role(s: &str) -> Result<Role, String> {
    Role::parse(s).ok_or_else(|| "expected owner, editor or member".into())
}

pub(crate) fn default_home() -> PathBuf {
    if let Some(d) = std::env::var_os("XDG_DATA_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(d).join("caravan");
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."));
    home.join(".local/share/caravan")
}
