use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::entity::{EntityKind, Links};
use crate::ids::{CompanyId, ContactId, UserId};
use crate::macros::record;
use crate::model::{impl_entity, text_list};
use crate::profile::*;
use crate::value::CustomValues;

record! {
    /// A person the business deals with, with the full profile a CRM records.
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
    pub struct Contact(ContactId) {
        /// Given (first) name. At least one of given and family name is required.
        pub given_name: String,
        /// Family (last) name.
        pub family_name: String,
        /// Email addresses; the first is the primary one.
        pub emails: Vec<EmailEntry>,
        /// Phone numbers in E.164; the first is the primary one.
        pub phones: Vec<PhoneEntry>,
        /// Postal addresses.
        pub addresses: Vec<Address>,
        /// Personal or professional web site.
        pub website: Option<Website>,
        /// Social network profiles.
        pub social_profiles: Vec<SocialProfile>,
        /// How they prefer to be contacted.
        pub preferred_channel: Option<Channel>,
        /// How they found us.
        pub lead_source: Option<LeadSource>,
        /// Birthday.
        pub birthday: Option<NaiveDate>,
        /// Other dates worth remembering.
        pub important_dates: Vec<ImportantDate>,
        /// Notes about family (partner, children, pets…).
        pub family_notes: Option<String>,
        /// Hobbies and interests.
        pub hobbies: Vec<String>,
        /// Clubs, associations, loyalty programmes.
        pub memberships: Vec<Membership>,
        /// Marketing consent.
        pub marketing_consent: MarketingConsent,
        /// Where they are in the customer lifecycle.
        pub lifecycle_stage: LifecycleStage,
        /// The user who owns the relationship.
        pub owner_id: Option<UserId>,
        /// Free tags (trimmed, unique).
        pub tags: Vec<String>,
        /// Their main company (more companies through [`Relation`](crate::model::Relation)s).
        pub company_id: Option<CompanyId>,
        /// Job title at the main company.
        pub job_title: Option<String>,
        /// Department at the main company.
        pub department: Option<String>,
        /// Payment terms and credit limit (usually owned by the accounting system).
        #[serde(default)]
        pub credit_terms: Option<crate::model::CreditTerms>,
        /// Ids in other systems (e.g. the accounting package's customer id); unique per tenant.
        #[serde(default)]
        pub external_refs: Vec<crate::model::ExternalRef>,
        /// RFM scores and segment, written by the analytics' scoring (an edit leaves them as
        /// stored); `None` until the contact is scored, and while they have bought nothing in
        /// the window last scored.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub rfm: Option<crate::model::Rfm>,
        /// Custom field values.
        #[cfg_attr(feature = "openapi", schema(value_type = std::collections::BTreeMap<String, crate::value::FieldValue>))]
        pub custom: CustomValues,
    }
}

impl Contact {
    /// "Given Family", trimmed.
    pub fn full_name(&self) -> String {
        format!("{} {}", self.given_name, self.family_name).trim().to_owned()
    }

    /// The primary email address.
    pub fn primary_email(&self) -> Option<&Email> {
        self.emails.first().map(|e| &e.address)
    }

    /// The primary phone number.
    pub fn primary_phone(&self) -> Option<&PhoneNumber> {
        self.phones.first().map(|p| &p.number)
    }
}

impl_entity! {
    Contact, ContactId, Contact, custom: true;
    owner: owner_id;
    links: |c| Links::default().one("company_id", EntityKind::Company, c.company_id);
    unique: |c| crate::model::external_keys(&c.external_refs);
    fields {
        "given_name": Text => |c| c.given_name.clone(),
        "family_name": Text => |c| c.family_name.clone(),
        "email": Text => |c| c.primary_email().map(|e| e.as_str().to_owned()),
        "emails": TextList => |c| text_list(c.emails.iter().map(|e| e.address.as_str())),
        "phone": Text => |c| c.primary_phone().map(|p| p.as_str().to_owned()),
        "phones": TextList => |c| text_list(c.phones.iter().map(|p| p.number.as_str())),
        "city": Text => |c| c.addresses.first().and_then(|a| a.city.clone()),
        "country": Text => |c| c.addresses.first().and_then(|a| a.country.clone()),
        "preferred_channel": Text => |c| c.preferred_channel,
        "lead_source": Text => |c| c.lead_source,
        "birthday": Date => |c| c.birthday,
        "consent_status": Text => |c| c.marketing_consent.status,
        "lifecycle_stage": Text => |c| c.lifecycle_stage,
        "owner_id": Id => |c| c.owner_id,
        "tags": TextList => |c| text_list(c.tags.iter().map(String::as_str)),
        "company_id": Id => |c| c.company_id,
        "job_title": Text => |c| c.job_title.clone(),
        "department": Text => |c| c.department.clone(),
        "external_refs": TextList => |c| crate::model::external_list(&c.external_refs),
        "rfm_recency": Int => |c| c.rfm.as_ref().map(|r| i64::from(r.recency)),
        "rfm_frequency": Int => |c| c.rfm.as_ref().map(|r| i64::from(r.frequency)),
        "rfm_monetary": Int => |c| c.rfm.as_ref().map(|r| i64::from(r.monetary)),
        "rfm_code": Text => |c| c.rfm.as_ref().map(crate::model::Rfm::code),
        "rfm_segment": Text => |c| c.rfm.as_ref().map(|r| r.segment),
        "rfm_scored_at": DateTime => |c| c.rfm.as_ref().map(|r| r.scored_at),
    }
}
