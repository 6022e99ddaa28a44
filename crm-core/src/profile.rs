//! The building blocks of a customer profile: emails, phones, addresses, consent, channels.

use std::fmt;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::macros::str_enum;

/// A syntax-checked email address, stored lower-cased so matching is case-insensitive.
///
/// ```
/// use crm_core::profile::Email;
/// assert_eq!(Email::parse(" Ada@Example.COM ").unwrap().as_str(), "ada@example.com");
/// assert!(Email::parse("ada@@example").is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(example = "ada@example.org"))]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    /// Checks the syntax (RFC 5322 address, a domain with a top-level domain, no display name).
    pub fn parse(input: &str) -> Result<Self, String> {
        let s = input.trim();
        if s.is_empty() {
            return Err("an email address is required".into());
        }
        let opts =
            email_address::Options::default().with_required_tld().without_display_text().without_domain_literal();
        match email_address::EmailAddress::parse_with_options(s, opts) {
            Ok(_) => Ok(Email(s.to_lowercase())),
            Err(e) => Err(format!("`{s}` is not a valid email address ({e})")),
        }
    }

    /// The address.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The domain part (after `@`).
    pub fn domain(&self) -> &str {
        self.0.rsplit_once('@').map(|(_, d)| d).unwrap_or("")
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A phone number normalised to E.164 (`+14155550123`).
///
/// ```
/// use crm_core::profile::PhoneNumber;
/// let p = PhoneNumber::parse("(415) 555-2671", Some("US")).unwrap();
/// assert_eq!(p.as_str(), "+14155552671");
/// assert_eq!(PhoneNumber::parse("+44 20 7946 0958", None).unwrap().as_str(), "+442079460958");
/// assert!(PhoneNumber::parse("12", Some("US")).is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(pattern = r"^\+[1-9][0-9]+$", example = "+14155552671")
)]
#[serde(transparent)]
pub struct PhoneNumber(String);

impl PhoneNumber {
    /// Parses a number written in any common way. Numbers without a `+country` prefix
    /// need `default_region` (ISO 3166 alpha-2, e.g. `"US"`, `"DE"`).
    pub fn parse(input: &str, default_region: Option<&str>) -> Result<Self, String> {
        let s = input.trim();
        if s.is_empty() {
            return Err("a phone number is required".into());
        }
        let region = match default_region {
            Some(r) => Some(parse_region(r)?),
            None => None,
        };
        let number = parse_international(s, region).map_err(|e| format!("`{s}` is not a phone number ({e})"))?;
        if !number.is_valid() {
            return Err(format!("`{s}` is not a valid phone number for its region"));
        }
        Ok(PhoneNumber(number.format().mode(phonenumber::Mode::E164).to_string()))
    }

    /// The E.164 form.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Parses a number the way libphonenumber does: the trunk prefix of the number's own country is
/// dropped, so `+44 (0)20 8592 4242` and `0044 (0)20 8592 4242` are the London number
/// `+442085924242`, and Italy's leading zero stays, whatever `region` is. (The `phonenumber`
/// crate takes the trunk prefix of `region` instead whenever one is given.) `region` serves
/// numbers written without a country code, and names the international call prefix.
fn parse_international(
    s: &str,
    region: Option<phonenumber::country::Id>,
) -> Result<phonenumber::PhoneNumber, phonenumber::ParseError> {
    use phonenumber::country::Source;
    // Written with a `+`: the number names its country, whose rules apply.
    let plus_first = s.chars().find(|c| c.is_ascii_digit() || matches!(c, '+' | '\u{FF0B}'));
    if matches!(plus_first, Some('+' | '\u{FF0B}')) || region.is_none() {
        return phonenumber::parse(None, s);
    }
    let number = phonenumber::parse(region, s)?;
    if number.is_valid() || number.code().source() != Source::Idd {
        return Ok(number);
    }
    // Dialled with the international call prefix of `region` (`00`, `011`…): the same digits
    // after that prefix, read as `+<country code>…`.
    let digits: String = s.chars().filter(char::is_ascii_digit).collect();
    let code = number.code().value().to_string();
    let international = (2..digits.len().min(6))
        .find(|k| digits[*k..].starts_with(&code))
        .map(|k| format!("+{}", &digits[k..]))
        .and_then(|plus| phonenumber::parse(None, plus).ok())
        .filter(|n| n.is_valid());
    Ok(international.unwrap_or(number))
}

/// Parses an ISO 3166 alpha-2 region code known to the phone-number database.
pub(crate) fn parse_region(code: &str) -> Result<phonenumber::country::Id, String> {
    code.trim()
        .to_ascii_uppercase()
        .parse::<phonenumber::country::Id>()
        .map_err(|_| format!("`{code}` is not an ISO 3166 alpha-2 region code"))
}

/// A web address (http or https), normalised by the URL parser.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(example = "https://acme.com/"))]
#[serde(transparent)]
pub struct Website(String);

impl Website {
    /// Accepts `https://acme.com/x`, or `acme.com` (https assumed).
    pub fn parse(input: &str) -> Result<Self, String> {
        let s = input.trim();
        let with_scheme = if s.contains("://") { s.to_owned() } else { format!("https://{s}") };
        let url = url::Url::parse(&with_scheme).map_err(|e| format!("`{s}` is not a web address ({e})"))?;
        if url.scheme() != "http" && url.scheme() != "https" {
            return Err(format!("`{s}` must be an http or https address"));
        }
        match url.host_str() {
            Some(h) if h.contains('.') => Ok(Website(url.to_string())),
            _ => Err(format!("`{s}` has no valid host name")),
        }
    }

