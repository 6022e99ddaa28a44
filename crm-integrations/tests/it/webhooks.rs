//! Outbound webhooks against real HTTP receivers on loopback (wiremock): signatures a
//! receiver verifies, retries until a flaky receiver accepts, the dead-letter state, secret
//! rotation, refusal of private targets, and a dispatch pass over a CRM's outbox.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crm_core::prelude::*;
use crm_integrations::webhooks::*;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// Answers 503 to the first `fail_first` requests, then 204 to requests whose signature
/// verifies with `secret`, 401 to the rest.
struct Receiver {
    secret: WebhookSecret,
    fail_first: usize,
    seen: Arc<AtomicUsize>,
}

fn header<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.headers.get(name).and_then(|v| v.to_str().ok())
}

impl Respond for Receiver {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        if self.seen.fetch_add(1, Ordering::SeqCst) < self.fail_first {
            return ResponseTemplate::new(503);
        }
        let now = chrono::Utc::now().timestamp();
        let verified = verify_standard(
            header(req, "webhook-id"),
            header(req, "webhook-timestamp"),
            header(req, "webhook-signature"),
            &req.body,
            std::slice::from_ref(&self.secret),
            now,
            300,
        );
        ResponseTemplate::new(if verified.is_ok() { 204 } else { 401 })
    }
}

async fn receiver(secret: &WebhookSecret, fail_first: usize) -> (MockServer, Arc<AtomicUsize>) {
    let server = MockServer::start().await;
    let seen = Arc::new(AtomicUsize::new(0));
    Mock::given(method("POST"))
        .and(path("/hooks"))
        .respond_with(Receiver { secret: secret.clone(), fail_first, seen: seen.clone() })
        .mount(&server)
        .await;
    (server, seen)
}

fn loopback_policy(max_attempts: u32) -> DeliveryPolicy {
    DeliveryPolicy {
        max_attempts,
        first_retry: Duration::from_millis(10),
        allow_private_targets: true,
        ..DeliveryPolicy::default()
    }
}

async fn crm_with_events() -> (Session, Vec<StoredEvent>) {
    let crm = Crm::builder(MemoryStore::new()).build().unwrap();
    let cx = crm.as_actor(&Actor::system(TenantId::from_uuid(uuid::Uuid::now_v7())));
    let acme = cx.companies().create(NewCompany::new("Acme")).await.unwrap();
    cx.contacts().create(NewContact::new("Jane", "Doe").works_at(acme.id, None, None)).await.unwrap();
    let events = cx.events(&EventQuery::after(0, 100)).await.unwrap();
    (cx, events)
}

#[tokio::test]
async fn a_delivery_is_signed_so_the_receiver_verifies_it_and_carries_the_event() {
    let secret = WebhookSecret::generate();
    let (server, seen) = receiver(&secret, 0).await;
    let (_, events) = crm_with_events().await;
    let endpoint = Endpoint::new("erp", &format!("{}/hooks", server.uri()), secret.clone()).unwrap();
    let sender = WebhookSender::new(loopback_policy(3)).unwrap();

    let outcome = sender.deliver(&endpoint, &events[0]).await;
    assert_eq!(outcome, DeliveryOutcome::Delivered { attempts: 1, status: 204 });
    assert_eq!(seen.load(Ordering::SeqCst), 1);
    let req = &server.received_requests().await.unwrap()[0];
    assert_eq!(header(req, "webhook-id"), Some(format!("msg_{}", events[0].event.id.as_uuid().simple()).as_str()));
    assert_eq!(header(req, "content-type"), Some("application/json"));
    let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap();
    assert_eq!(body["type"], "company.created");
    let back: StoredEvent = serde_json::from_value(body["data"].clone()).unwrap();
    assert_eq!(back, events[0], "the payload carries the stored event");

    // A receiver with another secret refuses it: 401 is a failed attempt, then dead-lettered.
    let other = WebhookSecret::generate();
    let wrong = Endpoint::new("erp", &format!("{}/hooks", server.uri()), other).unwrap();
    match sender.deliver(&wrong, &events[0]).await {
        DeliveryOutcome::DeadLettered { attempts: 3, last_error } => {
            assert!(last_error.contains("401"), "{last_error}")
        }
        other => panic!("expected a dead letter, got {other:?}"),
    }
}

