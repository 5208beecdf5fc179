//! Checks of a proxy's `.info` and `.mod` answers before anything is stored,
//! with the rules (and, where it has them, the words) of `go`'s
//! `cmd/go/internal/modfetch` (`proxyRepo.Stat`) and `modload`
//! (`rawGoModSummary`, `goModSummary`).
//!
//! A bad answer (an HTML error page sent with status 200, the `.info` of
//! another version, a go.mod for another module) is an error for this
//! fetch: nothing is stored, and the next fetch asks the upstream again.

use super::ProxyFile;
use crate::modpath::ModuleVersion;

/// Checks an answer for `file` of `mv`; `Err` is why `go` would reject it.
/// Zips are checked on extraction (see [`crate::modzip`]), not here.
pub fn check_answer(mv: &ModuleVersion, file: ProxyFile, data: &[u8]) -> Result<(), String> {
    match file {
        ProxyFile::Info => check_info(mv, data),
        ProxyFile::Mod => check_mod(mv, data),
        ProxyFile::Zip => Ok(()),
    }
}

/// A `.info` must be a JSON object (or `null`, as Go's `json.Unmarshal`
/// accepts it) whose `Version` (matched case-insensitively, like Go's
/// decoder) is the requested version, and whose `Time`, if present and not
/// `null`, is an RFC 3339 string.
pub(crate) fn check_info(mv: &ModuleVersion, data: &[u8]) -> Result<(), String> {
    let invalid = |why: String| format!("invalid response from proxy: {why}");
    let value: serde_json::Value =
        serde_json::from_slice(data).map_err(|e| invalid(format!("not JSON: {e}")))?;
    let obj = match &value {
        serde_json::Value::Object(obj) => Some(obj),
        serde_json::Value::Null => None,
        other => {
            return Err(invalid(format!(
                "cannot unmarshal {} into the .info object",
                json_type(other)
            )));
        }
    };
    let field = |name: &str| {
        obj.and_then(|o| {
            o.get(name).or_else(|| {
                o.iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(name))
                    .map(|(_, v)| v)
            })
        })
    };
    let version = match field("Version") {
        None | Some(serde_json::Value::Null) => "",
        Some(serde_json::Value::String(s)) => s.as_str(),
        Some(other) => {
            return Err(invalid(format!(
                "cannot unmarshal {} into the Version field",
                json_type(other)
            )));
        }
    };
    match field("Time") {
        None | Some(serde_json::Value::Null) => {}
        Some(serde_json::Value::String(s)) => {
            if !crate::time::is_rfc3339(s) {
                return Err(invalid(format!(
                    "parsing time {s:?} as RFC 3339: not a valid timestamp"
                )));
            }
        }
        Some(other) => {
            return Err(invalid(format!(
                "cannot unmarshal {} into the Time field",
                json_type(other)
            )));
        }
    }
    if version != mv.version() {
        return Err(format!(
            "proxy returned info for version {version} instead of requested version"
        ));
    }
    Ok(())
}

fn json_type(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "bool",
        serde_json::Value::Number(_) => "number",
        serde_json::Value::String(_) => "string",
        serde_json::Value::Array(_) => "array",
        serde_json::Value::Object(_) => "object",
    }
}

/// A `.mod` must be UTF-8 and have a `module` directive naming the
/// requested module path: `go` refuses anything else ("parsing go.mod:
/// missing module line", "module declares its path as: … but was required
/// as: …"). The module directive is parsed laxly, like `modfile.ParseLax`
/// reads it: `//` comments (so the `// Deprecated:` form), the block form
/// `module ( … )`, and paths quoted with `"` or `` ` ``.
pub(crate) fn check_mod(mv: &ModuleVersion, data: &[u8]) -> Result<(), String> {
    let text = std::str::from_utf8(data)
        .map_err(|e| format!("parsing go.mod: invalid UTF-8 encoding: {e}"))?;
    let declared = module_path(text)?;
    match declared {
        None => Err("parsing go.mod: missing module line".to_owned()),
        Some(p) if p == mv.path() => Ok(()),
        Some(p) => Err(format!(
            "parsing go.mod: module declares its path as: {p} but was required as: {}",
            mv.path()
        )),
    }
}

