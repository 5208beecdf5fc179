//! Upstream configuration: the GOPROXY list and HTTP client settings.

use crate::error::{Error, Result};
use std::path::PathBuf;
use std::time::Duration;

/// `go`'s default GOPROXY.
pub const DEFAULT_GOPROXY: &str = "https://proxy.golang.org,direct";

/// The default [`UpstreamConfig::min_rate`]: 1 KiB/s.
pub const DEFAULT_MIN_RATE: u64 = 1024;

/// Which HTTP(S) forward proxy the client uses to reach the GOPROXY servers.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum HttpProxy {
    /// Honour `HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY` and `NO_PROXY` (and
    /// their lower-case forms) from the environment, like `go` and curl do.
    #[default]
    FromEnv,
    /// Connect directly; ignore the proxy environment variables.
    Disabled,
    /// Send every request through this proxy URL (`http://host:port`,
    /// optionally with `user:password@`), ignoring the environment.
    Url(String),
}

/// Configuration of the [`Upstream`](super::Upstream) client.
#[derive(Debug, Clone)]
pub struct UpstreamConfig {
    /// The GOPROXY list, as `go` reads it: URLs (`https://`, `http://`,
    /// `file://`), `off` and `direct`, separated by `,` (fall through to the
    /// next entry on 404/410 only) or `|` (fall through on any error).
    pub goproxy: String,
    /// GONOPROXY (falling back to GOPRIVATE): comma-separated glob patterns
    /// matched against module path prefixes. `go` fetches matching modules
    /// directly from version control, which gomodfs does not do, so fetching
    /// them fails with a message saying so. Set `GONOPROXY=none` to send them
    /// to the GOPROXY list instead.
    pub noproxy: String,
    /// The netrc file with credentials for the proxies (`$NETRC` or
    /// `~/.netrc`); `None` sends no netrc credentials. A missing file is fine.
    pub netrc: Option<PathBuf>,
    /// The forward proxy used to reach the GOPROXY servers.
    pub http_proxy: HttpProxy,
    /// Limit for establishing a TCP (and TLS) connection.
    pub connect_timeout: Duration,
    /// A request fails when no response headers, or no body bytes, arrive
    /// for this long. It is also the window of [`UpstreamConfig::min_rate`].
    /// There is no total timeout: a large zip on a slow link is fine as long
    /// as bytes keep arriving fast enough.
    pub idle_timeout: Duration,
    /// Lowest accepted transfer rate of a response body, in bytes per
    /// second: a body fails when, in any window of `idle_timeout` after
    /// the headers arrived, fewer than `min_rate × idle_timeout` bytes came
    /// (a body that ends within the window is fine). So a drip of a byte
    /// now and then fails within one window of the headers, while a zip of
    /// any size works on any link faster than this. Zero disables it.
    pub min_rate: u64,
    /// How many times a transient failure (connect or I/O error, timeout,
    /// truncated body, 5xx, 429) is retried per proxy. 4xx are never retried.
    pub retries: u32,
    /// Delay before the first retry; it doubles for each further one.
    pub retry_backoff: Duration,
    /// How long a 404/410 answer is remembered (and answered without a
    /// request). Zero disables the negative cache.
    pub negative_ttl: Duration,
    /// Largest accepted response body in bytes; a larger one is an error.
    pub max_body: u64,
    /// The `User-Agent` header.
    pub user_agent: String,
}

impl Default for UpstreamConfig {
    /// [`DEFAULT_GOPROXY`], no GONOPROXY, no netrc, proxies from the
    /// environment, and the default limits (see [`UpstreamConfig::with_proxy`]).
    fn default() -> Self {
        Self::with_proxy(DEFAULT_GOPROXY)
    }
}

impl UpstreamConfig {
    /// A configuration for the given GOPROXY list, with defaults for the
    /// rest: no GONOPROXY, no netrc, [`HttpProxy::FromEnv`], connect timeout
    /// 30 s, idle timeout 60 s, minimum rate 1 KiB/s, 3 retries from 200 ms backoff (200, 400,
    /// 800 ms), negative TTL 60 s, body limit 600 MiB, user agent
    /// `gomodfs/<version>`.
    pub fn with_proxy(url_list: &str) -> Self {
        UpstreamConfig {
            goproxy: url_list.to_owned(),
            noproxy: String::new(),
            netrc: None,
            http_proxy: HttpProxy::FromEnv,
            connect_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            min_rate: DEFAULT_MIN_RATE,
            retries: 3,
            retry_backoff: Duration::from_millis(200),
            negative_ttl: Duration::from_secs(60),
            max_body: 600 << 20,
            user_agent: format!("gomodfs/{}", env!("CARGO_PKG_VERSION")),
        }
    }

