//! Aggregates through the service: every refusal names the part of the aggregate at fault,
//! readers aggregate only the records their roles reach, and fields withheld from them cannot be
//! grouped or measured.

use crm_core::aggregate::{Aggregate, AggregateKey, Bucket, GroupBy, Measure};
use crm_core::error::FieldErrorCode;
use crm_core::model::{FieldAccess, FieldDefinition, FieldType};
use crm_core::prelude::*;
use crm_core::query::{Filter, SortOrder};
use rust_decimal::Decimal;

use crate::common::*;

fn eur(units: i64) -> Money {
    Money::new(Decimal::new(units, 0), Currency::EUR)
}

#[tokio::test]
async fn refusals_name_the_part_at_fault() {
    let env = env();
    let cx = env.cx();
    cx.custom_fields().define(FieldDefinition::new(EntityKind::Deal, "fee", "Fee", FieldType::Money)).await.unwrap();
    cx.deals().create(NewDeal::new("Ship").amount(eur(10))).await.unwrap();
    let d = || Aggregate::default();
    let p = |s: &str| s.parse::<Decimal>().unwrap();
    let cases: Vec<(Aggregate, &str, FieldErrorCode)> = vec![
        (d().group_by("nope").count(), "group_by[0]", FieldErrorCode::UnknownField),
        (d().group_by("tags").count(), "group_by[0]", FieldErrorCode::TypeMismatch),
        (d().count().each("name"), "group_by[0]", FieldErrorCode::TypeMismatch),
        (d().each("nope").count(), "group_by[0]", FieldErrorCode::UnknownField),
        (d().group_by("amount").count(), "group_by[0]", FieldErrorCode::TypeMismatch),
        (d().group_by("custom.fee").count(), "group_by[0]", FieldErrorCode::TypeMismatch),
        (d().bucket("name", Bucket::Month).count(), "group_by[0]", FieldErrorCode::TypeMismatch),
        (d().currency("name").count(), "group_by[0]", FieldErrorCode::TypeMismatch),
        (d().count().sum("name"), "measures[1]", FieldErrorCode::TypeMismatch),
        (d().avg("expected_close_date"), "measures[0]", FieldErrorCode::TypeMismatch),
        (d().min("tags"), "measures[0]", FieldErrorCode::TypeMismatch),
        (d().max("owner_id"), "measures[0]", FieldErrorCode::TypeMismatch),
        (d().count_distinct("tags"), "measures[0]", FieldErrorCode::TypeMismatch),
        (d().sum("custom.nope"), "measures[0]", FieldErrorCode::UnknownField),
        (d().sum("amount"), "measures[0]", FieldErrorCode::CurrencyMismatch),
        (d().currency("custom.fee").sum("amount"), "measures[0]", FieldErrorCode::CurrencyMismatch),
        (d().currency("amount").max("custom.fee"), "measures[0]", FieldErrorCode::CurrencyMismatch),
        (d().currency("amount").percentile("amount", p("0")), "measures[0].p", FieldErrorCode::OutOfRange),
        (d().currency("amount").percentile("amount", p("1.5")), "measures[0].p", FieldErrorCode::OutOfRange),
        (d().percentile("closed_at", p("0.1234567")), "measures[0].p", FieldErrorCode::OutOfRange),
        (d().count().sort_by(AggregateKey::Measure(1), SortOrder::Asc), "sort[0]", FieldErrorCode::OutOfRange),
        (d().count().sort_by(AggregateKey::Group(0), SortOrder::Asc), "sort[0]", FieldErrorCode::OutOfRange),
        (d().count().limit(0), "limit", FieldErrorCode::OutOfRange),
        (Aggregate::new(Filter::eq("nope", 1)).count(), "filter.nope", FieldErrorCode::UnknownField),
        (Aggregate::new(Filter::eq("amount", "ten")).count(), "filter.amount", FieldErrorCode::TypeMismatch),
    ];
    for (a, path, code) in cases {
        match cx.deals().aggregate(&a).await {
            Err(Error::Validation(v)) => {
                assert!(
                    v.0.iter().any(|e| e.field == path && e.code == code),
                    "{a:?}: wanted {path} {code:?}, got {v:?}"
                );
            }
            other => panic!("{a:?}: wanted a refusal naming {path}, got {other:?}"),
        }
    }
    let mut many = d().count();
    many.group_by = vec![GroupBy::Field("status".into()); 9];
    let err = cx.deals().aggregate(&many).await.unwrap_err();
    assert!(matches!(&err, Error::Validation(v) if v.0[0].field == "group_by"), "{err}");
    let mut wide = d();
    wide.measures = vec![Measure::Count; 33];
    let err = cx.deals().aggregate(&wide).await.unwrap_err();
    assert!(matches!(&err, Error::Validation(v) if v.0[0].field == "measures"), "{err}");
    // A well-formed aggregate over the same deal works, and an aggregate travels as JSON.
    let ok = d().currency("amount").sum("amount").count();
    let json = serde_json::to_string(&ok).unwrap();
    let back: Aggregate = serde_json::from_str(&json).unwrap();
    let rows = cx.deals().aggregate(&back).await.unwrap();
    assert_eq!(rows[0].values, vec![Value::Money(eur(10)), Value::Int(1)]);
}

