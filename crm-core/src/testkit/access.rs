//! Access control through the service layer: random users, managers, teams, roles (with field
//! grants), owned records with sensitive fields and shares of them, then every user's reads and writes against
//! an independent reference evaluator.

use std::collections::BTreeSet;

use super::*;
use crate::actor::Actor;
use crate::ids::UserId;
use crate::model::{
    Action, BuiltinRole, FieldAccess, FieldDefinition, FieldType, Grant, Permission, Scope, ShareAccess,
};
use crate::service::{Crm, CrmBuilder, NewContact, NewRole, NewShare, NewTeam, NewUser};

/// What the reference knows: users (manager, roles), teams, the tenant role, the contacts.
struct World {
    users: Vec<(UserId, Option<UserId>, Vec<String>)>,
    teams: Vec<Vec<UserId>>,
    /// Shares of contacts: the contact, the user or the team (by index), and what they open.
    shares: Vec<(ContactId, Option<UserId>, Option<usize>, ShareAccess)>,
    desk: Vec<Grant>,
    /// What the tenant role opens of the sensitive fields.
    desk_fields: Vec<(&'static str, FieldAccess)>,
    contacts: Vec<Contact>,
}

/// The sensitive fields of the world's contacts: two built in, one custom.
const SENSITIVE: [&str; 3] = ["birthday", "family_notes", "custom.rating"];

/// `field` of `c`, as JSON (null when it has no value).
fn field_of(c: &Contact, field: &str) -> serde_json::Value {
    match field {
        "birthday" => serde_json::json!(c.birthday),
        "family_notes" => serde_json::json!(c.family_notes),
        _ => serde_json::json!(c.custom.get("rating")),
    }
}

impl World {
    /// The scopes `user`'s roles grant for `action` on contacts.
    fn scopes(&self, user: UserId, action: Action) -> Vec<Scope> {
        self.scopes_of(user, EntityKind::Contact, action)
    }

    /// The scopes `user`'s roles grant for `action` on `kind`, read from the role definitions
    /// (the built-in ones are data).
    fn scopes_of(&self, user: UserId, kind: EntityKind, action: Action) -> Vec<Scope> {
        let roles = &self.users.iter().find(|u| u.0 == user).expect("a user of the world").2;
        let mut grants: Vec<Grant> = Vec::new();
        for r in roles {
            match BuiltinRole::of(r) {
                Some(b) => grants.extend(b.grants()),
                None => grants.extend(self.desk.iter().copied()),
            }
        }
        grants.into_iter().filter(|g| g.kind == kind && g.action == action).map(|g| g.scope).collect()
    }

    /// How far `user`'s roles open the sensitive `field` of contacts (None: withheld).
    fn field(&self, user: UserId, field: &str) -> Option<FieldAccess> {
        let roles = &self.users.iter().find(|u| u.0 == user).expect("a user of the world").2;
        let mut best = None;
        for r in roles {
            let open = match BuiltinRole::of(r) {
                Some(b) if b.opens_every_field() => Some(FieldAccess::Edit),
                Some(b) => b
                    .field_grants()
                    .into_iter()
                    .filter(|g| g.kind == EntityKind::Contact && g.field == field)
                    .map(|g| g.access)
                    .max_by_key(|a| *a == FieldAccess::Edit),
                None => self.desk_fields.iter().find(|d| d.0 == field).map(|d| d.1),
            };
            best = match (best, open) {
                (Some(FieldAccess::Edit), _) | (_, Some(FieldAccess::Edit)) => Some(FieldAccess::Edit),
                (a, b) => a.or(b),
            };
        }
        best
    }

    /// Whether `owner` is `user` or reports to them, however indirectly (walking up).
    fn under(&self, owner: UserId, user: UserId) -> bool {
        let mut at = Some(owner);
        let mut steps = 0;
        while let Some(u) = at {
            if u == user {
                return true;
            }
            steps += 1;
            if steps > self.users.len() {
                return false;
            }
            at = self.users.iter().find(|x| x.0 == u).and_then(|x| x.1);
        }
        false
    }

    /// Whether `action` on `c` is allowed to `user`: by the scopes, or by a share where the
    /// roles grant the action on contacts at some scope.
    fn allows(&self, user: UserId, action: Action, c: &Contact) -> bool {
        let shared = |s: &(ContactId, Option<UserId>, Option<usize>, ShareAccess)| {
            s.0 == c.id
                && (s.1 == Some(user) || s.2.is_some_and(|t| self.teams[t].contains(&user)))
                && (action == Action::Read || s.3 == ShareAccess::Edit)
        };
        self.allows_owner(user, action, c.owner_id)
            || (matches!(action, Action::Read | Action::Update)
                && self.may(user, action)
                && self.shares.iter().any(shared))
    }

