#!/bin/sh
# A throwaway PostgreSQL server for the tests: initdb in a temporary folder
# (as the `postgres` user when run as root), listening on 127.0.0.1 only, on
# a free port, its unix socket in that folder, trust authentication for
# loopback, fsync off (fast, and not crash-safe: test data only), and a
# database `sked`. The URL is
# postgres://sked@127.0.0.1:PORT/sked?sslmode=disable&gssencmode=disable.
#
#   tests/pg.sh run CMD [ARG...]   start a server, run CMD with SKED_TEST_PG_URL
#                                  exported, stop the server, delete its folder;
#                                  exits with CMD's status
#   tests/pg.sh start              start one; prints shell lines to eval:
#                                  SKED_TEST_PG_URL=... SKED_TEST_PG_DIR=...
#   tests/pg.sh stop DIR           stop the server started in DIR, delete DIR
#
# PG_BIN names the folder of initdb and pg_ctl; by default the newest
# /usr/lib/postgresql/*/bin, else whatever is on PATH.
set -eu

die() {
    echo "tests/pg.sh: $*" >&2
    exit 2
}

find_bin() {
    if [ -n "${PG_BIN:-}" ]; then
        echo "$PG_BIN"
        return
    fi
    best=""
    best_v=0
    for d in /usr/lib/postgresql/*/bin; do
        [ -x "$d/initdb" ] || continue
        v=$(basename "$(dirname "$d")")
        case $v in *[!0-9]*) v=0 ;; esac
        if [ "$v" -ge "$best_v" ]; then
            best=$d
            best_v=$v
        fi
    done
    if [ -z "$best" ] && command -v initdb >/dev/null 2>&1; then
        best=$(dirname "$(command -v initdb)")
    fi
    [ -n "$best" ] || die "no PostgreSQL server found (install the postgresql package: scripts/install-deps)"
    echo "$best"
}

# Runs "$@" as the server's owner: root may not run PostgreSQL.
as_owner() {
    if [ "$(id -u)" -eq 0 ]; then
        if command -v runuser >/dev/null 2>&1; then
            runuser -u postgres -- "$@"
        else
            su postgres -s /bin/sh -c '"$0" "$@"' -- "$@"
        fi
    else
        "$@"
    fi
}

random_port() {
    n=$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')
    echo $((20000 + n % 40000))
}

# Starts a server; sets DIR and URL.
start() {
    bin=$(find_bin)
    DIR=$(mktemp -d "${TMPDIR:-/tmp}/sked-pg-XXXXXX")
    if [ "$(id -u)" -eq 0 ]; then
        id postgres >/dev/null 2>&1 || die "running as root and there is no postgres user"
        chown postgres "$DIR"
    fi
    # An ICU default collation (PostgreSQL 15+) sorts "Z" after "a": it
    # shows any query that should compare bytes but does not.
    if ! as_owner "$bin/initdb" -D "$DIR/data" -U sked -A trust -E UTF8 --no-sync \
        --locale=C.UTF-8 --locale-provider=icu --icu-locale=en >"$DIR/initdb.log" 2>&1; then
        rm -rf "$DIR/data"
        as_owner "$bin/initdb" -D "$DIR/data" -U sked -A trust -E UTF8 --no-sync \
            --locale=C.UTF-8 >"$DIR/initdb.log" 2>&1 ||
            { cat "$DIR/initdb.log" >&2; rm -rf "$DIR"; die "initdb failed"; }
    fi
    tries=0
    while :; do
        port=$(random_port)
        cat >>"$DIR/data/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$DIR'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 100
EOF
        if as_owner "$bin/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 60 start \
            >/dev/null 2>&1; then
            break
        fi
        tries=$((tries + 1))
        if [ $tries -ge 10 ] || ! grep -q "could not bind\|already in use" "$DIR/server.log"; then
            cat "$DIR/server.log" >&2 || true
            rm -rf "$DIR"
            die "the server did not start"
        fi
    done
    "$bin/createdb" -h 127.0.0.1 -p "$port" -U sked sked ||
        { stop "$DIR"; die "createdb failed"; }
    # The server has neither TLS nor Kerberos: do not let libpq try them
    # (a Kerberos attempt leaves memory valgrind reports as reachable).
    URL="postgres://sked@127.0.0.1:$port/sked?sslmode=disable&gssencmode=disable"
}

stop() {
    [ -d "$1/data" ] || die "$1: not a folder tests/pg.sh made"
    as_owner "$(find_bin)/pg_ctl" -D "$1/data" -m immediate -w stop >/dev/null 2>&1 || true
    rm -rf "$1"
}

case "${1:-}" in
run)
    shift
    [ $# -gt 0 ] || die "usage: tests/pg.sh run CMD [ARG...]"
    start
    trap 'stop "$DIR"' EXIT
    trap 'exit 130' INT TERM
    SKED_TEST_PG_URL=$URL
    export SKED_TEST_PG_URL
    echo "tests/pg.sh: PostgreSQL at $URL ($DIR)" >&2
    rc=0
    "$@" || rc=$?
    exit $rc
    ;;
start)
    start
    echo "SKED_TEST_PG_URL=$URL; export SKED_TEST_PG_URL"
    echo "SKED_TEST_PG_DIR=$DIR; export SKED_TEST_PG_DIR"
    ;;
stop)
    [ $# -eq 2 ] || die "usage: tests/pg.sh stop DIR"
    stop "$2"
    ;;
*)
    die "usage: tests/pg.sh run CMD [ARG...] | start | stop DIR"
    ;;
esac
