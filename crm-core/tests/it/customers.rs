//! Customers acting for themselves (a self-service portal): what a customer's session reaches,
//! replies on their cases, and the one-time sign-in links that open such a session.

use chrono::Duration;
use crm_core::model::{ActivityKind, Direction, SyncState};
use crm_core::prelude::*;
use crm_core::query::{Filter, Query};
use crm_core::service::{LinkRequest, MAX_OPEN_LINKS, MAX_REPLY_CHARS, NewReply, SIGN_IN_LINK_TTL};
use uuid::Uuid;

use crate::common::*;

/// Ann and Bob, each with a case, an order and an invoice; a deal and a note about Ann.
struct Shop {
    ann: Contact,
    bob: Contact,
    ann_case: Case,
    bob_case: Case,
    ann_order: Order,
    bob_order: Order,
    ann_invoice: Invoice,
}

async fn shop(env: &Env) -> Shop {
    let cx = env.cx();
    let ann = cx.contacts().create(NewContact::new("Ann", "Lee").email("ann@example.com")).await.unwrap();
    let bob = cx.contacts().create(NewContact::new("Bob", "Ray").email("bob@example.com")).await.unwrap();
    let case = |who: ContactId, s: &str| NewCase::new(s, CaseType::Problem, CaseChannel::Email).contact(who);
    let ann_case = cx.cases().open(case(ann.id, "Kettle leaks")).await.unwrap();
    let bob_case = cx.cases().open(case(bob.id, "Wrong colour")).await.unwrap();
    let order = |who: ContactId| NewOrder::for_contact(who).line(line("Kettle", "1", eur("40")));
    let ann_order = cx.orders().create(order(ann.id)).await.unwrap();
    let ann_order = cx.orders().place(ann_order.id).await.unwrap();
    let bob_order = cx.orders().create(order(bob.id)).await.unwrap();
    let bob_order = cx.orders().place(bob_order.id).await.unwrap();
    let invoice = |who: ContactId| NewInvoice::for_contact(who).line(line("Kettle", "1", eur("40")));
    let ann_invoice = cx.invoices().create(invoice(ann.id)).await.unwrap();
    let ann_invoice = cx.invoices().send(ann_invoice.id).await.unwrap();
    let bob_invoice = cx.invoices().create(invoice(bob.id)).await.unwrap();
    cx.invoices().send(bob_invoice.id).await.unwrap();
    // Drafts the business is still putting together.
    cx.orders().create(order(ann.id)).await.unwrap();
    cx.invoices().create(invoice(ann.id)).await.unwrap();
    cx.deals().create(NewDeal::new("Ann's office kettles").contact(ann.id)).await.unwrap();
    cx.activities().create(NewActivity::note("Ann is price sensitive").contact(ann.id)).await.unwrap();
    Shop { ann, bob, ann_case, bob_case, ann_order, bob_order, ann_invoice }
}

#[tokio::test]
async fn a_customer_reads_only_their_own_records() {
    let env = env();
    let s = shop(&env).await;
    let ann = env.crm.as_actor(&Actor::customer(tenant_a(), s.ann.id));
    let all = Query::new(Filter::All);

    let ids = |v: Vec<Uuid>| v;
    assert_eq!(
        ids(ann.contacts().list(&all).await.unwrap().items.iter().map(|c| c.id.into()).collect()),
        vec![Uuid::from(s.ann.id)]
    );
    assert_eq!(ann.cases().list(&all).await.unwrap().items, vec![s.ann_case.clone()]);
    assert_eq!(
        ann.orders().list(&all).await.unwrap().items.iter().map(|o| o.id).collect::<Vec<_>>(),
        vec![s.ann_order.id]
    );
    let invoices = ann.invoices().list(&all).await.unwrap().items;
    assert_eq!(invoices.iter().map(|i| i.id).collect::<Vec<_>>(), vec![s.ann_invoice.id]);
    assert_eq!(ann.cases().count(&Filter::All).await.unwrap(), 1);
    assert_eq!(env.cx().orders().count(&Filter::eq("contact_id", s.ann.id.as_uuid())).await.unwrap(), 2);
    let draft = env.cx().invoices().list(&Query::new(Filter::eq("status", "draft"))).await.unwrap().items;
    let draft = draft.iter().find(|i| i.contact_id == Some(s.ann.id)).unwrap();
    assert_not_found(&ann.invoices().get(draft.id).await.unwrap_err(), EntityKind::Invoice, draft.id);

    // Others' records are not there at all.
    assert_not_found(&ann.cases().get(s.bob_case.id).await.unwrap_err(), EntityKind::Case, s.bob_case.id);
    assert_not_found(&ann.orders().get(s.bob_order.id).await.unwrap_err(), EntityKind::Order, s.bob_order.id);
    assert_not_found(&ann.contacts().get(s.bob.id).await.unwrap_err(), EntityKind::Contact, s.bob.id);
    // Nor are the kinds no customer reads, even about them: deals, notes, users, sync state.
    for err in [
        ann.deals().list(&all).await.map(|_| ()).unwrap_err(),
        ann.activities().list(&all).await.map(|_| ()).unwrap_err(),
        ann.users().list(&all).await.map(|_| ()).unwrap_err(),
        ann.records::<SyncState>().list(&all).await.map(|_| ()).unwrap_err(),
    ] {
        assert!(matches!(err, Error::Forbidden(ref m) if m.contains("customer")), "{err:?}");
    }
    // A filter cannot widen the reach.
    let theirs = Filter::eq("contact_id", s.bob.id.as_uuid()).or(Filter::All);
    assert_eq!(ann.cases().count(&theirs).await.unwrap(), 1);
    // Search finds their own records only.
    let hits = ann.search("Wrong colour").await.unwrap();
    assert!(hits.is_empty(), "Bob's case is not found by Ann: {hits:?}");
    // Nothing of theirs changes through the generic verbs.
    let mut mine = s.ann.clone();
    mine.given_name = "Annie".into();
    assert!(matches!(ann.contacts().update(mine).await, Err(Error::Forbidden(_))));
    assert!(matches!(ann.cases().resolve(s.ann_case.id, "done").await, Err(Error::Forbidden(_))));
}

