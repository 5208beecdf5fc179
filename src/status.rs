//! `gomodfs status`: a short human summary of a running gomodfs.

use gomodfs::Error;
use gomodfs::ops::human_bytes;
use serde_json::Value;

/// Reads the status from a mount point or a debug server URL and prints it.
pub(crate) fn run(target: Option<&str>, json: bool) -> Result<(), Error> {
    let target = match target {
        Some(t) => t.to_owned(),
        None => std::env::var("GOMODCACHE").map_err(|_| {
            Error::Usage("give a mount point or a debug server URL (or set GOMODCACHE)".into())
        })?,
    };
    let raw = fetch(&target)?;
    if json {
        print!("{}", String::from_utf8_lossy(&raw));
        return Ok(());
    }
    let status: Value = serde_json::from_slice(&raw)
        .map_err(|e| Error::Usage(format!("{target} did not give gomodfs status JSON: {e}")))?;
    print!("{}", summary(&status));
    Ok(())
}

fn fetch(target: &str) -> Result<Vec<u8>, Error> {
    if let Some(rest) = target.strip_prefix("http://") {
        return http_get(rest.trim_end_matches('/'));
    }
    if target.starts_with("https://") {
        return Err(Error::Usage(
            "the debug server speaks plain http://; give http://HOST:PORT".into(),
        ));
    }
    let path = std::path::Path::new(target).join(gomodfs::core::fs::STATUS_FILE);
    std::fs::read(&path).map_err(|source| Error::Io {
        context: format!("reading {} (is gomodfs mounted there?)", path.display()),
        source,
    })
}

/// `GET /status.json` from a debug server at `authority` (HOST:PORT, with an
/// optional path prefix), over plain HTTP/1.0.
fn http_get(authority: &str) -> Result<Vec<u8>, Error> {
    use std::io::{Read, Write};
    let (host, prefix) = authority.split_once('/').unwrap_or((authority, ""));
    let url = format!("http://{authority}/status.json");
    let io = |source| Error::Io {
        context: format!("reading {url}"),
        source,
    };
    let mut stream = std::net::TcpStream::connect(host).map_err(io)?;
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .map_err(io)?;
    let path = if prefix.is_empty() {
        "/status.json".to_owned()
    } else {
        format!("/{prefix}/status.json")
    };
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n").map_err(io)?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).map_err(io)?;
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| Error::Usage(format!("{url}: not an HTTP response")))?;
    let head = String::from_utf8_lossy(&response[..split]).into_owned();
    let status = head.split_whitespace().nth(1).unwrap_or("");
    if status != "200" {
        return Err(Error::Usage(format!("{url}: HTTP {status}")));
    }
    Ok(response[split + 4..].to_vec())
}

