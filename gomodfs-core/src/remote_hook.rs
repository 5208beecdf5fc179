//! The fetcher's hook into the fleet tier ([`crate::remote`]): the same
//! calls with and without the `remote` feature, so `fetch.rs` has no
//! `cfg` of its own. Without the feature (or without `--remote`), every
//! call is a miss and nothing is uploaded.

use crate::error::Error;
use crate::modpath::ModuleVersion;
use crate::store::MetaFile;
use bytes::Bytes;

/// A module version from the remote, not validated yet: the fetcher
/// validates it exactly like an upstream zip.
pub(crate) struct Candidate {
    pub(crate) info: Bytes,
    pub(crate) go_mod: Bytes,
    /// The zip, in a temporary file, at its start.
    pub(crate) zip: std::fs::File,
    /// The `h1:` recorded by the uploader; the extracted files must match.
    pub(crate) ziphash: String,
}

/// A `.info` or `.mod` from the remote, checked like an upstream answer.
pub(crate) struct MetaFound {
    /// The file asked for.
    pub(crate) data: Bytes,
    /// The other of the two, when the module's metadata object held both.
    #[cfg_attr(not(feature = "remote"), allow(dead_code))]
    pub(crate) other: Option<Bytes>,
}

/// What an upload carries: the whole module, or one proxy file.
#[derive(Clone, Copy)]
#[cfg_attr(not(feature = "remote"), allow(dead_code))]
pub(crate) enum Carries {
    Module,
    Meta(MetaFile),
}

#[cfg(feature = "remote")]
mod on {
    use super::*;
    use crate::remote::{FleetTier, Pending, Upload};
    use std::sync::Arc;

    /// The fleet tier, if `--remote` is set.
    #[derive(Clone, Default)]
    pub(crate) struct RemoteHook(pub(crate) Option<Arc<FleetTier>>);

    /// An upload recorded durably: [`Ticket::start`] it after the local put.
    pub(crate) struct Ticket(Option<Pending>);

    impl Ticket {
        /// No upload (a module that came from the fleet tier).
        pub(crate) fn none() -> Ticket {
            Ticket(None)
        }

        /// Starts the upload (also when the put failed: the upload then
        /// finds nothing and drops the entry).
        pub(crate) fn start(self) {
            if let Some(p) = self.0 {
                p.start();
            }
        }
    }

    impl RemoteHook {
        pub(crate) async fn module(&self, mv: &ModuleVersion) -> Option<Candidate> {
            self.0.as_ref()?.module(mv).await.map(candidate)
        }

        pub(crate) async fn lead_or_wait(&self, mv: &ModuleVersion) -> Option<Candidate> {
            self.0.as_ref()?.lead_or_wait(mv).await.map(candidate)
        }

        pub(crate) async fn meta(&self, mv: &ModuleVersion, file: MetaFile) -> Option<MetaFound> {
            let found = self.0.as_ref()?.meta(mv, file).await?;
            Some(MetaFound {
                data: found.data,
                other: found.other,
            })
        }

        pub(crate) fn hit(&self, mv: &ModuleVersion) {
            if let Some(t) = &self.0 {
                t.hit(mv);
            }
        }

        pub(crate) fn refused(&self, mv: &ModuleVersion, error: &Error) {
            if let Some(t) = &self.0 {
                t.refused(mv, error);
            }
        }

        pub(crate) fn download_failed(&self, mv: &ModuleVersion) {
            if let Some(t) = &self.0 {
                t.download_failed(mv);
            }
        }

        pub(crate) fn record(&self, mv: &ModuleVersion, what: Carries) -> Ticket {
            let what = match what {
                Carries::Module => Upload::Module,
                Carries::Meta(f) => Upload::Meta(f),
            };
            Ticket(self.0.as_ref().and_then(|t| t.record_upload(mv, what)))
        }
    }

    fn candidate(m: crate::remote::RemoteModule) -> Candidate {
        Candidate {
            info: m.info,
            go_mod: m.go_mod,
            zip: m.zip,
            ziphash: m.ziphash,
        }
    }
}

#[cfg(not(feature = "remote"))]
mod off {
    use super::*;

    /// No fleet tier in this build.
    #[derive(Clone, Default)]
    pub(crate) struct RemoteHook;

    /// Nothing to upload.
    pub(crate) struct Ticket;

    impl Ticket {
        pub(crate) fn none() -> Ticket {
            Ticket
        }
        pub(crate) fn start(self) {}
    }

    impl RemoteHook {
        pub(crate) async fn module(&self, _: &ModuleVersion) -> Option<Candidate> {
            None
        }
        pub(crate) async fn lead_or_wait(&self, _: &ModuleVersion) -> Option<Candidate> {
            None
        }
        pub(crate) async fn meta(&self, _: &ModuleVersion, _: MetaFile) -> Option<MetaFound> {
            None
        }
        pub(crate) fn hit(&self, _: &ModuleVersion) {}
        pub(crate) fn refused(&self, _: &ModuleVersion, _: &Error) {}
        pub(crate) fn download_failed(&self, _: &ModuleVersion) {}
        pub(crate) fn record(&self, _: &ModuleVersion, _: Carries) -> Ticket {
            Ticket
        }
    }
}

#[cfg(not(feature = "remote"))]
pub(crate) use off::{RemoteHook, Ticket};
#[cfg(feature = "remote")]
pub(crate) use on::{RemoteHook, Ticket};
