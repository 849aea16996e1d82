/**
 * The Redis connection batches the commands of one event-loop turn into one
 * socket write (src/store/coalescing-redis.ts): checked against a real
 * redis-server through its own counter of socket reads.
 */
import type { Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CoalescingRedis } from "../src/store/coalescing-redis.js";
import { openRedisConnection } from "../src/store/redis-connection.js";
import { RedisServerProcess } from "./helpers/redis-server.js";
import { uniqueId } from "./helpers/test-server.js";

let redis: RedisServerProcess;
let client: CoalescingRedis;

async function readsProcessed(): Promise<number> {
  const stats = await client.info("stats");
  return Number(/total_reads_processed:(\d+)/.exec(stats)?.[1]);
}

/** The connection fails commands while not ready (no offline queue), so tests wait for it. */
function untilReady(): Promise<void> {
  return new Promise((resolve) => (client.status === "ready" ? resolve() : client.once("ready", () => resolve())));
}

beforeAll(async () => {
  redis = await RedisServerProcess.start();
  client = openRedisConnection({ kind: "standalone", url: redis.url }, { commandTimeoutMs: 2000 }) as CoalescingRedis;
  expect(client).toBeInstanceOf(CoalescingRedis);
  await untilReady();
});
afterAll(async () => {
  client.disconnect();
  await redis.stop();
});

describe("write coalescing", () => {
  it("sends the commands of one tick in one burst, answered in order", async () => {
    const key = uniqueId();
    const before = await readsProcessed();
    const replies = await Promise.all(Array.from({ length: 500 }, () => client.incr(key)));
    const reads = (await readsProcessed()) - before;
    // 500 commands plus the INFO: one write of ~20 KB, which Redis reads in a few 16 KB reads.
    expect(replies).toEqual(Array.from({ length: 500 }, (_, index) => index + 1));
    expect(reads).toBeLessThan(20);
    console.log(`[coalescing] 500 commands of one tick: ${reads} socket reads in Redis`);
  });

  it("uncorks the socket after the tick, so a lone command is sent without waiting for more", async () => {
    const reply = client.set(uniqueId(), "v");
    expect((client.stream as Socket).writableCorked).toBe(1);
    await new Promise<void>((resolve) => process.nextTick(resolve));
    expect((client.stream as Socket).writableCorked).toBe(0);
    expect(await reply).toBe("OK");
  });

  it("while replies are pending, holds a burst until setImmediate, so more I/O callbacks can join it", async () => {
    const blocked = client.blpop(uniqueId(), 0.3);
    await new Promise<void>((resolve) => setImmediate(resolve));
    expect(client.commandQueue.length).toBe(1);
    const reply = client.set(uniqueId(), "v");
    await new Promise<void>((resolve) => process.nextTick(resolve));
    expect((client.stream as Socket).writableCorked).toBe(1);
    await new Promise<void>((resolve) => setImmediate(resolve));
    expect((client.stream as Socket).writableCorked).toBe(0);
    // Replies come in order: the blocked command's first.
    expect(await blocked).toBeNull();
    expect(await reply).toBe("OK");
  });

  it("fails the commands of a tick whose connection drops, and works on the next connection", async () => {
    const key = uniqueId();
    const pending = Array.from({ length: 20 }, () => client.incr(key).then(() => "ok", (error: Error) => error.message));
    (client.stream as Socket).destroy();
    const outcomes = await Promise.all(pending);
    expect(outcomes.every((outcome) => outcome !== "ok")).toBe(true);
    await untilReady();
    expect(await client.incr(key)).toBeGreaterThanOrEqual(1);
    expect((client.stream as Socket).writableCorked).toBe(0);
  });
});
