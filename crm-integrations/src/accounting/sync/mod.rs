//! The sync engine: customers both ways, invoices and payments into the CRM.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, SecondsFormat, Utc};
use crm_core::query::{Filter, Query};
use crm_core::{
    entity::EntityKind, entity::EntityRef, error::Error as CrmError, ids::CompanyId, ids::ContactId,
    model::AccountBalance, model::CreditTerms, model::Entity, model::Invoice, model::InvoiceStatus, model::LineItem,
    model::PaymentMethod, model::SyncConflict, model::SyncLink, money::Money, profile::Email, profile::PhoneLabel,
    profile::PhoneNumber, service::ExternalInvoice, service::ExternalPayment, service::LinkInput,
    service::MirrorOutcome, service::NewCompany, service::NewPayment, service::Session,
};
use rust_decimal::Decimal;
use sha2::{Digest, Sha256};

use super::party::Party;
use super::{
    AccountingConnector, CustomerDraft, RemoteCustomer, RemoteInvoice, RemoteInvoiceStatus, RemotePayment, RemoteStatus,
};
use crate::error::{IntegrationError, Result};

mod customers;
mod invoices;
mod payments;

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

    // --- companies out ----------------------------------------------------------------------

    // --- invoices and payments in -----------------------------------------------------------

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
            .put_link(LinkInput { remote_version: version, ..LinkInput::new(self.conn.clone(), local, kind, id) })
            .await?;
        Ok(())
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
