//! [`SyncRecords`]: what integrations remember between runs.

use std::collections::BTreeMap;

use super::Session;
use super::checks::Checks;
use super::uow::Uow;
use crate::entity::EntityRef;
use crate::error::{Error, FieldErrorCode, Result};
use crate::ids::SyncLinkId;
use crate::macros::{new_input, new_record};
use crate::model::Entity;
use crate::model::{SyncConflict, SyncLink, SyncState};
use crate::query::Filter;

/// The longest connection name, remote kind or remote id accepted.
const MAX_SYNC_KEY_LEN: usize = 255;

new_input! {
    /// What to write for a link: the pairing and what the connector knows about it.
    #[derive(Clone, Debug, PartialEq)]
    pub struct LinkInput {
        /// The connection, e.g. `xero:<tenant id>`.
        pub connection: String => manual,
        /// The local record (it must exist).
        pub local: EntityRef => manual,
        /// The remote record's type, e.g. `Contact`.
        pub remote_kind: String => manual,
        /// The remote record's id.
        pub remote_id: String => manual,
        /// The remote record's version as synced.
        pub remote_version: Option<String> => some version(String),
        /// The shared fields' agreed values (the next merge's base).
        pub snapshot: BTreeMap<String, Option<String>> => set snapshot(BTreeMap<String, Option<String>>),
        /// Fields in conflict.
        pub conflicts: Vec<SyncConflict> => set conflicts(Vec<SyncConflict>),
    }
}

impl LinkInput {
    /// Pairs `local` with the record `remote_kind`/`remote_id` of `connection`: no version,
    /// snapshot or conflicts yet.
    pub fn new(
        connection: impl Into<String>,
        local: EntityRef,
        remote_kind: impl Into<String>,
        remote_id: impl Into<String>,
    ) -> Self {
        Self {
            connection: connection.into(),
            local,
            remote_kind: remote_kind.into(),
            remote_id: remote_id.into(),
            remote_version: None,
            snapshot: BTreeMap::new(),
            conflicts: Vec::new(),
        }
    }
}

/// Which side wins a [`SyncConflict`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Resolution {
    /// Keep the CRM's value: the next sync sends it to the other system.
    KeepLocal,
    /// Take the other system's value: the next sync writes it into the CRM.
    TakeRemote,
}

/// Sync bookkeeping for integrations: [`SyncLink`]s (local ↔ remote record pairs, with the
/// merge base and conflicts) and [`SyncState`] (named JSON state with compare-and-set).
/// These writes emit no domain events.
///
/// ```
/// # futures::executor::block_on(async {
/// use crm_core::{actor::Actor, service::Crm, model::Entity, memory::MemoryStore, service::NewCompany, ids::TenantId, service::LinkInput};
/// let crm = Crm::new(MemoryStore::new());
/// let cx = crm.as_actor(&Actor::system(TenantId::new()));
/// let acme = cx.companies().create(NewCompany::new("Acme")).await?;
/// let link = cx.sync().put_link(LinkInput::new("xero:demo", acme.entity_ref(), "Contact", "c0ffee").version("3")).await?;
/// let found = cx.sync().link_for_remote("xero:demo", "Contact", "c0ffee").await?;
/// assert_eq!(found.map(|l| l.local), Some(link.local));
/// // Named state is compare-and-set: the first write expects no version.
/// let s = cx.sync().put_state("xero:demo/cursor/Contacts", serde_json::json!("2026-11-01T00:00:00Z"), None).await?;
/// assert!(cx.sync().put_state("xero:demo/cursor/Contacts", serde_json::json!("x"), None).await.is_err());
/// cx.sync().put_state("xero:demo/cursor/Contacts", serde_json::json!("x"), Some(s.version)).await?;
/// # Ok::<_, crm_core::error::Error>(()) }).unwrap();
/// ```
#[derive(Clone, Copy, Debug)]
pub struct SyncRecords<'s> {
    pub(crate) s: &'s Session,
}

