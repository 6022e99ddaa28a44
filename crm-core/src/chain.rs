//! A tenant's events as a hash chain: the evidence that the audit trail was not edited.
//!
//! Every committed event is stored with two SHA-256 hashes (hex): the *digest* of its stored
//! text, and its *link*, `SHA-256(previous link ‖ seq ‖ digest)` (the first event's previous
//! link is the empty string). A store writes both in the transaction that commits the event,
//! while it holds the tenant's event counter, and keeps the last link as the tenant's
//! [`ChainHead`]. [`Store::verify_events`](crate::store::Store::verify_events) walks the chain
//! again with [`ChainWalk`]: an event edited, removed or inserted, a link rewritten, or the
//! head moved is a [`ChainFault`].
//!
//! Whoever can write the database can also recompute every link after an edit. Against that,
//! keep the head somewhere else (a log line, another system) from time to time: a chain whose
//! [`ChainReport::head`] no longer passes through a head you kept was rewritten
//! ([`ChainReport::confirms`]).
//!
//! An event's text may be scrubbed on purpose later (the audit retention policy drops old
//! values; an erasure removes a person): the store keeps its digest and link and marks it, so
//! the chain still verifies and the report lists what was scrubbed.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The digest of an event's stored text.
pub fn digest(data: &str) -> String {
    hex::encode(Sha256::digest(data.as_bytes()))
}

/// The link of event `seq` whose stored text has `digest`, after the link `prev`.
pub fn link(prev: &str, seq: u64, digest: &str) -> String {
    let mut h = Sha256::new();
    h.update(prev.as_bytes());
    h.update(b"\n");
    h.update(seq.to_string().as_bytes());
    h.update(b"\n");
    h.update(digest.as_bytes());
    hex::encode(h.finalize())
}

/// The end of a tenant's chain: the last event's number and link.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainHead {
    /// The last event's `seq`.
    pub seq: u64,
    /// Its link.
    pub hash: String,
}

/// What is wrong with a chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "fault", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ChainFault {
    /// The stored text of event `seq` is not the text that was committed.
    Edited {
        /// The event.
        seq: u64,
    },
    /// Event `seq`'s link does not follow from the event before it (a link rewritten, or an
    /// event before it removed or inserted).
    Unlinked {
        /// The event.
        seq: u64,
    },
    /// Events `from..=to` are missing.
    Missing {
        /// The first missing event.
        from: u64,
        /// The last.
        to: u64,
    },
    /// The head the store keeps is not the last event's link (events removed from the end,
    /// or the head rewritten).
    Head {
        /// The head the store keeps.
        kept: Option<ChainHead>,
        /// The head the events lead to.
        walked: Option<ChainHead>,
    },
}

/// What [`Store::verify_events`](crate::store::Store::verify_events) found.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainReport {
    /// Events walked.
    pub events: u64,
    /// The last event's link (None when the tenant has no events).
    pub head: Option<ChainHead>,
    /// Everything found wrong, in event order (empty when the chain is intact).
    pub faults: Vec<ChainFault>,
    /// The events whose text was scrubbed on purpose since they were committed (the audit
    /// retention policy, an erasure): their links still hold, their text is not checked.
    pub scrubbed: Vec<u64>,
    /// Links seen, by seq, kept only for [`confirms`](Self::confirms).
    #[serde(skip)]
    links: Vec<(u64, String)>,
}

impl ChainReport {
    /// Whether no fault was found.
    pub fn is_intact(&self) -> bool {
        self.faults.is_empty()
    }

    /// Whether the chain walked passes through `head`, a head read earlier and kept
    /// elsewhere: false when the events up to it were rewritten since (links recomputed).
    pub fn confirms(&self, head: &ChainHead) -> bool {
        self.links.binary_search_by_key(&head.seq, |(s, _)| *s).is_ok_and(|i| self.links[i].1 == head.hash)
    }
}

/// Walks a chain event by event, in `seq` order (what stores feed when they verify).
#[derive(Debug)]
pub struct ChainWalk {
    prev: String,
    next: u64,
    report: ChainReport,
}

impl Default for ChainWalk {
    fn default() -> Self {
        Self::new()
    }
}

impl ChainWalk {
    /// A walk from the first event.
    pub fn new() -> Self {
        Self { prev: String::new(), next: 1, report: ChainReport::default() }
    }

