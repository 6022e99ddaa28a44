#!/usr/bin/env bash
# A throw-away PostgreSQL cluster on 127.0.0.1 for the tests.
#
#   eval "$(scripts/pg.sh start)"   # initdb in a temp dir, start on a free port, export CRM_PG_URL
#   scripts/pg.sh stop              # stop it and remove the directory (uses CRM_PG_DIR)
#
# Needs the Debian package `postgresql` (scripts/test.sh installs it when missing). As root,
# the cluster runs as the `postgres` user, since PostgreSQL refuses to run as root.
set -euo pipefail

pgbin() {
    local d
    d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
    [ -n "$d" ] || { echo "PostgreSQL server binaries not found (apt-get install postgresql)" >&2; exit 1; }
    echo "$d"
}

as_owner() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "${1:-}" in
start)
    bin=$(pgbin)
    dir=$(mktemp -d /tmp/crm-pg.XXXXXX)
    [ "$(id -u)" = 0 ] && chown postgres "$dir"
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
    # C.UTF-8 as the default locale: the store must not depend on a C default collation.
    as_owner "$bin/initdb" -D "$dir/data" -U crm --auth=trust --encoding=UTF8 --locale=C.UTF-8 --no-sync >"$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log" >&2; exit 1; }
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
        -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=400 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
        start >/dev/null || { cat "$dir/server.log" >&2; exit 1; }
    as_owner "$bin/createdb" -h 127.0.0.1 -p "$port" -U crm crm_test
    echo "export CRM_PG_DIR=$dir"
    echo "export CRM_PG_URL=postgres://crm@127.0.0.1:$port/crm_test"
    ;;
stop)
    dir=${CRM_PG_DIR:?CRM_PG_DIR is not set}
    as_owner "$(pgbin)/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
    rm -rf "$dir"
    ;;
*)
    echo "usage: $0 start|stop" >&2
    exit 2
    ;;
esac
