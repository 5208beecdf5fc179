//! Reads a whole directory tree and prints what it read as JSON
//! (`{"files":N,"bytes":N,"seconds":S}`): over NFSv3 with `nfs3_client`
//! (READDIRPLUS pages, READs of 1 MiB), or through a local path (a FUSE
//! mount) with `std::fs`. Used by `bench/nfs.py`.
//!
//! With JOBS 1 (the default) the tree is read sequentially, one request in
//! flight. With JOBS > 1 the tree is listed first, then its files are read
//! by JOBS threads at once (over NFS each with its own connection), as a
//! kernel client with several requests in flight would.
//!
//! ```sh
//! cargo run --release -p gomodfs-nfs --example read_tree -- nfs PORT TREE [JOBS]
//! cargo run --release -p gomodfs-nfs --example read_tree -- fs DIR [JOBS]
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use gomodfs_testkit::nfs::Client;
use nfs3_client::nfs3_types::nfs3::{ftype3, nfs_fh3};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::time::Instant;

/// Walks an NFS tree: reads each file at once (`read`), or only collects
/// its handle (`files`).
fn nfs_tree(c: &mut Client, dir: &nfs_fh3, read: bool, files: &mut Vec<nfs_fh3>, bytes: &mut u64) {
    let (entries, _) = c.list(dir, 64 * 1024).expect("READDIRPLUS");
    for e in entries {
        let fh = e.handle.expect("handle");
        if e.attr.expect("attributes").type_ == ftype3::NF3DIR {
            nfs_tree(c, &fh, read, files, bytes);
        } else {
            if read {
                *bytes += c.read_all(&fh, 1 << 20).expect("READ").len() as u64;
            }
            files.push(fh);
        }
    }
}

/// Walks a local tree: reads each file at once (`read`), or only collects
/// its path (`files`).
fn fs_tree(dir: &Path, read: bool, files: &mut Vec<PathBuf>, bytes: &mut u64) {
    for e in std::fs::read_dir(dir).expect("read_dir") {
        let e = e.expect("entry");
        if e.file_type().expect("type").is_dir() {
            fs_tree(&e.path(), read, files, bytes);
        } else {
            if read {
                *bytes += std::fs::read(e.path()).expect("read").len() as u64;
            }
            files.push(e.path());
        }
    }
}

/// Reads `files` with `jobs` threads, each running `read` on the next
/// unread file with its own state from `open`; the bytes read.
fn in_parallel<F: Sync, S>(
    files: &[F],
    jobs: usize,
    open: impl Fn() -> S + Sync,
    read: impl Fn(&mut S, &F) -> u64 + Sync,
) -> u64 {
    let next = AtomicUsize::new(0);
    let bytes = AtomicU64::new(0);
    std::thread::scope(|s| {
        for _ in 0..jobs {
            s.spawn(|| {
                let mut state = open();
                while let Some(f) = files.get(next.fetch_add(1, Relaxed)) {
                    bytes.fetch_add(read(&mut state, f), Relaxed);
                }
            });
        }
    });
    bytes.into_inner()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let jobs: usize = args.get(3).map_or(1, |j| j.parse().expect("JOBS"));
    let (files, bytes, seconds) = match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["nfs", port, tree, ..] => {
            let port: u16 = port.parse().expect("port");
            let start = Instant::now();
            let mut c = Client::connect(port, "/");
            let (fh, _) = c.walk(tree).expect("LOOKUP of the tree");
            let (mut files, mut bytes) = (vec![], 0);
            nfs_tree(&mut c, &fh, jobs == 1, &mut files, &mut bytes);
            if jobs > 1 {
                let connect = || Client::connect(port, "/");
                let read = |c: &mut Client, fh: &nfs_fh3| {
                    c.read_all(fh, 1 << 20).expect("READ").len() as u64
                };
                bytes = in_parallel(&files, jobs, connect, read);
            }
            (files.len(), bytes, start.elapsed())
        }
        ["fs", dir, ..] => {
            let start = Instant::now();
            let (mut files, mut bytes) = (vec![], 0);
            fs_tree(dir.as_ref(), jobs == 1, &mut files, &mut bytes);
            if jobs > 1 {
                let read = |_: &mut (), p: &PathBuf| std::fs::read(p).expect("read").len() as u64;
                bytes = in_parallel(&files, jobs, || (), read);
            }
            (files.len(), bytes, start.elapsed())
        }
        _ => {
            eprintln!("usage: read_tree nfs PORT TREE [JOBS] | read_tree fs DIR [JOBS]");
            std::process::exit(2);
        }
    };
    let seconds = seconds.as_secs_f64();
    println!("{{\"files\":{files},\"bytes\":{bytes},\"seconds\":{seconds}}}");
}