#[tokio::test]
async fn readers_aggregate_only_what_their_roles_reach() {
    let env = env();
    let cx = env.cx();
    let u = cx.users();
    let ria = u.create(NewUser::new("Ria Rep", "ria@acme.example").role("sales_rep")).await.unwrap();
    let rob = u.create(NewUser::new("Rob Rep", "rob@acme.example").role("sales_rep")).await.unwrap();
    for (owner, amount) in [(ria.id, 100), (ria.id, 50), (rob.id, 1_000)] {
        cx.deals().create(NewDeal::new("Deal").owner(owner).amount(eur(amount))).await.unwrap();
    }
    let total = Aggregate::default().currency("amount").count().sum("amount").max("amount");
    let as_ria = env.crm.as_actor(&Actor::user(tenant_a(), ria.id));
    let rows = as_ria.deals().aggregate(&total).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].values, vec![Value::Int(2), Value::Money(eur(150)), Value::Money(eur(100))]);
    let rows = cx.deals().aggregate(&total).await.unwrap();
    assert_eq!(rows[0].values, vec![Value::Int(3), Value::Money(eur(1_150)), Value::Money(eur(1_000))]);
    // Another tenant sees none of it: one row, counting nothing.
    let other = env.crm.as_actor(&Actor::system(tenant_b()));
    let rows = other.deals().aggregate(&Aggregate::default().count()).await.unwrap();
    assert_eq!(rows[0].values, vec![Value::Int(0)]);
}

#[tokio::test]
async fn withheld_fields_cannot_be_grouped_or_measured() {
    let env = env();
    let cx = env.cx();
    cx.custom_fields()
        .define(FieldDefinition::new(EntityKind::Deal, "margin", "Margin", FieldType::Decimal).sensitive())
        .await
        .unwrap();
    cx.roles()
        .create(NewRole::new("finance", "Finance").grant(EntityKind::Deal, &[Action::Read], Scope::All).field(
            EntityKind::Deal,
            "custom.margin",
            FieldAccess::Read,
        ))
        .await
        .unwrap();
    let u = cx.users();
    let ria = u.create(NewUser::new("Ria Rep", "ria@acme.example").role("sales_rep")).await.unwrap();
    let fin = u.create(NewUser::new("Fin Ance", "fin@acme.example").role("finance")).await.unwrap();
    cx.deals()
        .create(NewDeal::new("Deal").owner(ria.id).custom("margin", Value::Decimal(Decimal::new(125, 1))))
        .await
        .unwrap();
    let as_ria = env.crm.as_actor(&Actor::user(tenant_a(), ria.id));
    for a in [
        Aggregate::default().sum("custom.margin"),
        Aggregate::default().group_by("custom.margin").count(),
        Aggregate::new(Filter::gt("custom.margin", 10)).count(),
    ] {
        match as_ria.deals().aggregate(&a).await {
            Err(Error::Validation(v)) => {
                assert_eq!(v.0[0].field, "custom.margin", "{a:?}");
                assert_eq!(v.0[0].code, FieldErrorCode::ReadOnly, "{a:?}");
            }
            other => panic!("{a:?}: a withheld field was aggregated: {other:?}"),
        }
    }
    let as_fin = env.crm.as_actor(&Actor::user(tenant_a(), fin.id));
    let rows = as_fin.deals().aggregate(&Aggregate::default().sum("custom.margin")).await.unwrap();
    assert_eq!(rows[0].values, vec![Value::Decimal(Decimal::new(125, 1))]);
}

