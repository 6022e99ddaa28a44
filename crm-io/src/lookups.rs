//! Relations by name: the company a cell names (found, or created), the contact an address or
//! a name gives, a deal by name, a product by SKU, a pipeline and its stage by name — each
//! looked up once per import.

use std::collections::HashMap;

use crm_core::error::{Error, FieldErrorCode};
use crm_core::ids::{CompanyId, ContactId, DealId, PipelineId, StageId};
use crm_core::model::Entity;
use crm_core::model::{Company, Contact, Deal, Pipeline, Product};
use crm_core::query::{Filter, MAX_PAGE_SIZE, Query};
use crm_core::service::{NewCompany, Session};

use crate::kind::{find_external, split_name};

/// What an import has looked up so far, and the companies it created.
#[derive(Debug, Default)]
pub struct Lookups {
    /// Whether a company name that finds no company creates one.
    pub(crate) create_companies: bool,
    /// A dry run: nothing is created; the names that would be are listed.
    pub(crate) dry: bool,
    companies: HashMap<String, CompanyId>,
    contacts: HashMap<String, ContactId>,
    deals: HashMap<String, DealId>,
    products: HashMap<String, Product>,
    pipelines: Option<Vec<Pipeline>>,
    /// The companies created, in the order of the rows that named them.
    pub(crate) created: Vec<CompanyId>,
    /// In a dry run, the company names that would be created.
    pub(crate) would_create: Vec<String>,
}

/// A refusal of column `header`.
fn refused(header: &str, code: FieldErrorCode, message: String) -> Error {
    Error::invalid(header.to_owned(), code, message)
}

/// At most one of `found`, or a refusal saying the name is ambiguous (`what`: the records, plural).
fn one<T>(header: &str, what: &str, name: &str, mut found: Vec<T>) -> Result<Option<T>, Error> {
    match found.len() {
        0 => Ok(None),
        1 => Ok(found.pop()),
        n => Err(refused(
            header,
            FieldErrorCode::Rule,
            format!("{n} {what} are named `{name}`; give its id instead (an id column, or an external id)"),
        )),
    }
}

/// Every record of kind `E` that `filter` selects, page after page: a name shared as a prefix
/// by many records must not hide the one it names exactly.
async fn every<E: Entity>(cx: &Session, filter: Filter) -> Result<Vec<E>, Error> {
    let mut query = Query::new(filter).limit(MAX_PAGE_SIZE);
    let mut out = Vec::new();
    loop {
        let page = cx.records::<E>().list(&query).await?;
        out.extend(page.items);
        match page.next {
            Some(next) => query.after = Some(next),
            None => return Ok(out),
        }
    }
}

impl Lookups {
    /// Lookups for an import (`dry`: a preview, which creates nothing).
    pub(crate) fn new(create_companies: bool, dry: bool) -> Self {
        Self { create_companies, dry, ..Self::default() }
    }

    /// The company named `name` (ignoring case), created when none is and the import allows it
    /// (`None` in a dry run that would create it).
    pub(crate) async fn company(&mut self, cx: &Session, header: &str, name: &str) -> Result<Option<CompanyId>, Error> {
        let key = name.trim().to_lowercase();
        if let Some(id) = self.companies.get(&key) {
            return Ok(Some(*id));
        }
        let similar: Vec<Company> = every(cx, Filter::starts_with("name", name.trim())).await?;
        let same: Vec<Company> = similar.into_iter().filter(|c| c.name.to_lowercase() == key).collect();
        let id = match one(header, "companies", name, same)? {
            Some(c) => c.id,
            None if !self.create_companies => {
                return Err(refused(
                    header,
                    FieldErrorCode::NotFound,
                    format!("no company is named `{}` (the import creates none)", name.trim()),
                ));
            }
            None if self.dry => {
                if !self.would_create.iter().any(|n| n.to_lowercase() == key) {
                    self.would_create.push(name.trim().to_owned());
                }
                return Ok(None);
            }
            None => {
                let c = cx.companies().create(NewCompany::new(name.trim())).await.map_err(|e| match e {
                    Error::Validation(v) => {
                        refused(header, FieldErrorCode::Rule, format!("cannot create the company: {v}"))
                    }
                    other => other,
                })?;
                self.created.push(c.id);
                c.id
            }
        };
        self.companies.insert(key, id);
        Ok(Some(id))
    }

