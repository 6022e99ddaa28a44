//! Bulk import (`Contacts::import`, `Companies::import`) proved through the public service API
//! on a `MemoryStore`: batching and progress, skipped and reported invalid rows, stopping on an
//! invalid row and resuming, option checks, references and custom fields, and a store that
//! fails mid-import.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use crm_core::error::{ImportReport, Rejected};
use crm_core::model::{FieldDefinition, FieldType};
use crm_core::prelude::*;
use crm_core::query::{Filter, Page, Query};
use crm_core::service::extension::{Extension, HookContext, WriteOp};
use crm_core::service::{ImportOptions, ImportProgress};
use crm_core::store::TxMode;
use crm_core::testkit::faults::{At, Fault, FaultyStore};
use uuid::Uuid;

// ---------------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------------

/// A CRM over `store` that reads phone numbers without `+country` as US numbers.
fn crm_over(store: impl Store) -> Crm {
    Crm::builder(store).default_region("US").build().expect("valid configuration")
}

/// The system actor of a fresh tenant.
fn session(crm: &Crm) -> Session {
    crm.as_actor(&Actor::system(TenantId::from_uuid(Uuid::now_v7())))
}

/// A valid contact whose family name identifies input row `i`.
fn row(i: usize) -> NewContact {
    NewContact::new("Ada", format!("Row {i:04}")).email(format!("row{i}@example.com"))
}

/// Runs a contact import, recording every progress report.
async fn import_contacts(
    cx: &Session,
    rows: Vec<NewContact>,
    options: &ImportOptions,
) -> (Result<ImportReport<ContactId>>, Vec<ImportProgress>) {
    let mut seen = Vec::new();
    let result = cx.contacts().import(rows, options, |p| seen.push(p.clone())).await;
    (result, seen)
}

/// `(rows_read, imported, rejected, batches)` of each progress report.
fn progress_tuples(seen: &[ImportProgress]) -> Vec<(usize, usize, usize, usize)> {
    seen.iter().map(|p| (p.rows_read, p.imported, p.rejected, p.batches)).collect()
}

/// The `(field, code)` pairs of a validation error (empty for any other error).
fn fields(err: &Error) -> Vec<(&str, FieldErrorCode)> {
    err.field_errors().iter().map(|e| (e.field.as_str(), e.code)).collect()
}

/// `(row, fields)` of each rejected row.
fn rejections(report_rejected: &[Rejected]) -> Vec<(usize, Vec<(&str, FieldErrorCode)>)> {
    report_rejected.iter().map(|r| (r.row, fields(&r.error))).collect()
}

/// Family names of every stored contact.
async fn stored_family_names(cx: &Session) -> BTreeSet<String> {
    let page: Page<Contact> = cx.contacts().list(&Query::new(Filter::All).limit(1000)).await.unwrap();
    assert!(page.next.is_none(), "more contacts than one page holds");
    page.items.into_iter().map(|c| c.family_name).collect()
}

/// Every committed event of the session's tenant.
async fn all_events(cx: &Session) -> Vec<StoredEvent> {
    cx.events(&EventQuery::after(0, 100_000)).await.unwrap()
}

/// Subjects of the committed `Created` events about records of `kind`, in outbox order.
async fn created(cx: &Session, kind: EntityKind) -> Vec<Uuid> {
    all_events(cx)
        .await
        .into_iter()
        .filter(|e| e.event.change == Change::Created && e.event.subject.kind == kind)
        .map(|e| e.event.subject.id)
        .collect()
}

async fn contact_count(cx: &Session) -> u64 {
    cx.contacts().count(&Filter::All).await.unwrap()
}

