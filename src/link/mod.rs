//! Links: the edges where bundles meet files and sockets. Everything here is I/O around
//! the node's byte-vector interface, reached through [`LinkNode`]: links know the
//! kernel's types (`crate::report`, `crate::sync`), never the node facade.

use std::collections::HashSet;

use crate::error::Error;
use crate::identity::NodeId;
use crate::report::{ImportReport, LinkPlan, LinkSummary, Outgoing};
use crate::sync::Target;

pub mod lan;
pub mod local;
pub mod quic;
pub mod stick;

/// What a link needs from the node it serves. [`crate::Node`] implements it; the
/// decisions (what to send, which copies go, what to take in) stay in the node's rooms,
/// a link only moves their results.
pub trait LinkNode {
    /// This node's id.
    fn node_id(&self) -> NodeId;
    /// The node's clock (Unix ms).
    fn now(&self) -> u64;
    /// The key that authenticates this node's stick file headers.
    fn stick_header_key(&self) -> [u8; 32];
    /// What to tell `peer` first on a live link.
    fn summary_for(&mut self, peer: NodeId, relay: bool) -> Result<LinkSummary, Error>;
    /// What to send `peer`, with carrier copies.
    fn plan_link(
        &mut self,
        peer: NodeId,
        peer_endpoints: &[String],
        peer_holds: &HashSet<[u8; 32]>,
        relay: bool,
    ) -> Result<LinkPlan, Error>;
    /// [`LinkNode::plan_link`], with or without carrier copies.
    fn plan_link_with(
        &mut self,
        peer: NodeId,
        peer_endpoints: &[String],
        peer_holds: &HashSet<[u8; 32]>,
        relay: bool,
        carrier_copies: bool,
    ) -> Result<LinkPlan, Error>;
    /// What an export to `target` sends, without the bytes.
    fn plan_export(&mut self, target: Target) -> Result<Vec<Outgoing>, Error>;
    /// Takes the copies a peer handed over; returns the receipt.
    fn take_handover(&mut self, handed: &[([u8; 32], u32)]) -> Result<Vec<[u8; 32]>, Error>;
    /// Spends our handed-over copies by the peer's receipt; returns how many it refused.
    fn handed_over(&mut self, handed: &[([u8; 32], u32)], receipt: &HashSet<[u8; 32]>) -> Result<usize, Error>;
    /// Stored bundles' bytes, by digest.
    fn bundles_bytes(&self, digests: &[[u8; 32]]) -> Result<Vec<Option<Vec<u8>>>, Error>;
    /// Whether each digest is held (or known, so not wanted again).
    fn holds_each(&self, digests: &[[u8; 32]]) -> Result<Vec<bool>, Error>;
    /// Imports bundles in one go.
    fn import_bundles(&mut self, bundles: &[&[u8]]) -> Result<ImportReport, Error>;
}

impl<T: LinkNode + ?Sized> LinkNode for &mut T {
    fn node_id(&self) -> NodeId {
        (**self).node_id()
    }
    fn now(&self) -> u64 {
        (**self).now()
    }
    fn stick_header_key(&self) -> [u8; 32] {
        (**self).stick_header_key()
    }
    fn summary_for(&mut self, peer: NodeId, relay: bool) -> Result<LinkSummary, Error> {
        (**self).summary_for(peer, relay)
    }
    fn plan_link(
        &mut self,
        peer: NodeId,
        peer_endpoints: &[String],
        peer_holds: &HashSet<[u8; 32]>,
        relay: bool,
    ) -> Result<LinkPlan, Error> {
        (**self).plan_link(peer, peer_endpoints, peer_holds, relay)
    }
    fn plan_link_with(
        &mut self,
        peer: NodeId,
        peer_endpoints: &[String],
        peer_holds: &HashSet<[u8; 32]>,
        relay: bool,
        carrier_copies: bool,
    ) -> Result<LinkPlan, Error> {
        (**self).plan_link_with(peer, peer_endpoints, peer_holds, relay, carrier_copies)
    }
    fn plan_export(&mut self, target: Target) -> Result<Vec<Outgoing>, Error> {
        (**self).plan_export(target)
    }
    fn take_handover(&mut self, handed: &[([u8; 32], u32)]) -> Result<Vec<[u8; 32]>, Error> {
        (**self).take_handover(handed)
    }
    fn handed_over(&mut self, handed: &[([u8; 32], u32)], receipt: &HashSet<[u8; 32]>) -> Result<usize, Error> {
        (**self).handed_over(handed, receipt)
    }
    fn bundles_bytes(&self, digests: &[[u8; 32]]) -> Result<Vec<Option<Vec<u8>>>, Error> {
        (**self).bundles_bytes(digests)
    }
    fn holds_each(&self, digests: &[[u8; 32]]) -> Result<Vec<bool>, Error> {
        (**self).holds_each(digests)
    }
    fn import_bundles(&mut self, bundles: &[&[u8]]) -> Result<ImportReport, Error> {
        (**self).import_bundles(bundles)
    }
}
