//! Deals from a file: the columns of a deals or opportunities export and how a row becomes a
//! [`NewDeal`], its company, people, pipeline and stage found by name.

use crm_core::error::Error;
use crm_core::ids::DealId;
use crm_core::model::Deal;
use crm_core::service::{ImportOptions, NewDeal, Session};

use crate::coerce;
use crate::contacts::external_keys;
use crate::import::FileImport;
use crate::kind::{Amount, Fut, MatchBy, Reader, column_basics, create_each, find_external, find_id, sealed::Kind};
use crate::lookups::{CompanyRef, ContactRef, Lookups};
use crate::mapping::{Preset, normalised};

/// An import of deals. The company a row names is found (or created), its people found by
/// address or name, its pipeline and stage by name; a deal starts in an open stage. Imported
/// again with [`MatchBy::ExternalId`] (the vendor's deal id), a deal already there is updated
/// ([`Deals::apply`](crm_core::service::Deals::apply): a new stage moves it) or skipped.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> crm_io::Result<()> {
/// use crm_core::prelude::*;
/// use crm_io::{DealImport, Preset, Table};
/// let crm = Crm::new(MemoryStore::new());
/// let cx = crm.as_actor(&Actor::system(TenantId::new()));
/// let ada = cx.contacts().create(NewContact::new("Ada", "Lovelace").email("ada@example.org")).await?;
/// let file = "Deal Name,Amount,Close Date,Associated Company,Associated Contact\n\
///             Engines,\"12,000.00 GBP\",2027-03-31,Analytical Engines,ada@example.org\n";
/// let report = DealImport::new().preset(Preset::HubSpot).run(&cx, Table::csv(file.as_bytes())?, |_| {}).await?;
/// let deal = cx.deals().get(report.imported[0]).await?;
/// assert_eq!((deal.amount.unwrap().to_string(), deal.contact_ids), ("12000.00 GBP".to_owned(), vec![ada.id]));
/// assert_eq!(deal.company_id, Some(report.companies_created[0]));
/// # Ok(()) }
/// ```
pub type DealImport = FileImport<Deal>;

/// What a column of a deals file fills.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DealColumn {
    /// Name.
    Name,
    /// Expected value: `12000`, or `12000 EUR` (see [`Currency`](Self::Currency)).
    Amount,
    /// The amount's currency (ISO 4217 code).
    Currency,
    /// Expected close date.
    ExpectedClose,
    /// The pipeline, by name (default: the default pipeline).
    Pipeline,
    /// The stage, by name, in the row's pipeline (default: its first open stage).
    Stage,
    /// The buying company, by name: found, or created.
    Company,
    /// The buying company, by its id in this other system.
    CompanyExternalId(String),
    /// People involved, by email address or whole name (a multi-value cell adds each).
    Contact,
    /// A person involved, by their id in this other system.
    ContactExternalId(String),
    /// Tags (a multi-value cell adds each).
    Tags,
    /// Where it came from: a lead source (`referral`, `website`…; the usual spellings).
    LeadSource,
    /// Its id in this other system (`hubspot`…), kept among the deal's external ids.
    ExternalId(String),
    /// The deal's id in this CRM (a UUID), to update or skip a deal already there.
    Id,
    /// A custom field, by key.
    Custom(String),
    /// Not imported.
    Ignore,
}

/// What a deals row says.
#[derive(Debug)]
pub struct DealRow {
    deal: NewDeal,
    id: Option<DealId>,
    company: Option<(String, CompanyRef)>,
    contacts: Vec<(String, ContactRef)>,
    pipeline: Option<(String, String)>,
    stage: Option<(String, String)>,
}

impl Kind for Deal {
    type Column = DealColumn;
    type Input = NewDeal;
    type Row = DealRow;
    const MATCHES: &'static str = "external id or id";
    const PLURAL: &'static str = "deals";
    const UPDATES: bool = true;

    column_basics!(DealColumn);
    fn missing(columns: &[(String, DealColumn)]) -> Option<String> {
        let named = columns.iter().any(|(_, c)| *c == DealColumn::Name);
        (!named).then(|| "no column gives the deal's name; map one with `map`".into())
    }

