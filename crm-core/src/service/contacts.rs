//! Contacts: people the business deals with.

use chrono::NaiveDate;

use super::Records;
use super::checks::Checks;
use super::import::{Draft, ImportOptions, ImportProgress, Importable};
use super::records::add_new;
use super::uow::Uow;
use crate::error::ImportReport;
use crate::error::{Error, FieldError, FieldErrorCode, Result};
use crate::event::Change;
use crate::ids::{CompanyId, ContactId, UserId};
use crate::macros::new_input;
use crate::macros::new_record;
use crate::model::{Action, Entity};
use crate::model::{Contact, CreditTerms, ExternalRef};
use crate::profile::*;
use crate::query::{Filter, Query};
use crate::value::CustomValues;

new_input! {
    /// Input for a new contact. Emails, phones and the website are given as text and checked
    /// on create; every problem is reported at once, naming the field.
    ///
    /// ```
    /// use crm_core::{service::NewContact, profile::LeadSource, profile::LifecycleStage};
    /// let c = NewContact::new("Ada", "Lovelace")
    ///     .email("ada@analytical.co.uk")
    ///     .phone("+44 20 7946 0958")
    ///     .lead_source(LeadSource::Referral)
    ///     .lifecycle_stage(LifecycleStage::Lead)
    ///     .tag("vip");
    /// # let _ = c;
    /// ```
    #[derive(Clone, Debug, Default, PartialEq)]
    pub struct NewContact {
        /// Given name.
        pub given_name: String => manual,
        /// Family name.
        pub family_name: String => manual,
        /// Email addresses (first = primary; see [`email`](Self::email), [`email_labeled`](Self::email_labeled)).
        pub emails: Vec<(String, EmailLabel)> => manual,
        /// Phone numbers as written (first = primary; see [`phone`](Self::phone), [`phone_labeled`](Self::phone_labeled)).
        pub phones: Vec<(String, PhoneLabel)> => manual,
        /// A postal address.
        pub addresses: Vec<Address> => push address(Address),
        /// Web site.
        pub website: Option<String> => some website(String),
        /// Social profiles (see [`social`](Self::social)).
        pub social_profiles: Vec<SocialProfile> => manual,
        /// Preferred channel.
        pub preferred_channel: Option<Channel> => some preferred_channel(Channel),
        /// Lead source.
        pub lead_source: Option<LeadSource> => some lead_source(LeadSource),
        /// Birthday.
        pub birthday: Option<NaiveDate> => some birthday(NaiveDate),
        /// Important dates (see [`important_date`](Self::important_date)).
        pub important_dates: Vec<ImportantDate> => manual,
        /// Family notes.
        pub family_notes: Option<String> => some family_notes(String),
        /// A hobby.
        pub hobbies: Vec<String> => push hobby(String),
        /// Memberships (see [`membership`](Self::membership)).
        pub memberships: Vec<Membership> => manual,
        /// Marketing consent status and how it was given (see [`consent`](Self::consent)).
        pub consent: Option<(ConsentStatus, ConsentMethod)> => manual,
        /// Lifecycle stage (default: lead).
        pub lifecycle_stage: Option<LifecycleStage> => some lifecycle_stage(LifecycleStage),
        /// Owner.
        pub owner_id: Option<UserId> => some owner(UserId),
        /// Tags.
        pub tags: Vec<String> => push tag(String),
        /// Main company (see also [`works_at`](Self::works_at)).
        pub company_id: Option<CompanyId> => some company(CompanyId),
        /// Job title.
        pub job_title: Option<String> => some job_title(String),
        /// Department.
        pub department: Option<String> => some department(String),
        /// Payment terms and credit limit.
        pub credit_terms: Option<CreditTerms> => some credit_terms(CreditTerms),
        /// Ids in other systems.
        pub external_refs: Vec<ExternalRef> => refs,
        /// Custom field values.
        pub custom: CustomValues => custom,
    }
}

