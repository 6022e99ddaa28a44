//! The records a CRM keeps.

mod activity;
mod company;
mod contact;
mod custom_field;
mod deal;
mod pipeline;
mod relation;

pub use activity::*;
pub use company::*;
pub use contact::*;
pub use custom_field::*;
pub use deal::*;
pub use pipeline::*;
pub use relation::*;
