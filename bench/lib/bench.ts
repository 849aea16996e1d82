/**
 * What every scenario shares: one redis-server for the whole run, a work directory for request
 * frames and logs, the servers under test, and `measure`, one verified h2load scenario.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { type GetHistoryResponse, GetHistoryResponseSchema } from "../../gen/ts/chatmemory/v1/chatmemory_pb.js";
import { createChatMemoryClient } from "../../clients/typescript/src/index.js";
import { RedisServerProcess } from "../../test/helpers/redis-server.js";
import { type ServerProcess, startServerProcess } from "../../test/helpers/server-process.js";
import { responseFrameBytes } from "./frames.js";
import { runH2load } from "./h2load.js";
import { cpuTimeUs, memoryMiB } from "./process-stats.js";
import { commandDelta, commandStats, redisPid } from "./redis-stats.js";
import type { BenchResults, RpcKind, RpcMeasurement, StoreKind } from "./results.js";
import { RESULTS_DIR, SERVER_SCRIPT, extraServerEnv, log, profile, quiesce, serverNodeArgs, settings, shape, splitNodeArgs } from "./settings.js";
import { round } from "./stats.js";
import { BENCH_MAX_TURNS, MESSAGE_CONTENT } from "./workload.js";

/** One RPC as h2load sends it, and what a correct answer looks like. */
export interface Target {
  path: string;
  framePath: string;
  responseBytes: number;
  /** The Redis command each successful call runs exactly once (verification). */
  redisCommand?: string;
  /**
   * For responses whose size changes from call to call (Append's seqs grow): called just before
   * the measured run, returns the DATA bytes that n successful calls return from then on.
   * Without it every call returns `responseBytes`.
   */
  expectedBytes?: () => Promise<(requests: number) => number>;
}

export class Bench {
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

  /** The server under test (SERVER_SCRIPT unless `script` names another build) on this run's Redis or its embedded store. */
  /** `nodeArgsOverride` (space-separated) replaces BENCH_SERVER_NODE_ARGS for this server. */
  async startServer(store: StoreKind, env: Record<string, string> = {}, script = SERVER_SCRIPT, nodeArgsOverride?: string): Promise<ServerProcess> {
    env = { CHATMEMORY_MAX_TURNS: String(BENCH_MAX_TURNS), ...extraServerEnv, ...env };
    if (store === "redis") env.REDIS_URL = this.redis.url;
    const nodeArgs = [
      ...(nodeArgsOverride === undefined ? serverNodeArgs : splitNodeArgs(nodeArgsOverride)),
      ...(profile ? ["--cpu-prof", `--cpu-prof-dir=${join(RESULTS_DIR, "profiles")}`, `--cpu-prof-name=server-${store}-${Date.now()}.cpuprofile`] : []),
    ];
    const server = await startServerProcess(env, [], { nodeArgs, script, echo: true, keepLogs: false });
    log(`server (${store} store) on ${server.address}, pid ${server.pid}`);
    return server;
  }

  /** Fills `conversationId` with exactly `messages` messages of `content` (batches of 100). */
  async fill(address: string, conversationId: string, messages: number, content = MESSAGE_CONTENT): Promise<void> {
    const client = createChatMemoryClient({ address, defaultDeadlineMs: 30_000 });
    try {
      await client.clear({ conversationId });
      for (let done = 0; done < messages; done += 100) {
        const batch = Math.min(100, messages - done);
        await client.append({ conversationId, messages: Array.from({ length: batch }, () => ({ role: "user", content })) });
      }
    } finally {
      client.close();
    }
  }

  /**
   * The size of the GetHistory response frame for `conversationId` (and `query`), and the
   * response itself: the whole message as the server encodes it (messages, and from issue 12 on
   * total_tokens and epoch), so the expected size holds for builds with and without those fields.
   */
  async historyResponse(
    address: string,
    conversationId: string,
    query: { limit?: number; maxTokens?: number } = {},
  ): Promise<{ bytes: number; response: GetHistoryResponse }> {
    const client = createChatMemoryClient({ address });
    try {
      const response = await client.getHistory({ conversationId, ...query });
      return { bytes: responseFrameBytes(GetHistoryResponseSchema, response), response };
    } finally {
      client.close();
    }
  }

  async historyResponseBytes(address: string, conversationId: string, query: { limit?: number; maxTokens?: number } = {}): Promise<number> {
    return (await this.historyResponse(address, conversationId, query)).bytes;
  }

  /**
   * The one Redis command `call` sends (e.g. "evalsha" for a script, "lrange"), found from INFO
   * commandstats around it, so verification follows each build's own read and write paths.
   */
  async probeRedisCommand(call: () => Promise<unknown>): Promise<string> {
    const before = await commandStats(this.redisClient);
    await call();
    const after = await commandStats(this.redisClient);
    const ran = [...after.keys()].filter((command) => command !== "info" && commandDelta(before, after, command).calls > 0);
    const once = ran.filter((command) => commandDelta(before, after, command).calls === 1);
    // A script's own commands (rpush, ltrim inside an evalsha) are counted too: the script call is the one sent.
    const script = once.find((command) => ["evalsha", "evalsha_ro", "eval", "eval_ro", "fcall", "fcall_ro"].includes(command));
    if (script) return script;
    if (ran.length !== 1 || once.length !== 1) throw new Error(`expected one Redis command per call, saw ${ran.map((c) => `${c} +${commandDelta(before, after, c).calls}`).join(", ") || "none"}`);
    return once[0] as string;
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
    const expectedBytes = target.expectedBytes ? await target.expectedBytes() : (n: number) => n * target.responseBytes;

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
    const expected = expectedBytes(requests);
    if (run.dataBytes !== expected) {
      const missing = Math.round((expected - run.dataBytes) / target.responseBytes);
      // A unary call that fails (e.g. UNAVAILABLE after the Redis command timeout under overload) has no DATA.
      problems.push(`about ${missing} of ${requests} calls returned no message (a non-OK grpc-status): DATA ${run.dataBytes} B != ${expected} B expected`);
    }
    let verification = target.expectedBytes
      ? `${requests} calls, ${expected} B of responses (sizes vary per call)`
      : `${requests} calls, each a ${target.responseBytes} B response`;
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
}
