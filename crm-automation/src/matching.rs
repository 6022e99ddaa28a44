//! Whether a workflow fires for a change: its kind and trigger, then its conditions on the
//! record before and after the change.

use crm_core::event::{Change, Event};
use crm_core::model::{Trigger, Workflow};
use crm_core::query::Field;
use crm_core::service::derived;

use crate::history::States;

/// Whether `flow` may fire for `event` at all (its kind, its trigger, and for an update the
/// fields it listens to), before the record's states are worked out.
pub(crate) fn may_fire(flow: &Workflow, event: &Event) -> bool {
    flow.entity_kind == event.subject.kind
        && match (&flow.trigger, &event.change) {
            (Trigger::Updated { fields }, Change::Updated { fields: named }) => {
                // A field worked out from others (a contact's `email`) changes under another
                // name (`emails`): only the states can tell.
                fields.is_empty()
                    || fields.iter().any(|f| named.contains(&Field::parse(f).path()) || derived(flow.entity_kind, f))
            }
            (Trigger::Updated { .. }, _) => false,
            (trigger, change) => trigger.fires_on(change),
        }
}

/// Whether `flow` fires for `event`, whose record was `states` before and after it.
pub(crate) fn fires(flow: &Workflow, event: &Event, states: &States) -> bool {
    if let (Trigger::Updated { fields }, Change::Updated { fields: named }) = (&flow.trigger, &event.change)
        && !fields.is_empty()
        && !fields.iter().any(|f| named.contains(&Field::parse(f).path()) || states.changed(&Field::parse(f)))
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
