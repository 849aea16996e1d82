/**
 * request_id: a retried Append stores nothing new and returns the first
 * call's count, on both stores; ids are forgotten by Clear and after their TTL.
 */
import { status } from "@grpc/grpc-js";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { type StoreKind, type TestServer, sleep, startTestServer, statusOf, uniqueId } from "./helpers/test-server.js";

const redisUrl = inject("redisUrl");

function userMessage(content: string) {
  return [{ role: "user", content, metadata: { k: "v" } }];
}

describe.each<StoreKind>(["memory", "redis"])("request_id on the %s store", (store) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ store, redisUrl, maxTurns: 3, requestIdTtlSeconds: 1 });
  });
  afterAll(() => server.close());

  const contents = async (conversationId: string) =>
    (await server.client.getHistory({ conversationId })).messages.map((m) => m.content);

  it("stores a retried append once and returns the first call's count", async () => {
    const id = uniqueId();
    const first = await server.client.append({ conversationId: id, messages: userMessage("a"), requestId: "req-1" });
    await server.client.append({ conversationId: id, messages: userMessage("b"), requestId: "req-2" });
    const retry = await server.client.append({ conversationId: id, messages: userMessage("a"), requestId: "req-1" });
    expect([first.count, retry.count]).toEqual([1n, 1n]);
    expect(await contents(id)).toEqual(["a", "b"]);
  });

  it("stores appends with different ids, and appends without an id, every time", async () => {
    const id = uniqueId();
    await server.client.append({ conversationId: id, messages: userMessage("same"), requestId: "r1" });
    await server.client.append({ conversationId: id, messages: userMessage("same"), requestId: "r2" });
    await server.client.append({ conversationId: id, messages: userMessage("same") });
    await server.client.append({ conversationId: id, messages: userMessage("same") });
    expect(await contents(id)).toEqual(["same", "same", "same", "same"]);
  });

  it("keeps ids per conversation", async () => {
    const [one, two] = [uniqueId(), uniqueId()];
    await server.client.append({ conversationId: one, messages: userMessage("x"), requestId: "shared-id" });
    await server.client.append({ conversationId: two, messages: userMessage("x"), requestId: "shared-id" });
    expect([await contents(one), await contents(two)]).toEqual([["x"], ["x"]]);
  });

  it("rejects an id reused for different messages, naming request_id, and stores nothing", async () => {
    const id = uniqueId();
    await server.client.append({ conversationId: id, messages: userMessage("original"), requestId: "r" });
    const { code, details } = await statusOf(server.client.append({ conversationId: id, messages: userMessage("changed"), requestId: "r" }));
    expect(status[code]).toBe("INVALID_ARGUMENT");
    expect(details).toMatch(/^request_id:/);
    // Metadata is part of the request too.
    const metadataChanged = [{ role: "user", content: "original", metadata: { k: "other" } }];
    expect(status[(await statusOf(server.client.append({ conversationId: id, messages: metadataChanged, requestId: "r" }))).code]).toBe("INVALID_ARGUMENT");
    expect(await contents(id)).toEqual(["original"]);
  });

  it("replays the first count even after the window moved on", async () => {
    const id = uniqueId();
    const batch = [1, 2, 3, 4].map((n) => ({ role: "user", content: `m${n}` }));
    expect((await server.client.append({ conversationId: id, messages: batch, requestId: "batch" })).count).toBe(4n);
    await server.client.append({ conversationId: id, messages: userMessage("m5") });
    await server.client.append({ conversationId: id, messages: userMessage("m6") });
    await server.client.append({ conversationId: id, messages: userMessage("m7") });
    expect((await server.client.append({ conversationId: id, messages: batch, requestId: "batch" })).count).toBe(4n);
    expect(await contents(id)).toEqual(["m2", "m3", "m4", "m5", "m6", "m7"]);
  });

  it("forgets ids on Clear", async () => {
    const id = uniqueId();
    await server.client.append({ conversationId: id, messages: userMessage("before"), requestId: "r" });
    await server.client.clear({ conversationId: id });
    expect((await server.client.append({ conversationId: id, messages: userMessage("before"), requestId: "r" })).count).toBe(1n);
    expect(await contents(id)).toEqual(["before"]);
  });

  it("forgets ids after the request-id TTL (1 s here)", async () => {
    const id = uniqueId();
    await server.client.append({ conversationId: id, messages: userMessage("once"), requestId: "r" });
    await sleep(400);
    await server.client.append({ conversationId: id, messages: userMessage("once"), requestId: "r" });
    expect(await contents(id)).toEqual(["once"]);
    await sleep(1100);
    await server.client.append({ conversationId: id, messages: userMessage("once"), requestId: "r" });
    expect(await contents(id)).toEqual(["once", "once"]);
  });

  it.each([
    ["a space", "has space"],
    ["a control character", "id\u0001"],
    ["non-ASCII", "idé"],
    ["129 characters", "r".repeat(129)],
  ])("rejects a request_id with %s", async (_label, requestId) => {
    const id = uniqueId();
    const { code, details } = await statusOf(server.client.append({ conversationId: id, messages: userMessage("x"), requestId }));
    expect(status[code]).toBe("INVALID_ARGUMENT");
    expect(details).toMatch(/^request_id:/);
    expect((await server.client.count({ conversationId: id })).count).toBe(0n);
  });
});