#[tokio::test]
async fn a_customer_opens_cases_for_themselves_only() {
    let env = env();
    let s = shop(&env).await;
    let ann = env.crm.as_actor(&Actor::customer(tenant_a(), s.ann.id));
    let new = |who: ContactId| NewCase::new("Lid stuck", CaseType::Question, CaseChannel::Web).contact(who);
    let case = ann.cases().open(new(s.ann.id)).await.unwrap();
    assert_eq!((case.contact_id, case.status, case.owner_id), (Some(s.ann.id), CaseStatus::New, None));
    assert_eq!(env.cx().cases().get(case.id).await.unwrap(), case, "the business sees it");
    let err = env.refused(ann.cases().open(new(s.bob.id))).await;
    assert!(matches!(err, Error::Forbidden(ref m) if m.contains("customer")), "{err:?}");
    let err = env.refused(ann.cases().open(NewCase::new("x", CaseType::Question, CaseChannel::Web))).await;
    assert!(matches!(err, Error::Forbidden(_)), "a case naming nobody is not theirs: {err:?}");
    // A customer who is no longer a contact acts as nobody.
    let gone = env.crm.as_actor(&Actor::customer(tenant_a(), ContactId::from_uuid(Uuid::from_u128(404))));
    assert!(matches!(gone.cases().count(&Filter::All).await, Err(Error::Forbidden(_))));
    // Nor does an erased one, nor their last sign-in link.
    let LinkRequest::Issued(link) = env.cx().portal().issue_link("bob@example.com").await.unwrap() else {
        panic!("Bob is a customer")
    };
    let bob = env.crm.as_actor(&Actor::customer(tenant_a(), s.bob.id));
    assert_eq!(bob.cases().count(&Filter::All).await.unwrap(), 1);
    env.cx().privacy().erase(s.bob.id, None).await.unwrap();
    let bob = env.crm.as_actor(&Actor::customer(tenant_a(), s.bob.id));
    assert!(matches!(bob.cases().count(&Filter::All).await, Err(Error::Forbidden(m)) if m.contains("erased")));
    assert!(matches!(env.crm.sign_in_customer(&link.token).await, Err(Error::Forbidden(_))));
    // Another tenant's session for the same contact id reaches nothing.
    let elsewhere = env.crm.as_actor(&Actor::customer(tenant_b(), s.ann.id));
    assert!(matches!(elsewhere.cases().count(&Filter::All).await, Err(Error::Forbidden(_))));
}

