//! Duplicate contacts: candidate pairs found through blocking keys (the same email address,
//! the same phone number, names that sound alike), each scored under [`DuplicateRules`].

use std::collections::{HashMap, HashSet};

use rphonetic::{DoubleMetaphone, Encoder};

use super::Records;
use super::contacts::NewContact;
use super::uow::Uow;
use crate::error::{Error, FieldErrorCode, Result};
use crate::ids::ContactId;
use crate::model::Contact;
use crate::profile::{Email, PhoneNumber};
use crate::query::{Filter, Query};
use crate::value::Value;

/// What a [`MatchRule`] compares.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MatchField {
    /// Email addresses (any of one contact's equal to any of the other's).
    Email,
    /// Phone numbers, in E.164.
    Phone,
    /// The whole name, given then family, ignoring case.
    Name,
    /// A custom field's value, by key.
    Custom(String),
}

/// How a [`MatchRule`] compares its field.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum Comparison {
    /// Equal (text ignoring case and surrounding space).
    Exact,
    /// At least this similar, 0 to 1, by Jaro–Winkler (`0.9` accepts `Jon Smith` for `John Smith`).
    Fuzzy {
        /// The least similarity that counts as agreeing.
        min_similarity: f64,
    },
}

/// How a [`MatchRule`] counts a field that one of the two contacts leaves empty.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Blanks {
    /// The rule says nothing about the pair (default).
    Ignore,
    /// The rule counts as disagreeing.
    Disagree,
}

/// One piece of evidence: a field, how it is compared, its weight, how blanks count.
#[derive(Clone, Debug, PartialEq)]
pub struct MatchRule {
    /// The field compared.
    pub field: MatchField,
    /// How.
    pub comparison: Comparison,
    /// Its weight in the score (positive).
    pub weight: f64,
    /// How an empty field counts.
    pub blanks: Blanks,
}

impl MatchRule {
    /// `field` compared exactly, weight 1, blanks ignored.
    pub fn exact(field: MatchField) -> Self {
        MatchRule { field, comparison: Comparison::Exact, weight: 1.0, blanks: Blanks::Ignore }
    }
    /// `field` compared by similarity of at least `min_similarity`, weight 1, blanks ignored.
    pub fn fuzzy(field: MatchField, min_similarity: f64) -> Self {
        MatchRule { field, comparison: Comparison::Fuzzy { min_similarity }, weight: 1.0, blanks: Blanks::Ignore }
    }
    /// With this weight.
    pub fn weight(mut self, weight: f64) -> Self {
        self.weight = weight;
        self
    }
    /// With blanks counted as disagreeing.
    pub fn blanks_disagree(mut self) -> Self {
        self.blanks = Blanks::Disagree;
        self
    }
}

/// When two contacts are taken for the same person: the score of a pair is the weight of the
/// rules that agree over the weight of the rules that speak (a rule whose field is empty on
/// either side is silent unless its blanks disagree), and a pair is reported when its score
/// reaches `threshold`.
///
/// The default: the same email, the same phone, names at least 0.9 similar, each weight 1,
/// threshold 0.5 (one agreeing piece of evidence for each one against).
#[derive(Clone, Debug, PartialEq)]
pub struct DuplicateRules {
    /// The evidence.
    pub rules: Vec<MatchRule>,
    /// The least score reported, above 0 and at most 1.
    pub threshold: f64,
    /// Contacts sharing one blocking key beyond this many (a placeholder address everyone was
    /// given, a common name) are not compared pairwise; the scan lists the key instead.
    pub max_block: usize,
}

impl Default for DuplicateRules {
    fn default() -> Self {
        DuplicateRules {
            rules: vec![
                MatchRule::exact(MatchField::Email),
                MatchRule::exact(MatchField::Phone),
                MatchRule::fuzzy(MatchField::Name, 0.9),
            ],
            threshold: 0.5,
            max_block: 500,
        }
    }
}

