//! Mailbox sync over IMAP against a real Dovecot on loopback, fed by a real SMTP server
//! (aiosmtpd delivering into the same Maildir): the full loop (the CRM's quote goes out, the
//! customer's reply arrives over IMAP and is threaded onto the quote's deal and contact),
//! resuming by UID, a changed UIDVALIDITY, implicit TLS, XOAUTH2, refused logins, and
//! messages that are not mail.

use crm_core::prelude::*;
use crm_integrations::IntegrationError;
use crm_integrations::email::{
    Address, EmailSender, ImapAuth, ImapConfig, ImapSecurity, Inbox, Mail, MailboxSync, OutgoingEmail, Template,
};
use secrecy::SecretString;
use wiremock::matchers::{body_string_contains, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::common::dovecot::{Dovecot, PASSWORD};
use crate::common::{SmtpServer, event_count, sqlite_session};
use crm_core::model::Direction;

const MAILBOX: &str = "sales";

fn password() -> ImapAuth {
    ImapAuth::Password(SecretString::from(PASSWORD.to_owned()))
}

fn plain(d: &Dovecot, auth: ImapAuth) -> ImapConfig {
    ImapConfig::new("127.0.0.1", MAILBOX, auth).port(d.port).security(ImapSecurity::Plain)
}

fn inbox() -> Inbox {
    Inbox::new(["sales@acme.example"]).unwrap()
}

struct World {
    cx: Session,
    jane: Contact,
    deal: Deal,
    _dir: tempfile::TempDir,
}

async fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let cx = sqlite_session(dir.path()).await;
    let acme = cx.companies().create(NewCompany::new("Customer Ltd").domain("customer.example")).await.unwrap();
    let jane = cx
        .contacts()
        .create(NewContact::new("Jane", "Doe").email("jane.doe@customer.example").works_at(acme.id, None, None))
        .await
        .unwrap();
    let deal = cx.deals().create(NewDeal::new("Customer rollout").contact(jane.id)).await.unwrap();
    World { cx, jane, deal, _dir: dir }
}

fn raw(from: &str, subject: &str, id: &str) -> Vec<u8> {
    format!("From: {from}\r\nTo: sales@acme.example\r\nSubject: {subject}\r\nMessage-ID: <{id}>\r\nDate: Mon, 30 Nov 2026 10:00:00 +0000\r\n\r\nHello.\r\n").into_bytes()
}

