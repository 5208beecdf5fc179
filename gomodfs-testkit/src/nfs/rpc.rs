//! ONC RPC over TCP by hand, for tests that misbehave (record markers that
//! lie, endless fragments) or pipeline many calls on one connection the way
//! the kernel's client does, matching replies by xid.

use nfs3_client::nfs3_types::nfs3::{self, nfs_fh3};
use nfs3_client::nfs3_types::rpc::{
    RPC_VERSION_2, accept_stat_data, call_body, msg_body, opaque_auth, reply_body, rpc_msg,
};
use nfs3_client::nfs3_types::xdr_codec::{Opaque, Pack, Unpack};
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// The 4-byte record marker of a fragment of `len` bytes.
pub fn marker(len: u32, last: bool) -> [u8; 4] {
    (len | if last { 0x8000_0000 } else { 0 }).to_be_bytes()
}

/// One call as a complete record (marker included).
pub fn call_record(xid: u32, prog: u32, vers: u32, proc: u32, args: &impl Pack) -> Vec<u8> {
    let msg = rpc_msg {
        xid,
        body: msg_body::CALL(call_body {
            rpcvers: RPC_VERSION_2,
            prog,
            vers,
            proc,
            cred: opaque_auth::default(),
            verf: opaque_auth::default(),
        }),
    };
    let mut body = Vec::new();
    msg.pack(&mut body).expect("packing into a Vec cannot fail");
    args.pack(&mut body)
        .expect("packing into a Vec cannot fail");
    let len = u32::try_from(body.len()).expect("a test call is far below 4 GiB");
    let mut out = marker(len, true).to_vec();
    out.extend_from_slice(&body);
    out
}

/// NFSv3 NULL.
pub fn null_call(xid: u32) -> Vec<u8> {
    call_record(
        xid,
        nfs3::PROGRAM,
        nfs3::VERSION,
        0,
        &nfs3_client::nfs3_types::xdr_codec::Void,
    )
}

/// NFSv3 LOOKUP of `name` in `dir`.
pub fn lookup_call(xid: u32, dir: &nfs_fh3, name: &str) -> Vec<u8> {
    let args = nfs3::LOOKUP3args {
        what: nfs3::diropargs3 {
            dir: dir.clone(),
            name: nfs3::filename3(Opaque::owned(name.as_bytes().to_vec())),
        },
    };
    call_record(xid, nfs3::PROGRAM, nfs3::VERSION, 3, &args)
}

/// NFSv3 READ.
pub fn read_call(xid: u32, file: &nfs_fh3, offset: u64, count: u32) -> Vec<u8> {
    let args = nfs3::READ3args {
        file: file.clone(),
        offset,
        count,
    };
    call_record(xid, nfs3::PROGRAM, nfs3::VERSION, 6, &args)
}

/// A reply: its xid, and the NFS status (the first word of the result)
/// when the call was accepted and succeeded at the RPC level.
#[derive(Debug)]
pub struct Reply {
    /// The transaction id.
    pub xid: u32,
    /// The NFS status, when accepted and successful at the RPC level.
    pub status: Option<u32>,
    /// The record's length in bytes.
    pub len: usize,
}

/// Reads one record: its marker's last-fragment bit and its bytes.
fn read_record(stream: &mut TcpStream) -> io::Result<(bool, Vec<u8>)> {
    let mut buf = Vec::new();
    let (last, len) = read_record_into(stream, &mut buf)?;
    buf.truncate(len);
    Ok((last, buf))
}

/// Reads one record into `buf` (grown, never shrunk, so a buffer kept
/// across records is zeroed only where it grows): its marker's
/// last-fragment bit and its length (the record is `buf[..len]`).
fn read_record_into(stream: &mut impl Read, buf: &mut Vec<u8>) -> io::Result<(bool, usize)> {
    let mut head = [0u8; 4];
    stream.read_exact(&mut head)?;
    let word = u32::from_be_bytes(head);
    let len = (word & 0x7fff_ffff) as usize;
    if buf.len() < len {
        buf.resize(len, 0);
    }
    stream.read_exact(&mut buf[..len])?;
    Ok((word & 0x8000_0000 != 0, len))
}

/// Reads reply records into one buffer kept across them, as a kernel
/// client receives into buffers it already has: no allocation (and no
/// page faults on fresh memory) per reply.
#[derive(Debug, Default)]
pub struct ReplyReader {
    buf: Vec<u8>,
}

impl ReplyReader {
    /// A reader with an empty buffer.
    pub fn new() -> ReplyReader {
        ReplyReader::default()
    }

