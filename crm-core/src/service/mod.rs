//! The service API an application embeds: [`Crm`], [`Session`] and the per-entity services.

mod access;
mod activities;
mod any_record;
mod api_keys;
mod audit;
mod campaigns;
mod case_replies;
mod cases;
mod checks;
mod companies;
mod consents;
mod contacts;
mod custom_fields;
mod deals;
mod duplicates;
mod erasure;
pub mod extension;
mod feedback;
mod field_patch;
pub use field_patch::{UPDATABLE, derived};
mod field_security;
mod import;
mod invoices;
mod lines;
mod merge;
mod mirror;
mod notifications;
mod orders;
mod payments;
mod pipelines;
mod portal;
mod privacy;
mod products;
pub(crate) mod records;
mod relations;
mod retention;
mod roles;
mod scores;
#[cfg(feature = "seal")]
mod sealing;
mod segments;
mod shares;
mod subject_access;
mod sync;
mod teams;
mod text_query;
mod threads;
mod timeline;
mod uow;
mod users;
mod workflow_runs;
mod workflow_timers;
mod workflows;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

pub use activities::{Activities, NewActivity, NewParticipant};
pub use api_keys::{ApiKeys, KEY_RECHECK, NewApiKey};
pub use audit::{Audit, AuditEntry};
pub use campaigns::{CampaignResults, Campaigns, NewCampaign};
pub use case_replies::{MAX_REPLY_CHARS, NewReply};
pub use cases::{Cases, NewCase};
pub use companies::{Companies, NewCompany};
pub use consents::{Consents, NewConsent};
pub use contacts::{Contacts, NewContact};
pub use custom_fields::CustomFields;
pub use deals::{Deals, NewDeal, PipelineReport, StageSummary};
pub use duplicates::{
    Blanks, Comparison, DuplicateCandidate, DuplicatePair, DuplicateRules, DuplicateScan, MatchField, MatchRule,
};
pub use feedback::{Feedbacks, NewFeedback};
pub use import::{ImportOptions, ImportProgress};
pub use invoices::{Invoices, NewInvoice};
pub use merge::{MAX_MERGED, MergeChoices, MergeOutcome, UNMERGE_WINDOW_DAYS};
pub use mirror::{ExternalInvoice, ExternalPayment, MirrorOutcome};
pub use notifications::{MAX_MESSAGE_CHARS, NewNotification, Notifications};
pub use orders::{NewOrder, Orders};
pub use payments::{NewPayment, Payments};
pub use pipelines::{NewPipeline, NewStage, Pipelines};
pub use portal::{LinkRequest, MAX_OPEN_LINKS, Portal, SIGN_IN_LINK_TTL, SignInLink};
pub use privacy::Privacy;
pub use products::{NewProduct, Products};
pub use records::Records;
pub use relations::Relations;
pub use retention::RetentionPolicy;
pub use roles::{NewRole, Roles};
pub use scores::MAX_SCORES_PER_CALL;
pub use segments::{NewSegment, Segments};
pub use shares::{NewShare, Shares};
pub use subject_access::SubjectAccess;
pub use sync::{LinkInput, Resolution, SyncRecords};
pub use teams::{NewTeam, Teams};
pub use threads::MISSING_PARENT_WINDOW_DAYS;
pub use timeline::{Customer360, CustomerRef, CustomerSummary, TimelineItem};
pub use users::{NewUser, Users};
pub use workflow_runs::{RunStep, is_logged};
pub use workflow_timers::NewTimer;
pub use workflows::{MAX_POOL, MAX_STEPS, NewWorkflow, TASK_KINDS, WATCHED_KINDS, Workflows};

use crate::actor::Actor;
use crate::error::{Error, FieldErrorCode, Result};
use crate::event::{EventQuery, StoredEvent};
use crate::ids::{Clock, IdGenerator, SystemClock, TenantId, UuidV7Generator};
use crate::model::{SlaPolicy, valid_key};
use crate::service::extension::Extension;
use crate::store::Store;

