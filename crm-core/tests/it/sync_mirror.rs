//! Integration bookkeeping and accounting mirrors through the public API: sync links (pairing,
//! uniqueness, conflicts and their resolution), compare-and-set state, and invoices/payments
//! mirrored read-only from an accounting system.

use crm_core::prelude::*;

use crate::common::*;
use crm_core::model::{ExternalRef, SyncConflict};
use crm_core::service::{ExternalInvoice, ExternalPayment, LinkInput, MirrorOutcome, Resolution};

fn link(connection: &str, local: EntityRef, remote_id: &str) -> LinkInput {
    LinkInput::new(connection, local, "Contact", remote_id).version("v1").snapshot(
        [("name".to_owned(), Some("Acme".to_owned()))].into_iter().collect::<std::collections::BTreeMap<_, _>>(),
    )
}

#[tokio::test]
async fn links_pair_one_local_record_with_one_remote_record_per_connection() {
    let env = env();
    let cx = env.cx();
    let acme = cx.companies().create(NewCompany::new("Acme")).await.unwrap();
    let globex = cx.companies().create(NewCompany::new("Globex")).await.unwrap();
    let seq = env.last_seq().await;

    let l = cx.sync().put_link(link("xero:t1", acme.entity_ref(), "r-1")).await.unwrap();
    assert_eq!(
        cx.sync().link_for_remote("xero:t1", "Contact", "r-1").await.unwrap().map(|l| l.local),
        Some(acme.entity_ref())
    );
    assert_eq!(cx.sync().link_for_local("xero:t1", acme.entity_ref()).await.unwrap().map(|l| l.id), Some(l.id));
    assert!(cx.sync().link_for_remote("xero:t2", "Contact", "r-1").await.unwrap().is_none(), "per connection");
    // Bookkeeping emits no domain events.
    assert!(env.events_since(seq).await.is_empty());

    // Writing the same remote record again updates the link in place.
    let mut again = link("xero:t1", acme.entity_ref(), "r-1");
    again.remote_version = Some("v2".into());
    let l2 = cx.sync().put_link(again).await.unwrap();
    assert_eq!((l2.id, l2.version, l2.remote_version.as_deref()), (l.id, 2, Some("v2")));

    // A local record paired with a second remote record is refused, and nothing changes.
    let err = env.refused(cx.sync().put_link(link("xero:t1", acme.entity_ref(), "r-2"))).await;
    assert_field(&err, "local", FieldErrorCode::Duplicate);
    // The same local record on another connection is fine; so is another record for r-2.
    cx.sync().put_link(link("quickbooks:9", acme.entity_ref(), "r-1")).await.unwrap();
    cx.sync().put_link(link("xero:t1", globex.entity_ref(), "r-2")).await.unwrap();
    assert_eq!(cx.sync().links("xero:t1", "Contact").await.unwrap().len(), 2);

    // Bad input names the field; a missing local record too; another tenant's record is missing.
    let err = env.refused(cx.sync().put_link(link(" ", acme.entity_ref(), "r-3"))).await;
    assert_only_field(&err, "connection", FieldErrorCode::Required);
    let err = env.refused(cx.sync().put_link(link("xero:t1", acme.entity_ref(), "a|b"))).await;
    assert_only_field(&err, "remote_id", FieldErrorCode::InvalidFormat);
    let theirs = env.cx_of(tenant_b()).companies().create(NewCompany::new("Theirs")).await.unwrap();
    let err = env.refused(cx.sync().put_link(link("xero:t1", theirs.entity_ref(), "r-9"))).await;
    assert_only_field(&err, "local", FieldErrorCode::NotFound);
    assert!(env.cx_of(tenant_b()).sync().link_for_remote("xero:t1", "Contact", "r-1").await.unwrap().is_none());

    cx.sync().remove_link(l.id).await.unwrap();
    assert!(cx.sync().link_for_remote("xero:t1", "Contact", "r-1").await.unwrap().is_none());
}

