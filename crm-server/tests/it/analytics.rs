//! The analytical reports and aggregates over HTTP: the forecast, performance and funnel of the
//! deals the caller reads, any aggregate of a kind's records, refusals naming the parameter or
//! the part of the aggregate, all checked against the OpenAPI document.

use crm::prelude::*;
use reqwest::StatusCode;
use serde_json::json;

use crate::{Api, api, problem};

/// Two won deals and an open one of the admin's, in EUR, and one open deal of the rep's in USD.
async fn deals(a: &Api) {
    let sys = a.crm.as_actor(&Actor::system(a.tenant));
    let p = sys.pipelines().default_pipeline().await.unwrap();
    let proposal = p.stage_named("Proposal").unwrap().id;
    let today = sys.now().date_naive();
    let eur = |n: i64| Money::new(Decimal::new(n, 0), Currency::EUR);
    for n in [1_000, 500] {
        let d = sys.deals().create(NewDeal::new("Won").amount(eur(n))).await.unwrap();
        sys.deals().win(d.id).await.unwrap();
    }
    sys.deals().create(NewDeal::new("Open").amount(eur(2_000)).stage(proposal).expected_close(today)).await.unwrap();
    let usd = Money::new(Decimal::new(300, 0), Currency::USD);
    sys.deals().create(NewDeal::new("Rep's").amount(usd).owner(a.rep_id).expected_close(today)).await.unwrap();
}

#[tokio::test]
async fn reports_forecast_performance_and_funnel() {
    let a = api().await;
    deals(&a).await;
    let k = a.admin.clone();
    let (status, _, f) = a.get("/v1/reports/forecast?periods=1", &k).await;
    assert_eq!(status, StatusCode::OK, "{f}");
    let rows = f["rows"].as_array().unwrap();
    let best = rows.iter().find(|r| r["category"] == "best_case").expect("the proposal, 50 %");
    assert_eq!(
        (best["amount"]["amount"].as_str(), best["weighted"]["amount"].as_str()),
        (Some("2000.00"), Some("1000.00"))
    );
    let closed = rows.iter().find(|r| r["category"] == "closed" && r["amount"]["currency"] == "EUR").expect("won");
    assert_eq!(closed["deals"], 2);
    // The rep's forecast holds only the rep's deal.
    let (_, _, mine) = a.get("/v1/reports/forecast?periods=1", &a.rep).await;
    let currencies: Vec<&str> =
        mine["rows"].as_array().unwrap().iter().map(|r| r["amount"]["currency"].as_str().unwrap()).collect();
    assert_eq!(currencies, vec!["USD"], "{mine}");

    let (status, _, p) = a.get("/v1/reports/performance?by=owner", &k).await;
    assert_eq!(status, StatusCode::OK, "{p}");
    let won: u64 = p["rows"].as_array().unwrap().iter().map(|r| r["won"].as_u64().unwrap()).sum();
    assert_eq!(won, 2, "{p}");
    let (_, _, p) = a.get("/v1/reports/performance?filter=currency%3DUSD", &k).await;
    assert_eq!((p["rows"][0]["won"].as_u64(), p["rows"][0]["open"].as_u64()), (Some(0), Some(1)), "{p}");

    // The two won deals closed this month: a 100 % month, the months before without a rate.
    let (status, _, t) = a.get("/v1/reports/win-rate", &k).await;
    assert_eq!(status, StatusCode::OK, "{t}");
    let last = t["points"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (last["won"].as_u64(), last["lost"].as_u64(), last["win_rate"].as_str()),
        (Some(2), Some(0), Some("1")),
        "{t}"
    );
    assert!(t["points"][0]["win_rate"].is_null(), "{t}");
    problem(&a.get("/v1/reports/win-rate?by=planet", &k).await, StatusCode::UNPROCESSABLE_ENTITY, Some("by"));

    let (status, _, funnel) = a.get("/v1/reports/funnel", &k).await;
    assert_eq!(status, StatusCode::OK, "{funnel}");
    let steps = funnel["cohorts"][0]["steps"].as_array().unwrap();
    assert_eq!(steps[0]["reached"], 4, "{funnel}");
    assert_eq!(steps.last().unwrap()["reached"], 2, "{funnel}");

    problem(&a.get("/v1/reports/forecast?period=week", &k).await, StatusCode::UNPROCESSABLE_ENTITY, Some("period"));
    problem(&a.get("/v1/reports/forecast?periods=0", &k).await, StatusCode::UNPROCESSABLE_ENTITY, Some("periods"));
    problem(
        &a.get("/v1/reports/forecast?time_zone=Mars", &k).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        Some("time_zone"),
    );
    problem(&a.get("/v1/reports/performance?from=yesterday", &k).await, StatusCode::UNPROCESSABLE_ENTITY, Some("from"));
    problem(&a.get("/v1/reports/performance?sort=x", &k).await, StatusCode::BAD_REQUEST, None);
    problem(&a.get("/v1/reports/funnel?pipeline=nope", &k).await, StatusCode::UNPROCESSABLE_ENTITY, Some("pipeline"));
    let nil = crm::uuid::Uuid::nil();
    problem(&a.get(&format!("/v1/reports/funnel?pipeline={nil}"), &k).await, StatusCode::NOT_FOUND, None);
}