    /// The configuration `go` would use: GOPROXY (empty or unset:
    /// [`DEFAULT_GOPROXY`]), GONOPROXY falling back to GOPRIVATE, each from
    /// the environment or else from `go env -w`'s file (`$GOENV`, default
    /// `<user config dir>/go/env`), and the netrc file from `$NETRC` or
    /// `~/.netrc`. Everything else as in [`UpstreamConfig::with_proxy`].
    pub fn from_env() -> Self {
        let goenv = read_goenv_file();
        let get = |key: &str| -> String {
            match std::env::var(key) {
                Ok(v) if !v.is_empty() => v,
                _ => goenv_lookup(goenv.as_deref().unwrap_or(""), key).unwrap_or_default(),
            }
        };
        let mut goproxy = get("GOPROXY");
        if goproxy.is_empty() {
            goproxy = DEFAULT_GOPROXY.to_owned();
        }
        let mut noproxy = get("GONOPROXY");
        if noproxy.is_empty() {
            noproxy = get("GOPRIVATE");
        }
        let mut cfg = Self::with_proxy(&goproxy);
        cfg.noproxy = noproxy;
        cfg.netrc = super::netrc::default_path();
        cfg
    }
}

/// One entry of the parsed GOPROXY list.
#[derive(Debug, Clone)]
pub(crate) struct ProxyEntry {
    pub(crate) target: Target,
    /// `|` after this entry: fall through on any error, not only 404/410.
    pub(crate) fallback_on_error: bool,
}

/// Where an entry fetches from.
#[derive(Debug, Clone)]
pub(crate) enum Target {
    /// `off`: every fetch fails.
    Off,
    /// `direct`: version-control fetches, not supported.
    Direct,
    /// An `http://` or `https://` proxy.
    Http {
        /// The URL without credentials and without a trailing slash.
        base: String,
        /// Host name, for netrc.
        host: String,
        /// Explicit port in the URL, for netrc.
        port: Option<u16>,
        /// Basic-auth credentials, from the URL's userinfo or netrc.
        auth: Option<(String, String)>,
    },
    /// A `file://` proxy: a directory laid out like a proxy.
    File {
        /// The directory.
        dir: PathBuf,
        /// The URL as given, for messages.
        url: String,
    },
}

impl Target {
    /// How the entry is named in messages (never with credentials).
    pub(crate) fn display(&self) -> &str {
        match self {
            Target::Off => "off",
            Target::Direct => "direct",
            Target::Http { base, .. } => base,
            Target::File { url, .. } => url,
        }
    }
}

/// Parses a GOPROXY list exactly as `go` does: `,` and `|` separators,
/// blank entries skipped, the list ends at `off` or `direct`, and an entry
/// that looks like a host name (contains `.`, `:` or `/` but no `:/`) gets
/// an implicit `https://`.
pub(crate) fn parse_goproxy(list: &str) -> Result<Vec<ProxyEntry>> {
    let mut out = Vec::new();
    let mut rest = list;
    while !rest.is_empty() {
        let (raw, fallback_on_error) = match rest.find([',', '|']) {
            Some(i) => {
                let sep = rest.as_bytes()[i];
                let raw = &rest[..i];
                rest = &rest[i + 1..];
                (raw, sep == b'|')
            }
            None => {
                let raw = rest;
                rest = "";
                (raw, false)
            }
        };
        let raw = raw.trim();
        if raw.is_empty() {
            continue;
        }
        if raw == "off" || raw == "direct" {
            let target = if raw == "off" {
                Target::Off
            } else {
                Target::Direct
            };
            // `go` ignores everything after these.
            out.push(ProxyEntry {
                target,
                fallback_on_error,
            });
            break;
        }
        let url = if raw.contains(['.', ':', '/']) && !raw.contains(":/") && !is_abs_path(raw) {
            format!("https://{raw}")
        } else {
            raw.to_owned()
        };
        out.push(ProxyEntry {
            target: parse_url(&url)?,
            fallback_on_error,
        });
    }
    if out.is_empty() {
        return Err(Error::Config(format!(
            "GOPROXY list {list:?} is not the empty string, but contains no entries"
        )));
    }
    Ok(out)
}

fn is_abs_path(s: &str) -> bool {
    s.starts_with('/') || std::path::Path::new(s).is_absolute()
}

fn parse_url(raw: &str) -> Result<Target> {
    let bad = |why: &str| Error::Config(format!("invalid GOPROXY entry {raw:?}: {why}"));
    let url = reqwest::Url::parse(raw).map_err(|e| bad(&e.to_string()))?;
    match url.scheme() {
        "http" | "https" => {
            if url.query().is_some() || url.fragment().is_some() {
                return Err(bad("a proxy URL cannot have a query or fragment"));
            }
            let host = url
                .host_str()
                .ok_or_else(|| bad("the URL has no host"))?
                .to_owned();
            let auth = if url.username().is_empty() && url.password().is_none() {
                None
            } else {
                Some((
                    percent_decode(url.username()),
                    percent_decode(url.password().unwrap_or("")),
                ))
            };
            let port = url.port();
            let mut clean = url.clone();
            // Cannot fail for http(s) URLs, which always have a host.
            let _ = clean.set_username("");
            let _ = clean.set_password(None);
            let base = clean.as_str().trim_end_matches('/').to_owned();
            Ok(Target::Http {
                base,
                host,
                port,
                auth,
            })
        }
        "file" => {
            if url.query().is_some() || url.fragment().is_some() {
                return Err(bad("a file:// proxy URL can have only a path"));
            }
            let dir = url
                .to_file_path()
                .map_err(|()| bad("a file:// proxy URL can have only a path (file:///dir)"))?;
            Ok(Target::File {
                dir,
                url: raw.trim_end_matches('/').to_owned(),
            })
        }
        other => Err(bad(&format!(
            "invalid proxy URL scheme {other:?} (must be https, http, file)"
        ))),
    }
}

