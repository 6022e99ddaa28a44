//! The log of an erasure: that a person's data was erased, when, by whom and why, under a
//! masked name, with the keyed hashes of their email addresses that keep imports and mailbox
//! sync from bringing them back.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::entity::EntityRef;
use crate::ids::{ContactId, ErasureId, TenantId, UserId};
use crate::macros::record;
use crate::model::{impl_entity, text_list};

record! {
    /// One person's erasure (see [`Privacy::erase`](crate::service::Privacy::erase)).
    #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
    pub struct Erasure(ErasureId) {
        /// The contact erased: deleted, or kept anonymised for the accounting records that
        /// name it.
        pub contact_id: ContactId,
        /// Their name masked (`J*** D**`): enough to answer "was this request handled?".
        pub masked_name: String,
        /// Why (the request's reference, the legal ground…).
        pub reason: Option<String>,
        /// Who erased them.
        pub erased_by: Option<UserId>,
        /// [`blocked_key`]s of their email addresses: a contact with one of them is not
        /// created again, and mail from them is not filed.
        pub blocked: Vec<String>,
        /// The records deleted or anonymised: their history's recorded values are scrubbed.
        pub records: Vec<EntityRef>,
        /// Records deleted.
        pub deleted: u64,
        /// Records kept and anonymised (the contact when accounting records name it, its
        /// orders, invoices and payments, records it was unlinked from).
        pub anonymised: u64,
        /// Committed events whose recorded values were scrubbed.
        pub events_scrubbed: u64,
        /// When the history was scrubbed too; None while that part is still to do (erasing
        /// again finishes it).
        pub completed_at: Option<DateTime<Utc>>,
    }
}

impl_entity! {
    Erasure, ErasureId, Erasure, custom: false;
    deletable: |_e| Err(crate::error::Error::invalid(
        "id",
        crate::error::FieldErrorCode::Rule,
        "an erasure's log is kept: it is the proof the request was handled",
    ));
    fields {
        "contact_id": Id => |e| Some(e.contact_id),
        "blocked": TextList => |e| text_list(e.blocked.iter().map(String::as_str)),
        "completed_at": DateTime => |e| e.completed_at,
    }
}

/// The key an erased email address is blocked under: SHA-256 of the tenant and the address in
/// lower case, hex. The address itself is not kept.
///
/// ```
/// use crm_core::ids::TenantId;
/// use crm_core::model::blocked_key;
/// let t = TenantId::new();
/// assert_eq!(blocked_key(t, "Ann@Example.com"), blocked_key(t, "ann@example.com"));
/// assert_ne!(blocked_key(t, "ann@example.com"), blocked_key(TenantId::new(), "ann@example.com"));
/// ```
pub fn blocked_key(tenant: TenantId, email: &str) -> String {
    let mut h = Sha256::new();
    h.update(tenant.as_uuid().as_bytes());
    h.update(email.trim().to_lowercase().as_bytes());
    hex::encode(h.finalize())
}

/// `name` with all but the first letter of each word masked: `Jane Doe` → `J*** D**`.
///
/// ```
/// assert_eq!(crm_core::model::mask_name("Jane  Doe"), "J*** D**");
/// assert_eq!(crm_core::model::mask_name("Zoë"), "Z**");
/// ```
pub fn mask_name(name: &str) -> String {
    let words: Vec<String> = name
        .split_whitespace()
        .map(|w| w.chars().enumerate().map(|(i, c)| if i == 0 { c } else { '*' }).collect())
        .collect();
    words.join(" ")
}
