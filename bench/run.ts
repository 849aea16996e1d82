/**
 * The benchmark: `npm run bench`. One invocation on one machine, loopback
 * only, bounded in time; everything a ratio compares is measured in the same
 * run. Writes bench/results/results.json, the plot and BENCHMARKS.md.
 *
 * Durations and scope come from the environment (defaults in brackets):
 *   BENCH_DURATION_S [8]      measured seconds per h2load scenario (after a warm-up)
 *   BENCH_WARMUP_S [2]        warm-up seconds per scenario (also calibrates the request count)
 *   BENCH_BASELINE_S [5]      seconds per baseline run (ioredis, Python class, Node client)
 *   BENCH_SOAK_S [180]        soak length; 0 skips it
 *   BENCH_SOAK_SLICE_S [30]   soak sample interval
 *   BENCH_CONCURRENCY [1,16,64]
 *   BENCH_WINDOWS [10,40,1000] GetHistory windows at every concurrency
 *   BENCH_LINEARITY_WINDOWS [100,400] extra windows at concurrency 16 for the linearity check
 *   BENCH_STORES [redis,memory]
 *   BENCH_PARTS [main,baselines,ghz,memory,soak,watch]
 *   BENCH_RPCS [ceiling,append,history]  which RPCs the main scenarios measure
 *   BENCH_RESULTS_DIR [bench/results]  results.json, the plot and profiles
 *   BENCH_CPU_PROFILE [unset]  1 = servers run with --cpu-prof into <results dir>/profiles/
 *                              (summarize with dist-bench/bench/profile-summary.js)
 *   BENCH_SERVER_ENV [unset]   extra server settings, e.g. "CHATMEMORY_REDIS_CONNECTIONS=2"
 *   BENCH_SERVER_NODE_ARGS [unset]  node flags for the server, e.g. "--max-semi-space-size=32"
 *   BENCH_SERVER_SCRIPT [dist/src/main.js]  another build of the server, for A/B comparisons
 *   BENCH_OUT [BENCHMARKS.md]  the report (its notes come from bench/notes.md)
 * The watch part (bench/scenarios/watch.ts, Redis store):
 *   BENCH_WATCH_S [10]              seconds of Appends per fan-out run, cut so that
 *   BENCH_WATCH_MAX_DELIVERIES [1000000]  watchers × Appends stays within this
 *   BENCH_WATCH_WATCHERS [1000]     watchers per fan-out run
 *   BENCH_WATCH_MANY_RATE [1000]    Appends/s over one conversation per watcher (0 skips)
 *   BENCH_WATCH_ONE_RATES [1000,100,10] Appends/s for the runs with every watcher on one conversation
 *   BENCH_WATCH_IDLE [1000,5000]    idle watchers for the memory steps (empty skips)
 *   BENCH_WATCH_PAIRS [5]           interleaved pairs of Append c=64 without / with 100 idle watchers
 *   BENCH_WATCH_PROCESSES [2]       watcher processes the watchers are spread over
 *   BENCH_WATCH_REPLICAS [1]        > 1: each one-conversation run is followed by the same run with
 *                                   the watcher processes spread over that many server replicas
 *   BENCH_WATCH_LOAD_NODE_ARGS [unset]  node flags for the writer and watcher processes, e.g.
 *                                   "--max-semi-space-size=4" (their GC pauses count in the latencies)
 *   BENCH_WATCH_VIA [http2]         how the writer and watchers speak gRPC: raw HTTP/2 (cheap) or
 *                                   `client` (the TypeScript client, several µs per message)
 *   BENCH_WATCH_WINDOW [4194304]    the watcher connections' HTTP/2 receive window, bytes (the
 *                                   TypeScript client's default; 65535 is HTTP/2's and grpc-js's own)
 *
 * The scenarios live in bench/scenarios/, the shared machinery (Redis, servers, `measure`) in
 * bench/lib/bench.ts, the settings above in bench/lib/settings.ts.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Bench } from "./lib/bench.js";
import { benchEnvironment } from "./lib/environment.js";
import { publish } from "./lib/publish.js";
import type { BenchResults } from "./lib/results.js";
import { PYTHON, RESULTS_DIR, log, parts, stores } from "./lib/settings.js";
import { directBaselines } from "./scenarios/direct-baselines.js";
import { storeScenarios } from "./scenarios/store.js";
import { watchScenarios } from "./scenarios/watch.js";

async function main(): Promise<void> {
  const started = performance.now();
  mkdirSync(RESULTS_DIR, { recursive: true });
  const bench = new Bench();
  const stopOnSignal = () => void bench.stop().finally(() => process.exit(130));
  process.once("SIGINT", stopOnSignal);
  process.once("SIGTERM", stopOnSignal);
  try {
    await bench.start();
    if (parts.has("baselines")) await directBaselines(bench);
    for (const store of stores) {
      if (parts.has("main")) await storeScenarios(bench, store);
    }
    if (parts.has("watch")) bench.results.watch = await watchScenarios(bench);
  } finally {
    await bench.stop();
  }
  const results: BenchResults = { environment: benchEnvironment(PYTHON), ...bench.results };
  writeFileSync(join(RESULTS_DIR, "results.json"), `${JSON.stringify(results, null, 2)}\n`);
  const { out, summary } = await publish(results, RESULTS_DIR);
  process.stdout.write(`${summary}\n`);
  log(`done in ${Math.round((performance.now() - started) / 1000)} s; wrote ${out}`);
  const failed = [...results.rpcs, ...results.baselines, ...results.ghz, ...results.soak, ...results.latencyTriplets, ...(results.throughputRounds ?? []), ...(results.watch?.idleAppend.pairs ?? [])].filter(
    (m) => !m.verified,
  ).length;
  if (failed > 0) {
    log(`${failed} measurement(s) could not be verified: see the report`);
    process.exitCode = 1;
  }
}

await main();
