//! Full-text search: what text of a record is searchable, and how text is cut into terms.
//!
//! Every store indexes [`search_text`] of contacts, companies and deals and answers a search
//! with the records in which **every term of the query is a prefix of some token** (so
//! `"jan acm"` finds Jane at Acme), best first. Tokens are runs of letters and digits,
//! lowercased; e-mail addresses and domains are split at `.`, `@` and `-`, phone numbers are
//! kept as digits.

use crate::entity::EntityKind;
use crate::model::Record;

/// The kinds full-text search covers.
pub const SEARCHABLE: &[EntityKind] = &[EntityKind::Contact, EntityKind::Company, EntityKind::Deal];

/// Most terms a query may have (more are ignored).
pub const MAX_TERMS: usize = 16;

/// The longest search term, in characters: a longer one is refused (searching for it would
/// otherwise have to be cut or dropped, widening the search). Indexed words are kept to this
/// length, which changes no search for a term within it.
pub const MAX_TERM_CHARS: usize = 256;

/// Cuts text into lowercase tokens of letters and digits, after Unicode compatibility
/// normalisation (NFKC: `²` is `2`, `ﬁ` is `fi`, full-width letters are letters), so every
/// backend's index sees the same words.
///
/// ```
/// assert_eq!(crm_core::search::tokens("Jane.Cooper@acme-logistics.com +1 415"), ["jane", "cooper", "acme", "logistics", "com", "1", "415"]);
/// assert_eq!(crm_core::search::tokens("x²³ ﬁle"), ["x23", "file"]);
/// ```
pub fn tokens(text: &str) -> Vec<String> {
    use unicode_normalization::UnicodeNormalization;
    let folded: String = text.nfkc().collect();
    folded.split(|c: char| !c.is_alphanumeric()).filter(|t| !t.is_empty()).map(str::to_lowercase).collect()
}

/// The terms of a search query (at most [`MAX_TERMS`], duplicates removed, order kept).
pub fn terms(query: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for t in tokens(query) {
        if !out.contains(&t) {
            out.push(t);
        }
        if out.len() == MAX_TERMS {
            break;
        }
    }
    out
}

/// The searchable text of a record as normalised tokens joined by spaces (`None` for kinds
/// search does not cover): names, e-mails, phones, job, hobbies, tags. Sensitive fields
/// ([`crate::model::field_security`]) are left out, so that a search cannot probe them.
pub fn search_text(record: &Record) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    match record {
        Record::Contact(c) => {
            parts.extend([c.given_name.as_str(), c.family_name.as_str()]);
            parts.extend(c.emails.iter().map(|e| e.address.as_str()));
            parts.extend(c.phones.iter().map(|p| p.number.as_str()));
            parts.extend(c.job_title.as_deref());
            parts.extend(c.department.as_deref());
            parts.extend(c.hobbies.iter().map(String::as_str));
            parts.extend(c.tags.iter().map(String::as_str));
        }
        Record::Company(c) => {
            parts.push(c.name.as_str());
            parts.extend(c.domain.as_ref().map(|d| d.as_str()));
            parts.extend(c.industry.as_deref());
            parts.extend(c.phones.iter().map(|p| p.number.as_str()));
            parts.extend(c.tags.iter().map(String::as_str));
        }
        Record::Deal(d) => {
            parts.push(d.name.as_str());
            parts.extend(d.lost_reason.as_deref());
            parts.extend(d.line_items.iter().map(|l| l.name.as_str()));
            parts.extend(d.tags.iter().map(String::as_str));
        }
        _ => return None,
    }
    let cut = |t: String| match t.char_indices().nth(MAX_TERM_CHARS) {
        Some((end, _)) => t[..end].to_owned(),
        None => t,
    };
    Some(parts.iter().flat_map(|p| tokens(p)).map(cut).collect::<Vec<_>>().join(" "))
}

/// Whether a record's [`search_text`] has, for every term, a token starting with it; the
/// score counts the matching tokens (the reference ranking of the memory store).
pub fn score(text: &str, terms: &[String]) -> Option<usize> {
    if terms.is_empty() {
        return None;
    }
    let toks: Vec<&str> = text.split(' ').collect();
    let mut total = 0;
    for t in terms {
        let n = toks.iter().filter(|tok| tok.starts_with(t.as_str())).count();
        if n == 0 {
            return None;
        }
        total += n;
    }
    Some(total)
}

/// `kinds` each with [`Filter::All`](crate::query::Filter::All): a search over every record of
/// them, as [`Transaction::search`](crate::store::Transaction::search) takes its kinds.
pub fn every(kinds: &[EntityKind]) -> Vec<(EntityKind, crate::query::Filter)> {
    kinds.iter().map(|k| (*k, crate::query::Filter::All)).collect()
}