#[tokio::test]
async fn the_customers_reply_arrives_over_imap_and_threads_onto_the_quote() {
    let imap = Dovecot::start(None);
    let smtp = SmtpServer::start_into("plain", false, Some(imap.inbox(MAILBOX)));
    let w = world().await;

    // The CRM sends the quote (the server keeps a copy in the sales mailbox, like a Bcc).
    let sales = Address::new("Sales", "sales@acme.example").unwrap();
    let mailer = crm_integrations::email::Mailer::new(smtp.plain_sender(), sales.clone()).unwrap();
    let quote = Template::new("Your quote, {{ contact.given_name }}", "Hello {{ contact.given_name }}.").unwrap();
    let sent = mailer.send(&w.cx, Mail::to(w.jane.id).deal(w.deal.id).template(&quote)).await.unwrap();
    let sent_id = sent.message_id.clone().unwrap();
    // Jane replies to the sales address.
    let reply = OutgoingEmail {
        from: Address::new("Jane Doe", "jane.doe@customer.example").unwrap(),
        to: vec![sales],
        cc: Vec::new(),
        reply_to: None,
        subject: "Re: Your quote, Jane".into(),
        text: "Looks good. Can we start in May?".into(),
        html: None,
        message_id: "reply-1@customer.example".into(),
        in_reply_to: Some(sent_id.clone()),
        references: vec![sent_id.clone()],
    };
    smtp.plain_sender().send(&reply).await.unwrap();

    let sync = MailboxSync::new(plain(&imap, password()), inbox()).unwrap();
    let before = event_count(&w.cx).await;
    let report = sync.sync(&w.cx).await.unwrap();
    assert_eq!((report.matched, report.duplicates, report.unmatched), (1, 1, 0), "{report:?}");
    assert_eq!(report.last_uid, 2);
    assert_eq!(event_count(&w.cx).await, before + 1, "only the reply is new");
    let filed = w.cx.activities().find_by_message_id("reply-1@customer.example").await.unwrap().unwrap();
    assert_eq!(filed.direction, Some(Direction::Inbound));
    assert_eq!((filed.contact_ids.clone(), filed.deal_ids.clone()), (vec![w.jane.id], vec![w.deal.id]));
    assert_eq!(filed.in_reply_to.as_deref(), Some(sent_id.as_str()));

    // The next run fetches nothing; a new message is the only one filed after that.
    let again = sync.sync(&w.cx).await.unwrap();
    assert_eq!((again.matched, again.duplicates, again.last_uid), (0, 0, 2));
    imap.deliver(MAILBOX, "1800000000.M1P1.test", &raw("jane.doe@customer.example", "Also", "also-1@customer.example"));
    let third = sync.sync(&w.cx).await.unwrap();
    assert_eq!((third.matched, third.duplicates, third.last_uid), (1, 0, 3));
    let state = w.cx.sync().state(&plain(&imap, password()).state_key()).await.unwrap().unwrap();
    assert_eq!(state.value["last_uid"], 3);
    assert_eq!(state.value["uid_validity"], report.uid_validity);
}

#[tokio::test]
async fn a_changed_uidvalidity_rereads_the_mailbox_without_filing_twice() {
    let imap = Dovecot::start(None);
    let w = world().await;
    imap.deliver(MAILBOX, "1800000001.M1P1.test", &raw("jane.doe@customer.example", "One", "one@customer.example"));
    imap.deliver(MAILBOX, "1800000002.M1P1.test", &raw("stranger@elsewhere.example", "Two", "two@elsewhere.example"));
    let sync = MailboxSync::new(plain(&imap, password()), inbox()).unwrap();
    let first = sync.sync(&w.cx).await.unwrap();
    assert_eq!((first.matched, first.unmatched), (1, 1), "the stranger goes to the review list");
    // The server renumbered the mailbox (as after a restore): the stored UIDVALIDITY differs.
    let key = plain(&imap, password()).state_key();
    let s = w.cx.sync().state(&key).await.unwrap().unwrap();
    w.cx.sync().put_state(&key, serde_json::json!({"uid_validity": 1, "last_uid": 99}), Some(s.version)).await.unwrap();
    let events = event_count(&w.cx).await;
    let again = sync.sync(&w.cx).await.unwrap();
    assert!(again.resynced);
    assert_eq!((again.duplicates, again.matched, again.unmatched, again.last_uid), (2, 0, 0, 2));
    assert_eq!(event_count(&w.cx).await, events, "nothing filed twice");
}

#[tokio::test]
async fn messages_that_are_not_mail_are_reported_and_skipped_and_the_rest_is_filed() {
    let imap = Dovecot::start(None);
    let w = world().await;
    imap.deliver(MAILBOX, "1800000001.M1P1.test", b"this is not a mail message at all\r\n");
    imap.deliver(MAILBOX, "1800000002.M1P1.test", &raw("jane.doe@customer.example", "Real", "real@customer.example"));
    // Over the size limit: refused by its size, without being downloaded.
    let mut huge = raw("jane.doe@customer.example", "Huge", "huge@customer.example");
    huge.resize(crm_integrations::email::MAX_MESSAGE_BYTES + 1024, b'x');
    imap.deliver(MAILBOX, "1800000003.M1P1.test", &huge);
    let report = MailboxSync::new(plain(&imap, password()), inbox()).unwrap().sync(&w.cx).await.unwrap();
    assert_eq!(report.failed.iter().map(|f| f.0).collect::<Vec<_>>(), vec![1, 3], "{report:?}");
    assert!(report.failed[1].1.contains("limit"));
    assert_eq!((report.matched, report.last_uid), (1, 3), "the bad ones do not block the rest");
}

