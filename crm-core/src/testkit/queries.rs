//! Queries: filters on every kind of field, multi-key sorts, pagination, counts.

use super::*;

fn people(t: TenantId) -> Vec<Contact> {
    use LifecycleStage as L;
    type Row<'a> = (&'a str, &'a str, L, &'a [&'a str], Option<(i32, u32, u32)>, i64);
    let rows: [Row; 8] = [
        ("Ada", "Lovelace", L::Customer, &["vip", "math"], Some((1815, 12, 10)), 10),
        ("Alan", "Turing", L::Lead, &["math"], Some((1912, 6, 23)), 20),
        ("Grace", "Hopper", L::Opportunity, &["VIP"], Some((1906, 12, 9)), 30),
        ("anna", "lopez", L::Lead, &[], None, 40),
        ("Dan", "Brown", L::Subscriber, &["author"], Some((1964, 6, 22)), 50),
        ("Édith", "Piaf", L::Evangelist, &["music", "vip"], Some((1915, 12, 19)), 60),
        ("Zoe", "O'Brien", L::Lead, &["it's; DROP TABLE"], None, 70),
        ("Bob", "Lovelace", L::Customer, &[], Some((1990, 1, 1)), 80),
    ];
    rows.iter()
        .map(|(g, f, stage, tags, bday, secs)| {
            let mut c = contact(t, g, f);
            c.lifecycle_stage = *stage;
            c.tags = tags.iter().map(|s| s.to_string()).collect();
            c.birthday = bday.map(|(y, m, d)| date(y, m, d));
            c.created_at = at(*secs);
            c.updated_at = at(*secs);
            c
        })
        .collect()
}

async fn seed_people(store: &Arc<dyn Store>) -> (TenantId, Vec<Contact>) {
    let t = tenant();
    let ps = people(t);
    put_all(store, t, ps.iter().cloned().map(Entity::into_record).collect()).await;
    (t, ps)
}

/// Every operator on standard fields, with the null and case rules of [`crate::query`].
pub async fn filters_on_standard_fields(store: Arc<dyn Store>) {
    let (t, _) = seed_people(&store).await;
    use LifecycleStage as L;
    let cases: Vec<(Filter, &[&str])> = vec![
        (Filter::eq("given_name", "Ada"), &["Ada"]),
        (Filter::eq("given_name", "ada"), &[]),
        (Filter::eq("lifecycle_stage", L::Lead), &["Alan", "anna", "Zoe"]),
        (Filter::ne("lifecycle_stage", L::Lead), &["Ada", "Grace", "Dan", "Édith", "Bob"]),
        (Filter::is_in("lifecycle_stage", [L::Customer, L::Evangelist]), &["Ada", "Édith", "Bob"]),
        (Filter::lt("birthday", date(1912, 6, 23)), &["Ada", "Grace"]),
        (Filter::lte("birthday", date(1912, 6, 23)), &["Ada", "Alan", "Grace"]),
        (Filter::gt("birthday", date(1912, 6, 23)), &["Dan", "Édith", "Bob"]),
        (Filter::gte("created_at", at(70)), &["Zoe", "Bob"]),
        (Filter::lt("created_at", at(20)), &["Ada"]),
        (Filter::ne("birthday", date(1990, 1, 1)), &["Ada", "Alan", "Grace", "anna", "Dan", "Édith", "Zoe"]),
        (Filter::eq("birthday", date(1990, 1, 1)).not(), &["Ada", "Alan", "Grace", "anna", "Dan", "Édith", "Zoe"]),
        (Filter::is_null("birthday"), &["anna", "Zoe"]),
        (Filter::contains("given_name", "AN"), &["Alan", "anna", "Dan"]),
        (Filter::contains("family_name", "'b"), &["Zoe"]),
        (Filter::contains("family_name", "%"), &[]),
        (Filter::contains("family_name", "_"), &[]),
        (Filter::starts_with("family_name", "LO"), &["Ada", "anna", "Bob"]),
        (Filter::starts_with("given_name", "É"), &["Édith"]),
        (Filter::eq("family_name", "Lovelace").and(Filter::eq("lifecycle_stage", L::Customer)), &["Ada", "Bob"]),
        (Filter::eq("given_name", "Dan").or(Filter::eq("given_name", "Zoe")), &["Dan", "Zoe"]),
        (
            Filter::eq("family_name", "Lovelace").or(Filter::is_null("birthday")).and(Filter::ne("given_name", "Bob")),
            &["Ada", "anna", "Zoe"],
        ),
        (Filter::Not(Box::new(Filter::All)), &[]),
        (Filter::Or(vec![]), &[]),
        (Filter::And(vec![]), &["Ada", "Alan", "Grace", "anna", "Dan", "Édith", "Zoe", "Bob"]),
        (
            Filter::gte("version", 1).and(Filter::lt("version", 2)),
            &["Ada", "Alan", "Grace", "anna", "Dan", "Édith", "Zoe", "Bob"],
        ),
    ];
    assert_filters(&store, t, EntityKind::Contact, cases, 3).await;
}

/// Every operator on custom fields of every type.
pub async fn filters_on_custom_fields(store: Arc<dyn Store>) {
    let t = tenant();
    let mut ps = people(t);
    type Vals<'a> = (Option<i64>, Option<&'a str>, Option<bool>, Option<(i32, u32, u32)>, &'a [&'a str], Option<i64>);
    let vals: [Vals; 8] = [
        (Some(5), Some("web"), Some(true), Some((2026, 1, 5)), &["golf"], Some(1050)),
        (Some(50), Some("Web form"), Some(false), Some((2026, 2, 1)), &["golf", "tennis"], Some(-1)),
        (Some(500), Some("referral"), None, None, &[], Some(99_999)),
        (None, None, None, None, &[], None),
        (Some(-7), Some("event"), Some(true), Some((2025, 12, 31)), &["chess"], Some(0)),
        (Some(50), Some("WEB"), Some(false), Some((2026, 1, 5)), &["tennis"], Some(1051)),
        (Some(0), Some("it's; DROP"), None, None, &[], None),
        (Some(1_000_000_000_000), Some(""), Some(true), Some((2030, 1, 1)), &["golf"], Some(2)),
    ];
    for (c, (n, s, b, d, multi, cents)) in ps.iter_mut().zip(vals.iter()) {
        let cf = &mut c.custom;
        if let Some(n) = n {
            cf.insert("visits".into(), Value::Int(*n));
        }
        if let Some(s) = s {
            cf.insert("source".into(), Value::Text(s.to_string()));
        }
        if let Some(b) = b {
            cf.insert("vip".into(), Value::Bool(*b));
        }
        if let Some((y, m, dd)) = d {
            cf.insert("since".into(), Value::Date(date(*y, *m, *dd)));
        }
        if !multi.is_empty() {
            cf.insert("sports".into(), Value::List(multi.iter().map(|x| Value::Text(x.to_string())).collect()));
        }
        if let Some(cents) = cents {
            cf.insert("budget".into(), Value::Decimal(Decimal::new(*cents, 2)));
        }
    }
    put_all(&store, t, ps.iter().cloned().map(Entity::into_record).collect()).await;
    let cases: Vec<(Filter, &[&str])> = vec![
        (Filter::eq("custom.visits", 50), &["Alan", "Édith"]),
        (Filter::ne("custom.visits", 50), &["Ada", "Grace", "anna", "Dan", "Zoe", "Bob"]),
        (Filter::gt("custom.visits", 5), &["Alan", "Grace", "Édith", "Bob"]),
        (Filter::lte("custom.visits", 0), &["Dan", "Zoe"]),
        (Filter::is_in("custom.visits", [5, 500]), &["Ada", "Grace"]),
        (Filter::is_null("custom.visits"), &["anna"]),
        (Filter::eq("custom.source", "web"), &["Ada"]),
        (Filter::starts_with("custom.source", "web"), &["Ada", "Alan", "Édith"]),
        (Filter::contains("custom.source", "'s;"), &["Zoe"]),
        (Filter::eq("custom.source", ""), &["Bob"]),
        (Filter::eq("custom.vip", true), &["Ada", "Dan", "Bob"]),
        (Filter::eq("custom.vip", false).not(), &["Ada", "Grace", "anna", "Dan", "Zoe", "Bob"]),
        (Filter::gte("custom.since", date(2026, 1, 5)), &["Ada", "Alan", "Édith", "Bob"]),
        (Filter::lt("custom.since", date(2026, 1, 5)), &["Dan"]),
        (Filter::contains("custom.sports", "golf"), &["Ada", "Alan", "Bob"]),
        (Filter::is_in("custom.sports", ["chess", "tennis"]), &["Alan", "Dan", "Édith"]),
        (Filter::is_null("custom.sports"), &["Grace", "anna", "Zoe"]),
        (Filter::gt("custom.budget", Decimal::new(1050, 2)), &["Grace", "Édith"]),
        (Filter::gte("custom.budget", 0), &["Ada", "Grace", "Dan", "Édith", "Bob"]),
        (Filter::lt("custom.budget", 0), &["Alan"]),
        (Filter::eq("custom.budget", Decimal::new(2, 2)), &["Bob"]),
        (Filter::is_null("custom.nope"), &["Ada", "Alan", "Grace", "anna", "Dan", "Édith", "Zoe", "Bob"]),
        (Filter::eq("custom.visits", 50).and(Filter::eq("custom.vip", false)), &["Alan", "Édith"]),
    ];
    assert_filters(&store, t, EntityKind::Contact, cases, 3).await;
}