impl NewContact {
    /// A contact with a given and a family name (either may be empty, not both).
    pub fn new(given_name: impl Into<String>, family_name: impl Into<String>) -> Self {
        Self { given_name: given_name.into(), family_name: family_name.into(), ..Default::default() }
    }
    /// Adds a work email.
    pub fn email(self, address: impl Into<String>) -> Self {
        self.email_labeled(address, EmailLabel::Work)
    }
    /// Adds an email with a label.
    pub fn email_labeled(mut self, address: impl Into<String>, label: EmailLabel) -> Self {
        self.emails.push((address.into(), label));
        self
    }
    /// Adds a mobile phone number.
    pub fn phone(self, number: impl Into<String>) -> Self {
        self.phone_labeled(number, PhoneLabel::Mobile)
    }
    /// Adds a phone number with a label.
    pub fn phone_labeled(mut self, number: impl Into<String>, label: PhoneLabel) -> Self {
        self.phones.push((number.into(), label));
        self
    }
    /// Adds a social profile.
    pub fn social(mut self, network: SocialNetwork, handle: impl Into<String>) -> Self {
        self.social_profiles.push(SocialProfile { network, handle: handle.into() });
        self
    }
    /// Adds an important date.
    pub fn important_date(mut self, label: impl Into<String>, date: NaiveDate) -> Self {
        self.important_dates.push(ImportantDate { label: label.into(), date });
        self
    }
    /// Adds a membership.
    pub fn membership(
        mut self,
        organization: impl Into<String>,
        role: Option<String>,
        since: Option<NaiveDate>,
    ) -> Self {
        self.memberships.push(Membership { organization: organization.into(), role, since });
        self
    }
    /// Records marketing consent (stamped with the current time).
    pub fn consent(mut self, status: ConsentStatus, method: ConsentMethod) -> Self {
        self.consent = Some((status, method));
        self
    }
    /// Sets the main company, job title and department.
    pub fn works_at(mut self, company: CompanyId, job_title: Option<&str>, department: Option<&str>) -> Self {
        self.company_id = Some(company);
        self.job_title = job_title.map(str::to_owned);
        self.department = department.map(str::to_owned);
        self
    }
}

/// Normalises a contact and returns every problem with its standard fields.
pub(crate) fn check_contact(c: &mut Contact, today: NaiveDate, ch: &mut Checks) {
    ch.credit_terms(&c.credit_terms);
    ch.external_refs(&mut c.external_refs);
    ch.name("given_name", &mut c.given_name, false);
    ch.name("family_name", &mut c.family_name, false);
    if c.given_name.is_empty() && c.family_name.is_empty() {
        ch.push("given_name", FieldErrorCode::Required, "a contact needs a given or a family name");
    }
    ch.duplicates("emails", &c.emails.iter().map(|e| &e.address).collect::<Vec<_>>());
    ch.duplicates("phones", &c.phones.iter().map(|p| &p.number).collect::<Vec<_>>());
    ch.addresses("addresses", &mut c.addresses);
    for (i, p) in c.social_profiles.iter_mut().enumerate() {
        p.handle = p.handle.trim().to_owned();
        if p.handle.is_empty() {
            ch.push(format!("social_profiles[{i}].handle"), FieldErrorCode::Required, "must not be empty");
        }
    }
    ch.not_future("birthday", c.birthday, today);
    for (i, d) in c.important_dates.iter_mut().enumerate() {
        ch.name(&format!("important_dates[{i}].label"), &mut d.label, true);
    }
    ch.opt_text("family_notes", &mut c.family_notes);
    ch.list("hobbies", &mut c.hobbies, super::checks::MAX_NAME_LEN);
    for (i, m) in c.memberships.iter_mut().enumerate() {
        ch.name(&format!("memberships[{i}].organization"), &mut m.organization, true);
        ch.opt_name(&format!("memberships[{i}].role"), &mut m.role);
    }
    if c.marketing_consent.status != ConsentStatus::Unknown && c.marketing_consent.changed_at.is_none() {
        ch.push("marketing_consent.changed_at", FieldErrorCode::Required, "say when consent was given or withdrawn");
    }
    ch.tags(&mut c.tags);
    ch.opt_name("job_title", &mut c.job_title);
    ch.opt_name("department", &mut c.department);
}

impl Importable for NewContact {
    type Entity = Contact;

