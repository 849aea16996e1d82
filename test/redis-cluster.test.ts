/**
 * Redis Cluster: the contract suite across a 6-node cluster, companion keys in
 * the conversation's slot, and a primary failover under load.
 */
import { status } from "@grpc/grpc-js";
import { afterAll, describe, expect, it } from "vitest";
import { TestCertificateAuthority } from "./helpers/certificates.js";
import { defineContractSuite } from "./helpers/contract-suite.js";
import { defineListConversationsSuite } from "./helpers/list-conversations-suite.js";
import { servingStatus } from "./helpers/health-client.js";
import { LEAST_PRIVILEGE_COMMANDS, leastPrivilegeUser } from "./helpers/redis-acl.js";
import { RedisClusterProcesses } from "./helpers/redis-cluster.js";
import calculateSlot from "cluster-key-slot";
import { ConversationIndex } from "../src/store/redis-conversation-index.js";
import { lostMessages, startRetryingWriter } from "./helpers/retrying-writer.js";
import { WatcherView } from "./helpers/watcher-view.js";
import { healthOfFreshServer, sleep, startTestServer, uniqueId, waitFor } from "./helpers/test-server.js";

const cluster = await RedisClusterProcesses.start();
afterAll(() => cluster.stop());

defineContractSuite("a 6-node Redis Cluster", { store: "redis", redisClusterNodes: cluster.seeds });
defineListConversationsSuite("a 6-node Redis Cluster", { store: "redis", redisClusterNodes: cluster.seeds });

describe("Redis Cluster key placement", () => {
  it("keeps a conversation's list, request-id keys and index bucket in one slot: no CROSSSLOT across 200 conversations", async () => {
    const server = await startTestServer({ store: "redis", redisClusterNodes: cluster.seeds });
    try {
      const ids = Array.from({ length: 200 }, () => uniqueId("slot"));
      await Promise.all(
        ids.map((conversationId) =>
          server.client.append({ conversationId, requestId: "r1", messages: [{ role: "user", content: conversationId }] }),
        ),
      );
      const slots = new Set<number>();
      for (const id of ids.slice(0, 20)) {
        const list = `${server.keyPrefix}:${id}`;
        const keys = [list, `{${list}}:request-ids`, `{${list}}:request-expiry`, new ConversationIndex(server.keyPrefix, true).keyFor(list)];
        const keySlots = await Promise.all(keys.map((key) => cluster.command(cluster.nodes[0]!, "CLUSTER", "KEYSLOT", key)));
        expect(new Set(keySlots).size).toBe(1);
        slots.add(Number(keySlots[0]));
      }
      // The conversations really are spread over the cluster.
      expect(slots.size).toBeGreaterThan(10);
      for (const conversationId of ids) {
        expect((await server.client.count({ conversationId })).count).toBe(1n);
      }
    } finally {
      await server.close();
    }
  });
});

describe("Watch on Redis Cluster (sharded Pub/Sub)", () => {
  it("reaches watchers on one server from appends through another, for conversations on every primary", async () => {
    const keyPrefix = `test-${uniqueId("watch")}`;
    const [watching, writing] = await Promise.all(
      [0, 1].map(() => startTestServer({ store: "redis", redisClusterNodes: cluster.seeds, keyPrefix })),
    );
    const stops = new AbortController();
    try {
      const ids = Array.from({ length: 24 }, () => uniqueId("watched"));
      const slots = await Promise.all(ids.map((id) => cluster.command(cluster.nodes[0]!, "CLUSTER", "KEYSLOT", `${keyPrefix}:${id}`)));
      // Spread over the 3 primaries (slots 0-5460, 5461-10922, 10923-16383).
      expect(new Set(slots.map((slot) => Math.floor(Number(slot) / 5461))).size).toBe(3);
      const streams = ids.map((conversationId) => watching!.client.watch({ conversationId }, { signal: stops.signal })[Symbol.asyncIterator]());
      for (const stream of streams) expect((await stream.next()).value).toMatchObject({ reset: false, messages: [] });
      await Promise.all(ids.map((conversationId) => writing!.client.append({ conversationId, messages: [{ role: "user", content: conversationId }] })));
      for (const [i, stream] of streams.entries()) {
        expect((await stream.next()).value).toMatchObject({ reset: false, messages: [{ seq: 1n, content: ids[i] }] });
      }
      await writing!.client.clear({ conversationId: ids[0]! });
      expect((await streams[0]!.next()).value).toMatchObject({ reset: true, messages: [], epoch: "" });
    } finally {
      stops.abort();
      await Promise.all([watching!.close(), writing!.close()]);
    }
  });
});

