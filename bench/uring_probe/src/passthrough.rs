//! A read-only passthrough of a local directory (SOURCE_DIR), enough for
//! `go` to use it as GOMODCACHE: LOOKUP, GETATTR, READ, READDIR, STATFS,
//! ACCESS, FORGET; OPEN and OPENDIR answer ENOSYS, which (with
//! FUSE_NO_OPEN_SUPPORT and FUSE_NO_OPENDIR_SUPPORT) the kernel takes as
//! "no open round trips", as gomodfs's mount does. Its handlers are a
//! `lstat`, `pread` or `read_dir` of the page-cached source, the same for
//! both transports, so a run of `go` over it measures the transport.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::PathBuf;
use std::sync::Mutex;

use crate::abi::*;
use crate::{u32_at, u64_at};

/// Size of an opcode's fixed argument struct (what io_uring puts in
/// `op_in`; over `/dev/fuse` it follows the in-header).
pub fn op_size(opcode: u32) -> usize {
    match opcode {
        FUSE_GETATTR => 16,
        FUSE_READ | FUSE_READDIR => 40,
        FUSE_OPEN | FUSE_OPENDIR | FUSE_ACCESS | FUSE_GETXATTR | FUSE_LISTXATTR => 8,
        FUSE_FORGET | FUSE_BATCH_FORGET | FUSE_INTERRUPT => 8,
        FUSE_RELEASE | FUSE_RELEASEDIR | FUSE_FLUSH => 24,
        _ => 0,
    }
}

/// Node ids to paths under the source.
pub struct Tree {
    nodes: Mutex<(HashMap<u64, PathBuf>, HashMap<PathBuf, u64>)>,
}

fn attr(meta: &std::fs::Metadata, ino: u64) -> [u8; 88] {
    let mut a = [0u8; 88];
    a[0..8].copy_from_slice(&ino.to_le_bytes());
    a[8..16].copy_from_slice(&meta.size().to_le_bytes());
    a[16..24].copy_from_slice(&meta.blocks().to_le_bytes());
    a[24..32].copy_from_slice(&(meta.atime() as u64).to_le_bytes());
    a[32..40].copy_from_slice(&(meta.mtime() as u64).to_le_bytes());
    a[40..48].copy_from_slice(&(meta.ctime() as u64).to_le_bytes());
    // Read-only: write bits cleared, as gomodfs serves it.
    a[60..64].copy_from_slice(&(meta.mode() & !0o222).to_le_bytes());
    a[64..68].copy_from_slice(&(meta.nlink() as u32).to_le_bytes());
    a[80..84].copy_from_slice(&4096u32.to_le_bytes());
    a
}

fn errno(e: &std::io::Error) -> i32 {
    -e.raw_os_error().unwrap_or(libc::EIO)
}

impl Tree {
    /// A passthrough of `root`.
    pub fn new(root: PathBuf) -> Tree {
        let mut ids = HashMap::new();
        let mut paths = HashMap::new();
        ids.insert(1, root.clone());
        paths.insert(root, 1);
        Tree {
            nodes: Mutex::new((ids, paths)),
        }
    }

    fn path(&self, id: u64) -> Option<PathBuf> {
        self.nodes.lock().unwrap().0.get(&id).cloned()
    }

    fn id_of(&self, path: PathBuf) -> u64 {
        let mut nodes = self.nodes.lock().unwrap();
        if let Some(id) = nodes.1.get(&path) {
            return *id;
        }
        let id = nodes.0.len() as u64 + 1;
        nodes.0.insert(id, path.clone());
        nodes.1.insert(path, id);
        id
    }

