//! Reads a whole directory tree, sequentially, and prints what it read as
//! JSON (`{"files":N,"bytes":N,"seconds":S}`): over NFSv3 with
//! `nfs3_client` (READDIRPLUS pages, READs of 1 MiB), or through a local
//! path (a FUSE mount) with `std::fs`. Used by `bench/nfs.py`.
//!
//! ```sh
//! cargo run --release -p gomodfs-nfs --example read_tree -- nfs PORT TREE
//! cargo run --release -p gomodfs-nfs --example read_tree -- fs DIR
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use gomodfs_testkit::nfs::Client;
use nfs3_client::nfs3_types::nfs3::{ftype3, nfs_fh3};
use std::time::Instant;

fn nfs_tree(c: &mut Client, dir: &nfs_fh3, files: &mut u64, bytes: &mut u64) {
    let (entries, _) = c.list(dir, 64 * 1024).expect("READDIRPLUS");
    for e in entries {
        let fh = e.handle.expect("handle");
        if e.attr.expect("attributes").type_ == ftype3::NF3DIR {
            nfs_tree(c, &fh, files, bytes);
        } else {
            *files += 1;
            *bytes += c.read_all(&fh, 1 << 20).expect("READ").len() as u64;
        }
    }
}

fn fs_tree(dir: &std::path::Path, files: &mut u64, bytes: &mut u64) {
    for e in std::fs::read_dir(dir).expect("read_dir") {
        let e = e.expect("entry");
        if e.file_type().expect("type").is_dir() {
            fs_tree(&e.path(), files, bytes);
        } else {
            *files += 1;
            *bytes += std::fs::read(e.path()).expect("read").len() as u64;
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (mut files, mut bytes) = (0, 0);
    let start = Instant::now();
    match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["nfs", port, tree] => {
            let mut c = Client::connect(port.parse().expect("port"), "/");
            let (fh, _) = c.walk(tree).expect("LOOKUP of the tree");
            nfs_tree(&mut c, &fh, &mut files, &mut bytes);
        }
        ["fs", dir] => fs_tree(dir.as_ref(), &mut files, &mut bytes),
        _ => {
            eprintln!("usage: read_tree nfs PORT TREE | read_tree fs DIR");
            std::process::exit(2);
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    println!("{{\"files\":{files},\"bytes\":{bytes},\"seconds\":{seconds}}}");
}
