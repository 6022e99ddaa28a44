//! `crm reports forecast|performance|funnel|portfolio|retention|rfm|clv|churn`: the sales and customer reports for people, for
//! scripts and as charts, and their refusals.

use crate::{fails, initialised, json, ok};

#[test]
fn sales_reports_are_read_and_drawn() {
    let dir = initialised();
    let d = dir.path();
    let today = format!("expected_close_date={}", crm::chrono::Utc::now().date_naive());
    json(d, &["deals", "create", "name=Fleet", "amount=1000", "currency=EUR", "stage=Proposal", &today]);
    json(d, &["deals", "create", "name=Vans", "amount=400", "currency=EUR", &today]);

    let f = json(d, &["reports", "forecast", "--periods", "1"]);
    let rows = f["rows"].as_array().unwrap();
    let best = rows.iter().find(|r| r["category"] == "best_case").expect("the proposal");
    assert_eq!(best["weighted"]["amount"], "500.00", "{f}");
    let text = ok(d, &["reports", "forecast", "--periods", "1"]);
    assert!(text.contains("best_case") && text.contains("weighted 520.00 EUR"), "50 % of 1000 and 5 % of 400: {text}");
    ok(d, &["reports", "forecast", "--periods", "1", "--chart", "forecast.svg"]);
    let svg = std::fs::read_to_string(d.join("forecast.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("Forecast") && svg.contains("EUR"), "{svg}");

    let p = json(d, &["reports", "performance", "--by", "owner"]);
    let open: u64 = p["rows"].as_array().unwrap().iter().map(|r| r["open"].as_u64().unwrap()).sum();
    assert_eq!(open, 2, "{p}");
    assert!(ok(d, &["reports", "performance"]).contains("0 won, 0 lost, win rate –"));

    // Nothing closed yet: every month of the window at zero, no rate.
    let t = json(d, &["reports", "win-rate", "--period", "quarter"]);
    let points = t["points"].as_array().unwrap();
    assert!(points.len() >= 4 && points.iter().all(|p| p["won"] == 0 && p["win_rate"].is_null()), "{t}");
    ok(d, &["reports", "win-rate", "--chart", "winrate.svg"]);
    assert!(std::fs::read_to_string(d.join("winrate.svg")).unwrap().contains("Win rate"));

    let funnel = json(d, &["reports", "funnel"]);
    let steps = funnel["cohorts"][0]["steps"].as_array().unwrap();
    assert_eq!((steps[0]["reached"].as_u64(), steps[3]["reached"].as_u64()), (Some(2), Some(1)), "{funnel}");
    let text = ok(d, &["reports", "funnel", "--chart", "funnel.svg"]);
    assert!(text.contains("Lead generation") && text.contains("lost 0"), "{text}");
    assert!(std::fs::read_to_string(d.join("funnel.svg")).unwrap().contains("Proposal"));

    let err = fails(d, &["reports", "forecast", "--time-zone", "Mars"], 2);
    assert!(err.contains("time zone"), "{err}");
    let err = fails(d, &["reports", "forecast", "--periods", "0"], 1);
    assert!(err.contains("periods"), "{err}");
    let err = fails(d, &["reports", "forecast", "--filter", "nope=1"], 1);
    assert!(err.contains("nope"), "{err}");
    let err = fails(d, &["reports", "forecast", "--period", "week"], 2);
    assert!(err.contains("week"), "{err}");
}

#[test]
fn rfm_scores_and_the_portfolio_are_read_stored_and_drawn() {
    let dir = initialised();
    let d = dir.path();
    let placed = format!("placed_at={}", (crm::chrono::Utc::now() - crm::chrono::Duration::days(3)).to_rfc3339());
    for (given, orders) in [("Ann", 3), ("Bob", 1)] {
        let email = format!("email={}@example.org", given.to_lowercase());
        json(d, &["contacts", "create", &format!("given_name={given}"), "family_name=Buyer", &email]);
        for _ in 0..orders {
            let contact = format!("contact={}@example.org", given.to_lowercase());
            json(
                d,
                &["orders", "create", &contact, "item=Tea", "quantity=1", "unit_price=10", "currency=EUR", &placed],
            );
        }
    }
    let r = json(d, &["reports", "rfm"]);
    let customers = r["customers"].as_array().unwrap();
    assert_eq!(customers.iter().map(|c| c["orders"].as_u64().unwrap()).collect::<Vec<_>>(), vec![3, 1], "{r}");
    assert_eq!(r["currency"], "EUR", "{r}");
    // Nothing stored yet: no contact has scores to filter on.
    assert!(json(d, &["contacts", "list", "--filter", "rfm_frequency>=1"]).as_array().unwrap().is_empty());

    let text = ok(d, &["reports", "rfm", "--store", "--top", "1", "--chart", "rfm.svg"]);
    assert!(text.contains("2 customers") && text.contains("Ann Buyer: 3 orders, 30.00 EUR"), "{text}");
    assert!(!text.contains("Bob Buyer"), "--top 1 lists one customer: {text}");
    assert!(text.contains("stored: 2 contacts written, 0 cleared"), "{text}");
    // Of the two, Ann bought more often: the highest frequency score.
    let scored = json(d, &["contacts", "list", "--filter", "rfm_frequency=5"]);
    assert_eq!(scored.as_array().map(Vec::len), Some(1), "{scored}");
    assert_eq!(scored[0]["given_name"], "Ann");
    let svg = std::fs::read_to_string(d.join("rfm.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("recency score") && svg.contains("champions"), "{svg}");

    // The portfolio by the segments just stored: Ann brings three quarters of the revenue.
    let p = json(d, &["reports", "portfolio", "--by", "rfm_segment"]);
    assert_eq!(
        (p["total"]["customers"].as_u64(), p["total"]["revenue"]["amount"].as_str()),
        (Some(2), Some("40.00")),
        "{p}"
    );
    let text = ok(d, &["reports", "portfolio", "--top", "1", "--chart", "pareto.svg"]);
    assert!(text.contains("the top fifth (1 customers) brings 75 %") && text.contains("Ann Buyer"), "{text}");
    assert!(!text.contains("Bob Buyer"), "{text}");
    let svg = std::fs::read_to_string(d.join("pareto.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("Revenue concentration"), "{svg}");
    // Both first bought this month: one cohort of two, all active in it.
    let text = ok(d, &["reports", "retention", "--chart", "retention.svg"]);
    assert!(text.contains("2 customers: 100 %"), "{text}");
    let svg = std::fs::read_to_string(d.join("retention.svg")).unwrap();
    assert!(svg.contains("Retention by cohort") && svg.contains("100%"), "{svg}");
    let err = fails(d, &["reports", "portfolio", "--by", "nope"], 1);
    assert!(err.contains("by"), "{err}");

    // Lifetime value: two customers are too few to fit the models; what they spent is reported.
    let text = ok(d, &["reports", "clv", "--top", "1", "--chart", "clv.svg"]);
    assert!(text.contains("2 customers, 40.00 EUR spent, - predicted over 12 months"), "{text}");
    assert!(text.contains("the models need at least 20 customers") && text.contains("Ann Buyer: 3 orders"), "{text}");
    let r = json(d, &["reports", "clv", "--horizon-months", "24"]);
    assert_eq!((r["horizon_months"].as_u64(), r["models"].is_null()), (Some(24), true), "{r}");
    // Ann's three orders were on one day: one purchase, no repeat.
    assert_eq!(r["customers"][0]["purchases"]["repeats"].as_u64(), Some(0), "{r}");
    assert!(std::fs::read_to_string(d.join("clv.svg")).unwrap().contains("Predicted value over 12 months"));
    let err = fails(d, &["reports", "clv", "--horizon-months", "0"], 1);
    assert!(err.contains("horizon_months"), "{err}");
    // Churn risk: two customers, neither with a sign of leaving but how long since they bought.
    let text = ok(d, &["reports", "churn", "--top", "1"]);
    assert!(text.contains("2 customers, 0 high, 0 medium, 2 low"), "{text}");
    assert!(text.contains("the purchase model needs at least 20 customers"), "{text}");
    let r = json(d, &["reports", "churn", "--weights", "feedback:1", "--lookback-days", "30"]);
    assert_eq!((r["lookback_days"].as_u64(), r["weights"]["feedback"].as_u64()), (Some(30), Some(1)), "{r}");
    assert_eq!(r["customers"][0]["score"], "0", "{r}");
    let err = fails(d, &["reports", "churn", "--weights", "luck:1"], 2);
    assert!(err.contains("not a factor"), "{err}");

    let err = fails(d, &["reports", "rfm", "--currency", "XYZ"], 1);
    assert!(err.contains("currency"), "{err}");
    let err = fails(d, &["reports", "rfm", "--filter", "nope=1"], 1);
    assert!(err.contains("nope"), "{err}");
}

#[test]
fn cross_sell_rules_and_recommendations_from_imported_orders() {
    let dir = initialised();
    let d = dir.path();
    std::fs::write(d.join("products.csv"), "sku,name,price,currency\nTEA,Tea,5,EUR\nPOT,Teapot,20,EUR\n").unwrap();
    ok(d, &["import", "products.csv", "--kind", "products"]);
    for who in ["ann", "bob", "cat"] {
        json(
            d,
            &[
                "contacts",
                "create",
                &format!("given_name={who}"),
                "family_name=Buyer",
                &format!("email={who}@example.org"),
            ],
        );
    }
    let placed = (crm::chrono::Utc::now() - crm::chrono::Duration::days(3)).to_rfc3339();
    // Tea and a teapot together three times; Cat only ever bought tea.
    let mut csv = String::from("number,contact,sku,quantity,currency,placed_at\n");
    for (number, who, skus) in [
        ("SO-1", "ann", &["TEA", "POT"][..]),
        ("SO-2", "bob", &["TEA", "POT"]),
        ("SO-3", "ann", &["POT", "TEA"]),
        ("SO-4", "cat", &["TEA"]),
    ] {
        for sku in skus {
            csv.push_str(&format!("{number},{who}@example.org,{sku},1,EUR,{placed}\n"));
        }
    }
    std::fs::write(d.join("orders.csv"), csv).unwrap();
    ok(d, &["import", "orders.csv", "--kind", "orders"]);

    let text = ok(d, &["reports", "cross-sell"]);
    assert!(text.contains("4 orders with 2 products, 2 rules"), "{text}");
    // Every teapot came with tea; three of the four tea orders had a teapot.
    assert!(text.contains("Teapot → Tea: confidence 1, lift 1, 3 orders"), "{text}");
    assert!(text.contains("Tea → Teapot: confidence 0.75, lift 1, 3 orders"), "{text}");
    let r = json(d, &["reports", "cross-sell", "--min-confidence", "0.8"]);
    assert_eq!(r["rules"].as_array().map(Vec::len), Some(1), "{r}");
    let text = ok(d, &["reports", "recommend"]);
    assert!(text.contains("recommendations for 1 customers") && text.contains("cat Buyer:"), "{text}");
    assert!(text.contains("Teapot (0.75, after Tea): 75 % of the orders"), "{text}");
    let r = json(d, &["reports", "recommend", "--min-orders", "4"]);
    assert_eq!(r.as_array().map(Vec::len), Some(0), "{r}");
    let err = fails(d, &["reports", "recommend", "--per-customer", "0"], 1);
    assert!(err.contains("per_customer"), "{err}");
}

#[test]
fn lead_scores_rank_open_deals() {
    let dir = initialised();
    let d = dir.path();
    json(d, &["deals", "create", "name=Fleet", "amount=1000", "currency=EUR", "lead_source=referral"]);
    json(d, &["deals", "create", "name=Vans", "amount=400", "currency=EUR", "lead_source=partner"]);
    // Nothing closed yet: no evidence, every open deal at its pipeline's even prior.
    let text = ok(d, &["reports", "lead-score", "--field", "lead_source"]);
    assert!(text.contains("lead scores from 0 won and 0 lost deals") && text.contains("by lead_source"), "{text}");
    assert!(text.contains("(not tested") && text.contains("50 % Fleet") && text.contains("50 % Vans"), "{text}");
    let r = json(d, &["reports", "lead-score", "--top", "1", "--holdout-percent", "0"]);
    assert_eq!(r["open"].as_array().map(Vec::len), Some(1), "{r}");
    assert_eq!(r["model"]["fields"].as_array().map(Vec::len), Some(3), "{r}");
    assert!(r["calibration"].is_null(), "{r}");
    let err = fails(d, &["reports", "lead-score", "--field", "tags"], 1);
    assert!(err.contains("fields[0]"), "{err}");
    let err = fails(d, &["reports", "lead-score", "--holdout-percent", "70"], 1);
    assert!(err.contains("holdout_percent"), "{err}");
}

#[test]
fn response_propensity_without_past_campaigns_says_so() {
    let dir = initialised();
    let d = dir.path();
    json(d, &["contacts", "create", "given_name=Ada", "family_name=Lovelace", "lifecycle_stage=customer"]);
    let text = ok(d, &["reports", "propensity", "--field", "lifecycle_stage"]);
    assert!(text.contains("from 0 memberships") && text.contains("no contact was a member"), "{text}");
    assert!(text.contains("50.0 % Ada Lovelace"), "{text}");
    let r = json(d, &["reports", "propensity", "--response", "clicked", "--top", "1"]);
    assert_eq!(r["targets"].as_array().map(Vec::len), Some(1), "{r}");
    let err = fails(d, &["reports", "propensity", "--response", "maybe"], 2);
    assert!(err.contains("maybe"), "{err}");
    // No order yet: nothing to credit, and it says so.
    let text = ok(d, &["reports", "attribution", "--touch", "clicked"]);
    assert!(text.contains("no order with a contact was placed"), "{text}");
    let err = fails(d, &["reports", "attribution", "--lookback-days", "0"], 1);
    assert!(err.contains("lookback_days"), "{err}");
}
