//! `gomodfs serve --nfs` under attack from raw TCP clients, before any
//! authentication: record markers that claim gigabytes, endless non-final
//! fragments, pipelined READs whose replies are never read, and more
//! connections than the cap. The server's memory is measured in its own
//! process (peak RSS from /proc), and real clients keep being served.
#![cfg(feature = "nfs")]
#![allow(clippy::unwrap_used)]

mod common;

use common::NfsServer;
use gomodfs_testkit::nfs::Client;
use gomodfs_testkit::nfs::handle_from;
use gomodfs_testkit::nfs::require_libnfs_tools;
use gomodfs_testkit::nfs::rpc::{
    answers_null, closed_within, lookup_call, marker, null_call, read_call, read_reply,
};
use gomodfs_testkit::{ModuleSpec, TestProxy};
use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// What one claim of test 2 announces (the largest a marker can say).
const HUGE_CLAIM: u32 = 0x7fff_ffff;
/// Growth of the server's peak RSS allowed by the tests, in KiB.
const SMALL_GROWTH_KIB: u64 = 64 * 1024;
/// The connection cap of `gomodfs serve --nfs`.
const MAX_CONNECTIONS: usize = gomodfs::nfs::MAX_CONNECTIONS;

fn big() -> ModuleSpec {
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    ModuleSpec::new("example.com/big", "v1.0.0")
        .file("big.go", "package big\n")
        .file("data.bin", data)
}

/// A server with `example.com/big` stored, and its log directory.
fn server() -> (NfsServer, TestProxy, tempfile::TempDir, tempfile::TempDir) {
    require_libnfs_tools();
    let proxy = TestProxy::start_with([big()]).unwrap();
    let store = tempfile::tempdir().unwrap();
    let logs = tempfile::tempdir().unwrap();
    let server = NfsServer::start(
        store.path(),
        Some(&proxy.url()),
        &logs.path().join("serve.log"),
        &[],
    );
    assert_eq!(
        server
            .libnfs()
            .cat("example.com/big@v1.0.0/big.go")
            .unwrap(),
        b"package big\n"
    );
    (server, proxy, store, logs)
}

/// `VmRSS` and `VmHWM` (peak) of a process, in KiB.
fn rss_kib(server: &NfsServer) -> (u64, u64) {
    let field = |name: &str| server.process.status_kib(name).unwrap();
    (field("VmRSS"), field("VmHWM"))
}

/// How much the peak RSS grew between two readings. VmHWM can read lower
/// the second time: the kernel reports the larger of its high-water mark,
/// updated only at some unmaps, and the current RSS, so a peak that came
/// and went between two updates counts in the first reading only.
fn peak_growth(before: u64, after: u64) -> u64 {
    after.saturating_sub(before)
}

fn connect(server: &NfsServer) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(20))).unwrap();
    s
}

/// The server still serves a real client: nfs-cat, and nfs3_client.
fn still_serves(server: &NfsServer) {
    assert_eq!(
        server
            .libnfs()
            .cat("example.com/big@v1.0.0/big.go")
            .unwrap(),
        b"package big\n",
        "nfs-cat after the attack"
    );
    let mut c = Client::connect(server.port, "/");
    let (fh, _) = c.walk("example.com/big@v1.0.0/data.bin").unwrap();
    assert_eq!(c.read(&fh, 0, 4).unwrap().0, [0, 1, 2, 3]);
}

fn warned_about_client(server: &NfsServer, what: &str) {
    let log = server.process.log_text();
    let line = log
        .lines()
        .find(|l| l.contains(what))
        .unwrap_or_else(|| panic!("no log line with {what:?}:\n{log}"));
    assert!(line.contains("WARN"), "logged at WARN: {line}");
    assert!(line.contains("client 127.0.0.1:"), "names the peer: {line}");
    assert!(
        !log.contains("ERROR"),
        "no ERROR for client garbage:\n{log}"
    );
}

#[test]
fn a_marker_claiming_a_gibibyte_closes_the_connection_without_allocating() {
    let (server, _proxy, _store, _logs) = server();
    let (_, peak_before) = rss_kib(&server);
    let mut s = connect(&server);
    let t = Instant::now();
    s.write_all(&marker(1 << 30, true)).unwrap();
    let closed = closed_within(&mut s, Duration::from_secs(5));
    let closed_after = t.elapsed();
    let (_, peak_after) = rss_kib(&server);
    eprintln!(
        "closed: {closed} after {closed_after:?}; peak RSS {peak_before} -> {peak_after} KiB"
    );
    assert!(
        peak_growth(peak_before, peak_after) < SMALL_GROWTH_KIB,
        "peak RSS grew from {peak_before} to {peak_after} KiB"
    );
    assert!(
        closed,
        "the connection stays open after a 1 GiB marker with no data"
    );
    warned_about_client(&server, "exceeds the limit");
    still_serves(&server);
    server.process.stop().expect("gomodfs exits cleanly");
}