fn num(v: &Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

/// ", measured N s ago" for a store figure a second old or more (the
/// status shows the last figure while a slow store is measured again).
fn measured_ago(age: &Value) -> String {
    match age.as_f64() {
        Some(a) if a >= 1.0 => format!(", measured {a:.0} s ago"),
        _ => String::new(),
    }
}

/// "served: FUSE at /mnt over io_uring; NFS at 127.0.0.1:2049", or
/// `None` when the status names no frontend (a gomodfs older than the
/// `frontends` field, or one serving none).
fn serving(frontends: &Value) -> Option<String> {
    let all: Vec<gomodfs::core::stats::FrontendStatus> =
        serde_json::from_value(frontends.clone()).ok()?;
    if all.is_empty() {
        return None;
    }
    let each: Vec<String> = all
        .iter()
        .map(|f| {
            let over = f
                .transport
                .as_deref()
                .map(|t| format!(" over {t}"))
                .unwrap_or_default();
            let kind = match f.kind.as_str() {
                "fuse" => "FUSE",
                "nfs" => "NFSv3",
                "webdav" => "WebDAV",
                "goproxy" => "GOPROXY",
                "winfsp" => "WinFsp",
                other => other,
            };
            format!("{kind} at {}{over}", f.at)
        })
        .collect();
    Some(format!("served: {}\n", each.join("; ")))
}

/// The human summary of a status JSON.
pub(crate) fn summary(s: &Value) -> String {
    let mut out = String::new();
    let uptime = s["uptime"].as_f64().unwrap_or(0.0);
    out += &format!(
        "gomodfs {} up {:.0} s\n",
        s["version"].as_str().unwrap_or("?"),
        uptime
    );
    if let Some(served) = serving(&s["frontends"]) {
        out += &served;
    }
    let ops = &s["ops"];
    let frontend = ["lookup", "getattr", "readdir", "open", "read", "resolve"];
    let requests: u64 = frontend.iter().map(|k| num(&ops[k]["started"])).sum();
    let errors: u64 = frontend.iter().map(|k| num(&ops[k]["errors"])).sum();
    let not_found: u64 = frontend.iter().map(|k| num(&ops[k]["not_found"])).sum();
    out += &format!("requests: {requests} ({errors} errors, {not_found} not found)\n");
    for cache in ["module_cache", "blob_cache"] {
        let (h, m) = (num(&s[cache]["hits"]), num(&s[cache]["misses"]));
        let rate = if h + m > 0 {
            100.0 * h as f64 / (h + m) as f64
        } else {
            0.0
        };
        out += &format!(
            "{}: {rate:.1}% hits ({h} hits, {m} misses, {} evicted)\n",
            cache.replace('_', " "),
            num(&s[cache]["evictions"])
        );
    }
    let warm = &s["warm_start"];
    if warm.is_object() {
        out += &format!(
            "warm start: listed {}, loaded {}, missing {} ({:.0} ms)\n",
            num(&warm["listed"]),
            num(&warm["loaded"]),
            num(&warm["missing"]),
            warm["seconds"].as_f64().unwrap_or(0.0) * 1000.0
        );
    }
    let files = &s["warm_files"];
    if files.is_object() {
        out += &format!(
            "warm files: {} files ({}), {} reads served, {} damaged entries refused\n",
            num(&files["entries"]),
            human_bytes(num(&files["bytes"])),
            num(&files["hits"]),
            num(&files["refused"])
        );
    }
    let fetch = &ops["fetch_module"];
    out += &format!(
        "downloads: {} modules ({} failed, {} in flight), {} fetched\n",
        num(&fetch["ended"]),
        num(&fetch["errors"]),
        num(&s["downloads_in_flight"]),
        human_bytes(num(&s["bytes_fetched"]))
    );
    if s["store"].is_object() {
        out += &format!(
            "store: {} modules, {}{}\n",
            num(&s["store"]["modules"]),
            human_bytes(num(&s["store"]["bytes"])),
            measured_ago(&s["store_age"])
        );
    }
    if let Ok(counters) =
        serde_json::from_value::<gomodfs::core::stats::BuildCacheCounters>(s["build_cache"].clone())
    {
        out += &format!(
            "build cache: {}\n",
            gomodfs::cacheprog::counters::summary(&counters)
        );
    }
    let remote = &s["remote"];
    if remote.is_object() {
        let up = &remote["uploads"];
        out += &format!(
            "remote {}: {} hits, {} misses, {} refused, {} errors{}; uploads {} done, {} pending, {} failed attempts ({}); {} lease waits\n",
            remote["url"].as_str().unwrap_or("?"),
            num(&remote["hits"]),
            num(&remote["misses"]),
            num(&remote["validation_failures"]),
            num(&remote["errors"]),
            if remote["down"].as_bool() == Some(true) {
                " (down)"
            } else {
                ""
            },
            num(&up["done"]),
            num(&up["pending"]),
            num(&up["failed"]),
            human_bytes(num(&up["bytes"])),
            num(&remote["lease_waits"]),
        );
    }
    if let Some(errors) = s["recent_errors"].as_array()
        && !errors.is_empty()
    {
        out += "recent errors:\n";
        for (line, times) in error_lines(errors).iter().take(5) {
            out += &format!("  {line}");
            if *times > 1 {
                out += &format!(" ({times} times)");
            }
            out += "\n";
        }
    }
    out
}

/// The recent errors as lines, newest first: `module@version: cause` (the
/// cause without the `module@version: ` it usually starts with), an error
/// repeated back to back (go reads a file that failed twice) once, with
/// how many times.
fn error_lines(errors: &[Value]) -> Vec<(String, usize)> {
    let mut lines: Vec<(String, usize)> = Vec::new();
    for e in errors {
        let at = format!(
            "{}@{}",
            e["module"].as_str().unwrap_or("?"),
            e["version"].as_str().unwrap_or("?")
        );
        let cause = gomodfs::ops::cause_after(&at, e["result"].as_str().unwrap_or("?"));
        let line = format!("{at}: {cause}");
        match lines.last_mut() {
            Some((last, times)) if *last == line => *times += 1,
            _ => lines.push((line, 1)),
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::summary;

    #[test]
    fn the_store_line_says_how_old_its_figure_is() {
        let status = |age: f64| {
            serde_json::json!({
                "ops": {},
                "store": {"modules": 7, "bytes": 2048},
                "store_age": age,
            })
        };
        let old = summary(&status(42.4));
        assert!(old.contains("store: 7 modules"), "{old}");
        assert!(old.contains(", measured 42 s ago"), "{old}");
        let fresh = summary(&status(0.2));
        assert!(!fresh.contains("measured"), "{fresh}");
    }

    #[test]
    fn the_served_line_names_each_frontend_and_the_fuse_transport() {
        let status = serde_json::json!({
            "ops": {},
            "frontends": [
                {"kind": "fuse", "at": "/mnt/gomodcache", "transport": "io_uring"},
                {"kind": "nfs", "at": "127.0.0.1:2049"},
            ],
        });
        let text = summary(&status);
        assert!(
            text.contains(
                "served: FUSE at /mnt/gomodcache over io_uring; NFSv3 at 127.0.0.1:2049\n"
            ),
            "{text}"
        );
        // A status without frontends (an older gomodfs) has no such line.
        let older = summary(&serde_json::json!({"ops": {}}));
        assert!(!older.contains("served:"), "{older}");
    }

    #[test]
    fn recent_errors_name_module_and_cause_once_and_count_repeats() {
        let failed = |version: &str, what: &str| {
            serde_json::json!({
                "module": "example.com/m",
                "version": version,
                "result": format!("example.com/m@{version}: fetching {what}: 403 Forbidden"),
            })
        };
        let status = serde_json::json!({
            "ops": {},
            "recent_errors": [
                failed("v1.0.0", ".mod"),
                failed("v1.0.0", ".mod"),
                failed("v1.0.0", ".info"),
                {"module": "example.com/n", "version": "v2.0.0", "result": "store full"},
            ],
        });
        let text = summary(&status);
        assert!(
            text.contains(
                "recent errors:\n  example.com/m@v1.0.0: fetching .mod: 403 Forbidden (2 times)\n  \
                 example.com/m@v1.0.0: fetching .info: 403 Forbidden\n  \
                 example.com/n@v2.0.0: store full\n"
            ),
            "{text}"
        );
    }
}
