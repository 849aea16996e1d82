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
 *   BENCH_PARTS [main,baselines,ghz,memory,soak]
 *   BENCH_RPCS [ceiling,append,history]  which RPCs the main scenarios measure
 *   BENCH_RESULTS_DIR [bench/results]  results.json, the plot and profiles
 *   BENCH_CPU_PROFILE [unset]  1 = servers run with --cpu-prof into <results dir>/profiles/
 *                              (summarize with dist-bench/bench/profile-summary.js)
 *   BENCH_SERVER_ENV [unset]   extra server settings, e.g. "CHATMEMORY_REDIS_CONNECTIONS=2"
 *   BENCH_SERVER_NODE_ARGS [unset]  node flags for the server, e.g. "--max-semi-space-size=32"
 *   BENCH_SERVER_SCRIPT [dist/src/main.js]  another build of the server, for A/B comparisons
 *   BENCH_OUT [BENCHMARKS.md]  the report (its notes come from bench/notes.md)
 */
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { create, toBinary } from "@bufbuild/protobuf";
import { Redis } from "ioredis";
import {
  AppendRequestSchema,
  AppendResponseSchema,
  GetHistoryRequestSchema,
  GetHistoryResponseSchema,
} from "../gen/ts/chatmemory/v1/chatmemory_pb.js";
import {
  HealthCheckRequestSchema,
  HealthCheckResponse_ServingStatus,
  HealthCheckResponseSchema,
} from "../gen/ts/health/v1/health_pb.js";
import { createChatMemoryClient } from "../src/client.js";
import { encodeStoredMessage } from "../src/store/message-codec.js";
import { RedisServerProcess } from "../test/helpers/redis-server.js";
import { MAIN_SCRIPT, type ServerProcess, startServerProcess } from "../test/helpers/server-process.js";
import { benchEnvironment } from "./lib/environment.js";
import { encodeFrame, responseFrameBytes } from "./lib/frames.js";
import { runGhz } from "./lib/ghz.js";
import { runH2load } from "./lib/h2load.js";
import { cpuTimeUs, memoryMiB } from "./lib/process-stats.js";
import { commandDelta, commandStats, redisPid, usedMemoryBytes } from "./lib/redis-stats.js";
import { publish } from "./lib/publish.js";
import type {
  BaselineMeasurement,
  BenchResults,
  BenchSettings,
  GhzMeasurement,
  LatencyTriplet,
  MemoryPerMessage,
  RoundScenario,
  RpcKind,
  ThroughputRound,
  RpcMeasurement,
  SoakSlice,
  StoreKind,
} from "./lib/results.js";
import { round } from "./lib/stats.js";
import { BENCH_MAX_TURNS, MESSAGE_CONTENT } from "./lib/workload.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const RESULTS_DIR = resolve(ROOT, process.env.BENCH_RESULTS_DIR ?? join("bench", "results"));
const PYTHON = join(ROOT, "bench", ".venv", "bin", "python");
const NODE_LOAD = fileURLToPath(new URL("./node-load.js", import.meta.url));
/** The built server; BENCH_SERVER_SCRIPT points at another build to compare two versions (A/B). */
const SERVER_SCRIPT = process.env.BENCH_SERVER_SCRIPT ?? MAIN_SCRIPT;
const FIXED_RESPONSE_SERVER = fileURLToPath(new URL("./fixed-response-server.js", import.meta.url));

function envNumber(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0) throw new Error(`${name} must be a number >= 0, got ${raw}`);
  return value;
}
function envList(name: string, fallback: string[]): string[] {
  const raw = process.env[name];
  if (raw === undefined) return fallback;
  return raw.trim() === "" ? [] : raw.split(",").map((item) => item.trim());
}