    /// The contact as input says, normalised, with every problem with its standard fields.
    fn build(self, uow: &Draft<'_>) -> (Contact, Vec<FieldError>) {
        let input = self;
        let mut ch = Checks::default();
        let emails = ch.emails(&input.emails);
        let phones = ch.phones(&input.phones, uow.default_region());
        let website = input.website.as_deref().and_then(|w| ch.parse("website", w, Website::parse));
        let now = uow.now;
        let marketing_consent = match input.consent {
            Some((status, method)) => MarketingConsent { status, changed_at: Some(now), method: Some(method) },
            None => MarketingConsent::default(),
        };
        let mut contact = new_record!(
            uow.new_id(),
            uow.tenant(),
            now,
            Contact {
                given_name: input.given_name,
                family_name: input.family_name,
                emails,
                phones,
                addresses: input.addresses,
                website,
                social_profiles: input.social_profiles,
                preferred_channel: input.preferred_channel,
                lead_source: input.lead_source,
                birthday: input.birthday,
                important_dates: input.important_dates,
                family_notes: input.family_notes,
                hobbies: input.hobbies,
                memberships: input.memberships,
                marketing_consent,
                lifecycle_stage: input.lifecycle_stage.unwrap_or(LifecycleStage::Lead),
                owner_id: input.owner_id,
                tags: input.tags,
                company_id: input.company_id,
                job_title: input.job_title,
                department: input.department,
                credit_terms: input.credit_terms,
                external_refs: input.external_refs,
                rfm: None,
                custom: input.custom,
            }
        );
        check_contact(&mut contact, now.date_naive(), &mut ch);
        (contact, ch.errs)
    }
}

/// Saves a user's edit of `before` (the stored version): the lifecycle only forward, consent
/// dated when it changes, every field checked, `LifecycleChanged` when the stage moved.
pub(super) async fn save_edit(uow: &mut Uow<'_>, before: Contact, mut contact: Contact) -> Result<Contact> {
    if contact.lifecycle_stage < before.lifecycle_stage {
        return Err(Error::transition(
            "lifecycle_stage",
            before.lifecycle_stage,
            contact.lifecycle_stage,
            "the lifecycle only moves forward; use reset_lifecycle to move it back",
        ));
    }
    if contact.marketing_consent.status != before.marketing_consent.status
        && contact.marketing_consent.changed_at == before.marketing_consent.changed_at
    {
        contact.marketing_consent.changed_at = Some(uow.now);
    }
    // Scores are the analytics' to write.
    contact.rfm.clone_from(&before.rfm);
    let mut ch = Checks::default();
    check_contact(&mut contact, uow.now.date_naive(), &mut ch);
    uow.check_links(&contact, Some(&before), &mut ch.errs).await?;
    let (from, to) = (before.lifecycle_stage, contact.lifecycle_stage);
    let saved = uow.save(&before, contact, ch.errs, &["lifecycle_stage"]).await?;
    if from != to {
        uow.emit(saved.entity_ref(), saved.related(), Change::LifecycleChanged { from, to, reset: false });
    }
    Ok(saved)
}

/// `stored` with what `input` gives (see [`Contacts::apply`]); unreadable emails, phones and
/// web sites are reported in `ch` by the input's field names.
fn merged(
    stored: Contact,
    input: NewContact,
    ch: &mut Checks,
    region: Option<&str>,
    now: chrono::DateTime<chrono::Utc>,
) -> Contact {
    let mut c = stored;
    if !input.given_name.trim().is_empty() {
        c.given_name = input.given_name;
    }
    if !input.family_name.trim().is_empty() {
        c.family_name = input.family_name;
    }
    for email in ch.emails(&input.emails) {
        if !c.emails.iter().any(|e| e.address == email.address) {
            c.emails.push(email);
        }
    }
    for phone in ch.phones(&input.phones, region) {
        if !c.phones.iter().any(|p| p.number == phone.number) {
            c.phones.push(phone);
        }
    }
    if let Some(w) = input.website.as_deref().and_then(|w| ch.parse("website", w, Website::parse)) {
        c.website = Some(w);
    }
    if let Some((status, method)) = input.consent {
        c.marketing_consent = MarketingConsent { status, changed_at: Some(now), method: Some(method) };
    }
    if let Some(stage) = input.lifecycle_stage
        && stage > c.lifecycle_stage
    {
        c.lifecycle_stage = stage;
    }
    add_new(&mut c.addresses, input.addresses);
    add_new(&mut c.social_profiles, input.social_profiles);
    add_new(&mut c.important_dates, input.important_dates);
    add_new(&mut c.hobbies, input.hobbies);
    add_new(&mut c.memberships, input.memberships);
    add_new(&mut c.tags, input.tags);
    add_new(&mut c.external_refs, input.external_refs);
    c.preferred_channel = input.preferred_channel.or(c.preferred_channel);
    c.lead_source = input.lead_source.or(c.lead_source);
    c.birthday = input.birthday.or(c.birthday);
    c.family_notes = input.family_notes.or(c.family_notes);
    c.owner_id = input.owner_id.or(c.owner_id);
    c.company_id = input.company_id.or(c.company_id);
    c.job_title = input.job_title.or(c.job_title);
    c.department = input.department.or(c.department);
    c.credit_terms = input.credit_terms.or(c.credit_terms);
    c.custom.extend(input.custom);
    c
}

