//! Sensitive fields sealed at rest (feature `seal`).
//!
//! With a [`Keyring`] given to the CRM ([`CrmBuilder::seal`](crate::service::CrmBuilder::seal)),
//! every sensitive field ([`sensitive_fields`](crate::model::sensitive_fields) and custom fields
//! defined [`sensitive`](crate::model::FieldDefinition::sensitive)) is encrypted before it
//! reaches the store, in records and in the audit trail's values:
//!
//! - XChaCha20-Poly1305 (RustCrypto's `chacha20poly1305`), a random 192-bit nonce per value;
//!   the tenant, the record's kind and id and the field's name are the associated data, so a
//!   sealed value copied onto another record or field does not open;
//! - the record keeps it as `custom["_sealed.<field>"] = "sealed:v1:<key id>:<base64>"`, the
//!   field itself empty (so no typed column, search row or index holds it);
//! - a field filters can name also keeps a keyed blind index, `custom["_blind.<field>"]`
//!   (HMAC-SHA-256 of the value under a key derived from each sealing key): `=`, `!=`, `in`
//!   and null checks on it still run in the store; ranges, prefixes and sorts are refused;
//! - key rotation: a keyring has one sealing key and any number of retired ones kept for
//!   opening what they sealed; [`reseal`](crate::service::Crm::reseal) moves every record to
//!   the sealing key.
//!
//! What the store holds is opened on the way back, so reads, filters and the audit trail work
//! as without sealing.

mod tx;

pub(crate) use tx::SealedStore;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use hmac::{Hmac, KeyInit as MacKey, Mac};
use sha2::Sha256;

use crate::entity::EntityKind;
use crate::error::{Error, FieldErrorCode, Result};
use crate::event::Event;
use crate::ids::TenantId;
use crate::model::Record;
use crate::model::field_security::{clear_field, set_field, value_of};
use crate::value::Value;

/// The prefix of a sealed value.
const PREFIX: &str = "sealed:v1:";
/// Custom keys holding a sealed field, and its blind index.
const SEALED: &str = "_sealed.";
const BLIND: &str = "_blind.";

/// One key: its id, the cipher, and the blind-index key derived from it.
struct SealKey {
    id: u32,
    cipher: XChaCha20Poly1305,
    blind: [u8; 32],
}

impl std::fmt::Debug for SealKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SealKey({})", self.id)
    }
}

/// The keys sensitive fields are sealed with: one sealing key, and retired keys kept to open
/// what they sealed. Keys are 32 random bytes the application keeps (a secrets manager, an
/// environment variable); the id is stored with each sealed value.
///
/// ```
/// use crm_core::seal::Keyring;
/// let ring = Keyring::new(2, [7u8; 32]).retired(1, [9u8; 32]).unwrap();
/// assert_eq!(ring.sealing_key(), 2);
/// assert!(Keyring::new(1, [7u8; 32]).retired(1, [9u8; 32]).is_err(), "ids are unique");
/// ```
#[derive(Debug)]
pub struct Keyring {
    /// The sealing key first.
    keys: Vec<SealKey>,
}

impl Keyring {
    /// A keyring sealing with `key`, known by `id`.
    pub fn new(id: u32, key: [u8; 32]) -> Keyring {
        Keyring { keys: vec![SealKey::new(id, key)] }
    }

    /// Adds a retired key: it opens what it sealed, and seals nothing new.
    pub fn retired(mut self, id: u32, key: [u8; 32]) -> Result<Keyring> {
        if self.keys.iter().any(|k| k.id == id) {
            let at = self.keys.len();
            return Err(Error::invalid(
                format!("keys[{at}].id"),
                FieldErrorCode::Duplicate,
                format!("key id {id} twice"),
            ));
        }
        self.keys.push(SealKey::new(id, key));
        Ok(self)
    }

    /// The id of the key new values are sealed with.
    pub fn sealing_key(&self) -> u32 {
        self.keys[0].id
    }

    fn key(&self, id: u32) -> Option<&SealKey> {
        self.keys.iter().find(|k| k.id == id)
    }

