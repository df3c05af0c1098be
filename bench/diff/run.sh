#!/usr/bin/env bash
# The data diff benchmark at 1 M and (unless ECE_BENCH_DIFF_SIZES says otherwise) 10 M rows, niced, on a private
# PostgreSQL 15 cluster started here (or $ECE_DATABASE_URL). Results go to bench/README.md by hand.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD_DIR=${ECE_BUILD_DIR:-build}
SIZES=${ECE_BENCH_DIFF_SIZES:-"1000000 10000000"}
cmake --build "$BUILD_DIR" --target bench_diff >/dev/null
URL=${ECE_DATABASE_URL:-}
if [ -z "$URL" ]; then
  DIR=$(mktemp -d /tmp/bench_diff.XXXXXX)
  chmod 755 "$DIR"
  RUN_AS=()
  if [ "$(id -u)" = 0 ]; then chown nobody "$DIR"; RUN_AS=(runuser -u nobody --); fi
  PGBIN=$(pg_config --bindir 2>/dev/null || echo /usr/lib/postgresql/15/bin)
  [ -x "$PGBIN/initdb" ] || PGBIN=/usr/lib/postgresql/15/bin
  "${RUN_AS[@]}" "$PGBIN/initdb" -D "$DIR/data" -U postgres -A trust >/dev/null
  "${RUN_AS[@]}" "$PGBIN/pg_ctl" -D "$DIR/data" -l "$DIR/log" -w \
    -o "-p 55432 -k $DIR -c listen_addresses= -c fsync=off -c shared_buffers=1GB -c max_wal_size=4GB" start >/dev/null
  trap '"${RUN_AS[@]}" "$PGBIN/pg_ctl" -D "$DIR/data" -m fast stop >/dev/null; rm -rf "$DIR"' EXIT
  URL="postgresql://postgres@/postgres?host=$DIR&port=55432"
fi
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, load $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%FT%TZ)"
for rows in $SIZES; do
  nice "$BUILD_DIR/bench/diff/bench_diff" --database-url "$URL" --rows "$rows"
done
