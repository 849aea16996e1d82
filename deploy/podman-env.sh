# Source this to run podman (and testcontainers through podman's Docker API) on these machines.
deploy_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export CONTAINERS_CONF="$deploy_dir/podman/containers.conf"
export CONTAINERS_STORAGE_CONF="$deploy_dir/podman/storage.conf"
export PODMAN_SOCKET="/run/podman/podman.sock"
# For testcontainers: podman's Docker-compatible API, no Ryuk sidecar, and loopback for published ports.
export DOCKER_HOST="unix://$PODMAN_SOCKET"
export TESTCONTAINERS_RYUK_DISABLED=true
export TESTCONTAINERS_HOST_OVERRIDE=127.0.0.1
