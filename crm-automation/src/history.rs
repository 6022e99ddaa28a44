//! A record as it was at an event of the outbox, before and after the change: the record read
//! now, with the field values of every later change about it put back as they were (events
//! carry each written field's old and new value). What lets a runner that is minutes, or a
//! crash, behind judge each change by the record as that change left it.

use crm_core::entity::EntityRef;
use crm_core::error::{Error, Result};
use crm_core::event::{Change, EventQuery, StoredEvent};
use crm_core::ids::TenantId;
use crm_core::model::Record;
use crm_core::store::{Store, TxMode};

/// How many later events are read at a time.
const PAGE: usize = 500;

/// The record an event is about, just before and just after the change.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct States {
    /// Before (None for a creation, or when it cannot be known).
    pub before: Option<Record>,
    /// After (None for a deletion).
    pub after: Option<Record>,
}

impl States {
    /// Whether `field` (a path: `stage_id`, `custom.budget`) has another value after the
    /// change than before. Unknown states count as changed.
    pub fn changed(&self, field: &crm_core::query::Field) -> bool {
        match (&self.before, &self.after) {
            (Some(b), Some(a)) => b.field(field) != a.field(field),
            _ => true,
        }
    }
}

/// The states of the subject of `event`, or `None` when the record is gone (deleted since):
/// nothing can be done to it.
pub async fn states_at(store: &dyn Store, tenant: TenantId, event: &StoredEvent) -> Result<Option<States>> {
    let subject = event.event.subject;
    if matches!(event.event.change, Change::Deleted) {
        return Ok(Some(States::default()));
    }
    let mut tx = store.begin(tenant, TxMode::ReadOnly).await?;
    let current = tx.get(subject.kind, subject.id).await?;
    tx.rollback().await?;
    let Some(mut state) = current else { return Ok(None) };
    let later = later_changes(store, tenant, subject, event.seq).await?;
    for e in later.iter().rev() {
        match revert(state.clone(), e) {
            Ok(s) => state = s,
            // A history that cannot be rewound (values scrubbed by the retention policy, a
            // record written by an older version) must not stop the runner: the record is
            // judged as it is now, and nothing is known of before.
            Err(err) => {
                tracing::warn!(record = %subject, seq = e.seq, error = %err, "judging a change by the record as it is now");
                return Ok(Some(States { before: None, after: Some(state) }));
            }
        }
    }
    let before = match event.event.change {
        Change::Created => None,
        _ => revert(state.clone(), event).ok(),
    };
    Ok(Some(States { before, after: Some(state) }))
}

/// The events about `subject` after `seq`, in order.
async fn later_changes(store: &dyn Store, tenant: TenantId, subject: EntityRef, seq: u64) -> Result<Vec<StoredEvent>> {
    let mut out = Vec::new();
    let mut q = EventQuery { after: seq, limit: PAGE, touching: Some(subject) };
    loop {
        let page = store.read_events(tenant, &q).await?;
        let Some(last) = page.last() else { break };
        q.after = last.seq;
        let full = page.len() >= PAGE;
        out.extend(page.into_iter().filter(|e| e.event.subject == subject && !e.event.values.is_empty()));
        if !full {
            break;
        }
    }
    Ok(out)
}

/// `state` with the fields `event` wrote put back as they were before it.
fn revert(state: Record, event: &StoredEvent) -> Result<Record> {
    if event.event.values.is_empty() {
        return Ok(state);
    }
    let bad = |e: serde_json::Error| Error::storage(format!("a record could not be rewound: {e}"));
    let mut whole = serde_json::to_value(&state).map_err(bad)?;
    let Some(body) = whole.get_mut("record").and_then(|b| b.as_object_mut()) else {
        return Ok(state);
    };
    for v in &event.event.values {
        match v.field.strip_prefix("custom.") {
            Some(key) => {
                let custom = body.entry("custom").or_insert_with(|| serde_json::json!({}));
                if let Some(map) = custom.as_object_mut() {
                    match &v.old {
                        serde_json::Value::Null => map.remove(key),
                        old => map.insert(key.to_owned(), old.clone()),
                    };
                }
            }
            // A field that had no value is left out, so that the record's defaults apply
            // (an empty list is written as no list at all).
            None => match &v.old {
                serde_json::Value::Null => {
                    body.remove(&v.field);
                }
                old => {
                    body.insert(v.field.clone(), old.clone());
                }
            },
        }
    }
    serde_json::from_value(whole).map_err(bad)
}
