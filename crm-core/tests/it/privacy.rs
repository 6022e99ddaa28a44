//! Privacy: the consent ledger (every change, per purpose, with its source), campaigns that
//! check their channel's purpose, the subject access export, and who may answer privacy
//! requests. (Erasure itself is a conformance case, run on every store.)

use chrono::Duration;
use crm_core::model::{Consent, ConsentPurpose};
use crm_core::prelude::*;
use crm_core::profile::{ConsentMethod, ConsentStatus};
use crm_core::service::{NewCampaign, NewConsent, NewOrder, NewSegment, RetentionPolicy};

use crate::common::*;

fn purposes(history: &[Consent]) -> Vec<(ConsentPurpose, ConsentStatus, ConsentMethod)> {
    history.iter().map(|e| (e.purpose, e.status, e.method)).collect()
}

#[tokio::test]
async fn every_consent_change_is_in_the_ledger_with_its_source() {
    use ConsentPurpose::*;
    use ConsentStatus::*;
    let env = env();
    let cx = env.cx();
    let ann =
        cx.contacts().create(NewContact::new("Ann", "Lee").consent(Granted, ConsentMethod::WebForm)).await.unwrap();
    let history = cx.consents().history(ann.id).await.unwrap();
    assert_eq!(purposes(&history), [(MarketingEmail, Granted, ConsentMethod::WebForm)], "a create with consent");
    assert_eq!(history[0].given_at, env.now());

    // An edit of the field.
    let mut edit = cx.contacts().get(ann.id).await.unwrap();
    edit.marketing_consent.status = Denied;
    edit.marketing_consent.method = Some(ConsentMethod::Verbal);
    cx.contacts().update(edit).await.unwrap();
    // The unsubscribe link of a campaign.
    cx.contacts()
        .update({
            let mut c = cx.contacts().get(ann.id).await.unwrap();
            c.marketing_consent.status = Granted;
            c
        })
        .await
        .unwrap();
    let camp = cx.campaigns().create(NewCampaign::new("News", CampaignChannel::Email)).await.unwrap();
    cx.campaigns().add_contact(camp.id, ann.id).await.unwrap();
    cx.campaigns().record_response(camp.id, ann.id, ResponseKind::Unsubscribed, None).await.unwrap();
    let history = cx.consents().history(ann.id).await.unwrap();
    assert_eq!(
        purposes(&history),
        [
            (MarketingEmail, Granted, ConsentMethod::WebForm),
            (MarketingEmail, Denied, ConsentMethod::Verbal),
            (MarketingEmail, Granted, ConsentMethod::Verbal),
            (MarketingEmail, Withdrawn, ConsentMethod::Unsubscribe),
        ]
    );
    assert_eq!(history[3].source.as_deref(), Some(format!("campaign {}", camp.id).as_str()));

    // Other purposes through the ledger itself, one back-dated.
    env.advance(Duration::hours(1));
    let sms = |s| NewConsent::new(ann.id, MarketingSms, s, ConsentMethod::Written);
    let yesterday = env.now() - Duration::days(1);
    let granted = cx.consents().record(sms(Granted).source("  Signed form #12 ").given_at(yesterday)).await.unwrap();
    assert_eq!(
        (granted.source.as_deref(), granted.given_at, granted.recorded_by),
        (Some("Signed form #12"), yesterday, None)
    );
    assert_eq!(cx.consents().status(ann.id, MarketingSms).await.unwrap(), Granted);
    cx.consents().record(sms(Withdrawn)).await.unwrap();
    let older = env.now() - Duration::days(3);
    cx.consents().record(sms(Granted).given_at(older)).await.unwrap();
    let now = cx.consents().current(ann.id).await.unwrap();
    assert_eq!(now.get(&MarketingSms), Some(&Withdrawn), "the latest given wins, not the latest recorded");
    assert_eq!(now.get(&MarketingEmail), Some(&Withdrawn));
    assert_eq!(now.get(&Profiling), None);
    assert_eq!(cx.consents().status(ann.id, Profiling).await.unwrap(), Unknown);

    // A marketing email entry sets the contact's field, unless it is older than it.
    cx.consents().record(NewConsent::new(ann.id, MarketingEmail, Granted, ConsentMethod::DoubleOptIn)).await.unwrap();
    let c = cx.contacts().get(ann.id).await.unwrap();
    assert_eq!((c.marketing_consent.status, c.marketing_consent.method), (Granted, Some(ConsentMethod::DoubleOptIn)));
    let stale = NewConsent::new(ann.id, MarketingEmail, Denied, ConsentMethod::Import).given_at(older);
    cx.consents().record(stale).await.unwrap();
    assert_eq!(cx.contacts().get(ann.id).await.unwrap().marketing_consent.status, Granted);
    assert_eq!(cx.consents().history(ann.id).await.unwrap().len(), 9, "one entry per change, no more");

    // Bad input names the field and writes nothing; the ledger is history.
    let err = env.refused(cx.consents().record(sms(Granted).given_at(env.now() + Duration::minutes(1)))).await;
    assert_only_field(&err, "given_at", FieldErrorCode::OutOfRange);
    let err = env.refused(cx.consents().record(sms(Granted).source("x".repeat(501)))).await;
    assert_only_field(&err, "source", FieldErrorCode::OutOfRange);
    let ghost = ContactId::new();
    let err = env.refused(cx.consents().record(NewConsent::new(ghost, Profiling, Denied, ConsentMethod::Verbal))).await;
    assert_not_found(&err, EntityKind::Contact, ghost);
    let err = env.refused(cx.consents().delete(granted.id, granted.version)).await;
    assert_only_field(&err, "id", FieldErrorCode::Rule);
}