const settings: BenchSettings = {
  durationS: envNumber("BENCH_DURATION_S", 8),
  warmupS: envNumber("BENCH_WARMUP_S", 2),
  baselineS: envNumber("BENCH_BASELINE_S", 5),
  soakS: envNumber("BENCH_SOAK_S", 180),
  soakSliceS: envNumber("BENCH_SOAK_SLICE_S", 30),
  concurrencies: envList("BENCH_CONCURRENCY", ["1", "16", "64"]).map(Number),
  windows: envList("BENCH_WINDOWS", ["10", "40", "1000"]).map(Number),
  linearityWindows: envList("BENCH_LINEARITY_WINDOWS", ["100", "400"]).map(Number),
  command: "npm run bench",
};
const stores = envList("BENCH_STORES", ["redis", "memory"]) as StoreKind[];
const parts = new Set(envList("BENCH_PARTS", ["main", "baselines", "ghz", "memory", "soak"]));
const rpcs = new Set(envList("BENCH_RPCS", ["ceiling", "append", "history"]));
const profile = process.env.BENCH_CPU_PROFILE === "1";
/** Extra server settings, e.g. BENCH_SERVER_ENV="CHATMEMORY_REDIS_CONNECTIONS=2" to compare configurations. */
const extraServerEnv = Object.fromEntries(
  (process.env.BENCH_SERVER_ENV ?? "")
    .split(/\s+/)
    .filter((pair) => pair.includes("="))
    .map((pair) => [pair.slice(0, pair.indexOf("=")), pair.slice(pair.indexOf("=") + 1)]),
);

/**
 * Concurrency semantics for h2load: c in-flight calls = connections × streams.
 * c=1 is one connection with one stream; above that, 4 connections (four
 * caller replicas) multiplex c/4 streams each. Ceiling and RPCs use the same.
 */
function shape(concurrency: number): { connections: number; streams: number } {
  if (concurrency < 4) return { connections: 1, streams: concurrency };
  return { connections: 4, streams: Math.ceil(concurrency / 4) };
}

const log = (message: string) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);

interface Target {
  path: string;
  framePath: string;
  responseBytes: number;
  /** The Redis command each successful call runs exactly once (verification). */
  redisCommand?: string;
}

class Bench {
  readonly workDir = mkdtempSync(join(tmpdir(), "chatmemory-bench-"));
  readonly results: Omit<BenchResults, "environment"> = { settings, rpcs: [], baselines: [], ghz: [], soak: [], latencyTriplets: [] };
  redis!: RedisServerProcess;
  redisClient!: Redis;
  redisPid = 0;

  async start(): Promise<void> {
    this.redis = await RedisServerProcess.start();
    this.redisClient = new Redis(this.redis.url, { maxRetriesPerRequest: 1 });
    this.redisPid = await redisPid(this.redisClient);
    log(`redis-server on ${this.redis.url} (pid ${this.redisPid})`);
  }

  async stop(): Promise<void> {
    this.redisClient?.disconnect();
    await this.redis?.stop();
    rmSync(this.workDir, { recursive: true, force: true });
  }

  frame(name: string, bytes: Buffer): string {
    const path = join(this.workDir, `${name}.bin`);
    writeFileSync(path, bytes);
    return path;
  }

  async startServer(store: StoreKind, env: Record<string, string> = {}): Promise<ServerProcess> {
    env = { CHATMEMORY_MAX_TURNS: String(BENCH_MAX_TURNS), ...extraServerEnv, ...env };
    if (store === "redis") env.REDIS_URL = this.redis.url;
    const nodeArgs = [
      ...(process.env.BENCH_SERVER_NODE_ARGS ?? "").split(/\s+/).filter(Boolean),
      ...(profile ? ["--cpu-prof", `--cpu-prof-dir=${join(RESULTS_DIR, "profiles")}`, `--cpu-prof-name=server-${store}-${Date.now()}.cpuprofile`] : []),
    ];
    const server = await startServerProcess(env, [], { nodeArgs, script: SERVER_SCRIPT, echo: true, keepLogs: false });
    log(`server (${store} store) on ${server.address}, pid ${server.pid}`);
    return server;
  }

