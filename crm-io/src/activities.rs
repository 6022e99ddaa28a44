//! Activities from a file: calls, emails, meetings, notes and tasks, with the people,
//! companies and deals they are about found by name.

use crm_core::error::Error;
use crm_core::ids::ActivityId;
use crm_core::model::{Activity, ActivityKind, Direction, Outcome};
use crm_core::service::{ImportOptions, NewActivity, Session};

use crate::coerce;
use crate::contacts::external_keys;
use crate::import::FileImport;
use crate::kind::{Fut, MatchBy, Reader, add_new, column_basics, create_each, find_external, find_id, sealed::Kind};
use crate::lookups::{CompanyRef, ContactRef, Lookups};
use crate::mapping::{Preset, normalised};

/// An import of activities, such as another CRM's call and meeting history. A row without a
/// type column is a note. Imported again with [`MatchBy::ExternalId`] (the other system's id of
/// each call or meeting), the activities already there are updated or skipped.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> crm_io::Result<()> {
/// use crm_core::prelude::*;
/// use crm_core::model::ActivityKind;
/// use crm_io::{ActivityImport, Table};
/// let crm = Crm::new(MemoryStore::new());
/// let cx = crm.as_actor(&Actor::system(TenantId::new()));
/// let ada = cx.contacts().create(NewContact::new("Ada", "Lovelace")).await?;
/// let file = "Type,Subject,Date,Duration (minutes),Contact\n\
///             Phone call,Discovery,2026-10-01 09:30,25,Ada Lovelace\n";
/// let report = ActivityImport::new().run(&cx, Table::csv(file.as_bytes())?, |_| {}).await?;
/// let call = cx.activities().get(report.imported[0]).await?;
/// assert_eq!((call.kind, call.duration_secs, call.contact_ids), (ActivityKind::Call, Some(1500), vec![ada.id]));
/// # Ok(()) }
/// ```
pub type ActivityImport = FileImport<Activity>;

/// What a column of an activities file fills.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ActivityColumn {
    /// Call, email, meeting, note or task (`Phone call`, `To-do`… are understood).
    Kind,
    /// Subject or title.
    Subject,
    /// Body, notes.
    Body,
    /// When it happened (a date or date and time, UTC).
    OccurredAt,
    /// When it is due (tasks and meetings).
    DueAt,
    /// When it was completed (tasks).
    CompletedAt,
    /// Length in minutes (calls and meetings).
    DurationMinutes,
    /// Length in seconds (calls and meetings).
    DurationSeconds,
    /// Inbound, outbound or internal.
    Direction,
    /// How it ended (`connected`, `no answer`…).
    Outcome,
    /// People it is about, by email address or whole name (a multi-value cell adds each).
    Contact,
    /// A person it is about, by their id in this other system.
    ContactExternalId(String),
    /// A company it is about, by name: found, or created.
    Company,
    /// A company it is about, by its id in this other system.
    CompanyExternalId(String),
    /// A deal it is about, by name.
    Deal,
    /// Its id in this other system (a phone system's call id…), kept among its external ids.
    ExternalId(String),
    /// The activity's id in this CRM (a UUID), to update or skip one already there.
    Id,
    /// A custom field, by key.
    Custom(String),
    /// Not imported.
    Ignore,
}

/// Activity-type labels other CRMs use.
const KINDS: &[(&str, &str)] = &[
    ("phone_call", "call"),
    ("logged_call", "call"),
    ("phone", "call"),
    ("e_mail", "email"),
    ("logged_email", "email"),
    ("mail", "email"),
    ("event", "meeting"),
    ("appointment", "meeting"),
    ("to_do", "task"),
    ("todo", "task"),
    ("comment", "note"),
];

/// What an activities row says.
#[derive(Debug)]
pub struct ActivityRow {
    activity: NewActivity,
    id: Option<ActivityId>,
    contacts: Vec<(String, ContactRef)>,
    companies: Vec<(String, CompanyRef)>,
    deals: Vec<(String, String)>,
}

