//! Email that files itself: send to contacts from templates, each send logged as an email
//! activity linked to the recipients, the deal and the campaign.
//!
//! - [`EmailSender`] is how a message leaves: [`SmtpSender`] (lettre: STARTTLS or implicit
//!   TLS, authentication, pooled connections) or your own implementation.
//! - [`Template`] renders merge fields (`{{ contact.given_name }}`, `{{ deal.name }}`).
//! - [`Mailer`] ties them to the CRM: it resolves recipients to their contacts, refuses
//!   campaign mail without marketing consent, renders, gives every message a Message-ID,
//!   sends, and records the send as an outbound email [`Activity`] (in one transaction with
//!   its outbox event), ready for replies to be threaded onto it.
//! - [`Inbox`] files what comes back: a raw message (from IMAP, a `.eml` file, an mbox) is
//!   parsed (mail-parser), matched to contacts by address and to companies by a non-free-mail
//!   domain (unmatched mail goes to a review list), threaded by In-Reply-To/References and,
//!   for what looks like a reply (a reply prefix, a quoted line), by subject (list tags and
//!   prefixes aside) and participants, and filed once per Message-ID (one made from the whole
//!   message when it has none). Subject threading never invents References.
//!
//! ```no_run
//! # async fn demo(cx: crm_core::service::Session, jane: crm_core::ids::ContactId) -> Result<(), crm_integrations::IntegrationError> {
//! use crm_integrations::email::{Address, Mail, Mailer, SmtpConfig, SmtpSender, Template};
//!
//! let smtp = SmtpSender::new(&SmtpConfig::new("smtp.example.com").credentials("crm@example.com", "secret"))?;
//! let mailer = Mailer::new(smtp, Address::new("Sales at Acme", "sales@acme.example")?)?;
//! let quote = Template::new("Your quote, {{ contact.given_name }}", "Hello {{ contact.given_name }}, …")?;
//! let activity = mailer.send(&cx, Mail::to(jane).template(&quote)).await?;
//! println!("sent {}", activity.message_id.unwrap_or_default());
//! # Ok(()) }
//! ```

#[cfg(feature = "imap")]
mod imap;
mod inbound;
#[cfg(feature = "postmark")]
mod postmark;
mod smtp;
mod template;

use std::sync::Arc;

use async_trait::async_trait;
use crm_core::model::{Direction, ParticipantRole};
use crm_core::{
    ids::CampaignId, ids::ContactId, ids::DealId, model::Activity, model::Contact, profile::Channel,
    profile::ConsentStatus, service::NewActivity, service::Session,
};
use serde_json::json;

#[cfg(feature = "imap")]
pub use imap::{ImapAuth, ImapConfig, ImapSecurity, MailboxReport, MailboxSync};
pub use inbound::{
    Filed, Inbox, MAX_ADDRESSES_PER_HEADER, MAX_BODY_CHARS, MAX_MESSAGE_BYTES, MAX_PARTICIPANTS_PER_ROLE,
    SUBJECT_THREAD_WINDOW_DAYS, is_free_mail, normalise_subject, split_mbox,
};
#[cfg(feature = "postmark")]
pub use postmark::PostmarkSender;
pub use smtp::{Security, SmtpConfig, SmtpSender};
pub use template::{Rendered, Template};

use crate::error::{IntegrationError, Result};

/// An email address with an optional display name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Address {
    /// The display name (`Jane Doe`).
    pub name: Option<String>,
    /// The address, lower-cased (`jane@acme.example`).
    pub email: String,
}

impl Address {
    /// A named address; the address is checked.
    pub fn new(name: impl Into<String>, email: &str) -> Result<Self> {
        let name = name.into();
        let name = (!name.trim().is_empty()).then(|| name.trim().to_owned());
        Ok(Address { name, email: checked_email("email", email)? })
    }

    /// An address without a display name.
    pub fn bare(email: &str) -> Result<Self> {
        Ok(Address { name: None, email: checked_email("email", email)? })
    }
}

fn checked_email(field: &str, email: &str) -> Result<String> {
    crm_core::profile::Email::parse(email)
        .map(|e| e.as_str().to_owned())
        .map_err(|e| IntegrationError::invalid(field, e))
}

