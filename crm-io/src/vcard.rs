//! Contacts to and from vCard 3.0 and 4.0 (feature `vcard`, through calcard): address books
//! exported by phones and mail programs come in, and contacts go out to them.

use std::io::Write;

use calcard::common::PartialDateTime;
use calcard::vcard::{VCard, VCardEntry, VCardParameter, VCardParameterValue, VCardProperty, VCardType, VCardValue};
use calcard::{Entry, Parser};
use chrono::{Datelike, NaiveDate};
use crm_core::error::{Error, FieldErrorCode};
use crm_core::ids::ContactId;
use crm_core::model::Contact;
use crm_core::profile::{Address, AddressLabel, EmailLabel, PhoneLabel};
use crm_core::query::Query;
use crm_core::service::{ImportOptions, NewContact, Session};

use crate::Result;
use crate::export::{Export, each_record};

/// The vCard version written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum VcardVersion {
    /// vCard 3.0 (RFC 2426): what most address books read.
    V3,
    /// vCard 4.0 (RFC 6350).
    V4,
}

/// What a vCard import did.
#[derive(Debug, Default)]
pub struct VcardImport {
    /// The contacts created, in file order.
    pub imported: Vec<ContactId>,
    /// The cards not imported: their position in the file (from 0) and why.
    pub rejected: Vec<(usize, Error)>,
}

fn typ(t: VCardType) -> VCardParameter {
    VCardParameter::typ(VCardParameterValue::Type(t))
}

fn text(s: &str) -> VCardValue {
    VCardValue::Text(s.to_owned())
}

/// A contact as a vCard: name, emails and phones with their kind, addresses, web site,
/// birthday, notes, tags as categories, job title, and the contact's id as UID.
pub fn contact_to_vcard(c: &Contact) -> VCard {
    let mut e = vec![
        VCardEntry::new(VCardProperty::Uid).with_value(format!("urn:uuid:{}", c.id)),
        VCardEntry::new(VCardProperty::N).with_values(vec![
            text(&c.family_name),
            text(&c.given_name),
            text(""),
            text(""),
            text(""),
        ]),
        VCardEntry::new(VCardProperty::Fn).with_value(format!("{} {}", c.given_name, c.family_name).trim().to_owned()),
    ];
    for m in &c.emails {
        let entry = VCardEntry::new(VCardProperty::Email).with_value(m.address.as_str().to_owned());
        e.push(match m.label {
            EmailLabel::Work => entry.with_param(typ(VCardType::Work)),
            EmailLabel::Personal => entry.with_param(typ(VCardType::Home)),
            _ => entry,
        });
    }
    for p in &c.phones {
        let entry = VCardEntry::new(VCardProperty::Tel).with_value(p.number.as_str().to_owned());
        e.push(match p.label {
            PhoneLabel::Mobile => entry.with_param(typ(VCardType::Cell)),
            PhoneLabel::Work => entry.with_param(typ(VCardType::Work)),
            PhoneLabel::Home => entry.with_param(typ(VCardType::Home)),
            PhoneLabel::Fax => entry.with_param(typ(VCardType::Fax)),
            _ => entry,
        });
    }
    for a in &c.addresses {
        let part = |s: &Option<String>| text(s.as_deref().unwrap_or(""));
        let street = text(&a.lines.join("\n"));
        let values =
            vec![text(""), text(""), street, part(&a.city), part(&a.region), part(&a.postal_code), part(&a.country)];
        let entry = VCardEntry::new(VCardProperty::Adr).with_values(values);
        e.push(match a.label {
            Some(AddressLabel::Home) => entry.with_param(typ(VCardType::Home)),
            Some(AddressLabel::Work) => entry.with_param(typ(VCardType::Work)),
            _ => entry,
        });
    }
    if let Some(w) = &c.website {
        e.push(VCardEntry::new(VCardProperty::Url).with_value(w.as_str().to_owned()));
    }
    if let Some(b) = c.birthday {
        let date = PartialDateTime {
            year: u16::try_from(b.year()).ok(),
            month: u8::try_from(b.month()).ok(),
            day: u8::try_from(b.day()).ok(),
            ..Default::default()
        };
        e.push(VCardEntry::new(VCardProperty::Bday).with_value(VCardValue::PartialDateTime(date)));
    }
    if let Some(n) = &c.family_notes {
        e.push(VCardEntry::new(VCardProperty::Note).with_value(n.clone()));
    }
    if !c.tags.is_empty() {
        e.push(VCardEntry::new(VCardProperty::Categories).with_values(c.tags.iter().map(|t| text(t)).collect()));
    }
    if let Some(t) = &c.job_title {
        e.push(VCardEntry::new(VCardProperty::Title).with_value(t.clone()));
    }
    VCard { entries: e }
}

