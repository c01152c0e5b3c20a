#!/bin/sh
# Try the flow without a cloud account: a local S3 (s3rver, installed by
# `make deps` under spec/servers/s3) on 127.0.0.1, a bucket holding docs/,
# one `coco flow.lua`. Run from anywhere, after `make`.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
coco=${COCO:-$root/build/coco}
servers=$root/spec/servers/s3
[ -d "$servers/node_modules/s3rver" ] || (cd "$servers" && npm ci --no-audit --no-fund)

data=$(mktemp -d /tmp/coco-s3-example.XXXXXX)
fifo=$data/stdin
mkfifo "$fifo"
(cd "$servers" && NODE_OPTIONS=--openssl-legacy-provider exec node serve.js "$data/store" example \
  <"$fifo" >"$data/ports" 2>"$data/log") &
server=$!
exec 3>"$fifo"                        # the server runs while this is open
trap 'exec 3>&-; wait $server 2>/dev/null; rm -rf "$data"' EXIT
i=0
until [ -s "$data/ports" ] || [ $i -ge 100 ]; do sleep 0.1; i=$((i + 1)); done
port=$(sed 's/.*"s3":\([0-9]*\).*/\1/' "$data/ports")
endpoint=http://127.0.0.1:$port

for f in "$here"/docs/*; do
  curl -sS -f -X PUT --data-binary @"$f" "$endpoint/example/docs/$(basename "$f")" >/dev/null
done

cd "$here"
# s3rver accepts the access key id S3RVER (any secret; it checks no signature)
AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER \
S3_BUCKET=example S3_PREFIX=docs/ S3_ENDPOINT=$endpoint "$coco" flow.lua
echo
sqlite3 -header -column index.sqlite \
  "SELECT filename, substr(replace(text, char(10), ' '), 1, 50) AS text FROM S3Docs__doc_chunks ORDER BY filename LIMIT 6"
