import type { ServerProcess } from "../../test/helpers/server-process.js";
import type { Bench } from "../lib/bench.js";
import { commandDelta, commandStats } from "../lib/redis-stats.js";
import type { BaselineMeasurement } from "../lib/results.js";
import { cpuTimeUs } from "../lib/process-stats.js";
import { lastJsonLine, log, runProcess } from "../lib/settings.js";
import { round } from "../lib/stats.js";

/** Runs a generator process (closed loop, JSON summary last); samples the server's and Redis's CPU around it. */
export async function baseline(
  bench: Bench,
  name: string,
  concurrency: number,
  command: string,
  args: string[],
  /** Redis commands each call runs exactly once (EVAL counts with EVALSHA: ioredis loads a script with it). */
  verify: { commands: string[] } | undefined,
  server?: ServerProcess,
): Promise<void> {
  const statsBefore = await commandStats(bench.redisClient);
  const serverCpuBefore = server ? cpuTimeUs(server.pid) : 0;
  const redisCpuBefore = cpuTimeUs(bench.redisPid);
  const output = await runProcess(command, args);
  const redisCpu = cpuTimeUs(bench.redisPid) - redisCpuBefore;
  const serverCpu = server ? cpuTimeUs(server.pid) - serverCpuBefore : 0;
  const statsAfter = await commandStats(bench.redisClient);
  const result = lastJsonLine<Omit<BaselineMeasurement, "name" | "concurrency" | "verified" | "verification">>(output);
  const attempts = result.calls + result.failures;
  let verified = result.failures === 0 && result.calls > 0;
  let verification = `${result.calls} calls, ${result.failures} failed`;
  if (verify) {
    const ran = verify.commands.reduce((sum, command) => sum + commandDelta(statsBefore, statsAfter, command).calls, 0);
    // A closed loop ends with its last call answered, so Redis ran exactly one command per call.
    if (ran !== attempts) verified = false;
    verification += `; redis ${verify.commands.join("+")} +${ran}`;
  }
  const measurement: BaselineMeasurement = {
    name,
    concurrency,
    ...result,
    ...(server ? { serverCpuUsPerCall: round(serverCpu / Math.max(1, attempts), 1) } : {}),
    redisCpuUsPerCall: round(redisCpu / Math.max(1, attempts), 1),
    verified,
    verification,
  };
  log(`${name} c=${concurrency}: ${measurement.rps}/s p50 ${measurement.p50Ms} ms p99 ${measurement.p99Ms} ms ${verified ? "verified" : `NOT VERIFIED (${verification})`}`);
  bench.results.baselines.push(measurement);
}
