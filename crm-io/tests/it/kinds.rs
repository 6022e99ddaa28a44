//! Companies, deals, products, orders and activities from files: vendor exports imported in
//! the order a migration takes, relations found by name or by the vendor's ids, upserts, and
//! rows refused with the column and the reason.

use crm_core::error::FieldErrorCode;
use crm_core::model::{ActivityKind, OrderStatus};
use crm_core::prelude::*;
use crm_core::profile::{CompanySize, LeadSource};
use crm_core::query::{Filter, Query};
use crm_io::{
    ActivityImport, CompanyColumn, CompanyImport, ContactImport, DealImport, FileImportReport, IoError, MatchBy,
    OnMatch, OrderImport, Preset, ProductImport, Table,
};
use rust_decimal::Decimal;

use crate::common::*;

fn field_of(e: &Error) -> (String, FieldErrorCode) {
    let Error::Validation(v) = e else { panic!("not a validation error: {e:?}") };
    (v.0[0].field.clone(), v.0[0].code)
}

fn table(text: &str) -> Table<'_> {
    Table::csv(text.as_bytes()).unwrap()
}

#[tokio::test]
async fn a_hubspot_migration_links_contacts_and_deals_to_companies_by_the_vendors_ids() {
    let env = env().await;
    let cx = env.cx();
    let companies = "Record ID,Company name,Company Domain Name,Industry,Number of Employees,City,Country/Region\n\
                     9001,Analytical Engines,engines.example,Computing,40,London,GB\n\
                     9002,Difference Ltd,difference.example,Computing,2500,Cambridge,GB\n";
    let c = CompanyImport::new().preset(Preset::HubSpot).run(&cx, table(companies), |_| {}).await.unwrap();
    assert_eq!((c.imported.len(), c.rejected.len()), (2, 0), "{:?}", c.rejected);
    let engines = cx.companies().get(c.imported[0]).await.unwrap();
    assert_eq!(engines.domain.as_ref().map(|d| d.as_str()), Some("engines.example"));
    assert_eq!(engines.size, Some(CompanySize::Small));
    assert_eq!(engines.addresses[0].city.as_deref(), Some("London"));
    assert_eq!(cx.companies().get(c.imported[1]).await.unwrap().size, Some(CompanySize::Enterprise));

    let contacts = "Record ID,First Name,Last Name,Email,Job Title,Associated Company ID\n\
                    501,Ada,Lovelace,ada@engines.example,Analyst,9001\n\
                    502,Charles,Babbage,charles@difference.example,Founder,9002\n\
                    503,Nobody,Known,nobody@example.org,,9999\n";
    let p = ContactImport::new().preset(Preset::HubSpot).run(&cx, table(contacts), |_| {}).await.unwrap();
    assert_eq!(p.imported.len(), 2);
    let ada = cx.contacts().get(p.imported[0]).await.unwrap();
    assert_eq!((ada.company_id, ada.job_title.as_deref()), (Some(engines.id), Some("Analyst")));
    assert_eq!(
        (p.rejected[0].line, field_of(&p.rejected[0].error)),
        (4, ("Associated Company ID".into(), FieldErrorCode::NotFound))
    );
    assert!(p.companies_created.is_empty(), "a company named by another system's id is never created");

    let deals = "Deal Name,Amount,Currency,Close Date,Pipeline,Deal Stage,Associated Company IDs,Associated Contact\n\
                 Engine no. 1,\"12,000.00\",GBP,2027-03-31,Sales,Proposal,9001,ada@engines.example;Charles Babbage\n\
                 Engine no. 2,500,GBP,,Sales,Negotiation,9001,\n\
                 Engine no. 3,700,GBP,,,,9002,grace@example.org\n";
    let d = DealImport::new().preset(Preset::HubSpot).run(&cx, table(deals), |_| {}).await.unwrap();
    assert_eq!(d.imported.len(), 1, "{:?}", d.rejected);
    let deal = cx.deals().get(d.imported[0]).await.unwrap();
    let pipeline = cx.pipelines().get(deal.pipeline_id).await.unwrap();
    assert_eq!(pipeline.stage(deal.stage_id).map(|s| s.name.as_str()), Some("Proposal"));
    assert_eq!(deal.amount.map(|a| a.to_string()), Some("12000.00 GBP".into()));
    assert_eq!((deal.company_id, deal.contact_ids.len()), (Some(engines.id), 2));
    let (field, code) = field_of(&d.rejected[0].error);
    assert_eq!((field.as_str(), code), ("Deal Stage", FieldErrorCode::NotAnOption));
    assert!(d.rejected[0].error.to_string().contains("Qualification"), "the stages there are listed");
    assert_eq!(field_of(&d.rejected[1].error), ("Associated Contact".into(), FieldErrorCode::NotFound));
    assert_eq!(cx.deals().count(&Filter::All).await.unwrap(), 1);
}

