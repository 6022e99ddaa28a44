//! Outbound email against a real SMTP server on loopback (aiosmtpd, started per test by
//! `tests/servers/smtp_server.py`): plain, STARTTLS with authentication, implicit TLS; the
//! message the server received is parsed back and compared with what the CRM recorded, on a
//! SQLite file.

use crm_core::prelude::*;
use crm_integrations::IntegrationError;
use crm_integrations::email::{Address, Mail, Mailer, Security, SmtpConfig, SmtpSender, Template};

use crate::common::{PASSWORD, SmtpServer, USER, event_count, sqlite_session};
use crm_core::model::Direction;
use crm_core::profile::ConsentStatus;

struct Crm360 {
    cx: Session,
    jane: Contact,
    acme: Company,
    deal: Deal,
    _dir: tempfile::TempDir,
}

async fn crm() -> Crm360 {
    let dir = tempfile::tempdir().unwrap();
    let cx = sqlite_session(dir.path()).await;
    let acme = cx.companies().create(NewCompany::new("Acme Ltd")).await.unwrap();
    let jane = cx
        .contacts()
        .create(NewContact::new("Jane", "Doe").email("jane.doe@customer.example").works_at(acme.id, None, None))
        .await
        .unwrap();
    let deal = cx.deals().create(NewDeal::new("Acme rollout").contact(jane.id)).await.unwrap();
    Crm360 { cx, jane, acme, deal, _dir: dir }
}

fn parse(raw: &[u8]) -> mail_parser::Message<'_> {
    mail_parser::MessageParser::default().parse(raw).expect("a parsable message")
}

fn quote() -> Template {
    Template::new(
        "Your quote for {{ deal.name }}, {{ contact.given_name }}",
        "Hello {{ contact.given_name }},\n\nthe quote for {{ company.name }} is attached.\n\n{{ sender.name }}",
    )
    .unwrap()
}

async fn email_activities(cx: &Session) -> Vec<Activity> {
    cx.activities().list(&Query::new(Filter::eq("kind", "email"))).await.unwrap().items
}

#[tokio::test]
async fn a_templated_mail_goes_out_over_starttls_with_auth_and_is_filed_on_contact_company_and_deal() {
    let server = SmtpServer::start("starttls", true);
    let t = crm().await;
    let smtp = SmtpSender::new(&server.config(Security::StartTls).credentials(USER, PASSWORD)).unwrap();
    let mailer = Mailer::new(smtp, Address::new("Sam Seller", "sam@acme.example").unwrap()).unwrap();
    let before = event_count(&t.cx).await;

    let activity = mailer.send(&t.cx, Mail::to(t.jane.id).deal(t.deal.id).template(&quote())).await.unwrap();

    // What went over the wire.
    let received = server.received();
    assert_eq!(received.len(), 1);
    let msg = parse(&received[0]);
    let message_id = activity.message_id.clone().expect("a Message-ID is recorded");
    assert_eq!(msg.message_id(), Some(message_id.as_str()));
    assert!(message_id.ends_with("@acme.example"), "{message_id}");
    assert_eq!(msg.subject(), Some("Your quote for Acme rollout, Jane"));
    let to = msg.to().and_then(|a| a.first()).expect("a To address");
    assert_eq!(to.address(), Some("jane.doe@customer.example"));
    assert_eq!(to.name(), Some("Jane Doe"));
    assert_eq!(msg.from().and_then(|a| a.first()).and_then(|a| a.address()), Some("sam@acme.example"));
    let body = msg.body_text(0).expect("a text body");
    assert!(
        body.contains("Hello Jane,") && body.contains("for Acme Ltd is attached") && body.contains("Sam Seller"),
        "{body}"
    );

    // What the CRM recorded, in one transaction with its event.
    assert_eq!(activity.kind, ActivityKind::Email);
    assert_eq!(activity.direction, Some(Direction::Outbound));
    assert_eq!(activity.subject, "Your quote for Acme rollout, Jane");
    assert_eq!(activity.contact_ids, vec![t.jane.id]);
    assert_eq!(activity.deal_ids, vec![t.deal.id]);
    assert_eq!(activity.company_ids, vec![t.acme.id]);
    assert_eq!(activity.body.as_deref(), Some(body.trim_end()), "the body as sent (the wire adds a final line break)");
    let events = t.cx.events(&EventQuery::after(0, 10_000)).await.unwrap();
    assert_eq!(events.len(), before + 1);
    let logged = events.last().unwrap();
    assert_eq!(logged.event.subject, EntityRef::new(EntityKind::Activity, activity.id));
    assert!(logged.event.related.contains(&EntityRef::new(EntityKind::Contact, t.jane.id)));
    assert_eq!(t.cx.activities().find_by_message_id(&format!("<{message_id}>")).await.unwrap(), Some(activity.clone()));
    let outgoing = mailer.preview(&t.cx, &Mail::to(t.jane.id).template(&quote()).deal(t.deal.id)).await.unwrap();
    assert_ne!(outgoing.message_id, message_id, "every message gets its own id");
}

