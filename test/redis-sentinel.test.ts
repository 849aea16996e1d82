/** Redis Sentinel: the server follows a failover of the primary during load, without a restart. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { servingStatus } from "./helpers/health-client.js";
import { RedisSentinelDeployment, SENTINEL_MASTER } from "./helpers/redis-sentinel.js";
import { type TestServer, sleep, startTestServer, uniqueId, waitFor } from "./helpers/test-server.js";

let deployment: RedisSentinelDeployment;
let server: TestServer;
beforeAll(async () => {
  deployment = await RedisSentinelDeployment.start();
  server = await startTestServer({
    store: "redis",
    redisSentinels: { sentinels: deployment.sentinelAddresses, masterName: SENTINEL_MASTER },
    maxTurns: 10_000,
    redisTimeoutMs: 500,
  });
  await waitFor(async () => (await servingStatus(server.address)) === "SERVING", 10_000);
});
afterAll(async () => {
  await server.close();
  await deployment.stop();
});

describe("Redis Sentinel", () => {
  it("serves through the primary the sentinels name", async () => {
    const id = uniqueId();
    await server.client.append({ conversationId: id, messages: [{ role: "user", content: "via sentinel" }] });
    const raw = deployment.primary.client();
    expect(await raw.llen(`${server.keyPrefix}:${id}`)).toBe(1);
    raw.disconnect();
  });

  it("follows a failover during load: acknowledged appends survive, appends resume, no restart", async () => {
    const conversationId = uniqueId("failover");
    const acknowledged: number[] = [];
    let failures = 0;
    let running = true;
    const writer = (async () => {
      for (let n = 0; running; n++) {
        for (;;) {
          try {
            await server.client.append({ conversationId, requestId: `m${n}`, messages: [{ role: "user", content: `${n}` }] }, { deadlineMs: 2000 });
            acknowledged.push(n);
            break;
          } catch {
            failures++;
            await sleep(50);
          }
        }
      }
    })();

    await sleep(500);
    const before = acknowledged.length;
    await deployment.primary.kill();
    const killedAt = Date.now();
    await deployment.waitForPrimary(deployment.replica.port, 20_000);
    const promotedMs = Date.now() - killedAt;
    const atPromotion = acknowledged.length;
    await waitFor(() => acknowledged.length > atPromotion + 50, 15_000);
    const resumedMs = Date.now() - killedAt;
    running = false;
    await writer;
    await waitFor(async () => (await servingStatus(server.address)) === "SERVING", 10_000);

    const stored = new Set((await server.client.getHistory({ conversationId })).messages.map((m) => Number(m.content)));
    const lost = acknowledged.filter((n) => !stored.has(n));
    console.log(
      `[sentinel] replica promoted ${promotedMs} ms after the primary was killed; 50 more appends done by ${resumedMs} ms; ` +
        `${acknowledged.length} appends acknowledged (${before} before the kill), ${failures} failed attempts retried, ${lost.length} acknowledged lost`,
    );
    expect(acknowledged.length).toBeGreaterThan(atPromotion + 50);
    // Replication is asynchronous: only an append in flight at the kill could be lost.
    expect(lost.length).toBeLessThanOrEqual(5);
  });
});
