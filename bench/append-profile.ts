/**
 * One server build under a fixed number of Append calls (the ~200 B prose chat message, c=64,
 * h2load), for per-call profiles and Redis's own time per EVALSHA. Run it twice per build with
 * BENCH_CPU_PROFILE=1 and two call counts, then bench/profile-diff.ts subtracts the two profiles,
 * so start-up, filling and warm-up cancel out (bench/notes.md, sixth round).
 *
 *   BENCH_CPU_PROFILE=1 BENCH_RESULTS_DIR=/tmp/p node dist-bench/bench/append-profile.js <main.js> [calls (40000)]
 *
 * Prints one JSON line: calls/s, server and Redis CPU µs per call (process times), and Redis's
 * INFO commandstats line for evalsha (usec_per_call: Redis's own time per script call), and the
 * commands the script ran (calls and µs per call).
 */
import { resolve } from "node:path";
import { CHAT_MESSAGE } from "../test/helpers/token-texts.js";
import { Bench } from "./lib/bench.js";
import { runH2load } from "./lib/h2load.js";
import { cpuTimeUs } from "./lib/process-stats.js";
import { quiesce, shape } from "./lib/settings.js";
import { appendTarget } from "./scenarios/targets.js";

const [script, callsArg] = process.argv.slice(2);
if (!script) throw new Error("usage: append-profile.js <server main.js> [calls]");
const calls = Number(callsArg ?? 40_000);
const bench = new Bench();
await bench.start();
const server = await bench.startServer("redis", {}, resolve(script));
try {
  const target = await appendTarget(bench, server, "redis", { id: "profile-append", content: CHAT_MESSAGE });
  const { connections, streams } = shape(64);
  const url = `http://${server.address}${target.path}`;
  await runH2load({ url, framePath: target.framePath, connections, streams, requests: 10_000 });
  await quiesce(server.pid);
  await bench.redisClient.config("RESETSTAT");
  const serverBefore = cpuTimeUs(server.pid);
  const redisBefore = cpuTimeUs(bench.redisPid);
  const run = await runH2load({ url, framePath: target.framePath, connections, streams, requests: calls });
  const serverUs = (cpuTimeUs(server.pid) - serverBefore) / calls;
  const redisUs = (cpuTimeUs(bench.redisPid) - redisBefore) / calls;
  const commandstats = await bench.redisClient.info("commandstats");
  const evalsha = /^cmdstat_evalsha:.*$/m.exec(commandstats)?.[0];
  // The commands the script ran, each with its calls and Redis's own µs per call.
  const inside = [...commandstats.matchAll(/^cmdstat_(\w+(?:\|\w+)?):calls=(\d+),usec=\d+,usec_per_call=([\d.]+)/gm)]
    .filter((match) => match[1] !== "evalsha")
    .map((match) => `${match[1]} ${match[2]} × ${match[3]}`);
  process.stdout.write(`${JSON.stringify({ script, calls, succeeded: run.succeeded, rps: run.rps, serverUs, redisUs, evalsha, inside })}\n`);
} finally {
  await server.stop();
  await bench.stop();
}
