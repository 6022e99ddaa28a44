//! `crm serve`: the HTTP API, and the customer self-service portal when its address is given.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use crm::integrations::email::{Address, Security, SmtpConfig, SmtpSender};
use crm::service::Session;

use crate::error::CliError;
use crate::output::Out;

/// `crm serve` settings.
#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// The address to listen on (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: String,
    /// The longest a request may run, in seconds (then 503).
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    timeout: u64,
    /// Requests a second allowed per API key (then 429); 0 for no limit.
    #[arg(long, value_name = "N", default_value_t = 50)]
    rate_limit: u32,
    /// Requests at once beyond the rate, per key.
    #[arg(long, value_name = "N", default_value_t = 100)]
    burst: u32,
    /// Lets browser pages from this origin call the API (CORS; `*` for any); repeatable.
    #[arg(long = "allow-origin", value_name = "ORIGIN")]
    origins: Vec<String>,
    /// Does not serve Prometheus metrics at /metrics.
    #[arg(long)]
    no_metrics: bool,
    /// Also takes bearer tokens (JWTs) of this OAuth2 / OpenID Connect issuer (their `iss`).
    #[arg(long, value_name = "URL", requires_all = ["jwt_audience", "jwt_jwks"])]
    jwt_issuer: Option<String>,
    /// The audience the issuer's tokens must name (their `aud`).
    #[arg(long, value_name = "AUD", requires = "jwt_issuer")]
    jwt_audience: Option<String>,
    /// The issuer's signing keys: its JWK set document (from its `jwks_uri`), as a file.
    #[arg(long, value_name = "FILE", requires = "jwt_issuer")]
    jwt_jwks: Option<PathBuf>,
    #[command(flatten)]
    portal: PortalArgs,
}

/// The customer portal's settings (all needed once `--portal-url` is given).
#[derive(Debug, Args)]
struct PortalArgs {
    /// Serves the customer portal at this public address (e.g. https://support.acme.example/portal);
    /// its sign-in links point there.
    #[arg(long, value_name = "URL", requires_all = ["portal_secret", "portal_from", "smtp_host"])]
    portal_url: Option<String>,
    /// The secret portal sessions are signed with: 32 bytes or more, the same on every server.
    #[arg(long, env = "CRM_PORTAL_SECRET", hide_env_values = true, requires = "portal_url")]
    portal_secret: Option<String>,
    /// The address sign-in links are sent from.
    #[arg(long, value_name = "EMAIL", requires = "portal_url")]
    portal_from: Option<String>,
    /// The business's name on the portal's pages and emails.
    #[arg(long, value_name = "NAME", default_value = "Customer portal")]
    portal_brand: String,
    /// The SMTP server sign-in links are sent through.
    #[arg(long, value_name = "HOST", requires = "portal_url")]
    smtp_host: Option<String>,
    /// Its port (by default that of the security chosen: 587, 465 or 25).
    #[arg(long, value_name = "PORT")]
    smtp_port: Option<u16>,
    /// How the connection is secured.
    #[arg(long, value_enum, default_value_t = SmtpSecurity::Starttls)]
    smtp_security: SmtpSecurity,
    /// The SMTP user name, when the server wants one.
    #[arg(long, value_name = "USER", requires = "smtp_password")]
    smtp_user: Option<String>,
    /// The SMTP password.
    #[arg(long, env = "CRM_SMTP_PASSWORD", hide_env_values = true, requires = "smtp_user")]
    smtp_password: Option<String>,
}

/// SMTP connection security.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum SmtpSecurity {
    /// STARTTLS, required (the submission port).
    Starttls,
    /// TLS from the first byte.
    Tls,
    /// None: a relay on this machine only.
    None,
}

impl PortalArgs {
    /// The portal's options, when one is asked for.
    fn options(self, cx: &Session) -> Result<Option<crm_server::PortalOptions>, CliError> {
        let (Some(url), Some(secret), Some(from), Some(host)) =
            (self.portal_url, self.portal_secret, self.portal_from, self.smtp_host)
        else {
            return Ok(None);
        };
        let (security, default_port) = match self.smtp_security {
            SmtpSecurity::Starttls => (Security::StartTls, 587),
            SmtpSecurity::Tls => (Security::Tls, 465),
            SmtpSecurity::None => (Security::None, 25),
        };
        let mut smtp = SmtpConfig::new(host).with_port(self.smtp_port.unwrap_or(default_port)).security(security);
        if let (Some(user), Some(password)) = (self.smtp_user, self.smtp_password) {
            smtp = smtp.credentials(user, password);
        }
        let usage = |what: &str, e: &dyn std::fmt::Display| CliError::Usage(format!("{what}: {e}"));
        let sender = SmtpSender::new(&smtp).map_err(|e| usage("--smtp-host", &e))?;
        let from = Address::new(self.portal_brand.clone(), &from).map_err(|e| usage("--portal-from", &e))?;
        let portal = crm_server::PortalOptions::new(cx.tenant(), &url, secret.as_bytes(), sender, from)
            .map_err(|e| usage("the portal", &e))?
            .brand(self.portal_brand);
        Ok(Some(portal))
    }
}

/// Serves until Ctrl-C, after printing where.
pub(crate) async fn serve(cx: &Session, args: ServeArgs, out: &mut Out) -> Result<(), CliError> {
    let limit = (args.rate_limit > 0)
        .then_some(crm_server::RateLimit { per_second: args.rate_limit, burst: args.burst.max(1) });
    let mut options = crm_server::Options::default()
        .timeout(std::time::Duration::from_secs(args.timeout.max(1)))
        .rate_limit(limit)
        .metrics(!args.no_metrics)
        .webhooks(Some(crm_server::WebhookDelivery::default().tenant(cx.tenant())));
    for o in args.origins {
        options = options.allow_origin(o);
    }
    if let (Some(issuer), Some(audience), Some(jwks)) = (args.jwt_issuer, args.jwt_audience, args.jwt_jwks) {
        let document = std::fs::read_to_string(&jwks)
            .map_err(|e| CliError::Usage(format!("cannot read {}: {e}", jwks.display())))?;
        let jwt = crm_server::Jwt::new(issuer, audience)
            .jwks(&document)
            .map_err(|e| CliError::Usage(format!("{}: {e}", jwks.display())))?
            .tenant(cx.tenant());
        options = options.jwt(jwt);
    }
    let portal = args.portal.options(cx)?;
    let portal_path = portal.as_ref().map(|p| p.path().to_owned());
    if let Some(p) = portal {
        options = options.portal(p);
    }
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .map_err(|e| CliError::Io(format!("cannot listen on {}: {e}", args.listen)))?;
    let at = listener.local_addr()?;
    let portal_note = portal_path.map(|p| format!("; the customer portal on http://{at}{p}")).unwrap_or_default();
    out.done(&format!(
        "serving the API on http://{at}/v1/ (described at http://{at}/docs{portal_note}; Ctrl-C stops)"
    ))?;
    out.flush()?;
    let stop = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    crm_server::serve_with(cx.crm().clone(), listener, &options, stop).await?;
    Ok(())
}
