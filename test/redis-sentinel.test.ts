/** Redis Sentinel: the server follows a failover of the primary during load, without a restart. */
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TestCertificateAuthority } from "./helpers/certificates.js";
import { servingStatus } from "./helpers/health-client.js";
import { RedisSentinelDeployment, SENTINEL_MASTER } from "./helpers/redis-sentinel.js";
import { lostMessages, startRetryingWriter } from "./helpers/retrying-writer.js";
import { type TestServer, healthOfFreshServer, sleep, startTestServer, uniqueId, waitFor } from "./helpers/test-server.js";

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

  it("authenticates to the Sentinels and to the primary with their own ACL users", async () => {
    const [dataPassword, sentinelPassword] = [`data-${uniqueId()}`, `sentinel-${uniqueId()}`];
    const dataNodes = [deployment.primary.client(), deployment.replica.client()];
    const sentinels = deployment.sentinelAddresses.map(({ host, port }) => new Redis({ host, port, maxRetriesPerRequest: 1 }));
    const setUser = (client: Redis, user: string, password: string) => client.call("ACL", "SETUSER", user, "on", `>${password}`, "~*", "&*", "+@all");
    await Promise.all([...dataNodes.map((c) => setUser(c, "chatmemory-app", dataPassword)), ...sentinels.map((c) => setUser(c, "chatmemory-watch", sentinelPassword))]);
    const withCredentials = (sentinelPasswordToUse: string) =>
      startTestServer({
        store: "redis",
        redisSentinels: { sentinels: deployment.sentinelAddresses, masterName: SENTINEL_MASTER },
        redisCredentials: { username: "chatmemory-app", password: dataPassword, sentinelUsername: "chatmemory-watch", sentinelPassword: sentinelPasswordToUse },
      });
    try {
      const authenticated = await withCredentials(sentinelPassword);
      try {
        await waitFor(async () => (await servingStatus(authenticated.address)) === "SERVING", 10_000);
        const id = uniqueId();
        await authenticated.client.append({ conversationId: id, messages: [{ role: "user", content: "with ACL users" }] });
        expect(await dataNodes[0]!.llen(`${authenticated.keyPrefix}:${id}`)).toBe(1);
        const primaryClients = String(await dataNodes[0]!.client("LIST")).split("\n");
        expect(primaryClients.filter((line) => line.includes("user=chatmemory-app")).length).toBeGreaterThanOrEqual(1);
      } finally {
        await authenticated.close();
      }
      // A wrong Sentinel password: the primary cannot be found, so the server reports NOT_SERVING.
      const refused = await withCredentials("wrong");
      try {
        await sleep(500);
        expect(await servingStatus(refused.address)).toBe("NOT_SERVING");
        // The Sentinels logged the refused login of that user (ioredis asks them one at a time).
        const refusals = (await Promise.all(sentinels.map((c) => c.call("ACL", "LOG") as Promise<unknown[][]>))).flat();
        expect(refusals.some((entry) => entry.includes("auth") && entry.includes("chatmemory-watch"))).toBe(true);
      } finally {
        await refused.close();
      }
    } finally {
      await Promise.all([...dataNodes.map((c) => c.call("ACL", "DELUSER", "chatmemory-app")), ...sentinels.map((c) => c.call("ACL", "DELUSER", "chatmemory-watch"))]);
      for (const client of [...dataNodes, ...sentinels]) client.disconnect();
    }
  });

  it("follows a failover during load: acknowledged appends survive, appends resume, no restart", async () => {
    const conversationId = uniqueId("failover");
    const writer = startRetryingWriter(server.client, conversationId);
    const { acknowledged } = writer;

    await sleep(500);
    const before = acknowledged.length;
    // The replica must be replicating now (it may have resynced during setup), or the kill loses everything.
    await deployment.waitUntilReplicaSynced(10_000);
    // WAIT: how many replicas hold every write acknowledged so far. Replication is asynchronous; this
    // is the only promise Redis makes, so loss is asserted when the replica had caught up.
    const primaryClient = deployment.primary.client();
    const replicasInSync = Number(await primaryClient.call("WAIT", "1", "5000"));
    primaryClient.disconnect();
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
        `replica held ${replicaBeforeKill} at the kill and ${replicaAtPromotion} at promotion; WAIT 1 before the kill: ${replicasInSync}`,
    );
    expect(acknowledged.length).toBeGreaterThan(atPromotion + 50);
    // Appends acknowledged after the failover are never lost.
    expect(lost.filter((n) => n >= atPromotion)).toEqual([]);
    // With the replica in sync at the kill (WAIT said so), only an append in flight at the kill could be lost.
    // Seen on loaded machines: a replica reporting its link up but holding nothing (WAIT 0); that run only
    // reports the loss. Under investigation; see the issue notes.
    if (replicasInSync === 1) expect(lost.length).toBeLessThanOrEqual(5);
  });
});

describe("Redis Sentinel over TLS (REDIS_TLS)", () => {
  it("finds the primary through TLS-only Sentinels and serves through it, and refuses certificates it cannot verify", async () => {
    const ca = new TestCertificateAuthority("sentinel-tls");
    const nodeCert = ca.issue("redis-sentinel", "peer", "redis-sentinel-node");
    const tlsDeployment = await RedisSentinelDeployment.start({ cert: nodeCert.cert, key: nodeCert.key, ca: ca.cert, caPem: ca.pem() });
    const redisSentinels = { sentinels: tlsDeployment.sentinelAddresses, masterName: SENTINEL_MASTER };
    try {
      const tlsServer = await startTestServer({ store: "redis", redisSentinels, redisTlsCa: ca.pem() });
      try {
        await waitFor(async () => (await servingStatus(tlsServer.address)) === "SERVING", 10_000);
        const id = uniqueId();
        await tlsServer.client.append({ conversationId: id, messages: [{ role: "user", content: "through TLS sentinels" }] });
        const primary = tlsDeployment.primary.client();
        expect(await primary.llen(`${tlsServer.keyPrefix}:${id}`)).toBe(1);
        primary.disconnect();
      } finally {
        await tlsServer.close();
      }
      const rogueCa = new TestCertificateAuthority("sentinel-rogue").pem();
      expect(await healthOfFreshServer({ store: "redis", redisSentinels, redisTlsCa: rogueCa })).toBe("NOT_SERVING");
    } finally {
      await tlsDeployment.stop();
    }
  });
});
