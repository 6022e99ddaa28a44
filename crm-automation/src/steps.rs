//! Carrying out one step of a workflow on a record, as the workflow's automation actor.

use chrono_tz::Tz;
use crm_core::entity::{EntityKind, EntityRef};
use crm_core::error::{Error, FieldErrorCode, Result};
use crm_core::ids::{CaseId, CompanyId, ContactId, DealId};
use crm_core::model::{Record, Step};
use crm_core::query::{Filter, Query};
use crm_core::service::{NewActivity, NewNotification, Session};
use crm_core::value::Value;
use serde_json::json;

/// Carries out `step` on `subject` through `cx` (a session holding the step's receipt: the
/// step's one write commits it). For a deletion (`gone`), only a task can be made, about
/// nothing: the record is no more.
pub(crate) async fn perform(cx: &Session, step: &Step, subject: EntityRef, gone: bool, tz: Tz) -> Result<()> {
    match step {
        Step::Update { fields } => {
            cx.update_fields(subject, None, fields).await?;
        }
        Step::AddTags { tags } | Step::RemoveTags { tags } => {
            let add = matches!(step, Step::AddTags { .. });
            let rec = current(cx, subject).await?;
            let mut now = match rec.std_field("tags") {
                Some(Value::List(items)) => {
                    items.into_iter().filter_map(|v| if let Value::Text(t) = v { Some(t) } else { None }).collect()
                }
                _ => Vec::new(),
            };
            let before = now.clone();
            let same = |a: &String, b: &String| a.eq_ignore_ascii_case(b);
            if add {
                for t in tags {
                    if !now.iter().any(|n| same(n, t)) {
                        now.push(t.clone());
                    }
                }
            } else {
                now.retain(|n| !tags.iter().any(|t| same(n, t)));
            }
            if now != before {
                let patch = json!({ "tags": now });
                cx.update_fields(subject, Some(rec.version()), patch.as_object().unwrap_or(&Default::default()))
                    .await?;
            }
        }
        Step::AssignOwner { user_id } => {
            let rec = current(cx, subject).await?;
            if rec.owner() != Some(*user_id) {
                let patch = json!({ "owner_id": user_id });
                cx.update_fields(subject, Some(rec.version()), patch.as_object().unwrap_or(&Default::default()))
                    .await?;
            }
        }
        Step::CreateTask { title, due_in, assign_to } => {
            let rec = match gone {
                true => None,
                false => Some(current(cx, subject).await?),
            };
            let now = cx.now();
            let mut task = match due_in {
                Some(d) => {
                    let due = d.after_in(now, tz).ok_or_else(|| {
                        Error::invalid("due_in", FieldErrorCode::OutOfRange, "the due time is past the calendar's end")
                    })?;
                    NewActivity::task(title.clone(), due)
                }
                None => NewActivity::new(crm_core::model::ActivityKind::Task, title.clone()),
            };
            if let Some(rec) = &rec {
                task = about(task, rec);
            }
            if let Some(owner) = assign_to.or(rec.as_ref().and_then(Record::owner)) {
                task = task.owner(owner);
            }
            cx.activities().log(task).await?;
        }
        Step::CreateNote { text } => {
            let mut note = NewActivity::note(text.clone());
            if !gone {
                note = about(note, &current(cx, subject).await?);
            }
            cx.activities().log(note).await?;
        }
        Step::AddToCampaign { campaign_id } => {
            let rec = current(cx, subject).await?;
            let contact = match rec.std_field("contact_id") {
                _ if subject.kind == EntityKind::Contact => Some(ContactId::from(subject.id)),
                Some(Value::Id(c)) => Some(ContactId::from(c)),
                _ => None,
            };
            // A record without a contact has no one to add: nothing to do.
            let Some(contact) = contact else { return Ok(()) };
            let member = Filter::eq("contact_id", contact);
            if cx.campaigns().members(*campaign_id, &Query::new(member).limit(1)).await?.items.is_empty() {
                cx.campaigns().add_contact(*campaign_id, contact).await?;
            }
        }
        Step::Notify { message, users, owner } => {
            let rec = match gone {
                true => None,
                false => Some(current(cx, subject).await?),
            };
            let mut to = users.clone();
            if let Some(o) = rec.as_ref().and_then(Record::owner).filter(|_| *owner)
                && !to.contains(&o)
            {
                to.push(o);
            }
            // One write for every user: the step's log entry commits with all of them.
            let link = rec.map(|r| r.entity_ref());
            cx.notifications()
                .send_many(
                    to.into_iter().map(|u| NewNotification { user_id: u, message: message.clone(), link }).collect(),
                )
                .await?;
        }
        other => {
            return Err(Error::invalid(
                "action",
                FieldErrorCode::NotAnOption,
                format!("this runner cannot carry out `{}` steps", other.action()),
            ));
        }
    }
    Ok(())
}

/// The record now, or [`Error::NotFound`].
async fn current(cx: &Session, r: EntityRef) -> Result<Record> {
    cx.record(r).await?.ok_or(Error::NotFound { kind: r.kind, id: r.id })
}

/// A task linked to `rec`: the record itself where a task can name it, and its contacts.
fn about(task: NewActivity, rec: &Record) -> NewActivity {
    let id = rec.id();
    let mut contacts: Vec<ContactId> = Vec::new();
    for field in ["contact_id", "contact_ids"] {
        match rec.std_field(field) {
            Some(Value::Id(c)) => contacts.push(ContactId::from(c)),
            Some(Value::List(items)) => contacts.extend(
                items.into_iter().filter_map(|v| if let Value::Id(c) = v { Some(ContactId::from(c)) } else { None }),
            ),
            _ => {}
        }
    }
    let mut task = match rec.kind() {
        EntityKind::Contact => task.contact(ContactId::from(id)),
        EntityKind::Company => task.company(CompanyId::from(id)),
        EntityKind::Deal => task.deal(DealId::from(id)),
        EntityKind::Case => task.case(CaseId::from(id)),
        _ => task,
    };
    for c in contacts {
        if !task.contact_ids.contains(&c) {
            task = task.contact(c);
        }
    }
    task
}