    /// Reads one reply that must be one whole record and accepted with
    /// SUCCESS at the RPC level: its xid and the bytes after the RPC
    /// header (the procedure's result), borrowed from the buffer until
    /// the next reply. Anything else is an `InvalidData` error.
    pub fn accepted(&mut self, stream: &mut impl Read) -> io::Result<(u32, &[u8])> {
        let (last, len) = read_record_into(stream, &mut self.buf)?;
        if !last {
            return Err(invalid("a reply in more than one fragment".into()));
        }
        let body = &self.buf[..len];
        let mut cursor = io::Cursor::new(body);
        let (msg, _) = rpc_msg::unpack(&mut cursor).map_err(|e| invalid(format!("{e:?}")))?;
        if !matches!(&msg.body, msg_body::REPLY(reply_body::MSG_ACCEPTED(a))
            if matches!(a.reply_data, accept_stat_data::SUCCESS))
        {
            return Err(invalid(format!("reply {} not accepted", msg.xid)));
        }
        let at = cursor.position() as usize;
        Ok((msg.xid, &body[at..]))
    }
}

/// An `InvalidData` error saying `why`.
fn invalid(why: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, why)
}

/// Reads one reply that must be one whole record and accepted with
/// SUCCESS at the RPC level: its xid and the bytes after the RPC header
/// (the procedure's result). Anything else is an `InvalidData` error.
pub fn accepted_reply(stream: &mut TcpStream) -> io::Result<(u32, Vec<u8>)> {
    let mut reader = ReplyReader::new();
    let (xid, result) = reader.accepted(stream)?;
    Ok((xid, result.to_vec()))
}

/// A READ result (`READ3res`) that is `NFS3_OK`: its eof flag and its
/// data, borrowed, without the copy `READ3res::unpack` makes. An error
/// status, a data length that differs from the count, or a result that
/// ends early or goes on past its data's padding is `InvalidData`.
pub fn read_result(result: &[u8]) -> io::Result<(bool, &[u8])> {
    let mut cursor = io::Cursor::new(result);
    let fail =
        |e: nfs3_client::nfs3_types::xdr_codec::Error| invalid(format!("READ result: {e:?}"));
    let (status, _) = u32::unpack(&mut cursor).map_err(fail)?;
    if status != 0 {
        return Err(invalid(format!("READ failed with NFS status {status}")));
    }
    nfs3::post_op_attr::unpack(&mut cursor).map_err(fail)?;
    let (count, _) = u32::unpack(&mut cursor).map_err(fail)?;
    let (eof, _) = bool::unpack(&mut cursor).map_err(fail)?;
    let (len, _) = u32::unpack(&mut cursor).map_err(fail)?;
    if len != count {
        return Err(invalid(format!(
            "READ count {count} but {len} bytes of data"
        )));
    }
    let at = cursor.position() as usize;
    let (len, padded) = (len as usize, (len as usize).next_multiple_of(4));
    if result.len() != at + padded {
        return Err(invalid(format!(
            "READ result of {} bytes for {len} bytes of data",
            result.len()
        )));
    }
    Ok((eof, &result[at..at + len]))
}

/// Reads one reply record.
pub fn read_reply(stream: &mut TcpStream) -> io::Result<Reply> {
    let (_, body) = read_record(stream)?;
    let len = body.len();
    let mut cursor = io::Cursor::new(&body[..]);
    let (msg, _) = rpc_msg::unpack(&mut cursor)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("{e:?}")))?;
    let accepted = matches!(
        &msg.body,
        msg_body::REPLY(reply_body::MSG_ACCEPTED(a)) if matches!(a.reply_data, accept_stat_data::SUCCESS)
    );
    let pos = cursor.position() as usize;
    let status = body
        .get(pos..pos + 4)
        .filter(|_| accepted)
        .and_then(|w| w.try_into().ok())
        .map(u32::from_be_bytes);
    Ok(Reply {
        xid: msg.xid,
        status,
        len,
    })
}

/// Whether the server closed the connection within `within` (EOF or a
/// reset on read), after anything it still had to say.
pub fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        if stream.set_read_timeout(Some(left)).is_err() {
            return true;
        }
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return false;
            }
            Err(_) => return true,
        }
    }
}

