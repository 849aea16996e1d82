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

  describe(`messages as LLM APIs have them, on ${label}`, () => {
    let server: TestServer;
    // maxTurns 3: the window is 6 messages; at most 2 pinned.
    beforeAll(async () => {
      server = await startTestServer({ ...base, maxTurns: 3, maxPinned: 2 });
    });
    afterAll(() => server.close());

    const user = (content: string) => ({ role: "user", content });
    const assistantCalling = (...ids: string[]) => ({ role: "assistant", content: "", toolCalls: ids.map((id) => ({ id, name: "f", arguments: "{}" })) });
    const toolResult = (id: string) => ({ role: "tool", content: `result ${id}`, toolCallId: id });

    it("gives seqs from 1 in batch order, keeps the epoch across appends, and starts again after Clear", async () => {
      const id = uniqueId();
      const first = await server.client.append({ conversationId: id, messages: [user("a"), user("b")] });
      expect([first.firstSeq, first.lastSeq]).toEqual([1n, 2n]);
      const second = await server.client.append({ conversationId: id, messages: [user("c"), user("d"), user("e")], requestId: "r1" });
      expect([second.firstSeq, second.lastSeq]).toEqual([3n, 5n]);
      // A replay returns the first call's seqs and stores nothing.
      const replay = await server.client.append({ conversationId: id, messages: [user("c"), user("d"), user("e")], requestId: "r1" });
      expect([replay.count, replay.firstSeq, replay.lastSeq]).toEqual([5n, 3n, 5n]);
      const history = await server.client.getHistory({ conversationId: id });
      expect(history.messages.map((m) => m.seq)).toEqual([1n, 2n, 3n, 4n, 5n]);
      expect(history.epoch).not.toBe("");
      await server.client.append({ conversationId: id, messages: [user("f"), user("g")] });
      const trimmed = await server.client.getHistory({ conversationId: id });
      expect(trimmed.messages.map((m) => m.seq)).toEqual([2n, 3n, 4n, 5n, 6n, 7n]);
      expect(trimmed.epoch).toBe(history.epoch);

      await server.client.clear({ conversationId: id });
      expect((await server.client.getHistory({ conversationId: id })).epoch).toBe("");
      const again = await server.client.append({ conversationId: id, messages: [user("new")] });
      expect([again.firstSeq, again.lastSeq]).toEqual([1n, 1n]);
      const fresh = await server.client.getHistory({ conversationId: id });
      expect(fresh.epoch).not.toBe("");
      expect(fresh.epoch).not.toBe(history.epoch);
    });

    it("keeps pinned messages apart through 1,000 appends: first, never trimmed, not counted in the window, limit picks from the window only", async () => {
      const id = uniqueId();
      await server.client.append({ conversationId: id, messages: [{ role: "system", content: "You are terse.", pinned: true }, user("hi")] });
      for (let i = 0; i < 1000; i++) await server.client.append({ conversationId: id, messages: [user(`m${i}`)] });
      expect(await server.client.count({ conversationId: id })).toMatchObject({ count: 6n, pinned: 1n });
      const { messages } = await server.client.getHistory({ conversationId: id });
      expect(messages.map((m) => [m.content, m.pinned, m.seq])).toEqual([
        ["You are terse.", true, 1n],
        ...[994, 995, 996, 997, 998, 999].map((i) => [`m${i}`, false, BigInt(i + 3)]),
      ]);
      const one = await server.client.getHistory({ conversationId: id, limit: 1 });
      expect(one.messages.map((m) => m.content)).toEqual(["You are terse.", "m999"]);
    });

    it("refuses pinning beyond the limit with FAILED_PRECONDITION naming the message, storing nothing", async () => {
      const id = uniqueId();
      await server.client.append({ conversationId: id, messages: [{ role: "system", content: "one", pinned: true }] });
      const { code, details } = await statusOf(
        server.client.append({ conversationId: id, messages: [user("x"), { role: "system", content: "two", pinned: true }, { role: "system", content: "three", pinned: true }] }),
      );
      expect(status[code]).toBe("FAILED_PRECONDITION");
      expect(details).toMatch(/^messages\[2\]\.pinned: /);
      expect(await server.client.count({ conversationId: id })).toMatchObject({ count: 0n, pinned: 1n });
      // The seq counter did not move either.
      expect((await server.client.append({ conversationId: id, messages: [user("y")] })).firstSeq).toBe(2n);
    });

    it("trims tool-safe: a tool message whose call was trimmed goes with it", async () => {
      const id = uniqueId();
      await server.client.append({ conversationId: id, messages: [user("q1"), assistantCalling("c1", "c2"), toolResult("c1"), toolResult("c2"), user("q2"), { role: "assistant", content: "a2" }] });
      await server.client.append({ conversationId: id, messages: [user("q3")] });
      expect((await server.client.getHistory({ conversationId: id })).messages[0]?.role).toBe("assistant");
      // Trimming the assistant message leaves its two results leading: they go too.
      const { count } = await server.client.append({ conversationId: id, messages: [{ role: "assistant", content: "a3" }] });
      expect(count).toBe(4n);
      expect((await server.client.getHistory({ conversationId: id })).messages.map((m) => m.content)).toEqual(["q2", "a2", "q3", "a3"]);
    });

    it("cuts limit reads tool-safe, and range reads exactly", async () => {
      const id = uniqueId();
      await server.client.append({ conversationId: id, messages: [user("q1"), assistantCalling("c1", "c2"), toolResult("c1"), toolResult("c2")] });
      const read = async (request: { limit?: number; afterSeq?: bigint; beforeSeq?: bigint }) =>
        (await server.client.getHistory({ conversationId: id, ...request })).messages.map((m) => Number(m.seq));
      expect(await read({ limit: 2 })).toEqual([]);
      expect(await read({ limit: 3 })).toEqual([2, 3, 4]);
      expect(await read({ limit: 4 })).toEqual([1, 2, 3, 4]);
      expect(await read({ limit: 1, afterSeq: 2n })).toEqual([4]);
      expect(await read({ afterSeq: 2n })).toEqual([3, 4]);
      // Paging backwards with before_seq + limit: never short, never skipping, ends empty.
      expect(await read({ beforeSeq: 5n, limit: 2 })).toEqual([3, 4]);
      expect(await read({ beforeSeq: 3n, limit: 2 })).toEqual([1, 2]);
      expect(await read({ beforeSeq: 1n, limit: 2 })).toEqual([]);
      expect(await read({ afterSeq: 1n, beforeSeq: 4n })).toEqual([2, 3]);
    });

    it("applies a per-conversation ttl to the window, the pinned messages and the counter", async () => {
      const id = uniqueId();
      await server.client.append({ conversationId: id, messages: [{ role: "system", content: "s", pinned: true }, user("u")], ttl: { seconds: 0n, nanos: 400_000_000 } });
      const before = await server.client.getHistory({ conversationId: id });
      expect(before.messages).toHaveLength(2);
      await sleep(700);
      expect(await server.client.count({ conversationId: id })).toMatchObject({ count: 0n, pinned: 0n });
      expect((await server.client.getHistory({ conversationId: id })).epoch).toBe("");
      // Expired whole: seqs start again at 1, with a new epoch.
      expect((await server.client.append({ conversationId: id, messages: [user("again")] })).firstSeq).toBe(1n);
      expect((await server.client.getHistory({ conversationId: id })).epoch).not.toBe(before.epoch);
    });

    it("keeps a conversation's ttl on a later append without one (the server has no TTL)", async () => {
      const id = uniqueId();
      const { lastSeq } = await server.client.append({ conversationId: id, messages: [user("u")], ttl: { seconds: 0n, nanos: 600_000_000 } });
      // The first pinned message, and a window emptied and then written again: new keys, the same expiry.
      await server.client.append({ conversationId: id, messages: [{ role: "system", content: "s", pinned: true }] });
      await server.client.deleteMessages({ conversationId: id, seqs: [lastSeq] });
      await server.client.append({ conversationId: id, messages: [user("v")] });
      expect(await server.client.count({ conversationId: id })).toMatchObject({ count: 1n, pinned: 1n });
      await sleep(900);
      expect(await server.client.count({ conversationId: id })).toMatchObject({ count: 0n, pinned: 0n });
    });

    it("never leaves a tool message without its call in a 200-turn tool-calling conversation, for trims and limit reads", async () => {
      const id = uniqueId();
      let seed = 7;
      const random = (n: number) => {
        seed = (seed * 1103515245 + 12345) % 2 ** 31;
        return seed % n;
      };
      const safe = (messages: { role: string; toolCallId: string; toolCalls: { id: string }[] }[]) => {
        const called = new Set<string>();
        expect(messages[0]?.role).not.toBe("tool");
        for (const message of messages) {
          if (message.role === "tool") expect(called.has(message.toolCallId), `tool result ${message.toolCallId} without its call`).toBe(true);
          for (const call of message.toolCalls) called.add(call.id);
        }
      };
      for (let turn = 0; turn < 200; turn++) {
        const calls = Array.from({ length: 1 + random(3) }, (_, i) => `t${turn}c${i}`);
        const batch = random(2) === 0 ? [user(`q${turn}`), assistantCalling(...calls), ...calls.map(toolResult)] : [assistantCalling(...calls), ...calls.map(toolResult)];
        // Sometimes one message per Append, so trims fall at every position.
        if (random(2) === 0) await server.client.append({ conversationId: id, messages: batch });
        else for (const message of batch) await server.client.append({ conversationId: id, messages: [message] });
        safe((await server.client.getHistory({ conversationId: id })).messages);
        safe((await server.client.getHistory({ conversationId: id, limit: 1 + random(6) })).messages);
      }
    });
  });

  describe(`Replace and DeleteMessages on ${label}`, () => {
    let server: TestServer;
    // maxTurns 3: the window is 6 messages; at most 2 pinned.
    beforeAll(async () => {
      server = await startTestServer({ ...base, maxTurns: 3, maxPinned: 2 });
    });
    afterAll(() => server.close());
    const user = (content: string) => ({ role: "user", content });
    const read = async (conversationId: string) => {
      const history = await server.client.getHistory({ conversationId });
      return { seqs: history.messages.map((m) => [m.content, Number(m.seq), m.pinned]), epoch: history.epoch };
    };

    it("replaces pinned messages and window atomically: seqs continue, the epoch changes, replays store nothing", async () => {
      const id = uniqueId();
      await server.client.append({ conversationId: id, messages: [{ role: "system", content: "old prompt", pinned: true }, user("a"), user("b")] });
      const before = await read(id);
      const replaced = await server.client.replace({
        conversationId: id,
        requestId: "summary-1",
        messages: [{ role: "system", content: "new prompt", pinned: true }, { role: "assistant", content: "summary of a and b" }],
      });
      expect([replaced.count, replaced.firstSeq, replaced.lastSeq]).toEqual([1n, 4n, 5n]);
      const after = await read(id);
      expect(after.seqs).toEqual([
        ["new prompt", 4, true],
        ["summary of a and b", 5, false],
      ]);
      expect(after.epoch).not.toBe(before.epoch);
      // A retry stores nothing and returns the first call's numbers; the epoch stays.
      const replay = await server.client.replace({
        conversationId: id,
        requestId: "summary-1",
        messages: [{ role: "system", content: "new prompt", pinned: true }, { role: "assistant", content: "summary of a and b" }],
      });
      expect([replay.count, replay.firstSeq, replay.lastSeq]).toEqual([1n, 4n, 5n]);
      expect(await read(id)).toEqual(after);
      // One namespace with Append: the same id for an Append is a different request.
      const { code, details } = await statusOf(server.client.append({ conversationId: id, requestId: "summary-1", messages: [user("x")] }));
      expect([status[code], details.startsWith("request_id:")]).toEqual(["INVALID_ARGUMENT", true]);
      // Appends continue the seqs; Replace trims as Append does.
      expect((await server.client.append({ conversationId: id, messages: [user("c")] })).firstSeq).toBe(6n);
      const big = await server.client.replace({ conversationId: id, messages: Array.from({ length: 9 }, (_, i) => user(`r${i}`)) });
      expect([big.count, big.firstSeq, big.lastSeq]).toEqual([6n, 7n, 15n]);
      expect((await read(id)).seqs.map(([content]) => content)).toEqual(["r3", "r4", "r5", "r6", "r7", "r8"]);
    });

    it("empties a conversation with no messages, keeping its counter, and creates nothing on an empty one", async () => {
      const id = uniqueId();
      await server.client.append({ conversationId: id, messages: [user("a"), { role: "system", content: "p", pinned: true }] });
      const empty = await server.client.replace({ conversationId: id, messages: [] });
      expect([empty.count, empty.firstSeq, empty.lastSeq]).toEqual([0n, 0n, 0n]);
      expect(await server.client.count({ conversationId: id })).toMatchObject({ count: 0n, pinned: 0n });
      expect((await server.client.append({ conversationId: id, messages: [user("b")] })).firstSeq).toBe(3n);

      const never = uniqueId();
      expect(await server.client.replace({ conversationId: never, messages: [] })).toMatchObject({ count: 0n, firstSeq: 0n, lastSeq: 0n });
      expect((await server.client.getHistory({ conversationId: never })).epoch).toBe("");
      expect((await server.client.append({ conversationId: never, messages: [user("first")] })).firstSeq).toBe(1n);
    });

    it("validates a Replace as an Append and changes nothing when it is refused", async () => {
      const id = uniqueId();
      await server.client.append({ conversationId: id, messages: [user("keep")] });
      const before = await read(id);
      const bad = await statusOf(server.client.replace({ conversationId: id, messages: [user("fine"), { role: "wizard", content: "x" }] }));
      expect([status[bad.code], bad.details.startsWith("messages[1].role:")]).toEqual(["INVALID_ARGUMENT", true]);
      const pins = [1, 2, 3].map((i) => ({ role: "system", content: `p${i}`, pinned: true }));
      const tooMany = await statusOf(server.client.replace({ conversationId: id, messages: pins }));
      expect([status[tooMany.code], tooMany.details.startsWith("messages[2].pinned:")]).toEqual(["FAILED_PRECONDITION", true]);
      expect(await read(id)).toEqual(before);
    });

    it("deletes by seq, window and pinned, returns what it deleted, never reuses seqs", async () => {
      const id = uniqueId();
      await server.client.append({ conversationId: id, messages: [{ role: "system", content: "p", pinned: true }, user("a"), user("b"), user("c")] });
      const before = await read(id);
      const { messages } = await server.client.deleteMessages({ conversationId: id, seqs: [4n, 1n, 99n, 2n] });
      expect(messages.map((m) => [m.content, Number(m.seq), m.pinned, m.tokenCount > 0])).toEqual([
        ["p", 1, true, true],
        ["a", 2, false, true],
        ["c", 4, false, true],
      ]);
      const after = await read(id);
      expect(after.seqs).toEqual([["b", 3, false]]);
      expect(after.epoch).not.toBe(before.epoch);
      // Deleting again deletes nothing and leaves the epoch.
      expect((await server.client.deleteMessages({ conversationId: id, seqs: [4n] })).messages).toEqual([]);
      expect((await read(id)).epoch).toBe(after.epoch);
      expect((await server.client.append({ conversationId: id, messages: [user("d")] })).firstSeq).toBe(5n);
      const bad = await statusOf(server.client.deleteMessages({ conversationId: id, seqs: [3n, 0n] }));
      expect([status[bad.code], bad.details.startsWith("seqs[1]:")]).toEqual(["INVALID_ARGUMENT", true]);
      const none = await statusOf(server.client.deleteMessages({ conversationId: id, seqs: [] }));
      expect([status[none.code], none.details.startsWith("seqs:")]).toEqual(["INVALID_ARGUMENT", true]);
    });

    it("never shows a reader half of a Replace under concurrent appends", async () => {
      const id = uniqueId();
      const wide = await startTestServer({ ...base, maxTurns: 100 });
      try {
        let replacing = true;
        const appender = (async () => {
          for (let i = 0; replacing && i < 2000; i++) await wide.client.append({ conversationId: id, messages: [user(`x${i}`)] });
        })();
        const reader = (async () => {
          let reads = 0;
          while (replacing && reads < 2000) {
            const contents = (await wide.client.getHistory({ conversationId: id })).messages.map((m) => m.content);
            const batches = new Set(contents.filter((c) => c.startsWith("r")).map((c) => c.split("-")[0]));
            // At most one Replace's batch, whole and in order, at the front of what the reader sees.
            expect(batches.size).toBeLessThanOrEqual(1);
            const [batch] = [...batches];
            if (batch !== undefined) expect(contents.slice(0, 4)).toEqual([0, 1, 2, 3].map((k) => `${batch}-${k}`));
            reads++;
          }
          return reads;
        })();
        for (let k = 0; k < 30; k++) await wide.client.replace({ conversationId: id, messages: [0, 1, 2, 3].map((i) => user(`r${k}-${i}`)) });
        replacing = false;
        await appender;
        expect(await reader).toBeGreaterThan(0);
      } finally {
        await wide.close();
      }
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
