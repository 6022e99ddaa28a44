//! The webhooks Xero and QuickBooks Online send: signature checked on the raw body first,
//! then parsed into the changes they announce, for connected organisations only.
//!
//! Both vendors only *notify* ("contact X changed"); answer quickly, then run the
//! connection's sync, which fetches what changed.

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::signing::{SignatureError, verify_quickbooks, verify_xero};

/// Why an inbound webhook was refused. Nothing should be done with a refused webhook.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InboundError {
    /// The signature is missing, malformed or wrong (answer 401).
    #[error(transparent)]
    Signature(#[from] SignatureError),
    /// Signed, but not the vendor's payload format (answer 400).
    #[error("malformed webhook payload: {0}")]
    Malformed(String),
    /// Signed, but about an organisation this application has not connected (answer 400).
    #[error("the webhook is for organisation `{found}`, which is not connected")]
    UnknownTenant {
        /// The organisation id the payload names.
        found: String,
    },
}

/// One change a vendor announced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VendorChange {
    /// The organisation (Xero tenant id, QuickBooks realm id).
    pub tenant: String,
    /// The kind of record (`Contact`, `Invoice`, `Customer`, `Payment`…).
    pub entity: String,
    /// Its id there.
    pub id: String,
    /// What happened (`Create`, `Update`, `Delete`, `Merge`…).
    pub operation: String,
    /// When, if the vendor says.
    pub at: Option<DateTime<Utc>>,
}

/// Most changes one payload may announce (vendors batch far fewer).
const MAX_CHANGES: usize = 10_000;

fn title(s: &str) -> String {
    let lower = s.to_ascii_lowercase();
    let mut c = lower.chars();
    c.next().map(|f| f.to_ascii_uppercase().to_string() + c.as_str()).unwrap_or_default()
}

