//! The resolution: one state from a set of operations, the same at every node.
//!
//! Operations are replayed in one order every node computes alike: causal order, and
//! among operations ready at once, the most senior author first (the founder, then
//! owners in the order they became owners, then everyone else), then the smaller causal
//! depth, then the smaller id. No timestamp is read. Each operation is checked against
//! the state it meets; one that breaks a rule is logged void and changes nothing. Two
//! rules look beyond that state, at concurrency:
//!
//! - *seniority*: an operation is void if a more senior owner made, concurrently, a
//!   change about the same member, or removed or demoted its author;
//! - *strong removal*: when a removal (a demotion, a leave) applies, the removed
//!   member's operations that the removal had not seen are void. If some of them were
//!   already applied, the replay starts again without them.
//!
//! `spec/membership.md` states the rules with worked examples.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::{Action, OpId, Signed, epoch_tag};
use crate::doc::Role;
use crate::limits::AUTHORITY_OPS_MAX;

/// A current member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Its role.
    pub role: Role,
    /// Its X25519 key, once an operation told it.
    pub agreement: Option<[u8; 32]>,
}

/// What became of an operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// It took effect.
    Applied,
    /// It broke a rule, and changed nothing.
    Void(&'static str),
    /// It follows operations this node does not hold yet.
    Waiting,
}

/// One operation of the log, as resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Its id.
    pub id: OpId,
    /// Its author.
    pub author: [u8; 32],
    /// What it asked.
    pub action: Action,
    /// What became of it.
    pub outcome: Outcome,
}

/// A key epoch: the community key a rekey started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Epoch {
    /// The tag its bundles carry (0 for the community's first key).
    pub tag: u32,
    /// Its number, as people count epochs.
    pub number: u32,
    /// The rekey operation (zeros for the first key).
    pub op: OpId,
    /// Who was given its key: the members when it started, and who joined while it was
    /// the current one.
    pub holders: BTreeSet<[u8; 32]>,
}

/// A community's membership as the log resolves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct State {
    /// The founder (genesis root).
    pub founder: [u8; 32],
    /// Current members.
    pub members: BTreeMap<[u8; 32], Member>,
    /// Members removed or gone.
    pub gone: BTreeSet<[u8; 32]>,
    /// Members whose content is hidden.
    pub quarantined: BTreeSet<[u8; 32]>,
    /// Key epochs in the order they started; the last is the current one.
    pub epochs: Vec<Epoch>,
    /// Every operation, in resolution order, then those waiting.
    pub log: Vec<Entry>,
    /// The operations no other follows: what a new operation follows.
    pub heads: Vec<OpId>,
    /// The last operation that removed (or demoted) each member, by member: what content
    /// is judged against (`saw`).
    pub changed_by: BTreeMap<[u8; 32], OpId>,
    /// What each resolved operation follows (for `saw`).
    pub follows: BTreeMap<OpId, Vec<OpId>>,
    /// Members an owner made certifiers (and not since unmade, removed or gone).
    pub certifiers: BTreeSet<[u8; 32]>,
    /// How many certifiers must sign the same statement (1 until an owner sets it).
    pub threshold: u8,
}

impl State {
    /// A member's role, if it is a current member.
    pub fn role(&self, who: &[u8; 32]) -> Option<Role> {
        self.members.get(who).map(|m| m.role)
    }

    /// Whether the log removed this node (or it left).
    pub fn is_gone(&self, who: &[u8; 32]) -> bool {
        self.gone.contains(who)
    }

    /// Whether the log says anything about this node.
    pub fn knows(&self, who: &[u8; 32]) -> bool {
        self.members.contains_key(who) || self.gone.contains(who)
    }

    /// How many owners there are.
    pub fn owners(&self) -> usize {
        self.members.values().filter(|m| m.role == Role::Owner).count()
    }

    /// The current key epoch.
    pub fn current_epoch(&self) -> &Epoch {
        self.epochs.last().expect("the first epoch is always there")
    }