    /// The reply to a request (see `answer` in main.rs).
    pub fn answer(
        &self,
        opcode: u32,
        nodeid: u64,
        op_in: &[u8],
        payload: &[u8],
    ) -> Option<(i32, Vec<u8>)> {
        let ok = |body: Vec<u8>| Some((0, body));
        match opcode {
            FUSE_FORGET | FUSE_BATCH_FORGET | FUSE_INTERRUPT => None,
            FUSE_OPEN | FUSE_OPENDIR => Some((-libc::ENOSYS, vec![])),
            FUSE_RELEASE | FUSE_RELEASEDIR | FUSE_FLUSH | FUSE_ACCESS | FUSE_DESTROY => ok(vec![]),
            FUSE_GETXATTR | FUSE_LISTXATTR => Some((-libc::ENOSYS, vec![])),
            FUSE_STATFS => ok(vec![0u8; 80]),
            FUSE_LOOKUP => {
                let name = payload.split(|b| *b == 0).next().unwrap_or(&[]);
                let Some(dir) = self.path(nodeid) else {
                    return Some((-libc::ENOENT, vec![]));
                };
                let path = dir.join(OsStr::from_bytes(name));
                match std::fs::symlink_metadata(&path) {
                    Ok(meta) => {
                        let id = self.id_of(path);
                        let mut out = vec![0u8; 40];
                        out[0..8].copy_from_slice(&id.to_le_bytes());
                        out[16..24].copy_from_slice(&3600u64.to_le_bytes());
                        out[24..32].copy_from_slice(&3600u64.to_le_bytes());
                        out.extend_from_slice(&attr(&meta, id));
                        ok(out)
                    }
                    Err(e) => Some((errno(&e), vec![])),
                }
            }
            FUSE_GETATTR => {
                let Some(path) = self.path(nodeid) else {
                    return Some((-libc::ENOENT, vec![]));
                };
                match std::fs::symlink_metadata(&path) {
                    Ok(meta) => {
                        let mut out = vec![0u8; 16];
                        out[0..8].copy_from_slice(&3600u64.to_le_bytes());
                        out.extend_from_slice(&attr(&meta, nodeid));
                        ok(out)
                    }
                    Err(e) => Some((errno(&e), vec![])),
                }
            }
            FUSE_READ => {
                let (offset, size) = (u64_at(op_in, 8), u32_at(op_in, 16) as usize);
                let Some(path) = self.path(nodeid) else {
                    return Some((-libc::ENOENT, vec![]));
                };
                let file = match std::fs::File::open(&path) {
                    Ok(f) => f,
                    Err(e) => return Some((errno(&e), vec![])),
                };
                let mut buf = vec![0u8; size];
                let mut got = 0;
                while got < size {
                    match file.read_at(&mut buf[got..], offset + got as u64) {
                        Ok(0) => break,
                        Ok(n) => got += n,
                        Err(e) => return Some((errno(&e), vec![])),
                    }
                }
                buf.truncate(got);
                ok(buf)
            }
            FUSE_READDIR => {
                let (offset, size) = (u64_at(op_in, 8), u32_at(op_in, 16) as usize);
                let Some(path) = self.path(nodeid) else {
                    return Some((-libc::ENOENT, vec![]));
                };
                let mut names: Vec<(Vec<u8>, u32)> = vec![(b".".to_vec(), 4), (b"..".to_vec(), 4)];
                match std::fs::read_dir(&path) {
                    Ok(rd) => {
                        for e in rd.flatten() {
                            let kind = match e.file_type() {
                                Ok(t) if t.is_dir() => 4,
                                Ok(t) if t.is_symlink() => 10,
                                _ => 8,
                            };
                            names.push((e.file_name().as_bytes().to_vec(), kind));
                        }
                    }
                    Err(e) => return Some((errno(&e), vec![])),
                }
                names.sort();
                let mut out = Vec::new();
                for (i, (name, kind)) in names.iter().enumerate().skip(offset as usize) {
                    let len = (24 + name.len()).div_ceil(8) * 8;
                    if out.len() + len > size {
                        break;
                    }
                    // fuse_dirent: ino (any non-zero), off (of the next), namelen, type.
                    out.extend_from_slice(&u64::MAX.to_le_bytes());
                    out.extend_from_slice(&(i as u64 + 1).to_le_bytes());
                    out.extend_from_slice(&(name.len() as u32).to_le_bytes());
                    out.extend_from_slice(&kind.to_le_bytes());
                    out.extend_from_slice(name);
                    out.resize(out.len() + (len - 24 - name.len()), 0);
                }
                ok(out)
            }
            _ => Some((-libc::ENOSYS, vec![])),
        }
    }
}
