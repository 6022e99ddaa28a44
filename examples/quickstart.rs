//! A small, realistic CRM on the embedded SQLite store: companies, contacts, the default sales
//! pipeline, deals moved through their stages (one won, one lost), calls, emails and meetings, a
//! pipeline report with the probability-weighted forecast, and one contact's timeline.
//!
//! `cargo run --example quickstart` runs it in an in-memory SQLite database;
//! `cargo run --example quickstart -- --db crm.db` keeps it in a file: run it again and it
//! reopens the same CRM and reports on it, without recording the story twice.

use chrono::{Duration, TimeZone, Utc};
use crm::event::Event;
use crm::ids::{Clock, ManualClock};
use crm::model::{Direction, Outcome, ParticipantRole};
use crm::prelude::*;
use crm::profile::{Channel, CompanySize, ConsentMethod, ConsentStatus, LeadSource};
use crm::query::{Filter, Query};
use crm::service::TimelineItem;
use rust_decimal::Decimal;

/// The demo's tenant and user: fixed, so a database file can be reopened.
const TENANT: u128 = 0x0190_0000_0000_7000_8000_0000_0000_0001;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().collect();
    let db = match args.iter().position(|a| a == "--db") {
        Some(i) => Some(args.get(i + 1).ok_or_else(|| Error::storage("--db needs a file path"))?.clone()),
        None => None,
    };
    // A clock we move by hand, so the story spans a few weeks.
    let start = Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).single().expect("valid date");
    let clock = std::sync::Arc::new(ManualClock::new(start));
    let store = match &db {
        Some(path) => SqlStore::sqlite(path).await?,
        None => SqlStore::sqlite_in_memory().await?,
    };
    let crm = Crm::builder(store).clock(clock.clone()).default_region("US").build()?;
    // The system sets up Sam, a sales manager (once: a reopened database has him), and Sam
    // works as himself: what he creates is his, and his role decides what he sees.
    let tenant = TenantId::from_uuid(uuid::Uuid::from_u128(TENANT));
    let system = crm.as_actor(&Actor::system(tenant));
    let sam = match system.users().by_email("sam@acme.example").await? {
        Some(sam) => sam.id,
        None => system.users().create(NewUser::new("Sam Seller", "sam@acme.example").role("sales_manager")).await?.id,
    };
    let cx = crm.as_actor(&Actor::user(tenant, sam));

    let existing = cx.companies().count(&Filter::All).await?;
    if existing > 0 {
        println!(
            "Reopened {}: {existing} companies, {} contacts, {} deals, {} activities already there.",
            db.as_deref().unwrap_or("the database"),
            cx.contacts().count(&Filter::All).await?,
            cx.deals().count(&Filter::All).await?,
            cx.activities().count(&Filter::All).await?,
        );
    } else {
        story(&cx, &clock).await?;
        if let Some(path) = &db {
            println!("Recorded the story in {path}; run again to reopen it.");
        }
    }
    report(&cx).await
}