fn check_key(ch: &mut Checks, field: &str, s: &mut String) {
    *s = s.trim().to_owned();
    if s.is_empty() {
        ch.push(field, FieldErrorCode::Required, "must not be empty");
    } else if s.len() > MAX_SYNC_KEY_LEN {
        ch.push(field, FieldErrorCode::OutOfRange, format!("longer than {MAX_SYNC_KEY_LEN} bytes"));
    } else if s.chars().any(char::is_control) || s.contains('|') {
        ch.push(field, FieldErrorCode::InvalidFormat, "must not contain control characters or `|`");
    }
}

impl SyncRecords<'_> {
    /// The link for a remote record, if it is paired.
    pub async fn link_for_remote(
        &self,
        connection: &str,
        remote_kind: &str,
        remote_id: &str,
    ) -> Result<Option<SyncLink>> {
        let filter = Filter::eq("connection", connection)
            .and(Filter::eq("remote_kind", remote_kind))
            .and(Filter::eq("remote_id", remote_id));
        let mut uow = Uow::read(self.s).await?;
        Ok(uow.tx.find_all::<SyncLink>(filter).await?.into_iter().next())
    }

    /// The link for a local record on a connection, if it is paired.
    pub async fn link_for_local(&self, connection: &str, local: EntityRef) -> Result<Option<SyncLink>> {
        let filter = Filter::eq("connection", connection)
            .and(Filter::eq("local_kind", local.kind))
            .and(Filter::eq("local_id", local.id));
        let mut uow = Uow::read(self.s).await?;
        Ok(uow.tx.find_all::<SyncLink>(filter).await?.into_iter().next())
    }

    /// Every link of a connection for one remote kind, oldest first.
    pub async fn links(&self, connection: &str, remote_kind: &str) -> Result<Vec<SyncLink>> {
        let filter = Filter::eq("connection", connection).and(Filter::eq("remote_kind", remote_kind));
        let mut uow = Uow::read(self.s).await?;
        uow.tx.find_all::<SyncLink>(filter).await
    }

    /// The links of a connection with conflicts resolved since the last sync handled them.
    pub async fn resolved(&self, connection: &str) -> Result<Vec<SyncLink>> {
        let filter = Filter::eq("connection", connection).and(Filter::gt("resolved", 0i64));
        let mut uow = Uow::read(self.s).await?;
        uow.tx.find_all::<SyncLink>(filter).await
    }

    /// Marks a link's resolutions as carried across (see [`resolved`](Self::resolved)).
    pub async fn settle(&self, link: SyncLinkId) -> Result<()> {
        let mut uow = Uow::write(self.s).await?;
        let mut l = uow.tx.require::<SyncLink>(link).await?;
        if l.resolved.is_empty() {
            return Ok(());
        }
        l.resolved.clear();
        l.version += 1;
        l.updated_at = uow.now;
        uow.tx.update(l.into_record()).await?;
        uow.commit().await?;
        Ok(())
    }

    /// The links of a connection with conflicts waiting to be resolved.
    pub async fn conflicts(&self, connection: &str) -> Result<Vec<SyncLink>> {
        let filter = Filter::eq("connection", connection).and(Filter::gt("conflicts", 0i64));
        let mut uow = Uow::read(self.s).await?;
        uow.tx.find_all::<SyncLink>(filter).await
    }

    /// Creates the link for `input`'s remote record, or replaces what the existing one
    /// records. A local record already paired with another remote record on the same
    /// connection is refused (`Duplicate` on `local`).
    pub async fn put_link(&self, mut input: LinkInput) -> Result<SyncLink> {
        let mut ch = Checks::default();
        check_key(&mut ch, "connection", &mut input.connection);
        check_key(&mut ch, "remote_kind", &mut input.remote_kind);
        check_key(&mut ch, "remote_id", &mut input.remote_id);
        if let Some(v) = &mut input.remote_version {
            check_key(&mut ch, "remote_version", v);
        }
        Error::check(ch.errs)?;
        let mut uow = Uow::write(self.s).await?;
        if !uow.exists(input.local).await? {
            return Err(Error::invalid(
                "local",
                FieldErrorCode::NotFound,
                format!("no {} {} in this tenant", input.local.kind, input.local.id),
            ));
        }
        let filter = Filter::eq("connection", input.connection.as_str())
            .and(Filter::eq("remote_kind", input.remote_kind.as_str()))
            .and(Filter::eq("remote_id", input.remote_id.as_str()));
        let existing = uow.tx.find_all::<SyncLink>(filter).await?.into_iter().next();
        let link = match existing {
            Some(mut l) => {
                l.local = input.local;
                l.remote_version = input.remote_version;
                l.snapshot = input.snapshot;
                l.conflicts = input.conflicts;
                l.synced_at = uow.now;
                l.version += 1;
                l.updated_at = uow.now;
                uow.tx.update(l.clone().into_record()).await?;
                l
            }
            None => {
                let l = new_record!(
                    uow,
                    SyncLink {
                        connection: input.connection,
                        local: input.local,
                        remote_kind: input.remote_kind,
                        remote_id: input.remote_id,
                        remote_version: input.remote_version,
                        snapshot: input.snapshot,
                        conflicts: input.conflicts,
                        resolved: Vec::new(),
                        synced_at: uow.now,
                    }
                );
                uow.tx.insert(l.clone().into_record()).await?;
                l
            }
        };
        uow.commit().await?;
        Ok(link)
    }

    /// Resolves the conflict on `field`: the conflict is dropped and the merge base set to the
    /// losing side's value, so the next sync carries the winning value across.
    pub async fn resolve(&self, link: SyncLinkId, field: &str, resolution: Resolution) -> Result<SyncLink> {
        let mut uow = Uow::write(self.s).await?;
        let mut l = uow.tx.require::<SyncLink>(link).await?;
        let Some(pos) = l.conflicts.iter().position(|c| c.field == field) else {
            return Err(Error::invalid("field", FieldErrorCode::NotFound, format!("no conflict on `{field}`")));
        };
        let c = l.conflicts.remove(pos);
        let base = match resolution {
            Resolution::KeepLocal => c.remote,
            Resolution::TakeRemote => c.local,
        };
        l.resolved.push(c.field.clone());
        l.snapshot.insert(c.field, base);
        l.version += 1;
        l.updated_at = uow.now;
        uow.tx.update(l.clone().into_record()).await?;
        uow.commit().await?;
        Ok(l)
    }

    /// Removes a link (the records stay).
    pub async fn remove_link(&self, link: SyncLinkId) -> Result<()> {
        let mut uow = Uow::write(self.s).await?;
        let l = uow.tx.require::<SyncLink>(link).await?;
        uow.tx.delete(SyncLink::KIND, l.id.into(), l.version).await?;
        uow.commit().await?;
        Ok(())
    }

    /// The state under `key`, if any.
    pub async fn state(&self, key: &str) -> Result<Option<SyncState>> {
        let mut uow = Uow::read(self.s).await?;
        Ok(uow.tx.find_all::<SyncState>(Filter::eq("key", key)).await?.into_iter().next())
    }

    /// Writes the state under `key`, if its version is still `expected` (None: if there is
    /// none yet). Otherwise [`Error::Conflict`], and nothing is written.
    pub async fn put_state(&self, key: &str, value: serde_json::Value, expected: Option<u64>) -> Result<SyncState> {
        let mut key = key.to_owned();
        let mut ch = Checks::default();
        check_key(&mut ch, "key", &mut key);
        Error::check(ch.errs)?;
        let mut uow = Uow::write(self.s).await?;
        let current = uow.tx.find_all::<SyncState>(Filter::eq("key", key.as_str())).await?.into_iter().next();
        let state = match (current, expected) {
            (Some(mut s), Some(v)) if s.version == v => {
                s.value = value;
                s.version += 1;
                s.updated_at = uow.now;
                uow.tx.update(s.clone().into_record()).await?;
                s
            }
            (None, None) => {
                let s = new_record!(uow.new_id(), self.s.tenant(), uow.now, SyncState { key, value });
                uow.tx.insert(s.clone().into_record()).await?;
                s
            }
            (current, expected) => {
                return Err(Error::Conflict {
                    kind: SyncState::KIND,
                    id: current.as_ref().map_or_else(uuid::Uuid::nil, |s| s.id.into()),
                    expected: expected.unwrap_or(0),
                    found: current.map(|s| s.version),
                });
            }
        };
        uow.commit().await?;
        Ok(state)
    }
}
