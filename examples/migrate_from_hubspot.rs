//! Moving to this CRM from HubSpot: the companies export, then a contacts export with the usual
//! duplicates is imported into a SQLite file (bad rows set aside with their reason, each person
//! linked to their company by HubSpot's id), the duplicates are found and merged, one merge is
//! undone, the deals export is imported (linked to companies and people), and the cleaned list
//! is exported again.
//!
//! Run with `cargo run --example migrate_from_hubspot --features sqlite,io`; it writes its files
//! to a temporary folder and prints what it did.

use crm::io::{CompanyImport, ContactImport, DealImport, Export, Preset, Table, export_csv};
use crm::prelude::*;
use crm::service::{DuplicateRules, MergeChoices};

/// HubSpot's companies export: its `Record ID` is kept as each company's `hubspot` id.
const COMPANIES: &str = "Record ID,Company name,Company Domain Name,Industry,Number of Employees
9001,Analytical Engines,analytical.example,Computing,40
9002,US Navy,navy.example,Government,5000
";

/// HubSpot's deals export: the company by its HubSpot id, the person by address, the stage by name.
const DEALS: &str =
    "Record ID,Deal Name,Amount,Currency,Close Date,Deal Stage,Associated Company IDs,Associated Contact
7001,Difference engine,\"12,000\",GBP,2027-03-31,Proposal,9001,ada@analytical.example
7002,COBOL training,4500,USD,2027-01-15,Qualification,9002,grace@navy.example
";

/// A HubSpot contacts export as HubSpot writes it (its column names, a BOM, a contact owner
/// column this CRM does not import), with the duplicates real exports have: one person twice
/// under two addresses, one twice with a typo, and a row that is not a valid contact.
const EXPORT: &str = "\u{feff}Record ID,First Name,Last Name,Email,Phone Number,Lifecycle Stage,Original Source,Contact owner,City,Country/Region,Associated Company ID
101,Ada,Lovelace,ada@analytical.example,+44 20 7946 0958,Customer,Referral,Jo Smith,London,GB,9001
102,Ada,Lovelace,ada.lovelace@home.example,+44 20 7946 0958,Lead,Organic Search,Jo Smith,London,GB,
103,Grace,Hopper,grace@navy.example,(202) 555-0143,Sales Qualified Lead,Paid Search,Al Jones,Arlington,US,9002
104,Grase,Hopper,GRACE@navy.example,,Lead,,Al Jones,,,9002
105,Alan,Turing,alan@bletchley.example,,Subscriber,Offline Sources,Jo Smith,Wilmslow,GB,
106,,,not-an-email,,Lead,,,,,
107,Katherine,Johnson,katherine@nasa.example,+1 757 555 0100,Opportunity,Referral,Al Jones,Hampton,US,
";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let crm = Crm::builder(SqlStore::sqlite(dir.path().join("crm.db")).await?).default_region("US").build()?;
    let cx = crm.as_actor(&Actor::system(TenantId::new()));

    // 1. Import the companies, then the people, as HubSpot named the columns.
    let companies =
        CompanyImport::new().preset(Preset::HubSpot).run(&cx, Table::csv(COMPANIES.as_bytes())?, |_| {}).await?;
    println!("Imported {} companies", companies.imported.len());
    let report = ContactImport::new()
        .preset(Preset::HubSpot)
        .run(&cx, Table::csv(EXPORT.as_bytes())?, |p| println!("imported {} rows so far", p.rows_read))
        .await?;
    println!("Imported {} contacts; {} rows set aside:", report.imported.len(), report.rejected.len());
    for r in &report.rejected {
        println!("  line {}: {}", r.line, r.error);
    }
    let ignored: Vec<&str> =
        report.columns.iter().filter(|(_, c)| *c == crm::io::ContactColumn::Ignore).map(|(h, _)| h.as_str()).collect();
    println!("Columns not imported: {}", ignored.join(", "));
    report.write_rejected(std::fs::File::create(dir.path().join("rejected.csv"))?)?;

    // 2. Find the duplicates: the same phone or address, names that sound alike.
    let scan = cx.contacts().find_duplicates(&DuplicateRules::default(), |_| {}).await?;
    println!("Possible duplicates: {}", scan.pairs.len());
    let mut merges = Vec::new();
    for pair in &scan.pairs {
        let (a, b) = (cx.contacts().get(pair.a).await?, cx.contacts().get(pair.b).await?);
        println!(
            "  {} {} <-> {} {} (score {:.2}, same {:?})",
            a.given_name, a.family_name, b.given_name, b.family_name, pair.score, pair.matched
        );
        // 3. Merge each pair into the older record, keeping its spelling of the name.
        let done = cx.contacts().merge(pair.a, &[pair.b], &MergeChoices::new()).await?;
        let c = &done.survivor;
        let emails: Vec<&str> = c.emails.iter().map(|e| e.address.as_str()).collect();
        println!("  merged into {} {}: {} ({})", c.given_name, c.family_name, emails.join(", "), c.lifecycle_stage);
        merges.push((done.merge, format!("{} {}", b.given_name, b.family_name)));
    }

    // 4. One of those was two different people after all: undo it.
    if let Some((merge, name)) = merges.pop() {
        cx.contacts().unmerge(merge).await?;
        println!("Undid the merge of {name}");
    }

    // 5. The deals, linked to the companies and people imported above.
    let deals = DealImport::new().preset(Preset::HubSpot).run(&cx, Table::csv(DEALS.as_bytes())?, |_| {}).await?;
    println!("Imported {} deals:", deals.imported.len());
    for id in &deals.imported {
        let deal = cx.deals().get(*id).await?;
        let company = match deal.company_id {
            Some(c) => cx.companies().get(c).await?.name,
            None => "no company".into(),
        };
        let mut people = Vec::new();
        for c in &deal.contact_ids {
            people.push(cx.contacts().get(*c).await?.full_name());
        }
        let amount = deal.amount.map(|a| a.to_string()).unwrap_or_default();
        println!("  {} ({amount}) for {company} with {}", deal.name, people.join(", "));
    }

    // 6. Export the cleaned list for the rest of the team.
    let path = dir.path().join("contacts.csv");
    let query = Query::default().sort_asc("family_name").sort_asc("given_name");
    let columns = ["given_name", "family_name", "emails", "phones", "lifecycle_stage", "lead_source", "city"];
    let n = export_csv::<Contact>(&cx, &Export::new(query).columns(columns), std::fs::File::create(&path)?).await?;
    println!("Exported {n} contacts:");
    print!("{}", std::fs::read_to_string(&path)?);
    Ok(())
}
