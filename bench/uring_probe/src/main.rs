//! One FUSE round trip, over `/dev/fuse` (read and write, as fuser and
//! gomodfs do) against FUSE over io_uring (Linux 6.14+, per-CPU queues).
//!
//! A minimal filesystem (an empty root directory) is mounted at
//! MOUNTPOINT and `stat` of a name that does not exist is timed in a loop:
//! every call is one LOOKUP round trip (the kernel does not cache the
//! ENOENT). In `uring` mode the probe sets
//! `/sys/module/fuse/parameters/enable_uring`, asks for
//! FUSE_OVER_IO_URING at INIT, and serves each CPU's queue from a thread
//! pinned to that CPU; the counts printed at the end say which transport
//! answered the LOOKUPs. Needs root.
//!
//! Usage: uring_probe MOUNTPOINT classic|uring [ITERATIONS] [GAP_US] [SOURCE_DIR]
//!
//! With SOURCE_DIR it serves a read-only passthrough of that directory
//! (see `passthrough`) until unmounted, instead of timing `stat`: run
//! `go` over it with GOMODCACHE=MOUNTPOINT.
//!
//! GAP_US: the client computes (spins) that long between calls, as go
//! does between the files it reads, so the server's CPU may go idle.

mod passthrough;

/// FUSE opcodes this probe answers (include/uapi/linux/fuse.h).
mod abi {
    pub const FUSE_LOOKUP: u32 = 1;
    pub const FUSE_FORGET: u32 = 2;
    pub const FUSE_GETATTR: u32 = 3;
    pub const FUSE_OPEN: u32 = 14;
    pub const FUSE_READ: u32 = 15;
    pub const FUSE_STATFS: u32 = 17;
    pub const FUSE_RELEASE: u32 = 18;
    pub const FUSE_GETXATTR: u32 = 22;
    pub const FUSE_LISTXATTR: u32 = 23;
    pub const FUSE_FLUSH: u32 = 25;
    pub const FUSE_INIT: u32 = 26;
    pub const FUSE_OPENDIR: u32 = 27;
    pub const FUSE_READDIR: u32 = 28;
    pub const FUSE_RELEASEDIR: u32 = 29;
    pub const FUSE_ACCESS: u32 = 34;
    pub const FUSE_INTERRUPT: u32 = 36;
    pub const FUSE_DESTROY: u32 = 38;
    pub const FUSE_BATCH_FORGET: u32 = 42;
}

use io_uring::{cqueue, opcode, squeue, types, IoUring};
use std::ffi::CString;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Instant;

const IN_HEADER: usize = 40;
const OUT_HEADER: usize = 16;
use abi::*;

const FUSE_INIT_EXT: u32 = 1 << 30;
const FUSE_MAX_PAGES: u32 = 1 << 22;
/// FUSE_OVER_IO_URING (1 << 41) as a bit of `flags2`.
const OVER_IO_URING_FLAGS2: u32 = 1 << 9;
const CMD_REGISTER: u32 = 1;
const CMD_COMMIT_AND_FETCH: u32 = 2;
/// `fuse_uring_req_header`: in_out (128), op_in (128), ring_ent_in_out (32).
const RING_HEADER: usize = 288;
const RING_ENT_IN_OUT: usize = 256;
const PAYLOAD: usize = 1 << 20;
const QUEUE_DEPTH: usize = 4;

static CLASSIC: AtomicU64 = AtomicU64::new(0);
static URING: AtomicU64 = AtomicU64::new(0);
/// Set when `/dev/fuse` reports the connection gone (unmounted).
static GONE: AtomicBool = AtomicBool::new(false);
/// The passthrough served with SOURCE_DIR.
static TREE: OnceLock<passthrough::Tree> = OnceLock::new();

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

/// The reply to a request: `None` for none (FORGET, INTERRUPT), else the
/// error (0 or a negative errno) and the reply's body.
fn answer(opcode: u32, nodeid: u64, op_in: &[u8], payload: &[u8]) -> Option<(i32, Vec<u8>)> {
    if let Some(tree) = TREE.get() {
        return tree.answer(opcode, nodeid, op_in, payload);
    }
    match opcode {
        FUSE_FORGET | FUSE_BATCH_FORGET | FUSE_INTERRUPT => None,
        FUSE_LOOKUP => Some((-libc::ENOENT, vec![])),
        FUSE_GETATTR if nodeid == 1 => {
            // fuse_attr_out: attr_valid, attr_valid_nsec, dummy, fuse_attr.
            let mut out = vec![0u8; 16 + 88];
            out[0..8].copy_from_slice(&3600u64.to_le_bytes());
            let attr = &mut out[16..];
            attr[0..8].copy_from_slice(&1u64.to_le_bytes()); // ino
            attr[60..64].copy_from_slice(&(libc::S_IFDIR | 0o555).to_le_bytes()); // mode
            attr[64..68].copy_from_slice(&2u32.to_le_bytes()); // nlink
            attr[80..84].copy_from_slice(&4096u32.to_le_bytes()); // blksize
            Some((0, out))
        }
        FUSE_GETATTR => Some((-libc::ENOENT, vec![])),
        FUSE_ACCESS | FUSE_DESTROY => Some((0, vec![])),
        FUSE_STATFS => Some((0, vec![0u8; 80])),
        _ => Some((-libc::ENOSYS, vec![])),
    }
}

