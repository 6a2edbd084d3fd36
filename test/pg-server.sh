#!/usr/bin/env bash
# A throwaway PostgreSQL for tests and CI (the one way both start it):
#   test/pg-server.sh start DIR   initdb in DIR as `postgres` (via runuser when root), listen on a free
#                                 loopback port, create a LOGIN CREATEDB role (not a superuser) with a random
#                                 password, and print its URL on the `postgres` database (TEST_POSTGRES_URL).
#   test/pg-server.sh pause DIR   stop the server (fast shutdown), keeping DIR; `resume DIR` starts it again
#                                 on the same port (tests of PostgreSQL going away and coming back).
#   test/pg-server.sh stop DIR    stop the server and remove DIR.
# PG_FSYNC=on keeps fsync on (the benchmark's server); tests run with fsync off.
set -euo pipefail
cmd=${1:?usage: pg-server.sh start|pause|resume|stop DIR}
dir=${2:?usage: pg-server.sh start|pause|resume|stop DIR}
bin=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}
[ -x "$bin/pg_ctl" ] || { echo "pg-server.sh: no PostgreSQL binaries (apt-get install postgresql)" >&2; exit 1; }

as_pg () {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "$cmd" in
  start)
    mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown postgres: "$dir"
    chmod 700 "$dir"
    port=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
    # Local (socket) connections trust, but the socket lives in DIR (0700, the postgres user's): only
    # root and postgres reach it. TCP clients authenticate with a password.
    as_pg "$bin/initdb" -D "$dir/data" -U postgres --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
      || { cat "$dir/initdb.log" >&2; exit 1; }
    opts="-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=${PG_FSYNC:-off} -c max_connections=200"
    echo "$opts" >"$dir/opts"
    as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 -o "$opts" start >/dev/null \
      || { cat "$dir/server.log" >&2; exit 1; }
    role=latchkey_test
    password=$(node -e 'console.log(require("crypto").randomBytes(18).toString("base64url"))')
    as_pg psql -h "$dir" -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 -q \
      -c "CREATE ROLE $role LOGIN CREATEDB PASSWORD '$password'" >/dev/null
    echo "postgres://$role:$password@127.0.0.1:$port/postgres"
    ;;
  pause)
    as_pg "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
    ;;
  resume)
    # The options of the first start: same port, same socket folder.
    as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 -o "$(cat "$dir/opts")" start >/dev/null \
      || { cat "$dir/server.log" >&2; exit 1; }
    ;;
  stop)
    if [ -d "$dir/data" ]; then as_pg "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true; fi
    rm -rf "$dir"
    ;;
  *) echo "usage: pg-server.sh start|pause|resume|stop DIR" >&2; exit 2 ;;
esac
