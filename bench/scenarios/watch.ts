/**
 * Watch (issue 13), Redis store, each part against its own server process:
 *
 * - Fan-out: W watchers (forked watcher processes, TypeScript client) on one conversation, and W
 *   watchers each on its own conversation; a forked writer appends one message at a fixed rate
 *   (open loop), round-robin over the conversations. Latency = when a watcher received a message
 *   − when the writer got that Append's answer (and − when it sent it), same machine clock. Every
 *   watcher must get every acknowledged message once, in seq order, without a reset.
 * - Memory per idle watcher: the server's VmRSS (and V8 heap used, from its metrics endpoint)
 *   before and after opening N idle watchers, each on its own conversation (a hub and a Redis
 *   channel subscription each: the dearest kind).
 * - Append with idle watchers: Append at c=64 (h2load, verified as in the main table) without
 *   watchers (A) and with 100 idle watchers on other conversations (B), interleaved A B / B A.
 */
import { type ChildProcess, fork } from "node:child_process";
import { createServer } from "node:net";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { createChatMemoryClient, FLOW_CONTROL_WINDOW_BYTES } from "../../clients/typescript/src/index.js";
import type { ServerProcess } from "../../test/helpers/server-process.js";
import type { Bench } from "../lib/bench.js";
import { cpuTimeUs, memoryMiB, runQueueWaitUs } from "../lib/process-stats.js";
import { commandDelta, commandStats } from "../lib/redis-stats.js";
import type { WatchFanout, WatchIdleAppendPair, WatchLatency, WatchMemory, WatchResults } from "../lib/results.js";
import { log, quiesce, settings, splitNodeArgs } from "../lib/settings.js";
import { median, percentile, round } from "../lib/stats.js";
import type { WatchersOpen, WatchersReport, WriterReport, WriterRun } from "../watch-load.js";
import { appendTarget } from "./targets.js";

const WATCH_LOAD = fileURLToPath(new URL("../watch-load.js", import.meta.url));

function envNumbers(name: string, fallback: number[]): number[] {
  const raw = process.env[name];
  if (raw === undefined) return fallback;
  if (raw.trim() === "") return [];
  return raw.split(",").map((item) => {
    const value = Number(item);
    if (!Number.isFinite(value) || value < 0) throw new Error(`${name}: ${item} is not a number >= 0`);
    return value;
  });
}

/** BENCH_WATCH_* knobs (listed in bench/run.ts). */
export const watchSettings = {
  seconds: envNumbers("BENCH_WATCH_S", [10])[0] ?? 0,
  /** A run's seconds are cut so that watchers × Appends stays within this (the watcher processes' CPU bounds them). */
  maxDeliveries: envNumbers("BENCH_WATCH_MAX_DELIVERIES", [1_000_000])[0] ?? 0,
  watchers: envNumbers("BENCH_WATCH_WATCHERS", [1000])[0] ?? 0,
  oneRates: envNumbers("BENCH_WATCH_ONE_RATES", [1000, 100, 10]),
  manyRate: envNumbers("BENCH_WATCH_MANY_RATE", [1000])[0] ?? 0,
  idle: envNumbers("BENCH_WATCH_IDLE", [1000, 5000]),
  pairs: envNumbers("BENCH_WATCH_PAIRS", [5])[0] ?? 0,
  processes: Math.max(1, envNumbers("BENCH_WATCH_PROCESSES", [2])[0] ?? 2),
  /** Server replicas (one Redis) for an extra one-conversation run after each single-server one: watcher process p watches through replica p mod n. */
  replicas: Math.max(1, envNumbers("BENCH_WATCH_REPLICAS", [1])[0] ?? 1),
  /** How the load processes speak gRPC: raw HTTP/2 (default: cheap, so they leave the CPU to the server) or the TypeScript client. */
  via: (process.env.BENCH_WATCH_VIA === "client" ? "client" : "http2") as "http2" | "client",
  /** Node flags for the load processes (writer, watchers), e.g. "--max-semi-space-size=4": their own GC pauses count in the latencies. */
  loadNodeArgs: process.env.BENCH_WATCH_LOAD_NODE_ARGS ?? "",
  /** The watcher connections' HTTP/2 receive window: the TypeScript client's default, or e.g. 65535 (HTTP/2's and grpc-js's own). */
  windowBytes: envNumbers("BENCH_WATCH_WINDOW", [FLOW_CONTROL_WINDOW_BYTES])[0] ?? FLOW_CONTROL_WINDOW_BYTES,
};

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const loadavg = () => readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).map(Number);

