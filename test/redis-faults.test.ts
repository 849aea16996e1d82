/**
 * Redis going away and coming back, with a real redis-server of the test's
 * own: calls fail fast with UNAVAILABLE, health flips to NOT_SERVING within
 * about a second, and everything recovers without restarting the server.
 */
import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { servingStatus } from "./helpers/health-client.js";
import { RedisServerProcess } from "./helpers/redis-server.js";
import { type TestServer, startTestServer, statusOf, uniqueId, waitFor } from "./helpers/test-server.js";

const COMMAND_TIMEOUT_MS = 500;
let redis: RedisServerProcess;
let server: TestServer;

beforeAll(async () => {
  redis = await RedisServerProcess.start();
  server = await startTestServer({ store: "redis", redisUrl: redis.url, redisTimeoutMs: COMMAND_TIMEOUT_MS, healthIntervalMs: 200 });
  await waitFor(async () => (await servingStatus(server.address)) === "SERVING", 5000);
});
afterAll(async () => {
  await server.close();
  await redis.stop();
});

async function timed<T>(promise: Promise<T>): Promise<[T, number]> {
  const started = performance.now();
  const result = await promise;
  return [result, performance.now() - started];
}

describe("Redis killed and restarted", () => {
  it("answers UNAVAILABLE fast, reports NOT_SERVING, and recovers when Redis returns", async () => {
    const id = uniqueId();
    expect((await server.client.append({ conversationId: id, messages: [{ role: "user", content: "before" }] })).count).toBe(1n);

    await redis.kill();
    const [failure, elapsed] = await timed(statusOf(server.client.append({ conversationId: id, messages: [{ role: "user", content: "during" }] })));
    expect(status[failure.code]).toBe("UNAVAILABLE");
    expect(failure.details).not.toMatch(/ECONNREFUSED|ioredis|Stream/);
    expect(elapsed).toBeLessThan(COMMAND_TIMEOUT_MS + 1000);
    for (const call of [server.client.getHistory({ conversationId: id }), server.client.count({ conversationId: id }), server.client.clear({ conversationId: id })]) {
      expect(status[(await statusOf(call)).code]).toBe("UNAVAILABLE");
    }

    const flipMs = await waitFor(async () => (await servingStatus(server.address)) === "NOT_SERVING", 3000);
    expect(await servingStatus(server.address, "chatmemory.v1.ChatMemory")).toBe("NOT_SERVING");
    console.log(`[faults] UNAVAILABLE after ${elapsed.toFixed(0)} ms; NOT_SERVING observed ${flipMs} ms after the failed call`);

    await redis.start();
    const recoverMs = await waitFor(async () => (await servingStatus(server.address)) === "SERVING", 10_000);
    console.log(`[faults] SERVING again ${recoverMs} ms after redis-server restarted`);
    // Nothing durable in this Redis: the conversation starts over, and appends work again.
    expect((await server.client.append({ conversationId: id, messages: [{ role: "user", content: "after" }] })).count).toBe(1n);
  });
});

describe("Redis frozen (SIGSTOP)", () => {
  it("answers UNAVAILABLE within the command timeout instead of hanging, then recovers", async () => {
    const id = uniqueId();
    await server.client.append({ conversationId: id, messages: [{ role: "user", content: "before" }] });
    redis.pause();
    try {
      const [failure, elapsed] = await timed(statusOf(server.client.count({ conversationId: id }, { deadlineMs: 10_000 })));
      expect(status[failure.code]).toBe("UNAVAILABLE");
      expect(elapsed).toBeGreaterThanOrEqual(COMMAND_TIMEOUT_MS - 50);
      expect(elapsed).toBeLessThan(COMMAND_TIMEOUT_MS + 1000);
      await waitFor(async () => (await servingStatus(server.address)) === "NOT_SERVING", 3000);
    } finally {
      redis.resume();
    }
    await waitFor(async () => (await servingStatus(server.address)) === "SERVING", 10_000);
    expect((await server.client.count({ conversationId: id })).count).toBe(1n);
  });
});
