//! OAuth2 / OpenID Connect bearer tokens: JWTs from a configured issuer, accepted beside API
//! keys. A token acts as the CRM user its `sub` names (a user id), or else its `email` claim
//! names, in the tenant of its `tenant` claim or the one configured.

use std::sync::Arc;

use crm::actor::Actor;
use crm::ids::{TenantId, UserId};
use crm::query::{Filter, Query};
use crm::service::{Crm, Session};
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

/// What a configured issuer's tokens must be, and the keys that sign them.
///
/// ```
/// let jwt = crm_server::Jwt::new("https://login.example.com/", "crm-api")
///     .hs256_secret(b"a shared secret of at least 32 bytes!!")?
///     .tenant(crm::ids::TenantId::new());
/// let options = crm_server::Options::default().jwt(jwt);
/// # let _ = options;
/// # Ok::<_, crm_server::JwtKeyError>(())
/// ```
#[derive(Clone)]
pub struct Jwt {
    issuer: String,
    audience: String,
    tenant: Option<TenantId>,
    keys: Vec<Key>,
}

#[derive(Clone)]
struct Key {
    id: Option<String>,
    algorithm: Algorithm,
    key: Arc<DecodingKey>,
}

impl std::fmt::Debug for Jwt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Jwt")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("tenant", &self.tenant)
            .field("keys", &self.keys.len())
            .finish()
    }
}

/// A key that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("JWT key: {0}")]
pub struct JwtKeyError(String);

impl Jwt {
    /// Tokens of `issuer` (their `iss`) for `audience` (in their `aud`). Add the keys that sign
    /// them with the methods below.
    pub fn new(issuer: impl Into<String>, audience: impl Into<String>) -> Self {
        Jwt { issuer: issuer.into(), audience: audience.into(), tenant: None, keys: Vec::new() }
    }

    /// The tenant of tokens without a `tenant` claim.
    pub fn tenant(mut self, tenant: TenantId) -> Self {
        self.tenant = Some(tenant);
        self
    }

    /// Tokens signed with HMAC-SHA-256 and `secret`.
    pub fn hs256_secret(mut self, secret: &[u8]) -> Result<Self, JwtKeyError> {
        let key = DecodingKey::from_secret(secret).map_err(|e| JwtKeyError(e.to_string()))?;
        self.keys.push(Key { id: None, algorithm: Algorithm::HS256, key: Arc::new(key) });
        Ok(self)
    }

    /// Tokens signed by the RSA (RS256) or elliptic-curve (ES256, ES384) key whose public half
    /// is `pem`.
    pub fn public_key_pem(mut self, algorithm: Algorithm, pem: &[u8]) -> Result<Self, JwtKeyError> {
        let key = match algorithm {
            Algorithm::RS256 | Algorithm::RS384 | Algorithm::RS512 => DecodingKey::from_rsa_pem(pem),
            Algorithm::ES256 | Algorithm::ES384 => DecodingKey::from_ec_pem(pem),
            other => return Err(JwtKeyError(format!("{other:?} is not a public-key algorithm taken here"))),
        }
        .map_err(|e| JwtKeyError(e.to_string()))?;
        self.keys.push(Key { id: None, algorithm, key: Arc::new(key) });
        Ok(self)
    }

    /// Tokens signed by the keys of a JWK set, the document an issuer publishes at its
    /// `jwks_uri`; a token's `kid` picks its key.
    pub fn jwks(mut self, document: &str) -> Result<Self, JwtKeyError> {
        let set: JwkSet = serde_json::from_str(document).map_err(|e| JwtKeyError(format!("not a JWK set: {e}")))?;
        for jwk in &set.keys {
            let algorithm = match (&jwk.common.key_algorithm, &jwk.algorithm) {
                (Some(a), _) => Algorithm::try_from(*a).map_err(|e| JwtKeyError(e.to_string()))?,
                (None, AlgorithmParameters::RSA(_)) => Algorithm::RS256,
                (None, AlgorithmParameters::EllipticCurve(p)) if p.curve == EllipticCurve::P256 => Algorithm::ES256,
                (None, AlgorithmParameters::EllipticCurve(p)) if p.curve == EllipticCurve::P384 => Algorithm::ES384,
                (None, AlgorithmParameters::OctetKeyPair(_)) => Algorithm::EdDSA,
                (None, _) => return Err(JwtKeyError("a key without `alg` of a kind not known here".into())),
            };
            let key = DecodingKey::from_jwk(jwk).map_err(|e| JwtKeyError(e.to_string()))?;
            self.keys.push(Key { id: jwk.common.key_id.clone(), algorithm, key: Arc::new(key) });
        }
        Ok(self)
    }

    /// The session `token` acts in, or why it is refused.
    pub(crate) async fn session(&self, crm: &Crm, token: &str) -> Result<Session, String> {
        let header = jsonwebtoken::decode_header(token).map_err(|e| format!("not a JWT: {e}"))?;
        // The algorithm is the key's, never the token's own say: a token naming another (a
        // public key used as an HMAC secret, `none`) matches no key.
        let keys = self
            .keys
            .iter()
            .filter(|k| k.algorithm == header.alg && (header.kid.is_none() || k.id.is_none() || k.id == header.kid));
        let mut last = String::from("no key of this issuer signs with this algorithm and key id");
        for k in keys {
            let mut v = Validation::new(k.algorithm);
            v.set_issuer(&[&self.issuer]);
            v.set_audience(&[&self.audience]);
            v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
            v.leeway = 30;
            match jsonwebtoken::decode::<Claims>(token, &k.key, &v) {
                Ok(data) => return self.user(crm, data.claims).await,
                Err(e) => last = e.to_string(),
            }
        }
        Err(last)
    }

    /// The session of the user `claims` name.
    async fn user(&self, crm: &Crm, claims: Claims) -> Result<Session, String> {
        let tenant = match (&claims.tenant, self.tenant) {
            (Some(t), _) => TenantId::from_uuid(t.parse().map_err(|_| "the `tenant` claim is not a tenant id")?),
            (None, Some(t)) => t,
            (None, None) => return Err("the token names no tenant (a `tenant` claim)".into()),
        };
        let system = crm.as_actor(&Actor::system(tenant));
        let user = match uuid::Uuid::parse_str(&claims.sub) {
            Ok(id) => system.users().get(UserId::from_uuid(id)).await.ok(),
            Err(_) => match &claims.email {
                Some(email) => {
                    let q = Query::new(Filter::eq("email", email.trim().to_lowercase())).limit(1);
                    system.users().list(&q).await.map_err(|e| e.to_string())?.items.into_iter().next()
                }
                None => None,
            },
        };
        match user {
            Some(u) if u.active => Ok(crm.as_actor(&Actor::user(tenant, u.id))),
            Some(_) => Err("the token's user is deactivated".into()),
            None => Err("the token names no user of this CRM (its `sub` as a user id, or its `email`)".into()),
        }
    }
}

/// The claims read from a token (the registered ones are checked by the validation).
#[derive(Deserialize)]
struct Claims {
    sub: String,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    tenant: Option<String>,
}