describe("request_id storage in Redis", () => {
  let server: TestServer;
  let redis: Redis;
  beforeAll(async () => {
    server = await startTestServer({ store: "redis", redisUrl, requestIdTtlSeconds: 60 });
    redis = new Redis(redisUrl);
  });
  afterAll(async () => {
    redis.disconnect();
    await server.close();
  });

  it("keeps ids in companion keys hash-tagged to the list's Cluster slot, with a TTL, deleted by Clear", async () => {
    const id = uniqueId();
    const list = `${server.keyPrefix}:${id}`;
    await server.client.append({ conversationId: id, messages: userMessage("x"), requestId: "req-a" });
    expect((await redis.keys(`*${id}*`)).sort()).toEqual([list, `{${list}}:meta`, `{${list}}:request-expiry`, `{${list}}:request-ids`].sort());
    // The id in the form servers before seqs read, and its seqs beside it.
    expect((await redis.hkeys(`{${list}}:request-ids`)).sort()).toEqual(["req-a", "req-a seqs"]);
    expect(await redis.hget(`{${list}}:request-ids`, "req-a seqs")).toBe("1:1");
    const pttl = await redis.pttl(`{${list}}:request-ids`);
    expect(pttl).toBeGreaterThan(55_000);
    expect(pttl).toBeLessThanOrEqual(60_000);
    // The list key has no braces and the companions' hash tag is the whole list key: one slot.
    expect(list).not.toMatch(/[{}]/);
    expect(await server.client.clear({ conversationId: id })).toMatchObject({ deleted: true });
    expect(await redis.keys(`*${id}*`)).toEqual([]);
  });

  it("keeps an id no longer than its conversation, also when the Append gives no ttl of its own", async () => {
    const id = uniqueId();
    const list = `${server.keyPrefix}:${id}`;
    await server.client.append({ conversationId: id, messages: userMessage("x"), ttl: { seconds: 30n, nanos: 0 } });
    await server.client.append({ conversationId: id, messages: userMessage("y"), requestId: "req-b" });
    const conversationTtl = await redis.pttl(`{${list}}:meta`);
    expect(conversationTtl).toBeGreaterThan(25_000);
    expect(await redis.pttl(`{${list}}:request-ids`)).toBeLessThanOrEqual(conversationTtl);
    expect(await redis.pttl(`{${list}}:request-expiry`)).toBeLessThanOrEqual(conversationTtl);
  });

  it("keeps no request-id keys for appends without a request_id (only the list and its seq counter)", async () => {
    const id = uniqueId();
    await server.client.append({ conversationId: id, messages: userMessage("x") });
    expect((await redis.keys(`*${id}*`)).sort()).toEqual([`${server.keyPrefix}:${id}`, `{${server.keyPrefix}:${id}}:meta`].sort());
  });
});
