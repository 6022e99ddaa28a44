//! Notifications: messages to users of the CRM. Anyone reads their own through
//! [`Notifications::inbox`], whatever their roles; the records themselves are governed like any
//! other kind (administrators see every user's).

use chrono::{DateTime, Utc};

use super::Records;
use super::checks::Checks;
use super::uow::Uow;
use crate::entity::EntityRef;
use crate::error::{Error, FieldErrorCode, Result};
use crate::ids::{NotificationId, UserId};
use crate::macros::{new_input, new_record};
use crate::model::{Entity, Notification};
use crate::query::{Filter, Query};

/// The longest message, in characters.
pub const MAX_MESSAGE_CHARS: usize = 2_000;

new_input! {
    /// Input for a new notification.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct NewNotification {
        /// Who it is for: an active user.
        pub user_id: UserId => manual,
        /// What it says (required; at most [`MAX_MESSAGE_CHARS`] characters).
        pub message: String => manual,
        /// The record it is about.
        pub link: Option<EntityRef> => some link(EntityRef),
    }
}

impl NewNotification {
    /// A message to `user`.
    pub fn new(user: UserId, message: impl Into<String>) -> Self {
        Self { user_id: user, message: message.into(), link: None }
    }
}

/// Notifications: messages to users, read or unread.
///
/// ```
/// # futures::executor::block_on(async {
/// use crm_core::prelude::*;
/// use crm_core::service::NewNotification;
/// let crm = Crm::new(MemoryStore::new());
/// let tenant = TenantId::new();
/// let system = crm.as_actor(&Actor::system(tenant));
/// let rep = system.users().create(NewUser::new("Ria Rep", "ria@acme.example").role("sales_rep")).await?;
/// system.notifications().send(NewNotification::new(rep.id, "A new lead is yours")).await?;
/// // Ria reads her own, whatever her role lets her read otherwise.
/// let ria = crm.as_actor(&Actor::user(tenant, rep.id));
/// let inbox = ria.notifications().inbox(true, 20).await?;
/// assert_eq!(inbox[0].message, "A new lead is yours");
/// ria.notifications().mark_read(inbox[0].id).await?;
/// assert_eq!(ria.notifications().unread().await?, 0);
/// # Ok::<_, Error>(()) }).unwrap();
/// ```
pub type Notifications<'s> = Records<'s, Notification>;

impl Records<'_, Notification> {
    /// Sends a notification: checks the message, that the user exists and the linked record.
    pub async fn send(&self, input: NewNotification) -> Result<Notification> {
        let mut sent = self.send_many(vec![input]).await.map_err(|e| match e {
            Error::Validation(mut v) => {
                for f in &mut v.0 {
                    f.field = f.field.trim_start_matches("[0].").to_owned();
                }
                Error::Validation(v)
            }
            other => other,
        })?;
        sent.pop().ok_or_else(|| Error::storage("a notification was not sent"))
    }

    /// Sends several notifications in one write: all or none (an error names `[i].field`).
    pub async fn send_many(&self, inputs: Vec<NewNotification>) -> Result<Vec<Notification>> {
        let source = self.s.actor.origin.clone();
        self.write(|uow| {
            Box::pin(async move {
                let mut out = Vec::with_capacity(inputs.len());
                let mut errs = Vec::new();
                for (i, input) in inputs.into_iter().enumerate() {
                    let mut ch = Checks::default();
                    let mut n = new_record!(
                        uow,
                        Notification {
                            user_id: input.user_id,
                            message: input.message,
                            link: input.link,
                            source: source.clone(),
                            read_at: None,
                        }
                    );
                    check_message(&mut ch, &mut n.message);
                    uow.check_links(&n, None, &mut ch.errs).await?;
                    if let Some(l) = n.link
                        && !uow.exists(l).await?
                    {
                        ch.push("link", FieldErrorCode::NotFound, format!("no {} {} in this tenant", l.kind, l.id));
                    }
                    if ch.errs.is_empty() {
                        out.push(n);
                    } else {
                        errs.extend(ch.errs.into_iter().map(|mut e| {
                            e.field = format!("[{i}].{}", e.field);
                            e
                        }));
                    }
                }
                Error::check(errs)?;
                let mut sent = Vec::with_capacity(out.len());
                for n in out {
                    sent.push(uow.create(n, Vec::new()).await?);
                }
                Ok(sent)
            })
        })
        .await
    }

    /// The acting user's notifications, newest first (only unread ones with `unread_only`), at
    /// most `limit` (1–1000). The system, which is no user, has none.
    pub async fn inbox(&self, unread_only: bool, limit: usize) -> Result<Vec<Notification>> {
        let Some(me) = self.s.actor.user_id else { return Ok(Vec::new()) };
        let mut filter = Filter::eq("user_id", me);
        if unread_only {
            filter = filter.and(Filter::is_null("read_at"));
        }
        let q = Query::new(filter).sort_desc("created_at").limit(limit.clamp(1, crate::query::MAX_PAGE_SIZE));
        let mut uow = Uow::read(self.s).await?;
        Ok(uow.tx.find::<Notification>(&q).await?.items)
    }

    /// How many of the acting user's notifications are unread.
    pub async fn unread(&self) -> Result<u64> {
        let Some(me) = self.s.actor.user_id else { return Ok(0) };
        let mut uow = Uow::read(self.s).await?;
        let filter = Filter::eq("user_id", me).and(Filter::is_null("read_at"));
        uow.tx.count(Notification::KIND, &filter).await
    }

    /// Marks one of the acting user's notifications read (again: no change). Another user's
    /// is [`Error::NotFound`], as if it did not exist.
    pub async fn mark_read(&self, id: NotificationId) -> Result<Notification> {
        let me = self.s.actor.user_id;
        let mut uow = Uow::write(self.s).await?;
        let n = uow.tx.fetch::<Notification>(id).await?.filter(|n| Some(n.user_id) == me);
        let Some(mut n) = n else { return Err(Error::NotFound { kind: Notification::KIND, id: id.into() }) };
        if n.read_at.is_some() {
            return Ok(n);
        }
        n.read_at = Some(uow.now);
        let n = uow.save_system(n).await?;
        uow.commit().await?;
        Ok(n)
    }

    /// Deletes the acting user's notifications read before `before`; how many.
    pub async fn clear_read(&self, before: DateTime<Utc>) -> Result<u64> {
        let Some(me) = self.s.actor.user_id else { return Ok(0) };
        let mut uow = Uow::write(self.s).await?;
        let filter = Filter::eq("user_id", me).and(Filter::lt("read_at", before));
        let old = uow.tx.find_all::<Notification>(filter).await?;
        for n in &old {
            uow.tx.delete(Notification::KIND, n.id.into(), n.version).await?;
        }
        uow.commit().await?;
        Ok(old.len() as u64)
    }
}

fn check_message(ch: &mut Checks, message: &mut String) {
    *message = message.trim().to_owned();
    if message.is_empty() {
        ch.push("message", FieldErrorCode::Required, "say something");
    } else if message.chars().count() > MAX_MESSAGE_CHARS {
        ch.push("message", FieldErrorCode::OutOfRange, format!("at most {MAX_MESSAGE_CHARS} characters"));
    }
}
