#!/bin/sh
# Try the flow without an Azure account: Azurite (installed by `make deps`
# under spec/servers/azure) on 127.0.0.1, a container holding docs/, one
# `coco flow.lua`. Run from anywhere, after `make`.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
coco=${COCO:-$root/build/coco}
servers=$root/spec/servers/azure
[ -d "$servers/node_modules/azurite" ] || (cd "$servers" && npm ci --no-audit --no-fund)

data=$(mktemp -d /tmp/coco-azure-example.XXXXXX)
fifo=$data/stdin
mkfifo "$fifo"
(cd "$servers" && exec node -r ./stdin_guard.js node_modules/azurite/dist/src/blob/main.js \
  --blobHost 127.0.0.1 --blobPort 0 --location "$data/store" --skipApiVersionCheck \
  --disableTelemetry --silent <"$fifo" >"$data/log" 2>&1) &
server=$!
exec 3>"$fifo"                        # the server runs while this is open
trap 'exec 3>&-; wait $server 2>/dev/null; rm -rf "$data"' EXIT
i=0
until grep -q 'listens on' "$data/log" 2>/dev/null || [ $i -ge 150 ]; do sleep 0.1; i=$((i + 1)); done
port=$(sed -n 's/.*listens on http:\/\/127.0.0.1:\([0-9]*\).*/\1/p' "$data/log")
endpoint=http://127.0.0.1:$port/devstoreaccount1

# Azurite's well-known development account and key
export AZURE_STORAGE_ACCOUNT=devstoreaccount1
export AZURE_STORAGE_KEY=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==
(cd "$servers" && node blob.js "$endpoint" mkcontainer example >/dev/null &&
  for f in "$here"/docs/*; do node blob.js "$endpoint" put example "docs/$(basename "$f")" "$f" >/dev/null; done)

cd "$here"
AZURE_CONTAINER=example AZURE_PREFIX=docs/ AZURE_BLOB_ENDPOINT=$endpoint "$coco" flow.lua
echo
sqlite3 -header -column index.sqlite \
  "SELECT filename, substr(replace(text, char(10), ' '), 1, 50) AS text FROM AzureDocs__doc_chunks ORDER BY filename LIMIT 6"
