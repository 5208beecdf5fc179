//! Module zip validation and extraction (as golang.org/x/mod/zip checks them).
