//! The JSON Schemas of `crm_core::openapi` against what serde really writes and reads: every
//! record kind, with its optional fields filled in and left empty, validates against its kind's
//! schema, and what serde refuses the schemas refuse too.
//!
//! The schemas are checked as one JSON Schema 2020-12 document: the kind's schema with every
//! component as `$defs`, formats (`uuid`, `date-time`, `email`…) checked. For the check, every
//! object schema that declares its properties is closed (`additionalProperties: false`): a field
//! serde writes that the schema does not declare fails the test. (The published schemas stay
//! open, so that clients keep working when a field is added.)

use std::collections::BTreeMap;

use crm_core::entity::{EntityKind, EntityRef};
use crm_core::ids::*;
use crm_core::model::*;
use crm_core::money::{Currency, Money};
use crm_core::openapi::{record_schema_name, record_schemas};
use crm_core::profile::*;
use crm_core::query::Filter;
use crm_core::testkit::fixtures::*;
use jsonschema::{Draft, Validator};
use rust_decimal::Decimal;
use serde::de::DeserializeOwned;
use serde_json::{Value as Json, json};

/// Every component, refs rewritten to `#/$defs/…` and object schemas closed.
fn defs() -> Json {
    let components: BTreeMap<String, _> = record_schemas().into_iter().collect();
    let text = serde_json::to_string(&components).expect("schemas serialise");
    let mut defs: Json = serde_json::from_str(&text.replace("#/components/schemas/", "#/$defs/")).expect("JSON");
    close_objects(&mut defs);
    defs
}

/// Sets `additionalProperties: false` on every schema with `properties` and no
/// `additionalProperties` of its own.
fn close_objects(schema: &mut Json) {
    match schema {
        Json::Object(map) => {
            if map.contains_key("properties") {
                map.entry("additionalProperties").or_insert(Json::Bool(false));
            }
            for (key, value) in map.iter_mut() {
                match (key.as_str(), value) {
                    // Maps of names to schemas: the map itself is not a schema.
                    ("properties" | "$defs", Json::Object(named)) => named.values_mut().for_each(close_objects),
                    (_, value) => close_objects(value),
                }
            }
        }
        Json::Array(items) => items.iter_mut().for_each(close_objects),
        _ => {}
    }
}

/// The validator of component `name`: its schema, with every component as `$defs`.
fn validator(defs: &Json, name: &str) -> Validator {
    let mut root = defs[name].clone();
    assert!(root.is_object(), "no component {name}");
    root["$schema"] = json!("https://json-schema.org/draft/2020-12/schema");
    root["$defs"] = defs.clone();
    jsonschema::options()
        .with_draft(Draft::Draft202012)
        .should_validate_formats(true)
        .build(&root)
        .unwrap_or_else(|e| panic!("the schema of {name} is not valid JSON Schema: {e}"))
}

/// What the validator of `name` finds wrong with `instance` (empty: valid).
fn errors(defs: &Json, name: &str, instance: &Json) -> Vec<String> {
    let v = validator(defs, name);
    v.iter_errors(instance).map(|e| format!("{}: {e}", e.instance_path())).collect()
}

/// Asserts that `record`, as serde writes it, is valid against its kind's schema, and as a
/// [`Record`] against `Record`'s.
fn assert_valid(defs: &Json, record: &Record, what: &str) {
    let name = record_schema_name(record.kind()).expect("every kind has a schema");
    let wrapped = serde_json::to_value(record).expect("serialises");
    let errs = errors(defs, &name, &wrapped["record"]);
    assert!(errs.is_empty(), "{what} {name} does not match its schema: {errs:#?}\n{:#}", wrapped["record"]);
    let errs = errors(defs, "Record", &wrapped);
    assert!(errs.is_empty(), "{what} {name} as a Record does not match: {errs:#?}");
}

