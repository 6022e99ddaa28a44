//! Segments: saved filters over contacts, evaluated live.

use super::Records;
use super::checks::Checks;
use super::records::Guard;
use super::uow::Uow;
use crate::entity::EntityKind;
use crate::error::{Error, FieldErrorCode, Result};
use crate::ids::SegmentId;
use crate::macros::new_input;
use crate::macros::new_record;
use crate::model::{Contact, Segment};
use crate::query::{Filter, Page, Query};

new_input! {
    /// Input for a new segment.
    #[derive(Clone, Debug, PartialEq)]
    pub struct NewSegment {
        /// Name (required; unique per tenant, ignoring case).
        pub name: String => manual,
        /// What it is for.
        pub description: Option<String> => some description(String),
        /// Which contacts are in it, checked against the contact fields (custom ones included).
        pub filter: Filter => manual,
    }
}

impl NewSegment {
    /// A segment of the contacts `filter` matches.
    pub fn new(name: impl Into<String>, filter: Filter) -> Self {
        Self { name: name.into(), description: None, filter }
    }
}

async fn check_segment(uow: &mut Uow<'_>, seg: &mut Segment, ch: &mut Checks) -> Result<()> {
    ch.name("name", &mut seg.name, true);
    ch.opt_text("description", &mut seg.description);
    let reg = uow.registry(EntityKind::Contact).await?;
    // Filter errors already name `filter.<field>`.
    if let Err(Error::Validation(v)) = seg.filter.validate(EntityKind::Contact, &reg) {
        ch.errs.extend(v.0);
    }
    let same = uow.tx.find_all::<Segment>(Filter::starts_with("name", seg.name.clone())).await?;
    if same.iter().any(|o| o.id != seg.id && o.name.to_lowercase() == seg.name.to_lowercase()) {
        ch.push("name", FieldErrorCode::Duplicate, format!("another segment is called `{}`", seg.name));
    }
    Ok(())
}

/// Segments: saved filters over contacts, evaluated live: a contact is in a segment while it
/// matches the filter. A segment that a campaign draws members from is not deleted.
///
/// ```
/// # futures::executor::block_on(async {
/// use crm_core::prelude::*;
/// use crm_core::query::{Filter, Query};
/// let crm = Crm::new(MemoryStore::new());
/// let cx = crm.as_actor(&Actor::system(TenantId::new()));
/// let vips = cx.segments().create(NewSegment::new("VIPs", Filter::contains("tags", "vip"))).await?;
/// cx.contacts().create(NewContact::new("Ada", "Lovelace").tag("vip")).await?;
/// cx.contacts().create(NewContact::new("Bob", "Jones")).await?;
/// assert_eq!(cx.segments().member_count(vips.id).await?, 1);
/// let page = cx.segments().members(vips.id, &Query::default()).await?;
/// assert_eq!(page.items[0].given_name, "Ada");
/// # Ok::<_, Error>(()) }).unwrap();
/// ```
pub type Segments<'s> = Records<'s, Segment>;

impl Records<'_, Segment> {
    /// Saves a filter over contacts as a named segment (names are unique per tenant, ignoring
    /// case). The filter is checked against the contact fields, custom ones included.
    pub async fn create(&self, input: NewSegment) -> Result<Segment> {
        self.create_with(|uow, ch| {
            Box::pin(async move {
                let mut seg = new_record!(
                    uow,
                    Segment { name: input.name, description: input.description, filter: input.filter }
                );
                check_segment(uow, &mut seg, ch).await?;
                Ok(seg)
            })
        })
        .await
    }

    /// Saves changes to a segment read earlier.
    pub async fn update(&self, seg: Segment) -> Result<Segment> {
        self.update_with(seg, &Guard::NONE, &[], |uow, _, seg, ch| {
            Box::pin(async move { check_segment(uow, seg, ch).await })
        })
        .await
    }

    /// The contacts in the segment now: its filter and the query's, sorted and paged by the query.
    pub async fn members(&self, id: SegmentId, query: &Query) -> Result<Page<Contact>> {
        let seg = self.get(id).await?;
        let mut q = query.clone();
        q.filter = seg.filter.and(query.filter.clone());
        self.s.contacts().list(&q).await
    }

    /// How many contacts are in the segment now.
    pub async fn member_count(&self, id: SegmentId) -> Result<u64> {
        let seg = self.get(id).await?;
        self.s.contacts().count(&seg.filter).await
    }
}