  /** Fills `conversationId` with exactly `messages` messages (batches of 100). */
  async fill(address: string, conversationId: string, messages: number): Promise<void> {
    const client = createChatMemoryClient({ address, defaultDeadlineMs: 30_000 });
    try {
      await client.clear({ conversationId });
      for (let done = 0; done < messages; done += 100) {
        const batch = Math.min(100, messages - done);
        await client.append({ conversationId, messages: Array.from({ length: batch }, () => ({ role: "user", content: MESSAGE_CONTENT })) });
      }
    } finally {
      client.close();
    }
  }

  async historyResponseBytes(address: string, conversationId: string): Promise<number> {
    const client = createChatMemoryClient({ address });
    try {
      const { messages } = await client.getHistory({ conversationId });
      return responseFrameBytes(GetHistoryResponseSchema, { messages });
    } finally {
      client.close();
    }
  }

  /** One h2load scenario: warm-up (calibrates n), then exactly n calls, sampled and verified. */
  async measure(
    server: ServerProcess,
    store: StoreKind,
    rpc: RpcKind,
    target: Target,
    concurrency: number,
    window?: number,
    /** For repeated short checks: a shorter run, not added to the main table. */
    repeat?: { durationS: number },
  ): Promise<RpcMeasurement> {
    const { connections, streams } = shape(concurrency);
    const url = `http://${server.address}${target.path}`;
    const durationS = repeat?.durationS ?? settings.durationS;
    const warm = await runH2load({ url, framePath: target.framePath, connections, streams, durationS: Math.max(1, repeat ? 1 : settings.warmupS) });
    const requests = Math.max(connections * streams * 20, Math.round(warm.rps * durationS));
    // h2load stops its warm-up with calls still in flight: let the server finish them first.
    await quiesce(server.pid);

    const statsBefore = await commandStats(this.redisClient);
    const serverCpuBefore = cpuTimeUs(server.pid);
    const redisCpuBefore = cpuTimeUs(this.redisPid);
    const run = await runH2load({ url, framePath: target.framePath, connections, streams, requests, logFile: join(this.workDir, "h2load.log") });
    const serverCpu = cpuTimeUs(server.pid) - serverCpuBefore;
    const redisCpu = cpuTimeUs(this.redisPid) - redisCpuBefore;
    const statsAfter = await commandStats(this.redisClient);

    const problems: string[] = [];
    if (run.succeeded !== requests || run.status2xx !== requests || run.notOk !== 0) {
      problems.push(`h2load: ${run.succeeded}/${requests} succeeded, ${run.status2xx} HTTP 2xx, ${run.notOk} failed`);
    }
    if (run.dataBytes !== requests * target.responseBytes) {
      const missing = requests - Math.floor(run.dataBytes / target.responseBytes);
      // A unary call that fails (e.g. UNAVAILABLE after the Redis command timeout under overload) has no DATA.
      problems.push(`${missing} of ${requests} calls returned no message (a non-OK grpc-status): DATA ${run.dataBytes} B != ${requests} × ${target.responseBytes} B`);
    }
    let verification = `${requests} calls, each a ${target.responseBytes} B response`;
    if (target.redisCommand) {
      const delta = commandDelta(statsBefore, statsAfter, target.redisCommand);
      if (delta.calls !== requests || delta.failedCalls !== 0) problems.push(`redis ${target.redisCommand}: ${delta.calls} calls (${delta.failedCalls} failed), expected ${requests}`);
      verification += `; redis ${target.redisCommand} +${delta.calls}`;
    }
    const measurement: RpcMeasurement = {
      store,
      rpc,
      ...(window === undefined ? {} : { window }),
      concurrency,
      connections,
      streams,
      requests,
      rps: round(requests / run.elapsedS, 1),
      p50Ms: round(run.p50Ms, 3),
      p99Ms: round(run.p99Ms, 3),
      serverCpuUsPerRpc: round(serverCpu / requests, 1),
      redisCpuUsPerRpc: round(store === "redis" && rpc !== "ceiling" ? redisCpu / requests : 0, 1),
      generatorCpuUsPerRpc: round(run.generatorCpuUs / requests, 1),
      serverRssMiB: round(memoryMiB(server.pid).rssMiB, 1),
      responseFrameBytes: target.responseBytes,
      verified: problems.length === 0,
      verification: problems.length === 0 ? verification : `FAILED: ${problems.join("; ")}`,
    };
    const label = `${store} ${rpc}${window === undefined ? "" : `(${window})`} c=${concurrency}`;
    log(`${label.padEnd(28)} ${String(measurement.rps).padStart(9)}/s  p50 ${measurement.p50Ms} ms  p99 ${measurement.p99Ms} ms  server ${measurement.serverCpuUsPerRpc} µs/rpc  ${measurement.verified ? "verified" : measurement.verification}`);
    if (!repeat) this.results.rpcs.push(measurement);
    return measurement;
  }

