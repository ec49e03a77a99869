//! `caravan community`: founding, invitations, roles, the authority log, links.

use caravan::Role;

use super::parse_role;
use clap::Subcommand;

#[derive(Subcommand)]
pub(crate) enum CommunityCommand {
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
    /// List your communities (commands take their names; `--verbose` shows their ids).
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// Also show each community's id.
        #[arg(long, short)]
        verbose: bool,
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
    /// Remove a member (owners). A new community key goes to everyone else in the same
    /// step: nothing sealed afterwards is readable by the removed member; what was shared
    /// before stays readable to them.
    Remove {
        /// Community name or id.
        community: String,
        /// The member: a name, node id or card.
        member: String,
    },
    /// Give a member another role: owner, editor or member (owners).
    Role {
        /// Community name or id.
        community: String,
        /// The member: a name, node id or card.
        member: String,
        /// The new role.
        #[arg(value_parser = parse_role)]
        role: Role,
    },
    /// Quarantine a member who floods or abuses the community (owners): its posts and
    /// listings are hidden for everyone, and what it sends is kept for audit, not shown,
    /// until `community release`.
    Quarantine {
        /// Community name or id.
        community: String,
        /// The member: a name, node id or card.
        member: String,
    },
    /// Lift a quarantine (owners): what was kept for audit shows again.
    Release {
        /// Community name or id.
        community: String,
        /// The member: a name, node id or card.
        member: String,
    },
    /// Make a member one of the community's certifiers, who sign certificates for
    /// listings and skills (owners); `--remove` to unmake one.
    Certifier {
        /// Community name or id.
        community: String,
        /// The member: a name, node id or card.
        member: String,
        /// No longer a certifier.
        #[arg(long)]
        remove: bool,
    },
    /// How many certifiers must sign the same statement for a certificate to hold
    /// (owners; 1 until set).
    Threshold {
        /// Community name or id.
        community: String,
        /// 1 to 16.
        k: u8,
    },
    /// Leave a community. What you have stays readable here; nothing new reaches you.
    Leave {
        /// Community name or id.
        community: String,
    },
    /// Link your community (you own it) with another, so designated public content flows
    /// both ways: each side's members see the other's shared market, posts or reviews
    /// without joining it. The first owner proposes; an owner of the other community
    /// accepts by running the same command from its side. Carried by your next sync.
    Link {
        /// Your community: name or id.
        community: String,
        /// The other community's id (or name, if you belong to it too).
        other: String,
        /// What flows: market (public listings), feed (public posts), reviews. Repeat.
        #[arg(long = "share", value_name = "WHAT", required = true)]
        shares: Vec<String>,
    },
    /// A community's links with other communities, and proposals waiting.
    Links {
        /// Community name or id.
        community: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// End your community's link with another (either side's owner may): nothing new
    /// flows after it.
    Unlink {
        /// Your community: name or id.
        community: String,
        /// The other community's id (or name).
        other: String,
    },
    /// The community's authority log: who invited, promoted, removed whom, and what was
    /// void (concurrent changes resolved by seniority, removals, the last owner kept).
    Log {
        /// Community name or id.
        community: String,
        /// Print JSON (node ids and operation ids).
        #[arg(long)]
        json: bool,
    },
}
