//! What a file import needs to know of a record kind: its columns, how a row becomes the
//! kind's create input, how a record is found, created, checked and updated. The engine
//! ([`FileImport`](crate::FileImport)) is written once over it.

use std::collections::HashMap;
use std::fmt::Debug;
use std::future::Future;
use std::pin::Pin;

use chrono::{DateTime, NaiveDate, Utc};
use crm_core::error::ImportReport;
use crm_core::error::{Error, FieldErrorCode};
use crm_core::model::{Entity, FieldType};
use crm_core::money::{Currency, Money};
use crm_core::query::{Filter, Query};
use crm_core::service::{DuplicateCandidate, DuplicateRules, ImportOptions, Session};
use rust_decimal::Decimal;

use crate::coerce;
use crate::lookups::Lookups;
use crate::mapping::Preset;

/// The boxed, `Send` future of a kind's step.
pub type Fut<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A row's create input and its id column, or why it is refused.
pub type Resolved<I, Id> = Result<(I, Option<Id>), Error>;

/// Per input, its id or why it was refused; or the error that stops the import.
pub type Created<Id> = Result<Vec<Result<Id, Error>>, Error>;

/// A record kind a file can be imported as: [`Contact`](crm_core::model::Contact),
/// [`Company`](crm_core::model::Company), [`Deal`](crm_core::model::Deal),
/// [`Product`](crm_core::model::Product), [`Order`](crm_core::model::Order) and
/// [`Activity`](crm_core::model::Activity). Each has its column enum
/// ([`ContactColumn`](crate::ContactColumn)…) and its import
/// ([`ContactImport`](crate::ContactImport)…).
pub trait ImportKind: sealed::Kind {}

impl<K: sealed::Kind> ImportKind for K {}

/// How a row finds its record among those already in the CRM (see
/// [`FileImport::upsert`](crate::FileImport::upsert)); each kind names which it supports.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MatchBy {
    /// Contacts: one of the row's email addresses is one of the contact's (ignoring case).
    Email,
    /// Companies: the row's domain is the company's.
    Domain,
    /// Products: the row's SKU is the product's (ignoring ASCII case).
    Sku,
    /// Orders: the row's order number is the order's.
    Number,
    /// Contacts, companies, products and orders: the row's id in this other system (its
    /// external-id column for the system) is the record's.
    ExternalId(String),
    /// Every kind: the row's id column is the record's id in this CRM.
    Id,
}

pub mod sealed {
    use super::*;

    /// The kind's side of an import (sealed: implemented here for the kinds listed on
    /// [`ImportKind`]).
    pub trait Kind: Entity + Sized + Send + Sync + 'static {
        /// What a column of its file fills.
        type Column: Clone + Debug + PartialEq + Send + Sync;
        /// Its create input.
        type Input: Clone + Debug + Send + Sync;
        /// What a row says, its relations not yet looked up.
        type Row: Send;
        /// The matches [`MatchBy`] it supports, for the error naming them.
        const MATCHES: &'static str;
        /// Its records, as a message names them (`companies`).
        const PLURAL: &'static str;

