//! The module versions a Go project needs, from its go.sum or from
//! `go list -m -json all`.

use crate::Error;
use gomodfs_core::modpath::ModuleVersion;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

/// One module version a project needs.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Wanted {
    /// The module version.
    pub module: ModuleVersion,
    /// True when its files are needed (the whole module); false when only
    /// its go.mod is (a `/go.mod`-only line of go.sum: the module is in
    /// the graph, but no package of it is built).
    pub zip: bool,
    /// The module's `h1:` hash as go.sum records it, if it does.
    pub h1: Option<String>,
}

/// The module versions needed by the projects at `paths`, each once,
/// sorted. A path is a directory with a go.sum, a go.mod (its go.sum next
/// to it is read), a go.sum, or `-`: `go list -m -json all` output on
/// stdin.
pub fn collect(paths: &[String]) -> Result<Vec<Wanted>, Error> {
    let mut all: BTreeMap<ModuleVersion, (bool, Option<String>)> = BTreeMap::new();
    for path in paths {
        let found = if path == "-" {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|source| Error::Io {
                    context: "reading `go list -m -json all` output from stdin".into(),
                    source,
                })?;
            from_go_list_json(&text)?
        } else {
            let sum = go_sum_of(Path::new(path))?;
            let text = std::fs::read_to_string(&sum).map_err(|source| Error::Io {
                context: format!("reading {}", sum.display()),
                source,
            })?;
            from_go_sum(&text, &sum.display().to_string())?
        };
        for w in found {
            let entry = all.entry(w.module).or_default();
            entry.0 |= w.zip;
            entry.1 = entry.1.take().or(w.h1);
        }
    }
    Ok(all
        .into_iter()
        .map(|(module, (zip, h1))| Wanted { module, zip, h1 })
        .collect())
}

/// The go.sum a path stands for.
fn go_sum_of(path: &Path) -> Result<std::path::PathBuf, Error> {
    let sum = if path.is_dir() {
        path.join("go.sum")
    } else if path.file_name().is_some_and(|n| n == "go.mod") {
        path.with_file_name("go.sum")
    } else {
        path.to_owned()
    };
    if sum.is_file() {
        Ok(sum)
    } else {
        Err(Error::Usage(format!(
            "{} not found: run `go mod tidy` first, or pipe `go list -m -json all` into \
             `gomodfs prefetch -`",
            sum.display()
        )))
    }
}

/// The module versions of a go.sum: `PATH VERSION h1:...` needs the
/// module, `PATH VERSION/go.mod h1:...` only its go.mod.
pub fn from_go_sum(text: &str, name: &str) -> Result<Vec<Wanted>, Error> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [path, version, hash] = fields[..] else {
            if fields.is_empty() {
                continue;
            }
            return Err(Error::Usage(format!(
                "{name}:{}: not a go.sum line: {line:?}",
                n + 1
            )));
        };
        let (version, zip) = match version.strip_suffix("/go.mod") {
            Some(v) => (v, false),
            None => (version, true),
        };
        let module = ModuleVersion::new(path, version)
            .map_err(|e| Error::Usage(format!("{name}:{}: {e}", n + 1)))?;
        let h1 = zip.then(|| hash.to_owned());
        out.push(Wanted { module, zip, h1 });
    }
    Ok(out)
}

/// One module of `go list -m -json` output.
#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Listed {
    path: String,
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    main: bool,
    #[serde(default)]
    replace: Option<Box<Listed>>,
}

/// The module versions of `go list -m -json all` output (a stream of JSON
/// objects): every module but the main one, as replaced; replacements by
/// local directories need nothing.
pub fn from_go_list_json(text: &str) -> Result<Vec<Wanted>, Error> {
    let mut out = Vec::new();
    for listed in serde_json::Deserializer::from_str(text).into_iter::<Listed>() {
        let listed = listed
            .map_err(|e| Error::Usage(format!("reading `go list -m -json all` output: {e}")))?;
        if listed.main {
            continue;
        }
        let target = match listed.replace {
            Some(r) => *r,
            None => listed,
        };
        let Some(version) = target.version else {
            continue;
        };
        let module = ModuleVersion::new(&target.path, &version)
            .map_err(|e| Error::Usage(format!("`go list` output: {e}")))?;
        out.push(Wanted {
            module,
            zip: true,
            h1: None,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_sum_lines_need_modules_or_go_mods() -> Result<(), Error> {
        let sum = "example.com/a v1.0.0 h1:x=\nexample.com/a v1.0.0/go.mod h1:y=\n\
                   example.com/b v0.1.0/go.mod h1:z=\n\n";
        let got = from_go_sum(sum, "go.sum")?;
        assert_eq!(got.len(), 3);
        assert!(got[0].zip && !got[1].zip && !got[2].zip);
        assert_eq!(got[2].module.to_string(), "example.com/b@v0.1.0");
        assert_eq!(got[0].h1.as_deref(), Some("h1:x="));
        assert_eq!(got[1].h1, None);
        assert!(from_go_sum("just garbage\n", "go.sum").is_err());
        Ok(())
    }

    #[test]
    fn go_list_json_skips_main_and_local_replacements() -> Result<(), Error> {
        let text = r#"{"Path":"example.com/me","Main":true}
{"Path":"example.com/a","Version":"v1.0.0"}
{"Path":"example.com/b","Version":"v1.0.0","Replace":{"Path":"example.com/c","Version":"v2.0.0"}}
{"Path":"example.com/d","Version":"v1.0.0","Replace":{"Path":"../d"}}"#;
        let got: Vec<String> = from_go_list_json(text)?
            .iter()
            .map(|w| w.module.to_string())
            .collect();
        assert_eq!(got, ["example.com/a@v1.0.0", "example.com/c@v2.0.0"]);
        Ok(())
    }
}