#[tokio::test]
async fn the_pipeline_report_weighs_a_probability_set_by_hand() {
    let env = env();
    let cx = env.cx();
    let p = cx.pipelines().default_pipeline().await.unwrap();
    let proposal = p.stage_named("Proposal").unwrap().id;
    cx.deals().create(NewDeal::new("Stage's 50 %").amount(eur(1_000)).stage(proposal)).await.unwrap();
    cx.deals().create(NewDeal::new("Sure thing").amount(eur(1_000)).stage(proposal).probability(90)).await.unwrap();
    let err =
        cx.deals().create(NewDeal::new("Too sure").stage(proposal).amount(eur(1)).probability(101)).await.unwrap_err();
    assert!(matches!(&err, Error::Validation(v) if v.0[0].field == "probability"), "{err}");
    let r = cx.deals().pipeline_report(p.id).await.unwrap();
    let s = r.stages.iter().find(|s| s.stage.id == proposal).unwrap();
    assert_eq!(s.count, 2);
    assert_eq!(s.total[&Currency::EUR], Decimal::new(2_000, 0));
    assert_eq!(s.weighted[&Currency::EUR], Decimal::new(1_400, 0), "500 + 900");
    assert_eq!(r.forecast[&Currency::EUR], Decimal::new(1_400, 0));
}

#[tokio::test]
async fn deals_are_credited_to_a_lead_source_and_a_campaign() {
    use crm_core::model::CampaignChannel;
    use crm_core::profile::LeadSource;
    use crm_core::service::NewCampaign;
    let env = env();
    let cx = env.cx();
    let rita = cx.contacts().create(NewContact::new("Rita", "Ref").lead_source(LeadSource::Referral)).await.unwrap();
    let spring = cx.campaigns().create(NewCampaign::new("Spring", CampaignChannel::Email)).await.unwrap();
    let a = cx.deals().create(NewDeal::new("From Rita").contact(rita.id).campaign(spring.id)).await.unwrap();
    assert_eq!((a.lead_source, a.campaign_id), (Some(LeadSource::Referral), Some(spring.id)), "the contact's source");
    let b = cx.deals().create(NewDeal::new("Own").contact(rita.id).lead_source(LeadSource::Event)).await.unwrap();
    assert_eq!(b.lead_source, Some(LeadSource::Event), "a source given wins");
    let rows = cx.deals().aggregate(&Aggregate::default().group_by("lead_source").count()).await.unwrap();
    let by: Vec<_> = rows.iter().map(|r| (r.groups[0].clone(), r.values[0].clone())).collect();
    assert_eq!(by, vec![(Value::Text("event".into()), Value::Int(1)), (Value::Text("referral".into()), Value::Int(1))]);
    // A campaign that does not exist is refused; one with deals credited to it stays.
    let ghost = crm_core::ids::CampaignId::from_uuid(uuid::Uuid::from_u128(7));
    let err = env.refused(cx.deals().create(NewDeal::new("Ghost").campaign(ghost))).await;
    assert!(matches!(&err, Error::Validation(v) if v.0[0].field == "campaign_id"), "{err}");
    let err = env.refused(cx.campaigns().delete(spring.id, spring.version)).await;
    assert!(matches!(&err, Error::Validation(v) if v.0[0].code == FieldErrorCode::Rule), "{err}");
}