#[tokio::test]
async fn logins_are_refused_with_a_typed_error_that_carries_no_password() {
    let imap = Dovecot::start(None);
    let w = world().await;
    let wrong = ImapAuth::Password(SecretString::from("not-the-password".to_owned()));
    let err = MailboxSync::new(plain(&imap, wrong), inbox()).unwrap().sync(&w.cx).await.unwrap_err();
    assert!(matches!(err, IntegrationError::Auth { system: "imap", .. }), "{err:?}");
    assert!(!err.to_string().contains("not-the-password"));
    assert!(w.cx.sync().state(&plain(&imap, password()).state_key()).await.unwrap().is_none(), "no state written");
    // Bad settings are refused before connecting.
    for (cfg, field) in
        [(plain(&imap, password()).mailbox("IN\"BOX"), "mailbox"), (ImapConfig::new(" ", MAILBOX, password()), "host")]
    {
        let err = MailboxSync::new(cfg, inbox()).unwrap_err();
        assert!(matches!(err, IntegrationError::Invalid { field: ref f, .. } if f == field), "{err:?}");
    }
}

#[tokio::test]
async fn implicit_tls_checks_the_servers_certificate() {
    let imap = Dovecot::start(None);
    let w = world().await;
    imap.deliver(
        MAILBOX,
        "1800000001.M1P1.test",
        &raw("jane.doe@customer.example", "Secure", "tls-1@customer.example"),
    );
    let tls = ImapConfig::new("127.0.0.1", MAILBOX, password())
        .port(imap.tls_port)
        .tls_server_name("localhost")
        .add_root_certificate_pem(imap.cert_pem.clone());
    let report = MailboxSync::new(tls, inbox()).unwrap().sync(&w.cx).await.unwrap();
    assert_eq!(report.matched, 1);
    // Without trusting the test certificate the handshake fails, and nothing is written.
    let untrusted = ImapConfig::new("127.0.0.1", "other", password()).port(imap.tls_port).tls_server_name("localhost");
    let err = MailboxSync::new(untrusted, inbox()).unwrap().sync(&w.cx).await.unwrap_err();
    assert!(matches!(err, IntegrationError::Remote { transient: false, .. }), "{err:?}");
}

#[tokio::test]
async fn xoauth2_logs_in_with_a_token_the_provider_vouches_for() {
    // The provider's token introspection, which Dovecot asks about each token.
    let provider = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/introspect"))
        .and(body_string_contains("good-token"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(serde_json::json!({"active": "true", "username": MAILBOX})),
        )
        .mount(&provider)
        .await;
    Mock::given(method("POST"))
        .and(path("/introspect"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({"active": "false"})))
        .mount(&provider)
        .await;
    let imap = Dovecot::start(Some(&format!("{}/introspect", provider.uri())));
    let w = world().await;
    imap.deliver(
        MAILBOX,
        "1800000001.M1P1.test",
        &raw("jane.doe@customer.example", "OAuth", "oauth-1@customer.example"),
    );
    let good = ImapAuth::XOAuth2(SecretString::from("good-token".to_owned()));
    let report = MailboxSync::new(plain(&imap, good), inbox()).unwrap().sync(&w.cx).await.unwrap();
    assert_eq!(report.matched, 1, "{}", imap.log());
    let bad = ImapAuth::XOAuth2(SecretString::from("expired-token".to_owned()));
    let err = MailboxSync::new(plain(&imap, bad), inbox()).unwrap().sync(&w.cx).await.unwrap_err();
    assert!(matches!(err, IntegrationError::Auth { .. }), "{err:?}");
}
