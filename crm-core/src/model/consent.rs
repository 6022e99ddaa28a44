//! The consent ledger: every change of a person's consent, per purpose, with who recorded it,
//! when, how and from where. Entries are history: never edited, never deleted (but by the
//! erasure of the person).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::entity::{EntityKind, Links};
use crate::ids::{ConsentId, ContactId, UserId};
use crate::macros::{record, str_enum};
use crate::model::{CampaignChannel, impl_entity};
use crate::profile::{ConsentMethod, ConsentStatus};

str_enum! {
    /// What a person consents to (or refuses). A contact's
    /// [`marketing_consent`](crate::model::Contact::marketing_consent) is their consent to
    /// [`MarketingEmail`](Self::MarketingEmail), kept in step with the ledger.
    #[non_exhaustive]
    pub enum ConsentPurpose {
        /** Marketing by email (newsletters, campaigns). */ MarketingEmail = "marketing_email",
        /** Marketing by text message. */ MarketingSms = "marketing_sms",
        /** Marketing by phone call. */ MarketingPhone = "marketing_phone",
        /** Marketing by post. */ MarketingMail = "marketing_mail",
        /** Profiling: scores, segments and propensities computed about them. */ Profiling = "profiling",
        /** Sharing their data with third parties (advertising audiences, partners). */ ThirdParty = "third_party",
    }
}

impl ConsentPurpose {
    /// The consent a campaign over `channel` needs from each member: email, social, event
    /// and other campaigns need [`MarketingEmail`](Self::MarketingEmail) (the general
    /// marketing consent), paid-ads audiences [`ThirdParty`](Self::ThirdParty).
    pub fn for_channel(channel: CampaignChannel) -> ConsentPurpose {
        match channel {
            CampaignChannel::Sms => ConsentPurpose::MarketingSms,
            CampaignChannel::Phone => ConsentPurpose::MarketingPhone,
            CampaignChannel::DirectMail => ConsentPurpose::MarketingMail,
            CampaignChannel::Ads => ConsentPurpose::ThirdParty,
            _ => ConsentPurpose::MarketingEmail,
        }
    }
}

record! {
    /// One entry of the consent ledger: a person gave, refused or withdrew consent to one
    /// purpose. The latest entry per purpose is their consent now.
    #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
    pub struct Consent(ConsentId) {
        /// The person.
        pub contact_id: ContactId,
        /// What it is about.
        pub purpose: ConsentPurpose,
        /// Granted, denied or withdrawn (or back to unknown).
        pub status: ConsentStatus,
        /// How it was given or withdrawn.
        pub method: ConsentMethod,
        /// Where: the form, the campaign's unsubscribe link, the import file…
        pub source: Option<String>,
        /// When the person gave or withdrew it (at or before it was recorded).
        pub given_at: DateTime<Utc>,
        /// The user who recorded it (None for the system, an import or an integration).
        pub recorded_by: Option<UserId>,
    }
}

impl_entity! {
    Consent, ConsentId, Consent, custom: false;
    links: |c| Links::default().one("contact_id", EntityKind::Contact, Some(c.contact_id));
    deletable: |_c| Err(crate::error::Error::invalid(
        "id",
        crate::error::FieldErrorCode::Rule,
        "the consent ledger is history: its entries are never deleted (erasing the person removes them)",
    ));
    fields {
        "contact_id": Id => |c| Some(c.contact_id),
        "purpose": Text => |c| c.purpose,
        "status": Text => |c| c.status,
        "method": Text => |c| c.method,
        "given_at": DateTime => |c| c.given_at,
        "recorded_by": Id => |c| c.recorded_by,
    }
}