impl DuplicateRules {
    /// No rules yet, reporting pairs that score at least `threshold`.
    pub fn new(threshold: f64) -> Self {
        DuplicateRules { rules: Vec::new(), threshold, ..Default::default() }
    }
    /// Adds a rule.
    pub fn rule(mut self, rule: MatchRule) -> Self {
        self.rules.push(rule);
        self
    }

    /// Refuses rules that cannot score: none at all, a threshold outside (0, 1], a weight that
    /// is not positive, a similarity outside [0, 1]; errors name `rules[i].…`.
    pub fn check(&self) -> Result<()> {
        let mut errs = Vec::new();
        let mut bad = |field: String, msg: String| {
            errs.push(crate::error::FieldError::new(field, FieldErrorCode::OutOfRange, msg))
        };
        if self.rules.is_empty() {
            bad("rules".into(), "at least one rule is needed".into());
        }
        if !(self.threshold > 0.0 && self.threshold <= 1.0) {
            bad("threshold".into(), format!("is {}; it must be above 0 and at most 1", self.threshold));
        }
        if self.max_block < 2 {
            bad("max_block".into(), "must be at least 2".into());
        }
        for (i, r) in self.rules.iter().enumerate() {
            if !(r.weight.is_finite() && r.weight > 0.0) {
                bad(format!("rules[{i}].weight"), format!("is {}; it must be positive", r.weight));
            }
            if let Comparison::Fuzzy { min_similarity } = r.comparison
                && !(0.0..=1.0).contains(&min_similarity)
            {
                bad(format!("rules[{i}].min_similarity"), format!("is {min_similarity}; it must be 0 to 1"));
            }
        }
        Error::check(errs)
    }
}

/// Two contacts that may be one person.
#[derive(Clone, Debug, PartialEq)]
pub struct DuplicatePair {
    /// The older of the two (created first).
    pub a: ContactId,
    /// The newer.
    pub b: ContactId,
    /// Their score, 0 to 1.
    pub score: f64,
    /// The fields that agreed.
    pub matched: Vec<MatchField>,
}

/// An existing contact that a new one may duplicate.
#[derive(Clone, Debug, PartialEq)]
pub struct DuplicateCandidate {
    /// The existing contact.
    pub id: ContactId,
    /// The score, 0 to 1.
    pub score: f64,
    /// The fields that agreed.
    pub matched: Vec<MatchField>,
}

/// What a scan found.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DuplicateScan {
    /// The pairs at or above the threshold, highest score first.
    pub pairs: Vec<DuplicatePair>,
    /// Contacts read.
    pub contacts: usize,
    /// Pairs compared.
    pub compared: usize,
    /// Blocking keys shared by more than `max_block` contacts, with how many: not compared.
    pub oversized: Vec<(String, usize)>,
}

/// What the rules look at of one contact, normalised.
struct Profile {
    id: ContactId,
    values: Vec<Vec<String>>,
    keys: Vec<String>,
}

/// The name's blocking key: the family name's Double Metaphone code and the given name's
/// first letter (`Jon Smyth` and `John Smith` share `SM0 j`).
fn name_key(given: &str, family: &str) -> Option<String> {
    let family = family.trim();
    if family.is_empty() {
        return None;
    }
    let code = DoubleMetaphone::default().encode(family);
    let initial = given.trim().chars().next().map(|c| c.to_lowercase().to_string()).unwrap_or_default();
    Some(format!("n:{}{initial}", if code.is_empty() { family.to_lowercase() } else { code }))
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::Text(s) => Some(s.trim().to_lowercase()).filter(|s| !s.is_empty()),
        other => Some(format!("{other:?}")),
    }
}

