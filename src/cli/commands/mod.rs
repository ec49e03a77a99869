//! The commands, one file per group, and what they share: opening the node (asking for
//! its passphrase) and reading community ids and contact cards from arguments.

use std::path::Path;

use caravan::{CommunityId, ContactCard, Node};

use crate::cli::output::open_error;

pub(crate) mod bundles;
pub(crate) mod certify;
pub(crate) mod community;
pub(crate) mod contacts;
pub(crate) mod daemon;
pub(crate) mod exchange;
pub(crate) mod feed;
pub(crate) mod kinds;
pub(crate) mod links;
pub(crate) mod market;
pub(crate) mod node;
pub(crate) mod poll;
pub(crate) mod profile;
pub(crate) mod relay;
pub(crate) mod social;
pub(crate) mod status;
pub(crate) mod sync;
pub(crate) mod wiki;

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

/// The node a command works on: opened by this process, or the running daemon's (for a
/// command the daemon runs for a client), held for the command's duration.
pub(crate) enum NodeRef {
    Own(Box<Node>),
    Daemons(tokio::sync::OwnedMutexGuard<Node>),
}

impl std::ops::Deref for NodeRef {
    type Target = Node;
    fn deref(&self) -> &Node {
        match self {
            NodeRef::Own(n) => n,
            NodeRef::Daemons(g) => g,
        }
    }
}

impl std::ops::DerefMut for NodeRef {
    fn deref_mut(&mut self) -> &mut Node {
        match self {
            NodeRef::Own(n) => n,
            NodeRef::Daemons(g) => g,
        }
    }
}

/// Opens the node in `home`, asking for its passphrase if its keys are sealed (or, for a
/// command the daemon runs, takes the daemon's node).
fn open(home: &Path) -> Result<NodeRef, String> {
    if let Some(node) = crate::cli::output::remote_node() {
        return Ok(NodeRef::Daemons(node.blocking_lock_owned()));
    }
    if !home.join("identity.key").exists() {
        return Err(format!("no node in {}; create one with `caravan init --name NAME`", home.display()));
    }
    let passphrase = passphrase_for(home)?;
    let opened = Node::open_with(home, "", caravan::store::CACHE_BYTES, passphrase.as_ref().map(|p| p.as_str()));
    opened.map(|n| NodeRef::Own(Box::new(n))).map_err(|e| open_error(home, e))
}

/// The community `s` names: its id, or the name of one this node belongs to (ignoring
/// case).
fn community(node: &mut Node, s: &str) -> Result<CommunityId, String> {
    if let Some(id) = CommunityId::parse(s.trim()) {
        return Ok(id);
    }
    let wanted = s.trim().to_lowercase();
    let found: Vec<_> =
        node.communities().unwrap_or_default().into_iter().filter(|c| c.name.to_lowercase() == wanted).collect();
    match found.as_slice() {
        [one] => Ok(one.id),
        [] => Err(format!(
            "{s:?} is not a community id (32 letters and digits) nor the name of one of your communities \
             (`caravan community list`)"
        )),
        many => Err(format!(
            "{} of your communities are called {s:?}: give its id ({})",
            many.len(),
            many.iter().map(|c| c.id.to_string()).collect::<Vec<_>>().join(", ")
        )),
    }
}

/// The node `s` names: a card, a node id, or the name of this node, a contact or a
/// member of one of its communities (ignoring case; a name two nodes share is an error
/// listing their ids).
fn who(node: &mut Node, s: &str) -> Result<caravan::NodeId, String> {
    if let Ok(c) = ContactCard::parse(s) {
        return Ok(c.node_id());
    }
    if let Some(id) = caravan::NodeId::parse(s.trim()) {
        return Ok(id);
    }
    let wanted = s.trim().to_lowercase();
    let found: Vec<(caravan::NodeId, String)> =
        node.names().unwrap_or_default().into_iter().filter(|(_, name)| name.to_lowercase() == wanted).collect();
    match found.as_slice() {
        [(id, _)] => Ok(*id),
        [] => Err(format!("nobody called {s:?} among your contacts and communities (give a node id or a card)")),
        many => Err(format!(
            "{} nodes are called {s:?}: give one of their node ids ({})",
            many.len(),
            many.iter().map(|(id, _)| id.to_string()).collect::<Vec<_>>().join(", ")
        )),
    }
}

fn card(s: &str) -> Result<ContactCard, String> {
    ContactCard::parse(s).map_err(|e| e.to_string())
}
