#!/usr/bin/env bash
# Starts a throwaway PostgreSQL for the tests and says where it listens.
#
# nextest runs this as a setup script (.config/nextest.toml) before the tests
# that use the PostgreSQL backend: it makes a temporary data directory under
# ${TMPDIR:-/tmp}, runs initdb (trust authentication, for local use only),
# starts the server on 127.0.0.1 on a free port, with its Unix socket in the
# data directory, waits until it accepts connections, and writes
#
#     LVSD_TEST_POSTGRES=postgres://postgres@127.0.0.1:PORT/postgres
#
# to the file named by $NEXTEST_ENV, so that the tests get it (and prints it).
# The tests make a database of their own on that server (tests/common,
# TestDb::postgres). A watchdog stops the server (pg_ctl stop -m immediate)
# and deletes the data directory once the process that ran this script (the
# test run, or your shell when run by hand) has exited.
#
# It needs Debian's postgresql package (the server programs under
# /usr/lib/postgresql/VERSION/bin, the highest version is used; PG_BINDIR
# overrides) and psql. PostgreSQL refuses to run as root: as root, the server
# runs as the `postgres` user, who owns the data directory.
#
# If LVSD_TEST_POSTGRES is already set (a server of your own), it is passed on
# and nothing is started.
set -euo pipefail

say() { echo "postgres-test.sh: $*" >&2; }
die() { say "$*"; exit 1; }

emit() {
    echo "LVSD_TEST_POSTGRES=$1"
    if [ -n "${NEXTEST_ENV:-}" ]; then
        echo "LVSD_TEST_POSTGRES=$1" >>"$NEXTEST_ENV"
    fi
}

if [ -n "${LVSD_TEST_POSTGRES:-}" ]; then
    say "using the server in LVSD_TEST_POSTGRES; starting none"
    emit "$LVSD_TEST_POSTGRES"
    exit 0
fi

# The server programs: Debian installs them under /usr/lib/postgresql/VERSION/bin.
bindir=${PG_BINDIR:-}
if [ -z "$bindir" ]; then
    for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        if [ -x "$dir/initdb" ] && [ -x "$dir/postgres" ] && [ -x "$dir/pg_ctl" ]; then
            bindir=$dir
            break
        fi
    done
fi
if [ -z "$bindir" ] || [ ! -x "$bindir/initdb" ] || [ ! -x "$bindir/pg_ctl" ] || [ ! -x "$bindir/postgres" ]; then
    die "PostgreSQL's server programs (initdb, pg_ctl, postgres) are not under /usr/lib/postgresql/*/bin${PG_BINDIR:+ nor in PG_BINDIR=$PG_BINDIR}: install Debian's postgresql package (apt-get install postgresql)"
fi
command -v psql >/dev/null || die "psql is missing (the tests make their databases with it): install Debian's postgresql package (apt-get install postgresql)"

# PostgreSQL refuses to run as root: run it as the postgres user then.
as_pg=()
if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || die "running as root, but there is no postgres user to run PostgreSQL as: install Debian's postgresql package (apt-get install postgresql)"
    as_pg=(runuser -u postgres --)
fi
pg() { "${as_pg[@]}" "$@"; }

base=$(mktemp -d "${TMPDIR:-/tmp}/lvsd-postgres.XXXXXX")
data=$base/data
log=$base/postgres.log
if [ "${#as_pg[@]}" -gt 0 ]; then
    chown postgres: "$base"
    pg test -w "$base" || { rm -rf "$base"; die "the postgres user may not write to $base: set TMPDIR to a directory it can reach"; }
fi

# Stops the server and deletes the directory once $1 has exited.
watch() {
    local parent=$1
    while kill -0 "$parent" 2>/dev/null; do
        sleep 1
    done
    if [ -f "$data/postmaster.pid" ]; then
        pg "$bindir/pg_ctl" stop -D "$data" -m immediate -s || true
    fi
    rm -rf "$base"
}
cleanup_now() {
    if [ -f "$data/postmaster.pid" ]; then
        pg "$bindir/pg_ctl" stop -D "$data" -m immediate -s >/dev/null 2>&1 || true
    fi
    rm -rf "$base"
}

free_port() {
    if command -v python3 >/dev/null; then
        python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
    else
        # Nothing answers there (a small race, as with python's; retried below).
        local port
        while :; do
            port=$((20000 + RANDOM % 40000))
            if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
                echo "$port"
                return
            fi
        done
    fi
}

# initdb's own files need no fsync (a throwaway cluster); the server keeps
# fsync on, its default, as lvsd's durability relies on it.
if ! pg "$bindir/initdb" -D "$data" -U postgres --auth=trust --encoding=UTF8 --locale=C --no-sync >"$base/initdb.log" 2>&1; then
    cat "$base/initdb.log" >&2
    cleanup_now
    die "initdb failed"
fi

started=
for attempt in 1 2 3 4 5; do
    port=$(free_port)
    # Another process may take the port between the check and the start: then
    # the server fails to start and another port is tried.
    if pg "$bindir/pg_ctl" start -D "$data" -l "$log" -w -t 60 -s \
        -o "-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories='$data' -c max_connections=300 -c fsync=on" \
        </dev/null >/dev/null 2>&1; then
        started=1
        break
    fi
    say "PostgreSQL did not start on port $port (attempt $attempt); its log:"
    tail -n 20 "$log" >&2 || true
done
if [ -z "$started" ]; then
    cleanup_now
    die "could not start PostgreSQL ($bindir)"
fi

# Accepting connections over TCP, as the tests will connect.
url="postgres://postgres@127.0.0.1:$port/postgres"
for _ in $(seq 1 100); do
    if psql -X -q -d "$url" -c 'SELECT 1' >/dev/null 2>&1; then
        break
    fi
    sleep 0.1
done
psql -X -q -d "$url" -c 'SELECT 1' >/dev/null || { cleanup_now; die "PostgreSQL started but does not accept connections at $url"; }

# The watchdog outlives this script (nextest waits for it to end), in its own
# session and with no hold on nextest's pipes.
setsid bash -c "$(declare -f watch pg); $(declare -p as_pg bindir data base); watch $PPID" </dev/null >/dev/null 2>&1 &

say "$("$bindir/postgres" --version) on 127.0.0.1:$port, data in $data; stopped when process $PPID ends"
emit "$url"