    fn read(r: &Reader<'_, DealColumn>, cells: &[String]) -> Result<DealRow, Error> {
        use DealColumn as C;
        let mut row = DealRow {
            deal: NewDeal::default(),
            id: None,
            company: None,
            contacts: Vec::new(),
            pipeline: None,
            stage: None,
        };
        let mut amount: Option<Amount> = None;
        let mut currency = None;
        for cell in r.cells(cells)? {
            let named = || (cell.header.to_owned(), cell.text());
            match cell.column {
                C::Name => row.deal.name = cell.text(),
                C::Amount => amount = Some(cell.amount()?),
                C::Currency => currency = Some(cell.currency()?),
                C::ExpectedClose => row.deal.expected_close_date = Some(cell.date(r.dates)?),
                C::Pipeline => row.pipeline = Some(named()),
                C::Stage => row.stage = Some(named()),
                C::Company => row.company = Some((cell.header.to_owned(), CompanyRef::Name(cell.text()))),
                C::CompanyExternalId(system) => {
                    row.company = Some((cell.header.to_owned(), CompanyRef::External(system.clone(), cell.text())));
                }
                C::Contact => {
                    for who in coerce::multi(cell.v) {
                        row.contacts.push((cell.header.to_owned(), ContactRef::Text(who)));
                    }
                }
                C::ContactExternalId(system) => {
                    for who in coerce::multi(cell.v) {
                        row.contacts.push((cell.header.to_owned(), ContactRef::External(system.clone(), who)));
                    }
                }
                C::Tags => row.deal.tags.extend(coerce::multi(cell.v)),
                C::LeadSource => {
                    row.deal.lead_source =
                        Some(cell.option::<crm_core::profile::LeadSource>(crate::contacts::LEAD_SOURCES)?);
                }
                C::ExternalId(system) => row.deal = row.deal.external_ref(system.clone(), cell.text()),
                C::Id => row.id = Some(cell.id("deal")?),
                C::Custom(key) => {
                    if let Some((k, value)) = r.custom(&cell, key)? {
                        row.deal.custom.insert(k, value);
                    }
                }
                C::Ignore => {}
            }
        }
        row.deal.amount = r.money(amount, currency)?;
        Ok(row)
    }

    fn resolve<'a>(
        cx: &'a Session,
        lookups: &'a mut Lookups,
        row: DealRow,
    ) -> Fut<'a, Result<(NewDeal, Option<DealId>), Error>> {
        Box::pin(async move {
            // What may refuse the row is looked up before a missing company is created.
            let mut d = row.deal;
            for who in &row.contacts {
                let id = lookups.contact_ref(cx, who).await?;
                if !d.contact_ids.contains(&id) {
                    d.contact_ids.push(id);
                }
            }
            fn named(x: &Option<(String, String)>) -> Option<(&str, &str)> {
                x.as_ref().map(|(h, v)| (h.as_str(), v.as_str()))
            }
            let (pipeline, stage) = lookups.stage(cx, named(&row.pipeline), named(&row.stage)).await?;
            d.pipeline_id = pipeline.filter(|_| row.pipeline.is_some());
            d.stage_id = stage;
            if d.stage_id.is_some() {
                d.pipeline_id = pipeline;
            }
            if let Some(company) = &row.company {
                d.company_id = lookups.company_ref(cx, company).await?;
            }
            Ok((d, row.id))
        })
    }

    fn matches(by: &MatchBy) -> bool {
        matches!(by, MatchBy::ExternalId(_) | MatchBy::Id)
    }
    fn keys(by: &MatchBy, input: &NewDeal, id: Option<DealId>) -> Vec<String> {
        match by {
            MatchBy::ExternalId(system) => external_keys(&input.external_refs, system),
            _ => id.map(|i| i.to_string()).into_iter().collect(),
        }
    }
    fn find<'a>(cx: &'a Session, by: &'a MatchBy, key: &'a str) -> Fut<'a, Result<Option<DealId>, Error>> {
        Box::pin(async move {
            match by {
                MatchBy::ExternalId(system) => find_external::<Deal>(cx, system, key).await,
                _ => find_id::<Deal>(cx, key).await,
            }
        })
    }
    /// [`Deals::apply`](crm_core::service::Deals::apply): given fields replaced, people and
    /// tags added, a stage named moves the deal there.
    fn apply<'a>(
        cx: &'a Session,
        id: DealId,
        input: NewDeal,
        _columns: &'a [(String, DealColumn)],
    ) -> Fut<'a, Result<DealId, Error>> {
        Box::pin(async move { cx.deals().apply(id, input).await.map(|d| d.id) })
    }
    fn create<'a>(
        cx: &'a Session,
        inputs: Vec<NewDeal>,
        _options: &'a ImportOptions,
    ) -> Fut<'a, Result<Vec<Result<DealId, Error>>, Error>> {
        let deals = cx.deals();
        Box::pin(create_each(inputs, move |d| async move { deals.create(d).await.map(|d| d.id) }))
    }
    fn check<'a>(cx: &'a Session, input: NewDeal) -> Fut<'a, Result<(), Error>> {
        Box::pin(async move { cx.deals().check(input).await })
    }
}

