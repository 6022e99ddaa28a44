//! Roles and record rules: what each built-in and tenant role reads and changes, narrowed in
//! the store (pages and counts right), refusals that write nothing, role definitions checked
//! field by field, and access re-resolved when users, teams or roles change.

use std::sync::{Arc, Mutex};

use crm_core::error::FieldErrorCode;
use crm_core::model::{Grant, Permission};
use crm_core::prelude::*;
use crm_core::query::{Filter, Query};
use crm_core::service::extension::{EventContext, Extension};

use crate::common::*;

/// A sales org: a manager over two reps in one team, a third rep in no team, an admin.
struct Org {
    env: Env,
    boss: User,
    ria: User,
    rob: User,
    solo: User,
}

async fn org() -> Org {
    let env = env();
    let cx = env.cx();
    let u = cx.users();
    let boss = u.create(NewUser::new("Sam Boss", "sam@acme.example").role("sales_manager")).await.unwrap();
    let ria = u.create(NewUser::new("Ria Rep", "ria@acme.example").manager(boss.id).role("sales_rep")).await.unwrap();
    let rob = u.create(NewUser::new("Rob Rep", "rob@acme.example").manager(boss.id).role("sales_rep")).await.unwrap();
    let solo = u.create(NewUser::new("Sol Solo", "sol@acme.example").role("sales_rep")).await.unwrap();
    cx.teams().create(NewTeam::new("North").member(ria.id).member(rob.id)).await.unwrap();
    Org { env, boss, ria, rob, solo }
}

impl Org {
    fn as_user(&self, u: &User) -> Session {
        self.env.crm.as_actor(&Actor::user(tenant_a(), u.id))
    }

    /// A contact owned by `owner` (None: unowned), created by the system.
    async fn contact(&self, name: &str, owner: Option<&User>) -> Contact {
        let mut input = NewContact::new(name, "Doe").tag("scoped");
        if let Some(o) = owner {
            input = input.owner(o.id);
        }
        self.env.cx().contacts().create(input).await.unwrap()
    }
}

fn names(items: &[Contact]) -> Vec<&str> {
    let mut n: Vec<&str> = items.iter().map(|c| c.given_name.as_str()).collect();
    n.sort();
    n
}

#[tokio::test]
async fn a_rep_reads_the_team_s_records_and_changes_only_their_own() {
    let o = org().await;
    let ann = o.contact("Ann", Some(&o.ria)).await;
    let bob = o.contact("Bob", Some(&o.rob)).await;
    let cat = o.contact("Cat", Some(&o.solo)).await;
    let dan = o.contact("Dan", None).await;
    let ria = o.as_user(&o.ria);

    // Reads: own and the team's, in list, count, get; the rest is not there for her.
    let all = ria.contacts().list(&Query::new(Filter::All).limit(50)).await.unwrap();
    assert_eq!(names(&all.items), ["Ann", "Bob"]);
    assert_eq!(ria.contacts().count(&Filter::All).await.unwrap(), 2);
    assert_eq!(ria.contacts().count(&Filter::eq("given_name", "Cat")).await.unwrap(), 0);
    assert_eq!(ria.contacts().get(bob.id).await.unwrap().id, bob.id);
    for hidden in [cat.id, dan.id] {
        let err = ria.contacts().get(hidden).await.unwrap_err();
        assert!(matches!(err, Error::NotFound { kind: EntityKind::Contact, id } if id == hidden.as_uuid()), "{err}");
    }

    // Changes: her own, not her team mate's (seen: Forbidden), not the outsider's (unseen: NotFound).
    let mut mine = ria.contacts().get(ann.id).await.unwrap();
    mine.job_title = Some("CTO".into());
    assert_eq!(ria.contacts().update(mine).await.unwrap().job_title.as_deref(), Some("CTO"));
    let mut theirs = bob.clone();
    theirs.job_title = Some("CFO".into());
    let err = o.env.refused(ria.contacts().update(theirs)).await;
    assert!(matches!(err, Error::Forbidden(ref m) if m.contains("may not update")), "{err}");
    let mut outside = cat.clone();
    outside.job_title = Some("CEO".into());
    assert!(matches!(o.env.refused(ria.contacts().update(outside)).await, Error::NotFound { .. }));
    assert!(matches!(o.env.refused(ria.contacts().delete(bob.id, bob.version)).await, Error::Forbidden(_)));
    assert!(matches!(o.env.refused(ria.contacts().delete(cat.id, cat.version)).await, Error::NotFound { .. }));

    // What she creates is hers; she may not create records for someone else.
    let eve = ria.contacts().create(NewContact::new("Eve", "Doe")).await.unwrap();
    assert_eq!(eve.owner_id, Some(o.ria.id));
    let err = o.env.refused(ria.contacts().create(NewContact::new("Fay", "Doe").owner(o.rob.id))).await;
    assert!(matches!(err, Error::Forbidden(ref m) if m.contains("owned by")), "{err}");

    // She may give her own record away (assign, scope own) but not take her team mate's.
    let mut handed = ria.contacts().get(eve.id).await.unwrap();
    handed.owner_id = Some(o.rob.id);
    assert_eq!(ria.contacts().update(handed).await.unwrap().owner_id, Some(o.rob.id));
    assert!(ria.contacts().get(eve.id).await.is_ok(), "still in her team's reach");
    // Linking a new deal to a contact she cannot see is refused as if it did not exist.
    let err = o.env.refused(ria.deals().create(NewDeal::new("Cat's deal").contact(cat.id))).await;
    assert_only_field(&err, "contact_ids[0]", FieldErrorCode::NotFound);
    // Pipelines are read, not changed, by reps.
    assert!(ria.pipelines().default_pipeline().await.is_ok());
}

