//! Reports over HTTP, and the links between records.

use crm::model::CampaignChannel;
use crm::prelude::*;
use crm::service::NewCampaign;
use reqwest::StatusCode;
use serde_json::json;

use crate::{api, problem};

#[tokio::test]
async fn records_are_linked_and_a_records_links_listed_within_reach() {
    let a = api().await;
    let k = a.admin.clone();
    let jane = a.post("/v1/contacts", &k, json!({"given_name": "Jane", "family_name": "Cooper"})).await.2;
    let acme = a.post("/v1/companies", &k, json!({"name": "Acme"})).await.2;
    let link = json!({"from_kind": "contact", "from_id": jane["id"], "to_kind": "company", "to_id": acme["id"],
                      "label": "works_at", "role": "CFO"});
    let made = a.post("/v1/relations", &k, link).await;
    assert_eq!(made.0, StatusCode::CREATED, "{}", made.2);
    assert_eq!((made.2["label"].as_str(), made.2["role"].as_str()), (Some("works_at"), Some("CFO")));
    for (name, rec) in [("contacts", &jane), ("companies", &acme)] {
        let (status, _, links) = a.get(&format!("/v1/{name}/{}/relations", rec["id"].as_str().unwrap()), &k).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(links["items"].as_array().unwrap().len(), 1, "{name}: {links}");
        assert_eq!(links["items"][0]["id"], made.2["id"]);
    }
    let backwards = json!({"from_kind": "company", "from_id": acme["id"], "to_kind": "contact", "to_id": jane["id"],
                           "label": "works_at"});
    problem(&a.post("/v1/relations", &k, backwards).await, StatusCode::UNPROCESSABLE_ENTITY, Some("label"));
    let nonsense = json!({"from_kind": "planet", "from_id": jane["id"], "to_kind": "company", "to_id": acme["id"],
                          "label": "works_at"});
    problem(&a.post("/v1/relations", &k, nonsense).await, StatusCode::UNPROCESSABLE_ENTITY, Some("from_kind"));
    let jane_links = format!("/v1/contacts/{}/relations", jane["id"].as_str().unwrap());
    problem(&a.get(&jane_links, &a.rep).await, StatusCode::NOT_FOUND, None);
    assert_eq!(a.get(&jane_links, &k).await.2["items"].as_array().unwrap().len(), 1, "refusals wrote nothing");
}

#[tokio::test]
async fn a_pipeline_report_and_a_campaigns_results_are_served() {
    let a = api().await;
    let k = a.admin.clone();
    let deal = a.post("/v1/deals", &k, json!({"name": "Fleet", "amount": "1000", "currency": "EUR"})).await;
    assert_eq!(deal.0, StatusCode::CREATED, "{}", deal.2);
    let pipeline = deal.2["pipeline_id"].as_str().unwrap().to_owned();
    let (status, _, report) = a.get(&format!("/v1/reports/pipeline/{pipeline}"), &k).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    let counted: u64 = report["stages"].as_array().unwrap().iter().map(|s| s["count"].as_u64().unwrap()).sum();
    assert_eq!(counted, 1, "{report}");
    assert!(report["forecast"]["EUR"].is_string(), "{report}");
    let (_, _, for_rep) = a.get(&format!("/v1/reports/pipeline/{pipeline}"), &a.rep).await;
    let seen: u64 = for_rep["stages"].as_array().unwrap().iter().map(|s| s["count"].as_u64().unwrap()).sum();
    assert_eq!(seen, 0, "the rep's report counts only the rep's deals");
    problem(&a.get(&format!("/v1/reports/pipeline/{}", crm::uuid::Uuid::nil()), &k).await, StatusCode::NOT_FOUND, None);

    let sys = a.crm.as_actor(&Actor::system(a.tenant));
    let spring = sys.campaigns().create(NewCampaign::new("Spring", CampaignChannel::Email)).await.unwrap();
    let ada = sys.contacts().create(NewContact::new("Ada", "Lovelace")).await.unwrap();
    sys.campaigns().add_contact(spring.id, ada.id).await.unwrap();
    let (status, _, results) = a.get(&format!("/v1/reports/campaign/{}", spring.id), &k).await;
    assert_eq!(status, StatusCode::OK, "{results}");
    assert_eq!((results["members"].as_u64(), results["campaign"]["name"].as_str()), (Some(1), Some("Spring")));
}
