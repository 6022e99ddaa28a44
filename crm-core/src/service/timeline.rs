use chrono::{DateTime, Utc};

use super::Session;
use super::uow::Uow;
use crate::entity::{EntityKind, EntityRef};
use crate::error::Result;
use crate::event::{EventQuery, StoredEvent};
use crate::ids::ContactId;
use crate::model::{Activity, Contact};
use crate::query::Filter;

/// One entry of a contact's timeline.
#[derive(Clone, Debug, PartialEq)]
#[allow(clippy::large_enum_variant)]
pub enum TimelineItem {
    /// A call, email, meeting, note or task about the contact.
    Activity(Activity),
    /// A change to the contact or to a record that touches it (a deal they are on…).
    Event(StoredEvent),
}

impl TimelineItem {
    /// When it happened.
    pub fn at(&self) -> DateTime<Utc> {
        match self {
            TimelineItem::Activity(a) => a.occurred_at,
            TimelineItem::Event(e) => e.event.occurred_at,
        }
    }
}

const EVENT_PAGE: usize = 1000;

impl Session {
    /// Everything that touched a contact, newest first: every activity linked to them and every
    /// event about them or a record that involves them (deals, relations…). Activities appear
    /// once, as activities, not again as their `ActivityLogged` events.
    pub async fn timeline(&self, contact: ContactId) -> Result<Vec<TimelineItem>> {
        let mut uow = Uow::read(self).await?;
        uow.tx.require::<Contact>(contact).await?;
        let me = EntityRef::new(EntityKind::Contact, contact);
        let activities = uow.tx.find_all::<Activity>(Filter::contains("contact_ids", contact.as_uuid())).await?;
        drop(uow);
        let mut items: Vec<TimelineItem> = activities.into_iter().map(TimelineItem::Activity).collect();
        let mut q = EventQuery { after: 0, limit: EVENT_PAGE, touching: Some(me) };
        loop {
            let batch = self.events(&q).await?;
            let Some(last) = batch.last() else { break };
            q.after = last.seq;
            let full = batch.len() < EVENT_PAGE;
            items.extend(
                batch.into_iter().filter(|e| e.event.subject.kind != EntityKind::Activity).map(TimelineItem::Event),
            );
            if full {
                break;
            }
        }
        items.sort_by(|a, b| {
            b.at().cmp(&a.at()).then_with(|| match (a, b) {
                (TimelineItem::Event(x), TimelineItem::Event(y)) => y.seq.cmp(&x.seq),
                (TimelineItem::Activity(x), TimelineItem::Activity(y)) => y.id.as_uuid().cmp(&x.id.as_uuid()),
                (TimelineItem::Activity(_), TimelineItem::Event(_)) => std::cmp::Ordering::Less,
                (TimelineItem::Event(_), TimelineItem::Activity(_)) => std::cmp::Ordering::Greater,
            })
        });
        Ok(items)
    }
}