fn texts(e: &VCardEntry) -> Vec<String> {
    e.values
        .iter()
        .flat_map(|v| match v {
            VCardValue::Text(s) => vec![s.clone()],
            VCardValue::Component(parts) => parts.clone(),
            _ => Vec::new(),
        })
        .collect()
}

fn first(e: &VCardEntry) -> Option<String> {
    texts(e).into_iter().map(|s| s.trim().to_owned()).find(|s| !s.is_empty())
}

fn has_type(e: &VCardEntry, t: &VCardType) -> bool {
    e.params.iter().any(|p| match &p.value {
        VCardParameterValue::Type(x) => x == t,
        VCardParameterValue::Text(s) => format!("{t:?}").eq_ignore_ascii_case(s),
        _ => false,
    })
}

/// The contact a vCard describes (as text, checked when it is created). A card without any
/// name is refused naming `n`.
pub fn vcard_to_contact(card: &VCard) -> std::result::Result<NewContact, Error> {
    let mut c = NewContact::default();
    for e in &card.entries {
        match &e.name {
            VCardProperty::N => {
                let parts = texts(e);
                c.family_name = parts.first().cloned().unwrap_or_default().trim().to_owned();
                c.given_name = parts.get(1).cloned().unwrap_or_default().trim().to_owned();
            }
            VCardProperty::Email => {
                if let Some(a) = first(e) {
                    let label = if has_type(e, &VCardType::Work) {
                        EmailLabel::Work
                    } else if has_type(e, &VCardType::Home) {
                        EmailLabel::Personal
                    } else {
                        EmailLabel::Other
                    };
                    c = c.email_labeled(a, label);
                }
            }
            VCardProperty::Tel => {
                if let Some(n) = first(e) {
                    let label = [
                        (VCardType::Cell, PhoneLabel::Mobile),
                        (VCardType::Fax, PhoneLabel::Fax),
                        (VCardType::Work, PhoneLabel::Work),
                        (VCardType::Home, PhoneLabel::Home),
                    ]
                    .into_iter()
                    .find(|(t, _)| has_type(e, t))
                    .map_or(PhoneLabel::Other, |(_, l)| l);
                    c = c.phone_labeled(n.trim_start_matches("tel:").to_owned(), label);
                }
            }
            VCardProperty::Adr => {
                let p = texts(e);
                let part = |i: usize| p.get(i).map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
                let lines: Vec<String> = part(2).map(|s| s.lines().map(str::to_owned).collect()).unwrap_or_default();
                let label = if has_type(e, &VCardType::Home) {
                    Some(AddressLabel::Home)
                } else if has_type(e, &VCardType::Work) {
                    Some(AddressLabel::Work)
                } else {
                    None
                };
                let a =
                    Address { label, lines, city: part(3), region: part(4), postal_code: part(5), country: part(6) };
                if a != (Address { label, ..Address::default() }) {
                    c.addresses.push(a);
                }
            }
            VCardProperty::Url => c.website = first(e),
            VCardProperty::Bday => {
                let date = e.values.iter().find_map(|v| match v {
                    VCardValue::PartialDateTime(d) => {
                        NaiveDate::from_ymd_opt(i32::from(d.year?), u32::from(d.month?), u32::from(d.day?))
                    }
                    VCardValue::Text(s) => NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").ok(),
                    _ => None,
                });
                c.birthday = date;
            }
            VCardProperty::Note => c.family_notes = first(e),
            VCardProperty::Categories => {
                c.tags.extend(texts(e).into_iter().map(|t| t.trim().to_owned()).filter(|t| !t.is_empty()))
            }
            VCardProperty::Title => c.job_title = first(e),
            _ => {}
        }
    }
    if c.given_name.is_empty() && c.family_name.is_empty() {
        let full = card.entries.iter().find(|e| e.name == VCardProperty::Fn).and_then(first);
        match full.as_deref().and_then(|f| f.rsplit_once(' ')) {
            Some((g, f)) => (c.given_name, c.family_name) = (g.trim().to_owned(), f.trim().to_owned()),
            None => c.given_name = full.unwrap_or_default(),
        }
    }
    if c.given_name.is_empty() && c.family_name.is_empty() {
        return Err(Error::invalid("n", FieldErrorCode::Required, "the card has no name (N or FN)"));
    }
    Ok(c)
}