/// A record of every kind with every optional field set (and, for custom fields, one definition
/// of every field type).
fn full_records() -> Vec<Record> {
    let t = tenant();
    let user_id = UserId::new();
    let eur = |cents| Money::new(Decimal::new(cents, 2), Currency::EUR);
    let mut contact = full_contact(t);
    contact.credit_terms = Some(CreditTerms::net(14).limit(eur(500_000)));

    let mut company = company(t, "Müller & Söhne GmbH");
    company.addresses = contact.addresses.clone();
    company.phones = contact.phones.clone();
    company.website = Website::parse("muller.example").ok();
    company.owner_id = Some(user_id);
    company.credit_terms = Some(CreditTerms::net(30));
    company.legal_name = Some("Müller und Söhne GmbH".into());
    company.tax_id = Some("DE123456789".into());
    company.billing_email = Email::parse("billing@muller.example").ok();
    company.account_balance = Some(AccountBalance { outstanding: eur(120_000), overdue: eur(20_000), as_of: at(9) });
    company.external_refs = vec![ExternalRef::new("xero", "c-1")];
    company.custom = sample_custom();

    let product = full_product(t, "SKU-1");
    let pipeline = pipeline(t);
    assert!(pipeline.stages.iter().any(|s| s.rotting_days.is_none()) && pipeline.stages[0].rotting_days.is_some());
    let mut deal = deal(t, &pipeline, "Big deal", Some(eur(1_000_000)));
    deal.status = DealStatus::Lost;
    deal.closed_at = Some(at(700));
    deal.contact_ids = vec![contact.id];
    deal.company_id = Some(company.id);
    deal.owner_id = Some(user_id);
    deal.line_items = full_lines(&product);
    deal.lost_reason = Some("Budget — „zu teuer“".into());
    deal.stage_history[0].left_at = Some(at(600));
    deal.stage_history.push(StageVisit { stage_id: pipeline.stages[7].id, entered_at: at(600), left_at: None });
    deal.tags = vec!["q2".into()];
    deal.custom = sample_custom();

    let mut activity = activity(t, contact.id);
    activity.kind = ActivityKind::Meeting;
    activity.due_at = Some(at(900));
    activity.completed_at = Some(at(950));
    activity.duration_secs = Some(3_600);
    activity.participants[0].phone = contact.phones.first().map(|p| p.number.clone());
    activity.company_ids = vec![company.id];
    activity.deal_ids = vec![deal.id];
    activity.owner_id = Some(user_id);
    activity.campaign_id = Some(CampaignId::new());
    activity.custom = sample_custom();

    let field_types = [
        FieldType::Text,
        FieldType::Number,
        FieldType::Decimal,
        FieldType::Money,
        FieldType::Date,
        FieldType::DateTime,
        FieldType::Bool,
        FieldType::Enum { options: vec!["gold".into(), "silver".into()] },
        FieldType::MultiEnum { options: vec!["golf".into(), "échecs".into()] },
        FieldType::Reference { to: EntityKind::Company },
        FieldType::Email,
        FieldType::Url,
        FieldType::Phone,
    ];
    let custom_fields = field_types.into_iter().enumerate().map(|(i, ty)| {
        let mut f = custom_field(t, EntityKind::Contact, &format!("field_{i}"), ty);
        f.definition =
            f.definition.required().sensitive().computed().indexed().description("Help — „Hilfe“").constraints(
                Constraints::default().range(Decimal::ZERO, Decimal::new(995, 1)).length(1, 20).pattern("[A-Z]+"),
            );
        f.into_record()
    });

    let invoice = full_invoice(t, contact.id, &product, "INV-1");
    let case = full_case(t, contact.id, product.id);
    let segment = full_segment(t, "VIPs");
    let campaign = full_campaign(t, "Spring", segment.id);
    let mut merge =
        merge_record(t, &contact, &crm_core::testkit::fixtures::contact(t, "Old", "Twin"), case.clone().into_record());
    merge.undone_at = Some(at(1_000));
    let manager = user(t, "Mia Manager", "mia@acme.example", None);
    let rep = user(t, "Ria Rep", "ria@acme.example", Some(manager.id));
    let mut consent = consent(t, contact.id);
    consent.recorded_by = Some(rep.id);
    let mut share = share(t, deal.entity_ref(), rep.id);
    let team = team(t, "North", vec![rep.id, manager.id]);
    share.team_id = Some(team.id);
    share.shared_by = Some(manager.id);
    let mut key = api_key(t, rep.id, "crm_0123456789_secret");
    key.revoked_at = Some(at(2_000));
    // Workflows with every trigger and step the model has.
    let flow = workflow(t, "Welcome");
    let mut dated = workflow(t, "Birthdays");
    dated.trigger = Trigger::Date {
        field: "birthday".into(),
        before: Some(Delay::new(2, DelayUnit::Days)),
        after: None,
        yearly: true,
        at: chrono::NaiveTime::from_hms_opt(10, 30, 0),
    };
    let mut territory = Assignee::new(rep.id);
    territory.weight = 3;
    territory.capacity = Some(20);
    territory.territory = Some(Filter::contains("tags", "de"));
    dated.steps.push(Step::Assign {
        method: AssignMethod::Weighted,
        pool: vec![territory, Assignee::new(manager.id)],
        open: Some(Filter::eq("lifecycle_stage", "lead")),
    });
    let mut weekly = workflow(t, "Weekly");
    weekly.trigger = Trigger::Schedule { cron: "0 9 * * 1".into() };
    let mut events = workflow(t, "Won");
    events.entity_kind = EntityKind::Deal;
    events.trigger = Trigger::Event { event: EventType::DealWon };
    let mut run = workflow_run(t, &flow, contact.entity_ref(), "event:7");
    run.detail = Some("picked".into());
    let mut note = notification(t, rep.id, Some(contact.entity_ref()));
    note.read_at = Some(at(3_000));
    let timer = workflow_timer(t, &weekly, Some(contact.entity_ref()), 0);
    let automation = [
        flow.into_record(),
        dated.into_record(),
        weekly.into_record(),
        events.into_record(),
        run.into_record(),
        note.into_record(),
        timer.into_record(),
    ];

    let mut records = vec![
        contact.clone().into_record(),
        company.clone().into_record(),
        pipeline.into_record(),
        deal.into_record(),
        activity.into_record(),
        relation(t, contact.id, company.id).into_record(),
        full_order(t, contact.id, &product, "SO-1").into_record(),
        full_payment(t, contact.id, [invoice.id, InvoiceId::new()]).into_record(),
        invoice.into_record(),
        product.clone().into_record(),
        full_feedback(t, contact.id, case.id, product.id).into_record(),
        case.into_record(),
        full_campaign_member(t, campaign.id, contact.id).into_record(),
        campaign.into_record(),
        segment.into_record(),
        full_sync_link(t, company.id).into_record(),
        sync_state(t, "imap:inbox/cursor").into_record(),
        merge.into_record(),
        role(t, "deal_desk").into_record(),
        consent.into_record(),
        erasure(t, contact.id).into_record(),
        share.into_record(),
        key.into_record(),
        team.into_record(),
        rep.into_record(),
    ];
    records.extend(custom_fields);
    records.extend(automation);
    records
}