/// Filters on list fields (tags), id fields and decimal amounts of deals.
pub async fn filters_on_lists_ids_and_money(store: Arc<dyn Store>) {
    let (t, ps) = seed_people(&store).await;
    let cases: Vec<(Filter, &[&str])> = vec![
        (Filter::contains("tags", "vip"), &["Ada", "Grace", "Édith"]),
        (Filter::contains("tags", "it's; DROP TABLE"), &["Zoe"]),
        (Filter::is_in("tags", ["math", "music"]), &["Ada", "Alan", "Édith"]),
        (Filter::is_null("tags"), &["anna", "Bob"]),
        (Filter::contains("tags", "vip").not(), &["Alan", "anna", "Dan", "Zoe", "Bob"]),
        (Filter::eq("id", ps[3].id.as_uuid()), &["anna"]),
        (Filter::is_in("id", [ps[0].id.as_uuid(), ps[7].id.as_uuid()]), &["Ada", "Bob"]),
    ];
    assert_filters(&store, t, EntityKind::Contact, cases, 3).await;
    let p = pipeline(t);
    let eur = |c: i64| Some(Money::new(Decimal::new(c, 2), Currency::EUR));
    let mut deals = [
        deal(t, &p, "small", eur(9_999)),
        deal(t, &p, "medium", eur(100_000)),
        deal(t, &p, "large", Some(Money::new(Decimal::new(1_000_000, 0), Currency::USD))),
        deal(t, &p, "unpriced", None),
    ];
    deals[0].contact_ids = vec![ps[0].id, ps[1].id];
    deals[1].contact_ids = vec![ps[1].id];
    deals[2].status = DealStatus::Won;
    let mut recs = vec![p.clone().into_record()];
    recs.extend(deals.iter().cloned().map(Entity::into_record));
    put_all(&store, t, recs).await;
    let cases: Vec<(Filter, &[&str])> = vec![
        (Filter::gt("amount", Decimal::new(9999, 2)), &["medium", "large"]),
        (Filter::gte("amount", Decimal::new(9999, 2)), &["small", "medium", "large"]),
        (Filter::is_null("amount"), &["unpriced"]),
        (Filter::eq("currency", "USD"), &["large"]),
        (Filter::eq("status", DealStatus::Open), &["small", "medium", "unpriced"]),
        (Filter::contains("contact_ids", ps[1].id.as_uuid()), &["small", "medium"]),
        (Filter::contains("contact_ids", ps[0].id.as_uuid()), &["small"]),
        (Filter::is_null("contact_ids"), &["large", "unpriced"]),
        (Filter::eq("pipeline_id", p.id.as_uuid()), &["small", "medium", "large", "unpriced"]),
        (Filter::eq("stage_id", p.stages[1].id.as_uuid()), &[]),
    ];
    assert_filters(&store, t, EntityKind::Deal, cases, 2).await;
}

