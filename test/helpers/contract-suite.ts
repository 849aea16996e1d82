/**
 * The contract suite: the same behaviour from every store, through a real gRPC
 * server and the TypeScript client over loopback. Each store's test file calls
 * defineContractSuite with the options that start a server on it.
 */
import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type TestServer, type TestServerOptions, sleep, startTestServer, statusOf, uniqueId } from "./test-server.js";

function contents(messages: { content: string }[]): string[] {
  return messages.map((message) => message.content);
}

export function defineContractSuite(label: string, base: TestServerOptions): void {
  describe(`contract on ${label}`, () => {
    let server: TestServer;
    // maxTurns 3: the window is 6 messages.
    beforeAll(async () => {
      server = await startTestServer({ ...base, maxTurns: 3 });
    });
    afterAll(() => server.close());

    it("returns messages oldest first and counts them", async () => {
      const id = uniqueId();
      const first = await server.client.append({ conversationId: id, messages: [{ role: "user", content: "one" }] });
      expect(first.count).toBe(1n);
      const second = await server.client.append({ conversationId: id, messages: [{ role: "assistant", content: "two" }] });
      expect(second.count).toBe(2n);
      const history = await server.client.getHistory({ conversationId: id });
      expect(history.messages.map((m) => [m.role, m.content])).toEqual([
        ["user", "one"],
        ["assistant", "two"],
      ]);
      expect((await server.client.count({ conversationId: id })).count).toBe(2n);
    });

    it("round-trips a tool-calling turn: tool calls, message ids and extra, as appended", async () => {
      const id = uniqueId();
      const extra = { additional_kwargs: { refusal: null }, usage: { input_tokens: 12, output_tokens: 3.5 }, parts: [{ type: "text", text: "Hi" }, true, "é🙂"] };
      const turn = [
        { role: "user", content: "Weather in Paris and Rome?", id: "msg-1" },
        {
          role: "assistant",
          content: "",
          id: "msg-2",
          extra,
          toolCalls: [
            { id: "call_1", name: "get_weather", arguments: '{"city": "Paris"}' },
            { id: "call_2", type: "custom", name: "lookup", arguments: "Rome, free text" },
          ],
        },
        { role: "tool", content: "18°C", toolCallId: "call_1", name: "get_weather" },
        { role: "tool", content: "21°C", toolCallId: "call_2" },
      ];
      expect((await server.client.append({ conversationId: id, messages: turn })).count).toBe(4n);
      const { messages } = await server.client.getHistory({ conversationId: id });
      expect(messages.map((m) => [m.role, m.content, m.id, m.toolCallId])).toEqual([
        ["user", "Weather in Paris and Rome?", "msg-1", ""],
        ["assistant", "", "msg-2", ""],
        ["tool", "18°C", "", "call_1"],
        ["tool", "21°C", "", "call_2"],
      ]);
      expect(messages[1]?.toolCalls.map((call) => [call.id, call.type, call.name, call.arguments])).toEqual([
        ["call_1", "function", "get_weather", '{"city": "Paris"}'],
        ["call_2", "custom", "lookup", "Rome, free text"],
      ]);
      expect(messages[1]?.extra).toEqual(extra);
      expect(messages[0]?.extra).toBeUndefined();
      // Read again (shared, cached encodings on stores that keep them): the same.
      expect((await server.client.getHistory({ conversationId: id })).messages).toEqual(messages);
    });

    it("appends a batch in order", async () => {
      const id = uniqueId();
      const batch = ["a", "b", "c", "d"].map((content, i) => ({ role: i % 2 ? "assistant" : "user", content }));
      expect((await server.client.append({ conversationId: id, messages: batch })).count).toBe(4n);
      expect(contents((await server.client.getHistory({ conversationId: id })).messages)).toEqual(["a", "b", "c", "d"]);
    });

    it("trims to max_turns * 2, dropping the oldest first", async () => {
      const id = uniqueId();
      for (let i = 1; i <= 9; i++) {
        const { count } = await server.client.append({ conversationId: id, messages: [{ role: "user", content: `m${i}` }] });
        expect(count).toBe(BigInt(Math.min(i, 6)));
      }
      expect(contents((await server.client.getHistory({ conversationId: id })).messages)).toEqual(["m4", "m5", "m6", "m7", "m8", "m9"]);
      expect((await server.client.count({ conversationId: id })).count).toBe(6n);
    });

    it("keeps the newest window of a batch larger than the window", async () => {
      const id = uniqueId();
      const batch = Array.from({ length: 10 }, (_, i) => ({ role: "user", content: `b${i}` }));
      expect((await server.client.append({ conversationId: id, messages: batch })).count).toBe(6n);
      expect(contents((await server.client.getHistory({ conversationId: id })).messages)).toEqual(["b4", "b5", "b6", "b7", "b8", "b9"]);
    });

    it("returns the newest N with limit, and everything when N exceeds the window", async () => {
      const id = uniqueId();
      await server.client.append({ conversationId: id, messages: ["x1", "x2", "x3", "x4"].map((content) => ({ role: "user", content })) });
      expect(contents((await server.client.getHistory({ conversationId: id, limit: 2 })).messages)).toEqual(["x3", "x4"]);
      expect(contents((await server.client.getHistory({ conversationId: id, limit: 1 })).messages)).toEqual(["x4"]);
      expect(contents((await server.client.getHistory({ conversationId: id, limit: 50 })).messages)).toEqual(["x1", "x2", "x3", "x4"]);
      expect(contents((await server.client.getHistory({ conversationId: id, limit: 0 })).messages)).toEqual(["x1", "x2", "x3", "x4"]);
    });

    it("answers unknown conversations with empty history, count 0 and deleted=false", async () => {
      const id = uniqueId("never-written");
      expect((await server.client.getHistory({ conversationId: id })).messages).toEqual([]);
      expect((await server.client.count({ conversationId: id })).count).toBe(0n);
      expect((await server.client.clear({ conversationId: id })).deleted).toBe(false);
    });

    it("clears idempotently and lets the id be reused at once", async () => {
      const id = uniqueId();
      await server.client.append({ conversationId: id, messages: [{ role: "user", content: "before" }] });
      expect((await server.client.clear({ conversationId: id })).deleted).toBe(true);
      expect((await server.client.clear({ conversationId: id })).deleted).toBe(false);
      expect((await server.client.count({ conversationId: id })).count).toBe(0n);
      expect((await server.client.append({ conversationId: id, messages: [{ role: "user", content: "after" }] })).count).toBe(1n);
      expect(contents((await server.client.getHistory({ conversationId: id })).messages)).toEqual(["after"]);
    });

    it("keeps unicode content byte for byte", async () => {
      const id = uniqueId();
      const samples = [
        "héllo wörld",
        "日本語のテキスト",
        "emoji 👩‍👩‍👧‍👦 🇫🇷 and astral 𝔘𝔫𝔦𝔠𝔬𝔡𝔢",
        "combining e\u0301 vs \u00e9, RTL \u05e9\u05dc\u05d5\u05dd",
        'quotes " \\ / and control \u0000\u0001\t\n\r',
        "",
      ];
      await server.client.append({ conversationId: id, messages: samples.map((content) => ({ role: "assistant", content })) });
      const history = await server.client.getHistory({ conversationId: id });
      expect(history.messages.map((m) => Buffer.from(m.content, "utf8").toString("hex"))).toEqual(
        samples.map((s) => Buffer.from(s, "utf8").toString("hex")),
      );
    });

    it("round-trips name, tool_call_id and metadata", async () => {
      const id = uniqueId();
      await server.client.append({
        conversationId: id,
        messages: [
          { role: "assistant", content: "", toolCallId: "call_42", metadata: { model: "gpt-x", "trace-id": "t-1" } },
          { role: "tool", content: '{"temp": 21}', name: "weather", toolCallId: "call_42" },
          { role: "user", content: "plain" },
        ],
      });
      const [call, result, plain] = (await server.client.getHistory({ conversationId: id })).messages;
      expect(call).toMatchObject({ role: "assistant", content: "", name: "", toolCallId: "call_42", metadata: { model: "gpt-x", "trace-id": "t-1" } });
      expect(result).toMatchObject({ role: "tool", content: '{"temp": 21}', name: "weather", toolCallId: "call_42", metadata: {} });
      expect(plain).toMatchObject({ role: "user", content: "plain", name: "", toolCallId: "", metadata: {} });
    });

    it("sets created_at on the server and ignores a client's value", async () => {
      const id = uniqueId();
      const before = Date.now();
      await server.client.append({
        conversationId: id,
        messages: [{ role: "user", content: "t", createdAt: { seconds: 1n, nanos: 5 } }],
      });
      const after = Date.now();
      const [message] = (await server.client.getHistory({ conversationId: id })).messages;
      const createdAt = message?.createdAt;
      expect(createdAt).toBeDefined();
      const ms = Number(createdAt?.seconds) * 1000 + Math.floor((createdAt?.nanos ?? 0) / 1e6);
      expect(ms).toBeGreaterThanOrEqual(before);
      expect(ms).toBeLessThanOrEqual(after);
      expect((createdAt?.nanos ?? 0) % 1_000_000).toBe(0);
    });

    it("rejects a bad request the same way", async () => {
      const { code, details } = await statusOf(server.client.append({ conversationId: "has space", messages: [{ role: "user", content: "x" }] }));
      expect(code).toBe(status.INVALID_ARGUMENT);
      expect(details).toMatch(/^conversation_id/);
    });
  });

  describe(`TTL on ${label}`, () => {
    it("expires a conversation 0.5 s after its last append (not EXPIRE 0)", async () => {
      const server = await startTestServer({ ...base, ttlSeconds: 0.5 });
      try {
        const id = uniqueId();
        await server.client.append({ conversationId: id, messages: [{ role: "user", content: "short-lived" }] });
        // The Python class's EXPIRE int(0.5) = EXPIRE 0 would have deleted it already.
        expect((await server.client.count({ conversationId: id })).count).toBe(1n);
        await sleep(800);
        expect((await server.client.count({ conversationId: id })).count).toBe(0n);
        expect((await server.client.getHistory({ conversationId: id })).messages).toEqual([]);
      } finally {
        await server.close();
      }
    });

    it("refreshes the TTL on every append", async () => {
      const server = await startTestServer({ ...base, ttlSeconds: 0.8 });
      try {
        const id = uniqueId();
        await server.client.append({ conversationId: id, messages: [{ role: "user", content: "1" }] });
        await sleep(500);
        await server.client.append({ conversationId: id, messages: [{ role: "user", content: "2" }] });
        await sleep(500);
        // 1.0 s after the first append, past its TTL: alive only because the second append refreshed it.
        expect(contents((await server.client.getHistory({ conversationId: id })).messages)).toEqual(["1", "2"]);
        await sleep(700);
        expect((await server.client.count({ conversationId: id })).count).toBe(0n);
      } finally {
        await server.close();
      }
    });
  });
}
