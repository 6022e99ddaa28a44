//! Meetings and tasks to iCalendar, and meeting invitations (`.ics`) filed as meetings
//! (feature `ical`, through calcard; times are resolved in their time zones and kept in UTC).

use std::collections::HashMap;
use std::io::Write;

use calcard::common::PartialDateTime;
use calcard::icalendar::{
    ICalendar, ICalendarComponent, ICalendarComponentType, ICalendarParameter, ICalendarParameterName,
    ICalendarParameterValue, ICalendarProperty, ICalendarStatus, ICalendarValue, Uri,
};
use chrono::{DateTime, Datelike, Duration, Timelike, Utc};
use crm_core::error::{Error, FieldErrorCode};
use crm_core::model::{Activity, ActivityKind, ParticipantRole};
use crm_core::query::Query;
use crm_core::service::{NewActivity, NewParticipant, Session};

use crate::Result;
use crate::export::{Export, each_record};

fn utc(t: DateTime<Utc>) -> ICalendarValue {
    ICalendarValue::PartialDateTime(Box::new(PartialDateTime {
        year: u16::try_from(t.year()).ok(),
        month: u8::try_from(t.month()).ok(),
        day: u8::try_from(t.day()).ok(),
        hour: u8::try_from(t.hour()).ok(),
        minute: u8::try_from(t.minute()).ok(),
        second: u8::try_from(t.second()).ok(),
        tz_hour: Some(0),
        tz_minute: Some(0),
        tz_minus: false,
    }))
}

fn text(s: &str) -> ICalendarValue {
    ICalendarValue::Text(s.to_owned())
}

/// A meeting as a VEVENT, a task as a VTODO; other activities are not calendar items.
fn component(a: &Activity) -> Option<ICalendarComponent> {
    let kind = match a.kind {
        ActivityKind::Meeting => ICalendarComponentType::VEvent,
        ActivityKind::Task => ICalendarComponentType::VTodo,
        _ => return None,
    };
    let mut c = ICalendarComponent::new(kind);
    c.add_uid(&format!("{}@crm", a.id));
    c.add_property(ICalendarProperty::Dtstamp, utc(a.updated_at));
    c.add_property(ICalendarProperty::Summary, text(&a.subject));
    if let Some(b) = &a.body {
        c.add_property(ICalendarProperty::Description, text(b));
    }
    if a.kind == ActivityKind::Meeting {
        let start = a.due_at.unwrap_or(a.occurred_at);
        c.add_property(ICalendarProperty::Dtstart, utc(start));
        if let Some(secs) = a.duration_secs {
            c.add_property(ICalendarProperty::Dtend, utc(start + Duration::seconds(i64::from(secs))));
        }
        for p in &a.participants {
            let Some(email) = &p.email else { continue };
            let name = if p.role == ParticipantRole::Organizer {
                ICalendarProperty::Organizer
            } else {
                ICalendarProperty::Attendee
            };
            let params: Vec<ICalendarParameter> =
                p.name.iter().map(|n| ICalendarParameter::new(ICalendarParameterName::Cn, n.clone())).collect();
            c.add_property_with_params(
                name,
                params,
                ICalendarValue::Uri(Uri::Location(format!("mailto:{}", email.as_str()))),
            );
        }
    } else {
        if let Some(due) = a.due_at {
            c.add_property(ICalendarProperty::Due, utc(due));
        }
        let status = match a.completed_at {
            Some(done) => {
                c.add_property(ICalendarProperty::Completed, utc(done));
                ICalendarStatus::Completed
            }
            None => ICalendarStatus::NeedsAction,
        };
        c.add_property(ICalendarProperty::Status, ICalendarValue::Status(status));
    }
    Some(c)
}

/// Writes the meetings and tasks among the activities `query` selects as one iCalendar file
/// (a VEVENT per meeting with its attendees, a VTODO per task with its due date and whether it
/// is done); returns how many were written.
pub async fn export_ics(cx: &Session, query: &Query, mut out: impl Write) -> Result<u64> {
    let mut root = ICalendarComponent::new(ICalendarComponentType::VCalendar);
    root.add_property(ICalendarProperty::Version, text("2.0"));
    root.add_property(ICalendarProperty::Prodid, text("-//crm//crm-io//EN"));
    let mut components = vec![root];
    let spec = Export::new(query.clone());
    each_record::<Activity>(cx, &spec, |a| {
        components.extend(component(&a));
        Ok(())
    })
    .await?;
    components[0].component_ids = (1..components.len()).filter_map(|i| u32::try_from(i).ok()).collect();
    let n = components.len() as u64 - 1;
    write!(out, "{}", ICalendar { components })?;
    out.flush()?;
    Ok(n)
}

