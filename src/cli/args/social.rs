//! The market's and the social plug-ins' subcommands: listings, exchanges, polls.

use clap::Subcommand;

#[derive(Subcommand)]
pub(crate) enum ExchangeCommand {
    /// Propose an exchange about someone's listing (its id, from `caravan market list`).
    /// Prints the exchange's short id.
    Propose {
        /// The listing's short id, as `caravan market list` shows it.
        listing: String,
        /// A note for its author ("two dozen, on Saturday?").
        #[arg(long, value_name = "TEXT", default_value = "")]
        note: String,
    },
    /// Accept an exchange proposed about one of your listings.
    Accept {
        /// The exchange's short id, as `caravan exchange list` shows it.
        id: String,
    },
    /// Mark an exchange done on your side: it is completed when both parties say so.
    Complete {
        /// The exchange's short id, as `caravan exchange list` shows it.
        id: String,
    },
    /// Call an exchange off (before both parties completed it).
    Cancel {
        /// The exchange's short id, as `caravan exchange list` shows it.
        id: String,
    },
    /// The exchanges in your communities: yours first, with where each stands.
    List {
        /// Print JSON (ids, node ids, times in ms).
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
pub(crate) enum MarketCommand {
    /// Offer something (goods, a service, a ride) to the community's members, or with
    /// `--public` to anyone. Prints the listing's short id.
    Offer(ListingArgs),
    /// Ask for something: the same options as `offer`.
    Request(ListingArgs),
    /// List what stands in the community's market (expired listings are hidden).
    List {
        /// Community id.
        community: String,
        /// Only listings whose title, description, terms or place hold every word.
        #[arg(long, value_name = "TEXT")]
        search: Option<String>,
        /// Only offers or only requests.
        #[arg(long, value_parser = ["offer", "request"])]
        kind: Option<String>,
        /// Only your own listings.
        #[arg(long)]
        mine: bool,
        /// Print JSON (ids, node ids, times in ms).
        #[arg(long)]
        json: bool,
    },
    /// Withdraw one of your listings (by the id `offer`, `request` or `list` shows).
    Withdraw {
        /// Community id.
        community: String,
        /// The listing's short id, as `caravan market list` shows it.
        id: String,
    },
}

/// What `caravan market offer` and `request` take.
#[derive(clap::Args)]
pub(crate) struct ListingArgs {
    /// Community id.
    pub(crate) community: String,
    /// A short title ("Eggs", "Ride to town on Friday").
    pub(crate) title: String,
    /// A longer description.
    #[arg(long, value_name = "TEXT")]
    pub(crate) description: Option<String>,
    /// Terms, in your words ("pick up at the farm", "in exchange for honey").
    #[arg(long, value_name = "TEXT")]
    pub(crate) terms: Option<String>,
    /// A price: an amount and its unit (`--price 2.50 EUR`, `--price 3 hours`).
    #[arg(long, num_args = 2, value_names = ["AMOUNT", "UNIT"])]
    pub(crate) price: Option<Vec<String>>,
    /// How many.
    #[arg(long, value_name = "N")]
    pub(crate) quantity: Option<u64>,
    /// Where.
    #[arg(long, value_name = "PLACE")]
    pub(crate) place: Option<String>,
    /// Days until it is withdrawn by itself.
    #[arg(long, value_name = "DAYS", default_value_t = 30)]
    pub(crate) expires: u64,
    /// Readable by anyone who gets the community's public documents, not only members.
    #[arg(long)]
    pub(crate) public: bool,
}

#[derive(Subcommand)]
pub(crate) enum PollCommand {
    /// Ask a question. Who is a member now may vote; ballots are open (every member sees
    /// every vote). It ends when an owner closes it.
    Create {
        /// Community name or id.
        community: String,
        /// The question.
        question: String,
        /// An option (give 2 to 32).
        #[arg(long = "option", value_name = "TEXT", required = true)]
        options: Vec<String>,
        /// Keep it open at least this many days (an owner closes it after).
        #[arg(long, value_name = "DAYS")]
        closes: Option<u32>,
    },
    /// The polls of your communities (or of one), newest first.
    List {
        /// Community name or id.
        community: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// A poll: its options and votes, and for a closed poll, whether your own recount
    /// matches the owner's count.
    Show {
        /// The poll's short id, as `caravan poll list` shows it.
        poll: String,
        /// Print JSON (node ids, counted positions, Merkle roots in hex).
        #[arg(long)]
        json: bool,
    },
    /// Close a poll (owners): count the votes here and commit to the count, which every
    /// member can recount.
    Close {
        /// The poll's short id, as `caravan poll list` shows it.
        poll: String,
    },
}
