//! Service and marketing rules proved through the public service API: cases and their SLA,
//! feedback, segments, campaigns and their results, and the customer 360 with its timeline.
//!
//! Every rejection is checked for its error variant and the field it names and — through
//! [`Env::refused`] — that the refused call wrote nothing: no record changed, no event appended.

use chrono::Duration;
use crm_core::prelude::*;
use crm_core::query::{Filter, Query};
use uuid::Uuid;

use crate::common::*;
use crm_core::model::{CampaignStatus, CreditTerms, Direction, FieldDefinition, FieldType, SlaPolicy};
use crm_core::profile::{Channel, ConsentMethod, ConsentStatus, MarketingConsent};
use crm_core::service::{CustomerSummary, TimelineItem};

// ---------------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------------

async fn segment_members(cx: &Session, id: SegmentId) -> Vec<ContactId> {
    cx.segments().members(id, &Query::new(Filter::All)).await.unwrap().items.into_iter().map(|c| c.id).collect()
}

async fn campaign_members(cx: &Session, id: CampaignId) -> Vec<ContactId> {
    cx.campaigns()
        .members(id, &Query::new(Filter::All))
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|m| m.contact_id)
        .collect()
}

fn question(subject: &str) -> NewCase {
    NewCase::new(subject, CaseType::Question, CaseChannel::Email)
}

// ---------------------------------------------------------------------------------------------
// Cases
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn cases_need_a_subject_a_customer_and_returns_need_a_product_and_reason() {
    let env = env();
    let cx = env.cx();
    let ann = contact(&cx, "Ann").await;
    let tea = cx.products().create(NewProduct::new("TEA-1", "Green tea", usd("10"))).await.unwrap();
    let order = cx
        .orders()
        .create(NewOrder::for_contact(ann.id).line(LineItem::for_product(&tea, dec("1"))).placed())
        .await
        .unwrap();
    let theirs = contact(&env.cx_of(tenant_b()), "Theirs").await;

    let err = env.refused(cx.cases().open(question("  ").contact(ann.id))).await;
    assert_only_field(&err, "subject", FieldErrorCode::Required);
    let err = env.refused(cx.cases().open(question("Where is my order?"))).await;
    assert_only_field(&err, "contact_id", FieldErrorCode::Required);
    let err = env.refused(cx.cases().open(question("Hi").contact(theirs.id))).await;
    assert_only_field(&err, "contact_id", FieldErrorCode::NotFound);
    let err =
        env.refused(cx.cases().open(NewCase::new("Broken", CaseType::Return, CaseChannel::Web).contact(ann.id))).await;
    assert_field(&err, "product_id", FieldErrorCode::Required);
    assert_field(&err, "return_reason", FieldErrorCode::Required);
    assert_eq!(err.field_errors().len(), 2);
    let err = env.refused(cx.cases().open(NewCase::return_of(tea.id, "   ", CaseChannel::Web).contact(ann.id))).await;
    assert_only_field(&err, "return_reason", FieldErrorCode::Required);
    let err =
        env.refused(cx.cases().open(question("Hi").contact(ann.id).opened_at(env.now() + Duration::seconds(1)))).await;
    assert_only_field(&err, "opened_at", FieldErrorCode::OutOfRange);
    let err = env
        .refused(cx.cases().open(question("Hi").contact(ann.id).order(OrderId::from_uuid(Uuid::from_u128(9)))))
        .await;
    assert_only_field(&err, "order_id", FieldErrorCode::NotFound);
    let err = env
        .refused(
            cx.cases().open(
                NewCase::return_of(ProductId::from_uuid(Uuid::from_u128(9)), "x", CaseChannel::Web).contact(ann.id),
            ),
        )
        .await;
    assert_only_field(&err, "product_id", FieldErrorCode::NotFound);
    let err = env.refused(cx.cases().open(question("Hi").contact(ann.id).custom("rma", "1"))).await;
    assert_only_field(&err, "custom.rma", FieldErrorCode::UnknownField);

    let owner = cx.users().create(NewUser::new("Olive Owner", "olive@acme.example")).await.unwrap().id;
    let seq = env.last_seq().await;
    let rma = cx
        .cases()
        .open(
            NewCase::return_of(tea.id, "  arrived broken ", CaseChannel::Phone)
                .subject("Broken teapot")
                .description("The lid is cracked")
                .priority(Priority::High)
                .owner(owner)
                .contact(ann.id)
                .order(order.id)
                .tag("rma"),
        )
        .await
        .unwrap();
    assert_eq!(
        (rma.case_type, rma.channel, rma.priority, rma.status),
        (CaseType::Return, CaseChannel::Phone, Priority::High, CaseStatus::New)
    );
    assert_eq!(
        (rma.product_id, rma.order_id, rma.contact_id, rma.owner_id),
        (Some(tea.id), Some(order.id), Some(ann.id), Some(owner))
    );
    assert_eq!((rma.subject.as_str(), rma.return_reason.as_deref()), ("Broken teapot", Some("arrived broken")));
    assert_eq!((rma.opened_at, rma.sla_due_at, rma.sla_breached), (env.now(), env.now() + Duration::days(1), false));
    assert_eq!((rma.resolved_at, rma.resolution.as_ref(), rma.satisfaction), (None, None, None));
    let evs = env.events_since(seq).await;
    assert_eq!(changes(&evs), vec![(EntityKind::Case, Change::Created)]);
    for r in
        [contact_ref(ann.id), EntityRef::new(EntityKind::Order, order.id), EntityRef::new(EntityKind::Product, tea.id)]
    {
        assert!(evs[0].event.related.contains(&r), "the case's event touches {r}");
    }
    // A case for a company alone is fine.
    let acme = cx.companies().create(NewCompany::new("Acme")).await.unwrap();
    let c = cx.cases().open(question("Invoice copy").company(acme.id)).await.unwrap();
    assert_eq!((c.company_id, c.contact_id), (Some(acme.id), None));
}

#[tokio::test]
async fn the_sla_due_time_comes_from_the_policy_for_the_priority() {
    let policy = SlaPolicy {
        low: Duration::hours(48),
        normal: Duration::hours(24),
        high: Duration::hours(8),
        urgent: Duration::hours(1),
    };
    let env = env_with(|b| b.sla_policy(policy));
    let cx = env.cx();
    let ann = contact(&cx, "Ann").await;
    for p in [Priority::Low, Priority::Normal, Priority::High, Priority::Urgent] {
        let c = cx.cases().open(question("Q").contact(ann.id).priority(p)).await.unwrap();
        assert_eq!(c.sla_due_at, env.now() + policy.target(p), "{p}");
    }
    assert_eq!(policy.target(Priority::High), Duration::hours(8));
    // Imported cases count from when they came in.
    let opened = env.now() - Duration::hours(30);
    let old = cx.cases().open(question("Old").contact(ann.id).opened_at(opened)).await.unwrap();
    assert_eq!((old.opened_at, old.sla_due_at), (opened, opened + Duration::hours(24)));
    assert!(old.is_breached_at(env.now()));
    assert!(!old.sla_breached, "the flag is set by resolving or by the sweep");

    // A new priority moves the due time, from the opening time.
    let seq = env.last_seq().await;
    let mut up = old.clone();
    up.priority = Priority::Low;
    let up = cx.cases().update(up).await.unwrap();
    assert_eq!(up.sla_due_at, opened + Duration::hours(48));
    assert!(!up.is_breached_at(env.now()));
    assert_eq!(
        changes(&env.events_since(seq).await),
        vec![(EntityKind::Case, Change::Updated { fields: vec!["priority".into(), "sla_due_at".into()] })]
    );
    // The due time cannot be set by hand.
    let mut forced = up.clone();
    forced.sla_due_at = env.now() + Duration::days(100);
    let same = cx.cases().update(forced).await.unwrap();
    assert_eq!((same.sla_due_at, same.version), (up.sla_due_at, up.version));

    // The default policy: 5 days, 3 days, 1 day, 4 hours.
    let plain = env_with(|b| b);
    let ann = contact(&plain.cx(), "Ann").await;
    for (p, h) in [(Priority::Low, 120), (Priority::Normal, 72), (Priority::High, 24), (Priority::Urgent, 4)] {
        let c = plain.cx().cases().open(question("Q").contact(ann.id).priority(p)).await.unwrap();
        assert_eq!(c.sla_due_at - c.opened_at, Duration::hours(h), "{p}");
    }

    // A policy must give every priority some time.
    let err = Crm::builder(MemoryStore::new())
        .sla_policy(SlaPolicy { urgent: Duration::zero(), low: Duration::hours(-1), ..SlaPolicy::default() })
        .build()
        .unwrap_err();
    assert_field(&err, "sla_policy.urgent", FieldErrorCode::OutOfRange);
    assert_field(&err, "sla_policy.low", FieldErrorCode::OutOfRange);
    assert_eq!(err.field_errors().len(), 2);
}

