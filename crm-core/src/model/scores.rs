//! Scores the analytics write on records so that segments, campaigns and rules can filter on
//! them: a customer's RFM scores and segment ([`Rfm`]).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::macros::str_enum;

str_enum! {
    /// A named RFM segment: where a customer sits on the grid of recency (R) by frequency (F)
    /// scores, each 1–5 ([`RfmSegment::of`]).
    pub enum RfmSegment {
        /** Bought recently and often (R 5, F 4–5). */ Champions = "champions",
        /** Buy often, fairly recently (R 3–4, F 4–5). */ Loyal = "loyal",
        /** Recent, a few purchases (R 4–5, F 2–3). */ PotentialLoyalists = "potential_loyalists",
        /** Bought for the first time very recently (R 5, F 1). */ NewCustomers = "new_customers",
        /** Recent, one purchase (R 4, F 1). */ Promising = "promising",
        /** Average recency and frequency (R 3, F 3). */ NeedAttention = "need_attention",
        /** Fading, few purchases (R 3, F 1–2). */ AboutToSleep = "about_to_sleep",
        /** Bought often, but long ago (R 1–2, F 3–4). */ AtRisk = "at_risk",
        /** Were the best customers, not seen for long (R 1–2, F 5). */ CannotLoseThem = "cannot_lose_them",
        /** Long ago, few purchases (R 1–2, F 1–2). */ Hibernating = "hibernating"
    }
}

impl RfmSegment {
    /// The segment of recency score `r` and frequency score `f` (each 1–5; a value out of
    /// range counts as the nearest one).
    ///
    /// ```
    /// use crm_core::model::RfmSegment;
    /// assert_eq!(RfmSegment::of(5, 5), RfmSegment::Champions);
    /// assert_eq!(RfmSegment::of(1, 5), RfmSegment::CannotLoseThem);
    /// assert_eq!(RfmSegment::of(2, 1), RfmSegment::Hibernating);
    /// ```
    pub fn of(r: u8, f: u8) -> RfmSegment {
        use RfmSegment::*;
        match (r.clamp(1, 5), f.clamp(1, 5)) {
            (1..=2, 1..=2) => Hibernating,
            (1..=2, 3..=4) => AtRisk,
            (1..=2, _) => CannotLoseThem,
            (3, 1..=2) => AboutToSleep,
            (3, 3) => NeedAttention,
            (3..=4, 4..=5) => Loyal,
            (4, 1) => Promising,
            (5, 1) => NewCustomers,
            (4..=5, 2..=3) => PotentialLoyalists,
            _ => Champions,
        }
    }
}

/// A customer's RFM scores: recency, frequency and monetary value, each 1 (the lowest fifth by
/// percent rank among the customers: the share of the others below them) to 5 (the highest
/// fifth), with the segment they put the customer in. Written by the
/// analytics' RFM scoring; an edit of the record leaves it as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Rfm {
    /// How recently they bought: 5 for the most recent fifth.
    pub recency: u8,
    /// How often they bought in the window: 5 for the most frequent fifth.
    pub frequency: u8,
    /// How much they spent in the window: 5 for the fifth that spent most.
    pub monetary: u8,
    /// The segment of the recency and frequency scores.
    pub segment: RfmSegment,
    /// When the scores were worked out (a scoring that finds the same scores leaves them, and
    /// this, as they were).
    pub scored_at: DateTime<Utc>,
}

impl Rfm {
    /// Scores (each clamped to 1–5) with their segment.
    pub fn new(recency: u8, frequency: u8, monetary: u8, scored_at: DateTime<Utc>) -> Rfm {
        let (recency, frequency, monetary) = (recency.clamp(1, 5), frequency.clamp(1, 5), monetary.clamp(1, 5));
        Rfm { recency, frequency, monetary, segment: RfmSegment::of(recency, frequency), scored_at }
    }

    /// The three-digit code, recency first: "545".
    ///
    /// ```
    /// use crm_core::model::Rfm;
    /// assert_eq!(Rfm::new(5, 4, 5, chrono::Utc::now()).code(), "545");
    /// ```
    pub fn code(&self) -> String {
        format!("{}{}{}", self.recency, self.frequency, self.monetary)
    }
}
