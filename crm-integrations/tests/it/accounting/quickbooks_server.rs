//! A [`Ledger`] served the way QuickBooks Online's Accounting API v3 serves a company (shapes
//! from Intuit's XSDs, as in `accounting_quickbooks.rs`): `/v3/company/<realm>/…` with
//! `minorversion=75`, the query endpoint's `STARTPOSITION`/`MAXRESULTS` paging, the change-data-
//! capture endpoint, `requestid` on writes, `SyncToken` checked on updates (fault 5010 when
//! stale), the token endpoint at `/oauth2/v1/tokens/bearer`.

use chrono::{DateTime, SecondsFormat, Utc};
use crm_integrations::accounting::{CustomerDraft, RemoteCustomer, RemoteInvoice, RemotePayment, RemoteStatus};
use serde_json::{Value, json};
use wiremock::{Request, Respond, ResponseTemplate};

use super::ledger::{Fault, Ledger, Op};
use super::wire::{authorised, body, fault_answer, num, token_endpoint};

pub struct QuickBooksServer {
    pub ledger: Ledger,
    pub realm: String,
}

fn meta(t: Option<DateTime<Utc>>) -> Value {
    json!({"LastUpdatedTime": t.map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true))})
}

fn customer(c: &RemoteCustomer) -> Value {
    let addr = c.billing_address.as_ref().map(|a| {
        json!({"Line1": a.lines.first(), "City": a.city, "CountrySubDivisionCode": a.region,
               "PostalCode": a.postal_code, "Country": a.country})
    });
    json!({
        "Id": c.id, "SyncToken": c.version, "MetaData": meta(c.updated_at),
        "DisplayName": c.name, "CompanyName": c.legal_name, "AcctNum": c.reference,
        "PrimaryEmailAddr": c.email.as_ref().map(|e| json!({"Address": e})),
        "PrimaryPhone": c.phone.as_ref().map(|p| json!({"FreeFormNumber": p})),
        "BillAddr": addr,
        "CurrencyRef": c.currency.map(|x| json!({"value": x.code()})),
        "Active": c.status == RemoteStatus::Active,
    })
}

fn invoice(i: &RemoteInvoice) -> Value {
    let lines: Vec<Value> = i
        .lines
        .iter()
        .map(|l| {
            json!({"Description": l.description, "Amount": num(l.line_amount), "DetailType": "SalesItemLineDetail",
                   "SalesItemLineDetail": {"UnitPrice": num(l.unit_amount), "Qty": num(l.quantity)}})
        })
        .chain([json!({"Amount": num(i.subtotal), "DetailType": "SubTotalLineDetail", "SubTotalLineDetail": {}})])
        .collect();
    json!({
        "Id": i.id, "SyncToken": i.version, "MetaData": meta(i.updated_at),
        "DocNumber": i.number, "TxnDate": i.issue_date.to_string(), "DueDate": i.due_date.to_string(),
        "CurrencyRef": {"value": i.currency.code()}, "CustomerRef": {"value": i.customer_id},
        "Line": lines, "TxnTaxDetail": {"TotalTax": num(i.tax)},
        "TotalAmt": num(i.total), "Balance": num(i.total - i.amount_paid), "PrivateNote": i.reference,
    })
}

fn payment(p: &RemotePayment) -> Value {
    let lines: Vec<Value> = p
        .applications
        .iter()
        .map(|(inv, amount)| json!({"Amount": num(*amount), "LinkedTxn": [{"TxnId": inv, "TxnType": "Invoice"}]}))
        .collect();
    json!({
        "Id": p.id, "SyncToken": p.version, "MetaData": meta(p.updated_at),
        "TxnDate": p.received_on.to_string(), "TotalAmt": num(p.amount),
        "CurrencyRef": p.currency.map(|c| json!({"value": c.code()})),
        "PaymentRefNum": p.reference, "Line": lines,
    })
}

fn draft(c: &Value) -> CustomerDraft {
    let text = |v: &Value| v.as_str().filter(|s| !s.is_empty()).map(str::to_owned);
    CustomerDraft {
        name: text(&c["DisplayName"]),
        email: c.get("PrimaryEmailAddr").map(|e| text(&e["Address"])),
        phone: c.get("PrimaryPhone").map(|p| text(&p["FreeFormNumber"])),
        reference: text(&c["AcctNum"]).unwrap_or_default(),
    }
}

fn query(req: &Request, key: &str) -> Option<String> {
    req.url.query_pairs().find(|(k, _)| k == key).map(|(_, v)| v.into_owned())
}

/// The parts of a `SELECT * FROM E [WHERE MetaData.LastUpdatedTime > 't'] … STARTPOSITION s
/// MAXRESULTS m` the connector sends.
struct Select {
    entity: String,
    since: Option<DateTime<Utc>>,
    start: usize,
    max: usize,
}

fn select(q: &str) -> Option<Select> {
    let word_after = |key: &str| q.split(key).nth(1).and_then(|r| r.split_whitespace().next());
    Some(Select {
        entity: word_after("FROM ")?.to_owned(),
        since: q
            .split("LastUpdatedTime > '")
            .nth(1)
            .and_then(|r| r.split('\'').next())
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|d| d.with_timezone(&Utc)),
        start: word_after("STARTPOSITION ")?.parse().ok()?,
        max: word_after("MAXRESULTS ")?.parse().ok()?,
    })
}