/// A message ready to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutgoingEmail {
    /// The sender.
    pub from: Address,
    /// Recipients.
    pub to: Vec<Address>,
    /// Copied recipients.
    pub cc: Vec<Address>,
    /// Where replies go, when not to `from`.
    pub reply_to: Option<Address>,
    /// One-line subject.
    pub subject: String,
    /// Plain-text body.
    pub text: String,
    /// HTML body (sent as an alternative to the text).
    pub html: Option<String>,
    /// The Message-ID, without angle brackets (`0193…@acme.example`).
    pub message_id: String,
    /// The Message-ID this one answers.
    pub in_reply_to: Option<String>,
    /// The thread's Message-IDs, oldest first.
    pub references: Vec<String>,
}

impl OutgoingEmail {
    /// Checks what every sender relies on: recipients, a one-line subject, well-formed ids.
    pub fn check(&self) -> Result<()> {
        if self.to.is_empty() {
            return Err(IntegrationError::invalid("to", "a message needs at least one recipient"));
        }
        if self.subject.contains(['\r', '\n']) {
            return Err(IntegrationError::invalid("subject", "must be one line"));
        }
        let ids = std::iter::once(("message_id", &self.message_id))
            .chain(self.in_reply_to.iter().map(|i| ("in_reply_to", i)))
            .chain(self.references.iter().map(|r| ("references", r)));
        for (field, id) in ids {
            if !valid_message_id(id) {
                return Err(IntegrationError::invalid(
                    field,
                    format!("`{id}` is not a Message-ID (left@right, no brackets)"),
                ));
            }
        }
        Ok(())
    }
}

/// `left@right` of printable ASCII without spaces or angle brackets, at most 250 bytes (an
/// unbracketed RFC 5322 msg-id, read leniently: inbound mail is not always strict).
pub(crate) fn valid_message_id(id: &str) -> bool {
    id.len() <= 250
        && matches!(id.split_once('@'), Some((l, r)) if !l.is_empty() && !r.is_empty())
        && id.bytes().all(|b| b.is_ascii_graphic() && b != b'<' && b != b'>')
}

/// What a sender reports for a message it handed over.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SentEmail {
    /// The Message-ID the message went out with.
    pub message_id: String,
    /// The provider's own id or the server's acceptance reply, when it gives one.
    pub provider_id: Option<String>,
}

/// Sends messages. Implementations must not change the Message-ID.
#[async_trait]
pub trait EmailSender: Send + Sync + 'static {
    /// Sends `email`; fails with [`IntegrationError::Remote`] (saying whether a retry may
    /// help) or [`IntegrationError::Invalid`].
    async fn send(&self, email: &OutgoingEmail) -> Result<SentEmail>;
}

#[async_trait]
impl<S: EmailSender + ?Sized> EmailSender for Arc<S> {
    async fn send(&self, email: &OutgoingEmail) -> Result<SentEmail> {
        (**self).send(email).await
    }
}

/// What to send through a [`Mailer`]: recipients (contacts), the content, and what it is about.
#[derive(Clone, Debug)]
pub struct Mail {
    to: Vec<ContactId>,
    cc: Vec<ContactId>,
    content: Option<Template>,
    deal: Option<DealId>,
    campaign: Option<CampaignId>,
    in_reply_to: Option<String>,
    references: Vec<String>,
}

impl Mail {
    /// A message to `contact` (at their primary email address).
    pub fn to(contact: ContactId) -> Self {
        Mail {
            to: vec![contact],
            cc: Vec::new(),
            content: None,
            deal: None,
            campaign: None,
            in_reply_to: None,
            references: Vec::new(),
        }
    }

    /// Adds a recipient.
    pub fn and_to(mut self, contact: ContactId) -> Self {
        self.to.push(contact);
        self
    }

    /// Copies `contact`.
    pub fn cc(mut self, contact: ContactId) -> Self {
        self.cc.push(contact);
        self
    }

    /// The content.
    pub fn template(mut self, template: &Template) -> Self {
        self.content = Some(template.clone());
        self
    }

    /// Links the message to a deal (its data is in the template's `deal`).
    pub fn deal(mut self, deal: DealId) -> Self {
        self.deal = Some(deal);
        self
    }

