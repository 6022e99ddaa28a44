//! Operations on a record of any kind, addressed by [`EntityRef`]: what extensions and
//! integrations need when they act on whatever record an event was about.

use super::Session;
use super::checks::Checks;
use super::uow::Uow;
use crate::entity::EntityRef;
use crate::error::{Error, FieldErrorCode, Result};
use crate::model::{Action, Record};
use crate::value::Value;

/// The tags of the kinds of record that have them.
fn tags_mut(rec: &mut Record) -> Option<&mut Vec<String>> {
    match rec {
        Record::Contact(r) => Some(&mut r.tags),
        Record::Company(r) => Some(&mut r.tags),
        Record::Deal(r) => Some(&mut r.tags),
        Record::Product(r) => Some(&mut r.tags),
        Record::Order(r) => Some(&mut r.tags),
        Record::Case(r) => Some(&mut r.tags),
        Record::Feedback(r) => Some(&mut r.tags),
        Record::Campaign(r) => Some(&mut r.tags),
        _ => None,
    }
}

impl Session {
    /// The record `r` refers to, if it exists in this tenant.
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// use crm_core::prelude::*;
    /// let crm = Crm::new(MemoryStore::new());
    /// let cx = crm.as_actor(&Actor::system(TenantId::new()));
    /// let ada = cx.contacts().create(NewContact::new("Ada", "Lovelace")).await?;
    /// let found = cx.record(EntityRef::new(EntityKind::Contact, ada.id)).await?;
    /// assert!(matches!(found, Some(Record::Contact(c)) if c.given_name == "Ada"));
    /// # Ok::<_, Error>(()) }).unwrap();
    /// ```
    /// A record out of the actor's read reach is `None`, as if it did not exist.
    pub async fn record(&self, r: EntityRef) -> Result<Option<Record>> {
        let mut uow = Uow::read(self).await?;
        match uow.load_record(r, Action::Read).await {
            Ok(mut rec) => {
                uow.redact(r.kind, std::slice::from_mut(&mut rec)).await?;
                Ok(Some(rec))
            }
            Err(Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Sets one custom value (`key` as registered, e.g. `real_estate.listing_status`; `Value::Null`
    /// clears it) on the current version of a record, as an update by this session's actor:
    /// the value is checked against its definition and every extension's rules run.
    pub async fn set_custom_value(&self, r: EntityRef, key: &str, value: Value) -> Result<Record> {
        self.patch(r, |rec, _| {
            let Some(custom) = rec.custom_mut() else {
                return Err(Error::invalid(
                    format!("custom.{key}"),
                    FieldErrorCode::Rule,
                    format!("{} records have no custom fields", r.kind),
                ));
            };
            if value.is_null() {
                custom.remove(key);
            } else {
                custom.insert(key.to_owned(), value);
            }
            Ok(())
        })
        .await
    }

    /// Adds a tag (trimmed, 1–100 characters) to the current version of a record; a tag it
    /// already has changes nothing.
    pub async fn add_tag(&self, r: EntityRef, tag: &str) -> Result<Record> {
        self.patch(r, |rec, ch| {
            let Some(tags) = tags_mut(rec) else {
                return Err(Error::invalid("tags", FieldErrorCode::Rule, format!("{} records have no tags", r.kind)));
            };
            tags.push(tag.to_owned());
            ch.tags(tags);
            Ok(())
        })
        .await
    }

    /// Applies `change` to the current version of `r` and saves it as a user's update.
    async fn patch(&self, r: EntityRef, change: impl FnOnce(&mut Record, &mut Checks) -> Result<()>) -> Result<Record> {
        let mut uow = Uow::write(self).await?;
        let before = uow.load_record(r, Action::Update).await?;
        let mut after = before.clone();
        let mut ch = Checks::default();
        change(&mut after, &mut ch)?;
        let saved = uow.save_record(&before, after, ch.errs, &[]).await?;
        uow.commit().await?;
        Ok(saved)
    }
}