    /// The company whose id in `system` is `key`.
    pub(crate) async fn company_external(
        &mut self,
        cx: &Session,
        header: &str,
        system: &str,
        key: &str,
    ) -> Result<CompanyId, Error> {
        find_external::<Company>(cx, system, key).await?.ok_or_else(|| {
            refused(header, FieldErrorCode::NotFound, format!("no company has `{key}` as its {system} id"))
        })
    }

    /// The contact an email address or a whole name (`Ada Lovelace`) names.
    pub(crate) async fn contact(&mut self, cx: &Session, header: &str, text: &str) -> Result<ContactId, Error> {
        let key = text.trim().to_lowercase();
        if let Some(id) = self.contacts.get(&key) {
            return Ok(*id);
        }
        let id = if key.contains('@') {
            match cx.contacts().find_by_email(&key).await {
                Ok(Some(c)) => c.id,
                Ok(None) => {
                    return Err(refused(
                        header,
                        FieldErrorCode::NotFound,
                        format!("no contact has the address `{key}`"),
                    ));
                }
                Err(Error::Validation(v)) => return Err(refused(header, FieldErrorCode::InvalidFormat, v.to_string())),
                Err(e) => return Err(e),
            }
        } else {
            let (given, family) = split_name(text);
            let filter = Filter::starts_with("given_name", given.clone())
                .and(Filter::starts_with("family_name", family.clone()));
            let alike: Vec<Contact> = every(cx, filter).await?;
            let same: Vec<Contact> = alike
                .into_iter()
                .filter(|c| {
                    c.given_name.to_lowercase() == given.to_lowercase()
                        && c.family_name.to_lowercase() == family.to_lowercase()
                })
                .collect();
            match one(header, "contacts", text.trim(), same)? {
                Some(c) => c.id,
                None => {
                    return Err(refused(
                        header,
                        FieldErrorCode::NotFound,
                        format!("no contact is named `{}` (import the contacts first)", text.trim()),
                    ));
                }
            }
        };
        self.contacts.insert(key, id);
        Ok(id)
    }

    /// The contact whose id in `system` is `key`.
    pub(crate) async fn contact_external(
        &mut self,
        cx: &Session,
        header: &str,
        system: &str,
        key: &str,
    ) -> Result<ContactId, Error> {
        find_external::<Contact>(cx, system, key).await?.ok_or_else(|| {
            refused(header, FieldErrorCode::NotFound, format!("no contact has `{key}` as its {system} id"))
        })
    }

    /// The deal named `name` (ignoring case).
    pub(crate) async fn deal(&mut self, cx: &Session, header: &str, name: &str) -> Result<DealId, Error> {
        let key = name.trim().to_lowercase();
        if let Some(id) = self.deals.get(&key) {
            return Ok(*id);
        }
        let similar: Vec<Deal> = every(cx, Filter::starts_with("name", name.trim())).await?;
        let same: Vec<Deal> = similar.into_iter().filter(|d| d.name.to_lowercase() == key).collect();
        let id = one(header, "deals", name.trim(), same)?
            .ok_or_else(|| refused(header, FieldErrorCode::NotFound, format!("no deal is named `{}`", name.trim())))?
            .id;
        self.deals.insert(key, id);
        Ok(id)
    }