    /// Sends it as campaign mail: every recipient needs granted marketing consent and
    /// membership of the campaign, whose `sent` response is recorded.
    pub fn campaign(mut self, campaign: CampaignId) -> Self {
        self.campaign = Some(campaign);
        self
    }

    /// Answers an earlier email (its Message-ID and references come along, so the reply
    /// threads in every mail client and back onto the same conversation here).
    pub fn replying_to(mut self, earlier: &Activity) -> Self {
        if let Some(id) = &earlier.message_id {
            let mut refs = earlier.references.clone();
            refs.push(id.clone());
            self.references = refs;
            self.in_reply_to = Some(id.clone());
        }
        self
    }
}

/// Sends email to contacts and files every message in the CRM.
#[derive(Clone)]
pub struct Mailer {
    sender: Arc<dyn EmailSender>,
    from: Address,
    domain: String,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer").field("from", &self.from).finish_non_exhaustive()
    }
}

impl Mailer {
    /// A mailer sending as `from` through `sender`; Message-IDs use `from`'s domain.
    pub fn new(sender: impl EmailSender, from: Address) -> Result<Self> {
        let domain = from.email.rsplit_once('@').map(|(_, d)| d.to_owned()).unwrap_or_default();
        Ok(Mailer { sender: Arc::new(sender), from, domain })
    }

    /// A new Message-ID: a UUIDv7 at the sender's domain.
    pub fn new_message_id(&self) -> String {
        format!("{}@{}", uuid::Uuid::now_v7().simple(), self.domain)
    }

    /// Renders, sends and records `mail` as `cx`'s actor. Returns the recorded activity.
    ///
    /// Nothing is sent and nothing written when a recipient has no email address, campaign
    /// consent is missing, or the template does not render. When the send fails nothing is
    /// written. When the send succeeds but recording fails, the error is
    /// [`IntegrationError::NotRecorded`] with the Message-ID.
    pub async fn send(&self, cx: &Session, mail: Mail) -> Result<Activity> {
        let (email, record) = self.prepare(cx, &mail).await?;
        self.sender.send(&email).await?;
        self.record(cx, &email, &record).await.map_err(|e| match e {
            IntegrationError::Crm(source) => {
                IntegrationError::NotRecorded { message_id: email.message_id.clone(), source: Box::new(source) }
            }
            other => other,
        })
    }

    /// Renders `mail` into the message [`send`](Self::send) would send, without sending or
    /// writing anything (a preview).
    pub async fn preview(&self, cx: &Session, mail: &Mail) -> Result<OutgoingEmail> {
        Ok(self.prepare(cx, mail).await?.0)
    }

    async fn prepare(&self, cx: &Session, mail: &Mail) -> Result<(OutgoingEmail, Recipients)> {
        let Some(template) = &mail.content else {
            return Err(IntegrationError::invalid("template", "a message needs content"));
        };
        let mut to = Vec::with_capacity(mail.to.len());
        for (i, id) in mail.to.iter().enumerate() {
            to.push(self.recipient(cx, &format!("to[{i}]"), *id, mail.campaign).await?);
        }
        let mut cc = Vec::with_capacity(mail.cc.len());
        for (i, id) in mail.cc.iter().enumerate() {
            cc.push(self.recipient(cx, &format!("cc[{i}]"), *id, mail.campaign).await?);
        }
        let Some((first, _)) = to.first() else {
            return Err(IntegrationError::invalid("to", "a message needs at least one recipient"));
        };
        let company = match first.company_id {
            Some(id) => Some(cx.companies().get(id).await?),
            None => None,
        };
        let deal = match mail.deal {
            Some(id) => Some(cx.deals().get(id).await?),
            None => None,
        };
        if let Some(id) = mail.campaign {
            cx.campaigns().get(id).await?;
        }
        let data = json!({
            "contact": {
                "given_name": first.given_name,
                "family_name": first.family_name,
                "full_name": first.full_name(),
                "email": first.primary_email().map(|e| e.as_str()),
                "job_title": first.job_title,
            },
            "company": company.as_ref().map(|c| json!({ "name": c.name })),
            "deal": deal.as_ref().map(|d| json!({
                "name": d.name,
                "amount": d.amount.as_ref().map(|m| m.to_string()),
                "expected_close_date": d.expected_close_date.map(|d| d.to_string()),
            })),
            "sender": { "name": self.from.name, "email": self.from.email },
        });
        let rendered = template.render(&data)?;
        let email = OutgoingEmail {
            from: self.from.clone(),
            to: to.iter().map(|(_, a)| a.clone()).collect(),
            cc: cc.iter().map(|(_, a)| a.clone()).collect(),
            reply_to: None,
            subject: rendered.subject,
            text: rendered.text,
            html: rendered.html,
            message_id: self.new_message_id(),
            in_reply_to: mail.in_reply_to.clone(),
            references: mail.references.clone(),
        };
        email.check()?;
        let record = Recipients {
            to: to.iter().map(|(c, _)| c.id).collect(),
            cc: cc.iter().map(|(c, _)| c.id).collect(),
            company: company.map(|c| c.id),
            deal: mail.deal,
            campaign: mail.campaign,
        };
        Ok((email, record))
    }