#[tokio::test]
async fn campaigns_check_the_consent_their_channel_needs() {
    use ConsentStatus::*;
    let env = env();
    let cx = env.cx();
    let tagged = |g: &str| NewContact::new(g, "Sms").tag("sms");
    let no_mail = cx.contacts().create(tagged("NoMail").consent(Denied, ConsentMethod::Verbal)).await.unwrap();
    let no_sms = cx.contacts().create(tagged("NoSms")).await.unwrap();
    let fresh = cx.contacts().create(tagged("Fresh")).await.unwrap();
    let sms = |c: ContactId, s| NewConsent::new(c, ConsentPurpose::MarketingSms, s, ConsentMethod::WebForm);
    cx.consents().record(sms(no_sms.id, Granted)).await.unwrap();
    cx.consents().record(sms(no_sms.id, Withdrawn)).await.unwrap();
    cx.consents().record(sms(no_mail.id, Granted)).await.unwrap();
    let seg = cx.segments().create(NewSegment::new("Texters", Filter::contains("tags", "sms"))).await.unwrap();
    let texts =
        cx.campaigns().create(NewCampaign::new("Flash sale", CampaignChannel::Sms).segment(seg.id)).await.unwrap();
    assert_eq!(cx.campaigns().add_segment_members(texts.id).await.unwrap(), 2);
    let mut members: Vec<ContactId> = cx
        .campaigns()
        .members(texts.id, &Query::new(Filter::All))
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|m| m.contact_id)
        .collect();
    members.sort();
    let mut want = vec![no_mail.id, fresh.id];
    want.sort();
    assert_eq!(members, want, "SMS consent decides, not email consent");
    let mails = cx.campaigns().create(NewCampaign::new("Letter", CampaignChannel::Email)).await.unwrap();
    let err = env.refused(cx.campaigns().add_contact(mails.id, no_mail.id)).await;
    assert_only_field(&err, "contact_id", FieldErrorCode::Rule);
    cx.campaigns().add_contact(mails.id, no_sms.id).await.unwrap();
    let err = env.refused(cx.campaigns().add_contact(texts.id, no_sms.id)).await;
    assert_only_field(&err, "contact_id", FieldErrorCode::Rule);
    assert!(err.to_string().contains("marketing_sms"), "{err}");
}

#[tokio::test]
async fn the_subject_access_export_holds_everything_about_the_person_and_nothing_else() {
    let env = env();
    let cx = env.cx();
    let zed = cx.contacts().create(NewContact::new("Zed", "Quartz").email("zed@example.org")).await.unwrap();
    let amy = cx.contacts().create(NewContact::new("Amy", "Other")).await.unwrap();
    let mut edit = zed.clone();
    edit.job_title = Some("Glassblower".into());
    cx.contacts().update(edit).await.unwrap();
    cx.activities().create(NewActivity::call("Quartz on the phone").contact(zed.id)).await.unwrap();
    cx.activities().create(NewActivity::call("Amy's call").contact(amy.id)).await.unwrap();
    let order = cx.orders().create(NewOrder::for_contact(zed.id).line(line("Vase", "2", eur("40")))).await.unwrap();
    cx.consents()
        .record(NewConsent::new(zed.id, ConsentPurpose::Profiling, ConsentStatus::Denied, ConsentMethod::Written))
        .await
        .unwrap();

    let export = env.unchanged(cx.privacy().subject_access(zed.id)).await;
    assert_eq!(export.contact.id, zed.id);
    assert_eq!(export.activities.iter().map(|a| a.subject.as_str()).collect::<Vec<_>>(), ["Quartz on the phone"]);
    assert_eq!(export.orders.iter().map(|o| o.id).collect::<Vec<_>>(), [order.id]);
    assert_eq!(export.consents.len(), 1);
    let fields: Vec<&str> = export.history.iter().map(|h| h.field.as_str()).collect();
    assert_eq!(fields, ["job_title"]);
    let json = export.to_json().unwrap();
    assert_eq!(json["contact"]["family_name"], "Quartz");
    assert_eq!(json["orders"][0]["number"], order.number.as_str());
    let doc = export.document();
    for expected in [
        "# What we hold about Zed Quartz",
        "zed@example.org",
        "Quartz on the phone",
        &order.number,
        "profiling: denied",
        "Glassblower",
    ] {
        assert!(doc.contains(expected), "the document shows `{expected}`:\n{doc}");
    }
    assert!(!doc.contains("Amy"), "nothing about anyone else:\n{doc}");
    let ghost = ContactId::new();
    assert_not_found(&env.refused(cx.privacy().subject_access(ghost)).await, EntityKind::Contact, ghost);
}

