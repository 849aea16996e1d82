/**
 * The stored layout, checked with raw Redis commands: compatible with the
 * Python RedisChatMemory class both ways, corrupt elements skipped.
 */
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { type TestServer, startTestServer, uniqueId } from "./helpers/test-server.js";

const redisUrl = inject("redisUrl");
const PYTHON_PREFIX = "ractogateway:memory";

let server: TestServer;
let redis: Redis;

beforeAll(async () => {
  // The Python class's default prefix, so both programs address the same keys.
  server = await startTestServer({ store: "redis", redisUrl, keyPrefix: PYTHON_PREFIX, maxTurns: 10, ttlSeconds: 30 });
  redis = new Redis(redisUrl);
});
afterAll(async () => {
  redis.disconnect();
  await server.close();
});

/** Exactly what Python's json.dumps({"role": r, "content": c}) writes (ensure_ascii, ", " and ": "). */
function pythonJsonDumps(role: string, content: string): string {
  const ascii = (s: string) => JSON.stringify(s).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
  return `{"role": ${ascii(role)}, "content": ${ascii(content)}}`;
}

describe("compatibility with the Python class", () => {
  it("reads elements the Python class wrote, without created_at", async () => {
    const id = uniqueId("py");
    const key = `${PYTHON_PREFIX}:${id}`;
    await redis.rpush(key, pythonJsonDumps("user", "Quelle est la capitale de la France ? 🇫🇷"), pythonJsonDumps("assistant", "Paris."));
    const { messages } = await server.client.getHistory({ conversationId: id });
    expect(messages.map((m) => [m.role, m.content, m.createdAt])).toEqual([
      ["user", "Quelle est la capitale de la France ? 🇫🇷", undefined],
      ["assistant", "Paris.", undefined],
    ]);
    expect((await server.client.count({ conversationId: id })).count).toBe(2n);
  });

  it("writes JSON objects with role and content under <prefix>:<id>, ts in epoch ms, empty fields left out", async () => {
    const id = uniqueId("ts");
    const before = Date.now();
    await server.client.append({
      conversationId: id,
      messages: [
        { role: "user", content: "hi" },
        { role: "tool", content: "42", name: "calc", toolCallId: "c1", metadata: { k: "v" } },
      ],
    });
    const raw = await redis.lrange(`${PYTHON_PREFIX}:${id}`, 0, -1);
    expect(raw).toHaveLength(2);
    const [plain, rich] = raw.map((element) => JSON.parse(element) as Record<string, unknown>);
    expect(Object.keys(plain ?? {}).sort()).toEqual(["content", "role", "seq", "tok", "ts"]);
    expect(plain).toMatchObject({ role: "user", content: "hi" });
    expect(rich).toMatchObject({ role: "tool", content: "42", name: "calc", tool_call_id: "c1", metadata: { k: "v" } });
    const ts = plain?.ts as number;
    expect(Number.isInteger(ts) && ts >= before && ts <= Date.now()).toBe(true);
    // created_at read back equals ts to the millisecond.
    const [first] = (await server.client.getHistory({ conversationId: id })).messages;
    expect(Number(first?.createdAt?.seconds) * 1000 + (first?.createdAt?.nanos ?? 0) / 1e6).toBe(ts);
  });

  it("stores tool calls in the OpenAI shape, with id and extra, and reads that shape written by others", async () => {
    const id = uniqueId("tools");
    await server.client.append({
      conversationId: id,
      messages: [
        {
          role: "assistant",
          content: "",
          id: "m1",
          extra: { k: [1, null] },
          toolCalls: [
            { id: "call_1", name: "get_weather", arguments: '{"city":"Paris"}' },
            { id: "call_2", type: "custom", name: "grep", arguments: "needle" },
          ],
        },
      ],
    });
    const [stored] = (await redis.lrange(`${PYTHON_PREFIX}:${id}`, 0, -1)).map((element) => JSON.parse(element) as Record<string, unknown>);
    expect(stored).toMatchObject({
      role: "assistant",
      content: "",
      id: "m1",
      extra: { k: [1, null] },
      tool_calls: [
        { id: "call_1", type: "function", function: { name: "get_weather", arguments: '{"city":"Paris"}' } },
        { id: "call_2", type: "custom", custom: { name: "grep", arguments: "needle" } },
      ],
    });
    // What an OpenAI-style Python program writes (json.dumps of the API's message): read back as tool calls.
    const other = uniqueId("tools-py");
    await redis.rpush(
      `${PYTHON_PREFIX}:${other}`,
      '{"role": "assistant", "content": "", "tool_calls": [{"id": "call_9", "type": "function", "function": {"name": "f", "arguments": "{\\"x\\": 1}"}}, {"id": "bad"}]}',
    );
    const [message] = (await server.client.getHistory({ conversationId: other })).messages;
    expect(message?.toolCalls.map((call) => [call.id, call.type, call.name, call.arguments])).toEqual([["call_9", "function", "f", '{"x": 1}']]);
  });

  it("goes on after the highest seq held when the counter is gone but messages are not (the Python class kept the list alive)", async () => {
    const id = uniqueId("seq");
    const key = `${PYTHON_PREFIX}:${id}`;
    await server.client.append({ conversationId: id, messages: [{ role: "system", content: "s", pinned: true }, { role: "user", content: "a" }, { role: "user", content: "b" }] });
    await redis.rpush(key, pythonJsonDumps("assistant", "from Python"));
    // As when :meta expires under the server's TTL while the Python class refreshes the list's own.
    await redis.del(`{${key}}:meta`);
    const appended = await server.client.append({ conversationId: id, messages: [{ role: "user", content: "c" }] });
    expect([appended.firstSeq, appended.lastSeq]).toEqual([4n, 4n]);
    const { messages } = await server.client.getHistory({ conversationId: id });
    expect(messages.map((m) => [m.content, m.seq])).toEqual([
      ["s", 1n],
      ["a", 2n],
      ["b", 3n],
      ["from Python", 0n],
      ["c", 4n],
    ]);
  });

  it("sets the TTL with PEXPIRE in milliseconds", async () => {
    const id = uniqueId("ttl");
    await server.client.append({ conversationId: id, messages: [{ role: "user", content: "x" }] });
    const pttl = await redis.pttl(`${PYTHON_PREFIX}:${id}`);
    expect(pttl).toBeGreaterThan(29_000);
    expect(pttl).toBeLessThanOrEqual(30_000);
  });
});