/// Keeps the changes for connected organisations. Vendors send one payload for every
/// organisation an app serves, so others are dropped (and logged); a payload with changes for
/// none of ours is refused.
fn for_connected(changes: Vec<VendorChange>, tenants: &[&str]) -> Result<Vec<VendorChange>, InboundError> {
    let total = changes.len();
    let (ours, others): (Vec<_>, Vec<_>) = changes.into_iter().partition(|c| tenants.contains(&c.tenant.as_str()));
    if let Some(first) = others.first() {
        if ours.is_empty() {
            return Err(InboundError::UnknownTenant { found: first.tenant.clone() });
        }
        tracing::warn!(
            dropped = others.len(),
            total,
            "webhook changes for organisations not connected here were dropped"
        );
    }
    Ok(ours)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct XeroPayload {
    events: Vec<XeroEvent>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct XeroEvent {
    resource_id: String,
    event_category: String,
    event_type: String,
    tenant_id: String,
    event_date_utc: Option<String>,
}

/// Checks and reads a Xero webhook for the organisations in `tenants`. An empty `events`
/// list is Xero's "intent to receive" probe: accept it (200) when the signature holds.
///
/// ```
/// use crm_integrations::webhooks::{parse_xero_webhook, InboundError};
/// let body = br#"{"events":[],"firstEventSequence":0,"lastEventSequence":0,"entropy":"X"}"#;
/// assert!(matches!(parse_xero_webhook(body, Some("AAAA"), "key", &["t1"]), Err(InboundError::Signature(_))));
/// ```
pub fn parse_xero_webhook(
    body: &[u8],
    x_xero_signature: Option<&str>,
    webhook_key: &str,
    tenants: &[&str],
) -> Result<Vec<VendorChange>, InboundError> {
    verify_xero(body, x_xero_signature, webhook_key)?;
    let p: XeroPayload = serde_json::from_slice(body).map_err(|e| InboundError::Malformed(e.to_string()))?;
    if p.events.len() > MAX_CHANGES {
        return Err(InboundError::Malformed(format!("{} events in one payload", p.events.len())));
    }
    let changes = p
        .events
        .into_iter()
        .map(|e| VendorChange {
            tenant: e.tenant_id,
            entity: title(&e.event_category),
            id: e.resource_id,
            operation: title(&e.event_type),
            at: instant(e.event_date_utc.as_deref()),
        })
        .collect();
    for_connected(changes, tenants)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct QboLegacy {
    event_notifications: Vec<QboNotification>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct QboNotification {
    realm_id: String,
    data_change_event: QboDataChange,
}

#[derive(Deserialize)]
struct QboDataChange {
    entities: Vec<QboEntity>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct QboEntity {
    name: String,
    id: String,
    operation: String,
    last_updated: Option<String>,
}

#[derive(Deserialize)]
struct QboCloudEvent {
    #[serde(rename = "type")]
    kind: String,
    intuitentityid: String,
    intuitaccountid: String,
    time: Option<String>,
}

fn instant(s: Option<&str>) -> Option<DateTime<Utc>> {
    s.and_then(|d| DateTime::parse_from_rfc3339(d).ok()).map(|d| d.with_timezone(&Utc))
}

/// Checks and reads a QuickBooks Online webhook for the companies in `realms`: the legacy
/// `eventNotifications` payload or the CloudEvents array (`qbo.customer.updated.v1`).
pub fn parse_quickbooks_webhook(
    body: &[u8],
    intuit_signature: Option<&str>,
    verifier_token: &str,
    realms: &[&str],
) -> Result<Vec<VendorChange>, InboundError> {
    verify_quickbooks(body, intuit_signature, verifier_token)?;
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|e| InboundError::Malformed(e.to_string()))?;
    let mut out = Vec::new();
    if value.is_array() {
        let events: Vec<QboCloudEvent> =
            serde_json::from_value(value).map_err(|e| InboundError::Malformed(e.to_string()))?;
        for e in events {
            // qbo.<entity>.<operation>.v<n>
            let parts: Vec<&str> = e.kind.split('.').collect();
            let [_, entity, operation, _] = parts[..] else {
                return Err(InboundError::Malformed(format!("event type `{}`", e.kind)));
            };
            out.push(VendorChange {
                tenant: e.intuitaccountid.clone(),
                entity: title(entity),
                id: e.intuitentityid,
                operation: title(operation),
                at: instant(e.time.as_deref()),
            });
        }
    } else {
        let p: QboLegacy = serde_json::from_value(value).map_err(|e| InboundError::Malformed(e.to_string()))?;
        for n in p.event_notifications {
            for e in n.data_change_event.entities {
                out.push(VendorChange {
                    tenant: n.realm_id.clone(),
                    entity: e.name,
                    id: e.id,
                    operation: e.operation,
                    at: instant(e.last_updated.as_deref()),
                });
            }
        }
    }
    if out.len() > MAX_CHANGES {
        return Err(InboundError::Malformed(format!("{} changes in one payload", out.len())));
    }
    for_connected(out, realms)
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use hmac::{Hmac, KeyInit, Mac};

    use super::*;

    fn sign(key: &str, body: &[u8]) -> String {
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).unwrap();
        mac.update(body);
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    }

    const XERO: &[u8] = br#"{"events":[{"resourceUrl":"https://api.xero.com/api.xro/2.0/Contacts/717f2bfc","resourceId":"717f2bfc-c6d4-41fd-b238-3f2f0c0cf777","eventDateUtc":"2026-11-30T10:20:17.000Z","eventType":"UPDATE","eventCategory":"CONTACT","tenantId":"c2cc9b6e-9458-4c7d-93cc-f02b81b0594f","tenantType":"ORGANISATION"}],"firstEventSequence":1,"lastEventSequence":1,"entropy":"S0MEENTROPY"}"#;

    #[test]
    fn xero_changes_are_read_for_connected_tenants_only() {
        let sig = sign("key", XERO);
        let changes = parse_xero_webhook(XERO, Some(&sig), "key", &["c2cc9b6e-9458-4c7d-93cc-f02b81b0594f"]).unwrap();
        assert_eq!(changes.len(), 1);
        assert_eq!((changes[0].entity.as_str(), changes[0].operation.as_str()), ("Contact", "Update"));
        assert_eq!(changes[0].id, "717f2bfc-c6d4-41fd-b238-3f2f0c0cf777");
        // Signed, but for an organisation not connected here.
        let err = parse_xero_webhook(XERO, Some(&sig), "key", &["another-tenant"]).unwrap_err();
        assert_eq!(err, InboundError::UnknownTenant { found: "c2cc9b6e-9458-4c7d-93cc-f02b81b0594f".into() });
        // Forged: a signature from another key, or a body changed after signing.
        assert!(matches!(
            parse_xero_webhook(XERO, Some(&sign("other", XERO)), "key", &[]),
            Err(InboundError::Signature(_))
        ));
        let mut tampered = XERO.to_vec();
        tampered[20] ^= 1;
        assert!(matches!(parse_xero_webhook(&tampered, Some(&sig), "key", &[]), Err(InboundError::Signature(_))));
        // Signed garbage is malformed, not a panic.
        let junk = b"{\"events\": 7}";
        assert!(matches!(
            parse_xero_webhook(junk, Some(&sign("key", junk)), "key", &[]),
            Err(InboundError::Malformed(_))
        ));
        let bad_utf8 = b"{\"events\":[\"\xff\xfe\"]}";
        assert!(matches!(
            parse_xero_webhook(bad_utf8, Some(&sign("key", bad_utf8)), "key", &[]),
            Err(InboundError::Malformed(_))
        ));
    }

    #[test]
    fn a_payload_for_several_organisations_yields_only_ours() {
        let body = br#"{"events":[{"resourceId":"a1","eventCategory":"INVOICE","eventType":"CREATE","tenantId":"ours"},{"resourceId":"b2","eventCategory":"CONTACT","eventType":"UPDATE","tenantId":"someone-else"}],"firstEventSequence":1,"lastEventSequence":2,"entropy":"E"}"#;
        let got = parse_xero_webhook(body, Some(&sign("key", body)), "key", &["ours"]).unwrap();
        assert_eq!(got.iter().map(|c| (c.tenant.as_str(), c.id.as_str())).collect::<Vec<_>>(), vec![("ours", "a1")]);
    }

    #[test]
    fn quickbooks_legacy_and_cloudevents_payloads_are_read_for_connected_realms() {
        let legacy = br#"{"eventNotifications":[{"realmId":"9130350604308576","dataChangeEvent":{"entities":[{"name":"Customer","id":"58","operation":"Update","lastUpdated":"2026-11-30T10:15:00.000Z"},{"name":"Invoice","id":"130","operation":"Create","lastUpdated":"2026-11-30T10:16:00.000Z"}]}}]}"#;
        let got = parse_quickbooks_webhook(legacy, Some(&sign("tok", legacy)), "tok", &["9130350604308576"]).unwrap();
        assert_eq!(
            got.iter().map(|c| (c.entity.as_str(), c.id.as_str())).collect::<Vec<_>>(),
            vec![("Customer", "58"), ("Invoice", "130")]
        );
        let cloud = br#"[{"specversion":"1.0","id":"88cd52ee-0001","source":"intuit.dsnBgbseACLLRZNxo2dfc4evmEJdxde58xeeYcZliOU=","type":"qbo.customer.merged.v1","datacontenttype":"application/json","time":"2026-11-30T10:15:00Z","intuitentityid":"58","intuitaccountid":"9130350604308576","data":{}}]"#;
        let got = parse_quickbooks_webhook(cloud, Some(&sign("tok", cloud)), "tok", &["9130350604308576"]).unwrap();
        assert_eq!(
            (got[0].entity.as_str(), got[0].operation.as_str(), got[0].id.as_str()),
            ("Customer", "Merged", "58")
        );
        assert_eq!(
            parse_quickbooks_webhook(cloud, Some(&sign("tok", cloud)), "tok", &["123"]).unwrap_err(),
            InboundError::UnknownTenant { found: "9130350604308576".into() }
        );
        assert!(matches!(
            parse_quickbooks_webhook(cloud, None, "tok", &[]),
            Err(InboundError::Signature(SignatureError::Missing(_)))
        ));
        let odd = br#"[{"type":"qbo.customer","intuitentityid":"1","intuitaccountid":"9"}]"#;
        assert!(matches!(
            parse_quickbooks_webhook(odd, Some(&sign("tok", odd)), "tok", &["9"]),
            Err(InboundError::Malformed(_))
        ));
    }
}
