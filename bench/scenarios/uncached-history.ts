import type { Bench, Target } from "../lib/bench.js";
import { settings } from "../lib/settings.js";

/**
 * GetHistory(40) from a second server with the decoded-element cache off, over the same Redis
 * data: what a window costs when none of its elements was read before (every element parsed
 * and encoded), next to the main rows where the benchmark re-reads one window.
 */
export async function uncachedHistory(bench: Bench, history40: Target): Promise<void> {
  const server = await bench.startServer("redis", { CHATMEMORY_DECODE_CACHE_MB: "0" });
  try {
    for (const concurrency of settings.concurrencies) await bench.measure(server, "redis", "history-uncached", history40, concurrency, 40);
  } finally {
    await server.stop();
  }
}
