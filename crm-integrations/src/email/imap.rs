//! Mailbox sync over IMAP: new messages fetched by UID and filed through [`Inbox`], resumable.
//!
//! Per mailbox the CRM keeps the server's `UIDVALIDITY` and the highest UID filed (a
//! [`SyncState`](crm_core::model::SyncState), compare-and-set), so each run fetches only what is new;
//! when the server's `UIDVALIDITY` changes, the mailbox is read again from the start and the
//! per-Message-ID dedupe keeps it from filing anything twice.

use std::sync::Arc;
use std::time::Duration;

use async_imap::Client;
use crm_core::service::Session;
use futures_util::StreamExt;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use secrecy::{ExposeSecret, SecretString};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use super::inbound::{Filed, Inbox, MAX_MESSAGE_BYTES};
use crate::error::{IntegrationError, Result};

const SYSTEM: &str = "imap";

/// How the connection is protected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ImapSecurity {
    /// Implicit TLS (IMAPS, port 993): the default.
    Tls,
    /// No encryption: only for servers on loopback or a trusted network.
    Plain,
}

/// How to log in.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum ImapAuth {
    /// `LOGIN` with a password.
    Password(SecretString),
    /// `AUTHENTICATE XOAUTH2` with an OAuth2 access token (Gmail, Microsoft 365).
    XOAuth2(SecretString),
}

/// One mailbox to sync.
#[derive(Clone, Debug)]
pub struct ImapConfig {
    /// Server host.
    pub host: String,
    /// Port (default 993 for TLS, 143 plain).
    pub port: Option<u16>,
    /// TLS or plain.
    pub security: ImapSecurity,
    /// The name the server's certificate must have (default: `host`).
    pub tls_server_name: Option<String>,
    /// Extra trusted root certificates (PEM), besides the public web roots.
    pub root_certificates_pem: Vec<Vec<u8>>,
    /// Login name.
    pub username: String,
    /// Password or token.
    pub auth: ImapAuth,
    /// The folder (default `INBOX`).
    pub mailbox: String,
    /// Messages fetched per round trip (default 50); the state is saved after each batch.
    pub batch: u32,
    /// Timeout of each network step (default 60 s).
    pub timeout: Duration,
}

impl ImapConfig {
    /// `INBOX` of `username` at `host` over TLS.
    pub fn new(host: impl Into<String>, username: impl Into<String>, auth: ImapAuth) -> Self {
        ImapConfig {
            host: host.into(),
            port: None,
            security: ImapSecurity::Tls,
            tls_server_name: None,
            root_certificates_pem: Vec::new(),
            username: username.into(),
            auth,
            mailbox: "INBOX".into(),
            batch: 50,
            timeout: Duration::from_secs(60),
        }
    }

    /// Another port.
    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// Another protection.
    pub fn security(mut self, security: ImapSecurity) -> Self {
        self.security = security;
        self
    }

    /// Another folder.
    pub fn mailbox(mut self, mailbox: impl Into<String>) -> Self {
        self.mailbox = mailbox.into();
        self
    }

    /// Trusts an extra root certificate (PEM).
    pub fn add_root_certificate_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.root_certificates_pem.push(pem.into());
        self
    }

    /// The name the certificate must carry.
    pub fn tls_server_name(mut self, name: impl Into<String>) -> Self {
        self.tls_server_name = Some(name.into());
        self
    }

    /// The key of this mailbox's sync state.
    pub fn state_key(&self) -> String {
        format!("imap:{}@{}/{}", self.username, self.host, self.mailbox)
    }
}