describe("Watch when a node drops the subscriber connection", () => {
  it("brings an append made while ioredis replaces the sharded subscriber (CLIENT KILL TYPE pubsub)", async () => {
    const keyPrefix = `test-${uniqueId("killed-subscriber")}`;
    const [watching, writing] = await Promise.all([0, 1].map(() => startTestServer({ store: "redis", redisClusterNodes: cluster.seeds, keyPrefix })));
    const conversationId = uniqueId("watched");
    const view = new WatcherView((signal) => watching!.client.watch({ conversationId }, { signal }));
    try {
      await waitFor(() => view.responses > 0, 10_000);
      await writing!.client.append({ conversationId, messages: [{ role: "user", content: "before" }] });
      await waitFor(() => view.seqs.length === 1, 5_000);
      const primary = await cluster.primaryFor(calculateSlot(`${keyPrefix}:${conversationId}`));
      await cluster.command(primary, "CLIENT", "KILL", "TYPE", "pubsub");
      // Announced while no subscriber listens on that node: only a read after the replacement brings it.
      await writing!.client.append({ conversationId, messages: [{ role: "user", content: "during" }] });
      const exact = await waitFor(() => view.contents.join() === "before,during", 5_000).then(
        () => true,
        () => false,
      );
      expect({ exact, contents: view.contents, error: view.error }).toEqual({ exact: true, contents: ["before", "during"], error: undefined });
      expect(view.discontinuities).toBe(0);
    } finally {
      view.stop();
      await view.done;
      await Promise.all([watching!.close(), writing!.close()]);
    }
  });
});

describe("Redis Cluster with an ACL user (REDIS_USERNAME, REDIS_PASSWORD)", () => {
  it("authenticates every node connection as a least-privilege user, and is NOT_SERVING with a wrong password", async () => {
    const password = `pw-${uniqueId()}`;
    const keyPrefix = `test-${uniqueId("acl-prefix")}`;
    const user = leastPrivilegeUser("chatmemory-app", password, keyPrefix, [...LEAST_PRIVILEGE_COMMANDS, "cluster|slots", "cluster|info"]);
    await Promise.all(cluster.nodes.map((node) => cluster.command(node, "ACL", "SETUSER", ...user)));
    try {
      const server = await startTestServer({ store: "redis", keyPrefix, redisClusterNodes: cluster.seeds, redisCredentials: { username: "chatmemory-app", password } });
      try {
        await waitFor(async () => (await servingStatus(server.address)) === "SERVING", 10_000);
        const ids = Array.from({ length: 30 }, () => uniqueId("acl"));
        await Promise.all(ids.map((conversationId) => server.client.append({ conversationId, messages: [{ role: "user", content: conversationId }] })));
        for (const conversationId of ids) expect((await server.client.count({ conversationId })).count).toBe(1n);
        const listed = [];
        for await (const { conversationId } of server.client.allConversations(7)) listed.push(conversationId);
        expect(listed.sort()).toEqual([...ids].sort());
        // Watch under the ACL user: it may subscribe to the prefix's channels, and the scripts may publish on them.
        const watch = server.client.watch({ conversationId: ids[0]! })[Symbol.asyncIterator]();
        expect((await watch.next()).value).toMatchObject({ reset: true, messages: [{ seq: 1n }] });
        await server.client.append({ conversationId: ids[0]!, messages: [{ role: "user", content: "watched" }] });
        expect((await watch.next()).value).toMatchObject({ reset: false, messages: [{ seq: 2n, content: "watched" }] });
        await watch.return?.(undefined);
        // Every connection the server holds, on every node, is the ACL user's.
        const users = await Promise.all(
          cluster.nodes.map(async (node) => {
            const list = String(await cluster.command(node, "CLIENT", "LIST"));
            return list.split("\n").filter((line) => line.includes("name=chatmemory ")).map((line) => /user=(\S+)/.exec(line)?.[1]);
          }),
        );
        expect(users.flat().length).toBeGreaterThanOrEqual(3);
        expect(new Set(users.flat())).toEqual(new Set(["chatmemory-app"]));
      } finally {
        await server.close();
      }
      const wrongPassword = { username: "chatmemory-app", password: "wrong" };
      expect(await healthOfFreshServer({ store: "redis", redisClusterNodes: cluster.seeds, redisCredentials: wrongPassword })).toBe("NOT_SERVING");
    } finally {
      await Promise.all(cluster.nodes.map((node) => cluster.command(node, "ACL", "DELUSER", "chatmemory-app")));
    }
  });
});

