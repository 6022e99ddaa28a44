//! OAuth2 access for connectors: tokens, where they are kept, and their refresh.

use std::sync::Arc;

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use chrono::{DateTime, Duration, Utc};
use crm_core::service::Session;
use oauth2::basic::{BasicClient, BasicErrorResponseType};
use oauth2::{ClientId, ClientSecret, RefreshToken, RequestTokenError, TokenResponse, TokenUrl};
pub use secrecy::SecretString as Secret;
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use tokio::sync::Mutex;
use url::Url;

use crate::error::{IntegrationError, Result};

/// Refresh this long before the access token expires.
const EARLY: Duration = Duration::seconds(60);

/// A connection's OAuth2 tokens. `Debug` shows no secret.
#[derive(Clone, Debug)]
pub struct OAuthTokens {
    /// The bearer token for API calls.
    pub access_token: SecretString,
    /// The token that gets the next access token. Xero and QuickBooks rotate it: each refresh
    /// returns a new one and the old one stops working, so it is saved before it is used.
    pub refresh_token: SecretString,
    /// When the access token expires.
    pub expires_at: DateTime<Utc>,
}

/// The app's OAuth2 client, as registered with the accounting system.
#[derive(Clone, Debug)]
pub struct OAuthConfig {
    /// Client id.
    pub client_id: String,
    /// Client secret (sent with HTTP Basic authentication, as Xero and Intuit expect).
    pub client_secret: SecretString,
    /// The token endpoint (Xero: `https://identity.xero.com/connect/token`; QuickBooks:
    /// `https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer`).
    pub token_url: Url,
}

/// Where a connection's tokens are kept. Saves are compare-and-set, so two processes
/// refreshing the same connection cannot both win and strand a rotated refresh token.
#[async_trait]
pub trait TokenStore: Send + Sync {
    /// The saved tokens and their version.
    async fn load(&self) -> Result<Option<(OAuthTokens, u64)>>;
    /// Saves `tokens` if the saved version is still `expected` (None: nothing is saved yet).
    /// Returns the new version, or None when another writer saved first (nothing written).
    async fn save(&self, tokens: &OAuthTokens, expected: Option<u64>) -> Result<Option<u64>>;
}

/// Tokens kept in memory (tests, short-lived tools).
#[derive(Debug, Default)]
pub struct MemoryTokenStore {
    inner: std::sync::Mutex<Option<(OAuthTokens, u64)>>,
}

impl MemoryTokenStore {
    /// A store holding `tokens`.
    pub fn new(tokens: OAuthTokens) -> Self {
        MemoryTokenStore { inner: std::sync::Mutex::new(Some((tokens, 1))) }
    }
}

#[async_trait]
impl TokenStore for MemoryTokenStore {
    async fn load(&self) -> Result<Option<(OAuthTokens, u64)>> {
        Ok(self.inner.lock().map_err(|_| IntegrationError::invalid("token store", "poisoned"))?.clone())
    }

    async fn save(&self, tokens: &OAuthTokens, expected: Option<u64>) -> Result<Option<u64>> {
        let mut g = self.inner.lock().map_err(|_| IntegrationError::invalid("token store", "poisoned"))?;
        if g.as_ref().map(|(_, v)| *v) != expected {
            return Ok(None);
        }
        let v = expected.unwrap_or(0) + 1;
        *g = Some((tokens.clone(), v));
        Ok(Some(v))
    }
}

/// Tokens kept in the CRM itself (a [`SyncState`](crm_core::model::SyncState) per connection),
/// encrypted with ChaCha20-Poly1305 under a key only the application holds, so a copy of the
/// database does not give API access. The connection name is authenticated with them: tokens
/// copied to another connection's entry do not decrypt.
pub struct CrmTokenStore {
    cx: Session,
    key: String,
    cipher: ChaCha20Poly1305,
}

impl std::fmt::Debug for CrmTokenStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CrmTokenStore").field("key", &self.key).finish_non_exhaustive()
    }
}

impl CrmTokenStore {
    /// The tokens of `connection`, kept in `cx`'s tenant, sealed with `key` (32 random bytes
    /// the application keeps outside the database, e.g. in its secret manager).
    pub fn new(cx: Session, connection: &str, key: &[u8; 32]) -> Self {
        CrmTokenStore { cx, key: format!("{connection}/oauth"), cipher: ChaCha20Poly1305::new(&Key::from(*key)) }
    }

