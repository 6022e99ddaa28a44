//! The subject access export (GDPR article 15): everything the CRM holds about one person,
//! as data and as a document they can read.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::AuditEntry;
use super::privacy::Privacy;
use super::uow::Uow;
use crate::error::{Error, Result};
use crate::event::EventQuery;
use crate::ids::ContactId;
use crate::model::{
    Action, Activity, Campaign, CampaignMember, Case, Company, Consent, Contact, Deal, Entity, Feedback, Invoice,
    Order, Payment, Relation,
};
use crate::query::Filter;

/// Events read per page while the history is gathered.
const PAGE: usize = 1000;

/// Everything held about one person (see [`Privacy::subject_access`]). Serialises to JSON
/// ([`to_json`](Self::to_json)); [`document`](Self::document) is the same for a person to read.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SubjectAccess {
    /// When the export was made.
    pub generated_at: DateTime<Utc>,
    /// Their profile.
    pub contact: Contact,
    /// The companies they work at or are related to.
    pub companies: Vec<Company>,
    /// Their relations to other people and companies.
    pub relations: Vec<Relation>,
    /// Deals they are part of.
    pub deals: Vec<Deal>,
    /// Calls, meetings, emails (with their bodies), notes and tasks about them.
    pub activities: Vec<Activity>,
    /// Their orders.
    pub orders: Vec<Order>,
    /// Their invoices.
    pub invoices: Vec<Invoice>,
    /// Their payments.
    pub payments: Vec<Payment>,
    /// Their service cases.
    pub cases: Vec<Case>,
    /// What they told us.
    pub feedback: Vec<Feedback>,
    /// The campaigns they were in.
    pub campaigns: Vec<Campaign>,
    /// Their membership of each campaign, with their responses.
    pub campaign_memberships: Vec<CampaignMember>,
    /// Their consent ledger.
    pub consents: Vec<Consent>,
    /// Every recorded change of their profile: who changed what, when, from what to what.
    pub history: Vec<AuditEntry>,
}

impl Privacy<'_> {
    /// Everything held about contact `contact`, for a subject access request. Needs
    /// [`Permission::PrivacyRequests`](crate::model::Permission::PrivacyRequests) and read access
    /// to the contact; the export is whole (fields withheld from the actor's roles included):
    /// the person has a right to all of it.
    pub async fn subject_access(&self, contact: ContactId) -> Result<SubjectAccess> {
        self.require_permission("export what is held about a person").await?;
        let mut uow = Uow::read(self.s).await?;
        let c = uow.load::<Contact>(contact, Action::Read).await?;
        let of = || Filter::eq("contact_id", contact);
        let relations =
            uow.tx.find_all::<Relation>(Filter::eq("from_id", contact).or(Filter::eq("to_id", contact))).await?;
        let mut company_ids: Vec<uuid::Uuid> = c.company_id.iter().map(|id| id.as_uuid()).collect();
        for r in &relations {
            for end in [r.from, r.to] {
                if end.kind == crate::entity::EntityKind::Company && !company_ids.contains(&end.id) {
                    company_ids.push(end.id);
                }
            }
        }
        let companies = match company_ids.is_empty() {
            true => Vec::new(),
            false => uow.tx.find_all::<Company>(Filter::is_in("id", company_ids)).await?,
        };
        let campaign_memberships = uow.tx.find_all::<CampaignMember>(of()).await?;
        let campaign_ids: Vec<uuid::Uuid> = campaign_memberships.iter().map(|m| m.campaign_id.as_uuid()).collect();
        let campaigns = match campaign_ids.is_empty() {
            true => Vec::new(),
            false => uow.tx.find_all::<Campaign>(Filter::is_in("id", campaign_ids)).await?,
        };
        let mut activities = uow.tx.find_all::<Activity>(Filter::contains("contact_ids", contact)).await?;
        activities.sort_by_key(|a| (a.occurred_at, a.id));
        let mut consents = uow.tx.find_all::<Consent>(of()).await?;
        consents.sort_by_key(|e| (e.given_at, e.created_at, e.id));
        let out = SubjectAccess {
            generated_at: uow.now,
            companies,
            relations,
            deals: uow.tx.find_all::<Deal>(Filter::contains("contact_ids", contact)).await?,
            activities,
            orders: uow.tx.find_all::<Order>(of()).await?,
            invoices: uow.tx.find_all::<Invoice>(of()).await?,
            payments: uow.tx.find_all::<Payment>(of()).await?,
            cases: uow.tx.find_all::<Case>(of()).await?,
            feedback: uow.tx.find_all::<Feedback>(of()).await?,
            campaigns,
            campaign_memberships,
            consents,
            history: Vec::new(),
            contact: c,
        };
        drop(uow);
        let me = out.contact.entity_ref();
        let store = &self.s.crm.inner.store;
        let mut q = EventQuery::after(0, PAGE);
        let mut history = Vec::new();
        loop {
            let batch = store.read_events(self.s.tenant(), &q).await?;
            history.extend(batch.iter().filter(|e| e.event.subject == me).flat_map(AuditEntry::of));
            match batch.last() {
                Some(last) if batch.len() == PAGE => q.after = last.seq,
                _ => break,
            }
        }
        Ok(SubjectAccess { history, ..out })
    }
}

