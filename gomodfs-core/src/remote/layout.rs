//! Where module versions live in the remote store (object keys), and the
//! small metadata object written next to each module zip.
//!
//! Under the remote's prefix, for module path `P` and version `V` (both
//! escaped as in the module cache, `!x` for upper case `X`):
//!
//! | key | contents |
//! |---|---|
//! | `gomodfs/v1/P/@v/V.zip` | the module zip (as `go mod download` would unpack it) |
//! | `gomodfs/v1/P/@v/V.meta` | JSON `{"module","version","ziphash","info","mod"}`, written after the zip: a module is complete when this exists |
//! | `gomodfs/v1/P/@v/V.info`, `.mod` | proxy files fetched on their own (without the zip) |
//! | `gomodfs/v1/P/@v/V.lease` | JSON `{"holder","expires"}`: who downloads the module from upstream right now |
//!
//! Every object is written once with a conditional create and never
//! changed; only leases are deleted. `v1` is the layout's version.

use crate::error::{Error, Result};
use crate::modpath::ModuleVersion;
use bytes::Bytes;

/// The layout version in every key.
pub const LAYOUT: &str = "gomodfs/v1";

/// The objects of one module version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Object {
    /// The module zip.
    Zip,
    /// The metadata of a complete module ([`ModuleMeta`]).
    Meta,
    /// A `.info` stored on its own.
    Info,
    /// A `.mod` stored on its own.
    Mod,
    /// The download lease.
    Lease,
}

impl Object {
    fn extension(self) -> &'static str {
        match self {
            Object::Zip => "zip",
            Object::Meta => "meta",
            Object::Info => "info",
            Object::Mod => "mod",
            Object::Lease => "lease",
        }
    }
}

/// The key of `object` of module version `mv` (relative to the prefix).
pub fn key(mv: &ModuleVersion, object: Object) -> String {
    format!(
        "{LAYOUT}/{}/@v/{}.{}",
        mv.escaped_path(),
        mv.escaped_version(),
        object.extension()
    )
}

/// The `.meta` object of a complete module.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ModuleMeta {
    /// Module path (unescaped).
    pub module: String,
    /// Version.
    pub version: String,
    /// The `h1:` hash of the zip's files, as recorded by the host that
    /// uploaded it; a reader recomputes it and refuses a mismatch.
    pub ziphash: String,
    /// The `.info` file.
    pub info: String,
    /// The `.mod` file.
    #[serde(rename = "mod")]
    pub go_mod: String,
}

impl ModuleMeta {
    /// The JSON bytes to upload.
    pub fn to_bytes(&self) -> Bytes {
        let mut json = serde_json::to_vec_pretty(self).unwrap_or_default();
        json.push(b'\n');
        Bytes::from(json)
    }

    /// Parses a `.meta` object of `mv`; it must name `mv`.
    pub fn parse(mv: &ModuleVersion, data: &[u8]) -> Result<ModuleMeta> {
        let invalid = |reason: String| Error::InvalidZip {
            module: mv.path().to_owned(),
            version: mv.version().to_owned(),
            reason: format!("remote metadata object: {reason}"),
        };
        let meta: ModuleMeta =
            serde_json::from_slice(data).map_err(|e| invalid(format!("not valid JSON: {e}")))?;
        if meta.module != mv.path() || meta.version != mv.version() {
            return Err(invalid(format!(
                "names {}@{}, not {mv}",
                meta.module, meta.version
            )));
        }
        Ok(meta)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn keys_are_escaped_like_the_module_cache() {
        let mv = ModuleVersion::new("github.com/BurntSushi/toml", "v1.0.0-RC1").unwrap();
        assert_eq!(
            key(&mv, Object::Zip),
            "gomodfs/v1/github.com/!burnt!sushi/toml/@v/v1.0.0-!r!c1.zip"
        );
        assert!(key(&mv, Object::Lease).ends_with(".lease"));
    }

    #[test]
    fn meta_round_trips_and_must_name_the_module() {
        let mv = ModuleVersion::new("example.com/a", "v1.0.0").unwrap();
        let meta = ModuleMeta {
            module: "example.com/a".into(),
            version: "v1.0.0".into(),
            ziphash: "h1:x".into(),
            info: "{}".into(),
            go_mod: "module example.com/a\n".into(),
        };
        assert_eq!(ModuleMeta::parse(&mv, &meta.to_bytes()).unwrap(), meta);
        let other = ModuleVersion::new("example.com/a", "v1.0.1").unwrap();
        let e = ModuleMeta::parse(&other, &meta.to_bytes()).unwrap_err();
        assert!(e.to_string().contains("not example.com/a@v1.0.1"), "{e}");
        assert!(ModuleMeta::parse(&mv, b"<html>").is_err());
    }
}
