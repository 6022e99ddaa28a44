//! Bearer tokens (JWTs) of a configured issuer, beside API keys: accepted when the issuer, the
//! audience, the time and the signature are right, acting as the user they name; refused with
//! 401 otherwise, whatever the token claims about its own algorithm.

use crm_server::{Jwt, Options};
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header, get_current_timestamp};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{Api, api_with, problem};

const ISSUER: &str = "https://login.example.com/";
const SECRET: &[u8] = b"a shared secret of at least 32 bytes, for tests";
const ISSUER_KEY: &[u8] = include_bytes!("keys/es256-issuer.pem");
const ISSUER_PUBLIC: &[u8] = include_bytes!("keys/es256-issuer.pub.pem");
const ROGUE_KEY: &[u8] = include_bytes!("keys/es256-rogue.pem");

fn sign(claims: &Value, alg: Algorithm, key: &EncodingKey, kid: Option<&str>) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, key).unwrap()
}

fn hs(claims: &Value) -> String {
    sign(claims, Algorithm::HS256, &EncodingKey::from_secret(SECRET).unwrap(), None)
}

/// Claims of a token for `sub` in the API's tenant, valid for ten minutes.
fn claims(a: &Api, sub: &str) -> Value {
    json!({"iss": ISSUER, "aud": "crm-api", "sub": sub, "exp": get_current_timestamp() + 600,
           "tenant": a.tenant.to_string()})
}

#[tokio::test]
async fn tokens_of_the_issuer_act_as_the_user_they_name_and_others_are_refused() {
    let jwt = Jwt::new(ISSUER, "crm-api").hs256_secret(SECRET).unwrap();
    let a = api_with(Options::default().jwt(jwt)).await;
    let by_id = hs(&claims(&a, &a.rep_id.to_string()));
    let made = a.post("/v1/contacts", &by_id, json!({"given_name": "Tok", "family_name": "En"})).await;
    assert_eq!(made.0, StatusCode::CREATED, "{}", made.2);
    assert_eq!(made.2["owner_id"], a.rep_id.to_string().as_str(), "as the rep");
    let mut by_email = claims(&a, "auth0|5f1c");
    by_email["email"] = json!("RIA@acme.example");
    assert_eq!(a.get("/v1/contacts", &hs(&by_email)).await.2["items"].as_array().unwrap().len(), 1);
    assert_eq!(a.get("/v1/contacts", &a.admin).await.0, StatusCode::OK, "API keys still work");
    assert_eq!(a.doc()["components"]["securitySchemes"]["jwt"]["bearerFormat"], "JWT");

    let mut refused = Vec::new();
    for (why, claims) in [
        ("expired", {
            let mut c = claims(&a, &a.rep_id.to_string());
            c["exp"] = json!(get_current_timestamp() - 120);
            c
        }),
        ("audience", {
            let mut c = claims(&a, &a.rep_id.to_string());
            c["aud"] = json!("another-api");
            c
        }),
        ("issuer", {
            let mut c = claims(&a, &a.rep_id.to_string());
            c["iss"] = json!("https://evil.example/");
            c
        }),
        ("no tenant", {
            let mut c = claims(&a, &a.rep_id.to_string());
            c.as_object_mut().unwrap().remove("tenant");
            c
        }),
        ("no such user", claims(&a, &crm::uuid::Uuid::now_v7().to_string())),
        ("no exp", {
            let mut c = claims(&a, &a.rep_id.to_string());
            c.as_object_mut().unwrap().remove("exp");
            c
        }),
    ] {
        refused.push((why, hs(&claims)));
    }
    let other_secret = EncodingKey::from_secret(b"another secret, also long enough to use").unwrap();
    refused.push(("signature", sign(&claims(&a, &a.rep_id.to_string()), Algorithm::HS256, &other_secret, None)));
    let unsigned = {
        use base64::Engine;
        let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        format!("{}.{}.", b64(&json!({"alg": "none", "typ": "JWT"})), b64(&claims(&a, &a.rep_id.to_string())))
    };
    refused.push(("alg none", unsigned));
    refused.push(("garbage", "eyJhbGciOiJIUzI1NiJ9.e30.nope".to_owned()));
    for (why, token) in refused {
        let got = a.get("/v1/contacts", &token).await;
        problem(&got, StatusCode::UNAUTHORIZED, None);
        assert!(got.2["detail"].as_str().unwrap().starts_with("the token is not valid"), "{why}: {}", got.2);
    }
    let sys = a.crm.as_actor(&crm::actor::Actor::system(a.tenant));
    assert_eq!(sys.contacts().count(&crm::query::Filter::All).await.unwrap(), 1, "refused tokens wrote nothing");
}

#[tokio::test]
async fn a_published_key_set_verifies_tokens_by_key_id_and_no_token_picks_its_own_algorithm() {
    let issuer = EncodingKey::from_ec_pem(ISSUER_KEY).unwrap();
    let mut jwk = Jwk::from_encoding_key(&issuer, Algorithm::ES256).unwrap();
    jwk.common.key_id = Some("2026-12".into());
    let document = serde_json::to_string(&JwkSet { keys: vec![jwk] }).unwrap();
    let jwt = Jwt::new(ISSUER, "crm-api").jwks(&document).unwrap();
    let a = api_with(Options::default().jwt(jwt)).await;
    let c = claims(&a, &a.rep_id.to_string());
    let good = sign(&c, Algorithm::ES256, &issuer, Some("2026-12"));
    assert_eq!(a.get("/v1/contacts", &good).await.0, StatusCode::OK);
    let rogue = sign(&c, Algorithm::ES256, &EncodingKey::from_ec_pem(ROGUE_KEY).unwrap(), Some("2026-12"));
    problem(&a.get("/v1/contacts", &rogue).await, StatusCode::UNAUTHORIZED, None);
    let unknown_kid = sign(&c, Algorithm::ES256, &issuer, Some("2025-01"));
    problem(&a.get("/v1/contacts", &unknown_kid).await, StatusCode::UNAUTHORIZED, None);
    // The public key used as an HMAC secret: the key set's algorithm is ES256, so no key takes it.
    let confused = sign(&c, Algorithm::HS256, &EncodingKey::from_secret(ISSUER_PUBLIC).unwrap(), Some("2026-12"));
    problem(&a.get("/v1/contacts", &confused).await, StatusCode::UNAUTHORIZED, None);

    assert!(Jwt::new(ISSUER, "crm-api").jwks("{\"keys\": 7}").is_err());
    assert!(Jwt::new(ISSUER, "crm-api").public_key_pem(Algorithm::ES256, b"not a key").is_err());
    let pem = Jwt::new(ISSUER, "crm-api").public_key_pem(Algorithm::ES256, ISSUER_PUBLIC).unwrap();
    let b = api_with(Options::default().jwt(pem)).await;
    let for_b = sign(&claims(&b, &b.rep_id.to_string()), Algorithm::ES256, &issuer, None);
    assert_eq!(b.get("/v1/contacts", &for_b).await.0, StatusCode::OK);
}
