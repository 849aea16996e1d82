/**
 * A/B of two server builds through the real path: one redis-server, both servers running, and
 * h2load scenarios interleaved so that the shared machine's drift falls on both alike. Each
 * pair runs every scenario on both builds back to back, in the order A B on odd pairs and B A
 * on even ones; a ratio compares two measurements taken seconds apart.
 *
 *   npm run build:bench && node dist-bench/bench/ab.js <scriptA> <scriptB> [pairs (3)]
 *
 * Scenarios: Append and GetHistory(40) at c=64 (throughput), Append at c=1 (p50 latency).
 * BENCH_DURATION_S sets the seconds per measurement (after a 1 s warm-up). Prints the raw
 * numbers (and the server CPU per call) and the B/A ratios as JSON on stdout.
 */
import { resolve } from "node:path";
import type { ServerProcess } from "../test/helpers/server-process.js";
import { Bench, type Target } from "./lib/bench.js";
import type { RpcKind, RpcMeasurement } from "./lib/results.js";
import { log, settings } from "./lib/settings.js";
import { median, round } from "./lib/stats.js";
import { appendTarget, historyTarget } from "./scenarios/targets.js";

interface Scenario {
  name: string;
  rpc: RpcKind;
  concurrency: number;
  window?: number;
  /** The figure compared: rps (higher is better) or p50Ms (lower is better). */
  metric: "rps" | "p50Ms";
}

const SCENARIOS: Scenario[] = [
  { name: "Append c=64 rps", rpc: "append", concurrency: 64, metric: "rps" },
  { name: "GetHistory(40) c=64 rps", rpc: "history", concurrency: 64, window: 40, metric: "rps" },
  { name: "Append c=1 p50 ms", rpc: "append", concurrency: 1, metric: "p50Ms" },
];

async function main(): Promise<void> {
  const [scriptA, scriptB, pairsArg] = process.argv.slice(2);
  if (!scriptA || !scriptB) throw new Error("usage: ab.js <scriptA> <scriptB> [pairs]");
  const pairs = Number(pairsArg ?? 3);
  const bench = new Bench();
  const servers: Record<"A" | "B", ServerProcess | undefined> = { A: undefined, B: undefined };
  const rows: { pair: number; scenario: string; A: number; B: number; ratio: number; cpuUsA: number; cpuUsB: number; verified: boolean }[] = [];
  try {
    await bench.start();
    servers.A = await bench.startServer("redis", {}, resolve(scriptA));
    servers.B = await bench.startServer("redis", {}, resolve(scriptB));
    const targets: Record<string, Target> = {
      append: await appendTarget(bench, servers.A, "redis"),
      history: await historyTarget(bench, servers.A, "redis", 40),
    };
    const durationS = settings.durationS;
    for (let pair = 1; pair <= pairs; pair++) {
      const order = pair % 2 === 1 ? (["A", "B"] as const) : (["B", "A"] as const);
      for (const scenario of SCENARIOS) {
        const measured: Partial<Record<"A" | "B", RpcMeasurement>> = {};
        for (const variant of order) {
          const server = servers[variant] as ServerProcess;
          measured[variant] = await bench.measure(server, "redis", scenario.rpc, targets[scenario.rpc] as Target, scenario.concurrency, scenario.window, { durationS });
        }
        const a = (measured.A as RpcMeasurement)[scenario.metric];
        const b = (measured.B as RpcMeasurement)[scenario.metric];
        const cpuUsA = (measured.A as RpcMeasurement).serverCpuUsPerRpc;
        const cpuUsB = (measured.B as RpcMeasurement).serverCpuUsPerRpc;
        const row = { pair, scenario: scenario.name, A: a, B: b, ratio: round(b / a, 3), cpuUsA, cpuUsB, verified: Boolean(measured.A?.verified && measured.B?.verified) };
        log(`pair ${pair} (${order.join(" ")}) ${scenario.name}: A ${a}, B ${b}, B/A ${row.ratio}; server CPU µs/call A ${cpuUsA}, B ${cpuUsB}${row.verified ? "" : " NOT VERIFIED"}`);
        rows.push(row);
      }
    }
  } finally {
    await servers.A?.stop();
    await servers.B?.stop();
    await bench.stop();
  }
  const medians = Object.fromEntries(SCENARIOS.map((s) => [s.name, median(rows.filter((r) => r.scenario === s.name).map((r) => r.ratio))]));
  process.stdout.write(`${JSON.stringify({ scriptA, scriptB, durationS: settings.durationS, rows, medianRatioBtoA: medians }, null, 2)}\n`);
  if (rows.some((r) => !r.verified)) process.exitCode = 1;
}

await main();