/// A new contact from its input, with the problems of its standard fields and references.
async fn draft_contact(uow: &mut Uow<'_>, ch: &mut Checks, input: NewContact) -> Result<Contact> {
    let twin = match uow.s.crm.inner.block_duplicates.clone() {
        Some(rules) => super::duplicates::candidates(uow, &input, &rules).await?.into_iter().next(),
        None => None,
    };
    let (contact, errs) = input.build(&uow.draft());
    ch.errs = errs;
    if let Some(t) = twin {
        let why: Vec<String> = t.matched.iter().map(|m| format!("{m:?}").to_lowercase()).collect();
        ch.push(
            "duplicate_of",
            FieldErrorCode::Duplicate,
            format!("may be contact {} (score {:.2}; same {})", t.id, t.score, why.join(", ")),
        );
    }
    uow.check_links(&contact, None, &mut ch.errs).await?;
    Ok(contact)
}

/// Contacts: people the business deals with. Deleting one deletes the relations at either
/// end of it.
///
/// ```
/// # futures::executor::block_on(async {
/// use crm_core::prelude::*;
/// let crm = Crm::builder(MemoryStore::new()).default_region("US").build()?;
/// let cx = crm.as_actor(&Actor::system(TenantId::new()));
/// let jane = cx.contacts().create(NewContact::new("Jane", "Doe").email("Jane@Acme.com").phone("(415) 555-2671")).await?;
/// assert_eq!(jane.primary_phone().map(|p| p.as_str()), Some("+14155552671"));
/// assert_eq!(cx.contacts().find_by_email("jane@acme.com").await?.map(|c| c.id), Some(jane.id));
/// // The lifecycle only moves forward through an edit; reset_lifecycle moves it anywhere.
/// let mut back = jane.clone();
/// back.lifecycle_stage = LifecycleStage::Subscriber;
/// assert!(matches!(cx.contacts().update(back).await, Err(Error::InvalidTransition { .. })));
/// # Ok::<_, Error>(()) }).unwrap();
/// ```
pub type Contacts<'s> = Records<'s, Contact>;

