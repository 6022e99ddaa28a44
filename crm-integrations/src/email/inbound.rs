//! Inbound email: raw messages (from IMAP, a `.eml` file or an mbox) parsed, matched to
//! contacts and companies, threaded onto earlier mail, and filed as email activities.

use chrono::{DateTime, Duration, Utc};
use crm_core::model::{Direction, ParticipantRole};
use crm_core::{
    ids::CompanyId, ids::ContactId, model::Activity, profile::Channel, query::Filter, query::Query,
    service::NewActivity, service::Session,
};
use mail_parser::{Address as ParsedAddress, MessageParser};
use sha2::{Digest, Sha256};

use super::valid_message_id;
use crate::error::{IntegrationError, Result};

/// Largest message accepted, in bytes (attachments included).
pub const MAX_MESSAGE_BYTES: usize = 25 << 20;
/// Longest body kept on the activity, in characters (the rest is cut, marked `…`).
pub const MAX_BODY_CHARS: usize = 100_000;
/// How far back a reply without threading headers is matched by subject and participants.
pub const SUBJECT_THREAD_WINDOW_DAYS: i64 = 30;
/// Addresses read from each of From, To and Cc and matched to contacts and companies; more
/// are left out, with a warning in the log.
pub const MAX_ADDRESSES_PER_HEADER: usize = 1_000;
/// To and Cc recipients kept as the activity's participants (each); all the addresses read are
/// still matched to contacts, so a contact past this is linked, only not listed.
pub const MAX_PARTICIPANTS_PER_ROLE: usize = 50;

/// Mail providers whose domain says nothing about a company.
const FREE_MAIL: &[&str] = &[
    "gmail.com",
    "googlemail.com",
    "outlook.com",
    "hotmail.com",
    "live.com",
    "msn.com",
    "yahoo.com",
    "ymail.com",
    "icloud.com",
    "me.com",
    "mac.com",
    "aol.com",
    "gmx.com",
    "gmx.de",
    "gmx.net",
    "web.de",
    "proton.me",
    "protonmail.com",
    "pm.me",
    "yandex.com",
    "yandex.ru",
    "mail.ru",
    "qq.com",
    "163.com",
    "126.com",
    "zoho.com",
    "fastmail.com",
    "hey.com",
    "orange.fr",
    "free.fr",
    "t-online.de",
    "btinternet.com",
];

/// Whether `domain` belongs to a free mail provider (`gmail.com`, `yahoo.co.uk`…).
pub fn is_free_mail(domain: &str) -> bool {
    let d = domain.to_ascii_lowercase();
    FREE_MAIL.contains(&d.as_str()) || d.starts_with("yahoo.") || d.starts_with("hotmail.") || d.starts_with("outlook.")
}

/// Files incoming mail for one mailbox.
#[derive(Clone, Debug)]
pub struct Inbox {
    own: Vec<String>,
}

/// What became of one message.
#[derive(Clone, Debug, PartialEq)]
pub enum Filed {
    /// Filed as a new activity on the contacts (and their companies, the thread's deals).
    Matched(Activity),
    /// Filed as a new activity that no contact or company matched: it is on the review list.
    Unmatched(Activity),
    /// Already filed (same Message-ID): nothing was written.
    Duplicate(Activity),
    /// Not filed: it is from a person erased at their request (their address is blocked,
    /// see [`Privacy::erase`](crm_core::service::Privacy::erase)). Nothing was written.
    Blocked,
}

impl Filed {
    /// The activity, whichever way it was filed (None when it was not).
    pub fn activity(&self) -> Option<&Activity> {
        match self {
            Filed::Matched(a) | Filed::Unmatched(a) | Filed::Duplicate(a) => Some(a),
            Filed::Blocked => None,
        }
    }
}