#[tokio::test]
async fn a_case_moves_only_along_allowed_transitions() {
    let env = env();
    let cx = env.cx();
    let ann = contact(&cx, "Ann").await;
    let c = cx.cases().open(question("Login fails").contact(ann.id)).await.unwrap();

    let seq = env.last_seq().await;
    cx.cases().set_status(c.id, CaseStatus::Open).await.unwrap();
    cx.cases().set_status(c.id, CaseStatus::PendingCustomer).await.unwrap();
    cx.cases().set_status(c.id, CaseStatus::Open).await.unwrap();
    // Resolving needs a resolution.
    let err = env.refused(cx.cases().set_status(c.id, CaseStatus::Resolved)).await;
    assert_only_field(&err, "resolution", FieldErrorCode::Required);
    let err = env.refused(cx.cases().resolve(c.id, "  ")).await;
    assert_only_field(&err, "resolution", FieldErrorCode::Required);
    env.advance(Duration::hours(5));
    let resolved = cx.cases().resolve(c.id, "  Reset the password ").await.unwrap();
    assert_eq!(
        (resolved.status, resolved.resolved_at, resolved.resolution.as_deref()),
        (CaseStatus::Resolved, Some(env.now()), Some("Reset the password"))
    );
    assert_eq!(resolved.resolution_time(), Some(Duration::hours(5)));
    assert_eq!(
        changes(&env.events_since(seq).await),
        vec![
            (EntityKind::Case, status_changed("new", "open")),
            (EntityKind::Case, status_changed("open", "pending_customer")),
            (EntityKind::Case, status_changed("pending_customer", "open")),
            (EntityKind::Case, status_changed("open", "resolved")),
        ]
    );

    // A resolved case only closes; anything else needs reopening first.
    for to in [CaseStatus::PendingCustomer, CaseStatus::Open, CaseStatus::New] {
        let err = env.refused(cx.cases().set_status(c.id, to)).await;
        assert_transition(&err, "status", "resolved", to.as_str());
    }
    assert_transition(&env.refused(cx.cases().resolve(c.id, "again")).await, "status", "resolved", "resolved");
    env.advance(Duration::hours(1));
    let closed = cx.cases().close(c.id).await.unwrap();
    assert_eq!(
        (closed.status, closed.closed_at, closed.resolved_at),
        (CaseStatus::Closed, Some(env.now()), resolved.resolved_at)
    );

    // A closed case cannot go to pending (or anywhere) without reopening.
    let err = env.refused(cx.cases().set_status(c.id, CaseStatus::PendingCustomer)).await;
    assert_transition(&err, "status", "closed", "pending_customer");
    for to in [CaseStatus::Open, CaseStatus::New, CaseStatus::Resolved] {
        assert!(env.refused(cx.cases().set_status(c.id, to)).await.names_field(if to == CaseStatus::Resolved {
            "resolution"
        } else {
            "status"
        }));
    }
    assert_transition(&env.refused(cx.cases().resolve(c.id, "x")).await, "status", "closed", "resolved");
    // Closing again writes nothing.
    env.unchanged(cx.cases().close(c.id)).await;
    // Status, resolution and times never change through update.
    for (field, edit) in [
        ("status", Box::new(|c: &mut Case| c.status = CaseStatus::PendingCustomer) as Box<dyn Fn(&mut Case)>),
        ("resolution", Box::new(|c: &mut Case| c.resolution = None)),
        ("closed_at", Box::new(|c: &mut Case| c.closed_at = None)),
        ("sla_breached", Box::new(|c: &mut Case| c.sla_breached = true)),
        ("satisfaction", Box::new(|c: &mut Case| c.satisfaction = Some(5))),
        ("opened_at", Box::new(|c: &mut Case| c.opened_at = t0() - Duration::days(1))),
    ] {
        let mut x = closed.clone();
        edit(&mut x);
        let err = env.refused(cx.cases().update(x)).await;
        assert!(matches!(err, Error::InvalidTransition { .. }) && err.names_field(field), "{field}: {err}");
    }

    // Reopening goes back to open and clears the resolution; then pending is fine.
    let seq = env.last_seq().await;
    let reopened = cx.cases().reopen(c.id).await.unwrap();
    assert_eq!(
        (reopened.status, reopened.resolved_at, reopened.closed_at, reopened.resolution),
        (CaseStatus::Open, None, None, None)
    );
    assert_eq!(reopened.opened_at, c.opened_at, "the SLA clock is not restarted");
    let pending = cx.cases().set_status(c.id, CaseStatus::PendingCustomer).await.unwrap();
    assert_eq!(pending.status, CaseStatus::PendingCustomer);
    assert_eq!(
        changes(&env.events_since(seq).await),
        vec![
            (EntityKind::Case, status_changed("closed", "open")),
            (EntityKind::Case, status_changed("open", "pending_customer"))
        ]
    );
    // Only resolved or closed cases are reopened.
    assert_transition(&env.refused(cx.cases().reopen(c.id)).await, "status", "pending_customer", "open");
    // A case can be closed straight from pending, and a resolved case reopened.
    cx.cases().close(c.id).await.unwrap();
    let other = cx.cases().open(question("Other").contact(ann.id)).await.unwrap();
    cx.cases().resolve(other.id, "Answered").await.unwrap();
    assert_eq!(cx.cases().reopen(other.id).await.unwrap().status, CaseStatus::Open);

    let missing = CaseId::from_uuid(Uuid::from_u128(404));
    assert_not_found(&env.refused(cx.cases().close(missing)).await, EntityKind::Case, missing);
}

#[tokio::test]
async fn an_sla_breach_is_flagged_when_resolved_late_or_found_late() {
    let env = env();
    let cx = env.cx();
    let ann = contact(&cx, "Ann").await;
    let urgent = || question("Down").contact(ann.id).priority(Priority::Urgent);
    let on_time = cx.cases().open(urgent()).await.unwrap();
    let late = cx.cases().open(urgent()).await.unwrap();
    let swept = cx.cases().open(urgent()).await.unwrap();
    let closed_late = cx.cases().open(urgent()).await.unwrap();
    let relaxed = cx.cases().open(question("Whenever").contact(ann.id).priority(Priority::Low)).await.unwrap();

    env.advance(Duration::hours(4));
    // Exactly at the due time is still in time.
    let ok = cx.cases().resolve(on_time.id, "Fixed").await.unwrap();
    assert!(!ok.sla_breached && !ok.is_breached_at(env.now() + Duration::days(9)));
    assert_eq!(ok.resolution_time(), Some(Duration::hours(4)));
    // Nothing is late yet.
    assert!(env.unchanged(cx.cases().flag_breaches()).await.is_empty());

    env.advance(Duration::minutes(1));
    let late = cx.cases().resolve(late.id, "Fixed, late").await.unwrap();
    assert!(late.sla_breached);
    let closed_late = cx.cases().close(closed_late.id).await.unwrap();
    assert!(closed_late.sla_breached, "closing without resolving judges the SLA at closing");

    let seq = env.last_seq().await;
    let flagged = cx.cases().flag_breaches().await.unwrap();
    assert_eq!(flagged.iter().map(|c| c.id).collect::<Vec<_>>(), vec![swept.id], "only active, late, unflagged cases");
    assert!(flagged[0].sla_breached);
    assert_eq!(
        changes(&env.events_since(seq).await),
        vec![(EntityKind::Case, Change::Updated { fields: vec!["sla_breached".into()] })]
    );
    assert!(env.unchanged(cx.cases().flag_breaches()).await.is_empty(), "flagged once");
    assert!(!cx.cases().get(relaxed.id).await.unwrap().sla_breached);
    assert_eq!(cx.cases().count(&Filter::eq("sla_breached", true)).await.unwrap(), 3);

    // The breach stands through reopening and a later resolution.
    cx.cases().reopen(late.id).await.unwrap();
    assert!(cx.cases().get(late.id).await.unwrap().sla_breached);
    env.advance(Duration::days(10));
    let relaxed = cx.cases().resolve(relaxed.id, "Done").await.unwrap();
    assert!(relaxed.sla_breached, "5 days for low priority, resolved after 10");
    assert_eq!(relaxed.resolution_time(), Some(Duration::days(10) + Duration::hours(4) + Duration::minutes(1)));
}

