//! The facade's cross-crate tests, one binary: every module links against the same build.

mod end_to_end;
#[cfg(all(feature = "plugins", feature = "sqlite"))]
mod guide;
mod sqlite_restart;