impl Kind for Activity {
    type Column = ActivityColumn;
    type Input = NewActivity;
    type Row = ActivityRow;
    const MATCHES: &'static str = "external id or id";
    const PLURAL: &'static str = "activities";
    const UPDATES: bool = true;

    column_basics!(ActivityColumn);
    fn missing(columns: &[(String, ActivityColumn)]) -> Option<String> {
        let titled = columns.iter().any(|(_, c)| *c == ActivityColumn::Subject);
        (!titled).then(|| "no column gives the activity's subject; map one with `map`".into())
    }

    fn read(r: &Reader<'_, ActivityColumn>, cells: &[String]) -> Result<ActivityRow, Error> {
        use ActivityColumn as C;
        let mut a = NewActivity::note("");
        let mut row = ActivityRow {
            activity: NewActivity::note(""),
            id: None,
            contacts: Vec::new(),
            companies: Vec::new(),
            deals: Vec::new(),
        };
        for cell in r.cells(cells)? {
            let h = || cell.header.to_owned();
            match cell.column {
                C::Kind => a.kind = cell.option::<ActivityKind>(KINDS)?,
                C::Subject => a.subject = cell.text(),
                C::Body => a.body = Some(cell.text()),
                C::OccurredAt => a.occurred_at = Some(cell.datetime(r.dates)?),
                C::DueAt => a.due_at = Some(cell.datetime(r.dates)?),
                C::CompletedAt => a.completed_at = Some(cell.datetime(r.dates)?),
                C::DurationMinutes => a.duration_secs = Some(seconds(&cell, 60)?),
                C::DurationSeconds => a.duration_secs = Some(seconds(&cell, 1)?),
                C::Direction => {
                    a.direction = Some(cell.option::<Direction>(&[("incoming", "inbound"), ("outgoing", "outbound")])?)
                }
                C::Outcome => a.outcome = Some(cell.option::<Outcome>(&[("no_response", "no_answer")])?),
                C::Contact => {
                    row.contacts.extend(coerce::multi(cell.v).into_iter().map(|w| (h(), ContactRef::Text(w))))
                }
                C::ContactExternalId(system) => row
                    .contacts
                    .extend(coerce::multi(cell.v).into_iter().map(|w| (h(), ContactRef::External(system.clone(), w)))),
                C::Company => row.companies.push((h(), CompanyRef::Name(cell.text()))),
                C::CompanyExternalId(system) => {
                    row.companies.push((h(), CompanyRef::External(system.clone(), cell.text())))
                }
                C::Deal => row.deals.push((h(), cell.text())),
                C::ExternalId(system) => a = a.external_ref(system.clone(), cell.text()),
                C::Id => row.id = Some(cell.id("activity")?),
                C::Custom(key) => {
                    if let Some((k, value)) = r.custom(&cell, key)? {
                        a.custom.insert(k, value);
                    }
                }
                C::Ignore => {}
            }
        }
        row.activity = a;
        Ok(row)
    }

