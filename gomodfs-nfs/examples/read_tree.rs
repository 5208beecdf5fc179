//! Reads a whole directory tree and prints what it read as JSON
//! (`{"files":N,"bytes":N,"seconds":S,"list_seconds":S,"jobs":N}`:
//! `list_seconds` is the walk's time until every file was found, the
//! whole walk with JOBS 1): over NFSv3 (READDIRPLUS pages of 64 KiB with
//! `nfs3_client`; READs of 1 MiB by hand, each reply received into one
//! buffer per connection and checked), or through a local path (a FUSE
//! mount) with `std::fs` (each file read whole into one buffer per
//! reader). Used by `bench/nfs.py`.
//!
//! Until 2026-12-04 the NFS READs went through `nfs3_client`, which
//! allocates a zeroed buffer for every reply and copies the data out of it
//! into another: page faults on fresh memory and a copy per READ, 40% of
//! the client's CPU in a walk of x/text, which a kernel client (receiving
//! into page-cache pages) does not spend. The FUSE side read each file into
//! a new `Vec`.
//!
//! With JOBS 1 (the default) the tree is read sequentially, one request in
//! flight. With JOBS > 1 the tree is listed first, then its files are read
//! by JOBS threads at once (over NFS each with its own connection), as a
//! kernel client with several requests in flight would. NFS connections
//! are made before the clock starts (a kernel client mounts once).
//!
//! `pipe PORT TREE DEPTH` lists the tree, then reads its files over one
//! more connection with up to DEPTH READs in flight on it, as a kernel
//! client pipelines calls on its one TCP connection per mount.
//!
//! `rtt PORT TREE N` prints where one request in flight spends its time
//! over NFS: the median round trip of NULL (no filesystem call), GETATTR,
//! LOOKUP of the tree's top-level names, READDIRPLUS of the tree's directories and READ of its files, N times
//! each, in microseconds.
//!
//! `null PORT CONNS CALLS` makes CALLS NFS NULL calls over each of CONNS
//! connections, one in flight on each, and prints calls per second: what
//! the server's per-call machinery costs with no filesystem work.
//! `floor CONNS ROUNDS BYTES` is the same shape with no NFS at all: a
//! blocking thread per connection answers each 44-byte request with BYTES
//! bytes (the floor of loopback TCP on this machine, to compare with).
//! `floor-tree PORT TREE JOBS` lists the tree over NFS, then times the
//! READs the `nfs` mode would make with JOBS readers (the same calls, the
//! same reply sizes, the same threads and connections) against blocking
//! threads that only send each reply's bytes back: the floor of loopback
//! TCP for the read phase (`seconds` - `list_seconds`; `list_seconds` is 0
//! in its output).
//!
//! ```sh
//! cargo run --release -p gomodfs-nfs --example read_tree -- null PORT 16 1000
//! cargo run --release -p gomodfs-nfs --example read_tree -- floor 16 1000 100
//! cargo run --release -p gomodfs-nfs --example read_tree -- nfs PORT TREE [JOBS]
//! cargo run --release -p gomodfs-nfs --example read_tree -- pipe PORT TREE [DEPTH]
//! cargo run --release -p gomodfs-nfs --example read_tree -- fs DIR [JOBS]
//! cargo run --release -p gomodfs-nfs --example read_tree -- floor-tree PORT TREE [JOBS]
//! cargo run --release -p gomodfs-nfs --example read_tree -- rtt PORT TREE [N]
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use gomodfs_testkit::nfs::Client;
use gomodfs_testkit::nfs::rpc::{ReplyReader, null_call, read_call, read_reply, read_result};
use nfs3_client::nfs3_types::nfs3::{ftype3, nfs_fh3};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::time::Instant;

/// The largest READ asked for (a Linux client's usual `rsize`).
const READ_SIZE: u32 = 1 << 20;

/// A file found by [`nfs_tree`]: its handle and size.
struct TreeFile {
    fh: nfs_fh3,
    size: u64,
}

/// Walks an NFS tree: reads each file at once with `reader` (if given), or
/// only collects its handle and size (`files`).
fn nfs_tree(
    c: &mut Client,
    dir: &nfs_fh3,
    reader: &mut Option<Reader>,
    files: &mut Vec<TreeFile>,
    bytes: &mut u64,
) {
    let (entries, _) = c.list(dir, 64 * 1024).expect("READDIRPLUS");
    for e in entries {
        let fh = e.handle.expect("handle");
        let attr = e.attr.expect("attributes");
        if attr.type_ == ftype3::NF3DIR {
            nfs_tree(c, &fh, reader, files, bytes);
        } else {
            if let Some(reader) = reader {
                *bytes += reader.read_file(&fh);
            }
            files.push(TreeFile {
                fh,
                size: attr.size,
            });
        }
    }
}

