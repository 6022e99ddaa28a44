//! Sharing: a record opened to one more user or team, for reading or editing, within what
//! their roles allow on its kind; revoked, expired or deleted with the record; bad shares
//! refused naming the field and writing nothing.

use chrono::Duration;
use crm_core::model::ShareAccess;
use crm_core::prelude::*;
use crm_core::service::{NewShare, NewTeam, NewUser};

use crate::common::*;

struct Office {
    env: Env,
    ria: User,
    sam: User,
    tom: User,
    desk: User,
}

/// Three sales reps (Tom in team North with Sam) and a support agent.
async fn office() -> Office {
    let env = env();
    let cx = env.cx();
    let rep =
        |n: &str| NewUser::new(format!("{n} Rep"), format!("{}@acme.example", n.to_lowercase())).role("sales_rep");
    let ria = cx.users().create(rep("Ria")).await.unwrap();
    let sam = cx.users().create(rep("Sam")).await.unwrap();
    let tom = cx.users().create(rep("Tom")).await.unwrap();
    let desk = cx.users().create(NewUser::new("Dee Desk", "dee@acme.example").role("support_agent")).await.unwrap();
    cx.teams().create(NewTeam::new("North").member(sam.id).member(tom.id)).await.unwrap();
    Office { env, ria, sam, tom, desk }
}

impl Office {
    fn as_user(&self, u: &User) -> Session {
        self.env.crm.as_actor(&Actor::user(tenant_a(), u.id))
    }
}

#[tokio::test]
async fn a_share_opens_one_record_for_reading_or_editing_and_nothing_more() {
    let o = office().await;
    let (ria, sam) = (o.as_user(&o.ria), o.as_user(&o.sam));
    let deal = ria.deals().create(NewDeal::new("Acme renewal")).await.unwrap();
    let other = ria.deals().create(NewDeal::new("Globex pilot")).await.unwrap();
    let all = Query::new(Filter::All);
    assert!(sam.deals().list(&all).await.unwrap().items.is_empty(), "Ria's deals are hers");
    assert_not_found(&sam.deals().get(deal.id).await.unwrap_err(), EntityKind::Deal, deal.id);

    let read = ria.shares().share(NewShare::with_user(deal.entity_ref(), o.sam.id, ShareAccess::Read)).await.unwrap();
    assert_eq!((read.shared_by, read.access), (Some(o.ria.id), ShareAccess::Read));
    // Sam's session, opened before, resolves its access again: the share counts at once.
    assert_eq!(sam.deals().get(deal.id).await.unwrap().name, "Acme renewal");
    let listed: Vec<DealId> = sam.deals().list(&all).await.unwrap().items.into_iter().map(|d| d.id).collect();
    assert_eq!(listed, [deal.id], "the shared deal, not the other");
    assert_eq!(sam.deals().count(&Filter::All).await.unwrap(), 1);
    let hits = sam.search_in("acme", &[EntityKind::Deal], 10).await.unwrap();
    assert_eq!(hits.iter().map(|r| r.id()).collect::<Vec<_>>(), [deal.id.as_uuid()]);
    assert!(sam.search_in("globex", &[EntityKind::Deal], 10).await.unwrap().is_empty());
    let mut edit = sam.deals().get(deal.id).await.unwrap();
    edit.name = "Sam's name".into();
    assert!(matches!(o.env.refused(sam.deals().update(edit.clone())).await, Error::Forbidden(_)), "read only");
    assert!(matches!(o.env.refused(sam.deals().delete(deal.id, deal.version)).await, Error::Forbidden(_)));

    // An edit share lets them update it, still not delete or reassign it.
    ria.shares().revoke(read.id).await.unwrap();
    ria.shares().share(NewShare::with_user(deal.entity_ref(), o.sam.id, ShareAccess::Edit)).await.unwrap();
    let sam = o.as_user(&o.sam);
    assert_eq!(sam.deals().update(edit).await.unwrap().name, "Sam's name");
    let mut moved = sam.deals().get(deal.id).await.unwrap();
    moved.owner_id = Some(o.sam.id);
    assert!(matches!(o.env.refused(sam.deals().update(moved)).await, Error::Forbidden(_)), "not assign");
    assert_not_found(&sam.deals().get(other.id).await.unwrap_err(), EntityKind::Deal, other.id);

    // Shares widen the record rules, never the roles: a support agent reads no deals at all.
    ria.shares().share(NewShare::with_user(deal.entity_ref(), o.desk.id, ShareAccess::Edit)).await.unwrap();
    let desk = o.as_user(&o.desk);
    assert!(desk.deals().get(deal.id).await.is_err(), "the agent's roles read no deals");
    assert_eq!(ria.shares().of_record(deal.entity_ref()).await.unwrap().len(), 2);

    // Deleting the record takes its shares with it.
    let deal = ria.deals().get(deal.id).await.unwrap();
    ria.deals().delete(deal.id, deal.version).await.unwrap();
    let left = o.env.cx().records::<crm_core::model::Share>().count(&Filter::All).await.unwrap();
    assert_eq!(left, 0);
}

