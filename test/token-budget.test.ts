/**
 * Token counts and token budgets end to end: token_count is tiktoken's count (content plus each
 * tool call's name and arguments), stored once at append and counted on read for elements without
 * one; max_tokens returns the longest newest part that fits (checked against a brute-force
 * oracle); counting big, hostile content does not hold up other callers.
 */
import { randomBytes } from "node:crypto";
import fc from "fast-check";
import { Redis } from "ioredis";
import { getEncoding } from "js-tiktoken";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { type HistoryQuery, selectHistory } from "../src/service/history-selection.js";
import type { HistoryReadResult, StoredMessage } from "../src/store/chat-store.js";
import { type TestServer, startTestServer, uniqueId } from "./helpers/test-server.js";

const redisUrl = inject("redisUrl");
const o200k = getEncoding("o200k_base");
const tiktoken = (text: string) => o200k.encode(text).length;

const TEXTS = [
  "Hello, world!",
  "漢字とかな交じり文、そして한국어 문장도.",
  "👩🏽‍💻 🚀 emoji with ZWJ 👨‍👩‍👧‍👦 and flags 🇫🇷🇯🇵",
  "def fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)\n",
  "   leading spaces, trailing tabs\t\t\n\n  ",
  "Ünïcödé — “quotes” and numbers 1234567890 3.14159",
  "",
];

describe("token_count and total_tokens", () => {
  let server: TestServer;
  let redis: Redis;
  beforeAll(async () => {
    server = await startTestServer({ store: "redis", redisUrl, maxTurns: 50 });
    redis = new Redis(redisUrl);
  });
  afterAll(async () => {
    redis.disconnect();
    await server.close();
  });

  it("is tiktoken's o200k_base count of content, tool call names and arguments, stored as tok", async () => {
    const id = uniqueId();
    const call = { id: "call_1", name: "get_weather", arguments: '{"city": "Paris", "unit": "°C"}' };
    await server.client.append({
      conversationId: id,
      messages: [...TEXTS.map((content) => ({ role: "user", content })), { role: "assistant", content: "checking", toolCalls: [call] }],
    });
    const { messages, totalTokens } = await server.client.getHistory({ conversationId: id });
    const expected = [...TEXTS.map(tiktoken), tiktoken("checking") + tiktoken(call.name) + tiktoken(call.arguments)];
    expect(messages.map((m) => m.tokenCount)).toEqual(expected);
    expect(totalTokens).toBe(BigInt(expected.reduce((a, b) => a + b, 0)));
    const stored = (await redis.lrange(`${server.keyPrefix}:${id}`, 0, -1)).map((element) => JSON.parse(element) as { tok?: Record<string, number> });
    expect(stored.map((element) => element.tok?.o200k_base)).toEqual(expected);
  });

  it("counts elements stored without a count (the Python class's) when read", async () => {
    const id = uniqueId();
    await redis.rpush(`${server.keyPrefix}:${id}`, JSON.stringify({ role: "user", content: TEXTS[1] }), JSON.stringify({ role: "assistant", content: TEXTS[3] }));
    const { messages } = await server.client.getHistory({ conversationId: id });
    expect(messages.map((m) => m.tokenCount)).toEqual([tiktoken(TEXTS[1] as string), tiktoken(TEXTS[3] as string)]);
  });

  it("max_tokens returns the newest messages that fit with the pinned ones, and both bounds hold with limit", async () => {
    const id = uniqueId();
    const system = { role: "system", content: "You are a terse assistant.", pinned: true };
    const turns = Array.from({ length: 10 }, (_, i) => ({ role: i % 2 ? "assistant" : "user", content: `message number ${i} `.repeat(i + 1) }));
    await server.client.append({ conversationId: id, messages: [system, ...turns] });
    const all = await server.client.getHistory({ conversationId: id });
    const counts = all.messages.map((m) => m.tokenCount);
    const pinnedTokens = counts[0] as number;
    for (const budget of [1, pinnedTokens, pinnedTokens + 20, pinnedTokens + 60, 10_000]) {
      const read = await server.client.getHistory({ conversationId: id, maxTokens: budget });
      // Oracle: the longest suffix of the window whose sum fits in what the pinned message leaves.
      let fit = 0;
      let used = pinnedTokens;
      for (let i = counts.length - 1; i >= 1 && used + (counts[i] as number) <= budget; i--) {
        used += counts[i] as number;
        fit++;
      }
      expect(read.messages.map((m) => m.content)).toEqual([system.content, ...turns.slice(turns.length - fit).map((t) => t.content)]);
      expect(read.totalTokens).toBe(BigInt(used));
      const both = await server.client.getHistory({ conversationId: id, maxTokens: budget, limit: 2 });
      expect(both.messages.length).toBe(1 + Math.min(2, fit));
    }
  });

  it("counts 512 KiB of one letter and of base64 within seconds, without holding up other callers", async () => {
    const id = uniqueId();
    const blobs = ["a".repeat(512 * 1024), randomBytes(384 * 1024).toString("base64")];
    let slowest = 0;
    let reads = 0;
    let appending = true;
    const others = (async () => {
      while (appending) {
        const started = performance.now();
        await server.client.getHistory({ conversationId: "other-caller" });
        slowest = Math.max(slowest, performance.now() - started);
        reads++;
      }
    })();
    const started = performance.now();
    for (const content of blobs) await server.client.append({ conversationId: id, messages: [{ role: "tool", content, toolCallId: "c" }] });
    const seconds = (performance.now() - started) / 1000;
    appending = false;
    await others;
    const { messages } = await server.client.getHistory({ conversationId: id });
    console.log(`[tokens] 2 x 512 KiB appended in ${seconds.toFixed(2)} s; ${reads} other reads meanwhile, slowest ${slowest.toFixed(1)} ms`);
    expect(messages.map((m) => m.tokenCount)).toEqual([tiktoken("a".repeat(1024)) > 0 ? expect.any(Number) : 0, expect.any(Number)]);
    expect(messages.every((m) => m.tokenCount > 0)).toBe(true);
    expect(seconds).toBeLessThan(20);
    expect(reads).toBeGreaterThan(5);
    // A few ms on a quiet machine; the bound leaves room for a loaded CI machine, far below a held-up loop.
    expect(slowest).toBeLessThan(500);
  });
});