#[tokio::test]
async fn a_company_named_by_a_row_is_created_once_and_not_when_the_row_is_refused_first() {
    let env = env().await;
    let cx = env.cx();
    let file = "Deal,Value,Currency,Company,Contact\n\
                One,100,EUR,Globex,\n\
                Two,200,EUR,globex,\n\
                Three,300,EUR,Initech,someone@nowhere.example\n";
    let report = DealImport::new().run(&cx, table(file), |_| {}).await.unwrap();
    assert_eq!(report.imported.len(), 2);
    assert_eq!(report.companies_created.len(), 1, "Globex once, whatever its case; Initech's row was refused first");
    let all = cx.companies().list(&Query::new(Filter::All).limit(10)).await.unwrap().items;
    assert_eq!(all.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["Globex"]);
    for id in &report.imported {
        assert_eq!(cx.deals().get(*id).await.unwrap().company_id, Some(all[0].id));
    }

    // Without creating companies, an unknown name refuses the row.
    let again = "Deal,Value,Currency,Company\nFour,1,EUR,Umbrella\n";
    let r = DealImport::new().create_companies(false).run(&cx, table(again), |_| {}).await.unwrap();
    assert_eq!(field_of(&r.rejected[0].error), ("Company".into(), FieldErrorCode::NotFound));

    // A name many others start with still finds its company, though it lists after them.
    let branches = (0..60).map(|i| NewCompany::new(format!("Hooli Branch {i:02}")));
    cx.companies().import(branches, &Default::default(), |_| {}).await.unwrap();
    let hooli = cx.companies().create(NewCompany::new("Hooli")).await.unwrap();
    let r = DealImport::new().run(&cx, table("Deal,Value,Currency,Company\nSix,1,EUR,HOOLI\n"), |_| {}).await.unwrap();
    assert_eq!((r.companies_created.len(), r.rejected.len()), (0, 0));
    assert_eq!(cx.deals().get(r.imported[0]).await.unwrap().company_id, Some(hooli.id));

    // Two companies of one name: the row must say which.
    cx.companies().create(NewCompany::new("Globex")).await.unwrap();
    let r =
        DealImport::new().run(&cx, table("Deal,Value,Currency,Company\nFive,1,EUR,Globex\n"), |_| {}).await.unwrap();
    let (field, code) = field_of(&r.rejected[0].error);
    assert_eq!((field.as_str(), code), ("Company", FieldErrorCode::Rule));
    assert!(r.rejected[0].error.to_string().contains("2 companies"), "{}", r.rejected[0].error);
}

