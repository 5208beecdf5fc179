//! The `h1:` directory hash (golang.org/x/mod/sumdb/dirhash `Hash1`), the
//! hash `go` checks against go.sum and writes to `.ziphash`.
//!
//! Names are the full zip entry names, with the `<path>@<version>/` prefix.
//! They are sorted bytewise; for each, `hex(sha256(content)) + "  " + name +
//! "\n"` goes into one sha256, and the result is `"h1:" + base64(digest)`.

use crate::error::{Error, Result};
use base64::Engine as _;
use sha2::{Digest as _, Sha256};
use std::fmt::Write as _;

/// The length of every `h1:` hash: `"h1:"` and 44 base64 characters (the
/// size of every `.ziphash`).
pub const H1_LEN: usize = 3 + 44;

/// A sha256 digest of one file's content.
pub type FileDigest = [u8; 32];

/// The sha256 of `data`, for [`h1_from_digests`].
pub fn sha256(data: &[u8]) -> FileDigest {
    Sha256::digest(data).into()
}

/// The `h1:` hash of files given as (full zip name, content).
///
/// Fails with [`Error::InvalidFilePath`] if a name contains `\n`, as Go does.
pub fn h1<I, N, D>(files: I) -> Result<String>
where
    I: IntoIterator<Item = (N, D)>,
    N: AsRef<str>,
    D: AsRef<[u8]>,
{
    h1_from_digests(
        files
            .into_iter()
            .map(|(name, data)| (name, sha256(data.as_ref()))),
    )
}

/// The `h1:` hash of files given as (full zip name, sha256 of content).
///
/// Fails with [`Error::InvalidFilePath`] if a name contains `\n`, as Go does.
pub fn h1_from_digests<I, N>(files: I) -> Result<String>
where
    I: IntoIterator<Item = (N, FileDigest)>,
    N: AsRef<str>,
{
    let mut files: Vec<(N, FileDigest)> = files.into_iter().collect();
    files.sort_by(|a, b| a.0.as_ref().cmp(b.0.as_ref()));
    let mut summary = Sha256::new();
    let mut line = String::with_capacity(128);
    for (name, digest) in &files {
        let name = name.as_ref();
        if name.contains('\n') {
            return Err(Error::InvalidFilePath {
                path: name.to_owned(),
                reason: "dirhash: file names with newlines are not supported".into(),
            });
        }
        line.clear();
        for b in digest {
            // Writing to a String cannot fail.
            let _ = write!(line, "{b:02x}");
        }
        line.push_str("  ");
        line.push_str(name);
        line.push('\n');
        summary.update(line.as_bytes());
    }
    let digest = summary.finalize();
    Ok(format!(
        "h1:{}",
        base64::engine::general_purpose::STANDARD.encode(digest)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    // The expected values below were printed by golang.org/x/mod v0.42.0
    // (dirhash.Hash1, dirhash.HashZip).

    #[test]
    fn empty() -> Result<()> {
        let none: [(&str, &[u8]); 0] = [];
        assert_eq!(h1(none)?, "h1:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
        assert_eq!(h1(none)?.len(), H1_LEN);
        Ok(())
    }

    #[test]
    fn sorts_bytewise() -> Result<()> {
        // Unsorted input; "B" < "a" < "b/c" < "é" bytewise.
        let files = [("é", "é"), ("b/c", "hello\n"), ("a", ""), ("B", "x")];
        let want = "h1:Ktjn0MPXdNWq9F9K3i1L7zIyUFILG0J9Avhy+dyo1PI=";
        assert_eq!(h1(files)?, want);
        let digests = files.map(|(n, d)| (n.to_owned(), sha256(d.as_bytes())));
        assert_eq!(h1_from_digests(digests)?, want);
        Ok(())
    }

    /// The files of the module zip that modzip::Create made for
    /// example.com/Hello@v1.0.0 in Go; HashZip of that zip and the `Sum` that
    /// `go mod download` printed for it are both this hash.
    #[test]
    fn module_matches_go_hash_zip() -> Result<()> {
        let p = "example.com/Hello@v1.0.0/";
        let license = "Permission is granted.\n".repeat(40);
        let files = [
            ("go.mod", "module example.com/Hello\n\ngo 1.21\n"),
            (
                "hello.go",
                "package hello\n\nfunc Hello() string { return \"héllo\" }\n",
            ),
            ("LICENSE", license.as_str()),
            ("sub/empty.txt", ""),
            ("sub/Déjà vu.txt", "x"),
            (".github/ci.yml", "on: push\n"),
        ];
        let got = h1(files.iter().map(|(n, d)| (format!("{p}{n}"), d)))?;
        assert_eq!(got, "h1:kjq36E+FR1Fo8wWAogONr+HcR3KFVD+Zy1Pt0VV1HhU=");
        Ok(())
    }

    #[test]
    fn newline_in_name_is_an_error() {
        let err = h1([("m@v1.0.0/a\nb", "")]);
        assert!(matches!(err, Err(Error::InvalidFilePath { .. })), "{err:?}");
    }
}
