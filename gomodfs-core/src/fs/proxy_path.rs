//! What each URL path of the GOPROXY protocol means (docs/SEMANTICS.md
//! section 8): the one parser of it, beside the filesystem's namespace in
//! `node.rs` and sharing its `@v/` grammar and the escaping rules of
//! [`crate::modpath`]. Like `node.rs`, parsing is pure: it never touches
//! the store or the network.
//!
//! | path (below the endpoint's prefix, percent-decoded) | request |
//! | --- | --- |
//! | `<E(path)>/@v/<E(version)>.info`, `.mod`, `.zip` | [`ProxyRequest::File`] |
//! | `<E(path)>/@v/list` | [`PassRequest::List`] |
//! | `<E(path)>/@latest` | [`PassRequest::Latest`] |
//! | `sumdb/<rest>` | [`PassRequest::SumDb`] |

use super::node::version_file;
use crate::error::{Error, Result};
use crate::modpath::{self, ModuleVersion};
use crate::proxy::ProxyFile;

/// What a GOPROXY URL path asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProxyRequest {
    /// A file of a module version, answered from the store
    /// ([`ModFs::meta`](crate::ModFs::meta), [`ModFs::module`](crate::ModFs::module)).
    File(ModuleVersion, ProxyFile),
    /// A question only the upstream can answer
    /// ([`ModFs::pass_through`](crate::ModFs::pass_through)).
    Pass(PassRequest),
}

/// A request passed through to the upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PassRequest {
    /// `<E(path)>/@v/list`, with the module path unescaped.
    List(String),
    /// `<E(path)>/@latest`, with the module path unescaped.
    Latest(String),
    /// `sumdb/<rest>`: the checksum database proxied, `rest` as received
    /// (`<name>/supported`, `<name>/lookup/...`, `<name>/tile/...`).
    SumDb(String),
}

impl PassRequest {
    /// The URL path to ask the upstream, no leading `/`: the path this
    /// request was parsed from.
    pub fn url_path(&self) -> String {
        match self {
            PassRequest::List(m) => format!("{}/@v/list", modpath::escape_string(m)),
            PassRequest::Latest(m) => format!("{}/@latest", modpath::escape_string(m)),
            PassRequest::SumDb(rest) => format!("sumdb/{rest}"),
        }
    }

    /// The module the request is about (for GONOPROXY), if any.
    pub fn module(&self) -> Option<&str> {
        match self {
            PassRequest::List(m) | PassRequest::Latest(m) => Some(m),
            PassRequest::SumDb(_) => None,
        }
    }
}

/// The per-version files of the protocol.
const PROXY_FILES: [ProxyFile; 3] = [ProxyFile::Info, ProxyFile::Mod, ProxyFile::Zip];

impl ProxyRequest {
    /// Parses a percent-decoded URL path below the endpoint's prefix (no
    /// leading `/`). Every error is of kind
    /// [`ErrorKind::NotFound`](crate::ErrorKind::NotFound) and says why the
    /// path asks for nothing.
    pub fn parse(path: &str) -> Result<ProxyRequest> {
        if let Some(rest) = path.strip_prefix("sumdb/") {
            check_sumdb_path(rest).map_err(|reason| {
                Error::NotFound(format!("invalid sumdb path {path:?}: {reason}"))
            })?;
            return Ok(ProxyRequest::Pass(PassRequest::SumDb(rest.to_owned())));
        }
        if let Some(m) = path.strip_suffix("/@latest") {
            let module = modpath::unescape_path(m)?;
            return Ok(ProxyRequest::Pass(PassRequest::Latest(module)));
        }
        let Some((m, file)) = path.split_once("/@v/") else {
            return Err(Error::NotFound(format!(
                "not a module proxy path: {path:?}"
            )));
        };
        if file == "list" {
            let module = modpath::unescape_path(m)?;
            return Ok(ProxyRequest::Pass(PassRequest::List(module)));
        }
        let files = PROXY_FILES.map(|f| (f.extension(), f));
        let (mv, file) = version_file(m, file, &files)?;
        Ok(ProxyRequest::File(mv, file))
    }
}

