//! Seeding a gomodfs store directly (feature `seed`): module versions put
//! with [`Store::put_module`], without a proxy or a zip, for tests of the
//! node API and of the frontends that only need stored bytes.

use bytes::Bytes;
use gomodfs_core::store::ModuleContents;
use gomodfs_core::{ModuleVersion, Store};

/// The `ziphash` of seeded modules: well-formed, never checked against
/// files (nothing here builds a zip).
pub const PLACEHOLDER_ZIPHASH: &str = "h1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

/// The contents of `path@version` with `files` (`(path in the module,
/// bytes)`): an `.info` with a fixed time, `.mod` `module PATH`, and
/// [`PLACEHOLDER_ZIPHASH`].
pub fn contents<P, D>(path: &str, version: &str, files: &[(P, D)]) -> ModuleContents
where
    P: AsRef<str>,
    D: AsRef<[u8]>,
{
    ModuleContents {
        info: Bytes::from(format!(
            "{{\"Version\":\"{version}\",\"Time\":\"2024-01-02T03:04:05Z\"}}"
        )),
        go_mod: Bytes::from(format!("module {path}\n")),
        ziphash: PLACEHOLDER_ZIPHASH.into(),
        files: files
            .iter()
            .map(|(p, d)| (p.as_ref().to_owned(), Bytes::copy_from_slice(d.as_ref())))
            .collect(),
    }
}

/// Puts `path@version` with `files` into `store` (see [`contents`]).
pub fn put<P, D>(
    store: &dyn Store,
    path: &str,
    version: &str,
    files: &[(P, D)],
) -> gomodfs_core::Result<()>
where
    P: AsRef<str>,
    D: AsRef<[u8]>,
{
    let mv = ModuleVersion::new(path, version)?;
    store.put_module(&mv, &contents(path, version, files))
}

#[cfg(test)]
mod tests {
    use super::*;
    use gomodfs_core::store::MemoryStore;

    #[test]
    fn a_seeded_module_is_stored_with_its_files() {
        let store = MemoryStore::new();
        put(
            &store,
            "example.com/Foo",
            "v1.0.0",
            &[("a.go", "package a\n")],
        )
        .unwrap();
        let mv = ModuleVersion::new("example.com/Foo", "v1.0.0").unwrap();
        let got = store.module(&mv).unwrap().unwrap();
        assert_eq!(got.go_mod.as_ref(), b"module example.com/Foo\n");
        assert_eq!(got.ziphash, PLACEHOLDER_ZIPHASH);
        assert_eq!(got.files.len(), 1);
        assert!(put(&store, "example.com/Foo", "not-a-version", &[("a", "")]).is_err());
    }
}