// ---------------------------------------------------------------------------------------------
// Batching, progress and the outbox
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn imports_in_batches_reporting_progress_after_each_and_one_event_per_contact() {
    let crm = crm_over(MemoryStore::new());
    let cx = session(&crm);
    let rows: Vec<_> = (0..1234).map(row).collect();

    let (report, seen) = import_contacts(&cx, rows, &ImportOptions::default().batch_size(500)).await;
    let report = report.unwrap();

    // One report per committed batch: 500 + 500 + 234 rows.
    assert_eq!(progress_tuples(&seen), [(500, 500, 0, 1), (1000, 1000, 0, 2), (1234, 1234, 0, 3)]);
    assert_eq!(report.batches, 3);
    assert!(report.rejected.is_empty());

    // Ids in input order: the i-th id is the contact of row i.
    assert_eq!(report.imported.len(), 1234);
    assert_eq!(report.imported.iter().collect::<BTreeSet<_>>().len(), 1234, "ids are distinct");
    for i in [0, 1, 499, 500, 999, 1000, 1233] {
        let c = cx.contacts().get(report.imported[i]).await.unwrap();
        assert_eq!(c.family_name, format!("Row {i:04}"), "id {i} belongs to another row");
        assert_eq!(c.primary_email().unwrap().as_str(), format!("row{i}@example.com"));
    }
    assert_eq!(contact_count(&cx).await, 1234);

    // The outbox holds exactly one `Created` per contact, in input order, and nothing else.
    let expected: Vec<Uuid> = report.imported.iter().map(|id| id.as_uuid()).collect();
    assert_eq!(created(&cx, EntityKind::Contact).await, expected);
    assert_eq!(all_events(&cx).await.len(), 1234);
}

#[tokio::test]
async fn an_empty_input_imports_nothing_and_reports_no_progress() {
    let crm = crm_over(MemoryStore::new());
    let cx = session(&crm);

    let (report, seen) = import_contacts(&cx, Vec::new(), &ImportOptions::default()).await;
    let report = report.unwrap();

    assert!(report.imported.is_empty() && report.rejected.is_empty());
    assert_eq!(report.batches, 0);
    assert!(seen.is_empty());
    assert!(all_events(&cx).await.is_empty());
}

// ---------------------------------------------------------------------------------------------
// Invalid rows
// ---------------------------------------------------------------------------------------------

/// UK and German numbers written the international way with the trunk prefix in brackets
/// import under a US default region as their own country's numbers; a number that is not one
/// is reported on its row, with the field and the reason.
#[tokio::test]
async fn international_spellings_with_the_trunk_prefix_import() {
    let crm = crm_over(MemoryStore::new());
    let cx = session(&crm);
    let written =
        ["+44 (0)20 8592 4242", "+44 (0) 20 7946 0958", "+49 (0)89 5796379", "0044 (0)20 8592 4242", "+44 (0)20"];
    let rows: Vec<_> = written.iter().enumerate().map(|(i, p)| row(i).phone(*p)).collect();
    let (report, _) = import_contacts(&cx, rows, &ImportOptions::default()).await;
    let report = report.unwrap();
    assert_eq!(report.imported.len(), 3, "{:?}", report.rejected);
    let mut stored = Vec::new();
    for id in &report.imported {
        stored.push(cx.contacts().get(*id).await.unwrap().phones[0].number.as_str().to_owned());
    }
    assert_eq!(stored, ["+442085924242", "+442079460958", "+49895796379"]);
    // `0044` is the international call prefix of Europe, not of the US default region.
    assert_eq!(
        rejections(&report.rejected),
        [
            (3, vec![("phones[0]", FieldErrorCode::InvalidFormat)]),
            (4, vec![("phones[0]", FieldErrorCode::InvalidFormat)])
        ]
    );
    let reason = &report.rejected[1].error.field_errors()[0].message;
    assert!(reason.contains("+44 (0)20") && reason.contains("not a valid phone number"), "{reason}");
}

