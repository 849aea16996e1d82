import { join } from "node:path";
import type { ServerProcess } from "../../test/helpers/server-process.js";
import type { Bench, Target } from "../lib/bench.js";
import { runH2load } from "../lib/h2load.js";
import { memoryMiB } from "../lib/process-stats.js";
import { commandDelta, commandStats } from "../lib/redis-stats.js";
import type { RpcKind, SoakSlice } from "../lib/results.js";
import { log, settings, shape } from "../lib/settings.js";
import { round } from "../lib/stats.js";

/** A few minutes of Append and GetHistory(40) slices at c=16: RSS and p99 per slice. */
export async function soak(bench: Bench, server: ServerProcess, append: Target, history: Target | undefined): Promise<void> {
  if (!history) return;
  const concurrency = 16;
  const { connections, streams } = shape(concurrency);
  const rate = (rpc: RpcKind, window?: number) =>
    bench.results.rpcs.find((m) => m.store === "redis" && m.rpc === rpc && m.window === window && m.concurrency === concurrency)?.rps ?? 2000;
  const half = settings.soakSliceS / 2;
  const started = performance.now();
  bench.results.soakStartRssMiB = round(memoryMiB(server.pid).rssMiB, 1);
  log(`soak: ${settings.soakS} s in ${settings.soakSliceS} s slices; server RSS ${bench.results.soakStartRssMiB} MiB`);
  while ((performance.now() - started) / 1000 < settings.soakS) {
    const runSlice = async (target: Target, rps: number) => {
      const requests = Math.max(100, Math.round(rps * half * 0.9));
      // Append's response grows with its seqs: the same expected-size hook as `measure`.
      const expectedBytes = target.expectedBytes ? await target.expectedBytes() : (n: number) => n * target.responseBytes;
      const before = await commandStats(bench.redisClient);
      const run = await runH2load({ url: `http://${server.address}${target.path}`, framePath: target.framePath, connections, streams, requests, logFile: join(bench.workDir, "soak.log") });
      const after = await commandStats(bench.redisClient);
      const ok =
        run.succeeded === requests &&
        run.dataBytes === expectedBytes(requests) &&
        commandDelta(before, after, target.redisCommand ?? "").calls === requests;
      return { rps: round(requests / run.elapsedS, 1), p99Ms: round(run.p99Ms, 3), ok };
    };
    const a = await runSlice(append, rate("append"));
    const h = await runSlice(history, rate("history", 40));
    const slice: SoakSlice = {
      atS: round((performance.now() - started) / 1000, 1),
      appendRps: a.rps,
      appendP99Ms: a.p99Ms,
      historyRps: h.rps,
      historyP99Ms: h.p99Ms,
      rssMiB: round(memoryMiB(server.pid).rssMiB, 1),
      verified: a.ok && h.ok,
    };
    log(`soak t=${slice.atS}s append ${slice.appendRps}/s p99 ${slice.appendP99Ms} ms; history(40) ${slice.historyRps}/s p99 ${slice.historyP99Ms} ms; RSS ${slice.rssMiB} MiB${slice.verified ? "" : " NOT VERIFIED"}`);
    bench.results.soak.push(slice);
  }
}
