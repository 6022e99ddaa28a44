//! Webhook signatures: the Standard Webhooks scheme for what the CRM sends, and the vendors'
//! schemes (Xero, QuickBooks Online) for what it receives. All comparisons are constant-time
//! (`hmac`'s `verify_slice`), on the raw body bytes.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Why a signature was not accepted.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureError {
    /// A header the scheme needs is missing.
    #[error("the `{0}` header is missing")]
    Missing(&'static str),
    /// A header is not in the scheme's format.
    #[error("the `{header}` header is malformed: {reason}")]
    Malformed {
        /// The header.
        header: &'static str,
        /// Why.
        reason: String,
    },
    /// The timestamp is outside the tolerance (a replay, or a clock far off).
    #[error("the timestamp is {age_secs} s from now; at most {tolerance_secs} s are accepted")]
    Stale {
        /// How far the timestamp is from now, in seconds.
        age_secs: i64,
        /// The tolerance, in seconds.
        tolerance_secs: i64,
    },
    /// No signature matches the body with any of the secrets.
    #[error("the signature does not match")]
    Mismatch,
}

/// A Standard Webhooks signing secret (`whsec_` and base64 of 24–64 random bytes). Its
/// `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret(Vec<u8>);

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret(..)")
    }
}

impl WebhookSecret {
    /// Parses `whsec_<base64>` (the prefix is optional).
    ///
    /// ```
    /// use crm_integrations::webhooks::WebhookSecret;
    /// assert!(WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").is_ok());
    /// assert!(WebhookSecret::parse("whsec_not base64!").is_err());
    /// ```
    pub fn parse(s: &str) -> Result<Self, SignatureError> {
        let b64 = s.trim().strip_prefix("whsec_").unwrap_or(s.trim());
        let bytes =
            B64.decode(b64).map_err(|e| SignatureError::Malformed { header: "secret", reason: e.to_string() })?;
        if !(16..=64).contains(&bytes.len()) {
            return Err(SignatureError::Malformed {
                header: "secret",
                reason: format!("{} bytes; a secret has 16 to 64", bytes.len()),
            });
        }
        Ok(WebhookSecret(bytes))
    }

    /// A new random secret of 32 bytes from the operating system's generator.
    pub fn generate() -> Self {
        let mut bytes = vec![0u8; 32];
        // The OS generator failing is not something a caller can handle.
        getrandom::fill(&mut bytes).unwrap_or_else(|e| panic!("the system random generator failed: {e}"));
        WebhookSecret(bytes)
    }

    /// The secret as `whsec_<base64>`, to give to the receiver once.
    pub fn expose(&self) -> String {
        format!("whsec_{}", B64.encode(&self.0))
    }

    fn mac(&self) -> HmacSha256 {
        // HMAC takes keys of any length.
        HmacSha256::new_from_slice(&self.0).unwrap_or_else(|_| unreachable!("HMAC accepts any key length"))
    }
}

