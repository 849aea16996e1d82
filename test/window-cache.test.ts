/**
 * The window cache of the Redis store: a window whose bytes are unchanged is the same frozen
 * result (history-response.test.ts: and the same encoded response); any change by anyone, of any element, is served at
 * once; ranges, corrupt counts and the byte bound hold. Against a real Redis.
 */
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { DecodedElementCache } from "../src/store/decoded-element-cache.js";
import type { RedisChatStore } from "../src/store/redis-chat-store.js";
import { WindowCache } from "../src/store/window-cache.js";
import { createTestStore, uniqueId } from "./helpers/test-server.js";

const redisUrl = inject("redisUrl");
const element = (content: string) => JSON.stringify({ role: "user", content });
const bytesOf = (...texts: string[]) => texts.map((text) => Buffer.from(text));

/** A window cache whose element decodes are counted (`decodes()`), through a real element cache. */
function countingWindowCache() {
  const elementCache = new DecodedElementCache(1024 * 1024);
  let decodes = 0;
  const windows = new WindowCache(1024 * 1024, {
    decode: (text) => {
      decodes++;
      return elementCache.decode(text);
    },
    encodings: elementCache.encodings,
  });
  return { windows, decodes: () => decodes };
}

describe("WindowCache", () => {
  it("returns the kept frozen result for the same bytes, and decodes afresh when any byte differs", () => {
    const windows = new WindowCache(1024 * 1024, new DecodedElementCache(1024 * 1024));
    const first = windows.read("k\u00000", bytesOf(element("a"), element("b")));
    expect(first.messages.map((m) => m.content)).toEqual(["a", "b"]);
    expect(Object.isFrozen(first) && Object.isFrozen(first.messages) && Object.isFrozen(first.messages[0])).toBe(true);
    // New Buffer objects with the same bytes, as every reply is: the same result.
    expect(windows.read("k\u00000", bytesOf(element("a"), element("b")))).toBe(first);
    // Same length, one byte changed; one element more; one fewer: all decoded afresh.
    expect(windows.read("k\u00000", bytesOf(element("a"), element("c"))).messages.map((m) => m.content)).toEqual(["a", "c"]);
    expect(windows.read("k\u00000", bytesOf(element("a"), element("c"), element("d"))).messages).toHaveLength(3);
    expect(windows.read("k\u00000", bytesOf(element("a"))).messages).toHaveLength(1);
    // Another key with the same bytes is its own window.
    expect(windows.read("other\u00000", bytesOf(element("a")))).not.toBe(windows.read("k\u00000", bytesOf(element("a"), element("x"))));
  });

  it("decodes only what is new when the window moved on: appended and trimmed, or grown", () => {
    const { windows, decodes } = countingWindowCache();
    const texts = Array.from({ length: 10 }, (_, i) => element(`m${i}`));
    windows.read("k", bytesOf(...texts.slice(0, 4)));
    expect(decodes()).toBe(4);
    // Grown by two (not yet trimmed): two decodes.
    expect(windows.read("k", bytesOf(...texts.slice(0, 6))).messages.map((m) => m.content)).toEqual(["m0", "m1", "m2", "m3", "m4", "m5"]);
    expect(decodes()).toBe(6);
    // Moved by three (three appended, three trimmed): three decodes.
    expect(windows.read("k", bytesOf(...texts.slice(3, 9))).messages.map((m) => m.content)).toEqual(["m3", "m4", "m5", "m6", "m7", "m8"]);
    expect(decodes()).toBe(9);
    // A changed element in the middle matches no shift: everything is decoded again, correctly.
    const changed = [...texts.slice(3, 6), element("CHANGED"), ...texts.slice(7, 9)];
    expect(windows.read("k", bytesOf(...changed)).messages.map((m) => m.content)).toEqual(["m3", "m4", "m5", "CHANGED", "m7", "m8"]);
    expect(decodes()).toBe(15);
  });

  it("matches a window moved by up to 64 messages, and decodes a farther one afresh", () => {
    const texts = Array.from({ length: 200 }, (_, i) => element(`m${i}`));
    const { windows, decodes } = countingWindowCache();
    windows.read("k", bytesOf(...texts.slice(0, 100)));
    expect(decodes()).toBe(100);
    expect(windows.read("k", bytesOf(...texts.slice(64, 164))).messages[0]?.content).toBe("m64");
    expect(decodes()).toBe(100 + 64);
    // Kept: m64..m163. Now m129..m199, a move of 65: past the limit, so all 71 are decoded.
    expect(windows.read("k", bytesOf(...texts.slice(129, 200))).messages[0]?.content).toBe("m129");
    expect(decodes()).toBe(100 + 64 + 71);
  });

  it("keeps the corrupt count of a kept window", () => {
    const windows = new WindowCache(1024 * 1024, new DecodedElementCache(1024 * 1024));
    const raw = () => bytesOf(element("ok"), "{not json", '{"role": 1}');
    const first = windows.read("k", raw());
    expect(first.skipped).toBe(2);
    const again = windows.read("k", raw());
    expect(again).toBe(first);
    expect(again.skipped).toBe(2);
    // Moved on by one: the corrupt elements kept in the overlap still count.
    const moved = windows.read("k", [...raw().slice(1), Buffer.from(element("new"))]);
    expect(moved.messages.map((m) => m.content)).toEqual(["new"]);
    expect(moved.skipped).toBe(2);
  });

  it("stays under its byte limit and keeps no window over 1/16 of it", () => {
    const limit = 256 * 1024;
    const windows = new WindowCache(limit, new DecodedElementCache(1024 * 1024));
    for (let index = 0; index < 2_000; index++) windows.read(`k${index}`, bytesOf(element(`m${index} ${"x".repeat(300)}`)));
    expect(windows.sizeBytes).toBeLessThanOrEqual(limit);
    expect(windows.entries).toBeGreaterThan(100);
    const before = windows.entries;
    const huge = bytesOf(element("y".repeat(limit / 16)));
    const first = windows.read("huge", huge);
    expect(windows.read("huge", bytesOf(element("y".repeat(limit / 16))))).not.toBe(first);
    expect(windows.entries).toBe(before);
  });
});

