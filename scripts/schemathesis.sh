#!/usr/bin/env bash
# Schemathesis against the OpenAPI document that a real `lvsd serve` serves.
#
# A fresh server with an admin token; schemathesis generates requests from the
# document (examples, coverage, fuzzing and stateful phases) and fails on any
# 5xx, any response the document does not describe (status code, content
# type, headers, body schema), schema-violating input that is accepted, and
# missing or bad tokens that are not refused.
#
# Not checked: `positive_data_acceptance`, i.e. that every request valid by
# the schema succeeds. lvsd validates more than a JSON schema can say (address
# families, forwarding methods, ports of DR real servers, existing ids and
# ETags), so schema-valid requests are often and rightly refused with 400,
# 404 or 412.
#
# Usage: scripts/schemathesis.sh [LVSD_BINARY]    (default target/debug/lvsd, built if missing)
# Env:   EXAMPLES per operation (default 50), SEED (default 1),
#        SCHEMATHESIS (a schemathesis command; default: one on PATH, else
#        installed from PyPI into target/schemathesis-venv on first use).
# Exit:  0 when schemathesis finds nothing, 1 otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."

examples=${EXAMPLES:-50}
seed=${SEED:-1}
bin=${1:-target/debug/lvsd}
[ -x "$bin" ] || cargo build --quiet --bin lvsd

st=${SCHEMATHESIS:-}
if [ -z "$st" ]; then
    if command -v schemathesis >/dev/null; then
        st=schemathesis
    else
        venv=target/schemathesis-venv
        if [ ! -x "$venv/bin/schemathesis" ]; then
            python3 -m venv "$venv"
            "$venv/bin/pip" install --quiet "schemathesis>=4.3,<5"
        fi
        st=$PWD/$venv/bin/schemathesis
    fi
fi

dir=$(mktemp -d)
pid=
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    rm -rf "$dir"
}
trap cleanup EXIT

token=$("$bin" token create --db "$dir/lvsd.db" --name schemathesis --role admin 2>/dev/null)
RUST_LOG=warn "$bin" serve --init --db "$dir/lvsd.db" --http 127.0.0.1:0 --grpc 127.0.0.1:0 >"$dir/out" 2>"$dir/log" &
pid=$!
url=
for _ in $(seq 100); do
    url=$(sed -n 's/^lvsd: REST API on //p' "$dir/out")
    [ -n "$url" ] && break
    sleep 0.1
done
[ -n "$url" ] || { echo "lvsd did not start:"; cat "$dir/log"; exit 1; }

# A cluster with a committed revision, so that generated requests naming
# `web` and its service reach the handlers, not only the 404s.
python3 - "$url" "$token" <<'PY'
import json, sys, urllib.request
url, token = sys.argv[1], sys.argv[2]
def post(path, body):
    request = urllib.request.Request(url + path, json.dumps(body).encode(), method="POST",
        headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
    urllib.request.urlopen(request).read()
post("/v1/clusters", {"name": "web"})
post("/v1/clusters/web/revisions", {"message": "seed", "spec": {"services": [{
    "protocol": "tcp", "address": "192.168.31.100", "port": 80, "scheduler": "wrr",
    "servers": [{"address": "172.25.0.31", "port": 80, "forwarding": "nat", "weight": 1}]}]}})
PY

status=0
# From the temporary directory: schemathesis keeps a cache where it runs.
cd "$dir"
"$st" run "$url/openapi.json" \
    --max-examples "$examples" --seed "$seed" \
    --header "Authorization: Bearer $token" \
    --exclude-checks positive_data_acceptance \
    --request-timeout 30 \
    || status=1

# The server must have survived all of it.
if ! kill -0 "$pid" 2>/dev/null; then
    echo "schemathesis: lvsd died:"; tail -50 "$dir/log"; exit 1
fi
if grep -q "panicked" "$dir/log"; then
    echo "schemathesis: lvsd panicked:"; grep -A5 panicked "$dir/log"; exit 1
fi
exit $status