/// What one sync of a mailbox did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MailboxReport {
    /// Messages filed on contacts or companies.
    pub matched: u64,
    /// Messages filed onto the review list.
    pub unmatched: u64,
    /// Messages already filed (same Message-ID).
    pub duplicates: u64,
    /// Messages not filed because they are from a person erased at their request.
    pub blocked: u64,
    /// Messages that could not be filed (not mail, too large), with their UID and why; they
    /// are not fetched again.
    pub failed: Vec<(u32, String)>,
    /// The mailbox's `UIDVALIDITY`.
    pub uid_validity: u32,
    /// The highest UID handled.
    pub last_uid: u32,
    /// Whether `UIDVALIDITY` had changed since the last run, so the mailbox was read again.
    pub resynced: bool,
}

struct XOAuth2<'a> {
    user: &'a str,
    token: &'a str,
}

impl async_imap::Authenticator for XOAuth2<'_> {
    type Response = String;
    fn process(&mut self, _challenge: &[u8]) -> String {
        format!("user={}\x01auth=Bearer {}\x01\x01", self.user, self.token)
    }
}

fn remote(message: impl std::fmt::Display, transient: bool) -> IntegrationError {
    IntegrationError::Remote { system: SYSTEM, message: message.to_string(), transient }
}

/// What a `UID FETCH` returned per requested UID: the body, if asked and sent, and the size.
/// Responses for UIDs not asked for (unsolicited flag updates) are ignored; several responses
/// for one UID are merged.
async fn fetch<S>(
    session: &mut async_imap::Session<S>,
    set: &str,
    query: &str,
    wanted: &[u32],
    t: Duration,
) -> Result<std::collections::BTreeMap<u32, (Option<Vec<u8>>, Option<u32>)>>
where
    S: AsyncRead + AsyncWrite + Unpin + std::fmt::Debug + Send,
{
    let mut out: std::collections::BTreeMap<u32, (Option<Vec<u8>>, Option<u32>)> = Default::default();
    let mut fetches = tokio::time::timeout(t, session.uid_fetch(set, query))
        .await
        .map_err(|_| remote("UID FETCH timed out", true))?
        .map_err(|e| remote(format!("UID FETCH: {e}"), true))?;
    while let Some(item) = tokio::time::timeout(t, fetches.next()).await.map_err(|_| remote("FETCH timed out", true))? {
        let f = item.map_err(|e| remote(format!("FETCH: {e}"), true))?;
        let Some(uid) = f.uid.filter(|u| wanted.contains(u)) else { continue };
        let entry = out.entry(uid).or_default();
        if entry.0.is_none() {
            entry.0 = f.body().map(<[u8]>::to_vec);
        }
        entry.1 = entry.1.or(f.size);
    }
    Ok(out)
}

/// Syncs one mailbox into a tenant, filing messages through an [`Inbox`].
///
/// ```no_run
/// # async fn demo(cx: crm_core::service::Session) -> Result<(), crm_integrations::IntegrationError> {
/// use crm_integrations::email::{ImapAuth, ImapConfig, Inbox, MailboxSync};
/// let password = ImapAuth::Password(std::env::var("IMAP_PASSWORD").unwrap_or_default().into());
/// let sync = MailboxSync::new(
///     ImapConfig::new("imap.example.com", "sales@example.com", password),
///     Inbox::new(["sales@example.com"])?,
/// )?;
/// let report = sync.sync(&cx).await?; // again on a schedule: it continues after the last UID
/// println!("{} filed, {} for review", report.matched, report.unmatched);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct MailboxSync {
    config: ImapConfig,
    inbox: Inbox,
}

impl MailboxSync {
    /// A sync of `config`'s mailbox, filing with `inbox` (whose own addresses mark outbound mail).
    pub fn new(config: ImapConfig, inbox: Inbox) -> Result<Self> {
        if config.host.trim().is_empty() {
            return Err(IntegrationError::invalid("host", "must not be empty"));
        }
        if config.username.trim().is_empty() {
            return Err(IntegrationError::invalid("username", "must not be empty"));
        }
        if config.mailbox.trim().is_empty() || config.mailbox.chars().any(|c| c.is_control() || c == '"') {
            return Err(IntegrationError::invalid(
                "mailbox",
                "must be a folder name without quotes or control characters",
            ));
        }
        if !(1..=1000).contains(&config.batch) {
            return Err(IntegrationError::invalid("batch", "must be 1–1000"));
        }
        Ok(MailboxSync { config, inbox })
    }

