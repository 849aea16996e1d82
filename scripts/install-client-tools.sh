#!/usr/bin/env bash
# Installs the pinned tools the Go and Python clients need into .tools/ (git-ignored):
#   .tools/bin    protoc-gen-go, protoc-gen-go-grpc (code generators), grpcurl and grpc-health-probe
#                 (the Kubernetes exec probe, used by test-mesh/), from the Go module proxy
#   .tools/venv   grpcio-tools (protoc + gRPC Python generator), mypy-protobuf, pytest, ... from PyPI
# Versions are pinned here and in tools/requirements.txt; the generated files' headers show them.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

PROTOC_GEN_GO_VERSION=v1.36.12      # module google.golang.org/protobuf
PROTOC_GEN_GO_GRPC_VERSION=v1.6.2   # module google.golang.org/grpc/cmd/protoc-gen-go-grpc
GRPCURL_VERSION=v1.9.4              # module github.com/fullstorydev/grpcurl
GRPC_HEALTH_PROBE_VERSION=v0.4.62   # module github.com/grpc-ecosystem/grpc-health-probe

mkdir -p .tools/bin
export GOBIN="$root/.tools/bin"
# Reproducible binaries: no VCS stamping (the worktree may not be a git checkout) and no toolchain switch.
export GOFLAGS=-buildvcs=false GOTOOLCHAIN=local
go install "google.golang.org/protobuf/cmd/protoc-gen-go@${PROTOC_GEN_GO_VERSION}"
go install "google.golang.org/grpc/cmd/protoc-gen-go-grpc@${PROTOC_GEN_GO_GRPC_VERSION}"
go install "github.com/fullstorydev/grpcurl/cmd/grpcurl@${GRPCURL_VERSION}"
go install "github.com/grpc-ecosystem/grpc-health-probe@${GRPC_HEALTH_PROBE_VERSION}"
.tools/bin/protoc-gen-go --version
.tools/bin/protoc-gen-go-grpc --version
# grpcurl --version says "dev build" when built by go install: show the module version instead.
go version -m .tools/bin/grpcurl | grep -m1 -E "^\s+mod\s"
go version -m .tools/bin/grpc-health-probe | grep -m1 -E "^\s+mod\s"

if [ ! -x .tools/venv/bin/python ]; then
  python3 -m venv .tools/venv
fi
.tools/venv/bin/python -m pip install --quiet --disable-pip-version-check -r tools/requirements.txt
.tools/venv/bin/python -m grpc_tools.protoc --version