/// The characters the checksum database protocol uses (escaped module
/// paths, versions, tile coordinates), in whole non-empty elements other
/// than `.` and `..`: anything else could change the meaning of the
/// upstream URL once re-sent (`?`, `#`, spaces, a climb out of `sumdb/`).
fn check_sumdb_path(rest: &str) -> std::result::Result<(), &'static str> {
    let safe = |c: char| c.is_ascii_alphanumeric() || "-._~!/@+".contains(c);
    if !rest.chars().all(safe) {
        return Err("a character outside [A-Za-z0-9-._~!/@+]");
    }
    if rest
        .split('/')
        .any(|e| e.is_empty() || e == "." || e == "..")
    {
        return Err("an empty, `.` or `..` element");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::ErrorKind;

    fn pass(path: &str) -> PassRequest {
        match ProxyRequest::parse(path).unwrap() {
            ProxyRequest::Pass(p) => p,
            other => panic!("{path}: {other:?}"),
        }
    }

    #[test]
    fn parses_module_version_files() {
        let mv = ModuleVersion::new("example.com/CamelCase/Mod", "v1.2.3-Beta.1").unwrap();
        for file in PROXY_FILES {
            assert_eq!(
                ProxyRequest::parse(&format!(
                    "example.com/!camel!case/!mod/@v/v1.2.3-!beta.1.{}",
                    file.extension()
                ))
                .unwrap(),
                ProxyRequest::File(mv.clone(), file)
            );
        }
        let incompatible = ModuleVersion::new("example.com/x", "v2.0.0+incompatible").unwrap();
        assert_eq!(
            ProxyRequest::parse("example.com/x/@v/v2.0.0+incompatible.mod").unwrap(),
            ProxyRequest::File(incompatible, ProxyFile::Mod)
        );
    }

    #[test]
    fn parses_pass_through_requests_and_gives_back_their_url() {
        let cases = [
            (
                "example.com/!x/@v/list",
                PassRequest::List("example.com/X".into()),
            ),
            (
                "example.com/x/@latest",
                PassRequest::Latest("example.com/x".into()),
            ),
            (
                "github.com/!burnt!sushi/toml/v2/@latest",
                PassRequest::Latest("github.com/BurntSushi/toml/v2".into()),
            ),
            (
                "sumdb/sum.golang.org/supported",
                PassRequest::SumDb("sum.golang.org/supported".into()),
            ),
            (
                "sumdb/sum.golang.org/lookup/github.com/!burnt!sushi/toml@v1.0.0",
                PassRequest::SumDb(
                    "sum.golang.org/lookup/github.com/!burnt!sushi/toml@v1.0.0".into(),
                ),
            ),
            (
                "sumdb/sum.golang.org/tile/8/0/x123/456.p/7",
                PassRequest::SumDb("sum.golang.org/tile/8/0/x123/456.p/7".into()),
            ),
        ];
        for (path, want) in cases {
            let got = pass(path);
            assert_eq!(got, want, "{path}");
            assert_eq!(got.url_path(), path, "{path} round trip");
        }
        assert_eq!(
            pass("example.com/!x/@v/list").module(),
            Some("example.com/X")
        );
        assert_eq!(pass("sumdb/sum.golang.org/supported").module(), None);
    }

    #[test]
    fn refuses_what_is_not_a_request_as_not_found() {
        let bad = [
            // Not the grammar.
            "",
            "example.com/x",
            "example.com/x/@v",
            "example.com/x/@v/",
            "example.com/x/@v/v1.0.0",
            "example.com/x/@v/v1.0.0.partial",
            "example.com/x/@v/v1.0.0.ziphash",
            "example.com/x/@v/v1.0.0.lock",
            "example.com/x/@v/list/extra",
            "example.com/x/@latest/",
            // Upper case must be escaped; `!` only before a lower-case letter.
            "example.com/X/@v/list",
            "example.com/X/@latest",
            "example.com/X/@v/v1.0.0.info",
            "example.com/x/@v/v1.0.0-RC1.info",
            "example.com/!!x/@v/list",
            "example.com/x!/@latest",
            // Empty elements, `.` and `..`.
            "example.com//x/@v/list",
            "/example.com/x/@v/list",
            "example.com/../x/@v/list",
            "example.com/./x/@latest",
            "../x/@v/v1.0.0.mod",
            // Bad versions.
            "example.com/x/@v/notaversion.zip",
            "example.com/x/@v/v1.2.zip",
            "example.com/x/@v/v1.0.0+meta.zip",
            "example.com/x/@v/.info",
            "example.com/x/@v/latest.info",
            // Not a module path.
            "noDot/@v/list",
            "@v/list",
            "@latest",
            // The sumdb character and element rules.
            "sumdb/",
            "sumdb/../x",
            "sumdb/sum.golang.org/../../x",
            "sumdb/sum.golang.org//lookup",
            "sumdb/sum.golang.org/lookup/",
            "sumdb/./supported",
            "sumdb/sum.golang.org/x#y",
            "sumdb/sum.golang.org/x?y",
            "sumdb/sum.golang.org/x y",
            "sumdb/sum.golang.org/x%2e",
            "sumdb/sum.golang.org/x\\y",
            "sumdb/sum.golang.org/caf\u{e9}",
        ];
        for path in bad {
            match ProxyRequest::parse(path) {
                Ok(req) => panic!("{path:?} parsed as {req:?}"),
                Err(e) => assert_eq!(e.kind(), ErrorKind::NotFound, "{path:?}: {e}"),
            }
        }
    }
}