#[tokio::test]
async fn invalid_rows_are_skipped_and_reported_with_the_field_at_fault() {
    let crm = crm_over(MemoryStore::new());
    let cx = session(&crm);
    let ghost = CompanyId::from_uuid(Uuid::now_v7()); // never created
    let mut rows: Vec<_> = (0..10).map(row).collect();
    rows[1] = NewContact::new("Bad", "Email").email("not-an-email");
    rows[4] = NewContact::new("  ", "");
    rows[6] = NewContact::new("Bad", "Phone").phone("call me maybe");
    rows[9] = NewContact::new("Bad", "Company").works_at(ghost, None, None);

    let (report, seen) = import_contacts(&cx, rows, &ImportOptions::default().batch_size(4)).await;
    let report = report.unwrap();

    // Each rejection names the input row and only the field at fault.
    assert_eq!(
        rejections(&report.rejected),
        [
            (1, vec![("emails[0]", FieldErrorCode::InvalidFormat)]),
            (4, vec![("given_name", FieldErrorCode::Required)]),
            (6, vec![("phones[0]", FieldErrorCode::InvalidFormat)]),
            (9, vec![("company_id", FieldErrorCode::NotFound)]),
        ]
    );
    assert!(report.rejected.iter().all(|r| matches!(r.error, Error::Validation(_))));

    // Batches [0..4), [4..8), [8..10): rejections are counted as they happen.
    assert_eq!(progress_tuples(&seen), [(4, 3, 1, 1), (8, 5, 3, 2), (10, 6, 4, 3)]);

    // The valid rows are stored, and only they, with ids in input order.
    let valid = [0, 2, 3, 5, 7, 8];
    assert_eq!(report.imported.len(), valid.len());
    for (id, i) in report.imported.iter().zip(valid) {
        assert_eq!(cx.contacts().get(*id).await.unwrap().family_name, format!("Row {i:04}"));
    }
    assert_eq!(contact_count(&cx).await, 6);
    assert_eq!(created(&cx, EntityKind::Contact).await.len(), 6);
}

#[tokio::test]
async fn stop_on_invalid_stops_at_the_failing_batch_and_the_import_resumes_from_there() {
    let crm = crm_over(MemoryStore::new());
    let cx = session(&crm);
    let options = ImportOptions::default().batch_size(10).stop_on_invalid(true);
    let mut rows: Vec<_> = (0..25).map(row).collect();
    rows[13] = NewContact::new("Ada", "Row 0013").email("row13@@example.com");

    let (result, seen) = import_contacts(&cx, rows.clone(), &options).await;

    // The second batch (rows 10..20) failed because of row 13; the first was committed.
    match result.unwrap_err() {
        Error::Import { resume_at, row: bad, report, source } => {
            assert_eq!((resume_at, report.imported.len(), bad), (10, 10, Some(13)));
            assert!(report.rejected.is_empty());
            assert!(matches!(*source, Error::Validation(_)), "source: {source:?}");
            assert_eq!(fields(&source), [("emails[0]", FieldErrorCode::InvalidFormat)]);
        }
        other => panic!("expected Error::Import, got {other:?}"),
    }
    assert_eq!(progress_tuples(&seen), [(10, 10, 0, 1)]);

    // Nothing of the second batch is stored, not even its valid rows 10..13.
    assert_eq!(contact_count(&cx).await, 10);
    assert_eq!(stored_family_names(&cx).await, (0..10).map(|i| format!("Row {i:04}")).collect());
    assert_eq!(created(&cx, EntityKind::Contact).await.len(), 10);

    // Fixing row 13 and re-running from `resume_at` completes the import; `first_row` keeps
    // the row numbers of the whole input.
    rows[13] = row(13);
    let (report, seen) = import_contacts(&cx, rows.split_off(10), &options.clone().first_row(10)).await;
    let report = report.unwrap();
    assert_eq!(report.imported.len(), 15);
    assert_eq!(progress_tuples(&seen), [(20, 10, 0, 1), (25, 15, 0, 2)]);
    assert_eq!(contact_count(&cx).await, 25);
    assert_eq!(stored_family_names(&cx).await, (0..25).map(|i| format!("Row {i:04}")).collect());
    assert_eq!(created(&cx, EntityKind::Contact).await.len(), 25);
}

