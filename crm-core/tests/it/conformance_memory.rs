//! The store conformance kit, run against `MemoryStore`.

use std::sync::Arc;

use crm_core::{memory::MemoryStore, store::Store};

crm_core::store_conformance_tests!(|| async { Arc::new(MemoryStore::new()) as Arc<dyn Store> });