    /// `plain` sealed for `field` of record `id` of `kind` in `tenant`.
    fn seal(&self, ad: &str, plain: &serde_json::Value) -> Result<String> {
        let key = &self.keys[0];
        let mut nonce = [0u8; 24];
        getrandom::fill(&mut nonce).map_err(|e| Error::storage(format!("no randomness for a nonce: {e}")))?;
        let msg = serde_json::to_vec(plain).map_err(|e| Error::storage(e.to_string()))?;
        let sealed = key
            .cipher
            .encrypt(&XNonce::from(nonce), Payload { msg: &msg, aad: ad.as_bytes() })
            .map_err(|_| Error::storage("sealing a field failed"))?;
        let mut out = nonce.to_vec();
        out.extend(sealed);
        Ok(format!("{PREFIX}{}:{}", key.id, B64.encode(out)))
    }

    /// Opens a sealed value: None when `text` is not one (or names a key this ring lacks: an
    /// error), an error when it was altered or moved to another record or field.
    fn open(&self, ad: &str, text: &str) -> Result<Option<serde_json::Value>> {
        let Some(rest) = text.strip_prefix(PREFIX) else { return Ok(None) };
        let Some((id, body)) = rest.split_once(':') else { return Ok(None) };
        let (Ok(id), Ok(bytes)) = (id.parse::<u32>(), B64.decode(body)) else { return Ok(None) };
        let key = self
            .key(id)
            .ok_or_else(|| Error::storage(format!("a field is sealed with key {id}, which the keyring lacks")))?;
        if bytes.len() < 24 {
            return Err(Error::storage("a sealed field is cut short"));
        }
        let (nonce, sealed) = bytes.split_at(24);
        let nonce: [u8; 24] = nonce.try_into().map_err(|_| Error::storage("a sealed field is cut short"))?;
        let plain =
            key.cipher.decrypt(&XNonce::from(nonce), Payload { msg: sealed, aad: ad.as_bytes() }).map_err(|_| {
                Error::storage(format!("a sealed field does not open: altered, or not this record's ({ad})"))
            })?;
        serde_json::from_slice(&plain).map(Some).map_err(|e| Error::storage(e.to_string()))
    }

    /// The blind index of `value` of `field` under every key (the sealing key's first).
    fn blinds(&self, tenant: TenantId, kind: EntityKind, field: &str, value: &Value) -> Vec<String> {
        let canonical = canonical(value);
        self.keys
            .iter()
            .map(|k| {
                let mut mac = <Hmac<Sha256> as MacKey>::new_from_slice(&k.blind).expect("HMAC takes any key length");
                mac.update(format!("{tenant}|{kind}|{field}|").as_bytes());
                mac.update(canonical.as_bytes());
                format!("{}:{}", k.id, hex::encode(&mac.finalize().into_bytes()[..16]))
            })
            .collect()
    }

    /// Seals the sensitive `fields` of `rec` (field paths: `birthday`, `custom.rating`), with
    /// a blind index for those in `blind`.
    pub(crate) fn seal_record(&self, tenant: TenantId, rec: &mut Record, fields: &[(String, bool)]) -> Result<()> {
        let (kind, id) = (rec.kind(), rec.id());
        let mut sealed = Vec::new();
        for (field, blind) in fields {
            let plain = value_of(rec, field);
            if plain.is_null() {
                continue;
            }
            let typed = match field.strip_prefix("custom.") {
                Some(key) => rec.custom().and_then(|c| c.get(key)).cloned(),
                None => rec.std_field(field),
            };
            clear_field(rec, field);
            let ad = format!("{tenant}|{kind}|{id}|{field}");
            sealed.push((format!("{SEALED}{field}"), Value::Text(self.seal(&ad, &plain)?)));
            if *blind && let Some(v) = typed {
                let first = self.blinds(tenant, kind, field, &v).remove(0);
                sealed.push((format!("{BLIND}{field}"), Value::Text(first)));
            }
        }
        if let Some(custom) = rec.custom_mut() {
            custom.retain(|k, _| !k.starts_with(SEALED) && !k.starts_with(BLIND));
            custom.extend(sealed);
        }
        Ok(())
    }

