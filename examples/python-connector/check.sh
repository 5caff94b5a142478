#!/usr/bin/env bash
# End-to-end check of the Python connector examples/py-notify.
#
# Builds the component with componentize-py, then starts `sluice serve` with
# a fresh data directory and a test receiver, both on 127.0.0.1, and checks
# two ways of running the component in a deployed flow:
#
#   1. instance: publish with manifest.toml, create the connector instance
#      `provision-notices` whose baseUrl is the receiver, import flow.json
#      and run it;
#   2. egress: publish the same Wasm as examples/py-notify-egress with the
#      receiver's origin in `egress`, import a flow whose step names no
#      instance and sets `url`, run it, and check that a `url` outside
#      `egress` fails with kind `denied`.
#
# Prints one line per check and exits non-zero when any check failed. It
# sends no traffic beyond 127.0.0.1, except to PyPI when it installs
# componentize-py into .venv.
#
# Environment: SLUICE is the sluice binary (default
# $CARGO_TARGET_DIR/release/sluice, built with cargo when missing);
# KEEP_WORK=1 keeps the temporary directory with the server log.
set -euo pipefail

COMPONENTIZE_PY_VERSION=0.25.1

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
sluice=${SLUICE:-${CARGO_TARGET_DIR:-$root/target}/release/sluice}
work=$(mktemp -d)
server_pid=""
receiver_pid=""
passed=0
failed=0

