//! The CRM record an accounting customer is paired with: a company, or a person without one.

use crm_core::{
    entity::EntityKind, entity::EntityRef, ids::CompanyId, ids::ContactId, model::AccountBalance, model::Company,
    model::Contact, model::CreditTerms, model::Entity, model::ExternalRef, profile::Address, profile::AddressLabel,
    profile::Email, profile::EmailEntry, profile::EmailLabel, profile::PhoneEntry, profile::PhoneLabel,
    profile::PhoneNumber, service::Session,
};

use super::RemoteCustomer;

/// A company, or a contact who buys on their own account.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Party {
    Company(Company),
    Contact(Contact),
}

fn set_phone(phones: &mut Vec<PhoneEntry>, value: &Option<String>, label: PhoneLabel) {
    match (value.as_deref().and_then(|v| PhoneNumber::parse(v, None).ok()), phones.is_empty()) {
        (Some(n), true) => phones.push(PhoneEntry { number: n, label }),
        (Some(n), false) => phones[0].number = n,
        (None, false) => {
            phones.remove(0);
        }
        (None, true) => {}
    }
}

/// Replaces the billing address (or adds one), keeping the others.
fn set_billing_address(addresses: &mut Vec<Address>, billing: Address) {
    match addresses.iter_mut().find(|a| a.label == Some(AddressLabel::Billing)) {
        Some(a) => *a = billing,
        None => addresses.push(billing),
    }
}

impl Party {
    /// Loads the record a link points at (None when it is gone or not a customer kind).
    pub(crate) async fn load(cx: &Session, r: EntityRef) -> crm_core::error::Result<Option<Party>> {
        let found = match r.kind {
            EntityKind::Company => cx.companies().get(CompanyId::from_uuid(r.id)).await.map(Party::Company),
            EntityKind::Contact => cx.contacts().get(ContactId::from_uuid(r.id)).await.map(Party::Contact),
            _ => return Ok(None),
        };
        match found {
            Ok(p) => Ok(Some(p)),
            Err(crm_core::error::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub(crate) fn entity_ref(&self) -> EntityRef {
        match self {
            Party::Company(c) => c.entity_ref(),
            Party::Contact(c) => c.entity_ref(),
        }
    }

    pub(crate) fn version(&self) -> u64 {
        match self {
            Party::Company(c) => c.version,
            Party::Contact(c) => c.version,
        }
    }

    pub(crate) fn external_refs(&self) -> &[ExternalRef] {
        match self {
            Party::Company(c) => &c.external_refs,
            Party::Contact(c) => &c.external_refs,
        }
    }

    pub(crate) fn add_external_ref(&mut self, r: ExternalRef) {
        let refs = match self {
            Party::Company(c) => &mut c.external_refs,
            Party::Contact(c) => &mut c.external_refs,
        };
        if !refs.contains(&r) {
            refs.push(r);
        }
    }

    /// The name a new customer gets there.
    pub(crate) fn remote_name(&self) -> String {
        match self {
            Party::Company(c) => c.legal_name.clone().unwrap_or_else(|| c.name.clone()),
            Party::Contact(c) => format!("{} {}", c.given_name, c.family_name).trim().to_owned(),
        }
    }

    /// A shared field's value here (`billing_email`, `phone`), normalised.
    pub(crate) fn shared(&self, field: &str) -> Option<String> {
        match (self, field) {
            (Party::Company(c), "billing_email") => c.billing_email.as_ref().map(|e| e.as_str().to_owned()),
            (Party::Contact(c), "billing_email") => c.primary_email().map(|e| e.as_str().to_owned()),
            (Party::Company(c), "phone") => c.phones.first().map(|p| p.number.as_str().to_owned()),
            (Party::Contact(c), "phone") => c.primary_phone().map(|p| p.as_str().to_owned()),
            _ => None,
        }
    }

    pub(crate) fn set_shared(&mut self, field: &str, value: &Option<String>) {
        let email = value.as_deref().and_then(|v| Email::parse(v).ok());
        match (self, field) {
            (Party::Company(c), "billing_email") => c.billing_email = email,
            (Party::Contact(c), "billing_email") => match (email, c.emails.is_empty()) {
                (Some(e), true) => c.emails.push(EmailEntry { address: e, label: EmailLabel::Work }),
                (Some(e), false) => {
                    // A new primary address; the old one stays as a secondary one if it differs.
                    c.emails.retain(|x| x.address != e);
                    c.emails.insert(0, EmailEntry { address: e, label: EmailLabel::Work });
                }
                (None, false) => {
                    c.emails.remove(0);
                }
                (None, true) => {}
            },
            (Party::Company(c), "phone") => set_phone(&mut c.phones, value, PhoneLabel::Main),
            (Party::Contact(c), "phone") => set_phone(&mut c.phones, value, PhoneLabel::Work),
            _ => {}
        }
    }

    /// Overwrites what accounting owns: legal name, tax id (companies), billing address,
    /// payment terms (the CRM's credit limit kept), balance (companies), the external reference.
    pub(crate) fn take_owned(&mut self, system: &str, rc: &RemoteCustomer, balance: Option<AccountBalance>) {
        let terms = |t: Option<CreditTerms>| match rc.net_days {
            Some(days) => Some(CreditTerms { net_days: days, credit_limit: t.and_then(|t| t.credit_limit) }),
            None => t,
        };
        match self {
            Party::Company(c) => {
                c.legal_name = rc.legal_name.clone();
                // Set, never cleared from here: QuickBooks masks the tax id it returns.
                if rc.tax_id.is_some() {
                    c.tax_id = rc.tax_id.clone();
                }
                if let Some(a) = &rc.billing_address {
                    set_billing_address(&mut c.addresses, a.clone());
                }
                c.credit_terms = terms(c.credit_terms);
                if balance.is_some() {
                    c.account_balance = balance;
                }
            }
            Party::Contact(c) => {
                if let Some(a) = &rc.billing_address {
                    set_billing_address(&mut c.addresses, a.clone());
                }
                c.credit_terms = terms(c.credit_terms);
            }
        }
        self.add_external_ref(ExternalRef::new(system, rc.id.clone()));
    }

    /// Saves it through the CRM's own rules.
    pub(crate) async fn save(self, cx: &Session) -> crm_core::error::Result<Party> {
        match self {
            Party::Company(c) => cx.companies().update(c).await.map(Party::Company),
            Party::Contact(c) => cx.contacts().update(c).await.map(Party::Contact),
        }
    }
}
