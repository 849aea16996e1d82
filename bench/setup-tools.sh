#!/usr/bin/env bash
# Installs what `npm run bench` needs, idempotently, on a fresh Debian machine that has run
# `npm ci` and has Go and Python: h2load (nghttp2-client) and gnuplot from Debian, ghz from the
# Go module proxy, and a venv under bench/.venv with the Python `redis` client for the Python
# class baseline. Versions are pinned so a rerun measures the same tools.
set -euo pipefail
cd "$(dirname "$0")"

GHZ_VERSION=v0.121.0
PY_REDIS_VERSION=8.1.0

missing=()
command -v h2load >/dev/null 2>&1 || missing+=(nghttp2-client)
command -v gnuplot >/dev/null 2>&1 || missing+=(gnuplot-nox)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server redis-tools)
if ((${#missing[@]})); then
  echo "bench setup: apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi

ghz="$(go env GOPATH)/bin/ghz"
if ! [[ -x "$ghz" ]] || ! go version -m "$ghz" 2>/dev/null | grep -q "github.com/bojand/ghz[[:space:]]*$GHZ_VERSION"; then
  echo "bench setup: go install ghz@$GHZ_VERSION"
  (cd /tmp && go install "github.com/bojand/ghz/cmd/ghz@$GHZ_VERSION")
fi

if ! [[ -x .venv/bin/python ]] || ! .venv/bin/python -c "import redis, sys; sys.exit(redis.__version__ != '$PY_REDIS_VERSION')" 2>/dev/null; then
  echo "bench setup: python venv with redis==$PY_REDIS_VERSION"
  python3 -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check "redis==$PY_REDIS_VERSION"
fi