/// Decodes `%XX` escapes (as found in URL userinfo).
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2]))
        {
            out.push(h << 4 | l);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// The user's home directory (`$HOME`, or `%USERPROFILE%` on Windows).
pub(crate) fn home_dir() -> Option<PathBuf> {
    let var = if cfg!(windows) { "USERPROFILE" } else { "HOME" };
    std::env::var_os(var)
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
}

/// `os.UserConfigDir()` of Go.
fn user_config_dir() -> Option<PathBuf> {
    if cfg!(windows) {
        std::env::var_os("AppData")
            .filter(|d| !d.is_empty())
            .map(PathBuf::from)
    } else if cfg!(target_os = "macos") {
        home_dir().map(|h| h.join("Library/Application Support"))
    } else {
        match std::env::var_os("XDG_CONFIG_HOME").filter(|d| !d.is_empty()) {
            Some(d) => Some(PathBuf::from(d)),
            None => home_dir().map(|h| h.join(".config")),
        }
    }
}

/// Reads the file `go env -w` writes (`$GOENV`, `off` disables it).
fn read_goenv_file() -> Option<String> {
    let path = match std::env::var_os("GOENV").filter(|p| !p.is_empty()) {
        Some(p) if p == "off" => return None,
        Some(p) => PathBuf::from(p),
        None => user_config_dir()?.join("go").join("env"),
    };
    std::fs::read_to_string(path).ok()
}

/// Looks `key` up in go env file text (`KEY=VALUE` lines).
fn goenv_lookup(data: &str, key: &str) -> Option<String> {
    data.lines().find_map(|line| {
        let (k, v) = line.split_once('=')?;
        (k.trim() == key).then(|| v.trim().to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(list: &str) -> Vec<(String, bool)> {
        match parse_goproxy(list) {
            Ok(v) => v
                .into_iter()
                .map(|e| (e.target.display().to_owned(), e.fallback_on_error))
                .collect(),
            Err(e) => panic!("{list:?}: {e}"),
        }
    }

    fn s(v: &str, f: bool) -> (String, bool) {
        (v.to_owned(), f)
    }

    #[test]
    fn goproxy_lists() {
        assert_eq!(
            shape("https://proxy.golang.org,direct"),
            vec![s("https://proxy.golang.org", false), s("direct", false)]
        );
        assert_eq!(
            shape(" https://a.example/ | http://b.example:8080/x/ , off, https://ignored"),
            vec![
                s("https://a.example", true),
                s("http://b.example:8080/x", false),
                s("off", false)
            ]
        );
        assert_eq!(
            shape("goproxy.io,,direct|https://ignored"),
            vec![s("https://goproxy.io", false), s("direct", true)]
        );
        assert_eq!(
            shape("file:///tmp/proxy/"),
            vec![s("file:///tmp/proxy", false)]
        );
    }

    #[test]
    fn goproxy_errors() {
        for bad in [
            "",
            ",",
            " | ",
            "ftp://x.example",
            "noproxy",
            "/abs/path",
            "https://",
            "file://host/x",
        ] {
            match parse_goproxy(bad) {
                Err(Error::Config(_)) => {}
                other => panic!("{bad:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn url_credentials_are_split_off() {
        let v = parse_goproxy("https://us%40er:p%3Ass@corp.example:8443/go/").unwrap_or_default();
        match &v[..] {
            [
                ProxyEntry {
                    target:
                        Target::Http {
                            base,
                            host,
                            port,
                            auth,
                        },
                    ..
                },
            ] => {
                assert_eq!(base, "https://corp.example:8443/go");
                assert_eq!(host, "corp.example");
                assert_eq!(*port, Some(8443));
                assert_eq!(
                    auth.as_ref(),
                    Some(&("us@er".to_owned(), "p:ss".to_owned()))
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn goenv_file() {
        let data = "GOPROXY=https://goproxy.cn,direct\nGOPRIVATE= corp.example \nX\n";
        assert_eq!(
            goenv_lookup(data, "GOPROXY").as_deref(),
            Some("https://goproxy.cn,direct")
        );
        assert_eq!(
            goenv_lookup(data, "GOPRIVATE").as_deref(),
            Some("corp.example")
        );
        assert_eq!(goenv_lookup(data, "GONOPROXY"), None);
    }
}