cleanup() {
    if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; fi
    if [ -n "$receiver_pid" ]; then kill "$receiver_pid" 2>/dev/null || true; fi
    if [ "${KEEP_WORK:-0}" = 1 ]; then
        echo "Kept $work"
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT

# Stops the script on a failure that leaves nothing else to check.
abort() {
    echo "ABORTED: $*" >&2
    if [ -f "$work/server.log" ]; then
        echo "--- last lines of the server log ---" >&2
        tail -n 20 "$work/server.log" >&2
    fi
    exit 1
}

# Records the outcome of one check: check NAME COMMAND...
check() {
    local name=$1
    shift
    if "$@"; then
        echo "ok     $name"
        passed=$((passed + 1))
    else
        echo "FAILED $name"
        failed=$((failed + 1))
    fi
}

# Waits up to $2 seconds for the command in $1 to succeed.
wait_for() {
    local deadline=$((SECONDS + $2))
    until eval "$1" >/dev/null 2>&1; do
        [ "$SECONDS" -lt "$deadline" ] || return 1
        sleep 0.2
    done
}

now_ms() { date +%s%3N; }

# Sends a JSON body to a management path. Sets $reply and $status and
# prints both.
api() {
    local raw
    raw=$(curl -s -w '\n%{http_code}' -X POST "$url$1" -H "$auth" -H 'content-type: application/json' -d "$2")
    status=${raw##*$'\n'}
    reply=${raw%$'\n'*}
    echo "POST $1 -> $status $reply"
}

# Prints the JSON value at a dotted path of $reply, or nothing.
reply_field() {
    REPLY_JSON="$reply" python3 -c '
import json, os, sys
value = json.loads(os.environ["REPLY_JSON"])
for key in sys.argv[1].split("."):
    value = value.get(key) if isinstance(value, dict) else None
print("" if value is None else json.dumps(value))' "$1"
}

# Succeeds when the receiver's request number $1 (from 1) is
# POST /hooks/provisioned with the full notice for Ada.
received_notice_ok() {
    RECEIVED="$work/received.jsonl" python3 - "$1" <<'EOF'
import json, os, sys

with open(os.environ["RECEIVED"], encoding="utf-8") as log:
    received = [json.loads(line) for line in log]
index = int(sys.argv[1]) - 1
if len(received) <= index:
    sys.exit(f"the receiver got {len(received)} requests")
notice = received[index]
print("received:", json.dumps(notice))
expected = {
    "method": "POST",
    "path": "/hooks/provisioned",
    "contentType": "application/json",
    "event": "user.provisioned",
    "body": {"event": "user.provisioned", "loginId": "ada@acme.com",
             "email": "ada@acme.com", "displayName": "Ada Lovelace"},
}
sys.exit(0 if notice == expected else f"expected {json.dumps(expected)}")
EOF
}

echo "== Toolchain"
venv="$here/.venv"
if ! "$venv/bin/componentize-py" --version 2>/dev/null | grep -qx "componentize-py $COMPONENTIZE_PY_VERSION"; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet "componentize-py==$COMPONENTIZE_PY_VERSION"
fi
"$venv/bin/componentize-py" --version
python3 --version

echo "== Build the component"
mkdir -p "$here/build"
wasm="$here/build/py-notify.wasm"
build_start=$(now_ms)
(cd "$here" && "$venv/bin/componentize-py" -d "$root/wit" -w connector componentize app -o "$wasm")
build_end=$(now_ms)
echo "Built $wasm: $(stat -c %s "$wasm") bytes in $((build_end - build_start)) ms"

if [ ! -x "$sluice" ]; then
    echo "== Build sluice (release)"
    (cd "$root" && cargo build --release -p sluice)
fi

echo "== Start the receiver and sluice serve on 127.0.0.1"
python3 "$here/receiver.py" "$work/receiver.port" "$work/received.jsonl" 2>"$work/receiver.log" &
receiver_pid=$!
wait_for "test -s '$work/receiver.port'" 10 || abort "the receiver did not start within 10 s; see $work/receiver.log"
receiver_origin="http://127.0.0.1:$(cat "$work/receiver.port")"

sluice_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
url="http://127.0.0.1:$sluice_port"
export SLUICE_PROJECT_ID=Pcheckpynotify
export SLUICE_MANAGEMENT_KEY=Kcheckpynotify0123456789
export SLUICE_EGRESS_ALLOWED_PRIVATE='["127.0.0.1/32"]'
"$sluice" serve --listen "127.0.0.1:$sluice_port" --data-dir "$work/data" >"$work/server.log" 2>&1 &
server_pid=$!
wait_for "curl -sf '$url/openapi.json'" 60 || abort "sluice serve did not respond on $url within 60 s"
echo "Receiver at $receiver_origin, sluice at $url"
auth="Authorization: Bearer $SLUICE_PROJECT_ID:$SLUICE_MANAGEMENT_KEY"

api /v1/mgmt/user/create '{"loginId": "ada@acme.com", "email": "ada@acme.com", "displayName": "Ada Lovelace"}'
[ "$status" = 200 ] || abort "creating the test user failed"

echo "== 1. Connector instance"
publish_start=$(now_ms)
check "publish examples/py-notify@0.1.0" \
    "$sluice" component publish "$wasm" --manifest "$here/manifest.toml" --url "$url"
publish_end=$(now_ms)
echo "Publishing (upload and compilation) took $((publish_end - publish_start)) ms"

api /v1/mgmt/connector/create "{\"name\": \"provision-notices\", \"component\": \"examples/py-notify@0.1.0\",
     \"baseUrl\": \"$receiver_origin/hooks\"}"
check "create connector instance provision-notices" test "$status" = 200
api /v1/mgmt/flow/import "{\"flow\": $(cat "$here/flow.json")}"
check "import flow announce-provisioned-user" test "$status" = 200
if [ "$failed" = 0 ]; then
    run_start=$(now_ms)
    api /v1/mgmt/flow/run '{"flowId": "announce-provisioned-user", "options": {"input": {"loginId": "ada@acme.com"}}}'
    run_end=$(now_ms)
    echo "The run took $((run_end - run_start)) ms"
    check "run returns status 200" test "$(reply_field output.status)" = 200
    check "run returns delivered true" test "$(reply_field output.delivered)" = true
    check "run returns the receiver's receipt" test "$(reply_field output.receipt)" = '"r-1"'
    check "receiver got the notice" received_notice_ok 1
    received=1
else
    echo "skipped: running flow announce-provisioned-user, because a step above failed"
    received=0
fi

echo "== 2. Manifest egress, no instance"
sed "s|^id = .*|id = \"examples/py-notify-egress\"|; s|^world = .*|&\negress = [\"$receiver_origin\"]|" \
    "$here/manifest.toml" >"$work/manifest-egress.toml"
check "publish examples/py-notify-egress@0.1.0" \
    "$sluice" component publish "$wasm" --manifest "$work/manifest-egress.toml" --url "$url"

# Prints an import body for flow $1 whose notify step posts to $2 plus
# the path $3 (default /provisioned).
egress_flow() {
    cat <<EOF
{"flow": {"id": "$1", "type": "management", "trigger": {"api": true}, "start": "load",
  "steps": [
    {"id": "load", "kind": "action", "component": "builtin:load-user",
     "config": {"loginId": "{{client.loginId}}"}, "next": {"success": "notify"}},
    {"id": "notify", "kind": "connector", "component": "examples/py-notify-egress@0.1.0",
     "config": {"loginId": "{{client.loginId}}", "email": "{{user.email}}", "displayName": "{{user.name}}",
                "url": "$2", "path": "${3:-/provisioned}"},
     "next": {"success": "done"}},
    {"id": "done", "kind": "end", "outputs": [
      {"key": "status", "type": "number", "value": "{{connectors.notify.status}}"},
      {"key": "receipt", "type": "string", "value": "{{connectors.notify.response.receipt}}"}]}]}}
EOF
}
api /v1/mgmt/flow/import "$(egress_flow announce-by-egress "$receiver_origin/hooks")"
check "import flow announce-by-egress" test "$status" = 200
run_start=$(now_ms)
api /v1/mgmt/flow/run '{"flowId": "announce-by-egress", "options": {"input": {"loginId": "ada@acme.com"}}}'
run_end=$(now_ms)
echo "The run took $((run_end - run_start)) ms"
check "run returns status 200" test "$(reply_field output.status)" = 200
check "run returns the receiver's receipt" test "$(reply_field output.receipt)" = "\"r-$((received + 1))\""
check "receiver got the notice" received_notice_ok $((received + 1))

# Port 9 of 127.0.0.1 is allowed as a private address but is not in `egress`.
api /v1/mgmt/flow/import "$(egress_flow announce-outside-egress "http://127.0.0.1:9/hooks")"
check "import flow announce-outside-egress" test "$status" = 200
api /v1/mgmt/flow/run '{"flowId": "announce-outside-egress", "options": {"input": {"loginId": "ada@acme.com"}}}'
check "url outside egress fails the run" test "$status" != 200
check "failure is an egress denial" grep -q "denied" <<<"$reply"

# The component itself rejects a path without a leading slash.
api /v1/mgmt/flow/import "$(egress_flow announce-bad-path "$receiver_origin/hooks" provisioned)"
check "import flow announce-bad-path" test "$status" = 200
api /v1/mgmt/flow/run '{"flowId": "announce-bad-path", "options": {"input": {"loginId": "ada@acme.com"}}}'
check "bad path fails the run" test "$status" != 200
check "failure is invalid-config naming path" grep -q 'invalid-config.*`path`' <<<"$reply"
check "receiver got nothing more" test "$(wc -l <"$work/received.jsonl")" = $((received + 1))

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