        /// The vendor's column names.
        fn preset(preset: Preset) -> Vec<(&'static str, Self::Column)>;
        /// The column an obvious header names.
        fn obvious(header: &str) -> Option<Self::Column>;
        /// The column of custom field `key`.
        fn custom_column(key: String) -> Self::Column;
        /// The custom field a column fills.
        fn custom_key(column: &Self::Column) -> Option<&str>;
        /// The column not imported.
        fn ignored() -> Self::Column;
        /// Why the mapped columns cannot make a record (a required field no column gives).
        fn missing(columns: &[(String, Self::Column)]) -> Option<String>;

        /// Reads a row, or refuses it naming the first cell that cannot be read.
        fn read(r: &Reader<'_, Self::Column>, cells: &[String]) -> Result<Self::Row, Error>;
        /// Whether `next` adds to the record `open` started (an order's next line).
        fn continues(_open: &Self::Row, _next: &Self::Row) -> bool {
            false
        }
        /// Adds `next` to `open` (see [`continues`](Self::continues)).
        fn absorb(_open: &mut Self::Row, _next: Self::Row) {}
        /// The record a row belongs to, read from its raw cells (an order's number), for kinds
        /// whose records span rows: a row that cannot be read refuses the whole record.
        fn group_key(_r: &Reader<'_, Self::Column>, _cells: &[String]) -> Option<String> {
            None
        }
        /// Looks up the row's relations: the create input and the row's id column.
        fn resolve<'a>(
            cx: &'a Session,
            lookups: &'a mut Lookups,
            row: Self::Row,
        ) -> Fut<'a, Resolved<Self::Input, Self::Id>>;

        /// Whether it can match rows `by`.
        fn matches(by: &MatchBy) -> bool;
        /// The texts a row is matched by.
        fn keys(by: &MatchBy, input: &Self::Input, id: Option<Self::Id>) -> Vec<String>;
        /// Keys no two records may share (a SKU): a row repeating one of a pending row waits
        /// until that one is written, so that it is refused (or matched) by the stored one.
        fn taken_keys(_input: &Self::Input) -> Vec<String> {
            Vec::new()
        }
        /// Keys a likely duplicate shares (a contact's addresses and numbers): with duplicate
        /// checks on, a row sharing one with a pending row waits until that one is written,
        /// so that the check finds it.
        fn twin_keys(_input: &Self::Input) -> Vec<String> {
            Vec::new()
        }
        /// The record already in the CRM that `key` names.
        fn find<'a>(cx: &'a Session, by: &'a MatchBy, key: &'a str) -> Fut<'a, Result<Option<Self::Id>, Error>>;
        /// Whether [`apply`](Self::apply) updates records.
        const UPDATES: bool;
        /// Updates record `id` with what `input` gives (`columns`: the file's mapping, for
        /// fields whose input has no "not given").
        fn apply<'a>(
            cx: &'a Session,
            id: Self::Id,
            input: Self::Input,
            columns: &'a [(String, Self::Column)],
        ) -> Fut<'a, Result<Self::Id, Error>>;
        /// Creates the inputs; per input its id or why it was refused. Other errors stop.
        fn create<'a>(
            cx: &'a Session,
            inputs: Vec<Self::Input>,
            options: &'a ImportOptions,
        ) -> Fut<'a, Created<Self::Id>>;
        /// Checks `input` as [`create`](Self::create) would, writing nothing.
        fn check<'a>(cx: &'a Session, input: Self::Input) -> Fut<'a, Result<(), Error>>;
        /// The records already there that `input` may be, under `rules`.
        fn twins<'a>(
            _cx: &'a Session,
            _input: &'a Self::Input,
            _rules: &'a DuplicateRules,
        ) -> Fut<'a, Result<Vec<DuplicateCandidate>, Error>> {
            Box::pin(std::future::ready(Ok(Vec::new())))
        }
    }
}

/// The items of a kind's [`sealed::Kind`] that only name its column enum: the vendor presets
/// and obvious headers (its file's `preset_columns` and `obvious`), its `Custom` and `Ignore`
/// columns.
macro_rules! column_basics {
    ($col:ident) => {
        fn preset(preset: Preset) -> Vec<(&'static str, $col)> {
            preset_columns(preset)
        }
        fn obvious(header: &str) -> Option<$col> {
            obvious(header)
        }
        fn custom_column(key: String) -> $col {
            $col::Custom(key)
        }
        fn custom_key(column: &$col) -> Option<&str> {
            match column {
                $col::Custom(k) => Some(k),
                _ => None,
            }
        }
        fn ignored() -> $col {
            $col::Ignore
        }
    };
}
pub(crate) use column_basics;

/// Adds to `to` the `items` it does not hold yet, in order.
pub(crate) fn add_new<T: PartialEq>(to: &mut Vec<T>, items: impl IntoIterator<Item = T>) {
    for x in items {
        if !to.contains(&x) {
            to.push(x);
        }
    }
}

/// A row's cells as a kind reads them: the mapping, the custom fields' types, the formats.
pub struct Reader<'a, C> {
    pub(crate) columns: &'a [(String, C)],
    pub(crate) custom: &'a HashMap<String, FieldType>,
    pub(crate) dates: &'a [String],
    pub(crate) currency: Option<Currency>,
}

