//! BG/NBD ("beta-geometric / negative binomial distribution", Fader, Hardie & Lee 2005): how
//! many purchases a customer will make, and how likely they are still a customer at all. While
//! alive a customer buys at their own steady rate (rates vary across customers as a gamma
//! distribution with shape `r` and rate `alpha`); after each purchase they may drop out for
//! good with their own chance (chances vary as a beta distribution with `a` and `b`). Fitted to
//! each customer's repeat purchases, the span between their first and last purchase and the
//! time since their first, it tells who is probably gone ([`BgNbd::p_alive`]) and what each will
//! buy ([`BgNbd::expected_purchases`]). Times are in days.
//!
//! ```
//! use crm_analytics::{BgNbd, Purchases};
//! // The parameters the model's authors fitted to CDNOW's customers (in weeks).
//! let m = BgNbd { r: 0.243, alpha: 4.414, a: 0.793, b: 2.426 };
//! let steady = Purchases { repeats: 2, recency: 30.0, age: 38.0 };
//! let gone_quiet = Purchases { repeats: 2, recency: 3.0, age: 38.0 };
//! assert!(m.p_alive(&steady) > 0.7 && m.p_alive(&gone_quiet) < 0.1);
//! assert!(m.expected_purchases(&steady, 39.0) > m.expected_purchases(&gone_quiet, 39.0));
//! ```

use std::collections::BTreeMap;

use libm::lgamma;
use serde::{Deserialize, Serialize};

use crate::fit::{Fit, distinct, log_add_exp, minimise};

/// A customer's purchase history as the lifetime models see it: purchases counted once per
/// day they bought on.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Purchases {
    /// Purchases after the first (days bought on, less one).
    pub repeats: u32,
    /// Days from the first purchase to the last.
    pub recency: f64,
    /// Days from the first purchase to the end of the history.
    pub age: f64,
}

/// The fitted parameters of a BG/NBD model.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct BgNbd {
    /// Shape of the gamma distribution of purchase rates.
    pub r: f64,
    /// Its rate (in days: the larger, the slower customers buy).
    pub alpha: f64,
    /// The first shape of the beta distribution of drop-out chances.
    pub a: f64,
    /// Its second shape.
    pub b: f64,
}

/// A series term smaller than the sum by this factor (in logs) ends it.
const SERIES_TAIL: f64 = -40.0;
/// At most this many terms of the hypergeometric series.
const SERIES_TERMS: u32 = 1_000_000;

impl BgNbd {
    /// The model fitted to `histories` by maximum likelihood, with how the fit went; `None`
    /// when no parameters give the data a finite likelihood (no history at all, or
    /// histories that are not (repeats, recency ≤ age, age ≥ 0)).
    pub fn fit(histories: &[Purchases]) -> Option<(BgNbd, Fit)> {
        if histories.is_empty() || histories.iter().any(|h| !h.is_valid()) {
            return None;
        }
        // Customers with the same history count once, weighted (in a fixed order: the same
        // histories always fit the same parameters).
        let mut same: BTreeMap<(u32, u64, u64), f64> = BTreeMap::new();
        for h in histories {
            *same.entry((h.repeats, h.recency.to_bits(), h.age.to_bits())).or_default() += 1.0;
        }
        // The repeat counts seen, each group pointing at its own.
        let counts = distinct(same.keys().map(|k| k.0));
        let groups: Vec<(Purchases, f64, usize)> = same
            .into_iter()
            .map(|((repeats, recency, age), w)| {
                let h = Purchases { repeats, recency: f64::from_bits(recency), age: f64::from_bits(age) };
                (h, w, counts.partition_point(|c| *c < repeats))
            })
            .collect();
        let n = histories.len() as f64;
        let mean_age = histories.iter().map(|h| h.age).sum::<f64>() / n;
        let cost = |p: &[f64]| {
            let m = BgNbd { r: p[0].exp(), alpha: p[1].exp(), a: p[2].exp(), b: p[3].exp() };
            -m.total_log_likelihood(&groups, &counts) / n
        };
        let start = [0.0, mean_age.max(1.0).ln(), 0.0, 0.0];
        let (p, c, iterations, converged) = minimise(&start, &cost)?;
        let model = BgNbd { r: p[0].exp(), alpha: p[1].exp(), a: p[2].exp(), b: p[3].exp() };
        Some((model, Fit { converged, iterations, log_likelihood: -c * n, customers: histories.len() as u64 }))
    }

    /// The log-likelihood of one customer's history under the model.
    pub fn log_likelihood(&self, h: &Purchases) -> f64 {
        let x = f64::from(h.repeats);
        let (r, alpha, a, b) = (self.r, self.alpha, self.a, self.b);
        let head =
            lgamma(r + x) - lgamma(r) + r * alpha.ln() + lgamma(a + b) + lgamma(b + x) - lgamma(b) - lgamma(a + b + x);
        head + self.tail(h)
    }

