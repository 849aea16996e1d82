/** Concurrent appends to one conversation: nothing lost inside the window, batches never interleaved. */
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { type StoreKind, type TestServer, startTestServer, uniqueId } from "./helpers/test-server.js";

const redisUrl = inject("redisUrl");

describe.each<StoreKind>(["redis", "memory"])("concurrent appends on the %s store", (store) => {
  let server: TestServer;
  beforeAll(async () => {
    // Window of 400 messages: room for every message below.
    server = await startTestServer({ store, redisUrl, maxTurns: 200 });
  });
  afterAll(() => server.close());

  it("keeps all 200 single appends, each once", async () => {
    const id = uniqueId();
    const sent = Array.from({ length: 200 }, (_, i) => `m${i}`);
    const counts = await Promise.all(
      sent.map((content) => server.client.append({ conversationId: id, messages: [{ role: "user", content }] })),
    );
    // Every append saw a distinct count: each ran atomically on its own.
    expect(new Set(counts.map((c) => c.count)).size).toBe(200);
    const stored = (await server.client.getHistory({ conversationId: id })).messages.map((m) => m.content);
    expect(stored).toHaveLength(200);
    expect([...stored].sort()).toEqual([...sent].sort());
  });

  it("never interleaves the messages of concurrent batches", async () => {
    const id = uniqueId();
    await Promise.all(
      Array.from({ length: 100 }, (_, batch) =>
        server.client.append({
          conversationId: id,
          messages: [0, 1, 2].map((part) => ({ role: "user", content: `${batch}:${part}` })),
        }),
      ),
    );
    const stored = (await server.client.getHistory({ conversationId: id })).messages.map((m) => m.content);
    expect(stored).toHaveLength(300);
    for (let i = 0; i < stored.length; i += 3) {
      const batch = stored[i]?.split(":")[0];
      expect(stored.slice(i, i + 3)).toEqual([`${batch}:0`, `${batch}:1`, `${batch}:2`]);
    }
  });
});