/** A forked bench/watch-load.js, spoken to one request at a time. */
export class LoadProcess {
  readonly #child: ChildProcess;
  get pid(): number {
    return this.#child.pid ?? -1;
  }
  readonly #exited: Promise<void>;
  #waiting: { resolve: (message: unknown) => void; reject: (error: Error) => void } | undefined;

  constructor() {
    this.#child = fork(WATCH_LOAD, [], {
      serialization: "advanced",
      stdio: ["ignore", "inherit", "inherit", "ipc"],
      execArgv: [...process.execArgv, ...splitNodeArgs(watchSettings.loadNodeArgs)],
    });
    this.#exited = new Promise((resolve) => this.#child.once("exit", () => resolve()));
    this.#child.on("message", (message: { type: string; message?: string }) => {
      const waiting = this.#waiting;
      this.#waiting = undefined;
      if (message.type === "error") waiting?.reject(new Error(`watch-load: ${message.message}`));
      else waiting?.resolve(message);
    });
    this.#child.once("exit", (code) => this.#waiting?.reject(new Error(`watch-load exited with ${code}`)));
  }

  request<T>(message: unknown): Promise<T> {
    if (this.#waiting) throw new Error("one request at a time");
    return new Promise<T>((resolve, reject) => {
      this.#waiting = { resolve: resolve as (message: unknown) => void, reject };
      this.#child.send(message as object);
    });
  }

  async close(): Promise<void> {
    if (this.#child.connected) this.#child.send({ type: "close" });
    const timer = setTimeout(() => this.#child.kill("SIGKILL"), 10_000);
    await this.#exited;
    clearTimeout(timer);
  }
}

/** Opens `conversationIds.length` watchers over `processes` forked processes (process p through address p mod n); resolves once all watch. */
async function openWatchers(address: string | string[], conversationIds: string[], processes: number, capacity = 0): Promise<LoadProcess[]> {
  const addresses = typeof address === "string" ? [address] : address;
  const per = Math.ceil(conversationIds.length / processes);
  const loads: LoadProcess[] = [];
  try {
    await Promise.all(
      Array.from({ length: processes }, async (_, p) => {
        const ids = conversationIds.slice(p * per, (p + 1) * per);
        if (ids.length === 0) return;
        const load = new LoadProcess();
        loads.push(load);
        const open: WatchersOpen = { type: "open", address: addresses[p % addresses.length] as string, conversationIds: ids, capacity, perConnection: 250, via: watchSettings.via, windowBytes: watchSettings.windowBytes };
        await load.request(open);
      }),
    );
  } catch (error: unknown) {
    await Promise.all(loads.map((load) => load.close()));
    throw error;
  }
  return loads;
}

function latency(values: Float64Array): WatchLatency {
  const sorted = values.sort();
  let negative = 0;
  for (const value of sorted) if (value < 0) negative++;
  return {
    p50Ms: round(percentile(sorted, 50), 3),
    p99Ms: round(percentile(sorted, 99), 3),
    maxMs: round(sorted.at(-1) ?? Number.NaN, 3),
    minMs: round(sorted[0] ?? Number.NaN, 3),
    negative,
  };
}

function concat(arrays: Float64Array[]): Float64Array {
  const out = new Float64Array(arrays.reduce((sum, a) => sum + a.length, 0));
  let offset = 0;
  for (const a of arrays) {
    out.set(a, offset);
    offset += a.length;
  }
  return out;
}

/** One fan-out run: `watchers` watchers over `conversations` conversations, Appends at `ratePerS` for `seconds`. */
export async function watchFanout(
  bench: Bench,
  server: ServerProcess,
  options: { name: string; tag: string; watchers: number; conversations: number; ratePerS: number; seconds: number; processes: number; replicas?: ServerProcess[] },
): Promise<WatchFanout> {
  // The writer appends through `server`; watchers watch through it and the replicas, spread by process.
  const servers = [server, ...(options.replicas ?? [])];
  const conversationIds = Array.from({ length: options.conversations }, (_, c) => `bench-watch-${options.tag}-${c}`);
  const watcherIds = Array.from({ length: options.watchers }, (_, w) => conversationIds[w % conversationIds.length] as string);
  const appends = Math.round(options.ratePerS * options.seconds);
  const capacity = Math.ceil(appends / options.conversations) + 1;
  const loads = await openWatchers(servers.map((s) => s.address), watcherIds, options.processes, capacity);
  const writer = new LoadProcess();
  try {
    for (const s of servers) await quiesce(s.pid);
    const loadBefore = loadavg();
    const statsBefore = await commandStats(bench.redisClient);
    const cpuBefore = servers.map((s) => cpuTimeUs(s.pid));
    const pids = [server.pid, writer.pid, ...loads.map((load) => load.pid)];
    const waitBefore = pids.map(runQueueWaitUs);
    const started = performance.now();
    const run: WriterRun = { type: "write", address: server.address, conversationIds, ratePerS: options.ratePerS, durationS: options.seconds, via: watchSettings.via };
    const written = await writer.request<WriterReport>(run);
    const writtenAt = performance.now();
    // Expected deliveries: each watcher gets every acknowledged Append of its conversation.
    const acked = new Array<number>(options.conversations).fill(0);
    for (let i = 0; i < written.conversation.length; i++) if (!Number.isNaN(written.ackAt[i] as number)) acked[written.conversation[i] as number]!++;
    const expected = watcherIds.reduce((sum, _, w) => sum + (acked[w % options.conversations] as number), 0);
    let received = 0;
    let lastProgress = performance.now();
    // Until every message arrived, nothing arrived for 5 s (dropped: a reset, a lost stream), or 60 s passed.
    while (received < expected && performance.now() - lastProgress < 5000 && performance.now() - writtenAt < 60_000) {
      await sleep(100);
      const now = (await Promise.all(loads.map((load) => load.request<{ received: number }>({ type: "progress" })))).reduce((sum, p) => sum + p.received, 0);
      if (now > received) lastProgress = performance.now();
      received = now;
    }
    const deliveredAt = performance.now();
    const cpuPerServerUs = servers.map((s, i) => cpuTimeUs(s.pid) - (cpuBefore[i] as number));
    const serverCpuUs = cpuPerServerUs.reduce((sum, us) => sum + us, 0);
    const waited = pids.map((pid, i) => runQueueWaitUs(pid) - (waitBefore[i] as number));
    const loadAfter = loadavg();
    const statsAfter = await commandStats(bench.redisClient);
    const scriptCalls = ["evalsha", "eval", "evalsha_ro", "eval_ro"].reduce((sum, command) => sum + commandDelta(statsBefore, statsAfter, command).calls, 0);

    const times: Record<string, { ackAt: Float64Array; sentAt: Float64Array }> = {};
    for (const id of conversationIds) times[id] = { ackAt: new Float64Array(capacity).fill(Number.NaN), sentAt: new Float64Array(capacity).fill(Number.NaN) };
    for (let i = 0; i < written.conversation.length; i++) {
      const seq = written.seq[i] as number;
      if (Number.isNaN(seq) || seq > capacity) continue;
      const entry = times[conversationIds[written.conversation[i] as number] as string] as { ackAt: Float64Array; sentAt: Float64Array };
      entry.ackAt[seq - 1] = written.ackAt[i] as number;
      entry.sentAt[seq - 1] = written.sentAt[i] as number;
    }
    const reports: WatchersReport[] = [];
    for (const load of loads) reports.push(await load.request<WatchersReport>({ type: "finish", times }));
    const sum = (pick: (r: WatchersReport) => number) => reports.reduce((total, r) => total + pick(r), 0);
    const result: WatchFanout = {
      name: options.name,
      watchers: options.watchers,
      conversations: options.conversations,
      ratePerS: options.ratePerS,
      seconds: options.seconds,
      appends: written.appends,
      appendFailures: written.failures,
      achievedRatePerS: round(written.appends / written.elapsedS, 1),
      appendRoundTrip: latency(written.roundTripMs.filter((v) => !Number.isNaN(v))),
      expected: sum((r) => r.expected),
      received: sum((r) => r.received),
      missing: sum((r) => r.missing),
      gaps: sum((r) => r.gaps),
      duplicates: sum((r) => r.duplicates),
      resets: sum((r) => r.resets),
      streamErrors: sum((r) => r.streamErrors),
      perWatcherMin: reports.length === 0 ? 0 : Math.min(...reports.map((r) => r.perWatcherMin)),
      perWatcherMax: reports.length === 0 ? 0 : Math.max(...reports.map((r) => r.perWatcherMax)),
      fromAck: latency(concat(reports.map((r) => r.fromAckMs))),
      fromSent: latency(concat(reports.map((r) => r.fromSentMs))),
      redisScriptCallsPerAppend: round(scriptCalls / Math.max(1, written.appends), 2),
      deliveredAfterLastAckS: round((deliveredAt - writtenAt) / 1000, 2),
      serverCpuPercent: round((serverCpuUs / 1000 / (deliveredAt - started)) * 100, 0),
      watcherCpuPercent: round((sum((r) => r.cpuUs) / 1000 / (deliveredAt - started)) * 100, 0),
      serverCpuUsPerDelivery: sum((r) => r.received) === 0 ? Number.NaN : round(serverCpuUs / sum((r) => r.received), 2),
      serverCpuUsPerAppend: round(serverCpuUs / Math.max(1, written.appends), 1),
      ...(servers.length > 1 ? { serverCpuPercentPerReplica: cpuPerServerUs.map((us) => round((us / 1000 / (deliveredAt - started)) * 100, 0)) } : {}),
      // Runnable but not running: the share of the run each process spent waiting for a CPU.
      runQueueWaitPercent: {
        server: round(((waited[0] as number) / 1000 / (deliveredAt - started)) * 100, 0),
        writer: round(((waited[1] as number) / 1000 / (deliveredAt - started)) * 100, 0),
        watchers: waited.slice(2).map((us) => round((us / 1000 / (deliveredAt - started)) * 100, 0)),
      },
      loadavgBefore: loadBefore,
      loadavgAfter: loadAfter,
      verified: false,
    };
    // Every watcher got every Append of its conversation, once, in order, without a reset.
    result.verified =
      result.appendFailures === 0 &&
      result.missing === 0 &&
      result.gaps === 0 &&
      result.duplicates === 0 &&
      result.resets === 0 &&
      result.streamErrors === 0 &&
      result.expected === (options.watchers * appends) / options.conversations &&
      result.perWatcherMin === result.perWatcherMax;
    const wait = result.runQueueWaitPercent ?? { server: 0, writer: 0, watchers: [] };
    log(
      `watch ${options.name} at ${options.ratePerS}/s: ${result.received}/${result.expected} received (${result.missing} missing, ${result.gaps} gaps, ${result.duplicates} dups, ${result.resets} resets, ${result.streamErrors} errors); ` +
        `from ack p50 ${result.fromAck.p50Ms} p99 ${result.fromAck.p99Ms} max ${result.fromAck.maxMs} ms; from send p50 ${result.fromSent.p50Ms} p99 ${result.fromSent.p99Ms} ms; server ${result.serverCpuPercent}% CPU${result.serverCpuPercentPerReplica ? ` (replicas ${result.serverCpuPercentPerReplica.join("/")}%)` : ""} (${result.serverCpuUsPerAppend} µs per Append, ${result.serverCpuUsPerDelivery} per delivery), watcher processes ${result.watcherCpuPercent}%; Redis script calls per Append ${result.redisScriptCallsPerAppend}; waiting for a CPU: server ${wait.server}%, writer ${wait.writer}%, watchers ${wait.watchers.join("/")}%; load ${loadBefore.join(" ")}${result.verified ? "" : " NOT VERIFIED"}`,
    );
    return result;
  } finally {
    await writer.close();
    await Promise.all(loads.map((load) => load.close()));
  }
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}

async function heapUsedMiB(metricsUrl: string): Promise<number> {
  const text = await (await fetch(metricsUrl)).text();
  const match = /^nodejs_heap_size_used_bytes(?:\{[^}]*\})? (\d+(?:\.\d+)?)/m.exec(text);
  return match ? Number(match[1]) / 2 ** 20 : Number.NaN;
}

/** Server RSS and heap with 0, then each of `steps` idle watchers open (one conversation each), on a fresh server. */
export async function idleWatcherMemory(bench: Bench, steps: number[], processes: number): Promise<WatchMemory[]> {
  const metricsPort = await freePort();
  const metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;
  const server = await bench.startServer("redis", { CHATMEMORY_METRICS_LISTEN: `127.0.0.1:${metricsPort}` });
  const loads: LoadProcess[] = [];
  const rows: WatchMemory[] = [];
  try {
    // Warm the watch path (code, the subscriber connection), then measure from there.
    const warm = await openWatchers(server.address, Array.from({ length: 100 }, (_, i) => `bench-watch-warm-${i}`), 1);
    await Promise.all(warm.map((load) => load.close()));
    const sample = async () => {
      await sleep(2000);
      await quiesce(server.pid);
      return { rssMiB: memoryMiB(server.pid).rssMiB, heapMiB: await heapUsedMiB(metricsUrl) };
    };
    const base = await sample();
    let previous = { watchers: 0, ...base };
    for (const total of steps) {
      const more = total - previous.watchers;
      if (more <= 0) continue;
      const ids = Array.from({ length: more }, (_, i) => `bench-watch-idle-${previous.watchers + i}`);
      loads.push(...(await openWatchers(server.address, ids, processes)));
      const now = await sample();
      const row: WatchMemory = {
        watchers: total,
        rssBeforeMiB: round(base.rssMiB, 1),
        rssAfterMiB: round(now.rssMiB, 1),
        kibPerWatcher: round(((now.rssMiB - base.rssMiB) * 1024) / total, 1),
        marginalKibPerWatcher: round(((now.rssMiB - previous.rssMiB) * 1024) / more, 1),
        heapBeforeMiB: round(base.heapMiB, 1),
        heapAfterMiB: round(now.heapMiB, 1),
        heapKibPerWatcher: round(((now.heapMiB - base.heapMiB) * 1024) / total, 1),
        loadavg: loadavg(),
      };
      log(`watch memory: ${total} idle watchers, RSS ${row.rssBeforeMiB} → ${row.rssAfterMiB} MiB (${row.kibPerWatcher} KiB each, ${row.marginalKibPerWatcher} KiB for the last ${more}); heap ${row.heapBeforeMiB} → ${row.heapAfterMiB} MiB (${row.heapKibPerWatcher} KiB each)`);
      rows.push(row);
      previous = { watchers: total, ...now };
    }
    return rows;
  } finally {
    await Promise.all(loads.map((load) => load.close()));
    await server.stop();
  }
}

/** Append c=64 without (A) and with `watchers` idle watchers on other conversations (B), in interleaved pairs. */
export async function appendWithIdleWatchers(bench: Bench, server: ServerProcess, watchers: number, pairs: number): Promise<WatchIdleAppendPair[]> {
  const target = await appendTarget(bench, server, "redis", { id: "bench-watch-append" });
  const ids = Array.from({ length: watchers }, (_, i) => `bench-watch-ab-idle-${i}`);
  const rows: WatchIdleAppendPair[] = [];
  for (let pair = 1; pair <= pairs; pair++) {
    const order = pair % 2 === 1 ? (["without", "with"] as const) : (["with", "without"] as const);
    const measured: Partial<Record<"with" | "without", { rps: number; cpuUs: number; verified: boolean }>> = {};
    for (const variant of order) {
      const loads = variant === "with" ? await openWatchers(server.address, ids, 1) : [];
      try {
        const m = await bench.measure(server, "redis", "append", target, 64, undefined, { durationS: settings.durationS });
        measured[variant] = { rps: m.rps, cpuUs: m.serverCpuUsPerRpc, verified: m.verified };
      } finally {
        await Promise.all(loads.map((load) => load.close()));
      }
    }
    const a = measured.without as { rps: number; cpuUs: number; verified: boolean };
    const b = measured.with as { rps: number; cpuUs: number; verified: boolean };
    const row: WatchIdleAppendPair = {
      pair,
      order: order.join(" "),
      withoutRps: a.rps,
      withRps: b.rps,
      ratio: round(b.rps / a.rps, 3),
      cpuUsWithout: a.cpuUs,
      cpuUsWith: b.cpuUs,
      loadavg: loadavg(),
      verified: a.verified && b.verified,
    };
    log(`watch idle A/B pair ${pair} (${row.order}): Append c=64 without ${row.withoutRps}/s, with ${watchers} idle watchers ${row.withRps}/s, ratio ${row.ratio}`);
    rows.push(row);
  }
  return rows;
}

export async function watchScenarios(bench: Bench): Promise<WatchResults> {
  const s = watchSettings;
  const secondsAt = (rate: number) => Math.min(s.seconds, s.maxDeliveries / Math.max(1, s.watchers * rate));
  const results: WatchResults = {
    date: new Date().toISOString(),
    settings: { ...s },
    fanout: [],
    memory: [],
    idleAppend: { watchers: 100, concurrency: 64, pairs: [], medianRatio: Number.NaN, ratioOfMedians: Number.NaN, medianCpuRatio: Number.NaN },
  };
  if (s.idle.length > 0) results.memory = await idleWatcherMemory(bench, s.idle, s.processes);
  const server = await bench.startServer("redis");
  const replicas: ServerProcess[] = [];
  try {
    for (let r = 1; r < s.replicas && s.oneRates.length > 0; r++) replicas.push(await bench.startServer("redis"));
    if (s.watchers > 0 && s.seconds > 0) {
      const many = { name: `${s.watchers} watchers, one conversation each`, tag: "many", watchers: s.watchers, conversations: s.watchers, ratePerS: s.manyRate, seconds: secondsAt(s.manyRate / s.watchers), processes: s.processes };
      if (s.manyRate > 0) {
        // The same Appends with nobody watching: what the writer's round trip and the server's CPU are without Watch.
        results.fanout.push(await watchFanout(bench, server, { ...many, name: `no watchers (${s.watchers} conversations)`, tag: "none", watchers: 0 }));
        results.fanout.push(await watchFanout(bench, server, many));
      }
      for (const rate of s.oneRates) {
        const one = { name: `${s.watchers} watchers on one conversation`, tag: `one-${rate}`, watchers: s.watchers, conversations: 1, ratePerS: rate, seconds: secondsAt(rate), processes: s.processes };
        results.fanout.push(await watchFanout(bench, server, one));
        if (replicas.length > 0) {
          const spread = { ...one, name: `${s.watchers} watchers on one conversation over ${s.replicas} replicas`, tag: `one-${rate}-replicas`, replicas };
          results.fanout.push(await watchFanout(bench, server, spread));
        }
      }
    }
    if (s.pairs > 0) {
      const pairs = await appendWithIdleWatchers(bench, server, results.idleAppend.watchers, s.pairs);
      results.idleAppend.pairs = pairs;
      results.idleAppend.medianRatio = median(pairs.map((p) => p.ratio));
      results.idleAppend.ratioOfMedians = round(median(pairs.map((p) => p.withRps)) / median(pairs.map((p) => p.withoutRps)), 3);
      // Server CPU per call without ÷ with: the same comparison, less moved by the neighbours than calls/s.
      results.idleAppend.medianCpuRatio = round(median(pairs.map((p) => p.cpuUsWithout / p.cpuUsWith)), 3);
    }
  } finally {
    await Promise.all([server, ...replicas].map((s) => s.stop()));
  }
  return results;
}