#[tokio::test]
async fn companies_upsert_by_domain_and_a_bad_cell_names_its_column() {
    let env = env().await;
    let cx = env.cx();
    let acme = cx.companies().create(NewCompany::new("Acme").domain("acme.com").tag("b2b")).await.unwrap();
    let file = "Account Name,Website,Industry,Employees,Tags\n\
                Acme Corporation,https://www.acme.com/about,Tools,51,vip\n\
                Globex,globex.com,Energy,lots,\n\
                Initech,initech.com,Software,3,\n";
    let report = CompanyImport::new()
        .upsert(MatchBy::Domain, OnMatch::Update)
        .map("Account Name", CompanyColumn::Name)
        .run(&cx, table(file), |_| {})
        .await
        .unwrap();
    assert_eq!((report.updated.clone(), report.imported.len()), (vec![acme.id], 1));
    let acme = cx.companies().get(acme.id).await.unwrap();
    assert_eq!((acme.name.as_str(), acme.industry.as_deref()), ("Acme Corporation", Some("Tools")));
    assert_eq!((acme.size, acme.tags.clone()), (Some(CompanySize::Medium), vec!["b2b".to_owned(), "vip".to_owned()]));
    assert_eq!(field_of(&report.rejected[0].error), ("Employees".into(), FieldErrorCode::NotAnOption));
    assert_eq!(cx.companies().count(&Filter::All).await.unwrap(), 2);

    // A kind is matched only by what it has: deals are not matched by domain.
    let err = DealImport::new().upsert(MatchBy::Domain, OnMatch::Skip).run(&cx, table("Name\nX\n"), |_| {}).await;
    assert!(matches!(err, Err(IoError::Option { ref name, .. }) if name == "upsert"), "{err:?}");
    let err = ActivityImport::new().upsert(MatchBy::Sku, OnMatch::Update).run(&cx, table("Subject\nX\n"), |_| {}).await;
    assert!(matches!(err, Err(IoError::Option { .. })), "activities have no SKU");
    assert_eq!(cx.deals().count(&Filter::All).await.unwrap(), 0);
}

#[tokio::test]
async fn products_with_locale_prices_upsert_by_sku_and_a_repeated_sku_is_refused_by_the_first() {
    let env = env().await;
    let cx = env.cx();
    let file = "Product Code;Product Name;Unit Price;Tax;Product Active\n\
                MUG-01;Mug;\"1.234,50 EUR\";20;yes\n\
                TEA-01;Tea;4,00;5;no\n\
                mug-01;Mug again;5,00 EUR;;\n\
                BAD-01;Bad;twelve EUR;;\n";
    let report = ProductImport::new().preset(Preset::Zoho).run(&cx, table(file), |_| {}).await.unwrap();
    assert_eq!(report.imported.len(), 1, "{:?}", report.rejected);
    let mug = cx.products().by_sku("MUG-01").await.unwrap().unwrap();
    assert_eq!((mug.unit_price.to_string(), mug.tax_rate, mug.active), ("1234.50 EUR".into(), Decimal::from(20), true));
    let reasons: Vec<(u64, String)> = report.rejected.iter().map(|r| (r.line, field_of(&r.error).0)).collect();
    assert_eq!(
        reasons,
        [(3, "Unit Price".into()), (4, "sku".into()), (5, "Unit Price".into())],
        "no currency for tea, the SKU taken by the mug of line 2, a price that is not a number"
    );

    // Again, matched by SKU: the mug is updated, tea created with the import's currency.
    let report = ProductImport::new()
        .preset(Preset::Zoho)
        .currency(Currency::EUR)
        .upsert(MatchBy::Sku, OnMatch::Update)
        .run(&cx, table(&file[..file.find("BAD-01").unwrap()]), |_| {})
        .await
        .unwrap();
    assert_eq!((report.updated, report.imported.len()), (vec![mug.id, mug.id], 1));
    let mug = cx.products().get(mug.id).await.unwrap();
    assert_eq!((mug.name.as_str(), mug.unit_price.to_string()), ("Mug again", "5.00 EUR".into()));
    assert_eq!(mug.tax_rate, Decimal::ZERO, "the file has a tax column, and its cell is empty");
    assert!(!cx.products().by_sku("TEA-01").await.unwrap().unwrap().active);
}

