//! API keys: issued to a user (shown once, kept hashed), revoked, and turned back into a
//! session acting as that user.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::Ordering;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use super::checks::Checks;
use super::uow::Uow;
use super::{AccessSlot, Crm, Records, Session};
use crate::actor::Actor;
use crate::error::{Error, FieldErrorCode, Result};
use crate::event::Change;
use crate::ids::{ApiKeyId, TenantId, UserId, storage_precision};
use crate::macros::{new_input, new_record};
use crate::model::{Action, ApiKey, Entity, User};
use crate::query::Filter;

new_input! {
    /// A key to issue (see [`ApiKeys::issue`]).
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct NewApiKey {
        /// What it is for (required).
        pub name: String => manual,
        /// The user it acts as: an active user of the tenant.
        pub user_id: UserId => manual,
        /// When it stops working (in the future; default: never).
        pub expires_at: Option<DateTime<Utc>> => some_exact expires_at(DateTime<Utc>),
    }
}

impl NewApiKey {
    /// A key named `name` acting as `user`.
    pub fn new(name: impl Into<String>, user: UserId) -> Self {
        Self { name: name.into(), user_id: user, expires_at: None }
    }
}

/// API keys, managed by those holding `manage_users` (administrators). A key acts as its user,
/// whose roles apply; the secret is returned once by [`issue`](Self::issue) and only its
/// SHA-256 is stored. [`Crm::authenticate`] turns a secret into a session.
///
/// ```
/// # futures::executor::block_on(async {
/// use crm_core::prelude::*;
/// use crm_core::service::{NewApiKey, NewUser};
/// let crm = Crm::new(MemoryStore::new());
/// let admin = crm.as_actor(&Actor::system(TenantId::new()));
/// let bot = admin.users().create(NewUser::new("Sync bot", "bot@acme.example").role("read_only")).await?;
/// let (key, secret) = admin.api_keys().issue(NewApiKey::new("accounting sync", bot.id)).await?;
/// let cx = crm.authenticate(&secret).await?;
/// assert_eq!(cx.tenant(), admin.tenant());
/// admin.api_keys().revoke(key.id).await?;
/// assert!(crm.authenticate(&secret).await.is_err());
/// # Ok::<_, Error>(()) }).unwrap();
/// ```
pub type ApiKeys<'s> = Records<'s, ApiKey>;

impl Records<'_, ApiKey> {
    /// Issues a key: the record and the secret, which is not kept and cannot be shown again.
    /// Refused naming the field: no name, a user who is not an active user of the tenant, an
    /// expiry in the past.
    pub async fn issue(&self, input: NewApiKey) -> Result<(ApiKey, String)> {
        let tenant = self.s.tenant();
        let mut random = [0u8; 32];
        getrandom::fill(&mut random).map_err(|e| Error::storage(format!("no randomness for a key: {e}")))?;
        let random = hex::encode(random);
        let secret = format!("crm_{}_{random}", tenant.as_uuid().simple());
        let prefix = format!("crm_{}…{}", &tenant.as_uuid().simple().to_string()[..8], &random[..6]);
        let hashed = hash(&secret);
        let key = self
            .write(|uow| {
                Box::pin(async move {
                    let mut ch = Checks::default();
                    let mut name = input.name;
                    ch.name("name", &mut name, true);
                    if let Some(u) = uow.tx.fetch::<User>(input.user_id).await?
                        && !u.active
                    {
                        ch.push("user_id", FieldErrorCode::Rule, format!("user {} is deactivated", u.name));
                    }
                    let expires_at = input.expires_at.map(storage_precision);
                    if expires_at.is_some_and(|at| at <= uow.now) {
                        ch.push("expires_at", FieldErrorCode::OutOfRange, "a key must expire in the future");
                    }
                    let key = new_record!(
                        uow,
                        ApiKey { name, user_id: input.user_id, prefix, hash: hashed, expires_at, revoked_at: None }
                    );
                    uow.check_links(&key, None, &mut ch.errs).await?;
                    uow.create(key, ch.errs).await
                })
            })
            .await?;
        Ok((key, secret))
    }

    /// Revokes a key: it stops working at once. Revoking again changes nothing.
    pub async fn revoke(&self, id: ApiKeyId) -> Result<ApiKey> {
        self.write(|uow| {
            Box::pin(async move {
                let mut key = uow.load::<ApiKey>(id, Action::Update).await?;
                if key.revoked_at.is_some() {
                    return Ok(key);
                }
                key.revoked_at = Some(uow.now);
                let key = uow.save_system(key).await?;
                uow.emit(key.entity_ref(), key.related(), Change::Updated { fields: vec!["revoked_at".into()] });
                Ok(key)
            })
        })
        .await
    }
}

