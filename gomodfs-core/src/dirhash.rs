//! The `h1:` directory hash (golang.org/x/mod/sumdb/dirhash `Hash1`).