pub(crate) struct Inner {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) ids: Arc<dyn IdGenerator>,
    pub(crate) extensions: Vec<Arc<dyn Extension>>,
    pub(crate) default_region: Option<String>,
    pub(crate) sla: SlaPolicy,
    pub(crate) block_duplicates: Option<DuplicateRules>,
    /// The roles each extension acts with (an extension not named here is unrestricted).
    pub(crate) extension_roles: HashMap<String, Vec<String>>,
    /// Bumped by every commit that changes users, teams, roles or shares: sessions resolved
    /// in an earlier epoch resolve their access again.
    pub(crate) access_epoch: std::sync::atomic::AtomicU64,
    /// The API keys verified lately (see [`Crm::authenticate`]).
    pub(crate) keys: api_keys::KeyCache,
    /// The sealing store, when sensitive fields are sealed (it is `store` too).
    #[cfg(feature = "seal")]
    pub(crate) sealed: Option<Arc<crate::seal::SealedStore>>,
}

/// The CRM: a store plus the rules. Cheap to clone; share it across tasks.
///
/// ```
/// # futures::executor::block_on(async {
/// use crm_core::{actor::Actor, service::Crm, memory::MemoryStore, service::NewContact, service::NewDeal, ids::TenantId, money::Money, money::Currency};
/// use rust_decimal::Decimal;
///
/// let crm = Crm::new(MemoryStore::new());
/// let cx = crm.as_actor(&Actor::system(TenantId::new()));
/// let jane = cx.contacts().create(NewContact::new("Jane", "Doe").email("jane@acme.com")).await?;
/// let deal = cx.deals().create(
///     NewDeal::new("Acme rollout").amount(Money::new(Decimal::new(12_000, 0), Currency::EUR)).contact(jane.id),
/// ).await?;
/// let pipeline = cx.pipelines().default_pipeline().await?;
/// let proposal = pipeline.stage_named("Proposal").unwrap().id;
/// let deal = cx.deals().move_to_stage(deal.id, proposal).await?;
/// assert_eq!(deal.stage_history.len(), 2);
/// // Being on an open deal made Jane an opportunity.
/// assert_eq!(cx.contacts().get(jane.id).await?.lifecycle_stage, crm_core::profile::LifecycleStage::Opportunity);
/// # Ok::<_, crm_core::error::Error>(()) }).unwrap();
/// ```
#[derive(Clone)]
pub struct Crm {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Crm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Crm")
            .field("extensions", &self.inner.extensions.iter().map(|e| e.id().to_owned()).collect::<Vec<_>>())
            .field("default_region", &self.inner.default_region)
            .finish_non_exhaustive()
    }
}

impl Crm {
    /// A CRM over `store` with the system clock, UUIDv7 ids and no extensions.
    pub fn new(store: impl Store) -> Crm {
        Crm {
            inner: Arc::new(Inner {
                store: Arc::new(store),
                clock: Arc::new(SystemClock),
                ids: Arc::new(UuidV7Generator),
                extensions: Vec::new(),
                default_region: None,
                sla: SlaPolicy::default(),
                block_duplicates: None,
                extension_roles: HashMap::new(),
                access_epoch: Default::default(),
                keys: Default::default(),
                #[cfg(feature = "seal")]
                sealed: None,
            }),
        }
    }

    /// Starts configuring a CRM over `store`.
    pub fn builder(store: impl Store) -> CrmBuilder {
        CrmBuilder::from_arc(Arc::new(store))
    }

    /// Acts as `actor`: every call through the session is scoped to the actor's tenant.
    pub fn as_actor(&self, actor: &Actor) -> Session {
        Session { crm: self.clone(), actor: actor.clone(), access: Default::default(), receipt: None }
    }

    /// Creates the store's indexes for every custom field its extensions mark `indexed`
    /// (tenant fields get theirs when defined). Idempotent; call it once after building the
    /// CRM over a SQL store.
    pub async fn ensure_indexes(&self) -> Result<()> {
        for ext in &self.inner.extensions {
            for def in ext.fields().into_iter().filter(|d| d.indexed) {
                let key = format!("{}.{}", ext.id(), def.key);
                self.inner.store.ensure_custom_index(def.entity_kind, &key).await?;
            }
        }
        Ok(())
    }

