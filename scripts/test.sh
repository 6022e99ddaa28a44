#!/usr/bin/env bash
# The one test command: installs what the tests need on a fresh machine, then runs the whole suite.
# Usage: scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n== %s ==\n' "$*"; }

log "toolchain"
if ! command -v cargo >/dev/null 2>&1; then
  echo "cargo is required (install Rust with rustup: https://rustup.rs)" >&2
  exit 1
fi
rustc --version
# Formatting and linting components (present on most rustup installs; added when missing).
rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt
rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy

log "PostgreSQL (a throw-away cluster on 127.0.0.1 for the storage tests)"
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql >/dev/null
fi
eval "$(scripts/pg.sh start)"
trap 'scripts/pg.sh stop' EXIT
echo "PostgreSQL at $CRM_PG_URL"

log "aiosmtpd (the SMTP server the email tests start on 127.0.0.1)"
if ! python3 -c 'import aiosmtpd' 2>/dev/null; then
  python3 -m pip install --quiet --disable-pip-version-check aiosmtpd 2>/dev/null || {
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-aiosmtpd >/dev/null
  }
fi
python3 -c 'import aiosmtpd; print("aiosmtpd", aiosmtpd.__version__)'

log "Dovecot (the IMAP server the mailbox-sync tests start on 127.0.0.1)"
if ! [ -x /usr/sbin/dovecot ] && ! command -v dovecot >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  # Installed only as a program: the tests run their own throw-away instances.
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq dovecot-imapd >/dev/null
fi
{ [ -x /usr/sbin/dovecot ] && /usr/sbin/dovecot --version; } || dovecot --version

log "Chromium and chromedriver (the portal's browser tests drive them headless)"
if ! [ -x /usr/bin/chromium ] || ! [ -x /usr/bin/chromedriver ]; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium chromium-driver >/dev/null
fi
/usr/bin/chromium --version

log "plugin guests: build the WebAssembly components (the host's tests load them), run their native tests"
plugins/build-guests.sh

log "build (every backend: SQLite and PostgreSQL; the plugin host)"
cargo build --workspace --all-targets --all-features --locked

log "tests (unit, conformance kit on memory/SQLite/PostgreSQL, rules, storage, property tests, doc tests)"
cargo test --workspace --all-targets --all-features --locked
cargo test --workspace --doc --all-features --locked

log "docs build without warnings"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --all-features --locked

log "examples run (with every feature: the build above already has them)"
cargo run --quiet --locked --all-features --example quickstart >/dev/null
cargo run --quiet --locked --all-features --example customer_360 >/dev/null
# The plugin demo: the real-estate plugin refuses a bad listing and reacts to a won deal.
re_out=$(cargo run --quiet --locked --all-features --example real_estate_agency)
grep -q "listing status is now \`sold\`" <<<"$re_out" && grep -q "task: Hand over keys" <<<"$re_out" \
  || { echo "the real-estate plugin demo did not show the plugin's reaction" >&2; echo "$re_out" >&2; exit 1; }
# The accounting module: a sync with the local Xero-shaped server fills the customer 360; a second sync writes nothing.
acc_out=$(cargo run --quiet --locked --all-features --example accounting_module)
grep -q "INV-1002  due 2026-12-02  590.00 GBP of 990.00 GBP" <<<"$acc_out" && grep -q "average days to pay: 24" <<<"$acc_out" \
  && grep -q "Re: Cold storage renewal" <<<"$acc_out" && grep -q "^Second sync: 0 records written" <<<"$acc_out" \
  || { echo "the accounting example did not show the synced customer 360" >&2; echo "$acc_out" >&2; exit 1; }
# The HubSpot migration: companies, then contacts (a bad row set aside, two pairs of duplicates merged,
# one merge undone), then deals linked to both by HubSpot's ids and addresses.
hs_out=$(cargo run --quiet --locked --all-features --example migrate_from_hubspot)
grep -q "^Imported 2 companies" <<<"$hs_out" && grep -q "^Imported 6 contacts; 1 rows set aside" <<<"$hs_out" \
  && grep -q "^Possible duplicates: 2" <<<"$hs_out" \
  && grep -q "Difference engine (12000.00 GBP) for Analytical Engines with Ada Lovelace" <<<"$hs_out" \
  && grep -q "merged into Grace Hopper: grace@navy.example (sales_qualified_lead)" <<<"$hs_out" \
  && grep -q "^Exported 5 contacts" <<<"$hs_out" && grep -q "^Grace,Hopper,grace@navy.example,+12025550143," <<<"$hs_out" \
  || { echo "the HubSpot migration example did not import, merge and export as expected" >&2; echo "$hs_out" >&2; exit 1; }