#[tokio::test]
async fn a_manager_reads_everything_and_works_the_records_of_the_people_under_them() {
    let o = org().await;
    let bob = o.contact("Bob", Some(&o.rob)).await;
    let cat = o.contact("Cat", Some(&o.solo)).await;
    let boss = o.as_user(&o.boss);
    assert_eq!(boss.contacts().count(&Filter::All).await.unwrap(), 2);
    let mut b = bob.clone();
    b.job_title = Some("Buyer".into());
    assert!(boss.contacts().update(b).await.is_ok(), "Rob reports to Sam");
    let mut c = cat.clone();
    c.job_title = Some("Buyer".into());
    let err = o.env.refused(boss.contacts().update(c)).await;
    assert!(matches!(err, Error::Forbidden(ref m) if m.contains("out of their reach")), "{err}");
    // Reassigning the rep's record to a deactivated user is refused on the owner field.
    o.env.cx().users().deactivate(o.solo.id).await.unwrap();
    let mut b = boss.contacts().get(bob.id).await.unwrap();
    b.owner_id = Some(o.solo.id);
    assert_only_field(&o.env.refused(boss.contacts().update(b)).await, "owner_id", FieldErrorCode::Rule);
}

#[tokio::test]
async fn pages_and_counts_are_narrowed_in_the_store_not_after() {
    let o = org().await;
    for i in 0..7 {
        o.contact(&format!("Mine{i}"), Some(&o.ria)).await;
        o.contact(&format!("Other{i}"), Some(&o.solo)).await;
    }
    let ria = o.as_user(&o.ria);
    let mut q = Query::new(Filter::contains("tags", "scoped")).limit(3);
    let mut seen = Vec::new();
    loop {
        let page = ria.contacts().list(&q).await.unwrap();
        assert!(page.items.len() == 3 || page.next.is_none(), "full pages until the last");
        seen.extend(page.items.into_iter().map(|c| c.given_name));
        match page.next {
            Some(c) => q.after = Some(c),
            None => break,
        }
    }
    seen.sort();
    assert_eq!(seen, (0..7).map(|i| format!("Mine{i}")).collect::<Vec<_>>());
    assert_eq!(ria.contacts().count(&Filter::contains("tags", "scoped")).await.unwrap(), 7);
    // Search ranks among what she may read only: the outsider's records never crowd hers out.
    let hits = ria.search_in("doe", &[EntityKind::Contact], 5).await.unwrap();
    assert_eq!(hits.len(), 5);
    assert!(hits.iter().all(|r| r.owner() == Some(o.ria.id)), "{hits:?}");
    let admin = o.env.cx();
    assert_eq!(admin.search_in("doe", &[EntityKind::Contact], 20).await.unwrap().len(), 14);
}