/// The files of `tree` (a path from the root), listed by [`nfs_tree`].
fn tree_files(c: &mut Client, tree: &str) -> Vec<TreeFile> {
    let (fh, _) = c.walk(tree).expect("LOOKUP of the tree");
    let mut files = vec![];
    nfs_tree(c, &fh, &mut None, &mut files, &mut 0);
    files
}

/// Reads files over its own NFS connection, one READ in flight, each reply
/// received into one buffer kept across replies (as a kernel client
/// receives into pages it has; a buffer allocated per reply cost the
/// client page faults on fresh memory for every READ) and checked whole.
struct Reader {
    stream: TcpStream,
    replies: ReplyReader,
    xid: u32,
}

impl Reader {
    /// A connection to the server on 127.0.0.1:`port` (the handles of
    /// another connection are good on it).
    fn connect(port: u16) -> Reader {
        Reader {
            stream: connect(port),
            replies: ReplyReader::new(),
            xid: 0,
        }
    }

    /// Reads file `fh` from offset 0 in READs of [`READ_SIZE`] until eof;
    /// the bytes read.
    fn read_file(&mut self, fh: &nfs_fh3) -> u64 {
        let mut offset = 0u64;
        loop {
            self.xid += 1;
            let call = read_call(self.xid, fh, offset, READ_SIZE);
            self.stream.write_all(&call).expect("sending a READ");
            let (xid, result) = self
                .replies
                .accepted(&mut self.stream)
                .expect("a READ reply");
            assert_eq!(xid, self.xid, "the reply to the READ sent");
            let (eof, data) = read_result(result).expect("a READ result");
            offset += data.len() as u64;
            if eof {
                return offset;
            }
            assert!(!data.is_empty(), "READ returned nothing before eof");
        }
    }
}

/// Walks a local tree: reads each file at once (`read`), or only collects
/// its path (`files`).
fn fs_tree(dir: &Path, buf: &mut Option<Vec<u8>>, files: &mut Vec<PathBuf>, bytes: &mut u64) {
    for e in std::fs::read_dir(dir).expect("read_dir") {
        let e = e.expect("entry");
        if e.file_type().expect("type").is_dir() {
            fs_tree(&e.path(), buf, files, bytes);
        } else {
            if let Some(buf) = buf {
                *bytes += fs_read(&e.path(), buf);
            }
            files.push(e.path());
        }
    }
}

/// Reads file `path` whole into `buf` (kept across files, as [`Reader`]
/// keeps its reply buffer); the bytes read.
fn fs_read(path: &Path, buf: &mut Vec<u8>) -> u64 {
    buf.clear();
    let mut file = std::fs::File::open(path).expect("open");
    file.read_to_end(buf).expect("read") as u64
}

/// Reads `files` with one thread per state in `states`, each running
/// `read` on the next unread file with its own state; the bytes read.
fn in_parallel<F: Sync, S: Send>(
    files: &[F],
    states: Vec<S>,
    read: impl Fn(&mut S, &F) -> u64 + Sync,
) -> u64 {
    let next = AtomicUsize::new(0);
    let bytes = AtomicU64::new(0);
    std::thread::scope(|s| {
        for mut state in states {
            let (next, bytes, read) = (&next, &bytes, &read);
            s.spawn(move || {
                while let Some(f) = files.get(next.fetch_add(1, Relaxed)) {
                    bytes.fetch_add(read(&mut state, f), Relaxed);
                }
            });
        }
    });
    bytes.into_inner()
}

