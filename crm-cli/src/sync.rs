//! `crm sync`: customers, invoices and payments with Xero or QuickBooks Online. The OAuth2
//! tokens of a connection are kept in the CRM, sealed with the key in `CRM_SYNC_KEY` (32 random
//! bytes as 64 hex digits, kept outside the database); `crm sync connect` stores the first ones
//! (from the app's authorisation), and each sync refreshes them as the system rotates them.

use std::sync::Arc;

use clap::{Args, Subcommand};
use crm::chrono::Duration;
use crm::integrations::accounting::quickbooks::{QuickBooks, QuickBooksConfig};
use crm::integrations::accounting::sync::{Counts, SyncOptions, sync};
use crm::integrations::accounting::xero::{Xero, XeroConfig};
use crm::integrations::accounting::{AccountingConnector, CrmTokenStore, OAuthConfig, OAuthTokens, Secret};
use crm::money::Currency;
use crm::service::Session;

use crate::error::CliError;
use crate::output::Out;

/// Sync commands.
#[derive(Debug, Subcommand)]
pub(crate) enum SyncCmd {
    /// Stores a connection's first OAuth2 tokens (from the app's authorisation), sealed.
    Connect {
        #[command(subcommand)]
        to: System,
        /// The access token.
        #[arg(long, env = "CRM_SYNC_ACCESS_TOKEN", hide_env_values = true, global = true)]
        access_token: Option<String>,
        /// The refresh token.
        #[arg(long, env = "CRM_SYNC_REFRESH_TOKEN", hide_env_values = true, global = true)]
        refresh_token: Option<String>,
        /// Seconds the access token has left.
        #[arg(long, value_name = "SECS", default_value_t = 1800, global = true)]
        expires_in: i64,
    },
    /// Syncs with a Xero organisation: customers both ways, invoices and payments in.
    Xero(XeroArgs),
    /// Syncs with a QuickBooks Online company: customers both ways, invoices and payments in.
    Quickbooks(QuickBooksArgs),
}

/// Which system and organisation a connection is.
#[derive(Debug, Subcommand)]
pub(crate) enum System {
    /// A Xero organisation.
    Xero {
        /// Its tenant id (`GET https://api.xero.com/connections`).
        #[arg(long = "org")]
        org: String,
    },
    /// A QuickBooks Online company.
    Quickbooks {
        /// Its realm id (from the authorisation's callback).
        #[arg(long = "realm")]
        realm: String,
    },
}

/// The app's OAuth2 client and where its tokens are refreshed.
#[derive(Debug, Args)]
pub(crate) struct Client {
    /// The app's client id.
    #[arg(long, env = "CRM_SYNC_CLIENT_ID")]
    client_id: String,
    /// The app's client secret.
    #[arg(long, env = "CRM_SYNC_CLIENT_SECRET", hide_env_values = true)]
    client_secret: String,
    /// The token endpoint (the system's own by default).
    #[arg(long, value_name = "URL")]
    token_url: Option<String>,
    /// The API's base (the production API by default; a sandbox, or a server in tests).
    #[arg(long, value_name = "URL")]
    base_url: Option<String>,
}

/// `crm sync xero`.
#[derive(Debug, Args)]
pub(crate) struct XeroArgs {
    /// The organisation's tenant id.
    #[arg(long = "org")]
    org: String,
    /// Its base currency (read from Xero when not given).
    #[arg(long, value_name = "CODE")]
    base_currency: Option<String>,
    #[command(flatten)]
    client: Client,
}

/// `crm sync quickbooks`.
#[derive(Debug, Args)]
pub(crate) struct QuickBooksArgs {
    /// The company's realm id.
    #[arg(long = "realm")]
    realm: String,
    /// Its home currency.
    #[arg(long, value_name = "CODE")]
    home_currency: String,
    #[command(flatten)]
    client: Client,
}

/// The key tokens are sealed with, from `CRM_SYNC_KEY`.
fn key() -> Result<[u8; 32], CliError> {
    let hex = std::env::var("CRM_SYNC_KEY").map_err(|_| {
        CliError::Usage("set CRM_SYNC_KEY to 32 random bytes as 64 hex digits (`openssl rand -hex 32`)".into())
    })?;
    let bytes = hex::decode(hex.trim()).ok().filter(|b| b.len() == 32);
    let bytes = bytes.ok_or_else(|| CliError::Usage("CRM_SYNC_KEY must be 64 hex digits (32 bytes)".into()))?;
    let mut key = [0u8; 32];
    key.copy_from_slice(&bytes);
    Ok(key)
}

