//! Telling the store which modules are served, cheaply: the first time a
//! module is served in this process, and again once
//! [`NOTE_EVERY`] has passed while it keeps being served (also from the
//! in-memory caches, so a long-running mount keeps its modules "used").
//! Everything else is one map look-up.

use crate::modpath::ModuleVersion;
use crate::store::Store;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// How often a module still being served is noted again.
pub(super) const NOTE_EVERY: Duration = Duration::from_secs(3600);

/// When each module was last noted by this process.
#[derive(Default)]
pub(super) struct UseNotes {
    noted: parking_lot::Mutex<HashMap<ModuleVersion, Instant>>,
}

impl UseNotes {
    /// Notes that `module` is being served, unless noted recently.
    pub(super) fn serving(&self, store: &dyn Store, module: &ModuleVersion) {
        let now = Instant::now();
        {
            let mut noted = self.noted.lock();
            match noted.get_mut(module) {
                Some(at) if now.duration_since(*at) < NOTE_EVERY => return,
                Some(at) => *at = now,
                None => {
                    noted.insert(module.clone(), now);
                }
            }
        }
        if let Err(e) = store.note_used(module) {
            tracing::debug!(%module, error = %e, "cannot note the module's use");
        }
    }
}
