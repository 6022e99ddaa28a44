//! Gamma-Gamma (Fader, Hardie & Lee 2005, after Colombo & Jiang 1999): what a customer spends
//! per purchase. Each customer's spends vary around their own mean as a gamma distribution
//! with shape `p`; the means vary across customers as a gamma distribution with shape `q` and
//! scale `v`. Fitted to the repeat buyers' purchase counts and average spends, it shrinks each
//! customer's average toward the population's, the more the fewer purchases it rests on
//! ([`GammaGamma::expected_spend`]).
//!
//! ```
//! use crm_analytics::GammaGamma;
//! // The parameters the model's authors fitted to CDNOW's customers.
//! let m = GammaGamma { p: 6.25, q: 3.74, v: 15.44 };
//! // One purchase of 100 says little: the estimate stays nearer the population's 35.
//! let once = m.expected_spend(1, 100.0).unwrap();
//! let often = m.expected_spend(20, 100.0).unwrap();
//! assert!(35.0 < once && once < often && often < 100.0);
//! ```

use libm::lgamma;
use serde::{Deserialize, Serialize};

use crate::fit::{Fit, distinct, minimise};

/// The fitted parameters of a Gamma-Gamma spend model.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct GammaGamma {
    /// Shape of the spread of one customer's spends.
    pub p: f64,
    /// Shape of the spread of customers' mean spends.
    pub q: f64,
    /// Scale of the spread of customers' mean spends.
    pub v: f64,
}

impl GammaGamma {
    /// The model fitted by maximum likelihood to the repeat buyers: (purchases averaged,
    /// average spend) pairs, both positive. `None` when there are none, or one is not positive.
    pub fn fit(buyers: &[(u32, f64)]) -> Option<(GammaGamma, Fit)> {
        if buyers.is_empty() || buyers.iter().any(|(x, m)| *x == 0 || !(m.is_finite() && *m > 0.0)) {
            return None;
        }
        let n = buyers.len() as f64;
        // What does not change while fitting: each buyer's count, its log, their log spend, and
        // their total spend; the log-gamma terms are worked out once per count.
        let counts = distinct(buyers.iter().map(|(x, _)| *x));
        let fixed: Vec<(usize, f64, f64, f64, f64)> = buyers
            .iter()
            .map(|(x, m)| {
                let i = counts.partition_point(|c| c < x);
                (i, f64::from(*x), f64::from(*x).ln(), m.ln(), f64::from(*x) * m)
            })
            .collect();
        let cost = |p: &[f64]| {
            let (p, q, v) = (p[0].exp(), p[1].exp(), p[2].exp());
            let (lg_q, ln_v) = (lgamma(q), v.ln());
            let heads: Vec<f64> = counts
                .iter()
                .map(|x| {
                    let px = p * f64::from(*x);
                    lgamma(px + q) - lgamma(px) - lg_q + q * ln_v
                })
                .collect();
            let ll: f64 = fixed
                .iter()
                .map(|(i, x, ln_x, ln_m, total)| {
                    let px = p * x;
                    heads[*i] + (px - 1.0) * ln_m + px * ln_x - (px + q) * (total + v).ln()
                })
                .sum();
            -ll / n
        };
        let (p, c, iterations, converged) = minimise(&[0.0, 0.0, 0.0], &cost)?;
        let model = GammaGamma { p: p[0].exp(), q: p[1].exp(), v: p[2].exp() };
        Some((model, Fit { converged, iterations, log_likelihood: -c * n, customers: buyers.len() as u64 }))
    }

    /// The log-likelihood of `purchases` purchases averaging `spend` under the model.
    pub fn log_likelihood(&self, purchases: u32, spend: f64) -> f64 {
        let (px, q, v) = (self.p * f64::from(purchases), self.q, self.v);
        lgamma(px + q) - lgamma(px) - lgamma(q) + q * v.ln() + (px - 1.0) * spend.ln() + px * f64::from(purchases).ln()
            - (px + q) * (f64::from(purchases) * spend + v).ln()
    }

    /// The population's mean spend per purchase: `None` when the fitted spread has no mean
    /// (`q` ≤ 1).
    pub fn mean_spend(&self) -> Option<f64> {
        (self.q > 1.0).then(|| self.p * self.v / (self.q - 1.0))
    }

    /// A customer's expected spend per purchase from `purchases` purchases averaging `spend`
    /// (with none, the population's mean): their own average weighed against the population's
    /// by how many purchases it rests on. `None` when the population has no mean.
    pub fn expected_spend(&self, purchases: u32, spend: f64) -> Option<f64> {
        let mean = self.mean_spend()?;
        let px = self.p * f64::from(purchases);
        let own = px / (px + self.q - 1.0);
        Some((1.0 - own) * mean + own * spend)
    }
}
