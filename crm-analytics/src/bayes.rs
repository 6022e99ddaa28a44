//! The arithmetic of the explainable naive Bayes models ([`LeadModel`](crate::LeadModel),
//! [`PropensityModel`](crate::PropensityModel)): a value's evidence in log-odds, from how many
//! positive and negative examples had it, with Laplace smoothing.

use crm_core::error::Error;

use crate::FieldContribution;

/// A field's counts as a model keeps them: each value's positive and negative examples.
pub(crate) trait Counts {
    /// The field.
    fn field(&self) -> &str;
    /// The positive and negative examples with `value` (none when no example had it).
    fn counts(&self, value: &Option<String>) -> Option<(u64, u64)>;
    /// How many distinct values the examples had.
    fn distinct(&self) -> usize;
}

/// The chance of `values` (one per table, in order) and each field's part, the weightiest
/// first: `prior` log-odds moved by each value's evidence against `totals` (positive,
/// negative) with smoothing `a`. `explain(field, value, yes, no)` words a value's counts.
pub(crate) fn score<T: Counts>(
    tables: &[T],
    values: &[Option<String>],
    totals: (u64, u64),
    a: f64,
    prior: f64,
    explain: impl Fn(&str, &str, u64, u64) -> String,
) -> (f64, Vec<FieldContribution>) {
    let mut contributions: Vec<FieldContribution> = tables
        .iter()
        .zip(values.iter().chain(std::iter::repeat(&None)))
        .map(|(t, v)| {
            let (yes, no) = t.counts(v).unwrap_or((0, 0));
            let why = explain(t.field(), v.as_deref().unwrap_or("(none)"), yes, no);
            let weight = weight(yes, no, totals.0, totals.1, t.distinct(), a);
            FieldContribution { field: t.field().to_owned(), value: v.clone(), weight, why }
        })
        .collect();
    contributions.sort_by(|x, y| y.weight.abs().total_cmp(&x.weight.abs()).then(x.field.cmp(&y.field)));
    let logit = prior + contributions.iter().map(|c| c.weight).sum::<f64>();
    (sigmoid(logit), contributions)
}

/// The evidence of a value seen in `yes` positive and `no` negative examples, out of
/// `yes_total` and `no_total`, among `values` distinct values of its field, smoothed by `a`:
/// `ln(P(value | yes) / P(value | no))`. A value no example had is no evidence (0).
pub(crate) fn weight(yes: u64, no: u64, yes_total: u64, no_total: u64, values: usize, a: f64) -> f64 {
    if yes + no == 0 {
        return 0.0;
    }
    let k = values.max(1) as f64;
    let p_yes = (yes as f64 + a) / (yes_total as f64 + a * k);
    let p_no = (no as f64 + a) / (no_total as f64 + a * k);
    (p_yes / p_no).ln()
}

/// The smoothed prior log-odds of `yes` positive against `no` negative examples.
pub(crate) fn prior(yes: u64, no: u64, a: f64) -> f64 {
    ((yes as f64 + a) / (no as f64 + a)).ln()
}

/// The chance of log-odds `x` (½ for a NaN, never one out).
pub(crate) fn sigmoid(x: f64) -> f64 {
    if x.is_nan() { 0.5 } else { 1.0 / (1.0 + (-x).exp()) }
}

/// A refusal of an aggregate grouping by the model's fields after `skip` other keys, naming
/// the field at fault (`fields[i]`).
pub(crate) fn fields_at_fault(e: Error, skip: usize) -> Error {
    let at = e.field_errors().first().and_then(|f| {
        let n: usize = f.field.strip_prefix("group_by[")?.strip_suffix(']')?.parse().ok()?;
        Some((n.checked_sub(skip)?, f.code, f.message.clone()))
    });
    match at {
        Some((i, code, message)) => Error::invalid(format!("fields[{i}]"), code, message),
        None => e,
    }
}

#[cfg(test)]
mod tests {
    use super::{prior, sigmoid, weight};

    #[test]
    fn evidence_is_smoothed_and_unseen_values_say_nothing() {
        // 8 of 15 wins and 2 of 15 losses, three values: (8+1)/18 against (2+1)/18.
        assert!((weight(8, 2, 15, 15, 3, 1.0) - 3f64.ln()).abs() < 1e-12);
        assert_eq!(weight(0, 0, 20, 5, 4, 1.0), 0.0);
        assert!((sigmoid(prior(15, 15, 1.0)) - 0.5).abs() < 1e-12);
        assert_eq!(sigmoid(f64::NAN), 0.5);
        assert_eq!(sigmoid(f64::INFINITY), 1.0);
    }
}
