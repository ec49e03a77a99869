//! Links between communities (`plugin::link`): proposing, countersigning and ending a
//! link as an owner, and reading the other side's shared public content as a member.
//!
//! A member's node follows the public part of every community its communities have a
//! proposal or a link with (the store's `linked` list, kept by [`Node::refresh_linked`]
//! after any links document moves), so the other side's acceptance, its unlink and its
//! shared content reach it over any link. Once a link ends, the other side is no longer
//! followed: nothing new of it is read.

use super::follow::Followed;
use super::*;
use crate::plugin::link::{self, Entry, Link, LinkState, Side, Statement};
use crate::plugin::market::{self, Listing};

const LINKS: &str = "links";
/// The communities our communities propose or hold links with, one id per line.
const LINKED: &str = "linked";
/// Links seen ended: `<statement hash> <community that ended it>` per line (once a link
/// ends, the other side is no longer read, so what it said is remembered here).
const ENDED: &str = "links-ended";

fn ended_in(r: &impl Reads) -> Result<Vec<(String, CommunityId)>, Error> {
    Ok(r.meta(ENDED)?
        .map(|v| {
            String::from_utf8_lossy(&v)
                .lines()
                .filter_map(|l| {
                    let (h, c) = l.split_once(' ')?;
                    Some((h.to_string(), CommunityId::parse(c)?))
                })
                .collect()
        })
        .unwrap_or_default())
}

/// A link of one of our communities, as both sides' documents say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkView {
    /// The other community.
    pub other: CommunityId,
    /// Its name, if its public part reached this node.
    pub other_name: Option<String>,
    /// What flows (share names).
    pub shares: Vec<&'static str>,
    /// Where it stands.
    pub state: LinkStatus,
    /// The statement's hash (its id).
    pub id: String,
}

/// Where a link stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkStatus {
    /// Proposed by an owner of this community: the other's owner has not signed.
    ProposedByUs,
    /// Proposed by an owner of the other: an owner here accepts with
    /// [`Node::link_communities`].
    ProposedToUs,
    /// Signed by an owner of each: shared content flows.
    Linked,
    /// Ended (by the side named).
    Ended {
        /// Whether it was this community's owner who ended it.
        by_us: bool,
    },
}

pub(super) fn linked_in(r: &impl Reads) -> Result<Vec<CommunityId>, Error> {
    Ok(r.meta(LINKED)?
        .map(|v| String::from_utf8_lossy(&v).lines().filter_map(CommunityId::parse).collect())
        .unwrap_or_default())
}

impl Node {
    /// Proposes a link from our community `mine` (we own it) to `other`, sharing `shares`
    /// ("market", "feed", "reviews"): or, if an owner of `other` already proposed the
    /// same, countersigns it and the link holds. Either way it travels with the next sync.
    pub fn link_communities(
        &mut self,
        mine: &CommunityId,
        other: &CommunityId,
        shares: &[String],
    ) -> Result<LinkView, Error> {
        if mine == other {
            return Err(Error::Invalid("a community links to another community, not to itself".into()));
        }
        let mut bits = 0u8;
        for s in shares {
            let bit = link::SHARES.iter().find(|(n, _)| n == &s.as_str()).map(|(_, b)| *b).ok_or_else(|| {
                Error::Invalid(format!("nothing called {s:?} can be shared (market, feed or reviews)"))
            })?;
            bits |= bit;
        }
        if bits == 0 {
            return Err(Error::Invalid("say what the link shares: --share market (or feed, reviews)".into()));
        }
        let view = self.store.read()?;
        self.require_owner(&view, mine, "link the community")?;
        let (genesis, chain) = self.membership_proof(mine)?;
        drop(view);
        self.follow_linked(other)?;
        let entries = self.link_entries(mine, other)?;
        if let Some(e) = entries.iter().find(|e| matches!(e.state, LinkState::Linked(_)) && e.statement.shares == bits)
        {
            return self.link_view(mine, e);
        }
        let offer = entries.iter().find_map(|e| match &e.state {
            LinkState::Proposed { by, side } if by == other && e.statement.shares == bits => {
                Some((e.statement.clone(), side.clone()))
            }
            _ => None,
        });
        let (key, bytes, hash) = match offer {
            Some((s, theirs)) => {
                let mine_side = Side::sign(&self.identity, genesis, chain, &s.encode());
                let l = Link { statement: s.clone(), sides: [theirs, mine_side] };
                (format!("l/{}", s.hash_hex()), l.encode(), s.hash_hex())
            }
            None => {
                let s = Statement { a: *mine, b: *other, shares: bits, n: (self.clock)() };
                (format!("p/{}", s.hash_hex()), link::propose(&self.identity, &s, genesis, chain), s.hash_hex())
            }
        };
        self.edit_kind(mine, LINKS, |d, _, _| {
            use automerge::transaction::Transactable;
            d.put(automerge::ROOT, key.as_str(), bytes)
        })?;
        self.refresh_linked_now()?;
        self.community_links(mine)?
            .into_iter()
            .find(|v| v.id == hash)
            .ok_or_else(|| Error::Invalid("the link was not stored".into()))
    }