/// The path of the first `module` directive; `Err` for a directive `go`
/// cannot read (bad quoting, extra words, a second `module` line).
fn module_path(text: &str) -> Result<Option<String>, String> {
    let mut found: Option<String> = None;
    let mut in_block = false;
    for (n, raw) in text.lines().enumerate() {
        let line = strip_comment(raw).trim();
        let lineno = n + 1;
        let path_tokens = if in_block {
            if line == ")" {
                in_block = false;
                continue;
            }
            if line.is_empty() {
                continue;
            }
            line
        } else {
            let Some(rest) = line.strip_prefix("module") else {
                continue;
            };
            // "module" must be a whole word: "modulex" is another verb.
            if !rest.is_empty() && !rest.starts_with([' ', '\t', '"', '`', '(']) {
                continue;
            }
            let rest = rest.trim();
            if rest == "(" {
                in_block = true;
                continue;
            }
            if rest.is_empty() {
                return Err(format!(
                    "parsing go.mod: line {lineno}: usage: module module/path"
                ));
            }
            rest
        };
        let path = parse_path(path_tokens)
            .ok_or_else(|| format!("parsing go.mod: line {lineno}: usage: module module/path"))?;
        if found.is_some() {
            return Err(format!(
                "parsing go.mod: line {lineno}: repeated module statement"
            ));
        }
        found = Some(path);
    }
    Ok(found)
}

/// The line without its `//` comment; `//` inside a quoted string is not a
/// comment.
fn strip_comment(line: &str) -> &str {
    let b = line.as_bytes();
    let mut quote: Option<u8> = None;
    let mut i = 0;
    while i < b.len() {
        match (quote, b[i]) {
            (Some(b'"'), b'\\') => i += 1,
            (Some(q), c) if c == q => quote = None,
            (None, c @ (b'"' | b'`')) => quote = Some(c),
            (None, b'/') if b.get(i + 1) == Some(&b'/') => return &line[..i],
            _ => {}
        }
        i += 1;
    }
    line
}