#[tokio::test]
async fn satisfaction_is_rated_once_resolved_and_filed_as_survey_feedback() {
    let env = env();
    let cx = env.cx();
    let ann = contact(&cx, "Ann").await;
    let c = cx.cases().open(question("Help").contact(ann.id)).await.unwrap();

    let err = env.refused(cx.cases().rate(c.id, 5, None)).await;
    assert_only_field(&err, "satisfaction", FieldErrorCode::Rule);
    cx.cases().resolve(c.id, "Helped").await.unwrap();
    for bad in [0, 6] {
        let err = env.refused(cx.cases().rate(c.id, bad, None)).await;
        assert_only_field(&err, "satisfaction", FieldErrorCode::OutOfRange);
    }

    let seq = env.last_seq().await;
    let rated = cx.cases().rate(c.id, 4, Some("  Quick and friendly ".into())).await.unwrap();
    assert_eq!((rated.satisfaction, rated.survey_comment.as_deref()), (Some(4), Some("Quick and friendly")));
    assert_eq!(
        changes(&env.events_since(seq).await),
        vec![
            (EntityKind::Case, Change::Updated { fields: vec!["satisfaction".into(), "survey_comment".into()] }),
            (EntityKind::Feedback, Change::Created),
        ]
    );
    let fb = cx.feedback().list(&Query::new(Filter::eq("case_id", c.id.as_uuid()))).await.unwrap().items;
    assert_eq!(fb.len(), 1);
    assert_eq!(
        (fb[0].kind, fb[0].rating, fb[0].text.as_deref(), fb[0].contact_id),
        (FeedbackKind::Survey, Some(4), Some("Quick and friendly"), Some(ann.id))
    );

    // The customer changes their mind: the case and its one survey answer say so.
    cx.cases().close(c.id).await.unwrap();
    env.advance(Duration::hours(1));
    let rerated = cx.cases().rate(c.id, 2, None).await.unwrap();
    assert_eq!((rerated.satisfaction, rerated.survey_comment), (Some(2), None));
    let fb = cx.feedback().list(&Query::new(Filter::eq("case_id", c.id.as_uuid()))).await.unwrap().items;
    assert_eq!(fb.len(), 1, "one survey answer per case");
    assert_eq!((fb[0].rating, fb[0].text.as_deref(), fb[0].received_at), (Some(2), None, env.now()));
    assert_eq!(cx.customer_360(ann.id).await.unwrap().summary.average_rating, Some(dec("2.00")));
    assert_eq!(cx.cases().count(&Filter::eq("satisfaction", 2)).await.unwrap(), 1);
}

// ---------------------------------------------------------------------------------------------
// Feedback
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn feedback_of_each_kind_needs_its_own_facts() {
    let env = env();
    let cx = env.cx();
    let ann = contact(&cx, "Ann").await;
    let deal = cx.deals().create(NewDeal::new("Lost one").contact(ann.id).amount(usd("100"))).await.unwrap();
    cx.deals().lose(deal.id, "went elsewhere").await.unwrap();

    let err =
        env.refused(cx.feedback().record(NewFeedback { source: None, ..NewFeedback::review("x", 5, "Great") })).await;
    assert_only_field(&err, "source", FieldErrorCode::Required);
    let err =
        env.refused(cx.feedback().record(NewFeedback { rating: None, ..NewFeedback::review("G2", 5, "Great") })).await;
    assert_only_field(&err, "rating", FieldErrorCode::Required);
    let err = env.refused(cx.feedback().record(NewFeedback::review("G2", 6, "Great"))).await;
    assert_only_field(&err, "rating", FieldErrorCode::OutOfRange);
    let err = env.refused(cx.feedback().record(NewFeedback::review("G2", 0, "Great"))).await;
    assert_only_field(&err, "rating", FieldErrorCode::OutOfRange);
    let err = env.refused(cx.feedback().record(NewFeedback::survey(None, Some("  ".into())).contact(ann.id))).await;
    assert_only_field(&err, "rating", FieldErrorCode::Required);
    let err = env.refused(cx.feedback().record(NewFeedback::survey(Some(3), None))).await;
    assert_only_field(&err, "contact_id", FieldErrorCode::Required);
    let err = env.refused(cx.feedback().record(NewFeedback::lost_to(" ", "").contact(ann.id))).await;
    assert_field(&err, "competitor", FieldErrorCode::Required);
    assert_field(&err, "reason", FieldErrorCode::Required);
    assert_eq!(err.field_errors().len(), 2);
    let err = env.refused(cx.feedback().record(NewFeedback::suggestion(" ").contact(ann.id))).await;
    assert_only_field(&err, "text", FieldErrorCode::Required);
    let err = env
        .refused(
            cx.feedback().record(
                NewFeedback::suggestion("More tea").contact(ann.id).received_at(env.now() + Duration::hours(1)),
            ),
        )
        .await;
    assert_only_field(&err, "received_at", FieldErrorCode::OutOfRange);
    for (field, input) in [
        ("deal_id", NewFeedback::suggestion("x").contact(ann.id).deal(DealId::from_uuid(Uuid::from_u128(9)))),
        ("case_id", NewFeedback::suggestion("x").contact(ann.id).case(CaseId::from_uuid(Uuid::from_u128(9)))),
        ("order_id", NewFeedback::suggestion("x").contact(ann.id).order(OrderId::from_uuid(Uuid::from_u128(9)))),
        ("product_id", NewFeedback::suggestion("x").contact(ann.id).product(ProductId::from_uuid(Uuid::from_u128(9)))),
    ] {
        let err = env.refused(cx.feedback().record(input)).await;
        assert_only_field(&err, field, FieldErrorCode::NotFound);
    }

    // A public review may be anonymous.
    let seq = env.last_seq().await;
    let review = cx.feedback().record(NewFeedback::review(" Trustpilot ", 2, "Slow delivery")).await.unwrap();
    assert_eq!(
        (review.kind, review.source.as_deref(), review.rating, review.contact_id),
        (FeedbackKind::Review, Some("Trustpilot"), Some(2), None)
    );
    assert_eq!(changes(&env.events_since(seq).await), vec![(EntityKind::Feedback, Change::Created)]);
    let when = env.now() - Duration::days(3);
    let lost = cx
        .feedback()
        .record(NewFeedback::lost_to("Teavana", "cheaper").contact(ann.id).deal(deal.id).received_at(when))
        .await
        .unwrap();
    assert_eq!(
        (lost.kind, lost.competitor.as_deref(), lost.reason.as_deref(), lost.deal_id, lost.received_at),
        (FeedbackKind::LostToCompetitor, Some("Teavana"), Some("cheaper"), Some(deal.id), when)
    );
    cx.feedback().record(NewFeedback::survey(Some(5), None).contact(ann.id)).await.unwrap();
    cx.feedback().record(NewFeedback::survey(None, Some("Nice shop".into())).contact(ann.id)).await.unwrap();
    assert_eq!(cx.feedback().count(&Filter::eq("kind", "survey")).await.unwrap(), 2);
    assert_eq!(cx.feedback().count(&Filter::eq("competitor", "Teavana")).await.unwrap(), 1);
}