    /// The store underneath.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }
}

/// Configures a [`Crm`]: clock, id generator, extensions, default phone region.
pub struct CrmBuilder {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGenerator>,
    extensions: Vec<Arc<dyn Extension>>,
    default_region: Option<String>,
    sla: SlaPolicy,
    block_duplicates: Option<DuplicateRules>,
    extension_roles: HashMap<String, Vec<String>>,
    #[cfg(feature = "seal")]
    keyring: Option<Arc<crate::seal::Keyring>>,
}

impl CrmBuilder {
    /// Starts from a shared store.
    pub fn from_arc(store: Arc<dyn Store>) -> Self {
        CrmBuilder {
            store,
            clock: Arc::new(SystemClock),
            ids: Arc::new(UuidV7Generator),
            extensions: Vec::new(),
            default_region: None,
            sla: SlaPolicy::default(),
            block_duplicates: None,
            extension_roles: HashMap::new(),
            #[cfg(feature = "seal")]
            keyring: None,
        }
    }

    /// Refuses to create a contact that `rules` take for one already there
    /// ([`Contacts::duplicates_of`]): `create` fails with a validation error on `duplicate_of`
    /// naming the contact and the evidence. Imports are not checked (see `crm-io`).
    pub fn block_duplicates(mut self, rules: DuplicateRules) -> Self {
        self.block_duplicates = Some(rules);
        self
    }

    /// How long service cases of each priority may take (default: [`SlaPolicy::default`]).
    pub fn sla_policy(mut self, policy: SlaPolicy) -> Self {
        self.sla = policy;
        self
    }

    /// Uses this clock (e.g. [`ManualClock`](crate::ids::ManualClock) in tests).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Uses this id generator (e.g. [`SequentialIds`](crate::ids::SequentialIds) in tests).
    pub fn ids(mut self, ids: impl IdGenerator) -> Self {
        self.ids = Arc::new(ids);
        self
    }

    /// Adds an extension.
    pub fn extension(mut self, extension: impl Extension) -> Self {
        self.extensions.push(Arc::new(extension));
        self
    }

    /// Limits what extension `id` may do when it reacts to events
    /// ([`EventContext::act_as`](extension::EventContext::act_as)) to what `roles` grant
    /// (keys of built-in or tenant roles). An extension not limited acts as the system.
    pub fn extension_roles(
        mut self,
        id: impl Into<String>,
        roles: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        self.extension_roles.insert(id.into(), roles.into_iter().map(Into::into).collect());
        self
    }

    /// Adds a shared extension.
    pub fn extension_arc(mut self, extension: Arc<dyn Extension>) -> Self {
        self.extensions.push(extension);
        self
    }

    /// Adds several shared extensions (e.g. every plugin a plugin host has installed).
    pub fn extensions(mut self, extensions: impl IntoIterator<Item = Arc<dyn Extension>>) -> Self {
        self.extensions.extend(extensions);
        self
    }

    /// The region (ISO 3166 alpha-2) assumed for phone numbers written without `+country`.
    pub fn default_region(mut self, region: impl Into<String>) -> Self {
        self.default_region = Some(region.into());
        self
    }