impl Records<'_, Contact> {
    /// Creates a contact. Emails are syntax-checked, phones normalised to E.164 (numbers
    /// without `+country` need the CRM's default region), custom values type-checked.
    pub async fn create(&self, input: NewContact) -> Result<Contact> {
        self.create_with(|uow, ch| Box::pin(draft_contact(uow, ch, input))).await
    }

    /// Checks `input` exactly as [`create`](Self::create) would (every rule, custom-field
    /// definition and extension check) and writes nothing: `Ok` when create would accept it,
    /// else the error create would return. For previews of an import and for forms.
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// use crm_core::prelude::*;
    /// let crm = Crm::new(MemoryStore::new());
    /// let cx = crm.as_actor(&Actor::system(TenantId::new()));
    /// assert!(cx.contacts().check(NewContact::new("Ada", "Lovelace").email("ada@example.org")).await.is_ok());
    /// assert!(cx.contacts().check(NewContact::new("Ada", "Lovelace").email("not an email")).await.is_err());
    /// assert_eq!(cx.contacts().count(&Filter::All).await?, 0);
    /// # Ok::<_, Error>(()) }).unwrap();
    /// ```
    pub async fn check(&self, input: NewContact) -> Result<()> {
        self.check_with(|uow, ch| Box::pin(draft_contact(uow, ch, input))).await
    }

    /// Imports many contacts in batches, one transaction per batch, reporting progress after
    /// each commit. Each contact is checked as by [`Contacts::create`]; invalid ones are
    /// skipped and listed in the report (or stop the import, see [`ImportOptions`]).
    ///
    /// ```
    /// # use crm_core::prelude::*;
    /// # use crm_core::service::ImportOptions;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<()> {
    /// let crm = Crm::new(MemoryStore::new());
    /// let cx = crm.as_actor(&Actor::system(TenantId::new()));
    /// let rows = (0..1200).map(|i| NewContact::new("Ada", format!("Nr {i}")));
    /// let mut seen = Vec::new();
    /// let report = cx
    ///     .contacts()
    ///     .import(rows, &ImportOptions::default().batch_size(500), |p| seen.push(p.imported))
    ///     .await?;
    /// assert_eq!(report.imported.len(), 1200);
    /// assert_eq!(seen, [500, 1000, 1200]);
    /// # Ok(()) }
    /// ```
    pub async fn import<I, F>(&self, rows: I, options: &ImportOptions, progress: F) -> Result<ImportReport<ContactId>>
    where
        I: IntoIterator<Item = NewContact>,
        I::IntoIter: Send,
        F: FnMut(&ImportProgress) + Send,
    {
        super::import::import(self.s, rows, options, progress).await
    }

    /// Saves changes to a contact read earlier. Fails with [`Error::Conflict`] if it changed
    /// since; the lifecycle stage may only move forward (see [`Contacts::reset_lifecycle`]).
    pub async fn update(&self, contact: Contact) -> Result<Contact> {
        self.write(|uow| {
            Box::pin(async move {
                let before = uow.load_for_update(&contact).await?;
                save_edit(uow, before, contact).await
            })
        })
        .await
    }

    /// Updates contact `id` with what `input` gives, leaving the rest as stored: the names and
    /// single fields it sets replace the stored ones; the emails, phones, addresses, social
    /// profiles, important dates, hobbies, memberships, tags and external ids it lists are
    /// added when new; the custom values it sets replace. A lifecycle stage behind the stored
    /// one is left as stored (the lifecycle only moves forward). Checked as
    /// [`update`](Self::update) checks an edit; an import uses it to update instead of
    /// duplicating.
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// use crm_core::prelude::*;
    /// let crm = Crm::new(MemoryStore::new());
    /// let cx = crm.as_actor(&Actor::system(TenantId::new()));
    /// let ada = cx.contacts().create(NewContact::new("Ada", "Lovelace").email("ada@example.org").tag("math")).await?;
    /// let ada = cx.contacts().apply(ada.id, NewContact::default().email("ada@home.org").tag("vip").tag("math")).await?;
    /// assert_eq!((ada.family_name.as_str(), ada.emails.len(), ada.tags.len()), ("Lovelace", 2, 2));
    /// # Ok::<_, Error>(()) }).unwrap();
    /// ```
    pub async fn apply(&self, id: ContactId, input: NewContact) -> Result<Contact> {
        self.write(|uow| {
            Box::pin(async move {
                let before = uow.load::<Contact>(id, Action::Update).await?;
                let mut ch = Checks::default();
                let region = uow.default_region();
                let contact = merged(before.clone(), input, &mut ch, region, uow.now);
                Error::check(ch.errs)?;
                save_edit(uow, before, contact).await
            })
        })
        .await
    }

    /// Moves the lifecycle stage to any stage, backwards included (e.g. a churned customer
    /// back to lead). Emits `LifecycleChanged` with `reset: true`.
    pub async fn reset_lifecycle(&self, id: ContactId, stage: LifecycleStage) -> Result<Contact> {
        self.change(id, |uow, mut c| {
            Box::pin(async move {
                let from = c.lifecycle_stage;
                if from == stage {
                    return Ok(c);
                }
                c.lifecycle_stage = stage;
                let c = uow.save_system(c).await?;
                uow.emit(c.entity_ref(), c.related(), Change::LifecycleChanged { from, to: stage, reset: true });
                Ok(c)
            })
        })
        .await
    }

    /// The contact with this email address (any of their addresses), if there is one.
    pub async fn find_by_email(&self, email: &str) -> Result<Option<Contact>> {
        let email = Email::parse(email).map_err(|m| Error::invalid("email", FieldErrorCode::InvalidFormat, m))?;
        let page = self.list(&Query::new(Filter::contains("emails", email.as_str())).limit(1)).await?;
        Ok(page.items.into_iter().next())
    }
}
