//! Inbound email filed in the CRM: the full loop through a real SMTP server (the CRM's quote
//! goes out, the customer's reply comes back through the same server and is filed from the
//! raw message the server stored), threading by headers and by subject, matching contacts
//! then companies by domain, the review list, duplicates, mbox files, and hostile input.

use crm_core::prelude::*;
use crm_integrations::IntegrationError;
use crm_integrations::email::{Address, EmailSender, Filed, Inbox, Mail, OutgoingEmail, Template};

use crate::common::{SmtpServer, event_count, sqlite_session};
use crm_core::model::Direction;
use crm_core::service::TimelineItem;

struct World {
    cx: Session,
    jane: Contact,
    acme: Company,
    deal: Deal,
    inbox: Inbox,
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
    let inbox = Inbox::new(["sam@acme.example", "sales@acme.example"]).unwrap();
    World { cx, jane, acme, deal, inbox, _dir: dir }
}

fn raw(headers: &[(&str, &str)], body: &str) -> Vec<u8> {
    let mut s = String::new();
    for (k, v) in headers {
        s.push_str(&format!("{k}: {v}\r\n"));
    }
    s.push_str("\r\n");
    s.push_str(body);
    s.into_bytes()
}

#[tokio::test]
async fn a_customers_reply_comes_back_through_the_server_and_threads_onto_the_quote() {
    let server = SmtpServer::plain();
    let w = world().await;
    let sam = Address::new("Sam Seller", "sam@acme.example").unwrap();
    let mailer = crm_integrations::email::Mailer::new(server.plain_sender(), sam.clone()).unwrap();
    let quote =
        Template::new("Your quote, {{ contact.given_name }}", "Hello {{ contact.given_name }}, the quote.").unwrap();
    let sent = mailer.send(&w.cx, Mail::to(w.jane.id).deal(w.deal.id).template(&quote)).await.unwrap();
    let sent_id = sent.message_id.clone().unwrap();

    // Jane answers from her mail client, through the same server.
    let reply = OutgoingEmail {
        from: Address::new("Jane Doe", "jane.doe@customer.example").unwrap(),
        to: vec![sam],
        cc: Vec::new(),
        reply_to: None,
        subject: "Re: Your quote, Jane".into(),
        text: "Thanks, looks good. Can we start in May?".into(),
        html: None,
        message_id: "reply-1@customer.example".into(),
        in_reply_to: Some(sent_id.clone()),
        references: vec![sent_id.clone()],
    };
    server.plain_sender().send(&reply).await.unwrap();
    let received = server.received();
    assert_eq!(received.len(), 2);

    // Filing what the server stored: our own copy is recognised, the reply is threaded.
    let ours = w.inbox.file(&w.cx, &received[0]).await.unwrap();
    assert!(matches!(&ours, Filed::Duplicate(a) if a.id == sent.id), "{ours:?}");
    let before = event_count(&w.cx).await;
    let filed = w.inbox.file(&w.cx, &received[1]).await.unwrap();
    let Filed::Matched(a) = &filed else { panic!("expected a match, got {filed:?}") };
    assert_eq!(a.direction, Some(Direction::Inbound));
    assert_eq!(a.message_id.as_deref(), Some("reply-1@customer.example"));
    assert_eq!(a.in_reply_to.as_deref(), Some(sent_id.as_str()));
    assert_eq!(a.references, vec![sent_id.clone()]);
    assert_eq!(a.contact_ids, vec![w.jane.id]);
    assert_eq!(a.company_ids, vec![w.acme.id]);
    assert_eq!(a.deal_ids, vec![w.deal.id], "the reply is on the quote's deal");
    assert!(a.body.as_deref().unwrap_or("").contains("start in May"));
    assert_eq!(event_count(&w.cx).await, before + 1);
    // Both are on Jane's timeline.
    let timeline = w.cx.timeline(w.jane.id).await.unwrap();
    let mut emails: Vec<Option<&str>> = timeline
        .iter()
        .filter_map(|t| match t {
            TimelineItem::Activity(a) => Some(a.message_id.as_deref()),
            _ => None,
        })
        .collect();
    emails.sort();
    let mut want = vec![Some("reply-1@customer.example"), Some(sent_id.as_str())];
    want.sort();
    assert_eq!(emails, want);

    // Filing it again changes nothing.
    let again = w.inbox.file(&w.cx, &received[1]).await.unwrap();
    assert!(matches!(&again, Filed::Duplicate(d) if d.id == a.id));
    assert_eq!(event_count(&w.cx).await, before + 1);
}