/// A record of every kind as the plain fixtures make them: most optional fields empty.
fn plain_records() -> Vec<Record> {
    let t = tenant();
    let manager = user(t, "Mia Manager", "mia@acme.example", None);
    let c = crm_core::testkit::fixtures::contact(t, "Grace", "");
    let p = pipeline(t);
    let rep = user(t, "Ria Rep", "ria@acme.example", None);
    vec![
        c.clone().into_record(),
        company(t, "Acme").into_record(),
        deal(t, &p, "Small deal", None).into_record(),
        p.into_record(),
        custom_field(t, EntityKind::Deal, "budget", FieldType::Decimal).into_record(),
        product(t, "SKU-2").into_record(),
        order(t, c.id, "SO-2").into_record(),
        invoice(t, c.id, "INV-2", 12_345).into_record(),
        payment(t, c.id, 5_000).into_record(),
        case(t, c.id, "Broken").into_record(),
        feedback(t, c.id).into_record(),
        segment(t, "Leads").into_record(),
        campaign(t, "Autumn", None).into_record(),
        campaign_member(t, CampaignId::new(), c.id).into_record(),
        team(t, "South", Vec::new()).into_record(),
        share(t, EntityRef::new(EntityKind::Contact, c.id), rep.id).into_record(),
        rep.into_record(),
        manager.into_record(),
    ]
}

