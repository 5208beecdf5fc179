//! Where a response body goes while it downloads: memory for `.info`,
//! `.mod` and pass-through answers, a file for module zips (so memory stays
//! bounded whatever the size of the zip).

use bytes::BytesMut;
use std::fs::File;
use std::io::{self, Seek, Write};

/// The destination of one response body. A retry starts it over.
pub(crate) trait BodySink: Send {
    /// The body will be `declared` bytes (from Content-Length, already
    /// checked against the body limit).
    fn expect(&mut self, declared: u64) {
        let _ = declared;
    }

    /// Drops what an earlier attempt wrote.
    fn reset(&mut self) -> io::Result<()>;

    /// Appends a chunk.
    fn append(&mut self, chunk: &[u8]) -> io::Result<()>;

    /// Bytes appended since the last reset.
    fn len(&self) -> u64;
}

impl BodySink for BytesMut {
    fn expect(&mut self, declared: u64) {
        // Reserve the declared size so a body is not copied while growing;
        // pages a lying proxy never fills are never touched.
        self.reserve(usize::try_from(declared).unwrap_or(0));
    }

    fn reset(&mut self) -> io::Result<()> {
        self.clear();
        Ok(())
    }

    fn append(&mut self, chunk: &[u8]) -> io::Result<()> {
        self.extend_from_slice(chunk);
        Ok(())
    }

    fn len(&self) -> u64 {
        BytesMut::len(self) as u64
    }
}

/// A body written to a file (a temporary file: the caller owns it).
/// Writes go to the page cache; they are small and do not wait for the disk.
pub(crate) struct FileSink<'a> {
    file: &'a mut File,
    len: u64,
}

impl<'a> FileSink<'a> {
    /// A sink writing to `file` from its start.
    pub(crate) fn new(file: &'a mut File) -> FileSink<'a> {
        FileSink { file, len: 0 }
    }
}

impl BodySink for FileSink<'_> {
    fn reset(&mut self) -> io::Result<()> {
        self.file.set_len(0)?;
        self.file.rewind()?;
        self.len = 0;
        Ok(())
    }

    fn append(&mut self, chunk: &[u8]) -> io::Result<()> {
        self.file.write_all(chunk)?;
        self.len += chunk.len() as u64;
        Ok(())
    }

    fn len(&self) -> u64 {
        self.len
    }
}