impl Inbox {
    /// An inbox whose own addresses are `own` (the mailbox and its aliases): mail from them
    /// is outbound, and they are never matched to contacts.
    pub fn new<'a>(own: impl IntoIterator<Item = &'a str>) -> Result<Self> {
        let own = own
            .into_iter()
            .enumerate()
            .map(|(i, a)| {
                crm_core::profile::Email::parse(a)
                    .map(|e| e.as_str().to_owned())
                    .map_err(|e| IntegrationError::invalid(format!("own[{i}]"), e))
            })
            .collect::<Result<Vec<_>>>()?;
        if own.is_empty() {
            return Err(IntegrationError::invalid("own", "an inbox needs its own address"));
        }
        Ok(Inbox { own })
    }

    fn is_own(&self, address: &str) -> bool {
        self.own.iter().any(|o| o.eq_ignore_ascii_case(address))
    }

    /// Parses and files one raw RFC 5322 message. Filing the same message again (same
    /// Message-ID) writes nothing. A message that is not mail (no From, unparsable) is an
    /// [`IntegrationError::Invalid`] and writes nothing.
    pub async fn file(&self, cx: &Session, raw: &[u8]) -> Result<Filed> {
        if raw.len() > MAX_MESSAGE_BYTES {
            return Err(IntegrationError::invalid(
                "message",
                format!("{} bytes; at most {MAX_MESSAGE_BYTES}", raw.len()),
            ));
        }
        let msg = MessageParser::default()
            .parse(raw)
            .ok_or_else(|| IntegrationError::invalid("message", "not an RFC 5322 message"))?;
        let from = at_most(addresses(msg.from()), "From");
        let Some((from_name, from_email)) = from.first().cloned() else {
            return Err(IntegrationError::invalid("from", "the message has no valid From address"));
        };
        let mut to = at_most(addresses(msg.to()), "To");
        let mut cc = at_most(addresses(msg.cc()), "Cc");
        // Erased people stay out: their mail is not filed, and they are left off others' mail.
        let all: Vec<&str> = from.iter().chain(&to).chain(&cc).map(|(_, e)| e.as_str()).collect();
        let blocked = cx.privacy().blocked_among(&all).await?;
        if blocked.iter().any(|b| *b) {
            if blocked[..from.len()].iter().any(|b| *b) {
                return Ok(Filed::Blocked);
            }
            let (to_blocked, cc_blocked) = blocked[from.len()..].split_at(to.len());
            let keep = |list: &mut Vec<(Option<String>, String)>, out: &[bool]| {
                let mut flags = out.iter();
                list.retain(|_| !flags.next().copied().unwrap_or(false));
            };
            keep(&mut to, to_blocked);
            keep(&mut cc, cc_blocked);
        }
        let message_id = match msg.message_id().map(clean_id).filter(|id| valid_message_id(id)) {
            Some(id) => id,
            // No usable Message-ID: a stable one from what identifies the message.
            None => synthetic_id(raw),
        };
        if let Some(existing) = cx.activities().find_by_message_id(&message_id).await? {
            return Ok(Filed::Duplicate(existing));
        }
        let in_reply_to = msg.in_reply_to().as_text().map(clean_id).filter(|i| valid_message_id(i));
        let mut references: Vec<String> = msg
            .references()
            .as_text_list()
            .map(|l| l.iter().map(|r| clean_id(r)).filter(|r| valid_message_id(r)).collect())
            .unwrap_or_default();
        references.truncate(100);
        let subject = msg.subject().map(one_line).filter(|s| !s.is_empty()).unwrap_or_else(|| "(no subject)".into());
        let occurred_at = msg
            .date()
            .and_then(|d| DateTime::<Utc>::from_timestamp(d.to_timestamp(), 0))
            .filter(|d| *d <= Utc::now() + Duration::minutes(5))
            .unwrap_or_else(Utc::now);
        let direction = if self.is_own(&from_email) { Direction::Outbound } else { Direction::Inbound };

        // Contacts by address, then companies by the domain of addresses no contact has.
        let mut contacts: Vec<ContactId> = Vec::new();
        let mut companies: Vec<CompanyId> = Vec::new();
        let everyone: Vec<&(Option<String>, String)> = from.iter().chain(&to).chain(&cc).collect();
        for (_, email) in everyone.iter().filter(|(_, e)| !self.is_own(e)) {
            let q = Query::new(Filter::contains("emails", email.as_str())).limit(2);
            let found = cx.contacts().list(&q).await?.items;
            if let Some(c) = found.first() {
                if !contacts.contains(&c.id) {
                    contacts.push(c.id);
                }
                if let Some(co) = c.company_id
                    && !companies.contains(&co)
                {
                    companies.push(co);
                }
                continue;
            }
            let domain = email.rsplit_once('@').map(|(_, d)| d).unwrap_or("");
            if !domain.is_empty() && !is_free_mail(domain) {
                let q = Query::new(Filter::eq("domain", domain)).limit(1);
                if let Some(co) = cx.companies().list(&q).await?.items.first()
                    && !companies.contains(&co.id)
                {
                    companies.push(co.id);
                }
            }
        }

        // The parent, whose deals and campaign it carries on: by In-Reply-To, then References
        // (newest first), then by subject and participants within the window. Its conversation
        // is kept by the activities service from the whole chain (see `Activity::thread_id`).
        let named: Vec<&String> = in_reply_to.iter().chain(references.iter().rev()).collect();
        let mut parent = None;
        if !named.is_empty() {
            let q = Query::new(Filter::is_in("message_id", named.iter().map(|n| n.as_str()).collect::<Vec<_>>()));
            let found = cx.activities().list(&q.limit(named.len())).await?.items;
            // The nearest: In-Reply-To, then References newest first.
            parent = named.iter().find_map(|n| found.iter().find(|f| f.message_id.as_ref() == Some(*n)).cloned());
        }
        let body = msg.body_text(0).map(|b| cut(&b, MAX_BODY_CHARS));
        // By subject only what looks like a reply: a statement sent every month with the same
        // subject is a new message each time.
        let mut by_subject = None;
        if parent.is_none() && !contacts.is_empty() && looks_like_reply(&subject, body.as_deref()) {
            parent = self.by_subject(cx, &contacts, &subject, occurred_at).await?;
            // It continues that conversation: the headers it lacks are not invented.
            by_subject = parent.as_ref().and_then(|p| p.thread_id.clone());
        }
        let mut deals = Vec::new();
        let mut campaign = None;
        if let Some(p) = &parent {
            deals = p.deal_ids.clone();
            campaign = p.campaign_id;
            for c in &p.company_ids {
                if !companies.contains(c) {
                    companies.push(*c);
                }
            }
            // The message's own References are kept as it carried them: none is invented, since
            // a reply sent from the CRM would carry them on.
        }

        let mut a = NewActivity::email(subject)
            .direction(direction)
            .channel(Channel::Email)
            .at(occurred_at)
            .message_id(message_id)
            .references(references)
            .participant(ParticipantRole::From, from_name.as_deref(), Some(&from_email));
        if let Some(b) = body {
            a = a.body(b);
        }
        if let Some(i) = in_reply_to {
            a = a.in_reply_to(i);
        }
        if let Some(t) = by_subject {
            a = a.thread(t);
        }
        for (role, list) in [(ParticipantRole::To, &to), (ParticipantRole::Cc, &cc)] {
            if list.len() > MAX_PARTICIPANTS_PER_ROLE {
                tracing::info!(?role, kept = MAX_PARTICIPANTS_PER_ROLE, of = list.len(), "participants listed in part");
            }
            for (name, email) in list.iter().take(MAX_PARTICIPANTS_PER_ROLE) {
                a = a.participant(role, name.as_deref(), Some(email));
            }
        }
        for c in &contacts {
            a = a.contact(*c);
        }
        for c in &companies {
            a = a.company(*c);
        }
        for d in &deals {
            a = a.deal(*d);
        }
        if let Some(c) = campaign
            && direction == Direction::Inbound
        {
            a = a.campaign(c);
        }
        let matched = !contacts.is_empty() || !companies.is_empty();
        let activity = cx.activities().log(a).await?;
        Ok(if matched { Filed::Matched(activity) } else { Filed::Unmatched(activity) })
    }

    /// The latest email with one of `contacts` whose normalised subject is `thread` and that
    /// is at most the window older than `at`.
    async fn by_subject(
        &self,
        cx: &Session,
        contacts: &[ContactId],
        thread: &str,
        at: DateTime<Utc>,
    ) -> Result<Option<Activity>> {
        let since = at - Duration::days(SUBJECT_THREAD_WINDOW_DAYS);
        let want = normalise_subject(thread);
        let mut best: Option<Activity> = None;
        for c in contacts {
            let f = Filter::eq("kind", "email")
                .and(Filter::contains("contact_ids", *c))
                .and(Filter::gte("occurred_at", since));
            let page = cx.activities().list(&Query::new(f).limit(200)).await?;
            for a in page.items {
                if a.message_id.is_some()
                    && a.occurred_at <= at
                    && normalise_subject(&a.subject) == want
                    && best.as_ref().is_none_or(|b| a.occurred_at > b.occurred_at)
                {
                    best = Some(a);
                }
            }
        }
        Ok(best)
    }

    /// Filed mail that matched no contact or company, newest first (at most `limit`).
    pub async fn review_list(&self, cx: &Session, limit: usize) -> Result<Vec<Activity>> {
        let f = Filter::eq("kind", "email").and(Filter::eq("direction", "inbound"));
        let mut out = Vec::new();
        let mut q = Query::new(f).limit(200);
        loop {
            let page = cx.activities().list(&q).await?;
            out.extend(page.items.into_iter().filter(|a| a.contact_ids.is_empty() && a.company_ids.is_empty()));
            match page.next {
                Some(next) if out.len() < limit => q = q.after(Some(next)),
                _ => break,
            }
        }
        out.sort_by_key(|a| std::cmp::Reverse(a.occurred_at));
        out.truncate(limit);
        Ok(out)
    }

    /// Files every message of an mbox file (`From ` separated), in order. Returns one result
    /// per message: a bad message does not stop the others.
    pub async fn file_mbox(&self, cx: &Session, mbox: &[u8]) -> Vec<Result<Filed>> {
        let mut out = Vec::new();
        for raw in split_mbox(mbox) {
            out.push(self.file(cx, &raw).await);
        }
        out
    }
}

