//! The command line of `gomodfs cacheprog`, and how `gomodfs exec` sets
//! `GOCACHEPROG` for the command it runs.

use clap::Args;
use gomodfs::Error;
use gomodfs::cacheprog::{self, Options};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

/// `gomodfs cacheprog` flags.
#[derive(Args, Clone)]
pub(crate) struct CacheprogArgs {
    /// The build cache directory (default: gocache in the store directory,
    /// $GOMODFS_STORE or ~/.cache/gomodfs).
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// Read the cache but never change it: puts go to a private scratch
    /// directory removed at exit (for builds of untrusted code).
    #[arg(long)]
    read_only: bool,
    /// Write this helper's counters to DIR/<pid>.json (every second and at
    /// exit).
    #[arg(long, value_name = "DIR")]
    stats_dir: Option<PathBuf>,
    /// Trim the directory down to 90% of this size, least recently used
    /// first (K, M, G, T suffixes; 0: no cap).
    #[arg(long, value_name = "SIZE", default_value = "20G", value_parser = parse_size)]
    max_size: u64,
    /// Remove objects unused for this many days.
    #[arg(long, value_name = "DAYS", default_value_t = 5.0)]
    max_unused_days: f64,
    /// Trim when the last trim of the directory is older than this.
    #[arg(long, value_name = "SECONDS", default_value_t = 3600.0)]
    trim_interval: f64,
    /// The remote tier: gets fall through to it (every object checked
    /// against its OutputID), puts are uploaded behind (never with
    /// --read-only); at close the helper waits --flush-timeout for uploads.
    #[cfg(feature = "remote")]
    #[command(flatten)]
    remote: crate::RemoteArgs,
    /// Log every request (debug level); RUST_LOG overrides.
    #[arg(short, long)]
    verbose: bool,
}

/// Parses `20G`, `512M`, `1024`, `1.5T` (binary units) into bytes.
fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let (num, shift) = match t.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let shift = match c.to_ascii_uppercase() {
                'K' => 10,
                'M' => 20,
                'G' => 30,
                'T' => 40,
                _ => return Err(format!("{text:?}: the unit must be K, M, G or T")),
            };
            (&t[..i], shift)
        }
        _ => (t, 0),
    };
    let n: f64 = num
        .parse()
        .map_err(|_| format!("{text:?} is not a size such as 20G or 1048576"))?;
    if !n.is_finite() || n < 0.0 {
        return Err(format!("{text:?} is not a size"));
    }
    Ok((n * (1u64 << shift) as f64) as u64)
}

fn seconds(what: &str, secs: f64) -> Result<Duration, Error> {
    Duration::try_from_secs_f64(secs)
        .map_err(|_| Error::Usage(format!("{what}: {secs} is not a duration")))
}

/// Runs the helper on stdin/stdout until go says close.
pub(crate) fn run(args: &CacheprogArgs) -> ExitCode {
    crate::init_logging_at(args.verbose, "warn");
    let result = options(args)
        .and_then(|o| cacheprog::serve(&o, std::io::stdin().lock(), std::io::stdout()));
    match result {
        Ok(counters) => {
            tracing::debug!(summary = %cacheprog::counters::summary(&counters), "build cache");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("gomodfs cacheprog: {e}");
            ExitCode::from(2)
        }
    }
}

fn options(args: &CacheprogArgs) -> Result<Options, Error> {
    let dir = match &args.dir {
        Some(d) => d.clone(),
        None => cacheprog::default_dir()?,
    };
    let mut o = Options::new(dir);
    o.read_only = args.read_only;
    o.stats_dir = args.stats_dir.clone();
    o.trim.max_bytes = args.max_size;
    o.trim.max_unused = seconds("--max-unused-days", args.max_unused_days * 86400.0)?;
    o.trim_interval = seconds("--trim-interval", args.trim_interval)?;
    #[cfg(feature = "remote")]
    {
        o.remote = args.remote.config()?;
        o.flush_timeout = seconds("--flush-timeout", args.remote.flush_timeout)?;
    }
    Ok(o)
}

/// `gomodfs exec` flags for the build cache.
#[derive(Args, Clone)]
pub(crate) struct ExecBuildCache {
    /// Do not set GOCACHEPROG (go then uses its own GOCACHE).
    #[arg(long)]
    no_build_cache: bool,
    /// The build cache directory (default: gocache in the store directory).
    #[arg(long, value_name = "DIR")]
    build_cache: Option<PathBuf>,
    /// Run the build cache read-only (for builds of untrusted code).
    #[arg(long)]
    build_cache_read_only: bool,
}