    /// Opens every sealed field of `rec` and drops the blind indexes.
    pub(crate) fn open_record(&self, tenant: TenantId, rec: &mut Record) -> Result<()> {
        let (kind, id) = (rec.kind(), rec.id());
        let Some(custom) = rec.custom_mut() else { return Ok(()) };
        if !custom.keys().any(|k| k.starts_with(SEALED) || k.starts_with(BLIND)) {
            return Ok(());
        }
        let sealed: Vec<(String, Value)> =
            custom.iter().filter(|(k, _)| k.starts_with(SEALED)).map(|(k, v)| (k.clone(), v.clone())).collect();
        custom.retain(|k, _| !k.starts_with(SEALED) && !k.starts_with(BLIND));
        for (key, v) in sealed {
            let field = &key[SEALED.len()..];
            let Value::Text(text) = v else { continue };
            let ad = format!("{tenant}|{kind}|{id}|{field}");
            let Some(plain) = self.open(&ad, &text)? else { continue };
            match field.strip_prefix("custom.") {
                Some(k) => {
                    let v: Value = serde_json::from_value(plain).map_err(|e| Error::storage(e.to_string()))?;
                    if let Some(custom) = rec.custom_mut() {
                        custom.insert(k.to_owned(), v);
                    }
                }
                None => {
                    if !set_field(rec, field, plain) {
                        return Err(Error::storage(format!("sealed field `{field}` of a {kind} does not fit it")));
                    }
                }
            }
        }
        Ok(())
    }

    /// The key ids the sealed fields of `rec` use.
    pub(crate) fn key_ids(rec: &Record) -> Vec<u32> {
        let Some(custom) = rec.custom() else { return Vec::new() };
        custom
            .iter()
            .filter(|(k, _)| k.starts_with(SEALED))
            .filter_map(|(_, v)| match v {
                Value::Text(t) => t.strip_prefix(PREFIX)?.split_once(':')?.0.parse().ok(),
                _ => None,
            })
            .collect()
    }

    /// Seals the old and new values `e` records for its subject's sensitive `fields`.
    pub(crate) fn seal_event(&self, e: &mut Event, fields: &[(String, bool)]) -> Result<()> {
        let s = e.subject;
        for v in e.values.iter_mut().filter(|v| fields.iter().any(|(f, _)| *f == v.field)) {
            let ad = format!("{}|{}|{}|{}", e.tenant_id, s.kind, s.id, v.field);
            for side in [&mut v.old, &mut v.new] {
                if !side.is_null() {
                    *side = serde_json::Value::String(self.seal(&ad, side)?);
                }
            }
        }
        Ok(())
    }

    /// Opens the sealed values of `e`.
    pub(crate) fn open_event(&self, e: &mut Event) -> Result<()> {
        let s = e.subject;
        for v in &mut e.values {
            let ad = format!("{}|{}|{}|{}", e.tenant_id, s.kind, s.id, v.field);
            for side in [&mut v.old, &mut v.new] {
                if let serde_json::Value::String(text) = side
                    && let Some(plain) = self.open(&ad, text)?
                {
                    *side = plain;
                }
            }
        }
        Ok(())
    }
}

impl SealKey {
    fn new(id: u32, key: [u8; 32]) -> SealKey {
        let mut mac = <Hmac<Sha256> as MacKey>::new_from_slice(&key).expect("HMAC takes any key length");
        mac.update(b"crm blind index v1");
        let blind: [u8; 32] = mac.finalize().into_bytes().into();
        SealKey { id, cipher: XChaCha20Poly1305::new(&Key::from(key)), blind }
    }
}

/// One text for each value a filter and a record can hold, so that `Text("1990-01-02")` and
/// `Date(1990-01-02)`, `Int(5)` and `Decimal(5.0)` index alike.
fn canonical(v: &Value) -> String {
    match v {
        Value::Text(s) => s.clone(),
        Value::Int(i) => i.to_string(),
        Value::Decimal(d) => d.normalize().to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Date(d) => d.to_string(),
        Value::DateTime(t) => t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        Value::Id(u) => u.to_string(),
        Value::Money(m) => format!("{} {}", m.amount.normalize(), m.currency),
        other => serde_json::to_string(other).unwrap_or_default(),
    }
}
