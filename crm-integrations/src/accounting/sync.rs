//! The sync engine: customers both ways, invoices and payments into the CRM.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, SecondsFormat, Utc};
use crm_core::query::{Filter, Query};
use crm_core::{
    entity::EntityKind, entity::EntityRef, error::Error as CrmError, ids::CompanyId, ids::ContactId,
    model::AccountBalance, model::CreditTerms, model::Entity, model::ExternalRef, model::Invoice, model::InvoiceStatus,
    model::LineItem, model::PaymentMethod, model::SyncConflict, model::SyncLink, money::Money, profile::Email,
    profile::PhoneLabel, profile::PhoneNumber, service::ExternalInvoice, service::ExternalPayment, service::LinkInput,
    service::MirrorOutcome, service::NewCompany, service::Session,
};
use rust_decimal::Decimal;
use sha2::{Digest, Sha256};

use super::party::Party;
use super::{
    AccountingConnector, CustomerDraft, RemoteCustomer, RemoteInvoice, RemoteInvoiceStatus, RemotePayment, RemoteStatus,
};
use crate::error::{IntegrationError, Result};

/// The remote kinds links are kept for.
const CUSTOMER: &str = "Customer";
const INVOICE: &str = "Invoice";
const PAYMENT: &str = "Payment";

/// The fields both sides edit, merged three ways.
const SHARED: [&str; 2] = ["billing_email", "phone"];

/// How a sync runs.
#[derive(Clone, Debug)]
pub struct SyncOptions {
    /// Which CRM companies without a customer are created in the accounting system (None:
    /// none; default: every company). Local edits of shared fields of linked companies are
    /// always sent.
    pub push: Option<Filter>,
    /// Which CRM contacts without a company (people buying on their own account) are created
    /// as customers there (default None: none). Local edits of linked contacts are always sent.
    pub push_contacts: Option<Filter>,
    /// The region for phone numbers written without `+country` (ISO 3166, e.g. `GB`).
    pub default_region: Option<String>,
    /// The day invoices are judged overdue on (default: today by the CRM's clock).
    pub today: Option<NaiveDate>,
    /// How far before the last cursor a pull starts again, to cover clock skew (default 1 s);
    /// what it re-reads changes nothing.
    pub overlap: Duration,
}

impl Default for SyncOptions {
    fn default() -> Self {
        SyncOptions {
            push: Some(Filter::All),
            push_contacts: None,
            default_region: None,
            today: None,
            overlap: Duration::seconds(1),
        }
    }
}

/// Records written, per kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// New here (or there, for pushes).
    pub created: u64,
    /// Changed.
    pub updated: u64,
    /// Seen and already up to date.
    pub unchanged: u64,
}

impl Counts {
    fn add(&mut self, outcome: MirrorOutcome) {
        match outcome {
            MirrorOutcome::Created => self.created += 1,
            MirrorOutcome::Updated => self.updated += 1,
            MirrorOutcome::Unchanged => self.unchanged += 1,
        }
    }
}

/// A remote record the sync left alone, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skipped {
    /// `Customer`, `Invoice` or `Payment`.
    pub remote_kind: &'static str,
    /// Its id there (`crm:<company id>` for a company the system refused to create).
    pub remote_id: String,
    /// Why (a supplier, a customer to be erased, ambiguous match, refused by the CRM's rules…).
    pub reason: String,
}

/// What a sync did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// Customers pulled into companies.
    pub customers: Counts,
    /// Companies sent to the accounting system (created there, or shared fields updated).
    pub pushed: Counts,
    /// Invoices mirrored.
    pub invoices: Counts,
    /// Payments mirrored.
    pub payments: Counts,
    /// Records left alone.
    pub skipped: Vec<Skipped>,
    /// Records (companies, contacts) with fields both sides changed, waiting in their links
    /// (see [`SyncRecords::resolve`](crm_core::service::SyncRecords::resolve)).
    pub conflicts: Vec<(EntityRef, String)>,
}

