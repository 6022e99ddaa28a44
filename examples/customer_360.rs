//! The customer 360: one company seen whole — what it bought, what it was billed, what it paid
//! and how late, the service case it opened and how it felt about it, the campaign that reached
//! it — with the figures a salesperson asks for first.
//!
//! Run with `cargo run --example customer_360`.

use std::sync::Arc;

use chrono::{Duration, NaiveDate, TimeZone, Utc};
use crm::ids::{Clock, ManualClock};
use crm::model::{CampaignStatus, CreditTerms};
use crm::prelude::*;
use crm::profile::{ConsentMethod, ConsentStatus};
use crm::query::Filter;
use crm::service::TimelineItem;
use rust_decimal::Decimal;

fn eur(cents: i64) -> Money {
    Money::new(Decimal::new(cents, 2), Currency::EUR)
}

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("valid date")
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let clock = Arc::new(ManualClock::new(Utc.with_ymd_and_hms(2026, 1, 12, 9, 0, 0).single().expect("valid")));
    let crm = Crm::builder(MemoryStore::new()).clock(clock.clone()).default_region("DE").build()?;
    // An administrator at work (see the quickstart for a role that sees less).
    let tenant = TenantId::new();
    let admin = crm.as_actor(&Actor::system(tenant));
    let agent = admin.users().create(NewUser::new("Ada Agent", "ada@example.com").role("administrator")).await?;
    let cx = crm.as_actor(&Actor::user(tenant, agent.id));

    // A customer on net-14 terms with a credit limit, and the buyer who works there.
    let northwind = cx
        .companies()
        .create(
            NewCompany::new("Northwind Cafés GmbH")
                .domain("northwind-cafes.de")
                .industry("Hospitality")
                .credit_terms(CreditTerms::net(14).limit(eur(2_000_000))),
        )
        .await?;
    let maria = cx
        .contacts()
        .create(
            NewContact::new("Maria", "Anders")
                .email("maria.anders@northwind-cafes.de")
                .phone("030 1234567")
                .works_at(northwind.id, Some("Head of Purchasing"), None)
                .consent(ConsentStatus::Granted, ConsentMethod::WebForm),
        )
        .await?;

    // The catalogue.
    let grinder = cx
        .products()
        .create(NewProduct::new("GR-200", "Espresso grinder", eur(64_900)).tax_rate(Decimal::from(19)))
        .await?;
    let beans = cx
        .products()
        .create(NewProduct::new("BN-1KG", "House blend beans, 1 kg", eur(2_450)).tax_rate(Decimal::from(7)))
        .await?;

    // A deal with catalogue lines, won and turned into an order.
    let deal = cx
        .deals()
        .create(
            NewDeal::new("Northwind — 3 new cafés")
                .company(northwind.id)
                .contact(maria.id)
                .line_item(LineItem::for_product(&grinder, Decimal::from(3)).discount(Decimal::from(10)))
                .line_item(LineItem::for_product(&beans, Decimal::from(40))),
        )
        .await?;
    cx.activities().log(NewActivity::call("Walked through the grinder specs").contact(maria.id).deal(deal.id)).await?;
    cx.deals().win(deal.id).await?;
    let order = cx.orders().from_deal(deal.id).await?;
    println!("Order {} placed: {} + {} tax = {}", order.number, order.subtotal, order.tax, order.total);

    // Billed on the customer's terms; paid in two instalments.
    let invoice = cx.invoices().from_order(order.id).await?;
    let invoice = cx.invoices().send(invoice.id).await?;
    println!("Invoice {} issued {}, due {} (net 14)", invoice.number, invoice.issue_date, invoice.due_date);
    clock.advance(Duration::days(10));
    cx.payments()
        .record(
            NewPayment::new(eur(100_000), day(2026, 1, 22), PaymentMethod::BankTransfer)
                .from_company(northwind.id)
                .apply(invoice.id, eur(100_000))
                .reference("SEPA 22-01"),
        )
        .await?;
    clock.advance(Duration::days(8));
    let rest = cx.invoices().get(invoice.id).await?.balance_due();
    cx.payments()
        .record(
            NewPayment::new(rest, day(2026, 1, 30), PaymentMethod::BankTransfer)
                .from_company(northwind.id)
                .apply(invoice.id, rest),
        )
        .await?;
    println!(
        "Invoice {} is now {}; order is {}",
        invoice.number,
        cx.invoices().get(invoice.id).await?.status,
        cx.orders().get(order.id).await?.status
    );

    // A second, smaller order billed and not paid on time.
    let refill = cx
        .orders()
        .create(
            NewOrder::for_company(northwind.id)
                .contact(maria.id)
                .line(LineItem::for_product(&beans, Decimal::from(20)))
                .placed(),
        )
        .await?;
    let refill_invoice = cx.invoices().from_order(refill.id).await?;
    cx.invoices().send(refill_invoice.id).await?;
    clock.advance(Duration::days(20));
    let overdue = cx.invoices().mark_overdue(clock.now().date_naive()).await?;
    println!("{} invoice(s) went overdue", overdue.len());

    // One grinder comes back: a return case, resolved late and rated.
    let case = cx
        .cases()
        .open(
            NewCase::return_of(grinder.id, "Burrs grind unevenly", CaseChannel::Email)
                .subject("Grinder returned from Café Mitte")
                .company(northwind.id)
                .contact(maria.id)
                .order(order.id)
                .priority(Priority::High),
        )
        .await?;
    cx.cases().set_status(case.id, CaseStatus::Open).await?;
    clock.advance(Duration::hours(30));
    cx.cases().resolve(case.id, "Replacement grinder shipped; faulty unit refunded").await?;
    let case = cx.cases().rate(case.id, 4, Some("Quick replacement, shame about the wait".into())).await?;
    println!(
        "Case resolved in {} h (SLA breached: {})",
        case.resolution_time().map(|d| d.num_hours()).unwrap_or_default(),
        case.sla_breached
    );
    cx.feedback()
        .record(NewFeedback::review("google", 5, "Best beans in Berlin").company(northwind.id).contact(maria.id))
        .await?;

    // A campaign to every customer; Maria opens, clicks and converts.
    let customers = cx
        .segments()
        .create(NewSegment::new("Customers", Filter::eq("lifecycle_stage", LifecycleStage::Customer)))
        .await?;
    let spring = cx
        .campaigns()
        .create(
            NewCampaign::new("Spring blend launch", CampaignChannel::Email).segment(customers.id).budget(eur(50_000)),
        )
        .await?;
    cx.campaigns().set_status(spring.id, CampaignStatus::Active).await?;
    let added = cx.campaigns().add_segment_members(spring.id).await?;
    for kind in [ResponseKind::Sent, ResponseKind::Opened, ResponseKind::Clicked, ResponseKind::Converted] {
        cx.campaigns().record_response(spring.id, maria.id, kind, None).await?;
    }
    clock.advance(Duration::hours(1));
    cx.orders()
        .create(
            NewOrder::for_company(northwind.id)
                .contact(maria.id)
                .line(LineItem::for_product(&beans, Decimal::from(10)))
                .campaign(spring.id)
                .paid_by(PaymentMethod::Card)
                .placed(),
        )
        .await?;
    let results = cx.campaigns().results(spring.id).await?;
    println!(
        "Campaign `{}`: {} member(s), {} converted, cost per conversion {}, revenue {:?}",
        results.campaign.name,
        added,
        results.counts[&ResponseKind::Converted],
        results.cost_per_conversion.map(|m| m.to_string()).unwrap_or_default(),
        results.revenue
    );

    // The whole customer.
    let view = cx.customer_360(northwind.id).await?;
    let s = &view.summary;
    println!("\n=== {} — customer 360 ===", view.company.as_ref().map(|c| c.name.as_str()).unwrap_or("?"));
    println!("people:              {}", view.people.iter().map(Contact::full_name).collect::<Vec<_>>().join(", "));
    println!("lifetime revenue:    {}", money_map(&s.lifetime_revenue));
    println!("orders:              {}", s.orders);
    println!("open deals / cases:  {} / {}", s.open_deals, s.open_cases);
    println!("balance due:         {}", money_map(&s.balance_due));
    println!("overdue:             {}", money_map(&s.overdue));
    println!("available credit:    {}", s.available_credit.map(|m| m.to_string()).unwrap_or_else(|| "-".into()));
    println!("avg days to pay:     {}", s.average_days_to_pay.map(|d| d.to_string()).unwrap_or_else(|| "-".into()));
    println!("average rating:      {}", s.average_rating.map(|d| d.to_string()).unwrap_or_else(|| "-".into()));
    println!("last contacted:      {}", s.last_contacted_at.map(|t| t.to_string()).unwrap_or_else(|| "-".into()));
    println!("\nPurchase history:");
    for o in &view.orders {
        println!(
            "  {}  {:<10} {:>14}  {} line(s)",
            o.placed_at.map(|t| t.date_naive().to_string()).unwrap_or_default(),
            o.status,
            o.total.to_string(),
            o.lines.len()
        );
    }
    println!("Invoices:");
    for i in &view.invoices {
        println!(
            "  {}  {:<14} total {:>14}  due {}  balance {}",
            i.number,
            i.status,
            i.total.to_string(),
            i.due_date,
            i.balance_due()
        );
    }
    println!("\nTimeline (newest first):");
    for item in &view.timeline {
        println!("  {}  {}", item.at().format("%Y-%m-%d %H:%M"), describe(item));
    }
    Ok(())
}

