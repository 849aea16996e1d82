/**
 * CHATMEMORY_MAX_CONNECTION_AGE_MS: the server sends GOAWAY to connections that old, calls already
 * running on them finish, and the client reconnects, so a replica started after the client
 * connected gets its share of calls behind a connection-pinning (layer-4) balancer.
 */
import { connect as connectHttp2, constants as http2Constants } from "node:http2";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createChatMemoryClient } from "../clients/typescript/src/index.js";
import { servingStatus } from "./helpers/health-client.js";
import { RedisServerProcess } from "./helpers/redis-server.js";
import { type ServerProcess, startServerProcess } from "./helpers/server-process.js";
import { startTcpBalancer } from "./helpers/tcp-balancer.js";
import { sleep, uniqueId, waitFor } from "./helpers/test-server.js";

// Long enough to start a second replica (a Node process) within 90% of it on a loaded machine.
const AGE_MS = 4000;
// grpc-js adds up to +-10% jitter to the age.
const LATEST_GOAWAY_MS = AGE_MS * 1.1 + 1000;

// Its own Redis: the test pauses it to hold a call in flight across the GOAWAY.
let redis: RedisServerProcess;
beforeAll(async () => {
  redis = await RedisServerProcess.start();
});
afterAll(() => redis.stop());

/** A replica with its own key prefix, so what each one stored shows which replica served a call. */
async function startReplica(prefix: string): Promise<ServerProcess> {
  const server = await startServerProcess({
    REDIS_URL: redis.url,
    CHATMEMORY_KEY_PREFIX: prefix,
    // A window larger than the calls below, so Count tells how many calls a replica stored.
    CHATMEMORY_MAX_TURNS: "5000",
    CHATMEMORY_MAX_CONNECTION_AGE_MS: String(AGE_MS),
    CHATMEMORY_MAX_CONNECTION_AGE_GRACE_MS: "30000",
    // Longer than the pause below: the held call waits for Redis instead of failing.
    CHATMEMORY_REDIS_TIMEOUT_MS: "20000",
  });
  await waitFor(async () => (await servingStatus(server.address)) === "SERVING", 5000);
  return server;
}

describe("max connection age", () => {
  it("sends GOAWAY (NO_ERROR) to a connection once it is that old", async () => {
    const server = await startReplica(uniqueId("age-goaway"));
    try {
      const session = connectHttp2(`http://${server.address}`);
      const connectedAt = Date.now();
      const goaway = new Promise<{ code: number; afterMs: number }>((resolve) =>
        session.once("goaway", (code: number) => resolve({ code, afterMs: Date.now() - connectedAt })),
      );
      const closed = new Promise<number>((resolve) => session.once("close", () => resolve(Date.now() - connectedAt)));
      session.on("error", () => {});
      const timeout = sleep(LATEST_GOAWAY_MS + 2000).then(() => "timeout" as const);
      const result = await Promise.race([goaway, timeout]);
      expect(result).not.toBe("timeout");
      const { code, afterMs } = result as { code: number; afterMs: number };
      expect(code).toBe(http2Constants.NGHTTP2_NO_ERROR);
      expect(afterMs).toBeGreaterThanOrEqual(AGE_MS * 0.9 - 50);
      expect(afterMs).toBeLessThanOrEqual(LATEST_GOAWAY_MS);
      // No stream was open: the server closes the connection right after its GOAWAY.
      const closedAfterMs = await Promise.race([closed, sleep(2000).then(() => -1)]);
      expect(closedAfterMs).toBeGreaterThan(0);
      session.destroy();
    } finally {
      await server.stop();
    }
  });

  it("lets a call in flight finish OK, then the client reaches a replica started after it connected", { timeout: 60_000 }, async () => {
    const prefixes = [uniqueId("age-a"), uniqueId("age-b")];
    const replicaA = await startReplica(prefixes[0]!);
    const balancer = await startTcpBalancer([replicaA.port]);
    // The shipped client, its defaults (retries of UNAVAILABLE included), through the balancer.
    const client = createChatMemoryClient({ address: balancer.address, defaultDeadlineMs: 20_000 });
    const direct = [createChatMemoryClient({ address: replicaA.address })];
    let replicaB: ServerProcess | undefined;
    try {
      await client.count({ conversationId: "warm-up" });
      const connectedAt = Date.now();
      expect(balancer.connections).toEqual([replicaA.port]);

      replicaB = await startReplica(prefixes[1]!);
      direct.push(createChatMemoryClient({ address: replicaB.address }));
      balancer.setBackends([replicaA.port, replicaB.port]);
      // Started before the connection's age is up and held (Redis frozen) until well after its GOAWAY.
      expect(Date.now() - connectedAt).toBeLessThan(AGE_MS * 0.9);
      redis.pause();
      const inFlight = client.append({ conversationId: "in-flight", requestId: "in-flight-1", messages: [{ role: "user", content: "held" }] });
      await sleep(Math.max(0, connectedAt + LATEST_GOAWAY_MS - Date.now()));
      // The next call opens a new connection, which the balancer gives to replica B.
      const after = client.append({ conversationId: "after", requestId: "after-1", messages: [{ role: "user", content: "next" }] });
      await waitFor(() => balancer.connections.length >= 2, 5000);
      redis.resume();
      expect((await inFlight).count).toBe(1n);
      expect((await after).count).toBe(1n);
      expect(balancer.connections.slice(0, 2)).toEqual([replicaA.port, replicaB.port]);
      // The held call was served by replica A (its key prefix), the next one by B.
      expect((await direct[0]!.count({ conversationId: "in-flight" })).count).toBe(1n);
      expect((await direct[1]!.count({ conversationId: "after" })).count).toBe(1n);

      // Sequential calls for a few connection ages: every reconnect moves to the other replica.
      let calls = 0;
      const until = Date.now() + AGE_MS * 3;
      while (Date.now() < until && calls < 4000) {
        await client.append({ conversationId: "spread", requestId: `spread-${calls}`, messages: [{ role: "user", content: `${calls}` }] });
        calls++;
        await sleep(5);
      }
      const perReplica = await Promise.all(direct.map(async (d) => Number((await d.count({ conversationId: "spread" })).count)));
      console.log(`[connection age] ${calls} calls over ${balancer.connections.length} connections; per replica ${perReplica.join("/")}`);
      expect(perReplica[0]! + perReplica[1]!).toBe(calls);
      expect(perReplica[0]).toBeGreaterThan(0);
      expect(perReplica[1]).toBeGreaterThan(0);
      expect(balancer.connections.length).toBeGreaterThanOrEqual(3);
    } finally {
      redis.resume();
      client.close();
      direct.forEach((d) => d.close());
      await balancer.close();
      await Promise.all([replicaA.stop(), replicaB?.stop()]);
    }
  });
});
