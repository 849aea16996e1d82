import type { ServerProcess } from "../../test/helpers/server-process.js";
import type { Bench, Target } from "../lib/bench.js";
import type { LatencyTriplet } from "../lib/results.js";
import { NODE_LOAD, lastJsonLine, log, runProcess, settings } from "../lib/settings.js";
import { round } from "../lib/stats.js";

/**
 * The c=1 latency target compares three medians measured at different moments; on a shared
 * machine one busy minute decides it. So it also gets three short rounds of ceiling, direct
 * ioredis and Append back to back, and the report takes the median of their ratios.
 */
export async function latencyTriplets(bench: Bench, server: ServerProcess, ceiling: Target, append: Target): Promise<void> {
  const durationS = Math.max(1, settings.baselineS / 2);
  for (let pass = 1; pass <= 3; pass++) {
    const ceilingRun = await bench.measure(server, "redis", "ceiling", ceiling, 1, undefined, { durationS });
    const direct = lastJsonLine<{ p50Ms: number; failures: number }>(
      await runProcess(process.execPath, [NODE_LOAD, "ioredis-append", bench.redis.url, "1", String(durationS)]),
    );
    const appendRun = await bench.measure(server, "redis", "append", append, 1, undefined, { durationS });
    const triplet: LatencyTriplet = {
      ceilingP50Ms: ceilingRun.p50Ms,
      directP50Ms: round(direct.p50Ms, 3),
      appendP50Ms: appendRun.p50Ms,
      verified: ceilingRun.verified && appendRun.verified && direct.failures === 0,
    };
    log(`c=1 latency round ${pass}: Append p50 ${triplet.appendP50Ms} ms, ceiling ${triplet.ceilingP50Ms} ms, direct ioredis ${triplet.directP50Ms} ms`);
    bench.results.latencyTriplets.push(triplet);
  }
}