// ---------------------------------------------------------------------------------------------
// Segments
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn segments_are_saved_filters_evaluated_live() {
    let env = env();
    let cx = env.cx();
    let vip = cx.contacts().create(NewContact::new("Vera", "Important").tag("vip")).await.unwrap();
    cx.contacts().create(NewContact::new("Norm", "Al")).await.unwrap();

    let err = env.refused(cx.segments().create(NewSegment::new("  ", Filter::All))).await;
    assert_only_field(&err, "name", FieldErrorCode::Required);
    let err = env.refused(cx.segments().create(NewSegment::new("Bad", Filter::eq("nope", 1)))).await;
    assert_only_field(&err, "filter.nope", FieldErrorCode::UnknownField);
    let err = env.refused(cx.segments().create(NewSegment::new("Bad", Filter::eq("custom.score", 1)))).await;
    assert_only_field(&err, "filter.custom.score", FieldErrorCode::UnknownField);
    let err = env.refused(cx.segments().create(NewSegment::new("Bad", Filter::starts_with("tags", "v")))).await;
    assert_only_field(&err, "filter.tags", FieldErrorCode::TypeMismatch);

    let seg = cx.segments().create(NewSegment::new(" VIPs ", Filter::contains("tags", "vip"))).await.unwrap();
    assert_eq!(seg.name, "VIPs");
    let err = env.refused(cx.segments().create(NewSegment::new("vips", Filter::All))).await;
    assert_only_field(&err, "name", FieldErrorCode::Duplicate);
    assert_eq!(
        env.cx_of(tenant_b()).segments().create(NewSegment::new("VIPs", Filter::All)).await.unwrap().name,
        "VIPs"
    );

    assert_eq!(segment_members(&cx, seg.id).await, vec![vip.id]);
    // Who belongs is decided when asked.
    let later = cx.contacts().create(NewContact::new("Lara", "Later").tag("VIP")).await.unwrap();
    assert_eq!(segment_members(&cx, seg.id).await, vec![vip.id, later.id]);
    assert_eq!(cx.segments().member_count(seg.id).await.unwrap(), 2);
    let mut dropped = cx.contacts().get(vip.id).await.unwrap();
    dropped.tags.clear();
    cx.contacts().update(dropped).await.unwrap();
    assert_eq!(segment_members(&cx, seg.id).await, vec![later.id]);
    // The query's own filter narrows the segment.
    let page = cx.segments().members(seg.id, &Query::new(Filter::eq("given_name", "Vera"))).await.unwrap();
    assert!(page.items.is_empty());

    // Custom fields can be segmented on once defined; a changed filter is checked as well.
    cx.custom_fields()
        .define(FieldDefinition::new(EntityKind::Contact, "score", "Score", FieldType::Number))
        .await
        .unwrap();
    let mut s = seg.clone();
    s.filter = Filter::gte("custom.score", 10);
    let s = cx.segments().update(s).await.unwrap();
    assert!(segment_members(&cx, s.id).await.is_empty());
    let mut bad = s.clone();
    bad.filter = Filter::eq("custom.score", "high");
    assert_only_field(
        &env.refused(cx.segments().update(bad)).await,
        "filter.custom.score",
        FieldErrorCode::TypeMismatch,
    );

    // A segment a campaign draws from cannot be deleted.
    let camp = cx.campaigns().create(NewCampaign::new("Spring", CampaignChannel::Email).segment(s.id)).await.unwrap();
    let err = env.refused(cx.segments().delete(s.id, s.version)).await;
    assert_only_field(&err, "id", FieldErrorCode::Rule);
    cx.campaigns().delete(camp.id, camp.version).await.unwrap();
    cx.segments().delete(s.id, s.version).await.unwrap();
    assert_not_found(&cx.segments().get(s.id).await.unwrap_err(), EntityKind::Segment, s.id);
}

// ---------------------------------------------------------------------------------------------
// Campaigns
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn campaigns_are_checked_and_move_through_their_statuses() {
    let env = env();
    let cx = env.cx();
    let new = || NewCampaign::new("Spring sale", CampaignChannel::Email);

    let err = env.refused(cx.campaigns().create(NewCampaign::new(" ", CampaignChannel::Email))).await;
    assert_only_field(&err, "name", FieldErrorCode::Required);
    let err = env.refused(cx.campaigns().create(new().budget(usd("-1")))).await;
    assert_only_field(&err, "budget", FieldErrorCode::OutOfRange);
    let err = env.refused(cx.campaigns().create(new().dates(date(2026, 4, 1), date(2026, 3, 31)))).await;
    assert_only_field(&err, "end_date", FieldErrorCode::OutOfRange);
    let err = env.refused(cx.campaigns().create(new().segment(SegmentId::from_uuid(Uuid::from_u128(9))))).await;
    assert_only_field(&err, "segment_id", FieldErrorCode::NotFound);
    let theirs = env.cx_of(tenant_b()).segments().create(NewSegment::new("All", Filter::All)).await.unwrap();
    let err = env.refused(cx.campaigns().create(new().segment(theirs.id))).await;
    assert_only_field(&err, "segment_id", FieldErrorCode::NotFound);

    let c = cx
        .campaigns()
        .create(new().budget(usd("1000")).dates(date(2026, 3, 1), date(2026, 3, 31)).goal(" 50 orders ").tag("spring"))
        .await
        .unwrap();
    assert_eq!(
        (c.status, c.budget, c.goal.as_deref(), c.actual_cost),
        (CampaignStatus::Planned, Some(usd("1000")), Some("50 orders"), None)
    );

    // The spend is in the budget's currency, and not negative.
    let mut x = c.clone();
    x.actual_cost = Some(eur("900"));
    assert_only_field(&env.refused(cx.campaigns().update(x)).await, "actual_cost", FieldErrorCode::CurrencyMismatch);
    let mut x = c.clone();
    x.actual_cost = Some(usd("-900"));
    assert_only_field(&env.refused(cx.campaigns().update(x)).await, "actual_cost", FieldErrorCode::OutOfRange);
    let mut x = c.clone();
    x.actual_cost = Some(usd("900"));
    let c = cx.campaigns().update(x).await.unwrap();
    assert_eq!(c.actual_cost, Some(usd("900")));
    let mut x = c.clone();
    x.status = CampaignStatus::Active;
    assert_transition(&env.refused(cx.campaigns().update(x)).await, "status", "planned", "active");

    assert_transition(
        &env.refused(cx.campaigns().set_status(c.id, CampaignStatus::Paused)).await,
        "status",
        "planned",
        "paused",
    );
    assert_transition(
        &env.refused(cx.campaigns().set_status(c.id, CampaignStatus::Completed)).await,
        "status",
        "planned",
        "completed",
    );
    let seq = env.last_seq().await;
    for to in [CampaignStatus::Active, CampaignStatus::Paused, CampaignStatus::Active, CampaignStatus::Completed] {
        assert_eq!(cx.campaigns().set_status(c.id, to).await.unwrap().status, to);
    }
    assert_eq!(
        changes(&env.events_since(seq).await),
        vec![
            (EntityKind::Campaign, status_changed("planned", "active")),
            (EntityKind::Campaign, status_changed("active", "paused")),
            (EntityKind::Campaign, status_changed("paused", "active")),
            (EntityKind::Campaign, status_changed("active", "completed")),
        ]
    );
    env.unchanged(cx.campaigns().set_status(c.id, CampaignStatus::Completed)).await;
    for to in [CampaignStatus::Active, CampaignStatus::Cancelled, CampaignStatus::Planned] {
        assert_transition(&env.refused(cx.campaigns().set_status(c.id, to)).await, "status", "completed", to.as_str());
    }
    let d = cx.campaigns().create(new()).await.unwrap();
    assert_eq!(
        cx.campaigns().set_status(d.id, CampaignStatus::Cancelled).await.unwrap().status,
        CampaignStatus::Cancelled
    );
    assert_transition(
        &env.refused(cx.campaigns().set_status(d.id, CampaignStatus::Active)).await,
        "status",
        "cancelled",
        "active",
    );
}

#[tokio::test]
async fn campaign_members_come_from_the_segment_and_respect_consent() {
    let env = env();
    let cx = env.cx();
    let tagged = |g: &str| NewContact::new(g, "Tea").tag("tea");
    let ann =
        cx.contacts().create(tagged("Ann").consent(ConsentStatus::Granted, ConsentMethod::DoubleOptIn)).await.unwrap();
    let bob = cx.contacts().create(tagged("Bob")).await.unwrap(); // never asked
    let den = cx.contacts().create(tagged("Den").consent(ConsentStatus::Denied, ConsentMethod::Verbal)).await.unwrap();
    let wil = cx
        .contacts()
        .create(tagged("Wil").consent(ConsentStatus::Withdrawn, ConsentMethod::Unsubscribe))
        .await
        .unwrap();
    let out = cx.contacts().create(NewContact::new("Out", "Side")).await.unwrap();
    let seg = cx.segments().create(NewSegment::new("Tea lovers", Filter::contains("tags", "tea"))).await.unwrap();
    let camp =
        cx.campaigns().create(NewCampaign::new("Tea week", CampaignChannel::Email).segment(seg.id)).await.unwrap();

    let seq = env.last_seq().await;
    assert_eq!(cx.campaigns().add_segment_members(camp.id).await.unwrap(), 2);
    assert_eq!(campaign_members(&cx, camp.id).await, vec![ann.id, bob.id], "those who refused marketing are skipped");
    assert_eq!(changes(&env.events_since(seq).await), vec![(EntityKind::CampaignMember, Change::Created); 2]);
    let m = &cx.campaigns().members(camp.id, &Query::new(Filter::All)).await.unwrap().items[0];
    assert_eq!((m.campaign_id, m.added_at, m.responses.len()), (camp.id, env.now(), 0));
    // Again: nobody new.
    assert_eq!(env.unchanged(cx.campaigns().add_segment_members(camp.id)).await, 0);
    // The segment is read live: a newly tagged contact is added next time.
    let cy = cx.contacts().create(tagged("Cy")).await.unwrap();
    assert_eq!(cx.campaigns().add_segment_members(camp.id).await.unwrap(), 1);
    assert_eq!(campaign_members(&cx, camp.id).await, vec![ann.id, bob.id, cy.id]);

    // One by one.
    let err = env.refused(cx.campaigns().add_contact(camp.id, den.id)).await;
    assert_only_field(&err, "contact_id", FieldErrorCode::Rule);
    let err = env.refused(cx.campaigns().add_contact(camp.id, wil.id)).await;
    assert_only_field(&err, "contact_id", FieldErrorCode::Rule);
    let err = env.refused(cx.campaigns().add_contact(camp.id, ann.id)).await;
    assert_only_field(&err, "contact_id", FieldErrorCode::Duplicate);
    let ghost = ContactId::from_uuid(Uuid::from_u128(404));
    let err = env.refused(cx.campaigns().add_contact(camp.id, ghost)).await;
    assert_only_field(&err, "contact_id", FieldErrorCode::NotFound);
    let m = cx.campaigns().add_contact(camp.id, out.id).await.unwrap();
    assert_eq!(m.contact_id, out.id, "members need not be in the segment");

    // A campaign without a segment has none to draw from; a finished one takes nobody.
    let bare = cx.campaigns().create(NewCampaign::new("Bare", CampaignChannel::Sms)).await.unwrap();
    let err = env.refused(cx.campaigns().add_segment_members(bare.id)).await;
    assert_only_field(&err, "segment_id", FieldErrorCode::Required);
    cx.campaigns().set_status(bare.id, CampaignStatus::Cancelled).await.unwrap();
    assert_only_field(&env.refused(cx.campaigns().add_contact(bare.id, ann.id)).await, "status", FieldErrorCode::Rule);
    cx.campaigns().set_status(camp.id, CampaignStatus::Active).await.unwrap();
    cx.campaigns().set_status(camp.id, CampaignStatus::Completed).await.unwrap();
    assert_only_field(&env.refused(cx.campaigns().add_segment_members(camp.id)).await, "status", FieldErrorCode::Rule);
    let missing = CampaignId::from_uuid(Uuid::from_u128(404));
    assert_not_found(&env.refused(cx.campaigns().add_contact(missing, ann.id)).await, EntityKind::Campaign, missing);
}