    /// Fetches every message newer than the last run and files it. Run it on a schedule (or
    /// after IDLE wakes you); it always continues where the last run stopped.
    pub async fn sync(&self, cx: &Session) -> Result<MailboxReport> {
        let c = &self.config;
        let port = c.port.unwrap_or(match c.security {
            ImapSecurity::Tls => 993,
            ImapSecurity::Plain => 143,
        });
        let tcp = tokio::time::timeout(c.timeout, TcpStream::connect((c.host.as_str(), port)))
            .await
            .map_err(|_| remote(format!("connecting to {}:{port} timed out", c.host), true))?
            .map_err(|e| remote(format!("connecting to {}:{port}: {e}", c.host), true))?;
        match c.security {
            ImapSecurity::Plain => self.session(cx, tcp).await,
            ImapSecurity::Tls => {
                let tls = self.tls_connector()?;
                let name = c.tls_server_name.clone().unwrap_or_else(|| c.host.clone());
                let name = ServerName::try_from(name.clone()).map_err(|_| {
                    IntegrationError::invalid("tls_server_name", format!("`{name}` is not a host name"))
                })?;
                let stream = tokio::time::timeout(c.timeout, tls.connect(name, tcp))
                    .await
                    .map_err(|_| remote("TLS handshake timed out", true))?
                    .map_err(|e| remote(format!("TLS: {e}"), false))?;
                self.session(cx, stream).await
            }
        }
    }