fn out_header(len: usize, error: i32, unique: u64) -> [u8; OUT_HEADER] {
    let mut h = [0u8; OUT_HEADER];
    h[0..4].copy_from_slice(&(len as u32).to_le_bytes());
    h[4..8].copy_from_slice(&error.to_le_bytes());
    h[8..16].copy_from_slice(&unique.to_le_bytes());
    h
}

fn write_reply(fd: i32, unique: u64, error: i32, body: &[u8]) {
    let mut msg = out_header(OUT_HEADER + body.len(), error, unique).to_vec();
    msg.extend_from_slice(body);
    // SAFETY: a valid buffer of its length.
    unsafe { libc::write(fd, msg.as_ptr().cast(), msg.len()) };
}

/// How long a `/dev/fuse` thread keeps polling (non-blocking reads) after
/// its last request before it sleeps in `poll`: `SPIN_US` from the
/// environment; `None` (blocking reads) when unset.
fn spin_window() -> Option<std::time::Duration> {
    let us: u64 = std::env::var("SPIN_US").ok()?.parse().ok()?;
    Some(std::time::Duration::from_micros(us))
}

/// Answers requests read from `/dev/fuse` until the connection ends.
fn classic_loop(fd: i32) {
    let mut buf = vec![0u8; PAYLOAD + 4096];
    let spin = spin_window();
    let mut idle_since: Option<Instant> = None;
    loop {
        // SAFETY: a valid buffer of its length.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 {
            let e = io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EAGAIN) if spin.is_some() => {
                    let since = *idle_since.get_or_insert_with(Instant::now);
                    if since.elapsed() >= spin.unwrap_or_default() {
                        let mut p = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
                        // SAFETY: one valid pollfd.
                        unsafe { libc::poll(&mut p, 1, -1) };
                        idle_since = None;
                    } else {
                        std::hint::spin_loop();
                    }
                    continue;
                }
                Some(libc::EINTR) | Some(libc::EAGAIN) | Some(libc::ENOENT) => continue,
                _ => {
                    GONE.store(true, Ordering::Relaxed);
                    return;
                }
            }
        }
        idle_since = None;
        let req = &buf[..n as usize];
        let (opcode, unique, nodeid) = (u32_at(req, 4), u64_at(req, 8), u64_at(req, 16));
        CLASSIC.fetch_add(1, Ordering::Relaxed);
        let op_end = (IN_HEADER + passthrough::op_size(opcode)).min(req.len());
        if let Some((error, body)) = answer(opcode, nodeid, &req[IN_HEADER..op_end], &req[op_end..])
        {
            write_reply(fd, unique, error, &body);
        }
    }
}

/// One registered ring entry: its header and payload buffers.
struct Entry {
    header: Vec<u8>,
    payload: Vec<u8>,
    iov: Box<[libc::iovec; 2]>,
}

/// An URING_CMD for `/dev/fuse`: `fuse_uring_cmd_req` in the command area
/// and the entry's two iovecs (the kernel wants `len` = 2, which the
/// io-uring crate does not set for this opcode).
fn fuse_cmd(
    fd: i32,
    op: u32,
    commit_id: u64,
    qid: u16,
    ent: &Entry,
    index: usize,
) -> squeue::Entry128 {
    let mut cmd = [0u8; 80];
    cmd[8..16].copy_from_slice(&commit_id.to_le_bytes());
    cmd[16..18].copy_from_slice(&qid.to_le_bytes());
    let sqe = opcode::UringCmd80::new(types::Fd(fd), op)
        .cmd(cmd)
        .addr(Some(ent.iov.as_ptr() as u64))
        .build()
        .user_data(index as u64);
    assert_eq!(std::mem::size_of::<squeue::Entry128>(), 128);
    // SAFETY: Entry128 is the 128-byte SQE; offset 24 is `len`.
    let mut raw: [u8; 128] = unsafe { std::mem::transmute(sqe) };
    raw[24..28].copy_from_slice(&2u32.to_le_bytes());
    unsafe { std::mem::transmute(raw) }
}

