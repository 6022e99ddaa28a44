//! Companies from a file: the columns of an accounts or organizations export and how a row
//! becomes a [`NewCompany`].

use crm_core::error::Error;
use crm_core::ids::CompanyId;
use crm_core::model::Company;
use crm_core::profile::{Address, CompanySize, Domain, PhoneLabel};
use crm_core::query::{Filter, Query};
use crm_core::service::{ImportOptions, NewCompany, Session};

use crate::coerce;
use crate::contacts::external_keys;
use crate::import::FileImport;
use crate::kind::{
    Fut, MatchBy, Reader, column_basics, create_each, find_external, find_id, per_input, phones_in, sealed::Kind,
};
use crate::lookups::Lookups;
use crate::mapping::{Preset, normalised};

/// An import of companies. Upsert by [`MatchBy::Domain`] to update the companies already there.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> crm_io::Result<()> {
/// use crm_core::prelude::*;
/// use crm_core::profile::CompanySize;
/// use crm_io::{CompanyImport, MatchBy, OnMatch, Preset, Table};
/// let crm = Crm::new(MemoryStore::new());
/// let cx = crm.as_actor(&Actor::system(TenantId::new()));
/// cx.companies().create(NewCompany::new("Acme").domain("acme.com")).await?;
/// let file = "Account Name,Website,Industry,Employees,Account ID\n\
///             Acme Corp,https://www.acme.com,Tools,250,001A\n\
///             Globex,globex.com,Energy,12,001B\n";
/// let report = CompanyImport::new()
///     .preset(Preset::Salesforce)
///     .upsert(MatchBy::Domain, OnMatch::Update)
///     .run(&cx, Table::csv(file.as_bytes())?, |_| {})
///     .await?;
/// assert_eq!((report.updated.len(), report.imported.len()), (1, 1));
/// let acme = cx.companies().get(report.updated[0]).await?;
/// assert_eq!((acme.name.as_str(), acme.size), ("Acme Corp", Some(CompanySize::Large)));
/// # Ok(()) }
/// ```
pub type CompanyImport = FileImport<Company>;

/// What a column of a companies file fills.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CompanyColumn {
    /// Name.
    Name,
    /// Domain (`acme.com`; a web address gives its domain).
    Domain,
    /// Industry.
    Industry,
    /// Head-count: a band (`51-200`) or a number of employees.
    Size,
    /// A phone number with its label.
    Phone(PhoneLabel),
    /// Web site (also its domain, when no domain column gives one).
    Website,
    /// Street of the postal address.
    Street,
    /// City of the postal address.
    City,
    /// State or region of the postal address.
    Region,
    /// Postal code.
    PostalCode,
    /// Country, as an ISO 3166 alpha-2 code; numbers without `+country` are read in it.
    Country,
    /// The region (ISO 3166 alpha-2) the row's numbers without `+country` are read in, when
    /// it is not the country of the address.
    PhoneRegion,
    /// Tags (a multi-value cell adds each).
    Tags,
    /// Registered (legal) name.
    LegalName,
    /// Tax or VAT number.
    TaxId,
    /// Where invoices go.
    BillingEmail,
    /// Its id in this other system (`hubspot`…), kept among the company's external ids.
    ExternalId(String),
    /// The company's id in this CRM (a UUID), to update it.
    Id,
    /// A custom field, by key.
    Custom(String),
    /// Not imported.
    Ignore,
}

/// What a companies row says.
#[derive(Debug)]
pub struct CompanyRow {
    company: NewCompany,
    id: Option<CompanyId>,
}

impl Kind for Company {
    type Column = CompanyColumn;
    type Input = NewCompany;
    type Row = CompanyRow;
    const MATCHES: &'static str = "domain, external id or id";
    const PLURAL: &'static str = "companies";
    const UPDATES: bool = true;

    column_basics!(CompanyColumn);
    fn missing(columns: &[(String, CompanyColumn)]) -> Option<String> {
        let named = columns.iter().any(|(_, c)| *c == CompanyColumn::Name);
        (!named).then(|| "no column gives the company's name; map one with `map`".into())
    }