/// The messages of an mbox (mboxrd: `>From ` lines unquoted one level).
pub fn split_mbox(mbox: &[u8]) -> Vec<Vec<u8>> {
    let mut messages = Vec::new();
    let mut current: Option<Vec<u8>> = None;
    for line in mbox.split_inclusive(|b| *b == b'\n') {
        if line.starts_with(b"From ") {
            if let Some(m) = current.take() {
                messages.push(m);
            }
            current = Some(Vec::new());
            continue;
        }
        if let Some(m) = current.as_mut() {
            let unquoted =
                if line.starts_with(b">") && line.iter().skip_while(|b| **b == b'>').take(5).eq(b"From ".iter()) {
                    &line[1..]
                } else {
                    line
                };
            m.extend_from_slice(unquoted);
        }
    }
    messages.extend(current);
    messages.into_iter().filter(|m| !m.iter().all(u8::is_ascii_whitespace)).collect()
}

fn addresses(a: Option<&ParsedAddress<'_>>) -> Vec<(Option<String>, String)> {
    let Some(a) = a else { return Vec::new() };
    a.iter()
        .filter_map(|addr| {
            let email = crm_core::profile::Email::parse(addr.address()?).ok()?;
            let name = addr.name().map(one_line).filter(|n| !n.is_empty() && n.chars().count() <= 200);
            Some((name, email.as_str().to_owned()))
        })
        .take(MAX_ADDRESSES_PER_HEADER + 1)
        .collect()
}