/// A non-empty cell of a mapped column.
pub struct Cell<'c, C> {
    pub(crate) header: &'c str,
    pub(crate) column: &'c C,
    /// The text, trimmed, without a spreadsheet's formula guard.
    pub(crate) v: &'c str,
}

impl<'a, C> Reader<'a, C> {
    /// The row's non-empty cells with their columns; a cell that is not text is refused.
    pub(crate) fn cells<'c>(&'c self, cells: &'c [String]) -> Result<Vec<Cell<'c, C>>, Error> {
        let mut out = Vec::with_capacity(cells.len());
        for ((header, column), cell) in self.columns.iter().zip(cells) {
            if cell.contains('\u{fffd}') {
                return Err(Error::invalid(
                    header.clone(),
                    FieldErrorCode::InvalidFormat,
                    "the cell holds no readable text: bytes not in the file's encoding (UTF-8 unless the CSV \
                     format names another), or a spreadsheet error",
                ));
            }
            let v = crate::cell::cell_data(cell.trim());
            if !v.is_empty() {
                out.push(Cell { header, column, v });
            }
        }
        Ok(out)
    }

    /// Custom field `key`'s value from `cell`, or `None` for a key no field has.
    pub(crate) fn custom(
        &self,
        cell: &Cell<'_, C>,
        key: &str,
    ) -> Result<Option<(String, crm_core::value::Value)>, Error> {
        let Some(ty) = self.custom.get(key) else { return Ok(None) };
        let value = coerce::custom(cell.v, ty, self.dates).map_err(|m| cell.bad(FieldErrorCode::TypeMismatch, m))?;
        Ok(Some((key.to_owned(), value)))
    }

    /// An amount with the row's currency column, else its own code, else the import's currency.
    pub(crate) fn money(&self, amount: Option<Amount>, currency: Option<Currency>) -> Result<Option<Money>, Error> {
        let Some(a) = amount else { return Ok(None) };
        let Some(code) = a.currency.or(currency).or(self.currency) else {
            return Err(Error::invalid(
                a.header,
                FieldErrorCode::Required,
                "no currency: add a currency column, write the code after the amount (`12.50 EUR`), or set the \
                 import's currency",
            ));
        };
        Ok(Some(Money::new(a.value, code)))
    }
}

/// An amount as a cell gives it, with the currency it names, if any.
pub struct Amount {
    header: String,
    value: Decimal,
    currency: Option<Currency>,
}

impl<C> Cell<'_, C> {
    /// A refusal naming this cell's column.
    pub(crate) fn bad(&self, code: FieldErrorCode, message: impl Into<String>) -> Error {
        Error::invalid(self.header.to_owned(), code, message.into())
    }
    pub(crate) fn text(&self) -> String {
        self.v.to_owned()
    }
    pub(crate) fn date(&self, formats: &[String]) -> Result<NaiveDate, Error> {
        coerce::date(self.v, formats).map_err(|m| self.bad(FieldErrorCode::InvalidFormat, m))
    }
    pub(crate) fn datetime(&self, formats: &[String]) -> Result<DateTime<Utc>, Error> {
        coerce::datetime(self.v, formats).map_err(|m| self.bad(FieldErrorCode::InvalidFormat, m))
    }
    pub(crate) fn decimal(&self) -> Result<Decimal, Error> {
        coerce::decimal(self.v).map_err(|m| self.bad(FieldErrorCode::InvalidFormat, m))
    }
    pub(crate) fn boolean(&self) -> Result<bool, Error> {
        coerce::boolean(self.v).map_err(|m| self.bad(FieldErrorCode::InvalidFormat, m))
    }
    pub(crate) fn option<T: std::str::FromStr>(&self, synonyms: &[(&str, &str)]) -> Result<T, Error> {
        coerce::option(self.v, synonyms).map_err(|m| self.bad(FieldErrorCode::NotAnOption, m))
    }
    pub(crate) fn currency(&self) -> Result<Currency, Error> {
        Currency::from_code(&self.v.to_ascii_uppercase()).ok_or_else(|| {
            self.bad(FieldErrorCode::NotAnOption, format!("`{}` is not an ISO 4217 currency code", self.v))
        })
    }
    /// An amount, `12.50` or `12.50 EUR`.
    pub(crate) fn amount(&self) -> Result<Amount, Error> {
        if let Ok(m) = coerce::money(self.v) {
            return Ok(Amount { header: self.header.to_owned(), value: m.amount, currency: Some(m.currency) });
        }
        Ok(Amount { header: self.header.to_owned(), value: self.decimal()?, currency: None })
    }
    /// A record id of this CRM (a UUID).
    pub(crate) fn id<I: From<uuid::Uuid>>(&self, noun: &str) -> Result<I, Error> {
        let u: uuid::Uuid = self
            .v
            .parse()
            .map_err(|_| self.bad(FieldErrorCode::InvalidFormat, format!("`{}` is not a {noun} id", self.v)))?;
        Ok(I::from(u))
    }
}