/// Multi-key sorts in both directions, on standard and custom fields, nulls first ascending.
pub async fn sorting_is_multi_key_with_nulls_first(store: Arc<dyn Store>) {
    let t = tenant();
    let mut ps = people(t);
    for (i, c) in ps.iter_mut().enumerate() {
        if i % 3 != 0 {
            c.custom.insert("rank".into(), Value::Int((i % 2) as i64));
        }
    }
    put_all(&store, t, ps.iter().cloned().map(Entity::into_record).collect()).await;
    let order = |rs: Vec<Record>| -> Vec<String> {
        rs.into_iter().filter_map(|r| Contact::from_record(r).map(|c| c.given_name)).collect()
    };
    let q = Query::default().sort_asc("family_name").sort_desc("given_name");
    let got = order(select(&store, t, EntityKind::Contact, q.limit(3)).await);
    assert_eq!(got, ["Dan", "Grace", "Bob", "Ada", "Zoe", "Édith", "Alan", "anna"]);
    let q = Query::default().sort_desc("birthday").sort_asc("given_name");
    let got = order(select(&store, t, EntityKind::Contact, q.limit(2)).await);
    assert_eq!(got, ["Bob", "Dan", "Édith", "Alan", "Grace", "Ada", "Zoe", "anna"], "nulls last descending");
    let q = Query::default().sort_asc("birthday").sort_desc("created_at");
    let got = order(select(&store, t, EntityKind::Contact, q.limit(5)).await);
    assert_eq!(got, ["Zoe", "anna", "Ada", "Grace", "Alan", "Édith", "Dan", "Bob"], "nulls first ascending");
    let q = Query::default().sort_asc("custom.rank").sort_asc("created_at");
    let got = order(select(&store, t, EntityKind::Contact, q.limit(4)).await);
    // rank: i%3==0 → null (Ada 0, anna 3, Zoe 6); else i%2: Alan 1, Grace 0, Dan 0, Édith 1, Bob 1.
    assert_eq!(got, ["Ada", "anna", "Zoe", "Grace", "Dan", "Alan", "Édith", "Bob"]);
    let q = Query::default().sort_asc("lifecycle_stage");
    let got = order(select(&store, t, EntityKind::Contact, q.limit(8)).await);
    let mut sorted: Vec<(String, Uuid, String)> =
        ps.iter().map(|c| (c.lifecycle_stage.as_str().to_owned(), c.id.as_uuid(), c.given_name.clone())).collect();
    sorted.sort();
    assert_eq!(got, sorted.into_iter().map(|x| x.2).collect::<Vec<_>>(), "ties broken by id");
}

/// Walking pages while other records are inserted: every record present at the start is seen
/// exactly once, and no record is seen twice.
pub async fn pagination_has_no_gaps_or_duplicates_under_inserts(store: Arc<dyn Store>) {
    let t = tenant();
    let originals: Vec<Contact> = (0..40)
        .map(|i| {
            let mut c = contact(t, &format!("orig-{i:02}"), "");
            c.custom.insert("bucket".into(), Value::Int(i % 5));
            c.updated_at = at(i % 7);
            c
        })
        .collect();
    put_all(&store, t, originals.iter().cloned().map(Entity::into_record).collect()).await;
    for q in [
        Query::default().sort_asc("custom.bucket").limit(6),
        Query::default().sort_desc("updated_at").sort_asc("custom.bucket").limit(7),
        Query::default().limit(9),
    ] {
        let mut q = q;
        let mut seen: Vec<ContactId> = Vec::new();
        let mut round = 0;
        loop {
            let mut tx = store.begin(t, TxMode::ReadOnly).await.expect("begin");
            let page = tx.query(EntityKind::Contact, &q).await.expect("query");
            drop(tx);
            seen.extend(page.items.iter().map(|r| ContactId::from_uuid(r.id())));
            // Between pages, other writers insert records that sort before, among and after.
            let mut extra = contact(t, &format!("extra-{round}"), "");
            extra.custom.insert("bucket".into(), Value::Int(round % 6 - 1));
            extra.updated_at = at(round % 9);
            put_all(&store, t, vec![extra.into_record()]).await;
            round += 1;
            match page.next {
                Some(c) => q.after = Some(c),
                None => break,
            }
        }
        let unique: BTreeSet<ContactId> = seen.iter().copied().collect();
        assert_eq!(unique.len(), seen.len(), "a record was returned twice for {q:?}");
        for o in &originals {
            assert!(unique.contains(&o.id), "record {} was skipped for {q:?}", o.given_name);
        }
    }
}