#[tokio::test]
async fn the_customer_360_shows_only_what_the_viewer_may_read() {
    let o = org().await;
    let ann = o.contact("Ann", Some(&o.ria)).await;
    let cx = o.env.cx();
    cx.activities().log(NewActivity::call("Ria's call").contact(ann.id).owner(o.ria.id)).await.unwrap();
    cx.activities().log(NewActivity::call("Sol's call").contact(ann.id).owner(o.solo.id)).await.unwrap();
    let ria = o.as_user(&o.ria);
    let timeline = ria.timeline(ann.id).await.unwrap();
    let text = format!("{timeline:?}");
    assert!(text.contains("Ria's call") && !text.contains("Sol's call"), "{text}");
    let all = format!("{:?}", cx.timeline(ann.id).await.unwrap());
    assert!(all.contains("Sol's call"));
}

#[tokio::test]
async fn tenant_roles_are_checked_field_by_field_and_held_by_key() {
    let env = env();
    let cx = env.cx();
    let roles = cx.roles();
    let bad = NewRole::new("administrator", " ")
        .grant(EntityKind::Product, &[Action::Read], Scope::Own)
        .grant(EntityKind::Deal, &[Action::Read, Action::Read], Scope::All)
        .grant(EntityKind::SyncLink, &[Action::Read], Scope::All)
        .permission(Permission::Export)
        .permission(Permission::Export);
    let err = env.refused(roles.create(bad)).await;
    assert_field(&err, "key", FieldErrorCode::Duplicate);
    assert_field(&err, "name", FieldErrorCode::Required);
    assert_field(&err, "grants[0].scope", FieldErrorCode::NotAnOption);
    assert_field(&err, "grants[2]", FieldErrorCode::Duplicate);
    assert_field(&err, "grants[3].kind", FieldErrorCode::NotAnOption);
    assert_field(&err, "permissions[1]", FieldErrorCode::Duplicate);
    assert_only_field(
        &env.refused(roles.create(NewRole::new("Deal Desk", "Desk"))).await,
        "key",
        FieldErrorCode::InvalidFormat,
    );

    let desk = roles
        .create(
            NewRole::new("deal_desk", "Deal desk")
                .grant(EntityKind::Deal, &[Action::Read, Action::Update], Scope::All)
                .permission(Permission::Export),
        )
        .await
        .unwrap();
    assert_only_field(
        &env.refused(roles.create(NewRole::new("deal_desk", "Again"))).await,
        "key",
        FieldErrorCode::Duplicate,
    );
    // Users hold roles that exist, each once.
    let err =
        env.refused(cx.users().create(NewUser::new("Dee", "dee@acme.example").role("deal_desk").role("nope"))).await;
    assert_only_field(&err, "roles[1]", FieldErrorCode::NotFound);
    let err = env
        .refused(cx.users().create(NewUser::new("Dee", "dee@acme.example").role("sales_rep").role("sales_rep")))
        .await;
    assert_only_field(&err, "roles[1]", FieldErrorCode::Duplicate);
    let dee = cx.users().create(NewUser::new("Dee", "dee@acme.example").role("deal_desk")).await.unwrap();
    let as_dee = env.crm.as_actor(&Actor::user(tenant_a(), dee.id));
    let access = as_dee.access().await.unwrap();
    assert!(access.may(EntityKind::Deal, Action::Update) && access.has(Permission::Export));
    assert!(!access.may(EntityKind::Contact, Action::Read));
    assert!(matches!(as_dee.contacts().list(&Query::new(Filter::All)).await, Err(Error::Forbidden(_))));

    // The key never changes; a held role is not deleted.
    let mut renamed = desk.clone();
    renamed.key = "desk".into();
    assert_transition(&env.refused(roles.update(renamed)).await, "key", "deal_desk", "desk");
    assert_only_field(&env.refused(roles.delete(desk.id, desk.version)).await, "key", FieldErrorCode::Rule);
    assert_eq!(roles.by_key("deal_desk").await.unwrap().map(|r| r.id), Some(desk.id));
    let _ = Grant::new(EntityKind::Deal, Action::Read, Scope::All);
}

