//! NFSv3 clients for tests (feature `nfs`): [`Client`], a blocking
//! `nfs3_client` connection; [`rpc`], ONC RPC records by hand for clients
//! that misbehave; and [`LibNfs`], the libnfs command-line tools
//! (`nfs-cat`, `nfs-ls`) as a real third-party client.

mod client;
mod libnfs;
pub mod rpc;

pub use client::{Client, Entry, a, handle_bytes, handle_from};
pub use libnfs::{LibNfs, require_libnfs_tools};
