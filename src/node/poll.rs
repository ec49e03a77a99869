//! The polls plug-in's library API (`plugin::poll`): asking, voting, closing with a
//! commitment, and recounting. Who may vote in a poll is who was a member at the
//! authority heads the poll cites, resolved from that part of the log alone (the same
//! pure resolution every node runs), so every member counts the same voters.

use super::*;
use crate::authority::{self, OpId};
use crate::limits::POLL_OPTIONS_MAX;
use crate::plugin::poll::{self, Close, Poll, PollRef, Recount, Tally};

const POLLS: &str = "polls";

/// A poll as this node reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollView {
    /// Its community.
    pub community: CommunityId,
    /// The poll, with every position in the document.
    pub poll: Poll,
    /// Who may vote: the members at the authority heads it cites.
    pub eligible: Vec<NodeId>,
    /// Whether this node holds every authority operation the poll cites (if not, some
    /// voters may not be known as eligible yet).
    pub authority_complete: bool,
    /// The count as the document stands now (eligible voters only).
    pub tally: Tally,
    /// For a closed poll: the count made again at the close's heads, and whether it
    /// matches the close's commitment.
    pub recount: Option<Recount>,
}

impl PollView {
    /// Whether an owner closed it.
    pub fn closed(&self) -> bool {
        self.poll.close.is_some()
    }
}

impl Node {
    /// Asks community `cid`'s members `question`, with `options` (2 to 32, one line each,
    /// distinct); voting ends when an owner closes it, not before `closes_unix_ms` if
    /// given. Who may vote is who is a member now, as the authority log says here.
    pub fn create_poll(
        &mut self,
        cid: &CommunityId,
        question: &str,
        options: &[String],
        closes_unix_ms: Option<u64>,
    ) -> Result<PollRef, Error> {
        let question = question.trim();
        let options: Vec<String> = options.iter().map(|o| o.trim().to_string()).collect();
        if question.is_empty() {
            return Err(Error::Invalid("a poll needs a question".into()));
        }
        if options.len() < 2 || options.len() > POLL_OPTIONS_MAX {
            return Err(Error::Invalid(format!(
                "a poll offers 2 to {POLL_OPTIONS_MAX} options (give --option for each)"
            )));
        }
        if let Some(bad) = options.iter().find(|o| o.is_empty() || o.contains('\n')) {
            return Err(Error::Invalid(format!("an option is one non-empty line: {bad:?}")));
        }
        let lower: HashSet<String> = options.iter().map(|o| o.to_lowercase()).collect();
        if lower.len() != options.len() {
            return Err(Error::Invalid("two options are the same".into()));
        }
        let view = self.store.read()?;
        let heads = self.resolved(&view, cid)?.state.heads.clone();
        drop(view);
        let closes = closes_unix_ms.unwrap_or(0);
        self.edit_kind(cid, POLLS, |d, me, now| poll::create(d, me, now, question, &options, &heads, closes))
    }

    /// Every poll in our communities (or in `cid`), newest first.
    pub fn polls(&mut self, cid: Option<&CommunityId>) -> Result<Vec<PollView>, Error> {
        let mut out = Vec::new();
        let ids: Vec<CommunityId> = match cid {
            Some(c) => vec![*c],
            None => self.communities()?.into_iter().filter(|c| !c.removed).map(|c| c.id).collect(),
        };
        for cid in ids {
            let view = self.store.read()?;
            let resolved = self.resolved(&view, &cid)?;
            drop(view);
            // One copy of the document for every recount in it (a recount forks it).
            let (polls, doc) = self.read_kind(&cid, POLLS, |d| (poll::polls(d), d.clone()))?;
            for p in polls {
                let (eligible, complete) = members_at(&resolved.state.founder, &resolved.ops, &p.authority_heads);
                let admits = |n: &NodeId| eligible.contains(n);
                let tally = poll::tally(&p, admits);
                let recount = poll::recount(&doc, &p.id, admits);
                let mut eligible: Vec<NodeId> = eligible.into_iter().collect();
                eligible.sort();
                out.push(PollView { community: cid, poll: p, eligible, authority_complete: complete, tally, recount });
            }
        }
        out.sort_by_key(|v| std::cmp::Reverse((v.poll.at_unix_ms, v.poll.id)));
        Ok(out)
    }

    /// The poll `id` names: its id, the start of it, or its handle ([`crate::plugin::handle`]).
    pub fn poll(&mut self, id: &str) -> Result<PollView, Error> {
        let id = id.trim();
        let mut found: Vec<PollView> =
            self.polls(None)?.into_iter().filter(|v| crate::plugin::names_item(&v.poll.id.id(), id)).collect();
        match found.len() {
            1 => Ok(found.remove(0)),
            0 => Err(Error::Invalid(format!("no poll {id} (`caravan poll list`)"))),
            _ => Err(Error::Invalid(format!("{id} names several polls: give more of the id"))),
        }
    }

    /// Votes `option` (its text, ignoring case, or its number from 1) in poll `id`; a
    /// later vote replaces an earlier one. Refused once the poll is closed, or if this
    /// node was not a member when the poll was asked.
    pub fn vote(&mut self, id: &str, option: &str) -> Result<(PollView, usize), Error> {
        let v = self.poll(id)?;
        let me = self.node_id();
        let p = &v.poll;
        let wanted = option.trim();
        let index = p
            .options
            .iter()
            .position(|o| o.eq_ignore_ascii_case(wanted) || o.to_lowercase() == wanted.to_lowercase())
            .or_else(|| wanted.parse::<usize>().ok().filter(|n| (1..=p.options.len()).contains(n)).map(|n| n - 1))
            .ok_or_else(|| {
                Error::Invalid(format!(
                    "poll {} has no option {wanted:?} (it offers: {})",
                    p.id.id(),
                    p.options.join(", ")
                ))
            })?;
        if v.closed() {
            return Err(Error::Invalid(format!("poll {} is closed", p.id.id())));
        }
        if !v.eligible.contains(&me) {
            return Err(Error::Invalid(format!(
                "you were not a member of the community when poll {} was asked: your vote would not count",
                p.id.id()
            )));
        }
        let pid = p.id;
        self.edit_kind(&v.community, POLLS, |d, me, _| poll::vote(d, me, &pid, index))?;
        Ok((self.poll(&pid.id())?, index))
    }

