//! The git object store.
