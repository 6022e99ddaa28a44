//! Signing in and out: asking for a link by email, the link's page, and its button.

use axum::Form;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::SignedCookieJar;
use crm::actor::Actor;
use crm::error::Error;
use crm::integrations::email::{Address, OutgoingEmail};
use crm::service::{LinkRequest, SIGN_IN_LINK_TTL, SignInLink};
use serde::Deserialize;

use super::PortalState;
use super::pages::{Chrome, Page};
use super::session::{SignedIn, Ticket, removal};

/// The sign-in form.
#[derive(askama::Template)]
#[template(path = "portal/sign_in.html")]
struct SignInPage {
    chrome: Chrome,
    email: String,
    error: Option<String>,
}

/// Told after asking, whoever asked.
#[derive(askama::Template)]
#[template(path = "portal/sent.html")]
struct SentPage {
    chrome: Chrome,
    email: String,
    minutes: i64,
}

/// A link opened: one button signs in.
#[derive(askama::Template)]
#[template(path = "portal/link.html")]
struct LinkPage {
    chrome: Chrome,
    token: String,
}

#[derive(Deserialize)]
pub(crate) struct AskForm {
    #[serde(default)]
    email: String,
}

#[derive(Deserialize)]
pub(crate) struct TokenForm {
    #[serde(default)]
    token: String,
}

#[derive(Deserialize)]
pub(crate) struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

/// `GET /sign-in`.
pub(crate) async fn form(State(st): State<PortalState>) -> Page {
    Page::render(StatusCode::OK, &SignInPage { chrome: Chrome::guest(&st), email: String::new(), error: None })
}

/// `POST /sign-in`: issues a link for the address and mails it. The page that follows is the
/// same whether the address is a customer's or not.
pub(crate) async fn ask(State(st): State<PortalState>, Form(f): Form<AskForm>) -> Page {
    let system = st.crm.as_actor(&Actor::system(st.opts.tenant));
    let email = f.email.trim().to_owned();
    match system.portal().issue_link(&email).await {
        Ok(LinkRequest::Issued(link)) => {
            if let Err(e) = send_link(&st, &link).await {
                tracing::error!(error = %e, contact = %link.contact.id, "a sign-in link was not sent");
                return Page::message(
                    &st,
                    StatusCode::SERVICE_UNAVAILABLE,
                    "The email could not be sent",
                    "Please try again in a few minutes.",
                );
            }
        }
        Ok(LinkRequest::Unknown) => tracing::info!("a sign-in link was asked for an unknown address"),
        Ok(LinkRequest::TooMany { retry_at }) => {
            tracing::info!(%retry_at, "a sign-in link was asked for while the customer holds too many");
        }
        Err(Error::Validation(_)) => {
            let error = Some("That is not an email address.".to_owned());
            return Page::render(StatusCode::BAD_REQUEST, &SignInPage { chrome: Chrome::guest(&st), email, error });
        }
        Err(e) => return Page::failure(&st, &e),
    }
    let minutes = SIGN_IN_LINK_TTL.num_minutes();
    Page::render(StatusCode::OK, &SentPage { chrome: Chrome::guest(&st), email, minutes })
}

/// Mails `link` to the address it was asked for.
async fn send_link(st: &PortalState, link: &SignInLink) -> crm::integrations::Result<()> {
    let opts = &st.opts;
    let domain = opts.from.email.rsplit_once('@').map_or("localhost", |(_, d)| d);
    let url = format!("{}/link?token={}", opts.base_url, link.token);
    let name = link.contact.given_name.trim();
    let greeting = if name.is_empty() { "Hello,".to_owned() } else { format!("Hello {name},") };
    let text = format!(
        "{greeting}\n\nOpen this link to sign in to {brand}:\n\n{url}\n\nIt works once, within {minutes} minutes. \
         If you did not ask for it, you can ignore this email.\n",
        brand = opts.brand,
        minutes = SIGN_IN_LINK_TTL.num_minutes(),
    );
    let email = OutgoingEmail {
        from: opts.from.clone(),
        to: vec![Address::new(link.contact.full_name(), link.email.as_str())?],
        cc: Vec::new(),
        reply_to: None,
        subject: format!("Your sign-in link for {}", opts.brand),
        text,
        html: None,
        message_id: format!("{}@{domain}", uuid::Uuid::now_v7().simple()),
        in_reply_to: None,
        references: Vec::new(),
    };
    email.check()?;
    opts.sender.send(&email).await.map(|_| ())
}

/// `GET /link?token=…`: the page of a link, whose button signs in (opening it uses nothing up).
pub(crate) async fn link_page(State(st): State<PortalState>, Query(q): Query<TokenForm>) -> Page {
    if q.token.trim().is_empty() {
        return invalid_link(&st);
    }
    Page::render(StatusCode::OK, &LinkPage { chrome: Chrome::guest(&st), token: q.token })
}

/// `POST /link`: uses the link up and starts a session.
pub(crate) async fn redeem(
    State(st): State<PortalState>,
    jar: SignedCookieJar,
    Form(f): Form<TokenForm>,
) -> Result<(SignedCookieJar, Redirect), Page> {
    let cx = match st.crm.sign_in_customer(&f.token).await {
        Ok(cx) if cx.tenant() == st.opts.tenant => cx,
        Ok(_) | Err(Error::Forbidden(_)) => return Err(invalid_link(&st)),
        Err(e) => return Err(Page::failure(&st, &e)),
    };
    let contact = cx.actor().customer_id().ok_or_else(|| invalid_link(&st))?;
    let ticket = Ticket::new(st.opts.tenant, contact, cx.now() + st.opts.session_ttl)
        .ok_or_else(|| Page::message(&st, StatusCode::SERVICE_UNAVAILABLE, "Please try again", "No session now."))?;
    let jar = jar.add(ticket.cookie(&st.opts.path, st.opts.secure));
    Ok((jar, Redirect::to(&st.opts.path)))
}

fn invalid_link(st: &PortalState) -> Page {
    Page::message(
        st,
        StatusCode::FORBIDDEN,
        "This link does not work any more",
        "Sign-in links work once, for a short time. Ask for a new one.",
    )
}

/// `POST /sign-out`.
pub(crate) async fn sign_out(
    State(st): State<PortalState>,
    me: SignedIn,
    jar: SignedCookieJar,
    Form(f): Form<CsrfForm>,
) -> Response {
    if let Err(page) = me.check_form(&f.csrf, &st) {
        return page.into_response();
    }
    let jar = jar.remove(removal(&st.opts.path));
    (jar, Redirect::to(&format!("{}/sign-in", st.opts.path))).into_response()
}
