//! The portal through an HTTP client that follows no redirects and keeps its own cookie:
//! signing in by link, what a customer sees and may do, forged forms and cookies, and that a
//! refused request writes nothing.

use crm::ids::ContactId;
use crm::model::{Activity, CaseChannel, Direction};
use crm::prelude::*;
use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};
use reqwest::{Client, StatusCode};

use super::{Portal, portal};

/// A browser as far as these tests need one: its session cookie, and no redirects followed.
struct Visitor {
    http: Client,
    cookie: Option<String>,
}

type Answer = (StatusCode, HeaderMap, String);

impl Visitor {
    fn new() -> Visitor {
        let http = Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Visitor { http, cookie: None }
    }

    async fn answer(&self, req: reqwest::RequestBuilder) -> Answer {
        let req = match &self.cookie {
            Some(c) => req.header("cookie", c),
            None => req,
        };
        let res = req.send().await.unwrap();
        (res.status(), res.headers().clone(), res.text().await.unwrap())
    }

    async fn get(&self, url: String) -> Answer {
        self.answer(self.http.get(url)).await
    }

    async fn post(&self, url: String, form: &[(&str, &str)]) -> Answer {
        self.answer(self.http.post(url).form(form)).await
    }
}

/// The value of the hidden input `name` in `html`.
fn hidden(html: &str, name: &str) -> String {
    let at = html.find(&format!("name=\"{name}\" value=\"")).unwrap_or_else(|| panic!("no {name} in {html}"));
    let rest = &html[at + name.len() + 15..];
    rest[..rest.find('"').unwrap()].to_owned()
}

fn location(h: &HeaderMap) -> &str {
    h.get(LOCATION).and_then(|v| v.to_str().ok()).unwrap_or_default()
}

/// Signs `email` in through the portal's pages and the mail it sends: a visitor with a session.
async fn signed_in(p: &Portal, email: &str) -> Visitor {
    let mut v = Visitor::new();
    let (status, _, _) = v.post(p.url("/sign-in"), &[("email", email)]).await;
    assert_eq!(status, StatusCode::OK);
    let (_, _, page) = v.get(p.smtp.link_for(email)).await;
    let (status, headers, _) = v.post(p.url("/link"), &[("token", &hidden(&page, "token"))]).await;
    assert_eq!((status, location(&headers)), (StatusCode::SEE_OTHER, "/portal"));
    let cookie = headers.get(SET_COOKIE).unwrap().to_str().unwrap();
    v.cookie = Some(cookie.split(';').next().unwrap().to_owned());
    v
}

/// Ann's case's conversation as the business sees it.
async fn conversation(p: &Portal) -> Vec<Activity> {
    p.desk().cases().conversation(p.ann_case.id).await.unwrap()
}