impl QuickBooksServer {
    fn rows(&self, entity: &str, since: Option<DateTime<Utc>>) -> Option<Vec<Value>> {
        let l = &self.ledger;
        Some(match entity {
            "Customer" => l.changed(since, |b| b.customers.clone(), |c| c.updated_at).iter().map(customer).collect(),
            "Invoice" => l.changed(since, |b| b.invoices.clone(), |i| i.updated_at).iter().map(invoice).collect(),
            "Payment" => l.changed(since, |b| b.payments.clone(), |p| p.updated_at).iter().map(payment).collect(),
            _ => return None,
        })
    }

    fn op(entity: &str) -> Op {
        match entity {
            "Customer" => Op::Customers,
            "Invoice" => Op::Invoices,
            _ => Op::Payments,
        }
    }

    fn read(&self, req: &Request, tail: &str) -> ResponseTemplate {
        if tail == "query" {
            let Some(s) = query(req, "query").as_deref().and_then(select) else {
                return body(400, &json!({"Fault": {"Error": [{"Message": "bad query", "code": "4000"}]}}));
            };
            if s.entity == "Term" {
                return body(200, &json!({"QueryResponse": {"Term": [{"Id": "3", "Name": "Net 30", "DueDays": 30}]}}));
            }
            let page = (s.start.saturating_sub(1) / s.max.max(1)) as u32 + 1;
            let fault = self.ledger.take_fault(Self::op(&s.entity), page);
            self.ledger.log(Self::op(&s.entity), s.since, fault);
            if let Some(answer) = fault_answer(fault) {
                return answer;
            }
            let rows = self.rows(&s.entity, s.since).unwrap_or_default();
            let chunk: Vec<Value> = rows.into_iter().skip(s.start.saturating_sub(1)).take(s.max).collect();
            return body(
                200,
                &json!({"QueryResponse": {&s.entity: chunk, "startPosition": s.start, "maxResults": s.max}}),
            );
        }
        if tail == "cdc" {
            let entity = query(req, "entities").unwrap_or_default();
            let since = query(req, "changedSince")
                .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
                .map(|d| d.with_timezone(&Utc));
            let fault = self.ledger.take_fault(Self::op(&entity), 1);
            self.ledger.log(Self::op(&entity), since, fault);
            if let Some(answer) = fault_answer(fault) {
                return answer;
            }
            let rows = self.rows(&entity, since).unwrap_or_default();
            return body(200, &json!({"CDCResponse": [{"QueryResponse": [{&entity: rows}]}]}));
        }
        let Some(id) = tail.strip_prefix("customer/") else { return ResponseTemplate::new(404) };
        let fault = self.ledger.take_fault(Op::Customer, 1);
        self.ledger.log(Op::Customer, None, fault);
        if let Some(answer) = fault_answer(fault) {
            return answer;
        }
        match self.ledger.books().customers.iter().find(|c| c.id == id) {
            Some(c) => body(200, &json!({"Customer": customer(c)})),
            None => ResponseTemplate::new(404),
        }
    }

    fn write(&self, req: &Request) -> ResponseTemplate {
        let Some(key) = query(req, "requestid") else {
            return body(400, &json!({"Fault": {"Error": [{"Message": "requestid required by this suite"}]}}));
        };
        let sent: Value = serde_json::from_slice(&req.body).unwrap_or_default();
        let id = sent.get("Id").and_then(Value::as_str).map(str::to_owned);
        let op = if id.is_some() { Op::UpdateCustomer } else { Op::CreateCustomer };
        let fault = self.ledger.take_fault(op, 1);
        self.ledger.log(op, None, fault);
        if let Some(answer) = fault_answer(fault) {
            return answer;
        }
        let written = match id {
            None => Some(self.ledger.create_customer(&draft(&sent), &key)),
            Some(id) => {
                let current = self.ledger.books().customers.iter().find(|c| c.id == id).and_then(|c| c.version.clone());
                // A repeated requestid answers what the first request did, whatever the token.
                if current.as_deref() != sent["SyncToken"].as_str() && !self.ledger.seen(&key) {
                    return body(
                        400,
                        &json!({"Fault": {"Error": [{"Message": "Stale Object Error", "code": "5010"}]}}),
                    );
                }
                self.ledger.update_customer(&id, &draft(&sent), &key)
            }
        };
        match (written, fault) {
            (_, Some(Fault::LoseReply)) => ResponseTemplate::new(500),
            (Some(c), _) => body(200, &json!({"Customer": customer(&c)})),
            (None, _) => ResponseTemplate::new(404),
        }
    }
}

impl Respond for QuickBooksServer {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        if let Some(answer) = token_endpoint(&self.ledger, req, "/oauth2/v1/tokens/bearer") {
            return answer;
        }
        let prefix = format!("/v3/company/{}/", self.realm);
        let Some(tail) = req.url.path().strip_prefix(&prefix).map(str::to_owned) else {
            return body(
                403,
                &json!({"Fault": {"Error": [{"Message": "ApplicationAuthorizationFailed", "code": "003100"}]}}),
            );
        };
        if query(req, "minorversion").as_deref() != Some("75") {
            return body(400, &json!({"Fault": {"Error": [{"Message": "minorversion 75 expected by this suite"}]}}));
        }
        if !authorised(&self.ledger, req) {
            return body(401, &json!({"Fault": {"Error": [{"Message": "AuthenticationFailed", "code": "100"}]}}));
        }
        match req.method.as_str() {
            "GET" => self.read(req, &tail),
            "POST" if tail == "customer" => self.write(req),
            _ => ResponseTemplate::new(404),
        }
    }
}