#[tokio::test]
async fn plain_and_implicit_tls_connections_deliver_too() {
    for (mode, security) in [("plain", Security::None), ("tls", Security::Tls)] {
        let server = SmtpServer::start(mode, mode == "tls");
        let t = crm().await;
        let mut config = server.config(security);
        if mode == "tls" {
            config = config.credentials(USER, PASSWORD);
        }
        let mailer =
            Mailer::new(SmtpSender::new(&config).unwrap(), Address::bare("sam@acme.example").unwrap()).unwrap();
        let a = mailer.send(&t.cx, Mail::to(t.jane.id).template(&quote()).deal(t.deal.id)).await.unwrap();
        let received = server.received();
        assert_eq!(received.len(), 1, "{mode}");
        assert_eq!(parse(&received[0]).message_id(), a.message_id.as_deref(), "{mode}");
    }
}

#[tokio::test]
async fn a_reply_threads_onto_the_earlier_message() {
    let server = SmtpServer::plain();
    let t = crm().await;
    let mailer = server.plain_mailer("sam@acme.example");
    let first = mailer.send(&t.cx, Mail::to(t.jane.id).template(&quote()).deal(t.deal.id)).await.unwrap();
    let follow_up = Template::new("Re: {{ deal.name }}", "Any questions, {{ contact.given_name }}?").unwrap();
    let second =
        mailer.send(&t.cx, Mail::to(t.jane.id).deal(t.deal.id).template(&follow_up).replying_to(&first)).await.unwrap();
    let first_id = first.message_id.clone().unwrap();
    assert_eq!(second.in_reply_to.as_deref(), Some(first_id.as_str()));
    assert_eq!(second.references, vec![first_id.clone()]);
    let received = server.received();
    assert_eq!(received.len(), 2);
    let msg = parse(&received[1]);
    assert_eq!(msg.in_reply_to().as_text(), Some(first_id.as_str()));
    assert_eq!(msg.references().as_text(), Some(first_id.as_str()));
}

#[tokio::test]
async fn a_refused_login_or_a_dead_server_is_a_remote_error_and_writes_nothing() {
    let server = SmtpServer::start("starttls", true);
    let t = crm().await;
    let before = (email_activities(&t.cx).await.len(), event_count(&t.cx).await);
    let wrong = SmtpSender::new(&server.config(Security::StartTls).credentials(USER, "wrong")).unwrap();
    let mailer = Mailer::new(wrong, Address::bare("sam@acme.example").unwrap()).unwrap();
    match mailer.send(&t.cx, Mail::to(t.jane.id).template(&quote()).deal(t.deal.id)).await {
        Err(IntegrationError::Remote { system: "smtp", transient: false, message }) => {
            assert!(message.to_lowercase().contains("auth") || message.contains("535"), "{message}")
        }
        other => panic!("expected a permanent SMTP error, got {other:?}"),
    }
    assert!(server.received().is_empty());
    assert_eq!((email_activities(&t.cx).await.len(), event_count(&t.cx).await), before);

    // Nobody listens on the port any more.
    let port = server.port;
    drop(server);
    let dead = SmtpSender::new(&SmtpConfig::new("127.0.0.1").with_port(port).security(Security::None)).unwrap();
    let mailer = Mailer::new(dead, Address::bare("sam@acme.example").unwrap()).unwrap();
    let err = mailer.send(&t.cx, Mail::to(t.jane.id).template(&quote()).deal(t.deal.id)).await.unwrap_err();
    assert!(matches!(err, IntegrationError::Remote { system: "smtp", .. }), "{err:?}");
    assert_eq!((email_activities(&t.cx).await.len(), event_count(&t.cx).await), before);
}