    /// The normalised URL.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An internet domain such as `acme.com`, lower-cased, without scheme, path or `www.`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(example = "acme.com"))]
#[serde(transparent)]
pub struct Domain(String);

impl Domain {
    /// Accepts `acme.com`, `www.acme.com` or `https://acme.com/about`.
    pub fn parse(input: &str) -> Result<Self, String> {
        let w = Website::parse(input)?;
        let url = url::Url::parse(w.as_str()).map_err(|e| e.to_string())?;
        match url.domain() {
            Some(d) => Ok(Domain(d.strip_prefix("www.").unwrap_or(d).to_owned())),
            None => Err(format!("`{}` is not a domain name", input.trim())),
        }
    }

    /// The domain.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

str_enum! {
    /// What an email address is used for.
    #[non_exhaustive]
    pub enum EmailLabel { /** Work address. */ Work = "work", /** Personal address. */ Personal = "personal", /** Anything else. */ Other = "other" }
}

str_enum! {
    /// What a phone number is.
    #[non_exhaustive]
    pub enum PhoneLabel {
        /** Mobile phone. */ Mobile = "mobile", /** Work line. */ Work = "work", /** Home line. */ Home = "home",
        /** Main switchboard. */ Main = "main", /** Fax. */ Fax = "fax", /** Anything else. */ Other = "other",
    }
}

str_enum! {
    /// What a postal address is used for.
    #[non_exhaustive]
    pub enum AddressLabel {
        /** Home. */ Home = "home", /** Office. */ Work = "work", /** Where invoices go. */ Billing = "billing",
        /** Where goods go. */ Shipping = "shipping", /** Anything else. */ Other = "other",
    }
}

/// One email address of a contact. The first in a contact's list is the primary one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EmailEntry {
    /// The address.
    pub address: Email,
    /// What it is used for.
    pub label: EmailLabel,
}

/// One phone number of a contact or company. The first in a list is the primary one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PhoneEntry {
    /// The number in E.164.
    pub number: PhoneNumber,
    /// What it is.
    pub label: PhoneLabel,
}

/// A postal address.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Address {
    /// What it is used for.
    pub label: Option<AddressLabel>,
    /// Street lines, first to last.
    pub lines: Vec<String>,
    /// City or town.
    pub city: Option<String>,
    /// State, province or county.
    pub region: Option<String>,
    /// Postal or ZIP code.
    pub postal_code: Option<String>,
    /// ISO 3166 alpha-2 country code, upper case (`"DE"`).
    pub country: Option<String>,
}

str_enum! {
    /// A social network.
    #[non_exhaustive]
    pub enum SocialNetwork {
        /** LinkedIn. */ LinkedIn = "linkedin", /** X (Twitter). */ X = "x", /** Facebook. */ Facebook = "facebook",
        /** Instagram. */ Instagram = "instagram", /** GitHub. */ GitHub = "github", /** YouTube. */ YouTube = "youtube",
        /** TikTok. */ TikTok = "tiktok", /** Mastodon. */ Mastodon = "mastodon", /** Anything else. */ Other = "other",
    }
}

/// A profile on a social network.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SocialProfile {
    /// The network.
    pub network: SocialNetwork,
    /// Handle or profile URL.
    pub handle: String,
}