    /// Checks the configuration and builds the CRM.
    pub fn build(self) -> Result<Crm> {
        let mut errs = Vec::new();
        if let Some(r) = &self.default_region
            && let Err(m) = crate::profile::parse_region(r)
        {
            errs.push(crate::error::FieldError::new("default_region", FieldErrorCode::InvalidFormat, m));
        }
        let mut ids = HashSet::new();
        for ext in &self.extensions {
            let id = ext.id();
            let at = format!("extensions.{id}");
            if !valid_key(id) || id.contains('.') {
                errs.push(crate::error::FieldError::new(
                    at.clone(),
                    FieldErrorCode::InvalidFormat,
                    "extension ids are lower-case letters, digits and `_`, starting with a letter",
                ));
            }
            if !ids.insert(id.to_owned()) {
                errs.push(crate::error::FieldError::new(
                    at.clone(),
                    FieldErrorCode::Duplicate,
                    "two extensions share this id",
                ));
            }
            let mut keys = HashSet::new();
            for (i, def) in ext.fields().iter().enumerate() {
                if !keys.insert((def.entity_kind, def.key.clone())) {
                    errs.push(crate::error::FieldError::new(
                        format!("{at}.fields[{i}].key"),
                        FieldErrorCode::Duplicate,
                        format!("the extension declares `{}` twice", def.key),
                    ));
                }
                if def.key.contains('.') {
                    errs.push(crate::error::FieldError::new(
                        format!("{at}.fields[{i}].key"),
                        FieldErrorCode::InvalidFormat,
                        "extension field keys are given without a namespace",
                    ));
                }
                errs.extend(def.validate(&format!("{at}.fields[{i}]")));
            }
        }
        for id in self.extension_roles.keys() {
            if !ids.contains(id) {
                errs.push(crate::error::FieldError::new(
                    format!("extension_roles.{id}"),
                    FieldErrorCode::NotFound,
                    "no extension has this id",
                ));
            }
        }
        for (p, name) in
            [(self.sla.low, "low"), (self.sla.normal, "normal"), (self.sla.high, "high"), (self.sla.urgent, "urgent")]
        {
            if p <= chrono::Duration::zero() {
                errs.push(crate::error::FieldError::new(
                    format!("sla_policy.{name}"),
                    FieldErrorCode::OutOfRange,
                    "a resolution target must be positive",
                ));
            }
        }
        if let Some(rules) = &self.block_duplicates
            && let Err(Error::Validation(v)) = rules.check()
        {
            errs.extend(v.0.into_iter().map(|mut e| {
                e.field = format!("block_duplicates.{}", e.field);
                e
            }));
        }
        Error::check(errs)?;
        let region = self.default_region.map(|r| r.trim().to_ascii_uppercase());
        #[cfg(feature = "seal")]
        let (store, sealed) = sealing::wrap(self.store, self.keyring, &self.extensions);
        #[cfg(not(feature = "seal"))]
        let store = self.store;
        Ok(Crm {
            inner: Arc::new(Inner {
                store,
                clock: self.clock,
                ids: self.ids,
                extensions: self.extensions,
                default_region: region,
                sla: self.sla,
                block_duplicates: self.block_duplicates,
                extension_roles: self.extension_roles,
                access_epoch: Default::default(),
                keys: Default::default(),
                #[cfg(feature = "seal")]
                sealed,
            }),
        })
    }
}

/// The CRM as seen by one actor. Every call is scoped to the actor's tenant and narrowed to
/// what the actor's roles allow ([`access`](Session::access)).
#[derive(Clone, Debug)]
pub struct Session {
    pub(crate) crm: Crm,
    pub(crate) actor: Actor,
    /// What the actor may do, once resolved, with the CRM's access epoch it was resolved in.
    pub(crate) access: AccessSlot,
    /// A workflow step's log entry, committed with the next write ([`Session::with_receipt`]).
    pub(crate) receipt: Option<workflow_runs::ReceiptSlot>,
}

/// A session's resolved access and the epoch it was resolved in.
pub(crate) type AccessSlot = Arc<std::sync::Mutex<Option<(u64, Arc<crate::access::Access>)>>>;

impl Session {
    /// Full-text search over the contacts, companies and deals the actor may read: the records
    /// in which every word of `text` starts a word of their names, e-mails, phones, job or
    /// tags (sensitive fields are not searched), best match first (at most 20; see
    /// [`search_in`](Self::search_in), which refuses a kind the actor may not read).
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// use crm_core::prelude::*;
    /// let crm = Crm::new(MemoryStore::new());
    /// let cx = crm.as_actor(&Actor::system(TenantId::new()));
    /// let acme = cx.companies().create(NewCompany::new("Acme Logistics")).await?;
    /// cx.contacts().create(NewContact::new("Jane", "Cooper").email("jane@acme-logistics.com").works_at(acme.id, None, None)).await?;
    /// let hits = cx.search("jane acme").await?;
    /// assert!(matches!(&hits[..], [Record::Contact(c)] if c.given_name == "Jane"));
    /// # Ok::<_, Error>(()) }).unwrap();
    /// ```
    pub async fn search(&self, text: &str) -> Result<Vec<crate::model::Record>> {
        // Of the searchable kinds, those the actor reads (a support agent reads no deals).
        let access = self.access().await?;
        let kinds: Vec<crate::entity::EntityKind> =
            crate::search::SEARCHABLE.iter().copied().filter(|k| access.may(*k, crate::model::Action::Read)).collect();
        self.search_in(text, &kinds, 20).await
    }

