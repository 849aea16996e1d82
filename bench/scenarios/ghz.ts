import type { ServerProcess } from "../../test/helpers/server-process.js";
import type { Bench } from "../lib/bench.js";
import { runGhz } from "../lib/ghz.js";
import { commandDelta, commandStats } from "../lib/redis-stats.js";
import type { GhzMeasurement } from "../lib/results.js";
import { log, settings, shape } from "../lib/settings.js";
import { round } from "../lib/stats.js";
import { MESSAGE_CONTENT } from "../lib/workload.js";

/** ghz reads grpc-status itself: every call must come back OK. */
export async function ghzCrossCheck(bench: Bench, server: ServerProcess): Promise<void> {
  const concurrency = Math.max(...settings.concurrencies);
  const { connections } = shape(concurrency);
  const calls = Math.max(1000, Math.round(settings.durationS * 1500));
  const runs: [string, string, unknown, string | undefined][] = [
    ["ceiling (Health/Check)", "grpc.health.v1.Health/Check", { service: "" }, undefined],
    ["Append", "chatmemory.v1.ChatMemory/Append", { conversation_id: "bench-append-redis", messages: [{ role: "user", content: MESSAGE_CONTENT }] }, "evalsha"],
    ["GetHistory(40)", "chatmemory.v1.ChatMemory/GetHistory", { conversation_id: "bench-history-40" }, "evalsha"],
  ];
  for (const [name, call, data, redisCommand] of runs) {
    const before = await commandStats(bench.redisClient);
    const result = await runGhz({ address: server.address, call, data, concurrency, connections, requests: calls });
    const after = await commandStats(bench.redisClient);
    const ok = result.statusCodes.OK ?? 0;
    // ghz calls reflection first; the Redis count must match the OK calls exactly.
    const redisOk = redisCommand === undefined || commandDelta(before, after, redisCommand).calls === calls;
    const measurement: GhzMeasurement = {
      name,
      concurrency,
      connections,
      count: result.count,
      rps: round(result.rps, 1),
      p50Ms: round(result.p50Ms, 3),
      p99Ms: round(result.p99Ms, 3),
      statusCodes: result.statusCodes,
      verified: ok === calls && result.count === calls && redisOk,
    };
    log(`ghz ${name} c=${concurrency}: ${measurement.rps}/s p50 ${measurement.p50Ms} ms p99 ${measurement.p99Ms} ms ${JSON.stringify(result.statusCodes)}`);
    bench.results.ghz.push(measurement);
  }
}
