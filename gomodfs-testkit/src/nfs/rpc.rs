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
    let mut head = [0u8; 4];
    stream.read_exact(&mut head)?;
    let word = u32::from_be_bytes(head);
    let mut body = vec![0u8; (word & 0x7fff_ffff) as usize];
    stream.read_exact(&mut body)?;
    Ok((word & 0x8000_0000 != 0, body))
}

/// Reads one reply that must be one whole record and accepted with
/// SUCCESS at the RPC level: its xid and the bytes after the RPC header
/// (the procedure's result). Anything else is an `InvalidData` error.
pub fn accepted_reply(stream: &mut TcpStream) -> io::Result<(u32, Vec<u8>)> {
    let invalid = |why: String| io::Error::new(io::ErrorKind::InvalidData, why);
    let (last, body) = read_record(stream)?;
    if !last {
        return Err(invalid("a reply in more than one fragment".into()));
    }
    let mut cursor = io::Cursor::new(&body[..]);
    let (msg, _) = rpc_msg::unpack(&mut cursor).map_err(|e| invalid(format!("{e:?}")))?;
    if !matches!(&msg.body, msg_body::REPLY(reply_body::MSG_ACCEPTED(a))
        if matches!(a.reply_data, accept_stat_data::SUCCESS))
    {
        return Err(invalid(format!("reply {} not accepted", msg.xid)));
    }
    let at = cursor.position() as usize;
    Ok((msg.xid, body[at..].to_vec()))
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
}