/// Three weeks of selling, recorded through the API.
async fn story(cx: &Session, clock: &ManualClock) -> Result<(), Error> {
    let usd = |n: i64| Money::new(Decimal::from(n), Currency::USD);
    let sam = cx.actor().user_id.ok_or_else(|| Error::storage("the story is told by a user"))?;

    // Companies and the people we talk to there.
    let acme = cx
        .companies()
        .create(
            NewCompany::new("Acme Logistics")
                .domain("acme-logistics.com")
                .industry("Logistics")
                .size(CompanySize::Large),
        )
        .await?;
    let globex = cx.companies().create(NewCompany::new("Globex").domain("globex.io").industry("Software")).await?;
    let initech = cx.companies().create(NewCompany::new("Initech").domain("initech.com").industry("Finance")).await?;

    let jane = cx
        .contacts()
        .create(
            NewContact::new("Jane", "Cooper")
                .email("jane.cooper@acme-logistics.com")
                .phone("(415) 555-2671")
                .works_at(acme.id, Some("VP Operations"), Some("Operations"))
                .lead_source(LeadSource::Referral)
                .preferred_channel(Channel::Phone)
                .birthday(chrono::NaiveDate::from_ymd_opt(1984, 5, 17).expect("valid date"))
                .hobby("sailing")
                .family_notes("Two kids; daughter starts college in the fall")
                .consent(ConsentStatus::Granted, ConsentMethod::WebForm)
                .owner(sam),
        )
        .await?;
    let omar = cx
        .contacts()
        .create(NewContact::new("Omar", "Haddad").email("omar@acme-logistics.com").works_at(acme.id, Some("CFO"), None))
        .await?;
    let li = cx
        .contacts()
        .create(NewContact::new("Li", "Wei").email("li.wei@globex.io").phone("+44 20 7946 0958").works_at(
            globex.id,
            Some("CTO"),
            None,
        ))
        .await?;
    let maria = cx
        .contacts()
        .create(NewContact::new("María", "García").email("maria@initech.com").works_at(
            initech.id,
            Some("Head of IT"),
            None,
        ))
        .await?;
    cx.contacts()
        .create(NewContact::new("Tom", "Baker").email("tom@example.com").lifecycle_stage(LifecycleStage::Subscriber))
        .await?;

    // Omar is the decision maker on the Acme deal; Jane champions it.
    let pipeline = cx.pipelines().default_pipeline().await?;
    let stage = |name: &str| pipeline.stage_named(name).map(|s| s.id).expect("default stage");

    let acme_deal = cx
        .deals()
        .create(NewDeal::new("Acme — fleet tracking").company(acme.id).contact(jane.id).contact(omar.id).owner(sam))
        .await?;
    cx.relations().link(omar.entity_ref(), acme_deal.entity_ref(), RelationLabel::DecisionMaker, None).await?;
    cx.relations().link(jane.entity_ref(), acme_deal.entity_ref(), RelationLabel::Champion, None).await?;
    let globex_deal = cx
        .deals()
        .create(NewDeal::new("Globex — API platform").company(globex.id).contact(li.id).amount(usd(85_000)))
        .await?;
    let initech_deal = cx
        .deals()
        .create(NewDeal::new("Initech — pilot").company(initech.id).contact(maria.id).amount(usd(12_000)))
        .await?;
    let acme_upsell = cx
        .deals()
        .create(NewDeal::new("Acme — driver app").company(acme.id).contact(jane.id).amount(usd(30_000)))
        .await?;

    // Week 1: discovery.
    cx.activities()
        .log(
            NewActivity::call("Discovery call")
                .contact(jane.id)
                .deal(acme_deal.id)
                .direction(Direction::Outbound)
                .duration_secs(35 * 60)
                .outcome(Outcome::Connected)
                .body("Fleet of 400 trucks; current tracker contract ends in June."),
        )
        .await?;
    cx.deals().move_to_stage(acme_deal.id, stage("Qualification")).await?;
    cx.deals().move_to_stage(acme_deal.id, stage("Needs identification")).await?;
    cx.deals().move_to_stage(globex_deal.id, stage("Qualification")).await?;

    // Week 2: a proposal needs an amount first — the rules say so.
    clock.advance(Duration::days(7));
    let refused = cx.deals().move_to_stage(acme_deal.id, stage("Proposal")).await;
    if let Err(e) = &refused {
        println!("Rule check: {e}");
    }
    let mut d = cx.deals().get(acme_deal.id).await?;
    d.amount = Some(usd(120_000));
    cx.deals().update(d).await?;
    cx.deals().move_to_stage(acme_deal.id, stage("Proposal")).await?;
    cx.activities()
        .log(
            NewActivity::email("Acme fleet tracking — proposal")
                .direction(Direction::Outbound)
                .participant(ParticipantRole::To, Some("Omar Haddad"), Some("omar@acme-logistics.com"))
                .participant(ParticipantRole::Cc, Some("Jane Cooper"), Some("jane.cooper@acme-logistics.com"))
                .deal(acme_deal.id)
                .message_id("<proposal-1@crm.example>")
                .body("Please find our proposal attached."),
        )
        .await?;
    cx.deals().move_to_stage(globex_deal.id, stage("Needs identification")).await?;
    cx.deals().lose(initech_deal.id, "Chose a cheaper competitor").await?;

    // Week 3: presentation, objections, and a signature.
    clock.advance(Duration::days(7));
    cx.activities()
        .log(
            NewActivity::meeting("On-site presentation")
                .contact(jane.id)
                .contact(omar.id)
                .deal(acme_deal.id)
                .duration_secs(90 * 60)
                .outcome(Outcome::Completed),
        )
        .await?;
    cx.deals().move_to_stage(acme_deal.id, stage("Presentation")).await?;
    cx.deals().move_to_stage(acme_deal.id, stage("Handling objections")).await?;
    cx.activities()
        .log(
            NewActivity::note("Omar worried about rollout time; offered phased rollout")
                .contact(omar.id)
                .deal(acme_deal.id),
        )
        .await?;
    clock.advance(Duration::days(2));
    cx.deals().win(acme_deal.id).await?;
    cx.deals().move_to_stage(acme_upsell.id, stage("Proposal")).await?;
    cx.activities()
        .log(NewActivity::task("Send Jane the onboarding plan", clock.now() + Duration::days(3)).contact(jane.id))
        .await?;

    Ok(())
}

