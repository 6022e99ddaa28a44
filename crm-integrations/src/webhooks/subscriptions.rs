//! Webhook subscriptions kept in the CRM: endpoints a tenant's programs add and remove (the
//! HTTP API's `/v1/webhooks`), each with its own signing secret, delivered by
//! [`dispatch_pending`](super::dispatch_pending) through [`Subscriptions::endpoints`].
//!
//! Managing them needs the [`ManageIntegrations`](crm_core::model::Permission::ManageIntegrations)
//! permission. The secret is shown once, when the subscription is made; it is kept in the CRM's
//! sync state (the deliveries are signed with it).

use chrono::{DateTime, Utc};
use crm_core::entity::EntityKind;
use crm_core::model::{Permission, SyncState};
use crm_core::query::{Filter, Query};
use crm_core::service::Session;
use serde::{Deserialize, Serialize};

use super::delivery::Endpoint;
use super::signing::WebhookSecret;
use crate::error::{IntegrationError, Result};

/// The most subscriptions one tenant may hold.
pub const MAX_SUBSCRIPTIONS: usize = 25;

/// The sync-state keys of subscriptions: `webhook-subscriptions/<id>`.
const PREFIX: &str = "webhook-subscriptions/";

/// One subscription as its owner sees it (its secret is not shown again).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscription {
    /// Its id (also the id its deliveries' dead letters name).
    pub id: String,
    /// Where events are POSTed.
    pub url: String,
    /// Only events about records of these kinds (empty: every event).
    pub kinds: Vec<EntityKind>,
    /// What it is for.
    pub description: Option<String>,
    /// When it was made.
    pub created_at: DateTime<Utc>,
}

/// A subscription as kept: with its secret.
#[derive(Serialize, Deserialize)]
struct Kept {
    #[serde(flatten)]
    subscription: Subscription,
    secret: String,
}

/// The tenant's webhook subscriptions.
///
/// ```no_run
/// # async fn demo(cx: crm_core::service::Session) -> Result<(), crm_integrations::IntegrationError> {
/// use crm_core::entity::EntityKind;
/// use crm_integrations::webhooks::{DeliveryPolicy, Subscriptions, WebhookSender, dispatch_pending};
/// let subs = Subscriptions::of(&cx);
/// let (made, secret) = subs.add("https://erp.example.com/crm-events", vec![EntityKind::Deal], None).await?;
/// println!("give the receiver {}", secret.expose());
/// let sender = WebhookSender::new(DeliveryPolicy::default())?;
/// dispatch_pending(&cx, &sender, &subs.endpoints().await?, 500).await?;
/// subs.remove(&made.id).await?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Subscriptions<'s> {
    cx: &'s Session,
}

impl<'s> Subscriptions<'s> {
    /// The subscriptions of `cx`'s tenant, managed as `cx`'s actor.
    pub fn of(cx: &'s Session) -> Self {
        Subscriptions { cx }
    }

    async fn require(&self) -> Result<()> {
        self.cx.access().await?.require(Permission::ManageIntegrations)?;
        Ok(())
    }

    /// Subscribes `url` to the events about records of `kinds` (empty: every event); the
    /// subscription and its signing secret, shown only now. Refused naming the field: a URL
    /// that is not http(s) with a host, a description over 200 characters, more than
    /// [`MAX_SUBSCRIPTIONS`].
    pub async fn add(
        &self,
        url: &str,
        kinds: Vec<EntityKind>,
        description: Option<String>,
    ) -> Result<(Subscription, WebhookSecret)> {
        self.require().await?;
        let endpoint = Endpoint::new("new", url.trim(), WebhookSecret::generate())?;
        let description = description.map(|d| d.trim().to_owned()).filter(|d| !d.is_empty());
        if description.as_ref().is_some_and(|d| d.chars().count() > 200) {
            return Err(IntegrationError::invalid("description", "at most 200 characters"));
        }
        if self.kept().await?.len() >= MAX_SUBSCRIPTIONS {
            return Err(IntegrationError::invalid(
                "url",
                format!("a tenant holds at most {MAX_SUBSCRIPTIONS} subscriptions; remove one first"),
            ));
        }
        let mut kinds = kinds;
        kinds.sort_by_key(|k| k.to_string());
        kinds.dedup();
        let secret = endpoint.secrets[0].clone();
        let subscription = Subscription {
            id: uuid::Uuid::now_v7().to_string(),
            url: endpoint.url.to_string(),
            kinds,
            description,
            created_at: self.cx.now(),
        };
        let kept = Kept { subscription: subscription.clone(), secret: secret.expose() };
        let value =
            serde_json::to_value(&kept).map_err(|e| IntegrationError::invalid("subscription", e.to_string()))?;
        self.cx.sync().put_state(&format!("{PREFIX}{}", subscription.id), value, None).await?;
        Ok((subscription, secret))
    }

    /// Every subscription, oldest first.
    pub async fn list(&self) -> Result<Vec<Subscription>> {
        self.require().await?;
        Ok(self.kept().await?.into_iter().map(|(k, _)| k.subscription).collect())
    }

    /// The subscription `id`, if there is one.
    pub async fn get(&self, id: &str) -> Result<Option<Subscription>> {
        Ok(self.list().await?.into_iter().find(|s| s.id == id))
    }

    /// Removes subscription `id` and its delivery state (cursor and dead letters); whether there
    /// was one.
    pub async fn remove(&self, id: &str) -> Result<bool> {
        self.require().await?;
        let Some((_, state)) = self.kept().await?.into_iter().find(|(k, _)| k.subscription.id == id) else {
            return Ok(false);
        };
        let states = self.cx.records::<SyncState>();
        states.delete(state.id, state.version).await?;
        if let Some(delivery) = self.cx.sync().state(&format!("webhooks/{id}")).await? {
            states.delete(delivery.id, delivery.version).await?;
        }
        Ok(true)
    }

    /// The endpoints to deliver to, one per subscription, signed with its secret (for
    /// [`dispatch_pending`](super::dispatch_pending)).
    pub async fn endpoints(&self) -> Result<Vec<Endpoint>> {
        self.require().await?;
        let mut out = Vec::new();
        for (k, _) in self.kept().await? {
            let secret = WebhookSecret::parse(&k.secret)
                .map_err(|e| IntegrationError::invalid("secret", format!("subscription {}: {e}", k.subscription.id)))?;
            out.push(Endpoint::new(k.subscription.id, &k.subscription.url, secret)?.kinds(k.subscription.kinds));
        }
        Ok(out)
    }

    /// The kept subscriptions with their states, oldest first.
    async fn kept(&self) -> Result<Vec<(Kept, SyncState)>> {
        let q = Query::new(Filter::starts_with("key", PREFIX)).sort_asc("created_at").limit(MAX_SUBSCRIPTIONS + 1);
        let page = self.cx.records::<SyncState>().list(&q).await?;
        page.items
            .into_iter()
            .map(|s| match serde_json::from_value::<Kept>(s.value.clone()) {
                Ok(k) => Ok((k, s)),
                Err(e) => Err(IntegrationError::invalid("subscription", format!("`{}` is unreadable: {e}", s.key))),
            })
            .collect()
    }
}
