//! Which field a column fills: the vendors whose exports are known, headers as compared.

/// Another CRM's export, whose column names are known: its contacts, companies (accounts,
/// organizations), deals (opportunities) and products exports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Preset {
    /// HubSpot's exports; `Record ID` is kept as the `hubspot` external id.
    HubSpot,
    /// Salesforce's report exports; the record's id is kept as the `salesforce` external id.
    Salesforce,
    /// Pipedrive's exports; the record's id is kept as the `pipedrive` external id.
    Pipedrive,
    /// Zoho CRM's exports; `Record Id` is kept as the `zoho` external id.
    Zoho,
}

/// A header as compared: lower case, only letters and digits.
pub(crate) fn normalised(header: &str) -> String {
    header.chars().filter(char::is_ascii_alphanumeric).map(|c| c.to_ascii_lowercase()).collect()
}