#[tokio::test]
async fn actors_that_are_not_active_users_are_refused() {
    let o = org().await;
    let err =
        o.env.refused(o.env.crm.as_actor(&Actor::user(tenant_a(), UserId::new())).contacts().count(&Filter::All)).await;
    assert!(matches!(err, Error::Forbidden(ref m) if m.contains("not a user")), "{err}");
    // A user of tenant A is nobody in tenant B.
    let err = o.env.crm.as_actor(&Actor::user(tenant_b(), o.ria.id)).contacts().count(&Filter::All).await.unwrap_err();
    assert!(matches!(err, Error::Forbidden(_)), "{err}");
    o.env.cx().users().deactivate(o.rob.id).await.unwrap();
    let err = o.as_user(&o.rob).contacts().count(&Filter::All).await.unwrap_err();
    assert!(matches!(err, Error::Forbidden(ref m) if m.contains("deactivated")), "{err}");
    // An embedder's role that does not exist is bad input naming it.
    let err =
        o.env.crm.as_actor(&Actor::system(tenant_a()).with_role("superuser")).contacts().count(&Filter::All).await;
    assert_only_field(&err.unwrap_err(), "actor.roles[0]", FieldErrorCode::NotFound);
    // A userless actor with a role gets what it grants, owner scopes reaching nothing.
    let ro = o.env.crm.as_actor(&Actor::system(tenant_a()).with_role("read_only"));
    o.contact("Ann", Some(&o.ria)).await;
    assert_eq!(ro.contacts().count(&Filter::All).await.unwrap(), 1);
    assert!(matches!(o.env.refused(ro.contacts().create(NewContact::new("X", "Y"))).await, Error::Forbidden(_)));
}

#[tokio::test]
async fn access_follows_changes_to_teams_and_roles() {
    let o = org().await;
    o.contact("Cat", Some(&o.solo)).await;
    let ria = o.as_user(&o.ria);
    assert_eq!(ria.contacts().count(&Filter::All).await.unwrap(), 0);
    // Sol joins Ria's team: a new session of hers reaches his records.
    let admin = o.env.cx();
    let north = admin.teams().of_user(o.ria.id).await.unwrap().remove(0);
    admin.teams().add_member(north.id, o.solo.id).await.unwrap();
    assert_eq!(o.as_user(&o.ria).contacts().count(&Filter::All).await.unwrap(), 1);
    // A user manager who changes her own roles sees the change in the same session.
    let mut uma = admin.users().create(NewUser::new("Uma", "uma@acme.example").role("support_agent")).await.unwrap();
    let roles = admin.roles();
    roles.create(NewRole::new("user_admin", "User admin").permission(Permission::ManageUsers)).await.unwrap();
    uma.roles.push("user_admin".into());
    uma = admin.users().update(uma).await.unwrap();
    let as_uma = o.as_user(&uma);
    assert!(matches!(as_uma.deals().count(&Filter::All).await, Err(Error::Forbidden(_))));
    let mut me = as_uma.users().get(uma.id).await.unwrap();
    me.roles.push("read_only".into());
    as_uma.users().update(me).await.unwrap();
    assert_eq!(as_uma.deals().count(&Filter::All).await.unwrap(), 0, "read_only now reads deals");
}

/// On every created contact, logs a note on it as itself, keeping each outcome.
struct Noter(Arc<Mutex<Vec<std::result::Result<(), String>>>>);

#[async_trait::async_trait]
impl Extension for Noter {
    fn id(&self) -> &str {
        "noter"
    }
    async fn on_events(&self, cx: &EventContext<'_>, events: &[StoredEvent]) -> Result<()> {
        for e in
            events.iter().filter(|e| e.event.change == Change::Created && e.event.subject.kind == EntityKind::Contact)
        {
            let s = cx.act_as(self.id());
            let note = NewActivity::note("Welcome").contact(ContactId::from_uuid(e.event.subject.id));
            let outcome = s.activities().log(note).await.map(|_| ()).map_err(|e| e.to_string());
            self.0.lock().unwrap().push(outcome);
        }
        Ok(())
    }
}