/// Runs one sync of `connector`'s organisation into `cx`'s tenant: customers in, companies
/// out, then invoices and payments in. Safe to run again at any time; safe to kill.
pub async fn sync(cx: &Session, connector: &dyn AccountingConnector, options: &SyncOptions) -> Result<SyncReport> {
    let mut run = Run {
        cx,
        connector,
        conn: connector.connection(),
        system: connector.system(),
        options,
        today: options.today.unwrap_or_else(|| cx.now().date_naive()),
        report: SyncReport::default(),
        held: None,
    };
    let started = cx.now();
    run.pull(Pull::Customers).await?;
    run.push_customers(started).await?;
    run.pull(Pull::Invoices).await?;
    run.pull(Pull::Payments).await?;
    for link in cx.sync().conflicts(&run.conn).await? {
        for c in &link.conflicts {
            run.report.conflicts.push((link.local, c.field.clone()));
        }
    }
    Ok(run.report)
}

struct Run<'a> {
    cx: &'a Session,
    connector: &'a dyn AccountingConnector,
    conn: String,
    system: &'static str,
    options: &'a SyncOptions,
    today: NaiveDate,
    report: SyncReport,
    /// The oldest change of this pass skipped for something not yet synced (a payment's
    /// invoice): the cursor stays before it, so the next run reads it again.
    held: Option<DateTime<Utc>>,
}

/// Changes this close to a pass (either side of it, for clock skew) mean the records were
/// moving while they were paged: the pass then keeps its cursor, because a record edited on
/// an early page shifts the later ones and one may have slipped between two pages.
const MOVING: Duration = Duration::minutes(5);

/// What a pull pass reads.
#[derive(Clone, Copy)]
enum Pull {
    Customers,
    Invoices,
    Payments,
}

/// The outcome of a three-way merge of one field.
#[derive(Debug, PartialEq)]
enum Merge {
    /// Both sides hold this value.
    Same(Option<String>),
    /// Only the remote side changed: write this here.
    TakeRemote(Option<String>),
    /// Only the CRM changed: send it.
    KeepLocal,
    /// Both changed, differently.
    Conflict,
}

fn merge(base: Option<&Option<String>>, local: &Option<String>, remote: &Option<String>) -> Merge {
    if local == remote {
        return Merge::Same(local.clone());
    }
    match base {
        Some(b) if b == local => Merge::TakeRemote(remote.clone()),
        Some(b) if b == remote => Merge::KeepLocal,
        Some(_) => Merge::Conflict,
        // Never synced: fill what the CRM lacks, otherwise it is a conflict to decide.
        None if local.is_none() => Merge::TakeRemote(remote.clone()),
        None if remote.is_none() => Merge::KeepLocal,
        None => Merge::Conflict,
    }
}

fn cursor_key(conn: &str, what: &str) -> String {
    format!("{conn}/cursor/{what}")
}

