//! Which frontends serve the filesystem, for the status outputs: each
//! frontend registers what it is while it serves (a FUSE mount and its
//! transport, an NFS or WebDAV address), so `gomodfs status` can say how
//! a mount is served without reading logs.

use serde::{Deserialize, Serialize};
use std::sync::{Arc, Weak};

/// One way the filesystem is being served.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct FrontendStatus {
    /// The protocol: `"fuse"`, `"nfs"`, `"webdav"`, `"goproxy"` or `"winfsp"`.
    pub kind: String,
    /// Where it is served: a mount point or a listening address.
    pub at: String,
    /// How requests arrive where a protocol has several ways: for FUSE,
    /// `"/dev/fuse"` or `"io_uring"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transport: Option<String>,
}

/// The frontends registered with [`Stats::add_frontend`], each reported
/// while its owner keeps the `Arc` it was given alive.
///
/// [`Stats::add_frontend`]: super::Stats::add_frontend
#[derive(Default)]
pub(super) struct Frontends(parking_lot::Mutex<Vec<Weak<FrontendStatus>>>);

impl Frontends {
    pub(super) fn add(&self, frontend: FrontendStatus) -> Arc<FrontendStatus> {
        let held = Arc::new(frontend);
        self.0.lock().push(Arc::downgrade(&held));
        held
    }

    /// The live ones, in the order they were added; the ended ones are
    /// forgotten.
    pub(super) fn live(&self) -> Vec<FrontendStatus> {
        let mut all = self.0.lock();
        all.retain(|f| f.strong_count() > 0);
        all.iter()
            .filter_map(Weak::upgrade)
            .map(|f| (*f).clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frontend_is_reported_while_its_owner_keeps_it() {
        let frontends = Frontends::default();
        let status = |kind: &str| FrontendStatus {
            kind: kind.into(),
            at: "/mnt".into(),
            transport: None,
        };
        let fuse = frontends.add(status("fuse"));
        let _nfs = frontends.add(status("nfs"));
        assert_eq!(frontends.live(), [status("fuse"), status("nfs")]);
        drop(fuse);
        assert_eq!(frontends.live(), [status("nfs")]);
        assert_eq!(frontends.0.lock().len(), 1, "the ended one is forgotten");
    }
}
