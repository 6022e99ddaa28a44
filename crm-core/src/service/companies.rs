//! Companies: organisations the business deals with.

use super::Records;
use super::checks::Checks;
use super::import::{Draft, ImportOptions, ImportProgress, Importable};
use super::records::{Guard, add_new};
use super::uow::Uow;
use crate::error::ImportReport;
use crate::error::{Error, FieldError, Result};
use crate::ids::{CompanyId, UserId};
use crate::macros::new_input;
use crate::macros::new_record;
use crate::model::{AccountBalance, Action, Company, CreditTerms, ExternalRef};
use crate::profile::*;
use crate::value::CustomValues;

new_input! {
    /// Input for a new company; domain, phones and website are given as text and checked.
    #[derive(Clone, Debug, Default, PartialEq)]
    pub struct NewCompany {
        /// Name (required).
        pub name: String => manual,
        /// Domain, e.g. `acme.com`.
        pub domain: Option<String> => some domain(String),
        /// Industry.
        pub industry: Option<String> => some industry(String),
        /// Head-count band.
        pub size: Option<CompanySize> => some size(CompanySize),
        /// A postal address.
        pub addresses: Vec<Address> => push address(Address),
        /// Phone numbers as written (first = main; see [`phone`](Self::phone)).
        pub phones: Vec<(String, PhoneLabel)> => manual,
        /// Web site.
        pub website: Option<String> => some website(String),
        /// Owner.
        pub owner_id: Option<UserId> => some owner(UserId),
        /// Tags.
        pub tags: Vec<String> => push tag(String),
        /// Payment terms and credit limit.
        pub credit_terms: Option<CreditTerms> => some credit_terms(CreditTerms),
        /// Registered (legal) name.
        pub legal_name: Option<String> => some legal_name(String),
        /// Tax or VAT number.
        pub tax_id: Option<String> => some tax_id(String),
        /// Where invoices go, as written (checked).
        pub billing_email: Option<String> => some billing_email(String),
        /// Ids in other systems.
        pub external_refs: Vec<ExternalRef> => refs,
        /// What the accounting system says it owes.
        pub account_balance: Option<AccountBalance> => some account_balance(AccountBalance),
        /// Custom field values.
        pub custom: CustomValues => custom,
    }
}

impl NewCompany {
    /// A company with this name.
    pub fn new(name: impl Into<String>) -> Self {
        Self { name: name.into(), ..Default::default() }
    }
    /// Adds a main phone number, as written.
    pub fn phone(mut self, number: impl Into<String>) -> Self {
        self.phones.push((number.into(), PhoneLabel::Main));
        self
    }
}

pub(super) fn check_company(c: &mut Company, ch: &mut Checks) {
    ch.name("name", &mut c.name, true);
    ch.credit_terms(&c.credit_terms);
    ch.opt_name("industry", &mut c.industry);
    ch.addresses("addresses", &mut c.addresses);
    ch.duplicates("phones", &c.phones.iter().map(|p| &p.number).collect::<Vec<_>>());
    ch.tags(&mut c.tags);
    ch.opt_name("legal_name", &mut c.legal_name);
    ch.opt_code("tax_id", &mut c.tax_id);
    ch.external_refs(&mut c.external_refs);
}

impl Importable for NewCompany {
    type Entity = Company;

    fn build(self, uow: &Draft<'_>) -> (Company, Vec<FieldError>) {
        let input = self;
        let mut ch = Checks::default();
        let domain = input.domain.as_deref().and_then(|d| ch.parse("domain", d, Domain::parse));
        let website = input.website.as_deref().and_then(|w| ch.parse("website", w, Website::parse));
        let phones = ch.phones(&input.phones, uow.default_region());
        let billing_email = input.billing_email.as_deref().and_then(|e| ch.parse("billing_email", e, Email::parse));
        let mut company = new_record!(
            uow,
            Company {
                name: input.name,
                domain,
                industry: input.industry,
                size: input.size,
                addresses: input.addresses,
                phones,
                website,
                owner_id: input.owner_id,
                tags: input.tags,
                credit_terms: input.credit_terms,
                legal_name: input.legal_name,
                tax_id: input.tax_id,
                billing_email,
                account_balance: input.account_balance,
                external_refs: input.external_refs,
                custom: input.custom,
            }
        );
        check_company(&mut company, &mut ch);
        (company, ch.errs)
    }
}

/// A new company from its input, with the problems of its standard fields.
async fn draft_company(uow: &mut Uow<'_>, ch: &mut Checks, input: NewCompany) -> Result<Company> {
    let (company, errs) = input.build(&uow.draft());
    ch.errs = errs;
    Ok(company)
}