# The analytics report: two years of a shop on SQLite, then its charts and a page with the key figures.
an_dir=$(mktemp -d)
an_out=$(cargo run --quiet --locked --all-features --example analytics -- --out "$an_dir")
for f in index.html forecast.svg funnel.svg winrate.svg rfm.svg pareto.svg retention.svg clv.svg; do
  [ -s "$an_dir/$f" ] || { echo "the analytics example did not write $f" >&2; exit 1; }
done
grep -q "^Customers scored: [1-9][0-9]*$" <<<"$an_out" && grep -q "^Segment champions: [1-9]" <<<"$an_out" \
  && grep -q "^Segment at_risk: [1-9]" <<<"$an_out" && grep -q "^The top fifth of the customers brings [0-9.]* %$" <<<"$an_out" \
  && grep -qF "$(grep '^Customers scored' <<<"$an_out")" "$an_dir/index.html" \
  && grep -qF "$(grep '^The top fifth' <<<"$an_out")" "$an_dir/index.html" \
  && grep -q "Revenue concentration" "$an_dir/pareto.svg" && grep -q "recency score" "$an_dir/rfm.svg" \
  && grep -q "Forecast" "$an_dir/forecast.svg" && grep -q "Qualification" "$an_dir/funnel.svg" \
  && grep -q "Retention by cohort" "$an_dir/retention.svg" && grep -q "Win rate" "$an_dir/winrate.svg" \
  && grep -q "^Predicted value over the next 12 months: [0-9.]* EUR from [1-9][0-9]* customers (fits converged)$" <<<"$an_out" \
  && grep -qF "$(grep '^Predicted value over' <<<"$an_out")" "$an_dir/index.html" \
  && grep -q "Predicted value over 12 months" "$an_dir/clv.svg" \
  && awk '/^Chance still buying:/ { gone = $4; rest = $11; ok = (gone + 0 < (rest + 0) / 2) } END { exit !ok }' <<<"$an_out" \
  && awk '/^Churn risk:/ { gone = $3; rest = $10; ok = (gone + 0 > 2 * (rest + 0)) } END { exit !ok }' <<<"$an_out" \
  || { echo "the analytics example did not report as expected" >&2; echo "$an_out" >&2; exit 1; }
rm -rf "$an_dir"
# The automation example: four rules over a week on a manual clock, each firing when it should.
au_out=$(cargo run --quiet --locked --all-features --example automation)
grep -q "^Mon 02 Mar 09:00  Round-robin leads: 1 step(s) on Grace Hopper$" <<<"$au_out" \
  && grep -q "^Tue 03 Mar 07:00  SLA warning: 1 step(s)" <<<"$au_out" \
  && grep -q "^Tue 03 Mar 09:00  SLA escalation: 3 step(s)" <<<"$au_out" \
  && grep -q "^Wed 04 Mar 09:00  Birthday greeting: 2 step(s) on Ada Lovelace$" <<<"$au_out" \
  && grep -q "^Thu 05 Mar 09:00  Proposal follow-up: 1 step(s) on Shop fit-out$" <<<"$au_out" \
  && grep -q "^Lead Grace Hopper is Bob's$" <<<"$au_out" && grep -q "^Lead Alan Turing is Ann's$" <<<"$au_out" \
  && grep -q '^Case "Till does not print receipts": priority urgent, owner Sue$' <<<"$au_out" \
  && grep -q "^Rules run: 8, steps done: 11, failed: 0$" <<<"$au_out" \
  || { echo "the automation example did not run its rules as expected" >&2; echo "$au_out" >&2; exit 1; }
# On a SQLite file, the quickstart's CRM survives a restart.
qs_dir=$(mktemp -d)
cargo run --quiet --locked --all-features --example quickstart -- --db "$qs_dir/crm.db" >"$qs_dir/first.txt"
cargo run --quiet --locked --all-features --example quickstart -- --db "$qs_dir/crm.db" >"$qs_dir/second.txt"
grep -q "^Reopened .*: 3 companies, 5 contacts, 4 deals" "$qs_dir/second.txt" \
  || { echo "the quickstart did not reopen its database" >&2; cat "$qs_dir/second.txt" >&2; exit 1; }
diff <(sed -n '/^Pipeline/,$p' "$qs_dir/first.txt") <(sed -n '/^Pipeline/,$p' "$qs_dir/second.txt") \
  || { echo "the reopened CRM reports differently" >&2; exit 1; }
rm -rf "$qs_dir"

log "all tests passed"