#[tokio::test]
async fn privacy_requests_need_their_permission_and_the_ledger_its_grants() {
    let env = env();
    let admin = env.cx();
    let rep = admin.users().create(NewUser::new("Ria Rep", "ria@acme.example").role("sales_rep")).await.unwrap();
    let cx = env.crm.as_actor(&Actor::user(tenant_a(), rep.id));
    let mine = cx.contacts().create(NewContact::new("Mo", "Mine")).await.unwrap();
    let theirs = admin.contacts().create(NewContact::new("Tia", "Theirs")).await.unwrap();
    assert!(matches!(env.refused(cx.privacy().subject_access(mine.id)).await, Error::Forbidden(_)));
    assert!(matches!(env.refused(cx.privacy().erase(mine.id, None)).await, Error::Forbidden(_)));
    assert!(matches!(env.refused(cx.privacy().erasure_of(mine.id)).await, Error::Forbidden(_)));
    // A rep records the consent of the contacts they reach, as themselves.
    let e = cx
        .consents()
        .record(NewConsent::new(mine.id, ConsentPurpose::MarketingPhone, ConsentStatus::Granted, ConsentMethod::Verbal))
        .await
        .unwrap();
    assert_eq!(e.recorded_by, Some(rep.id));
    let other =
        NewConsent::new(theirs.id, ConsentPurpose::MarketingPhone, ConsentStatus::Granted, ConsentMethod::Verbal);
    assert_not_found(&env.refused(cx.consents().record(other)).await, EntityKind::Contact, theirs.id);
    assert_not_found(&env.refused(cx.consents().history(theirs.id)).await, EntityKind::Contact, theirs.id);
}

#[tokio::test]
async fn a_retention_policy_erases_the_people_nobody_touched_and_previews_them_first() {
    let env = env();
    let cx = env.cx();
    let lead = |g: &str| NewContact::new(g, "Lead").email(format!("{}@example.org", g.to_lowercase()));
    let ann = cx.contacts().create(lead("Ann")).await.unwrap();
    let bob = cx.contacts().create(lead("Bob")).await.unwrap();
    let cy = cx.contacts().create(lead("Cy").lifecycle_stage(LifecycleStage::Customer)).await.unwrap();
    let dee = cx.contacts().create(lead("Dee")).await.unwrap();
    let eve = cx.contacts().create(lead("Eve")).await.unwrap();
    let deal = cx.deals().create(NewDeal::new("Eve's deal").contact(eve.id)).await.unwrap();
    env.advance(Duration::days(600));
    cx.activities().create(NewActivity::call("Catching up").contact(bob.id)).await.unwrap();
    let mut d = cx.contacts().get(dee.id).await.unwrap();
    d.job_title = Some("Buyer".into());
    cx.contacts().update(d).await.unwrap();
    let mut deal = cx.deals().get(deal.id).await.unwrap();
    deal.name = "Eve's bigger deal".into();
    cx.deals().update(deal).await.unwrap();

    let policy = RetentionPolicy::contacts("stale leads", Filter::eq("lifecycle_stage", "lead"), 540);
    let preview = env.unchanged(cx.privacy().retention_candidates(&policy)).await;
    assert_eq!(preview, [ann.id], "Bob was called, Cy is a customer, Dee was edited, Eve's deal moved");
    let mut seen = Vec::new();
    let logs = cx.privacy().apply_retention(&policy, |n| seen.push(n)).await.unwrap();
    assert_eq!(seen, [1]);
    assert_eq!(logs.iter().map(|l| l.contact_id).collect::<Vec<_>>(), [ann.id]);
    assert_eq!(logs[0].reason.as_deref(), Some("retention policy `stale leads`"));
    assert!(logs[0].completed_at.is_some());
    assert_not_found(&env.refused(cx.contacts().get(ann.id)).await, EntityKind::Contact, ann.id);
    assert!(cx.privacy().is_blocked("ann@example.org").await.unwrap());
    for kept in [bob.id, cy.id, dee.id, eve.id] {
        cx.contacts().get(kept).await.unwrap();
    }
    assert!(cx.privacy().retention_candidates(&policy).await.unwrap().is_empty(), "nothing left to do");

    let err = env.refused(cx.privacy().apply_retention(&RetentionPolicy::contacts(" ", Filter::All, 0), |_| {})).await;
    assert_field(&err, "name", FieldErrorCode::Required);
    assert_field(&err, "untouched_days", FieldErrorCode::OutOfRange);
    let unknown = RetentionPolicy::contacts("odd", Filter::eq("shoe_size", 9), 30);
    assert_field(
        &env.refused(cx.privacy().retention_candidates(&unknown)).await,
        "filter.shoe_size",
        FieldErrorCode::UnknownField,
    );

    // Many at once: one run, each logged, the history scrubbed once for all.
    let logs = cx.privacy().erase_all(&[bob.id, dee.id], Some("batch request"), |_| {}).await.unwrap();
    assert_eq!(logs.iter().map(|l| l.contact_id).collect::<Vec<_>>(), [bob.id, dee.id]);
    assert!(logs[1].events_scrubbed >= 1, "Dee's edit is scrubbed");
    let again = cx.privacy().erase_all(&[dee.id, bob.id], None, |_| {}).await.unwrap();
    assert_eq!(again, [logs[1].clone(), logs[0].clone()], "done once");
}