/// What `gomodfs exec` gives the command: GOCACHEPROG, and the directory
/// the helpers report their counters to.
pub(crate) struct ExecCache {
    /// The GOCACHEPROG value.
    pub(crate) gocacheprog: String,
    /// Where the helpers write their counters (removed on drop).
    pub(crate) stats: tempfile::TempDir,
}

impl ExecBuildCache {
    /// The GOCACHEPROG setup, or `None` when it is off or the environment
    /// already sets GOCACHEPROG.
    pub(crate) fn setup(
        &self,
        store: Option<&Path>,
        remote: &[String],
    ) -> Result<Option<ExecCache>, Error> {
        if self.no_build_cache || std::env::var_os("GOCACHEPROG").is_some_and(|v| !v.is_empty()) {
            return Ok(None);
        }
        let dir = match (&self.build_cache, store) {
            (Some(d), _) => d.clone(),
            (None, Some(store)) => store.join("gocache"),
            (None, None) => cacheprog::default_dir()?,
        };
        let dir = std::path::absolute(&dir).map_err(|source| Error::Io {
            context: format!("resolving {}", dir.display()),
            source,
        })?;
        let exe = std::env::current_exe().map_err(|source| Error::Io {
            context: "finding the gomodfs binary for GOCACHEPROG".into(),
            source,
        })?;
        let stats = tempfile::Builder::new()
            .prefix("gomodfs-cacheprog-stats-")
            .tempdir()
            .map_err(|source| Error::Io {
                context: "creating the build cache counters directory".into(),
                source,
            })?;
        let mut words = vec![
            exe.to_string_lossy().into_owned(),
            "cacheprog".into(),
            "--dir".into(),
            dir.to_string_lossy().into_owned(),
            "--stats-dir".into(),
            stats.path().to_string_lossy().into_owned(),
        ];
        if self.build_cache_read_only {
            words.push("--read-only".into());
        }
        words.extend_from_slice(remote);
        let gocacheprog = words
            .iter()
            .map(|w| go_quote(w))
            .collect::<Result<Vec<_>, _>>()?
            .join(" ");
        Ok(Some(ExecCache { gocacheprog, stats }))
    }
}

/// Quotes one word for go's GOCACHEPROG splitting (`cmd/internal/quoted`:
/// fields split at spaces, `'...'` or `"..."` around a field, no escapes).
fn go_quote(word: &str) -> Result<String, Error> {
    let plain = !word.is_empty()
        && !word.starts_with(['\'', '"'])
        && !word.chars().any(|c| c.is_ascii_whitespace());
    if plain {
        Ok(word.to_owned())
    } else if !word.contains('\'') {
        Ok(format!("'{word}'"))
    } else if !word.contains('"') {
        Ok(format!("\"{word}\""))
    } else {
        Err(Error::Usage(format!(
            "{word:?} has both quote characters: GOCACHEPROG cannot hold it"
        )))
    }
}

#[cfg(feature = "remote")]
impl crate::RemoteArgs {
    /// The same remote flags for a `gomodfs cacheprog` command line (the
    /// URL may also come from GOMODFS_REMOTE, which the helper inherits),
    /// with --flush-timeout: the helper waits that long at close.
    pub(crate) fn words(&self) -> Vec<String> {
        let mut words = Vec::new();
        let mut flag = |name: &str, value: Option<String>| {
            if let Some(v) = value {
                words.push(name.to_owned());
                words.push(v);
            }
        };
        flag("--remote", self.remote.clone());
        flag("--remote-endpoint", self.remote_endpoint.clone());
        flag("--remote-region", self.remote_region.clone());
        flag(
            "--remote-path-style",
            self.remote_path_style.map(|b| b.to_string()),
        );
        if self.remote.is_some() {
            flag("--flush-timeout", Some(self.flush_timeout.to_string()));
        }
        words
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_quoting() {
        assert_eq!(parse_size("20G"), Ok(20 << 30));
        assert_eq!(parse_size("512m"), Ok(512 << 20));
        assert_eq!(parse_size("1024"), Ok(1024));
        assert_eq!(parse_size("0"), Ok(0));
        assert!(parse_size("12X").is_err());
        assert!(parse_size("-1G").is_err());
        assert_eq!(
            go_quote("/usr/bin/gomodfs").ok(),
            Some("/usr/bin/gomodfs".into())
        );
        assert_eq!(go_quote("/my dir/x").ok(), Some("'/my dir/x'".into()));
        assert_eq!(go_quote("it's here").ok(), Some("\"it's here\"".into()));
        assert!(go_quote("'\" ").is_err());
    }
}