#[tokio::test]
async fn signing_in_takes_a_link_that_works_once() {
    let p = portal().await;
    let v = Visitor::new();
    let (status, headers, _) = v.get(p.url("")).await;
    assert_eq!((status, location(&headers)), (StatusCode::SEE_OTHER, "/portal/sign-in"), "not signed in yet");
    let (status, _, page) = v.get(p.url("/sign-in")).await;
    assert!(status == StatusCode::OK && page.contains("name=\"email\""));

    // Known or not, the answer reads the same; only a customer gets mail.
    let (_, _, unknown) = v.post(p.url("/sign-in"), &[("email", "eve@example.com")]).await;
    let (status, _, known) = v.post(p.url("/sign-in"), &[("email", " Ann@Example.com ")]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(unknown.replace("eve@example.com", "X"), known.replace("Ann@Example.com", "X"));
    let mail = p.smtp.received();
    assert_eq!(mail.len(), 1, "one mail, to Ann: {mail:?}");
    let (to, subject, text) = &mail[0];
    assert_eq!((to.as_str(), subject.as_str()), ("ann@example.com", "Your sign-in link for Acme Kettles"));
    assert!(text.starts_with("Hello Ann,") && text.contains("within 15 minutes"), "{text}");
    let link = p.smtp.link_for("ann@example.com");
    assert!(link.starts_with(&p.url("/link?token=cpl_")), "{link}");

    let (status, _, page) = v.post(p.url("/sign-in"), &[("email", "not an address")]).await;
    assert!(status == StatusCode::BAD_REQUEST && page.contains("not an email address"), "{page}");

    // Opening the link (as a mail scanner would) uses nothing up; its button signs in once.
    for _ in 0..2 {
        let (status, headers, page) = v.get(link.clone()).await;
        assert!(status == StatusCode::OK && page.contains("id=\"sign-in\""));
        assert_eq!(headers["cache-control"], "no-store");
        assert_eq!(headers["x-frame-options"], "DENY");
        assert!(headers["content-security-policy"].to_str().unwrap().contains("default-src 'none'"));
    }
    let token = hidden(&v.get(link.clone()).await.2, "token");
    let (status, headers, _) = v.post(p.url("/link"), &[("token", &token)]).await;
    assert_eq!((status, location(&headers)), (StatusCode::SEE_OTHER, "/portal"));
    let cookie = headers[SET_COOKIE].to_str().unwrap().to_owned();
    for attribute in ["crm_portal=", "HttpOnly", "SameSite=Lax", "Path=/portal"] {
        assert!(cookie.contains(attribute), "{attribute} in {cookie}");
    }
    assert!(!cookie.contains("Secure"), "plain http on loopback");
    let (status, _, page) = v.post(p.url("/link"), &[("token", &token)]).await;
    assert!(status == StatusCode::FORBIDDEN && page.contains("does not work any more"), "used up");
    for bad in ["", "cpl_x", "<script>"] {
        assert_eq!(v.post(p.url("/link"), &[("token", bad)]).await.0, StatusCode::FORBIDDEN, "{bad:?}");
    }

    let mut ann = Visitor::new();
    ann.cookie = Some(cookie.split(';').next().unwrap().to_owned());
    let (status, _, home) = ann.get(p.url("")).await;
    assert_eq!(status, StatusCode::OK);
    for seen in ["Hello, Ann Lee", "Kettle leaks", "pending customer", "40.00 EUR", "INV-"] {
        assert!(home.contains(seen), "{seen} on Ann's page");
    }
    for unseen in ["Wrong colour", "Bob"] {
        assert!(!home.contains(unseen), "{unseen} is not Ann's");
    }

    // A cookie altered by hand is no session.
    let forged = ann
        .cookie
        .clone()
        .unwrap()
        .replace(&p.ann.id.as_uuid().simple().to_string(), &p.bob.id.as_uuid().simple().to_string());
    assert_ne!(Some(&forged), ann.cookie.as_ref());
    let eve = Visitor { http: ann.http.clone(), cookie: Some(forged) };
    assert_eq!(location(&eve.get(p.url("")).await.1), "/portal/sign-in");

    // Signing out needs the session's form token, and clears the cookie.
    assert_eq!(ann.post(p.url("/sign-out"), &[("csrf", "0")]).await.0, StatusCode::FORBIDDEN);
    let csrf = hidden(&home, "csrf");
    let (status, headers, _) = ann.post(p.url("/sign-out"), &[("csrf", &csrf)]).await;
    assert_eq!((status, location(&headers)), (StatusCode::SEE_OTHER, "/portal/sign-in"));
    assert!(headers[SET_COOKIE].to_str().unwrap().starts_with("crm_portal=;"));
}

#[tokio::test]
async fn a_customer_sees_and_answers_only_their_own_cases() {
    let p = portal().await;
    let ann = signed_in(&p, "ann@example.com").await;
    let (_, _, home) = ann.get(p.url("")).await;
    let csrf = hidden(&home, "csrf");
    let case_url = p.url(&format!("/cases/{}", p.ann_case.id));

    let (status, _, page) = ann.get(case_url.clone()).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Kettle leaks") && page.contains("Water under it") && page.contains("Is the lid closed?"));
    assert!(!page.contains("Batch 7"), "internal notes stay internal");
    // Another customer's case, and no case at all, are alike: not found.
    for path in [format!("/cases/{}", p.bob_case.id), "/cases/not-an-id".into(), "/nothing/here".into()] {
        let (status, _, page) = ann.get(p.url(&path)).await;
        assert!(status == StatusCode::NOT_FOUND && !page.contains("Wrong colour"), "{path}");
    }

    // An invoice of theirs, line by line; another's, or a draft, is not there.
    let invoices = p.desk().invoices().list(&crm::query::Query::new(crm::query::Filter::All)).await.unwrap().items;
    let of = |who: ContactId| invoices.iter().find(|i| i.contact_id == Some(who)).unwrap().id;
    let mine = p.url(&format!("/invoices/{}", of(p.ann.id)));
    assert!(home.contains(&format!("href=\"{}\"", mine.strip_prefix(&p.base).unwrap())), "linked from home");
    let (status, _, page) = ann.get(mine).await;
    assert_eq!(status, StatusCode::OK);
    for seen in ["Kettle KX-200", "40.00 EUR", "to pay 40.00 EUR", "sent"] {
        assert!(page.contains(seen), "{seen} on the invoice page");
    }
    let descaler = LineItem::new("Descaler", 1.into(), Money::new(4.into(), Currency::EUR));
    let draft = p.desk().invoices().create(NewInvoice::for_contact(p.ann.id).line(descaler)).await.unwrap().id;
    for id in [of(p.bob.id), draft] {
        let (status, _, page) = ann.get(p.url(&format!("/invoices/{id}"))).await;
        assert!(status == StatusCode::NOT_FOUND && !page.contains("Teapot") && !page.contains("Descaler"));
    }

    // Forms without the session's token, empty replies and other customers' cases write nothing.
    let before = conversation(&p).await;
    let reply = format!("{case_url}/replies");
    assert_eq!(ann.post(reply.clone(), &[("body", "hi")]).await.0, StatusCode::FORBIDDEN);
    assert_eq!(ann.post(reply.clone(), &[("csrf", "f00"), ("body", "hi")]).await.0, StatusCode::FORBIDDEN);
    let (status, _, page) = ann.post(reply.clone(), &[("csrf", &csrf), ("body", "  ")]).await;
    assert!(status == StatusCode::BAD_REQUEST && page.contains("a reply says something"), "{page}");
    let bobs = p.url(&format!("/cases/{}/replies", p.bob_case.id));
    assert_eq!(ann.post(bobs, &[("csrf", &csrf), ("body", "mine now")]).await.0, StatusCode::NOT_FOUND);
    assert_eq!(conversation(&p).await, before);
    assert!(p.desk().cases().conversation(p.bob_case.id).await.unwrap().is_empty());

    // A reply reaches the business and reopens the case waiting for it.
    let (status, headers, _) = ann.post(reply.clone(), &[("csrf", &csrf), ("body", "Yes, <b>closed</b>")]).await;
    assert_eq!((status, location(&headers)), (StatusCode::SEE_OTHER, case_url.strip_prefix(&p.base).unwrap()));
    let last = conversation(&p).await.pop().unwrap();
    assert_eq!((last.direction, last.body.as_deref()), (Some(Direction::Inbound), Some("Yes, <b>closed</b>")));
    assert_eq!(p.desk().cases().get(p.ann_case.id).await.unwrap().status, CaseStatus::Open);
    let (_, _, page) = ann.get(case_url.clone()).await;
    let shown = page.find("Yes, ").map(|at| &page[at..at + 40]).unwrap_or_default();
    assert!(shown.starts_with("Yes, &#60;b&#62;closed&#60;/b&#62;"), "shown as text, not markup: {shown}");

    // Opening a case.
    let (status, _, form) = ann.get(p.url("/cases/new")).await;
    assert!(status == StatusCode::OK && form.contains("name=\"case_type\""));
    let (status, _, page) =
        ann.post(p.url("/cases"), &[("csrf", &csrf), ("case_type", "question"), ("subject", " ")]).await;
    assert!(status == StatusCode::BAD_REQUEST && page.contains("subject"), "{page}");
    let (status, _, _) = ann.post(p.url("/cases"), &[("csrf", &csrf), ("case_type", "return"), ("subject", "x")]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "returns go through the business");
    let form =
        [("csrf", csrf.as_str()), ("case_type", "question"), ("subject", "Descaling?"), ("description", "How often")];
    let (status, headers, _) = ann.post(p.url("/cases"), &form).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let id: uuid::Uuid = location(&headers).rsplit('/').next().unwrap().parse().unwrap();
    let case = p.desk().cases().get(CaseId::from_uuid(id)).await.unwrap();
    assert_eq!(
        (case.subject.as_str(), case.description.as_deref(), case.contact_id, case.channel),
        ("Descaling?", Some("How often"), Some(p.ann.id), CaseChannel::Web)
    );
    assert_eq!(ann.post(p.url("/cases"), &form[1..]).await.0, StatusCode::FORBIDDEN, "no token, no case");

    // A closed case shows no reply form and takes no reply.
    p.desk().cases().close(p.ann_case.id).await.unwrap();
    let (_, _, page) = ann.get(case_url.clone()).await;
    assert!(page.contains("This case is closed") && !page.contains("id=\"send-reply\""));
    let (status, _, page) = ann.post(reply, &[("csrf", &csrf), ("body", "one more")]).await;
    assert!(status == StatusCode::BAD_REQUEST && page.contains("open a new case"), "{page}");

    // A customer erased meanwhile is signed out.
    let bob = signed_in(&p, "bob@example.com").await;
    p.desk().privacy().erase(p.bob.id, Some("asked to be forgotten")).await.unwrap();
    let (status, headers, _) = bob.get(p.url("")).await;
    assert_eq!((status, location(&headers)), (StatusCode::SEE_OTHER, "/portal/sign-in"));
    let cleared = headers[SET_COOKIE].to_str().unwrap();
    assert!(cleared.starts_with("crm_portal=;") && cleared.contains("Max-Age=0"), "signed out: {cleared}");
}
