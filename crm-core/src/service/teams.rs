//! Teams: groups of users who share records.

use super::Records;
use super::checks::Checks;
use super::records::Guard;
use super::uow::Uow;
use crate::error::{FieldErrorCode, Result};
use crate::ids::{TeamId, UserId};
use crate::macros::new_input;
use crate::macros::new_record;
use crate::model::Team;
use crate::query::Filter;

new_input! {
    /// Input for a new team.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct NewTeam {
        /// Name (required; unique per tenant, ignoring case).
        pub name: String => manual,
        /// What it does.
        pub description: Option<String> => some description(String),
        /// A member: a user of the tenant.
        pub members: Vec<UserId> => push member(UserId),
    }
}

impl NewTeam {
    /// A team with this name and no members yet.
    pub fn new(name: impl Into<String>) -> Self {
        Self { name: name.into(), description: None, members: Vec::new() }
    }
}

async fn check_team(uow: &mut Uow<'_>, t: &mut Team, before: Option<&Team>, ch: &mut Checks) -> Result<()> {
    ch.name("name", &mut t.name, true);
    ch.opt_text("description", &mut t.description);
    ch.duplicates("members", &t.members);
    uow.check_links(t, before, &mut ch.errs).await
}

/// Teams: groups of users (a sales region, a support queue). Each member is a user of the
/// tenant, listed once; names are unique, ignoring case.
///
/// ```
/// # futures::executor::block_on(async {
/// use crm_core::prelude::*;
/// use crm_core::service::{NewTeam, NewUser};
/// let crm = Crm::new(MemoryStore::new());
/// let cx = crm.as_actor(&Actor::system(TenantId::new()));
/// let ria = cx.users().create(NewUser::new("Ria Rep", "ria@acme.example")).await?;
/// let north = cx.teams().create(NewTeam::new("North").member(ria.id)).await?;
/// assert_eq!(cx.teams().of_user(ria.id).await?[0].id, north.id);
/// let north = cx.teams().remove_member(north.id, ria.id).await?;
/// assert!(north.members.is_empty());
/// # Ok::<_, Error>(()) }).unwrap();
/// ```
pub type Teams<'s> = Records<'s, Team>;

impl Records<'_, Team> {
    /// Creates a team.
    pub async fn create(&self, input: NewTeam) -> Result<Team> {
        self.create_with(|uow, ch| {
            Box::pin(async move {
                let mut team =
                    new_record!(uow, Team { name: input.name, description: input.description, members: input.members });
                check_team(uow, &mut team, None, ch).await?;
                Ok(team)
            })
        })
        .await
    }

    /// Saves changes to a team read earlier.
    pub async fn update(&self, team: Team) -> Result<Team> {
        self.update_with(team, &Guard::NONE, &[], |uow, before, team, ch| {
            Box::pin(async move { check_team(uow, team, Some(before), ch).await })
        })
        .await
    }

    /// Adds user `user` to team `id` (no change if they are in it).
    pub async fn add_member(&self, id: TeamId, user: UserId) -> Result<Team> {
        self.change(id, |uow, team| {
            Box::pin(async move {
                if team.members.contains(&user) {
                    return Ok(team);
                }
                let mut after = team.clone();
                after.members.push(user);
                let mut ch = Checks::default();
                check_team(uow, &mut after, Some(&team), &mut ch).await?;
                uow.save(&team, after, ch.errs, &[]).await
            })
        })
        .await
    }

    /// Takes user `user` out of team `id`; refused naming `members` if they are not in it.
    pub async fn remove_member(&self, id: TeamId, user: UserId) -> Result<Team> {
        self.change(id, |uow, team| {
            Box::pin(async move {
                let Some(at) = team.members.iter().position(|m| *m == user) else {
                    return Err(crate::error::Error::invalid(
                        "members",
                        FieldErrorCode::NotFound,
                        format!("user {user} is not in team `{}`", team.name),
                    ));
                };
                let mut after = team.clone();
                after.members.remove(at);
                uow.save(&team, after, Vec::new(), &[]).await
            })
        })
        .await
    }

    /// The teams user `user` is in, by name.
    pub async fn of_user(&self, user: UserId) -> Result<Vec<Team>> {
        let mut uow = Uow::read(self.s).await?;
        let mut teams = uow.tx.find_all::<Team>(Filter::contains("members", user)).await?;
        teams.sort_by_key(|t| t.name.to_lowercase());
        Ok(teams)
    }
}
