//! crm-automation's integration tests, one binary: each suite runs on every store.

mod assign;
mod faults;
mod kill;
mod loops;
mod notify;
mod time;
mod triggers;

use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use crm_automation::Automation;
use crm_core::ids::ManualClock;
use crm_core::prelude::*;
use crm_core::query::Filter;
use crm_core::service::CrmBuilder;
use crm_core::store::Store;
use tempfile::TempDir;

/// A store with the directory its file lives in, if any (removed when dropped).
type Made = (Arc<dyn Store>, Option<TempDir>);

async fn memory() -> Made {
    (Arc::new(MemoryStore::new()), None)
}

async fn sqlite() -> Made {
    let dir = tempfile::tempdir().unwrap();
    let store = crm_storage::SqlStore::sqlite(dir.path().join("crm.db")).await.unwrap();
    (Arc::new(store), Some(dir))
}

async fn postgres() -> Made {
    let url = std::env::var("CRM_PG_URL")
        .expect("CRM_PG_URL must name a PostgreSQL database (see scripts/pg.sh; scripts/test.sh sets it)");
    let store = crm_storage::SqlStore::postgres_with(&url, 4).await.unwrap();
    (Arc::new(store), None)
}

fn eur(n: i64) -> Money {
    Money::new(rust_decimal::Decimal::new(n, 0), Currency::EUR)
}

/// Monday 2 March 2026, 09:00 UTC.
fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap()
}

/// A CRM over `store` on a manual clock, a fresh tenant, its system session and a runner.
struct World {
    crm: Crm,
    clock: Arc<ManualClock>,
    tenant: TenantId,
    auto: Automation,
}

impl World {
    fn new(store: Arc<dyn Store>) -> World {
        let clock = Arc::new(ManualClock::new(start()));
        let crm = CrmBuilder::from_arc(store).clock(clock.clone()).build().unwrap();
        let auto = Automation::new(crm.clone());
        World { crm, clock, tenant: TenantId::new(), auto }
    }

    fn cx(&self) -> Session {
        self.crm.as_actor(&Actor::system(self.tenant))
    }

    /// The tasks about a record (linked to the contact or deal `id`).
    async fn tasks_about(&self, field: &str, id: impl Into<uuid::Uuid>) -> Vec<Activity> {
        let f = Filter::eq("kind", ActivityKind::Task).and(Filter::contains(field, id.into()));
        self.cx().activities().list(&Query::new(f).limit(100)).await.unwrap().items
    }
}

/// Runs `$suite!` for one store maker in a module of the store's name.
macro_rules! on_every_store {
    ($suite:ident) => {
        mod memory {
            $suite!(crate::memory);
        }
        mod sqlite {
            $suite!(crate::sqlite);
        }
        mod postgres {
            $suite!(crate::postgres);
        }
    };
}
pub(crate) use on_every_store;