#[tokio::test]
async fn responses_are_recorded_once_at_their_first_time_and_unsubscribing_withdraws_consent() {
    let env = env();
    let cx = env.cx();
    let ann = cx
        .contacts()
        .create(NewContact::new("Ann", "Lee").consent(ConsentStatus::Granted, ConsentMethod::WebForm))
        .await
        .unwrap();
    let bob = contact(&cx, "Bob").await;
    let camp = cx.campaigns().create(NewCampaign::new("News", CampaignChannel::Email)).await.unwrap();
    cx.campaigns().add_contact(camp.id, ann.id).await.unwrap();

    let err = env.refused(cx.campaigns().record_response(camp.id, bob.id, ResponseKind::Opened, None)).await;
    assert_only_field(&err, "contact_id", FieldErrorCode::NotFound);
    let err = env
        .refused(cx.campaigns().record_response(
            camp.id,
            ann.id,
            ResponseKind::Opened,
            Some(env.now() + Duration::seconds(1)),
        ))
        .await;
    assert_only_field(&err, "at", FieldErrorCode::OutOfRange);
    let missing = CampaignId::from_uuid(Uuid::from_u128(404));
    assert_not_found(
        &env.refused(cx.campaigns().record_response(missing, ann.id, ResponseKind::Sent, None)).await,
        EntityKind::Campaign,
        missing,
    );

    let sent_at = env.now() - Duration::hours(2);
    let seq = env.last_seq().await;
    cx.campaigns().record_response(camp.id, ann.id, ResponseKind::Sent, Some(sent_at)).await.unwrap();
    env.advance(Duration::minutes(30));
    let m = cx.campaigns().record_response(camp.id, ann.id, ResponseKind::Opened, None).await.unwrap();
    assert_eq!(m.responded(ResponseKind::Sent), Some(sent_at));
    assert_eq!(m.responded(ResponseKind::Opened), Some(env.now()));
    assert_eq!(m.responded(ResponseKind::Clicked), None);
    let evs = env.events_since(seq).await;
    assert_eq!(
        changes(&evs),
        vec![
            (EntityKind::CampaignMember, Change::CampaignResponded { campaign_id: camp.id, kind: ResponseKind::Sent }),
            (
                EntityKind::CampaignMember,
                Change::CampaignResponded { campaign_id: camp.id, kind: ResponseKind::Opened }
            ),
        ]
    );
    assert!(evs[0].event.related.contains(&contact_ref(ann.id)));
    assert!(evs[0].event.related.contains(&EntityRef::new(EntityKind::Campaign, camp.id)));
    // The first open counts; opening again changes nothing.
    env.advance(Duration::minutes(30));
    let again = env.unchanged(cx.campaigns().record_response(camp.id, ann.id, ResponseKind::Opened, None)).await;
    assert_eq!(again.responded(ResponseKind::Opened), Some(env.now() - Duration::minutes(30)));

    // Unsubscribing withdraws marketing consent, stamped with the response's time.
    let seq = env.last_seq().await;
    cx.campaigns().record_response(camp.id, ann.id, ResponseKind::Unsubscribed, None).await.unwrap();
    let ann = cx.contacts().get(ann.id).await.unwrap();
    assert_eq!(
        ann.marketing_consent,
        MarketingConsent {
            status: ConsentStatus::Withdrawn,
            changed_at: Some(env.now()),
            method: Some(ConsentMethod::Unsubscribe)
        }
    );
    assert_eq!(
        changes(&env.events_since(seq).await),
        vec![
            (
                EntityKind::CampaignMember,
                Change::CampaignResponded { campaign_id: camp.id, kind: ResponseKind::Unsubscribed }
            ),
            (EntityKind::Contact, Change::Updated { fields: vec!["marketing_consent".into()] }),
            (EntityKind::Consent, Change::Created),
        ]
    );
    // …so the next campaign skips her.
    let seg = cx.segments().create(NewSegment::new("Everyone", Filter::All)).await.unwrap();
    let next = cx.campaigns().create(NewCampaign::new("Next", CampaignChannel::Email).segment(seg.id)).await.unwrap();
    assert_eq!(cx.campaigns().add_segment_members(next.id).await.unwrap(), 1, "only Bob");
    assert_only_field(
        &env.refused(cx.campaigns().add_contact(next.id, ann.id)).await,
        "contact_id",
        FieldErrorCode::Rule,
    );
}