fn currency(code: &str, flag: &str) -> Result<Currency, CliError> {
    Currency::from_code(&code.trim().to_ascii_uppercase())
        .ok_or_else(|| CliError::Usage(format!("{flag}: `{code}` is not an ISO 4217 currency code")))
}

fn integration(e: crm::integrations::IntegrationError) -> CliError {
    CliError::Crm(e.into())
}

impl Client {
    fn oauth(&self, default_token_url: &str) -> Result<OAuthConfig, CliError> {
        let url = self.token_url.as_deref().unwrap_or(default_token_url);
        let token_url = url::Url::parse(url).map_err(|e| CliError::Usage(format!("--token-url: {e}")))?;
        Ok(OAuthConfig {
            client_id: self.client_id.clone(),
            client_secret: Secret::from(self.client_secret.clone()),
            token_url,
        })
    }
}

/// Runs a sync command.
pub(crate) async fn run(cx: &Session, cmd: SyncCmd, out: &mut Out) -> Result<(), CliError> {
    let key = key()?;
    let connector: Box<dyn AccountingConnector> = match cmd {
        SyncCmd::Connect { to, access_token, refresh_token, expires_in } => {
            let (Some(access), Some(refresh)) = (access_token, refresh_token) else {
                return Err(CliError::Usage("give --access-token and --refresh-token".into()));
            };
            let connection = match &to {
                System::Xero { org } => format!("xero:{org}"),
                System::Quickbooks { realm } => format!("quickbooks:{realm}"),
            };
            let tokens = OAuthTokens {
                access_token: Secret::from(access),
                refresh_token: Secret::from(refresh),
                expires_at: cx.now() + Duration::seconds(expires_in.max(0)),
            };
            CrmTokenStore::new(cx.clone(), &connection, &key).connect(&tokens).await.map_err(integration)?;
            if out.is_json() {
                return out.value(&serde_json::json!({ "connection": connection }));
            }
            return out.done(&format!("{connection} connected; its tokens are kept sealed in the CRM"));
        }
        SyncCmd::Xero(a) => {
            let mut config = XeroConfig::new(&a.org);
            if let Some(url) = &a.client.base_url {
                config = config.base_url(url).map_err(integration)?;
            }
            if let Some(code) = &a.base_currency {
                config = config.base_currency(currency(code, "--base-currency")?);
            }
            let oauth = a.client.oauth("https://identity.xero.com/connect/token")?;
            let tokens = Arc::new(CrmTokenStore::new(cx.clone(), &format!("xero:{}", a.org), &key));
            Box::new(Xero::new(config, &oauth, tokens).map_err(integration)?)
        }
        SyncCmd::Quickbooks(a) => {
            let mut config = QuickBooksConfig::new(&a.realm, currency(&a.home_currency, "--home-currency")?);
            if let Some(url) = &a.client.base_url {
                config = config.base_url(url).map_err(integration)?;
            }
            let oauth = a.client.oauth("https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer")?;
            let tokens = Arc::new(CrmTokenStore::new(cx.clone(), &format!("quickbooks:{}", a.realm), &key));
            Box::new(QuickBooks::new(config, &oauth, tokens).map_err(integration)?)
        }
    };
    let report = sync(cx, connector.as_ref(), &SyncOptions::default()).await.map_err(integration)?;
    let counts = |c: &Counts| serde_json::json!({"created": c.created, "updated": c.updated, "unchanged": c.unchanged});
    if out.is_json() {
        return out.value(&serde_json::json!({
            "connection": connector.connection(),
            "customers": counts(&report.customers),
            "pushed": counts(&report.pushed),
            "invoices": counts(&report.invoices),
            "payments": counts(&report.payments),
            "skipped": report.skipped.iter().map(|s| serde_json::json!({
                "remote_kind": s.remote_kind, "remote_id": s.remote_id, "reason": s.reason
            })).collect::<Vec<_>>(),
            "conflicts": report.conflicts.iter().map(|(r, f)| serde_json::json!({"record": r, "field": f})).collect::<Vec<_>>(),
        }));
    }
    let line =
        |what: &str, c: &Counts| format!("{what}: {} new, {} changed, {} unchanged", c.created, c.updated, c.unchanged);
    let mut lines = vec![
        format!("synced {}", connector.connection()),
        line("customers in", &report.customers),
        line("companies out", &report.pushed),
        line("invoices", &report.invoices),
        line("payments", &report.payments),
    ];
    if !report.skipped.is_empty() {
        lines.push(format!("{} skipped (run with --json for why)", report.skipped.len()));
    }
    if !report.conflicts.is_empty() {
        lines.push(format!("{} fields changed on both sides, waiting to be resolved", report.conflicts.len()));
    }
    out.done(&lines.join("\n"))
}