/// `count` equals the number of records a query returns, for several filters.
pub async fn count_agrees_with_query(store: Arc<dyn Store>) {
    let (t, _) = seed_people(&store).await;
    for f in [
        Filter::All,
        Filter::eq("lifecycle_stage", LifecycleStage::Lead),
        Filter::contains("tags", "vip").or(Filter::is_null("birthday")),
        Filter::eq("given_name", "nobody"),
    ] {
        let n = select(&store, t, EntityKind::Contact, Query::new(f.clone()).limit(2)).await.len() as u64;
        let mut tx = store.begin(t, TxMode::ReadOnly).await.expect("begin");
        assert_eq!(tx.count(EntityKind::Contact, &f).await.expect("count"), n, "count of {f:?}");
    }
    let mut tx = store.begin(t, TxMode::ReadOnly).await.expect("begin");
    assert_eq!(tx.count(EntityKind::Company, &Filter::All).await.expect("count"), 0);
}

/// Filters and sorts on the commerce and service kinds: status text, `total` (decimal, across
/// scales) and `due_date` (date) ranges, the derived `balance_due` and `unapplied`, `is_null`
/// on `paid_on`, `contains`/`in` on id lists (`product_ids`, `invoice_ids`) and text lists
/// (`external_refs`, `responses`), `in` on `priority`, sorting by `sla_due_at` or `total` with
/// the id breaking ties — all through pages of 3, with `count` agreeing.
pub async fn filters_on_commerce_fields(store: Arc<dyn Store>) {
    let s = &store;
    let t = tenant();
    let buyer = contact(t, "Buyer", "");
    let (pa, pb, pc) = (product(t, "P-A"), product(t, "P-B"), product(t, "P-C"));
    let refs = |items: &[&str]| -> Vec<ExternalRef> {
        items
            .iter()
            .map(|r| {
                let (system, id) = r.split_once(':').expect("system:id");
                ExternalRef::new(system, id)
            })
            .collect()
    };
    let mut recs: Vec<Record> = records![buyer, pa, pb, pc];

    // Orders.
    let custom_line = LineItem::new("Custom work", Decimal::ONE, Money::new(Decimal::ONE, Currency::EUR));
    type OrderRow<'a> = (&'a str, OrderStatus, Vec<&'a Product>, bool, Decimal, &'a [&'a str]);
    let rows: Vec<OrderRow> = vec![
        ("SO-1", OrderStatus::Placed, vec![&pa], false, Decimal::new(999, 2), &["shop:A-1"]),
        ("SO-2", OrderStatus::Paid, vec![&pa, &pb], false, Decimal::new(1050, 2), &["shop:A-2", "xero:X-2"]),
        ("SO-3", OrderStatus::Paid, vec![&pc], false, Decimal::new(10_000, 2), &[]),
        ("SO-4", OrderStatus::Cancelled, vec![], true, Decimal::new(25, 1), &[]),
        ("SO-5", OrderStatus::Draft, vec![&pb, &pb], false, Decimal::new(100_000, 2), &["XERO:x-5"]),
        ("SO-6", OrderStatus::Fulfilled, vec![&pa], true, Decimal::new(105, 1), &[]),
    ];
    let orders: Vec<Order> = rows
        .iter()
        .map(|(number, status, products, custom, total, ext)| {
            let mut o = order(t, buyer.id, number);
            o.status = *status;
            o.lines = products.iter().map(|p| LineItem::for_product(p, Decimal::ONE)).collect();
            if *custom {
                o.lines.push(custom_line.clone());
            }
            o.total = Money::new(*total, Currency::EUR);
            o.external_refs = refs(ext);
            o
        })
        .collect();
    recs.extend(orders.iter().cloned().map(Entity::into_record));

    // Invoices.
    type InvoiceRow<'a> = (&'a str, InvoiceStatus, i64, i64, NaiveDateArgs, Option<NaiveDateArgs>, &'a [&'a str]);
    type NaiveDateArgs = (i32, u32, u32);
    use InvoiceStatus as IS;
    let rows: Vec<InvoiceRow> = vec![
        ("INV-1", IS::Sent, 10_000, 0, (2026, 2, 1), None, &["qb:1"]),
        ("INV-2", IS::PartiallyPaid, 25_000, 10_000, (2026, 2, 15), None, &[]),
        ("INV-3", IS::Paid, 8_000, 8_000, (2026, 1, 31), Some((2026, 1, 20)), &["qb:3", "xero:3"]),
        ("INV-4", IS::Overdue, 1_050, 0, (2025, 12, 31), None, &[]),
        ("INV-5", IS::Void, 30_000, 0, (2026, 3, 1), None, &[]),
        ("INV-6", IS::Paid, 4_200, 4_200, (2026, 2, 1), Some((2026, 2, 3)), &[]),
    ];
    let invoices: Vec<Invoice> = rows
        .iter()
        .map(|(number, status, total, paid, due, paid_on, ext)| {
            let mut i = invoice(t, buyer.id, number, *total);
            i.status = *status;
            i.total = Money::new(Decimal::new(*total, 2), Currency::EUR);
            i.amount_paid = Money::new(Decimal::new(*paid, 2), Currency::EUR);
            i.due_date = date(due.0, due.1, due.2);
            i.paid_on = paid_on.map(|(y, m, d)| date(y, m, d));
            i.external_refs = refs(ext);
            i
        })
        .collect();
    recs.extend(invoices.iter().cloned().map(Entity::into_record));
    let inv = |n: usize| invoices[n - 1].id;

    // Payments.
    type PaymentRow<'a> = (&'a str, i64, Vec<(InvoiceId, i64)>, &'a [&'a str]);
    let rows: Vec<PaymentRow> = vec![
        ("PAY-1", 10_000, vec![(inv(2), 10_000)], &[]),
        ("PAY-2", 8_000, vec![(inv(3), 8_000)], &["stripe:ch_2"]),
        ("PAY-3", 5_000, vec![(inv(6), 4_200)], &["stripe:ch_3", "bank:77"]),
        ("PAY-4", 2_050, vec![], &[]),
        ("PAY-5", 20_000, vec![(inv(2), 5_000), (inv(1), 10_000)], &[]),
    ];
    let payments: Vec<Payment> = rows
        .iter()
        .map(|(reference, amount, apps, ext)| {
            let mut p = payment(t, buyer.id, *amount);
            p.reference = Some(reference.to_string());
            p.applications = apps
                .iter()
                .map(|(invoice_id, cents)| PaymentApplication {
                    invoice_id: *invoice_id,
                    amount: Money::new(Decimal::new(*cents, 2), Currency::EUR),
                })
                .collect();
            p.external_refs = refs(ext);
            p
        })
        .collect();
    recs.extend(payments.iter().cloned().map(Entity::into_record));

    // Cases.
    let rows = [
        ("C1", Priority::Low, CaseStatus::Open, 5_000),
        ("C2", Priority::Urgent, CaseStatus::New, 1_000),
        ("C3", Priority::High, CaseStatus::Resolved, 3_000),
        ("C4", Priority::Normal, CaseStatus::PendingCustomer, 3_000),
        ("C5", Priority::Urgent, CaseStatus::Closed, 1_000),
        ("C6", Priority::High, CaseStatus::Open, 2_000),
        ("C7", Priority::Normal, CaseStatus::Open, 3_000),
    ];
    let cases: Vec<Case> = rows
        .iter()
        .map(|(subject, priority, status, due)| {
            let mut c = case(t, buyer.id, subject);
            c.priority = *priority;
            c.status = *status;
            c.sla_due_at = at(*due);
            c
        })
        .collect();
    recs.extend(cases.iter().cloned().map(Entity::into_record));

    // Campaign members.
    let (ca, cb) = (campaign(t, "A", None), campaign(t, "B", None));
    let people: Vec<Contact> = ["Ann", "Ben", "Cid", "Dee"].iter().map(|n| contact(t, n, "")).collect();
    use ResponseKind as R;
    type MemberRow<'a> = (&'a Campaign, usize, Vec<(ResponseKind, i64)>);
    let rows: Vec<MemberRow> = vec![
        (&ca, 0, vec![(R::Sent, 10), (R::Delivered, 11), (R::Opened, 12)]),
        (&ca, 1, vec![(R::Sent, 10), (R::Bounced, 11)]),
        (&ca, 2, vec![(R::Sent, 10), (R::Delivered, 11), (R::Opened, 12), (R::Clicked, 13), (R::Converted, 900)]),
        (&cb, 0, vec![]),
        (&cb, 3, vec![(R::Sent, 10), (R::Delivered, 11), (R::Converted, 400), (R::Unsubscribed, 500)]),
    ];
    let mut member_names: HashMap<Uuid, String> = HashMap::new();
    let members: Vec<CampaignMember> = rows
        .iter()
        .map(|(camp, who, responses)| {
            let mut m = campaign_member(t, camp.id, people[*who].id);
            m.responses =
                responses.iter().map(|(kind, secs)| CampaignResponse { kind: *kind, at: at(*secs) }).collect();
            member_names.insert(m.id.as_uuid(), format!("{}/{}", camp.name, people[*who].given_name));
            m
        })
        .collect();
    recs.extend([ca.clone().into_record(), cb.clone().into_record()]);
    recs.extend(people.iter().cloned().map(Entity::into_record));
    recs.extend(members.iter().cloned().map(Entity::into_record));
    put_all(s, t, recs).await;

    let d = |cents: i64, scale: u32| Decimal::new(cents, scale);
    let filters: Vec<(Filter, &[&str])> = vec![
        (Filter::eq("status", "paid"), &["SO-2", "SO-3"]),
        (Filter::eq("status", OrderStatus::Cancelled), &["SO-4"]),
        (Filter::ne("status", OrderStatus::Paid), &["SO-1", "SO-4", "SO-5", "SO-6"]),
        (Filter::gt("total", 10), &["SO-2", "SO-3", "SO-5", "SO-6"]),
        (Filter::gte("total", d(1050, 2)), &["SO-2", "SO-3", "SO-5", "SO-6"]),
        (Filter::eq("total", d(105, 1)), &["SO-2", "SO-6"]),
        (Filter::eq("total", d(10_500, 3)), &["SO-2", "SO-6"]),
        (Filter::lt("total", d(1000, 2)), &["SO-1", "SO-4"]),
        (Filter::gte("total", d(999, 2)).and(Filter::lte("total", 100)), &["SO-1", "SO-2", "SO-3", "SO-6"]),
        (Filter::gt("total", d(25, 1)).and(Filter::lt("total", d(10, 0))), &["SO-1"]),
        (Filter::is_in("total", [d(25, 1), d(100_000, 2)]), &["SO-4", "SO-5"]),
        (Filter::contains("product_ids", pa.id.as_uuid()), &["SO-1", "SO-2", "SO-6"]),
        (Filter::contains("product_ids", pb.id.as_uuid()), &["SO-2", "SO-5"]),
        (Filter::is_in("product_ids", [pb.id.as_uuid(), pc.id.as_uuid()]), &["SO-2", "SO-3", "SO-5"]),
        (Filter::is_null("product_ids"), &["SO-4"]),
        (Filter::contains("product_ids", pc.id.as_uuid()).not(), &["SO-1", "SO-2", "SO-4", "SO-5", "SO-6"]),
        (Filter::contains("external_refs", "xero:x-2"), &["SO-2"]),
        (Filter::contains("external_refs", "xero:X-5"), &["SO-5"]),
        (Filter::contains("external_refs", "shop:A"), &[]),
        (Filter::is_in("external_refs", ["shop:A-1", "XERO:x-5"]), &["SO-1", "SO-5"]),
        (Filter::is_null("external_refs"), &["SO-3", "SO-4", "SO-6"]),
        (
            Filter::eq("status", "paid")
                .and(Filter::contains("product_ids", pa.id.as_uuid()))
                .or(Filter::is_null("product_ids")),
            &["SO-2", "SO-4"],
        ),
    ];
    assert_filters(s, t, EntityKind::Order, filters, 3).await;
    let mut want: Vec<&Order> = orders.iter().collect();
    want.sort_by(|a, b| b.total.amount.cmp(&a.total.amount).then(a.id.cmp(&b.id)));
    let want = want.iter().map(|o| o.number.clone()).collect();
    assert_order(s, t, EntityKind::Order, &name, Query::default().sort_desc("total").limit(3), want).await;
    let mut want: Vec<&Order> = orders.iter().collect();
    want.sort_by(|a, b| {
        a.status.as_str().cmp(b.status.as_str()).then(a.total.amount.cmp(&b.total.amount)).then(a.id.cmp(&b.id))
    });
    let want = want.iter().map(|o| o.number.clone()).collect();
    let q = Query::default().sort_asc("status").sort_asc("total").limit(3);
    assert_order(s, t, EntityKind::Order, &name, q, want).await;

    let filters: Vec<(Filter, &[&str])> = vec![
        (Filter::eq("status", "paid"), &["INV-3", "INV-6"]),
        (Filter::is_in("status", [IS::Sent, IS::Overdue]), &["INV-1", "INV-4"]),
        (Filter::gt("balance_due", 0), &["INV-1", "INV-2", "INV-4"]),
        (Filter::eq("balance_due", 0), &["INV-3", "INV-5", "INV-6"]),
        (Filter::gte("balance_due", d(105, 1)).and(Filter::lt("balance_due", 150)), &["INV-1", "INV-4"]),
        (Filter::lte("balance_due", d(1050, 2)), &["INV-3", "INV-4", "INV-5", "INV-6"]),
        (Filter::gt("total", 100), &["INV-2", "INV-5"]),
        (Filter::lte("total", 80), &["INV-3", "INV-4", "INV-6"]),
        (Filter::gte("amount_paid", d(4200, 2)), &["INV-2", "INV-3", "INV-6"]),
        (Filter::is_null("paid_on"), &["INV-1", "INV-2", "INV-4", "INV-5"]),
        (Filter::is_null("paid_on").not(), &["INV-3", "INV-6"]),
        (Filter::gte("paid_on", date(2026, 2, 1)), &["INV-6"]),
        (Filter::lt("paid_on", date(2026, 2, 1)), &["INV-3"]),
        (Filter::lt("due_date", date(2026, 2, 1)), &["INV-3", "INV-4"]),
        (Filter::lte("due_date", date(2026, 2, 1)), &["INV-1", "INV-3", "INV-4", "INV-6"]),
        (
            Filter::gte("due_date", date(2026, 2, 1)).and(Filter::lte("due_date", date(2026, 2, 28))),
            &["INV-1", "INV-2", "INV-6"],
        ),
        (Filter::eq("due_date", date(2026, 2, 1)), &["INV-1", "INV-6"]),
        (Filter::ne("due_date", date(2026, 2, 1)), &["INV-2", "INV-3", "INV-4", "INV-5"]),
        (Filter::lt("due_date", date(2026, 2, 2)).and(Filter::gt("balance_due", 0)), &["INV-1", "INV-4"]),
        (Filter::contains("external_refs", "QB:3"), &["INV-3"]),
        (Filter::contains("external_refs", "xero:3"), &["INV-3"]),
        (Filter::is_null("external_refs"), &["INV-2", "INV-4", "INV-5", "INV-6"]),
    ];
    assert_filters(s, t, EntityKind::Invoice, filters, 3).await;
    let mut want: Vec<&Invoice> = invoices.iter().collect();
    want.sort_by(|a, b| {
        a.due_date.cmp(&b.due_date).then(b.balance_due().amount.cmp(&a.balance_due().amount)).then(a.id.cmp(&b.id))
    });
    let want = want.iter().map(|i| i.number.clone()).collect();
    let q = Query::default().sort_asc("due_date").sort_desc("balance_due").limit(3);
    assert_order(s, t, EntityKind::Invoice, &name, q, want).await;

    let filters: Vec<(Filter, &[&str])> = vec![
        (Filter::contains("invoice_ids", inv(2).as_uuid()), &["PAY-1", "PAY-5"]),
        (Filter::contains("invoice_ids", inv(6).as_uuid()), &["PAY-3"]),
        (Filter::contains("invoice_ids", inv(5).as_uuid()), &[]),
        (Filter::is_in("invoice_ids", [inv(1).as_uuid(), inv(3).as_uuid()]), &["PAY-2", "PAY-5"]),
        (Filter::is_null("invoice_ids"), &["PAY-4"]),
        (Filter::gt("unapplied", 0), &["PAY-3", "PAY-4", "PAY-5"]),
        (Filter::eq("unapplied", d(205, 1)), &["PAY-4"]),
        (Filter::gte("amount", 80), &["PAY-1", "PAY-2", "PAY-5"]),
        (Filter::contains("external_refs", "STRIPE:CH_3"), &["PAY-3"]),
        (Filter::contains("external_refs", "bank:77"), &["PAY-3"]),
        (Filter::is_null("external_refs"), &["PAY-1", "PAY-4", "PAY-5"]),
    ];
    assert_filters(s, t, EntityKind::Payment, filters, 3).await;

    use CaseStatus as CS;
    let filters: Vec<(Filter, &[&str])> = vec![
        (Filter::is_in("priority", [Priority::High, Priority::Urgent]), &["C2", "C3", "C5", "C6"]),
        (Filter::is_in("priority", ["low"]), &["C1"]),
        (Filter::eq("priority", Priority::Normal), &["C4", "C7"]),
        (Filter::eq("status", "open"), &["C1", "C6", "C7"]),
        (
            Filter::is_in("status", [CS::New, CS::Open, CS::PendingCustomer]).and(Filter::lt("sla_due_at", at(3_000))),
            &["C2", "C6"],
        ),
        (Filter::lte("sla_due_at", at(3_000)), &["C2", "C3", "C4", "C5", "C6", "C7"]),
        (Filter::gt("sla_due_at", at(1_000)), &["C1", "C3", "C4", "C6", "C7"]),
        (Filter::eq("sla_due_at", at(3_000)), &["C3", "C4", "C7"]),
    ];
    assert_filters(s, t, EntityKind::Case, filters, 3).await;
    let subjects = |mut v: Vec<&Case>, cmp: &dyn Fn(&Case, &Case) -> std::cmp::Ordering| -> Vec<String> {
        v.sort_by(|a, b| cmp(a, b));
        v.iter().map(|c| c.subject.clone()).collect()
    };
    let by_due = subjects(cases.iter().collect(), &|a, b| a.sla_due_at.cmp(&b.sla_due_at).then(a.id.cmp(&b.id)));
    assert_order(s, t, EntityKind::Case, &name, Query::default().sort_asc("sla_due_at").limit(3), by_due.clone()).await;
    let q = Query::default().sort_asc("sla_due_at").sort_asc("id").limit(3);
    assert_order(s, t, EntityKind::Case, &name, q, by_due).await;
    let want = subjects(cases.iter().collect(), &|a, b| b.sla_due_at.cmp(&a.sla_due_at).then(a.id.cmp(&b.id)));
    assert_order(s, t, EntityKind::Case, &name, Query::default().sort_desc("sla_due_at").limit(3), want).await;
    let want = subjects(cases.iter().collect(), &|a, b| {
        a.priority.as_str().cmp(b.priority.as_str()).then(b.sla_due_at.cmp(&a.sla_due_at)).then(a.id.cmp(&b.id))
    });
    let q = Query::default().sort_asc("priority").sort_desc("sla_due_at").limit(3);
    assert_order(s, t, EntityKind::Case, &name, q, want).await;

    let label = |r: &Record| member_names.get(&r.id()).cloned().unwrap_or_else(|| r.id().to_string());
    let filters: Vec<(Filter, &[&str])> = vec![
        (Filter::contains("responses", "opened"), &["A/Ann", "A/Cid"]),
        (Filter::contains("responses", "CONVERTED"), &["A/Cid", "B/Dee"]),
        (Filter::is_in("responses", [R::Bounced, R::Unsubscribed]), &["A/Ben", "B/Dee"]),
        (Filter::is_null("responses"), &["B/Ann"]),
        (Filter::contains("responses", "sent").not(), &["B/Ann"]),
        (Filter::eq("campaign_id", cb.id.as_uuid()), &["B/Ann", "B/Dee"]),
        (Filter::eq("contact_id", people[0].id.as_uuid()), &["A/Ann", "B/Ann"]),
        (Filter::is_null("converted_at"), &["A/Ann", "A/Ben", "B/Ann"]),
        (Filter::lt("converted_at", at(500)), &["B/Dee"]),
        (
            Filter::eq("campaign_id", ca.id.as_uuid()).and(Filter::contains("responses", "delivered")),
            &["A/Ann", "A/Cid"],
        ),
    ];
    assert_filters_by(s, t, EntityKind::CampaignMember, &label, filters, 3).await;
    let mut want: Vec<&CampaignMember> = members.iter().collect();
    want.sort_by(|a, b| {
        let (x, y) = (a.responded(R::Converted), b.responded(R::Converted));
        // Descending: nulls last.
        y.is_some().cmp(&x.is_some()).then(y.cmp(&x)).then(a.id.cmp(&b.id))
    });
    let want = want.iter().map(|m| member_names[&m.id.as_uuid()].clone()).collect();
    let q = Query::default().sort_desc("converted_at").limit(3);
    assert_order(s, t, EntityKind::CampaignMember, &label, q, want).await;
}

