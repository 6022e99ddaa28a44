//! What the email tests share: a throw-away SMTP server (aiosmtpd on loopback, started from
//! `tests/servers/smtp_server.py`, killed on drop) and a CRM on a fresh SQLite file.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crm_core::{actor::Actor, ids::TenantId, service::Crm, service::Session};
use crm_integrations::email::{Address, Mailer, Security, SmtpConfig, SmtpSender};
use crm_storage::SqlStore;

pub mod dovecot;

pub const USER: &str = "crm@acme.example";
pub const PASSWORD: &str = "s3cret";

/// aiosmtpd writing what it accepts to a Maildir.
pub struct SmtpServer {
    child: Child,
    pub port: u16,
    maildir: PathBuf,
    cert_pem: String,
    _dir: tempfile::TempDir,
}

impl SmtpServer {
    /// `mode`: `plain`, `starttls` or `tls`; with `auth`, only [`USER`]/[`PASSWORD`] may send.
    pub fn start(mode: &str, auth: bool) -> SmtpServer {
        Self::start_into(mode, auth, None)
    }

    /// [`start`](Self::start), delivering into `maildir` (e.g. a Dovecot user's INBOX) instead
    /// of a Maildir of its own. Files are written world-readable (umask 000) so a mail server
    /// running as another user can read them.
    pub fn start_into(mode: &str, auth: bool, maildir: Option<PathBuf>) -> SmtpServer {
        let dir = tempfile::tempdir().unwrap();
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let (cert_file, key_file) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
        std::fs::write(&cert_file, cert.cert.pem()).unwrap();
        std::fs::write(&key_file, cert.signing_key.serialize_pem()).unwrap();
        let maildir = maildir.unwrap_or_else(|| dir.path().join("maildir"));
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/servers/smtp_server.py");
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "umask 000; exec python3 \"$@\"", "sh"]);
        cmd.arg(&script).arg("--maildir").arg(&maildir).args(["--mode", mode]);
        cmd.arg("--tls-cert").arg(&cert_file).arg("--tls-key").arg(&key_file);
        if auth {
            cmd.args(["--user", USER, "--password", PASSWORD]);
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 runs tests/servers/smtp_server.py (scripts/test.sh installs aiosmtpd)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let port = line
            .strip_prefix("READY ")
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| panic!("the SMTP server did not start (is aiosmtpd installed?): {line:?}"));
        SmtpServer { child, port, maildir, cert_pem: cert.cert.pem(), _dir: dir }
    }

    /// A plain server without authentication.
    pub fn plain() -> SmtpServer {
        SmtpServer::start("plain", false)
    }

    /// How to reach it (`localhost`'s certificate trusted).
    pub fn config(&self, security: Security) -> SmtpConfig {
        SmtpConfig::new("127.0.0.1")
            .with_port(self.port)
            .security(security)
            .tls_server_name("localhost")
            .add_root_certificate_pem(self.cert_pem.clone())
    }

    /// A sender over plain SMTP.
    pub fn plain_sender(&self) -> SmtpSender {
        SmtpSender::new(&self.config(Security::None)).unwrap()
    }

    /// A mailer sending as `from` over plain SMTP.
    pub fn plain_mailer(&self, from: &str) -> Mailer {
        Mailer::new(self.plain_sender(), Address::bare(from).unwrap()).unwrap()
    }

    /// Every message the server accepted, raw, oldest first.
    pub fn received(&self) -> Vec<Vec<u8>> {
        let Ok(entries) = std::fs::read_dir(self.maildir.join("new")) else { return Vec::new() };
        let mut files: Vec<(std::time::SystemTime, PathBuf)> =
            entries.map(|e| e.unwrap()).map(|e| (e.metadata().unwrap().modified().unwrap(), e.path())).collect();
        files.sort();
        files.into_iter().map(|(_, p)| std::fs::read(p).unwrap()).collect()
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A session of a fresh tenant on a CRM over a new SQLite file in `dir`.
pub async fn sqlite_session(dir: &Path) -> Session {
    let store = SqlStore::sqlite(dir.join("crm.db").to_str().unwrap()).await.unwrap();
    let crm = Crm::builder(store).build().unwrap();
    crm.as_actor(&Actor::system(TenantId::from_uuid(uuid::Uuid::now_v7())))
}

/// Every committed event of the session's tenant.
pub async fn event_count(cx: &Session) -> usize {
    cx.events(&crm_core::event::EventQuery::after(0, 10_000)).await.unwrap().len()
}