    /// Saves the first tokens of a connection (after the user authorised the app).
    pub async fn connect(&self, tokens: &OAuthTokens) -> Result<()> {
        let expected = self.cx.sync().state(&self.key).await?.map(|s| s.version);
        match self.save(tokens, expected).await? {
            Some(_) => Ok(()),
            None => Err(IntegrationError::invalid("tokens", "another process changed them meanwhile; try again")),
        }
    }

    fn seal(&self, tokens: &OAuthTokens) -> Result<serde_json::Value> {
        let plain = json!({
            "access_token": tokens.access_token.expose_secret(),
            "refresh_token": tokens.refresh_token.expose_secret(),
            "expires_at": tokens.expires_at.to_rfc3339(),
        })
        .to_string();
        let mut nonce = [0u8; 12];
        getrandom::fill(&mut nonce).map_err(|e| IntegrationError::invalid("token store", e.to_string()))?;
        let sealed = self
            .cipher
            .encrypt(&Nonce::from(nonce), Payload { msg: plain.as_bytes(), aad: self.key.as_bytes() })
            .map_err(|_| IntegrationError::invalid("token store", "encryption failed"))?;
        Ok(json!({"alg": "chacha20poly1305", "nonce": B64.encode(nonce), "sealed": B64.encode(sealed)}))
    }

    fn open(&self, value: &serde_json::Value) -> Result<OAuthTokens> {
        let bad = || IntegrationError::invalid("token store", "the saved tokens do not decrypt with this key");
        let part =
            |name: &str| value.get(name).and_then(|v| v.as_str()).and_then(|s| B64.decode(s).ok()).ok_or_else(bad);
        let (nonce, sealed) = (part("nonce")?, part("sealed")?);
        let nonce: [u8; 12] = nonce.try_into().map_err(|_| bad())?;
        let plain = self
            .cipher
            .decrypt(&Nonce::from(nonce), Payload { msg: &sealed, aad: self.key.as_bytes() })
            .map_err(|_| bad())?;
        let v: serde_json::Value = serde_json::from_slice(&plain).map_err(|_| bad())?;
        let text = |name: &str| v.get(name).and_then(|x| x.as_str()).map(str::to_owned).ok_or_else(bad);
        let expires_at = DateTime::parse_from_rfc3339(&text("expires_at")?).map_err(|_| bad())?.with_timezone(&Utc);
        Ok(OAuthTokens {
            access_token: SecretString::from(text("access_token")?),
            refresh_token: SecretString::from(text("refresh_token")?),
            expires_at,
        })
    }
}

#[async_trait]
impl TokenStore for CrmTokenStore {
    async fn load(&self) -> Result<Option<(OAuthTokens, u64)>> {
        match self.cx.sync().state(&self.key).await? {
            Some(s) => Ok(Some((self.open(&s.value)?, s.version))),
            None => Ok(None),
        }
    }

