//! The customer self-service portal: a customer signs in with a one-time link sent to their
//! email address and sees their own cases, orders and invoices, opens cases and replies to
//! them. Server-rendered pages (askama templates), no JavaScript; every read and write goes
//! through a customer session ([`Actor::customer`]), so the library's access rules decide what
//! a customer reaches.
//!
//! | | |
//! |---|---|
//! | `GET  {path}/sign-in`, `POST {path}/sign-in` | asks for a link by email address |
//! | `GET  {path}/link?token=…`, `POST {path}/link` | the link's page, and signing in with it |
//! | `GET  {path}/` | the customer's cases, orders and invoices |
//! | `GET  {path}/cases/new`, `POST {path}/cases` | opens a case |
//! | `GET  {path}/cases/{id}`, `POST {path}/cases/{id}/replies` | a case and its conversation; replying |
//! | `GET  {path}/invoices/{id}` | an invoice, line by line, with what is left to pay |
//! | `POST {path}/sign-out` | signs out |
//!
//! Opening a link only shows a button: signing in is the button's `POST`, so that mail
//! scanners that fetch links do not use them up. The session is a signed, `HttpOnly`,
//! `SameSite=Lax` cookie (`Secure` when the portal's address is `https`); every form posted in
//! a session carries the session's own anti-forgery token.

mod pages;
mod session;
mod sign_in;

use std::sync::Arc;

use axum::Router;
use axum::extract::FromRef;
use axum::routing::{get, post};
use axum_extra::extract::cookie::Key;
use crm::chrono::Duration;
use crm::ids::TenantId;
use crm::integrations::email::{Address, EmailSender};
use crm::service::Crm;

/// What the portal needs: whose it is, where it is, how it signs sessions and sends links.
///
/// ```no_run
/// # fn run(crm: crm::service::Crm, tenant: crm::ids::TenantId, secret: &[u8]) -> Result<(), Box<dyn std::error::Error>> {
/// use crm::integrations::email::{Address, SmtpConfig, SmtpSender};
/// let smtp = SmtpSender::new(&SmtpConfig::new("smtp.acme.example"))?;
/// let portal = crm_server::PortalOptions::new(
///     tenant,
///     "https://support.acme.example/portal",
///     secret, // at least 32 random bytes, the same on every server
///     smtp,
///     Address::new("Acme support", "support@acme.example")?,
/// )?
/// .brand("Acme");
/// let app = crm_server::router_with(crm, &crm_server::Options::default().portal(portal));
/// # let _ = app; Ok(()) }
/// ```
#[derive(Clone)]
pub struct PortalOptions {
    pub(crate) tenant: TenantId,
    /// The portal's public address (its links point there), without a trailing `/`.
    pub(crate) base_url: String,
    /// The path it is served under (`/portal`).
    pub(crate) path: String,
    pub(crate) secure: bool,
    pub(crate) key: Key,
    pub(crate) sender: Arc<dyn EmailSender>,
    pub(crate) from: Address,
    pub(crate) brand: String,
    pub(crate) session_ttl: Duration,
}

impl std::fmt::Debug for PortalOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PortalOptions")
            .field("tenant", &self.tenant)
            .field("base_url", &self.base_url)
            .field("brand", &self.brand)
            .finish_non_exhaustive()
    }
}

/// A portal setting that cannot work.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("portal `{field}`: {reason}")]
pub struct PortalConfigError {
    /// The setting.
    pub field: &'static str,
    /// What is wrong with it.
    pub reason: String,
}

/// The largest form posted to the portal (64 KiB): a reply is at most 20,000 characters.
pub(crate) const MAX_FORM: usize = 64 << 10;

/// Paths of the API the portal may not be served under.
const TAKEN: &[&str] = &["/v1", "/openapi.json", "/docs", "/metrics"];

impl PortalOptions {
    /// The portal of `tenant`, reached at `base_url` (`https://support.acme.example/portal`:
    /// served under its path, which must not be `/` nor one of the API's), signing sessions
    /// with a key derived from `secret` (at least 32 bytes), sending sign-in links through
    /// `sender` from `from`. Sessions last 8 hours; pages are titled "Customer portal".
    pub fn new(
        tenant: TenantId,
        base_url: &str,
        secret: &[u8],
        sender: impl EmailSender,
        from: Address,
    ) -> Result<Self, PortalConfigError> {
        let bad = |field, reason: &str| PortalConfigError { field, reason: reason.to_owned() };
        let url = url::Url::parse(base_url).map_err(|e| bad("base_url", &format!("not an address: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") || url.query().is_some() || url.fragment().is_some() {
            return Err(bad("base_url", "an http(s) address without query or fragment"));
        }
        let path = url.path().trim_end_matches('/').to_owned();
        if path.is_empty() || TAKEN.iter().any(|t| path == *t || path.starts_with(&format!("{t}/"))) {
            return Err(bad("base_url", "its path must be the portal's own, such as /portal"));
        }
        if secret.len() < 32 {
            return Err(bad("secret", "at least 32 bytes, random"));
        }
        Ok(PortalOptions {
            tenant,
            base_url: url.as_str().trim_end_matches('/').to_owned(),
            path,
            secure: url.scheme() == "https",
            key: Key::derive_from(secret),
            sender: Arc::new(sender),
            from,
            brand: "Customer portal".to_owned(),
            session_ttl: Duration::hours(8),
        })
    }

    /// The name shown on the pages and in the emails (the business's).
    pub fn brand(mut self, brand: impl Into<String>) -> Self {
        self.brand = brand.into();
        self
    }

    /// How long a session lasts after signing in (8 hours by default).
    pub fn session_ttl(mut self, ttl: std::time::Duration) -> Self {
        self.session_ttl = Duration::from_std(ttl).unwrap_or(Duration::hours(8));
        self
    }

    /// The path the portal is served under.
    pub fn path(&self) -> &str {
        &self.path
    }
}

/// What the portal's handlers share.
#[derive(Clone)]
pub(crate) struct PortalState {
    pub(crate) crm: Crm,
    pub(crate) opts: Arc<PortalOptions>,
}

impl FromRef<PortalState> for Key {
    fn from_ref(s: &PortalState) -> Key {
        s.opts.key.clone()
    }
}

/// The portal's routes, to be nested under [`PortalOptions::path`].
pub(crate) fn router(crm: Crm, opts: PortalOptions) -> Router {
    Router::new()
        .route("/", get(pages::home))
        .route("/sign-in", get(sign_in::form).post(sign_in::ask))
        .route("/link", get(sign_in::link_page).post(sign_in::redeem))
        .route("/sign-out", post(sign_in::sign_out))
        .route("/cases/new", get(pages::new_case))
        .route("/cases", post(pages::open_case))
        .route("/cases/{id}", get(pages::case))
        .route("/cases/{id}/replies", post(pages::reply))
        .route("/invoices/{id}", get(pages::invoice))
        .fallback(pages::not_found)
        .with_state(PortalState { crm, opts: Arc::new(opts) })
}