fn kinds(records: &[Record]) -> Vec<EntityKind> {
    let mut kinds: Vec<EntityKind> = records.iter().map(Record::kind).collect();
    kinds.sort();
    kinds.dedup();
    kinds
}

#[test]
fn records_with_every_optional_field_set_match_their_schema() {
    let defs = defs();
    let records = full_records();
    assert_eq!(kinds(&records), EntityKind::ALL, "a record of every kind");
    for r in &records {
        assert_valid(&defs, r, "full");
        // Nothing left out: every optional field of the record itself holds a value.
        let json = serde_json::to_value(r).expect("serialises");
        let nulls: Vec<&String> = json["record"]
            .as_object()
            .expect("an object")
            .iter()
            .filter(|(_, v)| v.is_null())
            .map(|(k, _)| k)
            .collect();
        assert!(nulls.is_empty(), "{} leaves {nulls:?} empty", r.kind());
    }
    for r in &plain_records() {
        assert_valid(&defs, r, "plain");
    }
}

/// Each full record cut down to the fields its schema requires: serde reads it (the fields left
/// out are indeed optional), fills the others with null or an empty list, and the result is
/// valid too.
#[test]
fn records_with_only_the_required_fields_match_their_schema() {
    let defs = defs();
    for full in full_records() {
        let name = record_schema_name(full.kind()).expect("a schema");
        let required: Vec<&str> =
            defs[&name]["required"].as_array().expect("a required list").iter().filter_map(Json::as_str).collect();
        let mut json = serde_json::to_value(&full).expect("serialises");
        json["record"].as_object_mut().expect("an object").retain(|k, _| required.contains(&k.as_str()));
        let bare: Record = serde_json::from_value(json)
            .unwrap_or_else(|e| panic!("{name} without its optional fields does not deserialise: {e}"));
        assert_valid(&defs, &bare, "bare");
        let written = serde_json::to_value(&bare).expect("serialises");
        for (field, value) in written["record"].as_object().expect("an object") {
            let empty = value.is_null() || value.as_array().is_some_and(Vec::is_empty);
            assert!(required.contains(&field.as_str()) || empty, "{name}.{field} is optional but was {value}");
        }
    }
}

/// Asserts that serde refuses `json` as a `T` and the schema `name` refuses it too.
#[track_caller]
fn refused<T: DeserializeOwned + std::fmt::Debug>(defs: &Json, name: &str, json: &Json, why: &str) {
    assert!(serde_json::from_value::<T>(json.clone()).is_err(), "serde accepts {why}");
    assert!(!errors(defs, name, json).is_empty(), "the {name} schema accepts {why}");
}

/// `json` with the value at `pointer` replaced (or, for `None`, removed).
fn with(json: &Json, pointer: &str, value: Option<Json>) -> Json {
    let mut json = json.clone();
    let (parent, key) = pointer.rsplit_once('/').expect("a pointer");
    let map = json.pointer_mut(parent).and_then(Json::as_object_mut).expect("an object there");
    match value {
        Some(v) => map.insert(key.to_owned(), v),
        None => map.remove(key),
    };
    json
}