    fn read(r: &Reader<'_, CompanyColumn>, cells: &[String]) -> Result<CompanyRow, Error> {
        use CompanyColumn as C;
        let mut c = NewCompany::default();
        let mut id = None;
        let mut phone_region = None;
        let mut address = Address::default();
        for cell in r.cells(cells)? {
            let v = cell.v;
            match cell.column {
                C::Name => c.name = cell.text(),
                C::Domain => c.domain = Some(cell.text()),
                C::Industry => c.industry = Some(cell.text()),
                C::Size => {
                    c.size = Some(size(v).map_err(|m| cell.bad(crm_core::error::FieldErrorCode::NotAnOption, m))?)
                }
                C::Phone(label) => {
                    for p in coerce::multi(v) {
                        c.phones.push((p, *label));
                    }
                }
                C::Website => c.website = Some(cell.text()),
                C::Street => address.lines.push(cell.text()),
                C::City => address.city = Some(cell.text()),
                C::Region => address.region = Some(cell.text()),
                C::PostalCode => address.postal_code = Some(cell.text()),
                C::Country => address.country = Some(v.to_ascii_uppercase()),
                C::PhoneRegion => phone_region = Some(v.to_ascii_uppercase()),
                C::Tags => c.tags.extend(coerce::multi(v)),
                C::LegalName => c.legal_name = Some(cell.text()),
                C::TaxId => c.tax_id = Some(cell.text()),
                C::BillingEmail => c.billing_email = Some(cell.text()),
                C::ExternalId(system) => c = c.external_ref(system.clone(), cell.text()),
                C::Id => id = Some(cell.id("company")?),
                C::Custom(key) => {
                    if let Some((k, value)) = r.custom(&cell, key)? {
                        c.custom.insert(k, value);
                    }
                }
                C::Ignore => {}
            }
        }
        // A web address gives the domain a company is matched by.
        if c.domain.is_none()
            && let Some(w) = &c.website
            && let Ok(d) = Domain::parse(w)
        {
            c.domain = Some(d.as_str().to_owned());
        }
        phones_in(&mut c.phones, phone_region.as_deref().or(address.country.as_deref()));
        if address != Address::default() {
            c.addresses.push(address);
        }
        Ok(CompanyRow { company: c, id })
    }

    fn resolve<'a>(
        _cx: &'a Session,
        _lookups: &'a mut Lookups,
        row: CompanyRow,
    ) -> Fut<'a, Result<(NewCompany, Option<CompanyId>), Error>> {
        Box::pin(std::future::ready(Ok((row.company, row.id))))
    }

    fn matches(by: &MatchBy) -> bool {
        matches!(by, MatchBy::Domain | MatchBy::ExternalId(_) | MatchBy::Id)
    }
    fn keys(by: &MatchBy, input: &NewCompany, id: Option<CompanyId>) -> Vec<String> {
        match by {
            MatchBy::Domain => input
                .domain
                .as_deref()
                .and_then(|d| Domain::parse(d).ok())
                .map(|d| d.as_str().to_owned())
                .into_iter()
                .collect(),
            MatchBy::ExternalId(system) => external_keys(&input.external_refs, system),
            _ => id.map(|i| i.to_string()).into_iter().collect(),
        }
    }
    fn find<'a>(cx: &'a Session, by: &'a MatchBy, key: &'a str) -> Fut<'a, Result<Option<CompanyId>, Error>> {
        Box::pin(async move {
            match by {
                MatchBy::Domain => {
                    let page = cx.companies().list(&Query::new(Filter::eq("domain", key)).limit(1)).await?;
                    Ok(page.items.first().map(|c| c.id))
                }
                MatchBy::ExternalId(system) => find_external::<Company>(cx, system, key).await,
                _ => find_id::<Company>(cx, key).await,
            }
        })
    }
    fn apply<'a>(
        cx: &'a Session,
        id: CompanyId,
        input: NewCompany,
        _columns: &'a [(String, CompanyColumn)],
    ) -> Fut<'a, Result<CompanyId, Error>> {
        Box::pin(async move { cx.companies().apply(id, input).await.map(|c| c.id) })
    }
    fn create<'a>(
        cx: &'a Session,
        inputs: Vec<NewCompany>,
        options: &'a ImportOptions,
    ) -> Fut<'a, Result<Vec<Result<CompanyId, Error>>, Error>> {
        Box::pin(async move {
            let n = inputs.len();
            if n == 1 {
                let companies = cx.companies();
                return create_each(inputs, move |c| async move { companies.create(c).await.map(|c| c.id) }).await;
            }
            Ok(per_input(n, cx.companies().import(inputs, options, |_| {}).await?))
        })
    }
    fn check<'a>(cx: &'a Session, input: NewCompany) -> Fut<'a, Result<(), Error>> {
        Box::pin(async move { cx.companies().check(input).await })
    }
}