/// A NULL call and its reply on an open connection: whether it is served.
pub fn answers_null(stream: &mut TcpStream, xid: u32) -> bool {
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .is_ok()
        && stream.write_all(&null_call(xid)).is_ok()
        && read_reply(stream).is_ok_and(|r| r.xid == xid)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    /// A connected pair: what is written to the first is read from the second.
    fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let client = TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
        let (server, _) = listener.accept().expect("accept");
        (server, client)
    }

    /// A reply record by hand: xid, REPLY, then `rest` (the reply body).
    fn record(last: bool, xid: u32, rest: &[u32], result: &[u8]) -> Vec<u8> {
        let mut body: Vec<u8> = [xid, 1]
            .iter()
            .chain(rest)
            .flat_map(|w| w.to_be_bytes())
            .collect();
        body.extend_from_slice(result);
        let mut out = marker(body.len() as u32, last).to_vec();
        out.extend(body);
        out
    }

    /// MSG_ACCEPTED, an empty AUTH_NONE verifier, SUCCESS.
    const ACCEPTED: [u32; 4] = [0, 0, 0, 0];

    #[test]
    fn an_accepted_reply_gives_its_xid_and_result() {
        let (mut server, mut client) = pair();
        server
            .write_all(&record(true, 7, &ACCEPTED, b"result!!"))
            .expect("write");
        let (xid, result) = accepted_reply(&mut client).expect("an accepted reply");
        assert_eq!((xid, &result[..]), (7, &b"result!!"[..]));
    }

    #[test]
    fn a_fragmented_or_refused_reply_is_invalid_data() {
        let (mut server, mut client) = pair();
        server
            .write_all(&record(false, 8, &ACCEPTED, b""))
            .expect("write");
        let e = accepted_reply(&mut client).expect_err("a first fragment of several");
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        assert!(e.to_string().contains("more than one fragment"), "{e}");

        // MSG_DENIED, AUTH_ERROR, AUTH_BADCRED.
        server
            .write_all(&record(true, 9, &[1, 1, 1], b""))
            .expect("write");
        let e = accepted_reply(&mut client).expect_err("a denied call");
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        assert!(e.to_string().contains("reply 9 not accepted"), "{e}");

        // Accepted, but PROC_UNAVAIL.
        server
            .write_all(&record(true, 10, &[0, 0, 0, 3], b""))
            .expect("write");
        let e = accepted_reply(&mut client).expect_err("an unavailable procedure");
        assert!(e.to_string().contains("reply 10 not accepted"), "{e}");
    }

    #[test]
    fn a_reply_reader_keeps_its_buffer_and_gives_each_reply_its_own_bytes() {
        let (mut server, mut client) = pair();
        server
            .write_all(&record(true, 1, &ACCEPTED, b"a longer result."))
            .expect("write");
        server
            .write_all(&record(true, 2, &ACCEPTED, b"short!!!"))
            .expect("write");
        let mut replies = ReplyReader::new();
        let (xid, result) = replies.accepted(&mut client).expect("the first reply");
        assert_eq!((xid, result), (1, &b"a longer result."[..]));
        let (xid, result) = replies.accepted(&mut client).expect("the second reply");
        assert_eq!((xid, result), (2, &b"short!!!"[..]));
    }

    /// A READ3res by hand: NFS3_OK, no attributes, `count`, eof, then
    /// the data as an opaque of `len` bytes, padded.
    fn read3(count: u32, eof: bool, data: &[u8], len: u32) -> Vec<u8> {
        let mut out: Vec<u8> = [0, 0, count, u32::from(eof), len]
            .iter()
            .flat_map(|w: &u32| w.to_be_bytes())
            .collect();
        out.extend_from_slice(data);
        out.resize(out.len().next_multiple_of(4), 0);
        out
    }

    #[test]
    fn a_read_result_gives_its_data_unpadded_and_its_eof() {
        assert_eq!(
            read_result(&read3(5, true, b"hello", 5)).expect("a READ result"),
            (true, &b"hello"[..])
        );
        assert_eq!(
            read_result(&read3(0, false, b"", 0)).expect("an empty READ result"),
            (false, &b""[..])
        );
    }

    #[test]
    fn a_failed_short_or_inconsistent_read_result_is_invalid_data() {
        // NFS3ERR_IO, no attributes.
        let failed: Vec<u8> = [5u32, 0].iter().flat_map(|w| w.to_be_bytes()).collect();
        let cases = [
            (failed, "NFS status 5"),
            (read3(6, true, b"hello", 5), "READ count 6 but 5 bytes"),
            (read3(5, true, b"hel", 5), "READ result of 24 bytes for 5"),
            (
                read3(5, true, b"hello....", 5),
                "READ result of 32 bytes for 5",
            ),
            (read3(5, true, b"hello", 5)[..10].to_vec(), "READ result:"),
        ];
        for (result, says) in cases {
            let e = read_result(&result).expect_err(says);
            assert_eq!(e.kind(), io::ErrorKind::InvalidData);
            assert!(e.to_string().contains(says), "{e} (expected {says:?})");
        }
    }
}
