//! The portal in a real headless browser (Debian's Chromium, driven over WebDriver through
//! chromedriver): a customer asks for a link, opens it from the mail the SMTP server received,
//! signs in, sees only their own records, replies to a case and opens one. Screenshots of each
//! step are kept in `target/tmp/portal-screenshots/`.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crm::model::Direction;
use crm::prelude::*;
use fantoccini::{Client, ClientBuilder, Locator};

use super::portal;

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

/// chromedriver on a free loopback port, stopped when dropped.
struct Driver {
    child: Child,
    port: u16,
    _profile: tempfile::TempDir,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Driver {
    fn start() -> Driver {
        assert!(
            Path::new(CHROMEDRIVER).exists() && Path::new(CHROMIUM).exists(),
            "the browser tests need Debian's chromium and chromium-driver (scripts/test.sh installs them)"
        );
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new(CHROMEDRIVER)
            .args([format!("--port={port}"), "--allowed-ips=127.0.0.1".into()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        Driver { child, port, _profile: tempfile::tempdir().unwrap() }
    }

    /// A headless Chromium session, once chromedriver answers.
    async fn browser(&self) -> Client {
        let args = [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1100,900",
        ]
        .map(String::from)
        .into_iter()
        .chain([format!("--user-data-dir={}", self._profile.path().display())])
        .collect::<Vec<_>>();
        let mut caps = serde_json::Map::new();
        caps.insert("goog:chromeOptions".into(), serde_json::json!({ "binary": CHROMIUM, "args": args }));
        let url = format!("http://127.0.0.1:{}", self.port);
        // Both of rustls's providers are built in this workspace: the client must be told which.
        let _ = rustls::crypto::ring::default_provider().install_default();
        for _ in 0..100 {
            match ClientBuilder::rustls().unwrap().capabilities(caps.clone()).connect(&url).await {
                Ok(c) => return c,
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
        panic!("chromedriver did not answer at {url}");
    }
}

/// Where the screenshots go.
fn shots() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("portal-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Saves the page as `name.png` and checks it is a picture.
async fn screenshot(b: &Client, name: &str) {
    let png = b.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG") && png.len() > 5_000, "a real screenshot of {name}");
    std::fs::write(shots().join(format!("{name}.png")), png).unwrap();
}

async fn text_of(b: &Client, css: &str) -> String {
    b.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("{css}: {e}")).text().await.unwrap()
}

/// Clicks `what` and waits for the page it leads to, on which `then` (CSS) shows text with `seen`.
async fn click_to(b: &Client, what: Locator<'_>, then: &str, seen: &str) {
    b.find(what).await.unwrap().click().await.unwrap();
    for _ in 0..100 {
        if let Ok(e) = b.find(Locator::Css(then)).await
            && e.text().await.is_ok_and(|t| t.contains(seen))
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no `{seen}` in {then} after the click; at {:?}", b.current_url().await);
}

#[tokio::test]
async fn a_customer_signs_in_by_link_and_works_their_cases_in_a_browser() {
    let p = portal().await;
    let driver = Driver::start();
    let b = driver.browser().await;

    b.goto(&p.url("")).await.unwrap();
    assert_eq!(b.current_url().await.unwrap().path(), "/portal/sign-in", "sent to sign in");
    b.find(Locator::Id("email")).await.unwrap().send_keys("ann@example.com").await.unwrap();
    screenshot(&b, "1-sign-in").await;
    click_to(&b, Locator::Id("send-link"), "#sent", "ann@example.com").await;

    // The link from the mail the SMTP server received.
    let link = p.smtp.link_for("ann@example.com");
    b.goto(&link).await.unwrap();
    screenshot(&b, "2-link").await;
    click_to(&b, Locator::Id("sign-in"), "#welcome", "Hello").await;
    assert_eq!(text_of(&b, "#welcome").await, "Hello, Ann Lee");
    let cases = text_of(&b, "#cases").await;
    assert!(cases.contains("Kettle leaks") && !cases.contains("Wrong colour"), "{cases}");
    assert!(text_of(&b, "#orders").await.contains("40.00 EUR"));
    assert!(text_of(&b, "#invoices").await.contains("INV-"));
    let cookies = b.get_all_cookies().await.unwrap();
    assert!(cookies.iter().any(|c| c.name() == "crm_portal" && c.http_only() == Some(true)));
    screenshot(&b, "3-home").await;
    click_to(&b, Locator::Css("#invoices a"), "#total", "40.00 EUR").await;
    screenshot(&b, "3b-invoice").await;
    b.back().await.unwrap();

    // Reply to the case waiting for Ann.
    click_to(&b, Locator::LinkText("Kettle leaks"), "#conversation", "Is the lid closed?").await;
    assert!(!b.source().await.unwrap().contains("Batch 7"), "internal note hidden");
    b.find(Locator::Id("body")).await.unwrap().send_keys("Yes, the lid is closed.").await.unwrap();
    click_to(&b, Locator::Id("send-reply"), "#conversation", "Yes, the lid is closed.").await;
    assert_eq!(text_of(&b, "#status").await, "open");
    screenshot(&b, "4-case").await;
    let said = p.desk().cases().conversation(p.ann_case.id).await.unwrap().pop().unwrap();
    assert_eq!((said.direction, said.body.as_deref()), (Some(Direction::Inbound), Some("Yes, the lid is closed.")));

    // Open a new case.
    b.goto(&p.url("")).await.unwrap();
    click_to(&b, Locator::Id("open-case"), "h1", "Open a case").await;
    b.find(Locator::Css("#case_type option[value=question]")).await.unwrap().click().await.unwrap();
    b.find(Locator::Id("subject")).await.unwrap().send_keys("How do I descale it?").await.unwrap();
    b.find(Locator::Id("description")).await.unwrap().send_keys("White crust inside").await.unwrap();
    screenshot(&b, "5-new-case").await;
    click_to(&b, Locator::Id("submit-case"), "#subject", "How do I descale it?").await;
    let opened = p.desk().cases().list(&Query::new(Filter::eq("subject", "How do I descale it?"))).await.unwrap();
    assert_eq!(opened.items.iter().map(|c| c.contact_id).collect::<Vec<_>>(), vec![Some(p.ann.id)]);

    // Bob's case is not there for Ann, even by address.
    b.goto(&p.url(&format!("/cases/{}", p.bob_case.id))).await.unwrap();
    assert_eq!(text_of(&b, "h1").await, "Not found");

    // Signing out ends the session.
    b.goto(&p.url("")).await.unwrap();
    click_to(&b, Locator::Id("sign-out"), "h1", "Sign in").await;
    assert_eq!(b.current_url().await.unwrap().path(), "/portal/sign-in");
    b.goto(&p.url("")).await.unwrap();
    assert_eq!(b.current_url().await.unwrap().path(), "/portal/sign-in");
    screenshot(&b, "6-signed-out").await;
    b.close().await.unwrap();
}
