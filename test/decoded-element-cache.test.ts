/**
 * The decoded-element cache: hits are the same frozen object, corrupt text is
 * never cached, memory stays under its limit, and a server reading a real
 * Redis serves whatever the list holds now, even when another writer replaced
 * an element with different text.
 */
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { DecodedElementCache, elementDecoding } from "../src/store/decoded-element-cache.js";
import { decodeStoredMessage } from "../src/store/message-codec.js";
import { type TestServer, startTestServer, uniqueId } from "./helpers/test-server.js";

const element = (content: string, extra: Record<string, unknown> = {}) => JSON.stringify({ role: "user", content, ...extra });

describe("DecodedElementCache", () => {
  it("decodes like JSON.parse and returns the same frozen message for the same text", () => {
    const cache = new DecodedElementCache(1024 * 1024);
    const raw = element("hello", { metadata: { k: "v" }, ts: 1_795_806_168_589 });
    const first = cache.decode(raw);
    expect(first).toEqual(decodeStoredMessage(raw));
    // A different string object with the same text (as every Redis reply is) hits the cache.
    expect(cache.decode(`${raw.slice(0, 5)}${raw.slice(5)}`)).toBe(first);
    expect(Object.isFrozen(first)).toBe(true);
    expect(Object.isFrozen(first?.metadata)).toBe(true);
    expect(() => {
      (first as { content: string }).content = "changed";
    }).toThrow(TypeError);
    expect(cache.entries).toBe(1);
  });

  it("tells apart elements that end alike", () => {
    const cache = new DecodedElementCache(1024 * 1024);
    const tail = ` and the same long ending of more than sixty-four characters ${"z".repeat(64)}`;
    const first = element(`first${tail}`);
    const second = element(`second${tail}`);
    for (let round = 0; round < 3; round++) {
      expect(cache.decode(first)?.content).toBe(`first${tail}`);
      expect(cache.decode(second)?.content).toBe(`second${tail}`);
    }
  });

  it("does not cache corrupt elements", () => {
    const cache = new DecodedElementCache(1024 * 1024);
    for (const corrupt of ["{not json", '{"role": 1, "content": "x"}', "[]", '"text"']) {
      expect(cache.decode(corrupt)).toBeUndefined();
    }
    expect(cache.entries).toBe(0);
  });

  it("stays under its byte limit, dropping the least recently used", () => {
    const limit = 64 * 1024;
    const cache = new DecodedElementCache(limit);
    const keep = element("read often");
    const kept = cache.decode(keep);
    for (let index = 0; index < 5_000; index++) {
      cache.decode(element(`message ${index} ${"x".repeat(200)}`));
      if (index % 50 === 0) cache.decode(keep);
    }
    expect(cache.sizeBytes).toBeLessThanOrEqual(limit);
    expect(cache.entries).toBeGreaterThan(50);
    expect(cache.entries).toBeLessThan(5_000);
    expect(cache.decode(keep)).toBe(kept);
    // An element larger than a sixteenth of the cache is decoded, just not kept, so it flushes nothing.
    const entriesBefore = cache.entries;
    const huge = element("y".repeat(limit / 8));
    expect(cache.decode(huge)?.content.length).toBe(limit / 8);
    expect(cache.decode(huge)).not.toBe(cache.decode(huge));
    expect(cache.entries).toBe(entriesBefore);
    expect(cache.decode(keep)).toBe(kept);
  });

  it("is off at 0 bytes: every read decodes afresh", () => {
    const { decode, encodings } = elementDecoding(0);
    expect(encodings).toBeUndefined();
    const raw = element("hello");
    expect(decode(raw)).toEqual(decode(raw));
    expect(decode(raw)).not.toBe(decode(raw));
    expect(Object.isFrozen(decode(raw))).toBe(false);
  });
});

describe("GetHistory with the cache on, against Redis", () => {
  let server: TestServer;
  let redis: Redis;
  beforeAll(async () => {
    server = await startTestServer({ store: "redis", redisUrl: inject("redisUrl"), decodeCacheMb: 1 });
    redis = new Redis(inject("redisUrl"));
  });
  afterAll(async () => {
    redis.disconnect();
    await server.close();
  });

  it("serves what the list holds now, not what was decoded before", async () => {
    const id = uniqueId();
    const key = `${server.keyPrefix}:${id}`;
    await server.client.append({ conversationId: id, messages: [{ role: "user", content: "one" }, { role: "assistant", content: "two" }] });
    const read = async () => (await server.client.getHistory({ conversationId: id })).messages.map((m) => `${m.role}:${m.content}`);
    expect(await read()).toEqual(["user:one", "assistant:two"]);
    expect(await read()).toEqual(["user:one", "assistant:two"]);
    // Another writer (say the Python class) replaces an element and appends a copy of one.
    await redis.lset(key, 0, element("replaced"));
    await redis.rpush(key, element("replaced"));
    expect(await read()).toEqual(["user:replaced", "assistant:two", "user:replaced"]);
    await redis.lset(key, 1, "{corrupt");
    expect(await read()).toEqual(["user:replaced", "user:replaced"]);
  });
});
