/**
 * The Redis connection batches the commands of one event-loop turn into one socket write
 * (ioredis auto-pipelining, src/store/redis-connection.ts): checked against a real
 * redis-server through its own counter of socket reads, and through a dropped connection.
 */
import { once } from "node:events";
import type { Socket } from "node:net";
import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openRedisConnection } from "../src/store/redis-connection.js";
import { RedisServerProcess } from "./helpers/redis-server.js";
import { uniqueId } from "./helpers/test-server.js";

let redis: RedisServerProcess;
let client: Redis;

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
  client = openRedisConnection({ kind: "standalone", url: redis.url }, { commandTimeoutMs: 2000 }) as Redis;
  expect(client.options.enableAutoPipelining).toBe(true);
  await untilReady();
});
afterAll(async () => {
  client.disconnect();
  await redis.stop();
});

describe("write batching", () => {
  it("sends the commands of one tick in one burst, answered in order", async () => {
    const key = uniqueId();
    const before = await readsProcessed();
    const replies = await Promise.all(Array.from({ length: 500 }, () => client.incr(key)));
    const reads = (await readsProcessed()) - before;
    // 500 commands plus the INFO: one write of ~20 KB, which Redis reads in a few 16 KB reads.
    expect(replies).toEqual(Array.from({ length: 500 }, (_, index) => index + 1));
    expect(reads).toBeLessThan(20);
  });

  it("fails the commands of a tick whose connection drops, and works on the next connection", async () => {
    const key = uniqueId();
    const pending = Array.from({ length: 20 }, () => client.incr(key).then(() => "ok", (error: Error) => error.message));
    // The batch fails before the connection reports it closed, so wait for the next "ready", not the status.
    const reconnected = once(client, "ready");
    (client.stream as Socket).destroy();
    const outcomes = await Promise.all(pending);
    expect(outcomes.every((outcome) => outcome !== "ok")).toBe(true);
    await reconnected;
    expect(await client.incr(key)).toBeGreaterThanOrEqual(1);
  });
});
