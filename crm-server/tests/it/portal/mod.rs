//! The customer portal on loopback over a real SQLite file, its sign-in links sent through a
//! real SMTP server (aiosmtpd, as the email integration tests start it) and read back from the
//! server's mailbox: [`pages`] drives it with an HTTP client, [`browser`] with headless Chromium.

mod browser;
mod pages;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crm::integrations::email::{Address, Security, SmtpConfig, SmtpSender};
use crm::prelude::*;
use crm::service::NewReply;

/// An SMTP server on loopback that keeps what it receives in a Maildir.
pub struct Smtp {
    child: Child,
    port: u16,
    maildir: PathBuf,
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Smtp {
    fn start(dir: &Path) -> Smtp {
        let maildir = dir.join("maildir");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../crm-integrations/tests/servers/smtp_server.py");
        let mut child = Command::new("python3")
            .arg(&script)
            .arg("--maildir")
            .arg(&maildir)
            .args(["--mode", "plain"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 runs the SMTP test server (scripts/test.sh installs aiosmtpd)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let port = line
            .strip_prefix("READY ")
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| panic!("the SMTP server did not start (is aiosmtpd installed?): {line:?}"));
        Smtp { child, port, maildir }
    }

    /// Every message received, oldest first, parsed: (recipient, subject, text).
    pub fn received(&self) -> Vec<(String, String, String)> {
        let Ok(entries) = std::fs::read_dir(self.maildir.join("new")) else { return Vec::new() };
        let mut files: Vec<(std::time::SystemTime, PathBuf)> =
            entries.map(|e| e.unwrap()).map(|e| (e.metadata().unwrap().modified().unwrap(), e.path())).collect();
        files.sort();
        files
            .into_iter()
            .map(|(_, p)| {
                let raw = std::fs::read(p).unwrap();
                let m = mail_parser::MessageParser::default().parse(&raw).unwrap();
                let to = m.to().and_then(|a| a.first()).and_then(|a| a.address()).unwrap_or_default().to_owned();
                (to, m.subject().unwrap_or_default().to_owned(), m.body_text(0).unwrap_or_default().into_owned())
            })
            .collect()
    }

    /// The sign-in link in the last message to `to`.
    pub fn link_for(&self, to: &str) -> String {
        let (_, _, text) =
            self.received().into_iter().rev().find(|(t, _, _)| t == to).unwrap_or_else(|| panic!("no mail to {to}"));
        text.split_whitespace().find(|w| w.starts_with("http")).expect("a link in the mail").to_owned()
    }
}

/// The portal of one shop: Ann and Bob are customers with cases, orders and invoices; the
/// server and its SMTP server run until dropped.
pub struct Portal {
    pub base: String,
    pub crm: Crm,
    pub tenant: TenantId,
    pub smtp: Smtp,
    pub ann: Contact,
    pub bob: Contact,
    pub ann_case: Case,
    pub bob_case: Case,
    _dir: tempfile::TempDir,
    _server: crate::Served,
}

/// 32 bytes the tests sign sessions with.
const SECRET: &[u8] = b"the portal tests' secret, 32+ bytes long";

pub async fn portal() -> Portal {
    let dir = tempfile::tempdir().unwrap();
    let smtp = Smtp::start(dir.path());
    let crm = crm::sqlite(dir.path().join("crm.db")).await.unwrap();
    let tenant = TenantId::new();
    let desk = crm.as_actor(&Actor::system(tenant));
    let ann = desk.contacts().create(NewContact::new("Ann", "Lee").email("ann@example.com")).await.unwrap();
    let bob = desk.contacts().create(NewContact::new("Bob", "Ray").email("bob@example.com")).await.unwrap();
    let case = |who: ContactId, s: &str| NewCase::new(s, CaseType::Problem, CaseChannel::Email).contact(who);
    let ann_case = desk.cases().open(case(ann.id, "Kettle leaks").description("Water under it")).await.unwrap();
    let bob_case = desk.cases().open(case(bob.id, "Wrong colour delivered")).await.unwrap();
    desk.cases().reply(ann_case.id, NewReply::new("Is the lid closed?").awaiting_customer()).await.unwrap();
    desk.cases().reply(ann_case.id, NewReply::new("Batch 7 leaks, replace it").internal()).await.unwrap();
    let eur = |a: &str| Money::new(a.parse().unwrap(), Currency::EUR);
    for (who, item) in [(ann.id, "Kettle KX-200"), (bob.id, "Teapot T-9")] {
        let order =
            desk.orders().create(NewOrder::for_contact(who).line(LineItem::new(item, 1.into(), eur("40")))).await;
        desk.orders().place(order.unwrap().id).await.unwrap();
        let invoice = NewInvoice::for_contact(who).line(LineItem::new(item, 1.into(), eur("40")));
        let invoice = desk.invoices().create(invoice).await.unwrap();
        desk.invoices().send(invoice.id).await.unwrap();
    }

    let sender = SmtpSender::new(&SmtpConfig::new("127.0.0.1").with_port(smtp.port).security(Security::None)).unwrap();
    let from = Address::new("Acme support", "support@acme.example").unwrap();
    let (base, server) = crate::serve(&crm, |base| {
        let portal = crm_server::PortalOptions::new(tenant, &format!("{base}/portal"), SECRET, sender, from).unwrap();
        crm_server::Options::default().portal(portal.brand("Acme Kettles"))
    })
    .await;
    Portal { base, crm, tenant, smtp, ann, bob, ann_case, bob_case, _dir: dir, _server: server }
}

impl Portal {
    pub fn url(&self, path: &str) -> String {
        format!("{}/portal{path}", self.base)
    }

    /// The business's own session.
    pub fn desk(&self) -> Session {
        self.crm.as_actor(&Actor::system(self.tenant))
    }
}