/// One module path token: bare, `"quoted"` (Go escapes, read as JSON's,
/// which agree for module paths) or `` `raw` ``; `None` if malformed or
/// followed by more words.
fn parse_path(s: &str) -> Option<String> {
    if let Some(body) = s.strip_prefix('`') {
        let end = body.find('`')?;
        return body[end + 1..]
            .trim()
            .is_empty()
            .then(|| body[..end].to_owned());
    }
    if s.starts_with('"') {
        let bytes = s.as_bytes();
        let mut i = 1;
        while i < bytes.len() && bytes[i] != b'"' {
            if bytes[i] == b'\\' {
                i += 1;
            }
            i += 1;
        }
        let quoted = s.get(..=i)?;
        if !s[i + 1..].trim().is_empty() {
            return None;
        }
        return serde_json::from_str::<String>(quoted).ok();
    }
    if s.split_whitespace().count() != 1 || s.contains(['"', '`']) {
        return None;
    }
    Some(s.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mv() -> ModuleVersion {
        ModuleVersion::new("example.com/m", "v1.2.3").expect("a valid module version")
    }

    #[test]
    fn info_accepts_what_go_accepts() {
        for ok in [
            r#"{"Version":"v1.2.3","Time":"2023-01-02T03:04:05Z"}"#,
            r#"{"Version":"v1.2.3"}"#,
            r#"{"version":"v1.2.3","time":"2023-01-02T03:04:05.123+01:00"}"#,
            r#"{"Version":"v1.2.3","Time":null,"Origin":{"VCS":"git"}}"#,
            r#"{"Version":"v1.2.3","Time":"1960-02-29T00:00:00-05:30"}"#,
        ] {
            assert_eq!(check_info(&mv(), ok.as_bytes()), Ok(()), "{ok}");
        }
    }

    #[test]
    fn info_rejects_what_go_rejects() {
        let cases = [
            (
                "<html><body>502 Bad Gateway</body></html>",
                "invalid response from proxy",
            ),
            ("", "invalid response from proxy"),
            (r#"["v1.2.3"]"#, "cannot unmarshal array"),
            (
                r#"{"Version":1}"#,
                "cannot unmarshal number into the Version",
            ),
            (
                r#"{"Version":"v9.9.9","Time":"2023-01-02T03:04:05Z"}"#,
                "proxy returned info for version v9.9.9 instead of requested version",
            ),
            (
                r#"{"Time":"2023-01-02T03:04:05Z"}"#,
                "info for version  instead",
            ),
            ("null", "info for version  instead"),
            (r#"{"Version":"v1.2.3","Time":"yesterday"}"#, "parsing time"),
            (
                r#"{"Version":"v1.2.3","Time":"2023-02-29T00:00:00Z"}"#,
                "parsing time",
            ),
            (
                r#"{"Version":"v1.2.3","Time":"2023-01-02 03:04:05Z"}"#,
                "parsing time",
            ),
            (
                r#"{"Version":"v1.2.3","Time":"2023-01-02T03:04:05"}"#,
                "parsing time",
            ),
            (
                r#"{"Version":"v1.2.3","Time":12}"#,
                "cannot unmarshal number into the Time",
            ),
        ];
        for (body, want) in cases {
            let err = check_info(&mv(), body.as_bytes()).expect_err(body);
            assert!(err.contains(want), "{body}: {err}");
        }
    }

    #[test]
    fn mod_accepts_what_go_accepts() {
        for ok in [
            "module example.com/m\n",
            "module example.com/m",
            "// Deprecated: use example.com/n instead.\nmodule example.com/m\n\ngo 1.21\n",
            "module example.com/m // Deprecated: use example.com/n\n",
            "module \"example.com/m\"\n",
            "module `example.com/m`\r\n",
            "module (\n\t// comment\n\texample.com/m\n)\n",
            "\n\n  module\texample.com/m  \nrequire example.com/x v1.0.0\n",
            "go 1.21\nmodule example.com/m\nrequire (\n\tmodulex v1.0.0\n)\n",
        ] {
            assert_eq!(check_mod(&mv(), ok.as_bytes()), Ok(()), "{ok:?}");
        }
    }

    #[test]
    fn mod_rejects_what_go_rejects() {
        let cases: [(&[u8], &str); 9] = [
            (
                b"<!DOCTYPE html>\n<html><body><h1>Bad Gateway</h1></body></html>\n",
                "parsing go.mod: missing module line",
            ),
            (b"", "missing module line"),
            (b"// module example.com/m\n", "missing module line"),
            (b"modulex example.com/m\n", "missing module line"),
            (
                b"module example.com/other\n",
                "module declares its path as: example.com/other but was required as: example.com/m",
            ),
            (b"module example.com/m extra\n", "usage: module module/path"),
            (b"module \"example.com/m\n", "usage: module module/path"),
            (
                b"module example.com/m\nmodule example.com/m\n",
                "repeated module statement",
            ),
            (b"module example.com/m\n\xff\n", "invalid UTF-8"),
        ];
        for (body, want) in cases {
            let err = check_mod(&mv(), body).expect_err(&String::from_utf8_lossy(body));
            assert!(
                err.contains(want),
                "{:?}: {err}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn comments_inside_quotes_are_kept() {
        let m = ModuleVersion::new("example.com/a//b", "v1.0.0");
        // Not a valid module path; only the quoting logic is under test.
        assert!(m.is_err());
        assert_eq!(strip_comment("module \"a//b\" // c"), "module \"a//b\" ");
        assert_eq!(parse_path("\"a//b\""), Some("a//b".to_owned()));
    }
}
