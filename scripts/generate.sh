#!/usr/bin/env bash
# `npm run gen`: regenerates every language from proto/ with the pinned local plugins:
#   buf.gen.yaml          TypeScript (protoc-gen-es from node_modules) -> gen/ts
#   buf.gen.clients.yaml  Go -> gen/go/chatmemory, Python -> gen/python/generated (tools in .tools/)
# Usage: scripts/generate.sh [DIR]  (DIR defaults to the repository; the freshness test passes a
# scratch copy). The tools always come from this repository's node_modules and .tools.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
for tool in .tools/bin/protoc-gen-go .tools/bin/protoc-gen-go-grpc .tools/venv/bin/protoc-gen-mypy_grpc; do
  if [ ! -x "$root/$tool" ]; then
    echo "missing $tool: run scripts/install-client-tools.sh (npm run tools) first" >&2
    exit 1
  fi
done
export PATH="$root/node_modules/.bin:$root/.tools/bin:$root/.tools/venv/bin:$PATH"
cd "${1:-$root}"
buf generate
buf generate --template buf.gen.clients.yaml