    /// The product with SKU `sku` (ignoring ASCII case).
    pub(crate) async fn product(&mut self, cx: &Session, header: &str, sku: &str) -> Result<Product, Error> {
        let key = sku.trim().to_ascii_lowercase();
        if let Some(p) = self.products.get(&key) {
            return Ok(p.clone());
        }
        let p =
            cx.products().by_sku(sku.trim()).await?.ok_or_else(|| {
                refused(header, FieldErrorCode::NotFound, format!("no product has SKU `{}`", sku.trim()))
            })?;
        self.products.insert(key, p.clone());
        Ok(p)
    }

    /// The pipeline named `pipeline` (else the default one) and its stage named `stage`
    /// (ignoring case), as ids; `None` for what the row does not name.
    pub(crate) async fn stage(
        &mut self,
        cx: &Session,
        pipeline: Option<(&str, &str)>,
        stage: Option<(&str, &str)>,
    ) -> Result<(Option<PipelineId>, Option<StageId>), Error> {
        if pipeline.is_none() && stage.is_none() {
            return Ok((None, None));
        }
        if self.pipelines.is_none() {
            let mut all = cx.pipelines().list(&Query::new(Filter::All).limit(1000)).await?.items;
            // The default pipeline is made on first use; a dry run leaves that to the check.
            if !all.iter().any(|p| p.is_default) && !self.dry {
                all.push(cx.pipelines().default_pipeline().await?);
            }
            self.pipelines = Some(all);
        }
        let pipelines = self.pipelines.as_deref().unwrap_or_default();
        let chosen = match pipeline {
            Some((header, name)) => {
                let same: Vec<&Pipeline> =
                    pipelines.iter().filter(|p| p.name.to_lowercase() == name.trim().to_lowercase()).collect();
                Some(one(header, "pipelines", name.trim(), same)?.ok_or_else(|| {
                    let known: Vec<&str> = pipelines.iter().map(|p| p.name.as_str()).collect();
                    refused(
                        header,
                        FieldErrorCode::NotFound,
                        format!("no pipeline is named `{}` (there are: {})", name.trim(), known.join(", ")),
                    )
                })?)
            }
            None => pipelines.iter().find(|p| p.is_default),
        };
        let Some(p) = chosen else { return Ok((None, None)) };
        let stage_id = match stage {
            Some((header, name)) => {
                let s =
                    p.stages.iter().find(|s| s.name.to_lowercase() == name.trim().to_lowercase()).ok_or_else(|| {
                        let known: Vec<&str> = p.stages.iter().map(|s| s.name.as_str()).collect();
                        refused(
                            header,
                            FieldErrorCode::NotAnOption,
                            format!(
                                "pipeline `{}` has no stage `{}` (it has: {})",
                                p.name,
                                name.trim(),
                                known.join(", ")
                            ),
                        )
                    })?;
                Some(s.id)
            }
            None => None,
        };
        Ok((Some(p.id), stage_id))
    }
}

/// A cell naming a company: by name, or by its id in another system.
#[derive(Debug)]
pub enum CompanyRef {
    /// The company's name.
    Name(String),
    /// (system, id there).
    External(String, String),
}

/// A cell naming a contact: by address or whole name, or by its id in another system.
#[derive(Debug)]
pub enum ContactRef {
    /// An email address or a whole name.
    Text(String),
    /// (system, id there).
    External(String, String),
}

impl Lookups {
    /// The company a cell of column `header` names (`None`: a dry run would create it).
    pub(crate) async fn company_ref(
        &mut self,
        cx: &Session,
        (header, r): &(String, CompanyRef),
    ) -> Result<Option<CompanyId>, Error> {
        match r {
            CompanyRef::Name(name) => self.company(cx, header, name).await,
            CompanyRef::External(system, key) => self.company_external(cx, header, system, key).await.map(Some),
        }
    }

    /// The contact a cell of column `header` names.
    pub(crate) async fn contact_ref(
        &mut self,
        cx: &Session,
        (header, r): &(String, ContactRef),
    ) -> Result<ContactId, Error> {
        match r {
            ContactRef::Text(text) => self.contact(cx, header, text).await,
            ContactRef::External(system, key) => self.contact_external(cx, header, system, key).await,
        }
    }
}
