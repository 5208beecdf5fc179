//! [`standard_fixture`]: a set of modules and a main module that depends on
//! them, buildable and testable by the real `go`.
//!
//! | module | version | what it exercises |
//! | --- | --- | --- |
//! | `example.com/alpha` | v1.0.0 | start of the chain main → alpha → beta → gamma |
//! | `example.com/beta` | v1.0.0 | middle of the chain (indirect for main); its go.mod says `go 1.16`, so its module graph is not pruned |
//! | `example.com/gamma` | v1.0.0, v1.1.0 | end of the chain; beta asks for v1.0.0, main for v1.1.0, so MVS picks v1.1.0; v1.0.0 is needed for its `.mod` only (go.sum has only its `/go.mod` line; its `.zip` is never fetched) |
//! | `example.com/CamelCase/Mod` | v1.2.3-Beta.1 | upper case in path *and* version (escaped `!camel!case/!mod@v1.2.3-!beta.1`), an upper-case package directory `Upper/Pkg`, exotic file names (`docs/naïve café 日本.txt`, `.hidden`, `name with spaces.txt`) |
//! | `example.com/deep` | v1.0.0 | a package 12 directories deep, imported by main |
//! | `example.com/legacy` | v2.1.0+incompatible | a `+incompatible` version: no `go.mod` in the zip, `.mod` synthesized as `module example.com/legacy\n` |
//! | `example.com/testdep` | v1.0.0 | imported only by main's `_test.go`, so `go test` needs it |

use crate::gocmd::GoCmd;
use crate::module::ModuleSpec;
use crate::{Result, TestkitError};
use std::path::Path;

/// The main module's path.
pub const MAIN_MODULE: &str = "example.com/main";

/// What the main program prints (one line, with a trailing newline).
pub const STANDARD_OUTPUT: &str =
    "alpha>beta>gamma v1.1.0|xx|CamelCase Beta.1|UPPER|deep leaf|legacy v2|\n";

/// The import path of the deep package.
pub const DEEP_PACKAGE: &str = "example.com/deep/a/b/c/d/e/f/g/h/i/j/k/leaf";

/// The exotic file names in `example.com/CamelCase/Mod` (relative to the
/// module root).
pub const EXOTIC_FILES: [&str; 3] = [
    "docs/naïve café 日本.txt",
    ".hidden",
    "name with spaces.txt",
];

/// Modules, and a main module that uses them. See the module docs for the
/// table of what each one is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fixture {
    /// Every module version the proxy must serve.
    pub modules: Vec<ModuleSpec>,
    /// The main module's `go.mod` (tidy: `go mod tidy` leaves it unchanged).
    pub main_go_mod: String,
    /// The main module's other files: `(relative path, content)`.
    pub main_files: Vec<(String, String)>,
}

impl Fixture {
    /// Writes `go.mod` and the main files into `dir` (created if needed). No
    /// `go.sum`: get one from [`Fixture::go_sum_via_go`] or
    /// [`Fixture::go_sum_expected`].
    pub fn write_main(&self, dir: &Path) -> Result<()> {
        let write = |rel: &str, content: &[u8]| -> Result<()> {
            let p = dir.join(rel);
            if let Some(parent) = p.parent() {
                std::fs::create_dir_all(parent)
                    .map_err(|e| TestkitError::io(format!("create {}", parent.display()), e))?;
            }
            std::fs::write(&p, content)
                .map_err(|e| TestkitError::io(format!("write {}", p.display()), e))
        };
        write("go.mod", self.main_go_mod.as_bytes())?;
        for (rel, content) in &self.main_files {
            write(rel, content.as_bytes())?;
        }
        Ok(())
    }

    /// The module version `path@version`, if part of the fixture.
    pub fn module(&self, path: &str, version: &str) -> Option<&ModuleSpec> {
        self.modules
            .iter()
            .find(|m| m.path() == path && m.version() == version)
    }

    /// The `go.sum` computed by the testkit's own h1 code (sorted like `go`
    /// sorts it). Tests should prefer [`Fixture::go_sum_via_go`], whose
    /// hashes come from the real `go`; the testkit's own tests check the two
    /// agree.
    pub fn go_sum_expected(&self) -> String {
        let mut lines: Vec<String> = Vec::new();
        for m in &self.modules {
            for l in m.go_sum_lines().lines() {
                lines.push(l.to_owned());
            }
        }
        // gamma v1.0.0 is superseded by v1.1.0 but required by beta, whose
        // go.mod says `go 1.16` (an unpruned module graph): go reads its
        // .mod, never its zip, and records only its /go.mod hash.
        lines.retain(|l| !l.starts_with("example.com/gamma v1.0.0 "));
        lines.sort();
        let mut s = lines.join("\n");
        s.push('\n');
        s
    }

