//! The plugin of `plugins/README.md`, word for word (see `build.rs`): a boat dealer's fields
//! on deals, a computed price per metre, and a sea-trial task when a deal is won.
#![allow(missing_docs)]

include!(concat!(env!("OUT_DIR"), "/readme_plugin.rs"));