  async targets(server: ServerProcess, store: StoreKind, windows: number[]): Promise<{ ceiling: Target; append: Target; history: Map<number, Target> }> {
    const ceiling: Target = {
      path: "/grpc.health.v1.Health/Check",
      framePath: this.frame("health", encodeFrame(HealthCheckRequestSchema, { service: "" })),
      responseBytes: responseFrameBytes(HealthCheckResponseSchema, { status: HealthCheckResponse_ServingStatus.SERVING }),
    };
    const appendId = `bench-append-${store}`;
    await this.fill(server.address, appendId, BENCH_MAX_TURNS * 2);
    const append: Target = {
      path: "/chatmemory.v1.ChatMemory/Append",
      framePath: this.frame(`append-${store}`, encodeFrame(AppendRequestSchema, { conversationId: appendId, messages: [{ role: "user", content: MESSAGE_CONTENT }] })),
      // The conversation is full, so every Append answers count = the window.
      responseBytes: responseFrameBytes(AppendResponseSchema, { count: BigInt(BENCH_MAX_TURNS * 2) }),
      ...(store === "redis" ? { redisCommand: "evalsha" } : {}),
    };
    const history = new Map<number, Target>();
    for (const window of windows) {
      const id = `bench-history-${window}`;
      await this.fill(server.address, id, window);
      history.set(window, {
        path: "/chatmemory.v1.ChatMemory/GetHistory",
        framePath: this.frame(`history-${store}-${window}`, encodeFrame(GetHistoryRequestSchema, { conversationId: id, limit: 0 })),
        responseBytes: await this.historyResponseBytes(server.address, id),
        ...(store === "redis" ? { redisCommand: "lrange" } : {}),
      });
    }
    return { ceiling, append, history };
  }

  async mainScenarios(store: StoreKind): Promise<void> {
    const server = await this.startServer(store);
    try {
      const windows = [...new Set([...settings.windows, ...settings.linearityWindows])].sort((a, b) => a - b);
      const { ceiling, append, history } = await this.targets(server, store, windows);
      for (const concurrency of settings.concurrencies) {
        if (rpcs.has("ceiling")) await this.measure(server, store, "ceiling", ceiling, concurrency);
        if (rpcs.has("append")) await this.measure(server, store, "append", append, concurrency);
        if (!rpcs.has("history")) continue;
        for (const window of settings.windows) await this.measure(server, store, "history", history.get(window) as Target, concurrency, window);
      }
      // Linearity: more windows at one concurrency.
      const linearityConcurrency = settings.concurrencies.includes(16) ? 16 : (settings.concurrencies[0] ?? 16);
      for (const window of rpcs.has("history") ? settings.linearityWindows : []) {
        await this.measure(server, store, "history", history.get(window) as Target, linearityConcurrency, window);
      }
      const history40 = history.get(40);
      if (store === "redis" && rpcs.has("history") && history40) {
        await this.uncachedHistory(history40);
        if (rpcs.has("ceiling") && rpcs.has("append")) {
          // The bare server is measured only in the rounds, against its own ceiling: another process's is not comparable.
          const fixed = await this.startFixedResponseServer(server.address, history40);
          try {
            await this.throughputRounds(server, { ceiling, append, history40 }, fixed);
          } finally {
            await fixed.server.stop();
          }
        }
      }
      if (store === "redis" && parts.has("baselines") && rpcs.has("ceiling") && rpcs.has("append")) await this.latencyTriplets(server, ceiling, append);
      if (store === "redis" && parts.has("ghz")) await this.ghzCrossCheck(server, append);
      if (store === "redis" && parts.has("baselines")) await this.nodeClientRuns(server);
      if (store === "redis" && parts.has("memory")) this.results.memory = await this.memoryPerMessage(server);
      if (store === "redis" && parts.has("soak") && settings.soakS > 0) await this.soak(server, append, history.get(40));
    } finally {
      await server.stop();
    }
  }

