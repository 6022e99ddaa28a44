//! Sending through an SMTP server (lettre, async on tokio, pooled connections).

use std::time::Duration;

use async_trait::async_trait;
use lettre::message::header::ContentType;
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::PoolConfig;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::{Address, EmailSender, OutgoingEmail, SentEmail};
use crate::error::{IntegrationError, Result};

/// How the connection to the SMTP server is secured.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Security {
    /// Plain TCP, upgraded with STARTTLS, which is required (the submission port, 587).
    #[default]
    StartTls,
    /// TLS from the first byte (implicit TLS, port 465).
    Tls,
    /// No encryption at all: only for a relay on the same machine or in tests.
    None,
}

/// Where and how to reach an SMTP server.
///
/// ```
/// use crm_integrations::email::{Security, SmtpConfig};
/// let config = SmtpConfig::new("smtp.example.com").credentials("crm@example.com", "app-password");
/// assert_eq!((config.port(), config.security), (587, Security::StartTls));
/// ```
#[derive(Clone)]
pub struct SmtpConfig {
    /// The server's host name or IP address.
    pub host: String,
    /// The port; `None` picks the usual one for [`security`](Self::security) (587, 465 or 25).
    pub port: Option<u16>,
    /// How the connection is secured (default: STARTTLS, required).
    pub security: Security,
    /// The name the server's certificate must carry (default: the host).
    pub tls_server_name: Option<String>,
    /// Extra trusted root certificates (PEM), e.g. a company CA; the web's roots are always trusted.
    pub root_certificates_pem: Vec<Vec<u8>>,
    user: Option<String>,
    password: Option<String>,
    /// Most pooled connections kept open (default 4).
    pub pool_size: u32,
    /// Timeout of each network operation (default 30 s).
    pub timeout: Duration,
}

impl std::fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the password.
        f.debug_struct("SmtpConfig")
            .field("host", &self.host)
            .field("port", &self.port())
            .field("security", &self.security)
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

impl SmtpConfig {
    /// A server at `host`, with STARTTLS required, no authentication.
    pub fn new(host: impl Into<String>) -> Self {
        SmtpConfig {
            host: host.into(),
            port: None,
            security: Security::StartTls,
            tls_server_name: None,
            root_certificates_pem: Vec::new(),
            user: None,
            password: None,
            pool_size: 4,
            timeout: Duration::from_secs(30),
        }
    }

    /// Sets the port.
    pub fn port(&self) -> u16 {
        self.port.unwrap_or(match self.security {
            Security::StartTls => 587,
            Security::Tls => 465,
            Security::None => 25,
        })
    }

    /// Uses port `port`.
    pub fn with_port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// Secures the connection with `security`.
    pub fn security(mut self, security: Security) -> Self {
        self.security = security;
        self
    }

    /// Authenticates (AUTH PLAIN or LOGIN) as `user`.
    pub fn credentials(mut self, user: impl Into<String>, password: impl Into<String>) -> Self {
        self.user = Some(user.into());
        self.password = Some(password.into());
        self
    }

    /// Checks the server's certificate against `name` instead of the host.
    pub fn tls_server_name(mut self, name: impl Into<String>) -> Self {
        self.tls_server_name = Some(name.into());
        self
    }

    /// Trusts the root certificate(s) in `pem` too.
    pub fn add_root_certificate_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.root_certificates_pem.push(pem.into());
        self
    }
}

/// An [`EmailSender`] over SMTP.
#[derive(Clone)]
pub struct SmtpSender {
    transport: AsyncSmtpTransport<Tokio1Executor>,
}

impl std::fmt::Debug for SmtpSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpSender").finish_non_exhaustive()
    }
}

impl SmtpSender {
    /// A pooled sender for `config` (connections open on the first send).
    pub fn new(config: &SmtpConfig) -> Result<Self> {
        if config.host.trim().is_empty() {
            return Err(IntegrationError::invalid("smtp.host", "is empty"));
        }
        if config.pool_size == 0 {
            return Err(IntegrationError::invalid("smtp.pool_size", "must be at least 1"));
        }
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&config.host)
            .port(config.port())
            .timeout(Some(config.timeout))
            .pool_config(PoolConfig::new().max_size(config.pool_size));
        if config.security != Security::None {
            let name = config.tls_server_name.clone().unwrap_or_else(|| config.host.clone());
            let mut params = TlsParameters::builder(name);
            for (i, pem) in config.root_certificates_pem.iter().enumerate() {
                let cert = Certificate::from_pem(pem).map_err(|e| {
                    IntegrationError::invalid(format!("smtp.root_certificates_pem[{i}]"), e.to_string())
                })?;
                params = params.add_root_certificate(cert);
            }
            let params = params.build_rustls().map_err(|e| IntegrationError::invalid("smtp.tls", e.to_string()))?;
            builder = builder.tls(match config.security {
                Security::Tls => Tls::Wrapper(params),
                _ => Tls::Required(params),
            });
        }
        if let (Some(user), Some(password)) = (&config.user, &config.password) {
            builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
        }
        Ok(SmtpSender { transport: builder.build() })
    }
}

fn mailbox(field: &str, a: &Address) -> Result<Mailbox> {
    let address = a.email.parse().map_err(|e| IntegrationError::invalid(field, format!("`{}`: {e}", a.email)))?;
    Ok(Mailbox::new(a.name.clone(), address))
}

/// The MIME message of `email` (RFC 5322 headers, text or text+HTML alternative).
pub(crate) fn mime_message(email: &OutgoingEmail) -> Result<Message> {
    let mut b = Message::builder()
        .from(mailbox("from", &email.from)?)
        .subject(email.subject.clone())
        .message_id(Some(format!("<{}>", email.message_id)));
    for (i, a) in email.to.iter().enumerate() {
        b = b.to(mailbox(&format!("to[{i}]"), a)?);
    }
    for (i, a) in email.cc.iter().enumerate() {
        b = b.cc(mailbox(&format!("cc[{i}]"), a)?);
    }
    if let Some(r) = &email.reply_to {
        b = b.reply_to(mailbox("reply_to", r)?);
    }
    if let Some(id) = &email.in_reply_to {
        b = b.in_reply_to(format!("<{id}>"));
    }
    if !email.references.is_empty() {
        b = b.references(email.references.iter().map(|r| format!("<{r}>")).collect::<Vec<_>>().join(" "));
    }
    let built = match &email.html {
        None => b.header(ContentType::TEXT_PLAIN).body(email.text.clone()),
        Some(html) => b.multipart(MultiPart::alternative_plain_html(email.text.clone(), html.clone())),
    };
    built.map_err(|e| IntegrationError::invalid("email", e.to_string()))
}

#[async_trait]
impl EmailSender for SmtpSender {
    async fn send(&self, email: &OutgoingEmail) -> Result<SentEmail> {
        email.check()?;
        let message = mime_message(email)?;
        match self.transport.send(message).await {
            Ok(response) => Ok(SentEmail {
                message_id: email.message_id.clone(),
                provider_id: response.message().next().map(str::to_owned),
            }),
            Err(e) => {
                Err(IntegrationError::Remote { system: "smtp", transient: !e.is_permanent(), message: format!("{e}") })
            }
        }
    }
}
