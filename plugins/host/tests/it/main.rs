//! The plugin host's integration tests, one binary: every module links against the same build.

mod bounds;
mod common;
mod lifecycle;
mod queries;
mod sandbox;