    /// Closes poll `id` as an owner: counts the eligible voters' positions as the
    /// document stands here and commits to the counts and to the Merkle root of the
    /// counted positions, at these document heads. Refused before the poll's own closing
    /// time.
    pub fn close_poll(&mut self, id: &str) -> Result<PollView, Error> {
        let v = self.poll(id)?;
        let p = v.poll.clone();
        if v.closed() {
            return Err(Error::Invalid(format!("poll {} is closed already", p.id.id())));
        }
        let now = (self.clock)();
        if p.closes_unix_ms > now {
            return Err(Error::Invalid(format!(
                "poll {} is open until {}: close it then",
                p.id.id(),
                crate::words::local_time(p.closes_unix_ms)
            )));
        }
        let role = self.my_role(&self.store.read()?, &v.community)?;
        if role != Role::Owner {
            return Err(Error::NotPermitted { role, action: "close a poll (only an owner does)" });
        }
        let eligible: HashSet<NodeId> = v.eligible.iter().copied().collect();
        let heads_now = self.read_kind(&v.community, POLLS, |d| d.clone().get_heads().len())?;
        if heads_now > crate::limits::POLL_HEADS_MAX {
            return Err(Error::Invalid(format!(
                "the polls document has {heads_now} concurrent branches; sync with the members and close it again"
            )));
        }
        self.edit_kind(&v.community, POLLS, |d, _, _| {
            let heads: Vec<[u8; 32]> = d.get_heads().iter().map(|h| h.0).collect();
            let now = poll::polls(d).into_iter().find(|x| x.id == p.id).unwrap_or(p.clone());
            let t = poll::tally(&now, |n| eligible.contains(n));
            poll::close(d, &p.id, &Close { heads, counts: t.counts, root: t.root })
        })?;
        self.poll(&p.id.id())
    }
}

/// The members at `heads` of a log: the log's operations that are `heads` or come before
/// them, resolved alone. Also whether every operation they need is held here.
fn members_at(founder: &[u8; 32], ops: &[authority::Signed], heads: &[OpId]) -> (HashSet<NodeId>, bool) {
    let by_id: HashMap<OpId, &authority::Signed> = ops.iter().map(|s| (s.id, s)).collect();
    let mut keep: HashSet<OpId> = HashSet::new();
    let mut stack: Vec<OpId> = heads.to_vec();
    let mut complete = true;
    while let Some(id) = stack.pop() {
        if !keep.insert(id) {
            continue;
        }
        match by_id.get(&id) {
            Some(s) => stack.extend(s.op.follows.iter().copied()),
            None => complete = false,
        }
    }
    let subset: Vec<authority::Signed> = ops.iter().filter(|s| keep.contains(&s.id)).cloned().collect();
    let state = authority::resolve(*founder, &subset);
    (state.members.keys().map(NodeId::from_signing_public).collect(), complete)
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{Kit, carry, community};
    use super::*;

    /// Asked, voted over sticks (one member changes its mind), closed by the owner, and
    /// recounted by a member: the recount matches the commitment; a member invited after
    /// the poll was asked votes, but its vote is refused here and never counted.
    #[test]
    fn a_poll_is_voted_closed_and_recounted_by_members() {
        let kit = Kit::new();
        let (mut o, mut m, mut late) = (kit.node("Owner"), kit.node("Member"), kit.node("Late"));
        let cid = community(&mut o, &mut m, Role::Member);
        let opts = ["north".to_string(), "south".to_string()];
        let p = o.create_poll(&cid, "Where to dig the well?", &opts, None).unwrap();
        assert!(o.create_poll(&cid, "?", &["one".to_string()], None).is_err(), "one option");
        o.add_contact(&late.card(), &[]).unwrap();
        late.add_contact(&o.card(), &[]).unwrap();
        o.invite(&cid, &late.card(), Role::Member).unwrap();
        carry(&mut o, &mut m);
        carry(&mut o, &mut late);
        o.vote(&p.id(), "north").unwrap();
        m.vote(&p.id(), "NORTH").unwrap();
        m.vote(&p.id(), "2").unwrap();
        assert!(m.vote(&p.id(), "east").is_err());
        assert!(late.vote(&p.id(), "north").unwrap_err().to_string().contains("not a member"));
        assert!(m.close_poll(&p.id()).is_err(), "a member cannot close");
        carry(&mut m, &mut o);
        let v = o.poll(&p.id()).unwrap();
        assert_eq!(v.tally.counts, vec![1, 1]);
        assert_eq!(v.eligible.len(), 2, "the late member is not eligible");
        let closed = o.close_poll(&p.id()).unwrap();
        assert!(closed.recount.as_ref().unwrap().matches);
        assert!(o.vote(&p.id(), "south").is_err(), "closed");
        carry(&mut o, &mut m);
        let seen = m.poll(&p.id()).unwrap();
        let r = seen.recount.unwrap();
        assert!(r.matches, "the member's own recount matches the close");
        assert_eq!(r.tally.counts, vec![1, 1]);
        assert_eq!(seen.poll.close.unwrap().root, r.tally.root);
    }
}
