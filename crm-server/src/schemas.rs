//! The schemas of the API's own shapes, beside the records' (which come from
//! [`crm::openapi`]): problem documents, request bodies, and the customer views.

use crm::entity::EntityKind;
use crm::io::any;
use serde_json::{Map, Value, json};

/// The body that creates a record of `kind`: its fields by name, each a text, number, boolean
/// or null. The kinds an import reads also take other spellings and `custom.KEY`; the others
/// take their fields only.
pub(crate) fn new_record(kind: EntityKind) -> Value {
    let scalar = json!({ "type": ["string", "number", "integer", "boolean", "null"] });
    let fields = any::create_fields(kind);
    let properties: Map<String, Value> = fields.iter().map(|f| (f.to_string(), scalar.clone())).collect();
    let by_import = any::BY_IMPORT.contains(&kind);
    let (more, description) = if by_import {
        (scalar, "Read as an import row reads its columns: other spellings (`First name`) and `custom.KEY` too.")
    } else {
        (json!(false), "These fields only.")
    };
    json!({ "type": "object", "description": description, "properties": properties, "additionalProperties": more })
}

/// The schemas the API adds, by component name.
pub(crate) fn extra() -> Map<String, Value> {
    let scalar = json!({ "type": ["string", "number", "integer", "boolean", "null"] });
    let mut m = Map::new();
    m.insert(
        "Problem".into(),
        json!({
            "type": "object",
            "description": "An RFC 9457 problem document.",
            "required": ["type", "title", "status", "detail", "errors"],
            "properties": {
                "type": { "type": "string", "pattern": "^urn:crm:problem:[a-z-]+$" },
                "title": { "type": "string" },
                "status": { "type": "integer", "minimum": 400, "maximum": 599 },
                "detail": { "type": "string" },
                "errors": { "type": "array", "items": { "$ref": "#/components/schemas/FieldError" } }
            }
        }),
    );
    m.insert(
        "FieldError".into(),
        json!({
            "type": "object",
            "description": "One field refused, and why.",
            "required": ["field", "code", "message"],
            "properties": {
                "field": { "type": "string", "description": "The field, as the request named it (`custom.KEY`, `filter[0]`)." },
                "code": { "type": "string" },
                "message": { "type": "string" }
            }
        }),
    );
    m.insert(
        "NewRecord".into(),
        json!({
            "type": "object",
            "description": "A new record's fields by name, each a text, number, boolean or null.",
            "additionalProperties": scalar,
            "examples": [{ "given_name": "Ada", "family_name": "Lovelace", "email": "ada@example.org" }]
        }),
    );
    m.insert(
        "Patch".into(),
        json!({
            "type": "object",
            "description": "The fields to change, by name; null clears. Custom fields as `custom.KEY` or inside `custom`.",
            "examples": [{ "job_title": "Analyst", "custom": { "renewal": "2027-03-31" } }]
        }),
    );
    let inputs = |item: Value| json!({ "type": "array", "minItems": 1, "maxItems": 100, "items": item });
    let versioned = |more: Value| {
        let mut props =
            json!({ "id": { "type": "string", "format": "uuid" }, "version": { "type": "integer", "minimum": 1 } });
        let mut required = vec!["id", "version"];
        if let Value::Object(more) = more {
            for (k, v) in more {
                props[&k] = v;
            }
            required.push("fields");
        }
        json!({ "type": "object", "required": required, "additionalProperties": false, "properties": props })
    };
    m.insert(
        "BatchCreate".into(),
        json!({ "type": "object", "required": ["inputs"], "additionalProperties": false,
                "properties": { "inputs": inputs(json!({ "$ref": "#/components/schemas/NewRecord" })) } }),
    );
    m.insert(
        "BatchUpsert".into(),
        json!({ "type": "object", "required": ["inputs", "match"], "additionalProperties": false,
                "properties": {
                    "match": { "type": "string", "description": "The key an input finds its record by: email, domain, sku, number, id, or external:SYSTEM.",
                               "examples": ["email", "external:xero"] },
                    "inputs": inputs(json!({ "$ref": "#/components/schemas/NewRecord" }))
                } }),
    );
    m.insert(
        "BatchUpdate".into(),
        json!({ "type": "object", "required": ["inputs"], "additionalProperties": false,
                "properties": { "inputs": inputs(versioned(json!({ "fields": { "$ref": "#/components/schemas/Patch" } }))) } }),
    );
    m.insert(
        "BatchRead".into(),
        json!({ "type": "object", "required": ["inputs"], "additionalProperties": false,
                "properties": { "inputs": inputs(json!({ "type": "object", "required": ["id"], "additionalProperties": false,
                                                          "properties": { "id": { "type": "string", "format": "uuid" } } })) } }),
    );
    m.insert(
        "BatchDelete".into(),
        json!({ "type": "object", "required": ["inputs"], "additionalProperties": false,
                "properties": { "inputs": inputs(versioned(Value::Null)) } }),
    );
    m
}
