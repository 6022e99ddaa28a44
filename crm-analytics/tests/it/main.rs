//! crm-analytics' integration tests, one binary.

mod sales;