/// A stable idempotency key (≤ 128 characters) for one write of one record version.
fn idempotency_key(conn: &str, what: &str, id: impl std::fmt::Display, version: u64) -> String {
    let digest = Sha256::digest(format!("{conn}|{what}|{id}|{version}").as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

fn is_refusal(e: &CrmError) -> bool {
    matches!(e, CrmError::Validation(_) | CrmError::InvalidTransition { .. })
}

impl Run<'_> {
    fn skip(&mut self, remote_kind: &'static str, remote_id: &str, reason: impl Into<String>) {
        let reason = reason.into();
        tracing::info!(connection = %self.conn, remote_kind, remote_id, %reason, "skipped");
        self.report.skipped.push(Skipped { remote_kind, remote_id: remote_id.to_owned(), reason });
    }

    async fn cursor(&self, what: &str) -> Result<(Option<DateTime<Utc>>, Option<u64>)> {
        let Some(state) = self.cx.sync().state(&cursor_key(&self.conn, what)).await? else {
            return Ok((None, None));
        };
        let since = state
            .value
            .get("since")
            .and_then(|v| v.as_str())
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            .map(|d| d.with_timezone(&Utc) - self.options.overlap);
        Ok((since, Some(state.version)))
    }

    async fn advance(&self, what: &str, version: Option<u64>, seen: Option<DateTime<Utc>>) -> Result<()> {
        let Some(seen) = seen else { return Ok(()) };
        let value = serde_json::json!({ "since": seen.to_rfc3339_opts(SecondsFormat::Millis, true) });
        self.cx.sync().put_state(&cursor_key(&self.conn, what), value, version).await?;
        Ok(())
    }

    // --- customers in ----------------------------------------------------------------------

    /// Pulls every record of one kind changed since its cursor, page by page, and advances
    /// the cursor to the newest change seen once the pass is complete.
    async fn pull(&mut self, kind: Pull) -> Result<()> {
        let key = match kind {
            Pull::Customers => "customers",
            Pull::Invoices => "invoices",
            Pull::Payments => "payments",
        };
        let (since, version) = self.cursor(key).await?;
        let started = self.cx.now();
        self.held = None;
        let mut page: Option<String> = None;
        let mut seen: Option<DateTime<Utc>> = None;
        loop {
            let at = page.as_deref();
            let next = match kind {
                Pull::Customers => {
                    let got = self.connector.customers(since, at).await?;
                    for rc in got.items {
                        seen = seen.max(rc.updated_at);
                        self.pull_customer(rc).await?;
                    }
                    got.next
                }
                Pull::Invoices => {
                    let got = self.connector.invoices(since, at).await?;
                    for ri in got.items {
                        seen = seen.max(ri.updated_at);
                        self.pull_invoice(ri).await?;
                    }
                    got.next
                }
                Pull::Payments => {
                    let got = self.connector.payments(since, at).await?;
                    for rp in got.items {
                        seen = seen.max(rp.updated_at);
                        self.pull_payment(rp).await?;
                    }
                    got.next
                }
            };
            match next {
                Some(n) => page = Some(n),
                None => break,
            }
        }
        if seen.is_some_and(|s| s > started - MOVING) {
            tracing::info!(connection = %self.conn, kind = key, "records changed during the pass; the cursor stays");
            return Ok(());
        }
        // Before anything held back, else after the newest change seen.
        let to = match self.held {
            Some(h) => Some(h - Duration::milliseconds(1)).filter(|h| since.is_none_or(|s| *h > s)),
            None => seen,
        };
        self.advance(key, version, to).await
    }

    fn normalise_email(&self, v: &Option<String>) -> Option<String> {
        v.as_deref().and_then(|e| Email::parse(e).ok()).map(|e| e.as_str().to_owned())
    }

    fn normalise_phone(&self, v: &Option<String>) -> Option<String> {
        v.as_deref()
            .and_then(|p| PhoneNumber::parse(p, self.options.default_region.as_deref()).ok())
            .map(|p| p.as_str().to_owned())
    }

    /// The CRM record a remote customer is: by link, external reference, the CRM id the CRM
    /// wrote there, email, then phone. Never by name. Err(reason) when the match is ambiguous.
    async fn find_party(
        &mut self,
        rc: &RemoteCustomer,
        email: &Option<String>,
        phone: &Option<String>,
    ) -> Result<std::result::Result<(Option<Party>, Option<SyncLink>), String>> {
        let sync = self.cx.sync();
        if let Some(link) = sync.link_for_remote(&self.conn, CUSTOMER, &rc.id).await? {
            match Party::load(self.cx, link.local).await? {
                Some(p) => return Ok(Ok((Some(p), Some(link)))),
                // The record was deleted here: forget the pairing and match afresh.
                None => sync.remove_link(link.id).await?,
            }
        }
        let by_ref = Filter::contains("external_refs", format!("{}:{}", self.system, rc.id));
        let by_ref_found = match self.cx.companies().list(&Query::new(by_ref.clone()).limit(1)).await?.items.pop() {
            Some(c) => Some(Party::Company(c)),
            None => self.cx.contacts().list(&Query::new(by_ref).limit(1)).await?.items.pop().map(Party::Contact),
        };
        if let Some(p) = by_ref_found {
            return match self.unlinked(p).await? {
                Some(p) => Ok(Ok((Some(p), None))),
                None => {
                    Ok(Err("the CRM record carrying its id is paired with another customer; link it by hand".into()))
                }
            };
        }
        if let Some(id) = rc.reference.as_deref().and_then(|r| uuid::Uuid::parse_str(r).ok()) {
            for kind in [EntityKind::Company, EntityKind::Contact] {
                if let Some(p) = Party::load(self.cx, EntityRef::new(kind, id)).await? {
                    return self.unlinked(p).await.map(|p| Ok((p, None)));
                }
            }
        }
        let mut candidates: Vec<Party> = Vec::new();
        let add = |p: Party, all: &mut Vec<Party>| {
            if !all.iter().any(|x| x.entity_ref() == p.entity_ref()) {
                all.push(p);
            }
        };
        for (field, value) in [("billing_email", email), ("phone", phone)] {
            let Some(v) = value else { continue };
            if !candidates.is_empty() {
                break;
            }
            let company_field = field;
            let contact_field = if field == "billing_email" { "email" } else { "phone" };
            for c in self.cx.companies().list(&Query::new(Filter::eq(company_field, v.as_str())).limit(10)).await?.items
            {
                add(Party::Company(c), &mut candidates);
            }
            for person in
                self.cx.contacts().list(&Query::new(Filter::eq(contact_field, v.as_str())).limit(10)).await?.items
            {
                match person.company_id {
                    Some(id) => add(Party::Company(self.cx.companies().get(id).await?), &mut candidates),
                    None => add(Party::Contact(person), &mut candidates),
                }
            }
        }
        let mut free = Vec::new();
        for p in candidates {
            if let Some(p) = self.unlinked(p).await? {
                free.push(p);
            }
        }
        match free.len() {
            0 => Ok(Ok((None, None))),
            1 => Ok(Ok((free.pop(), None))),
            n => Ok(Err(format!("its email or phone matches {n} CRM records; link it by hand"))),
        }
    }

    /// The record, unless it is already paired with another customer on this connection.
    async fn unlinked(&self, p: Party) -> Result<Option<Party>> {
        let linked = self.cx.sync().link_for_local(&self.conn, p.entity_ref()).await?;
        Ok(if linked.is_some() { None } else { Some(p) })
    }

    async fn pull_customer(&mut self, rc: RemoteCustomer) -> Result<()> {
        if rc.supplier_only {
            self.skip(CUSTOMER, &rc.id, "a supplier, not a customer");
            return Ok(());
        }
        if rc.status == RemoteStatus::ErasureRequested {
            self.skip(CUSTOMER, &rc.id, "its data is to be erased (GDPR request); nothing is imported");
            return Ok(());
        }
        let email = self.normalise_email(&rc.email);
        let phone = self.normalise_phone(&rc.phone);
        let (party, link) = match self.find_party(&rc, &email, &phone).await? {
            Ok(found) => found,
            Err(reason) => {
                self.skip(CUSTOMER, &rc.id, reason);
                return Ok(());
            }
        };
        let remote: BTreeMap<&str, Option<String>> = [("billing_email", email), ("phone", phone)].into_iter().collect();
        let balance = match (rc.balance, rc.currency) {
            (Some((outstanding, overdue)), Some(cur)) => Some(AccountBalance {
                outstanding: Money::new(outstanding, cur),
                overdue: Money::new(overdue, cur),
                as_of: rc.updated_at.unwrap_or_else(|| self.cx.now()),
            }),
            _ => None,
        };
        let Some(before) = party else {
            let mut input = NewCompany::new(rc.name.clone()).external_ref(self.system, rc.id.clone());
            input.legal_name = rc.legal_name.clone();
            input.tax_id = rc.tax_id.clone();
            input.billing_email = remote["billing_email"].clone();
            input.phones = remote["phone"].iter().map(|p| (p.clone(), PhoneLabel::Main)).collect();
            input.addresses = rc.billing_address.iter().cloned().collect();
            input.credit_terms = rc.net_days.map(CreditTerms::net);
            input.account_balance = balance;
            let company = match self.cx.companies().create(input).await {
                Ok(c) => c,
                Err(e) if is_refusal(&e) => {
                    self.skip(CUSTOMER, &rc.id, format!("the CRM refused it: {e}"));
                    return Ok(());
                }
                Err(e) => return Err(e.into()),
            };
            let snapshot = remote.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect();
            self.link(company.entity_ref(), CUSTOMER, &rc, snapshot, Vec::new()).await?;
            self.report.customers.created += 1;
            return Ok(());
        };
        let mut after = before.clone();
        // What accounting owns is overwritten.
        after.take_owned(self.system, &rc, balance);
        // What both edit is merged against the last sync.
        let mut snapshot = link.as_ref().map(|l| l.snapshot.clone()).unwrap_or_default();
        let mut conflicts = link.as_ref().map(|l| l.conflicts.clone()).unwrap_or_default();
        // A value there that the CRM cannot read (a phone without a country and no default
        // region) says nothing: that field is left out of the merge, never taken as cleared.
        let unreadable = |f: &str| match f {
            "billing_email" => rc.email.is_some() && remote[f].is_none(),
            _ => rc.phone.is_some() && remote[f].is_none(),
        };
        for field in SHARED {
            if unreadable(field) {
                continue;
            }
            let local = after.shared(field);
            let theirs = &remote[field];
            match merge(snapshot.get(field), &local, theirs) {
                Merge::Same(v) => {
                    snapshot.insert(field.to_owned(), v);
                    conflicts.retain(|c| c.field != field);
                }
                Merge::TakeRemote(v) => {
                    after.set_shared(field, &v);
                    snapshot.insert(field.to_owned(), v);
                    conflicts.retain(|c| c.field != field);
                }
                // Only the CRM has it (or changed it): the push sends it. A field never synced
                // gets the remote value as its base, so the push sees it as changed here.
                Merge::KeepLocal => {
                    snapshot.entry(field.to_owned()).or_insert_with(|| theirs.clone());
                }
                Merge::Conflict => {
                    let base = snapshot.get(field).cloned().flatten();
                    let c = SyncConflict {
                        field: field.to_owned(),
                        base,
                        local,
                        remote: theirs.clone(),
                        detected_at: self.cx.now(),
                    };
                    match conflicts.iter_mut().find(|x| x.field == field) {
                        Some(x) if x.local == c.local && x.remote == c.remote => {}
                        Some(x) => *x = c,
                        None => conflicts.push(c),
                    }
                }
            }
        }
        if after != before {
            if let Err(e) = after.save(self.cx).await {
                if is_refusal(&e) {
                    self.skip(CUSTOMER, &rc.id, format!("the CRM refused the update: {e}"));
                    return Ok(());
                }
                return Err(e.into());
            }
            self.report.customers.updated += 1;
        } else {
            self.report.customers.unchanged += 1;
        }
        let link_same = link
            .as_ref()
            .is_some_and(|l| l.snapshot == snapshot && l.conflicts == conflicts && l.remote_version == rc.version);
        if !link_same {
            self.link(before.entity_ref(), CUSTOMER, &rc, snapshot, conflicts).await?;
        }
        Ok(())
    }

    async fn link(
        &self,
        local: EntityRef,
        remote_kind: &str,
        rc: &RemoteCustomer,
        snapshot: BTreeMap<String, Option<String>>,
        conflicts: Vec<SyncConflict>,
    ) -> Result<SyncLink> {
        Ok(self
            .cx
            .sync()
            .put_link(LinkInput {
                connection: self.conn.clone(),
                local,
                remote_kind: remote_kind.into(),
                remote_id: rc.id.clone(),
                remote_version: rc.version.clone(),
                snapshot,
                conflicts,
            })
            .await?)
    }

    // --- companies out ----------------------------------------------------------------------

    async fn push_customers(&mut self, started: DateTime<Utc>) -> Result<()> {
        let (since, version) = self.cursor("push").await?;
        let changed = match since {
            Some(s) => Filter::gt("updated_at", s),
            None => Filter::All,
        };
        let mut q = Query::new(changed.clone()).limit(100);
        loop {
            let page = self.cx.companies().list(&q).await?;
            for company in page.items {
                self.push_or_report(Party::Company(company)).await?;
            }
            match page.next {
                Some(c) => q.after = Some(c),
                None => break,
            }
        }
        // People buying on their own account (no company).
        let mut q = Query::new(changed.and(Filter::is_null("company_id"))).limit(100);
        loop {
            let page = self.cx.contacts().list(&q).await?;
            for contact in page.items {
                self.push_or_report(Party::Contact(contact)).await?;
            }
            match page.next {
                Some(c) => q.after = Some(c),
                None => break,
            }
        }
        // Conflicts resolved by hand since the last run: read the customer again (the remote
        // side may be the winner) and send what is now the CRM's to send.
        for link in self.cx.sync().resolved(&self.conn).await? {
            if let Some(fresh) = self.connector.customer(&link.remote_id).await? {
                self.pull_customer(fresh).await?;
            }
            if let Some(party) = Party::load(self.cx, link.local).await? {
                self.push_or_report(party).await?;
            }
            self.cx.sync().settle(link.id).await?;
        }
        self.advance("push", version, Some(started)).await
    }

    async fn push_or_report(&mut self, party: Party) -> Result<()> {
        let r = party.entity_ref();
        match self.push_party(party, false).await {
            Err(e @ IntegrationError::Rejected { .. }) => {
                self.skip(CUSTOMER, &format!("crm:{}", r.id), format!("not pushed: {e}"));
                Ok(())
            }
            other => other,
        }
    }

    /// Whether an unpaired record is one to create there.
    async fn wanted(&self, party: &Party) -> Result<bool> {
        let (filter, kind) = match party {
            Party::Company(_) => (&self.options.push, EntityKind::Company),
            Party::Contact(_) => (&self.options.push_contacts, EntityKind::Contact),
        };
        let Some(filter) = filter else { return Ok(false) };
        // A record that came from this system keeps its customer, even unlinked.
        if party.external_refs().iter().any(|r| r.system == self.system) {
            return Ok(false);
        }
        let r = party.entity_ref();
        let only = Filter::eq("id", r.id).and(filter.clone());
        let n = match kind {
            EntityKind::Company => self.cx.companies().count(&only).await?,
            _ => self.cx.contacts().count(&only).await?,
        };
        Ok(n > 0)
    }

    async fn push_party(&mut self, party: Party, retried: bool) -> Result<()> {
        let link = self.cx.sync().link_for_local(&self.conn, party.entity_ref()).await?;
        let values: BTreeMap<String, Option<String>> =
            SHARED.iter().map(|f| ((*f).to_owned(), party.shared(f))).collect();
        let r = party.entity_ref();
        // Creates send every shared field; updates only the ones changed here.
        let draft = |name: Option<String>, only: Option<&[&str]>| {
            let pick = |f: &str| only.is_none_or(|o| o.contains(&f)).then(|| values[f].clone());
            CustomerDraft { name, email: pick("billing_email"), phone: pick("phone"), reference: r.id.to_string() }
        };
        match link {
            None => {
                if !self.wanted(&party).await? {
                    return Ok(());
                }
                let key = idempotency_key(&self.conn, "create-customer", r, party.version());
                let rc = self.connector.create_customer(&draft(Some(party.remote_name()), None), &key).await?;
                let Some(mut after) = Party::load(self.cx, r).await? else { return Ok(()) };
                after.add_external_ref(ExternalRef::new(self.system, rc.id.clone()));
                let after = after.save(self.cx).await?;
                self.link(after.entity_ref(), CUSTOMER, &rc, values, Vec::new()).await?;
                self.report.pushed.created += 1;
            }
            Some(link) => {
                let pending: Vec<&str> = SHARED
                    .iter()
                    .copied()
                    .filter(|f| {
                        link.snapshot.get(*f).is_some_and(|base| *base != values[*f])
                            && !link.conflicts.iter().any(|c| c.field == *f)
                    })
                    .collect();
                if pending.is_empty() {
                    return Ok(());
                }
                // The remote version is in the key: a retry after a stale version is a new request.
                let key = idempotency_key(
                    &self.conn,
                    "update-customer",
                    format!("{r}@{}", link.remote_version.as_deref().unwrap_or("")),
                    party.version(),
                );
                let sent = self
                    .connector
                    .update_customer(
                        &link.remote_id,
                        link.remote_version.as_deref(),
                        &draft(None, Some(&pending)),
                        &key,
                    )
                    .await;
                let rc = match sent {
                    Err(IntegrationError::Stale { .. }) if !retried => {
                        // Changed there meanwhile: merge the fresh record, then try once more.
                        match self.connector.customer(&link.remote_id).await? {
                            Some(fresh) => self.pull_customer(fresh).await?,
                            None => self.skip(CUSTOMER, &link.remote_id, "gone from the accounting system"),
                        }
                        let Some(party) = Party::load(self.cx, r).await? else { return Ok(()) };
                        return Box::pin(self.push_party(party, true)).await;
                    }
                    other => other?,
                };
                let mut snapshot = link.snapshot.clone();
                for f in pending {
                    snapshot.insert(f.to_owned(), values[f].clone());
                }
                self.link(link.local, CUSTOMER, &rc, snapshot, link.conflicts.clone()).await?;
                self.report.pushed.updated += 1;
            }
        }
        Ok(())
    }

    // --- invoices and payments in -----------------------------------------------------------

    fn status(&self, ri: &RemoteInvoice) -> InvoiceStatus {
        match ri.status {
            RemoteInvoiceStatus::Draft => InvoiceStatus::Draft,
            RemoteInvoiceStatus::Paid => InvoiceStatus::Paid,
            RemoteInvoiceStatus::Void => InvoiceStatus::Void,
            RemoteInvoiceStatus::Issued if ri.due_date < self.today && ri.total > ri.amount_paid => {
                InvoiceStatus::Overdue
            }
            RemoteInvoiceStatus::Issued if ri.amount_paid > Decimal::ZERO => InvoiceStatus::PartiallyPaid,
            RemoteInvoiceStatus::Issued => InvoiceStatus::Sent,
        }
    }

    async fn pull_invoice(&mut self, ri: RemoteInvoice) -> Result<()> {
        let mut customer = self.cx.sync().link_for_remote(&self.conn, CUSTOMER, &ri.customer_id).await?;
        if customer.is_none() {
            // Created there after the customer pass read its pages: read it now.
            if let Some(rc) = self.connector.customer(&ri.customer_id).await? {
                self.pull_customer(rc).await?;
                customer = self.cx.sync().link_for_remote(&self.conn, CUSTOMER, &ri.customer_id).await?;
            }
        }
        let Some(customer) = customer else {
            self.skip(INVOICE, &ri.id, format!("its customer {} is not synced", ri.customer_id));
            return Ok(());
        };
        // Discount and credit lines (negative amounts) have no place among the CRM's line
        // items; the totals, which are accounting's, include them, and the notes say so.
        let (lines, signed): (Vec<_>, Vec<_>) =
            ri.lines.iter().partition(|l| l.quantity > Decimal::ZERO && l.unit_amount >= Decimal::ZERO);
        let lines = lines
            .into_iter()
            .map(|l| {
                let mut line = LineItem::new(l.description.clone(), l.quantity, Money::new(l.unit_amount, ri.currency));
                if l.line_amount > Decimal::ZERO {
                    line.tax_rate = l
                        .tax_amount
                        .checked_div(l.line_amount)
                        .and_then(|r| r.checked_mul(Decimal::ONE_HUNDRED))
                        .map(|r| r.round_dp(2))
                        .unwrap_or_default();
                }
                line
            })
            .collect();
        let input = ExternalInvoice {
            system: self.system.into(),
            external_id: ri.id.clone(),
            number: ri.number.clone(),
            contact_id: (customer.local.kind == EntityKind::Contact).then(|| ContactId::from_uuid(customer.local.id)),
            company_id: (customer.local.kind == EntityKind::Company).then(|| CompanyId::from_uuid(customer.local.id)),
            currency: ri.currency,
            lines,
            subtotal: ri.subtotal,
            tax: ri.tax,
            total: ri.total,
            amount_paid: ri.amount_paid,
            status: self.status(&ri),
            issue_date: ri.issue_date,
            due_date: ri.due_date,
            paid_on: ri.paid_on,
            notes: match (ri.reference.clone(), signed.len()) {
                (r, 0) => r,
                (r, n) => Some(
                    r.map(|r| format!("{r}\n")).unwrap_or_default()
                        + &format!("{n} discount or credit line(s) are kept in {}", self.system),
                ),
            },
        };
        let (invoice, outcome) = match self.cx.invoices().mirror(input).await {
            Ok(r) => r,
            Err(e) if is_refusal(&e) => {
                self.skip(INVOICE, &ri.id, format!("the CRM refused it: {e}"));
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        };
        self.report.invoices.add(outcome);
        self.record_link(invoice.entity_ref(), INVOICE, &ri.id, ri.version.clone(), outcome).await
    }

    /// Keeps the mapping table in step with a mirror (also after a crash between the two).
    async fn record_link(
        &self,
        local: EntityRef,
        kind: &str,
        id: &str,
        version: Option<String>,
        outcome: MirrorOutcome,
    ) -> Result<()> {
        if outcome == MirrorOutcome::Unchanged
            && let Some(l) = self.cx.sync().link_for_remote(&self.conn, kind, id).await?
            && l.remote_version == version
        {
            return Ok(());
        }
        self.cx
            .sync()
            .put_link(LinkInput {
                connection: self.conn.clone(),
                local,
                remote_kind: kind.into(),
                remote_id: id.into(),
                remote_version: version,
                snapshot: BTreeMap::new(),
                conflicts: Vec::new(),
            })
            .await?;
        Ok(())
    }

    async fn pull_payment(&mut self, rp: RemotePayment) -> Result<()> {
        if rp.deleted {
            self.skip(PAYMENT, &rp.id, "deleted in the accounting system");
            return Ok(());
        }
        let mut invoices: Vec<(Invoice, Decimal)> = Vec::new();
        for (remote_invoice, part) in &rp.applications {
            match self.mirrored_invoice(remote_invoice).await? {
                Some(inv) => invoices.push((inv, *part)),
                None => {
                    self.skip(PAYMENT, &rp.id, format!("its invoice {remote_invoice} is not synced"));
                    if let Some(at) = rp.updated_at {
                        self.held = Some(self.held.map_or(at, |h| h.min(at)));
                    }
                    return Ok(());
                }
            }
        }
        let Some((first, _)) = invoices.first() else {
            self.skip(PAYMENT, &rp.id, "it is not applied to any invoice");
            return Ok(());
        };
        let currency = rp.currency.unwrap_or(first.currency);
        let amount = Money::new(rp.amount, currency);
        let input = ExternalPayment {
            system: self.system.into(),
            external_id: rp.id.clone(),
            contact_id: first.contact_id,
            company_id: first.company_id,
            amount,
            received_on: rp.received_on,
            method: PaymentMethod::Other,
            reference: rp.reference.clone(),
            applications: invoices.iter().map(|(inv, part)| (inv.id, Money::new(*part, currency))).collect(),
        };
        let (payment, outcome) = match self.cx.payments().mirror(input).await {
            Ok(r) => r,
            Err(e) if is_refusal(&e) => {
                self.skip(PAYMENT, &rp.id, format!("the CRM refused it: {e}"));
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        };
        self.report.payments.add(outcome);
        self.record_link(payment.entity_ref(), PAYMENT, &rp.id, rp.version.clone(), outcome).await?;
        // Systems that do not date full payment (QuickBooks): a paid invoice is paid on the
        // day of its last payment.
        for (inv, _) in invoices {
            let inv = self.cx.invoices().get(inv.id).await?;
            if inv.status == InvoiceStatus::Paid && inv.paid_on.is_none() {
                let Some(on) = inv.payments.iter().map(|p| p.paid_on).max() else { continue };
                let Some(ext) = inv.external_refs.iter().find(|r| r.system == self.system) else { continue };
                let input = ExternalInvoice {
                    system: self.system.into(),
                    external_id: ext.id.clone(),
                    number: inv.number.clone(),
                    contact_id: inv.contact_id,
                    company_id: inv.company_id,
                    currency: inv.currency,
                    lines: inv.lines.clone(),
                    subtotal: inv.subtotal.amount,
                    tax: inv.tax.amount,
                    total: inv.total.amount,
                    amount_paid: inv.amount_paid.amount,
                    status: inv.status,
                    issue_date: inv.issue_date,
                    due_date: inv.due_date,
                    paid_on: Some(on),
                    notes: inv.notes.clone(),
                };
                self.cx.invoices().mirror(input).await?;
            }
        }
        Ok(())
    }

    async fn mirrored_invoice(&self, remote_id: &str) -> Result<Option<Invoice>> {
        let by_ref = Filter::contains("external_refs", format!("{}:{}", self.system, remote_id));
        Ok(self.cx.invoices().list(&Query::new(by_ref).limit(1)).await?.items.into_iter().next())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> Option<String> {
        Some(v.to_owned())
    }

    #[test]
    fn three_way_merge_takes_the_side_that_changed_and_flags_both() {
        let base = Some(s("a"));
        assert_eq!(merge(base.as_ref(), &s("a"), &s("b")), Merge::TakeRemote(s("b")));
        assert_eq!(merge(base.as_ref(), &s("c"), &s("a")), Merge::KeepLocal);
        assert_eq!(merge(base.as_ref(), &s("c"), &s("b")), Merge::Conflict);
        assert_eq!(merge(base.as_ref(), &s("c"), &s("c")), Merge::Same(s("c")));
        assert_eq!(merge(base.as_ref(), &None, &s("a")), Merge::KeepLocal, "cleared here");
        // Never synced: fill the gap, or flag a disagreement.
        assert_eq!(merge(None, &None, &s("b")), Merge::TakeRemote(s("b")));
        assert_eq!(merge(None, &s("a"), &None), Merge::KeepLocal);
        assert_eq!(merge(None, &s("a"), &s("b")), Merge::Conflict);
    }

    #[test]
    fn idempotency_keys_are_stable_per_record_version_and_fit_xero() {
        let k = idempotency_key("xero:t", "create-customer", "c1", 3);
        assert_eq!(k, idempotency_key("xero:t", "create-customer", "c1", 3));
        assert_ne!(k, idempotency_key("xero:t", "create-customer", "c1", 4));
        assert_ne!(k, idempotency_key("xero:u", "create-customer", "c1", 3));
        assert!(k.len() <= 128);
    }
}
