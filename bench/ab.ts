/**
 * A/B through the real path: one redis-server, the server(s) running, and h2load scenarios
 * interleaved so that the shared machine's drift falls on both alike. Each pair runs every
 * scenario on A and B back to back, in the order A B on odd pairs and B A on even ones; a ratio
 * compares two measurements taken seconds apart.
 *
 *   npm run build:bench
 *   node dist-bench/bench/ab.js <scriptA> <scriptB> [pairs (3)]       two builds (AB_SET builds, issue12-append)
 *   AB_SET=issue12-history node dist-bench/bench/ab.js <script> [pairs]  one build, two requests
 *   AB_SET=tracing node dist-bench/bench/ab.js <script> [pairs]          one build, two servers (tracing off, on)
 *
 * A script is a server build's main.js (e.g. dist/src/main.js, or another worktree's). The sets
 * (bench/scenarios/ab-sets.ts, AB_SET):
 *   builds (default)   Append (200 × "x") and GetHistory(40) at c=64 (calls/s), Append at c=1 (p50)
 *   issue12-append     Append of a ~200 B prose chat message at c=64 (calls/s) and c=1 (p50)
 *   issue12-history    GetHistory limit 40 (A) vs limit 40 + max_tokens keeping the newest
 *                      AB_KEEP_MESSAGES (default 30) of 40 (B), c=64 (calls/s)
 *   tracing            Append of that message, c=64 (calls/s) and c=1 (p50): OpenTelemetry off (A)
 *                      vs on (B), exporting to a local OTLP sink that discards
 * Environment: BENCH_DURATION_S, seconds per measurement (default 8, after a 1 s warm-up);
 * AB_ONLY, run only the set's scenarios whose name contains it (e.g. "c=64");
 * BENCH_SERVER_ENV and BENCH_SERVER_NODE_ARGS (e.g. "--cpu-prof --cpu-prof-dir=/tmp/p") as in
 * bench/run.ts, for every server started (AB_SERVER_NODE_ARGS_B replaces the latter for B, to compare
 * node flags); BENCH_CPU_PROFILE=1 writes profiles to
 * bench/results/profiles (or BENCH_RESULTS_DIR). Servers run with CHATMEMORY_MAX_TURNS=500.
 *
 * Every call is verified as in the main benchmark (h2load's count of successes, the exact DATA
 * bytes of the expected responses, so no call ended with a non-OK grpc-status, and Redis's own
 * command counter). Prints the raw numbers (and the server CPU per call) and the B/A ratios as
 * JSON on stdout; exits 1 if any measurement failed verification.
 */
import { resolve } from "node:path";
import type { ServerProcess } from "../test/helpers/server-process.js";
import { Bench } from "./lib/bench.js";
import type { RpcMeasurement } from "./lib/results.js";
import { log, settings } from "./lib/settings.js";
import { median, round } from "./lib/stats.js";
import { AB_SETS, type AbScenario, type AbSetup, type Variant } from "./scenarios/ab-sets.js";

interface Row {
  pair: number;
  order: string;
  scenario: string;
  A: number;
  B: number;
  ratio: number;
  cpuUsA: number;
  cpuUsB: number;
  cpuRatio: number;
  redisCpuUsA: number;
  redisCpuUsB: number;
  verified: boolean;
}