#[test]
fn what_serde_refuses_the_schemas_refuse() {
    let defs = defs();
    let records = full_records();
    let of = |kind: EntityKind| {
        let r = records.iter().find(|r| r.kind() == kind).expect("every kind");
        serde_json::to_value(r).expect("serialises")["record"].clone()
    };
    let (contact, deal) = (of(EntityKind::Contact), of(EntityKind::Deal));
    assert!(errors(&defs, "Contact", &contact).is_empty(), "the starting point is valid");

    refused::<Contact>(&defs, "Contact", &with(&contact, "/lifecycle_stage", Some(json!("nope"))), "a stage");
    refused::<Contact>(&defs, "Contact", &with(&contact, "/given_name", None), "no given name");
    refused::<Contact>(&defs, "Contact", &with(&contact, "/company_id", Some(json!("acme"))), "an id that is no UUID");
    refused::<Contact>(
        &defs,
        "Contact",
        &with(&contact, "/emails/0/label", Some(json!("WORK"))),
        "an upper-case label",
    );
    refused::<Contact>(&defs, "Contact", &with(&contact, "/version", Some(json!(-1))), "a negative version");
    refused::<Contact>(&defs, "Contact", &with(&contact, "/custom/t_int", Some(json!({"float": 1.5}))), "a float");
    refused::<Contact>(&defs, "Contact", &with(&contact, "/custom/t_int", Some(json!(42))), "an untagged value");
    refused::<Contact>(&defs, "Contact", &with(&contact, "/tags", Some(json!("vip"))), "tags as one string");
    refused::<Deal>(&defs, "Deal", &with(&deal, "/amount", Some(json!({"amount": "10.00"}))), "money without currency");
    refused::<Deal>(&defs, "Deal", &with(&deal, "/amount/currency", Some(json!("eur"))), "a lower-case currency");
    refused::<Deal>(&defs, "Deal", &with(&deal, "/line_items/0/unit_price", None), "a line without price");
    refused::<Deal>(&defs, "Deal", &with(&deal, "/status", Some(json!(null))), "no status");
    let activity = of(EntityKind::Activity);
    refused::<Activity>(&defs, "Activity", &with(&activity, "/kind", Some(json!("fax"))), "an activity kind");
    refused::<Activity>(&defs, "Activity", &with(&activity, "/occurred_at", Some(json!("yesterday"))), "a time");
    let field = of(EntityKind::CustomField);
    let enum_type = json!({"type": "enum"});
    refused::<CustomField>(
        &defs,
        "CustomField",
        &with(&field, "/definition/field_type", Some(enum_type)),
        "no options",
    );
    let unknown = json!({"type": "colour"});
    refused::<CustomField>(&defs, "CustomField", &with(&field, "/definition/field_type", Some(unknown)), "a type");
    let segment = of(EntityKind::Segment);
    let like = json!({"cmp": {"field": {"std": "name"}, "op": "like", "value": {"text": "a"}}});
    refused::<Segment>(&defs, "Segment", &with(&segment, "/filter", Some(like)), "an operator");
    let company = of(EntityKind::Company);
    refused::<Record>(&defs, "Record", &json!({"kind": "contact", "record": company}), "a company as a contact");
    refused::<Record>(&defs, "Record", &json!({"kind": "lead", "record": contact}), "a kind");
}

#[test]
fn the_record_schema_tags_each_kind_as_serde_does() {
    let components: BTreeMap<String, _> = record_schemas().into_iter().collect();
    let record = serde_json::to_value(&components["Record"]).expect("serialises");
    let variants = record["oneOf"].as_array().expect("one schema per kind");
    assert_eq!(variants.len(), EntityKind::ALL.len());
    for kind in EntityKind::ALL {
        let name = record_schema_name(*kind).expect("a schema");
        let variant = variants
            .iter()
            .find(|v| v["properties"]["kind"]["enum"] == json!([kind.as_str()]))
            .unwrap_or_else(|| panic!("no variant tagged {kind}"));
        assert_eq!(variant["properties"]["record"]["$ref"], json!(format!("#/components/schemas/{name}")));
    }
}