describe("Redis Cluster over TLS (REDIS_TLS)", () => {
  it("serves through TLS-only nodes, and refuses nodes whose certificate it cannot verify", async () => {
    const ca = new TestCertificateAuthority("cluster-tls");
    const nodeCert = ca.issue("redis-cluster", "peer", "redis-cluster-node");
    const tlsCluster = await RedisClusterProcesses.start(3, { cert: nodeCert.cert, key: nodeCert.key, ca: ca.cert, caPem: ca.pem() });
    try {
      const server = await startTestServer({ store: "redis", redisClusterNodes: tlsCluster.seeds, redisTlsCa: ca.pem() });
      try {
        await waitFor(async () => (await servingStatus(server.address)) === "SERVING", 10_000);
        const ids = Array.from({ length: 30 }, () => uniqueId("tls"));
        await Promise.all(ids.map((conversationId) => server.client.append({ conversationId, messages: [{ role: "user", content: conversationId }] })));
        for (const conversationId of ids) expect((await server.client.count({ conversationId })).count).toBe(1n);
        // The data went to all three primaries, through their TLS ports (the only ones they have).
        const keyCounts = await Promise.all(tlsCluster.nodes.map((node) => tlsCluster.command(node, "DBSIZE")));
        expect(keyCounts.every((count) => Number(count) > 0)).toBe(true);
      } finally {
        await server.close();
      }
      const rogueCa = new TestCertificateAuthority("cluster-rogue").pem();
      expect(await healthOfFreshServer({ store: "redis", redisClusterNodes: tlsCluster.seeds, redisTlsCa: rogueCa })).toBe("NOT_SERVING");
    } finally {
      await tlsCluster.stop();
    }
  });
});

describe("ListConversations during a live reshard", () => {
  it("lists every conversation exactly once while slots and their keys move between primaries, and prunes none", { timeout: 240_000 }, async () => {
    const server = await startTestServer({ store: "redis", redisClusterNodes: cluster.seeds, maxTurns: 3, redisTimeoutMs: 2_000 });
    const ids = Array.from({ length: 3_000 }, (_, i) => `r${String(i).padStart(4, "0")}`);
    const expected = [...ids].sort();
    const unavailable = { list: 0, append: 0 };
    const retryUnavailable = async <T>(call: () => Promise<T>, counter: "list" | "append"): Promise<T> => {
      for (;;) {
        try {
          return await call();
        } catch (error: unknown) {
          if ((error as { code?: number }).code !== status.UNAVAILABLE) throw error;
          unavailable[counter]++;
          await sleep(20);
        }
      }
    };
    /** One whole listing, page size 37, a page that meets a moving slot retried from the same token. */
    const listAll = async () => {
      const listed: string[] = [];
      let pageToken = "";
      do {
        const page = await retryUnavailable(() => server.client.listConversations({ pageSize: 37, pageToken }), "list");
        listed.push(...page.conversations.map((c) => c.conversationId));
        pageToken = page.nextPageToken;
      } while (pageToken !== "");
      return listed;
    };
    try {
      for (let i = 0; i < ids.length; i += 250) {
        await Promise.all(ids.slice(i, i + 250).map((conversationId) => server.client.append({ conversationId, messages: [{ role: "user", content: conversationId }] })));
      }
      const [from, to] = (await cluster.primaries()).sort((a, b) => b.slots - a.slots);
      let moving = true;
      const started = Date.now();
      const reshard = cluster.reshard(from!.id, to!.id, 2_000).finally(() => (moving = false));
      let appends = 0;
      // Appends keep running (through ASK redirects and TRYAGAIN while a slot's keys are split).
      const appender = (async () => {
        for (let n = 0; moving; n++) {
          const conversationId = ids[(n * 7919) % ids.length]!;
          await retryUnavailable(() => server.client.append({ conversationId, messages: [{ role: "user", content: `${n}` }] }), "append");
          appends++;
        }
      })();
      // Each of these listings started while slots were moving.
      let listingsDuringReshard = 0;
      while (moving) {
        const listed = await listAll();
        expect(listed.length).toBe(new Set(listed).size);
        expect([...listed].sort()).toEqual(expected);
        listingsDuringReshard++;
      }
      await reshard;
      const reshardMs = Date.now() - started;
      await appender;
      const after = await cluster.primaries();
      console.log(
        `[cluster] reshard of 2,000 slots from ${from!.port} to ${to!.port} in ${reshardMs} ms: ${listingsDuringReshard} whole listings and ${appends} appends during it; ` +
          `UNAVAILABLE retried: ${unavailable.list} pages, ${unavailable.append} appends; slots now ${after.map((p) => `${p.port}:${p.slots}`).join(", ")}`,
      );
      expect(after.find((p) => p.id === to!.id)!.slots).toBe(to!.slots + 2_000);
      expect(listingsDuringReshard).toBeGreaterThan(0);
      // Nothing was pruned by a listing that met a half-moved slot: every conversation is listed after it.
      const final = await listAll();
      expect([...final].sort()).toEqual(expected);
    } finally {
      await server.close();
    }
  });
});

