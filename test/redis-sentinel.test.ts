/** Redis Sentinel: the server follows a failover of the primary during load, without a restart. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { servingStatus } from "./helpers/health-client.js";
import { RedisSentinelDeployment, SENTINEL_MASTER } from "./helpers/redis-sentinel.js";
import { lostMessages, startRetryingWriter } from "./helpers/retrying-writer.js";
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
    const writer = startRetryingWriter(server.client, conversationId);
    const { acknowledged } = writer;

    await sleep(500);
    const before = acknowledged.length;
    // The replica must be replicating now (it may have resynced during setup), or the kill loses everything.
    await deployment.waitUntilReplicaSynced(10_000);
    // What the replica holds when its primary dies, and after promotion: the evidence if anything is lost.
    const key = `${server.keyPrefix}:${conversationId}`;
    const replica = deployment.replica.client();
    const replicaBeforeKill = await replica.llen(key);
    await deployment.primary.kill();
    const killedAt = Date.now();
    await deployment.waitForPrimary(deployment.replica.port, 20_000);
    const promotedMs = Date.now() - killedAt;
    const replicaAtPromotion = await replica.llen(key);
    const atPromotion = acknowledged.length;
    await waitFor(() => acknowledged.length > atPromotion + 50, 15_000);
    const resumedMs = Date.now() - killedAt;
    await writer.stop();
    await waitFor(async () => (await servingStatus(server.address)) === "SERVING", 10_000);

    const lost = await lostMessages(server.client, conversationId, acknowledged);
    replica.disconnect();
    console.log(
      `[sentinel] replica promoted ${promotedMs} ms after the primary was killed; 50 more appends done by ${resumedMs} ms; ` +
        `${acknowledged.length} appends acknowledged (${before} before the kill), ${writer.failures} failed attempts retried, ${lost.length} acknowledged lost; ` +
        `replica held ${replicaBeforeKill} at the kill and ${replicaAtPromotion} at promotion`,
    );
    expect(acknowledged.length).toBeGreaterThan(atPromotion + 50);
    // Replication is asynchronous: only an append in flight at the kill could be lost.
    expect(lost.length).toBeLessThanOrEqual(5);
  });
});