/// Numbers written without `+country`, read in the row's `region` (an ISO 3166 alpha-2 code:
/// its phone-region or country column) as E.164; others are left for the CRM to read in its
/// default region (and to refuse with why).
pub(crate) fn phones_in(phones: &mut [(String, crm_core::profile::PhoneLabel)], region: Option<&str>) {
    let Some(region) = region.map(str::trim).filter(|r| r.len() == 2) else { return };
    for (number, _) in phones.iter_mut() {
        if !number.trim_start().starts_with('+')
            && let Ok(p) = crm_core::profile::PhoneNumber::parse(number, Some(&region.to_ascii_uppercase()))
        {
            *number = p.as_str().to_owned();
        }
    }
}

/// Splits a whole name at its last space: (given, family).
pub(crate) fn split_name(full: &str) -> (String, String) {
    match full.trim().rsplit_once(' ') {
        Some((given, family)) => (given.trim().to_owned(), family.trim().to_owned()),
        None => (full.trim().to_owned(), String::new()),
    }
}

/// The record of kind `E` whose external ids hold `system:id` (`key`).
pub(crate) async fn find_external<E: Entity>(cx: &Session, system: &str, key: &str) -> Result<Option<E::Id>, Error> {
    let wanted = format!("{}:{}", system.to_ascii_lowercase(), key);
    let page = cx.records::<E>().list(&Query::new(Filter::contains("external_refs", wanted)).limit(1)).await?;
    Ok(page.items.first().map(Entity::id))
}

/// The record of kind `E` with id `key`, if it exists.
pub(crate) async fn find_id<E: Entity>(cx: &Session, key: &str) -> Result<Option<E::Id>, Error>
where
    E::Id: From<uuid::Uuid>,
{
    let Ok(u) = key.parse::<uuid::Uuid>() else { return Ok(None) };
    match cx.records::<E>().get(E::Id::from(u)).await {
        Ok(r) => Ok(Some(r.id())),
        Err(Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Whether `e` refuses one row (its data or its state) rather than stopping the import.
pub(crate) fn refusal(e: &Error) -> bool {
    matches!(
        e,
        Error::Validation(_) | Error::InvalidTransition { .. } | Error::Conflict { .. } | Error::NotFound { .. }
    )
}

/// Creates `inputs` one unit of work each (the kind's own `create`, its rules and events).
pub(crate) async fn create_each<I, Id, F, R>(inputs: Vec<I>, mut create: F) -> Result<Vec<Result<Id, Error>>, Error>
where
    F: FnMut(I) -> R,
    R: Future<Output = Result<Id, Error>>,
{
    let mut out = Vec::with_capacity(inputs.len());
    for input in inputs {
        match create(input).await {
            Ok(id) => out.push(Ok(id)),
            Err(e) if refusal(&e) => out.push(Err(e)),
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// Per input: its id, or why the typed bulk import refused it.
pub(crate) fn per_input<Id: Copy>(n: usize, report: ImportReport<Id>) -> Vec<Result<Id, Error>> {
    let mut out: Vec<Option<Result<Id, Error>>> = (0..n).map(|_| None).collect();
    for r in report.rejected {
        if let Some(slot) = out.get_mut(r.row) {
            *slot = Some(Err(r.error));
        }
    }
    let mut ids = report.imported.into_iter();
    out.into_iter()
        .map(|slot| match slot {
            Some(e) => e,
            None => ids.next().ok_or_else(|| Error::storage("the import reported fewer records than it wrote")),
        })
        .collect()
}
