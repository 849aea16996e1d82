/**
 * grpc-health-probe (github.com/grpc-ecosystem/grpc-health-probe, pinned in
 * scripts/install-client-tools.sh, installed by `npm run tools` into .tools/bin): the Kubernetes
 * exec probe. Exit 0 = SERVING; 2 = connection failed; 3 = the RPC failed; 4 = not SERVING.
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

export const HEALTH_PROBE = fileURLToPath(new URL("../.tools/bin/grpc-health-probe", import.meta.url));

export function healthProbeInstalled(): boolean {
  return existsSync(HEALTH_PROBE);
}

/** Runs the probe once against `address` for `service` (default the ChatMemory service); resolves to its exit code. */
export function probe(address: string, service = "chatmemory.v1.ChatMemory"): Promise<number> {
  return new Promise((resolve) => {
    execFile(
      HEALTH_PROBE,
      [`-addr=${address}`, `-service=${service}`, "-connect-timeout=1s", "-rpc-timeout=1s"],
      { timeout: 5000 },
      (error) => resolve(error === null ? 0 : typeof error.code === "number" ? error.code : -1),
    );
  });
}
