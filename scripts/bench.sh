#!/usr/bin/env bash
# Reproduces BENCHMARKS.md: the crm-storage criterion benchmarks on SQLite and on a
# throw-away PostgreSQL cluster (started here on 127.0.0.1, stopped at the end).
#   CRM_BENCH_ROWS  contacts per import and in the small query database (default 100000)
#   CRM_BENCH_BIG   contacts in the big query database (default 1000000; 0 skips it)
# The summary table is printed at the end and written to target/crm-bench/summary.md.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${CRM_PG_URL:-}" ]; then
  eval "$(scripts/pg.sh start)"
  trap 'scripts/pg.sh stop' EXIT
fi
cargo bench -p crm-storage --features postgres --bench storage -- --noplot "$@"