describe("selectHistory with max_tokens, against a brute-force oracle", () => {
  const message = (seq: number, role: string): StoredMessage => ({ role, content: `m${seq}`, seq });
  it("returns the longest newest part of the window that fits, tool-safe, pinned first", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.constantFrom("user", "assistant", "tool"), fc.integer({ min: 0, max: 30 })), { maxLength: 25 }),
        fc.array(fc.integer({ min: 0, max: 30 }), { maxLength: 3 }),
        fc.integer({ min: 1, max: 200 }),
        fc.integer({ min: 0, max: 10 }),
        (windowSpec, pinnedSpec, maxTokens, limit) => {
          const tokens = new Map<StoredMessage, number>();
          const pinned = pinnedSpec.map((count, i) => {
            const m = message(1000 + i, "system");
            tokens.set(m, count);
            return m;
          });
          const all = windowSpec.map(([role, count], i) => {
            const m = message(i + 1, role);
            tokens.set(m, count);
            return m;
          });
          // The store reads the newest `limit` elements (all when 0).
          const read: HistoryReadResult = {
            pinned,
            messages: limit > 0 ? all.slice(-limit) : all,
            windowLength: all.length,
            epoch: "e",
            lastSeq: all.length + pinned.length,
            skippedCorrupt: 0,
          };
          const query: HistoryQuery = { limit, maxTokens, afterSeq: 0, beforeSeq: 0, toolSafe: true };
          const result = selectHistory(read, query, (m) => tokens.get(m) ?? 0);

          // Oracle: try every suffix of the read part, longest first.
          const candidates = read.messages;
          const pinnedTokens = pinned.reduce((sum, m) => sum + (tokens.get(m) ?? 0), 0);
          let start = candidates.length;
          for (let s = 0; s <= candidates.length; s++) {
            const sum = candidates.slice(s).reduce((acc, m) => acc + (tokens.get(m) ?? 0), pinnedTokens);
            if (sum <= maxTokens) {
              start = s;
              break;
            }
          }
          let expected = candidates.slice(start);
          const cut = start > 0 || (limit > 0 && all.length > limit);
          if (cut) while (expected[0]?.role === "tool") expected = expected.slice(1);
          expect(result.pinned).toEqual(pinned);
          expect(result.messages).toEqual(expected);
          expect(result.totalTokens).toBe([...pinned, ...expected].reduce((acc, m) => acc + (tokens.get(m) ?? 0), 0));
        },
      ),
      { numRuns: 2000 },
    );
  });
});