#[tokio::test]
async fn replies_without_threading_headers_thread_by_subject_and_participants() {
    let w = world().await;
    let first = w
        .inbox
        .file(
            &w.cx,
            &raw(
                &[
                    ("From", "Jane Doe <jane.doe@customer.example>"),
                    ("To", "sales@acme.example"),
                    ("Subject", "Delivery dates"),
                    ("Message-ID", "<q1@customer.example>"),
                    ("Date", "Mon, 30 Nov 2026 09:00:00 +0000"),
                ],
                "When can you deliver?",
            ),
        )
        .await
        .unwrap();
    assert!(matches!(first, Filed::Matched(_)), "{first:?}");
    // Sam's answer from his own client (outbound, from our address), no In-Reply-To.
    let answer = w
        .inbox
        .file(
            &w.cx,
            &raw(
                &[
                    ("From", "sam@acme.example"),
                    ("To", "jane.doe@customer.example"),
                    ("Subject", "RE: Delivery dates"),
                    ("Message-ID", "<a1@acme.example>"),
                    ("Date", "Mon, 30 Nov 2026 10:00:00 +0000"),
                ],
                "Next week.",
            ),
        )
        .await
        .unwrap();
    let Filed::Matched(answer) = answer else { panic!() };
    assert_eq!(answer.direction, Some(Direction::Outbound));
    assert_eq!(answer.in_reply_to, None, "no header claimed it");
    assert!(answer.references.is_empty(), "threaded by subject, without inventing References");
    assert_eq!(answer.thread_id.as_deref(), Some("q1@customer.example"), "in the question's conversation");
    assert_eq!(answer.contact_ids, vec![w.jane.id]);
    // Another subject is another conversation.
    let other = w
        .inbox
        .file(
            &w.cx,
            &raw(
                &[
                    ("From", "jane.doe@customer.example"),
                    ("To", "sales@acme.example"),
                    ("Subject", "Invoice question"),
                    ("Message-ID", "<q2@customer.example>"),
                ],
                "?",
            ),
        )
        .await
        .unwrap();
    assert!(other.activity().expect("filed").references.is_empty());
    assert_eq!(
        other.activity().expect("filed").thread_id.as_deref(),
        Some("q2@customer.example"),
        "a conversation of its own"
    );
}

#[tokio::test]
async fn unknown_senders_match_their_company_by_domain_or_go_to_the_review_list() {
    let w = world().await;
    // A colleague of Jane's, not a contact: matched to the company by domain.
    let colleague = w
        .inbox
        .file(
            &w.cx,
            &raw(
                &[
                    ("From", "Max <max@customer.example>"),
                    ("To", "sales@acme.example"),
                    ("Subject", "Hello"),
                    ("Message-ID", "<m1@customer.example>"),
                ],
                "hi",
            ),
        )
        .await
        .unwrap();
    let Filed::Matched(a) = colleague else { panic!("{colleague:?}") };
    assert!(a.contact_ids.is_empty());
    assert_eq!(a.company_ids, vec![w.acme.id]);
    // A stranger on a free-mail domain (never matched by domain), and a stranger elsewhere.
    for (from, id) in [("someone@gmail.com", "<s1@gmail.com>"), ("x@unknown.example", "<s2@unknown.example>")] {
        let f = w
            .inbox
            .file(
                &w.cx,
                &raw(&[("From", from), ("To", "sales@acme.example"), ("Subject", "Offer"), ("Message-ID", id)], "buy"),
            )
            .await
            .unwrap();
        assert!(matches!(f, Filed::Unmatched(_)), "{from}: {f:?}");
    }
    let review = w.inbox.review_list(&w.cx, 10).await.unwrap();
    let subjects: Vec<&str> = review.iter().map(|a| a.message_id.as_deref().unwrap()).collect();
    assert_eq!(review.len(), 2, "{subjects:?}");
    assert!(subjects.contains(&"s1@gmail.com") && subjects.contains(&"s2@unknown.example"));
}