/// A memory store whose history scrubs fail while `fail` is set.
struct ScrubFails {
    inner: MemoryStore,
    fail: std::sync::atomic::AtomicBool,
}

#[async_trait::async_trait]
impl Store for ScrubFails {
    async fn begin(&self, t: TenantId, m: crm_core::store::TxMode) -> Result<Box<dyn crm_core::store::Transaction>> {
        self.inner.begin(t, m).await
    }
    async fn read_events(&self, t: TenantId, q: &EventQuery) -> Result<Vec<StoredEvent>> {
        self.inner.read_events(t, q).await
    }
    async fn scrub_events(&self, t: TenantId, events: &[StoredEvent]) -> Result<()> {
        if self.fail.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(Error::storage("the disk is full"));
        }
        self.inner.scrub_events(t, events).await
    }
    async fn verify_events(&self, t: TenantId) -> Result<crm_core::chain::ChainReport> {
        self.inner.verify_events(t).await
    }
}

#[tokio::test]
async fn an_erasure_interrupted_after_its_transaction_is_finished_by_erasing_again() {
    let store = std::sync::Arc::new(ScrubFails { inner: MemoryStore::new(), fail: true.into() });
    let crm = crm_core::service::CrmBuilder::from_arc(store.clone()).build().unwrap();
    let cx = crm.as_actor(&Actor::system(tenant_a()));
    let zed = cx.contacts().create(NewContact::new("Zed", "Quartz").email("zed@example.org")).await.unwrap();
    let mut edit = zed.clone();
    edit.job_title = Some("Quartz cutter".into());
    cx.contacts().update(edit).await.unwrap();

    let err = cx.privacy().erase(zed.id, None).await.unwrap_err();
    assert!(err.to_string().contains("disk is full"), "{err}");
    // The records are gone and the log says the history is still to scrub.
    assert!(cx.contacts().get(zed.id).await.is_err());
    let log = cx.privacy().erasure_of(zed.id).await.unwrap().expect("logged");
    assert_eq!((log.completed_at, log.events_scrubbed), (None, 0));
    let trail =
        serde_json::to_string(&store.inner.read_events(tenant_a(), &EventQuery::after(0, 100)).await.unwrap()).unwrap();
    assert!(trail.contains("Quartz cutter"), "not scrubbed yet");

    store.fail.store(false, std::sync::atomic::Ordering::SeqCst);
    let done = cx.privacy().erase(zed.id, None).await.unwrap();
    assert_eq!(done.id, log.id, "the same erasure, finished");
    assert!(done.completed_at.is_some() && done.events_scrubbed >= 1);
    let trail =
        serde_json::to_string(&store.inner.read_events(tenant_a(), &EventQuery::after(0, 100)).await.unwrap()).unwrap();
    assert!(!trail.contains("Quartz"), "scrubbed: {trail}");
}
