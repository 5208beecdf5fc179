//! The GOPROXY client.