#[tokio::test]
async fn an_order_history_groups_lines_by_number_and_imports_again_without_duplicates() {
    let env = env().await;
    let cx = env.cx();
    let ann = cx.contacts().create(NewContact::new("Ann", "Lee").email("ann@example.org")).await.unwrap();
    let price = Money::new(Decimal::new(1250, 2), Currency::GBP);
    cx.products().create(NewProduct::new("MUG", "Mug", price).tax_rate(Decimal::from(20))).await.unwrap();
    let file = "Order number,Customer email,Company,Order date,Payment method,SKU,Qty,Item,Unit price\n\
                SO-1,ann@example.org,,2026-11-02 10:15,Credit card,MUG,2,,\n\
                SO-1,,,,,,1,Gift wrap,2.00 GBP\n\
                SO-2,ann@example.org,,2026-11-03,,NOPE,1,,\n\
                SO-2,,,,,MUG,1,,\n\
                SO-3,,Ann's Cafe,2026-11-04,,MUG,10,,11.00 GBP\n";
    let report = OrderImport::new().run(&cx, table(file), |_| {}).await.unwrap();
    assert_eq!(report.imported.len(), 2, "{:?}", report.rejected);
    let so1 = cx.orders().get(report.imported[0]).await.unwrap();
    assert_eq!((so1.number.as_str(), so1.contact_id, so1.status), ("SO-1", Some(ann.id), OrderStatus::Placed));
    assert_eq!(so1.placed_at.map(|t| t.to_rfc3339()), Some("2026-11-02T10:15:00+00:00".into()));
    assert_eq!(so1.lines.iter().map(|l| l.name.as_str()).collect::<Vec<_>>(), ["Mug", "Gift wrap"]);
    assert_eq!(so1.total.to_string(), "32.00 GBP", "two mugs at 12.50 with 20% tax, and the wrap");
    let so3 = cx.orders().get(report.imported[1]).await.unwrap();
    assert_eq!((so3.company_id, so3.subtotal.to_string()), (Some(report.companies_created[0]), "110.00 GBP".into()));
    // Both rows of SO-2 come back: the first with the reason, the second as part of it.
    let rejected: Vec<(u64, String)> = report.rejected.iter().map(|r| (r.line, field_of(&r.error).0)).collect();
    assert_eq!(rejected, [(4, "SKU".to_owned()), (5, "row".to_owned())]);

    // A line that cannot be read refuses its whole order, the rows before and after it too.
    let broken = "Order number,Customer email,SKU,Qty\n\
                  SO-7,ann@example.org,MUG,1\n\
                  SO-7,,MUG,lots\n\
                  SO-7,,MUG,2\n\
                  SO-8,ann@example.org,MUG,1\n";
    let r = OrderImport::new().run(&cx, table(broken), |_| {}).await.unwrap();
    assert_eq!(r.imported.len(), 1, "only SO-8");
    let why: Vec<(u64, String)> = r.rejected.iter().map(|x| (x.line, field_of(&x.error).0)).collect();
    assert_eq!(why, [(2, "row".into()), (3, "Qty".into()), (4, "row".into())]);
    assert_eq!(cx.orders().list(&Query::new(Filter::eq("number", "SO-7")).limit(1)).await.unwrap().items.len(), 0);
    cx.orders().delete(r.imported[0], 1).await.unwrap();

    // The same file again, matched by number: nothing new.
    let again = OrderImport::new().upsert(MatchBy::Number, OnMatch::Skip).run(&cx, table(file), |_| {}).await.unwrap();
    assert_eq!((again.imported.len(), again.skipped), (0, vec![0, 1, 4]));
    assert_eq!(cx.orders().count(&Filter::All).await.unwrap(), 2);
}

#[tokio::test]
async fn activities_find_their_people_companies_and_deals_and_a_preview_writes_nothing() {
    let env = env().await;
    let cx = env.cx();
    let ada = cx.contacts().create(NewContact::new("Ada", "Lovelace").email("ada@example.org")).await.unwrap();
    let deal = cx.deals().create(NewDeal::new("Engines")).await.unwrap();
    let file = "Type,Subject,Date,Duration,Direction,Outcome,Contact,Company,Deal,Notes\n\
                Phone call,Discovery,2026-10-01 09:30,25,Outgoing,Connected,ada@example.org,Analytical Engines,Engines,Went well\n\
                Note,Send quote,,5,,,Ada Lovelace,,,\n\
                Meeting,Review,2026-10-02,90,,,Grace Hopper,,,\n\
                Carrier pigeon,Coo,,,,,,,,\n";
    let preview = ActivityImport::new().preview(&cx, table(file), 10).await.unwrap();
    assert_eq!(preview.new_companies, ["Analytical Engines"]);
    let verdicts: Vec<bool> = preview.rows.iter().map(|(_, r)| r.is_ok()).collect();
    assert_eq!(verdicts, [true, false, false, false], "a note has no duration");
    assert_eq!(cx.activities().count(&Filter::All).await.unwrap(), 0);
    assert_eq!(cx.companies().count(&Filter::All).await.unwrap(), 0, "a preview creates no company");

    let report: FileImportReport<Activity> = ActivityImport::new().run(&cx, table(file), |_| {}).await.unwrap();
    assert_eq!(report.imported.len(), 1);
    let call = cx.activities().get(report.imported[0]).await.unwrap();
    assert_eq!(
        (call.kind, call.duration_secs, call.contact_ids.clone()),
        (ActivityKind::Call, Some(1500), vec![ada.id])
    );
    assert_eq!(
        (call.deal_ids.clone(), call.company_ids.len(), call.body.as_deref()),
        (vec![deal.id], 1, Some("Went well"))
    );
    let fields: Vec<String> = report.rejected.iter().map(|r| field_of(&r.error).0).collect();
    assert_eq!(fields, ["duration_secs", "Contact", "Type"]);
}