    fn allows_owner(&self, user: UserId, action: Action, owner: Option<UserId>) -> bool {
        self.reaches(user, EntityKind::Contact, action, owner)
    }

    /// Whether `user`'s scopes for `action` on `kind` reach a record owned by `owner`.
    fn reaches(&self, user: UserId, kind: EntityKind, action: Action, owner: Option<UserId>) -> bool {
        self.scopes_of(user, kind, action).into_iter().any(|s| match (s, owner) {
            (Scope::All, _) => true,
            (Scope::None, _) | (_, None) => false,
            (Scope::Own, Some(o)) => o == user,
            (Scope::Team, Some(o)) => o == user || self.teams.iter().any(|t| t.contains(&user) && t.contains(&o)),
            (Scope::Subordinates, Some(o)) => self.under(o, user),
        })
    }

    /// Whether any grant of `action` reaches some contact for `user`.
    fn may(&self, user: UserId, action: Action) -> bool {
        self.scopes(user, action).into_iter().any(|s| s != Scope::None)
    }

    fn readable(&self, user: UserId, f: &Filter) -> BTreeSet<ContactId> {
        let rec = |c: &Contact| c.clone().into_record();
        self.contacts
            .iter()
            .filter(|c| self.allows(user, Action::Read, c) && f.matches(&rec(c)))
            .map(|c| c.id)
            .collect()
    }
}

const ROLES: &[&str] = &["sales_rep", "sales_manager", "support_agent", "read_only", "marketing", "desk"];
const SCOPES: &[Scope] = &[Scope::None, Scope::Own, Scope::Team, Scope::Subordinates, Scope::All];

/// Every user's list (walked in small pages, filtered and sorted), count, get, customer 360,
/// timeline, search, update, delete and create of contacts, and their pipeline report (an
/// aggregate over deals), agrees with a reference evaluator of the roles, teams and reporting lines, over
/// several random worlds; every refused write leaves the record as it was.
pub async fn access_matches_the_reference(store: Arc<dyn Store>) {
    for seed in [0x5EED_0001_u64, 0xACCE_55ED, 0x0DD5_BA11] {
        access_scenario(store.clone(), seed).await;
    }
}

/// A random world of users (managers, roles), teams, a tenant role with field grants, contacts
/// with sensitive fields, shares and deals, made from `seed` through the services, with a
/// reference evaluator of what each user may do: for the checks of other crates (crm-io's
/// exports) as well as [`access_scenario`].
pub struct AccessWorld {
    /// The CRM over the store the world was made in.
    pub crm: Crm,
    /// The world's tenant.
    pub tenant: TenantId,
    world: World,
    rng: Rng,
    deals: Vec<(Option<UserId>, i64)>,
    pipeline: crate::ids::PipelineId,
}

impl AccessWorld {
    /// The world's users.
    pub fn users(&self) -> Vec<UserId> {
        self.world.users.iter().map(|u| u.0).collect()
    }

