/**
 * Bad input at scale, against the built server as its own process (so a crash
 * shows): 100,000 random and malformed requests over the real socket, then
 * idle sockets and huge messages beside normal callers.
 */
import { connect, type Socket } from "node:net";
import { create, toBinary } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import fc from "fast-check";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  AppendRequestSchema,
  ClearRequestSchema,
  CountRequestSchema,
  GetHistoryRequestSchema,
  ListConversationsRequestSchema,
} from "../gen/ts/chatmemory/v1/chatmemory_pb.js";
import { createChatMemoryClient } from "../clients/typescript/src/index.js";
import { decodeStoredMessage } from "../src/store/message-codec.js";
import { servingStatus } from "../test/helpers/health-client.js";
import { RedisServerProcess } from "../test/helpers/redis-server.js";
import { type ServerProcess, startServerProcess } from "../test/helpers/server-process.js";
import { sleep, waitFor } from "../test/helpers/test-server.js";

const PREFIX = "fuzz";
const MAX_BATCH = 100;
const MAX_CONTENT = 4096;
const ROLES = ["user", "assistant", "system", "tool", "developer"];
const SERVICE = "/chatmemory.v1.ChatMemory";

let redis: RedisServerProcess;
let server: ServerProcess;
let raw: grpc.Client;

beforeAll(async () => {
  redis = await RedisServerProcess.start();
  server = await startServerProcess({
    REDIS_URL: redis.url,
    CHATMEMORY_KEY_PREFIX: PREFIX,
    CHATMEMORY_MAX_CONTENT_BYTES: String(MAX_CONTENT),
    CHATMEMORY_MAX_RECEIVE_BYTES: String(1024 * 1024),
    CHATMEMORY_MAX_CONNECTION_IDLE_MS: "2000",
  });
  await waitFor(async () => (await servingStatus(server.address)) === "SERVING", 5000);
  raw = new grpc.Client(server.address, grpc.credentials.createInsecure());
});
afterAll(async () => {
  raw.close();
  server.child.kill("SIGTERM");
  expect(await server.exited).toBe(0);
  await redis.stop();
});

/** Sends bytes as they are to a method and resolves to the status code. */
function send(path: string, payload: Uint8Array): Promise<grpc.status> {
  return new Promise((resolve) =>
    raw.makeUnaryRequest(
      path,
      (bytes: Buffer) => bytes,
      (bytes: Buffer) => bytes,
      Buffer.from(payload),
      new grpc.Metadata(),
      { deadline: Date.now() + 10_000 },
      (error) => resolve(error ? error.code : grpc.status.OK),
    ),
  );
}

/** Ids meant to trip key handling: wildcards, hash tags, separators, unicode, controls, edges of length. */
const trickyId = fc.oneof(
  fc.constantFrom("*", "conv*", "?", "[a-z]", "{tag}", "{}", "a{b}c", "a b", "", " ", "\u0000", "a\nb", "ключ", "🙂", "..", "/", ":", "@", "-"),
  fc.constantFrom("a".repeat(256), "a".repeat(257), "b".repeat(10_000)),
  fc.stringMatching(/^[A-Za-z0-9._:@/-]{1,40}$/),
  fc.string({ maxLength: 40 }),
  fc.string({ unit: "binary", maxLength: 20 }),
);
const role = fc.oneof(fc.constantFrom(...ROLES, "", "User", "ASSISTANT", "function", "root", " user"), fc.string({ maxLength: 12 }));
const content = fc.oneof(
  { weight: 8, arbitrary: fc.string({ unit: "binary", maxLength: 200 }) },
  { weight: 1, arbitrary: fc.constantFrom("", "é".repeat(MAX_CONTENT / 2), "é".repeat(MAX_CONTENT / 2 + 1), "x".repeat(MAX_CONTENT + 1)) },
);
const message = fc.record({
  role,
  content,
  name: fc.string({ maxLength: 10 }),
  toolCallId: fc.string({ maxLength: 10 }),
  metadata: fc.dictionary(fc.string({ maxLength: 8 }), fc.string({ maxLength: 16 }), { maxKeys: 3 }),
});
const appendRequest = fc.record({
  conversationId: trickyId,
  messages: fc.oneof({ weight: 20, arbitrary: fc.array(message, { maxLength: 4 }) }, { weight: 1, arbitrary: fc.array(message, { minLength: MAX_BATCH, maxLength: MAX_BATCH + 1 }) }),
  requestId: fc.oneof(fc.constant(""), fc.string({ maxLength: 20 }), fc.constantFrom("a".repeat(128), "a".repeat(129), "has space")),
});
/** Mostly well-formed appends, so the store path gets exercised too. */
const plausibleAppend = fc.record({
  conversationId: fc.stringMatching(/^[a-z0-9]{1,3}$/),
  messages: fc.array(
    fc.record({ role: fc.constantFrom(...ROLES), content: fc.string({ maxLength: 100 }), name: fc.constant(""), toolCallId: fc.constant(""), metadata: fc.constant({}) }),
    { minLength: 1, maxLength: 3 },
  ),
  requestId: fc.oneof(fc.constant(""), fc.uuid()),
});
const limit = fc.oneof(fc.constantFrom(-2147483648, -1, 0, 1, 2147483647), fc.integer({ min: -5, max: 50 }));