describe("Watch during a live reshard", () => {
  it("brings every append to its watchers while the watched conversations' slots move", { timeout: 240_000 }, async () => {
    const keyPrefix = `test-${uniqueId("reshard-watch")}`;
    // A window far larger than the appends, so what a watcher holds must equal what is stored (no trim in between).
    const [watching, writing] = await Promise.all(
      [0, 1].map(() => startTestServer({ store: "redis", redisClusterNodes: cluster.seeds, keyPrefix, redisTimeoutMs: 2_000, maxTurns: 10_000 })),
    );
    const ids = Array.from({ length: 60 }, () => uniqueId("w"));
    const views = ids.map((conversationId) => new WatcherView((signal) => watching!.client.watch({ conversationId }, { signal })));
    try {
      await waitFor(() => views.every((view) => view.responses > 0), 10_000);
      const [from, to] = (await cluster.primaries()).sort((a, b) => b.slots - a.slots);
      const slots = ids.map((conversationId) => calculateSlot(`${keyPrefix}:${conversationId}`));
      const ownersBefore = await cluster.ownersOf(slots);
      let moving = true;
      const reshard = cluster.reshard(from!.id, to!.id, 2_000).finally(() => (moving = false));
      let appends = 0;
      let retried = 0;
      while (moving) {
        const conversationId = ids[appends % ids.length]!;
        try {
          await writing!.client.append({ conversationId, messages: [{ role: "user", content: `${appends}` }] });
          appends++;
        } catch (error: unknown) {
          if ((error as { code?: number }).code !== status.UNAVAILABLE) throw error;
          retried++;
          await sleep(20);
        }
      }
      await reshard;
      // No append after the reshard: what a watcher lacks now, only a lost announcement can explain.
      const stored = await Promise.all(ids.map(async (conversationId) => (await writing!.client.getHistory({ conversationId })).messages.map((m) => Number(m.seq))));
      const exact = () => views.every((view, i) => view.seqs.join() === stored[i]!.join());
      const settledMs = await waitFor(exact, 10_000).catch(() => undefined);
      const behind = views.filter((view, i) => view.seqs.join() !== stored[i]!.join()).length;
      if (settledMs === undefined) {
        // Which watchers, and whether their slot moved: what tells a lost subscription from a lost announcement.
        const ownersAfter = await cluster.ownersOf(slots);
        views.forEach((view, i) => {
          if (view.seqs.join() === stored[i]!.join()) return;
          console.log(
            `[cluster] behind: slot ${slots[i]} (${ownersBefore[i]} -> ${ownersAfter[i]}) holds ${view.seqs.length} up to ${view.seqs.at(-1)} of ${stored[i]!.length} up to ${stored[i]!.at(-1)}; ` +
              `${view.responses} responses, ${view.resetsAfterFirst} resets, error ${String(view.error)}`,
          );
        });
      }
      console.log(
        `[cluster] Watch during a reshard of 2,000 slots (${from!.port} to ${to!.port}): ${appends} appends to ${ids.length} watched conversations, ` +
          `${retried} UNAVAILABLE retried; every watcher exact ${settledMs === undefined ? `NOT within 10 s (${behind} behind)` : `${settledMs} ms after the reshard`}`,
      );
      expect(settledMs).toBeDefined();
      for (const view of views) {
        expect(view.error).toBeUndefined();
        expect(view.discontinuities).toBe(0);
      }
    } finally {
      for (const view of views) view.stop();
      await Promise.all(views.map((view) => view.done));
      await Promise.all([watching!.close(), writing!.close()]);
    }
  });
});