    /// The contacts `user` may export, by the reference (None: exporting contacts is refused:
    /// no `export` permission, or no `export` grant on contacts). Shares do not open exports.
    pub fn exportable(&self, user: UserId) -> Option<BTreeSet<ContactId>> {
        let w = &self.world;
        let roles = &w.users.iter().find(|u| u.0 == user)?.2;
        let permitted = roles.iter().any(|r| match BuiltinRole::of(r) {
            Some(b) => b.permissions().contains(&Permission::Export),
            None => true,
        });
        if !permitted || !w.scopes(user, Action::Export).into_iter().any(|s| s != Scope::None) {
            return None;
        }
        let reach = |c: &&Contact| w.allows(user, Action::Read, c) && w.allows_owner(user, Action::Export, c.owner_id);
        Some(w.contacts.iter().filter(reach).map(|c| c.id).collect())
    }
}

/// Makes the world of `seed` in `store` (see [`AccessWorld`]).
pub async fn access_world(store: Arc<dyn Store>, seed: u64) -> AccessWorld {
    let mut rng = Rng(seed | 1);
    let crm: Crm = CrmBuilder::from_arc(store).build().expect("a CRM");
    let t = tenant();
    let admin = crm.as_actor(&Actor::system(t));
    let desk: Vec<Grant> = [Action::Read, Action::Update, Action::Delete, Action::Create]
        .into_iter()
        .map(|a| Grant::new(EntityKind::Contact, a, SCOPES[rng.below(SCOPES.len())]))
        .collect();
    admin
        .custom_fields()
        .define(FieldDefinition::new(EntityKind::Contact, "rating", "Rating", FieldType::Text).sensitive())
        .await
        .expect("a sensitive custom field");
    let mut role = NewRole::new("desk", "Desk").permission(Permission::Export);
    for g in &desk {
        role = role.grant(g.kind, &[g.action], g.scope);
    }
    let mut desk_fields = Vec::new();
    for f in SENSITIVE {
        let access = [None, Some(FieldAccess::Read), Some(FieldAccess::Edit)][rng.below(3)];
        if let Some(a) = access {
            role = role.field(EntityKind::Contact, f, a);
            desk_fields.push((f, a));
        }
    }
    admin.roles().create(role).await.expect("the tenant role");
    let mut world =
        World { users: Vec::new(), teams: Vec::new(), shares: Vec::new(), desk, desk_fields, contacts: Vec::new() };
    let mut team_ids = Vec::new();
    for i in 0..6 {
        let manager = if i > 0 && rng.chance(70) { Some(world.users[rng.below(i)].0) } else { None };
        let mut roles = vec![ROLES[rng.below(ROLES.len())].to_owned()];
        let second = ROLES[rng.below(ROLES.len())];
        if rng.chance(30) && !roles.iter().any(|r| r == second) {
            roles.push(second.to_owned());
        }
        let mut input = NewUser::new(format!("User {i}"), format!("u{i}@acme.example"));
        if let Some(m) = manager {
            input = input.manager(m);
        }
        for r in &roles {
            input = input.role(r.as_str());
        }
        let u = admin.users().create(input).await.expect("a user");
        world.users.push((u.id, manager, roles));
    }
    for n in 0..2 {
        let members: Vec<UserId> = world.users.iter().map(|u| u.0).filter(|_| rng.chance(40)).collect();
        let mut input = NewTeam::new(format!("Team {n}"));
        for m in &members {
            input = input.member(*m);
        }
        team_ids.push(admin.teams().create(input).await.expect("a team").id);
        world.teams.push(members);
    }
    for i in 0..24 {
        let mut input = NewContact::new(format!("C{i:02}"), "Doe").tag(["a", "b", "c"][rng.below(3)]);
        if rng.chance(60) {
            input = input.birthday(chrono::NaiveDate::from_ymd_opt(1970 + i, 1, 2).expect("a day"));
        }
        if rng.chance(60) {
            input = input.family_notes(format!("notes {i}"));
        }
        if rng.chance(60) {
            input = input.custom("rating", ["gold", "silver"][rng.below(2)]);
        }
        if rng.chance(85) {
            input = input.owner(world.users[rng.below(world.users.len())].0);
        }
        world.contacts.push(admin.contacts().create(input).await.expect("a contact"));
    }
    // Deals, for an aggregate: the pipeline report counts and sums the ones its reader reaches.
    let mut deals: Vec<(Option<UserId>, i64)> = Vec::new();
    for i in 0..8 {
        let owner = if rng.chance(85) { Some(world.users[rng.below(world.users.len())].0) } else { None };
        let amount = 100 * (1 + rng.below(50) as i64);
        let mut input =
            crate::service::NewDeal::new(format!("D{i}")).amount(Money::new(Decimal::from(amount), Currency::USD));
        if let Some(o) = owner {
            input = input.owner(o);
        }
        admin.deals().create(input).await.expect("a deal");
        deals.push((owner, amount));
    }
    let pipeline = admin.pipelines().list(&Query::new(Filter::All)).await.expect("pipelines").items[0].id;
    // Exceptions: contacts shared with a user or a team, for reading or editing.
    for _ in 0..8 {
        let c = world.contacts[rng.below(world.contacts.len())].id;
        let access = [ShareAccess::Read, ShareAccess::Edit][rng.below(2)];
        let (user, team) = match rng.chance(60) {
            true => (Some(world.users[rng.below(world.users.len())].0), None),
            false => (None, Some(rng.below(team_ids.len()))),
        };
        if world.shares.iter().any(|s| s.0 == c && s.1 == user && s.2 == team) {
            continue;
        }
        let r = EntityRef::new(EntityKind::Contact, c);
        let input = match (user, team) {
            (Some(u), _) => NewShare::with_user(r, u, access),
            (None, t) => NewShare::with_team(r, team_ids[t.expect("a team")], access),
        };
        admin.shares().share(input).await.expect("a share");
        world.shares.push((c, user, team, access));
    }
    AccessWorld { crm, tenant: t, world, rng, deals, pipeline }
}

/// One random world (from `seed`) checked as [`access_matches_the_reference`] describes.
pub async fn access_scenario(store: Arc<dyn Store>, seed: u64) {
    let AccessWorld { crm, tenant: t, mut world, mut rng, deals, pipeline } = access_world(store, seed).await;
    let admin = crm.as_actor(&Actor::system(t));
    let filters = [
        Filter::All,
        Filter::contains("tags", "a"),
        Filter::Not(Box::new(Filter::contains("tags", "b"))),
        Filter::starts_with("given_name", "C1"),
    ];
    let users: Vec<UserId> = world.users.iter().map(|u| u.0).collect();
    for user in users {
        let cx = crm.as_actor(&Actor::user(t, user));
        let what = format!("seed {seed:#x}, user {user}");
        // Reads.
        for f in &filters {
            let want = world.readable(user, f);
            let q = Query::new(f.clone()).limit(1 + rng.below(5));
            if !world.may(user, Action::Read) {
                assert!(matches!(cx.contacts().list(&q).await, Err(Error::Forbidden(_))), "{what}: list refused");
                assert!(matches!(cx.contacts().count(f).await, Err(Error::Forbidden(_))), "{what}: count refused");
                continue;
            }
            let mut got = BTreeSet::new();
            let mut q = q;
            loop {
                let page = cx.contacts().list(&q).await.unwrap_or_else(|e| panic!("{what}: list {f:?}: {e}"));
                got.extend(page.items.iter().map(|c| c.id));
                match page.next {
                    Some(c) => q.after = Some(c),
                    None => break,
                }
            }
            assert_eq!(got, want, "{what}: list {f:?}");
            assert_eq!(cx.contacts().count(f).await.expect("count"), want.len() as u64, "{what}: count {f:?}");
        }
        for f in SENSITIVE.iter().filter(|f| world.may(user, Action::Read) && world.field(user, f).is_none()) {
            let probe = Query::new(Filter::is_null(*f));
            let err = cx.contacts().list(&probe).await.expect_err("a probe of a withheld field");
            // Refused: as withheld, or (family notes) as no field filters know.
            assert!(matches!(&err, Error::Validation(v) if v.0[0].field.ends_with(f)), "{what}: probe {f}: {err:?}");
        }
        if world.may(user, Action::Read) {
            // Sorted by name, descending, in pages: the readable ones, in that order.
            let mut q = Query::new(Filter::All).sort_desc("given_name").limit(1 + rng.below(4));
            let mut got = Vec::new();
            loop {
                let page = cx.contacts().list(&q).await.unwrap_or_else(|e| panic!("{what}: sorted list: {e}"));
                got.extend(page.items.iter().map(|c| (c.given_name.clone(), c.id)));
                match page.next {
                    Some(c) => q.after = Some(c),
                    None => break,
                }
            }
            let mut want: Vec<(String, ContactId)> = world
                .contacts
                .iter()
                .filter(|c| world.allows(user, Action::Read, c))
                .map(|c| (c.given_name.clone(), c.id))
                .collect();
            want.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
            assert_eq!(got, want, "{what}: sorted list");
        }
        for c in &world.contacts {
            let seen = world.allows(user, Action::Read, c);
            // The customer 360 and the timeline: only of a contact in reach.
            let overview = cx.customer_360(c.id).await;
            assert_eq!(overview.is_ok(), seen, "{what}: 360 of {}", c.given_name);
            assert_eq!(cx.timeline(c.id).await.is_ok(), seen, "{what}: timeline of {}", c.given_name);
            match cx.contacts().get(c.id).await {
                Ok(got) => {
                    assert!(seen, "{what}: got {} out of reach", c.given_name);
                    for f in SENSITIVE {
                        let want =
                            if world.field(user, f).is_some() { field_of(c, f) } else { serde_json::Value::Null };
                        assert_eq!(field_of(&got, f), want, "{what}: {f} of {}", c.given_name);
                    }
                }
                Err(Error::NotFound { .. }) => assert!(!seen, "{what}: {} not found", c.given_name),
                Err(e) => panic!("{what}: get {}: {e}", c.given_name),
            }
        }
        if world.may(user, Action::Read) {
            let hits = cx.search_in("doe", &[EntityKind::Contact], MAX_SEARCH).await.expect("search");
            let got: BTreeSet<Uuid> = hits.iter().map(Record::id).collect();
            let want: BTreeSet<Uuid> = world.readable(user, &Filter::All).iter().map(|c| c.as_uuid()).collect();
            assert_eq!(got, want, "{what}: search");
        }
        // An aggregate: the pipeline report over the deals in reach.
        let may = |kind| world.scopes_of(user, kind, Action::Read).into_iter().any(|s| s != Scope::None);
        match cx.deals().pipeline_report(pipeline).await {
            Ok(report) => {
                assert!(may(EntityKind::Pipeline) && may(EntityKind::Deal), "{what}: a report out of reach");
                let reached: Vec<i64> = deals
                    .iter()
                    .filter(|(o, _)| world.reaches(user, EntityKind::Deal, Action::Read, *o))
                    .map(|(_, a)| *a)
                    .collect();
                let count: u64 = report.stages.iter().map(|s| s.count).sum();
                let total: Decimal = report.stages.iter().filter_map(|s| s.total.get(&Currency::USD)).sum();
                assert_eq!(
                    (count, total),
                    (reached.len() as u64, Decimal::from(reached.iter().sum::<i64>())),
                    "{what}: report"
                );
            }
            Err(Error::NotFound { .. }) => assert!(!may(EntityKind::Pipeline), "{what}: pipeline hidden"),
            Err(Error::Forbidden(_)) => assert!(!may(EntityKind::Deal), "{what}: deals refused"),
            Err(e) => panic!("{what}: report: {e}"),
        }
        // Writes: an update and a delete of random contacts, a create for a random owner.
        for _ in 0..2 {
            let i = rng.below(world.contacts.len());
            let c = world.contacts[i].clone();
            let (seen, may) = (world.allows(user, Action::Read, &c), world.allows(user, Action::Update, &c));
            // A user edits what they read (withheld fields cleared), as a real one would.
            let mut changed = if seen { cx.contacts().get(c.id).await.expect("readable") } else { c.clone() };
            changed.job_title = Some(format!("Title by {user}"));
            match cx.contacts().update(changed).await {
                Ok(_) => {
                    assert!(seen && may, "{what}: updated {}", c.given_name);
                    let stored = admin.contacts().get(c.id).await.expect("stored");
                    for f in SENSITIVE {
                        assert_eq!(field_of(&stored, f), field_of(&c, f), "{what}: {f} of {} kept", c.given_name);
                    }
                    world.contacts[i] = stored;
                }
                Err(e) => {
                    assert!(!(seen && may), "{what}: update of {} refused: {e}", c.given_name);
                    assert_eq!(seen, matches!(e, Error::Forbidden(_)), "{what}: {e}");
                    let now = admin.contacts().get(c.id).await.expect("still there");
                    assert_eq!(now, c, "{what}: a refused update changed {}", c.given_name);
                }
            }
        }
        let i = rng.below(world.contacts.len());
        let c = world.contacts[i].clone();
        let (seen, may) = (world.allows(user, Action::Read, &c), world.allows(user, Action::Delete, &c));
        match cx.contacts().delete(c.id, c.version).await {
            Ok(()) => {
                assert!(seen && may, "{what}: deleted {}", c.given_name);
                world.contacts.remove(i);
            }
            Err(e) => {
                assert!(!(seen && may), "{what}: delete of {} refused: {e}", c.given_name);
                assert_eq!(admin.contacts().get(c.id).await.expect("still there"), c, "{what}");
            }
        }
        let owner = if rng.chance(50) { Some(world.users[rng.below(world.users.len())].0) } else { None };
        let mut input = NewContact::new("New", "Doe").tag("a");
        if let Some(o) = owner {
            input = input.owner(o);
        }
        // Sometimes with a rating, which only those it is open to for editing may set.
        let rated = rng.chance(30);
        if rated {
            input = input.custom("rating", "new");
        }
        let may = world.allows_owner(user, Action::Create, owner.or(Some(user)));
        let may_rate = !rated || world.field(user, "custom.rating") == Some(FieldAccess::Edit);
        match cx.contacts().create(input).await {
            Ok(made) => {
                assert!(may && may_rate, "{what}: created for {owner:?}, rated {rated}");
                assert_eq!(made.owner_id, owner.or(Some(user)), "{what}: the creator owns what is left unowned");
                world.contacts.push(admin.contacts().get(made.id).await.expect("stored"));
            }
            Err(Error::Forbidden(_)) => assert!(!may, "{what}: create for {owner:?} forbidden"),
            Err(Error::Validation(v)) => {
                assert!(may && !may_rate && v.0[0].field == "custom.rating", "{what}: create: {v:?}")
            }
            Err(e) => panic!("{what}: create for {owner:?}: {e}"),
        }
    }
}

/// Enough for every contact of a world.
const MAX_SEARCH: usize = 100;