interface AppendCase {
  conversationId: string;
  messages: { role: string; content: string; name: string; toolCallId: string; metadata: Record<string, string> }[];
  requestId: string;
}

type FuzzCase =
  | { kind: "append"; request: AppendCase }
  | { kind: "read"; path: string; payload: Uint8Array; valid: boolean }
  | { kind: "bytes"; path: string; payload: Uint8Array };

const ID_PATTERN = /^[A-Za-z0-9._:@/-]{1,256}$/;

/** The contract's rules, written again independently of src/service/validate.ts. */
function appendIsValid(request: { conversationId: string; messages: { role: string; content: string }[]; requestId: string }): boolean {
  return (
    ID_PATTERN.test(request.conversationId) &&
    request.messages.length >= 1 &&
    request.messages.length <= MAX_BATCH &&
    request.messages.every((m) => ROLES.includes(m.role) && Buffer.byteLength(m.content, "utf8") <= MAX_CONTENT) &&
    (request.requestId === "" || /^[\x21-\x7e]{1,128}$/.test(request.requestId))
  );
}

/** A protobuf string field with bytes that are not UTF-8. */
function invalidUtf8Field(fieldNumber: number): Uint8Array {
  return Uint8Array.from([(fieldNumber << 3) | 2, 3, 0xc3, 0x28, 0xff]);
}

const fuzzCase: fc.Arbitrary<FuzzCase> = fc.oneof(
  { weight: 5, arbitrary: appendRequest.map((request) => ({ kind: "append" as const, request })) },
  { weight: 3, arbitrary: plausibleAppend.map((request) => ({ kind: "append" as const, request })) },
  {
    weight: 2,
    arbitrary: fc.tuple(trickyId, limit).map(([conversationId, n]) => ({
      kind: "read" as const,
      path: `${SERVICE}/GetHistory`,
      payload: toBinary(GetHistoryRequestSchema, create(GetHistoryRequestSchema, { conversationId, limit: n })),
      valid: ID_PATTERN.test(conversationId) && n >= 0,
    })),
  },
  {
    weight: 1,
    arbitrary: fc.tuple(trickyId, fc.constantFrom("Count", "Clear")).map(([conversationId, method]) => ({
      kind: "read" as const,
      path: `${SERVICE}/${method}`,
      payload:
        method === "Count"
          ? toBinary(CountRequestSchema, create(CountRequestSchema, { conversationId }))
          : toBinary(ClearRequestSchema, create(ClearRequestSchema, { conversationId })),
      valid: ID_PATTERN.test(conversationId),
    })),
  },
  {
    weight: 1,
    // Page tokens the server never issued (random text, base64url-looking or not) are refused.
    arbitrary: fc
      .tuple(fc.oneof(fc.constantFrom(-2147483648, -1, 0, 1, 1001, 2147483647), fc.integer({ min: -5, max: 50 })), fc.oneof(fc.constant(""), fc.string(), fc.base64String()))
      .map(([pageSize, pageToken]) => ({
        kind: "read" as const,
        path: `${SERVICE}/ListConversations`,
        payload: toBinary(ListConversationsRequestSchema, create(ListConversationsRequestSchema, { pageSize, pageToken })),
        valid: pageSize >= 0 && pageToken === "",
      })),
  },
  {
    weight: 2,
    arbitrary: fc
      .tuple(fc.constantFrom("Append", "GetHistory", "Clear", "Count", "ListConversations", "NoSuchMethod"), fc.uint8Array({ maxLength: 64 }))
      .map(([method, payload]) => ({ kind: "bytes" as const, path: `${SERVICE}/${method}`, payload })),
  },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.constantFrom("Append", "GetHistory", "Clear", "Count"), fc.constantFrom(1, 2, 3))
      .map(([method, field]) => ({ kind: "bytes" as const, path: `${SERVICE}/${method}`, payload: invalidUtf8Field(field) })),
  },
);