#[test]
fn twenty_connections_claiming_two_gibibytes_each_leave_memory_small() {
    let (server, _proxy, _store, _logs) = server();
    let (_, peak_before) = rss_kib(&server);
    let mut conns: Vec<TcpStream> = (0..20).map(|_| connect(&server)).collect();
    for s in &mut conns {
        // Non-final, so that an unpatched server also waits for more.
        s.write_all(&marker(HUGE_CLAIM, false)).unwrap();
        s.write_all(&[0u8; 1024]).unwrap();
    }
    let still_open: Vec<usize> = (0..conns.len())
        .filter(|&i| !closed_within(&mut conns[i], Duration::from_secs(10)))
        .collect();
    let (rss, peak_after) = rss_kib(&server);
    eprintln!("peak RSS {peak_before} -> {peak_after} KiB (now {rss} KiB)");
    assert!(
        peak_growth(peak_before, peak_after) < SMALL_GROWTH_KIB,
        "peak RSS grew from {peak_before} to {peak_after} KiB"
    );
    assert!(
        still_open.is_empty(),
        "connections {still_open:?} stay open"
    );
    still_serves(&server);
    server.process.stop().expect("gomodfs exits cleanly");
}

#[test]
fn non_final_fragments_beyond_the_record_cap_close_the_connection() {
    let (server, _proxy, _store, _logs) = server();
    let mut s = connect(&server);
    // 64 MiB in fragments of 256 KiB, none of them the last: the record
    // cap (1 MiB + 4 KiB) is passed at the fifth.
    let fragment = vec![0u8; 256 * 1024];
    let mut sent = 0usize;
    for _ in 0..256 {
        if s.write_all(&marker(fragment.len() as u32, false)).is_err()
            || s.write_all(&fragment).is_err()
        {
            break;
        }
        sent += fragment.len();
    }
    assert!(
        closed_within(&mut s, Duration::from_secs(10)),
        "the connection stays open after {sent} bytes of non-final fragments"
    );
    eprintln!("closed after {sent} bytes were sent");
    warned_about_client(&server, "exceeds the limit");
    still_serves(&server);
    server.process.stop().expect("gomodfs exits cleanly");
}

/// A connection that sent 300 READs of 1 MiB of `example.com/big`'s
/// data.bin (as many as the server took within 5 s) and reads no reply:
/// 300 MiB of replies unless the connection's budget stops reading its
/// calls. With the READs it sent.
fn reads_never_taken(server: &NfsServer) -> (TcpStream, usize) {
    let fh = {
        let mut c = Client::connect(server.port, "/");
        c.walk("example.com/big@v1.0.0/data.bin").unwrap().0
    };
    let mut s = connect(server);
    s.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
    let sent = (0..300u32)
        .take_while(|&xid| s.write_all(&read_call(xid, &fh, 0, 1 << 20)).is_ok())
        .count();
    (s, sent)
}

#[test]
fn pipelined_reads_whose_replies_are_never_read_hold_a_bounded_amount() {
    let (server, _proxy, _store, _logs) = server();
    let (_, peak_before) = rss_kib(&server);
    let (mut s, sent) = reads_never_taken(&server);
    std::thread::sleep(Duration::from_secs(3));
    let (_, peak_after) = rss_kib(&server);
    eprintln!("{sent} READs sent; peak RSS {peak_before} -> {peak_after} KiB");
    assert!(
        peak_growth(peak_before, peak_after) < SMALL_GROWTH_KIB,
        "peak RSS grew from {peak_before} to {peak_after} KiB"
    );
    // The calls were not refused: replies come once they are read.
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    for _ in 0..3 {
        let reply = read_reply(&mut s).unwrap();
        assert_eq!(reply.status, Some(0), "READ {reply:?}");
        assert!(reply.len > 1 << 20, "a whole 1 MiB READ: {reply:?}");
    }
    drop(s);
    still_serves(&server);
    server.process.stop().expect("gomodfs exits cleanly");
}