fn money_map(m: &std::collections::BTreeMap<Currency, Decimal>) -> String {
    if m.is_empty() {
        return "0".into();
    }
    m.iter().map(|(c, a)| format!("{} {}", a, c.code())).collect::<Vec<_>>().join(", ")
}

fn describe(item: &TimelineItem) -> String {
    match item {
        TimelineItem::Activity(a) => format!("{:<9} {}", a.kind.as_str(), a.subject),
        TimelineItem::Order(o) => format!("order     {} {} ({})", o.number, o.total, o.status),
        TimelineItem::Invoice(i) => format!("invoice   {} {} ({})", i.number, i.total, i.status),
        TimelineItem::Payment(p) => format!("payment   {} by {}", p.amount, p.method),
        TimelineItem::Case(c) => format!("case      {} ({}, {})", c.subject, c.case_type, c.status),
        TimelineItem::Feedback(f) => {
            format!("feedback  {} {}★ {}", f.kind, f.rating.unwrap_or_default(), f.text.as_deref().unwrap_or(""))
        }
        TimelineItem::CampaignResponse { campaign_name, response, .. } => {
            format!("campaign  {} — {}", campaign_name, response.kind)
        }
        TimelineItem::Event(e) => {
            let what = match &e.event.change {
                Change::Created => "created".to_owned(),
                Change::Updated { fields } => format!("updated {}", fields.join(", ")),
                Change::StatusChanged { from, to } => format!("{from} → {to}"),
                Change::PaymentApplied { amount, .. } => format!("{amount} applied"),
                Change::LifecycleChanged { from, to, .. } => format!("lifecycle {from} → {to}"),
                Change::StageChanged { .. } => "moved to another stage".to_owned(),
                Change::DealWon => "won".to_owned(),
                other => format!("{other:?}"),
            };
            format!("{:<9} {what}", e.event.subject.kind.as_str())
        }
        other => format!("{other:?}"),
    }
}