#[tokio::test]
async fn an_mbox_files_every_message_and_hostile_input_is_refused_without_writing() {
    let w = world().await;
    let mbox = b"From jane Mon Nov 30 09:00:00 2026\nFrom: jane.doe@customer.example\nTo: sales@acme.example\nSubject: One\nMessage-ID: <mb1@customer.example>\n\nfirst\n>From the start\nFrom jane Mon Nov 30 09:05:00 2026\nFrom: jane.doe@customer.example\nTo: sales@acme.example\nSubject: Two\nMessage-ID: <mb2@customer.example>\n\nsecond\nFrom jane Mon Nov 30 09:06:00 2026\nFrom: jane.doe@customer.example\nTo: sales@acme.example\nSubject: One\nMessage-ID: <mb1@customer.example>\n\nfirst again\n";
    let results = w.inbox.file_mbox(&w.cx, mbox).await;
    assert_eq!(results.len(), 3);
    assert!(matches!(results[0], Ok(Filed::Matched(_))));
    assert!(matches!(results[1], Ok(Filed::Matched(_))));
    assert!(matches!(results[2], Ok(Filed::Duplicate(_))));
    let first = results[0].as_ref().unwrap().activity().expect("filed");
    assert_eq!(first.body.as_deref(), Some("first\nFrom the start\n"));

    let before = event_count(&w.cx).await;
    // Not mail, no From, an unparsable From.
    for bad in [
        b"\x00\x01\x02 garbage".to_vec(),
        raw(&[("Subject", "no sender")], "x"),
        raw(&[("From", "not an address"), ("Subject", "x")], "x"),
    ] {
        let err = w.inbox.file(&w.cx, &bad).await.unwrap_err();
        assert!(
            matches!(&err, IntegrationError::Invalid { field, .. } if field == "from" || field == "message"),
            "{err:?}"
        );
    }
    // Too big.
    let huge = vec![b'a'; crm_integrations::email::MAX_MESSAGE_BYTES + 1];
    assert!(
        matches!(w.inbox.file(&w.cx, &huge).await, Err(IntegrationError::Invalid { field, .. }) if field == "message")
    );
    assert_eq!(event_count(&w.cx).await, before, "nothing was written");

    // Huge headers and bad UTF-8 are survived: the subject is cut to one line of 500
    // characters, the body decoded lossily.
    let long_subject = "x".repeat(200_000);
    let mut weird = raw(
        &[("From", "jane.doe@customer.example"), ("Subject", &long_subject), ("Message-ID", "<w1@customer.example>")],
        "",
    );
    weird.extend_from_slice(b"caf\xe9 \xff\xfe ok");
    let Filed::Matched(a) = w.inbox.file(&w.cx, &weird).await.unwrap() else { panic!() };
    assert_eq!(a.subject.chars().count(), 500);
    assert!(a.body.as_deref().unwrap_or("").contains("ok"));
    // No Message-ID: a stable one is made, so filing twice is still one activity.
    let anon = raw(
        &[("From", "jane.doe@customer.example"), ("Subject", "anon"), ("Date", "Mon, 30 Nov 2026 09:00:00 +0000")],
        "x",
    );
    let one = w.inbox.file(&w.cx, &anon).await.unwrap();
    let two = w.inbox.file(&w.cx, &anon).await.unwrap();
    assert!(matches!(&two, Filed::Duplicate(d) if d.id == one.activity().expect("filed").id));
    assert!(one.activity().expect("filed").message_id.as_deref().unwrap().ends_with("@no-message-id.invalid"));
}

/// Filed mail to thread by subject, with the world's deal on the first message.
async fn file_with_deal(w: &World, headers: &[(&str, &str)], body: &str) -> Activity {
    let first = w.inbox.file(&w.cx, &raw(headers, body)).await.unwrap().activity().expect("filed").clone();
    let mut first = w.cx.activities().get(first.id).await.unwrap();
    first.deal_ids = vec![w.deal.id];
    w.cx.activities().update(first).await.unwrap()
}

/// One subject normalisation on both sides: a reply without threading headers threads onto a
/// message whatever list tags either carries, while a tagged message that is not a reply, or a
/// statement sent again with the same subject, starts a conversation of its own (no deal
/// inherited, no References invented).
#[tokio::test]
async fn subject_threading_is_for_replies_and_ignores_list_tags() {
    let w = world().await;
    let jane = ("From", "Jane Doe <jane.doe@customer.example>");
    let first = file_with_deal(
        &w,
        &[
            jane,
            ("To", "sales@acme.example"),
            ("Subject", "[acme-sales] Delivery dates"),
            ("Message-ID", "<t1@customer.example>"),
        ],
        "When can you deliver?",
    )
    .await;
    assert_eq!(first.deal_ids, vec![w.deal.id]);
    let file = |subject: &'static str, id: &'static str, body: &'static str| {
        let w = &w;
        async move {
            let headers = [jane, ("To", "sales@acme.example"), ("Subject", subject), ("Message-ID", id)];
            w.inbox.file(&w.cx, &raw(&headers, body)).await.unwrap().activity().expect("filed").clone()
        }
    };
    let reply = file("Re: Delivery dates", "<t2@customer.example>", "Any news?").await;
    assert_eq!(reply.deal_ids, vec![w.deal.id], "an untagged reply threads onto the tagged message");
    assert!(reply.references.is_empty());
    let quoted = file("[Ticket #4711] Delivery dates", "<t3@customer.example>", "Still waiting.\n> Any news?").await;
    assert_eq!(quoted.deal_ids, vec![w.deal.id], "a quoted parent makes a reply");
    let fresh = file("[Ticket #4712] Delivery dates", "<t4@customer.example>", "A new request.").await;
    assert!(fresh.deal_ids.is_empty(), "not a reply: a conversation of its own");

    let statement = file_with_deal(
        &w,
        &[
            jane,
            ("To", "sales@acme.example"),
            ("Subject", "Monthly statement"),
            ("Message-ID", "<m1@customer.example>"),
        ],
        "October.",
    )
    .await;
    assert_eq!(statement.deal_ids, vec![w.deal.id]);
    let next = file("Monthly statement", "<m2@customer.example>", "November.").await;
    assert!(next.deal_ids.is_empty() && next.references.is_empty(), "{next:?}");
}

