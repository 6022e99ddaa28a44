//! The served OpenAPI document as a contract: every response the tests receive is checked
//! against the operation it answers — its status must be documented, its media type listed,
//! its body valid against the schema.

use serde_json::Value;

/// The document and what it takes to check responses against it.
pub struct Contract {
    doc: Value,
}

impl Contract {
    pub fn new(doc: Value) -> Self {
        Contract { doc }
    }

    /// The path template `path` (without query) falls under, if the document has one.
    fn template(&self, path: &str) -> Option<&str> {
        let segments: Vec<&str> = path.trim_end_matches('/').split('/').collect();
        self.doc["paths"].as_object()?.keys().map(String::as_str).find(|t| {
            let ts: Vec<&str> = t.split('/').collect();
            ts.len() == segments.len()
                && ts.iter().zip(&segments).all(|(t, s)| (t.starts_with('{') && t.ends_with('}')) || t == s)
        })
    }

    /// `#/components/…` resolved in the document.
    fn resolve<'a>(&'a self, v: &'a Value) -> &'a Value {
        match v.get("$ref").and_then(Value::as_str) {
            Some(r) => self.doc.pointer(r.trim_start_matches('#')).unwrap_or_else(|| panic!("dangling {r}")),
            None => v,
        }
    }

    /// Checks `body` against `schema`, a schema of the document's (its references resolved
    /// through the document's components).
    #[track_caller]
    pub fn validate(&self, schema: &Value, body: &Value, what: &str) {
        let errors = self.errors(schema, body, what);
        assert!(errors.is_empty(), "{what}: the body does not match the document: {errors:#?}\n{body:#}");
    }

    /// What is wrong with `body` against `schema` (at most five findings; none when it is valid).
    #[track_caller]
    pub fn errors(&self, schema: &Value, body: &Value, what: &str) -> Vec<String> {
        let validator = self.compile(schema).unwrap_or_else(|e| panic!("{what}: the schema: {e}"));
        validator.iter_errors(body).map(|e| format!("{} at {}", e, e.instance_path())).take(5).collect()
    }

    /// `schema` as a JSON Schema validator, the document's components as its `$defs`.
    pub fn compile(&self, schema: &Value) -> Result<jsonschema::Validator, String> {
        let text = serde_json::json!({ "$defs": self.doc["components"]["schemas"], "allOf": [schema] })
            .to_string()
            .replace("#/components/schemas/", "#/$defs/");
        let root: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
        jsonschema::validator_for(&root).map_err(|e| e.to_string())
    }

    /// Checks one response: `method` on `path` answered `status` with `content_type` and `body`
    /// (`Null` when empty).
    #[track_caller]
    pub fn check(&self, method: &str, path: &str, status: u16, content_type: &str, body: &Value) {
        let what = format!("{method} {path} → {status}");
        let media = content_type.split(';').next().unwrap_or_default().trim();
        let Some(template) = self.template(path) else {
            // A route the API does not have: a problem document.
            assert_eq!((status, media), (404, "application/problem+json"), "{what}");
            return self.validate(&serde_json::json!({ "$ref": "#/components/schemas/Problem" }), body, &what);
        };
        let op = &self.doc["paths"][template][method.to_ascii_lowercase()];
        if op.is_null() {
            // A method the path does not take: 405 as a problem document.
            assert_eq!((status, media), (405, "application/problem+json"), "{what}: not in the document");
            return self.validate(&serde_json::json!({ "$ref": "#/components/schemas/Problem" }), body, &what);
        }
        let res = self.resolve(&op["responses"][status.to_string()]);
        assert!(res.is_object(), "{what}: the document does not list {status} for {method} {template}");
        match res.get("content") {
            None => assert!(body.is_null(), "{what}: documented without a body, got {body}"),
            Some(content) => {
                let schema =
                    &content.get(media).unwrap_or_else(|| panic!("{what}: {media} is not documented"))["schema"];
                self.validate(schema, body, &what);
            }
        }
    }

    /// Checks the body of a request the server accepted against the operation's `requestBody`:
    /// what the server takes, the document must describe.
    #[track_caller]
    pub fn check_request(&self, method: &str, path: &str, body: &Value) {
        let Some(template) = self.template(path) else { return };
        let op = &self.doc["paths"][template][method.to_ascii_lowercase()];
        if let Some(schema) = op.pointer("/requestBody/content/application~1json/schema") {
            self.validate(schema, body, &format!("the request {method} {path}"));
        }
    }

    /// The document.
    pub fn doc(&self) -> &Value {
        &self.doc
    }
}
