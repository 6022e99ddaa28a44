//! A signed-in customer's session: the signed cookie that carries it, the extractor that turns
//! it into a customer [`Session`], and the anti-forgery token every form posts back.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::SignedCookieJar;
use axum_extra::extract::cookie::{Cookie, Key, SameSite};
use crm::actor::Actor;
use crm::chrono::{DateTime, Utc};
use crm::ids::{ContactId, TenantId};
use crm::service::Session;

use super::PortalState;
use super::pages::Page;

/// The session cookie's name.
pub(crate) const COOKIE: &str = "crm_portal";

/// What the session cookie says (signed by the server: it cannot be forged or altered).
pub(crate) struct Ticket {
    pub(crate) tenant: TenantId,
    pub(crate) contact: ContactId,
    pub(crate) expires_at: DateTime<Utc>,
    /// The anti-forgery token of this session's forms.
    pub(crate) csrf: String,
}

impl Ticket {
    /// A new session for `contact` until `expires_at`, with a fresh anti-forgery token.
    pub(crate) fn new(tenant: TenantId, contact: ContactId, expires_at: DateTime<Utc>) -> Option<Ticket> {
        let mut random = [0u8; 24];
        getrandom::fill(&mut random).ok()?;
        Some(Ticket { tenant, contact, expires_at, csrf: hex::encode(random) })
    }

    fn encode(&self) -> String {
        format!(
            "{}~{}~{}~{}",
            self.tenant.as_uuid().simple(),
            self.contact.as_uuid().simple(),
            self.expires_at.timestamp(),
            self.csrf
        )
    }

    fn decode(s: &str) -> Option<Ticket> {
        let mut parts = s.split('~');
        let tenant = TenantId::from_uuid(parts.next()?.parse().ok()?);
        let contact = ContactId::from_uuid(parts.next()?.parse().ok()?);
        let expires_at = DateTime::from_timestamp(parts.next()?.parse().ok()?, 0)?;
        let csrf = parts.next()?.to_owned();
        (parts.next().is_none() && csrf.len() == 48).then_some(Ticket { tenant, contact, expires_at, csrf })
    }

    /// The cookie carrying it, for a portal under `path`.
    pub(crate) fn cookie(&self, path: &str, secure: bool) -> Cookie<'static> {
        // No Max-Age: the cookie ends with the browser session, or earlier with the ticket.
        Cookie::build((COOKIE, self.encode()))
            .path(path.to_owned())
            .http_only(true)
            .secure(secure)
            .same_site(SameSite::Lax)
            .build()
    }
}

/// The cookie that ends a session under `path` (empty, expired).
pub(crate) fn removal(path: &str) -> Cookie<'static> {
    let mut c = Cookie::build((COOKIE, "")).path(path.to_owned()).build();
    c.make_removal();
    c
}

/// A signed-in customer: their session with the CRM and the token their forms must carry.
/// Without a valid session cookie the request is sent to the sign-in page.
pub(crate) struct SignedIn {
    pub(crate) cx: Session,
    pub(crate) csrf: String,
}

impl SignedIn {
    /// Refuses a form whose anti-forgery token is not this session's.
    pub(crate) fn check_form(&self, token: &str, state: &PortalState) -> Result<(), Page> {
        let same = token.len() == self.csrf.len()
            && token.bytes().zip(self.csrf.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0;
        match same {
            true => Ok(()),
            false => Err(Page::message(
                state,
                axum::http::StatusCode::FORBIDDEN,
                "This form has expired",
                "Go back, reload the page and send it again.",
            )),
        }
    }
}

impl FromRequestParts<PortalState> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &PortalState) -> Result<Self, Self::Rejection> {
        let to_sign_in = || Redirect::to(&format!("{}/sign-in", state.opts.path)).into_response();
        let jar = SignedCookieJar::<Key>::from_request_parts(parts, state).await.map_err(|e| match e {})?;
        let ticket = jar
            .get(COOKIE)
            .and_then(|c| Ticket::decode(c.value()))
            .filter(|t| t.tenant == state.opts.tenant && t.expires_at > Utc::now())
            .ok_or_else(to_sign_in)?;
        let cx = state.crm.as_actor(&Actor::customer(ticket.tenant, ticket.contact));
        Ok(SignedIn { cx, csrf: ticket.csrf })
    }
}
