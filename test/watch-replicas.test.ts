/**
 * Watch across server replicas sharing one Redis: 3 servers, 8 writers and 50
 * watchers spread over them, 15 of the watchers behind a proxy that cuts their
 * connections again and again (they resume through the client's watch()). Every
 * watcher must end with exactly the appended messages, in seq order, with no
 * gap and no duplicate, and a Replace made through one server resets them all.
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { type ChatMemoryClient, createChatMemoryClient } from "../clients/typescript/src/index.js";
import { WatcherView } from "./helpers/watcher-view.js";
import { startTcpBalancer, type TcpBalancer } from "./helpers/tcp-balancer.js";
import { startTestServer, type TestServer } from "./helpers/test-server.js";

const SERVERS = 3;
const WRITERS = 8;
const WATCHERS = 50;
const RESUMING_WATCHERS = 15;
const APPENDS_PER_WRITER = 40;
/** Writers go on past APPENDS_PER_WRITER until the proxy has cut the resuming watchers off this often. */
const MIN_CUTS = 5;
const CONVERSATIONS = 2;

async function until(condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("timed out waiting for the watchers");
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe("Watch across 3 servers on one Redis", () => {
  const keyPrefix = `watch-replicas-${randomUUID()}`;
  let servers: TestServer[];
  let proxy: TcpBalancer;
  let proxiedClient: ChatMemoryClient;

  beforeAll(async () => {
    servers = await Promise.all(Array.from({ length: SERVERS }, () => startTestServer({ store: "redis", redisUrl: inject("redisUrl"), keyPrefix, maxTurns: 1000 })));
    proxy = await startTcpBalancer(servers.map((server) => Number(server.address.split(":")[1])));
    proxiedClient = createChatMemoryClient({ address: proxy.address });
  });
  afterAll(async () => {
    proxiedClient.close();
    await proxy.close();
    await Promise.all(servers.map((server) => server.close()));
  });

  it("delivers every append to every watcher exactly once, in order, through cut connections", async () => {
    const ids = Array.from({ length: CONVERSATIONS }, (_, i) => `replicas-${i}`);
    // Seeded first, so every watcher's first response (a reset: it comes with no epoch) gives it the epoch it resumes with.
    for (const conversationId of ids) await (servers[2] as TestServer).client.append({ conversationId, messages: [{ role: "system", content: "seed" }] });
    let appended = ids.length;
    const views = Array.from({ length: WATCHERS }, (_, i) => {
      const conversationId = ids[i % CONVERSATIONS] as string;
      const resuming = i < RESUMING_WATCHERS;
      const client = resuming ? proxiedClient : (servers[i % SERVERS] as TestServer).client;
      const view = new WatcherView((signal) => client.watch({ conversationId }, { signal }));
      return { conversationId, view, resuming };
    });
    // Every watcher has its first response before writing starts.
    await until(() => views.every(({ view }) => view.responses > 0), 10_000);

    let cuts = 0;
    const cutter = setInterval(() => {
      proxy.dropConnections();
      cuts++;
    }, 150);
    const writers = Array.from({ length: WRITERS }, async (_, w) => {
      const client = (servers[w % SERVERS] as TestServer).client;
      // A fast machine writes 40 Appends in less time than a few cuts take: writing goes on until they happened.
      for (let a = 0; a < APPENDS_PER_WRITER || cuts < MIN_CUTS; a++) {
        const batch = 1 + ((w + a) % 3);
        const messages = Array.from({ length: batch }, (_, m) => ({ role: "user", content: `w${w}-a${a}-m${m}` }));
        await client.append({ conversationId: ids[(w + a) % CONVERSATIONS] as string, messages });
        appended += batch;
      }
    });
    await Promise.all(writers);
    clearInterval(cutter);

    const stored = await Promise.all(ids.map((conversationId) => (servers[0] as TestServer).client.getHistory({ conversationId })));
    const expected = new Map(ids.map((id, i) => [id, (stored[i]?.messages ?? []).map((message) => message.content)]));
    const total = [...expected.values()].reduce((sum, contents) => sum + contents.length, 0);
    expect(total).toBe(appended);
    for (const [, contents] of expected) expect(new Set(contents).size).toBe(contents.length);

    await until(() => views.every(({ conversationId, view }) => view.contents.length === expected.get(conversationId)?.length), 20_000);
    for (const { conversationId, view } of views) {
      expect(view.error).toBeUndefined();
      expect(view.contents).toEqual(expected.get(conversationId));
      expect(view.seqs).toEqual(Array.from({ length: view.seqs.length }, (_, i) => i + 1));
      expect([view.discontinuities, view.resetsAfterFirst]).toEqual([0, 0]);
    }
    // The proxied watchers really were cut off and resumed on new connections.
    expect(cuts).toBeGreaterThanOrEqual(MIN_CUTS);
    expect(proxy.connections.length).toBeGreaterThan(3);

    // A Replace through one server resets every watcher, on every server.
    await (servers[1] as TestServer).client.replace({ conversationId: ids[0] as string, messages: [{ role: "system", content: "summary" }] });
    const onFirst = views.filter(({ conversationId }) => conversationId === ids[0]);
    await until(() => onFirst.every(({ view }) => view.contents.length === 1), 10_000);
    for (const { view } of onFirst) {
      expect(view.contents).toEqual(["summary"]);
      expect(view.resetsAfterFirst).toBe(1);
    }
    for (const { view } of views) view.stop();
    await Promise.all(views.map(({ view }) => view.done));
  }, 120_000);
});
