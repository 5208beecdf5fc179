//! The GOCACHEPROG wire protocol, as the go command speaks it
//! (`cmd/go/internal/cacheprog` and `cmd/go/internal/cache/prog.go`):
//! JSON lines in both directions. Each request is a JSON object on a line,
//! followed by an empty line; a `put` with a non-zero `BodySize` is then
//! followed by its body as one base64 JSON string on its own line. The
//! helper speaks first ([`Response::hello`]); replies carry the request's
//! `ID` and may come in any order.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::{self, BufRead, Read, Write};

/// A 32-byte SHA-256 key: an ActionID or an OutputID.
pub type Key = [u8; 32];

/// The longest request line accepted (a request is about 200 bytes).
const MAX_LINE: u64 = 64 * 1024;

/// The commands this helper answers, announced in [`Response::hello`].
pub const KNOWN_COMMANDS: [&str; 3] = ["get", "put", "close"];

/// What a request asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Look `action` up.
    Get {
        /// The ActionID.
        action: Key,
    },
    /// Store a body under `action`; the body follows the request.
    Put {
        /// The ActionID.
        action: Key,
        /// The OutputID: the SHA-256 of the body.
        output: Key,
        /// The body's size in bytes.
        size: u64,
    },
    /// Reply and exit.
    Close,
    /// A command this helper did not announce.
    Unknown(String),
}

/// One request from go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Echoed in the reply.
    pub id: i64,
    /// What is asked.
    pub command: Command,
}

#[derive(Deserialize)]
struct RawRequest {
    #[serde(rename = "ID")]
    id: i64,
    #[serde(rename = "Command")]
    command: String,
    #[serde(rename = "ActionID", default)]
    action_id: Option<String>,
    #[serde(rename = "OutputID", default)]
    output_id: Option<String>,
    #[serde(rename = "BodySize", default)]
    body_size: i64,
}