    /// A recipient's contact and address; campaign mail needs their consent.
    async fn recipient(
        &self,
        cx: &Session,
        field: &str,
        id: ContactId,
        campaign: Option<CampaignId>,
    ) -> Result<(Contact, Address)> {
        let contact = cx.contacts().get(id).await?;
        let Some(email) = contact.primary_email() else {
            return Err(IntegrationError::invalid(field, format!("{} has no email address", contact.full_name())));
        };
        if let Some(campaign) = campaign {
            if contact.marketing_consent.status != ConsentStatus::Granted {
                return Err(IntegrationError::NoConsent {
                    contact: id,
                    status: contact.marketing_consent.status.to_string(),
                });
            }
            let q = crm_core::query::Query::new(crm_core::query::Filter::eq("contact_id", id)).limit(1);
            if cx.campaigns().members(campaign, &q).await?.items.is_empty() {
                return Err(IntegrationError::invalid(
                    field,
                    format!("{} is not a member of the campaign", contact.full_name()),
                ));
            }
        }
        let name = contact.full_name();
        let address = Address { name: (!name.trim().is_empty()).then_some(name), email: email.as_str().to_owned() };
        Ok((contact, address))
    }

    /// Records a sent message as an outbound email activity (and, for campaign mail, each
    /// recipient's `sent` response). Safe to call again with the same message after
    /// [`IntegrationError::NotRecorded`]: a message already recorded is returned as it is.
    pub async fn record(&self, cx: &Session, email: &OutgoingEmail, to: &Recipients) -> Result<Activity> {
        if let Some(existing) = cx.activities().find_by_message_id(&email.message_id).await? {
            return Ok(existing);
        }
        let mut a = NewActivity::email(email.subject.clone())
            .body(email.text.clone())
            .direction(Direction::Outbound)
            .channel(Channel::Email)
            .message_id(email.message_id.clone())
            .participant(ParticipantRole::From, email.from.name.as_deref(), Some(&email.from.email));
        for (role, list) in [(ParticipantRole::To, &email.to), (ParticipantRole::Cc, &email.cc)] {
            for addr in list {
                a = a.participant(role, addr.name.as_deref(), Some(&addr.email));
            }
        }
        for id in to.to.iter().chain(&to.cc) {
            a = a.contact(*id);
        }
        if let Some(c) = to.company {
            a = a.company(c);
        }
        if let Some(d) = to.deal {
            a = a.deal(d);
        }
        if let Some(id) = &email.in_reply_to {
            a = a.in_reply_to(id.clone());
        }
        a = a.references(email.references.clone());
        if let Some(campaign) = to.campaign {
            a = a.campaign(campaign);
        }
        Ok(cx.activities().log(a).await?)
    }
}

/// Who and what a message was about, for [`Mailer::record`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recipients {
    /// Contacts it was sent to.
    pub to: Vec<ContactId>,
    /// Contacts copied.
    pub cc: Vec<ContactId>,
    /// The first recipient's company.
    pub company: Option<crm_core::ids::CompanyId>,
    /// The deal it is about.
    pub deal: Option<DealId>,
    /// The campaign it belongs to.
    pub campaign: Option<CampaignId>,
}
