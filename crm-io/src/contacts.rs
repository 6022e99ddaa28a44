//! Contacts from a file: the columns of a contacts export and how a row becomes a
//! [`NewContact`].

use crm_core::error::Error;
use crm_core::model::Contact;
use crm_core::profile::{Address, LeadSource, LifecycleStage, PhoneLabel};
use crm_core::service::{DuplicateCandidate, DuplicateRules, ImportOptions, NewContact, Session};

use crate::coerce;
use crate::import::FileImport;
use crate::kind::{
    Fut, MatchBy, Reader, column_basics, create_each, find_external, find_id, per_input, phones_in, sealed::Kind,
    split_name,
};
use crate::lookups::{CompanyRef, Lookups};
use crate::mapping::{Preset, normalised};

/// An import of contacts.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> crm_io::Result<()> {
/// use crm_core::prelude::*;
/// use crm_io::{ContactImport, Preset, Table};
/// let crm = Crm::builder(MemoryStore::new()).default_region("US").build()?;
/// let cx = crm.as_actor(&Actor::system(TenantId::new()));
/// let file = "First Name,Last Name,Email,Phone Number,Lifecycle Stage,Company Name\n\
///             Ada,Lovelace,ada@example.org,(415) 555-2671,Marketing Qualified Lead,Analytical Engines\n\
///             Bob,,not-an-email,,,\n";
/// let report = ContactImport::new().preset(Preset::HubSpot).run(&cx, Table::csv(file.as_bytes())?, |_| {}).await?;
/// assert_eq!((report.imported.len(), report.rejected.len()), (1, 1));
/// let ada = cx.contacts().get(report.imported[0]).await?;
/// assert_eq!(ada.lifecycle_stage, LifecycleStage::MarketingQualifiedLead);
/// // The company the row names did not exist: it was created.
/// assert_eq!(ada.company_id, Some(report.companies_created[0]));
/// assert_eq!(report.rejected[0].line, 3);
/// # Ok(()) }
/// ```
pub type ContactImport = FileImport<Contact>;

/// What a column of a contacts file fills.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ContactColumn {
    /// Given name.
    GivenName,
    /// Family name.
    FamilyName,
    /// The whole name, split at the last space when no given/family columns are mapped.
    FullName,
    /// An email address (a multi-value cell adds each).
    Email,
    /// A phone number with its label (numbers without `+country` use the CRM's default region).
    Phone(PhoneLabel),
    /// Web site.
    Website,
    /// Lead source, by its name or label (`Referral`, `Trade Show`…).
    LeadSource,
    /// Lifecycle stage, by its name or label (`Marketing Qualified Lead`…).
    LifecycleStage,
    /// Birthday (a date).
    Birthday,
    /// Tags (a multi-value cell adds each).
    Tags,
    /// Family notes.
    Notes,
    /// Job title.
    JobTitle,
    /// Department.
    Department,
    /// The company they work for, by name: found, or created (see
    /// [`FileImport::create_companies`]).
    Company,
    /// The company they work for, by its id in this other system (`hubspot`…).
    CompanyExternalId(String),
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
    /// Their id in this other system (`hubspot`…), kept among the contact's external ids.
    ExternalId(String),
    /// The contact's id in this CRM (a UUID), to update it (see [`FileImport::upsert`]).
    Id,
    /// A custom field, by key; the cell is read as the field's type.
    Custom(String),
    /// Not imported.
    Ignore,
}

/// Lead-source labels other CRMs use, as this library names them.
pub(crate) const LEAD_SOURCES: &[(&str, &str)] = &[
    ("web", "website"),
    ("trade_show", "event"),
    ("seminar", "event"),
    ("word_of_mouth", "referral"),
    ("employee_referral", "referral"),
    ("external_referral", "referral"),
    ("partner_referral", "partner"),
    ("advertisement", "paid_ads"),
    ("paid_search", "paid_ads"),
    ("purchased_list", "import"),
    ("offline_sources", "other"),
    ("direct_traffic", "website"),
    ("email_marketing", "email_campaign"),
    ("social_media", "social_media"),
    ("cold_call", "cold_outreach"),
];

/// Lifecycle labels other CRMs use.
const STAGES: &[(&str, &str)] = &[
    ("mql", "marketing_qualified_lead"),
    ("sql", "sales_qualified_lead"),
    ("marketingqualifiedlead", "marketing_qualified_lead"),
];

