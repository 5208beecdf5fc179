//! A `tracing` subscriber for unit tests that keeps every event, so a test
//! can assert what was logged and at which level (with
//! `tracing::subscriber::with_default`, on the test's own thread).

use parking_lot::Mutex;
use std::sync::Arc;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata};

/// An event: its level and `name=value` fields.
pub(crate) type Seen = (Level, Vec<String>);

/// Every event logged.
#[derive(Clone, Default)]
pub(crate) struct Events(Arc<Mutex<Vec<Seen>>>);

impl Events {
    /// The events so far, in order.
    pub(crate) fn seen(&self) -> Vec<Seen> {
        self.0.lock().clone()
    }

    /// How many events so far were at `level`.
    pub(crate) fn at(&self, level: Level) -> usize {
        self.0.lock().iter().filter(|(l, _)| *l == level).count()
    }
}

struct Fields(Vec<String>);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.push(format!("{}={value:?}", field.name()));
    }
}

impl tracing::Subscriber for Events {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut fields = Fields(Vec::new());
        event.record(&mut fields);
        self.0.lock().push((*event.metadata().level(), fields.0));
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}
