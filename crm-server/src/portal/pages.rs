//! The signed-in pages: the customer's records, a case with its conversation, opening a case
//! and replying; and how every page is rendered.

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use crm::chrono::{DateTime, NaiveDate, Utc};
use crm::error::Error;
use crm::ids::CaseId;
use crm::model::{Activity, Case, CaseChannel, CaseStatus, CaseType, Direction};
use crm::query::{Filter, Query};
use crm::service::{NewCase, NewReply};
use serde::Deserialize;

use super::PortalState;
use super::session::{SignedIn, removal};

/// The most records of each kind the home page lists.
const LISTED: usize = 50;

/// A rendered page with its status (boxed: pages travel in `Err`s).
pub(crate) struct Page(Box<Response>);

impl IntoResponse for Page {
    fn into_response(self) -> Response {
        *self.0
    }
}

impl Page {
    /// `template` rendered, answered with `status`. Pages are not cached nor framed.
    pub(crate) fn render(status: StatusCode, template: &impl Template) -> Page {
        match template.render() {
            Ok(html) => {
                let headers = [
                    (header::CACHE_CONTROL, "no-store"),
                    (header::X_FRAME_OPTIONS, "DENY"),
                    (
                        header::CONTENT_SECURITY_POLICY,
                        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
                    ),
                ];
                Page(Box::new((status, headers, Html(html)).into_response()))
            }
            Err(e) => {
                tracing::error!(error = %e, "a portal page did not render");
                Page(Box::new((StatusCode::INTERNAL_SERVER_ERROR, "The page could not be shown.").into_response()))
            }
        }
    }

    /// A page saying `title` and `text`.
    pub(crate) fn message(st: &PortalState, status: StatusCode, title: &str, text: &str) -> Page {
        let chrome = Chrome::guest(st);
        Page::render(status, &MessagePage { chrome, title: title.to_owned(), text: text.to_owned() })
    }

    /// The page for a call that failed unexpectedly (logged).
    pub(crate) fn failure(st: &PortalState, e: &Error) -> Page {
        match e {
            Error::NotFound { .. } => Page::message(st, StatusCode::NOT_FOUND, "Not found", "There is nothing here."),
            Error::Busy(_) => Page::message(st, StatusCode::SERVICE_UNAVAILABLE, "Busy", "Please try again shortly."),
            _ => {
                tracing::error!(error = %e, "a portal request failed");
                Page::message(st, StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong", "Please try again later.")
            }
        }
    }
}

/// What every page shows around its content.
pub(crate) struct Chrome {
    pub(crate) brand: String,
    /// The portal's path, which links start with.
    pub(crate) root: String,
    /// The session's anti-forgery token, when signed in (shows "Sign out").
    pub(crate) csrf: Option<String>,
}

impl Chrome {
    pub(crate) fn guest(st: &PortalState) -> Chrome {
        Chrome { brand: st.opts.brand.clone(), root: st.opts.path.clone(), csrf: None }
    }