    /// Ends every link (and withdraws every proposal) between our community `mine` (we
    /// own it) and `other`. Returns how many.
    pub fn unlink_communities(&mut self, mine: &CommunityId, other: &CommunityId) -> Result<usize, Error> {
        let view = self.store.read()?;
        self.require_owner(&view, mine, "unlink the community")?;
        let (genesis, chain) = self.membership_proof(mine)?;
        drop(view);
        let open: Vec<Statement> = self
            .link_entries(mine, other)?
            .into_iter()
            .filter(|e| !matches!(e.state, LinkState::Unlinked { .. }))
            .map(|e| e.statement)
            .collect();
        if open.is_empty() {
            return Err(Error::Invalid(format!("no link between this community and {other}")));
        }
        let identity = self.identity.clone();
        self.edit_kind(mine, LINKS, |d, _, _| {
            use automerge::transaction::Transactable;
            for s in &open {
                d.put(
                    automerge::ROOT,
                    format!("u/{}", s.hash_hex()),
                    link::unlink(&identity, s, genesis, chain.clone()),
                )?;
            }
            Ok(())
        })?;
        self.refresh_linked_now()?;
        Ok(open.len())
    }

    /// Community `cid`'s links and proposals, as both sides' documents say.
    pub fn community_links(&mut self, cid: &CommunityId) -> Result<Vec<LinkView>, Error> {
        let mut others: Vec<CommunityId> =
            self.read_kind(cid, LINKS, link::read)?.iter().map(|e| e.statement.other(cid)).collect();
        others.sort();
        others.dedup();
        let mut out = Vec::new();
        for other in others {
            let entries = self.link_entries(cid, &other)?;
            // A proposal that a link of the same shares answered (or that ended with
            // it) is history, not a second link.
            let settled = |bits: u8| {
                entries.iter().any(|e| e.statement.shares == bits && !matches!(e.state, LinkState::Proposed { .. }))
            };
            for e in &entries {
                if matches!(e.state, LinkState::Proposed { .. }) && settled(e.statement.shares) {
                    continue;
                }
                out.push(self.link_view(cid, e)?);
            }
        }
        Ok(out)
    }

    /// The listings of communities linked to `cid` sharing their market: each with the
    /// community it comes from.
    pub fn linked_listings(&mut self, cid: &CommunityId) -> Result<Vec<(CommunityId, Listing)>, Error> {
        let now = (self.clock)();
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        for v in self.community_links(cid)? {
            if v.state == LinkStatus::Linked && v.shares.contains(&"market") && seen.insert(v.other) {
                for l in self.read_kind(&v.other, "market-public", |d| market::listings(d, now))? {
                    out.push((v.other, l));
                }
            }
        }
        Ok(out)
    }

    /// The public posts of communities linked to `cid` sharing their feed.
    pub fn linked_posts(&mut self, cid: &CommunityId) -> Result<Vec<(CommunityId, Post)>, Error> {
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        for v in self.community_links(cid)? {
            if v.state == LinkStatus::Linked && v.shares.contains(&"feed") && seen.insert(v.other) {
                out.extend(self.public_posts(&v.other)?.into_iter().map(|p| (v.other, p)));
            }
        }
        Ok(out)
    }

