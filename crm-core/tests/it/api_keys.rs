//! API keys: issued once, kept hashed, acting as their user, revoked and expired, and refused
//! for anything malformed.

use chrono::Duration;
use crm_core::model::ApiKey;
use crm_core::prelude::*;
use crm_core::service::NewApiKey;

use crate::common::*;

#[tokio::test]
async fn a_key_acts_as_its_user_until_revoked_or_expired() {
    let env = env();
    let admin = env.cx();
    let bot = admin.users().create(NewUser::new("Sync bot", "bot@acme.example").role("read_only")).await.unwrap();
    let (key, secret) = admin.api_keys().issue(NewApiKey::new("  accounting sync ", bot.id)).await.unwrap();
    assert_eq!((key.name.as_str(), key.user_id, key.revoked_at), ("accounting sync", bot.id, None));
    assert!(secret.starts_with(&format!("crm_{}_", tenant_a().as_uuid().simple())));
    assert!(!serde_json::to_string(&key).unwrap().contains(&secret[40..]), "the secret is not kept");
    assert!(key.prefix.starts_with("crm_") && secret.contains(key.prefix.rsplit('…').next().unwrap()));

    let cx = env.crm.authenticate(&secret).await.unwrap();
    assert_eq!(cx.tenant(), tenant_a());
    admin.contacts().create(NewContact::new("Ada", "Lovelace")).await.unwrap();
    assert_eq!(cx.contacts().count(&Filter::All).await.unwrap(), 1, "reads, as a read-only user");
    assert!(matches!(cx.contacts().create(NewContact::new("Bo", "Bot")).await, Err(Error::Forbidden(_))));

    // Expiry and revocation.
    let (_, brief) = admin
        .api_keys()
        .issue(NewApiKey::new("brief", bot.id).expires_at(env.now() + Duration::hours(1)))
        .await
        .unwrap();
    env.crm.authenticate(&brief).await.unwrap();
    env.advance(Duration::hours(2));
    assert!(matches!(env.crm.authenticate(&brief).await, Err(Error::Forbidden(_))), "expired");
    let revoked = admin.api_keys().revoke(key.id).await.unwrap();
    assert_eq!(revoked.revoked_at, Some(env.now()));
    assert!(matches!(env.crm.authenticate(&secret).await, Err(Error::Forbidden(_))), "revoked");
    assert_eq!(admin.api_keys().revoke(key.id).await.unwrap(), revoked, "revoking again changes nothing");
    let err = env.refused(admin.api_keys().delete(key.id, revoked.version)).await;
    assert_only_field(&err, "id", FieldErrorCode::Rule);
}

#[tokio::test]
async fn malformed_unknown_and_foreign_secrets_are_refused_alike() {
    let env = env();
    let admin = env.cx();
    let bot = admin.users().create(NewUser::new("Sync bot", "bot@acme.example").role("read_only")).await.unwrap();
    let (_, secret) = admin.api_keys().issue(NewApiKey::new("sync", bot.id)).await.unwrap();
    let other_tenant =
        secret.replace(&tenant_a().as_uuid().simple().to_string(), &tenant_b().as_uuid().simple().to_string());
    let mut tampered = secret.clone();
    tampered.pop();
    tampered.push(if secret.ends_with('0') { '1' } else { '0' });
    for bad in
        ["", "crm_", "Bearer x", "crm_nothex_00", &secret[..secret.len() - 1], &tampered, &other_tenant, "crm_💥_💥"]
    {
        let err = env.crm.authenticate(bad).await.map(|_| ()).unwrap_err();
        assert!(matches!(&err, Error::Forbidden(m) if m.contains("not valid")), "{bad:?}: {err:?}");
    }
}

#[tokio::test]
async fn keys_are_issued_by_user_managers_to_active_users_only() {
    let env = env();
    let admin = env.cx();
    let rep = admin.users().create(NewUser::new("Ria Rep", "ria@acme.example").role("sales_rep")).await.unwrap();
    let as_rep = env.crm.as_actor(&Actor::user(tenant_a(), rep.id));
    assert!(matches!(env.refused(as_rep.api_keys().issue(NewApiKey::new("mine", rep.id))).await, Error::Forbidden(_)));
    let err = env.refused(admin.api_keys().issue(NewApiKey::new(" ", rep.id))).await;
    assert_only_field(&err, "name", FieldErrorCode::Required);
    let err = env.refused(admin.api_keys().issue(NewApiKey::new("ghost", UserId::new()))).await;
    assert_only_field(&err, "user_id", FieldErrorCode::NotFound);
    let past = NewApiKey::new("late", rep.id).expires_at(env.now() - Duration::minutes(1));
    assert_only_field(&env.refused(admin.api_keys().issue(past)).await, "expires_at", FieldErrorCode::OutOfRange);
    admin.users().deactivate(rep.id).await.unwrap();
    let err = env.refused(admin.api_keys().issue(NewApiKey::new("gone", rep.id))).await;
    assert_only_field(&err, "user_id", FieldErrorCode::Rule);
    assert_eq!(admin.records::<ApiKey>().count(&Filter::All).await.unwrap(), 0);
}

#[tokio::test]
async fn a_key_revoked_by_another_process_stops_working_within_the_recheck_time() {
    let store = MemoryStore::new();
    let clock = std::sync::Arc::new(crm_core::ids::ManualClock::new(t0()));
    let here = Crm::builder(store.clone()).clock(clock.clone()).build().unwrap();
    let elsewhere = Crm::builder(store).clock(clock.clone()).build().unwrap();
    let admin = here.as_actor(&Actor::system(tenant_a()));
    let bot = admin.users().create(NewUser::new("Sync bot", "bot@acme.example").role("read_only")).await.unwrap();
    let (key, secret) = admin.api_keys().issue(NewApiKey::new("sync", bot.id)).await.unwrap();
    let first = here.authenticate(&secret).await.unwrap();
    first.contacts().count(&Filter::All).await.unwrap();

    elsewhere.as_actor(&Actor::system(tenant_a())).api_keys().revoke(key.id).await.unwrap();
    assert!(matches!(elsewhere.authenticate(&secret).await, Err(Error::Forbidden(_))), "at once where revoked");
    let cached = here.authenticate(&secret).await.expect("trusted for the recheck time");
    assert_eq!(cached.actor().user_id, Some(bot.id));
    clock.advance(crm_core::service::KEY_RECHECK + Duration::seconds(1));
    assert!(matches!(here.authenticate(&secret).await, Err(Error::Forbidden(_))), "looked up again");
}
