//! Links: the edges where bundles meet files and sockets. Everything here is I/O around
//! the node's byte-vector interface.

pub mod lan;
pub mod local;
pub mod quic;
pub mod stick;