#[tokio::test]
async fn any_kind_aggregates_within_reach() {
    let a = api().await;
    deals(&a).await;
    let k = a.admin.clone();
    let body = json!({
        "filter": { "is_null": { "field": "amount" } },
        "group_by": [{ "currency": "amount" }, { "field": "status" }],
        "measures": ["count", { "sum": "amount" }, { "percentile": { "field": "amount", "p": "0.5" } }],
        "sort": [{ "key": { "measure": 1 }, "order": "desc" }],
        "limit": 10
    });
    // No deal lacks an amount.
    let (status, _, out) = a.post("/v1/deals/aggregate", &k, body.clone()).await;
    assert_eq!((status, out["rows"].as_array().map(Vec::len)), (StatusCode::OK, Some(0)), "{out}");
    let mut all = body;
    all["filter"] = json!("all");
    let (status, _, out) = a.post("/v1/deals/aggregate", &k, all.clone()).await;
    assert_eq!(status, StatusCode::OK, "{out}");
    assert_eq!(
        out["rows"],
        json!([
            // Money sorts by currency, then amount: descending, USD first.
            { "groups": ["USD", "open"], "values": [1, { "amount": "300.00", "currency": "USD" }, { "amount": "300.00", "currency": "USD" }] },
            { "groups": ["EUR", "open"], "values": [1, { "amount": "2000.00", "currency": "EUR" }, { "amount": "2000.00", "currency": "EUR" }] },
            { "groups": ["EUR", "won"], "values": [2, { "amount": "1500.00", "currency": "EUR" }, { "amount": "500.00", "currency": "EUR" }] }
        ])
    );
    let (_, _, mine) = a.post("/v1/deals/aggregate", &a.rep, all).await;
    assert_eq!(mine["rows"].as_array().unwrap().len(), 1, "the rep aggregates the rep's deal: {mine}");
    // Contacts by month created, in Berlin time; fields may be named in the tagged form too.
    let by_month = json!({ "group_by": [{ "bucket": { "field": { "std": "created_at" }, "bucket": "month" } }],
                           "measures": ["count"], "time_zone": "Europe/Berlin" });
    let (status, _, out) = a.post("/v1/contacts/aggregate", &k, by_month).await;
    assert_eq!((status, out["rows"].as_array().map(Vec::len)), (StatusCode::OK, Some(0)), "{out}");

    let bad = |body: serde_json::Value| {
        let a = &a;
        let k = k.clone();
        async move { a.post("/v1/deals/aggregate", &k, body).await }
    };
    problem(
        &bad(json!({ "measures": [{ "sum": "name" }] })).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        Some("measures[0]"),
    );
    problem(
        &bad(json!({ "measures": [{ "sum": "amount" }] })).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        Some("measures[0]"),
    );
    problem(
        &bad(json!({ "group_by": [{ "field": "nope" }] })).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        Some("group_by[0]"),
    );
    problem(&bad(json!({ "measures": ["median"] })).await, StatusCode::UNPROCESSABLE_ENTITY, Some("measures[0]"));
    problem(&bad(json!({ "time_zone": "Mars/Olympus" })).await, StatusCode::UNPROCESSABLE_ENTITY, Some("time_zone"));
    problem(&a.post("/v1/planets/aggregate", &k, json!({})).await, StatusCode::NOT_FOUND, None);
}

