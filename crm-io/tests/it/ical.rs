use chrono::{Duration, TimeZone, Utc};
use crm_core::model::{ActivityKind, ParticipantRole};
use crm_core::prelude::*;
use crm_core::query::Filter;
use crm_io::{export_ics, file_invitation};

use crate::common::*;

/// An invitation as a calendar program sends it: a Berlin time zone, an organiser, attendees.
const INVITATION: &str = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Google Inc//Google Calendar 70.9054//EN\r\nMETHOD:REQUEST\r\n\
BEGIN:VEVENT\r\nDTSTART;TZID=Europe/Berlin:20261210T140000\r\nDTEND;TZID=Europe/Berlin:20261210T153000\r\nUID:abc123@google.com\r\n\
ORGANIZER;CN=Jane Doe:mailto:jane@acme.example\r\nATTENDEE;CUTYPE=INDIVIDUAL;ROLE=REQ-PARTICIPANT;CN=Bob Roe:mailto:bob@client.example\r\n\
SUMMARY:Quarterly review\r\nDESCRIPTION:Agenda\\nItem 1\\, item 2\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";

#[tokio::test]
async fn an_invitation_is_filed_as_a_meeting_at_its_time_with_its_people() {
    let env = env().await;
    let cx = env.cx();
    let bob = cx.contacts().create(NewContact::new("Bob", "Roe").email("bob@client.example")).await.unwrap();
    let filed = file_invitation(&cx, INVITATION).await.unwrap();
    assert_eq!(filed.len(), 1);
    let (uid, meeting) = &filed[0];
    assert_eq!(uid, "abc123@google.com");
    assert_eq!((meeting.kind, meeting.subject.as_str()), (ActivityKind::Meeting, "Quarterly review"));
    assert_eq!(
        meeting.due_at,
        Some(Utc.with_ymd_and_hms(2026, 12, 10, 13, 0, 0).unwrap()),
        "14:00 in Berlin is 13:00 UTC"
    );
    assert_eq!(meeting.duration_secs, Some(90 * 60));
    assert_eq!(meeting.body.as_deref(), Some("Agenda\nItem 1, item 2"));
    let people: Vec<(ParticipantRole, Option<&str>)> =
        meeting.participants.iter().map(|p| (p.role, p.name.as_deref())).collect();
    assert_eq!(people, [(ParticipantRole::Organizer, Some("Jane Doe")), (ParticipantRole::Attendee, Some("Bob Roe"))]);
    assert_eq!(meeting.contact_ids, [bob.id], "the attendee is the contact with that address");

    let err = file_invitation(&cx, &INVITATION.replace("SUMMARY:Quarterly review\r\n", "")).await.unwrap_err();
    assert!(matches!(&err, crm_io::IoError::Crm(Error::Validation(v)) if v.0[0].field == "SUMMARY"), "{err:?}");
    assert_eq!(cx.activities().count(&Filter::All).await.unwrap(), 1, "nothing filed for a bad invitation");

    // The organiser moves the meeting an hour later and sends the invitation again: the
    // meeting filed before moves, no second one is filed.
    let moved =
        INVITATION.replace("T140000", "T150000").replace("T153000", "T163000").replace("SEQUENCE:0", "SEQUENCE:1");
    let again = file_invitation(&cx, &moved).await.unwrap();
    assert_eq!(again[0].1.id, meeting.id);
    assert_eq!(again[0].1.due_at, Some(Utc.with_ymd_and_hms(2026, 12, 10, 14, 0, 0).unwrap()));
    assert_eq!(cx.activities().count(&Filter::All).await.unwrap(), 1);
    let refs = &cx.activities().get(meeting.id).await.unwrap().external_refs;
    assert_eq!((refs[0].system.as_str(), refs[0].id.as_str()), (crm_io::UID_SYSTEM, "abc123@google.com"));
}

#[tokio::test]
async fn meetings_and_tasks_go_out_as_a_calendar_that_files_back() {
    let env = env().await;
    let cx = env.cx();
    let at = Utc.with_ymd_and_hms(2026, 12, 14, 9, 30, 0).unwrap();
    let meeting = NewActivity::meeting("Kick-off").due(at).duration_secs(45 * 60).body("Bring the plan").participant(
        ParticipantRole::Attendee,
        Some("Ann Lee"),
        Some("ann@example.org"),
    );
    cx.activities().log(meeting).await.unwrap();
    let task = cx.activities().log(NewActivity::task("Send the quote", at + Duration::days(2))).await.unwrap();
    cx.activities().complete(task.id).await.unwrap();
    cx.activities().log(NewActivity::call("Not in a calendar")).await.unwrap();

    let mut out = Vec::new();
    assert_eq!(export_ics(&cx, &Query::default(), &mut out).await.unwrap(), 2);
    let ics = String::from_utf8(out).unwrap();
    assert!(
        ics.contains("BEGIN:VTODO") && ics.contains("STATUS:COMPLETED") && ics.contains("DUE:20261216T093000Z"),
        "{ics}"
    );
    assert!(ics.contains("ATTENDEE;CN=\"Ann Lee\":mailto:ann@example.org"), "{ics}");

    // The meeting, filed into another tenant, is the same meeting.
    let other = env.crm.as_actor(&Actor::system(TenantId::new()));
    let filed = file_invitation(&other, &ics).await.unwrap();
    assert_eq!(filed.len(), 1, "tasks are not invitations");
    let m = &filed[0].1;
    assert_eq!((m.subject.as_str(), m.due_at, m.duration_secs), ("Kick-off", Some(at), Some(45 * 60)));
    assert_eq!(m.participants[0].email.as_ref().map(|e| e.as_str()), Some("ann@example.org"));
}
