//! Which contact field a CSV column fills: vendor presets, obvious headers, a user's choice.

use crm_core::profile::PhoneLabel;

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
    /// Street of the postal address.
    Street,
    /// City of the postal address.
    City,
    /// State or region of the postal address.
    Region,
    /// Postal code.
    PostalCode,
    /// Country, as an ISO 3166 alpha-2 code.
    Country,
    /// The contact's id in this CRM (a UUID), to update it (see `ContactImport::upsert`).
    Id,
    /// A custom field, by key; the cell is read as the field's type.
    Custom(String),
    /// Not imported.
    Ignore,
}

/// Another CRM's contact export, whose column names are known.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Preset {
    /// HubSpot's contacts export.
    HubSpot,
    /// Salesforce's contacts report export.
    Salesforce,
    /// Pipedrive's people export.
    Pipedrive,
    /// Zoho CRM's contacts export.
    Zoho,
}

impl Preset {
    /// The vendor's column headers and what each fills.
    pub fn columns(self) -> &'static [(&'static str, ContactColumn)] {
        use ContactColumn as C;
        use PhoneLabel as P;
        match self {
            Preset::HubSpot => &[
                ("First Name", C::GivenName),
                ("Last Name", C::FamilyName),
                ("Email", C::Email),
                ("Phone Number", C::Phone(P::Work)),
                ("Mobile Phone Number", C::Phone(P::Mobile)),
                ("Website URL", C::Website),
                ("Lifecycle Stage", C::LifecycleStage),
                ("Original Source", C::LeadSource),
                ("Street Address", C::Street),
                ("City", C::City),
                ("State/Region", C::Region),
                ("Postal Code", C::PostalCode),
                ("Country/Region", C::Country),
                ("Date of birth", C::Birthday),
                ("Record ID", C::Ignore),
            ],
            Preset::Salesforce => &[
                ("First Name", C::GivenName),
                ("Last Name", C::FamilyName),
                ("Email", C::Email),
                ("Phone", C::Phone(P::Work)),
                ("Mobile", C::Phone(P::Mobile)),
                ("Home Phone", C::Phone(P::Home)),
                ("Lead Source", C::LeadSource),
                ("Birthdate", C::Birthday),
                ("Mailing Street", C::Street),
                ("Mailing City", C::City),
                ("Mailing State/Province", C::Region),
                ("Mailing Zip/Postal Code", C::PostalCode),
                ("Mailing Country", C::Country),
                ("Description", C::Notes),
                ("Contact ID", C::Ignore),
            ],
            Preset::Pipedrive => &[
                ("Person - Name", C::FullName),
                ("Person - First name", C::GivenName),
                ("Person - Last name", C::FamilyName),
                ("Person - Email - Work", C::Email),
                ("Person - Email - Home", C::Email),
                ("Person - Email - Other", C::Email),
                ("Person - Phone - Work", C::Phone(P::Work)),
                ("Person - Phone - Mobile", C::Phone(P::Mobile)),
                ("Person - Phone - Home", C::Phone(P::Home)),
                ("Person - Labels", C::Tags),
                ("Person - ID", C::Ignore),
            ],
            Preset::Zoho => &[
                ("First Name", C::GivenName),
                ("Last Name", C::FamilyName),
                ("Email", C::Email),
                ("Secondary Email", C::Email),
                ("Phone", C::Phone(P::Work)),
                ("Mobile", C::Phone(P::Mobile)),
                ("Home Phone", C::Phone(P::Home)),
                ("Lead Source", C::LeadSource),
                ("Date of Birth", C::Birthday),
                ("Mailing Street", C::Street),
                ("Mailing City", C::City),
                ("Mailing State", C::Region),
                ("Mailing Zip", C::PostalCode),
                ("Mailing Country", C::Country),
                ("Tag", C::Tags),
                ("Description", C::Notes),
                ("Record Id", C::Ignore),
            ],
        }
    }
}

/// A header as compared: lower case, only letters and digits.
pub(crate) fn normalised(header: &str) -> String {
    header.chars().filter(char::is_ascii_alphanumeric).map(|c| c.to_ascii_lowercase()).collect()
}

/// The column an obvious header names (`First name`, `E-mail`, `Surname`, `ZIP`…).
pub(crate) fn obvious(header: &str) -> Option<ContactColumn> {
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
        "street" | "address" | "streetaddress" => C::Street,
        "city" | "town" => C::City,
        "state" | "region" | "province" | "county" => C::Region,
        "zip" | "zipcode" | "postcode" | "postalcode" => C::PostalCode,
        "country" | "countrycode" => C::Country,
        _ => return None,
    })
}