/// A reply to go (or the first message, [`Response::hello`]).
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Response {
    /// The request's ID (0 for the first message).
    #[serde(rename = "ID")]
    pub id: i64,
    /// The error, if the request failed.
    #[serde(rename = "Err", skip_serializing_if = "Option::is_none")]
    pub err: Option<String>,
    /// The commands this helper answers (first message only).
    #[serde(rename = "KnownCommands", skip_serializing_if = "Option::is_none")]
    pub known_commands: Option<Vec<&'static str>>,
    /// A `get` found nothing.
    #[serde(rename = "Miss", skip_serializing_if = "std::ops::Not::not")]
    pub miss: bool,
    /// The OutputID of a `get` hit, base64.
    #[serde(rename = "OutputID", skip_serializing_if = "Option::is_none")]
    pub output_id: Option<String>,
    /// The body size of a `get` hit.
    #[serde(rename = "Size", skip_serializing_if = "is_zero")]
    pub size: u64,
    /// The absolute path of the body (`get` hits and `put`s).
    #[serde(rename = "DiskPath", skip_serializing_if = "Option::is_none")]
    pub disk_path: Option<String>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Response {
    /// The message the helper sends first: what it can do.
    pub fn hello() -> Response {
        Response {
            known_commands: Some(KNOWN_COMMANDS.to_vec()),
            ..Response::default()
        }
    }

    /// A `get` miss.
    pub fn miss(id: i64) -> Response {
        Response {
            id,
            miss: true,
            ..Response::default()
        }
    }

    /// A `get` hit.
    pub fn hit(id: i64, output: &Key, size: u64, path: &std::path::Path) -> Response {
        Response {
            id,
            output_id: Some(STANDARD.encode(output)),
            size,
            disk_path: Some(path.to_string_lossy().into_owned()),
            ..Response::default()
        }
    }

    /// A stored `put`.
    pub fn stored(id: i64, path: &std::path::Path) -> Response {
        Response {
            id,
            disk_path: Some(path.to_string_lossy().into_owned()),
            ..Response::default()
        }
    }

    /// A failed request.
    pub fn error(id: i64, err: impl Into<String>) -> Response {
        Response {
            id,
            err: Some(err.into()),
            ..Response::default()
        }
    }

    /// Plain success (the reply to `close`).
    pub fn ok(id: i64) -> Response {
        Response {
            id,
            ..Response::default()
        }
    }

    /// Writes this reply as one JSON line (the caller flushes).
    pub fn write_to(&self, out: &mut impl Write) -> io::Result<()> {
        serde_json::to_writer(&mut *out, self).map_err(io::Error::other)?;
        out.write_all(b"\n")
    }
}

/// A protocol violation: the stream cannot be read further.
fn invalid(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

/// Skips whitespace (the empty line after each request, the newline after
/// a body); `false` at the end of the stream.
fn skip_whitespace(input: &mut impl BufRead) -> io::Result<bool> {
    loop {
        let buf = input.fill_buf()?;
        if buf.is_empty() {
            return Ok(false);
        }
        let n = buf.iter().take_while(|b| b.is_ascii_whitespace()).count();
        let all = n == buf.len();
        input.consume(n);
        if !all {
            return Ok(true);
        }
    }
}

/// Reads the next request; `None` at the end of the stream. A `put`'s body
/// is not read: the caller reads it next with [`read_body`].
pub fn read_request(input: &mut impl BufRead) -> io::Result<Option<Request>> {
    if !skip_whitespace(input)? {
        return Ok(None);
    }
    let mut line = Vec::new();
    input.by_ref().take(MAX_LINE).read_until(b'\n', &mut line)?;
    if line.last() != Some(&b'\n') && line.len() as u64 >= MAX_LINE {
        return Err(invalid("request line longer than 64 KiB"));
    }
    let raw: RawRequest = serde_json::from_slice(&line)
        .map_err(|e| invalid(format!("request is not the JSON go sends: {e}")))?;
    let key = |name: &str, v: &Option<String>| -> io::Result<Key> {
        let text = v
            .as_deref()
            .ok_or_else(|| invalid(format!("{} request {} without {name}", raw.command, raw.id)))?;
        let bytes = STANDARD
            .decode(text)
            .map_err(|e| invalid(format!("{name} of request {}: {e}", raw.id)))?;
        Key::try_from(bytes.as_slice())
            .map_err(|_| invalid(format!("{name} of request {} is not 32 bytes", raw.id)))
    };
    let command = match raw.command.as_str() {
        "get" => Command::Get {
            action: key("ActionID", &raw.action_id)?,
        },
        "put" => Command::Put {
            action: key("ActionID", &raw.action_id)?,
            output: key("OutputID", &raw.output_id)?,
            size: u64::try_from(raw.body_size)
                .map_err(|_| invalid(format!("negative BodySize in request {}", raw.id)))?,
        },
        "close" => Command::Close,
        other => Command::Unknown(other.to_owned()),
    };
    Ok(Some(Request {
        id: raw.id,
        command,
    }))
}

/// The bytes of a body string up to (and consuming) its closing quote.
struct Quoted<'a, R> {
    input: &'a mut R,
    done: bool,
}

impl<R: BufRead> Read for Quoted<'_, R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.done || out.is_empty() {
            return Ok(0);
        }
        let buf = self.input.fill_buf()?;
        if buf.is_empty() {
            return Err(invalid("the stream ended inside a put body"));
        }
        let (n, quote) = match buf.iter().position(|&b| b == b'"') {
            Some(q) => (q.min(out.len()), q <= out.len()),
            None => (buf.len().min(out.len()), false),
        };
        out[..n].copy_from_slice(&buf[..n]);
        self.input.consume(n);
        if quote {
            self.input.consume(1);
            self.done = true;
        }
        Ok(n)
    }
}

/// What [`read_body`] read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Body {
    /// Decoded bytes.
    pub size: u64,
    /// Their SHA-256.
    pub sha256: Key,
}