#[tokio::test]
async fn resolving_a_conflict_sets_the_merge_base_to_the_losing_side() {
    let env = env();
    let cx = env.cx();
    let acme = cx.companies().create(NewCompany::new("Acme")).await.unwrap();
    let mut input = link("xero:t1", acme.entity_ref(), "r-1");
    let conflict = |field: &str| SyncConflict {
        field: field.into(),
        base: Some("Acme".into()),
        local: Some("Acme Corp".into()),
        remote: Some("ACME Ltd".into()),
        detected_at: env.now(),
    };
    input.conflicts = vec![conflict("name"), conflict("website")];
    let l = cx.sync().put_link(input).await.unwrap();
    assert_eq!(cx.sync().conflicts("xero:t1").await.unwrap().iter().map(|l| l.id).collect::<Vec<_>>(), vec![l.id]);

    let l = cx.sync().resolve(l.id, "name", Resolution::KeepLocal).await.unwrap();
    assert_eq!(l.snapshot["name"].as_deref(), Some("ACME Ltd"), "remote now reads as the unchanged side");
    let l = cx.sync().resolve(l.id, "website", Resolution::TakeRemote).await.unwrap();
    assert_eq!(l.snapshot["website"].as_deref(), Some("Acme Corp"), "local now reads as the unchanged side");
    assert!(l.conflicts.is_empty());
    assert!(cx.sync().conflicts("xero:t1").await.unwrap().is_empty());
    let err = env.refused(cx.sync().resolve(l.id, "name", Resolution::KeepLocal)).await;
    assert_only_field(&err, "field", FieldErrorCode::NotFound);
}

#[tokio::test]
async fn state_is_compare_and_set_per_tenant() {
    let env = env();
    let cx = env.cx();
    let key = "imap:jane@example.com/INBOX";
    assert!(cx.sync().state(key).await.unwrap().is_none());
    let s1 = cx.sync().put_state(key, serde_json::json!({"uid_validity": 7, "last_uid": 10}), None).await.unwrap();
    // A writer that did not see s1 loses.
    let err = env.refused(cx.sync().put_state(key, serde_json::json!({"last_uid": 0}), None)).await;
    assert!(matches!(err, Error::Conflict { kind: EntityKind::SyncState, found: Some(1), .. }), "{err:?}");
    let s2 = cx
        .sync()
        .put_state(key, serde_json::json!({"uid_validity": 7, "last_uid": 12}), Some(s1.version))
        .await
        .unwrap();
    let err = env.refused(cx.sync().put_state(key, serde_json::json!({}), Some(s1.version))).await;
    assert!(matches!(err, Error::Conflict { found: Some(2), .. }), "{err:?}");
    assert_eq!(cx.sync().state(key).await.unwrap().unwrap().value["last_uid"], 12);
    assert_eq!(s2.version, 2);
    assert!(env.cx_of(tenant_b()).sync().state(key).await.unwrap().is_none(), "tenants do not share state");
}

fn xero_invoice(company: CompanyId, id: &str, number: &str) -> ExternalInvoice {
    ExternalInvoice {
        system: "xero".into(),
        external_id: id.into(),
        number: number.into(),
        contact_id: None,
        company_id: Some(company),
        currency: Currency::USD,
        lines: vec![line("Consulting", "2", usd("500"))],
        subtotal: dec("1000"),
        tax: dec("200"),
        total: dec("1200"),
        amount_paid: dec("0"),
        status: InvoiceStatus::Sent,
        issue_date: date(2026, 9, 1),
        due_date: date(2026, 10, 1),
        paid_on: None,
        notes: Some("PO 7".into()),
    }
}