// ---------------------------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn batch_sizes_outside_1_to_100_000_are_refused_before_anything_is_written() {
    let crm = crm_over(MemoryStore::new());
    let cx = session(&crm);

    for size in [0, 100_001] {
        let (result, seen) =
            import_contacts(&cx, (0..3).map(row).collect(), &ImportOptions::default().batch_size(size)).await;
        let err = result.unwrap_err();
        assert_eq!(fields(&err), [("batch_size", FieldErrorCode::OutOfRange)], "batch size {size}: {err:?}");
        assert!(seen.is_empty());

        let mut seen = 0;
        let err = cx
            .companies()
            .import([NewCompany::new("Acme")], &ImportOptions::default().batch_size(size), |_| seen += 1)
            .await
            .unwrap_err();
        assert_eq!(fields(&err), [("batch_size", FieldErrorCode::OutOfRange)], "batch size {size}: {err:?}");
        assert_eq!(seen, 0);
    }
    assert_eq!(contact_count(&cx).await, 0);
    assert_eq!(cx.companies().count(&Filter::All).await.unwrap(), 0);
    assert!(all_events(&cx).await.is_empty());

    // The bounds themselves are accepted.
    for size in [1, 100_000] {
        let (result, _) = import_contacts(&cx, vec![row(size)], &ImportOptions::default().batch_size(size)).await;
        assert_eq!(result.unwrap().imported.len(), 1, "batch size {size}");
    }
    assert_eq!(contact_count(&cx).await, 2);
}

// ---------------------------------------------------------------------------------------------
// Companies
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn companies_import_like_contacts_and_are_searchable() {
    let crm = crm_over(MemoryStore::new());
    let cx = session(&crm);
    let rows = vec![
        NewCompany::new("Acme Logistics").domain("acme-logistics.com"),
        NewCompany::new("Acme Bad").domain("acme"), // no top-level domain
        NewCompany::new("Globex").domain("https://www.globex.com/about"),
        NewCompany::new(" "),
        NewCompany::new("Initech").phone("(415) 555-2671"),
    ];

    let mut seen = Vec::new();
    let report =
        cx.companies().import(rows, &ImportOptions::default().batch_size(2), |p| seen.push(p.clone())).await.unwrap();

    assert_eq!(
        rejections(&report.rejected),
        [(1, vec![("domain", FieldErrorCode::InvalidFormat)]), (3, vec![("name", FieldErrorCode::Required)])]
    );
    assert_eq!(progress_tuples(&seen), [(2, 1, 1, 1), (4, 2, 2, 2), (5, 3, 2, 3)]);

    // Stored in input order, normalised as `create` would.
    let names: Vec<String> = {
        let mut v = Vec::new();
        for id in &report.imported {
            v.push(cx.companies().get(*id).await.unwrap().name);
        }
        v
    };
    assert_eq!(names, ["Acme Logistics", "Globex", "Initech"]);
    let globex = cx.companies().get(report.imported[1]).await.unwrap();
    assert_eq!(globex.domain.as_ref().map(|d| d.as_str()), Some("globex.com"));
    let initech = cx.companies().get(report.imported[2]).await.unwrap();
    assert_eq!(initech.phones[0].number.as_str(), "+14155552671");
    assert_eq!(cx.companies().count(&Filter::All).await.unwrap(), 3);
    let expected: Vec<Uuid> = report.imported.iter().map(|id| id.as_uuid()).collect();
    assert_eq!(created(&cx, EntityKind::Company).await, expected);

    // The search index knows the imported companies, and not the refused one.
    let hits = cx.search("acme").await.unwrap();
    assert!(matches!(&hits[..], [Record::Company(c)] if c.id == report.imported[0]), "hits: {hits:?}");
    let hits = cx.search("globex").await.unwrap();
    assert!(matches!(&hits[..], [Record::Company(c)] if c.id == report.imported[1]), "hits: {hits:?}");
}