/// Reads `files` over one connection with up to `depth` READs in flight
/// (as a kernel client pipelines its calls on its one TCP connection):
/// each file from offset 0 in READs of 1 MiB until eof; the bytes read.
fn pipelined(stream: &mut TcpStream, files: &[TreeFile], depth: usize) -> u64 {
    let (mut next, mut xid, mut bytes) = (0, 1u32, 0u64);
    let mut in_flight: HashMap<u32, (usize, u64)> = HashMap::new();
    let (mut calls, mut replies) = (Vec::new(), ReplyReader::new());
    loop {
        calls.clear();
        while in_flight.len() < depth && next < files.len() {
            calls.extend(read_call(xid, &files[next].fh, 0, READ_SIZE));
            in_flight.insert(xid, (next, 0));
            (next, xid) = (next + 1, xid + 1);
        }
        if !calls.is_empty() {
            stream.write_all(&calls).expect("sending READs");
        }
        if in_flight.is_empty() {
            return bytes;
        }
        let (xid_back, result) = replies.accepted(stream).expect("an accepted READ reply");
        let (file, offset) = in_flight.remove(&xid_back).expect("a reply to a call made");
        let (eof, data) = read_result(result).expect("a READ result");
        let got = data.len() as u64;
        bytes += got;
        if !eof {
            assert!(got > 0, "READ returned nothing before eof");
            stream
                .write_all(&read_call(xid, &files[file].fh, offset + got, READ_SIZE))
                .expect("sending a READ");
            in_flight.insert(xid, (file, offset + got));
            xid += 1;
        }
    }
}

/// The median of `n` timed runs of `f`, in microseconds.
fn median_us(n: usize, mut f: impl FnMut()) -> f64 {
    let mut us: Vec<f64> = (0..n)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    us.sort_by(f64::total_cmp);
    us[us.len() / 2]
}

/// The `rtt` mode: median round trips per procedure, one in flight.
fn rtt(port: u16, tree: &str, n: usize) {
    let mut c = Client::connect(port, "/");
    let (fh, _) = c.walk(tree).expect("LOOKUP of the tree");
    let (mut files, mut dirs, mut bytes) = (vec![], vec![fh.clone()], 0);
    nfs_tree(&mut c, &fh, &mut None, &mut files, &mut bytes);
    let mut reader = Reader::connect(port);
    // Directories of the tree: READDIRPLUS each whole.
    let (entries, _) = c.list(&fh, 64 * 1024).expect("READDIRPLUS");
    dirs.extend(
        entries
            .into_iter()
            .filter_map(|e| (e.attr?.type_ == ftype3::NF3DIR).then_some(e.handle?)),
    );
    let null = median_us(n, || {
        let (rt, nfs) = c.nfs();
        rt.block_on(nfs.null()).expect("NULL");
    });
    let getattr = median_us(n, || {
        c.getattr(&fh).expect("GETATTR");
    });
    let names: Vec<String> = c
        .list(&fh, 64 * 1024)
        .expect("READDIRPLUS")
        .0
        .into_iter()
        .map(|e| e.name)
        .filter(|n| n != "." && n != "..")
        .collect();
    let mut j = 0;
    let lookup = median_us(n, || {
        j += 1;
        c.lookup(&fh, &names[j % names.len()]).expect("LOOKUP");
    });
    let mut i = 0;
    let readdirplus = median_us(n, || {
        i += 1;
        c.list(&dirs[i % dirs.len()], 64 * 1024)
            .expect("READDIRPLUS");
    });
    let read = median_us(n, || {
        i += 1;
        reader.read_file(&files[i % files.len()].fh);
    });
    println!(
        "{{\"null_us\":{null:.1},\"getattr_us\":{getattr:.1},\"lookup_us\":{lookup:.1},\"readdirplus_us\":{readdirplus:.1},\"read_file_us\":{read:.1},\"files\":{},\"dirs\":{}}}",
        files.len(),
        dirs.len()
    );
}

/// Runs `each` on every connection in a thread of its own, `calls` times
/// with the call's number (an xid: the server takes one repeated on its
/// connection for a retransmission), timed; prints the calls per second.
fn round_trips(conns: Vec<TcpStream>, calls: u32, each: impl Fn(&mut TcpStream, u32) + Sync) {
    let n = conns.len();
    let start = Instant::now();
    std::thread::scope(|s| {
        for mut conn in conns {
            let each = &each;
            s.spawn(move || {
                for xid in 1..=calls {
                    each(&mut conn, xid);
                }
            });
        }
    });
    let seconds = start.elapsed().as_secs_f64();
    let total = n * calls as usize;
    let per_second = total as f64 / seconds;
    println!(
        "{{\"connections\":{n},\"calls\":{total},\"seconds\":{seconds},\"per_second\":{per_second:.0}}}"
    );
}

/// A connection to 127.0.0.1:`port` with `TCP_NODELAY`.
fn connect(port: u16) -> TcpStream {
    let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream.set_nodelay(true).expect("TCP_NODELAY");
    stream
}