/// Reads a `put` body (`"base64"` on its own line; nothing when `size` is
/// 0) into `sink` in chunks, hashing as it goes: never held in memory whole.
pub fn read_body(input: &mut impl BufRead, size: u64, sink: &mut impl Write) -> io::Result<Body> {
    let mut hasher = Sha256::new();
    let mut written = 0u64;
    if size > 0 {
        if !skip_whitespace(input)? {
            return Err(invalid("the stream ended before a put body"));
        }
        let mut quote = [0u8; 1];
        input.read_exact(&mut quote)?;
        if quote[0] != b'"' {
            return Err(invalid("a put body is not a JSON string"));
        }
        let mut decoder =
            base64::read::DecoderReader::new(Quoted { input, done: false }, &STANDARD);
        let mut chunk = vec![0u8; 64 * 1024];
        loop {
            let n = decoder
                .read(&mut chunk)
                .map_err(|e| invalid(format!("put body: {e}")))?;
            if n == 0 {
                break;
            }
            hasher.update(&chunk[..n]);
            sink.write_all(&chunk[..n])?;
            written += n as u64;
        }
    }
    Ok(Body {
        size: written,
        sha256: hasher.finalize().into(),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn key(b: u8) -> Key {
        [b; 32]
    }

    #[test]
    fn reads_requests_and_bodies_as_go_writes_them() {
        let body = b"hello, build cache".repeat(10_000);
        let out: Key = Sha256::digest(&body).into();
        let stream = format!(
            "{{\"ID\":1,\"Command\":\"get\",\"ActionID\":\"{a}\"}}\n\n\
             {{\"ID\":2,\"Command\":\"put\",\"ActionID\":\"{a}\",\"OutputID\":\"{o}\",\"BodySize\":{n}}}\n\n\
             \"{b}\"\n\
             {{\"ID\":3,\"Command\":\"put\",\"ActionID\":\"{a}\",\"OutputID\":\"{o}\"}}\n\n\
             {{\"ID\":4,\"Command\":\"close\"}}\n\n",
            a = STANDARD.encode(key(7)),
            o = STANDARD.encode(out),
            n = body.len(),
            b = STANDARD.encode(&body),
        );
        let mut input = io::BufReader::with_capacity(100, stream.as_bytes());
        let r = read_request(&mut input).unwrap().unwrap();
        assert_eq!(r.command, Command::Get { action: key(7) });
        let r = read_request(&mut input).unwrap().unwrap();
        assert_eq!(r.id, 2);
        let Command::Put { size, .. } = r.command else {
            panic!("{r:?}")
        };
        let mut sink = Vec::new();
        let got = read_body(&mut input, size, &mut sink).unwrap();
        assert_eq!(sink, body);
        assert_eq!(got.sha256, out);
        let r = read_request(&mut input).unwrap().unwrap();
        assert_eq!(r.id, 3);
        assert!(matches!(r.command, Command::Put { size: 0, .. }));
        assert_eq!(read_body(&mut input, 0, &mut sink).unwrap().size, 0);
        assert_eq!(
            read_request(&mut input).unwrap().unwrap().command,
            Command::Close
        );
        assert!(read_request(&mut input).unwrap().is_none());
    }

    #[test]
    fn malformed_input_is_an_error_not_a_panic() {
        for bad in [
            "not json\n",
            "{\"ID\":1,\"Command\":\"get\"}\n",
            "{\"ID\":1,\"Command\":\"get\",\"ActionID\":\"AAAA\"}\n",
            "{\"ID\":1,\"Command\":\"put\",\"ActionID\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\",\"OutputID\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\",\"BodySize\":-1}\n",
        ] {
            let mut input = io::BufReader::new(bad.as_bytes());
            assert!(read_request(&mut input).is_err(), "{bad}");
        }
        let mut input = io::BufReader::new("\"QUJD".as_bytes());
        assert!(read_body(&mut input, 3, &mut Vec::new()).is_err());
        let mut input = io::BufReader::new("QUJD\"".as_bytes());
        assert!(read_body(&mut input, 3, &mut Vec::new()).is_err());
    }

    #[test]
    fn replies_are_the_json_go_reads() {
        let mut out = Vec::new();
        Response::hello().write_to(&mut out).unwrap();
        Response::miss(3).write_to(&mut out).unwrap();
        Response::hit(4, &key(1), 5, std::path::Path::new("/c/o"))
            .write_to(&mut out)
            .unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            r#"{"ID":0,"KnownCommands":["get","put","close"]}"#
        );
        assert_eq!(lines[1], r#"{"ID":3,"Miss":true}"#);
        assert_eq!(
            lines[2],
            format!(
                r#"{{"ID":4,"OutputID":"{}","Size":5,"DiskPath":"/c/o"}}"#,
                STANDARD.encode(key(1))
            )
        );
    }
}