// ---------------------------------------------------------------------------------------------
// References and custom fields
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn contacts_link_to_imported_companies_and_custom_values_are_type_checked() {
    let crm = crm_over(MemoryStore::new());
    let cx = session(&crm);
    let companies = cx
        .companies()
        .import([NewCompany::new("Acme"), NewCompany::new("Globex")], &ImportOptions::default(), |_| {})
        .await
        .unwrap()
        .imported;
    let (acme, globex) = (companies[0], companies[1]);
    cx.custom_fields()
        .define(FieldDefinition::new(EntityKind::Contact, "budget", "Budget", FieldType::Number))
        .await
        .unwrap();

    let rows = vec![
        NewContact::new("Ann", "Acme").works_at(acme, Some("CTO"), None).custom("budget", 1200i64),
        NewContact::new("Bob", "Globex").works_at(globex, None, None),
        NewContact::new("Cy", "Typo").works_at(acme, None, None).custom("budget", "lots"),
        NewContact::new("Di", "Unknown").custom("budgett", 5i64),
        NewContact::new("Ed", "Solo").custom("budget", 7i64),
    ];
    let (report, _) = import_contacts(&cx, rows, &ImportOptions::default().batch_size(2)).await;
    let report = report.unwrap();

    assert_eq!(
        rejections(&report.rejected),
        [
            (2, vec![("custom.budget", FieldErrorCode::TypeMismatch)]),
            (3, vec![("custom.budgett", FieldErrorCode::UnknownField)]),
        ]
    );
    assert_eq!(report.imported.len(), 3);
    let [ann, bob, ed] = [report.imported[0], report.imported[1], report.imported[2]];

    let ann = cx.contacts().get(ann).await.unwrap();
    assert_eq!((ann.given_name.as_str(), ann.company_id, ann.job_title.as_deref()), ("Ann", Some(acme), Some("CTO")));
    assert_eq!(ann.custom.get("budget"), Some(&Value::Int(1200)));
    let bob = cx.contacts().get(bob).await.unwrap();
    assert_eq!((bob.given_name.as_str(), bob.company_id), ("Bob", Some(globex)));
    assert!(bob.custom.is_empty());
    let ed = cx.contacts().get(ed).await.unwrap();
    assert_eq!((ed.given_name.as_str(), ed.custom.get("budget")), ("Ed", Some(&Value::Int(7))));

    // Stored values are queryable, and the `Created` events touch the company.
    let rich = cx.contacts().count(&Filter::eq("custom.budget", 1200i64)).await.unwrap();
    assert_eq!(rich, 1);
    let about_acme = cx
        .events(&EventQuery { touching: Some(EntityRef::new(EntityKind::Company, acme)), ..EventQuery::after(0, 100) })
        .await
        .unwrap();
    let subjects: Vec<Uuid> = about_acme.iter().map(|e| e.event.subject.id).collect();
    assert_eq!(subjects, [acme.as_uuid(), ann.id.as_uuid()]);
}

// ---------------------------------------------------------------------------------------------
// Store failures
// ---------------------------------------------------------------------------------------------

/// A `MemoryStore` whose `fail_at`-th write commit (from 1) fails, writing nothing.
fn flaky(store: MemoryStore, fail_at: usize) -> FaultyStore {
    FaultyStore::new(Arc::new(store), move |at| match at {
        At::Commit { mode: TxMode::ReadWrite, nth } if nth == fail_at => Some(Fault::Before),
        _ => None,
    })
}

