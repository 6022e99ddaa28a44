//! Writing the scores the analytics work out onto the records they describe: RFM scores and
//! segments on contacts ([`Contacts::set_rfm`]).

use super::Contacts;
use crate::error::{Error, FieldErrorCode, Result};
use crate::ids::ContactId;
use crate::model::{Action, Contact, Rfm};

/// The most contacts one [`Contacts::set_rfm`] call writes (one transaction).
pub const MAX_SCORES_PER_CALL: usize = 10_000;

impl Contacts<'_> {
    /// Writes RFM scores on contacts (`None` clears them; scores out of 1–5 count as the nearest
    /// and the segment is always the one of the recency and frequency scores), all in one
    /// transaction: every one
    /// or, when one fails (a contact the actor may not edit), none. A contact deleted since its
    /// scores were worked out is passed over. A contact
    /// whose recency, frequency and monetary scores are already those given is left alone,
    /// so scoring again writes only what moved. Each change is an `Updated` event naming the
    /// `rfm` field, for rules and extensions to react to a customer changing segment.
    /// A written contact's version moves on like any write (an edit of it read before is then a
    /// [`Conflict`](Error::Conflict)); extensions' validation and computed fields do not run
    /// (the scores are the library's, not the actor's input). Returns how many contacts were
    /// written.
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// use crm_core::prelude::*;
    /// use crm_core::model::{Rfm, RfmSegment};
    /// let crm = Crm::new(MemoryStore::new());
    /// let cx = crm.as_actor(&Actor::system(TenantId::new()));
    /// let ada = cx.contacts().create(NewContact::new("Ada", "Lovelace")).await?;
    /// let scores = vec![(ada.id, Some(Rfm::new(5, 5, 4, cx.now())))];
    /// assert_eq!(cx.contacts().set_rfm(scores.clone()).await?, 1);
    /// assert_eq!(cx.contacts().set_rfm(scores).await?, 0);
    /// let champions = cx.contacts().count(&Filter::eq("rfm_segment", RfmSegment::Champions)).await?;
    /// assert_eq!(champions, 1);
    /// # Ok::<_, Error>(()) }).unwrap();
    /// ```
    pub async fn set_rfm(&self, scores: Vec<(ContactId, Option<Rfm>)>) -> Result<u64> {
        if scores.len() > MAX_SCORES_PER_CALL {
            return Err(Error::invalid(
                "scores",
                FieldErrorCode::OutOfRange,
                format!("{} contacts in one call; at most {MAX_SCORES_PER_CALL}", scores.len()),
            ));
        }
        self.write(|uow| {
            Box::pin(async move {
                let mut written = 0;
                for (id, rfm) in scores {
                    let rfm = rfm.map(|r| Rfm::new(r.recency, r.frequency, r.monetary, r.scored_at));
                    let before = match uow.load::<Contact>(id, Action::Update).await {
                        Err(Error::NotFound { .. }) => continue,
                        loaded => loaded?,
                    };
                    if same_scores(before.rfm.as_ref(), rfm.as_ref()) {
                        continue;
                    }
                    let mut after = before.clone();
                    after.rfm = rfm;
                    written += u64::from(uow.save_derived(&before, after).await?);
                }
                Ok(written)
            })
        })
        .await
    }
}

/// Whether two sets of scores say the same (when they were worked out aside).
fn same_scores(a: Option<&Rfm>, b: Option<&Rfm>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => {
            (a.recency, a.frequency, a.monetary, a.segment) == (b.recency, b.frequency, b.monetary, b.segment)
        }
        _ => false,
    }
}
