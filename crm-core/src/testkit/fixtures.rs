//! Raw records for the conformance suite, built directly (no service rules involved).

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use rust_decimal::Decimal;
use uuid::Uuid;

use crate::entity::{EntityKind, EntityRef};
use crate::ids::*;
use crate::model::*;
use crate::money::{Currency, Money};
use crate::profile::*;
use crate::value::{CustomFields, Value};

/// A fresh tenant.
pub fn tenant() -> TenantId {
    TenantId::from_uuid(Uuid::now_v7())
}

/// A fixed instant, `secs` seconds after 2026-01-01T00:00:00Z, with microseconds.
pub fn at(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_767_225_600 + secs, 123_456_000).single().expect("valid fixture")
}

/// A calendar date.
pub fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("valid fixture")
}

/// A minimal contact.
pub fn contact(tenant: TenantId, given: &str, family: &str) -> Contact {
    Contact {
        id: ContactId::from_uuid(Uuid::now_v7()),
        tenant_id: tenant,
        version: 1,
        created_at: at(0),
        updated_at: at(0),
        given_name: given.into(),
        family_name: family.into(),
        emails: Vec::new(),
        phones: Vec::new(),
        addresses: Vec::new(),
        website: None,
        social_profiles: Vec::new(),
        preferred_channel: None,
        lead_source: None,
        birthday: None,
        important_dates: Vec::new(),
        family_notes: None,
        hobbies: Vec::new(),
        memberships: Vec::new(),
        marketing_consent: MarketingConsent::default(),
        lifecycle_stage: LifecycleStage::Lead,
        owner_id: None,
        tags: Vec::new(),
        company_id: None,
        job_title: None,
        department: None,
        credit_terms: None,
        custom: CustomFields::new(),
    }
}

