//! A customer seen whole, and the events feed.

use crm::prelude::*;
use reqwest::StatusCode;
use serde_json::json;

use crate::{api, problem};

#[tokio::test]
async fn a_customer_is_seen_whole_and_the_events_feed_pages_from_a_cursor() {
    let a = api().await;
    let k = a.admin.clone();
    let ada = a.post("/v1/contacts", &k, json!({"given_name": "Ada", "family_name": "Lovelace"})).await;
    let id = ada.2["id"].as_str().unwrap().to_owned();
    let sys = a.crm.as_actor(&Actor::system(a.tenant));
    let cid = ContactId::from_uuid(id.parse().unwrap());
    sys.activities().create(crm::service::NewActivity::call("Intro call").contact(cid)).await.unwrap();
    let (status, _, tl) = a.get(&format!("/v1/contacts/{id}/timeline"), &k).await;
    assert_eq!(status, StatusCode::OK, "{tl}");
    let kinds: Vec<&str> = tl["items"].as_array().unwrap().iter().map(|i| i["type"].as_str().unwrap()).collect();
    assert!(kinds.contains(&"activity"), "{tl}");
    let (status, _, view) = a.get(&format!("/v1/contacts/{id}/360"), &k).await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(view["contact"]["family_name"], "Lovelace");
    assert!(view["summary"]["orders"].is_number());
    problem(&a.get(&format!("/v1/deals/{id}/360"), &k).await, StatusCode::NOT_FOUND, None);
    problem(&a.get(&format!("/v1/contacts/{id}/360"), &a.rep).await, StatusCode::NOT_FOUND, None);

    // The feed, two at a time from the start, ends where it is.
    let mut after = 0;
    let mut seen = Vec::new();
    loop {
        let (status, _, page) = a.get(&format!("/v1/events?after={after}&limit=2"), &k).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let items = page["items"].as_array().unwrap();
        seen.extend(items.iter().map(|e| e["seq"].as_u64().unwrap()));
        if items.is_empty() {
            break;
        }
        after = page["next_after"].as_u64().unwrap();
    }
    assert!(seen.len() >= 3 && seen.windows(2).all(|w| w[0] < w[1]), "{seen:?}");
    problem(&a.get("/v1/events?after=soon", &k).await, StatusCode::BAD_REQUEST, None);
}