/// What a contacts row says.
#[derive(Debug)]
pub struct ContactRow {
    contact: NewContact,
    id: Option<crm_core::ids::ContactId>,
    company: Option<(String, CompanyRef)>,
}

impl Kind for Contact {
    type Column = ContactColumn;
    type Input = NewContact;
    type Row = ContactRow;
    const MATCHES: &'static str = "email, external id or id";
    const PLURAL: &'static str = "contacts";
    const UPDATES: bool = true;

    column_basics!(ContactColumn);
    fn missing(columns: &[(String, ContactColumn)]) -> Option<String> {
        use ContactColumn as C;
        let named = columns.iter().any(|(_, c)| matches!(c, C::GivenName | C::FamilyName | C::FullName));
        (!named).then(|| "no column gives the contact's name; map one with `map`".into())
    }

    fn read(r: &Reader<'_, ContactColumn>, cells: &[String]) -> Result<ContactRow, Error> {
        use ContactColumn as C;
        let mut c = NewContact::default();
        let mut id = None;
        let mut company = None;
        let mut full_name = None;
        let mut phone_region = None;
        let mut address = Address::default();
        for cell in r.cells(cells)? {
            let v = cell.v;
            match cell.column {
                C::GivenName => c.given_name = cell.text(),
                C::FamilyName => c.family_name = cell.text(),
                C::FullName => full_name = Some(cell.text()),
                C::Email => {
                    for e in coerce::multi(v) {
                        c = c.email(e);
                    }
                }
                C::Phone(label) => {
                    for p in coerce::multi(v) {
                        c = c.phone_labeled(p, *label);
                    }
                }
                C::Website => c.website = Some(cell.text()),
                C::LeadSource => c.lead_source = Some(cell.option::<LeadSource>(LEAD_SOURCES)?),
                C::LifecycleStage => c.lifecycle_stage = Some(cell.option::<LifecycleStage>(STAGES)?),
                C::Birthday => c.birthday = Some(cell.date(r.dates)?),
                C::Tags => c.tags.extend(coerce::multi(v)),
                C::Notes => c.family_notes = Some(cell.text()),
                C::JobTitle => c.job_title = Some(cell.text()),
                C::Department => c.department = Some(cell.text()),
                C::Company => company = Some((cell.header.to_owned(), CompanyRef::Name(cell.text()))),
                C::CompanyExternalId(system) => {
                    company = Some((cell.header.to_owned(), CompanyRef::External(system.clone(), cell.text())));
                }
                C::Street => address.lines.push(cell.text()),
                C::City => address.city = Some(cell.text()),
                C::Region => address.region = Some(cell.text()),
                C::PostalCode => address.postal_code = Some(cell.text()),
                C::Country => address.country = Some(v.to_ascii_uppercase()),
                C::PhoneRegion => phone_region = Some(v.to_ascii_uppercase()),
                C::ExternalId(system) => c = c.external_ref(system.clone(), cell.text()),
                C::Id => id = Some(cell.id("contact")?),
                C::Custom(key) => {
                    if let Some((k, value)) = r.custom(&cell, key)? {
                        c.custom.insert(k, value);
                    }
                }
                C::Ignore => {}
            }
        }
        if let Some(full) = full_name
            && c.given_name.is_empty()
            && c.family_name.is_empty()
        {
            (c.given_name, c.family_name) = split_name(&full);
        }
        phones_in(&mut c.phones, phone_region.as_deref().or(address.country.as_deref()));
        if address != Address::default() {
            c.addresses.push(address);
        }
        Ok(ContactRow { contact: c, id, company })
    }

