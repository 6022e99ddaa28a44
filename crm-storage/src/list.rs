//! The SQL of a list page: the tenant and filter, the sort in its documented null order, the
//! keyset position and the limit. [`SqlStore::explain`](crate::SqlStore::explain) shows the
//! database's plan for the same statement.
//!
//! Null order: ascending sorts put records without a value first, descending sorts put them
//! last, on every backend. SQLite orders NULLs that way by itself; PostgreSQL is told so
//! (`NULLS FIRST` / `NULLS LAST`), and its indexes are built `NULLS FIRST` (see
//! [`schema::index_columns`]) so that one index serves both directions: scanned forwards it
//! gives `ASC NULLS FIRST`, backwards `DESC NULLS LAST`.

use crm_core::entity::EntityKind;
use crm_core::error::Result;
use crm_core::ids::TenantId;
use crm_core::query::{Filter, MAX_PAGE_SIZE, Query, SortOrder};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, NullOrdering, Order, Query as Sql, SelectStatement};
use uuid::Uuid;

use crate::filter::{Compiler, Dialect};
use crate::schema;

/// `SELECT … FROM <kind's table> WHERE tenant_id = … AND <filter>`, without columns.
pub(crate) fn select(d: Dialect, tenant: TenantId, kind: EntityKind, filter: &Filter) -> (Compiler, SelectStatement) {
    let c = Compiler::new(d, kind);
    let mut q = Sql::select();
    q.from(Alias::new(schema::table(kind)));
    q.and_where(Expr::col(Alias::new("tenant_id")).eq(tenant.as_uuid()));
    if *filter != Filter::All {
        q.and_where(c.filter(filter));
    }
    (c, q)
}

/// The page statement of `query` (selecting `data`, one row more than the page to tell
/// whether another follows) and the page size.
pub(crate) fn page(d: Dialect, tenant: TenantId, kind: EntityKind, query: &Query) -> Result<(SelectStatement, usize)> {
    let after: Option<(Vec<crm_core::value::Value>, Uuid)> = match &query.after {
        Some(c) => Some(c.decode(&query.sort)?),
        None => None,
    };
    let limit = query.limit.clamp(1, MAX_PAGE_SIZE);
    let (c, mut q) = select(d, tenant, kind, &query.filter);
    q.column(Alias::new("data"));
    if let Some((values, id)) = &after {
        q.and_where(c.after(&query.sort, values, *id));
    }
    for key in &query.sort {
        let desc = key.order == SortOrder::Desc;
        let order = if desc { Order::Desc } else { Order::Asc };
        for e in c.sort_exprs(key) {
            match d {
                // SQLite's natural order already puts NULLs first ascending, last descending.
                Dialect::Sqlite => q.order_by_expr(e, order.clone()),
                Dialect::Postgres => {
                    let nulls = if desc { NullOrdering::Last } else { NullOrdering::First };
                    q.order_by_expr_with_nulls(e, order.clone(), nulls)
                }
            };
        }
    }
    q.order_by(Alias::new("id"), Order::Asc);
    q.limit(limit as u64 + 1);
    Ok((q, limit))
}