/// Sets on `c` what `given` (a company built from an input) has: its single fields when set,
/// its list items when new, its custom values.
fn overlay(c: &mut Company, given: Company, keep_name: bool) {
    if !keep_name {
        c.name = given.name;
    }
    macro_rules! set {
        ($($f:ident),*) => {$( if given.$f.is_some() { c.$f = given.$f; } )*};
    }
    set!(domain, industry, size, website, owner_id, credit_terms, legal_name, tax_id, billing_email, account_balance);
    for p in given.phones {
        if !c.phones.iter().any(|q| q.number == p.number) {
            c.phones.push(p);
        }
    }
    add_new(&mut c.addresses, given.addresses);
    add_new(&mut c.tags, given.tags);
    add_new(&mut c.external_refs, given.external_refs);
    c.custom.extend(given.custom);
}

/// Companies: organisations the business deals with. Deleting one deletes the relations at
/// either end of it; contacts, deals and documents keep its id.
///
/// ```
/// # futures::executor::block_on(async {
/// use crm_core::prelude::*;
/// let crm = Crm::builder(MemoryStore::new()).default_region("GB").build()?;
/// let cx = crm.as_actor(&Actor::system(TenantId::new()));
/// let acme = cx.companies().create(NewCompany::new("Acme Ltd").domain("acme.co.uk").phone("020 7946 0958")).await?;
/// assert_eq!(acme.phones[0].number.as_str(), "+442079460958");
/// let mut renamed = acme.clone();
/// renamed.name = "Acme Group".into();
/// assert_eq!(cx.companies().update(renamed).await?.version, 2);
/// # Ok::<_, Error>(()) }).unwrap();
/// ```
pub type Companies<'s> = Records<'s, Company>;

impl Records<'_, Company> {
    /// Creates a company.
    pub async fn create(&self, input: NewCompany) -> Result<Company> {
        self.create_with(|uow, ch| Box::pin(draft_company(uow, ch, input))).await
    }

    /// Checks `input` exactly as [`create`](Self::create) would, writing nothing: `Ok` when
    /// it would be created, else the same error.
    pub async fn check(&self, input: NewCompany) -> Result<()> {
        self.check_with(|uow, ch| Box::pin(draft_company(uow, ch, input))).await
    }

    /// Updates company `id` with what `input` gives, leaving the rest as stored: a name, when
    /// not empty, and the single fields it sets replace the stored ones; the addresses, phones,
    /// tags and external ids it lists are added when new; the custom values it sets replace.
    /// Checked as [`update`](Self::update) checks an edit; an import uses it to update instead
    /// of duplicating.
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// use crm_core::prelude::*;
    /// let crm = Crm::new(MemoryStore::new());
    /// let cx = crm.as_actor(&Actor::system(TenantId::new()));
    /// let acme = cx.companies().create(NewCompany::new("Acme").domain("acme.com").tag("b2b")).await?;
    /// let acme = cx.companies().apply(acme.id, NewCompany::default().industry("Tools").tag("vip")).await?;
    /// assert_eq!((acme.name.as_str(), acme.industry.as_deref(), acme.tags.len()), ("Acme", Some("Tools"), 2));
    /// # Ok::<_, Error>(()) }).unwrap();
    /// ```
    pub async fn apply(&self, id: CompanyId, input: NewCompany) -> Result<Company> {
        self.write(|uow| {
            Box::pin(async move {
                let before = uow.load::<Company>(id, Action::Update).await?;
                let keep_name = input.name.trim().is_empty();
                let (given, mut errs) = input.build(&uow.draft());
                if keep_name {
                    errs.retain(|e| e.field != "name");
                }
                Error::check(errs)?;
                let mut c = before.clone();
                overlay(&mut c, given, keep_name);
                let mut ch = Checks::default();
                check_company(&mut c, &mut ch);
                uow.save(&before, c, ch.errs, &[]).await
            })
        })
        .await
    }

    /// Imports many companies in batches, one transaction per batch, reporting progress after
    /// each commit (see [`Contacts::import`](super::Contacts::import)).
    pub async fn import<I, F>(&self, rows: I, options: &ImportOptions, progress: F) -> Result<ImportReport<CompanyId>>
    where
        I: IntoIterator<Item = NewCompany>,
        I::IntoIter: Send,
        F: FnMut(&ImportProgress) + Send,
    {
        super::import::import(self.s, rows, options, progress).await
    }

    /// Saves changes to a company read earlier ([`Error::Conflict`](crate::error::Error::Conflict) if it changed since).
    pub async fn update(&self, company: Company) -> Result<Company> {
        self.update_with(company, &Guard::NONE, &[], |_, _, company, ch| {
            Box::pin(async move {
                check_company(company, ch);
                Ok(())
            })
        })
        .await
    }
}
