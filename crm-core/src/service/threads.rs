//! Email conversations: the thread an email joins when it is logged, found from its whole
//! chain of headers, whatever order the messages arrive in.
//!
//! The grouping is the one of the JWZ threading algorithm (and of IMAP's `THREAD=REFERENCES`,
//! RFC 5256) before its subject step: two messages are in one conversation when one names the
//! other in `References` or `In-Reply-To`, or both name a third, whether or not that third was
//! ever filed (within [`MISSING_PARENT_WINDOW_DAYS`]). It is kept as each email's
//! [`thread_id`](Activity::thread_id): the conversation's root, the oldest Message-ID its
//! chains name (for chains that agree), so that:
//!
//! - a reply filed before its parent is in the parent's conversation once the parent comes;
//! - two replies whose shared ancestor never arrives are in one conversation;
//! - when a message shows two conversations to be one, the later-named one is folded into the
//!   other (each moved email gets an `Updated` event for `thread_id`), in the same transaction
//!   as the message itself.
//!
//! Conflicting chains (a message whose own References give it another parent than its
//! children's References say) still join one conversation here; JWZ would cut the older link.

use std::collections::BTreeSet;

use chrono::Duration;

use super::uow::Uow;
use crate::error::Result;
use crate::event::Change;
use crate::model::{Activity, ActivityKind, Entity};
use crate::query::Filter;

/// How far apart in time (either way) two emails that name the same never-filed message are
/// still found to be one conversation. Emails that name each other, or a message that was
/// filed, are joined whatever their dates.
pub const MISSING_PARENT_WINDOW_DAYS: i64 = 366;

/// Sets the conversation of `a`, an email about to be created, and folds into it every
/// conversation its headers connect it to. `hint`: the conversation the caller knows it
/// continues otherwise (a reply matched by subject).
pub(crate) async fn join(uow: &mut Uow<'_>, a: &mut Activity, hint: Option<String>) -> Result<()> {
    if a.kind != ActivityKind::Email {
        return Ok(());
    }
    // Every id the message names, oldest first: its chain, its parent, itself.
    let mut chain: Vec<String> = Vec::new();
    for id in hint.iter().chain(&a.references).chain(&a.in_reply_to).chain(&a.message_id) {
        if !chain.contains(id) {
            chain.push(id.clone());
        }
    }
    if chain.is_empty() {
        return Ok(());
    }
    // The messages it names that are filed, and the conversations keyed by a name it uses.
    let named = Filter::is_in("message_id", chain.clone()).or(Filter::is_in("thread_id", chain.clone()));
    let mut related = uow.tx.find_all::<Activity>(named).await?;
    // Names of messages never filed connect whoever else names them.
    // A conversation keyed by such a name already holds every email naming it (it is the root
    // of all their chains), so only the other names are read for.
    let filed: BTreeSet<&str> = related.iter().filter_map(|r| r.message_id.as_deref()).collect();
    let known: Vec<String> = related.iter().filter_map(|r| r.thread_id.clone()).collect();
    let missing: Vec<&String> = chain
        .iter()
        .filter(|id| !filed.contains(id.as_str()) && !known.contains(id) && a.message_id.as_ref() != Some(*id))
        .collect();
    if !missing.is_empty() {
        let mut f = Filter::is_in("in_reply_to", missing.iter().map(|m| m.as_str()).collect::<Vec<_>>());
        for m in &missing {
            f = f.or(Filter::contains("references", m.as_str()));
        }
        // Read unindexed: bounded to the mail of the year either side.
        let window = Duration::days(MISSING_PARENT_WINDOW_DAYS);
        f = f
            .and(Filter::gte("occurred_at", a.occurred_at - window))
            .and(Filter::lte("occurred_at", a.occurred_at + window));
        if !known.is_empty() {
            f = f.and(Filter::is_in("thread_id", known.clone()).not().or(Filter::is_null("thread_id")));
        }
        related.extend(uow.tx.find_all::<Activity>(f).await?);
    }

    // The conversation kept is keyed by its root, the oldest id its chains name: the chain's
    // first when the chain names a conversation's key (it then reaches at least as far back),
    // else the conversation already found (the message hangs below one of its members).
    let keys: BTreeSet<String> = related.iter().filter_map(|r| r.thread_id.clone()).collect();
    let key = if keys.is_empty() || chain.iter().any(|id| keys.contains(id)) {
        chain[0].clone()
    } else {
        let oldest = related.iter().filter(|r| r.thread_id.is_some()).min_by_key(|r| (r.occurred_at, r.id));
        oldest.and_then(|r| r.thread_id.clone()).unwrap_or_else(|| chain[0].clone())
    };
    a.thread_id = Some(key.clone());

    // Fold the others in: whole conversations by key, and emails filed before threads were kept.
    let others: Vec<String> = keys.into_iter().filter(|k| *k != key).collect();
    let mut moved = if others.is_empty() {
        Vec::new()
    } else {
        uow.tx.find_all::<Activity>(Filter::is_in("thread_id", others)).await?
    };
    moved.extend(related.into_iter().filter(|r| r.thread_id.is_none()));
    moved.sort_by_key(|r| r.id);
    moved.dedup_by_key(|r| r.id);
    for mut m in moved {
        m.thread_id = Some(key.clone());
        let m = uow.save_system(m).await?;
        uow.emit(m.entity_ref(), m.related(), Change::Updated { fields: vec!["thread_id".into()] });
    }
    Ok(())
}