    /// Writes the main module into `work` and runs the real `go mod tidy`
    /// there with `GOPROXY=<proxy_url>`, `GOSUMDB=off`,
    /// `GOFLAGS=-mod=mod -modcacherw`, `GOTOOLCHAIN=local` and a temporary
    /// `GOMODCACHE` (deleted afterwards). Returns the `go.sum` it wrote (also
    /// left in `work/go.sum`). Fails if `go` changed `go.mod` (the fixture's
    /// `go.mod` must be tidy).
    pub fn go_sum_via_go(&self, proxy_url: &str, work: &Path) -> Result<String> {
        self.write_main(work)?;
        let modcache = tempfile::Builder::new()
            .prefix("gomodfs-testkit-modcache-")
            .tempdir()
            .map_err(|e| TestkitError::io("create a temp GOMODCACHE", e))?;
        let go = GoCmd::new(work)?
            .goproxy(proxy_url)
            .gomodcache(modcache.path())
            .goflags("-mod=mod -modcacherw");
        go.run(&["mod", "tidy"])?;
        let sum_path = work.join("go.sum");
        let sum = std::fs::read_to_string(&sum_path)
            .map_err(|e| TestkitError::io(format!("read {}", sum_path.display()), e))?;
        let mod_path = work.join("go.mod");
        let go_mod = std::fs::read_to_string(&mod_path)
            .map_err(|e| TestkitError::io(format!("read {}", mod_path.display()), e))?;
        if go_mod != self.main_go_mod {
            return Err(TestkitError::Invalid(format!(
                "`go mod tidy` changed the fixture's go.mod:\n--- fixture\n{}\n--- go\n{}",
                self.main_go_mod, go_mod
            )));
        }
        Ok(sum)
    }
}

fn gomod(path: &str, requires: &[(&str, &str, bool)]) -> String {
    let mut s = format!("module {path}\n\ngo 1.21\n");
    let direct: Vec<_> = requires.iter().filter(|r| !r.2).collect();
    let indirect: Vec<_> = requires.iter().filter(|r| r.2).collect();
    for (group, suffix) in [(direct, ""), (indirect, " // indirect")] {
        match group.len() {
            0 => {}
            1 => s.push_str(&format!(
                "\nrequire {} {}{suffix}\n",
                group[0].0, group[0].1
            )),
            _ => {
                s.push_str("\nrequire (\n");
                for r in group {
                    s.push_str(&format!("\t{} {}{suffix}\n", r.0, r.1));
                }
                s.push_str(")\n");
            }
        }
    }
    s
}

