//! Sealing sensitive fields at rest, from the CRM's side: the builder's keyring, and moving
//! every record to a new sealing key (see [`crate::seal`]).

use std::collections::HashMap;
use std::sync::Arc;

use super::extension::Extension;
use super::{Crm, CrmBuilder};
use crate::entity::EntityKind;
use crate::error::{Error, Result};
use crate::ids::TenantId;
use crate::seal::{Keyring, SealedStore};
use crate::store::Store;

impl CrmBuilder {
    /// Seals every sensitive field with `keys` before it reaches the store (records and the
    /// audit trail's values); see [`crate::seal`].
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// use crm_core::prelude::*;
    /// use crm_core::seal::Keyring;
    /// let store = std::sync::Arc::new(MemoryStore::new());
    /// let crm = crm_core::service::CrmBuilder::from_arc(store.clone()).seal(Keyring::new(1, [42u8; 32])).build()?;
    /// let cx = crm.as_actor(&Actor::system(TenantId::new()));
    /// let ada = cx.contacts().create(NewContact::new("Ada", "Lovelace").family_notes("Two cats")).await?;
    /// assert_eq!(cx.contacts().get(ada.id).await?.family_notes.as_deref(), Some("Two cats"));
    /// // Underneath, the store holds it sealed.
    /// let mut tx = store.begin(cx.tenant(), crm_core::store::TxMode::ReadOnly).await?;
    /// let raw = tx.fetch::<Contact>(ada.id).await?.unwrap();
    /// assert_eq!(raw.family_notes, None);
    /// assert!(matches!(raw.custom.get("_sealed.family_notes"), Some(Value::Text(t)) if t.starts_with("sealed:v1:1:")));
    /// # Ok::<_, Error>(()) }).unwrap();
    /// ```
    pub fn seal(mut self, keys: Keyring) -> Self {
        self.keyring = Some(Arc::new(keys));
        self
    }
}

/// `store` sealed with `keys`, if given, with the sensitive fields the extensions define.
pub(super) fn wrap(
    store: Arc<dyn Store>,
    keys: Option<Arc<Keyring>>,
    extensions: &[Arc<dyn Extension>],
) -> (Arc<dyn Store>, Option<Arc<SealedStore>>) {
    let Some(keys) = keys else { return (store, None) };
    let mut fields: HashMap<EntityKind, Vec<String>> = HashMap::new();
    for ext in extensions {
        for def in ext.fields().into_iter().filter(|d| d.sensitive) {
            fields.entry(def.entity_kind).or_default().push(format!("custom.{}.{}", ext.id(), def.key));
        }
    }
    let sealed = Arc::new(SealedStore::new(store, keys, fields));
    (sealed.clone(), Some(sealed))
}

impl Crm {
    /// Seals again with the keyring's sealing key every record of `tenant` that a retired key
    /// sealed (or that was written before sealing was turned on), a page per transaction;
    /// `progress` gets the count so far. Returns how many records were resealed. The values in
    /// the audit trail stay sealed with the key that sealed them: keep retired keys to read
    /// them. Without a keyring, [`Error::Forbidden`].
    pub async fn reseal(&self, tenant: TenantId, mut progress: impl FnMut(u64) + Send) -> Result<u64> {
        let Some(sealed) = &self.inner.sealed else {
            return Err(Error::Forbidden("this CRM was built without a keyring: nothing is sealed".into()));
        };
        sealed.reseal(tenant, &mut progress).await
    }
}