    async fn save(&self, tokens: &OAuthTokens, expected: Option<u64>) -> Result<Option<u64>> {
        let sealed = self.seal(tokens)?;
        match self.cx.sync().put_state(&self.key, sealed, expected).await {
            Ok(s) => Ok(Some(s.version)),
            Err(crm_core::error::Error::Conflict { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}

/// A connection's current tokens, refreshed when they expire or are refused. One refresh at
/// a time per connection in this process; the store's compare-and-set covers other processes.
pub(crate) struct TokenManager {
    system: &'static str,
    client: BasicClient<
        oauth2::EndpointNotSet,
        oauth2::EndpointNotSet,
        oauth2::EndpointNotSet,
        oauth2::EndpointNotSet,
        oauth2::EndpointSet,
    >,
    http: reqwest::Client,
    store: Arc<dyn TokenStore>,
    current: Mutex<Option<(OAuthTokens, u64)>>,
}

impl TokenManager {
    pub(crate) fn new(system: &'static str, config: &OAuthConfig, store: Arc<dyn TokenStore>) -> Result<Self> {
        let client = BasicClient::new(ClientId::new(config.client_id.clone()))
            .set_client_secret(ClientSecret::new(config.client_secret.expose_secret().to_owned()))
            .set_token_uri(TokenUrl::from_url(config.token_url.clone()));
        // The token endpoint must not redirect the client's credentials elsewhere.
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .map_err(|e| IntegrationError::invalid("http client", e.to_string()))?;
        Ok(TokenManager { system, client, http, store, current: Mutex::new(None) })
    }

    /// The access token to use now (refreshed first if it is about to expire).
    pub(crate) async fn access_token(&self) -> Result<SecretString> {
        let mut cur = self.current.lock().await;
        if cur.is_none() {
            *cur = self.store.load().await?;
        }
        let Some((tokens, _)) = cur.as_ref() else {
            return Err(IntegrationError::Auth {
                system: self.system,
                message: "not connected: no tokens saved".into(),
            });
        };
        if tokens.expires_at - EARLY <= Utc::now() {
            self.refresh(&mut cur).await?;
        }
        cur.as_ref()
            .map(|(t, _)| t.access_token.clone())
            .ok_or_else(|| IntegrationError::Auth { system: self.system, message: "not connected".into() })
    }

    /// The API refused `rejected`: refresh, unless another task already replaced it.
    pub(crate) async fn refresh_after_rejection(&self, rejected: &SecretString) -> Result<()> {
        let mut cur = self.current.lock().await;
        let same = cur.as_ref().is_some_and(|(t, _)| t.access_token.expose_secret() == rejected.expose_secret());
        if same { self.refresh(&mut cur).await } else { Ok(()) }
    }

    async fn refresh(&self, cur: &mut Option<(OAuthTokens, u64)>) -> Result<()> {
        for _ in 0..2 {
            let Some((tokens, version)) = cur.clone() else {
                return Err(IntegrationError::Auth { system: self.system, message: "not connected".into() });
            };
            let refresh_token = RefreshToken::new(tokens.refresh_token.expose_secret().to_owned());
            match self.client.exchange_refresh_token(&refresh_token).request_async(&self.http).await {
                Ok(resp) => {
                    let lifetime =
                        resp.expires_in().and_then(|d| Duration::from_std(d).ok()).unwrap_or(Duration::minutes(30));
                    let new = OAuthTokens {
                        access_token: SecretString::from(resp.access_token().secret().clone()),
                        // A server that does not rotate keeps the old one valid.
                        refresh_token: resp
                            .refresh_token()
                            .map(|r| SecretString::from(r.secret().clone()))
                            .unwrap_or(tokens.refresh_token.clone()),
                        expires_at: Utc::now().checked_add_signed(lifetime).unwrap_or(DateTime::<Utc>::MAX_UTC),
                    };
                    match self.store.save(&new, Some(version)).await? {
                        Some(v) => {
                            tracing::info!(system = self.system, "access token refreshed");
                            *cur = Some((new, v));
                            return Ok(());
                        }
                        // Another process refreshed meanwhile; its tokens are the live ones.
                        None => {
                            *cur = self.store.load().await?;
                            if cur.as_ref().is_some_and(|(t, _)| t.expires_at - EARLY > Utc::now()) {
                                return Ok(());
                            }
                        }
                    }
                }
                Err(RequestTokenError::ServerResponse(e)) if *e.error() == BasicErrorResponseType::InvalidGrant => {
                    // Perhaps another process rotated the refresh token: use what it saved.
                    let saved = self.store.load().await?;
                    let rotated = saved
                        .as_ref()
                        .is_some_and(|(t, _)| t.refresh_token.expose_secret() != tokens.refresh_token.expose_secret());
                    if !rotated {
                        return Err(IntegrationError::Auth {
                            system: self.system,
                            message: "the refresh token was refused (invalid_grant); connect again".into(),
                        });
                    }
                    *cur = saved;
                    if cur.as_ref().is_some_and(|(t, _)| t.expires_at - EARLY > Utc::now()) {
                        return Ok(());
                    }
                }
                Err(RequestTokenError::ServerResponse(e)) => {
                    return Err(IntegrationError::Auth {
                        system: self.system,
                        message: format!("token endpoint: {}", e.error()),
                    });
                }
                Err(RequestTokenError::Parse(e, _)) => {
                    return Err(IntegrationError::Malformed {
                        system: self.system,
                        what: format!("token response: {e}"),
                    });
                }
                Err(e) => {
                    return Err(IntegrationError::Remote {
                        system: self.system,
                        message: format!("token endpoint: {e}"),
                        transient: true,
                    });
                }
            }
        }
        Err(IntegrationError::Auth {
            system: self.system,
            message: "tokens keep changing under a concurrent refresh".into(),
        })
    }
}