/// How long a verified API key is trusted before [`Crm::authenticate`] looks it up again.
/// Revoking a key, or changing users, teams, roles or shares, through the same [`Crm`] applies
/// at once; a revocation made by another process applies within this time.
pub const KEY_RECHECK: chrono::Duration = chrono::Duration::seconds(10);

/// How many verified keys are remembered (beyond it, all are forgotten and looked up again).
const KEYS_KEPT: usize = 10_000;

/// The API keys verified lately, by the digest of their secret: whom they act as, and the
/// access their sessions share, so that a server's every request need not look the key up and
/// resolve the user's roles again.
#[derive(Default)]
pub(crate) struct KeyCache(Mutex<HashMap<String, Verified>>);

impl std::fmt::Debug for KeyCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyCache")
    }
}

/// A key as verified.
struct Verified {
    actor: Actor,
    access: AccessSlot,
    /// The CRM's access epoch when it was verified: a later one means keys, users, teams,
    /// roles or shares changed since.
    epoch: u64,
    checked_at: DateTime<Utc>,
    expires_at: Option<DateTime<Utc>>,
}

impl Crm {
    /// The session an API key acts in: its tenant, as its user (whose roles apply). A secret
    /// that is malformed, unknown, revoked or expired is [`Error::Forbidden`], saying only that
    /// the key is not valid.
    ///
    /// A key verified here is trusted for [`KEY_RECHECK`] without being looked up again, and
    /// the sessions it gives share their resolved access, so that a server can authenticate
    /// every request cheaply. Revoking it through this `Crm` applies at once.
    pub async fn authenticate(&self, secret: &str) -> Result<Session> {
        let refused = || Error::Forbidden("the API key is not valid (unknown, revoked or expired)".into());
        let tenant = secret
            .strip_prefix("crm_")
            .and_then(|rest| rest.split_once('_'))
            .filter(|(_, random)| random.len() == 64 && random.bytes().all(|b| b.is_ascii_hexdigit()))
            .and_then(|(t, _)| uuid::Uuid::parse_str(t).ok())
            .map(TenantId::from_uuid)
            .ok_or_else(refused)?;
        let digest = hash(secret);
        let now = self.inner.clock.now();
        // Read before the lookup: a change committed meanwhile makes the entry stale at once.
        let epoch = self.inner.access_epoch.load(Ordering::Acquire);
        {
            let known = self.inner.keys.0.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(v) = known.get(&digest)
                && v.epoch == epoch
                && now - v.checked_at < KEY_RECHECK
                && v.expires_at.is_none_or(|at| at > now)
            {
                return Ok(Session {
                    crm: self.clone(),
                    actor: v.actor.clone(),
                    access: v.access.clone(),
                    receipt: None,
                });
            }
        }
        let system = self.as_actor(&Actor::system(tenant));
        let mut uow = Uow::read(&system).await?;
        let found = uow.tx.find_all::<ApiKey>(Filter::eq("hash", digest.as_str())).await?;
        drop(uow);
        let key = found
            .into_iter()
            .find(|k| k.revoked_at.is_none() && k.expires_at.is_none_or(|at| at > now))
            .ok_or_else(refused)?;
        let session = self.as_actor(&Actor::user(tenant, key.user_id));
        let mut known = self.inner.keys.0.lock().unwrap_or_else(|p| p.into_inner());
        if known.len() >= KEYS_KEPT {
            known.clear();
        }
        let verified = Verified {
            actor: session.actor.clone(),
            access: session.access.clone(),
            epoch,
            checked_at: now,
            expires_at: key.expires_at,
        };
        known.insert(digest, verified);
        Ok(session)
    }
}

fn hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}
