//! The records a CRM keeps.

mod activity;
mod campaign;
mod case;
mod company;
mod contact;
mod custom_field;
mod deal;
mod invoice;
mod order;
mod pipeline;
mod product;
mod query_eval;
pub(crate) use query_eval::NUL_REFUSED;
mod record;
mod relation;
mod sync;

pub use activity::*;
pub use campaign::*;
pub use case::*;
pub use company::*;
pub use contact::*;
pub use custom_field::*;
pub use deal::*;
pub use invoice::*;
pub use order::*;
pub use pipeline::*;
pub use product::*;
pub use query_eval::*;
pub use record::*;
pub use relation::*;
pub use sync::*;