    fn of(st: &PortalState, me: &SignedIn) -> Chrome {
        Chrome { csrf: Some(me.csrf.clone()), ..Chrome::guest(st) }
    }
}

#[derive(Template)]
#[template(path = "portal/message.html")]
struct MessagePage {
    chrome: Chrome,
    title: String,
    text: String,
}

/// One row of a table on the home page.
struct Row {
    link: Option<String>,
    cells: Vec<String>,
    status: String,
}

#[derive(Template)]
#[template(path = "portal/home.html")]
struct HomePage {
    chrome: Chrome,
    name: String,
    cases: Vec<Row>,
    orders: Vec<Row>,
    invoices: Vec<Row>,
}

#[derive(Template)]
#[template(path = "portal/case.html")]
struct CasePage {
    chrome: Chrome,
    case: Case,
    opened: String,
    status: String,
    messages: Vec<Message>,
    /// Whether it still takes the customer's replies (a closed case does not).
    can_reply: bool,
    error: Option<String>,
    draft: String,
}

/// One entry of a case's conversation.
struct Message {
    from: String,
    mine: bool,
    at: String,
    body: String,
}

#[derive(Template)]
#[template(path = "portal/invoice.html")]
struct InvoicePage {
    chrome: Chrome,
    number: String,
    issued: String,
    due: String,
    status: String,
    /// Item, quantity, unit price, discount, tax rate, amount.
    lines: Vec<[String; 6]>,
    subtotal: String,
    tax: String,
    total: String,
    to_pay: String,
}

#[derive(Template)]
#[template(path = "portal/new_case.html")]
struct NewCasePage {
    chrome: Chrome,
    types: Vec<Choice>,
    subject: String,
    description: String,
    errors: Vec<String>,
}

/// One option of a select.
struct Choice {
    value: &'static str,
    label: &'static str,
    selected: bool,
}

/// What a customer may open a case about (returns go through the business: they need the product).
const CASE_TYPES: &[(&str, &str)] = &[
    ("question", "A question"),
    ("problem", "Something does not work"),
    ("complaint", "A complaint"),
    ("feature_request", "A suggestion"),
];

fn when(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

fn day(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

/// How a status reads: `pending_customer` → "pending customer".
fn status_text(s: &str) -> String {
    s.replace('_', " ")
}

/// Answers a call of a signed-in customer that failed: a customer no longer known is signed out.
fn failed(st: &PortalState, e: &Error) -> Response {
    match e {
        Error::Forbidden(_) => {
            let mut res = Redirect::to(&format!("{}/sign-in", st.opts.path)).into_response();
            if let Ok(clear) = header::HeaderValue::from_str(&removal(&st.opts.path).to_string()) {
                res.headers_mut().append(header::SET_COOKIE, clear);
            }
            res
        }
        _ => Page::failure(st, e).into_response(),
    }
}

/// `GET /`: the customer's cases, orders and invoices, newest first.
pub(crate) async fn home(State(st): State<PortalState>, me: SignedIn) -> Response {
    match home_page(&st, &me).await {
        Ok(page) => page.into_response(),
        Err(e) => failed(&st, &e),
    }
}

async fn home_page(st: &PortalState, me: &SignedIn) -> crm::error::Result<Page> {
    let cx = &me.cx;
    let contact = match cx.actor().customer_id() {
        Some(id) => cx.contacts().get(id).await?,
        None => return Err(Error::Forbidden("not a customer".into())),
    };
    let newest = |field: &str| Query::new(Filter::All).sort_desc(field).limit(LISTED);
    let root = &st.opts.path;
    let cases = cx.cases().list(&newest("opened_at")).await?.items.into_iter().map(|c| Row {
        link: Some(format!("{root}/cases/{}", c.id)),
        cells: vec![c.subject.clone(), when(c.opened_at)],
        status: status_text(c.status.as_str()),
    });
    let orders = cx.orders().list(&newest("updated_at")).await?.items.into_iter().map(|o| Row {
        link: None,
        cells: vec![o.number.clone(), o.placed_at.map(when).unwrap_or_default(), o.total.to_string()],
        status: status_text(o.status.as_str()),
    });
    let invoices = cx.invoices().list(&newest("updated_at")).await?.items.into_iter().map(|i| Row {
        link: Some(format!("{root}/invoices/{}", i.id)),
        cells: vec![
            i.number.clone(),
            day(i.issue_date),
            day(i.due_date),
            i.total.to_string(),
            i.balance_due().to_string(),
        ],
        status: status_text(i.status.as_str()),
    });
    Ok(Page::render(
        StatusCode::OK,
        &HomePage {
            chrome: Chrome::of(st, me),
            name: contact.full_name(),
            cases: cases.collect(),
            orders: orders.collect(),
            invoices: invoices.collect(),
        },
    ))
}

/// `GET /invoices/{id}`: one invoice of theirs, line by line.
pub(crate) async fn invoice(State(st): State<PortalState>, me: SignedIn, Path(raw): Path<String>) -> Response {
    let Ok(id) = raw.parse::<uuid::Uuid>() else { return not_found(State(st)).await.into_response() };
    let i = match me.cx.invoices().get(crm::ids::InvoiceId::from_uuid(id)).await {
        Ok(i) => i,
        Err(e) => return failed(&st, &e),
    };
    let percent = |d: crm::rust_decimal::Decimal| format!("{}%", d.normalize());
    let lines = i
        .lines
        .iter()
        .map(|l| {
            [
                l.name.clone(),
                l.quantity.normalize().to_string(),
                l.unit_price.to_string(),
                percent(l.discount_percent),
                percent(l.tax_rate),
                l.total().to_string(),
            ]
        })
        .collect();
    Page::render(
        StatusCode::OK,
        &InvoicePage {
            chrome: Chrome::of(&st, &me),
            number: i.number.clone(),
            issued: day(i.issue_date),
            due: day(i.due_date),
            status: status_text(i.status.as_str()),
            lines,
            subtotal: i.subtotal.to_string(),
            tax: i.tax.to_string(),
            total: i.total.to_string(),
            to_pay: i.balance_due().to_string(),
        },
    )
    .into_response()
}

/// The case named by a path segment (a malformed id is no case).
fn case_id(raw: &str) -> Option<CaseId> {
    raw.parse::<uuid::Uuid>().ok().map(CaseId::from_uuid)
}

/// `GET /cases/{id}`: a case of theirs with its conversation and a reply form.
pub(crate) async fn case(State(st): State<PortalState>, me: SignedIn, Path(id): Path<String>) -> Response {
    let Some(id) = case_id(&id) else { return not_found(State(st)).await.into_response() };
    match case_page(&st, &me, id, None, String::new()).await {
        Ok(page) => page.into_response(),
        Err(e) => failed(&st, &e),
    }
}

async fn case_page(
    st: &PortalState,
    me: &SignedIn,
    id: CaseId,
    error: Option<String>,
    draft: String,
) -> crm::error::Result<Page> {
    let case = me.cx.cases().get(id).await?;
    let messages = me.cx.cases().conversation(id).await?.into_iter().map(|a: Activity| {
        let mine = a.direction == Some(Direction::Inbound);
        Message {
            from: if mine { "You".to_owned() } else { st.opts.brand.clone() },
            mine,
            at: when(a.occurred_at),
            body: a.body.unwrap_or_default(),
        }
    });
    let status = if error.is_some() { StatusCode::BAD_REQUEST } else { StatusCode::OK };
    Ok(Page::render(
        status,
        &CasePage {
            chrome: Chrome::of(st, me),
            opened: when(case.opened_at),
            status: status_text(case.status.as_str()),
            can_reply: case.status != CaseStatus::Closed,
            case,
            messages: messages.collect(),
            error,
            draft,
        },
    ))
}

#[derive(Deserialize)]
pub(crate) struct ReplyForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    body: String,
}

/// `POST /cases/{id}/replies`.
pub(crate) async fn reply(
    State(st): State<PortalState>,
    me: SignedIn,
    Path(id): Path<String>,
    Form(f): Form<ReplyForm>,
) -> Response {
    let Some(id) = case_id(&id) else { return not_found(State(st)).await.into_response() };
    if let Err(page) = me.check_form(&f.csrf, &st) {
        return page.into_response();
    }
    let refused = match me.cx.cases().reply(id, NewReply::new(f.body.clone())).await {
        Ok(_) => return Redirect::to(&format!("{}/cases/{id}", st.opts.path)).into_response(),
        Err(Error::Validation(v)) => v.errors().iter().map(|e| e.message.clone()).collect::<Vec<_>>().join("; "),
        Err(e) => return failed(&st, &e),
    };
    match case_page(&st, &me, id, Some(refused), f.body).await {
        Ok(page) => page.into_response(),
        Err(e) => failed(&st, &e),
    }
}

/// `GET /cases/new`.
pub(crate) async fn new_case(State(st): State<PortalState>, me: SignedIn) -> Page {
    new_case_page(&st, &me, NewCaseForm::default(), Vec::new())
}

fn new_case_page(st: &PortalState, me: &SignedIn, f: NewCaseForm, errors: Vec<String>) -> Page {
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::BAD_REQUEST };
    Page::render(
        status,
        &NewCasePage {
            chrome: Chrome::of(st, me),
            types: CASE_TYPES
                .iter()
                .map(|&(value, label)| Choice { value, label, selected: value == f.case_type })
                .collect(),
            subject: f.subject,
            description: f.description,
            errors,
        },
    )
}

#[derive(Default, Deserialize)]
pub(crate) struct NewCaseForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    case_type: String,
    #[serde(default)]
    subject: String,
    #[serde(default)]
    description: String,
}