/// Every `$ref` names a component there is, and the enums give exactly their string forms.
#[test]
fn components_are_complete_and_exact() {
    fn refs(json: &Json, found: &mut Vec<String>) {
        match json {
            Json::Object(map) => {
                if let Some(Json::String(r)) = map.get("$ref") {
                    found.push(r.clone());
                }
                map.values().for_each(|v| refs(v, found));
            }
            Json::Array(items) => items.iter().for_each(|v| refs(v, found)),
            _ => {}
        }
    }
    let components: BTreeMap<String, Json> = record_schemas()
        .into_iter()
        .map(|(name, schema)| (name, serde_json::to_value(schema).expect("serialises")))
        .collect();
    let mut found = Vec::new();
    components.values().for_each(|schema| refs(schema, &mut found));
    for r in found {
        let name = r.strip_prefix("#/components/schemas/").unwrap_or_else(|| panic!("{r} is not a component"));
        assert!(components.contains_key(name), "{r} names no component");
    }
    let forms = |name: &str| components[name]["enum"].clone();
    let stages: Vec<&str> = LifecycleStage::ALL.iter().map(|s| s.as_str()).collect();
    assert_eq!(forms("LifecycleStage"), json!(stages));
    let kinds: Vec<&str> = EntityKind::ALL.iter().map(|k| k.as_str()).collect();
    assert_eq!(forms("EntityKind"), json!(kinds));
    assert_eq!(forms("CompanySize"), json!(["1-10", "11-50", "51-200", "201-1000", "1000+"]));
    assert_eq!(components["EntityKind"]["description"], json!("The kinds of record a store holds."));
    assert_eq!(components["ContactId"]["format"], json!("uuid"));
    assert_eq!(components["PhoneNumber"]["pattern"], json!(r"^\+[1-9][0-9]+$"));
    // Money is exact: its amount is a decimal string, never a float.
    assert_eq!(components["Money"]["properties"]["amount"]["type"], json!("string"));
    assert_eq!(
        components["Contact"]["properties"]["custom"]["additionalProperties"]["$ref"],
        json!("#/components/schemas/Value")
    );
}

/// The profile types carry no `format`: their parsers accept values the JSON Schema formats
/// refuse (`email`: an internationalised address or an `_` in the domain; `uri`: a `|` in the
/// path, which the URL parser keeps; `hostname`: a label over 63 characters). Each such value,
/// as parsed, matches its schema; so does the longest phone number the parser takes.
#[test]
fn profile_values_the_parsers_accept_match_their_schemas() {
    let defs = defs();
    let ok = |r: Result<String, String>| json!(r.expect("the parser accepts it"));
    let cases = [
        ("Email", ok(Email::parse("Jöhn@Exämple.org").map(|e| e.as_str().to_owned()))),
        ("Email", ok(Email::parse("a@b_c.example.org").map(|e| e.as_str().to_owned()))),
        ("Email", ok(Email::parse("\"john doe\"@example.org").map(|e| e.as_str().to_owned()))),
        ("Website", ok(Website::parse("https://acme.com/a|b^c").map(|w| w.as_str().to_owned()))),
        ("Website", ok(Website::parse("ümlaut.example/ä ö?q=ü").map(|w| w.as_str().to_owned()))),
        ("Domain", ok(Domain::parse(&format!("{}.example", "a".repeat(70))).map(|d| d.as_str().to_owned()))),
        ("Domain", ok(Domain::parse("www.a_b.example").map(|d| d.as_str().to_owned()))),
        ("PhoneNumber", ok(PhoneNumber::parse("+49 30 1234567890123", None).map(|p| p.as_str().to_owned()))),
        ("PhoneNumber", ok(PhoneNumber::parse("(415) 555-2671", Some("US")).map(|p| p.as_str().to_owned()))),
    ];
    for (name, value) in cases {
        let errs = errors(&defs, name, &value);
        assert!(errs.is_empty(), "{name} {value} does not match its schema: {errs:?}");
    }
    for bad in ["4155552671", "+0123", "tel:+14155552671"] {
        assert!(!errors(&defs, "PhoneNumber", &json!(bad)).is_empty(), "{bad} is no E.164 number");
    }
}