/// Cuts `list` to [`MAX_ADDRESSES_PER_HEADER`], saying so.
fn at_most(mut list: Vec<(Option<String>, String)>, header: &str) -> Vec<(Option<String>, String)> {
    if list.len() > MAX_ADDRESSES_PER_HEADER {
        tracing::warn!(header, kept = MAX_ADDRESSES_PER_HEADER, "addresses past the limit were not matched");
        list.truncate(MAX_ADDRESSES_PER_HEADER);
    }
    list
}

fn clean_id(id: &str) -> String {
    id.trim().trim_start_matches('<').trim_end_matches('>').to_owned()
}

fn synthetic_id(raw: &[u8]) -> String {
    // The whole message: two messages that share From, To, Date and Subject are still two.
    let mut h = Sha256::new();
    h.update(raw);
    let digest = h.finalize();
    let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!("{hex}@no-message-id.invalid")
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ").chars().take(500).collect()
}

/// Reply prefixes, in the languages mail clients write them.
const REPLY_PREFIXES: [&str; 6] = ["re:", "aw:", "sv:", "vs:", "rif:", "antw:"];
/// Forward prefixes.
const FORWARD_PREFIXES: [&str; 4] = ["fw:", "fwd:", "wg:", "tr:"];

/// One leading reply or forward prefix (`Re:`, `Re[2]:`, `RE (2):`, `Fwd:`…) or list tag
/// (`[acme-sales]`, `[Ticket #4711]`) of a lower-cased subject: what follows it, and whether it
/// was a reply prefix.
fn strip_one(t: &str) -> Option<(&str, bool)> {
    if let Some(rest) = REPLY_PREFIXES.iter().find_map(|p| t.strip_prefix(p)) {
        return Some((rest, true));
    }
    if let Some(rest) = FORWARD_PREFIXES.iter().find_map(|p| t.strip_prefix(p)) {
        return Some((rest, false));
    }
    if let Some(tag) = t.strip_prefix('[') {
        let close = tag.find(']')?;
        return Some((&tag[close + 1..], false));
    }
    let rest = t.strip_prefix("re")?;
    let close = rest.find(':')?;
    rest[..close].chars().all(|c| c.is_ascii_digit() || "[]() ".contains(c)).then(|| (&rest[close + 1..], true))
}