describe("the Redis store's window cache, against another writer", () => {
  let store: RedisChatStore;
  let raw: Redis;
  const keyPrefix = `test-${uniqueId("windows")}`;
  beforeAll(async () => {
    store = createTestStore({ store: "redis", redisUrl, maxTurns: 50 }, keyPrefix) as RedisChatStore;
    await store.waitUntilReady(5000);
    raw = new Redis(redisUrl);
  });
  afterAll(async () => {
    raw.disconnect();
    await store.close();
  });

  it("serves every change at once: LSET of an element to text of the same length, RPUSH, LTRIM, DEL", async () => {
    const id = uniqueId();
    const key = `${keyPrefix}:${id}`;
    await store.append(id, ["aaaa", "bbbb", "cccc"].map((content) => ({ role: "user", content })));
    const first = await store.getHistory(id, 0);
    expect((await store.getHistory(id, 0)).messages).toBe(first.messages);

    await raw.lset(key, 1, element("BBBB"));
    expect((await store.getHistory(id, 0)).messages.map((m) => m.content)).toEqual(["aaaa", "BBBB", "cccc"]);
    await raw.rpush(key, element("dddd"));
    expect((await store.getHistory(id, 0)).messages.map((m) => m.content)).toEqual(["aaaa", "BBBB", "cccc", "dddd"]);
    await raw.ltrim(key, 2, -1);
    expect((await store.getHistory(id, 0)).messages.map((m) => m.content)).toEqual(["cccc", "dddd"]);
    await raw.del(key);
    expect((await store.getHistory(id, 0)).messages).toEqual([]);
  });

  it("keeps each range apart: the newest 2 and the whole window", async () => {
    const id = uniqueId();
    await store.append(id, ["1", "2", "3", "4"].map((content) => ({ role: "user", content })));
    for (let round = 0; round < 2; round++) {
      expect((await store.getHistory(id, 2)).messages.map((m) => m.content)).toEqual(["3", "4"]);
      expect((await store.getHistory(id, 0)).messages.map((m) => m.content)).toEqual(["1", "2", "3", "4"]);
    }
  });
});
