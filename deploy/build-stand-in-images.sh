#!/usr/bin/env bash
# No image registry is reachable here, so the images the Dockerfile and the tests name are built
# locally from Debian's and npm's packages, under the names they would have on a registry:
#   docker.io/library/node:24-bookworm-slim  Debian bookworm (debootstrap minbase) + Node 24 + npm,
#                                            with a `node` user (uid 1000), like the official image
#   localhost/redis-local:7                  redis-server and the libraries it links, nothing else
# Idempotent: an image that exists is kept (pass --force to rebuild).
set -euo pipefail
cd "$(dirname "$0")/.."
source deploy/podman-env.sh

NODE_VERSION=24.21.0
NPM_VERSION=11.21.2
NODE_IMAGE=docker.io/library/node:24-bookworm-slim
REDIS_IMAGE=localhost/redis-local:7
force=${1:-}

have_image() { [ "$force" != "--force" ] && podman image exists "$1"; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if have_image "$NODE_IMAGE"; then
  echo "$NODE_IMAGE: present"
else
  echo "$NODE_IMAGE: building from debootstrap + node@$NODE_VERSION + npm@$NPM_VERSION"
  rootfs="$work/node-rootfs"
  debootstrap --variant=minbase bookworm "$rootfs" http://deb.debian.org/debian >"$work/debootstrap.log" 2>&1 ||
    { tail -20 "$work/debootstrap.log"; exit 1; }
  # Node's own binary from the npm registry (the `node` package), and npm itself.
  npm install --prefix "$work/node" --no-save --no-audit --no-fund "node@$NODE_VERSION" >/dev/null
  install -m 0755 "$work/node/node_modules/node/bin/node" "$rootfs/usr/local/bin/node"
  mkdir -p "$rootfs/usr/local/lib/node_modules"
  (cd "$work" && npm pack --silent "npm@$NPM_VERSION" >/dev/null && tar -xzf npm-"$NPM_VERSION".tgz && mv package "$rootfs/usr/local/lib/node_modules/npm")
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$rootfs/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$rootfs/usr/local/bin/npx"
  chroot "$rootfs" /usr/sbin/groupadd --gid 1000 node
  chroot "$rootfs" /usr/sbin/useradd --uid 1000 --gid node --shell /bin/bash --create-home node
  # Slim, as the official -slim images are: no docs, manuals, locales or package caches.
  rm -rf "$rootfs"/usr/share/{doc,man,info,locale}/* "$rootfs"/var/cache/apt/* "$rootfs"/var/lib/apt/lists/*
  tar -C "$rootfs" -cf "$work/node.tar" .
  podman import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["node"]' \
    "$work/node.tar" "$NODE_IMAGE" >/dev/null
  podman run --rm --network host "$NODE_IMAGE" node --version
fi

if have_image "$REDIS_IMAGE"; then
  echo "$REDIS_IMAGE: present"
else
  echo "$REDIS_IMAGE: building from $(command -v redis-server)"
  rootfs="$work/redis-rootfs"
  mkdir -p "$rootfs/usr/bin" "$rootfs/data" "$rootfs/tmp"
  cp /usr/bin/redis-server "$rootfs/usr/bin/"
  for lib in $(ldd /usr/bin/redis-server | grep -o '/[^ ]*'); do
    mkdir -p "$rootfs$(dirname "$lib")"
    cp -L "$lib" "$rootfs$lib"
  done
  tar -C "$rootfs" -cf "$work/redis.tar" .
  podman import --change 'WORKDIR /data' --change 'EXPOSE 6379' \
    --change 'CMD ["/usr/bin/redis-server", "--protected-mode", "no", "--save", "", "--appendonly", "no"]' \
    "$work/redis.tar" "$REDIS_IMAGE" >/dev/null
fi
podman images