/// A message without a Message-ID gets one from its whole content: two messages sharing From,
/// To, Date and Subject are both filed; the same message twice is filed once.
#[tokio::test]
async fn messages_without_a_message_id_are_told_apart_by_their_content() {
    let w = world().await;
    let headers = [
        ("From", "jane.doe@customer.example"),
        ("To", "sales@acme.example"),
        ("Subject", "Order"),
        ("Date", "Tue, 01 Dec 2026 09:00:00 +0000"),
    ];
    let one = w.inbox.file(&w.cx, &raw(&headers, "Ten boxes, please.")).await.unwrap();
    let two = w.inbox.file(&w.cx, &raw(&headers, "And two pallets.")).await.unwrap();
    assert!(matches!(two, Filed::Matched(_)), "the second message is filed: {two:?}");
    assert_ne!(one.activity().expect("filed").message_id, two.activity().expect("filed").message_id);
    let again = w.inbox.file(&w.cx, &raw(&headers, "Ten boxes, please.")).await.unwrap();
    assert!(matches!(&again, Filed::Duplicate(d) if d.id == one.activity().expect("filed").id));
}

/// A message to many people: every address read (up to [`MAX_ADDRESSES_PER_HEADER`] per
/// header) is matched, so a contact far down the list is linked; the participants listed are cut
/// to [`MAX_PARTICIPANTS_PER_ROLE`] per role.
#[tokio::test]
async fn a_contact_far_down_a_long_recipient_list_is_still_matched() {
    use crm_integrations::email::{MAX_ADDRESSES_PER_HEADER, MAX_PARTICIPANTS_PER_ROLE};
    let w = world().await;
    let mut to: Vec<String> = (0..299).map(|i| format!("person{i}@list.example")).collect();
    to.push("jane.doe@customer.example".into());
    assert!(to.len() <= MAX_ADDRESSES_PER_HEADER);
    let to = to.join(", ");
    let headers = [
        ("From", "newsletter@list.example"),
        ("To", to.as_str()),
        ("Subject", "Announcement"),
        ("Message-ID", "<big1@list.example>"),
    ];
    let filed = w.inbox.file(&w.cx, &raw(&headers, "Hello all.")).await.unwrap();
    let a = filed.activity().expect("filed");
    assert_eq!(a.contact_ids, vec![w.jane.id], "the 300th recipient is matched");
    let listed = a.participants.iter().filter(|p| p.role == crm_core::model::ParticipantRole::To).count();
    assert_eq!(listed, MAX_PARTICIPANTS_PER_ROLE);
}

#[tokio::test]
async fn mail_from_an_erased_person_is_not_filed_and_others_mail_leaves_them_off() {
    let w = world().await;
    let bob = w.cx.contacts().create(NewContact::new("Bob", "Roe").email("bob@customer.example")).await.unwrap();
    w.cx.privacy().erase(w.jane.id, Some("request 9")).await.unwrap();
    let before = event_count(&w.cx).await;
    let theirs = raw(
        &[
            ("From", "Jane Doe <JANE.DOE@customer.example>"),
            ("To", "sam@acme.example"),
            ("Subject", "Me again"),
            ("Message-ID", "<again@customer.example>"),
        ],
        "Jane here",
    );
    assert_eq!(w.inbox.file(&w.cx, &theirs).await.unwrap(), Filed::Blocked);
    assert_eq!(event_count(&w.cx).await, before, "nothing written");
    assert!(w.cx.activities().find_by_message_id("again@customer.example").await.unwrap().is_none());

    let to_both = raw(
        &[
            ("From", "Bob Roe <bob@customer.example>"),
            ("To", "sam@acme.example, Jane Doe <jane.doe@customer.example>"),
            ("Cc", "jane.doe@customer.example, ann@elsewhere.example"),
            ("Subject", "Team update"),
            ("Message-ID", "<team@customer.example>"),
        ],
        "Hello all",
    );
    let Filed::Matched(a) = w.inbox.file(&w.cx, &to_both).await.unwrap() else { panic!("filed on Bob") };
    assert_eq!(a.contact_ids, [bob.id]);
    let addresses: Vec<&str> = a.participants.iter().filter_map(|p| p.email.as_ref()).map(|e| e.as_str()).collect();
    assert_eq!(addresses, ["bob@customer.example", "sam@acme.example", "ann@elsewhere.example"]);
}