#[tokio::test]
async fn a_flaky_receiver_gets_the_same_message_until_it_accepts_then_the_rest_is_dead_lettered() {
    let secret = WebhookSecret::generate();
    let (server, seen) = receiver(&secret, 2).await;
    let (_, events) = crm_with_events().await;
    let endpoint = Endpoint::new("erp", &format!("{}/hooks", server.uri()), secret.clone()).unwrap();

    let outcome = WebhookSender::new(loopback_policy(5)).unwrap().deliver(&endpoint, &events[0]).await;
    assert_eq!(outcome, DeliveryOutcome::Delivered { attempts: 3, status: 204 });
    let reqs = server.received_requests().await.unwrap();
    assert_eq!(reqs.len(), 3);
    let ids: Vec<_> = reqs.iter().map(|r| header(r, "webhook-id").unwrap().to_owned()).collect();
    assert!(ids.iter().all(|i| *i == ids[0]), "every attempt carries the same webhook-id: {ids:?}");

    // Failing more often than the attempts allow: dead-lettered after exactly max_attempts.
    let (server, seen2) = receiver(&secret, 100).await;
    let endpoint = Endpoint::new("erp", &format!("{}/hooks", server.uri()), secret).unwrap();
    match WebhookSender::new(loopback_policy(4)).unwrap().deliver(&endpoint, &events[0]).await {
        DeliveryOutcome::DeadLettered { attempts: 4, last_error } => {
            assert!(last_error.contains("503"), "{last_error}")
        }
        other => panic!("expected a dead letter, got {other:?}"),
    }
    assert_eq!(seen2.load(Ordering::SeqCst), 4);
    assert_eq!(seen.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn during_a_rotation_receivers_with_either_secret_accept() {
    let (old, new) = (WebhookSecret::generate(), WebhookSecret::generate());
    let (_, events) = crm_with_events().await;
    let sender = WebhookSender::new(loopback_policy(1)).unwrap();
    for receiver_secret in [&old, &new] {
        let (server, _) = receiver(receiver_secret, 0).await;
        let mut endpoint = Endpoint::new("erp", &format!("{}/hooks", server.uri()), old.clone()).unwrap();
        endpoint.rotate_secret(new.clone());
        assert_eq!(
            sender.deliver(&endpoint, &events[0]).await,
            DeliveryOutcome::Delivered { attempts: 1, status: 204 }
        );
        let req = &server.received_requests().await.unwrap()[0];
        assert_eq!(header(req, "webhook-signature").unwrap().split(' ').count(), 2);
    }
    // After the rotation only the new secret signs: the old receiver refuses.
    let (server, _) = receiver(&old, 0).await;
    let mut endpoint = Endpoint::new("erp", &format!("{}/hooks", server.uri()), old.clone()).unwrap();
    endpoint.rotate_secret(new.clone());
    endpoint.finish_rotation();
    assert!(matches!(sender.deliver(&endpoint, &events[0]).await, DeliveryOutcome::DeadLettered { .. }));
}

#[tokio::test]
async fn private_and_loopback_targets_are_refused_unless_allowed() {
    let secret = WebhookSecret::generate();
    let (server, seen) = receiver(&secret, 0).await;
    let (_, events) = crm_with_events().await;
    let strict = WebhookSender::new(DeliveryPolicy {
        max_attempts: 2,
        first_retry: Duration::from_millis(5),
        ..DeliveryPolicy::default()
    })
    .unwrap();
    let port = server.address().port();
    for url in [
        format!("{}/hooks", server.uri()),
        "http://169.254.169.254/latest/meta-data".to_owned(),
        "http://[::1]/hooks".to_owned(),
    ] {
        let endpoint = Endpoint::new("x", &url, secret.clone()).unwrap();
        match strict.deliver(&endpoint, &events[0]).await {
            DeliveryOutcome::DeadLettered { attempts: 0, last_error } => {
                assert!(last_error.contains("private"), "{url}: {last_error}")
            }
            other => panic!("{url}: expected a refusal, got {other:?}"),
        }
    }
    // A name that resolves to loopback is refused when resolved (at connect time, so a DNS
    // answer cannot smuggle a private address in), without retrying.
    let endpoint = Endpoint::new("x", &format!("http://localhost:{port}/hooks"), secret.clone()).unwrap();
    match strict.deliver(&endpoint, &events[0]).await {
        DeliveryOutcome::DeadLettered { attempts: 1, last_error } => {
            assert!(last_error.contains("localhost resolves only to private or loopback"), "{last_error}")
        }
        other => panic!("expected the resolver to refuse, got {other:?}"),
    }
    assert_eq!(seen.load(Ordering::SeqCst), 0, "nothing reached the receiver");
}

#[tokio::test]
async fn a_dispatch_pass_delivers_the_outbox_in_order_and_resumes_from_its_cursor() {
    let secret = WebhookSecret::generate();
    let (server, _) = receiver(&secret, 0).await;
    let (cx, events) = crm_with_events().await;
    let url = format!("{}/hooks", server.uri());
    let all = Endpoint::new("all", &url, secret.clone()).unwrap();
    let contacts_only = Endpoint::new("contacts", &url, secret.clone()).unwrap().kinds([EntityKind::Contact]);
    let sender = WebhookSender::new(loopback_policy(2)).unwrap();
    let hooks = [all, contacts_only];

    let report = dispatch(&cx, &sender, &hooks, 0, 100).await.unwrap();
    let for_contacts = events.iter().filter(|e| e.event.subject.kind == EntityKind::Contact).count();
    assert_eq!(report.delivered, events.len() + for_contacts);
    assert!(report.dead_letters.is_empty());
    assert_eq!(report.cursor, events.last().unwrap().seq);
    let ids: Vec<String> =
        server.received_requests().await.unwrap().iter().map(|r| header(r, "webhook-id").unwrap().to_owned()).collect();
    let first_of_each: Vec<String> = events.iter().map(|e| format!("msg_{}", e.event.id.as_uuid().simple())).collect();
    assert_eq!(ids[0], first_of_each[0], "commit order");

    // Nothing new: nothing sent, the cursor stays. A new event: only it goes out.
    let again = dispatch(&cx, &sender, &hooks, report.cursor, 100).await.unwrap();
    assert_eq!((again.delivered, again.cursor), (0, report.cursor));
    cx.companies().create(NewCompany::new("Globex")).await.unwrap();
    let next = dispatch(&cx, &sender, &hooks, report.cursor, 100).await.unwrap();
    assert_eq!(next.delivered, 1);
    assert!(next.cursor > report.cursor);

    // A dead endpoint: its deliveries are dead-lettered with their positions, the pass goes on.
    let dead = [Endpoint::new("dead", "http://127.0.0.1:9/hooks", secret).unwrap()];
    let failed = dispatch(&cx, &sender, &dead, 0, 100).await.unwrap();
    assert_eq!(failed.delivered, 0);
    assert_eq!(failed.dead_letters.len(), events.len() + 1);
    assert_eq!(failed.dead_letters[0].seq, events[0].seq);
    assert_eq!(failed.dead_letters[0].attempts, 2);
}

#[tokio::test]
async fn kept_cursors_and_dead_letters_survive_between_passes_and_redelivery_clears_them() {
    let dir = tempfile::tempdir().unwrap();
    let cx = crate::common::sqlite_session(dir.path()).await;
    cx.companies().create(NewCompany::new("Acme")).await.unwrap();
    cx.companies().create(NewCompany::new("Globex")).await.unwrap();
    let secret = WebhookSecret::generate();
    // The receiver is down for the first pass (every attempt fails), then recovers.
    let (server, seen) = receiver(&secret, 2 * 2).await;
    let hook = Endpoint::new("erp", &format!("{}/hooks", server.uri()), secret).unwrap();
    let sender = WebhookSender::new(loopback_policy(2)).unwrap();

    let first = dispatch_pending(&cx, &sender, std::slice::from_ref(&hook), 100).await.unwrap();
    assert_eq!((first.delivered, first.dead_letters.len()), (0, 2));
    let kept = dead_letters(&cx, &hook).await.unwrap();
    assert_eq!(kept, first.dead_letters, "dead letters are kept in the CRM");
    assert_eq!(seen.load(Ordering::SeqCst), 4);

    // A later pass starts after the kept cursor: only the new event goes out.
    cx.companies().create(NewCompany::new("Initech")).await.unwrap();
    let second = dispatch_pending(&cx, &sender, std::slice::from_ref(&hook), 100).await.unwrap();
    assert_eq!((second.delivered, second.dead_letters.len()), (1, 0));
    // Redelivery gets the two dead letters through and clears them.
    let redo = redeliver_dead_letters(&cx, &sender, &hook).await.unwrap();
    assert_eq!(redo.delivered, 2);
    assert!(dead_letters(&cx, &hook).await.unwrap().is_empty());
    let third = dispatch_pending(&cx, &sender, std::slice::from_ref(&hook), 100).await.unwrap();
    assert_eq!(third.delivered, 0, "nothing twice");
    // Every delivery carried a distinct event.
    let ids: std::collections::BTreeSet<String> = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter_map(|r| header(r, "webhook-id").map(str::to_owned))
        .collect();
    assert_eq!(ids.len(), 3);
}

#[tokio::test]
async fn subscriptions_kept_in_the_crm_are_delivered_with_their_own_secrets_and_removed_with_their_state() {
    use crm_core::service::{NewApiKey, NewUser};
    let dir = tempfile::tempdir().unwrap();
    let cx = crate::common::sqlite_session(dir.path()).await;
    let subs = Subscriptions::of(&cx);
    // Only those allowed to manage integrations subscribe.
    let rep = cx.users().create(NewUser::new("Ria Rep", "ria@acme.example").role("sales_rep")).await.unwrap();
    cx.api_keys().issue(NewApiKey::new("rep", rep.id)).await.unwrap();
    let as_rep = cx.crm().as_actor(&Actor::user(cx.tenant(), rep.id));
    let err = Subscriptions::of(&as_rep).add("https://erp.example.com/x", Vec::new(), None).await.unwrap_err();
    assert!(err.to_string().contains("manage_integrations"), "{err}");
    assert!(Subscriptions::of(&as_rep).list().await.is_err());

    // Bad input names the field and keeps nothing.
    for (url, field) in [("ftp://erp.example.com/x", "url"), ("not a url", "url")] {
        let err = subs.add(url, Vec::new(), None).await.unwrap_err();
        assert!(matches!(&err, crm_integrations::IntegrationError::Invalid { field: f, .. } if f == field), "{err:?}");
    }
    let err = subs.add("https://erp.example.com/x", Vec::new(), Some("d".repeat(201))).await.unwrap_err();
    assert!(matches!(&err, crm_integrations::IntegrationError::Invalid { field, .. } if field == "description"));
    assert!(subs.list().await.unwrap().is_empty());

    let server = MockServer::start().await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(204)).mount(&server).await;
    let (deals, deals_secret) = subs
        .add(&format!("{}/deals", server.uri()), vec![EntityKind::Deal, EntityKind::Deal], Some(" ERP ".into()))
        .await
        .unwrap();
    assert_eq!((deals.kinds.clone(), deals.description.as_deref()), (vec![EntityKind::Deal], Some("ERP")));
    let (all, all_secret) = subs.add(&format!("{}/all", server.uri()), Vec::new(), None).await.unwrap();
    assert_ne!(deals_secret.expose(), all_secret.expose());
    assert_eq!(subs.list().await.unwrap(), vec![deals.clone(), all.clone()]);
    assert_eq!(subs.get(&all.id).await.unwrap(), Some(all.clone()));

    let acme = cx.companies().create(NewCompany::new("Acme")).await.unwrap();
    cx.deals().create(NewDeal::new("Rollout").company(acme.id)).await.unwrap();
    let sender = WebhookSender::new(loopback_policy(1)).unwrap();
    let report = dispatch_pending(&cx, &sender, &subs.endpoints().await.unwrap(), 100).await.unwrap();
    let received = server.received_requests().await.unwrap();
    assert_eq!(report.delivered, received.len());
    let now = chrono::Utc::now().timestamp();
    let mut to_deals = 0;
    for req in &received {
        let secret = if req.url.path() == "/deals" { &deals_secret } else { &all_secret };
        to_deals += usize::from(req.url.path() == "/deals");
        let verified = verify_standard(
            header(req, "webhook-id"),
            header(req, "webhook-timestamp"),
            header(req, "webhook-signature"),
            &req.body,
            std::slice::from_ref(secret),
            now,
            300,
        );
        assert!(verified.is_ok(), "signed with its subscription's own secret");
    }
    let events = cx.events(&EventQuery::after(0, 100)).await.unwrap();
    let about_deals = events.iter().filter(|e| e.event.subject.kind == EntityKind::Deal).count();
    assert!(about_deals > 0 && about_deals < events.len());
    assert_eq!((to_deals, received.len() - to_deals), (about_deals, events.len()));

    assert!(subs.remove(&deals.id).await.unwrap());
    assert!(!subs.remove(&deals.id).await.unwrap(), "already gone");
    assert_eq!(subs.list().await.unwrap(), vec![all.clone()]);
    assert!(cx.sync().state(&format!("webhooks/{}", deals.id)).await.unwrap().is_none(), "its cursor went too");
    assert!(cx.sync().state(&format!("webhooks/{}", all.id)).await.unwrap().is_some());
}
