/**
 * Watch on both stores, over a real gRPC socket: the first response, one
 * response per Append in seq order, resets (rewrites, a stale epoch, trimmed
 * before sent, a slow reader), bad input, and the end of a stream on drain.
 */
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { type MessageInitShape } from "@bufbuild/protobuf";
import {
  type ChatMemoryClient,
  type MessageSchema,
  status,
  type WatchResponse,
} from "../clients/typescript/src/index.js";
import { startTestServer, type TestServer, type TestServerOptions } from "./helpers/test-server.js";

type MessageInit = MessageInitShape<typeof MessageSchema>;

const user = (content: string, pinned = false): MessageInit => ({ role: "user", content, pinned });

/** A watch stream read step by step: next() waits for the next response (or fails after `ms`). */
class StreamReader {
  readonly #iterator: AsyncIterator<WatchResponse>;
  readonly #abort = new AbortController();
  constructor(client: ChatMemoryClient, request: { conversationId: string; afterSeq?: bigint; epoch?: string }, raw = true) {
    const iterable = raw ? client.watchStream(request, { signal: this.#abort.signal }) : client.watch(request, { signal: this.#abort.signal });
    this.#iterator = iterable[Symbol.asyncIterator]();
  }
  async next(ms = 5000): Promise<WatchResponse> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no watch response within ${ms} ms`)), ms);
    });
    try {
      const result = await Promise.race([this.#iterator.next(), timeout]);
      if (result.done) throw new Error("the watch stream ended");
      return result.value;
    } finally {
      clearTimeout(timer);
    }
  }
  /** The error the stream ends with. */
  async failure(ms = 5000): Promise<unknown> {
    try {
      for (;;) await this.next(ms);
    } catch (error: unknown) {
      return error;
    }
  }
  close(): void {
    this.#abort.abort();
  }
}

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;
function heapAfterGc(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

const contents = (response: WatchResponse) => response.messages.map((message) => message.content);
const seqs = (response: WatchResponse) => response.messages.map((message) => Number(message.seq));

function defineWatchSuite(name: string, options: TestServerOptions) {
  describe(`Watch on ${name}`, () => {
    let server: TestServer;
    let client: ChatMemoryClient;
    let n = 0;
    const conversation = () => `watch-${n++}`;
    beforeAll(async () => {
      server = await startTestServer({ ...options, maxTurns: 3, watchBufferMessages: 20 });
      client = server.client;
    });
    afterAll(() => server.close());

    it("answers at once with what the caller misses, then each Append in seq order", async () => {
      const id = conversation();
      await client.append({ conversationId: id, messages: [user("a"), user("b"), user("c")] });
      const { epoch } = await client.getHistory({ conversationId: id });
      const watch = new StreamReader(client, { conversationId: id, afterSeq: 1n, epoch });
      const first = await watch.next();
      expect([first.reset, seqs(first), contents(first), first.epoch]).toEqual([false, [2, 3], ["b", "c"], epoch]);
      await client.append({ conversationId: id, messages: [user("d"), user("e")] });
      const second = await watch.next();
      expect([second.reset, seqs(second), contents(second), second.epoch]).toEqual([false, [4, 5], ["d", "e"], epoch]);
      await client.append({ conversationId: id, messages: [user("f", true)] });
      const third = await watch.next();
      expect([third.reset, seqs(third), third.messages[0]?.pinned]).toEqual([false, [6], true]);
      watch.close();
    });

    it("starts an empty conversation with nothing, then sends its first messages as new ones", async () => {
      const id = conversation();
      const watch = new StreamReader(client, { conversationId: id });
      const first = await watch.next();
      expect([first.reset, first.messages.length, first.epoch]).toEqual([false, 0, ""]);
      await client.append({ conversationId: id, messages: [user("hello")] });
      const second = await watch.next();
      expect([second.reset, seqs(second), contents(second)]).toEqual([false, [1], ["hello"]]);
      expect(second.epoch).toBe((await client.getHistory({ conversationId: id })).epoch);
      watch.close();
    });

    it("resets a caller whose epoch is unknown or stale, with pinned messages first", async () => {
      const id = conversation();
      await client.append({ conversationId: id, messages: [user("one"), { role: "system", content: "rules", pinned: true }, user("two")] });
      const fresh = new StreamReader(client, { conversationId: id });
      const first = await fresh.next();
      expect([first.reset, contents(first), seqs(first)]).toEqual([true, ["rules", "one", "two"], [2, 1, 3]]);
      fresh.close();
      const stale = new StreamReader(client, { conversationId: id, afterSeq: 3n, epoch: "an-old-epoch" });
      const reset = await stale.next();
      expect([reset.reset, contents(reset)]).toEqual([true, ["rules", "one", "two"]]);
      stale.close();
    });

    it("resets a caller behind the window (its next messages were trimmed)", async () => {
      const id = conversation();
      await client.append({ conversationId: id, messages: ["1", "2", "3", "4", "5", "6", "7", "8"].map((c) => user(c)) });
      const { epoch, messages } = await client.getHistory({ conversationId: id });
      expect(messages.map((m) => m.content)).toEqual(["3", "4", "5", "6", "7", "8"]);
      const watch = new StreamReader(client, { conversationId: id, afterSeq: 1n, epoch });
      const first = await watch.next();
      expect([first.reset, contents(first)]).toEqual([true, ["3", "4", "5", "6", "7", "8"]]);
      // A batch larger than the window: its first messages are trimmed before they can be sent.
      await client.append({ conversationId: id, messages: ["a", "b", "c", "d", "e", "f", "g"].map((c) => user(c)) });
      const next = await watch.next();
      expect([next.reset, contents(next)]).toEqual([true, ["b", "c", "d", "e", "f", "g"]]);
      watch.close();
    });

    it("resets every watcher on Replace, DeleteMessages and Clear, then goes on", async () => {
      const id = conversation();
      await client.append({ conversationId: id, messages: [user("a"), user("b")] });
      const watch = new StreamReader(client, { conversationId: id, epoch: (await client.getHistory({ conversationId: id })).epoch });
      expect(contents(await watch.next())).toEqual(["a", "b"]);

      await client.replace({ conversationId: id, messages: [user("summary")] });
      const replaced = await watch.next();
      expect([replaced.reset, contents(replaced), seqs(replaced)]).toEqual([true, ["summary"], [3]]);
      expect(replaced.epoch).toBe((await client.getHistory({ conversationId: id })).epoch);

      await client.append({ conversationId: id, messages: [user("c")] });
      expect(await watch.next()).toMatchObject({ reset: false, epoch: replaced.epoch });

      await client.deleteMessages({ conversationId: id, seqs: [3n] });
      const deleted = await watch.next();
      expect([deleted.reset, contents(deleted)]).toEqual([true, ["c"]]);
      expect(deleted.epoch).not.toBe(replaced.epoch);

      await client.clear({ conversationId: id });
      const cleared = await watch.next();
      expect([cleared.reset, cleared.messages.length, cleared.epoch]).toEqual([true, 0, ""]);

      // After a Clear, seqs start again at 1 under a new epoch, sent as new messages.
      await client.append({ conversationId: id, messages: [user("again")] });
      const again = await watch.next();
      expect([again.reset, seqs(again), contents(again)]).toEqual([false, [1], ["again"]]);
      watch.close();
    });

    it("gives a caller that stopped reading a reset, holding at most its buffer meanwhile", async () => {
      // Its own server without the decoded-element cache, whose (bounded) memory would blur the measure.
      const own = await startTestServer({ ...options, maxTurns: 3, watchBufferMessages: 20, decodeCacheMb: 0 });
      const client = own.client;
      const id = conversation();
      // Big messages fill HTTP/2 flow control quickly, so the server's own queue is what fills next.
      const big = "word ".repeat(13_000);
      const appends = 300;
      const watch = new StreamReader(client, { conversationId: id });
      await watch.next();
      const heapBefore = heapAfterGc();
      for (let i = 1; i <= appends; i++) await client.append({ conversationId: id, messages: [user(`${i}:${big}`)] });
      await new Promise((resolve) => setTimeout(resolve, 200));
      // 300 × 64 KB = 19 MB went by; the stalled stream holds its buffer (20 messages) and what HTTP/2 holds.
      expect(heapAfterGc() - heapBefore).toBeLessThan(8 * 1024 * 1024);
      // Read everything now: the stream caught up through a reset and ends exactly at the last message.
      const seen: WatchResponse[] = [];
      for (;;) {
        const response = await watch.next();
        seen.push(response);
        if (response.messages.at(-1)?.seq === BigInt(appends)) break;
      }
      expect(seen.some((response) => response.reset)).toBe(true);
      const sinceLastReset = seen.slice(seen.findLastIndex((response) => response.reset)).flatMap(seqs);
      const first = sinceLastReset[0] as number;
      expect(sinceLastReset).toEqual(Array.from({ length: appends - first + 1 }, (_, i) => first + i));
      expect(seen.at(-1)?.messages.at(-1)?.content.startsWith(`${appends}:`)).toBe(true);
      watch.close();
      await own.close();
    });

    it("sends one response per Append, also for Appends made while a response is held back", async () => {
      // A buffer large enough that nothing here overflows it: what is held is sent, not dropped.
      const own = await startTestServer({ ...options, maxTurns: 100, watchBufferMessages: 200 });
      const client = own.client;
      const id = conversation();
      const watch = new StreamReader(client, { conversationId: id });
      await watch.next();
      // The reader pauses: 40 × 64 KB is more than the client buffers and HTTP/2 lets through, so a response is held back.
      const big = "word ".repeat(13_000);
      const bigAppends = 40;
      for (let i = 1; i <= bigAppends; i++) await client.append({ conversationId: id, messages: [user(`${i}:${big}`)] });
      const small = ["s1", "s2", "s3", "s4", "s5"];
      for (const content of small) await client.append({ conversationId: id, messages: [user(content)] });
      await new Promise((resolve) => setTimeout(resolve, 200));
      const seen: WatchResponse[] = [];
      const last = bigAppends + small.length;
      while (seen.at(-1)?.messages.at(-1)?.seq !== BigInt(last)) seen.push(await watch.next());
      expect(seen.some((response) => response.reset)).toBe(false);
      expect(seen.map(seqs)).toEqual(Array.from({ length: last }, (_, i) => [i + 1]));
      expect(seen.slice(-small.length).map(contents)).toEqual(small.map((content) => [content]));
      watch.close();
      await own.close();
    });

    it("sends one response per Append when Appends land together, each with its own messages", async () => {
      const own = await startTestServer({ ...options, maxTurns: 100 });
      const client = own.client;
      const id = conversation();
      const watch = new StreamReader(client, { conversationId: id });
      await watch.next();
      for (let round = 0; round < 5; round++) {
        // Batches of 1 to 3 messages appended at once: one read may return several of them.
        const batches = Array.from({ length: 8 }, (_, b) => Array.from({ length: 1 + ((b + round) % 3) }, (_, m) => `r${round}b${b}m${m}`));
        await Promise.all(batches.map((batch) => client.append({ conversationId: id, messages: batch.map((content) => user(content)) })));
        const responses: WatchResponse[] = [];
        for (let i = 0; i < batches.length; i++) responses.push(await watch.next());
        expect(responses.some((response) => response.reset)).toBe(false);
        // Each response is exactly one batch, whole; the batches in the order Redis applied them.
        const received = responses.map(contents);
        expect([...received].sort()).toEqual([...batches].sort());
      }
      watch.close();
      await own.close();
    });

    it("rejects a negative after_seq and a bad conversation id, naming the field", async () => {
      const bad = new StreamReader(client, { conversationId: "ok", afterSeq: -1n });
      expect(await bad.failure()).toMatchObject({ code: status.INVALID_ARGUMENT, details: expect.stringMatching(/^after_seq: /) });
      const badId = new StreamReader(client, { conversationId: "has space" });
      expect(await badId.failure()).toMatchObject({ code: status.INVALID_ARGUMENT, details: expect.stringMatching(/^conversation_id: /) });
    });

    it("ends streams with UNAVAILABLE when the server drains", async () => {
      const other = await startTestServer({ ...options, keyPrefix: server.keyPrefix });
      const id = conversation();
      const watch = new StreamReader(other.client, { conversationId: id });
      await watch.next();
      const closing = other.close();
      expect(await watch.failure()).toMatchObject({ code: status.UNAVAILABLE });
      await closing;
    });
  });
}

defineWatchSuite("the memory store", { store: "memory" });
defineWatchSuite("the redis store", { store: "redis", redisUrl: inject("redisUrl") });
