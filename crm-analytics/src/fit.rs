//! Maximum-likelihood fitting shared by the customer-lifetime models ([`BgNbd`](crate::BgNbd),
//! [`GammaGamma`](crate::GammaGamma)): Nelder–Mead (the `argmin` crate) over the logarithms of
//! the parameters, so every parameter stays positive, restarted from the best point until a
//! restart no longer improves the likelihood. Parameters are kept between e^−30 and e^30: data
//! whose likelihood keeps rising toward a parameter without end (spends that vary no more
//! between customers than within, say) stop at the bound and are reported as not converged.

use argmin::core::{CostFunction, Executor, State, TerminationReason, TerminationStatus};
use argmin::solver::neldermead::NelderMead;
use serde::{Deserialize, Serialize};

/// How a model's fit went.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Fit {
    /// Whether the optimiser converged to a maximum: its last restart stopped because the
    /// simplex had shrunk, not at the iteration cap, improved the likelihood no further, and
    /// no parameter was at its bound (e^±30).
    pub converged: bool,
    /// Nelder–Mead iterations over all restarts.
    pub iterations: u64,
    /// The log-likelihood of the data at the parameters found (the sum over customers).
    pub log_likelihood: f64,
    /// The customers fitted on.
    pub customers: u64,
}

/// The iteration cap of one Nelder–Mead run.
const MAX_ITERS: u64 = 1_000;
/// Restarts from the best point after the first run, at most.
const MAX_RESTARTS: usize = 6;
/// The bound on the logarithm of every parameter.
const BOUND: f64 = 30.0;
/// A restart that improves the mean log-likelihood by less than this ends the search.
const IMPROVEMENT: f64 = 1e-12;

/// A negative mean log-likelihood over log-parameters, as argmin wants it.
struct Problem<'a>(&'a dyn Fn(&[f64]) -> f64);

impl CostFunction for Problem<'_> {
    type Param = Vec<f64>;
    type Output = f64;

    fn cost(&self, p: &Vec<f64>) -> Result<f64, argmin::core::Error> {
        if p.iter().any(|x| x.abs() > BOUND) {
            return Ok(f64::MAX);
        }
        let v = (self.0)(p);
        // Outside the region the model is defined on: worse than anywhere inside.
        Ok(if v.is_finite() { v } else { f64::MAX })
    }
}

/// Minimises `cost` (a negative mean log-likelihood of the log-parameters) from `start`;
/// returns the log-parameters found, their cost, the iterations spent and whether the search
/// converged. `None` when no point of the search had a finite cost.
pub(crate) fn minimise(start: &[f64], cost: &dyn Fn(&[f64]) -> f64) -> Option<(Vec<f64>, f64, u64, bool)> {
    let mut best = start.to_vec();
    let mut best_cost = cost(&best);
    let mut iterations = 0;
    let mut converged = false;
    let mut step = 0.5;
    for _ in 0..=MAX_RESTARTS {
        // A simplex around the best point: it and one step along each axis.
        let mut simplex = vec![best.clone()];
        for i in 0..best.len() {
            let mut v = best.clone();
            v[i] += step;
            simplex.push(v);
        }
        let solver = NelderMead::new(simplex).with_sd_tolerance(1e-14).ok()?;
        let run = Executor::new(Problem(cost), solver).configure(|s| s.max_iters(MAX_ITERS)).run().ok()?;
        let state = run.state();
        iterations += state.get_iter();
        let shrunk =
            matches!(state.get_termination_status(), TerminationStatus::Terminated(TerminationReason::SolverConverged));
        let (Some(p), c) = (state.get_best_param(), state.get_best_cost()) else { return None };
        let improved = best_cost - c;
        if c < best_cost || !best_cost.is_finite() {
            best = p.clone();
            best_cost = c;
        }
        if improved.abs() < IMPROVEMENT {
            converged = shrunk && best.iter().all(|x| x.abs() < BOUND - 1e-3);
            break;
        }
        step = 0.1;
    }
    (best_cost.is_finite() && best_cost < f64::MAX).then_some((best, best_cost, iterations, converged))
}

/// The counts among `counts`, each once, ascending.
pub(crate) fn distinct(counts: impl Iterator<Item = u32>) -> Vec<u32> {
    let mut v: Vec<u32> = counts.collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// `ln(e^x + e^y)` without overflow.
pub(crate) fn log_add_exp(x: f64, y: f64) -> f64 {
    let (hi, lo) = if x > y { (x, y) } else { (y, x) };
    if hi == f64::NEG_INFINITY { hi } else { hi + (lo - hi).exp().ln_1p() }
}

#[cfg(test)]
mod tests {
    use super::{log_add_exp, minimise};

    #[test]
    fn minimise_finds_the_bottom_of_a_valley_and_says_it_converged() {
        let rosenbrock = |p: &[f64]| (1.0 - p[0]).powi(2) + 100.0 * (p[1] - p[0] * p[0]).powi(2);
        let (p, c, iterations, converged) = minimise(&[-1.0, 1.0], &rosenbrock).unwrap();
        assert!(converged && iterations > 0);
        assert!((p[0] - 1.0).abs() < 1e-5 && (p[1] - 1.0).abs() < 1e-5, "{p:?}");
        assert!(c < 1e-10);
        // Nowhere finite: nothing found.
        assert!(minimise(&[0.0], &|_| f64::NAN).is_none());
    }

    #[test]
    fn log_add_exp_adds_in_logs_without_overflow() {
        assert!((log_add_exp(2f64.ln(), 3f64.ln()) - 5f64.ln()).abs() < 1e-15);
        assert_eq!(log_add_exp(1000.0, f64::NEG_INFINITY), 1000.0);
        assert!((log_add_exp(1000.0, 1000.0) - (1000.0 + 2f64.ln())).abs() < 1e-12);
    }
}