/// A subject without reply/forward prefixes and list tags, folded and lower-cased: the one
/// normalisation both a new message's subject and filed ones go through.
pub fn normalise_subject(s: &str) -> String {
    let mut s = one_line(s).to_lowercase();
    while let Some((rest, _)) = strip_one(s.trim_start()) {
        s = rest.to_owned();
    }
    s.trim().to_owned()
}

/// Whether a message without threading headers looks like a reply: a reply prefix on its
/// subject (behind any list tags), or a quoted line (`> …`) in its body.
fn looks_like_reply(subject: &str, body: Option<&str>) -> bool {
    let mut s = one_line(subject).to_lowercase();
    while let Some((rest, reply)) = strip_one(s.trim_start()) {
        if reply {
            return true;
        }
        s = rest.to_owned();
    }
    body.is_some_and(|b| b.lines().any(|l| l.trim_start().starts_with('>')))
}

fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_tags_go_the_same_way_on_both_sides_and_only_replies_look_like_replies() {
        for s in ["[acme-sales] Delivery dates", "Re: [acme-sales] Delivery dates", "[Ticket #4711] RE: Delivery dates"]
        {
            assert_eq!(normalise_subject(s), "delivery dates", "{s}");
        }
        assert!(looks_like_reply("[acme-sales] Re: Delivery dates", None));
        assert!(looks_like_reply("SV: Leverans", None));
        assert!(!looks_like_reply("[Ticket #4711] Delivery dates", None));
        assert!(!looks_like_reply("Monthly statement", Some("Your balance is 0.")));
        assert!(looks_like_reply("Delivery dates", Some("Fine.\n\n> When can you deliver?")));
        assert!(!looks_like_reply("Fwd: Delivery dates", None), "a forward is not a reply");
    }

    #[test]
    fn subjects_lose_reply_and_forward_prefixes() {
        for s in
            ["Quote", "Re: Quote", "RE: re: Quote", "Fwd: RE: Quote", "AW: Quote", "Re[2]: Quote", "  re:   quote "]
        {
            assert_eq!(normalise_subject(s), "quote", "{s}");
        }
        assert_eq!(normalise_subject("Rebate offer"), "rebate offer");
    }

    #[test]
    fn mbox_splits_on_from_lines_and_unquotes() {
        let mbox = b"From a@x Mon Jan  1 00:00:00 2026\nSubject: one\n\n>From here\nbody\nFrom b@y Mon Jan  1 00:00:00 2026\nSubject: two\n\nx\n";
        let msgs = split_mbox(mbox);
        assert_eq!(msgs.len(), 2);
        assert_eq!(msgs[0], b"Subject: one\n\nFrom here\nbody\n");
        assert_eq!(msgs[1], b"Subject: two\n\nx\n");
    }

    #[test]
    fn free_mail_domains_are_known() {
        assert!(is_free_mail("gmail.com") && is_free_mail("yahoo.co.uk") && is_free_mail("GMX.de"));
        assert!(!is_free_mail("acme.example"));
    }
}