#[tokio::test]
async fn a_team_share_reaches_its_members_until_it_expires_or_is_revoked() {
    let o = office().await;
    let ria = o.as_user(&o.ria);
    let lead = ria.contacts().create(NewContact::new("Lee", "Lead")).await.unwrap();
    let north = o.env.cx().teams().list(&Query::new(Filter::All)).await.unwrap().items[0].clone();
    let until = o.env.now() + Duration::hours(1);
    let share = ria
        .shares()
        .share(NewShare::with_team(lead.entity_ref(), north.id, ShareAccess::Read).expires_at(until).note(" cover "))
        .await
        .unwrap();
    assert_eq!((share.note.as_deref(), share.expires_at), (Some("cover"), Some(until)));
    for member in [&o.sam, &o.tom] {
        let got = o.as_user(member).contacts().get(lead.id).await;
        assert_eq!(got.map(|c| c.id).ok(), Some(lead.id), "{} is in North", member.name);
    }
    // Revoked by someone who may not assign the record: refused.
    assert!(o.env.refused(o.as_user(&o.sam).shares().revoke(share.id)).await.to_string().contains("may not"));
    o.env.advance(Duration::hours(2));
    assert!(o.as_user(&o.sam).contacts().get(lead.id).await.is_err(), "expired");
    // By its sharer: gone.
    ria.shares().revoke(share.id).await.unwrap();
    assert!(ria.shares().of_record(lead.entity_ref()).await.unwrap().is_empty());
}

#[tokio::test]
async fn bad_shares_are_refused_naming_the_field_and_write_nothing() {
    let o = office().await;
    let ria = o.as_user(&o.ria);
    let deal = ria.deals().create(NewDeal::new("Acme renewal")).await.unwrap();
    let r = deal.entity_ref();
    let ghost_team = TeamId::new();
    let err = o.env.refused(ria.shares().share(NewShare::with_team(r, ghost_team, ShareAccess::Read))).await;
    assert_only_field(&err, "team_id", FieldErrorCode::NotFound);
    let err = o.env.refused(ria.shares().share(NewShare::with_user(r, UserId::new(), ShareAccess::Read))).await;
    assert_only_field(&err, "user_id", FieldErrorCode::NotFound);
    let mut neither = NewShare::with_user(r, o.sam.id, ShareAccess::Read);
    neither.user_id = None;
    assert_only_field(&o.env.refused(ria.shares().share(neither)).await, "user_id", FieldErrorCode::Required);
    let mut both = NewShare::with_user(r, o.sam.id, ShareAccess::Read);
    both.team_id = Some(ghost_team);
    assert_field(&o.env.refused(ria.shares().share(both)).await, "team_id", FieldErrorCode::Rule);
    let past = NewShare::with_user(r, o.sam.id, ShareAccess::Read).expires_at(o.env.now());
    assert_only_field(&o.env.refused(ria.shares().share(past)).await, "expires_at", FieldErrorCode::OutOfRange);
    let missing = EntityRef::new(EntityKind::Deal, DealId::new());
    let err = o.env.refused(ria.shares().share(NewShare::with_user(missing, o.sam.id, ShareAccess::Read))).await;
    assert_only_field(&err, "record", FieldErrorCode::NotFound);
    let pipeline = o.env.cx().pipelines().list(&Query::new(Filter::All)).await.unwrap().items[0].entity_ref();
    let err =
        o.env.refused(o.env.cx().shares().share(NewShare::with_user(pipeline, o.sam.id, ShareAccess::Read))).await;
    assert_only_field(&err, "record", FieldErrorCode::Rule);
    // A record out of reach is as good as missing; one in sight that they may not assign is
    // refused.
    let theirs = o.env.cx().deals().create(NewDeal::new("House deal")).await.unwrap();
    let house = NewShare::with_user(theirs.entity_ref(), o.sam.id, ShareAccess::Read);
    assert_only_field(&o.env.refused(ria.shares().share(house)).await, "record", FieldErrorCode::NotFound);
    let sams = o.as_user(&o.sam).contacts().create(NewContact::new("Sam's", "Lead")).await.unwrap();
    let tom = o.as_user(&o.tom);
    tom.contacts().get(sams.id).await.expect("a team mate reads it");
    let to_ria = NewShare::with_user(sams.entity_ref(), o.ria.id, ShareAccess::Read);
    assert!(matches!(o.env.refused(tom.shares().share(to_ria)).await, Error::Forbidden(_)));
    o.env.cx().users().deactivate(o.tom.id).await.unwrap();
    let err = o.env.refused(ria.shares().share(NewShare::with_user(r, o.tom.id, ShareAccess::Read))).await;
    assert_only_field(&err, "user_id", FieldErrorCode::Rule);
    // The same grantee twice.
    ria.shares().share(NewShare::with_user(r, o.sam.id, ShareAccess::Read)).await.unwrap();
    let err = o.env.refused(ria.shares().share(NewShare::with_user(r, o.sam.id, ShareAccess::Edit))).await;
    assert_only_field(&err, "record", FieldErrorCode::Duplicate);
}
