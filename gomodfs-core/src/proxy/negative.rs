//! The negative cache: 404/410 answers remembered for a short time.

use super::ProxyFile;
use crate::error::Error;
use crate::modpath::ModuleVersion;
use std::time::{Duration, Instant};

/// How many not-found answers are remembered at most.
const CAPACITY: usize = 16 * 1024;

/// Key of both the negative cache and the single-flight table.
pub(crate) type Key = (ModuleVersion, ProxyFile);

/// Remembers not-found errors per (module, version, file) until they expire.
pub(crate) struct NegativeCache {
    ttl: Duration,
    cache: quick_cache::sync::Cache<Key, (Instant, Error)>,
}

impl NegativeCache {
    /// A cache whose entries live for `ttl` (zero: nothing is remembered).
    pub(crate) fn new(ttl: Duration) -> Self {
        NegativeCache {
            ttl,
            cache: quick_cache::sync::Cache::new(CAPACITY),
        }
    }

    /// The remembered error, if it has not expired.
    pub(crate) fn get(&self, key: &Key) -> Option<Error> {
        let (expires, err) = self.cache.get(key)?;
        if Instant::now() < expires {
            Some(err)
        } else {
            self.cache.remove(key);
            None
        }
    }

    /// Remembers `err` for `key`.
    pub(crate) fn insert(&self, key: Key, err: Error) {
        if self.ttl.is_zero() {
            return;
        }
        if let Some(expires) = Instant::now().checked_add(self.ttl) {
            self.cache.insert(key, (expires, err));
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn not_found() -> Error {
        Error::ModuleNotFound {
            module: "example.com/m".into(),
            version: "v1.0.0".into(),
            detail: "404".into(),
        }
    }

    #[test]
    fn expires() {
        let key = (
            ModuleVersion::new("example.com/m", "v1.0.0").unwrap(),
            ProxyFile::Mod,
        );
        let c = NegativeCache::new(Duration::from_millis(50));
        assert!(c.get(&key).is_none());
        c.insert(key.clone(), not_found());
        assert!(matches!(c.get(&key), Some(Error::ModuleNotFound { .. })));
        assert!(c.get(&(key.0.clone(), ProxyFile::Zip)).is_none());
        std::thread::sleep(Duration::from_millis(80));
        assert!(c.get(&key).is_none());

        let off = NegativeCache::new(Duration::ZERO);
        off.insert(key.clone(), not_found());
        assert!(off.get(&key).is_none());
    }
}