    fn resolve<'a>(
        cx: &'a Session,
        lookups: &'a mut Lookups,
        row: ActivityRow,
    ) -> Fut<'a, Result<(NewActivity, Option<ActivityId>), Error>> {
        Box::pin(async move {
            let mut a = row.activity;
            for who in &row.contacts {
                let id = lookups.contact_ref(cx, who).await?;
                if !a.contact_ids.contains(&id) {
                    a.contact_ids.push(id);
                }
            }
            for (header, name) in &row.deals {
                let id = lookups.deal(cx, header, name).await?;
                if !a.deal_ids.contains(&id) {
                    a.deal_ids.push(id);
                }
            }
            // What may refuse the row is looked up before a missing company is created.
            for company in &row.companies {
                if let Some(id) = lookups.company_ref(cx, company).await?
                    && !a.company_ids.contains(&id)
                {
                    a.company_ids.push(id);
                }
            }
            Ok((a, row.id))
        })
    }

    fn matches(by: &MatchBy) -> bool {
        matches!(by, MatchBy::ExternalId(_) | MatchBy::Id)
    }
    fn keys(by: &MatchBy, input: &NewActivity, id: Option<ActivityId>) -> Vec<String> {
        match by {
            MatchBy::ExternalId(system) => external_keys(&input.external_refs, system),
            _ => id.map(|i| i.to_string()).into_iter().collect(),
        }
    }
    fn find<'a>(cx: &'a Session, by: &'a MatchBy, key: &'a str) -> Fut<'a, Result<Option<ActivityId>, Error>> {
        Box::pin(async move {
            match by {
                MatchBy::ExternalId(system) => find_external::<Activity>(cx, system, key).await,
                _ => find_id::<Activity>(cx, key).await,
            }
        })
    }
    /// The row's subject (when not empty) and the times, length, direction, outcome and body it
    /// gives replace the stored ones; the people, companies, deals and external ids it names
    /// are added; custom values replace. Its kind stays (a call stays a call).
    fn apply<'a>(
        cx: &'a Session,
        id: ActivityId,
        input: NewActivity,
        _columns: &'a [(String, ActivityColumn)],
    ) -> Fut<'a, Result<ActivityId, Error>> {
        Box::pin(async move {
            let mut a = cx.activities().get(id).await?;
            if !input.subject.trim().is_empty() {
                a.subject = input.subject;
            }
            macro_rules! set {
                ($($f:ident),*) => {$( if input.$f.is_some() { a.$f = input.$f; } )*};
            }
            set!(body, due_at, completed_at, duration_secs, outcome, direction, channel);
            if let Some(t) = input.occurred_at {
                a.occurred_at = t;
            }
            add_new(&mut a.contact_ids, input.contact_ids);
            add_new(&mut a.company_ids, input.company_ids);
            add_new(&mut a.deal_ids, input.deal_ids);
            add_new(&mut a.external_refs, input.external_refs);
            a.custom.extend(input.custom);
            cx.activities().update(a).await.map(|a| a.id)
        })
    }
    fn create<'a>(
        cx: &'a Session,
        inputs: Vec<NewActivity>,
        _options: &'a ImportOptions,
    ) -> Fut<'a, Result<Vec<Result<ActivityId, Error>>, Error>> {
        let activities = cx.activities();
        Box::pin(create_each(inputs, move |a| async move { activities.create(a).await.map(|a| a.id) }))
    }
    fn check<'a>(cx: &'a Session, input: NewActivity) -> Fut<'a, Result<(), Error>> {
        Box::pin(async move { cx.activities().check(input).await })
    }
}

/// A length in whole `unit`s as seconds.
fn seconds(cell: &crate::kind::Cell<'_, ActivityColumn>, unit: u32) -> Result<u32, Error> {
    let n = cell.decimal()?;
    let secs = (n * rust_decimal::Decimal::from(unit)).round();
    u32::try_from(secs).map_err(|_| {
        cell.bad(crm_core::error::FieldErrorCode::OutOfRange, format!("`{}` is not a length of time", cell.v))
    })
}

/// No vendor export of activities is known.
fn preset_columns(_preset: Preset) -> Vec<(&'static str, ActivityColumn)> {
    Vec::new()
}

/// The column an obvious header names.
fn obvious(header: &str) -> Option<ActivityColumn> {
    use ActivityColumn as C;
    Some(match normalised(header).as_str() {
        "type" | "kind" | "activitytype" | "activity" => C::Kind,
        "subject" | "title" | "name" => C::Subject,
        "body" | "notes" | "note" | "description" | "details" => C::Body,
        "date" | "occurredat" | "activitydate" | "when" | "datetime" => C::OccurredAt,
        "due" | "duedate" | "dueat" => C::DueAt,
        "completed" | "completedat" | "donedate" => C::CompletedAt,
        "duration" | "durationminutes" | "minutes" => C::DurationMinutes,
        "durationseconds" | "seconds" => C::DurationSeconds,
        "direction" => C::Direction,
        "outcome" | "result" => C::Outcome,
        "contact" | "contacts" | "person" | "contactemail" | "contactname" | "with" => C::Contact,
        "company" | "companyname" | "organization" | "organisation" | "account" => C::Company,
        "deal" | "dealname" | "opportunity" => C::Deal,
        _ => return None,
    })
}
