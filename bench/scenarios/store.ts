/**
 * Everything measured against one server and store: the main table (ceiling, Append and
 * GetHistory at every concurrency, the linearity windows), then, for Redis, the scenarios that
 * reuse its data and server.
 */
import type { Bench, Target } from "../lib/bench.js";
import type { StoreKind } from "../lib/results.js";
import { parts, rpcs, settings } from "../lib/settings.js";
import { ghzCrossCheck } from "./ghz.js";
import { latencyTriplets } from "./latency-triplets.js";
import { memoryPerMessage } from "./memory.js";
import { nodeClientRuns } from "./node-client.js";
import { soak } from "./soak.js";
import { targets } from "./targets.js";
import { startFixedResponseServer, throughputRounds } from "./throughput-rounds.js";
import { uncachedHistory } from "./uncached-history.js";

export async function storeScenarios(bench: Bench, store: StoreKind): Promise<void> {
  const server = await bench.startServer(store);
  try {
    const windows = [...new Set([...settings.windows, ...settings.linearityWindows])].sort((a, b) => a - b);
    const { ceiling, append, history } = await targets(bench, server, store, windows);
    for (const concurrency of settings.concurrencies) {
      if (rpcs.has("ceiling")) await bench.measure(server, store, "ceiling", ceiling, concurrency);
      if (rpcs.has("append")) await bench.measure(server, store, "append", append, concurrency);
      if (!rpcs.has("history")) continue;
      for (const window of settings.windows) await bench.measure(server, store, "history", history.get(window) as Target, concurrency, window);
    }
    // Linearity: more windows at one concurrency.
    const linearityConcurrency = settings.concurrencies.includes(16) ? 16 : (settings.concurrencies[0] ?? 16);
    for (const window of rpcs.has("history") ? settings.linearityWindows : []) {
      await bench.measure(server, store, "history", history.get(window) as Target, linearityConcurrency, window);
    }
    if (store !== "redis") return;
    const history40 = history.get(40);
    if (rpcs.has("history") && history40) {
      await uncachedHistory(bench, history40);
      if (rpcs.has("ceiling") && rpcs.has("append")) {
        // The bare server is measured only in the rounds, against its own ceiling: another process's is not comparable.
        const fixed = await startFixedResponseServer(bench, server.address, history40);
        try {
          await throughputRounds(bench, server, { ceiling, append, history40 }, fixed);
        } finally {
          await fixed.server.stop();
        }
      }
    }
    if (parts.has("baselines") && rpcs.has("ceiling") && rpcs.has("append")) await latencyTriplets(bench, server, ceiling, append);
    if (parts.has("ghz")) await ghzCrossCheck(bench, server);
    if (parts.has("baselines")) await nodeClientRuns(bench, server);
    if (parts.has("memory")) bench.results.memory = await memoryPerMessage(bench, server);
    if (parts.has("soak") && settings.soakS > 0) await soak(bench, server, append, history.get(40));
  } finally {
    await server.stop();
  }
}