/// Every card of a `.vcf` file (vCard 2.1, 3.0 or 4.0), each as a contact or why not. Text
/// that is not a card is skipped.
pub fn read_vcards(vcf: &str) -> Vec<std::result::Result<NewContact, Error>> {
    let mut parser = Parser::new(vcf);
    let mut out = Vec::new();
    loop {
        match parser.entry() {
            Entry::VCard(card) => out.push(vcard_to_contact(&card)),
            Entry::UnterminatedComponent(_) => {
                out.push(Err(Error::invalid("vcard", FieldErrorCode::InvalidFormat, "the card has no END:VCARD")))
            }
            Entry::Eof => return out,
            _ => {}
        }
    }
}

/// Imports the cards of a `.vcf` file as contacts through the typed bulk import (same rules,
/// events and search as any create); a card that is not a valid contact is listed with why.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> crm_io::Result<()> {
/// use crm_core::prelude::*;
/// let crm = Crm::builder(MemoryStore::new()).default_region("GB").build()?;
/// let cx = crm.as_actor(&Actor::system(TenantId::new()));
/// let vcf = "BEGIN:VCARD\r\nVERSION:3.0\r\nN:Lovelace;Ada;;;\r\nEMAIL;TYPE=WORK:ada@example.org\r\nTEL;TYPE=CELL:020 7946 0958\r\nEND:VCARD\r\n";
/// let done = crm_io::import_vcards(&cx, vcf).await?;
/// let ada = cx.contacts().get(done.imported[0]).await?;
/// assert_eq!(ada.phones[0].number.as_str(), "+442079460958");
/// let mut out = Vec::new();
/// crm_io::export_vcards(&cx, &Query::default(), crm_io::VcardVersion::V4, &mut out).await?;
/// assert!(String::from_utf8(out).unwrap().contains("N:Lovelace;Ada;;;"));
/// # Ok(()) }
/// ```
pub async fn import_vcards(cx: &Session, vcf: &str) -> Result<VcardImport> {
    let mut report = VcardImport::default();
    let mut contacts = Vec::new();
    let mut at = Vec::new();
    for (i, card) in read_vcards(vcf).into_iter().enumerate() {
        match card {
            Ok(c) => {
                contacts.push(c);
                at.push(i);
            }
            Err(e) => report.rejected.push((i, e)),
        }
    }
    let done = cx.contacts().import(contacts, &ImportOptions::default(), |_| {}).await?;
    report.imported = done.imported;
    report.rejected.extend(done.rejected.into_iter().map(|r| (at[r.row], r.error)));
    report.rejected.sort_by_key(|(i, _)| *i);
    Ok(report)
}

/// Writes the contacts `query` selects (every page) as a `.vcf` file of `version`; returns how
/// many were written.
pub async fn export_vcards(cx: &Session, query: &Query, version: VcardVersion, mut out: impl Write) -> Result<u64> {
    let v = match version {
        VcardVersion::V3 => calcard::vcard::VCardVersion::V3_0,
        VcardVersion::V4 => calcard::vcard::VCardVersion::V4_0,
    };
    let spec = Export::new(query.clone());
    let n = each_record::<Contact>(cx, &spec, |c| {
        let mut text = String::new();
        contact_to_vcard(&c).write_to(&mut text, v).map_err(|_| std::io::Error::other("a vCard did not format"))?;
        out.write_all(text.as_bytes())?;
        Ok(())
    })
    .await?;
    out.flush()?;
    Ok(n)
}