fn param_text(p: &ICalendarParameter) -> Option<String> {
    match &p.value {
        ICalendarParameterValue::Text(s) => Some(s.clone()),
        _ => None,
    }
}

/// The person a calendar address names: their display name and email address.
fn person(e: &calcard::icalendar::ICalendarEntry) -> Option<(Option<String>, String)> {
    let address = e.values.iter().find_map(|v| match v {
        ICalendarValue::Uri(Uri::Location(s)) => Some(s.clone()),
        ICalendarValue::Text(s) => Some(s.clone()),
        _ => None,
    })?;
    let email = address
        .strip_prefix("mailto:")
        .or_else(|| address.strip_prefix("MAILTO:"))
        .unwrap_or(&address)
        .trim()
        .to_owned();
    let name = e.params.iter().find(|p| p.name == ICalendarParameterName::Cn).and_then(param_text);
    Some((name, email))
}

/// The system a filed invitation's UID is kept under, among the meeting's external ids.
pub const UID_SYSTEM: &str = "ical";

/// Files the events of a meeting invitation (an `.ics` file or attachment) as meeting
/// activities, each with its time (in UTC, from whatever time zone the invitation used), length,
/// description, organiser and attendees (matched to contacts by email, as any activity's
/// participants are). Returns each event's UID with the activity filed for it. An event
/// without a summary or a start is refused naming `SUMMARY` or `DTSTART`, and nothing is filed.
///
/// The UID is kept as the meeting's `ical` external id, so an invitation filed again (or its
/// update, moved to another time) updates the meeting filed before — its summary, time, length
/// and description — instead of filing a second one.
pub async fn file_invitation(cx: &Session, ics: &str) -> Result<Vec<(String, Activity)>> {
    let bad = |field: &str, why: String| Error::invalid(field, FieldErrorCode::InvalidFormat, why);
    let cal = ICalendar::parse(ics).map_err(|_| bad("ics", "not an iCalendar file".into()))?;
    let mut times: HashMap<u32, (DateTime<Utc>, DateTime<Utc>)> = HashMap::new();
    for ev in cal.expand_dates(calcard::common::timezone::Tz::from(Utc), 10_000).events {
        if let Some(span) = ev.try_into_date_time() {
            let (start, end) = (span.start.with_timezone(&Utc), span.end.with_timezone(&Utc));
            times.entry(span.comp_id).and_modify(|t| *t = (*t).min((start, end))).or_insert((start, end));
        }
    }
    let mut inputs = Vec::new();
    for (id, comp) in cal.components.iter().enumerate() {
        if comp.component_type != ICalendarComponentType::VEvent {
            continue;
        }
        let uid = comp.uid().unwrap_or_default().to_owned();
        let summary =
            comp.property(&ICalendarProperty::Summary).and_then(|e| e.values.first()).and_then(|v| v.as_text());
        let Some(summary) = summary.map(str::to_owned).filter(|s| !s.trim().is_empty()) else {
            return Err(bad("SUMMARY", format!("event {uid} has no summary")).into());
        };
        let Some((start, end)) = u32::try_from(id).ok().and_then(|i| times.get(&i)).copied() else {
            return Err(bad("DTSTART", format!("event {uid} has no start time")).into());
        };
        let mut a = NewActivity::meeting(summary).due(start);
        if let Ok(secs) = u32::try_from((end - start).num_seconds())
            && secs > 0
        {
            a = a.duration_secs(secs);
        }
        if let Some(d) =
            comp.property(&ICalendarProperty::Description).and_then(|e| e.values.first()).and_then(|v| v.as_text())
        {
            a = a.body(d.to_owned());
        }
        for e in &comp.entries {
            let role = match e.name {
                ICalendarProperty::Organizer => ParticipantRole::Organizer,
                ICalendarProperty::Attendee => ParticipantRole::Attendee,
                _ => continue,
            };
            if let Some((name, email)) = person(e) {
                let mut p = NewParticipant::new(role).email(email);
                p.name = name;
                a = a.with_participant(p);
            }
        }
        inputs.push((uid, a));
    }
    let mut filed = Vec::with_capacity(inputs.len());
    for (uid, a) in inputs {
        let before = match uid.trim() {
            "" => None,
            id => crate::kind::find_external::<Activity>(cx, UID_SYSTEM, id).await?,
        };
        let activity = match before {
            Some(id) => {
                let mut m = cx.activities().get(id).await?;
                m.subject = a.subject;
                m.due_at = a.due_at;
                m.duration_secs = a.duration_secs;
                if a.body.is_some() {
                    m.body = a.body;
                }
                cx.activities().update(m).await?
            }
            None if uid.trim().is_empty() => cx.activities().log(a).await?,
            None => cx.activities().log(a.external_ref(UID_SYSTEM, uid.trim())).await?,
        };
        filed.push((uid, activity));
    }
    Ok(filed)
}