/// A head-count band by its name (`51-200`, `1000+`) or from a number of employees.
fn size(cell: &str) -> Result<CompanySize, String> {
    if let Ok(n) = coerce::decimal(cell)
        && !n.is_sign_negative()
    {
        let n = i64::try_from(n.trunc()).unwrap_or(i64::MAX);
        return Ok(match n {
            ..=10 => CompanySize::Micro,
            11..=50 => CompanySize::Small,
            51..=200 => CompanySize::Medium,
            201..=1000 => CompanySize::Large,
            _ => CompanySize::Enterprise,
        });
    }
    cell.trim().replace(' ', "").parse::<CompanySize>().map_err(|_| {
        format!("`{}` is not a head-count (a number, or 1-10, 11-50, 51-200, 201-1000, 1000+)", cell.trim())
    })
}

/// The vendors' companies export columns.
fn preset_columns(preset: Preset) -> Vec<(&'static str, CompanyColumn)> {
    use CompanyColumn as C;
    let ext = |system: &str| C::ExternalId(system.into());
    match preset {
        Preset::HubSpot => vec![
            ("Company name", C::Name),
            ("Company Domain Name", C::Domain),
            ("Website URL", C::Website),
            ("Industry", C::Industry),
            ("Number of Employees", C::Size),
            ("Phone Number", C::Phone(PhoneLabel::Main)),
            ("Street Address", C::Street),
            ("City", C::City),
            ("State/Region", C::Region),
            ("Postal Code", C::PostalCode),
            ("Country/Region", C::Country),
            ("Record ID", ext("hubspot")),
        ],
        Preset::Salesforce => vec![
            ("Account Name", C::Name),
            ("Website", C::Website),
            ("Industry", C::Industry),
            ("Employees", C::Size),
            ("Phone", C::Phone(PhoneLabel::Main)),
            ("Billing Street", C::Street),
            ("Billing City", C::City),
            ("Billing State/Province", C::Region),
            ("Billing Zip/Postal Code", C::PostalCode),
            ("Billing Country", C::Country),
            ("Account ID", ext("salesforce")),
        ],
        Preset::Pipedrive => vec![
            ("Organization - Name", C::Name),
            ("Organization - Website", C::Website),
            ("Organization - Industry", C::Industry),
            ("Organization - Number of employees", C::Size),
            ("Organization - Address", C::Street),
            ("Organization - Labels", C::Tags),
            ("Organization - ID", ext("pipedrive")),
        ],
        Preset::Zoho => vec![
            ("Account Name", C::Name),
            ("Website", C::Website),
            ("Industry", C::Industry),
            ("Employees", C::Size),
            ("Phone", C::Phone(PhoneLabel::Main)),
            ("Billing Street", C::Street),
            ("Billing City", C::City),
            ("Billing State", C::Region),
            ("Billing Code", C::PostalCode),
            ("Billing Country", C::Country),
            ("Tag", C::Tags),
            ("Record Id", ext("zoho")),
        ],
    }
}

/// The column an obvious header names.
fn obvious(header: &str) -> Option<CompanyColumn> {
    use CompanyColumn as C;
    Some(match normalised(header).as_str() {
        "name" | "company" | "companyname" | "organization" | "organisation" | "organizationname" | "account"
        | "accountname" => C::Name,
        "domain" | "domainname" | "companydomain" => C::Domain,
        "industry" | "sector" => C::Industry,
        "size" | "employees" | "numberofemployees" | "headcount" => C::Size,
        "phone" | "phonenumber" | "telephone" | "tel" => C::Phone(PhoneLabel::Main),
        "website" | "web" | "url" | "homepage" => C::Website,
        "street" | "address" | "streetaddress" => C::Street,
        "city" | "town" => C::City,
        "state" | "region" | "province" | "county" => C::Region,
        "zip" | "zipcode" | "postcode" | "postalcode" => C::PostalCode,
        "country" | "countrycode" => C::Country,
        "phoneregion" | "phonecountry" => C::PhoneRegion,
        "tags" | "tag" | "labels" => C::Tags,
        "legalname" | "registeredname" => C::LegalName,
        "taxid" | "vat" | "vatnumber" | "taxnumber" => C::TaxId,
        "billingemail" | "invoiceemail" => C::BillingEmail,
        _ => return None,
    })
}
