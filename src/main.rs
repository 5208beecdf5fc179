//! The gomodfs command.
fn main() {}
