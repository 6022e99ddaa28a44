//! Who is calling: the API key in `Authorization: Bearer <key>`, turned into a session acting
//! as the key's user; or, when an issuer is configured, a JWT of that issuer ([`crate::Jwt`]).

use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use crm::service::Session;

use crate::AppState;
use crate::problem::Problem;

/// The caller's session.
pub(crate) struct Caller(pub(crate) Session);

impl FromRequestParts<AppState> for Caller {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let unauthorized =
            |detail: &str| Problem::new(StatusCode::UNAUTHORIZED, "unauthorized", "Not signed in", detail);
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .ok_or_else(|| unauthorized("send the API key as `Authorization: Bearer <key>`"))?;
        let key = header
            .to_str()
            .ok()
            .and_then(|h| h.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or_else(|| unauthorized("the Authorization header must be `Bearer <key>`"))?;
        if let Some(jwt) = &state.jwt
            && !key.starts_with("crm_")
        {
            return match jwt.session(&state.crm, key).await {
                Ok(cx) => Ok(Caller(cx)),
                Err(why) => Err(unauthorized(&format!("the token is not valid: {why}"))),
            };
        }
        match state.crm.authenticate(key).await {
            Ok(cx) => Ok(Caller(cx)),
            Err(crm::error::Error::Forbidden(m)) => Err(unauthorized(&m)),
            Err(e) => Err(e.into()),
        }
    }
}