/// The `null` mode: NFS NULL calls, one in flight per connection.
fn null_calls(port: u16, conns: usize, calls: u32) {
    let conns = (0..conns).map(|_| connect(port)).collect();
    round_trips(conns, calls, |conn, xid| {
        conn.write_all(&null_call(xid)).expect("sending NULL");
        let reply = read_reply(conn).expect("a NULL reply");
        assert_eq!(reply.xid, xid, "the reply to the NULL sent");
    });
}

/// Starts a server on 127.0.0.1 (its port is returned) with a blocking
/// thread per connection that reads calls of `call_len` bytes and answers
/// each with `reply(call)` bytes (at most `most`), and nothing else.
fn echo_server(
    call_len: usize,
    most: usize,
    reply: impl Fn(&[u8]) -> usize + Copy + Send + 'static,
) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let mut stream = stream.expect("accept");
            stream.set_nodelay(true).expect("TCP_NODELAY");
            std::thread::spawn(move || {
                let (mut call, bytes) = (vec![0u8; call_len], vec![7u8; most]);
                while stream.read_exact(&mut call).is_ok()
                    && stream.write_all(&bytes[..reply(&call)]).is_ok()
                {}
            });
        }
    });
    port
}

/// The `floor` mode: the same shape over loopback TCP with a blocking
/// echo thread per connection and no NFS.
fn tcp_floor(conns: usize, rounds: u32, bytes: usize) {
    let request = null_call(1);
    let port = echo_server(request.len(), bytes, move |_| bytes);
    let conns = (0..conns).map(|_| connect(port)).collect();
    round_trips(conns, rounds, |conn, _| {
        conn.write_all(&request).expect("sending");
        let mut reply = vec![0u8; bytes];
        conn.read_exact(&mut reply).expect("the reply");
    });
}

/// The bytes of a READ reply record carrying `data` bytes, as gomodfs
/// sends it: record marker (4), RPC reply header with an empty verifier
/// (24), READ3resok's status, attributes, count, eof and data length (104),
/// then the data padded to 4 bytes.
fn read_reply_len(data: u64) -> usize {
    132 + (data as usize).div_ceil(4) * 4
}

