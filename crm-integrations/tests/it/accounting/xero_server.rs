//! A [`Ledger`] served the way Xero's Accounting API serves an organisation (shapes from Xero's
//! OpenAPI spec, as in `tests/fixtures/xero/`): `xero-tenant-id` on every call, `page`/`pageSize`
//! paging, `If-Modified-Since`, `/Date(ms+0000)/` dates, `PUT` creates with `Idempotency-Key`,
//! `POST` updates, the identity server's token endpoint at `/connect/token`.

use chrono::{DateTime, NaiveDate, Utc};
use crm_integrations::accounting::{
    CustomerDraft, RemoteCustomer, RemoteInvoice, RemoteInvoiceStatus, RemotePayment, RemoteStatus,
};
use serde_json::{Value, json};
use wiremock::{Request, Respond, ResponseTemplate};

use super::ledger::{Fault, Ledger, Op};
use super::wire::{authorised, body, fault_answer, num, token_endpoint};

pub struct XeroServer {
    pub ledger: Ledger,
    pub tenant: String,
    pub page_size: usize,
}

fn date(t: DateTime<Utc>) -> String {
    format!("/Date({}+0000)/", t.timestamp_millis())
}

fn day(d: NaiveDate) -> String {
    date(d.and_hms_opt(0, 0, 0).unwrap().and_utc())
}

fn contact(c: &RemoteCustomer) -> Value {
    let status = match c.status {
        RemoteStatus::Archived => "ARCHIVED",
        RemoteStatus::ErasureRequested => "GDPRREQUEST",
        _ => "ACTIVE",
    };
    let address = c.billing_address.as_ref().map(|a| {
        json!({
            "AddressType": "POBOX",
            "AddressLine1": a.lines.first(), "AddressLine2": a.lines.get(1),
            "City": a.city, "Region": a.region, "PostalCode": a.postal_code, "Country": a.country,
        })
    });
    json!({
        "ContactID": c.id,
        "ContactNumber": c.reference,
        "ContactStatus": status,
        "Name": c.name,
        "EmailAddress": c.email.clone().unwrap_or_default(),
        "TaxNumber": c.tax_id,
        "Addresses": address.into_iter().collect::<Vec<_>>(),
        "Phones": [{"PhoneType": "DEFAULT", "PhoneNumber": c.phone.clone().unwrap_or_default()}],
        "UpdatedDateUTC": c.updated_at.map(date),
        "IsSupplier": c.supplier_only,
        "IsCustomer": !c.supplier_only,
        "DefaultCurrency": c.currency.map(|x| x.code()),
    })
}

fn invoice(i: &RemoteInvoice) -> Value {
    let status = match i.status {
        RemoteInvoiceStatus::Draft => "DRAFT",
        RemoteInvoiceStatus::Paid => "PAID",
        RemoteInvoiceStatus::Void => "VOIDED",
        _ => "AUTHORISED",
    };
    let lines: Vec<Value> = i
        .lines
        .iter()
        .map(|l| {
            json!({
                "Description": l.description, "Quantity": num(l.quantity), "UnitAmount": num(l.unit_amount),
                "TaxAmount": num(l.tax_amount), "LineAmount": num(l.line_amount),
            })
        })
        .collect();
    json!({
        "Type": "ACCREC",
        "InvoiceID": i.id,
        "InvoiceNumber": i.number,
        "Reference": i.reference,
        "Contact": {"ContactID": i.customer_id},
        "Date": day(i.issue_date),
        "DueDate": day(i.due_date),
        "FullyPaidOnDate": i.paid_on.map(day),
        "Status": status,
        "LineAmountTypes": "Exclusive",
        "LineItems": lines,
        "SubTotal": num(i.subtotal),
        "TotalTax": num(i.tax),
        "Total": num(i.total),
        "AmountPaid": num(i.amount_paid),
        "AmountDue": num(i.total - i.amount_paid),
        "CurrencyCode": i.currency.code(),
        "UpdatedDateUTC": i.updated_at.map(date),
    })
}

/// Xero lists one payment per invoice it pays.
fn payments(p: &RemotePayment) -> Vec<Value> {
    p.applications
        .iter()
        .map(|(invoice, amount)| {
            json!({
                "PaymentID": p.id,
                "PaymentType": "ACCRECPAYMENT",
                "Status": if p.deleted { "DELETED" } else { "AUTHORISED" },
                "Date": day(p.received_on),
                "Amount": num(*amount),
                "Reference": p.reference,
                "Invoice": {"InvoiceID": invoice, "CurrencyCode": p.currency.map(|c| c.code())},
                "UpdatedDateUTC": p.updated_at.map(date),
            })
        })
        .collect()
}