str_enum! {
    /// A way of communicating with a customer.
    #[non_exhaustive]
    pub enum Channel {
        /** Email. */ Email = "email", /** Phone call. */ Phone = "phone", /** SMS / text message. */ Sms = "sms",
        /** WhatsApp or another messenger. */ Messaging = "messaging", /** Video call. */ Video = "video",
        /** Face to face. */ InPerson = "in_person", /** Postal mail. */ Mail = "mail",
        /** Social network. */ Social = "social", /** Web form or chat. */ Web = "web",
    }
}

str_enum! {
    /// How a contact found us.
    #[non_exhaustive]
    pub enum LeadSource {
        /** Our website. */ Website = "website", /** Search engine. */ OrganicSearch = "organic_search",
        /** Paid advertising. */ PaidAds = "paid_ads", /** Social media. */ SocialMedia = "social_media",
        /** Email campaign. */ EmailCampaign = "email_campaign", /** A referral by a customer or friend. */ Referral = "referral",
        /** A trade show or event. */ Event = "event", /** Our outbound prospecting. */ ColdOutreach = "cold_outreach",
        /** A partner. */ Partner = "partner", /** Walked into a shop. */ WalkIn = "walk_in",
        /** Imported from a list. */ Import = "import", /** Anything else. */ Other = "other",
    }
}

str_enum! {
    /// Whether a contact agreed to marketing messages.
    #[non_exhaustive]
    pub enum ConsentStatus {
        /** Never asked. */ Unknown = "unknown", /** Agreed. */ Granted = "granted",
        /** Refused. */ Denied = "denied", /** Agreed once, then withdrew. */ Withdrawn = "withdrawn",
    }
}

str_enum! {
    /// How consent was given or withdrawn.
    #[non_exhaustive]
    pub enum ConsentMethod {
        /** Web form. */ WebForm = "web_form", /** Confirmed by a link sent by email. */ DoubleOptIn = "double_opt_in",
        /** Said so on a call or in person. */ Verbal = "verbal", /** In writing. */ Written = "written",
        /** Came with an import. */ Import = "import", /** Unsubscribe link. */ Unsubscribe = "unsubscribe",
        /** Anything else. */ Other = "other",
    }
}

/// Marketing consent: status, when it last changed and how.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MarketingConsent {
    /// Current status.
    pub status: ConsentStatus,
    /// When it last changed.
    pub changed_at: Option<DateTime<Utc>>,
    /// How it was given or withdrawn.
    pub method: Option<ConsentMethod>,
}

impl Default for MarketingConsent {
    fn default() -> Self {
        Self { status: ConsentStatus::Unknown, changed_at: None, method: None }
    }
}

/// A date worth remembering (anniversary, contract renewal, child's birthday…).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ImportantDate {
    /// What the date is.
    pub label: String,
    /// The date.
    pub date: NaiveDate,
}

/// Membership of a club, association or loyalty programme.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Membership {
    /// The organisation.
    pub organization: String,
    /// Role or level, if any.
    pub role: Option<String>,
    /// Member since.
    pub since: Option<NaiveDate>,
}

str_enum! {
    /// Where a contact is in the customer lifecycle. Ordered: moves go forward unless reset.
    #[non_exhaustive]
    pub enum LifecycleStage {
        /** Subscribed to content. */ Subscriber = "subscriber",
        /** Showed interest. */ Lead = "lead",
        /** Marketing-qualified lead. */ MarketingQualifiedLead = "marketing_qualified_lead",
        /** Sales-qualified lead. */ SalesQualifiedLead = "sales_qualified_lead",
        /** On an open deal. */ Opportunity = "opportunity",
        /** Has bought. */ Customer = "customer",
        /** Recommends us. */ Evangelist = "evangelist",
    }
}

