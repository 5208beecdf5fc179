//! Which checksum database to use and for which modules, read as `go` reads
//! `GOSUMDB`, `GONOSUMDB` and `GOPRIVATE`.

use super::note::Verifier;
use crate::error::{Error, Result};
use std::path::PathBuf;

/// The key of `sum.golang.org`, as `go` knows it
/// (cmd/go/internal/modfetch/key.go).
pub const SUM_GOLANG_ORG_KEY: &str =
    "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8";

/// How gomodfs checks modules against a checksum database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SumDbConfig {
    /// `GOSUMDB`: `off`, a known name (`sum.golang.org`,
    /// `sum.golang.google.cn`), `name+hash+key`, or either followed by a
    /// URL. Empty means `sum.golang.org`.
    pub gosumdb: String,
    /// `GONOSUMDB` (default `GOPRIVATE`): comma-separated module path
    /// globs that are not checked.
    pub nosumdb: String,
    /// Where the last tree head seen and the verified lookups and tiles
    /// are kept (the command uses `<store>/sumdb`); `None` keeps them in
    /// memory only.
    pub dir: Option<PathBuf>,
}

impl SumDbConfig {
    /// From the environment, as `go` reads it: `GOSUMDB`, and `GONOSUMDB`
    /// or, when that is unset or empty, `GOPRIVATE`.
    pub fn from_env(dir: Option<PathBuf>) -> SumDbConfig {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        SumDbConfig {
            gosumdb: var("GOSUMDB").unwrap_or_default(),
            nosumdb: var("GONOSUMDB")
                .or_else(|| var("GOPRIVATE"))
                .unwrap_or_default(),
            dir,
        }
    }

    /// Whether `GOSUMDB` is `off`.
    pub fn is_off(&self) -> bool {
        self.gosumdb.trim() == "off"
    }
}

/// A parsed `GOSUMDB` that is not `off`.
#[derive(Debug, Clone)]
pub(crate) struct Database {
    /// The database's key (its name is the database's name).
    pub(crate) verifier: Verifier,
    /// The URL given in `GOSUMDB`, if any: then the proxies are bypassed.
    pub(crate) url: Option<String>,
}

impl Database {
    /// Parses `GOSUMDB` like cmd/go's `dbDial`; `None` for `off`.
    pub(crate) fn parse(gosumdb: &str) -> Result<Option<Database>> {
        let mut value = gosumdb.trim();
        if value.is_empty() {
            value = "sum.golang.org";
        }
        if value == "off" {
            return Ok(None);
        }
        if value == "sum.golang.google.cn" {
            value = "sum.golang.org https://sum.golang.google.cn";
        }
        let fields: Vec<&str> = value.split_whitespace().collect();
        if fields.len() > 2 {
            return Err(Error::Config(format!(
                "invalid GOSUMDB {gosumdb:?}: too many fields"
            )));
        }
        let key = match fields[0] {
            "sum.golang.org" => SUM_GOLANG_ORG_KEY,
            other => other,
        };
        let verifier = Verifier::parse(key)
            .map_err(|e| Error::Config(format!("invalid GOSUMDB {gosumdb:?}: {e}")))?;
        let name = verifier.name();
        let valid_name = name.split('/').all(|e| !matches!(e, "" | "." | ".."))
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-._~/:".contains(c));
        if !valid_name {
            return Err(Error::Config(format!(
                "invalid sumdb name (must be host[/path]): {name}"
            )));
        }
        let url = match fields.get(1) {
            Some(u) if u.starts_with("http://") || u.starts_with("https://") => {
                Some(u.trim_end_matches('/').to_owned())
            }
            Some(u) => {
                return Err(Error::Config(format!(
                    "invalid GOSUMDB URL {u:?}: gomodfs needs http:// or https://"
                )));
            }
            None => None,
        };
        Ok(Some(Database { verifier, url }))
    }

    /// The database's name.
    pub(crate) fn name(&self) -> &str {
        self.verifier.name()
    }

    /// The URL to reach the database directly: the one in `GOSUMDB`, else
    /// `https://<name>`.
    pub(crate) fn direct_url(&self) -> String {
        self.url
            .clone()
            .unwrap_or_else(|| format!("https://{}", self.name()))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn parses_gosumdb_like_go() {
        let d = Database::parse("").unwrap().unwrap();
        assert_eq!(d.name(), "sum.golang.org");
        assert_eq!(d.direct_url(), "https://sum.golang.org");
        let d = Database::parse("sum.golang.google.cn").unwrap().unwrap();
        assert_eq!(d.direct_url(), "https://sum.golang.google.cn");
        let d = Database::parse(&format!("{SUM_GOLANG_ORG_KEY} http://127.0.0.1:9/db/"))
            .unwrap()
            .unwrap();
        assert_eq!(d.url.as_deref(), Some("http://127.0.0.1:9/db"));
        assert!(Database::parse("off").unwrap().is_none());
        assert!(Database::parse("example.com").is_err());
        assert!(Database::parse("sum.golang.org a b").is_err());
    }
}