#[tokio::test]
async fn replies_carry_the_conversation_and_move_the_case() {
    let env = env();
    let s = shop(&env).await;
    let desk = env.cx();
    let ann = env.crm.as_actor(&Actor::customer(tenant_a(), s.ann.id));
    let bob = env.crm.as_actor(&Actor::customer(tenant_a(), s.bob.id));
    let id = s.ann_case.id;

    let asked = desk.cases().reply(id, NewReply::new("Which model is it?").awaiting_customer()).await.unwrap();
    assert_eq!((asked.kind, asked.direction, asked.case_id), (ActivityKind::Note, Some(Direction::Outbound), Some(id)));
    assert_eq!(asked.contact_ids, vec![s.ann.id]);
    assert_eq!(desk.cases().get(id).await.unwrap().status, CaseStatus::PendingCustomer);
    desk.cases().reply(id, NewReply::new("Known batch fault").internal()).await.unwrap();

    env.advance(Duration::minutes(5));
    let answer = ann.cases().reply(id, NewReply::new("  The KX-200  ")).await.unwrap();
    assert_eq!((answer.direction, answer.body.as_deref()), (Some(Direction::Inbound), Some("The KX-200")));
    assert_eq!(desk.cases().get(id).await.unwrap().status, CaseStatus::Open, "the customer answered");
    let seen: Vec<_> = ann.cases().conversation(id).await.unwrap().into_iter().map(|a| a.body.unwrap()).collect();
    assert_eq!(seen, ["Which model is it?", "The KX-200"], "both sides, oldest first, no internal note");
    assert_eq!(desk.cases().conversation(id).await.unwrap().len(), 3);

    // Bob can neither read nor reply to Ann's case.
    assert_not_found(&bob.cases().conversation(id).await.unwrap_err(), EntityKind::Case, id);
    let err = env.refused(bob.cases().reply(id, NewReply::new("hi"))).await;
    assert_not_found(&err, EntityKind::Case, id);
    // A customer writes no internal notes; empty and over-long replies are refused naming the body.
    let err = env.refused(ann.cases().reply(id, NewReply::new("psst").internal())).await;
    assert!(matches!(err, Error::Forbidden(_)));
    assert_only_field(
        &env.refused(ann.cases().reply(id, NewReply::new(" \n "))).await,
        "body",
        FieldErrorCode::Required,
    );
    let long = "é".repeat(MAX_REPLY_CHARS + 1);
    assert_only_field(
        &env.refused(ann.cases().reply(id, NewReply::new(long))).await,
        "body",
        FieldErrorCode::OutOfRange,
    );

    // A reply to a resolved case reopens it; a closed case takes none.
    desk.cases().resolve(id, "Replaced").await.unwrap();
    ann.cases().reply(id, NewReply::new("Still leaks")).await.unwrap();
    let case = desk.cases().get(id).await.unwrap();
    assert_eq!((case.status, case.resolution, case.resolved_at), (CaseStatus::Open, None, None));
    desk.cases().close(id).await.unwrap();
    assert_only_field(&env.refused(ann.cases().reply(id, NewReply::new("?"))).await, "status", FieldErrorCode::Rule);
    let err = env.refused(desk.cases().reply(id, NewReply::new("wait").awaiting_customer())).await;
    assert_transition(&err, "status", "closed", "pending_customer");
}

#[tokio::test]
async fn a_sign_in_link_works_once_within_its_time() {
    let env = env();
    let s = shop(&env).await;
    let system = env.cx();
    let env = &env;
    let issue = |email: &'static str| async move { env.cx().portal().issue_link(email).await.unwrap() };

    let LinkRequest::Issued(link) = issue(" ANN@example.com").await else { panic!("Ann is a customer") };
    assert_eq!((link.contact.id, link.email.as_str()), (s.ann.id, "ann@example.com"));
    assert_eq!(link.expires_at, env.now() + SIGN_IN_LINK_TTL);
    assert!(!format!("{link:?}").contains(&link.token), "the token stays out of logs");
    let kept = system.records::<SyncState>().list(&Query::new(Filter::All)).await.unwrap().items;
    assert!(
        kept.iter().all(|k| !k.key.contains(&link.token[40..]) && !k.value.to_string().contains(&link.token[40..]))
    );

    let cx = env.crm.sign_in_customer(&link.token).await.unwrap();
    assert_eq!((cx.tenant(), cx.actor().customer_id()), (tenant_a(), Some(s.ann.id)));
    assert_eq!(cx.cases().count(&Filter::All).await.unwrap(), 1);
    assert!(matches!(env.crm.sign_in_customer(&link.token).await, Err(Error::Forbidden(_))), "used");

    // Expired.
    let LinkRequest::Issued(late) = issue("ann@example.com").await else { panic!() };
    env.advance(SIGN_IN_LINK_TTL + Duration::seconds(1));
    assert!(matches!(env.crm.sign_in_customer(&late.token).await, Err(Error::Forbidden(_))), "expired");

    // Unknown addresses, malformed ones, and tokens that are not ours.
    assert_eq!(issue("nobody@example.com").await, LinkRequest::Unknown);
    let err = system.portal().issue_link("not an address").await.unwrap_err();
    assert_only_field(&err, "email", FieldErrorCode::InvalidFormat);
    let mut forged = link.token.clone();
    forged.replace_range(forged.len() - 4.., "0000");
    for bad in [
        "",
        "cpl_",
        "crm_x_y",
        &forged,
        &link.token.replace(&s.ann.id.as_uuid().simple().to_string(), &s.bob.id.as_uuid().simple().to_string()),
    ] {
        assert!(matches!(env.crm.sign_in_customer(bad).await, Err(Error::Forbidden(_))), "{bad:?}");
    }
    // Only the system issues links.
    let ann = env.crm.as_actor(&Actor::customer(tenant_a(), s.ann.id));
    assert!(matches!(ann.portal().issue_link("bob@example.com").await, Err(Error::Forbidden(_))));

    // At most a few open links per customer; expired ones are cleared as new ones are asked for.
    for _ in 0..MAX_OPEN_LINKS {
        assert!(matches!(issue("bob@example.com").await, LinkRequest::Issued(_)));
    }
    let LinkRequest::TooMany { retry_at } = issue("bob@example.com").await else { panic!("too many") };
    assert_eq!(retry_at, env.now() + SIGN_IN_LINK_TTL);
    env.advance(SIGN_IN_LINK_TTL);
    assert!(matches!(issue("bob@example.com").await, LinkRequest::Issued(_)));
    let kept = system.records::<SyncState>().count(&Filter::starts_with("key", "portal-link/")).await.unwrap();
    assert_eq!(kept, 1, "Bob's fresh link only: used, tried and expired links are gone");
}
