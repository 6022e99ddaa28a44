//! Sharing records: opening one record to one more user or team, for reading or editing, as an
//! exception to the record rules. Who may give a record away (assign it) may share it.

use chrono::{DateTime, Utc};

use super::Records;
use super::checks::Checks;
use super::uow::Uow;
use crate::entity::EntityRef;
use crate::error::{Error, FieldErrorCode, Result};
use crate::ids::{ShareId, TeamId, UserId, storage_precision};
use crate::macros::{new_input, new_record};
use crate::model::{Action, Entity, Share, ShareAccess, User, owned};
use crate::query::Filter;

new_input! {
    /// A share to make (see [`Shares::share`]).
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct NewShare {
        /// The record to share.
        pub record: EntityRef => manual,
        /// With this user (or a team).
        pub user_id: Option<UserId> => manual,
        /// With this team (or a user).
        pub team_id: Option<TeamId> => manual,
        /// Read or edit.
        pub access: ShareAccess => manual,
        /// Why (trimmed).
        pub note: Option<String> => some note(String),
        /// When it stops counting (in the future).
        pub expires_at: Option<DateTime<Utc>> => some_exact expires_at(DateTime<Utc>),
    }
}

impl NewShare {
    /// Shares `record` with user `user`.
    pub fn with_user(record: EntityRef, user: UserId, access: ShareAccess) -> Self {
        Self { record, user_id: Some(user), team_id: None, access, note: None, expires_at: None }
    }

    /// Shares `record` with every member of team `team`.
    pub fn with_team(record: EntityRef, team: TeamId, access: ShareAccess) -> Self {
        Self { record, user_id: None, team_id: Some(team), access, note: None, expires_at: None }
    }
}

/// Shares: records opened to one more user or team beyond what the record rules reach. A
/// share counts for its grantee where their roles let them read (or, for an edit share,
/// update) records of its kind at some scope, and it opens nothing else. Sharing and revoking
/// need the right to assign the record.
///
/// ```
/// # futures::executor::block_on(async {
/// use crm_core::prelude::*;
/// use crm_core::model::ShareAccess;
/// use crm_core::service::{NewShare, NewUser};
/// let crm = Crm::new(MemoryStore::new());
/// let admin = crm.as_actor(&Actor::system(TenantId::new()));
/// let ria = admin.users().create(NewUser::new("Ria Rep", "ria@acme.example").role("sales_rep")).await?;
/// let sam = admin.users().create(NewUser::new("Sam Rep", "sam@acme.example").role("sales_rep")).await?;
/// let as_ria = crm.as_actor(&Actor::user(admin.tenant(), ria.id));
/// let as_sam = crm.as_actor(&Actor::user(admin.tenant(), sam.id));
/// let deal = as_ria.deals().create(NewDeal::new("Acme renewal")).await?;
/// assert!(as_sam.deals().get(deal.id).await.is_err(), "Ria's own");
/// let share = as_ria.shares().share(NewShare::with_user(deal.entity_ref(), sam.id, ShareAccess::Read)).await?;
/// assert_eq!(as_sam.deals().get(deal.id).await?.name, "Acme renewal");
/// as_ria.shares().revoke(share.id).await?;
/// assert!(as_sam.deals().get(deal.id).await.is_err());
/// # Ok::<_, Error>(()) }).unwrap();
/// ```
pub type Shares<'s> = Records<'s, Share>;

impl Records<'_, Share> {
    /// Shares a record. Refused naming the field: a record that is not there or has no owner
    /// (`record`), no grantee or two (`user_id`, `team_id`), a user or team that is not there
    /// (`user_id`, `team_id`), a deactivated user (`user_id`), an expiry in the past
    /// (`expires_at`), the same grantee twice (`record`).
    pub async fn share(&self, input: NewShare) -> Result<Share> {
        self.write(|uow| {
            Box::pin(async move {
                let mut ch = Checks::default();
                if !owned(input.record.kind) {
                    ch.push(
                        "record",
                        FieldErrorCode::Rule,
                        format!("{} records have no owner: roles reach all of them or none", input.record.kind),
                    );
                } else if uow.exists(input.record).await? {
                    let target = uow.load_record(input.record, Action::Read).await?;
                    uow.access.check_record(Action::Assign, &target)?;
                }
                match (input.user_id, input.team_id) {
                    (None, None) => ch.push("user_id", FieldErrorCode::Required, "share with a user or a team"),
                    (Some(_), Some(_)) => {
                        ch.push("team_id", FieldErrorCode::Rule, "share with a user or a team, not both")
                    }
                    (Some(u), None) => {
                        if let Some(user) = uow.tx.fetch::<User>(u).await?
                            && !user.active
                        {
                            ch.push("user_id", FieldErrorCode::Rule, format!("user {} is deactivated", user.name));
                        }
                    }
                    (None, Some(_)) => {}
                }
                let mut note = input.note;
                ch.opt_text("note", &mut note);
                let expires_at = input.expires_at.map(storage_precision);
                if expires_at.is_some_and(|at| at <= uow.now) {
                    ch.push("expires_at", FieldErrorCode::OutOfRange, "a share must expire in the future");
                }
                let share = new_record!(
                    uow,
                    Share {
                        record: input.record,
                        user_id: input.user_id,
                        team_id: input.team_id,
                        access: input.access,
                        shared_by: uow.s.actor.user_id,
                        note,
                        expires_at,
                    }
                );
                uow.check_links(&share, None, &mut ch.errs).await?;
                // Sharing is an exception the record's assigner grants, not a grant on shares.
                uow.by_rules = true;
                let share = uow.create(share, ch.errs).await;
                uow.by_rules = false;
                share
            })
        })
        .await
    }

    /// Revokes a share (who may assign the record, or who shared it).
    pub async fn revoke(&self, id: ShareId) -> Result<()> {
        let mut uow = Uow::write(self.s).await?;
        let share = uow.tx.require::<Share>(id).await?;
        let by_sharer = share.shared_by.is_some() && share.shared_by == uow.access.user();
        if !by_sharer && !uow.access.is_unrestricted() {
            match uow.tx.get(share.record.kind, share.record.id).await? {
                Some(target) => uow.access.check_record(Action::Assign, &target)?,
                None => return Err(Error::NotFound { kind: Share::KIND, id: id.into() }),
            }
        }
        let v = share.version;
        uow.remove(&share.into_record(), v).await?;
        uow.commit().await?;
        Ok(())
    }

    /// The shares of a record the actor may read, oldest first.
    pub async fn of_record(&self, record: EntityRef) -> Result<Vec<Share>> {
        let mut uow = Uow::read(self.s).await?;
        uow.load_record(record, Action::Read).await?;
        let f = Filter::eq("record_kind", record.kind).and(Filter::eq("record_id", record.id));
        let mut all = uow.tx.find_all::<Share>(f).await?;
        all.sort_by_key(|s| (s.created_at, s.id));
        Ok(all)
    }
}