/// `POST /cases`: opens a case for the customer, from the web.
pub(crate) async fn open_case(State(st): State<PortalState>, me: SignedIn, Form(f): Form<NewCaseForm>) -> Response {
    if let Err(page) = me.check_form(&f.csrf, &st) {
        return page.into_response();
    }
    let Some(contact) = me.cx.actor().customer_id() else { return failed(&st, &Error::Forbidden(String::new())) };
    let case_type = match CASE_TYPES.iter().find(|(v, _)| *v == f.case_type) {
        Some((v, _)) => v.parse::<CaseType>().unwrap_or(CaseType::Question),
        None => return new_case_page(&st, &me, f, vec!["Choose what the case is about.".into()]).into_response(),
    };
    let mut input = NewCase::new(f.subject.trim(), case_type, CaseChannel::Web).contact(contact);
    if !f.description.trim().is_empty() {
        input = input.description(f.description.trim());
    }
    match me.cx.cases().open(input).await {
        Ok(case) => Redirect::to(&format!("{}/cases/{}", st.opts.path, case.id)).into_response(),
        Err(Error::Validation(v)) => {
            let errors = v.errors().iter().map(|e| format!("{}: {}", e.field, e.message)).collect();
            new_case_page(&st, &me, f, errors).into_response()
        }
        Err(e) => failed(&st, &e),
    }
}

/// Any other path under the portal.
pub(crate) async fn not_found(State(st): State<PortalState>) -> Page {
    Page::message(&st, StatusCode::NOT_FOUND, "Not found", "There is nothing here.")
}