/// `MAX_CONNECTIONS` connections, each served (a NULL call answered), in
/// order: the first is idle the longest. The warm-up clients' connections
/// are closed; until the server has seen that, they still count, and
/// making room closes them first.
fn fill_the_cap(server: &NfsServer) -> Vec<TcpStream> {
    open_served(server, MAX_CONNECTIONS)
}

/// `count` connections, each served (a NULL call answered), in order.
fn open_served(server: &NfsServer, count: usize) -> Vec<TcpStream> {
    (0..count)
        .map(|i| {
            let mut s = connect(server);
            assert!(
                answers_null(&mut s, i as u32),
                "connection {i} within the cap"
            );
            s
        })
        .collect()
}

#[test]
fn at_the_cap_the_connection_idle_the_longest_makes_room() {
    let (server, _proxy, _store, _logs) = server();
    let mut open = fill_the_cap(&server);
    // One more: served; the first connection (idle the longest) is closed,
    // as a client that went away without closing its connection would be.
    let mut extra = connect(&server);
    assert!(
        answers_null(&mut extra, 7777),
        "connection {} is served at the cap",
        MAX_CONNECTIONS + 1
    );
    assert!(
        closed_within(&mut open[0], Duration::from_secs(5)),
        "the connection idle the longest is closed to make room"
    );
    for (i, s) in open.iter_mut().enumerate().skip(1) {
        assert!(answers_null(s, 1000 + i as u32), "connection {i} after it");
    }
    // A client whose connection was closed connects again and is served;
    // the one idle the longest now is the extra one (served before the
    // calls above).
    let mut again = connect(&server);
    assert!(
        answers_null(&mut again, 9999),
        "the closed client connects again"
    );
    assert!(closed_within(&mut extra, Duration::from_secs(5)));
    assert!(answers_null(&mut open[1], 9998), "a connection used since");
    assert!(
        !server
            .process
            .log_text()
            .contains("refusing the connection"),
        "no connection refused while some were idle"
    );
    drop(open);
    server.process.stop().expect("gomodfs exits cleanly");
}

#[test]
fn at_the_cap_a_connection_whose_client_stopped_reading_makes_room() {
    let (server, _proxy, _store, _logs) = server();
    // A client that sends READs and never reads a reply: once the
    // socket's buffers are full, the server's write of its replies waits
    // for good, and the calls behind it wait for the connection's byte
    // budget. That connection is the one idle the longest.
    let (mut stuck, _) = reads_never_taken(&server);
    std::thread::sleep(Duration::from_secs(2));
    let mut open = open_served(&server, MAX_CONNECTIONS - 1);
    // One more: served, in the stuck connection's place (an older server
    // counted its calls waiting for the budget as calls going on, never
    // chose it, and closed a live idle connection instead), without
    // waiting for the stuck write.
    let mut extra = connect(&server);
    let asked = Instant::now();
    assert!(
        answers_null(&mut extra, 7777),
        "connection {} is served at the cap",
        MAX_CONNECTIONS + 1
    );
    let served_after = asked.elapsed();
    assert!(
        served_after < Duration::from_millis(900),
        "served after {served_after:?}: it waited for the stuck connection's place"
    );
    // The stuck connection is closed: what it has received, then its end.
    assert!(
        closed_within(&mut stuck, Duration::from_secs(20)),
        "the connection whose client stopped reading is closed to make room"
    );
    for (i, s) in open.iter_mut().enumerate() {
        assert!(answers_null(s, 1000 + i as u32), "connection {i} after it");
    }
    assert!(
        !server
            .process
            .log_text()
            .contains("refusing the connection"),
        "no connection refused while one could make room"
    );
    drop(open);
    server.process.stop().expect("gomodfs exits cleanly");
}

/// The server's side of the connection from local port `client_port` to
/// `server_port` in /proc/net/tcp (IPv4): its timer (`tr`: 2 is TCP's
/// keepalive timer) and the time to its expiry in clock ticks.
fn server_socket_timer(server_port: u16, client_port: u16) -> Option<(u8, u64)> {
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap();
    let local = format!(":{server_port:04X}");
    let remote = format!(":{client_port:04X}");
    table.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let ours = fields.get(1)?.ends_with(&local) && fields.get(2)?.ends_with(&remote);
        // State 01: established.
        if !ours || *fields.get(3)? != "01" {
            return None;
        }
        let (timer, when) = fields.get(5)?.split_once(':')?;
        Some((
            u8::from_str_radix(timer, 16).ok()?,
            u64::from_str_radix(when, 16).ok()?,
        ))
    })
}