#[tokio::test]
async fn mirrored_invoices_are_written_once_updated_in_place_and_read_only_in_the_crm() {
    let env = env();
    let cx = env.cx();
    let acme = cx.companies().create(NewCompany::new("Acme")).await.unwrap();

    let (inv, outcome) = cx.invoices().mirror(xero_invoice(acme.id, "x-1", "INV-1")).await.unwrap();
    assert_eq!(outcome, MirrorOutcome::Created);
    assert_eq!((inv.total, inv.balance_due(), inv.managed_by.as_deref()), (usd("1200"), usd("1200"), Some("xero")));
    assert_eq!(inv.external_refs, vec![ExternalRef::new("xero", "x-1")]);

    // The same data again writes nothing and emits nothing.
    let seq = env.last_seq().await;
    let (same, outcome) = cx.invoices().mirror(xero_invoice(acme.id, "x-1", "INV-1")).await.unwrap();
    assert_eq!((outcome, same.version), (MirrorOutcome::Unchanged, inv.version));
    assert!(env.events_since(seq).await.is_empty());

    // Paid in accounting: the mirror follows, with a status event.
    let mut paid = xero_invoice(acme.id, "x-1", "INV-1");
    (paid.amount_paid, paid.status, paid.paid_on) = (dec("1200"), InvoiceStatus::Paid, Some(date(2026, 9, 21)));
    let (inv, outcome) = cx.invoices().mirror(paid).await.unwrap();
    assert_eq!((outcome, inv.status, inv.days_to_pay()), (MirrorOutcome::Updated, InvoiceStatus::Paid, Some(20)));
    assert!(changes(&env.events_since(seq).await).contains(&(EntityKind::Invoice, status_changed("sent", "paid"))));
    assert_eq!(cx.invoices().count(&crm_core::query::Filter::All).await.unwrap(), 1);

    // The CRM's own operations refuse to touch it.
    let err = env.refused(cx.invoices().void(inv.id)).await;
    assert_only_field(&err, "managed_by", FieldErrorCode::ReadOnly);
    let mut edited = inv.clone();
    edited.notes = Some("changed here".into());
    let err = env.refused(cx.invoices().update(edited)).await;
    assert_only_field(&err, "managed_by", FieldErrorCode::ReadOnly);
    let err = env.refused(cx.invoices().delete(inv.id, inv.version)).await;
    assert_only_field(&err, "managed_by", FieldErrorCode::ReadOnly);
}

#[tokio::test]
async fn a_mirror_that_does_not_add_up_or_clashes_is_refused_and_writes_nothing() {
    let env = env();
    let cx = env.cx();
    let acme = cx.companies().create(NewCompany::new("Acme")).await.unwrap();

    let mut bad = xero_invoice(acme.id, "x-1", "INV-1");
    bad.total = dec("1100");
    let err = env.refused(cx.invoices().mirror(bad)).await;
    assert_only_field(&err, "total", FieldErrorCode::Rule);
    let mut bad = xero_invoice(acme.id, "x-1", "INV-1");
    bad.amount_paid = dec("1300");
    let err = env.refused(cx.invoices().mirror(bad)).await;
    assert_field(&err, "amount_paid", FieldErrorCode::OutOfRange);
    let mut bad = xero_invoice(acme.id, "x-1", "INV-1");
    bad.status = InvoiceStatus::Paid;
    let err = env.refused(cx.invoices().mirror(bad)).await;
    assert_only_field(&err, "status", FieldErrorCode::Rule);
    let mut bad = xero_invoice(acme.id, "x-1", "INV-1");
    bad.company_id = Some(CompanyId::from_uuid(uuid::Uuid::now_v7()));
    let err = env.refused(cx.invoices().mirror(bad)).await;
    assert_only_field(&err, "company_id", FieldErrorCode::NotFound);

    // The CRM's own invoice number is taken: a typed duplicate, not a silent merge.
    cx.invoices()
        .create(NewInvoice::for_company(acme.id).number("INV-7").line(line("x", "1", usd("1"))))
        .await
        .unwrap();
    let err = env.refused(cx.invoices().mirror(xero_invoice(acme.id, "x-7", "INV-7"))).await;
    assert_only_field(&err, "number", FieldErrorCode::Duplicate);
    // Another system's record with the same external id is not taken over.
    let mut qb = xero_invoice(acme.id, "x-8", "INV-8");
    qb.system = "quickbooks".into();
    let (q, _) = cx.invoices().mirror(qb).await.unwrap();
    assert_eq!(q.managed_by.as_deref(), Some("quickbooks"));
    let (x, _) = cx.invoices().mirror(xero_invoice(acme.id, "x-8", "INV-9")).await.unwrap();
    assert_ne!(x.id, q.id, "ids are per system");
}

