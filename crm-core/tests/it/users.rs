//! Users and teams: unique addresses and names, reporting lines without loops, deactivation
//! instead of deletion, members that exist — each refusal naming its field, nothing written.

use crm_core::error::FieldErrorCode;
use crm_core::prelude::*;

use crate::common::*;

#[tokio::test]
async fn users_report_to_managers_without_loops_and_are_deactivated_not_deleted() {
    let env = env();
    let cx = env.cx();
    let u = cx.users();
    let ceo = u.create(NewUser::new("Cleo Chief", "cleo@acme.example")).await.unwrap();
    let sam =
        u.create(NewUser::new("Sam Boss", "Sam@Acme.example").manager(ceo.id).title("Head of sales")).await.unwrap();
    let ria = u.create(NewUser::new(" Ria Rep ", "ria@acme.example").manager(sam.id)).await.unwrap();
    assert_eq!((ria.name.as_str(), sam.email.as_str(), ria.active), ("Ria Rep", "sam@acme.example", true));
    assert_eq!(u.subordinates(ceo.id).await.unwrap(), [sam.id, ria.id], "nearest first");
    assert_eq!(u.subordinates(ria.id).await.unwrap(), Vec::<UserId>::new());
    assert_eq!(u.by_email("RIA@acme.example").await.unwrap().map(|x| x.id), Some(ria.id));

    // The same address in any case, a bad address with a blank name, an unknown manager.
    let err = env.refused(u.create(NewUser::new("Other", "SAM@acme.example"))).await;
    assert_only_field(&err, "email", FieldErrorCode::Duplicate);
    let err = env.refused(u.create(NewUser::new(" ", "not-an-address"))).await;
    assert_field(&err, "email", FieldErrorCode::InvalidFormat);
    assert_field(&err, "name", FieldErrorCode::Required);
    let err = env.refused(u.create(NewUser::new("Nobody", "n@acme.example").manager(UserId::new()))).await;
    assert_only_field(&err, "manager_id", FieldErrorCode::NotFound);

    // No loops: the chief cannot report to someone under her, nor to herself.
    let mut chief = ceo.clone();
    chief.manager_id = Some(ria.id);
    let err = env.refused(u.update(chief.clone())).await;
    assert_only_field(&err, "manager_id", FieldErrorCode::Rule);
    chief.manager_id = Some(ceo.id);
    let err = env.refused(u.update(chief)).await;
    assert_only_field(&err, "manager_id", FieldErrorCode::Rule);

    // Deactivated, not deleted; a deactivated user manages no newcomer; `active` moves only
    // through its verbs.
    let err = env.refused(u.delete(ria.id, ria.version)).await;
    assert_only_field(&err, "id", FieldErrorCode::Rule);
    let ria = u.deactivate(ria.id).await.unwrap();
    assert!(!ria.active);
    let err = env.refused(u.create(NewUser::new("New", "new@acme.example").manager(ria.id))).await;
    assert_only_field(&err, "manager_id", FieldErrorCode::Rule);
    let mut back = ria.clone();
    back.active = true;
    assert!(matches!(env.refused(u.update(back)).await, Error::InvalidTransition { .. }));
    assert!(u.reactivate(ria.id).await.unwrap().active);
}

#[tokio::test]
async fn teams_hold_existing_users_once_under_unique_names() {
    let env = env();
    let cx = env.cx();
    let ria = cx.users().create(NewUser::new("Ria Rep", "ria@acme.example")).await.unwrap();
    let tom = cx.users().create(NewUser::new("Tom Rep", "tom@acme.example")).await.unwrap();
    let t = cx.teams();
    let north = t.create(NewTeam::new("North").member(ria.id).description("Northern region")).await.unwrap();

    let err = env.refused(t.create(NewTeam::new("north"))).await;
    assert_only_field(&err, "name", FieldErrorCode::Duplicate);
    let err = env.refused(t.create(NewTeam::new("South").member(tom.id).member(tom.id))).await;
    assert_only_field(&err, "members[1]", FieldErrorCode::Duplicate);
    let err = env.refused(t.create(NewTeam::new("East").member(UserId::new()))).await;
    assert_only_field(&err, "members[0]", FieldErrorCode::NotFound);
    let err = env.refused(t.add_member(north.id, UserId::new())).await;
    assert_only_field(&err, "members[1]", FieldErrorCode::NotFound);
    let err = env.refused(t.remove_member(north.id, tom.id)).await;
    assert_only_field(&err, "members", FieldErrorCode::NotFound);

    let north = t.add_member(north.id, tom.id).await.unwrap();
    assert_eq!(north.members, [ria.id, tom.id]);
    assert_eq!(t.add_member(north.id, tom.id).await.unwrap().version, north.version, "already in: no change");
    let south = t.create(NewTeam::new("South").member(tom.id)).await.unwrap();
    let of_tom: Vec<String> = t.of_user(tom.id).await.unwrap().into_iter().map(|x| x.name).collect();
    assert_eq!(of_tom, ["North", "South"]);
    assert_eq!(t.remove_member(north.id, tom.id).await.unwrap().members, [ria.id]);
    assert_eq!(t.of_user(tom.id).await.unwrap()[0].id, south.id);
}