#[tokio::test]
async fn a_file_that_cannot_make_the_kind_is_refused_before_any_row() {
    let env = env().await;
    let cx = env.cx();
    let err = ProductImport::new().run(&cx, table("Name,Colour\nMug,blue\n"), |_| {}).await.unwrap_err();
    let IoError::Mapping { reason, .. } = err else { panic!("{err:?}") };
    assert!(reason.contains("SKU") && reason.contains("price"), "{reason}");
    let err = OrderImport::new().run(&cx, table("Order number,SKU\nSO-1,MUG\n"), |_| {}).await.unwrap_err();
    assert!(matches!(err, IoError::Mapping { .. }), "an order needs its customer: {err:?}");
    assert_eq!(cx.products().count(&Filter::All).await.unwrap(), 0);
}

#[test]
fn an_import_is_send_so_a_server_can_run_it() {
    fn send<T: Send>(_: &T) {}
    let crm = Crm::new(MemoryStore::new());
    let cx = crm.as_actor(&Actor::system(TenantId::new()));
    let text = "Name\nX\n";
    send(&CompanyImport::new().run(&cx, Table::csv(text.as_bytes()).unwrap(), |_| {}));
    send(&OrderImport::new().preview(&cx, Table::csv(text.as_bytes()).unwrap(), 1));
}

#[tokio::test]
async fn a_deals_export_imported_again_updates_amounts_and_moves_stages() {
    let env = env().await;
    let cx = env.cx();
    let first = "Record ID,Deal Name,Amount,Currency,Deal Stage\n\
                 7001,Engines,1000,GBP,Qualification\n\
                 7002,Looms,500,GBP,Qualification\n";
    let done = DealImport::new().preset(Preset::HubSpot).run(&cx, table(first), |_| {}).await.unwrap();
    assert_eq!(done.imported.len(), 2);
    let later = "Record ID,Deal Name,Amount,Currency,Deal Stage\n\
                 7001,Engines,1500,GBP,Proposal\n\
                 7002,Looms,500,GBP,Nowhere\n\
                 7003,Mills,300,GBP,\n";
    let again = DealImport::new()
        .preset(Preset::HubSpot)
        .upsert(MatchBy::ExternalId("hubspot".into()), OnMatch::Update)
        .run(&cx, table(later), |_| {})
        .await
        .unwrap();
    assert_eq!((again.updated.clone(), again.imported.len()), (vec![done.imported[0]], 1));
    let engines = cx.deals().get(done.imported[0]).await.unwrap();
    let pipeline = cx.pipelines().get(engines.pipeline_id).await.unwrap();
    assert_eq!(engines.amount.map(|a| a.to_string()), Some("1500.00 GBP".into()));
    assert_eq!(pipeline.stage(engines.stage_id).map(|s| s.name.as_str()), Some("Proposal"));
    assert_eq!(engines.stage_history.len(), 2, "moved, with its history");
    assert_eq!(field_of(&again.rejected[0].error), ("Deal Stage".into(), FieldErrorCode::NotAnOption));
    let looms = cx.deals().get(done.imported[1]).await.unwrap();
    assert_eq!(looms.version, 1, "a refused row changes nothing");
    assert_eq!(cx.deals().count(&Filter::All).await.unwrap(), 3);
    // A lead source, in the usual spellings; an unknown one is refused naming its column.
    let sourced = "Deal Name,Amount,Currency,Lead Source
Referred,100,GBP,Referral
Searched,100,GBP,Organic Search
Odd,1,GBP,Carrier pigeon
";
    let done = DealImport::new().run(&cx, table(sourced), |_| {}).await.unwrap();
    let sources: Vec<_> = [0, 1].map(|i| done.imported[i]).to_vec();
    let mut got = Vec::new();
    for id in sources {
        got.push(cx.deals().get(id).await.unwrap().lead_source);
    }
    assert_eq!(got, vec![Some(LeadSource::Referral), Some(LeadSource::OrganicSearch)]);
    assert_eq!(field_of(&done.rejected[0].error), ("Lead Source".into(), FieldErrorCode::NotAnOption));
}