#[test]
fn an_idle_connection_is_probed_by_tcp_keepalive() {
    let (server, _proxy, _store, _logs) = server();
    let mut s = connect(&server);
    assert!(answers_null(&mut s, 1));
    let client_port = s.local_addr().unwrap().port();
    // The server's socket, idle now, runs TCP's keepalive timer: a client
    // gone without closing its connection is found out (probed after a
    // minute of silence) instead of holding its place until a new client
    // needs it.
    // Until the client's ACK of the reply arrives, the socket runs the
    // retransmission timer (1) instead.
    let deadline = Instant::now() + Duration::from_secs(3);
    let (kind, ticks) = loop {
        let timer = server_socket_timer(server.port, client_port);
        let (kind, ticks) = timer.unwrap_or_else(|| {
            panic!(
                "no established socket {} <- {client_port} in /proc/net/tcp",
                server.port
            )
        });
        if kind == 2 || Instant::now() > deadline {
            break (kind, ticks);
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(
        kind, 2,
        "the server's socket of an idle connection runs the keepalive timer \
         (0: no timer)"
    );
    // Clock ticks of 1/100 s: the first probe within the minute.
    assert!(
        (3_000..=6_100).contains(&ticks),
        "first probe in {ticks} ticks, not within 30-61 s"
    );
    assert!(answers_null(&mut s, 2), "the connection still serves");
    drop(s);
    server.process.stop().expect("gomodfs exits cleanly");
}

#[test]
fn at_the_cap_with_a_call_going_on_on_every_connection_a_new_one_is_refused() {
    let (server, proxy, _store, _logs) = server();
    let slow: Vec<ModuleSpec> = (0..MAX_CONNECTIONS)
        .map(|i| {
            ModuleSpec::new(format!("example.com/slow/m{i:03}"), "v1.0.0")
                .file("slow.go", "package slow\n")
        })
        .collect();
    for m in &slow {
        proxy.set_slow(m.path(), m.version(), Duration::from_secs(10));
        proxy.add(m.clone());
    }
    let mut open = fill_the_cap(&server);
    // A LOOKUP of a module version not stored on every connection: each
    // waits on the upstream (until the server's 2 s fetch timeout).
    let mut dir = gomodfs::nfs::HANDLE_GENERATION.to_le_bytes().to_vec();
    dir.push(1);
    dir.extend_from_slice(b"example.com/slow");
    let dir = handle_from(&dir);
    for (i, s) in open.iter_mut().enumerate() {
        s.write_all(&lookup_call(
            500 + i as u32,
            &dir,
            &format!("m{i:03}@v1.0.0"),
        ))
        .unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while !proxy
        .request_records()
        .iter()
        .any(|r| r.path.starts_with("/example.com/slow/"))
    {
        assert!(Instant::now() < deadline, "no LOOKUP reached the upstream");
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(200));
    let mut extra = connect(&server);
    let _ = extra.write_all(&null_call(7777));
    assert!(
        closed_within(&mut extra, Duration::from_millis(1500)),
        "connection {} is served while every connection has a call going on",
        MAX_CONNECTIONS + 1
    );
    warned_about_client(&server, "refusing the connection");
    // Every call gets its answer (an I/O error once the fetch times out).
    for (i, s) in open.iter_mut().enumerate() {
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let reply = read_reply(s).unwrap();
        assert_eq!(
            reply.xid,
            500 + i as u32,
            "the LOOKUP's reply on connection {i}"
        );
    }
    drop(open);
    server.process.stop().expect("gomodfs exits cleanly");
}

#[test]
fn client_garbage_is_a_rate_limited_warning_with_the_peer_address() {
    let (server, _proxy, _store, _logs) = server();
    // 100 connections, each sending one record that is not an RPC call.
    for i in 0..100u32 {
        let mut s = connect(&server);
        let mut record = marker(40, true).to_vec();
        record.extend_from_slice(&i.to_be_bytes());
        record.extend_from_slice(&[0xff; 36]);
        s.write_all(&record).unwrap();
        assert!(
            closed_within(&mut s, Duration::from_secs(10)),
            "connection {i} with garbage stays open"
        );
    }
    warned_about_client(&server, "error handling RPC message");
    let log = server.process.log_text();
    let warnings = log
        .lines()
        .filter(|l| l.contains("client 127.0.0.1:"))
        .count();
    assert!(
        (1..=20).contains(&warnings),
        "{warnings} warnings for 100 bad clients (at most 20 per 10 s):\n{log}"
    );
    still_serves(&server);
    server.process.stop().expect("gomodfs exits cleanly");
}
