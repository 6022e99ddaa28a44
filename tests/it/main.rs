//! The facade's cross-crate tests, one binary: every module links against the same build.

mod end_to_end;
mod sqlite_restart;
