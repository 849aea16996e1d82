#!/usr/bin/env bash
# `npm run test:clients`: every shipped client path against one live server, in one run:
#   1. starts redis-server (free loopback port, own temp dir) and the built server against it,
#      waits for health SERVING and exports CHATMEMORY_ADDRESS;
#   2. Go: the live `go test` suite and the README example (clients/go); the langchaingo adapter
#      (clients/go/langchaingo): its live `go test` suite, and its example built in a scratch module;
#   3. Python: builds the wheel of gen/python, installs it into a clean venv, mypy --strict against
#      its .pyi stubs, pytest (clients/python), the example;
#   4. grpcurl: the commands of docs/clients.md, checked (scripts/check-grpcurl.sh);
#   5. TypeScript: packs the chatmemory-client workspace, installs the tarball into a scratch
#      project, checks no server library (and no LangChain) came with it, type-checks and runs the
#      example there; then adds LangChain to that project and type-checks and runs the
#      `chatmemory-client/langchain` agent example; then the polyglot interop test
#      (clients/interop.test.ts).
# Then stops everything. Needs `npm ci` and `npm run tools` first. Every part runs even when an
# earlier one failed; the exit code is non-zero if any did. Per-part timings and test totals go
# to test-results/clients-summary.txt (.ci/run prints it).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
for tool in .tools/bin/grpcurl .tools/venv/bin/python; do
  [ -x "$tool" ] || { echo "missing $tool: run npm run tools first" >&2; exit 1; }
done
export PATH="$root/node_modules/.bin:$root/.tools/bin:$PATH"
export GOFLAGS=-buildvcs=false GOTOOLCHAIN=local
python="$root/.tools/venv/bin/python"
mkdir -p test-results
summary="$root/test-results/clients-summary.txt"
: >"$summary"
work="$(mktemp -d "${TMPDIR:-/tmp}/chatmemory-clients-XXXXXX")"
redis_pid="" server_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  [ -n "$redis_pid" ] && kill "$redis_pid" 2>/dev/null && wait "$redis_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

failed=()
part_started=0
part() { printf '\n--- %s\n' "$1"; part_started=$SECONDS; }
# Records a part's result and duration: `finish NAME STATUS`.
finish() {
  local took=$((SECONDS - part_started))
  if [ "$2" -eq 0 ]; then echo "$1: ok (${took}s)" | tee -a "$summary"; else echo "$1: FAILED (${took}s)" | tee -a "$summary"; failed+=("$1"); fi
}
# Prints "NAME: N passed, N failed, N skipped" for a test log, counting lines that match each pattern.
totals() {
  local name="$1" log="$2" pass="$3" fail="$4" skip="$5"
  echo "$name: $(grep -cE "$pass" "$log" || true) passed, $(grep -cE "$fail" "$log" || true) failed, $(grep -cE "$skip" "$log" || true) skipped" | tee -a "$summary"
}
free_port() { node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });'; }

part "server: build, Redis, ChatMemory"
npm run --silent build
redis_port="$(free_port)"
redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no --dir "$work" --daemonize no >"$work/redis.log" 2>&1 &
redis_pid=$!
CHATMEMORY_LISTEN=127.0.0.1:0 REDIS_URL="redis://127.0.0.1:${redis_port}/0" CHATMEMORY_KEY_PREFIX=clients-test \
  node dist/src/main.js >"$work/server.log" 2>&1 &
