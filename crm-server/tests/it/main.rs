//! The HTTP API on loopback with a real HTTP client, over a real SQLite file: auth refusals,
//! records of every kind, filters, sorts and cursors, ETag concurrency, problem documents,
//! role and tenant isolation. Every response a test receives through [`Api::send`] is checked
//! against the served OpenAPI document ([`contract`]).

mod analytics;
mod batch;
mod contract;
mod customers;
mod guard;
mod hostile;
mod idempotency;
mod jwt;
mod nested;
mod openapi;
#[cfg(feature = "portal")]
mod portal;
mod records;
mod replies;
mod reports;
mod webhooks;
mod workflows;

use crm::prelude::*;
use crm::service::{NewApiKey, NewUser};
use reqwest::{Client, StatusCode};
use serde_json::Value;

pub struct Api {
    base: String,
    contract: contract::Contract,
    pub http: Client,
    pub admin: String,
    pub rep: String,
    pub rep_id: UserId,
    pub other_tenant: String,
    pub crm: Crm,
    pub tenant: TenantId,
    _dir: tempfile::TempDir,
    _server: Served,
}

/// A server on loopback, shut down when dropped.
pub struct Served(Option<tokio::sync::oneshot::Sender<()>>);

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(s) = self.0.take() {
            let _ = s.send(());
        }
    }
}

/// Serves `crm` on loopback with the options `options` makes for the server's base URL.
pub async fn serve(crm: &Crm, options: impl FnOnce(&str) -> crm_server::Options) -> (String, Served) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let options = options(&base);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = crm.clone();
    tokio::spawn(async move {
        crm_server::serve_with(served, listener, &options, async move {
            let _ = stopped.await;
        })
        .await
        .unwrap();
    });
    (base, Served(Some(stop)))
}

/// The API with its default options.
pub async fn api() -> Api {
    api_with(crm_server::Options::default()).await
}

/// The API guarded by `options`, on loopback over a fresh SQLite file: an administrator's key,
/// a sales rep's key, and a key of another tenant.
pub async fn api_with(options: crm_server::Options) -> Api {
    let dir = tempfile::tempdir().unwrap();
    let crm = crm::sqlite(dir.path().join("crm.db")).await.unwrap();
    let tenant = TenantId::new();
    let sys = crm.as_actor(&Actor::system(tenant));
    let boss = sys.users().create(NewUser::new("Ada Admin", "ada@acme.example").role("administrator")).await.unwrap();
    let rep = sys.users().create(NewUser::new("Ria Rep", "ria@acme.example").role("sales_rep")).await.unwrap();
    let (_, admin) = sys.api_keys().issue(NewApiKey::new("admin", boss.id)).await.unwrap();
    let (_, rep_key) = sys.api_keys().issue(NewApiKey::new("rep", rep.id)).await.unwrap();
    let other = crm.as_actor(&Actor::system(TenantId::new()));
    let stranger = other.users().create(NewUser::new("Sol", "sol@else.example").role("administrator")).await.unwrap();
    let (_, other_tenant) = other.api_keys().issue(NewApiKey::new("other", stranger.id)).await.unwrap();
    let (base, server) = serve(&crm, |_| options).await;
    let http = Client::new();
    let doc = http.get(format!("{base}/openapi.json")).send().await.unwrap().json().await.unwrap();
    Api {
        base,
        contract: contract::Contract::new(doc),
        http,
        admin,
        rep: rep_key,
        rep_id: rep.id,
        other_tenant,
        crm,
        tenant,
        _dir: dir,
        _server: server,
    }
}

impl Api {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends `req` with `key`, and checks the answer against the OpenAPI document.
    pub async fn send(
        &self,
        req: reqwest::RequestBuilder,
        key: &str,
    ) -> (StatusCode, reqwest::header::HeaderMap, Value) {
        let req = req.bearer_auth(key).build().unwrap();
        let (method, path) = (req.method().to_string(), req.url().path().to_owned());
        let sent: Option<Value> = req.body().and_then(|b| b.as_bytes()).and_then(|b| serde_json::from_slice(b).ok());
        let res = self.http.execute(req).await.unwrap();
        let (status, headers) = (res.status(), res.headers().clone());
        let text = res.text().await.unwrap();
        let body = if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap() };
        let media = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default();
        self.contract.check(&method, &path, status.as_u16(), media, &body);
        // A request answered wholly (not a batch's 207, which answers some inputs with refusals).
        if let Some(sent) = sent.filter(|_| status.is_success() && status != StatusCode::MULTI_STATUS) {
            self.contract.check_request(&method, &path, &sent);
        }
        (status, headers, body)
    }

    /// The served document.
    pub fn doc(&self) -> &Value {
        self.contract.doc()
    }

    /// What is wrong with `body` against `schema` (of the document).
    #[track_caller]
    pub fn contract_errors(&self, schema: &Value, body: &Value) -> Vec<String> {
        self.contract.errors(schema, body, "a body")
    }

    /// Checks that `schema` compiles as a JSON Schema.
    #[track_caller]
    pub fn contract_validates(&self, schema: &Value) {
        if let Err(e) = self.contract.compile(schema) {
            panic!("{schema}: {e}");
        }
    }

    pub async fn get(&self, path: &str, key: &str) -> (StatusCode, reqwest::header::HeaderMap, Value) {
        self.send(self.http.get(self.url(path)), key).await
    }

    pub async fn post(&self, path: &str, key: &str, body: Value) -> (StatusCode, reqwest::header::HeaderMap, Value) {
        self.send(self.http.post(self.url(path)).json(&body), key).await
    }
}

/// A problem document of `status` whose first error names `field` (if given).
#[track_caller]
pub fn problem(got: &(StatusCode, reqwest::header::HeaderMap, Value), status: StatusCode, field: Option<&str>) {
    assert_eq!(got.0, status, "{}", got.2);
    assert_eq!(got.1["content-type"], "application/problem+json");
    assert_eq!(got.2["status"], status.as_u16());
    assert!(got.2["type"].as_str().unwrap().starts_with("urn:crm:problem:"));
    if let Some(f) = field {
        assert_eq!(got.2["errors"][0]["field"], f, "{}", got.2);
    }
}