async function main(): Promise<void> {
  const setName = process.env.AB_SET ?? "builds";
  const set = AB_SETS[setName];
  if (!set) throw new Error(`AB_SET must be one of ${Object.keys(AB_SETS).join(", ")}, got ${setName}`);
  const args = process.argv.slice(2);
  const oneScript = set.oneBuild || set.oneScript === true;
  const [scriptA, scriptB, pairsArg] = oneScript ? [args[0], args[0], args[1]] : args;
  if (!scriptA || !scriptB) throw new Error(oneScript ? "usage: AB_SET=<set> ab.js <script> [pairs]" : "usage: ab.js <scriptA> <scriptB> [pairs]");
  const pairs = Number(pairsArg ?? 3);
  const variants = set.describe(scriptA, scriptB);
  log(`set ${setName}: A = ${variants.A}; B = ${variants.B}; ${pairs} pairs, ${settings.durationS} s each`);
  const bench = new Bench();
  let serverA: ServerProcess | undefined;
  let serverB: ServerProcess | undefined;
  const rows: Row[] = [];
  let scenarios: AbScenario[] = [];
  let setup: AbSetup | undefined;
  try {
    await bench.start();
    setup = await set.setup?.();
    serverA = await bench.startServer("redis", setup?.env.A ?? {}, resolve(scriptA));
    serverB = set.oneBuild ? serverA : await bench.startServer("redis", setup?.env.B ?? {}, resolve(scriptB), process.env.AB_SERVER_NODE_ARGS_B);
    const servers: Record<Variant, ServerProcess> = { A: serverA, B: serverB };
    const only = process.env.AB_ONLY;
    scenarios = (await set.scenarios(bench, servers)).filter((s) => only === undefined || s.name.includes(only));
    if (scenarios.length === 0) throw new Error(`AB_ONLY=${only} matches no scenario of ${setName}`);
    for (let pair = 1; pair <= pairs; pair++) {
      const order: Variant[] = pair % 2 === 1 ? ["A", "B"] : ["B", "A"];
      for (const scenario of scenarios) {
        const measured: Partial<Record<Variant, RpcMeasurement>> = {};
        for (const variant of order) {
          measured[variant] = await bench.measure(servers[variant], "redis", scenario.rpc, scenario.target[variant], scenario.concurrency, scenario.window, {
            durationS: settings.durationS,
          });
        }
        const mA = measured.A as RpcMeasurement;
        const mB = measured.B as RpcMeasurement;
        const row: Row = {
          pair,
          order: order.join(" "),
          scenario: scenario.name,
          A: mA[scenario.metric],
          B: mB[scenario.metric],
          ratio: round(mB[scenario.metric] / mA[scenario.metric], 3),
          cpuUsA: mA.serverCpuUsPerRpc,
          cpuUsB: mB.serverCpuUsPerRpc,
          cpuRatio: round(mB.serverCpuUsPerRpc / mA.serverCpuUsPerRpc, 3),
          redisCpuUsA: mA.redisCpuUsPerRpc,
          redisCpuUsB: mB.redisCpuUsPerRpc,
          verified: mA.verified && mB.verified,
        };
        log(`pair ${pair} (${row.order}) ${scenario.name}: A ${row.A}, B ${row.B}, B/A ${row.ratio}; server CPU µs/call A ${row.cpuUsA}, B ${row.cpuUsB}; Redis A ${row.redisCpuUsA}, B ${row.redisCpuUsB}${row.verified ? "" : " NOT VERIFIED"}`);
        rows.push(row);
      }
    }
  } finally {
    await serverA?.stop();
    if (serverB !== serverA) await serverB?.stop();
    // After the servers stopped: their last exports are in.
    if (setup) log(setup.report());
    await setup?.close();
    await bench.stop();
  }
  const of = (name: string) => rows.filter((r) => r.scenario === name);
  const summary = Object.fromEntries(
    scenarios.map((s) => [
      s.name,
      {
        medianRatioBtoA: median(of(s.name).map((r) => r.ratio)),
        medianA: median(of(s.name).map((r) => r.A)),
        medianB: median(of(s.name).map((r) => r.B)),
        medianCpuUsA: median(of(s.name).map((r) => r.cpuUsA)),
        medianCpuUsB: median(of(s.name).map((r) => r.cpuUsB)),
        medianCpuRatioBtoA: median(of(s.name).map((r) => r.cpuRatio)),
        medianRedisCpuUsA: median(of(s.name).map((r) => r.redisCpuUsA)),
        medianRedisCpuUsB: median(of(s.name).map((r) => r.redisCpuUsB)),
      },
    ]),
  );
  process.stdout.write(`${JSON.stringify({ set: setName, A: variants.A, B: variants.B, durationS: settings.durationS, rows, summary }, null, 2)}\n`);
  if (rows.some((r) => !r.verified)) process.exitCode = 1;
}

await main();