    /// Whether someone who holds the current key is no longer a member: nothing may be
    /// sealed under it before a rekey.
    pub fn needs_rekey(&self) -> bool {
        self.current_epoch().holders.iter().any(|h| !self.members.contains_key(h))
    }

    fn new(founder: [u8; 32]) -> Self {
        let mut members = BTreeMap::new();
        members.insert(founder, Member { role: Role::Owner, agreement: None });
        State {
            founder,
            members,
            gone: BTreeSet::new(),
            quarantined: BTreeSet::new(),
            epochs: vec![Epoch { tag: 0, number: 0, op: [0; 32], holders: BTreeSet::from([founder]) }],
            log: Vec::new(),
            heads: Vec::new(),
            changed_by: BTreeMap::new(),
            follows: BTreeMap::new(),
            certifiers: BTreeSet::new(),
            threshold: 1,
        }
    }

    /// Whether `op` is one of `heads` or in their causal past: whether whoever wrote
    /// under these authority heads had seen it.
    pub fn saw(&self, heads: &[OpId], op: &OpId) -> bool {
        let mut todo: Vec<OpId> = heads.to_vec();
        let mut seen = std::collections::BTreeSet::new();
        while let Some(h) = todo.pop() {
            if h == *op {
                return true;
            }
            if seen.insert(h)
                && let Some(f) = self.follows.get(&h)
            {
                todo.extend(f.iter().copied());
            }
        }
        false
    }

    /// Whether `heads` name an operation this node has not resolved: content written
    /// under them was written by someone who saw more of the log than this node has.
    pub fn lacks(&self, heads: &[OpId]) -> bool {
        heads.iter().any(|h| !self.follows.contains_key(h))
    }

    /// What the log says of content its author wrote under authority heads `heads`:
    /// `None` if the author's last removal or demotion is not concurrent with it (it
    /// was seen, or there is none); else that operation, which the content had not seen.
    pub fn unseen_change(&self, author: &[u8; 32], heads: &[OpId]) -> Option<OpId> {
        let op = self.changed_by.get(author)?;
        (!self.saw(heads, op)).then_some(*op)
    }
}

/// The graph: operations whose ancestry is complete, in causal order, with depths and
/// ancestor sets.
struct Graph<'a> {
    ops: Vec<&'a Signed>,
    depth: Vec<u32>,
    /// `anc[i]` holds bit `j` when operation `j` is an ancestor of `i`.
    anc: Vec<Vec<u64>>,
    children: Vec<Vec<usize>>,
    parents: Vec<usize>,
}

impl Graph<'_> {
    fn is_ancestor(&self, j: usize, of: usize) -> bool {
        self.anc[of][j / 64] & (1 << (j % 64)) != 0
    }
    fn concurrent(&self, a: usize, b: usize) -> bool {
        a != b && !self.is_ancestor(a, b) && !self.is_ancestor(b, a)
    }
}