#[tokio::test]
async fn mirrored_payments_fill_the_payment_history_of_mirrored_invoices_only() {
    let env = env();
    let cx = env.cx();
    let acme = cx.companies().create(NewCompany::new("Acme")).await.unwrap();
    let mut part = xero_invoice(acme.id, "x-1", "INV-1");
    (part.amount_paid, part.status) = (dec("400"), InvoiceStatus::PartiallyPaid);
    let (inv, _) = cx.invoices().mirror(part).await.unwrap();
    let ours = cx
        .invoices()
        .create(NewInvoice::for_company(acme.id).number("OWN-1").line(line("x", "1", usd("50"))))
        .await
        .unwrap();
    let ours = cx.invoices().send(ours.id).await.unwrap();

    let pay = |apps: Vec<(InvoiceId, Money)>| {
        let paid = NewPayment {
            apply_to: apps,
            ..NewPayment::new(usd("400"), date(2026, 9, 15), PaymentMethod::BankTransfer)
        };
        ExternalPayment::new("xero", "p-1", paid.from_company(acme.id).reference("BACS 77"))
    };
    let (p, outcome) = cx.payments().mirror(pay(vec![(inv.id, usd("400"))])).await.unwrap();
    assert_eq!((outcome, p.managed_by.as_deref(), p.unapplied()), (MirrorOutcome::Created, Some("xero"), usd("0")));
    let inv = cx.invoices().get(inv.id).await.unwrap();
    assert_eq!(inv.payments.iter().map(|a| (a.payment_id, a.amount)).collect::<Vec<_>>(), vec![(p.id, usd("400"))]);
    assert_eq!(inv.amount_paid, usd("400"), "accounting's figure, not recomputed");
    let (_, outcome) = cx.payments().mirror(pay(vec![(inv.id, usd("400"))])).await.unwrap();
    assert_eq!(outcome, MirrorOutcome::Unchanged);
    assert_eq!(cx.invoices().get(inv.id).await.unwrap().payments.len(), 1, "no duplicate entry");
    // Notes and other ids travel with it; the accounting system's own id comes first.
    let noted = pay(vec![(inv.id, usd("400"))]);
    let noted = ExternalPayment { payment: noted.payment.notes("Paid early").external_ref("bank", "TX-9"), ..noted };
    let (p2, outcome) = cx.payments().mirror(noted).await.unwrap();
    assert_eq!((outcome, p2.id, p2.notes.as_deref()), (MirrorOutcome::Updated, p.id, Some("Paid early")));
    assert_eq!(p2.external_refs, vec![ExternalRef::new("xero", "p-1"), ExternalRef::new("bank", "TX-9")]);

    // Not onto the CRM's own invoices; not more than was paid.
    let err = env.refused(cx.payments().mirror(pay(vec![(ours.id, usd("50"))]))).await;
    assert_only_field(&err, "applications[0]", FieldErrorCode::Rule);
    let err = env.refused(cx.payments().mirror(pay(vec![(inv.id, usd("500"))]))).await;
    assert_only_field(&err, "applications", FieldErrorCode::OutOfRange);
    // And the CRM cannot apply its own payments to a mirrored invoice.
    let err = env
        .refused(cx.payments().record(NewPayment {
            contact_id: None,
            company_id: Some(acme.id),
            amount: usd("10"),
            received_on: env.today(),
            method: PaymentMethod::Cash,
            reference: None,
            apply_to: vec![(inv.id, usd("10"))],
            external_refs: Vec::new(),
            notes: None,
        }))
        .await;
    assert_only_field(&err, "apply_to[0]", FieldErrorCode::ReadOnly);
}
