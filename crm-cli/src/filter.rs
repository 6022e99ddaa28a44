//! Filters and sorts as a shell writes them, read by the library's text queries
//! ([`Session::text_query`]): a bad expression is input the command cannot use (exit code 2).

use crm::entity::EntityKind;
use crm::query::{Filter, Query};
use crm::service::Session;

use crate::error::CliError;

/// The query of `filters` (all must hold) and `sorts` on `kind`, at most `limit` a page.
pub async fn query(
    cx: &Session,
    kind: EntityKind,
    filters: &[String],
    sorts: &[String],
    limit: usize,
) -> Result<Query, CliError> {
    cx.text_query(kind, filters, sorts, limit).await.map_err(|e| match e {
        crm::error::Error::Validation(v) => CliError::Usage(
            v.0.iter()
                .map(|f| {
                    format!(
                        "--{} #{}: {}",
                        if f.field.starts_with("sort") { "sort" } else { "filter" },
                        index(&f.field) + 1,
                        f.message
                    )
                })
                .collect::<Vec<_>>()
                .join("\n"),
        ),
        other => CliError::Crm(other),
    })
}

/// The records of `kind` that every one of `filters` selects (all of them without one), for
/// the reports: a bad expression is refused like any bad input (exit code 1).
pub async fn of(cx: &Session, kind: EntityKind, filters: &[String]) -> Result<Filter, CliError> {
    if filters.is_empty() {
        return Ok(Filter::All);
    }
    Ok(cx.text_query(kind, filters, &[] as &[&str], 1).await?.filter)
}

/// The `i` of `filter[i]`.
fn index(field: &str) -> usize {
    field.split(['[', ']']).nth(1).and_then(|n| n.parse().ok()).unwrap_or(0)
}
