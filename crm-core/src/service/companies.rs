use super::Session;
use super::checks::Checks;
use super::import::{Draft, ImportOptions, ImportProgress, ImportReport, Importable};
use super::uow::Uow;
use super::uow::{count, delete, list};
use crate::entity::EntityRef;
use crate::error::{FieldError, Result};
use crate::ids::{CompanyId, UserId};
use crate::model::Company;
use crate::profile::*;
use crate::query::{Filter, Page, Query};
use crate::value::{CustomFields, Value};

/// Input for a new company; domain, phones and website are given as text and checked.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NewCompany {
    /// Name (required).
    pub name: String,
    /// Domain, e.g. `acme.com`.
    pub domain: Option<String>,
    /// Industry.
    pub industry: Option<String>,
    /// Head-count band.
    pub size: Option<CompanySize>,
    /// Addresses.
    pub addresses: Vec<Address>,
    /// Phone numbers as written (first = main).
    pub phones: Vec<(String, PhoneLabel)>,
    /// Web site.
    pub website: Option<String>,
    /// Owner.
    pub owner_id: Option<UserId>,
    /// Tags.
    pub tags: Vec<String>,
    /// Payment terms and credit limit.
    pub credit_terms: Option<crate::model::CreditTerms>,
    /// Registered (legal) name.
    pub legal_name: Option<String>,
    /// Tax or VAT number.
    pub tax_id: Option<String>,
    /// Where invoices go, as written (checked).
    pub billing_email: Option<String>,
    /// Ids in other systems.
    pub external_refs: Vec<crate::model::ExternalRef>,
    /// What the accounting system says it owes.
    pub account_balance: Option<crate::model::AccountBalance>,
    /// Custom field values.
    pub custom: CustomFields,
}

impl NewCompany {
    /// A company with this name.
    pub fn new(name: impl Into<String>) -> Self {
        Self { name: name.into(), ..Default::default() }
    }
    /// Sets the domain.
    pub fn domain(mut self, domain: impl Into<String>) -> Self {
        self.domain = Some(domain.into());
        self
    }
    /// Sets the industry.
    pub fn industry(mut self, industry: impl Into<String>) -> Self {
        self.industry = Some(industry.into());
        self
    }
    /// Sets the size band.
    pub fn size(mut self, size: CompanySize) -> Self {
        self.size = Some(size);
        self
    }
    /// Adds an address.
    pub fn address(mut self, address: Address) -> Self {
        self.addresses.push(address);
        self
    }
    /// Adds a main phone number.
    pub fn phone(mut self, number: impl Into<String>) -> Self {
        self.phones.push((number.into(), PhoneLabel::Main));
        self
    }
    /// Sets the web site.
    pub fn website(mut self, url: impl Into<String>) -> Self {
        self.website = Some(url.into());
        self
    }
    /// Sets the owner.
    pub fn owner(mut self, user: UserId) -> Self {
        self.owner_id = Some(user);
        self
    }
    /// Adds a tag.
    pub fn tag(mut self, tag: impl Into<String>) -> Self {
        self.tags.push(tag.into());
        self
    }
    /// Sets payment terms and credit limit.
    pub fn credit_terms(mut self, terms: crate::model::CreditTerms) -> Self {
        self.credit_terms = Some(terms);
        self
    }
    /// Sets the registered (legal) name.
    pub fn legal_name(mut self, name: impl Into<String>) -> Self {
        self.legal_name = Some(name.into());
        self
    }
    /// Sets the tax or VAT number.
    pub fn tax_id(mut self, id: impl Into<String>) -> Self {
        self.tax_id = Some(id.into());
        self
    }
    /// Sets the billing email address.
    pub fn billing_email(mut self, address: impl Into<String>) -> Self {
        self.billing_email = Some(address.into());
        self
    }
    /// Adds an id in another system.
    pub fn external_ref(mut self, system: impl Into<String>, id: impl Into<String>) -> Self {
        self.external_refs.push(crate::model::ExternalRef::new(system, id));
        self
    }
    /// Sets a custom field value.
    pub fn custom(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.custom.insert(key.into(), value.into());
        self
    }
}

fn check_company(c: &mut Company, ch: &mut Checks) {
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
        let mut company = Company {
            id: uow.new_id(),
            tenant_id: uow.tenant(),
            version: 1,
            created_at: uow.now,
            updated_at: uow.now,
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
        };
        check_company(&mut company, &mut ch);
        (company, ch.errs)
    }

    fn refs(_: &Company) -> Vec<(String, EntityRef)> {
        Vec::new()
    }
}

/// Companies: organisations the business deals with.
#[derive(Clone, Copy, Debug)]
pub struct Companies<'s> {
    pub(crate) s: &'s Session,
}

impl Companies<'_> {
    /// Creates a company.
    pub async fn create(&self, input: NewCompany) -> Result<Company> {
        let mut uow = Uow::write(self.s).await?;
        let (company, errs) = input.build(&uow.draft());
        let company = uow.create(company, errs).await?;
        uow.commit().await?;
        Ok(company)
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

    /// The company with this id.
    pub async fn get(&self, id: CompanyId) -> Result<Company> {
        Uow::read(self.s).await?.tx.require::<Company>(id).await
    }

    /// Saves changes to a company read earlier ([`Error::Conflict`](crate::Error::Conflict) if it changed since).
    pub async fn update(&self, mut company: Company) -> Result<Company> {
        let mut uow = Uow::write(self.s).await?;
        let before = uow.load_for_update(&company).await?;
        let mut ch = Checks::default();
        check_company(&mut company, &mut ch);
        let saved = uow.save(&before, company, ch.errs, &[]).await?;
        uow.commit().await?;
        Ok(saved)
    }

    /// Deletes a company at `version`, with its relations.
    pub async fn delete(&self, id: CompanyId, version: u64) -> Result<()> {
        delete::<Company>(self.s, id, version).await
    }

    /// A page of companies.
    pub async fn list(&self, query: &Query) -> Result<Page<Company>> {
        list::<Company>(self.s, query).await
    }

    /// How many companies match.
    pub async fn count(&self, filter: &Filter) -> Result<u64> {
        count::<Company>(self.s, filter).await
    }
}