str_enum! {
    /// Head-count band of a company.
    #[non_exhaustive]
    pub enum CompanySize {
        /** 1–10 people. */ Micro = "1-10", /** 11–50 people. */ Small = "11-50",
        /** 51–200 people. */ Medium = "51-200", /** 201–1000 people. */ Large = "201-1000",
        /** More than 1000 people. */ Enterprise = "1000+",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_checked_and_lowercased() {
        assert_eq!(Email::parse("Jane.Doe+crm@ACME.io").unwrap().as_str(), "jane.doe+crm@acme.io");
        for bad in ["", "jane", "jane@", "@acme.com", "jane@acme", "Jane <jane@acme.com>", "ja ne@acme.com"] {
            assert!(Email::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(Email::parse("a@b.co").unwrap().domain(), "b.co");
    }

    #[test]
    fn phones_normalise_to_e164() {
        assert_eq!(PhoneNumber::parse("030 901820", Some("DE")).unwrap().as_str(), "+4930901820");
        assert_eq!(PhoneNumber::parse("tel:+1-415-555-2671", None).unwrap().as_str(), "+14155552671");
        assert!(PhoneNumber::parse("415 555 2671", None).is_err(), "national number without region");
        assert!(PhoneNumber::parse("415 555 2671", Some("XX")).is_err(), "unknown region");
        assert!(PhoneNumber::parse("not a phone", Some("US")).is_err());
    }

    /// libphonenumber's parsing examples (PhoneNumberUtilTest: numbers with `+`, international
    /// call prefixes, national numbers) and the trunk prefix in brackets it accepts, each with
    /// several default regions: the result depends on the number, not on the default.
    #[test]
    fn phones_parse_as_libphonenumber_does() {
        let cases: &[(&str, &[Option<&str>], &str)] = &[
            ("+64 3 331 6005", &[None, Some("US"), Some("GB")], "+6433316005"),
            ("\u{FF0B}64 3 331 6005", &[None, Some("DE")], "+6433316005"),
            ("Tel: +64 3 331 6005", &[None, Some("US")], "+6433316005"),
            ("03-331 6005", &[Some("NZ")], "+6433316005"),
            ("tel:03-331-6005;phone-context=+64", &[Some("NZ")], "+6433316005"),
            ("+1 (650) 253-0000", &[None, Some("NZ"), Some("GB")], "+16502530000"),
            ("1-650-253-0000", &[Some("US")], "+16502530000"),
            ("0011-650-253-0000", &[Some("SG")], "+16502530000"),
            ("011 64 3 331 6005", &[Some("US")], "+6433316005"),
            ("+44 (0)20 8592 4242", &[None, Some("GB"), Some("US"), Some("DE")], "+442085924242"),
            ("+44(0)2085924242", &[None, Some("US")], "+442085924242"),
            ("+44 (0) 20 7946 0958", &[None, Some("US"), Some("FR")], "+442079460958"),
            ("+49 (0)89 5796379", &[None, Some("DE"), Some("US"), Some("GB")], "+49895796379"),
            ("+49 (0) 30 901820", &[None, Some("US")], "+4930901820"),
            ("+33 (0)1 42 68 53 00", &[None, Some("GB"), Some("US")], "+33142685300"),
            ("0044 (0)20 8592 4242", &[Some("DE"), Some("FR"), Some("GB")], "+442085924242"),
            ("011 44 (0)20 8592 4242", &[Some("US")], "+442085924242"),
            // Italy keeps its leading zero: it is part of the number, not a trunk prefix.
            ("+39 02 1234 5678", &[None, Some("GB"), Some("DE"), Some("US")], "+390212345678"),
            ("0039 02 1234 5678", &[Some("DE"), Some("GB")], "+390212345678"),
        ];
        for (input, regions, want) in cases {
            for region in *regions {
                let got = PhoneNumber::parse(input, *region).map(|p| p.0);
                assert_eq!(got.as_deref(), Ok(*want), "{input:?} with default region {region:?}");
            }
        }
        // Still refused: a trunk prefix where the country has none, and numbers too short.
        assert!(PhoneNumber::parse("+1 (0)650 253 0000", None).is_err());
        assert!(PhoneNumber::parse("+44 (0)20", Some("GB")).is_err());
    }

    #[test]
    fn websites_and_domains_normalise() {
        assert_eq!(Website::parse("acme.com").unwrap().as_str(), "https://acme.com/");
        assert!(Website::parse("ftp://acme.com").is_err());
        assert!(Website::parse("localhost").is_err());
        assert_eq!(Domain::parse("https://www.Acme.com/about").unwrap().as_str(), "acme.com");
        assert!(Domain::parse("not a domain").is_err());
        assert_eq!(Domain::parse("www.www.example.com").unwrap().as_str(), "www.example.com");
    }

    #[test]
    fn lifecycle_stages_are_ordered() {
        assert!(LifecycleStage::Subscriber < LifecycleStage::Lead);
        assert!(LifecycleStage::Opportunity < LifecycleStage::Customer);
        assert_eq!("customer".parse::<LifecycleStage>().unwrap(), LifecycleStage::Customer);
        assert!("vip".parse::<LifecycleStage>().unwrap_err().contains("evangelist"));
    }
}