  /**
   * GetHistory(40) from a second server with the decoded-element cache off, over the same Redis
   * data: what a window costs when none of its elements was read before (every element parsed
   * and encoded), next to the main rows where the benchmark re-reads one window.
   */
  async uncachedHistory(history40: Target): Promise<void> {
    const server = await this.startServer("redis", { CHATMEMORY_DECODE_CACHE_MB: "0" });
    try {
      for (const concurrency of settings.concurrencies) await this.measure(server, "redis", "history-uncached", history40, concurrency, 40);
    } finally {
      await server.stop();
    }
  }

  /**
   * Bare grpc-js answering with GetHistory(40)'s exact response bytes (bench/fixed-response-server.ts):
   * how much of GetHistory's cost is the transport's for a response of that size.
   */
  async startFixedResponseServer(address: string, history40: Target): Promise<{ server: ServerProcess; target: Target }> {
    const client = createChatMemoryClient({ address });
    const responseFile = join(this.workDir, "history-40-response.bin");
    try {
      const { messages } = await client.getHistory({ conversationId: "bench-history-40" });
      writeFileSync(responseFile, toBinary(GetHistoryResponseSchema, create(GetHistoryResponseSchema, { messages })));
    } finally {
      client.close();
    }
    const server = await startServerProcess({ BENCH_RESPONSE_FILE: responseFile }, [], { script: FIXED_RESPONSE_SERVER, echo: true, keepLogs: false });
    return { server, target: { path: "/bench.FixedResponse/Get", framePath: history40.framePath, responseBytes: history40.responseBytes } };
  }

  /**
   * The throughput targets compare rates measured minutes apart in the main table, and on a shared
   * machine the neighbours' load moves between them (the ceiling alone ranged 12k–24k/s across runs).
   * So the top concurrency also gets three rounds of ceiling, Append, GetHistory(40), and the bare
   * grpc-js server's own ceiling and fixed response, back to back; the report takes the medians of
   * their ratios.
   */
  async throughputRounds(
    server: ServerProcess,
    targets: { ceiling: Target; append: Target; history40: Target },
    fixed: { server: ServerProcess; target: Target },
  ): Promise<void> {
    const concurrency = Math.max(...settings.concurrencies);
    const durationS = Math.max(2, settings.durationS / 2);
    const rounds: ThroughputRound[] = [];
    // Round 0 warms the bare server's JIT and heap up to the main server's (which has run every scenario); not reported.
    for (let pass = 0; pass <= 3; pass++) {
      const measured: Record<RoundScenario, RpcMeasurement> = {
        ceiling: await this.measure(server, "redis", "ceiling", targets.ceiling, concurrency, undefined, { durationS }),
        append: await this.measure(server, "redis", "append", targets.append, concurrency, undefined, { durationS }),
        history: await this.measure(server, "redis", "history", targets.history40, concurrency, 40, { durationS }),
        bareCeiling: await this.measure(fixed.server, "redis", "ceiling", targets.ceiling, concurrency, undefined, { durationS }),
        fixedResponse: await this.measure(fixed.server, "redis", "fixed-response", fixed.target, concurrency, 40, { durationS }),
      };
      const each = (pick: (m: RpcMeasurement) => number) =>
        Object.fromEntries(Object.entries(measured).map(([scenario, m]) => [scenario, pick(m)])) as Record<RoundScenario, number>;
      const result: ThroughputRound = {
        concurrency,
        rps: each((m) => m.rps),
        cpuUs: each((m) => m.serverCpuUsPerRpc),
        verified: Object.values(measured).every((m) => m.verified),
      };
      const { rps, cpuUs } = result;
      log(
        `c=${concurrency} round ${pass}: Append ${(rps.append / rps.ceiling).toFixed(2)}, GetHistory(40) ${(rps.history / rps.ceiling).toFixed(2)} × ceiling; ` +
          `bare grpc-js with GetHistory(40)'s bytes ${(rps.fixedResponse / rps.bareCeiling).toFixed(2)} × its own ceiling; ` +
          `server CPU µs/call: ceiling ${cpuUs.ceiling}, Append ${cpuUs.append}, GetHistory(40) ${cpuUs.history}, bare ${cpuUs.bareCeiling} / ${cpuUs.fixedResponse}`,
      );
      if (pass > 0) rounds.push(result);
    }
    this.results.throughputRounds = rounds;
  }