#[tokio::test]
async fn rfm_scores_and_the_portfolio_of_customers() {
    let a = api().await;
    let sys = a.crm.as_actor(&Actor::system(a.tenant));
    let line = |n: i64| LineItem::new("Tea", Decimal::ONE, Money::new(Decimal::new(n, 0), Currency::EUR));
    let mut ids = Vec::new();
    for (name, orders) in [("Often", 3), ("Once", 1)] {
        let c = sys.contacts().create(NewContact::new(name, "Buyer")).await.unwrap();
        for _ in 0..orders {
            sys.orders()
                .create(NewOrder::for_contact(c.id).currency(Currency::EUR).line(line(10)).placed())
                .await
                .unwrap();
        }
        ids.push(c.id);
    }
    let k = a.admin.clone();
    let (status, _, r) = a.get("/v1/reports/rfm", &k).await;
    assert_eq!(status, StatusCode::OK, "{r}");
    let customers = r["customers"].as_array().unwrap();
    assert_eq!(customers.len(), 2, "{r}");
    // "Once" bought last, so ranks first on recency, which leads the order.
    let ids_listed: Vec<String> = customers.iter().map(|c| c["contact_id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(ids_listed, vec![ids[1].to_string(), ids[0].to_string()], "{r}");
    assert_eq!((customers[1]["orders"].as_u64(), customers[1]["spent"]["amount"].as_str()), (Some(3), Some("30.00")));
    assert_eq!(r["currency"], "EUR");

    let (status, _, run) = a.post("/v1/reports/rfm/score?currency=eur", &k, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{run}");
    assert_eq!((run["written"].as_u64(), run["cleared"].as_u64(), run["scored"].as_u64()), (Some(2), Some(0), Some(2)));
    // The scores are on the contacts, where a list filters on them.
    let (_, _, often) = a.get(&format!("/v1/contacts/{}", ids[0]), &k).await;
    // Of two customers, the more frequent scores 5, the one who bought less recently 1.
    assert_eq!((often["rfm"]["frequency"].as_u64(), often["rfm"]["recency"].as_u64()), (Some(5), Some(1)), "{often}");
    let (_, _, scored) = a.get("/v1/contacts?filter=rfm_frequency%3E%3D1", &k).await;
    assert_eq!(scored["items"].as_array().map(Vec::len), Some(2), "{scored}");

    // The portfolio by the segments just written: "Often" brought three quarters of the revenue.
    let (status, _, p) = a.get("/v1/reports/portfolio?by=rfm_segment&top=1", &k).await;
    assert_eq!(status, StatusCode::OK, "{p}");
    assert_eq!(
        (p["total"]["customers"].as_u64(), p["total"]["revenue"]["amount"].as_str()),
        (Some(2), Some("40.00")),
        "{p}"
    );
    assert_eq!(p["groups"].as_array().map(Vec::len), Some(2), "{p}");
    assert_eq!(
        (p["most_valuable"][0]["name"].as_str(), p["most_valuable"][0]["share"].as_str()),
        (Some("Often Buyer"), Some("0.75")),
        "{p}"
    );
    assert_eq!(p["most_valuable"].as_array().map(Vec::len), Some(1));
    // Both first bought this month: one cohort, all of it active.
    let (status, _, r) = a.get("/v1/reports/retention?period=quarter", &k).await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_eq!(
        (r["cohorts"][0]["customers"].as_u64(), r["cohorts"][0]["rates"][0].as_str()),
        (Some(2), Some("1")),
        "{r}"
    );
    problem(&a.get("/v1/reports/retention?period=week", &k).await, StatusCode::UNPROCESSABLE_ENTITY, Some("period"));
    problem(
        &a.get("/v1/reports/portfolio?customers=planets", &k).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        Some("customers"),
    );
    problem(&a.get("/v1/reports/portfolio?by=nope", &k).await, StatusCode::UNPROCESSABLE_ENTITY, Some("by"));
    problem(&a.get("/v1/reports/portfolio?top=many", &k).await, StatusCode::UNPROCESSABLE_ENTITY, Some("top"));

    problem(&a.get("/v1/reports/rfm?currency=XYZ", &k).await, StatusCode::UNPROCESSABLE_ENTITY, Some("currency"));
    problem(
        &a.get("/v1/reports/rfm?from=2030-01-01T00:00:00Z&to=2029-01-01T00:00:00Z", &k).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        Some("window"),
    );
    let (status, _, empty) = a.get("/v1/reports/rfm?from=2000-01-01T00:00:00Z&to=2000-02-01T00:00:00Z", &k).await;
    assert_eq!((status, empty["customers"].as_array().map(Vec::len)), (StatusCode::OK, Some(0)), "{empty}");
    assert!(empty["empty_because"].as_str().unwrap().contains("no order"), "{empty}");
}

#[tokio::test]
async fn lifetime_value_of_the_customers() {
    let a = api().await;
    let sys = a.crm.as_actor(&Actor::system(a.tenant));
    let until = sys.now();
    // 24 customers buying one to four times, a month apart, for a little more each.
    for i in 0..24i64 {
        let c = sys.contacts().create(NewContact::new(format!("C{i}"), "Buyer")).await.unwrap();
        for k in 0..=(i % 4) {
            let line = LineItem::new("Tea", Decimal::ONE, Money::new(Decimal::new(10 + i, 0), Currency::EUR));
            let at = until - crm::chrono::Duration::days(30 * k + i + 1);
            sys.orders()
                .create(NewOrder::for_contact(c.id).currency(Currency::EUR).line(line).placed_at(at))
                .await
                .unwrap();
        }
    }
    let k = a.admin.clone();
    let until_q = until.to_rfc3339().replace('+', "%2B");
    let (status, _, r) = a.get(&format!("/v1/reports/clv?until={until_q}&horizon_months=6&top=3"), &k).await;
    assert_eq!(status, StatusCode::OK, "{r}");
    // What the library reports for the same options.
    let o = crm::analytics::ClvOptions { until: Some(until), horizon_months: 6, ..Default::default() };
    let lib = crm::analytics::Customers::new(&sys).clv(&o).await.unwrap();
    assert!(lib.models.is_some(), "{:?}", lib.not_predicted_because);
    assert_eq!(r["customers"].as_array().map(Vec::len), Some(3), "{r}");
    assert_eq!(r["customers"][0]["contact_id"], json!(lib.customers[0].contact_id), "{r}");
    assert_eq!(r["predicted"], json!(lib.predicted), "{r}");
    assert_eq!(r["models"]["purchases"], json!(lib.models.as_ref().unwrap().purchases), "{r}");
    assert_eq!((r["horizon_months"].as_u64(), r["revenue"]["currency"].as_str()), (Some(6), Some("EUR")), "{r}");

    // Churn risk: with only cases weighing, the one customer with an open case leads (a quarter
    // of the factor's risk per open case: 25).
    let first = sys.contacts().list(&crm::query::Query::new(crm::query::Filter::eq("given_name", "C7"))).await.unwrap();
    let case = NewCase::new("Broken", CaseType::Problem, CaseChannel::Email).contact(first.items[0].id);
    sys.cases().create(case).await.unwrap();
    let (status, _, r) = a.get("/v1/reports/churn?weights=cases:1&top=2", &k).await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_eq!(r["customers"].as_array().map(Vec::len), Some(2), "{r}");
    assert_eq!(r["customers"][0]["contact_id"], json!(first.items[0].id), "{r}");
    assert_eq!(
        (r["customers"][0]["score"].as_str(), r["customers"][1]["score"].as_str()),
        (Some("25"), Some("0")),
        "{r}"
    );
    assert_eq!(r["customers"][0]["factors"][0]["factor"], "cases", "{r}");
    assert_eq!(r["bands"], json!([24, 0, 0]), "{r}");
    for (q, field) in
        [("weights=nope:1", "weights"), ("weights=cases:0", "weights"), ("lookback_days=1", "lookback_days")]
    {
        problem(&a.get(&format!("/v1/reports/churn?{q}"), &k).await, StatusCode::UNPROCESSABLE_ENTITY, Some(field));
    }

    for (q, field) in [
        ("horizon_months=0", "horizon_months"),
        ("monthly_discount=1.5", "monthly_discount"),
        ("monthly_discount=lots", "monthly_discount"),
        ("until=yesterday", "until"),
        ("currency=XYZ", "currency"),
    ] {
        problem(&a.get(&format!("/v1/reports/clv?{q}"), &k).await, StatusCode::UNPROCESSABLE_ENTITY, Some(field));
    }
}

#[tokio::test]
async fn products_bought_together_and_what_to_offer() {
    let a = api().await;
    let sys = a.crm.as_actor(&Actor::system(a.tenant));
    let price = Money::new(Decimal::new(5, 0), Currency::EUR);
    let tea = sys.products().create(NewProduct::new("TEA", "Tea", price)).await.unwrap();
    let pot = sys.products().create(NewProduct::new("POT", "Teapot", price)).await.unwrap();
    let mut who = Vec::new();
    for name in ["Ann", "Cat"] {
        who.push(sys.contacts().create(NewContact::new(name, "Buyer")).await.unwrap().id);
    }
    // Ann: tea with a teapot, twice; Cat: tea alone.
    for (c, items) in [(who[0], vec![&tea, &pot]), (who[0], vec![&tea, &pot]), (who[1], vec![&tea])] {
        let mut o = NewOrder::for_contact(c).currency(Currency::EUR).placed();
        for p in items {
            o = o.line(LineItem::for_product(p, Decimal::ONE));
        }
        sys.orders().create(o).await.unwrap();
    }
    let k = a.admin.clone();
    let (status, _, r) = a.get("/v1/reports/cross-sell?min_orders=2&top=1", &k).await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_eq!((r["orders"].as_u64(), r["products"].as_u64()), (Some(3), Some(2)), "{r}");
    // Of the rules pot → tea (certain) and tea → pot (two of three), the stronger.
    assert_eq!(r["rules"].as_array().map(Vec::len), Some(1), "{r}");
    assert_eq!(
        (r["rules"][0]["antecedent"].clone(), r["rules"][0]["confidence"].as_str()),
        (json!(pot.id), Some("1")),
        "{r}"
    );
    let (status, _, r) = a.get(&format!("/v1/reports/recommendations?min_orders=2&contact={}", who[1]), &k).await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_eq!(r.as_array().map(Vec::len), Some(1), "{r}");
    assert_eq!(
        (r[0]["contact_id"].clone(), r[0]["products"][0]["product_id"].clone()),
        (json!(who[1]), json!(pot.id)),
        "{r}"
    );
    assert_eq!(r[0]["products"][0]["score"], "0.666667", "{r}");
    for (q, field) in [
        ("/v1/reports/cross-sell?min_confidence=2", "min_confidence"),
        ("/v1/reports/cross-sell?min_orders=0", "min_orders"),
        ("/v1/reports/recommendations?contact=nobody", "contact"),
        ("/v1/reports/recommendations?per_customer=0", "per_customer"),
    ] {
        problem(&a.get(q, &k).await, StatusCode::UNPROCESSABLE_ENTITY, Some(field));
    }
}

#[tokio::test]
async fn who_is_likely_to_respond_to_a_campaign() {
    let a = api().await;
    let sys = a.crm.as_actor(&Actor::system(a.tenant));
    let campaigns = sys.campaigns();
    let past = campaigns.create(NewCampaign::new("Past", CampaignChannel::Email)).await.unwrap().id;
    let next = campaigns.create(NewCampaign::new("Next", CampaignChannel::Email)).await.unwrap().id;
    let mut ids = Vec::new();
    // Four customers who all answered, four leads who did not.
    for i in 0..8 {
        let stage = if i < 4 { LifecycleStage::Customer } else { LifecycleStage::Lead };
        let id =
            sys.contacts().create(NewContact::new(format!("P{i}"), "Person").lifecycle_stage(stage)).await.unwrap().id;
        campaigns.add_contact(past, id).await.unwrap();
        if i < 4 {
            campaigns.record_response(past, id, ResponseKind::Responded, None).await.unwrap();
        }
        ids.push(id);
    }
    campaigns.add_contact(next, ids[0]).await.unwrap();
    let k = a.admin.clone();
    let q = format!("/v1/reports/response-propensity?target={next}&field=lifecycle_stage&top=3");
    let (status, _, r) = a.get(&q, &k).await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_eq!((r["model"]["responded"].as_u64(), r["model"]["ignored"].as_u64()), (Some(4), Some(4)), "{r}");
    let targets = r["targets"].as_array().unwrap();
    assert_eq!(targets.len(), 3, "{r}");
    // The three customers not yet in the next campaign lead.
    let listed: Vec<serde_json::Value> = targets.iter().map(|t| t["contact_id"].clone()).collect();
    assert_eq!(listed, vec![json!(ids[1]), json!(ids[2]), json!(ids[3])], "{r}");
    assert!(targets[0]["probability"].as_f64().unwrap() > 0.7, "{r}");
    for (q, field) in
        [("response=maybe", "response"), ("field=emails", "fields[0]"), ("top=0", "top"), ("target=x", "target")]
    {
        problem(
            &a.get(&format!("/v1/reports/response-propensity?{q}"), &k).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(field),
        );
    }
}