#[tokio::test]
async fn calls_and_orders_imported_again_are_updated_not_doubled() {
    let env = env().await;
    let cx = env.cx();
    let calls = "Call ID,Type,Subject,Duration\nc-1,Call,Discovery,10\n";
    let map = |i: ActivityImport| i.map("Call ID", crm_io::ActivityColumn::ExternalId("phone".into()));
    let first = map(ActivityImport::new()).run(&cx, table(calls), |_| {}).await.unwrap();
    let again = map(ActivityImport::new())
        .upsert(MatchBy::ExternalId("phone".into()), OnMatch::Update)
        .run(&cx, table("Call ID,Type,Subject,Duration\nc-1,Call,Discovery (follow-up),25\n"), |_| {})
        .await
        .unwrap();
    assert_eq!(again.updated, first.imported);
    let call = cx.activities().get(first.imported[0]).await.unwrap();
    assert_eq!((call.subject.as_str(), call.duration_secs), ("Discovery (follow-up)", Some(1500)));
    assert_eq!(cx.activities().count(&Filter::All).await.unwrap(), 1);

    cx.contacts().create(NewContact::new("Ann", "Lee").email("ann@example.org")).await.unwrap();
    let orders = "Order number,Customer,Item,Unit price,Notes\nSO-9,ann@example.org,Tea,4.00 EUR,\n";
    OrderImport::new().run(&cx, table(orders), |_| {}).await.unwrap();
    let orders =
        "Order number,Customer,Item,Unit price,Notes,Tags\nSO-9,ann@example.org,Tea,4.00 EUR,Leave at the door,gift\n";
    let again =
        OrderImport::new().upsert(MatchBy::Number, OnMatch::Update).run(&cx, table(orders), |_| {}).await.unwrap();
    let order = cx.orders().get(again.updated[0]).await.unwrap();
    assert_eq!((order.notes.as_deref(), order.tags.clone()), (Some("Leave at the door"), vec!["gift".to_owned()]));
    assert_eq!(cx.orders().count(&Filter::All).await.unwrap(), 1);
}

#[tokio::test]
async fn every_field_create_names_is_read_by_its_kind() {
    use crm_io::any::{CREATABLE, create_fields};
    let env = env().await;
    let cx = env.cx();
    macro_rules! mapped {
        ($E:ty, $Col:ident, $kind:expr) => {{
            let header = create_fields($kind).join(",");
            let columns = crm_io::FileImport::<$E>::new().mapping(&cx, table(&header)).await.unwrap();
            let unread: Vec<_> = columns.iter().filter(|(_, c)| *c == crm_io::$Col::Ignore).collect();
            assert!(unread.is_empty(), "{}: {unread:?}", $kind);
            assert_eq!(columns.len(), create_fields($kind).len());
        }};
    }
    mapped!(Contact, ContactColumn, EntityKind::Contact);
    mapped!(Company, CompanyColumn, EntityKind::Company);
    mapped!(Deal, DealColumn, EntityKind::Deal);
    mapped!(crm_core::model::Activity, ActivityColumn, EntityKind::Activity);
    mapped!(crm_core::model::Product, ProductColumn, EntityKind::Product);
    mapped!(crm_core::model::Order, OrderColumn, EntityKind::Order);
    for kind in CREATABLE {
        assert!(!create_fields(*kind).is_empty(), "{kind} names its fields");
    }
    assert!(create_fields(EntityKind::Invoice).is_empty());
}
