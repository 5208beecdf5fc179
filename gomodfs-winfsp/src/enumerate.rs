//! Directory enumeration with WinFsp's markers over the core's paged
//! listings ([`ModFs::readdir_page`]).
//!
//! WinFsp asks for a directory in buffers: each `ReadDirectory` call fills
//! one buffer with the entries whose names come after the *marker* (the
//! last name the previous buffer held; none at the start) and ends the
//! listing with an end marker once the last entry is in. A non-root
//! directory lists `.` and `..` first. The marker's entry is found with a
//! lookup, and the listing resumes after its node id, so a call costs a
//! page of the directory, never a pass over all of it; a marker that names
//! no entry any more resumes after that name.

use crate::facts::FileFacts;
use crate::names;
use gomodfs_core::{Error, ErrorKind, ModFs, NodeId, Result};

/// How many entries are asked of the core at a time.
pub const PAGE: usize = 128;

/// Where entries go: WinFsp's buffer on Windows, a model of it in tests.
pub trait DirSink {
    /// Adds one entry; false when the buffer has no room for it (it is not
    /// in the buffer, and the enumeration stops there).
    fn add(&mut self, name: &[u16], facts: &FileFacts) -> bool;
    /// Ends the listing; false when the buffer has no room for the end
    /// marker (WinFsp asks again, after the last name).
    fn end(&mut self) -> bool;
}

/// The `.` and `..` entries of a non-root directory: its own facts and its
/// parent's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dots {
    /// The directory itself (`.`).
    pub own: FileFacts,
    /// Its parent (`..`).
    pub parent: FileFacts,
}

/// Fills `sink` with the entries of directory `dir` after `marker` (a
/// UTF-16 name; `None` from the start), `.` and `..` first when `dots` is
/// given, and ends the listing when all are in. Entries Windows cannot
/// name ([`names::wide_name`]) are left out.
pub fn fill(
    fs: &ModFs,
    dir: NodeId,
    dots: Option<Dots>,
    marker: Option<&[u16]>,
    sink: &mut dyn DirSink,
) -> Result<()> {
    let marker = marker
        .map(String::from_utf16)
        .transpose()
        .map_err(|_| Error::InvalidArgument("the directory marker is not Unicode".into()))?;
    let marker = marker.as_deref();
    if let Some(dots) = dots {
        let wanted: &[(&str, FileFacts)] = match marker {
            None => &[(".", dots.own), ("..", dots.parent)],
            Some(".") => &[("..", dots.parent)],
            Some(_) => &[],
        };
        for (name, facts) in wanted {
            let wide: Vec<u16> = name.encode_utf16().collect();
            if !sink.add(&wide, facts) {
                return Ok(());
            }
        }
    }
    let (mut after, mut skip_through) = match marker {
        None | Some(".") | Some("..") => (None, None),
        Some(name) => match fs.lookup(dir, name) {
            Ok(attr) => (Some(attr.id), None),
            Err(e) if e.kind() == ErrorKind::NotFound => (None, Some(name)),
            Err(e) => return Err(e),
        },
    };
    loop {
        let page = fs.readdir_page(dir, after, PAGE)?;
        for (entry, attr) in &page.entries {
            if skip_through.is_some_and(|m| entry.name.as_str() <= m) {
                continue;
            }
            skip_through = None;
            let Some(name) = names::wide_name(&entry.name) else {
                tracing::debug!(name = %entry.name, "left out of a listing: Windows cannot name it");
                continue;
            };
            if !sink.add(&name, &FileFacts::of(attr)) {
                return Ok(());
            }
        }
        match page.entries.last() {
            Some((last, _)) if !page.eof => after = Some(last.id),
            _ => {
                sink.end();
                return Ok(());
            }
        }
    }
}