/// Resolves a set of operations (any order, duplicates allowed) into a state.
pub fn resolve(founder: [u8; 32], ops: &[Signed]) -> State {
    let mut by_id: BTreeMap<OpId, &Signed> = BTreeMap::new();
    for s in ops {
        by_id.entry(s.id).or_insert(s);
    }
    // Kahn's order over operations whose every follow is held; the rest wait.
    let ids: Vec<OpId> = by_id.keys().copied().collect();
    let index: HashMap<OpId, usize> = ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
    let follows: Vec<BTreeSet<usize>> = ids
        .iter()
        .map(|id| by_id[id].op.follows.iter().map(|f| index.get(f).copied().unwrap_or(usize::MAX)).collect())
        .collect();
    let mut missing: Vec<usize> = follows.iter().map(BTreeSet::len).collect();
    let mut kids: Vec<Vec<usize>> = vec![Vec::new(); ids.len()];
    for (i, f) in follows.iter().enumerate() {
        for &p in f {
            if p != usize::MAX {
                kids[p].push(i);
            }
        }
    }
    let mut depth = vec![0u32; ids.len()];
    let mut order = Vec::new();
    let mut queue: Vec<usize> = (0..ids.len()).filter(|&i| missing[i] == 0).collect();
    while let Some(i) = queue.pop() {
        order.push(i);
        for &k in &kids[i] {
            depth[k] = depth[k].max(depth[i] + 1);
            missing[k] -= 1;
            if missing[k] == 0 {
                queue.push(k);
            }
        }
    }
    // Beyond the cap, the deepest are left waiting (ancestors are never deeper).
    order.sort_by_key(|&i| (depth[i], ids[i]));
    order.truncate(AUTHORITY_OPS_MAX);
    let placed: HashMap<usize, usize> = order.iter().enumerate().map(|(p, &i)| (i, p)).collect();
    let n = order.len();
    let words = n.div_ceil(64).max(1);
    let mut g = Graph {
        ops: order.iter().map(|&i| by_id[&ids[i]]).collect(),
        depth: order.iter().map(|&i| depth[i]).collect(),
        anc: vec![vec![0u64; words]; n],
        children: vec![Vec::new(); n],
        parents: vec![0; n],
    };
    for (p, &i) in order.iter().enumerate() {
        let mut bits = vec![0u64; words];
        for &f in &follows[i] {
            let q = placed[&f];
            bits[q / 64] |= 1 << (q % 64);
            for (b, a) in bits.iter_mut().zip(&g.anc[q]) {
                *b |= a;
            }
            g.children[q].push(p);
        }
        g.anc[p] = bits;
        g.parents[p] = follows[i].len();
    }
    let mut void: BTreeMap<usize, &'static str> = BTreeMap::new();
    let mut state = loop {
        match replay(founder, &g, &void) {
            Replay::Done(state) => break *state,
            Replay::Again(more) => {
                let before = void.len();
                void.extend(more);
                if void.len() == before {
                    // Cannot happen (a restart names an operation not yet void); a guard
                    // against looping forever all the same.
                    break match replay(founder, &g, &void) {
                        Replay::Done(s) => *s,
                        Replay::Again(_) => State::new(founder),
                    };
                }
            }
        }
    };
    for (p, &i) in order.iter().enumerate() {
        if g.children[p].is_empty() {
            state.heads.push(ids[i]);
        }
        let _ = i;
    }
    state.heads.sort();
    for s in &g.ops {
        state.follows.insert(s.id, s.op.follows.clone());
    }
    let placed_ids: BTreeSet<OpId> = g.ops.iter().map(|s| s.id).collect();
    for (id, s) in &by_id {
        if !placed_ids.contains(id) {
            state.log.push(Entry {
                id: *id,
                author: s.op.author,
                action: s.op.action.clone(),
                outcome: Outcome::Waiting,
            });
        }
    }
    state
}