#[tokio::test]
async fn a_failed_commit_stops_the_import_after_the_committed_batches() {
    let store = MemoryStore::new();
    let flaky = flaky(store.clone(), 2);
    let crm = crm_over(flaky.clone());
    let cx = session(&crm);
    let options = ImportOptions::default().batch_size(50);
    let mut rows: Vec<_> = (0..150).map(row).collect();
    rows[7] = NewContact::new("Ada", "Row 0007").email("nope"); // skipped, so 49 records per first batch

    let (result, seen) = import_contacts(&cx, rows.clone(), &options).await;

    // The second batch's commit failed: no row to blame, resume at the start of that batch.
    match result.unwrap_err() {
        Error::Import { resume_at, row: bad, report, source } => {
            assert_eq!((resume_at, report.imported.len(), bad), (50, 49, None));
            assert!(matches!(*source, Error::Storage(_)), "source: {source:?}");
            // The report of the committed batch: its ids and its rejected row.
            assert_eq!(report.rejected.iter().map(|r| r.row).collect::<Vec<_>>(), [7]);
            for id in &report.imported {
                let c = cx.contacts().get(ContactId::from_uuid(*id)).await.unwrap();
                assert_ne!(c.family_name, "Row 0007");
            }
        }
        other => panic!("expected Error::Import, got {other:?}"),
    }
    assert_eq!(flaky.write_commits(), 2, "the third batch must not be attempted");
    assert_eq!(progress_tuples(&seen), [(50, 49, 1, 1)]);

    // The store holds exactly the first batch's valid rows and their events (read past the wrapper).
    let first: BTreeSet<String> = (0..50).filter(|i| *i != 7).map(|i| format!("Row {i:04}")).collect();
    assert_eq!(contact_count(&cx).await, 49);
    assert_eq!(stored_family_names(&cx).await, first);
    let plain = Crm::new(store).as_actor(cx.actor());
    assert_eq!(created(&plain, EntityKind::Contact).await.len(), 49);

    // The failure was transient: resuming from `resume_at` completes the import.
    let (report, _) = import_contacts(&cx, rows.split_off(50), &options).await;
    assert_eq!(report.unwrap().imported.len(), 100);
    let all: BTreeSet<String> = (0..150).filter(|i| *i != 7).map(|i| format!("Row {i:04}")).collect();
    assert_eq!(stored_family_names(&cx).await, all);
    assert_eq!(created(&cx, EntityKind::Contact).await.len(), 149);
}

// ---------------------------------------------------------------------------------------------
// Extensions see a batch at once
// ---------------------------------------------------------------------------------------------

/// Checks and scores whole batches: refuses contacts whose family name starts with `Bad`,
/// computes `batch.initials`, and records the size of every batch it was given.
#[derive(Default)]
struct Batcher {
    validate_batches: std::sync::Mutex<Vec<usize>>,
    compute_batches: std::sync::Mutex<Vec<usize>>,
    single_calls: AtomicUsize,
    /// Returns one result too few from `validate_many`.
    miscount: bool,
}

fn family(r: &Record) -> &str {
    match r {
        Record::Contact(c) => &c.family_name,
        _ => "",
    }
}

#[async_trait]
impl Extension for Batcher {
    fn id(&self) -> &str {
        "batch"
    }

    fn fields(&self) -> Vec<FieldDefinition> {
        let mut d = FieldDefinition::new(EntityKind::Contact, "initials", "Initials", FieldType::Text);
        d.computed = true;
        vec![d]
    }

    fn validate(&self, _cx: &HookContext<'_>, _record: &Record) -> Result<()> {
        self.single_calls.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    fn validate_many(&self, cx: &HookContext<'_>, records: &[&Record]) -> Vec<Result<()>> {
        assert_eq!(cx.op, WriteOp::Create);
        assert!(cx.before.is_none());
        self.validate_batches.lock().unwrap().push(records.len());
        let mut out: Vec<Result<()>> = records
            .iter()
            .map(|r| match family(r).starts_with("Bad") {
                true => Err(Error::invalid("family_name", FieldErrorCode::Rule, "bad family")),
                false => Ok(()),
            })
            .collect();
        if self.miscount {
            out.pop();
        }
        out
    }

    fn compute_many(&self, _cx: &HookContext<'_>, records: &[&Record]) -> Vec<Result<Vec<(String, Value)>>> {
        self.compute_batches.lock().unwrap().push(records.len());
        records
            .iter()
            .map(|r| {
                let initials: String = family(r).split_whitespace().filter_map(|w| w.chars().next()).collect();
                Ok(vec![("initials".to_owned(), Value::Text(initials))])
            })
            .collect()
    }
}

/// Refuses contacts whose family name ends in `7`, one at a time (the default batch methods).
struct OneByOne(AtomicUsize);

#[async_trait]
impl Extension for OneByOne {
    fn id(&self) -> &str {
        "single"
    }

