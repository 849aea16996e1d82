#!/usr/bin/env bash
# The grpcurl commands of docs/clients.md against a live server, with no proto files given (everything comes
# from server reflection), and checks on what they print.
# Usage: scripts/check-grpcurl.sh HOST:PORT   (grpcurl on PATH, e.g. from .tools/bin)
set -euo pipefail
address="$1"
node="$(cd "$(dirname "$0")/.." && pwd)/node_modules/.bin/node"
failures=0

# Runs grpcurl, printing the command and its output; the output is left in $out.
run() {
  echo "\$ grpcurl -plaintext ${*}"
  out="$(grpcurl -plaintext -max-time 10 "$@" 2>&1)" || { echo "$out"; echo "FAIL: grpcurl exited non-zero"; failures=$((failures + 1)); return 0; }
  echo "$out"
}
expect_contains() {
  if grep -qF -- "$1" <<<"$out"; then echo "ok: contains $1"; else echo "FAIL: output lacks: $1"; failures=$((failures + 1)); fi
}
# Checks a JSON answer with a JavaScript predicate over `r` (the parsed output).
expect_json() {
  if "$node" -e 'const r = JSON.parse(require("fs").readFileSync(0, "utf8")); if (!(0, eval)(`(r) => ${process.argv[1]}`)(r)) process.exit(1);' "$1" <<<"$out"; then
    echo "ok: $1"
  else
    echo "FAIL: expected $1"; failures=$((failures + 1))
  fi
}

run "$address" list
[ "$(sort <<<"$out" | tr '\n' ' ')" = "chatmemory.v1.ChatMemory grpc.health.v1.Health grpc.reflection.v1.ServerReflection grpc.reflection.v1alpha.ServerReflection " ] \
  && echo "ok: lists exactly ChatMemory, Health and both reflection services" \
  || { echo "FAIL: unexpected service list"; failures=$((failures + 1)); }

run "$address" describe chatmemory.v1.ChatMemory
expect_contains "chatmemory.v1.ChatMemory is a service:"
for rpc in Append GetHistory Clear Count Replace DeleteMessages ListConversations; do
  expect_contains "rpc ${rpc} ( .chatmemory.v1.${rpc}Request ) returns ( .chatmemory.v1.${rpc}Response );"
done
expect_contains "rpc Watch ( .chatmemory.v1.WatchRequest ) returns ( stream .chatmemory.v1.WatchResponse );"

run "$address" describe chatmemory.v1.Message
expect_contains "map<string, string> metadata = 5;"
expect_contains ".google.protobuf.Timestamp created_at = 6;"
expect_contains "repeated .chatmemory.v1.ToolCall tool_calls = 7;"
expect_contains ".google.protobuf.Struct extra = 10;"

run -d '{"conversation_id": "demo"}' "$address" chatmemory.v1.ChatMemory/Clear

run -d '{"conversation_id": "demo", "messages": [
    {"role": "user", "content": "What is the capital of France?"},
    {"role": "assistant", "content": "Paris.", "metadata": {"model": "m1"}}]}' \
  "$address" chatmemory.v1.ChatMemory/Append
expect_json 'r.count === "2"'

run -d '{"conversation_id": "demo", "limit": 1}' "$address" chatmemory.v1.ChatMemory/GetHistory
expect_json 'r.messages.length === 1 && r.messages[0].role === "assistant" && r.messages[0].content === "Paris." && r.messages[0].metadata.model === "m1"'
expect_json '/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,3})?Z$/.test(r.messages[0].createdAt) && Math.abs(Date.parse(r.messages[0].createdAt) - Date.now()) < 60000'

run -d '{"conversation_id": "demo"}' "$address" chatmemory.v1.ChatMemory/Count
expect_json 'r.count === "2"'

run -d '{"page_size": 1000}' "$address" chatmemory.v1.ChatMemory/ListConversations
expect_json 'r.conversations.some((c) => c.conversationId === "demo" && c.count === "2" && Math.abs(Date.parse(c.lastAppendTime) - Date.now()) < 60000)'

run -d '{"service": "chatmemory.v1.ChatMemory"}' "$address" grpc.health.v1.Health/Check
expect_json 'r.status === "SERVING"'

# Watch streams one JSON object per response until -max-time ends it (then grpcurl exits non-zero).
echo "\$ grpcurl -plaintext -max-time 3 -d '{\"conversation_id\": \"demo-watch\"}' $address chatmemory.v1.ChatMemory/Watch"
grpcurl -plaintext -max-time 3 -d '{"conversation_id": "demo-watch"}' "$address" chatmemory.v1.ChatMemory/Watch >"${TMPDIR:-/tmp}/grpcurl-watch.$$" 2>&1 &
watcher=$!
sleep 1
grpcurl -plaintext -max-time 10 -d '{"conversation_id": "demo-watch", "messages": [{"role": "user", "content": "seen live"}]}' \
  "$address" chatmemory.v1.ChatMemory/Append >/dev/null
wait "$watcher" || true
out="$(cat "${TMPDIR:-/tmp}/grpcurl-watch.$$")" && rm -f "${TMPDIR:-/tmp}/grpcurl-watch.$$"
echo "$out"
expect_contains '"content": "seen live"'
expect_contains '"seq": "1"'
expect_contains 'Code: DeadlineExceeded'

# A bad request: grpcurl exits non-zero and prints the status code and the field.
echo "\$ grpcurl -plaintext -d '{\"conversation_id\": \"bad id\", \"messages\": [{\"role\": \"user\"}]}' $address chatmemory.v1.ChatMemory/Append"
if out="$(grpcurl -plaintext -max-time 10 -d '{"conversation_id": "bad id", "messages": [{"role": "user"}]}' "$address" chatmemory.v1.ChatMemory/Append 2>&1)"; then
  echo "$out"; echo "FAIL: a bad conversation_id was accepted"; failures=$((failures + 1))
else
  echo "$out"
  expect_contains "Code: InvalidArgument"
  expect_contains "conversation_id"
fi

if [ "$failures" -ne 0 ]; then
  echo "grpcurl: ${failures} check(s) failed"
  exit 1
fi
echo "grpcurl: all checks passed"