  /**
   * The c=1 latency target compares three medians measured at different moments; on a shared
   * machine one busy minute decides it. So it also gets three short rounds of ceiling, direct
   * ioredis and Append back to back, and the report takes the median of their ratios.
   */
  async latencyTriplets(server: ServerProcess, ceiling: Target, append: Target): Promise<void> {
    const durationS = Math.max(1, settings.baselineS / 2);
    for (let pass = 1; pass <= 3; pass++) {
      const ceilingRun = await this.measure(server, "redis", "ceiling", ceiling, 1, undefined, { durationS });
      const direct = JSON.parse(
        (await runProcess(process.execPath, [NODE_LOAD, "ioredis-append", this.redis.url, "1", String(durationS)])).trim().split("\n").at(-1) ?? "{}",
      ) as { p50Ms: number; failures: number };
      const appendRun = await this.measure(server, "redis", "append", append, 1, undefined, { durationS });
      const triplet: LatencyTriplet = {
        ceilingP50Ms: ceilingRun.p50Ms,
        directP50Ms: round3(direct.p50Ms),
        appendP50Ms: appendRun.p50Ms,
        verified: ceilingRun.verified && appendRun.verified && direct.failures === 0,
      };
      log(`c=1 latency round ${pass}: Append p50 ${triplet.appendP50Ms} ms, ceiling ${triplet.ceilingP50Ms} ms, direct ioredis ${triplet.directP50Ms} ms`);
      this.results.latencyTriplets.push(triplet);
    }
  }

  /** ghz reads grpc-status itself: every call must come back OK. */
  async ghzCrossCheck(server: ServerProcess, append: Target): Promise<void> {
    const concurrency = Math.max(...settings.concurrencies);
    const { connections } = shape(concurrency);
    const calls = Math.max(1000, Math.round(settings.durationS * 1500));
    const runs: [string, string, unknown, string | undefined][] = [
      ["ceiling (Health/Check)", "grpc.health.v1.Health/Check", { service: "" }, undefined],
      ["Append", "chatmemory.v1.ChatMemory/Append", { conversation_id: "bench-append-redis", messages: [{ role: "user", content: MESSAGE_CONTENT }] }, "evalsha"],
      ["GetHistory(40)", "chatmemory.v1.ChatMemory/GetHistory", { conversation_id: "bench-history-40" }, "lrange"],
    ];
    for (const [name, call, data, redisCommand] of runs) {
      const before = await commandStats(this.redisClient);
      const result = await runGhz({ address: server.address, call, data, concurrency, connections, requests: calls });
      const after = await commandStats(this.redisClient);
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
      this.results.ghz.push(measurement);
    }
  }

  /** Runs a generator process; samples the server's and Redis's CPU around it. */
  async baseline(
    name: string,
    concurrency: number,
    command: string,
    args: string[],
    /** Redis commands each call runs exactly once (EVAL counts with EVALSHA: ioredis loads a script with it). */
    verify: { commands: string[] } | undefined,
    server?: ServerProcess,
  ): Promise<void> {
    const statsBefore = await commandStats(this.redisClient);
    const serverCpuBefore = server ? cpuTimeUs(server.pid) : 0;
    const redisCpuBefore = cpuTimeUs(this.redisPid);
    const output = await runProcess(command, args);
    const redisCpu = cpuTimeUs(this.redisPid) - redisCpuBefore;
    const serverCpu = server ? cpuTimeUs(server.pid) - serverCpuBefore : 0;
    const statsAfter = await commandStats(this.redisClient);
    const result = JSON.parse(output.trim().split("\n").at(-1) ?? "{}") as Omit<BaselineMeasurement, "name" | "concurrency" | "verified" | "verification">;
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
    this.results.baselines.push(measurement);
  }