    fn fields(&self) -> Vec<FieldDefinition> {
        vec![FieldDefinition::new(EntityKind::Contact, "unused", "Unused", FieldType::Text)]
    }

    fn validate(&self, _cx: &HookContext<'_>, record: &Record) -> Result<()> {
        self.0.fetch_add(1, Ordering::SeqCst);
        if family(record).ends_with('7') {
            return Err(Error::invalid("family_name", FieldErrorCode::Rule, "no sevens"));
        }
        Ok(())
    }
}

#[tokio::test]
async fn extensions_check_and_compute_each_batch_in_one_call_and_refuse_single_rows() {
    let batcher = Arc::new(Batcher::default());
    let single = Arc::new(OneByOne(AtomicUsize::new(0)));
    let crm =
        Crm::builder(MemoryStore::new()).extension_arc(batcher.clone()).extension_arc(single.clone()).build().unwrap();
    let cx = session(&crm);
    // Rows 0..10 in batches of 4; row 2 fails the core's checks, row 5 the batcher's rule,
    // row 7 the one-by-one extension's rule.
    let mut rows: Vec<NewContact> = (0..10).map(row).collect();
    rows[2] = NewContact::new("Ada", "Row 0002").email("not-an-email");
    rows[5] = NewContact::new("Ada", "Bad Row").email("bad@example.com");
    let (report, _) = import_contacts(&cx, rows, &ImportOptions::default().batch_size(4)).await;
    let report = report.unwrap();

    let rejected = rejections(&report.rejected);
    assert_eq!(rejected.iter().map(|(r, _)| *r).collect::<Vec<_>>(), vec![2, 5, 7], "{rejected:?}");
    assert_eq!(rejected[1].1, vec![("family_name", FieldErrorCode::Rule)]);
    assert_eq!(rejected[2].1, vec![("family_name", FieldErrorCode::Rule)]);
    // One call per batch and hook, with the rows still valid at that point.
    assert_eq!(*batcher.validate_batches.lock().unwrap(), vec![3, 4, 2]);
    assert_eq!(*batcher.compute_batches.lock().unwrap(), vec![3, 2, 2]);
    assert_eq!(batcher.single_calls.load(Ordering::SeqCst), 0, "the batch method replaces per-row calls");
    assert_eq!(single.0.load(Ordering::SeqCst), 3 + 3 + 2, "the default runs validate per row");
    // Computed values are type-checked and stored on the written rows.
    assert_eq!(report.imported.len(), 7);
    for id in &report.imported {
        let c = cx.contacts().get(*id).await.unwrap();
        assert_eq!(c.custom.get("batch.initials"), Some(&Value::Text("R0".into())), "{c:?}");
    }
    assert_eq!(created(&cx, EntityKind::Contact).await.len(), 7);
}

#[tokio::test]
async fn an_extension_answering_for_the_wrong_number_of_rows_refuses_its_batch() {
    let batcher = Arc::new(Batcher { miscount: true, ..Batcher::default() });
    let crm = Crm::builder(MemoryStore::new()).extension_arc(batcher.clone()).build().unwrap();
    let cx = session(&crm);
    let (report, _) = import_contacts(&cx, (0..3).map(row).collect(), &ImportOptions::default()).await;
    let report = report.unwrap();
    assert!(report.imported.is_empty());
    assert_eq!(report.rejected.len(), 3);
    for r in &report.rejected {
        assert!(
            matches!(&r.error, Error::Plugin { plugin, message } if plugin == "batch" && message.contains("2 results for 3")),
            "{:?}",
            r.error
        );
    }
    assert_eq!(contact_count(&cx).await, 0);
    assert!(all_events(&cx).await.is_empty());
}
