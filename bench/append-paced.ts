/**
 * Evenly paced Appends (one 200 B message each; at 1,000/s they rarely overlap, so each costs
 * what a c=1 call costs) against one server on a fresh Redis: where the server's CPU per Append
 * goes, and what the load generator itself costs on the same cores.
 *
 *   node dist-bench/bench/append-paced.js [rates (1000)] [seconds (10)] [generators (h2load,http2,client)] [rounds (1)]
 *
 * Generators: `h2load` (C, one connection, --rps, one conversation), and the Watch bench's writer
 * (bench/watch-load.ts, a forked Node process, round-robin over 1,000 conversations) as `http2`
 * (raw node:http2, pre-encoded requests) or `client` (the TypeScript client). Rate 0 measures the idle server (its "per Append" figures are per second). Measurements alternate between generators within each round. The
 * server's CPU is split by thread (/proc/<pid>/task: the JS main thread, V8's GC/compiler
 * helpers, libuv's pool). BENCH_SERVER_NODE_ARGS, BENCH_SERVER_ENV and BENCH_CPU_PROFILE work
 * as for run.js; AB_SERVER_SCRIPT_B names a second build measured interleaved with the first, and
 * AB_SERVER_NODE_ARGS_B gives it its own node flags (instead of BENCH_SERVER_NODE_ARGS). With
 * --trace-gc-nvp among a server's flags, each row also has its scavenges (bench/lib/gc-trace.ts).
 */
import { readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { Bench } from "./lib/bench.js";
import { GcTrace } from "./lib/gc-trace.js";
import { runH2load } from "./lib/h2load.js";
import { cpuTimeUs, runQueueWaitUs } from "./lib/process-stats.js";
import { SERVER_SCRIPT, log, quiesce } from "./lib/settings.js";
import { percentile, round } from "./lib/stats.js";
import { LoadProcess } from "./scenarios/watch.js";
import { appendTarget } from "./scenarios/targets.js";
import type { WriterReport, WriterRun } from "./watch-load.js";

const [ratesArg, secondsArg, generatorsArg, roundsArg] = process.argv.slice(2);
const rates = (ratesArg ?? "1000").split(",").map(Number);
const seconds = Number(secondsArg ?? 10);
const generators = (generatorsArg ?? "h2load,http2,client").split(",") as ("h2load" | "http2" | "client")[];
const rounds = Number(roundsArg ?? 1);
const scripts = [SERVER_SCRIPT, ...(process.env.AB_SERVER_SCRIPT_B ? [resolve(process.env.AB_SERVER_SCRIPT_B)] : [])];
const loadavg = () => readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");

/** CPU µs per thread name (the JS thread is the one named like the process, "node" or "MainThread"). */
function threadCpuUs(pid: number): Map<string, number> {
  const byName = new Map<string, number>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    let stat: string;
    try {
      stat = readFileSync(join(`/proc/${pid}/task`, tid, "stat"), "utf8");
    } catch {
      continue;
    }
    const name = tid === String(pid) ? "main" : stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")")).replace(/\d+$/, "#");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const us = ((Number(fields[11]) + Number(fields[12])) * 1_000_000) / 100;
    byName.set(name, (byName.get(name) ?? 0) + us);
  }
  return byName;
}

function diff(after: Map<string, number>, before: Map<string, number>, per: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, us] of after) {
    const delta = (us - (before.get(name) ?? 0)) / per;
    if (delta >= 0.5) out[name] = round(delta, 1);
  }
  return out;
}

const bench = new Bench();
await bench.start();
const servers = [];
try {
  for (const [index, script] of scripts.entries()) servers.push(await bench.startServer("redis", {}, script, index === 1 ? process.env.AB_SERVER_NODE_ARGS_B : undefined));
  const gcTraces = servers.map((server) => new GcTrace(server.child.stdout!));
  const targets = [];
  for (const server of servers) targets.push(await appendTarget(bench, server, "redis", { id: `paced-${server.pid}` }));
  const conversationIds = Array.from({ length: 1000 }, (_, i) => `paced-node-${i}`);
  for (let r = 1; r <= rounds; r++) {
    for (const rate of rates) {
      for (const generator of generators) {
        for (let s = 0; s < servers.length; s++) {
          const server = servers[s]!;
          const target = targets[s]!;
          const appends = Math.round(rate * seconds);
          await quiesce(server.pid);
          const load = loadavg();
          const threadsBefore = threadCpuUs(server.pid);
          const serverBefore = cpuTimeUs(server.pid);
          const redisBefore = cpuTimeUs(bench.redisPid);
          const waitBefore = runQueueWaitUs(server.pid);
          const gcFrom = gcTraces[s]!.mark();
          const started = performance.now();
          let done: number;
          let p50: number;
          let p99: number;
          let generatorUs: number;
          let elapsedS: number;
          if (rate === 0) {
            // Nothing sent: what the server and Redis use per second while idle (per "Append" = per second).
            await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
            done = seconds;
            p50 = p99 = generatorUs = 0;
            elapsedS = seconds;
          } else if (generator === "h2load") {
            const logFile = join(bench.workDir, "paced.log");
            const run = await runH2load({ url: `http://${server.address}${target.path}`, framePath: target.framePath, connections: 1, streams: 32, requests: appends, rps: rate, logFile });
            done = run.succeeded;
            p50 = run.p50Ms;
            p99 = run.p99Ms;
            generatorUs = run.generatorCpuUs;
            elapsedS = run.elapsedS;
          } else {
            const writer = new LoadProcess();
            try {
              const run: WriterRun = { type: "write", address: server.address, conversationIds, ratePerS: rate, durationS: seconds, via: generator };
              const written = await writer.request<WriterReport>(run);
              done = written.appends;
              const sorted = written.roundTripMs.filter((v) => !Number.isNaN(v)).sort();
              p50 = percentile(sorted, 50);
              p99 = percentile(sorted, 99);
              generatorUs = written.cpuUs;
              elapsedS = written.elapsedS;
            } finally {
              await writer.close();
            }
          }
          const wallS = (performance.now() - started) / 1000;
          const serverUs = cpuTimeUs(server.pid) - serverBefore;
          const redisUs = cpuTimeUs(bench.redisPid) - redisBefore;
          const row = {
            round: r,
            build: s === 0 ? "A" : "B",
            generator,
            rate,
            achieved: round(done / elapsedS, 1),
            roundTripMs: { p50: round(p50, 3), p99: round(p99, 3) },
            serverUsPerAppend: round(serverUs / done, 1),
            serverThreadsUsPerAppend: diff(threadCpuUs(server.pid), threadsBefore, done),
            redisUsPerAppend: round(redisUs / done, 1),
            generatorUsPerAppend: round(generatorUs / done, 1),
            serverWaitPercent: round(((runQueueWaitUs(server.pid) - waitBefore) / 1000 / (wallS * 1000)) * 100, 1),
            loadavg: `${load} -> ${loadavg()}`,
            ...(rate > 0 ? { gc: gcTraces[s]!.summary(gcFrom, elapsedS, done) } : {}),
          };
          log(JSON.stringify(row));
          process.stdout.write(`${JSON.stringify(row)}\n`);
        }
      }
    }
  }
} finally {
  for (const server of servers) await server.stop();
  await bench.stop();
}