/// For every kind, `count` equals the number of records a paged query returns and the ids
/// expected, for filters on id, version and creation time, in a tenant holding three records
/// of each kind (another tenant's records never counted); inside a writing transaction both
/// see its uncommitted inserts and deletes, which vanish with the rollback.
pub async fn count_and_query_agree_for_every_kind(store: Arc<dyn Store>) {
    let s = &store;
    let (t, u) = (tenant(), tenant());
    let sets: Vec<Vec<Record>> = (1..=3).map(|n| one_of_each_numbered(t, n)).collect();
    for set in &sets {
        put_all(s, t, set.clone()).await;
    }
    put_all(s, u, one_of_each_numbered(u, 1)).await;
    let ids_of = |records: &[Record], kind: EntityKind| -> Vec<Uuid> {
        records.iter().filter(|r| r.kind() == kind).map(Record::id).collect()
    };
    for kind in EntityKind::ALL.iter().copied() {
        let ids: Vec<Uuid> = sets.iter().flat_map(|set| ids_of(set, kind)).collect();
        assert_eq!(ids.len(), 3, "one {kind} per fixture set");
        let cases: Vec<(Filter, Vec<Uuid>)> = vec![
            (Filter::All, ids.clone()),
            (Filter::eq("id", ids[1]), vec![ids[1]]),
            (Filter::ne("id", ids[1]), vec![ids[0], ids[2]]),
            (Filter::is_in("id", [ids[0], ids[2], Uuid::now_v7()]), vec![ids[0], ids[2]]),
            (Filter::gte("version", 1), ids.clone()),
            (Filter::gt("version", 1), vec![]),
            (Filter::gte("created_at", at(0)).and(Filter::ne("id", ids[0])), vec![ids[1], ids[2]]),
            (Filter::Not(Box::new(Filter::All)), vec![]),
        ];
        for (f, want) in cases {
            let rows = select(s, t, kind, Query::new(f.clone()).limit(2)).await;
            let got: BTreeSet<Uuid> = rows.iter().map(Record::id).collect();
            assert_eq!(got.len(), rows.len(), "{kind}: a record came twice for {f:?}");
            assert_eq!(got, want.iter().copied().collect::<BTreeSet<_>>(), "{kind}: query {f:?}");
            let mut tx = s.begin(t, TxMode::ReadOnly).await.expect("begin");
            assert_eq!(tx.count(kind, &f).await.expect("count"), want.len() as u64, "{kind}: count {f:?}");
        }
        let mut tx = s.begin(u, TxMode::ReadOnly).await.expect("begin");
        assert_eq!(tx.count(kind, &Filter::All).await.expect("count"), 1, "{kind}: the other tenant's count");
    }

    let fourth = one_of_each_numbered(t, 4);
    let mut tx = begin(s, t).await;
    for r in &fourth {
        tx.insert(r.clone()).await.expect("insert");
    }
    for r in &sets[0] {
        tx.delete(r.kind(), r.id(), r.version()).await.expect("delete");
    }
    for kind in EntityKind::ALL.iter().copied() {
        let want: BTreeSet<Uuid> = sets[1..].iter().chain([&fourth]).flat_map(|set| ids_of(set, kind)).collect();
        let rows = select_in(&mut tx, kind, Query::default().limit(2)).await;
        assert_eq!(rows.iter().map(Record::id).collect::<BTreeSet<_>>(), want, "{kind}: query inside the transaction");
        assert_eq!(tx.count(kind, &Filter::All).await.expect("count"), 3, "{kind}: count inside the transaction");
        let gone = Filter::eq("id", ids_of(&sets[0], kind)[0]);
        assert_eq!(tx.count(kind, &gone).await.expect("count"), 0, "{kind}: a deleted record is not counted");
        let new = Filter::eq("id", ids_of(&fourth, kind)[0]);
        assert_eq!(tx.count(kind, &new).await.expect("count"), 1, "{kind}: an inserted record is counted");
    }
    drop(tx);
    for kind in EntityKind::ALL.iter().copied() {
        let mut tx = s.begin(t, TxMode::ReadOnly).await.expect("begin");
        assert_eq!(tx.count(kind, &Filter::All).await.expect("count"), 3, "{kind}: count after the rollback");
    }
}