    /// Every statement between `mine` and `other`, from both links documents, each at
    /// its furthest state.
    fn link_entries(&mut self, mine: &CommunityId, other: &CommunityId) -> Result<Vec<Entry>, Error> {
        let mut all = self.read_kind(mine, LINKS, link::read)?;
        all.extend(self.read_kind(other, LINKS, link::read)?);
        let ended = ended_in(&self.store.read()?)?;
        let mut out: Vec<Entry> = Vec::new();
        for mut e in all {
            let s = &e.statement;
            if !((s.a == *mine && s.b == *other) || (s.a == *other && s.b == *mine)) {
                continue;
            }
            if let Some((_, by)) = ended.iter().find(|(h, _)| *h == e.hash_hex) {
                e.state = LinkState::Unlinked { by: *by };
            }
            match out.iter_mut().find(|x| x.hash_hex == e.hash_hex) {
                Some(x) if e.state.rank() > x.state.rank() => *x = e,
                Some(_) => {}
                None => out.push(e),
            }
        }
        Ok(out)
    }

    fn link_view(&mut self, mine: &CommunityId, e: &Entry) -> Result<LinkView, Error> {
        let other = e.statement.other(mine);
        let state = match &e.state {
            LinkState::Proposed { by, .. } if by == mine => LinkStatus::ProposedByUs,
            LinkState::Proposed { .. } => LinkStatus::ProposedToUs,
            LinkState::Linked(_) => LinkStatus::Linked,
            LinkState::Unlinked { by } => LinkStatus::Ended { by_us: by == mine },
        };
        Ok(LinkView {
            other,
            other_name: self.community_name(&other)?,
            shares: e.statement.share_names(),
            state,
            id: e.hash_hex.clone(),
        })
    }

    /// Follows `other`'s public part as a linked community (at once, and re-reading what
    /// was carried here of it).
    fn follow_linked(&mut self, other: &CommunityId) -> Result<(), Error> {
        let mut imp = Import::new(self.write_txn()?, (self.clock)());
        let result = (|| {
            let mut list = linked_in(&imp.t)?;
            if !list.contains(other) {
                list.push(*other);
                write_linked(&mut imp.t, &list)?;
                let again = self.to_read_again(&imp, Followed::Community(*other))?;
                self.reread(&mut imp, again)?;
            }
            Ok(())
        })();
        let Import { t, touched, .. } = imp;
        self.finish(t, result, touched)
    }

    fn refresh_linked_now(&mut self) -> Result<(), Error> {
        let mut imp = Import::new(self.write_txn()?, (self.clock)());
        let result = self.refresh_linked(&mut imp);
        let Import { t, touched, .. } = imp;
        self.finish(t, result, touched)
    }

