/**
 * Node load generators, run as their own process by bench/run.ts:
 *
 *   node dist-bench/bench/node-load.js ioredis-append <redisUrl> <concurrency> <seconds>
 *   node dist-bench/bench/node-load.js client-append  <host:port> <concurrency> <seconds>
 *   node dist-bench/bench/node-load.js client-history <host:port> <concurrency> <seconds> <conversationId>
 *
 * ioredis-append is the direct baseline: the server's own Append script
 * (src/store/redis-scripts.ts) through ioredis with auto-pipelining, no gRPC.
 * client-* go through the TypeScript client, for end-to-end latency as a Node
 * caller sees it (on 2 cores this generator saturates before the server).
 * Prints one JSON line: calls, failures, rps, p50/p99 and its own CPU per call.
 */
import { Redis } from "ioredis";
import { createChatMemoryClient } from "../clients/typescript/src/index.js";
import { encodeStoredMessage } from "../src/store/message-codec.js";
import { conversationKeys, defineScriptCommands } from "../src/store/redis-scripts.js";
import { ConversationIndex } from "../src/store/redis-conversation-index.js";
import { latencySummaryMs, round } from "./lib/stats.js";
import { BENCH_MAX_TURNS, MESSAGE_CONTENT } from "./lib/workload.js";

export interface NodeLoadResult {
  calls: number;
  failures: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  generatorCpuUsPerCall: number;
}

/** Runs `call` from `concurrency` loops for `seconds`, timing each call. */
async function closedLoop(call: () => Promise<unknown>, concurrency: number, seconds: number): Promise<NodeLoadResult> {
  const latenciesUs: number[] = [];
  let failures = 0;
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  const until = started + seconds * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < until) {
        const t = performance.now();
        try {
          await call();
          latenciesUs.push((performance.now() - t) * 1000);
        } catch {
          failures++;
        }
      }
    }),
  );
  const elapsedS = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  const calls = latenciesUs.length;
  return {
    calls,
    failures,
    rps: round(calls / elapsedS, 1),
    ...latencySummaryMs(latenciesUs),
    generatorCpuUsPerCall: round((cpu.user + cpu.system) / Math.max(1, calls + failures), 1),
  };
}

async function ioredisAppend(url: string, concurrency: number, seconds: number): Promise<NodeLoadResult> {
  const redis = new Redis(url, { enableAutoPipelining: true, maxRetriesPerRequest: 0 });
  defineScriptCommands(redis);
  const keys = conversationKeys("ractogateway:memory", `bench-direct-ioredis-c${concurrency}`);
  const indexKey = new ConversationIndex("ractogateway:memory", false).key(0);
  // The same element the server would store: role, content and a ts.
  const append = () =>
    redis.chatmemoryWrite(
      ...keys,
      indexKey,
      BENCH_MAX_TURNS * 2,
      0,
      "",
      "",
      86_400_000,
      8,
      "1",
      "0",
      "bench-epoch",
      "append",
      Date.now(),
      encodeStoredMessage({ role: "user", content: MESSAGE_CONTENT, createdAtMs: Date.now() }),
    );
  try {
    return await closedLoop(append, concurrency, seconds);
  } finally {
    redis.disconnect();
  }
}

async function clientLoad(mode: string, address: string, concurrency: number, seconds: number, conversationId: string): Promise<NodeLoadResult> {
  const client = createChatMemoryClient({ address });
  const call =
    mode === "client-append"
      ? () => client.append({ conversationId, messages: [{ role: "user", content: MESSAGE_CONTENT }] })
      : () => client.getHistory({ conversationId });
  try {
    await client.waitForReady(10_000); // connect before timing, without sending Redis anything
    return await closedLoop(call, concurrency, seconds);
  } finally {
    client.close();
  }
}

async function main(): Promise<void> {
  const [mode, target, concurrencyArg, secondsArg, conversationId] = process.argv.slice(2);
  const concurrency = Number(concurrencyArg);
  const seconds = Number(secondsArg);
  if (!target || !(concurrency > 0) || !(seconds > 0)) throw new Error("usage: node-load.js <mode> <target> <concurrency> <seconds> [conversationId]");
  let result: NodeLoadResult;
  if (mode === "ioredis-append") result = await ioredisAppend(target, concurrency, seconds);
  else if (mode === "client-append" || mode === "client-history") {
    result = await clientLoad(mode, target, concurrency, seconds, conversationId ?? `bench-node-client-c${concurrency}`);
  } else throw new Error(`unknown mode ${mode}`);
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