/// A contact with every profile field and a custom value of every type filled in.
pub fn full_contact(tenant: TenantId) -> Contact {
    let mut c = contact(tenant, "Ada", "Lovelace");
    c.emails = vec![
        EmailEntry { address: Email::parse("ada@analytical.co.uk").expect("valid fixture"), label: EmailLabel::Work },
        EmailEntry { address: Email::parse("ada.l@example.org").expect("valid fixture"), label: EmailLabel::Personal },
    ];
    c.phones = vec![PhoneEntry {
        number: PhoneNumber::parse("+44 20 7946 0958", None).expect("valid fixture"),
        label: PhoneLabel::Work,
    }];
    c.addresses = vec![Address {
        label: Some(AddressLabel::Home),
        lines: vec!["12 St James's Square".into(), "Flat 3".into()],
        city: Some("London".into()),
        region: None,
        postal_code: Some("SW1Y 4JH".into()),
        country: Some("GB".into()),
    }];
    c.website = Some(Website::parse("https://ada.example.org/notes?x=1").expect("valid fixture"));
    c.social_profiles = vec![SocialProfile { network: SocialNetwork::LinkedIn, handle: "ada-lovelace".into() }];
    c.preferred_channel = Some(Channel::Email);
    c.lead_source = Some(LeadSource::Referral);
    c.birthday = Some(date(1815, 12, 10));
    c.important_dates = vec![ImportantDate { label: "Wedding".into(), date: date(1835, 7, 8) }];
    c.family_notes = Some("Married to William; children Byron, Annabella, Ralph — ünïcödé ✓".into());
    c.hobbies = vec!["mathematics".into(), "horses".into()];
    c.memberships = vec![Membership {
        organization: "Royal Society".into(),
        role: Some("guest".into()),
        since: Some(date(1840, 1, 1)),
    }];
    c.marketing_consent = MarketingConsent {
        status: ConsentStatus::Granted,
        changed_at: Some(at(5)),
        method: Some(ConsentMethod::DoubleOptIn),
    };
    c.lifecycle_stage = LifecycleStage::SalesQualifiedLead;
    c.owner_id = Some(UserId::from_uuid(Uuid::now_v7()));
    c.tags = vec!["vip".into(), "it's \"quoted\"; DROP TABLE contacts;--".into()];
    c.company_id = Some(CompanyId::from_uuid(Uuid::now_v7()));
    c.job_title = Some("Analyst".into());
    c.department = Some("Engines".into());
    c.custom = [
        ("t_text", Value::Text("hello 'world'".into())),
        ("t_int", Value::Int(-42)),
        ("t_dec", Value::Decimal(Decimal::new(123_456_789, 4))),
        ("t_money", Value::Money(Money::new(Decimal::new(99_999, 2), Currency::JPY))),
        ("t_date", Value::Date(date(2026, 2, 28))),
        ("t_dt", Value::DateTime(at(77))),
        ("t_bool", Value::Bool(true)),
        ("t_multi", Value::List(vec![Value::Text("a".into()), Value::Text("b".into())])),
        ("t_ref", Value::Id(Uuid::now_v7())),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    c
}

/// A company.
pub fn company(tenant: TenantId, name: &str) -> Company {
    Company {
        id: CompanyId::from_uuid(Uuid::now_v7()),
        tenant_id: tenant,
        version: 1,
        created_at: at(0),
        updated_at: at(0),
        name: name.into(),
        domain: Domain::parse("acme.com").ok(),
        industry: Some("Manufacturing".into()),
        size: Some(CompanySize::Medium),
        addresses: Vec::new(),
        phones: Vec::new(),
        website: None,
        owner_id: None,
        tags: vec!["key-account".into()],
        credit_terms: None,
        custom: CustomFields::new(),
    }
}

/// A pipeline with the default sales stages.
pub fn pipeline(tenant: TenantId) -> Pipeline {
    Pipeline {
        id: PipelineId::from_uuid(Uuid::now_v7()),
        tenant_id: tenant,
        version: 1,
        created_at: at(0),
        updated_at: at(0),
        name: "Sales".into(),
        is_default: true,
        stages: default_sales_stages(&UuidV7Generator),
    }
}

/// A deal in the pipeline's first stage.
pub fn deal(tenant: TenantId, p: &Pipeline, name: &str, amount: Option<Money>) -> Deal {
    let stage = p.stages[0].id;
    Deal {
        id: DealId::from_uuid(Uuid::now_v7()),
        tenant_id: tenant,
        version: 1,
        created_at: at(0),
        updated_at: at(0),
        name: name.into(),
        pipeline_id: p.id,
        stage_id: stage,
        status: DealStatus::Open,
        amount,
        expected_close_date: Some(date(2026, 6, 30)),
        closed_at: None,
        contact_ids: Vec::new(),
        company_id: None,
        owner_id: None,
        line_items: vec![LineItem::new("Seats", Decimal::new(15, 1), Money::new(Decimal::new(1999, 2), Currency::EUR))],
        lost_reason: None,
        stage_history: vec![StageVisit { stage_id: stage, entered_at: at(0), left_at: None }],
        tags: Vec::new(),
        custom: CustomFields::new(),
    }
}

/// A call about a contact.
pub fn activity(tenant: TenantId, contact: ContactId) -> Activity {
    Activity {
        id: ActivityId::from_uuid(Uuid::now_v7()),
        tenant_id: tenant,
        version: 1,
        created_at: at(0),
        updated_at: at(0),
        kind: ActivityKind::Email,
        subject: "Re: proposal".into(),
        body: Some("Thanks!\nSee attached.".into()),
        direction: Some(Direction::Inbound),
        channel: Some(Channel::Email),
        occurred_at: at(10),
        due_at: None,
        completed_at: None,
        duration_secs: None,
        outcome: Some(Outcome::Replied),
        participants: vec![Participant {
            role: ParticipantRole::From,
            name: Some("Ada".into()),
            email: Email::parse("ada@analytical.co.uk").ok(),
            phone: None,
            contact_id: Some(contact),
        }],
        contact_ids: vec![contact],
        company_ids: Vec::new(),
        deal_ids: Vec::new(),
        owner_id: None,
        message_id: Some("abc@mail.example".into()),
        in_reply_to: Some("xyz@mail.example".into()),
        references: vec!["xyz@mail.example".into()],
        custom: CustomFields::new(),
    }
}

/// A `works_at` relation.
pub fn relation(tenant: TenantId, contact: ContactId, company: CompanyId) -> Relation {
    Relation {
        id: RelationId::from_uuid(Uuid::now_v7()),
        tenant_id: tenant,
        version: 1,
        created_at: at(0),
        updated_at: at(0),
        from: EntityRef::new(EntityKind::Contact, contact),
        to: EntityRef::new(EntityKind::Company, company),
        label: RelationLabel::WorksAt,
        role: Some("CFO".into()),
    }
}

/// A custom field definition.
pub fn custom_field(tenant: TenantId, kind: EntityKind, key: &str, ty: FieldType) -> CustomField {
    CustomField {
        id: CustomFieldId::from_uuid(Uuid::now_v7()),
        tenant_id: tenant,
        version: 1,
        created_at: at(0),
        updated_at: at(0),
        definition: FieldDefinition::new(kind, key, key, ty),
    }
}