#[tokio::test]
async fn campaign_results_give_counts_rates_cost_per_conversion_and_revenue() {
    let env = env();
    let cx = env.cx();
    let seg = cx.segments().create(NewSegment::new("Tea", Filter::contains("tags", "tea"))).await.unwrap();
    let camp = cx
        .campaigns()
        .create(NewCampaign::new("Tea week", CampaignChannel::Email).segment(seg.id).budget(usd("1000")))
        .await
        .unwrap();
    // No members yet: zero rates, no cost per conversion.
    let r = cx.campaigns().results(camp.id).await.unwrap();
    assert_eq!((r.members, r.cost_per_conversion, r.revenue.len()), (0, None, 0));
    assert!(r.rates.values().all(|v| v.is_zero()) && r.rates.len() == ResponseKind::ALL.len());

    let mut people = Vec::new();
    for g in ["Ann", "Bob", "Cy"] {
        people.push(cx.contacts().create(NewContact::new(g, "Tea").tag("tea")).await.unwrap().id);
    }
    let (ann, bob, cy) = (people[0], people[1], people[2]);
    let dan = contact(&cx, "Dan").await.id; // not a member
    cx.campaigns().add_segment_members(camp.id).await.unwrap();

    // Ann bought before the campaign: not its revenue.
    cx.orders()
        .create(NewOrder::for_contact(ann).line(line("Old", "1", usd("500"))).placed_at(t0() - Duration::days(9)))
        .await
        .unwrap();
    env.advance(Duration::hours(1));
    let campaigns = cx.campaigns();
    let rec = |c: ContactId, k: ResponseKind| campaigns.record_response(camp.id, c, k, None);
    for c in [ann, bob, cy] {
        rec(c, ResponseKind::Sent).await.unwrap();
    }
    rec(ann, ResponseKind::Delivered).await.unwrap();
    rec(bob, ResponseKind::Delivered).await.unwrap();
    rec(cy, ResponseKind::Bounced).await.unwrap();
    rec(ann, ResponseKind::Opened).await.unwrap();
    rec(bob, ResponseKind::Opened).await.unwrap();
    rec(ann, ResponseKind::Clicked).await.unwrap();
    rec(bob, ResponseKind::Unsubscribed).await.unwrap();
    env.advance(Duration::hours(1));
    let seq = env.last_seq().await;
    rec(ann, ResponseKind::Converted).await.unwrap();
    assert_eq!(
        changes(&env.events_since(seq).await),
        vec![(
            EntityKind::CampaignMember,
            Change::CampaignResponded { campaign_id: camp.id, kind: ResponseKind::Converted }
        )]
    );

    // After converting: a placed USD order, a paid EUR order, a cancelled one and a draft.
    let after = |l: LineItem| NewOrder::for_contact(ann).line(l);
    cx.orders().create(after(line("Tea", "2", usd("60"))).placed()).await.unwrap();
    let eur_order =
        cx.orders().create(after(line("Tee", "1", eur("40"))).paid_by(PaymentMethod::Card).placed()).await.unwrap();
    cx.orders().mark_paid(eur_order.id, None).await.unwrap();
    let cancelled = cx.orders().create(after(line("Oops", "1", usd("999"))).placed()).await.unwrap();
    cx.orders().cancel(cancelled.id).await.unwrap();
    cx.orders().create(after(line("Maybe", "1", usd("999")))).await.unwrap();
    // Orders attributed to the campaign count whoever placed them, and only once.
    cx.orders()
        .create(NewOrder::for_contact(dan).line(line("Gift", "1", usd("30"))).campaign(camp.id).placed())
        .await
        .unwrap();
    cx.orders().create(after(line("Mug", "1", usd("10"))).campaign(camp.id).placed()).await.unwrap();
    // Bob's orders do not count: he never converted.
    cx.orders().create(NewOrder::for_contact(bob).line(line("Tea", "1", usd("70"))).placed()).await.unwrap();

    let r = cx.campaigns().results(camp.id).await.unwrap();
    assert_eq!(r.campaign.id, camp.id);
    assert_eq!(r.members, 3);
    let counts: Vec<(ResponseKind, u64)> = r.counts.iter().map(|(k, v)| (*k, *v)).collect();
    assert_eq!(
        counts,
        vec![
            (ResponseKind::Sent, 3),
            (ResponseKind::Delivered, 2),
            (ResponseKind::Opened, 2),
            (ResponseKind::Clicked, 1),
            (ResponseKind::Responded, 0),
            (ResponseKind::Converted, 1),
            (ResponseKind::Unsubscribed, 1),
            (ResponseKind::Bounced, 1),
        ]
    );
    let rate = |k: ResponseKind| r.rates[&k];
    assert_eq!(rate(ResponseKind::Sent), dec("1"));
    assert_eq!(rate(ResponseKind::Delivered), dec("0.6667"));
    assert_eq!(rate(ResponseKind::Clicked), dec("0.3333"));
    assert_eq!(rate(ResponseKind::Responded), dec("0"));
    assert_eq!(r.cost_per_conversion, Some(usd("1000.00")), "the budget when no cost is recorded");
    assert_eq!(
        r.revenue,
        money_map(&[(Currency::USD, "160.00"), (Currency::EUR, "40.00")]),
        "120 + 30 + 10 USD; 40 EUR"
    );

    // Two more conversions and an actual cost: 900 / 3 = 300; 1000 / 3 rounds to the cent.
    env.advance(Duration::minutes(1));
    rec(bob, ResponseKind::Converted).await.unwrap();
    rec(cy, ResponseKind::Converted).await.unwrap();
    let mut c = cx.campaigns().get(camp.id).await.unwrap();
    assert_eq!(cx.campaigns().results(camp.id).await.unwrap().cost_per_conversion, Some(usd("333.33")));
    c.actual_cost = Some(usd("900"));
    cx.campaigns().update(c).await.unwrap();
    let r = cx.campaigns().results(camp.id).await.unwrap();
    assert_eq!((r.cost_per_conversion, r.rates[&ResponseKind::Converted]), (Some(usd("300.00")), dec("1")));
    // Bob's earlier order predates his conversion and still does not count.
    assert_eq!(r.revenue[&Currency::USD], dec("160.00"));

    // Currencies without minor units round to whole amounts.
    let yen = cx
        .campaigns()
        .create(NewCampaign::new("Yen", CampaignChannel::Social).budget(Money::new(dec("1000"), Currency::JPY)))
        .await
        .unwrap();
    let err = env.refused(cx.campaigns().add_contact(yen.id, bob)).await;
    assert_only_field(&err, "contact_id", FieldErrorCode::Rule); // Bob unsubscribed
    for c in [ann, cy, dan] {
        cx.campaigns().add_contact(yen.id, c).await.unwrap();
        cx.campaigns().record_response(yen.id, c, ResponseKind::Converted, None).await.unwrap();
    }
    let r = cx.campaigns().results(yen.id).await.unwrap();
    assert_eq!((r.members, r.counts[&ResponseKind::Converted]), (3, 3));
    // 1000 / 3 = 333.33… → 333 JPY.
    assert_eq!(r.cost_per_conversion, Some(Money::new(dec("333"), Currency::JPY)));
    assert_eq!(r.cost_per_conversion.unwrap().amount.scale(), 0);
    let missing = CampaignId::from_uuid(Uuid::from_u128(404));
    assert_not_found(&cx.campaigns().results(missing).await.unwrap_err(), EntityKind::Campaign, missing);
}

// ---------------------------------------------------------------------------------------------
// Customer 360 and the timeline
// ---------------------------------------------------------------------------------------------

/// What a timeline item is, for comparing sequences.
fn kind_of(item: &TimelineItem) -> String {
    match item {
        TimelineItem::Activity(a) => format!("activity:{}", a.subject),
        TimelineItem::Event(e) => format!("event:{}:{:?}", e.event.subject.kind, e.event.change),
        TimelineItem::Order(o) => format!("order:{}", o.number),
        TimelineItem::Invoice(i) => format!("invoice:{}", i.number),
        TimelineItem::Payment(p) => format!("payment:{}", p.reference.as_deref().unwrap_or("")),
        TimelineItem::Case(c) => format!("case:{}", c.subject),
        TimelineItem::Feedback(f) => format!("feedback:{}", f.kind),
        TimelineItem::CampaignResponse { campaign_name, response, .. } => {
            format!("response:{campaign_name}:{}", response.kind)
        }
        other => format!("{other:?}"),
    }
}

/// The non-event items of a timeline, in order.
fn records_of(items: &[TimelineItem]) -> Vec<String> {
    items.iter().filter(|i| !matches!(i, TimelineItem::Event(_))).map(kind_of).collect()
}