server_pid=$!
address=""
for _ in $(seq 1 100); do
  address="$(sed -n 's/.*"msg":"chatmemory listening.*"address":"\([^"]*\)".*/\1/p; s/.*"address":"\([^"]*\)".*"msg":"chatmemory listening.*/\1/p' "$work/server.log" | head -n1)"
  [ -n "$address" ] && break
  sleep 0.1
done
[ -n "$address" ] || { echo "server did not start:"; cat "$work/server.log"; exit 1; }
serving=""
for _ in $(seq 1 100); do
  if grpcurl -plaintext -max-time 1 -d '{"service": "chatmemory.v1.ChatMemory"}' "$address" grpc.health.v1.Health/Check 2>/dev/null | grep -q '"SERVING"'; then
    serving=yes
    break
  fi
  sleep 0.1
done
[ -n "$serving" ] || { echo "server at $address never reported SERVING:"; cat "$work/server.log" "$work/redis.log"; exit 1; }
export CHATMEMORY_ADDRESS="$address"
# For the tests that run the Python class beside the server on the same Redis and key prefix.
export CHATMEMORY_TEST_REDIS_URL="redis://127.0.0.1:${redis_port}/0" CHATMEMORY_TEST_KEY_PREFIX=clients-test
echo "ChatMemory at $CHATMEMORY_ADDRESS (Redis on 127.0.0.1:${redis_port}): SERVING"
finish "server start" 0

part "Go: go test (live) and the example"
set +e
(cd clients/go && go test -count=1 -v ./... 2>&1) | tee "$work/go-test.log"
status=${PIPESTATUS[0]}
totals "go" "$work/go-test.log" '^ *--- PASS' '^ *--- FAIL' '^ *--- SKIP'
finish "go test" "$status"
part_started=$SECONDS
(cd clients/go && go run ./example 2>&1) | tee "$work/go-example.log"
example=${PIPESTATUS[0]}
set -e
grep -q "count after append: 2" "$work/go-example.log" && grep -q "cleared: true" "$work/go-example.log" || example=1
finish "go example" "$example"

part "Go: the langchaingo adapter (clients/go/langchaingo): go test (live), its example from a scratch module"
set +e
(cd clients/go/langchaingo && go vet ./... && go test -count=1 -v ./... 2>&1) | tee "$work/langchaingo-test.log"
status=${PIPESTATUS[0]}
totals "langchaingo" "$work/langchaingo-test.log" '^ *--- PASS' '^ *--- FAIL' '^ *--- SKIP'
finish "langchaingo go test" "$status"
part_started=$SECONDS
(
  set -e
  # A new module that requires the adapter (replace: it is not published), as a user's would.
  mkdir "$work/langchaingo-consumer" && cd "$work/langchaingo-consumer"
  go mod init example.com/consumer 2>/dev/null
  go mod edit -require github.com/chatmemory/chatmemory/clients/go/langchaingo@v0.0.0 \
    -replace "github.com/chatmemory/chatmemory/clients/go/langchaingo=$root/clients/go/langchaingo" \
    -replace "github.com/chatmemory/chatmemory/gen/go=$root/gen/go"
  cp "$root/clients/go/langchaingo/example/main.go" .
  go mod tidy
  go run .
  # The generated client's module alone never brings langchaingo.
  if (cd "$root/gen/go" && go list -m all) | grep -F github.com/tmc/langchaingo; then
    echo "gen/go pulls langchaingo (above)"; exit 1
  fi
  echo "gen/go's module graph has no langchaingo"
) 2>&1 | tee "$work/langchaingo-example.log"
example=${PIPESTATUS[0]}
set -e
grep -q "answer: Paris." "$work/langchaingo-example.log" && grep -q "messages stored: 4" "$work/langchaingo-example.log" || example=1
finish "langchaingo example" "$example"

part "Python: build the wheel, install it into a clean venv, type-check against its stubs, pytest (live) and the example"
set +e
# The wheel, not the source tree: what a user's `pip install chatmemory-client` gets. The clean venv
# gets it plus the pinned test tools (tools/requirements.txt as constraints), nothing from gen/python.
rm -rf "$work/wheels" && "$python" -m pip wheel --quiet --disable-pip-version-check --no-deps --no-build-isolation ./gen/python -w "$work/wheels"
install=$?
python3 -m venv "$work/client-venv" && client_python="$work/client-venv/bin/python"
# With the framework extras ([langchain,llama-index]: pytest runs the adapters' tests too) and
# `langchain` for the agent example, at the versions of tools/adapter-constraints.txt.
wheel="$(ls "$work"/wheels/chatmemory_client-*.whl)"
"$client_python" -m pip install --quiet --disable-pip-version-check -c tools/requirements.txt -c tools/adapter-constraints.txt \
  "${wheel}[langchain,llama-index]" langchain pytest mypy types-protobuf types-grpcio grpcio-health-checking redis || install=1
# Fails unless the package comes from the venv's site-packages (the installed wheel), and unless
# `import chatmemory` stays free of the frameworks (they load only with chatmemory.langchain / .llama_index).
(cd "$work" && "$client_python" -c 'import chatmemory, sys; assert "/client-venv/" in chatmemory.__file__, chatmemory.__file__; print("chatmemory from", chatmemory.__file__); loaded = [m for m in ("langchain_core", "llama_index") if m in sys.modules]; assert not loaded, loaded') || install=1
"$client_python" -m mypy --config-file clients/python/mypy.ini clients/python
typecheck=$?
# The hand-written package itself (wrapper and adapters) under --strict, against the installed
# generated stubs and the frameworks' types.
(cd gen/python/src && "$client_python" -m mypy --strict -p chatmemory) || typecheck=1
"$client_python" -m pytest clients/python -v -p no:cacheprovider 2>&1 | tee "$work/pytest.log"
status=${PIPESTATUS[0]}
# pytest exits 5 when it collected no tests: that is a failure here, not a pass.
[ "$status" -eq 5 ] && echo "pytest collected no tests"
[ "$install" -ne 0 ] && status=1
[ "$typecheck" -ne 0 ] && status=1
# Expected failures (XFAIL: a server feature still on another branch) count with the skips.
totals "pytest" "$work/pytest.log" ' PASSED( |$)' ' (FAILED|ERROR)( |$)' ' (SKIPPED|XFAIL)( |$)'
finish "pytest" "$status"
part_started=$SECONDS
"$client_python" clients/python/example.py 2>&1 | tee "$work/py-example.log"
example=${PIPESTATUS[0]}
set -e
grep -q "count after append: 2" "$work/py-example.log" && grep -q "rejected: INVALID_ARGUMENT" "$work/py-example.log" \
  && grep -q "cleared: True" "$work/py-example.log" || example=1
finish "python example" "$example"
part_started=$SECONDS
set +e
"$client_python" clients/python/langchain_agent_example.py 2>&1 | tee "$work/py-agent.log"
example=${PIPESTATUS[0]}
set -e
grep -q "stored: human ai tool ai human ai" "$work/py-agent.log" || example=1
finish "python langchain agent example" "$example"

part "grpcurl: the README's commands, no proto files"
set +e
bash scripts/check-grpcurl.sh "$address"
status=$?
set -e
finish "grpcurl" "$status"

part "TypeScript: the packed chatmemory-client package in a scratch project, then polyglot interop"
set +e
(
  set -e
  npm pack --silent -w chatmemory-client --pack-destination "$work" >/dev/null
  mkdir "$work/consumer" && cd "$work/consumer"
  echo '{ "name": "consumer", "private": true, "type": "module" }' >package.json
  npm install --silent --no-audit --no-fund --prefer-offline "$work"/chatmemory-client-*.tgz
  # A client user gets grpc-js and protobuf-es, never the server's libraries.
  npm ls --all --parseable >"$work/consumer-packages.txt"
  if grep -E '/node_modules/(ioredis|pino|prom-client|commander|lru-cache|grpc-health-check|@grpc/reflection)$' "$work/consumer-packages.txt"; then
    echo "the client package pulled a server library (above)"; exit 1
  fi
  echo "installed: $(grep -c node_modules "$work/consumer-packages.txt") packages, none of them a server library"
  # @langchain/core is an optional peer of the ./langchain subpath: users without LangChain get none of it.
  if grep -E '/node_modules/@langchain/' "$work/consumer-packages.txt"; then
    echo "the client package pulled LangChain (above)"; exit 1
  fi
  cp "$root/clients/typescript/example.ts" .
  # Resolves "chatmemory-client" through the installed package's exports and its .d.ts files.
  tsc --noEmit --strict --target es2023 --module nodenext --moduleResolution nodenext \
    --typeRoots "$root/node_modules/@types" --types node example.ts
  node example.ts
) 2>&1 | tee "$work/ts-example.log"
example=${PIPESTATUS[0]}
grep -q "count after append: 2n" "$work/ts-example.log" && grep -q "rejected: INVALID_ARGUMENT" "$work/ts-example.log" \
  && grep -q "cleared: true" "$work/ts-example.log" || example=1
finish "typescript package example" "$example"

part "TypeScript: chatmemory-client/langchain with LangChain added to the scratch project"
set +e
(
  set -e
  cd "$work/consumer"
  # The versions the repository tests with (its devDependencies).
  versions=$(node -p 'const d = require(process.argv[1]).devDependencies; ["@langchain/core", "langchain", "zod"].map((n) => `${n}@${d[n]}`).join(" ")' "$root/package.json")
  # shellcheck disable=SC2086 # one word per package
  npm install --silent --no-audit --no-fund --prefer-offline $versions
  cp "$root/clients/typescript/examples/langchain-agent.ts" .
  tsc --noEmit --strict --target es2023 --module nodenext --moduleResolution nodenext \
    --typeRoots "$root/node_modules/@types" --types node langchain-agent.ts
  node langchain-agent.ts
) 2>&1 | tee "$work/ts-langchain.log"
example=${PIPESTATUS[0]}
grep -q "turn stored: human, ai, tool, ai" "$work/ts-langchain.log" && grep -q "conversation holds 6 messages" "$work/ts-langchain.log" || example=1
finish "typescript langchain example" "$example"

part_started=$SECONDS
(cd clients/go && go build -o "$work/interop-go" ./interop)
build=$?
CHATMEMORY_GO_INTEROP="$work/interop-go" CHATMEMORY_PYTHON="$client_python" vitest run --config vitest.clients.config.ts
status=$?
set -e
[ "$build" -ne 0 ] && status=1
node -e '
  const r = require("./test-results/vitest-clients.json");
  console.log(`interop: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${r.numPendingTests} skipped`);
' | tee -a "$summary" || status=1
finish "interop" "$status"

part "LangChain across languages: Python -> JS -> Python and JS -> Python -> JS, one conversation"
# clients/python/langchain_cross.py (the installed wheel) and clients/typescript/examples/langchain-cross.ts
# (the packed chatmemory-client/langchain, in the scratch project that has @langchain/core): each
# language reads what the other wrote, writes it back, and compares with its own serializer; the
# elements both wrote for the same messages must be identical.
set +e
cross_checks=0 cross_failed=0 cross_skipped=0
if (cd "$work/consumer" 2>/dev/null && node -e 'import("chatmemory-client/langchain").then(() => import("@langchain/core/messages")).catch(() => process.exit(1))'); then
  cp clients/typescript/examples/langchain-cross.ts "$work/consumer/"
  run_id="cross-$(date +%s)-$$"
  cross_py() { "$client_python" clients/python/langchain_cross.py "$@"; }
  cross_js() { (cd "$work/consumer" && node langchain-cross.ts "$@"); }
  cross_check() { cross_checks=$((cross_checks + 1)); "$@" || cross_failed=$((cross_failed + 1)); }
  cross_check bash -c "cd '$work/consumer' && tsc --noEmit --strict --target es2023 --module nodenext --moduleResolution nodenext --typeRoots '$root/node_modules/@types' --types node langchain-cross.ts"
  cross_check cross_py write "$run_id-pyA" "$work/cross-py.json"
  cross_check cross_js copy "$run_id-pyA" "$run_id-pyB"
  cross_check cross_py check "$run_id-pyB" "$work/cross-py.json"
  cross_check cross_py same "$run_id-pyA" "$run_id-pyB"
  cross_check cross_js write "$run_id-jsC" "$work/cross-js.json"
  cross_check cross_py copy "$run_id-jsC" "$run_id-jsD"
  cross_check cross_js check "$run_id-jsD" "$work/cross-js.json"
  cross_check cross_py same "$run_id-jsC" "$run_id-jsD"
else
  # A tree without the LangChain.js adapter (branch python-adapters before the merge).
  echo "skipped: no chatmemory-client/langchain with @langchain/core in the scratch project"
  cross_skipped=1
fi
set -e
echo "langchain_cross: $((cross_checks - cross_failed)) passed, ${cross_failed} failed, ${cross_skipped} skipped" | tee -a "$summary"
finish "langchain cross-language" "$cross_failed"

if [ "${#failed[@]}" -ne 0 ]; then
  echo "client checks failed: ${failed[*]}"
  exit 1
fi
echo "all client checks passed"