impl SubjectAccess {
    /// The export as JSON.
    pub fn to_json(&self) -> Result<serde_json::Value> {
        serde_json::to_value(self).map_err(|e| Error::storage(format!("the export did not serialise: {e}")))
    }

    /// The export as a document for the person to read (Markdown): a section per kind of data,
    /// each record with every field that holds something.
    pub fn document(&self) -> String {
        let mut out = String::new();
        let name = self.contact.full_name();
        let _ = writeln!(out, "# What we hold about {name}\n");
        let _ = writeln!(out, "Prepared {} (UTC).\n", self.generated_at.format("%Y-%m-%d %H:%M"));
        section(&mut out, "Profile", std::slice::from_ref(&self.contact), |_| name.clone());
        section(&mut out, "Companies", &self.companies, |c| c.name.clone());
        section(&mut out, "Relations", &self.relations, |r| r.label.to_string());
        section(&mut out, "Deals", &self.deals, |d| d.name.clone());
        section(&mut out, "Activities", &self.activities, |a| format!("{} — {}", a.kind, a.subject));
        section(&mut out, "Orders", &self.orders, |o| format!("Order {}", o.number));
        section(&mut out, "Invoices", &self.invoices, |i| format!("Invoice {}", i.number));
        section(&mut out, "Payments", &self.payments, |p| format!("Payment of {}", p.amount));
        section(&mut out, "Service cases", &self.cases, |c| c.subject.clone());
        section(&mut out, "Feedback", &self.feedback, |f| f.kind.to_string());
        section(&mut out, "Campaigns", &self.campaigns, |c| c.name.clone());
        section(&mut out, "Campaign memberships", &self.campaign_memberships, |m| {
            format!("Campaign {}", m.campaign_id)
        });
        section(&mut out, "Consent", &self.consents, |c| format!("{}: {}", c.purpose, c.status));
        let _ = writeln!(out, "## Changes to the profile\n");
        if self.history.is_empty() {
            let _ = writeln!(out, "None recorded.\n");
        }
        for h in &self.history {
            let by = h.actor.map_or_else(|| "the system".to_owned(), |u| format!("user {u}"));
            let _ =
                writeln!(out, "- {} by {by}: `{}` from {} to {}", h.at.format("%Y-%m-%d %H:%M"), h.field, h.old, h.new);
        }
        out
    }
}

/// A section of the document: a heading per record, a line per field that holds something.
fn section<T: Serialize>(out: &mut String, title: &str, items: &[T], heading: impl Fn(&T) -> String) {
    let _ = writeln!(out, "## {title}\n");
    if items.is_empty() {
        let _ = writeln!(out, "None.\n");
        return;
    }
    for item in items {
        let _ = writeln!(out, "### {}\n", heading(item));
        if let Ok(serde_json::Value::Object(fields)) = serde_json::to_value(item) {
            for (k, v) in fields {
                if k == "tenant_id" || k == "version" {
                    continue;
                }
                lines(out, &k, &v);
            }
        }
        out.push('\n');
    }
}

/// `- path: value` for each value under `v` that holds something.
fn lines(out: &mut String, path: &str, v: &serde_json::Value) {
    use serde_json::Value as J;
    match v {
        J::Null => {}
        J::String(s) if s.is_empty() => {}
        J::String(s) => {
            let _ = writeln!(out, "- {path}: {s}");
        }
        J::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                lines(out, &format!("{path}[{}]", i + 1), x);
            }
        }
        J::Object(o) => {
            for (k, x) in o {
                lines(out, &format!("{path}.{k}"), x);
            }
        }
        other => {
            let _ = writeln!(out, "- {path}: {other}");
        }
    }
}