fn draft(v: &Value) -> CustomerDraft {
    let c = &v["Contacts"][0];
    let text = |k: &str| c.get(k).and_then(Value::as_str).map(str::to_owned);
    CustomerDraft {
        name: text("Name"),
        email: c.get("EmailAddress").map(|e| e.as_str().filter(|s| !s.is_empty()).map(str::to_owned)),
        phone: c.get("Phones").map(|p| p[0]["PhoneNumber"].as_str().filter(|s| !s.is_empty()).map(str::to_owned)),
        reference: text("ContactNumber").unwrap_or_default(),
    }
}

impl XeroServer {
    fn list(&self, req: &Request, key: &str, items: Vec<Value>) -> ResponseTemplate {
        let page: usize = query(req, "page").and_then(|p| p.parse().ok()).unwrap_or(1);
        let size: usize = query(req, "pageSize").and_then(|p| p.parse().ok()).unwrap_or(100);
        assert_eq!(size, self.page_size, "the connector asks for its configured page size");
        let chunk: Vec<Value> = items.into_iter().skip((page - 1) * size).take(size).collect();
        body(200, &json!({ key: chunk }))
    }

    fn answer(&self, req: &Request) -> ResponseTemplate {
        let path = req.url.path().trim_start_matches("/api.xro/2.0/").to_owned();
        let method = req.method.as_str();
        let (op, id) = match (method, path.split_once('/')) {
            ("GET", None) if path == "Contacts" => (Op::Customers, None),
            ("GET", None) if path == "Invoices" => (Op::Invoices, None),
            ("GET", None) if path == "Payments" => (Op::Payments, None),
            ("GET", Some(("Contacts", id))) => (Op::Customer, Some(id.to_owned())),
            ("PUT", None) if path == "Contacts" => (Op::CreateCustomer, None),
            ("POST", Some(("Contacts", id))) => (Op::UpdateCustomer, Some(id.to_owned())),
            _ => return ResponseTemplate::new(404),
        };
        let since = req
            .headers
            .get("if-modified-since")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| DateTime::parse_from_rfc3339(v).ok())
            .map(|d| d.with_timezone(&Utc));
        let page = query(req, "page").and_then(|p| p.parse().ok()).unwrap_or(1);
        let fault = self.ledger.take_fault(op, page);
        self.ledger.log(op, since, fault);
        if let Some(answer) = fault_answer(fault) {
            return answer;
        }
        let l = &self.ledger;
        let answer = match op {
            Op::Customers => {
                let items = l.changed(since, |b| b.customers.clone(), |c| c.updated_at);
                self.list(req, "Contacts", items.iter().map(contact).collect())
            }
            Op::Invoices => {
                let items = l.changed(since, |b| b.invoices.clone(), |i| i.updated_at);
                self.list(req, "Invoices", items.iter().map(invoice).collect())
            }
            Op::Payments => {
                let items = l.changed(since, |b| b.payments.clone(), |p| p.updated_at);
                self.list(req, "Payments", items.iter().flat_map(payments).collect())
            }
            Op::Customer => match l.books().customers.iter().find(|c| Some(&c.id) == id.as_ref()) {
                Some(c) => body(200, &json!({"Contacts": [contact(c)]})),
                None => ResponseTemplate::new(404),
            },
            Op::CreateCustomer | Op::UpdateCustomer => {
                let Some(key) = req.headers.get("idempotency-key").and_then(|k| k.to_str().ok()) else {
                    return body(400, &json!({"Message": "Idempotency-Key required by this suite"}));
                };
                let sent: Value = serde_json::from_slice(&req.body).unwrap_or_default();
                let written = match id {
                    None => Some(l.create_customer(&draft(&sent), key)),
                    Some(id) => l.update_customer(&id, &draft(&sent), key),
                };
                match written {
                    Some(c) => body(200, &json!({"Contacts": [contact(&c)]})),
                    None => ResponseTemplate::new(404),
                }
            }
        };
        if fault == Some(Fault::LoseReply) { ResponseTemplate::new(500) } else { answer }
    }
}

fn query(req: &Request, key: &str) -> Option<String> {
    req.url.query_pairs().find(|(k, _)| k == key).map(|(_, v)| v.into_owned())
}

impl Respond for XeroServer {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        if let Some(answer) = token_endpoint(&self.ledger, req, "/connect/token") {
            return answer;
        }
        if req.headers.get("xero-tenant-id").and_then(|v| v.to_str().ok()) != Some(self.tenant.as_str()) {
            return body(403, &json!({"Title": "Forbidden", "Detail": "AuthenticationUnsuccessful"}));
        }
        if !authorised(&self.ledger, req) {
            return body(401, &json!({"Title": "Unauthorized", "Detail": "TokenExpired"}));
        }
        self.answer(req)
    }
}