/// The `floor-tree` mode: the READs of [`nfs_tree`]'s walk with JOBS
/// readers (the same files, each in READs of [`READ_SIZE`], the same call
/// and reply sizes, JOBS threads on their own connections taking the next
/// file), answered by a blocking thread per connection that only sends
/// the reply's bytes back: no NFS server, no store, no async runtime. Its
/// time is the floor of loopback TCP for the read phase of the `nfs` mode
/// (`seconds` - `list_seconds` with JOBS > 1), on this machine, now.
fn tcp_floor_of_tree(files: &[TreeFile], jobs: usize) -> (u64, std::time::Duration) {
    // The call is a real READ call; its xid carries the reply's length.
    let call = read_call(0, &files[0].fh, 0, READ_SIZE);
    let most = files
        .iter()
        .map(|f| f.size.min(u64::from(READ_SIZE)))
        .max()
        .unwrap_or(0);
    let port = echo_server(call.len(), read_reply_len(most), |call| {
        u32::from_be_bytes(call[4..8].try_into().expect("4 bytes")) as usize
    });
    let conns: Vec<_> = (0..jobs)
        .map(|_| (connect(port), call.clone(), vec![0u8; read_reply_len(most)]))
        .collect();
    let start = Instant::now();
    let bytes = in_parallel(files, conns, |(conn, call, reply), f| {
        let mut left = f.size;
        loop {
            let data = left.min(u64::from(READ_SIZE));
            let len = read_reply_len(data);
            call[4..8].copy_from_slice(&(len as u32).to_be_bytes());
            conn.write_all(call).expect("sending");
            conn.read_exact(&mut reply[..len]).expect("the reply");
            left -= data;
            if left == 0 {
                return f.size;
            }
        }
    });
    (bytes, start.elapsed())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    // JOBS (or DEPTH, or N) is the argument after each mode's tree.
    let count = |rest: &[&str], default: usize| {
        rest.first()
            .map_or(default, |n| n.parse().expect("a count"))
    };
    let (jobs, files, bytes, listed, seconds) = match args[..] {
        ["nfs", port, tree, ref rest @ ..] => {
            let jobs = count(rest, 1);
            let port: u16 = port.parse().expect("port");
            // Connections (portmapper, MOUNT, NFS) are made before the
            // clock starts, as a kernel client mounts once.
            let mut c = Client::connect(port, "/");
            let mut readers: Vec<Reader> = (0..jobs).map(|_| Reader::connect(port)).collect();
            let start = Instant::now();
            let (fh, _) = c.walk(tree).expect("LOOKUP of the tree");
            let (mut files, mut bytes) = (vec![], 0);
            // One reader: the files are read as the walk finds them.
            let mut walker = (jobs == 1).then(|| readers.remove(0));
            nfs_tree(&mut c, &fh, &mut walker, &mut files, &mut bytes);
            let listed = start.elapsed();
            if jobs > 1 {
                bytes = in_parallel(&files, readers, |r, f| r.read_file(&f.fh));
            }
            (jobs, files.len(), bytes, listed, start.elapsed())
        }
        ["pipe", port, tree, ref rest @ ..] => {
            let jobs = count(rest, 1);
            let port: u16 = port.parse().expect("port");
            // Both connections before the clock starts; the handles of
            // one connection are good on the other.
            let mut c = Client::connect(port, "/");
            let mut stream = connect(port);
            let start = Instant::now();
            let files = tree_files(&mut c, tree);
            let listed = start.elapsed();
            let bytes = pipelined(&mut stream, &files, jobs);
            (jobs, files.len(), bytes, listed, start.elapsed())
        }
        ["floor-tree", port, tree, ref rest @ ..] => {
            let jobs = count(rest, 1);
            // The tree is listed over NFS only to know its files' sizes.
            let port: u16 = port.parse().expect("port");
            let files = tree_files(&mut Client::connect(port, "/"), tree);
            // The floor's reply sizes are the server's: checked on one file.
            let mut conn = connect(port);
            let first = &files[0];
            conn.write_all(&read_call(1, &first.fh, 0, READ_SIZE))
                .expect("sending a READ");
            let reply = read_reply(&mut conn).expect("a READ reply");
            assert_eq!(
                reply.len + 4,
                read_reply_len(first.size.min(u64::from(READ_SIZE))),
                "the server's READ reply is not the size the floor sends"
            );
            let (bytes, seconds) = tcp_floor_of_tree(&files, jobs);
            let listed = std::time::Duration::ZERO;
            (jobs, files.len(), bytes, listed, seconds)
        }
        ["fs", dir, ref rest @ ..] => {
            let jobs = count(rest, 1);
            let start = Instant::now();
            let (mut files, mut bytes) = (vec![], 0);
            // One reader: the files are read as the walk finds them.
            let mut walker = (jobs == 1).then(Vec::new);
            fs_tree(dir.as_ref(), &mut walker, &mut files, &mut bytes);
            let listed = start.elapsed();
            if jobs > 1 {
                let read = |buf: &mut Vec<u8>, p: &PathBuf| fs_read(p, buf);
                bytes = in_parallel(&files, vec![Vec::new(); jobs], read);
            }
            (jobs, files.len(), bytes, listed, start.elapsed())
        }
        ["null", port, conns, calls] => {
            let n = |s: &str| s.parse().expect("a count");
            null_calls(
                port.parse().expect("port"),
                n(conns),
                calls.parse().expect("a count"),
            );
            return;
        }
        ["floor", conns, rounds, bytes] => {
            let n = |s: &str| s.parse().expect("a count");
            tcp_floor(n(conns), rounds.parse().expect("a count"), n(bytes));
            return;
        }
        ["rtt", port, tree, ref rest @ ..] => {
            rtt(port.parse().expect("port"), tree, count(rest, 2000));
            return;
        }
        _ => {
            eprintln!(
                "usage: read_tree nfs PORT TREE [JOBS] | read_tree pipe PORT TREE [DEPTH] | read_tree fs DIR [JOBS] | read_tree floor-tree PORT TREE [JOBS] | read_tree rtt PORT TREE [N] | read_tree null PORT CONNS CALLS | read_tree floor CONNS ROUNDS BYTES"
            );
            std::process::exit(2);
        }
    };
    let (seconds, listed) = (seconds.as_secs_f64(), listed.as_secs_f64());
    println!(
        "{{\"files\":{files},\"bytes\":{bytes},\"seconds\":{seconds},\"list_seconds\":{listed},\"jobs\":{jobs}}}"
    );
}