    fn resolve<'a>(
        cx: &'a Session,
        lookups: &'a mut Lookups,
        row: ContactRow,
    ) -> Fut<'a, Result<(NewContact, Option<crm_core::ids::ContactId>), Error>> {
        Box::pin(async move {
            let mut c = row.contact;
            if let Some(company) = &row.company {
                c.company_id = lookups.company_ref(cx, company).await?;
            }
            Ok((c, row.id))
        })
    }

    fn matches(by: &MatchBy) -> bool {
        matches!(by, MatchBy::Email | MatchBy::ExternalId(_) | MatchBy::Id)
    }
    fn keys(by: &MatchBy, input: &NewContact, id: Option<crm_core::ids::ContactId>) -> Vec<String> {
        match by {
            MatchBy::Email => input.emails.iter().map(|(e, _)| e.trim().to_lowercase()).collect(),
            MatchBy::ExternalId(system) => external_keys(&input.external_refs, system),
            _ => id.map(|i| i.to_string()).into_iter().collect(),
        }
    }
    fn twin_keys(input: &NewContact) -> Vec<String> {
        let emails = input.emails.iter().map(|(e, _)| e.trim().to_lowercase());
        let phones = input.phones.iter().map(|(p, _)| {
            let digits: String = p.chars().filter(char::is_ascii_digit).collect();
            format!("tel:{digits}")
        });
        emails.chain(phones).collect()
    }
    fn find<'a>(
        cx: &'a Session,
        by: &'a MatchBy,
        key: &'a str,
    ) -> Fut<'a, Result<Option<crm_core::ids::ContactId>, Error>> {
        Box::pin(async move {
            match by {
                // An address that does not parse matches nobody; the create refuses it with its reason.
                MatchBy::Email => match cx.contacts().find_by_email(key).await {
                    Ok(found) => Ok(found.map(|c| c.id)),
                    Err(Error::Validation(_)) => Ok(None),
                    Err(e) => Err(e),
                },
                MatchBy::ExternalId(system) => find_external::<Contact>(cx, system, key).await,
                _ => find_id::<Contact>(cx, key).await,
            }
        })
    }
    fn apply<'a>(
        cx: &'a Session,
        id: crm_core::ids::ContactId,
        input: NewContact,
        _columns: &'a [(String, ContactColumn)],
    ) -> Fut<'a, Result<crm_core::ids::ContactId, Error>> {
        Box::pin(async move { cx.contacts().apply(id, input).await.map(|c| c.id) })
    }
    fn create<'a>(
        cx: &'a Session,
        inputs: Vec<NewContact>,
        options: &'a ImportOptions,
    ) -> Fut<'a, Result<Vec<Result<crm_core::ids::ContactId, Error>>, Error>> {
        Box::pin(async move {
            let n = inputs.len();
            if n == 1 {
                let contacts = cx.contacts();
                return create_each(inputs, move |c| async move { contacts.create(c).await.map(|c| c.id) }).await;
            }
            Ok(per_input(n, cx.contacts().import(inputs, options, |_| {}).await?))
        })
    }
    fn check<'a>(cx: &'a Session, input: NewContact) -> Fut<'a, Result<(), Error>> {
        Box::pin(async move { cx.contacts().check(input).await })
    }
    fn twins<'a>(
        cx: &'a Session,
        input: &'a NewContact,
        rules: &'a DuplicateRules,
    ) -> Fut<'a, Result<Vec<DuplicateCandidate>, Error>> {
        Box::pin(async move { cx.contacts().duplicates_of(input, rules).await })
    }
}

/// The row's ids in `system`, as matched.
pub(crate) fn external_keys(refs: &[crm_core::model::ExternalRef], system: &str) -> Vec<String> {
    refs.iter().filter(|r| r.system.eq_ignore_ascii_case(system)).map(|r| r.id.trim().to_owned()).collect()
}