#[tokio::test]
async fn campaign_mail_needs_granted_consent_and_membership_one_to_one_mail_does_not() {
    let server = SmtpServer::plain();
    let t = crm().await;
    let mailer = server.plain_mailer("news@acme.example");
    let campaign = t.cx.campaigns().create(NewCampaign::new("Spring offer", CampaignChannel::Email)).await.unwrap();
    let news = Template::new("Spring offer for {{ company.name }}", "Hi {{ contact.given_name }}!").unwrap();
    let before = (email_activities(&t.cx).await.len(), event_count(&t.cx).await);

    // Jane never gave consent (unknown): refused before anything is sent or written.
    let err = mailer.send(&t.cx, Mail::to(t.jane.id).template(&news).campaign(campaign.id)).await.unwrap_err();
    assert!(
        matches!(&err, IntegrationError::NoConsent { contact, status } if *contact == t.jane.id && status == "unknown"),
        "{err:?}"
    );
    assert!(
        crm_core::error::Error::from(err)
            .field_errors()
            .iter()
            .any(|e| e.field == "to" && e.code == FieldErrorCode::Rule)
    );
    assert!(server.received().is_empty());
    assert_eq!((email_activities(&t.cx).await.len(), event_count(&t.cx).await), before);

    // One-to-one mail to her is fine.
    mailer.send(&t.cx, Mail::to(t.jane.id).template(&news)).await.expect("one-to-one mail needs no marketing consent");
    assert_eq!(server.received().len(), 1);

    // With consent but not a member: refused, nothing sent.
    let mut jane = t.cx.contacts().get(t.jane.id).await.unwrap();
    jane.marketing_consent.status = ConsentStatus::Granted;
    t.cx.contacts().update(jane).await.unwrap();
    let err = mailer.send(&t.cx, Mail::to(t.jane.id).template(&news).campaign(campaign.id)).await.unwrap_err();
    assert!(
        matches!(&err, IntegrationError::Invalid { field, reason } if field == "to[0]" && reason.contains("not a member")),
        "{err:?}"
    );
    assert_eq!(server.received().len(), 1);

    // A member with consent: sent, filed on the campaign, her `sent` response recorded.
    t.cx.campaigns().add_contact(campaign.id, t.jane.id).await.unwrap();
    let a = mailer.send(&t.cx, Mail::to(t.jane.id).template(&news).campaign(campaign.id)).await.unwrap();
    assert_eq!(server.received().len(), 2);
    assert_eq!(a.campaign_id, Some(campaign.id));
    assert_eq!(a.subject, "Spring offer for Acme Ltd");
    let members = t.cx.campaigns().members(campaign.id, &Query::new(Filter::All)).await.unwrap().items;
    assert_eq!(members.len(), 1);
    assert!(members[0].responded(ResponseKind::Sent).is_some(), "{:?}", members[0].responses);
    let results = t.cx.campaigns().results(campaign.id).await.unwrap();
    assert_eq!(results.counts.get(&ResponseKind::Sent), Some(&1), "{:?}", results.counts);
}

#[tokio::test]
async fn bad_templates_and_recipients_without_an_address_are_typed_errors_before_sending() {
    let server = SmtpServer::plain();
    let t = crm().await;
    let mailer = server.plain_mailer("sam@acme.example");
    // Syntax errors are found when the template is made.
    assert!(matches!(
        Template::new("Hi {{ contact.given_name", "x"),
        Err(IntegrationError::Template { part: "subject", .. })
    ));
    assert!(matches!(Template::new("", "x"), Err(IntegrationError::Template { part: "subject", .. })));
    // A merge field the data lacks fails the render, naming the part.
    let typo = Template::new("Hello", "Dear {{ contact.nickname }}").unwrap();
    let err = mailer.send(&t.cx, Mail::to(t.jane.id).template(&typo)).await.unwrap_err();
    assert!(
        matches!(&err, IntegrationError::Template { part: "text", reason } if reason.contains("undefined")),
        "{err:?}"
    );
    // `deal` is null without a deal: using it is an error too, not an empty string.
    let needs_deal = Template::new("About {{ deal.name }}", "x").unwrap();
    assert!(matches!(
        mailer.send(&t.cx, Mail::to(t.jane.id).template(&needs_deal)).await,
        Err(IntegrationError::Template { part: "subject", .. })
    ));
    // A contact without an email address.
    let bob = t.cx.contacts().create(NewContact::new("Bob", "Nomail")).await.unwrap();
    let err = mailer.send(&t.cx, Mail::to(t.jane.id).cc(bob.id).template(&quote()).deal(t.deal.id)).await.unwrap_err();
    assert!(matches!(&err, IntegrationError::Invalid { field, .. } if field == "cc[0]"), "{err:?}");
    // HTML bodies escape merged values.
    let mut jane = t.cx.contacts().get(t.jane.id).await.unwrap();
    jane.given_name = "<b>Jane</b>".into();
    t.cx.contacts().update(jane).await.unwrap();
    let html =
        Template::new("Hi", "Hi {{ contact.given_name }}").unwrap().html("<p>Hi {{ contact.given_name }}</p>").unwrap();
    let out = mailer.preview(&t.cx, &Mail::to(t.jane.id).template(&html)).await.unwrap();
    assert_eq!(out.html.as_deref(), Some("<p>Hi &lt;b&gt;Jane&lt;&#x2f;b&gt;</p>"));
    assert_eq!(out.text, "Hi <b>Jane</b>");
    assert!(server.received().is_empty(), "nothing was sent");
    assert!(email_activities(&t.cx).await.is_empty());
}
