//! Sending through Postmark's HTTP API against a Postmark-shaped server on loopback
//! (wiremock): the body Postmark documents, the CRM's Message-ID and threading headers kept,
//! the send filed as an activity; refusals typed, and nothing filed when a send fails.

use crm_core::prelude::*;
use crm_integrations::IntegrationError;
use crm_integrations::email::{Address, Mail, Mailer, PostmarkSender, Template};
use secrecy::SecretString;
use serde_json::{Value, json};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::common::{event_count, sqlite_session};
use crm_core::model::Direction;

async fn mailer(server: &MockServer) -> Mailer {
    let sender =
        PostmarkSender::with_endpoint(SecretString::from("pm-token".to_owned()), &format!("{}/email", server.uri()))
            .unwrap();
    Mailer::new(sender, Address::new("Sam Seller", "sam@acme.example").unwrap()).unwrap()
}

#[tokio::test]
async fn a_postmark_send_keeps_the_crm_message_id_and_is_filed() {
    let dir = tempfile::tempdir().unwrap();
    let cx = sqlite_session(dir.path()).await;
    let jane =
        cx.contacts().create(NewContact::new("Jane", "O'Neil, Jr").email("jane@customer.example")).await.unwrap();
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/email"))
        .and(header("x-postmark-server-token", "pm-token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "To": "jane@customer.example", "SubmittedAt": "2026-11-30T10:00:00Z",
            "MessageID": "b7bc2f4a-e38e-4336-af7d-e6c392c2f817", "ErrorCode": 0, "Message": "OK"
        })))
        .expect(2)
        .mount(&server)
        .await;
    let t = Template::new("Hello {{ contact.given_name }}", "Your quote, {{ contact.given_name }}.").unwrap();
    let m = mailer(&server).await;
    let first = m.send(&cx, Mail::to(jane.id).template(&t)).await.unwrap();
    let a = m.send(&cx, Mail::to(jane.id).template(&t).replying_to(&first)).await.unwrap();

    let req = server.received_requests().await.unwrap().remove(1);
    let body: Value = serde_json::from_slice(&req.body).unwrap();
    assert_eq!(body["From"], "Sam Seller <sam@acme.example>");
    assert_eq!(body["To"], "\"Jane O'Neil, Jr\" <jane@customer.example>", "names with commas are quoted");
    assert_eq!((body["Subject"].as_str(), body["TextBody"].as_str()), (Some("Hello Jane"), Some("Your quote, Jane.")));
    assert_eq!(body["MessageStream"], "outbound");
    let headers: Vec<(String, String)> = body["Headers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| (h["Name"].as_str().unwrap().to_owned(), h["Value"].as_str().unwrap().to_owned()))
        .collect();
    let id = a.message_id.clone().unwrap();
    assert!(headers.contains(&("Message-ID".into(), format!("<{id}>"))), "{headers:?}");
    let parent = first.message_id.clone().unwrap();
    assert!(headers.contains(&("In-Reply-To".into(), format!("<{parent}>"))), "{headers:?}");
    assert!(headers.contains(&("References".into(), format!("<{parent}>"))));
    assert_eq!(a.direction, Some(Direction::Outbound));
    assert_eq!(a.contact_ids, vec![jane.id]);
}

#[tokio::test]
async fn refusals_are_typed_and_nothing_is_filed() {
    let dir = tempfile::tempdir().unwrap();
    let cx = sqlite_session(dir.path()).await;
    let jane = cx.contacts().create(NewContact::new("Jane", "Doe").email("jane@customer.example")).await.unwrap();
    let t = Template::new("Hi", "Hello.").unwrap();
    for (status, reply, check) in [
        (
            422,
            json!({"ErrorCode": 406, "Message": "You tried to send to recipient(s) that have been marked as inactive."}),
            (|e: &IntegrationError| matches!(e, IntegrationError::Remote { transient: false, message, .. } if message.contains("inactive")))
                as fn(&IntegrationError) -> bool,
        ),
        (401, json!({"ErrorCode": 10, "Message": "Bad or missing API token"}), |e| {
            matches!(e, IntegrationError::Auth { .. })
        }),
        (503, json!({}), |e| matches!(e, IntegrationError::Remote { transient: true, .. })),
    ] {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(status).set_body_json(reply))
            .mount(&server)
            .await;
        let before = event_count(&cx).await;
        let err = mailer(&server).await.send(&cx, Mail::to(jane.id).template(&t)).await.unwrap_err();
        assert!(check(&err), "{status}: {err:?}");
        assert!(!err.to_string().contains("pm-token"));
        assert_eq!(event_count(&cx).await, before, "{status}: nothing filed");
    }
    assert!(PostmarkSender::new(SecretString::from(" ".to_owned())).is_err());
}