/// The vendors' deals export columns.
fn preset_columns(preset: Preset) -> Vec<(&'static str, DealColumn)> {
    use DealColumn as C;
    match preset {
        Preset::HubSpot => vec![
            ("Record ID", C::ExternalId("hubspot".into())),
            ("Deal Name", C::Name),
            ("Amount", C::Amount),
            ("Currency", C::Currency),
            ("Close Date", C::ExpectedClose),
            ("Pipeline", C::Pipeline),
            ("Deal Stage", C::Stage),
            ("Associated Company", C::Company),
            ("Associated Company IDs", C::CompanyExternalId("hubspot".into())),
            ("Associated Contact", C::Contact),
            ("Associated Contact IDs", C::ContactExternalId("hubspot".into())),
        ],
        Preset::Salesforce => vec![
            ("Opportunity Name", C::Name),
            ("Amount", C::Amount),
            ("Opportunity Currency", C::Currency),
            ("Close Date", C::ExpectedClose),
            ("Stage", C::Stage),
            ("Account Name", C::Company),
            ("Account ID", C::CompanyExternalId("salesforce".into())),
            ("Opportunity ID", C::ExternalId("salesforce".into())),
        ],
        Preset::Pipedrive => vec![
            ("Deal - Title", C::Name),
            ("Deal - Value", C::Amount),
            ("Deal - Currency", C::Currency),
            ("Deal - Expected close date", C::ExpectedClose),
            ("Deal - Pipeline", C::Pipeline),
            ("Deal - Stage", C::Stage),
            ("Deal - Organization", C::Company),
            ("Deal - Contact person", C::Contact),
            ("Deal - Labels", C::Tags),
            ("Deal - ID", C::ExternalId("pipedrive".into())),
        ],
        Preset::Zoho => vec![
            ("Deal Name", C::Name),
            ("Amount", C::Amount),
            ("Currency", C::Currency),
            ("Closing Date", C::ExpectedClose),
            ("Pipeline", C::Pipeline),
            ("Stage", C::Stage),
            ("Account Name", C::Company),
            ("Contact Name", C::Contact),
            ("Tag", C::Tags),
            ("Record Id", C::ExternalId("zoho".into())),
        ],
    }
}

/// The column an obvious header names.
fn obvious(header: &str) -> Option<DealColumn> {
    use DealColumn as C;
    Some(match normalised(header).as_str() {
        "name" | "dealname" | "deal" | "title" | "opportunity" | "opportunityname" => C::Name,
        "amount" | "value" | "dealvalue" => C::Amount,
        "currency" | "currencycode" => C::Currency,
        "closedate" | "expectedclose" | "expectedclosedate" | "closingdate" => C::ExpectedClose,
        "pipeline" => C::Pipeline,
        "stage" | "dealstage" => C::Stage,
        "company" | "companyname" | "organization" | "organisation" | "account" | "accountname" => C::Company,
        "contact" | "contacts" | "contactemail" | "contactname" | "person" => C::Contact,
        "tags" | "tag" | "labels" => C::Tags,
        "leadsource" | "source" => C::LeadSource,
        _ => return None,
    })
}