    /// [`search`](Self::search) over chosen kinds (of [`SEARCHABLE`](crate::search::SEARCHABLE))
    /// with a chosen limit (1–[`MAX_PAGE_SIZE`](crate::query::MAX_PAGE_SIZE)).
    pub async fn search_in(
        &self,
        text: &str,
        kinds: &[crate::entity::EntityKind],
        limit: usize,
    ) -> Result<Vec<crate::model::Record>> {
        if limit == 0 || limit > crate::query::MAX_PAGE_SIZE {
            return Err(Error::invalid(
                "limit",
                FieldErrorCode::OutOfRange,
                format!("limit must be 1–{}", crate::query::MAX_PAGE_SIZE),
            ));
        }
        if let Some(k) = kinds.iter().find(|k| !crate::search::SEARCHABLE.contains(k)) {
            return Err(Error::invalid(
                "kinds",
                FieldErrorCode::NotAnOption,
                format!("{k} records are not searchable"),
            ));
        }
        let terms = crate::search::terms(text);
        if terms.iter().any(|t| t.chars().count() > crate::search::MAX_TERM_CHARS) {
            return Err(Error::invalid(
                "text",
                FieldErrorCode::OutOfRange,
                format!("a search term is at most {} characters", crate::search::MAX_TERM_CHARS),
            ));
        }
        if terms.is_empty() {
            return Ok(Vec::new());
        }
        let uow = uow::Uow::read(self).await?;
        let mut scoped = Vec::with_capacity(kinds.len());
        for kind in kinds {
            uow.access.check_kind(*kind, crate::model::Action::Read)?;
            let f = uow.access.filter(*kind, crate::model::Action::Read).unwrap_or_default();
            scoped.push((*kind, f));
        }
        let mut uow = uow;
        let mut found = uow.tx.search(&scoped, &terms, limit).await?;
        for kind in kinds {
            let hidden = uow.withheld(*kind).await?;
            for r in found.iter_mut().filter(|r| r.kind() == *kind) {
                field_security::Redact::redact(r, &hidden);
            }
        }
        Ok(found)
    }

