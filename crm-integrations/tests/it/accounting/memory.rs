//! An accounting connector with no wire at all: it reads and writes a [`Ledger`] directly.
//! It keeps the contract the HTTP connectors keep — pages, changes since a time, creates once
//! per idempotency key, a throttled answer waited out, OAuth tokens refreshed on expiry or
//! refusal with the rotated refresh token saved — so the suite's scenarios hold for it too,
//! and the engine's behaviour is seen apart from any vendor's wire format.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use crm_integrations::accounting::{
    AccountingConnector, CustomerDraft, OAuthTokens, RemoteCustomer, RemoteInvoice, RemotePage, RemotePayment, Secret,
    TokenStore,
};
use crm_integrations::{IntegrationError, Result};
use secrecy::ExposeSecret;

use super::ledger::{Fault, Ledger, Op};

const SYSTEM: &str = "memory";

pub struct MemoryConnector {
    pub ledger: Ledger,
    pub org: String,
    pub tokens: Arc<dyn TokenStore>,
    pub page_size: usize,
}

impl MemoryConnector {
    /// Checks the tokens (refreshing them when expired or refused), then plays the armed fault.
    async fn enter(&self, op: Op, page: u32, since: Option<DateTime<Utc>>) -> Result<Option<Fault>> {
        self.authorise().await?;
        let fault = self.ledger.take_fault(op, page);
        self.ledger.log(op, since, fault);
        match fault {
            Some(Fault::Hang) => {
                tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
                Err(remote("no answer"))
            }
            Some(Fault::Throttle(secs)) => {
                // What the HTTP policy does with a 429: wait as asked, then ask again.
                tokio::time::sleep(std::time::Duration::from_secs(secs)).await;
                Box::pin(self.enter(op, page, since)).await
            }
            other => Ok(other),
        }
    }

    async fn authorise(&self) -> Result<()> {
        let auth = |message: &str| IntegrationError::Auth { system: SYSTEM, message: message.into() };
        let Some((tokens, version)) = self.tokens.load().await? else {
            return Err(auth("not connected: no tokens saved"));
        };
        if tokens.expires_at > Utc::now() && self.ledger.accepts(tokens.access_token.expose_secret()) {
            return Ok(());
        }
        let (access, refresh) = self
            .ledger
            .refresh(tokens.refresh_token.expose_secret())
            .ok_or_else(|| auth("the refresh token was refused (invalid_grant); connect again"))?;
        let new = OAuthTokens {
            access_token: Secret::from(access),
            refresh_token: Secret::from(refresh),
            expires_at: Utc::now() + chrono::Duration::minutes(30),
        };
        self.tokens.save(&new, Some(version)).await?.ok_or_else(|| auth("tokens changed under a refresh"))?;
        Ok(())
    }

    fn page<T: Clone>(&self, items: Vec<T>, page: Option<&str>) -> Result<(u32, RemotePage<T>)> {
        let n: u32 = match page {
            None => 1,
            Some(p) => p.parse().ok().filter(|n| *n >= 1).ok_or_else(|| IntegrationError::Invalid {
                field: "page".into(),
                reason: format!("`{p}` is not a page"),
            })?,
        };
        let start = (n as usize - 1) * self.page_size;
        let chunk: Vec<T> = items.iter().skip(start).take(self.page_size).cloned().collect();
        let next = (chunk.len() == self.page_size).then(|| (n + 1).to_string());
        Ok((n, RemotePage { items: chunk, next }))
    }

    async fn list<T: Clone>(
        &self,
        op: Op,
        since: Option<DateTime<Utc>>,
        page: Option<&str>,
        read: impl Fn(&Ledger) -> Vec<T>,
    ) -> Result<RemotePage<T>> {
        let n = page.and_then(|p| p.parse().ok()).unwrap_or(1);
        self.enter(op, n, since).await?;
        let (_, out) = self.page(read(&self.ledger), page)?;
        Ok(out)
    }
}

fn remote(message: &str) -> IntegrationError {
    IntegrationError::Remote { system: SYSTEM, message: message.into(), transient: true }
}

#[async_trait]
impl AccountingConnector for MemoryConnector {
    fn system(&self) -> &'static str {
        SYSTEM
    }

    fn connection(&self) -> String {
        format!("{SYSTEM}:{}", self.org)
    }

    async fn customers(&self, since: Option<DateTime<Utc>>, page: Option<&str>) -> Result<RemotePage<RemoteCustomer>> {
        self.list(Op::Customers, since, page, |l| l.changed(since, |b| b.customers.clone(), |c| c.updated_at)).await
    }

    async fn customer(&self, id: &str) -> Result<Option<RemoteCustomer>> {
        self.enter(Op::Customer, 1, None).await?;
        Ok(self.ledger.books().customers.iter().find(|c| c.id == id).cloned())
    }

    async fn invoices(&self, since: Option<DateTime<Utc>>, page: Option<&str>) -> Result<RemotePage<RemoteInvoice>> {
        self.list(Op::Invoices, since, page, |l| l.changed(since, |b| b.invoices.clone(), |i| i.updated_at)).await
    }

    async fn payments(&self, since: Option<DateTime<Utc>>, page: Option<&str>) -> Result<RemotePage<RemotePayment>> {
        self.list(Op::Payments, since, page, |l| l.changed(since, |b| b.payments.clone(), |p| p.updated_at)).await
    }

    async fn create_customer(&self, draft: &CustomerDraft, idempotency_key: &str) -> Result<RemoteCustomer> {
        let fault = self.enter(Op::CreateCustomer, 1, None).await?;
        let created = self.ledger.create_customer(draft, idempotency_key);
        match fault {
            Some(Fault::LoseReply) => Err(remote("the answer was lost")),
            _ => Ok(created),
        }
    }

    async fn update_customer(
        &self,
        id: &str,
        version: Option<&str>,
        draft: &CustomerDraft,
        idempotency_key: &str,
    ) -> Result<RemoteCustomer> {
        let fault = self.enter(Op::UpdateCustomer, 1, None).await?;
        let current = self.ledger.books().customers.iter().find(|c| c.id == id).and_then(|c| c.version.clone());
        if version.is_some() && current.as_deref() != version && !self.ledger.seen(idempotency_key) {
            return Err(IntegrationError::Stale { system: SYSTEM, record: format!("customer {id}") });
        }
        let updated = self.ledger.update_customer(id, draft, idempotency_key).ok_or_else(|| {
            IntegrationError::Rejected { system: SYSTEM, status: 404, reasons: vec![format!("no customer {id}")] }
        })?;
        match fault {
            Some(Fault::LoseReply) => Err(remote("the answer was lost")),
            _ => Ok(updated),
        }
    }
}