/// The standard fixture (see the module docs).
pub fn standard_fixture() -> Fixture {
    let mut modules = Vec::new();

    for (v, extra) in [
        ("v1.0.0", ""),
        (
            "v1.1.0",
            "\n// Twice returns s twice.\nfunc Twice(s string) string { return s + s }\n",
        ),
    ] {
        modules.push(
            ModuleSpec::new("example.com/gamma", v)
                .file(
                    "gamma.go",
                    format!(
                        "// Package gamma is the end of the chain.\npackage gamma\n\n// Name names this module version.\nfunc Name() string {{ return \"gamma {v}\" }}\n{extra}"
                    ),
                )
                .file("LICENSE", "Test fixture, no rights reserved.\n"),
        );
    }

    modules.push(
        ModuleSpec::new("example.com/beta", "v1.0.0")
            .go_mod(
                gomod("example.com/beta", &[("example.com/gamma", "v1.0.0", false)])
                    .replace("go 1.21", "go 1.16"),
            )
            .file(
                "beta.go",
                "// Package beta calls gamma.\npackage beta\n\nimport \"example.com/gamma\"\n\n// Name names the chain from here.\nfunc Name() string { return \"beta>\" + gamma.Name() }\n",
            ),
    );

    modules.push(
        ModuleSpec::new("example.com/alpha", "v1.0.0")
            .go_mod(gomod(
                "example.com/alpha",
                &[
                    ("example.com/beta", "v1.0.0", false),
                    ("example.com/gamma", "v1.0.0", true),
                ],
            ))
            .file(
                "alpha.go",
                "// Package alpha calls beta.\npackage alpha\n\nimport \"example.com/beta\"\n\n// Name names the chain from here.\nfunc Name() string { return \"alpha>\" + beta.Name() }\n",
            )
            .file(
                "alpha_test.go",
                "package alpha\n\nimport \"testing\"\n\nfunc TestName(t *testing.T) {\n\tif Name() == \"\" {\n\t\tt.Fatal(\"empty\")\n\t}\n}\n",
            ),
    );

    modules.push(
        ModuleSpec::new("example.com/CamelCase/Mod", "v1.2.3-Beta.1")
            .file(
                "mod.go",
                "// Package mod lives in a module with upper case in path and version.\npackage mod\n\n// Greet says hello.\nfunc Greet() string { return \"CamelCase Beta.1\" }\n",
            )
            .file(
                "Upper/Pkg/pkg.go",
                "// Package pkg lives in an upper-case directory.\npackage pkg\n\n// Shout shouts.\nfunc Shout() string { return \"UPPER\" }\n",
            )
            .file(EXOTIC_FILES[0], "naïve café 日本\n")
            .file(EXOTIC_FILES[1], "hidden\n")
            .file(EXOTIC_FILES[2], "spaces\n")
            .file("testdata/empty.txt", ""),
    );

    modules.push(
        ModuleSpec::new("example.com/deep", "v1.0.0").file(
            "a/b/c/d/e/f/g/h/i/j/k/leaf/leaf.go",
            "// Package leaf is deep down.\npackage leaf\n\n// Where says where it is.\nfunc Where() string { return \"deep leaf\" }\n",
        ),
    );

    modules.push(
        ModuleSpec::new("example.com/legacy", "v2.1.0+incompatible")
            .file(
                "legacy.go",
                "// Package legacy predates modules.\npackage legacy\n\n// Version is the major version.\nconst Version = \"legacy v2\"\n",
            )
            .file("LICENSE", "Legacy license.\n"),
    );

    modules.push(
        ModuleSpec::new("example.com/testdep", "v1.0.0").file(
            "check/check.go",
            "// Package check has test helpers.\npackage check\n\nimport \"testing\"\n\n// Equal fails t unless got == want.\nfunc Equal(t testing.TB, got, want string) {\n\tt.Helper()\n\tif got != want {\n\t\tt.Fatalf(\"got %q, want %q\", got, want)\n\t}\n}\n",
        ),
    );

    let main_go_mod = gomod(
        MAIN_MODULE,
        &[
            ("example.com/CamelCase/Mod", "v1.2.3-Beta.1", false),
            ("example.com/alpha", "v1.0.0", false),
            ("example.com/deep", "v1.0.0", false),
            ("example.com/gamma", "v1.1.0", false),
            ("example.com/legacy", "v2.1.0+incompatible", false),
            ("example.com/testdep", "v1.0.0", false),
            ("example.com/beta", "v1.0.0", true),
        ],
    );

    let main_go = format!(
        "// Command main uses every fixture module.\npackage main\n\nimport (\n\t\"fmt\"\n\n\tmod \"example.com/CamelCase/Mod\"\n\tpkg \"example.com/CamelCase/Mod/Upper/Pkg\"\n\t\"example.com/alpha\"\n\t\"{DEEP_PACKAGE}\"\n\t\"example.com/gamma\"\n\t\"example.com/legacy\"\n)\n\n// Summary calls into every module.\nfunc Summary() string {{\n\treturn alpha.Name() + \"|\" + gamma.Twice(\"x\") + \"|\" + mod.Greet() + \"|\" + pkg.Shout() + \"|\" + leaf.Where() + \"|\" + legacy.Version + \"|\"\n}}\n\nfunc main() {{\n\tfmt.Println(Summary())\n}}\n"
    );
    let main_test = format!(
        "package main\n\nimport (\n\t\"testing\"\n\n\t\"example.com/testdep/check\"\n)\n\nfunc TestSummary(t *testing.T) {{\n\tcheck.Equal(t, Summary()+\"\\n\", {STANDARD_OUTPUT:?})\n}}\n"
    );

    Fixture {
        modules,
        main_go_mod,
        main_files: vec![
            ("main.go".to_owned(), main_go),
            ("main_test.go".to_owned(), main_test),
        ],
    }
}