  /** The TypeScript client end to end: the latency a Node caller sees (the generator saturates first). */
  async nodeClientRuns(server: ServerProcess): Promise<void> {
    for (const concurrency of settings.concurrencies) {
      for (const [mode, name, conversationId] of [
        ["client-append", "Node TS client: Append", "bench-append-redis"],
        ["client-history", "Node TS client: GetHistory(40)", "bench-history-40"],
      ] as const) {
        await runProcess(process.execPath, [NODE_LOAD, mode, server.address, String(concurrency), "1", conversationId]);
        await this.baseline(
          name,
          concurrency,
          process.execPath,
          [NODE_LOAD, mode, server.address, String(concurrency), String(settings.baselineS), conversationId],
          { commands: mode === "client-append" ? ["evalsha", "eval"] : ["lrange"] },
          server,
        );
      }
    }
  }

  /** Direct baselines without the server: the Append script from ioredis, and the Python class. */
  async directBaselines(): Promise<void> {
    for (const concurrency of settings.concurrencies) {
      await runProcess(process.execPath, [NODE_LOAD, "ioredis-append", this.redis.url, String(concurrency), "1"]);
      await this.baseline("ioredis EVALSHA (Append script, no gRPC)", concurrency, process.execPath,
        [NODE_LOAD, "ioredis-append", this.redis.url, String(concurrency), String(settings.baselineS)], { commands: ["evalsha", "eval"] });
    }
    const python = (operation: string, mode: string, threads: number, conversationId: string) => [
      join(ROOT, "bench", "python", "load.py"), operation, mode, this.redis.url, String(threads), String(settings.baselineS), conversationId, String(BENCH_MAX_TURNS),
    ];
    const threadCounts = [...new Set([1, Math.min(16, Math.max(...settings.concurrencies))])];
    for (const mode of ["per-call", "reused"]) {
      for (const threads of threadCounts) {
        await this.baseline(`Python class, ${mode} client: append`, threads, PYTHON, python("append", mode, threads, `bench-python-${mode}`), { commands: ["rpush"] });
      }
    }
    if (settings.windows.includes(40)) {
      await this.fillDirect("bench-history-40", 40);
      for (const mode of ["per-call", "reused"]) {
        await this.baseline(`Python class, ${mode} client: get_history(40)`, 1, PYTHON, python("history", mode, 1, "bench-history-40"), { commands: ["lrange"] });
      }
    }
  }

  /** Writes a conversation straight into Redis, in the server's element format. */
  async fillDirect(conversationId: string, messages: number): Promise<void> {
    const key = `ractogateway:memory:${conversationId}`;
    const element = encodeStoredMessage({ role: "user", content: MESSAGE_CONTENT, createdAtMs: Date.now() });
    await this.redisClient.del(key);
    await this.redisClient.rpush(key, ...Array.from({ length: messages }, () => element));
  }

  /** Redis used_memory growth per stored message, for conversations of 20 messages written through the server. */
  async memoryPerMessage(server: ServerProcess): Promise<MemoryPerMessage> {
    const conversations = 500;
    const perConversation = 20;
    const client = createChatMemoryClient({ address: server.address, defaultDeadlineMs: 30_000 });
    const before = await usedMemoryBytes(this.redisClient);
    try {
      for (let start = 0; start < conversations; start += 25) {
        await Promise.all(
          Array.from({ length: 25 }, (_, offset) =>
            client.append({
              conversationId: `bench-memory-${start + offset}`,
              messages: Array.from({ length: perConversation }, () => ({ role: "user", content: MESSAGE_CONTENT })),
            }),
          ),
        );
      }
    } finally {
      client.close();
    }
    const after = await usedMemoryBytes(this.redisClient);
    const messages = conversations * perConversation;
    const result: MemoryPerMessage = {
      messages,
      conversations,
      elementBytes: Buffer.byteLength(encodeStoredMessage({ role: "user", content: MESSAGE_CONTENT, createdAtMs: Date.now() })),
      usedMemoryDeltaBytes: after - before,
      bytesPerMessage: round((after - before) / messages, 1),
    };
    log(`redis memory: ${result.bytesPerMessage} B per stored message (element ${result.elementBytes} B)`);
    return result;
  }