    /// The log-likelihood of every group of like histories (with its weight and the index of
    /// its repeat count in `counts`), with the log-gamma terms worked out once per count.
    fn total_log_likelihood(&self, groups: &[(Purchases, f64, usize)], counts: &[u32]) -> f64 {
        let (r, alpha, a, b) = (self.r, self.alpha, self.a, self.b);
        let constant = -lgamma(r) + r * alpha.ln() + lgamma(a + b) - lgamma(b);
        let heads: Vec<f64> = counts
            .iter()
            .map(|x| {
                let x = f64::from(*x);
                constant + lgamma(r + x) + lgamma(b + x) - lgamma(a + b + x)
            })
            .collect();
        groups.iter().map(|(h, w, i)| w * (heads[*i] + self.tail(h))).sum()
    }

    /// The part of the log-likelihood that depends on the times: `ln(A₃ + A₄)` of the paper.
    fn tail(&self, h: &Purchases) -> f64 {
        let x = f64::from(h.repeats);
        let gone = -(self.r + x) * (self.alpha + h.age).ln();
        if h.repeats == 0 {
            return gone;
        }
        let dropped = self.a.ln() - (self.b + x - 1.0).ln() - (self.r + x) * (self.alpha + h.recency).ln();
        log_add_exp(gone, dropped)
    }

    /// `ln` of the odds that a customer with this history has dropped out: 0 odds (−∞) for
    /// one who never bought again.
    fn log_odds_dropped(&self, h: &Purchases) -> f64 {
        if h.repeats == 0 {
            return f64::NEG_INFINITY;
        }
        let x = f64::from(h.repeats);
        self.a.ln() - (self.b + x - 1.0).ln()
            + (self.r + x) * ((self.alpha + h.age).ln() - (self.alpha + h.recency).ln())
    }

    /// The probability, 0–1, that a customer with this history is still a customer.
    pub fn p_alive(&self, h: &Purchases) -> f64 {
        1.0 / (1.0 + self.log_odds_dropped(h).exp())
    }

    /// How many purchases a customer with this history is expected to make in the next `days`
    /// days (the paper's equation 10).
    pub fn expected_purchases(&self, h: &Purchases, days: f64) -> f64 {
        if days <= 0.0 {
            return 0.0;
        }
        let x = f64::from(h.repeats);
        // The model is continuous in `a` through 1, where the formula divides 0 by 0.
        let a = if (self.a - 1.0).abs() < 1e-9 { 1.0 + 1e-9 } else { self.a };
        let (r, alpha, b) = (self.r, self.alpha, self.b);
        let z = days / (alpha + h.age + days);
        // ((α+T)/(α+T+t))^(r+x) · ₂F₁(r+x, b+x; a+b+x−1; z), summed in logs.
        let log_prefix = (r + x) * (1.0 - z).ln();
        // The series has a pole at c = 0 (a one-time buyer when a + b = 1), where the model is
        // continuous: c is kept off it, in the series and the factor before it alike.
        let c = a + b + x - 1.0;
        let c = if c.abs() < 1e-9 { 1e-9 } else { c };
        let (sign, series) = log_hyp2f1_scaled(r + x, b + x, c, z, log_prefix);
        // 1 − prefix · ₂F₁, precise when the product is near 1.
        let rest = if sign > 0.0 { -series.exp_m1() } else { 1.0 + series.exp() };
        let numerator = c / (a - 1.0) * rest;
        let e = numerator / (1.0 + self.log_odds_dropped(h).exp());
        if e.is_finite() { e.max(0.0) } else { 0.0 }
    }
}

impl Purchases {
    fn is_valid(&self) -> bool {
        self.recency.is_finite()
            && self.age.is_finite()
            && self.recency >= 0.0
            && self.recency <= self.age
            && (self.repeats > 0 || self.recency == 0.0)
    }
}

/// `e^log_prefix · ₂F₁(a, b; c; z)` for 0 ≤ z < 1 by its power series, as (sign, log of the
/// magnitude): every term kept in logs so that neither a huge series nor a tiny prefix under-
/// or overflows, with signs tracked for a negative `c` (a one-time buyer's series when
/// a + b < 1, where the terms after the first are all negative).
fn log_hyp2f1_scaled(a: f64, b: f64, c: f64, z: f64, log_prefix: f64) -> (f64, f64) {
    let (mut term_sign, mut term) = (1.0, log_prefix);
    let (mut sign, mut sum) = (1.0, log_prefix);
    for k in 0..SERIES_TERMS {
        let k = f64::from(k);
        let ratio = (a + k) * (b + k) / ((c + k) * (k + 1.0)) * z;
        // Zero: the series ends; not finite: c at a pole (kept off it by the caller).
        if ratio == 0.0 || !ratio.is_finite() {
            break;
        }
        term_sign *= ratio.signum();
        term += ratio.abs().ln();
        (sign, sum) = signed_log_add((sign, sum), (term_sign, term));
        // Past the peak the terms shrink by at least z each: stop once they no longer count.
        if ratio.abs() < 1.0 && term - sum < SERIES_TAIL {
            break;
        }
    }
    (sign, sum)
}