#[tokio::test]
async fn an_extension_acts_with_the_roles_the_embedder_grants_it() {
    for (roles, allowed) in [(vec![], true), (vec!["read_only"], false), (vec!["administrator"], true)] {
        let outcomes = Arc::new(Mutex::new(Vec::new()));
        let crm = Crm::builder(MemoryStore::new())
            .extension(Noter(outcomes.clone()))
            .extension_roles("noter", roles.clone())
            .build()
            .unwrap();
        let cx = crm.as_actor(&Actor::system(tenant_a()));
        let ann = cx.contacts().create(NewContact::new("Ann", "Doe")).await.unwrap();
        let got = outcomes.lock().unwrap().clone();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].is_ok(), allowed, "roles {roles:?}: {got:?}");
        if !allowed {
            assert!(got[0].as_ref().unwrap_err().contains("may not create activity"), "{got:?}");
        }
        let notes = cx.activities().count(&Filter::All).await.unwrap();
        assert_eq!(notes, u64::from(allowed), "a refused reaction wrote nothing for {ann:?}");
    }
    let err = Crm::builder(MemoryStore::new()).extension_roles("ghost", ["read_only"]).build().unwrap_err();
    assert!(err.names_field("extension_roles.ghost"), "{err}");
}

#[tokio::test]
async fn reports_and_campaign_results_count_only_what_the_actor_reads() {
    let o = org().await;
    let (ria, solo) = (o.as_user(&o.ria), o.as_user(&o.solo));
    for (who, amount) in [(&ria, "100"), (&ria, "200"), (&solo, "4000")] {
        who.deals().create(NewDeal::new("Deal").amount(usd(amount))).await.unwrap();
    }
    let pipeline = o.env.cx().pipelines().list(&Query::new(Filter::All)).await.unwrap().items[0].id;
    let counted = |r: &crm_core::service::PipelineReport| -> (u64, rust_decimal::Decimal) {
        let n = r.stages.iter().map(|s| s.count).sum();
        let total = r.stages.iter().filter_map(|s| s.total.get(&Currency::USD)).sum();
        (n, total)
    };
    assert_eq!(counted(&o.env.cx().deals().pipeline_report(pipeline).await.unwrap()), (3, dec("4300")));
    assert_eq!(counted(&ria.deals().pipeline_report(pipeline).await.unwrap()), (2, dec("300")), "Ria's own");
    assert_eq!(counted(&solo.deals().pipeline_report(pipeline).await.unwrap()), (1, dec("4000")));

    // Campaign results: the members and orders the reader reaches.
    let admin = o.env.cx();
    let camp = admin.campaigns().create(NewCampaign::new("Spring", CampaignChannel::Email)).await.unwrap();
    let mine = ria.contacts().create(NewContact::new("Mia", "Mine")).await.unwrap();
    let theirs = solo.contacts().create(NewContact::new("Tess", "Theirs")).await.unwrap();
    for (who, c) in [(&ria, mine.id), (&solo, theirs.id)] {
        admin.campaigns().add_contact(camp.id, c).await.unwrap();
        admin.campaigns().record_response(camp.id, c, ResponseKind::Converted, None).await.unwrap();
        let order = NewOrder::for_contact(c).line(line("Tea", "1", usd("10"))).campaign(camp.id).placed();
        who.orders().create(order).await.unwrap();
    }
    let whole = admin.campaigns().results(camp.id).await.unwrap();
    assert_eq!((whole.members, whole.revenue[&Currency::USD]), (2, dec("20.00")));
    // A sales rep reads every campaign member, but only the orders of their team.
    let rias = ria.campaigns().results(camp.id).await.unwrap();
    assert_eq!((rias.members, rias.revenue[&Currency::USD]), (2, dec("10.00")), "Ria's order, not Sol's");
}
