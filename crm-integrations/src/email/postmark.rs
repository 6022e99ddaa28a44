//! Sending through Postmark's HTTP API (`POST /email`) instead of SMTP.

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

use super::{Address, EmailSender, OutgoingEmail, SentEmail};
use crate::error::{IntegrationError, Result};

const SYSTEM: &str = "postmark";

/// Sends email through Postmark's API with a server token. The message keeps the CRM's
/// Message-ID (and threading headers), so replies still thread onto the CRM's records.
///
/// ```
/// use crm_integrations::email::PostmarkSender;
/// let sender = PostmarkSender::new("server-token".to_owned().into()).unwrap();
/// # let _ = sender;
/// ```
#[derive(Clone)]
pub struct PostmarkSender {
    client: reqwest::Client,
    token: SecretString,
    endpoint: url::Url,
    stream: String,
}

impl std::fmt::Debug for PostmarkSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostmarkSender").field("endpoint", &self.endpoint.as_str()).finish_non_exhaustive()
    }
}

fn mailbox(a: &Address) -> Result<String> {
    let email = a.email.parse().map_err(|e| IntegrationError::invalid("address", format!("`{}`: {e}", a.email)))?;
    Ok(lettre::message::Mailbox::new(a.name.clone(), email).to_string())
}

fn mailboxes(list: &[Address]) -> Result<String> {
    Ok(list.iter().map(mailbox).collect::<Result<Vec<_>>>()?.join(", "))
}

impl PostmarkSender {
    /// A sender for Postmark's production API and the `outbound` message stream.
    pub fn new(server_token: SecretString) -> Result<Self> {
        Self::with_endpoint(server_token, "https://api.postmarkapp.com/email")
    }

    /// A sender posting to another endpoint (a local server in tests).
    pub fn with_endpoint(server_token: SecretString, endpoint: &str) -> Result<Self> {
        if server_token.expose_secret().trim().is_empty() {
            return Err(IntegrationError::invalid("server_token", "must not be empty"));
        }
        let endpoint = url::Url::parse(endpoint)
            .map_err(|e| IntegrationError::invalid("endpoint", format!("`{endpoint}`: {e}")))?;
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .map_err(|e| IntegrationError::invalid("http client", e.to_string()))?;
        Ok(PostmarkSender { client, token: server_token, endpoint, stream: "outbound".into() })
    }

    /// Sends on another message stream (e.g. `broadcast` for campaigns).
    pub fn message_stream(mut self, stream: impl Into<String>) -> Self {
        self.stream = stream.into();
        self
    }

    fn body(&self, e: &OutgoingEmail) -> Result<serde_json::Value> {
        let mut headers = vec![json!({"Name": "Message-ID", "Value": format!("<{}>", e.message_id)})];
        if let Some(r) = &e.in_reply_to {
            headers.push(json!({"Name": "In-Reply-To", "Value": format!("<{r}>")}));
        }
        if !e.references.is_empty() {
            let refs: Vec<String> = e.references.iter().map(|r| format!("<{r}>")).collect();
            headers.push(json!({"Name": "References", "Value": refs.join(" ")}));
        }
        let mut body = json!({
            "From": mailbox(&e.from)?,
            "To": mailboxes(&e.to)?,
            "Subject": e.subject,
            "TextBody": e.text,
            "MessageStream": self.stream,
            "Headers": headers,
        });
        if !e.cc.is_empty() {
            body["Cc"] = json!(mailboxes(&e.cc)?);
        }
        if let Some(r) = &e.reply_to {
            body["ReplyTo"] = json!(mailbox(r)?);
        }
        if let Some(h) = &e.html {
            body["HtmlBody"] = json!(h);
        }
        Ok(body)
    }
}

#[async_trait]
impl EmailSender for PostmarkSender {
    async fn send(&self, email: &OutgoingEmail) -> Result<SentEmail> {
        email.check()?;
        let body = self.body(email)?;
        let resp = self
            .client
            .post(self.endpoint.clone())
            .header("Accept", "application/json")
            .header("X-Postmark-Server-Token", self.token.expose_secret())
            .json(&body)
            .send()
            .await
            .map_err(|e| IntegrationError::Remote {
                system: SYSTEM,
                message: e.without_url().to_string(),
                transient: true,
            })?;
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(|e| IntegrationError::Remote {
            system: SYSTEM,
            message: e.without_url().to_string(),
            transient: true,
        })?;
        let reply: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
        let code = reply.get("ErrorCode").and_then(|c| c.as_i64());
        let message = reply.get("Message").and_then(|m| m.as_str()).unwrap_or("").to_owned();
        if status.is_success() && code == Some(0) {
            return Ok(SentEmail {
                message_id: email.message_id.clone(),
                provider_id: reply.get("MessageID").and_then(|m| m.as_str()).map(str::to_owned),
            });
        }
        if status == reqwest::StatusCode::UNAUTHORIZED || code == Some(10) {
            return Err(IntegrationError::Auth {
                system: SYSTEM,
                message: format!("the server token was refused: {message}"),
            });
        }
        if status.is_success() {
            return Err(IntegrationError::Malformed {
                system: SYSTEM,
                what: format!("a 2xx reply without ErrorCode 0: {message}"),
            });
        }
        // 422 is a refused message (inactive recipient, bad sender…); 429 and 5xx may pass later.
        let transient = status == reqwest::StatusCode::TOO_MANY_REQUESTS || status.is_server_error();
        Err(IntegrationError::Remote {
            system: SYSTEM,
            message: format!("HTTP {status}, error {}: {message}", code.map_or("?".into(), |c| c.to_string())),
            transient,
        })
    }
}