  /** A few minutes of Append and GetHistory(40) slices at c=16: RSS and p99 per slice. */
  async soak(server: ServerProcess, append: Target, history: Target | undefined): Promise<void> {
    if (!history) return;
    const concurrency = 16;
    const { connections, streams } = shape(concurrency);
    const rate = (rpc: RpcKind, window?: number) =>
      this.results.rpcs.find((m) => m.store === "redis" && m.rpc === rpc && m.window === window && m.concurrency === concurrency)?.rps ?? 2000;
    const half = settings.soakSliceS / 2;
    const started = performance.now();
    this.results.soakStartRssMiB = round(memoryMiB(server.pid).rssMiB, 1);
    log(`soak: ${settings.soakS} s in ${settings.soakSliceS} s slices; server RSS ${this.results.soakStartRssMiB} MiB`);
    while ((performance.now() - started) / 1000 < settings.soakS) {
      const runSlice = async (target: Target, rps: number) => {
        const requests = Math.max(100, Math.round(rps * half * 0.9));
        const before = await commandStats(this.redisClient);
        const run = await runH2load({ url: `http://${server.address}${target.path}`, framePath: target.framePath, connections, streams, requests, logFile: join(this.workDir, "soak.log") });
        const after = await commandStats(this.redisClient);
        const ok =
          run.succeeded === requests &&
          run.dataBytes === requests * target.responseBytes &&
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
      this.results.soak.push(slice);
    }
  }
}

const round3 = (value: number) => round(value, 3);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits (up to 5 s) until the process uses almost no CPU over 150 ms: calls left by a previous run are done. */
async function quiesce(pid: number): Promise<void> {
  const until = performance.now() + 5000;
  while (performance.now() < until) {
    const before = cpuTimeUs(pid);
    await sleep(150);
    if (cpuTimeUs(pid) - before <= 10_000) return;
  }
}

/** Runs a process to completion; resolves to its stdout, rejects on a non-zero exit. */
function runProcess(command: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"], cwd: ROOT });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.on("exit", (code) => (code === 0 ? resolve(stdout) : reject(new Error(`${command} ${args.join(" ")} exited ${code}: ${stderr}`))));
  });
}

async function main(): Promise<void> {
  const started = performance.now();
  mkdirSync(RESULTS_DIR, { recursive: true });
  const bench = new Bench();
  const stopOnSignal = () => void bench.stop().finally(() => process.exit(130));
  process.once("SIGINT", stopOnSignal);
  process.once("SIGTERM", stopOnSignal);
  try {
    await bench.start();
    if (parts.has("baselines")) await bench.directBaselines();
    for (const store of stores) {
      if (parts.has("main")) await bench.mainScenarios(store);
    }
  } finally {
    await bench.stop();
  }
  const results: BenchResults = { environment: benchEnvironment(PYTHON), ...bench.results };
  writeFileSync(join(RESULTS_DIR, "results.json"), `${JSON.stringify(results, null, 2)}\n`);
  const { out, summary } = await publish(results, RESULTS_DIR);
  process.stdout.write(`${summary}\n`);
  log(`done in ${Math.round((performance.now() - started) / 1000)} s; wrote ${out}`);
  const failed = [...results.rpcs, ...results.baselines, ...results.ghz, ...results.soak, ...results.latencyTriplets, ...(results.throughputRounds ?? [])].filter(
    (m) => !m.verified,
  ).length;
  if (failed > 0) {
    log(`${failed} measurement(s) could not be verified: see the report`);
    process.exitCode = 1;
  }
}

await main();