    /// The current time by the CRM's clock (what records are stamped with).
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.crm.inner.clock.now()
    }

    /// The actor.
    pub fn actor(&self) -> &Actor {
        &self.actor
    }

    /// The tenant.
    pub fn tenant(&self) -> TenantId {
        self.actor.tenant_id
    }

    /// The CRM this session works in.
    pub fn crm(&self) -> &Crm {
        &self.crm
    }

    /// Integrations' bookkeeping: record links and named state.
    pub fn sync(&self) -> SyncRecords<'_> {
        SyncRecords { s: self }
    }

    /// The records of any kind, by type: `cx.records::<Contact>()` is `cx.contacts()`. For
    /// code generic over kinds (exports, reports); each kind's own verbs are on its handle.
    pub fn records<E: crate::model::Entity>(&self) -> Records<'_, E> {
        Records::new(self)
    }

    /// People.
    pub fn contacts(&self) -> Contacts<'_> {
        Records::new(self)
    }

    /// Organisations.
    pub fn companies(&self) -> Companies<'_> {
        Records::new(self)
    }

    /// Sales opportunities and their stage moves.
    pub fn deals(&self) -> Deals<'_> {
        Records::new(self)
    }

    /// Pipelines and their stages.
    pub fn pipelines(&self) -> Pipelines<'_> {
        Records::new(self)
    }

    /// Calls, emails, meetings, notes and tasks.
    pub fn activities(&self) -> Activities<'_> {
        Records::new(self)
    }

    /// Labelled links between records.
    pub fn relations(&self) -> Relations<'_> {
        Records::new(self)
    }

    /// The product catalogue.
    pub fn products(&self) -> Products<'_> {
        Records::new(self)
    }

    /// Orders: the purchase history.
    pub fn orders(&self) -> Orders<'_> {
        Records::new(self)
    }

    /// Invoices.
    pub fn invoices(&self) -> Invoices<'_> {
        Records::new(self)
    }

    /// Payments received.
    pub fn payments(&self) -> Payments<'_> {
        Records::new(self)
    }

    /// Customer service cases.
    pub fn cases(&self) -> Cases<'_> {
        Records::new(self)
    }

    /// Survey answers, reviews, suggestions and lost-to-competitor notes.
    pub fn feedback(&self) -> Feedbacks<'_> {
        Records::new(self)
    }

    /// Marketing campaigns, their members and responses.
    pub fn campaigns(&self) -> Campaigns<'_> {
        Records::new(self)
    }

    /// Saved contact filters.
    pub fn segments(&self) -> Segments<'_> {
        Records::new(self)
    }

    /// The people who work in the CRM, and who they report to.
    pub fn users(&self) -> Users<'_> {
        Records::new(self)
    }

    /// Groups of users.
    pub fn teams(&self) -> Teams<'_> {
        Records::new(self)
    }

    /// API keys: secrets programs act as a user with.
    pub fn api_keys(&self) -> ApiKeys<'_> {
        Records::new(self)
    }

    /// Records shared with one more user or team, beyond the record rules.
    pub fn shares(&self) -> Shares<'_> {
        Records::new(self)
    }

    /// The consent ledger: each person's consent per purpose, and its history.
    pub fn consents(&self) -> Consents<'_> {
        Records::new(self)
    }

    /// Roles the tenant defines (the built-in ones are [`BuiltinRole`](crate::model::BuiltinRole)).
    pub fn roles(&self) -> Roles<'_> {
        Records::new(self)
    }

    /// Automation rules: what happens on its own when records change.
    pub fn workflows(&self) -> Workflows<'_> {
        Records::new(self)
    }

    /// Messages to users: each reads their own.
    pub fn notifications(&self) -> Notifications<'_> {
        Records::new(self)
    }

    /// Custom field definitions.
    pub fn custom_fields(&self) -> CustomFields<'_> {
        CustomFields { s: self }
    }

    /// Committed events of this tenant, in commit order (resume with the last `seq` seen).
    ///
    /// An actor whose roles do not read every record sees the events about records of the
    /// kinds they read in full (a sales rep, whose contacts and deals are theirs and their
    /// team's, sees none about contacts or deals: their timelines show those). Pages stay full:
    /// an empty page is the end of the feed.
    pub async fn events(&self, query: &EventQuery) -> Result<Vec<StoredEvent>> {
        let store = &self.crm.inner.store;
        if self.actor.is_system() {
            return store.read_events(self.tenant(), query).await;
        }
        let access = self.access().await?;
        if access.is_unrestricted() {
            return store.read_events(self.tenant(), query).await;
        }
        let whole = |k: crate::entity::EntityKind| {
            matches!(access.reach(k, crate::model::Action::Read), Some(crate::access::Reach::All))
        };
        let hidden = uow::Uow::read(self).await?.withheld_by_kind().await?;
        let mut out = Vec::new();
        let mut q = query.clone();
        while out.len() < query.limit {
            let batch = store.read_events(self.tenant(), &q).await?;
            let Some(last) = batch.last() else { break };
            q.after = last.seq;
            let full = batch.len() >= q.limit;
            let first = out.len();
            out.extend(batch.into_iter().filter(|e| whole(e.event.subject.kind)));
            field_security::strip_values(&mut out[first..], &hidden);
            if !full {
                break;
            }
        }
        out.truncate(query.limit);
        Ok(out)
    }
}