    /// The next stored event: its number, stored text, the digest and link stored with it, and
    /// whether its text was scrubbed on purpose (then only its link is checked).
    pub fn push(
        &mut self,
        seq: u64,
        data: &str,
        stored_digest: Option<&str>,
        stored_link: Option<&str>,
        scrubbed: bool,
    ) {
        let (next, prev) = (self.next, std::mem::take(&mut self.prev));
        let r = &mut self.report;
        if seq != next {
            r.faults.push(ChainFault::Missing { from: next, to: seq.saturating_sub(1) });
        }
        let actual = digest(data);
        if scrubbed {
            r.scrubbed.push(seq);
        } else if stored_digest != Some(actual.as_str()) {
            r.faults.push(ChainFault::Edited { seq });
        }
        // The stored digest is what the link was made from: an edited text is one fault,
        // not a break of every link after it.
        let expected = link(&prev, seq, stored_digest.unwrap_or(&actual));
        if stored_link != Some(expected.as_str()) {
            r.faults.push(ChainFault::Unlinked { seq });
        }
        let hash = stored_link.map(str::to_owned).unwrap_or(expected);
        r.events += 1;
        r.links.push((seq, hash.clone()));
        r.head = Some(ChainHead { seq, hash: hash.clone() });
        self.prev = hash;
        self.next = seq + 1;
    }

    /// The report, given the head the store keeps for the tenant.
    pub fn finish(self, kept: Option<ChainHead>) -> ChainReport {
        let mut r = self.report;
        let walked = r.head.clone();
        let last = walked.as_ref().map_or(0, |h| h.seq);
        if let Some(k) = &kept
            && k.seq > last
        {
            r.faults.push(ChainFault::Missing { from: last + 1, to: k.seq });
        }
        if kept != walked {
            r.faults.push(ChainFault::Head { kept, walked });
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(texts: &[&str]) -> Vec<(u64, String, String, String)> {
        let mut prev = String::new();
        texts
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let seq = i as u64 + 1;
                let d = digest(t);
                prev = link(&prev, seq, &d);
                (seq, t.to_string(), d, prev.clone())
            })
            .collect()
    }

    fn walk(rows: &[(u64, String, String, String)], kept: Option<ChainHead>) -> ChainReport {
        let mut w = ChainWalk::new();
        for (seq, data, d, l) in rows {
            w.push(*seq, data, Some(d), Some(l), false);
        }
        w.finish(kept)
    }

    fn head(rows: &[(u64, String, String, String)]) -> Option<ChainHead> {
        rows.last().map(|r| ChainHead { seq: r.0, hash: r.3.clone() })
    }

    #[test]
    fn an_intact_chain_has_no_fault_and_confirms_its_earlier_heads() {
        let rows = chain(&["a", "b", "c"]);
        let r = walk(&rows, head(&rows));
        assert!(r.is_intact(), "{:?}", r.faults);
        assert_eq!((r.events, r.head.clone()), (3, head(&rows)));
        assert!(r.confirms(&head(&rows[..2]).unwrap()));
        assert!(!r.confirms(&ChainHead { seq: 2, hash: "0".repeat(64) }));
        assert!(walk(&[], None).is_intact());
    }

    #[test]
    fn an_edit_a_removal_and_a_moved_head_are_each_found_where_they_are() {
        let rows = chain(&["a", "b", "c", "d"]);
        let mut edited = rows.clone();
        edited[1].1 = "B".into();
        assert_eq!(walk(&edited, head(&rows)).faults, [ChainFault::Edited { seq: 2 }]);

        let mut removed = rows.clone();
        removed.remove(1);
        assert_eq!(
            walk(&removed, head(&rows)).faults,
            [ChainFault::Missing { from: 2, to: 2 }, ChainFault::Unlinked { seq: 3 }]
        );

        let truncated = &rows[..3];
        let faults = walk(truncated, head(&rows)).faults;
        assert_eq!(faults[0], ChainFault::Missing { from: 4, to: 4 });
        assert!(matches!(faults[1], ChainFault::Head { .. }));

        // Rewritten from the start with fresh links: intact on its own, but not through the old head.
        let rewritten = chain(&["a", "B", "c", "d"]);
        let r = walk(&rewritten, head(&rewritten));
        assert!(r.is_intact());
        assert!(!r.confirms(&head(&rows[..2]).unwrap()));
        assert!(r.confirms(&head(&rows[..1]).unwrap()));
    }
}
