use serde::{Deserialize, Serialize};

use crate::ids::{CompanyId, UserId};
use crate::macros::record;
use crate::model::{impl_entity, text_list};
use crate::profile::*;
use crate::value::CustomValues;

record! {
    /// An organisation: a customer, prospect, partner or supplier.
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
    pub struct Company(CompanyId) {
        /// Name (required).
        pub name: String,
        /// Internet domain, e.g. `acme.com`.
        pub domain: Option<Domain>,
        /// Industry, free text (e.g. "Real estate").
        pub industry: Option<String>,
        /// Head-count band.
        pub size: Option<CompanySize>,
        /// Postal addresses.
        pub addresses: Vec<Address>,
        /// Phone numbers in E.164; the first is the main one.
        pub phones: Vec<PhoneEntry>,
        /// Web site.
        pub website: Option<Website>,
        /// The user who owns the account.
        pub owner_id: Option<UserId>,
        /// Free tags (trimmed, unique).
        pub tags: Vec<String>,
        /// Payment terms and credit limit (usually owned by the accounting system).
        #[serde(default)]
        pub credit_terms: Option<crate::model::CreditTerms>,
        /// The registered (legal) name, when it differs from the trading name (owned by accounting).
        #[serde(default)]
        pub legal_name: Option<String>,
        /// Tax or VAT number (owned by accounting).
        #[serde(default)]
        pub tax_id: Option<String>,
        /// Where invoices go.
        #[serde(default)]
        pub billing_email: Option<Email>,
        /// What the accounting system says the company owes (owned by accounting; read-only here).
        #[serde(default)]
        pub account_balance: Option<crate::model::AccountBalance>,
        /// Ids in other systems (e.g. the accounting package's contact id); unique per tenant.
        #[serde(default)]
        pub external_refs: Vec<crate::model::ExternalRef>,
        /// Custom field values.
        #[cfg_attr(feature = "openapi", schema(value_type = std::collections::BTreeMap<String, crate::value::FieldValue>))]
        pub custom: CustomValues,
    }
}

impl_entity! {
    Company, CompanyId, Company, custom: true;
    owner: owner_id;
    unique: |c| crate::model::external_keys(&c.external_refs);
    fields {
        "name": Text => |c| c.name.clone(),
        "domain": Text => |c| c.domain.as_ref().map(|d| d.as_str().to_owned()),
        "industry": Text => |c| c.industry.clone(),
        "size": Text => |c| c.size,
        "phone": Text => |c| c.phones.first().map(|p| p.number.as_str().to_owned()),
        "city": Text => |c| c.addresses.first().and_then(|a| a.city.clone()),
        "country": Text => |c| c.addresses.first().and_then(|a| a.country.clone()),
        "owner_id": Id => |c| c.owner_id,
        "tags": TextList => |c| text_list(c.tags.iter().map(String::as_str)),
        "tax_id": Text => |c| c.tax_id.clone(),
        "billing_email": Text => |c| c.billing_email.as_ref().map(|e| e.as_str().to_owned()),
        "external_refs": TextList => |c| crate::model::external_list(&c.external_refs),
    }
}