enum Replay {
    Done(Box<State>),
    Again(Vec<(usize, &'static str)>),
}

const STRONG_REMOVAL: &str = "made concurrently with or after its author's removal";
const STRONG_DEMOTION: &str = "made concurrently with or after its author's demotion";

/// Seniority ranks: the founder 0, owners by the step they became owners, everyone
/// else after all owners.
struct Ranks {
    owner: HashMap<[u8; 32], u64>,
}

impl Ranks {
    fn of(&self, who: &[u8; 32]) -> u64 {
        self.owner.get(who).copied().unwrap_or(u64::MAX)
    }
}

fn replay(founder: [u8; 32], g: &Graph, outer_void: &BTreeMap<usize, &'static str>) -> Replay {
    let n = g.ops.len();
    let mut state = State::new(founder);
    let mut ranks = Ranks { owner: HashMap::from([(founder, 0)]) };
    let mut void = outer_void.clone();
    let mut applied = vec![false; n];
    let mut waiting: Vec<usize> = g.parents.clone();
    let mut ready: Vec<usize> = (0..n).filter(|&i| waiting[i] == 0).collect();
    let mut step = 0u64;
    while let Some((at, &i)) =
        ready.iter().enumerate().min_by_key(|(_, i)| (ranks.of(&g.ops[**i].op.author), g.depth[**i], g.ops[**i].id))
    {
        ready.swap_remove(at);
        step += 1;
        for &k in &g.children[i] {
            waiting[k] -= 1;
            if waiting[k] == 0 {
                ready.push(k);
            }
        }
        let s = g.ops[i];
        let outcome = match void.get(&i) {
            Some(reason) => Outcome::Void(reason),
            None => match check(&state, &ranks, g, &void, i) {
                Err(reason) => Outcome::Void(reason),
                Ok(()) => {
                    let removed = apply(&mut state, &mut ranks, s, step);
                    applied[i] = true;
                    if let Some((who, reason, only_owner_ops)) = removed {
                        let offenders: Vec<usize> = (0..n)
                            .filter(|&j| j != i && g.ops[j].op.author == who && !g.is_ancestor(j, i))
                            .filter(|&j| !void.contains_key(&j))
                            .filter(|&j| !only_owner_ops || needs_owner(&g.ops[j].op.action))
                            .collect();
                        if offenders.iter().any(|&j| applied[j]) {
                            return Replay::Again(offenders.into_iter().map(|j| (j, reason)).collect());
                        }
                        void.extend(offenders.into_iter().map(|j| (j, reason)));
                    }
                    Outcome::Applied
                }
            },
        };
        state.log.push(Entry { id: s.id, author: s.op.author, action: s.op.action.clone(), outcome });
    }
    Replay::Done(Box::new(state))
}

fn needs_owner(a: &Action) -> bool {
    !matches!(a, Action::Leave | Action::Rekey)
}

/// Whether operation `i` may apply to `state`.
fn check(
    state: &State,
    ranks: &Ranks,
    g: &Graph,
    void: &BTreeMap<usize, &'static str>,
    i: usize,
) -> Result<(), &'static str> {
    let op = &g.ops[i].op;
    let author = &op.author;
    let Some(me) = state.members.get(author) else {
        return Err(if state.gone.contains(author) {
            "its author is no longer a member"
        } else {
            "its author is not a member"
        });
    };
    let owner = me.role == Role::Owner;
    if needs_owner(&op.action) && !owner {
        return Err("only an owner may do this");
    }
    // Seniority: a concurrent change by a more senior owner about the same member, or
    // removing or demoting this author, wins.
    let mine = ranks.of(author);
    let overruled = (0..g.ops.len()).filter(|&j| !void.contains_key(&j) && g.concurrent(i, j)).any(|j| {
        let other = &g.ops[j].op;
        let theirs = ranks.of(&other.author);
        let senior = theirs < mine && state.members.get(&other.author).is_some_and(|m| m.role == Role::Owner);
        let against_me = match &other.action {
            Action::Remove { member } => member == author,
            Action::SetRole { member, role } => member == author && *role != Role::Owner && owner,
            _ => false,
        };
        let same_subject = (matches!(op.action, Action::Add { .. } | Action::SetRole { .. } | Action::Remove { .. })
            && matches!(other.action, Action::Add { .. } | Action::SetRole { .. } | Action::Remove { .. })
            && op.action.subject() == other.action.subject())
            || (matches!(op.action, Action::Certifier { .. })
                && matches!(other.action, Action::Certifier { .. })
                && op.action.subject() == other.action.subject())
            || (matches!(op.action, Action::Threshold { .. }) && matches!(other.action, Action::Threshold { .. }));
        senior && (against_me || same_subject)
    });
    if overruled {
        return Err("overruled by a concurrent change of a more senior owner");
    }
    let last_owner = |m: &[u8; 32]| state.role(m) == Some(Role::Owner) && state.owners() == 1;
    match &op.action {
        Action::Add { member, .. } => {
            let removal_unseen = (0..g.ops.len()).filter(|&j| !void.contains_key(&j) && g.concurrent(i, j)).any(|j| {
                let o = &g.ops[j].op;
                matches!(&o.action, Action::Remove { member: m } if m == member)
                    || (o.action == Action::Leave && o.author == *member)
            });
            if removal_unseen {
                return Err("a re-add concurrent with the member's removal");
            }
            if last_owner(member) && !matches!(op.action, Action::Add { role: Role::Owner, .. }) {
                return Err("it would leave the community without an owner");
            }
            Ok(())
        }
        Action::SetRole { member, role } => {
            if !state.members.contains_key(member) {
                return Err("not a member");
            }
            if *role != Role::Owner && last_owner(member) {
                return Err("it would leave the community without an owner");
            }
            Ok(())
        }
        Action::Remove { member } => {
            if !state.members.contains_key(member) {
                return Err("not a member");
            }
            if last_owner(member) {
                return Err("it would leave the community without an owner");
            }
            Ok(())
        }
        Action::Leave => {
            if last_owner(author) {
                return Err("the last owner cannot leave");
            }
            Ok(())
        }
        Action::Quarantine { member } | Action::Release { member } => {
            if !state.knows(member) {
                return Err("not a member");
            }
            Ok(())
        }
        // A bare rekey only when someone who holds the current key is gone: otherwise
        // any member could make every other member open new slots at will.
        Action::Rekey if !state.needs_rekey() => Err("nobody to rekey out"),
        Action::Rekey => Ok(()),
        Action::Certifier { member, .. } if !state.members.contains_key(member) => Err("not a member"),
        Action::Certifier { .. } | Action::Threshold { .. } => Ok(()),
    }
}

/// Applies a checked operation. Returns who it removed or demoted from owner, if anyone
/// (with the reason their unseen operations become void, and whether only those needing
/// an owner do).
fn apply(state: &mut State, ranks: &mut Ranks, s: &Signed, step: u64) -> Option<([u8; 32], &'static str, bool)> {
    let op = &s.op;
    let mut removed = None;
    let set_role = |state: &mut State, ranks: &mut Ranks, member: [u8; 32], role: Role| {
        let was = state.role(&member);
        let m = state.members.entry(member).or_insert(Member { role, agreement: None });
        m.role = role;
        if role == Role::Owner && was != Some(Role::Owner) {
            ranks.owner.insert(member, step);
        }
        if role != Role::Owner {
            ranks.owner.remove(&member);
        }
        (was == Some(Role::Owner) && role != Role::Owner).then_some((member, STRONG_DEMOTION, true))
    };
    match &op.action {
        Action::Add { member, agreement, role } => {
            let new = !state.members.contains_key(member);
            state.gone.remove(member);
            removed = set_role(state, ranks, *member, *role);
            if let Some(m) = state.members.get_mut(member) {
                m.agreement.get_or_insert(*agreement);
            }
            if new {
                // The inviter hands over the current key with the invitation.
                if let Some(e) = state.epochs.last_mut() {
                    e.holders.insert(*member);
                }
            }
        }
        Action::SetRole { member, role } => {
            let was = state.role(member);
            removed = set_role(state, ranks, *member, *role);
            if was.is_some_and(|w| w < *role) {
                state.changed_by.insert(*member, s.id);
            }
        }
        Action::Remove { member } => {
            state.changed_by.insert(*member, s.id);
            state.certifiers.remove(member);
            state.members.remove(member);
            ranks.owner.remove(member);
            state.gone.insert(*member);
            removed = Some((*member, STRONG_REMOVAL, false));
        }
        Action::Leave => {
            state.changed_by.insert(op.author, s.id);
            state.certifiers.remove(&op.author);
            state.members.remove(&op.author);
            ranks.owner.remove(&op.author);
            state.gone.insert(op.author);
            removed = Some((op.author, STRONG_REMOVAL, false));
        }
        Action::Quarantine { member } => {
            state.quarantined.insert(*member);
        }
        Action::Release { member } => {
            state.quarantined.remove(member);
        }
        Action::Rekey => {}
        Action::Certifier { member, on: true } => {
            state.certifiers.insert(*member);
        }
        Action::Certifier { member, on: false } => {
            state.certifiers.remove(member);
        }
        Action::Threshold { k } => state.threshold = *k,
    }
    if let Some(k) = &op.rekey {
        let tag = epoch_tag(&s.id);
        if !state.epochs.iter().any(|e| e.tag == tag) {
            let holders = state.members.keys().copied().collect();
            state.epochs.push(Epoch { tag, number: k.number, op: s.id, holders });
        }
    }
    removed
}