/// The sum of two signed numbers given as (sign, log of the magnitude).
fn signed_log_add((s1, l1): (f64, f64), (s2, l2): (f64, f64)) -> (f64, f64) {
    if s1 == s2 {
        return (s1, log_add_exp(l1, l2));
    }
    let (hi_sign, hi, lo) = if l1 >= l2 { (s1, l1, l2) } else { (s2, l2, l1) };
    if hi == lo {
        return (1.0, f64::NEG_INFINITY);
    }
    (hi_sign, hi + (-(lo - hi).exp()).ln_1p())
}

#[cfg(test)]
mod tests {
    use super::{BgNbd, Purchases, log_hyp2f1_scaled};

    #[test]
    fn the_hypergeometric_series_matches_closed_forms() {
        // ₂F₁(1, 1; 2; z) = −ln(1 − z) / z.
        for z in [0.1, 0.5, 0.9, 0.999] {
            let f = log_hyp2f1_scaled(1.0, 1.0, 2.0, z, 0.0).1.exp();
            let exact = -(1.0 - z).ln() / z;
            assert!((f - exact).abs() / exact < 1e-12, "{z}: {f} vs {exact}");
        }
        // ₂F₁(a, b; b; z) = (1 − z)^−a, scaled by (1 − z)^a: 1, for a far past f64's range.
        let f = log_hyp2f1_scaled(900.0, 2.0, 2.0, 0.75, 900.0 * 0.25f64.ln());
        assert!(f.1.abs() < 1e-9, "{f:?}");
        assert_eq!(log_hyp2f1_scaled(3.0, 4.0, 5.0, 0.0, 0.0), (1.0, 0.0));
        // A negative c, against scipy.special.hyp2f1.
        for (a, b, c, z, want) in [
            (0.5, 0.3, -0.4, 0.9, -7.395290930842791),
            (1.0, 0.3, -0.2, 0.5, -1.2628361924854332),
            (0.243, 2.4, -0.1, 0.97, -54547.69773103335),
            (0.7, 0.2, -0.05, 0.3, -0.2284144981901889),
        ] {
            let (sign, log) = log_hyp2f1_scaled(a, b, c, z, 0.0);
            let f = sign * log.exp();
            assert!((f - want).abs() / want.abs() < 1e-10, "{a} {b} {c} {z}: {f} vs {want}");
        }
    }

    #[test]
    fn a_one_time_buyer_is_predicted_through_a_plus_b_below_one() {
        // Continuous across a + b = 1, where the series' c changes sign.
        let h = Purchases { repeats: 0, recency: 0.0, age: 30.0 };
        let e = |a: f64| BgNbd { r: 1.0, alpha: 10.0, a, b: 0.3 }.expected_purchases(&h, 30.0);
        let (below, at, above) = (e(0.699), e(0.7), e(0.701));
        assert!(below > 0.0 && (below - at).abs() < 1e-3 && (above - at).abs() < 1e-3, "{below} {at} {above}");
        assert!(BgNbd { r: 1.0, alpha: 10.0, a: 0.3, b: 0.3 }.expected_purchases(&h, 30.0) > 0.0);
    }

    #[test]
    fn predictions_stay_finite_and_in_range_at_the_extremes() {
        let models = [
            BgNbd { r: 0.243, alpha: 4.414, a: 0.793, b: 2.426 },
            BgNbd { r: 1e-6, alpha: 1e-6, a: 1.0, b: 1e-6 },
            BgNbd { r: 1e6, alpha: 1e6, a: 1e6, b: 1e6 },
            BgNbd { r: 5.0, alpha: 0.01, a: 30.0, b: 0.5 },
        ];
        let histories = [
            Purchases { repeats: 0, recency: 0.0, age: 0.0 },
            Purchases { repeats: 0, recency: 0.0, age: 20_000.0 },
            Purchases { repeats: 5_000, recency: 9_999.0, age: 10_000.0 },
            Purchases { repeats: 3, recency: 1.0, age: 20_000.0 },
        ];
        for m in models {
            for h in &histories {
                let alive = m.p_alive(h);
                assert!((0.0..=1.0).contains(&alive), "{m:?} {h:?}: {alive}");
                let mut before = 0.0_f64;
                for days in [1.0, 30.0, 365.0, 3_650.0] {
                    let e = m.expected_purchases(h, days);
                    assert!(e.is_finite() && e >= 0.0, "{m:?} {h:?} {days}: {e}");
                    // More time, no fewer purchases (to rounding).
                    assert!(e >= before - 1e-9 * before.max(1.0), "{m:?} {h:?} {days}: {e} < {before}");
                    before = e;
                }
                assert!(m.log_likelihood(h).is_finite(), "{m:?} {h:?}");
            }
        }
    }
}