/// The vendors' contact export columns.
fn preset_columns(preset: Preset) -> Vec<(&'static str, ContactColumn)> {
    use ContactColumn as C;
    use PhoneLabel as P;
    let ext = |system: &str| C::ExternalId(system.into());
    let company = |system: &str| C::CompanyExternalId(system.into());
    match preset {
        Preset::HubSpot => vec![
            ("First Name", C::GivenName),
            ("Last Name", C::FamilyName),
            ("Email", C::Email),
            ("Phone Number", C::Phone(P::Work)),
            ("Mobile Phone Number", C::Phone(P::Mobile)),
            ("Website URL", C::Website),
            ("Lifecycle Stage", C::LifecycleStage),
            ("Original Source", C::LeadSource),
            ("Job Title", C::JobTitle),
            ("Company Name", C::Company),
            ("Associated Company ID", company("hubspot")),
            ("Street Address", C::Street),
            ("City", C::City),
            ("State/Region", C::Region),
            ("Postal Code", C::PostalCode),
            ("Country/Region", C::Country),
            ("Date of birth", C::Birthday),
            ("Record ID", ext("hubspot")),
        ],
        Preset::Salesforce => vec![
            ("First Name", C::GivenName),
            ("Last Name", C::FamilyName),
            ("Email", C::Email),
            ("Phone", C::Phone(P::Work)),
            ("Mobile", C::Phone(P::Mobile)),
            ("Home Phone", C::Phone(P::Home)),
            ("Title", C::JobTitle),
            ("Department", C::Department),
            ("Account Name", C::Company),
            ("Account ID", company("salesforce")),
            ("Lead Source", C::LeadSource),
            ("Birthdate", C::Birthday),
            ("Mailing Street", C::Street),
            ("Mailing City", C::City),
            ("Mailing State/Province", C::Region),
            ("Mailing Zip/Postal Code", C::PostalCode),
            ("Mailing Country", C::Country),
            ("Description", C::Notes),
            ("Contact ID", ext("salesforce")),
        ],
        Preset::Pipedrive => vec![
            ("Person - Name", C::FullName),
            ("Person - First name", C::GivenName),
            ("Person - Last name", C::FamilyName),
            ("Person - Email - Work", C::Email),
            ("Person - Email - Home", C::Email),
            ("Person - Email - Other", C::Email),
            ("Person - Phone - Work", C::Phone(P::Work)),
            ("Person - Phone - Mobile", C::Phone(P::Mobile)),
            ("Person - Phone - Home", C::Phone(P::Home)),
            ("Person - Organization", C::Company),
            ("Person - Labels", C::Tags),
            ("Person - ID", ext("pipedrive")),
        ],
        Preset::Zoho => vec![
            ("First Name", C::GivenName),
            ("Last Name", C::FamilyName),
            ("Email", C::Email),
            ("Secondary Email", C::Email),
            ("Phone", C::Phone(P::Work)),
            ("Mobile", C::Phone(P::Mobile)),
            ("Home Phone", C::Phone(P::Home)),
            ("Title", C::JobTitle),
            ("Department", C::Department),
            ("Account Name", C::Company),
            ("Lead Source", C::LeadSource),
            ("Date of Birth", C::Birthday),
            ("Mailing Street", C::Street),
            ("Mailing City", C::City),
            ("Mailing State", C::Region),
            ("Mailing Zip", C::PostalCode),
            ("Mailing Country", C::Country),
            ("Tag", C::Tags),
            ("Description", C::Notes),
            ("Record Id", ext("zoho")),
        ],
    }
}

/// The column an obvious header names (`First name`, `E-mail`, `Surname`, `ZIP`…).
fn obvious(header: &str) -> Option<ContactColumn> {
    use ContactColumn as C;
    Some(match normalised(header).as_str() {
        "firstname" | "givenname" | "forename" => C::GivenName,
        "lastname" | "familyname" | "surname" => C::FamilyName,
        "name" | "fullname" | "contactname" => C::FullName,
        "email" | "emails" | "emailaddress" | "mail" => C::Email,
        "phone" | "phones" | "phonenumber" | "telephone" | "tel" | "workphone" => C::Phone(PhoneLabel::Work),
        "mobile" | "mobilephone" | "cell" | "cellphone" | "mobilenumber" => C::Phone(PhoneLabel::Mobile),
        "homephone" => C::Phone(PhoneLabel::Home),
        "website" | "web" | "url" | "homepage" => C::Website,
        "leadsource" | "source" => C::LeadSource,
        "lifecyclestage" | "stage" => C::LifecycleStage,
        "birthday" | "birthdate" | "dateofbirth" | "dob" => C::Birthday,
        "tags" | "tag" | "labels" => C::Tags,
        "notes" | "note" | "description" => C::Notes,
        "jobtitle" | "title" | "position" | "role" => C::JobTitle,
        "department" => C::Department,
        "company" | "companyname" | "organization" | "organisation" | "account" | "accountname" => C::Company,
        "street" | "address" | "streetaddress" => C::Street,
        "city" | "town" => C::City,
        "state" | "region" | "province" | "county" => C::Region,
        "zip" | "zipcode" | "postcode" | "postalcode" => C::PostalCode,
        "country" | "countrycode" => C::Country,
        "phoneregion" | "phonecountry" | "dialingcountry" => C::PhoneRegion,
        _ => return None,
    })
}