    fn tls_connector(&self) -> Result<tokio_rustls::TlsConnector> {
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        for (i, pem) in self.config.root_certificates_pem.iter().enumerate() {
            for cert in CertificateDer::pem_slice_iter(pem) {
                let cert =
                    cert.map_err(|e| IntegrationError::invalid(format!("root_certificates_pem[{i}]"), e.to_string()))?;
                roots
                    .add(cert)
                    .map_err(|e| IntegrationError::invalid(format!("root_certificates_pem[{i}]"), e.to_string()))?;
            }
        }
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| IntegrationError::invalid("tls", e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
    }

    async fn session<S>(&self, cx: &Session, stream: S) -> Result<MailboxReport>
    where
        S: AsyncRead + AsyncWrite + Unpin + std::fmt::Debug + Send,
    {
        let c = &self.config;
        let t = c.timeout;
        let mut client = Client::new(stream);
        match tokio::time::timeout(t, client.read_response()).await {
            Ok(Ok(Some(_greeting))) => {}
            Ok(Ok(None)) => return Err(remote("the server closed the connection before greeting", true)),
            Ok(Err(e)) => return Err(remote(format!("greeting: {e}"), true)),
            Err(_) => return Err(remote("no greeting", true)),
        }
        let login = match &c.auth {
            ImapAuth::Password(p) => tokio::time::timeout(t, client.login(&c.username, p.expose_secret())).await,
            ImapAuth::XOAuth2(token) => {
                let auth = XOAuth2 { user: &c.username, token: token.expose_secret() };
                tokio::time::timeout(t, client.authenticate("XOAUTH2", auth)).await
            }
        };
        let mut session = match login {
            Ok(Ok(s)) => s,
            // The server's words, never the password or token.
            Ok(Err((e, _))) => {
                return Err(IntegrationError::Auth {
                    system: SYSTEM,
                    message: format!("login as {} refused: {e}", c.username),
                });
            }
            Err(_) => return Err(remote("login timed out", true)),
        };
        let mailbox = tokio::time::timeout(t, session.select(&c.mailbox))
            .await
            .map_err(|_| remote("SELECT timed out", true))?
            .map_err(|e| remote(format!("SELECT {}: {e}", c.mailbox), false))?;
        let uid_validity = mailbox.uid_validity.ok_or_else(|| remote("the server gave no UIDVALIDITY", false))?;

        let key = c.state_key();
        let saved = cx.sync().state(&key).await?;
        let mut version = saved.as_ref().map(|s| s.version);
        let stored = saved.as_ref().and_then(|s| {
            let v = s.value.get("uid_validity")?.as_u64()?;
            let last = s.value.get("last_uid")?.as_u64()?;
            Some((u32::try_from(v).ok()?, u32::try_from(last).ok()?))
        });
        let mut report = MailboxReport { uid_validity, ..MailboxReport::default() };
        let mut last = match stored {
            Some((v, last)) if v == uid_validity => last,
            Some(_) => {
                report.resynced = true;
                0
            }
            None => 0,
        };
        loop {
            // `n:*` returns the newest message even when its UID is below n: filter by UID.
            let range = format!("{}:*", last.saturating_add(1));
            let mut uids: Vec<u32> = {
                let search = tokio::time::timeout(t, session.uid_search(format!("UID {range}")))
                    .await
                    .map_err(|_| remote("UID SEARCH timed out", true))?
                    .map_err(|e| remote(format!("UID SEARCH: {e}"), true))?;
                search.into_iter().filter(|u| *u > last).collect()
            };
            uids.sort_unstable();
            if uids.is_empty() {
                break;
            }
            uids.truncate(c.batch as usize);
            let set = uids.iter().map(u32::to_string).collect::<Vec<_>>().join(",");
            // Sizes first: a message over the limit is never downloaded.
            let sizes = fetch(&mut session, &set, "(UID RFC822.SIZE)", &uids, t).await?;
            let small: Vec<u32> = uids
                .iter()
                .copied()
                .filter(|u| sizes.get(u).and_then(|f| f.1).is_none_or(|n| (n as usize) <= MAX_MESSAGE_BYTES))
                .collect();
            let bodies = if small.is_empty() {
                Default::default()
            } else {
                let set = small.iter().map(u32::to_string).collect::<Vec<_>>().join(",");
                fetch(&mut session, &set, "(UID BODY.PEEK[])", &small, t).await?
            };
            for uid in uids {
                let size = sizes.get(&uid).and_then(|f| f.1).unwrap_or(0);
                match bodies.get(&uid).and_then(|f| f.0.as_deref()) {
                    _ if size as usize > MAX_MESSAGE_BYTES => {
                        report.failed.push((uid, format!("{size} bytes is over the {MAX_MESSAGE_BYTES}-byte limit")));
                    }
                    None => report.failed.push((uid, "the server sent no body".into())),
                    Some(raw) => match self.inbox.file(cx, raw).await {
                        Ok(Filed::Matched(_)) => report.matched += 1,
                        Ok(Filed::Unmatched(_)) => report.unmatched += 1,
                        Ok(Filed::Duplicate(_)) => report.duplicates += 1,
                        Ok(Filed::Blocked) => report.blocked += 1,
                        Err(IntegrationError::Invalid { field, reason }) => {
                            report.failed.push((uid, format!("{field}: {reason}")))
                        }
                        Err(e) => return Err(e),
                    },
                }
                last = uid;
            }
            // Saved per batch: a run stopped half-way resumes after the last batch filed.
            let value = serde_json::json!({"uid_validity": uid_validity, "last_uid": last});
            version = Some(cx.sync().put_state(&key, value, version).await?.version);
        }
        report.last_uid = last;
        if stored.is_none() || report.resynced {
            let value = serde_json::json!({"uid_validity": uid_validity, "last_uid": last});
            if saved.as_ref().map(|s| s.version) == version {
                cx.sync().put_state(&key, value, version).await?;
            }
        }
        let _ = tokio::time::timeout(t, session.logout()).await;
        Ok(report)
    }
}
