#!/bin/sh
# Try the example without a database of your own: a throwaway PostgreSQL
# (Debian's postgresql package: initdb in a temp dir, 127.0.0.1, a free
# port), the tickets of tickets.sql, one `coco flow.lua`, a query, then live
# mode while a ticket is edited, one added and one marked as spam. Run from
# anywhere, after `make`; as root it runs the server as the postgres user.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
coco=${COCO:-$root/build/coco}
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
data=$(mktemp -d /tmp/coco-pg-example.XXXXXX)
as=""
if [ "$(id -u)" = 0 ]; then chown postgres "$data"; as="runuser -u postgres --"; fi
port=$(( 20000 + $$ % 30000 ))
$as "$bin/initdb" -D "$data/db" -A trust -U postgres --no-sync >/dev/null
$as "$bin/pg_ctl" -D "$data/db" -l "$data/log" -w -o "-p $port -k $data -c listen_addresses=127.0.0.1" start >/dev/null
live=""
trap '[ -n "$live" ] && kill $live 2>/dev/null; $as "$bin/pg_ctl" -D "$data/db" -m fast stop >/dev/null; rm -rf "$data" "$here/.coco" "$here/tickets.sqlite"' EXIT
export COCO_DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres"
psql -X -q "$COCO_DATABASE_URL" -f "$here/tickets.sql"

cd "$here"
"$coco" flow.lua
echo
"$coco" query flow.lua "my account is locked" -k 2
echo
"$coco" flow.lua -L &
live=$!
sleep 1
psql -X -q "$COCO_DATABASE_URL" -c "UPDATE support_tickets SET body = body || ' Update: it works again after clearing cookies.' WHERE id = 1;
  INSERT INTO support_tickets (subject, body) VALUES ('Dark mode for the dashboard', 'Is a dark theme planned? Our night shift would love it.');
  UPDATE support_tickets SET status = 'spam' WHERE id = 3;"
sleep 1
echo
sqlite3 -header -column tickets.sqlite \
  "SELECT ticket_id, status, substr(replace(text, char(10), ' '), 1, 60) AS text FROM SupportTickets__chunks ORDER BY ticket_id, location"