/// Serves queue `qid` from a thread pinned to CPU `qid`.
fn uring_loop(fd: i32, qid: u16) -> io::Result<()> {
    // SAFETY: a zeroed cpu_set_t with one bit set.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(qid as usize, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
    let mut ring: IoUring<squeue::Entry128, cqueue::Entry> = IoUring::builder().build(64)?;
    let mut ents: Vec<Entry> = (0..QUEUE_DEPTH)
        .map(|_| {
            let mut header = vec![0u8; RING_HEADER];
            let mut payload = vec![0u8; PAYLOAD];
            let iov = Box::new([
                libc::iovec {
                    iov_base: header.as_mut_ptr().cast(),
                    iov_len: header.len(),
                },
                libc::iovec {
                    iov_base: payload.as_mut_ptr().cast(),
                    iov_len: payload.len(),
                },
            ]);
            Entry {
                header,
                payload,
                iov,
            }
        })
        .collect();
    for (i, ent) in ents.iter().enumerate() {
        let sqe = fuse_cmd(fd, CMD_REGISTER, 0, qid, ent, i);
        // SAFETY: the entry's buffers live as long as the ring.
        unsafe { ring.submission().push(&sqe).expect("room in the ring") };
    }
    ring.submit()?;
    loop {
        ring.submit_and_wait(1)?;
        let done: Vec<(usize, i32)> = ring
            .completion()
            .map(|c| (c.user_data() as usize, c.result()))
            .collect();
        for (i, res) in done {
            if res < 0 {
                let e = io::Error::from_raw_os_error(-res);
                if res == -libc::ENOTCONN || res == -libc::ENODEV || res == -libc::ECANCELED {
                    return Ok(());
                }
                return Err(io::Error::new(e.kind(), format!("queue {qid}: {e}")));
            }
            let ent = &mut ents[i];
            let (opcode, unique, nodeid) = (
                u32_at(&ent.header, 4),
                u64_at(&ent.header, 8),
                u64_at(&ent.header, 16),
            );
            let commit_id = u64_at(&ent.header, RING_ENT_IN_OUT + 8);
            let payload_sz = (u32_at(&ent.header, RING_ENT_IN_OUT + 16) as usize).min(PAYLOAD);
            URING.fetch_add(1, Ordering::Relaxed);
            let (error, body) = answer(
                opcode,
                nodeid,
                &ent.header[128..256],
                &ent.payload[..payload_sz],
            )
            .unwrap_or((0, vec![]));
            ent.header[..OUT_HEADER].copy_from_slice(&out_header(
                OUT_HEADER + body.len(),
                error,
                unique,
            ));
            ent.payload[..body.len()].copy_from_slice(&body);
            ent.header[RING_ENT_IN_OUT + 16..RING_ENT_IN_OUT + 20]
                .copy_from_slice(&(body.len() as u32).to_le_bytes());
            let sqe = fuse_cmd(fd, CMD_COMMIT_AND_FETCH, commit_id, qid, ent, i);
            // SAFETY: as above.
            unsafe { ring.submission().push(&sqe).expect("room in the ring") };
        }
    }
}

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: uring_probe MOUNTPOINT classic|uring [ITERATIONS]");
        std::process::exit(2);
    }
    let (mnt, uring) = (&args[1], args[2] == "uring");
    let iterations: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(20_000);
    let gap =
        std::time::Duration::from_micros(args.get(4).and_then(|s| s.parse().ok()).unwrap_or(0));
    let source = args.get(5).map(std::path::PathBuf::from);
    if let Some(dir) = &source {
        let _ = TREE.set(passthrough::Tree::new(dir.clone()));
    }
    let param = "/sys/module/fuse/parameters/enable_uring";
    let before = std::fs::read_to_string(param).unwrap_or_default();
    if uring {
        std::fs::write(param, "Y")
            .map_err(|e| io::Error::new(e.kind(), format!("{param}: {e}")))?;
    }
    let dev = CString::new("/dev/fuse").unwrap();
    // SAFETY: plain syscalls with valid C strings.
    let fd = unsafe { libc::open(dev.as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    let target = CString::new(mnt.as_str()).unwrap();
    let data = CString::new(format!(
        "fd={fd},rootmode=40000,user_id=0,group_id=0,default_permissions"
    ))
    .unwrap();
    let (src, fstype) = (
        CString::new("probe").unwrap(),
        CString::new("fuse.probe").unwrap(),
    );
    let r = unsafe {
        libc::mount(
            src.as_ptr(),
            target.as_ptr(),
            fstype.as_ptr(),
            libc::MS_NOSUID | libc::MS_NODEV | libc::MS_RDONLY,
            data.as_ptr().cast(),
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    // INIT, over /dev/fuse.
    let mut buf = vec![0u8; PAYLOAD + 4096];
    let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 || u32_at(&buf, 4) != FUSE_INIT {
        return Err(io::Error::other("no INIT"));
    }
    let unique = u64_at(&buf, 8);
    let init = &buf[IN_HEADER..];
    let (kminor, readahead, kflags, kflags2) = (
        u32_at(init, 4),
        u32_at(init, 8),
        u32_at(init, 12),
        u32_at(init, 16),
    );
    let mut out = vec![0u8; 64];
    out[0..4].copy_from_slice(&7u32.to_le_bytes());
    out[4..8].copy_from_slice(&kminor.min(44).to_le_bytes());
    out[8..12].copy_from_slice(&readahead.to_le_bytes());
    // ASYNC_READ, NO_OPEN_SUPPORT, PARALLEL_DIROPS, NO_OPENDIR_SUPPORT.
    let wanted = FUSE_INIT_EXT | FUSE_MAX_PAGES | 1 | (1 << 17) | (1 << 18) | (1 << 24);
    out[12..16].copy_from_slice(&(kflags & wanted).to_le_bytes());
    out[16..18].copy_from_slice(&16u16.to_le_bytes());
    out[18..20].copy_from_slice(&12u16.to_le_bytes());
    out[20..24].copy_from_slice(&(128u32 << 10).to_le_bytes());
    out[24..28].copy_from_slice(&1u32.to_le_bytes());
    out[28..30].copy_from_slice(&32u16.to_le_bytes());
    let flags2 = if uring {
        kflags2 & OVER_IO_URING_FLAGS2
    } else {
        0
    };
    out[32..36].copy_from_slice(&flags2.to_le_bytes());
    write_reply(fd, unique, 0, &out);
    eprintln!(
        "kernel FUSE 7.{kminor}, offers io_uring: {}",
        kflags2 & OVER_IO_URING_FLAGS2 != 0
    );
    if uring && flags2 == 0 {
        return Err(io::Error::other(
            "the kernel does not offer FUSE_OVER_IO_URING",
        ));
    }
    if spin_window().is_some() {
        // SAFETY: fcntl on our own descriptor.
        unsafe {
            let fl = libc::fcntl(fd, libc::F_GETFL);
            libc::fcntl(fd, libc::F_SETFL, fl | libc::O_NONBLOCK);
        }
    }
    let classic_threads: usize = std::env::var("CLASSIC_THREADS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2);
    for _ in 0..classic_threads {
        std::thread::spawn(move || classic_loop(fd));
    }
    if uring {
        let cpus = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_CONF) }.max(1) as u16;
        for qid in 0..cpus {
            std::thread::spawn(move || {
                if let Err(e) = uring_loop(fd, qid) {
                    eprintln!("io_uring queue {qid}: {e}");
                }
            });
        }
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
    if let Some(dir) = &source {
        // Serve until unmounted (`umount -l MOUNTPOINT`).
        eprintln!("serving {} at {mnt}", dir.display());
        while !GONE.load(Ordering::Relaxed) {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        println!(
            "{}: requests answered over /dev/fuse {}, over io_uring {}",
            if uring { "io_uring" } else { "/dev/fuse" },
            CLASSIC.load(Ordering::Relaxed),
            URING.load(Ordering::Relaxed)
        );
        if uring {
            let _ = std::fs::write(param, before.trim());
        }
        std::process::exit(0);
    }
    let path = CString::new(format!("{mnt}/missing")).unwrap();
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    let mut times = Vec::with_capacity(iterations);
    for i in 0..iterations + 1000 {
        let spin = Instant::now();
        while spin.elapsed() < gap {
            std::hint::spin_loop();
        }
        let t = Instant::now();
        let r = unsafe { libc::stat(path.as_ptr(), &mut st) };
        let e = io::Error::last_os_error();
        if i >= 1000 {
            times.push(t.elapsed().as_nanos() as f64 / 1000.0);
        }
        if r == 0 || e.raw_os_error() != Some(libc::ENOENT) {
            eprintln!("stat: {r} {e}");
            break;
        }
    }
    times.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let pct = |p: f64| times[((times.len() - 1) as f64 * p) as usize];
    let mean = times.iter().sum::<f64>() / times.len() as f64;
    println!(
        "{} (gap {} us): {} stats of a missing name, us per LOOKUP round trip: median {:.1}, p10 {:.1}, p90 {:.1}, mean {:.1}; requests answered over /dev/fuse {}, over io_uring {}",
        if uring { "io_uring" } else { "/dev/fuse" },
        gap.as_micros(),
        times.len(),
        pct(0.5),
        pct(0.1),
        pct(0.9),
        mean,
        CLASSIC.load(Ordering::Relaxed),
        URING.load(Ordering::Relaxed)
    );
    unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) };
    if uring {
        let _ = std::fs::write(param, before.trim());
    }
    std::process::exit(0);
}