fn profile_of(
    id: ContactId,
    given: &str,
    family: &str,
    emails: Vec<String>,
    phones: Vec<String>,
    custom: &dyn Fn(&str) -> Option<Value>,
    rules: &DuplicateRules,
) -> Profile {
    let name = format!("{} {}", given.trim(), family.trim()).trim().to_lowercase();
    let values: Vec<Vec<String>> = rules
        .rules
        .iter()
        .map(|r| match &r.field {
            MatchField::Email => emails.clone(),
            MatchField::Phone => phones.clone(),
            MatchField::Name => vec![name.clone()].into_iter().filter(|n| !n.is_empty()).collect(),
            MatchField::Custom(key) => match custom(key) {
                Some(Value::List(items)) => items.iter().filter_map(text).collect(),
                Some(v) => text(&v).into_iter().collect(),
                None => Vec::new(),
            },
        })
        .collect();
    let mut keys: Vec<String> = emails.iter().map(|e| format!("e:{e}")).collect();
    keys.extend(phones.iter().map(|p| format!("p:{p}")));
    keys.extend(name_key(given, family));
    // Custom fields compared exactly block by their values too.
    for (r, vals) in rules.rules.iter().zip(&values) {
        if let (MatchField::Custom(key), Comparison::Exact) = (&r.field, r.comparison) {
            keys.extend(vals.iter().map(|v: &String| format!("c:{key}:{v}")));
        }
    }
    Profile { id, values, keys }
}

fn profile(c: &Contact, rules: &DuplicateRules) -> Profile {
    let emails = c.emails.iter().map(|e| e.address.as_str().to_lowercase()).collect();
    let phones = c.phones.iter().map(|p| p.number.as_str().to_owned()).collect();
    profile_of(c.id, &c.given_name, &c.family_name, emails, phones, &|k| c.custom.get(k).cloned(), rules)
}

/// The score of two profiles and the fields that agreed, or `None` when no rule speaks.
fn score(a: &Profile, b: &Profile, rules: &DuplicateRules) -> Option<(f64, Vec<MatchField>)> {
    let (mut agree, mut total) = (0.0, 0.0);
    let mut matched = Vec::new();
    for (i, r) in rules.rules.iter().enumerate() {
        let (x, y) = (&a.values[i], &b.values[i]);
        if x.is_empty() || y.is_empty() {
            if r.blanks == Blanks::Disagree {
                total += r.weight;
            }
            continue;
        }
        total += r.weight;
        let same = match r.comparison {
            Comparison::Exact => x.iter().any(|v| y.contains(v)),
            Comparison::Fuzzy { min_similarity } => {
                x.iter().any(|v| y.iter().any(|w| strsim::jaro_winkler(v, w) >= min_similarity))
            }
        };
        if same {
            agree += r.weight;
            matched.push(r.field.clone());
        }
    }
    (total > 0.0).then(|| (agree / total, matched))
}

