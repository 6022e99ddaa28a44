//! Whether a workflow fires for a change: its kind and trigger, then its conditions on the
//! record before and after the change.

use crm_core::event::{Change, Event};
use crm_core::model::{Trigger, Workflow};
use crm_core::query::Field;
use crm_core::service::derived;

use crate::history::States;

/// Whether the change wrote `field` (a path as written in the rule), by the event's own
/// account: an update naming it, or any change carrying its old and new value (a lifecycle
/// move writes `lifecycle_stage`, a stage move `stage_id`).
fn wrote(event: &Event, field: &str) -> bool {
    let path = Field::parse(field).path();
    matches!(&event.change, Change::Updated { fields } if fields.contains(&path))
        || event.values.iter().any(|v| v.field == path)
}

/// Whether `flow` may fire for `event` at all (its kind, its trigger, and for an update the
/// fields it listens to), before the record's states are worked out.
pub(crate) fn may_fire(flow: &Workflow, event: &Event) -> bool {
    flow.entity_kind == event.subject.kind
        && match (&flow.trigger, &event.change) {
            (Trigger::Updated { fields }, change) if fields.is_empty() => matches!(change, Change::Updated { .. }),
            // A field worked out from others (a contact's `email`) changes under another name
            // (`emails`): only the states can tell.
            (Trigger::Updated { fields }, change) => fields.iter().any(|f| {
                wrote(event, f)
                    || (derived(flow.entity_kind, f)
                        && (matches!(change, Change::Updated { .. }) || !event.values.is_empty()))
            }),
            (trigger, change) => trigger.fires_on(change),
        }
}

/// Whether `flow` fires for `event`, whose record was `states` before and after it.
pub(crate) fn fires(flow: &Workflow, event: &Event, states: &States) -> bool {
    if let Trigger::Updated { fields } = &flow.trigger
        && !fields.is_empty()
        && !fields.iter().any(|f| wrote(event, f) || states.changed(&Field::parse(f)))
    {
        return false;
    }
    if matches!(flow.trigger, Trigger::Deleted) {
        return true;
    }
    let Some(after) = &states.after else { return false };
    if !flow.condition.matches(after) {
        return false;
    }
    if let Some(was) = &flow.was
        && !states.before.as_ref().is_some_and(|b| was.matches(b))
    {
        return false;
    }
    !(flow.edge && states.before.as_ref().is_some_and(|b| flow.condition.matches(b)))
}