/// The pipeline report, the contacts at Acme and Jane's timeline, read back from the store.
async fn report(cx: &Session) -> Result<(), Error> {
    let pipeline = cx.pipelines().default_pipeline().await?;
    let acme = cx.companies().list(&Query::new(Filter::eq("name", "Acme Logistics"))).await?;
    let acme = acme.items.into_iter().next().ok_or_else(|| Error::storage("Acme is missing"))?;
    let jane = cx.contacts().list(&Query::new(Filter::eq("email", "jane.cooper@acme-logistics.com"))).await?;
    let jane = jane.items.into_iter().next().ok_or_else(|| Error::storage("Jane is missing"))?;
    let report = cx.deals().pipeline_report(pipeline.id).await?;
    println!("\nPipeline “{}”", report.pipeline.name);
    println!("{:<22} {:>5} {:>13} {:>13}", "stage", "deals", "total", "weighted");
    for s in &report.stages {
        let total = s.total.get(&Currency::USD).copied().unwrap_or_default();
        let weighted = s.weighted.get(&Currency::USD).copied().unwrap_or_default();
        println!(
            "{:<22} {:>5} {:>13} {:>13}   ({}%)",
            s.stage.name,
            s.count,
            Money::new(total, Currency::USD).to_string(),
            Money::new(weighted, Currency::USD).to_string(),
            s.stage.probability
        );
    }
    let forecast = report.forecast.get(&Currency::USD).copied().unwrap_or_default();
    println!("Weighted forecast of open deals: {}", Money::new(forecast, Currency::USD));

    let customers = cx.contacts().count(&Filter::eq("lifecycle_stage", LifecycleStage::Customer)).await?;
    let opportunities = cx.contacts().count(&Filter::eq("lifecycle_stage", LifecycleStage::Opportunity)).await?;
    println!("Contacts: {customers} customers, {opportunities} opportunities");
    let at_acme = cx.contacts().list(&Query::new(Filter::eq("company_id", acme.id)).sort_asc("family_name")).await?;
    println!(
        "People at {}: {}",
        acme.name,
        at_acme.items.iter().map(Contact::full_name).collect::<Vec<_>>().join(", ")
    );

    // Full-text search: every word starts a word of a name, e-mail, phone, note or tag.
    let hits = cx.search("jane acme").await?;
    let names: Vec<String> = hits
        .iter()
        .map(|r| match r {
            Record::Contact(c) => format!("contact {}", c.full_name()),
            Record::Company(c) => format!("company {}", c.name),
            Record::Deal(d) => format!("deal {}", d.name),
            other => format!("{} {}", other.kind(), other.id()),
        })
        .collect();
    println!("Search “jane acme”: {}", names.join("; "));

    // Jane's timeline, newest first.
    let jane = cx.contacts().get(jane.id).await?;
    println!(
        "\nTimeline of {} ({}, {})",
        jane.full_name(),
        jane.job_title.as_deref().unwrap_or("-"),
        jane.lifecycle_stage
    );
    for item in cx.timeline(jane.id).await? {
        let when = item.at().format("%Y-%m-%d %H:%M");
        match item {
            TimelineItem::Activity(a) => println!("  {when}  {:<8} {}", a.kind.as_str(), a.subject),
            TimelineItem::Event(e) => println!("  {when}  {:<8} {}", "event", describe(&e.event, &pipeline)),
            other => println!("  {when}  {other:?}"),
        }
    }
    Ok(())
}

/// One line about an event.
fn describe(e: &Event, pipeline: &Pipeline) -> String {
    let stage = |id: &StageId| pipeline.stage(*id).map(|s| s.name.clone()).unwrap_or_else(|| id.to_string());
    match &e.change {
        Change::Created => format!("{} created", e.subject.kind),
        Change::Updated { fields } => format!("{} updated: {}", e.subject.kind, fields.join(", ")),
        Change::StageChanged { from, to, .. } => format!("deal moved {} → {}", stage(from), stage(to)),
        Change::DealWon => "deal won".into(),
        Change::DealLost { reason } => format!("deal lost: {reason}"),
        Change::LifecycleChanged { from, to, .. } => format!("lifecycle {from} → {to}"),
        other => format!("{other:?}"),
    }
}