    /// Recomputes which communities are linked to ours (proposed or linked, not ended,
    /// by both sides' documents) and follows them; what becomes readable is read now.
    /// Where an owner here proposed a link and the other side's owner proposed the same
    /// (the same two communities and shares), both consented: this node countersigns.
    pub(super) fn refresh_linked(&mut self, imp: &mut Import) -> Result<(), Error> {
        for _ in 0..3 {
            let before = linked_in(&imp.t)?;
            let mut now: Vec<CommunityId> = Vec::new();
            let part = Part::parse(LINKS).ok_or_else(|| Error::UnknownKind(LINKS.into()))?;
            let mut countersign: Vec<(CommunityId, Statement, Side)> = Vec::new();
            let mut copies: Vec<(CommunityId, Link)> = Vec::new();
            let mut remembered = ended_in(&imp.t)?;
            let remembered_before = remembered.len();
            for cid in super::authority::joined_communities(&imp.t)? {
                let own = DocId::Community { id: cid, part };
                let mine = link::read(&self.load_doc(&imp.t, own)?.doc);
                let mut others: Vec<CommunityId> = mine.iter().map(|e| e.statement.other(&cid)).collect();
                others.sort();
                others.dedup();
                for other in others {
                    let theirs = DocId::Community { id: other, part };
                    let mut entries = mine.clone();
                    entries.extend(match self.carried_doc(&imp.t, theirs)? {
                        Some(d) => link::read(&d),
                        None => link::read(&self.load_doc(&imp.t, theirs)?.doc),
                    });
                    let pair = |s: &Statement| (s.a == cid && s.b == other) || (s.a == other && s.b == cid);
                    let ended: HashSet<String> = entries
                        .iter()
                        .filter(|e| matches!(e.state, LinkState::Unlinked { .. }))
                        .map(|e| e.hash_hex.clone())
                        .collect();
                    for e in &entries {
                        if let LinkState::Unlinked { by } = e.state
                            && !remembered.iter().any(|(h, _)| *h == e.hash_hex)
                        {
                            remembered.push((e.hash_hex.clone(), by));
                        }
                        // A link the other side's owner completed: our owners keep a copy
                        // in our own document, so our members read it from there too.
                        if let LinkState::Linked(l) = &e.state
                            && !ended.contains(&e.hash_hex)
                            && !mine.iter().any(|m| m.hash_hex == e.hash_hex && matches!(m.state, LinkState::Linked(_)))
                            && !copies
                                .iter()
                                .any(|(c, x): &(CommunityId, Link)| *c == cid && x.statement == l.statement)
                        {
                            copies.push((cid, l.clone()));
                        }
                    }
                    let open: Vec<&Entry> =
                        entries.iter().filter(|e| pair(&e.statement) && !ended.contains(&e.hash_hex)).collect();
                    if !open.is_empty() && !now.contains(&other) {
                        now.push(other);
                    }
                    let linked = |bits: u8| {
                        open.iter().any(|e| matches!(e.state, LinkState::Linked(_)) && e.statement.shares == bits)
                    };
                    let ours = |bits: u8| {
                        open.iter().any(|e| {
                            matches!(&e.state, LinkState::Proposed { by, .. } if *by == cid)
                                && e.statement.shares == bits
                        })
                    };
                    for e in &open {
                        if let LinkState::Proposed { by, side } = &e.state
                            && *by == other
                            && ours(e.statement.shares)
                            && !linked(e.statement.shares)
                            && !countersign.iter().any(|(c, s, _)| *c == cid && s.shares == e.statement.shares)
                        {
                            countersign.push((cid, e.statement.clone(), side.clone()));
                        }
                    }
                }
            }
            if remembered.len() != remembered_before {
                remembered.drain(..remembered.len().saturating_sub(crate::limits::LINKS_ENDED_MAX));
                let text: Vec<String> = remembered.iter().map(|(h, c)| format!("{h} {c}")).collect();
                imp.t.set_meta(ENDED, text.join("\n").as_bytes())?;
            }
            let mut writes: Vec<(CommunityId, Link)> = copies;
            for (cid, statement, theirs) in countersign {
                if self.my_role(&imp.t, &cid).ok() != Some(Role::Owner) {
                    continue;
                }
                let (genesis, chain) = self.membership_proof(&cid)?;
                let mine = Side::sign(&self.identity, genesis, chain, &statement.encode());
                writes.push((cid, Link { statement: statement.clone(), sides: [theirs, mine] }));
            }
            for (cid, l) in writes {
                if self.my_role(&imp.t, &cid).ok() != Some(Role::Owner) {
                    continue;
                }
                let key = format!("l/{}", l.statement.hash_hex());
                let event = self.edit_in(&mut imp.t, DocId::Community { id: cid, part }, |d, _, _| {
                    use automerge::transaction::Transactable;
                    d.put(automerge::ROOT, key.as_str(), l.encode())
                })?;
                self.queued.push(event);
            }
            now.sort();
            let mut sorted_before = before.clone();
            sorted_before.sort();
            if now == sorted_before {
                return Ok(());
            }
            write_linked(&mut imp.t, &now)?;
            let mut again = Vec::new();
            for other in now.iter().filter(|c| !before.contains(c)) {
                again.extend(self.to_read_again(imp, Followed::Community(*other))?);
            }
            again.sort();
            again.dedup();
            self.reread(imp, again)?;
        }
        Ok(())
    }
}

fn write_linked(t: &mut Txn, list: &[CommunityId]) -> Result<(), Error> {
    let text: Vec<String> = list.iter().map(CommunityId::to_string).collect();
    t.set_meta(LINKED, text.join("\n").as_bytes())?;
    Ok(())
}