/// The `webhook-signature` value for a message: one `v1,<base64>` per secret, space-separated
/// (several during a rotation, so receivers holding either secret accept it).
pub fn standard_signature(id: &str, timestamp: i64, body: &[u8], secrets: &[WebhookSecret]) -> String {
    secrets
        .iter()
        .map(|s| {
            let mut mac = s.mac();
            mac.update(format!("{id}.{timestamp}.").as_bytes());
            mac.update(body);
            format!("v1,{}", B64.encode(mac.finalize().into_bytes()))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Checks a Standard Webhooks message: the timestamp within `tolerance_secs` of `now` and one
/// of the `v1` signatures made with one of `secrets`.
pub fn verify_standard(
    id: Option<&str>,
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    secrets: &[WebhookSecret],
    now: i64,
    tolerance_secs: i64,
) -> Result<(), SignatureError> {
    let id = id.ok_or(SignatureError::Missing("webhook-id"))?;
    let ts = timestamp.ok_or(SignatureError::Missing("webhook-timestamp"))?;
    let sig = signature.ok_or(SignatureError::Missing("webhook-signature"))?;
    let ts: i64 = ts.trim().parse().map_err(|_| SignatureError::Malformed {
        header: "webhook-timestamp",
        reason: "not whole seconds since 1970".into(),
    })?;
    let age = now - ts;
    if age.abs() > tolerance_secs {
        return Err(SignatureError::Stale { age_secs: age, tolerance_secs });
    }
    let mut candidates = Vec::new();
    for part in sig.split(' ').filter(|p| !p.is_empty()) {
        let Some((version, b64)) = part.split_once(',') else {
            return Err(SignatureError::Malformed {
                header: "webhook-signature",
                reason: format!("`{part}` has no version"),
            });
        };
        if version != "v1" {
            continue; // other schemes (v1a) are not ours to check
        }
        if let Ok(bytes) = B64.decode(b64) {
            candidates.push(bytes);
        }
    }
    for secret in secrets {
        for c in &candidates {
            let mut mac = secret.mac();
            mac.update(format!("{id}.{ts}.").as_bytes());
            mac.update(body);
            if mac.verify_slice(c).is_ok() {
                return Ok(());
            }
        }
    }
    Err(SignatureError::Mismatch)
}

/// Checks base64(HMAC-SHA256(key, body)) against a header value, in constant time.
fn verify_b64_hmac(header: &'static str, value: Option<&str>, key: &[u8], body: &[u8]) -> Result<(), SignatureError> {
    let value = value.ok_or(SignatureError::Missing(header))?;
    let sig = B64
        .decode(value.trim())
        .map_err(|e| SignatureError::Malformed { header, reason: format!("not base64: {e}") })?;
    let mut mac = HmacSha256::new_from_slice(key).map_err(|_| SignatureError::Mismatch)?;
    mac.update(body);
    mac.verify_slice(&sig).map_err(|_| SignatureError::Mismatch)
}

/// Checks a Xero webhook: `x-xero-signature` is base64(HMAC-SHA256(webhook key, raw body)).
/// Answer 401 on an error (Xero's "intent to receive" check sends bad signatures on purpose).
pub fn verify_xero(body: &[u8], x_xero_signature: Option<&str>, webhook_key: &str) -> Result<(), SignatureError> {
    verify_b64_hmac("x-xero-signature", x_xero_signature, webhook_key.as_bytes(), body)
}

/// Checks a QuickBooks Online webhook: `intuit-signature` is base64(HMAC-SHA256(verifier
/// token, raw body)), for both the legacy and the CloudEvents payloads.
pub fn verify_quickbooks(
    body: &[u8],
    intuit_signature: Option<&str>,
    verifier_token: &str,
) -> Result<(), SignatureError> {
    verify_b64_hmac("intuit-signature", intuit_signature, verifier_token.as_bytes(), body)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Known answers, computed independently (Python's hmac/hashlib/base64). The Standard
    // Webhooks one is the specification's published example.
    const STD_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const STD_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const STD_TS: i64 = 1_614_265_330;
    const STD_BODY: &[u8] = br#"{"test": 2432232314}"#;
    const STD_SIG: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
    const XERO_KEY: &str = "Xm3Vq3s0pKyMA3Dh5qlMjnlSvjeDM8rZL4d2yHOZfxWmhE9qfYxQ0xNcqmkmKiWjSVWd/OZx+jBxyzqa8S2pJg==";
    const XERO_BODY: &[u8] =
        br#"{"events":[],"firstEventSequence": 0,"lastEventSequence": 0, "entropy": "YSXCMKAQBJOEMGUZEPFZ"}"#;
    const XERO_SIG: &str = "spYJhD5ujkIDf6PEs3mRY8eedJ9UmIRheEvOsYNrCcU=";
    const QBO_TOKEN: &str = "a1b2c3d4-e5f6-7890-abcd-ef1234567890";
    const QBO_BODY: &[u8] = br#"{"eventNotifications":[{"realmId":"9130350604308576","dataChangeEvent":{"entities":[{"name":"Customer","id":"58","operation":"Update","lastUpdated":"2026-11-30T10:15:00.000Z"}]}}]}"#;
    const QBO_SIG: &str = "q7drvfWxHipqPLTJ5WScWncEkq8Q7I2LtpqujW6/JK4=";

    fn std_secret() -> WebhookSecret {
        WebhookSecret::parse(STD_SECRET).unwrap()
    }

    #[test]
    fn standard_webhooks_signs_the_specifications_example() {
        assert_eq!(standard_signature(STD_ID, STD_TS, STD_BODY, &[std_secret()]), STD_SIG);
        let ok = verify_standard(
            Some(STD_ID),
            Some("1614265330"),
            Some(STD_SIG),
            STD_BODY,
            &[std_secret()],
            STD_TS + 10,
            300,
        );
        assert_eq!(ok, Ok(()));
    }

    #[test]
    fn standard_webhooks_refuses_forgeries_replays_and_garbage() {
        let v = |id, ts: &str, sig, body: &[u8], now| {
            verify_standard(Some(id), Some(ts), Some(sig), body, &[std_secret()], now, 300)
        };
        assert_eq!(v(STD_ID, "1614265330", STD_SIG, br#"{"test": 2432232315}"#, STD_TS), Err(SignatureError::Mismatch));
        assert_eq!(v("msg_other", "1614265330", STD_SIG, STD_BODY, STD_TS), Err(SignatureError::Mismatch));
        assert_eq!(v(STD_ID, "1614265331", STD_SIG, STD_BODY, STD_TS), Err(SignatureError::Mismatch));
        assert_eq!(
            v(STD_ID, "1614265330", STD_SIG, STD_BODY, STD_TS + 301),
            Err(SignatureError::Stale { age_secs: 301, tolerance_secs: 300 })
        );
        assert!(matches!(
            v(STD_ID, "soon", STD_SIG, STD_BODY, STD_TS),
            Err(SignatureError::Malformed { header: "webhook-timestamp", .. })
        ));
        assert!(matches!(v(STD_ID, "1614265330", "garbage", STD_BODY, STD_TS), Err(SignatureError::Malformed { .. })));
        assert_eq!(
            v(STD_ID, "1614265330", "v1a,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", STD_BODY, STD_TS),
            Err(SignatureError::Mismatch)
        );
        // A truncated signature is not a prefix match.
        assert_eq!(v(STD_ID, "1614265330", "v1,g0hM9SsE+OTPJTGt", STD_BODY, STD_TS), Err(SignatureError::Mismatch));
        assert_eq!(
            verify_standard(None, Some("1"), Some(STD_SIG), STD_BODY, &[std_secret()], 1, 300),
            Err(SignatureError::Missing("webhook-id"))
        );
    }

    #[test]
    fn a_rotation_signs_with_both_secrets_and_either_verifies() {
        let new = WebhookSecret::generate();
        let both = standard_signature(STD_ID, STD_TS, STD_BODY, &[new.clone(), std_secret()]);
        assert!(both.ends_with(STD_SIG) && both.starts_with("v1,") && both.contains(' '), "{both}");
        for receiver in [vec![std_secret()], vec![new.clone()]] {
            assert_eq!(
                verify_standard(Some(STD_ID), Some("1614265330"), Some(&both), STD_BODY, &receiver, STD_TS, 300),
                Ok(())
            );
        }
        assert_eq!(WebhookSecret::parse(&new.expose()), Ok(new.clone()));
        assert_eq!(format!("{new:?}"), "WebhookSecret(..)");
        assert_ne!(WebhookSecret::generate(), new);
        assert!(WebhookSecret::parse("whsec_c2hvcnQ=").is_err(), "too short");
    }

    #[test]
    fn xero_and_quickbooks_signatures_match_known_answers() {
        assert_eq!(verify_xero(XERO_BODY, Some(XERO_SIG), XERO_KEY), Ok(()));
        assert_eq!(verify_quickbooks(QBO_BODY, Some(QBO_SIG), QBO_TOKEN), Ok(()));
        // The other's signature, a changed body, a wrong key, no header, not base64.
        assert_eq!(verify_xero(XERO_BODY, Some(QBO_SIG), XERO_KEY), Err(SignatureError::Mismatch));
        let mut body = XERO_BODY.to_vec();
        body[10] ^= 1;
        assert_eq!(verify_xero(&body, Some(XERO_SIG), XERO_KEY), Err(SignatureError::Mismatch));
        assert_eq!(verify_quickbooks(QBO_BODY, Some(QBO_SIG), "another-token"), Err(SignatureError::Mismatch));
        assert_eq!(verify_xero(XERO_BODY, None, XERO_KEY), Err(SignatureError::Missing("x-xero-signature")));
        assert!(matches!(
            verify_quickbooks(QBO_BODY, Some("%%%"), QBO_TOKEN),
            Err(SignatureError::Malformed { header: "intuit-signature", .. })
        ));
    }
}