impl Records<'_, Contact> {
    /// Every pair of contacts that may be one person, under `rules`: the contacts are read
    /// page by page (`progress` gets the count so far), grouped by blocking key, and the
    /// contacts of each group compared. Reads only.
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// use crm_core::prelude::*;
    /// use crm_core::service::{DuplicateRules, MatchField};
    /// let crm = Crm::new(MemoryStore::new());
    /// let cx = crm.as_actor(&Actor::system(TenantId::new()));
    /// let a = cx.contacts().create(NewContact::new("John", "Smith").email("john@acme.com")).await?;
    /// let b = cx.contacts().create(NewContact::new("Jon", "Smyth").email("JOHN@acme.com")).await?;
    /// cx.contacts().create(NewContact::new("Ada", "Lovelace")).await?;
    /// let scan = cx.contacts().find_duplicates(&DuplicateRules::default(), |_| {}).await?;
    /// assert_eq!((scan.pairs.len(), scan.pairs[0].a, scan.pairs[0].b), (1, a.id, b.id));
    /// assert_eq!(scan.pairs[0].matched, [MatchField::Email, MatchField::Name]);
    /// # Ok::<_, Error>(()) }).unwrap();
    /// ```
    pub async fn find_duplicates(
        &self,
        rules: &DuplicateRules,
        mut progress: impl FnMut(usize) + Send,
    ) -> Result<DuplicateScan> {
        rules.check()?;
        let mut profiles = Vec::new();
        let mut blocks: HashMap<String, Vec<u32>> = HashMap::new();
        let mut query = Query::default().limit(crate::query::MAX_PAGE_SIZE);
        loop {
            let page = self.list(&query).await?;
            for c in &page.items {
                let p = profile(c, rules);
                let at = u32::try_from(profiles.len()).map_err(|_| Error::storage("more than 4 billion contacts"))?;
                for k in &p.keys {
                    blocks.entry(k.clone()).or_default().push(at);
                }
                profiles.push(p);
            }
            progress(profiles.len());
            match page.next {
                Some(next) => query.after = Some(next),
                None => break,
            }
        }
        let mut scan = DuplicateScan { contacts: profiles.len(), ..Default::default() };
        let mut seen: HashSet<(u32, u32)> = HashSet::new();
        let mut keys: Vec<&String> = blocks.keys().collect();
        keys.sort();
        for key in keys {
            let members = &blocks[key];
            if members.len() > rules.max_block {
                scan.oversized.push((key.clone(), members.len()));
                continue;
            }
            for (i, &x) in members.iter().enumerate() {
                for &y in &members[i + 1..] {
                    if !seen.insert((x, y)) {
                        continue;
                    }
                    scan.compared += 1;
                    let (a, b) = (&profiles[x as usize], &profiles[y as usize]);
                    if let Some((s, matched)) = score(a, b, rules)
                        && s >= rules.threshold
                    {
                        scan.pairs.push(DuplicatePair { a: a.id, b: b.id, score: s, matched });
                    }
                }
            }
        }
        scan.pairs.sort_by(|p, q| q.score.total_cmp(&p.score).then(p.a.cmp(&q.a)).then(p.b.cmp(&q.b)));
        Ok(scan)
    }

    /// The existing contacts that `input` may duplicate under `rules`, best first: those with
    /// one of its email addresses or phone numbers, or a family name starting alike, scored.
    /// For a check before a create or an import row. Reads only.
    pub async fn duplicates_of(&self, input: &NewContact, rules: &DuplicateRules) -> Result<Vec<DuplicateCandidate>> {
        rules.check()?;
        let mut uow = Uow::read(self.s).await?;
        candidates(&mut uow, input, rules).await
    }
}

/// The contacts of `uow`'s tenant that `input` may duplicate (see [`Records::duplicates_of`]).
pub(super) async fn candidates(
    uow: &mut Uow<'_>,
    input: &NewContact,
    rules: &DuplicateRules,
) -> Result<Vec<DuplicateCandidate>> {
    let region = uow.default_region();
    let emails: Vec<String> =
        input.emails.iter().filter_map(|(e, _)| Email::parse(e).ok()).map(|e| e.as_str().to_lowercase()).collect();
    let phones: Vec<String> = input
        .phones
        .iter()
        .filter_map(|(p, _)| PhoneNumber::parse(p, region).ok())
        .map(|p| p.as_str().to_owned())
        .collect();
    // Every contact sharing an address or a number; names alike, as many as one page holds.
    let mut found: Vec<Contact> = Vec::new();
    let exact: Vec<Filter> = emails
        .iter()
        .map(|e| Filter::contains("emails", e.as_str()))
        .chain(phones.iter().map(|p| Filter::contains("phones", p.as_str())))
        .collect();
    if !exact.is_empty() {
        found.extend(uow.tx.find_all::<Contact>(Filter::Or(exact)).await?);
    }
    let family = input.family_name.trim();
    if !family.is_empty() {
        let alike = Filter::starts_with("family_name", family.chars().take(3).collect::<String>());
        let page = uow.tx.find::<Contact>(&Query::new(alike).limit(crate::query::MAX_PAGE_SIZE)).await?;
        found.extend(page.items.into_iter().filter(|c| !found.iter().any(|f| f.id == c.id)).collect::<Vec<_>>());
    }
    let custom = |k: &str| input.custom.get(k).cloned();
    let me = profile_of(ContactId::new(), &input.given_name, &input.family_name, emails, phones, &custom, rules);
    let mut found: Vec<DuplicateCandidate> = found
        .iter()
        .filter_map(|c| {
            let (s, matched) = score(&me, &profile(c, rules), rules)?;
            (s >= rules.threshold).then_some(DuplicateCandidate { id: c.id, score: s, matched })
        })
        .collect();
    found.sort_by(|p, q| q.score.total_cmp(&p.score));
    Ok(found)
}
