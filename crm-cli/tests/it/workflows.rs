//! `crm workflows` and `crm automation run`: a rule added from a JSON file, refused naming the
//! part when wrong, tried over past changes, run once, listed, switched off, with its run log.

use super::{fails, initialised, json, ok};

#[test]
fn a_rule_from_a_file_runs_once_and_is_logged() {
    let dir = initialised();
    let d = dir.path();
    json(d, &["contacts", "create", "given_name=Early", "family_name=Bird"]);
    let rule = r#"{
        "name": "Tag new leads",
        "entity_kind": "contact",
        "trigger": {"on": "created"},
        "condition": {"cmp": {"field": "lifecycle_stage", "op": "eq", "value": {"text": "lead"}}},
        "steps": [{"action": "add_tags", "tags": ["new-lead"]}]
    }"#;
    std::fs::write(d.join("rule.json"), rule).unwrap();
    let bad = rule.replace("lifecycle_stage", "shoe_size");
    std::fs::write(d.join("bad.json"), bad).unwrap();
    std::fs::write(d.join("typo.json"), rule.replace("\"steps\"", "\"stepz\"")).unwrap();

    let err = fails(d, &["workflows", "add", "bad.json"], 1);
    assert!(err.contains("condition.shoe_size"), "{err}");
    let err = fails(d, &["workflows", "add", "typo.json"], 2);
    assert!(err.contains("stepz"), "{err}");
    assert_eq!(json(d, &["workflows", "list"]), serde_json::json!([]), "nothing stored");

    // Tried over what happened so far: the early contact's creation would set it off.
    let would = json(d, &["workflows", "dry-run", "rule.json"]);
    assert_eq!(would.as_array().unwrap().len(), 1, "{would}");
    assert_eq!(would[0]["actions"], serde_json::json!(["add_tags"]));

    let added = json(d, &["workflows", "add", "rule.json"]);
    assert_eq!(added["enabled"], true);
    let id = added["id"].as_str().unwrap().to_owned();
    let ada = json(d, &["contacts", "create", "given_name=Ada", "family_name=Lovelace"]);
    let run = json(d, &["automation", "run", "--no-webhooks"]);
    // Not the early contact: it was there before the rule.
    assert_eq!((run["workflow_runs"].as_u64(), run["workflow_steps"].as_u64()), (Some(1), Some(1)), "{run}");
    let got = json(d, &["contacts", "get", ada["id"].as_str().unwrap()]);
    assert_eq!(got["tags"], serde_json::json!(["new-lead"]));
    let again = json(d, &["automation", "run", "--no-webhooks"]);
    assert_eq!(again["workflow_steps"].as_u64(), Some(0), "nothing twice: {again}");

    let runs = json(d, &["workflows", "runs", "--workflow", &id]);
    assert_eq!(runs.as_array().unwrap().len(), 1, "{runs}");
    assert_eq!(runs[0]["outcome"], "done");
    let text = ok(d, &["workflows", "disable", &id]);
    assert!(text.contains("off") && text.contains("Tag new leads"), "{text}");
    json(d, &["contacts", "create", "given_name=Late", "family_name=Comer"]);
    let off = json(d, &["automation", "run", "--no-webhooks"]);
    assert_eq!(off["workflow_runs"].as_u64(), Some(0), "a rule switched off does nothing: {off}");
    fails(d, &["workflows", "enable", "not-an-id"], 2);
}