describe("corrupt elements", () => {
  it("are skipped by GetHistory and counted by Count, never failing the read", async () => {
    const id = uniqueId("corrupt");
    const key = `${PYTHON_PREFIX}:${id}`;
    await redis.rpush(
      key,
      pythonJsonDumps("user", "first"),
      "not json at all",
      "[1, 2, 3]",
      '"a json string"',
      "null",
      '{"role": "user"}',
      '{"role": 5, "content": "x"}',
      '{"content": "no role"}',
      "{truncated",
      '{"role": "assistant", "content": "last", "name": 7, "metadata": {"ok": "yes", "bad": 1}, "ts": "soon", "extra": true}',
    );
    const { messages } = await server.client.getHistory({ conversationId: id });
    expect(messages.map((m) => [m.role, m.content, m.name, m.metadata, m.createdAt])).toEqual([
      ["user", "first", "", {}, undefined],
      ["assistant", "last", "", { ok: "yes" }, undefined],
    ]);
    expect((await server.client.count({ conversationId: id })).count).toBe(10n);
    // limit counts stored elements (newest 3), then skips the corrupt ones among them.
    const newest = await server.client.getHistory({ conversationId: id, limit: 3 });
    expect(newest.messages.map((m) => m.content)).toEqual(["last"]);
  });

  it("returns roles other programs wrote, even ones Append would reject", async () => {
    const id = uniqueId("foreign-role");
    await redis.rpush(`${PYTHON_PREFIX}:${id}`, pythonJsonDumps("function", "legacy"));
    const { messages } = await server.client.getHistory({ conversationId: id });
    expect(messages.map((m) => m.role)).toEqual(["function"]);
  });

  it("trims tool-safe over elements other programs wrote, a role spelled with \\u escapes included", async () => {
    const id = uniqueId("foreign-tool");
    const key = `${PYTHON_PREFIX}:${id}`;
    // The window holds 20: an assistant call, its result with the role escaped (no plain "tool" in the element), a user message naming a tool, 17 more.
    const fillers = Array.from({ length: 17 }, (_, i) => pythonJsonDumps("user", `u${i}`));
    await redis.rpush(key, pythonJsonDumps("assistant", "calling"), '{"role": "\\u0074\\u006fol", "content": "result"}', pythonJsonDumps("user", "use the tool"), ...fillers);
    // One more trims the assistant message: its result leads, and goes too; the user message stays.
    const { count } = await server.client.append({ conversationId: id, messages: [{ role: "user", content: "next" }] });
    expect(count).toBe(19n);
    const { messages } = await server.client.getHistory({ conversationId: id });
    expect(messages.slice(0, 2).map((m) => [m.role, m.content])).toEqual([
      ["user", "use the tool"],
      ["user", "u0"],
    ]);
  });

  it("reports FAILED_PRECONDITION when the key is not a list", async () => {
    const id = uniqueId("wrongtype");
    await redis.set(`${PYTHON_PREFIX}:${id}`, "a string");
    const error = await server.client.getHistory({ conversationId: id }).then(
      () => undefined,
      (e: { code: number; details: string }) => e,
    );
    expect(error?.code).toBe(9);
    expect(error?.details).toMatch(/not a list/);
  });
});
