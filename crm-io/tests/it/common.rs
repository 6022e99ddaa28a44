use crm_core::entity::EntityKind;
use crm_core::model::{FieldDefinition, FieldType};
use crm_core::prelude::*;
use crm_storage::SqlStore;

/// A CRM on a fresh SQLite file (US default region), with a contact custom field `budget`
/// (decimal, labelled "Budget") and `vip_since` (date), and a session on a new tenant.
pub struct Env {
    pub _dir: tempfile::TempDir,
    pub crm: Crm,
    pub tenant: TenantId,
}

impl Env {
    pub fn cx(&self) -> Session {
        self.crm.as_actor(&Actor::system(self.tenant))
    }
}

pub async fn env() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let store = SqlStore::sqlite(dir.path().join("crm.db")).await.unwrap();
    let crm = Crm::builder(store).default_region("US").build().unwrap();
    let env = Env { _dir: dir, crm, tenant: TenantId::new() };
    let cx = env.cx();
    let fields = cx.custom_fields();
    fields.define(FieldDefinition::new(EntityKind::Contact, "budget", "Budget", FieldType::Decimal)).await.unwrap();
    fields.define(FieldDefinition::new(EntityKind::Contact, "vip_since", "VIP since", FieldType::Date)).await.unwrap();
    env
}

/// The rows of a CSV text, header included.
pub fn rows(csv_text: &[u8]) -> Vec<Vec<String>> {
    let mut r = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(csv_text);
    r.records().map(|rec| rec.unwrap().iter().map(str::to_owned).collect()).collect()
}