describe("100,000 random and malformed requests", () => {
  it("are each answered with a clear status, never crash the server, and store only what valid appends sent", async () => {
    const seed = Number(process.env.CHATMEMORY_FUZZ_SEED ?? Date.now() % 2 ** 31);
    const total = Number(process.env.CHATMEMORY_FUZZ_CASES ?? 100_000);
    const cases = fc.sample(fuzzCase, { numRuns: total, seed });
    const codes = new Map<string, number>();
    const mismatches: string[] = [];
    /** Conversation id -> every content an acknowledged append sent to it. */
    const appended = new Map<string, Set<string>>();
    let next = 0;

    const started = performance.now();
    await Promise.all(
      Array.from({ length: 64 }, async () => {
        while (next < cases.length) {
          const index = next++;
          const fuzz = cases[index] as FuzzCase;
          let code: grpc.status;
          let expected: grpc.status[];
          let detail = "";
          if (fuzz.kind === "append") {
            // Unique request ids per case (same length for the long edge cases, so 128 stays valid and
            // 129 invalid), so a reused id is never the reason for a rejection.
            const original = fuzz.request.requestId;
            const unique = `${index}-${original}`;
            const requestId = original === "" ? "" : original.length >= 120 ? unique.slice(0, original.length) : unique;
            const request = { ...fuzz.request, requestId };
            code = await send(`${SERVICE}/Append`, toBinary(AppendRequestSchema, create(AppendRequestSchema, request)));
            expected = [appendIsValid(request) ? grpc.status.OK : grpc.status.INVALID_ARGUMENT];
            detail = JSON.stringify(request).slice(0, 400);
            if (code === grpc.status.OK) {
              const sent = appended.get(request.conversationId) ?? new Set<string>();
              for (const m of request.messages) sent.add(m.content);
              appended.set(request.conversationId, sent);
            }
          } else if (fuzz.kind === "read") {
            code = await send(fuzz.path, fuzz.payload);
            expected = [fuzz.valid ? grpc.status.OK : grpc.status.INVALID_ARGUMENT];
          } else {
            code = await send(fuzz.path, fuzz.payload);
            // Random bytes may happen to decode to a valid request; they must never be INTERNAL or hang.
            expected = fuzz.path.endsWith("NoSuchMethod") ? [grpc.status.UNIMPLEMENTED] : [grpc.status.OK, grpc.status.INVALID_ARGUMENT];
          }
          codes.set(grpc.status[code], (codes.get(grpc.status[code]) ?? 0) + 1);
          if (!expected.includes(code) && mismatches.length < 20) mismatches.push(`case ${index} (${fuzz.kind}): got ${grpc.status[code]}, expected ${expected.map((c) => grpc.status[c])} ${detail}`);
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;

    // The server is alive and healthy, and never logged an internal error.
    expect(server.child.exitCode).toBeNull();
    expect(await servingStatus(server.address)).toBe("SERVING");
    const internalErrors = server.logs.filter((entry) => Number(entry.level) >= 50);

    // Redis holds only conversations a valid append wrote, each within its window, every element readable.
    const check = new Redis(redis.url);
    const keys = await check.keys("*");
    const strayKeys: string[] = [];
    let elements = 0;
    for (const key of keys) {
      // The conversation index (one bucket on a single Redis): only ids a valid append wrote.
      if (key === `${PREFIX}:{index}:conversations`) {
        const members = await check.zrange(key, 0, "-1");
        expect(members.filter((member) => !appended.has(member))).toEqual([]);
        continue;
      }
      // Companions of a conversation: request ids, the seq counter, and the pinned list (checked as a list).
      const companion = /^\{(.*)\}:(request-ids|request-expiry|meta|pinned)$/.exec(key);
      const list = companion ? companion[1] : key;
      const id = list?.startsWith(`${PREFIX}:`) ? list.slice(PREFIX.length + 1) : undefined;
      if (id === undefined || !appended.has(id)) {
        strayKeys.push(key);
        continue;
      }
      const pinned = companion?.[2] === "pinned";
      if (companion && !pinned) continue;
      const stored = await check.lrange(key, 0, -1);
      elements += stored.length;
      expect(stored.length).toBeLessThanOrEqual(pinned ? 8 : 20);
      for (const element of stored) {
        const decoded = decodeStoredMessage(element);
        expect(ROLES).toContain(decoded?.role);
        expect(appended.get(id)?.has(decoded?.content ?? "\u0000never")).toBe(true);
      }
    }
    check.disconnect();

    console.log(
      `[faults] fuzz: ${cases.length} cases (seed ${seed}) in ${seconds.toFixed(1)} s; statuses ${JSON.stringify(Object.fromEntries(codes))}; ` +
        `crashes ${server.child.exitCode === null ? 0 : 1}, internal errors logged ${internalErrors.length}, status mismatches ${mismatches.length}, ` +
        `Redis keys ${keys.length} (stray ${strayKeys.length}), stored elements ${elements}`,
    );
    expect(mismatches).toEqual([]);
    expect(internalErrors).toEqual([]);
    expect(strayKeys).toEqual([]);
    expect([...codes.keys()].sort()).toEqual(expect.arrayContaining(["INVALID_ARGUMENT", "OK", "UNIMPLEMENTED"]));
  });
});

describe("idle sockets and huge messages beside normal callers", () => {
  async function latencies(calls: number): Promise<number[]> {
    const client = createChatMemoryClient({ address: server.address, defaultDeadlineMs: 5000 });
    const samples: number[] = [];
    try {
      for (let i = 0; i < calls; i++) {
        const t = performance.now();
        await client.append({ conversationId: "normal-caller", messages: [{ role: "user", content: `hello ${i}` }] });
        samples.push(performance.now() - t);
      }
    } finally {
      client.close();
    }
    return samples.sort((a, b) => a - b);
  }
  const p99 = (sorted: number[]) => sorted[Math.floor(sorted.length * 0.99)] ?? NaN;

  it("do not starve normal calls, get clear statuses, and idle sockets are closed", async () => {
    const baseline = p99(await latencies(200));
    const [host, port] = [server.address.slice(0, server.address.lastIndexOf(":")), Number(server.address.split(":").pop())];

    // 400 sockets that connect and never speak (half send a partial HTTP/2 preface).
    const sockets: Socket[] = [];
    for (let i = 0; i < 400; i++) {
      const socket = connect(port, host);
      socket.on("error", () => {});
      socket.resume(); // read (and drop) what the server sends, so its close is seen
      if (i % 2 === 0) socket.write("PRI * HTTP/2.0\r\n");
      sockets.push(socket);
    }
    // Huge messages at the same time: over the 1 MiB receive limit, and under it with oversized content.
    const over = new Uint8Array(1024 * 1024 + 10);
    const hugeOver = Array.from({ length: 4 }, () => send(`${SERVICE}/Append`, over));
    const oversizedContent = toBinary(
      AppendRequestSchema,
      create(AppendRequestSchema, { conversationId: "huge", messages: [{ role: "user", content: "x".repeat(900_000) }] }),
    );
    const hugeUnder = Array.from({ length: 4 }, () => send(`${SERVICE}/Append`, oversizedContent));

    const underAttack = p99(await latencies(200));
    const hugeCodes = (await Promise.all([...hugeOver, ...hugeUnder])).map((code) => grpc.status[code]);
    expect(hugeCodes).toEqual([...Array(4).fill("RESOURCE_EXHAUSTED"), ...Array(4).fill("INVALID_ARGUMENT")]);

    // The server closes connections idle for 2 s (CHATMEMORY_MAX_CONNECTION_IDLE_MS), idle sockets included.
    const closedMs = await waitFor(() => sockets.every((socket) => socket.destroyed || socket.readableEnded), 10_000, 100);
    sockets.forEach((socket) => socket.destroy());
    console.log(
      `[faults] slowloris: 400 idle sockets + 8 huge requests; normal-call p99 ${baseline.toFixed(1)} ms before, ${underAttack.toFixed(1)} ms during; ` +
        `huge requests answered ${[...new Set(hugeCodes)].join("/")}; idle sockets closed by the server after ${(closedMs / 1000).toFixed(1)} s more`,
    );
    expect(underAttack).toBeLessThan(Math.max(250, baseline * 10));
    await sleep(10);
    expect(server.child.exitCode).toBeNull();
  });
});