describe("Redis Cluster failover", () => {
  it("recovers without a server restart when the primary of a busy slot dies", async () => {
    const server = await startTestServer({ store: "redis", redisClusterNodes: cluster.seeds, maxTurns: 10_000, redisTimeoutMs: 500 });
    const conversationId = uniqueId("busy");
    const slot = Number(await cluster.command(cluster.nodes[0]!, "CLUSTER", "KEYSLOT", `${server.keyPrefix}:${conversationId}`));
    const primary = await cluster.primaryFor(slot);

    const writer = startRetryingWriter(server.client, conversationId);
    const { acknowledged } = writer;
    // A watcher through the failover: its sharded subscription dies with the primary and moves to the new one.
    const view = new WatcherView((signal) => server.client.watch({ conversationId }, { signal }));

    await sleep(500);
    const acknowledgedBeforeKill = acknowledged.length;
    await cluster.waitUntilReplicasSynced(10_000);
    await primary.kill();
    const killedAt = Date.now();
    // Failed over: the surviving nodes name a new primary for the slot and report the cluster ok.
    await waitFor(async () => (await cluster.primaryFor(slot, [primary])) !== primary, 15_000, 100);
    await cluster.waitUntilHealthy(15_000, [primary]);
    const failoverMs = Date.now() - killedAt;
    const lengthAtRecovery = acknowledged.length;
    await waitFor(() => acknowledged.length > lengthAtRecovery + 50, 15_000);
    await writer.stop();
    await waitFor(async () => (await servingStatus(server.address)) === "SERVING", 10_000);

    const lost = await lostMessages(server.client, conversationId, acknowledged);
    if (lost.length > 0) console.log(`[cluster] lost: ${lost.slice(0, 10).join(",")}${lost.length > 10 ? ",..." : ""}`);
    const lostAfterFailover = lost.filter((n) => n >= lengthAtRecovery);
    console.log(
      `[cluster] failover of the primary for slot ${slot} took ${failoverMs} ms; ${acknowledged.length} appends acknowledged ` +
        `(${acknowledgedBeforeKill} before the kill), ${writer.failures} failed attempts retried, ${lost.length} acknowledged appends lost ` +
        `(asynchronous replication), ${lostAfterFailover.length} lost after the failover`,
    );
    expect(acknowledged.length).toBeGreaterThan(acknowledgedBeforeKill + 50);
    expect(lostAfterFailover).toEqual([]);
    // Redis replication is asynchronous: only writes in flight at the kill may be lost, never many.
    expect(lost.length).toBeLessThanOrEqual(5);
    // With nothing lost, the watcher holds exactly what is stored (a lost write's seq is given again, so then it cannot).
    if (lost.length === 0) {
      const stored = (await server.client.getHistory({ conversationId })).messages.map((m) => Number(m.seq));
      const exact = await waitFor(() => view.seqs.join() === stored.join(), 10_000).then(() => true, () => false);
      console.log(`[cluster] the watcher through the failover: ${view.seqs.length} messages, ${exact ? "exact" : "NOT exact"}, ${view.resetsAfterFirst} resets`);
      expect(exact).toBe(true);
    }
    view.stop();
    await view.done;
    expect(view.error).toBeUndefined();
    await server.close();
  });
});
