//! What the one-call-per-request methods of [`With`](super::With) return:
//! everything a frontend needs to answer a request, so that no request
//! makes a second core call.

use super::caching::{Caching, Lifetime};
use super::{Attr, DirEntry};
use crate::error::Error;
use bytes::Bytes;

/// The answer of [`With::entry`](super::With::entry): a lookup that tells
/// an absent name from a failure.
#[derive(Debug, Clone)]
pub enum Entry {
    /// The name exists.
    Found(Attr),
    /// The name does not exist.
    Absent {
        /// Why (a `NotFound`-kind error, for the log).
        error: Error,
        /// How long the absence holds (a negative entry's lifetime): the
        /// parent directory's [`Caching::absent`].
        lifetime: Lifetime,
    },
}

/// The answer of [`With::open_file`](super::With::open_file).
#[derive(Debug, Clone)]
pub struct OpenFile {
    /// The whole contents (one snapshot for a [`Caching::snapshot`] node).
    pub data: Bytes,
    /// How the contents may be cached.
    pub cache: Caching,
}

/// The answer of [`With::read_at`](super::With::read_at).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// The bytes read (fewer than asked at the end of the file).
    pub data: Bytes,
    /// True when the read reached the end of the file.
    pub eof: bool,
}

/// The answer of [`With::opendir`](super::With::opendir).
#[derive(Debug, Clone)]
pub struct Listing {
    /// The directory's own attributes (its [`Attr::cache`] says how long
    /// the listing holds).
    pub dir: Attr,
    /// The entries with their attributes, sorted by name.
    pub entries: Vec<(DirEntry, Attr)>,
}
