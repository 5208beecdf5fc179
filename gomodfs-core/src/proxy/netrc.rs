//! A small `.netrc` parser, for basic-auth credentials to private proxies.
//!
//! Supported: `machine NAME`, `default`, `login L`, `password P`,
//! `account A` (ignored), `macdef NAME` (the macro body up to the next blank
//! line is skipped) and whole-line `#` comments. Tokens are separated by any
//! whitespace, across lines. There is no quoting.
//!
//! Like `go`, only `machine` entries are used to send credentials: the
//! `default` entry is parsed but never sent, so that a catch-all password is
//! not handed to a public proxy.

use std::path::PathBuf;

/// One entry of a netrc file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NetrcEntry {
    /// The host name, or `None` for the `default` entry.
    pub(crate) machine: Option<String>,
    /// User name.
    pub(crate) login: String,
    /// Password.
    pub(crate) password: String,
}

/// Parses netrc text. Never fails: entries without a login or password and
/// unknown tokens are skipped, as `go` does.
pub(crate) fn parse(data: &str) -> Vec<NetrcEntry> {
    let mut out = Vec::new();
    // The entry being assembled: (machine, login, password).
    let mut cur: Option<(Option<String>, Option<String>, Option<String>)> = None;
    let flush = |cur: &mut Option<(Option<String>, Option<String>, Option<String>)>,
                 out: &mut Vec<NetrcEntry>| {
        if let Some((machine, Some(login), Some(password))) = cur.take() {
            out.push(NetrcEntry {
                machine,
                login,
                password,
            });
        }
    };

    // Keyword waiting for its value.
    let mut pending: Option<&str> = None;
    let mut in_macro = false;
    for line in data.lines() {
        if in_macro {
            if line.trim().is_empty() {
                in_macro = false;
            }
            continue;
        }
        if line.trim_start().starts_with('#') {
            continue;
        }
        for tok in line.split_whitespace() {
            if let Some(kw) = pending.take() {
                match kw {
                    "machine" => {
                        flush(&mut cur, &mut out);
                        cur = Some((Some(tok.to_owned()), None, None));
                    }
                    "login" => {
                        if let Some(c) = cur.as_mut() {
                            c.1 = Some(tok.to_owned());
                        }
                    }
                    "password" => {
                        if let Some(c) = cur.as_mut() {
                            c.2 = Some(tok.to_owned());
                        }
                    }
                    "macdef" => {
                        in_macro = true;
                        break;
                    }
                    // "account" and unknown keywords: the value is ignored.
                    _ => {}
                }
                continue;
            }
            match tok {
                "default" => {
                    flush(&mut cur, &mut out);
                    cur = Some((None, None, None));
                }
                "machine" | "login" | "password" | "account" | "macdef" => pending = Some(tok),
                _ => {}
            }
        }
        if in_macro {
            // The macro body starts on the next line; the rest of this one
            // (the macro name) was skipped.
            pending = None;
        }
    }
    flush(&mut cur, &mut out);
    out
}

/// The credentials for `host` (and `port`, when the URL has an explicit
/// one): the first `machine` entry equal to `host` or `host:port`
/// (ASCII case-insensitive). The `default` entry is never returned.
pub(crate) fn lookup<'a>(
    entries: &'a [NetrcEntry],
    host: &str,
    port: Option<u16>,
) -> Option<&'a NetrcEntry> {
    let with_port = port.map(|p| format!("{host}:{p}"));
    entries.iter().find(|e| match &e.machine {
        Some(m) => {
            m.eq_ignore_ascii_case(host)
                || with_port
                    .as_deref()
                    .is_some_and(|hp| m.eq_ignore_ascii_case(hp))
        }
        None => false,
    })
}

/// Where `go` looks for the netrc file: `$NETRC`, else `~/.netrc`
/// (`%USERPROFILE%\_netrc` on Windows).
pub(crate) fn default_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("NETRC").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    let home = super::config::home_dir()?;
    let name = if cfg!(windows) { "_netrc" } else { ".netrc" };
    Some(home.join(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(machine: Option<&str>, login: &str, password: &str) -> NetrcEntry {
        NetrcEntry {
            machine: machine.map(str::to_owned),
            login: login.to_owned(),
            password: password.to_owned(),
        }
    }

    #[test]
    fn parses_machines_and_default() {
        let data = "\
# a comment line
machine proxy.example.com login alice password s3cret
machine other.example.com
    login bob
    account ignored
    password hunter2
machine incomplete.example.com login nobody
macdef init
machine macro.example.com login mallory password evil

machine port.example.com:8443 login carol password pw
default login anon password anon@example.com
";
        let got = parse(data);
        assert_eq!(
            got,
            vec![
                entry(Some("proxy.example.com"), "alice", "s3cret"),
                entry(Some("other.example.com"), "bob", "hunter2"),
                entry(Some("port.example.com:8443"), "carol", "pw"),
                entry(None, "anon", "anon@example.com"),
            ]
        );
    }

    #[test]
    fn tokens_span_lines_and_tabs() {
        let got = parse("machine\th.example\nlogin\n u \npassword\tp\r\n");
        assert_eq!(got, vec![entry(Some("h.example"), "u", "p")]);
        assert!(parse("").is_empty());
        assert!(parse("login x password y").is_empty());
        assert!(parse("machine").is_empty());
    }

    #[test]
    fn lookup_matches_machine_only() {
        let entries = parse(
            "machine a.example login a password pa\n\
             machine b.example:8080 login b password pb\n\
             default login d password pd\n",
        );
        assert_eq!(
            lookup(&entries, "a.example", None).map(|e| &*e.login),
            Some("a")
        );
        assert_eq!(
            lookup(&entries, "A.Example", Some(443)).map(|e| &*e.login),
            Some("a")
        );
        assert_eq!(
            lookup(&entries, "b.example", Some(8080)).map(|e| &*e.login),
            Some("b")
        );
        assert_eq!(lookup(&entries, "b.example", None), None);
        assert_eq!(lookup(&entries, "c.example", None), None);
    }
}