#[tokio::test]
async fn the_timeline_holds_every_kind_of_record_newest_first() {
    let env = env();
    let cx = env.cx();
    let day = Duration::days(1);
    let ann = contact(&cx, "Ann").await;
    let bob = contact(&cx, "Bob").await;
    let camp = cx.campaigns().create(NewCampaign::new("Spring", CampaignChannel::Email)).await.unwrap();
    cx.campaigns().add_contact(camp.id, ann.id).await.unwrap();
    cx.campaigns().add_contact(camp.id, bob.id).await.unwrap();

    env.advance(day); // 03-03
    cx.activities().log(NewActivity::call("Intro call").contact(ann.id)).await.unwrap();
    env.advance(day); // 03-04
    let order = cx
        .orders()
        .create(NewOrder::for_contact(ann.id).line(line("Tea", "1", usd("100"))).number("SO-1").placed())
        .await
        .unwrap();
    cx.orders()
        .create(NewOrder::for_contact(bob.id).line(line("Tea", "1", usd("100"))).number("SO-BOB").placed())
        .await
        .unwrap();
    env.advance(day); // 03-05
    let inv = cx.invoices().from_order(order.id).await.unwrap();
    let mut numbered = inv.clone();
    numbered.number = "INV-1".into();
    cx.invoices().update(numbered).await.unwrap();
    cx.invoices().send(inv.id).await.unwrap();
    env.advance(day); // 03-06
    cx.payments()
        .record(
            NewPayment::new(usd("100"), env.now().date_naive(), PaymentMethod::Card)
                .from_contact(ann.id)
                .reference("P-1")
                .apply(inv.id, usd("100")),
        )
        .await
        .unwrap();
    env.advance(day); // 03-07
    let case = cx.cases().open(question("Leaky pot").contact(ann.id)).await.unwrap();
    env.advance(day); // 03-08
    cx.cases().resolve(case.id, "Sent a new one").await.unwrap();
    cx.feedback().record(NewFeedback::review("G2", 5, "Lovely").contact(ann.id)).await.unwrap();
    env.advance(day); // 03-09
    cx.campaigns().record_response(camp.id, ann.id, ResponseKind::Opened, None).await.unwrap();
    cx.campaigns().record_response(camp.id, bob.id, ResponseKind::Opened, None).await.unwrap();

    let items = cx.timeline(ann.id).await.unwrap();
    for w in items.windows(2) {
        assert!(w[0].at() >= w[1].at(), "not newest first: {} before {}", kind_of(&w[0]), kind_of(&w[1]));
    }
    assert_eq!(
        records_of(&items),
        vec![
            "response:Spring:opened",
            "feedback:review",
            "case:Leaky pot",
            "payment:P-1",   // 03-06 00:00
            "invoice:INV-1", // 03-05 00:00
            "order:SO-1",    // 03-04 09:00
            "activity:Intro call",
        ],
        "each record once; nothing of Bob's"
    );
    let events: Vec<(EntityKind, Change)> = items
        .iter()
        .filter_map(|i| match i {
            TimelineItem::Event(e) => Some((e.event.subject.kind, e.event.change.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        events,
        vec![
            (EntityKind::Case, status_changed("new", "resolved")),
            (EntityKind::Order, status_changed("placed", "paid")),
            (EntityKind::Invoice, status_changed("sent", "paid")),
            (
                EntityKind::Invoice,
                Change::PaymentApplied {
                    payment_id: cx.payments().list(&Query::new(Filter::All)).await.unwrap().items[0].id,
                    amount: usd("100")
                }
            ),
            (EntityKind::Invoice, status_changed("draft", "sent")),
            (EntityKind::Invoice, Change::Updated { fields: vec!["number".into()] }),
            (EntityKind::Contact, Change::Created),
        ],
        "changes beyond the records' creation and placing, newest first; those appear as the records"
    );
    assert_eq!(items[0].at(), env.now());
    match &items[0] {
        TimelineItem::CampaignResponse { campaign_id, contact_id, response, .. } => {
            assert_eq!(
                (*campaign_id, *contact_id, response.kind, response.at),
                (camp.id, ann.id, ResponseKind::Opened, env.now())
            );
        }
        other => panic!("expected the campaign response first, got {other:?}"),
    }
    let missing = ContactId::from_uuid(Uuid::from_u128(404));
    assert_not_found(&cx.timeline(missing).await.unwrap_err(), EntityKind::Contact, missing);
}

#[tokio::test]
async fn the_customer_360_of_a_contact_sums_up_the_relationship() {
    let env = env();
    let cx = env.cx();
    let acme = cx
        .companies()
        .create(NewCompany::new("Acme").credit_terms(CreditTerms::net(14).limit(usd("5000"))))
        .await
        .unwrap();
    let ann = cx.contacts().create(NewContact::new("Ann", "Lee").works_at(acme.id, None, None)).await.unwrap();
    let bob = cx.contacts().create(NewContact::new("Bob", "Roe").works_at(acme.id, None, None)).await.unwrap();

    // Nothing yet.
    let v = cx.customer_360(ann.id).await.unwrap();
    assert_eq!((v.contact.as_ref().map(|c| c.id), v.company.as_ref().map(|c| c.id)), (Some(ann.id), Some(acme.id)));
    assert_eq!(v.people.iter().map(|p| p.id).collect::<Vec<_>>(), vec![ann.id]);
    assert_eq!(
        v.summary,
        CustomerSummary { credit_terms: acme.credit_terms, available_credit: Some(usd("5000")), ..Default::default() }
    );

    // Contacts: a call, two emails, a note and a meeting still to come.
    cx.activities().log(NewActivity::call("Call").contact(ann.id).at(t0() - Duration::days(3))).await.unwrap();
    let last_mail = t0() - Duration::days(1);
    cx.activities().log(NewActivity::email("Mail 1").contact(ann.id).at(t0() - Duration::days(2))).await.unwrap();
    cx.activities().log(NewActivity::email("Mail 2").contact(ann.id).at(last_mail)).await.unwrap();
    cx.activities().log(NewActivity::note("Note").contact(ann.id)).await.unwrap();
    cx.activities().log(NewActivity::meeting("Future").contact(ann.id).at(t0() + Duration::days(8))).await.unwrap();
    cx.activities().log(NewActivity::call("Bob's call").contact(bob.id)).await.unwrap();

    // Deals: two open (USD, EUR), one won.
    cx.deals().create(NewDeal::new("Open USD").contact(ann.id).amount(usd("1000"))).await.unwrap();
    cx.deals().create(NewDeal::new("Open EUR").contact(ann.id).amount(eur("500"))).await.unwrap();
    let won = cx.deals().create(NewDeal::new("Won").contact(ann.id).amount(usd("50"))).await.unwrap();
    cx.deals().win(won.id).await.unwrap();

    // Orders: revenue counts placed, paid and fulfilled ones, per currency.
    let order = |l: LineItem| NewOrder::for_contact(ann.id).line(l);
    cx.orders().create(order(line("A", "1", usd("119"))).placed()).await.unwrap();
    let paid = cx.orders().create(order(line("B", "1", usd("81"))).placed()).await.unwrap();
    cx.orders().mark_paid(paid.id, Some(PaymentMethod::Card)).await.unwrap();
    cx.orders().create(order(line("C", "1", eur("50"))).placed()).await.unwrap();
    cx.orders().create(order(line("Draft", "1", usd("1000")))).await.unwrap();
    let gone = cx.orders().create(order(line("Gone", "1", usd("1000"))).placed()).await.unwrap();
    cx.orders().cancel(gone.id).await.unwrap();
    // Acme's own order and Bob's are not Ann's.
    cx.orders().create(NewOrder::for_company(acme.id).line(line("Co", "1", usd("700"))).placed()).await.unwrap();
    cx.orders().create(NewOrder::for_contact(bob.id).line(line("Bob", "1", usd("300"))).placed()).await.unwrap();

    // Invoices: 200 open (due 03-16), 80 overdue and paid in part, 50 paid after 5 days.
    let inv = |amount: &str| NewInvoice::for_contact(ann.id).line(line("I", "1", usd(amount)));
    let i1 = cx.invoices().create(inv("200").due(date(2026, 3, 16))).await.unwrap();
    let i2 = cx.invoices().create(inv("80").due(date(2026, 3, 4))).await.unwrap();
    let i3 = cx.invoices().create(inv("50")).await.unwrap();
    for i in [&i1, &i2, &i3] {
        cx.invoices().send(i.id).await.unwrap();
    }
    env.advance(Duration::days(5)); // 2026-03-07
    cx.payments()
        .record(
            NewPayment::new(usd("90"), env.now().date_naive(), PaymentMethod::BankTransfer)
                .from_contact(ann.id)
                .apply(i2.id, usd("30"))
                .apply(i3.id, usd("50")),
        )
        .await
        .unwrap();

    // Cases: one open, one resolved and rated 4; a review of 1.
    cx.cases().open(question("Open one").contact(ann.id)).await.unwrap();
    let rated = cx.cases().open(question("Done one").contact(ann.id)).await.unwrap();
    cx.cases().resolve(rated.id, "ok").await.unwrap();
    cx.cases().rate(rated.id, 4, None).await.unwrap();
    cx.feedback().record(NewFeedback::review("G2", 1, "Meh").contact(ann.id)).await.unwrap();
    cx.cases().open(question("Bob's").contact(bob.id)).await.unwrap();

    // A campaign.
    let camp = cx.campaigns().create(NewCampaign::new("Spring", CampaignChannel::Email)).await.unwrap();
    cx.campaigns().add_contact(camp.id, ann.id).await.unwrap();
    cx.campaigns().record_response(camp.id, ann.id, ResponseKind::Clicked, None).await.unwrap();

    let v = cx.customer_360(ann.id).await.unwrap();
    let s = &v.summary;
    assert_eq!(s.lifetime_revenue, money_map(&[(Currency::USD, "200.00"), (Currency::EUR, "50.00")]));
    assert_eq!(s.orders, 3);
    assert_eq!((s.open_deals, &s.open_deal_value), (2, &money_map(&[(Currency::USD, "1000"), (Currency::EUR, "500")])));
    assert_eq!(v.open_deals.len(), 2);
    assert_eq!(s.open_cases, 1);
    assert_eq!(s.balance_due, money_map(&[(Currency::USD, "250.00")]), "200 + 50 still owed on the 80");
    assert_eq!(s.overdue, money_map(&[(Currency::USD, "50.00")]));
    assert_eq!(s.unapplied_credit, money_map(&[(Currency::USD, "10")]));
    assert_eq!(s.average_days_to_pay, Some(dec("5")));
    assert_eq!(s.available_credit, Some(usd("4750.00")));
    assert_eq!(s.last_contacted_at, Some(last_mail), "notes and meetings yet to happen do not count");
    assert_eq!(s.preferred_channel, Some(Channel::Email), "used most");
    assert_eq!(s.average_rating, Some(dec("2.50")), "the case's survey and the review, each once");

    // Lists are Ann's alone, newest first.
    assert_eq!(v.orders.len(), 5);
    assert!(v.orders.iter().all(|o| o.contact_id == Some(ann.id)));
    assert_eq!(v.orders[0].lines[0].name, "Gone");
    assert_eq!((v.invoices.len(), v.payments.len(), v.cases.len(), v.feedback.len()), (3, 1, 2, 2));
    assert!(v.cases.iter().all(|c| c.contact_id == Some(ann.id)));
    assert_eq!(v.cases[0].subject, "Done one");
    assert_eq!(v.campaigns.len(), 1);
    assert_eq!((v.campaigns[0].0.id, v.campaigns[0].1.responded(ResponseKind::Clicked)), (camp.id, Some(env.now())));
    assert_eq!(v.timeline, cx.timeline(ann.id).await.unwrap());

    // A stated preference wins over habit; a past meeting becomes the last contact.
    let mut a = cx.contacts().get(ann.id).await.unwrap();
    a.preferred_channel = Some(Channel::Sms);
    cx.contacts().update(a).await.unwrap();
    env.advance(Duration::days(10)); // 03-17: the meeting has taken place; i1 (due 03-16) is overdue too
    let s = cx.customer_360(ann.id).await.unwrap().summary;
    assert_eq!(s.preferred_channel, Some(Channel::Sms));
    assert_eq!(s.last_contacted_at, Some(t0() + Duration::days(8)));
    assert_eq!(s.overdue, money_map(&[(Currency::USD, "250.00")]));

    let missing = ContactId::from_uuid(Uuid::from_u128(404));
    assert_not_found(&cx.customer_360(missing).await.unwrap_err(), EntityKind::Contact, missing);
}

#[tokio::test]
async fn the_customer_360_of_a_company_covers_its_people() {
    let env = env();
    let cx = env.cx();
    let acme = cx.companies().create(NewCompany::new("Acme")).await.unwrap();
    let other = cx.companies().create(NewCompany::new("Other")).await.unwrap();
    let ann = cx.contacts().create(NewContact::new("Ann", "Lee").works_at(acme.id, None, None)).await.unwrap();
    let bob = cx.contacts().create(NewContact::new("Bob", "Roe").works_at(acme.id, None, None)).await.unwrap();
    let out = cx.contacts().create(NewContact::new("Out", "Sider").works_at(other.id, None, None)).await.unwrap();

    env.advance(Duration::hours(1));
    cx.orders()
        .create(NewOrder::for_company(acme.id).line(line("Co", "1", usd("700"))).number("SO-CO").placed())
        .await
        .unwrap();
    env.advance(Duration::hours(1));
    cx.orders()
        .create(NewOrder::for_contact(ann.id).line(line("Ann", "1", usd("100"))).number("SO-ANN").placed())
        .await
        .unwrap();
    env.advance(Duration::hours(1));
    cx.orders()
        .create(NewOrder::for_contact(bob.id).line(line("Bob", "1", eur("30"))).number("SO-BOB").placed())
        .await
        .unwrap();
    cx.orders()
        .create(NewOrder::for_contact(out.id).line(line("Out", "1", usd("5"))).number("SO-OUT").placed())
        .await
        .unwrap();
    env.advance(Duration::hours(1));
    cx.cases().open(question("Bob's case").contact(bob.id)).await.unwrap();
    cx.cases().open(question("Company case").company(acme.id)).await.unwrap();
    cx.activities()
        .log(NewActivity::meeting("Kick-off").company(acme.id).channel(Channel::Video).at(t0()))
        .await
        .unwrap();
    cx.activities().log(NewActivity::call("Bob call").contact(bob.id).at(t0())).await.unwrap();
    cx.activities().log(NewActivity::call("Bob call 2").contact(bob.id).at(t0())).await.unwrap();
    cx.deals().create(NewDeal::new("Acme deal").company(acme.id).amount(usd("10"))).await.unwrap();
    cx.deals().create(NewDeal::new("Ann deal").contact(ann.id).amount(usd("20"))).await.unwrap();
    let inv = cx.invoices().create(NewInvoice::for_company(acme.id).line(line("I", "1", usd("700")))).await.unwrap();
    cx.invoices().send(inv.id).await.unwrap();

    let v = cx.customer_360(acme.id).await.unwrap();
    assert_eq!((v.contact.as_ref(), v.company.as_ref().map(|c| c.id)), (None, Some(acme.id)));
    let mut people: Vec<ContactId> = v.people.iter().map(|p| p.id).collect();
    people.sort();
    assert_eq!(people, vec![ann.id, bob.id]);
    let numbers: Vec<&str> = v.orders.iter().map(|o| o.number.as_str()).collect();
    assert_eq!(numbers, vec!["SO-BOB", "SO-ANN", "SO-CO"], "its own and its people's, newest first");
    let s = &v.summary;
    assert_eq!(s.lifetime_revenue, money_map(&[(Currency::USD, "800.00"), (Currency::EUR, "30.00")]));
    assert_eq!((s.orders, s.open_deals, s.open_cases), (3, 2, 2));
    assert_eq!(s.balance_due, money_map(&[(Currency::USD, "700.00")]));
    assert_eq!(s.preferred_channel, Some(Channel::Phone), "two calls against one video meeting");
    assert_eq!(s.last_contacted_at, Some(t0()));

    let items = cx.timeline(acme.id).await.unwrap();
    for w in items.windows(2) {
        assert!(w[0].at() >= w[1].at());
    }
    let recs = records_of(&items);
    for want in [
        "order:SO-CO",
        "order:SO-ANN",
        "order:SO-BOB",
        "case:Bob's case",
        "case:Company case",
        "activity:Kick-off",
        "activity:Bob call",
    ] {
        assert_eq!(recs.iter().filter(|r| *r == want).count(), 1, "{want} once in {recs:?}");
    }
    assert!(!recs.iter().any(|r| r.contains("OUT")), "nothing of other companies' people");
    assert!(items.iter().any(|i| matches!(i, TimelineItem::Event(e) if e.event.subject == company_ref(acme.id) && e.event.change == Change::Created)));
    assert_eq!(v.timeline, items);

    let missing = CompanyId::from_uuid(Uuid::from_u128(404));
    assert_not_found(&cx.customer_360(missing).await.unwrap_err(), EntityKind::Company, missing);
    assert_not_found(&cx.timeline(missing).await.unwrap_err(), EntityKind::Company, missing);
}

#[tokio::test]
async fn an_outbound_campaign_email_records_each_members_sent_response_in_the_same_write() {
    let env = env();
    let cx = env.cx();
    let ada = cx.contacts().create(NewContact::new("Ada", "Lovelace").email("ada@example.com")).await.unwrap();
    let bob = cx.contacts().create(NewContact::new("Bob", "Babbage").email("bob@example.com")).await.unwrap();
    let camp = cx.campaigns().create(NewCampaign::new("Spring", CampaignChannel::Email)).await.unwrap();
    cx.campaigns().add_contact(camp.id, ada.id).await.unwrap();
    let mail = |to: ContactId| {
        NewActivity::email("Spring offer")
            .direction(Direction::Outbound)
            .message_id(format!("{}@acme.example", Uuid::now_v7().simple()))
            .contact(to)
            .campaign(camp.id)
    };

    // To a non-member: refused, naming the contact, nothing written.
    let err = env.refused(cx.activities().log(mail(bob.id))).await;
    assert_only_field(&err, "contact_ids[0]", FieldErrorCode::Rule);
    // To a campaign that does not exist: refused.
    let err = env.refused(cx.activities().log(mail(ada.id).campaign(CampaignId::from_uuid(Uuid::now_v7())))).await;
    assert_only_field(&err, "campaign_id", FieldErrorCode::NotFound);

    let a = cx.activities().log(mail(ada.id)).await.unwrap();
    assert_eq!(a.campaign_id, Some(camp.id));
    let member = &cx.campaigns().members(camp.id, &Query::new(Filter::All)).await.unwrap().items[0];
    assert_eq!(member.responded(ResponseKind::Sent), Some(a.occurred_at));
    // One write: the activity's event and the response's event are consecutive.
    let events = cx.events(&EventQuery::after(0, 1_000)).await.unwrap();
    let tail: Vec<&Change> = events.iter().rev().take(2).map(|e| &e.event.change).collect();
    assert!(matches!(tail[0], Change::CampaignResponded { kind: ResponseKind::Sent, .. }), "{tail:?}");
    assert!(matches!(tail[1], Change::ActivityLogged { .. }), "{tail:?}");
    // The campaign is touched by the activity: it is linked.
    assert!(a.related().contains(&EntityRef::new(EntityKind::Campaign, camp.id)));
}
