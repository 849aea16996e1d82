/**
 * Every validation rule of the contract, end to end over a real socket:
 * INVALID_ARGUMENT naming the field, and nothing written to Redis.
 */
import * as grpc from "@grpc/grpc-js";
import type { Redis } from "ioredis";
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from "vitest";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { create, toBinary } from "@bufbuild/protobuf";
import { ListValueSchema, NullValue, StructSchema, ValueSchema } from "@bufbuild/protobuf/wkt";
import { AppendRequestSchema, MessageSchema } from "../gen/ts/chatmemory/v1/chatmemory_pb.js";
import { type TestServer, startTestServer, statusOf, uniqueId } from "./helpers/test-server.js";

const redisUrl = inject("redisUrl");
type AppendInit = MessageInitShape<typeof AppendRequestSchema>;

let server: TestServer;
let redis: Redis;

/** Every key under this server's prefix with its full contents (lists, and the conversation index): must not change on a rejected request. */
async function snapshot(): Promise<Record<string, string[]>> {
  const keys = await redis.keys(`${server.keyPrefix}*`);
  const contents = async (key: string) => ((await redis.type(key)) === "zset" ? redis.zrange(key, 0, "-1") : redis.lrange(key, 0, -1));
  const entries = await Promise.all(keys.sort().map(async (key) => [key, await contents(key)] as const));
  return Object.fromEntries(entries);
}

beforeAll(async () => {
  server = await startTestServer({ store: "redis", redisUrl, maxBatch: 5, maxContentBytes: 10, maxReceiveBytes: 64 * 1024 });
  redis = new (await import("ioredis")).Redis(redisUrl);
});
afterAll(async () => {
  redis.disconnect();
  await server.close();
});

const existing = uniqueId("existing");
beforeEach(async () => {
  await server.client.clear({ conversationId: existing });
  await server.client.append({ conversationId: existing, messages: [{ role: "user", content: "keep me" }] });
});

async function expectRejected(call: () => Promise<unknown>, field: string | RegExp, code = grpc.status.INVALID_ARGUMENT) {
  const before = await snapshot();
  const { code: got, details } = await statusOf(call());
  expect(grpc.status[got]).toBe(grpc.status[code]);
  if (typeof field === "string") expect(details.startsWith(`${field}:`), details).toBe(true);
  else expect(details).toMatch(field);
  expect(await snapshot()).toEqual(before);
}

const ok = [{ role: "user", content: "fine" }];
const badIds: [string, string][] = [
  ["empty", ""],
  ["a space", "has space"],
  ["braces (hash tag)", "{tag}x"],
  ["a wildcard", "conv*"],
  ["a control character", "conv\u0001"],
  ["a newline", "conv\n"],
  ["non-ASCII", "conversación"],
  ["257 characters", "a".repeat(257)],
];

describe("conversation_id", () => {
  it.each(badIds)("rejects %s on every RPC", async (_label, conversationId) => {
    await expectRejected(() => server.client.append({ conversationId, messages: ok }), "conversation_id");
    await expectRejected(() => server.client.getHistory({ conversationId }), "conversation_id");
    await expectRejected(() => server.client.count({ conversationId }), "conversation_id");
    await expectRejected(() => server.client.clear({ conversationId }), "conversation_id");
  });

  it("accepts 256 characters of every allowed kind", async () => {
    const conversationId = `${"Az09._:@/-".repeat(25)}abcdef`;
    expect(conversationId.length).toBe(256);
    expect((await server.client.append({ conversationId, messages: ok })).count).toBe(1n);
    await server.client.clear({ conversationId });
  });
});

describe("messages", () => {
  it("rejects an empty batch", async () => {
    await expectRejected(() => server.client.append({ conversationId: existing, messages: [] }), "messages");
  });

  it("rejects a batch over max_batch (5)", async () => {
    const messages = Array.from({ length: 6 }, () => ({ role: "user", content: "x" }));
    await expectRejected(() => server.client.append({ conversationId: existing, messages }), "messages");
  });

  it.each(["", "User", "bot", "function", " user"])("rejects role %j", async (role) => {
    await expectRejected(() => server.client.append({ conversationId: existing, messages: [{ role, content: "x" }] }), "messages[0].role");
  });

  it("accepts every allowed role and empty content", async () => {
    const roles = ["user", "assistant", "system", "tool", "developer"];
    const conversationId = uniqueId();
    const { count } = await server.client.append({ conversationId, messages: roles.map((role) => ({ role, content: "" })) });
    expect(count).toBe(5n);
  });

  it("counts content in UTF-8 bytes, not characters (limit 10)", async () => {
    const conversationId = uniqueId();
    // 5 × "é" = 10 bytes: allowed; 6 × "é" = 6 characters but 12 bytes: rejected.
    expect((await server.client.append({ conversationId, messages: [{ role: "user", content: "ééééé" }] })).count).toBe(1n);
    await expectRejected(
      () => server.client.append({ conversationId, messages: [{ role: "user", content: "éééééé" }] }),
      "messages[0].content",
    );
    await expectRejected(
      () => server.client.append({ conversationId, messages: [{ role: "user", content: "12345678901" }] }),
      "messages[0].content",
    );
  });

  it("stores none of a batch with one bad message, and names its index", async () => {
    const messages = [
      { role: "user", content: "good 0" },
      { role: "assistant", content: "good 1" },
      { role: "user", content: "good 2" },
      { role: "wizard", content: "bad 3" },
    ];
    await expectRejected(() => server.client.append({ conversationId: existing, messages }), "messages[3].role");
    expect((await server.client.getHistory({ conversationId: existing })).messages.map((m) => m.content)).toEqual(["keep me"]);
  });
});

describe("tool calls, ids and extra", () => {
  const call = { id: "call_1", name: "f", arguments: "{}" };
  const rejects: [string, NonNullable<AppendInit["messages"]>, string][] = [
    ["tool calls on a user message", [{ role: "user", content: "", toolCalls: [call] }], "messages[0].tool_calls"],
    ["a tool call without an id", [{ role: "assistant", content: "", toolCalls: [{ ...call, id: "" }] }], "messages[0].tool_calls[0].id"],
    ["a tool call id over 128 characters", [{ role: "assistant", content: "", toolCalls: [call, { ...call, id: "i".repeat(129) }] }], "messages[0].tool_calls[1].id"],
    ["a tool call without a name", [{ role: "assistant", content: "", toolCalls: [{ ...call, name: "" }] }], "messages[0].tool_calls[0].name"],
    ["a tool type with a space", [{ role: "assistant", content: "", toolCalls: [{ ...call, type: "my tool" }] }], "messages[0].tool_calls[0].type"],
    ["129 tool calls", [{ role: "assistant", content: "", toolCalls: Array.from({ length: 129 }, (_, i) => ({ ...call, id: `c${i}`, arguments: "" })) }], "messages[0].tool_calls"],
    ["a message id with a space", [{ role: "user", content: "fine" }, { role: "user", content: "x", id: "my id" }], "messages[1].id"],
    ["a message id over 128 characters", [{ role: "user", content: "x", id: "i".repeat(129) }], "messages[0].id"],
    ["NaN in extra", [{ role: "user", content: "x", extra: { usage: { tokens: Number.NaN } } }], "messages[0].extra"],
    ["Infinity in a list in extra", [{ role: "user", content: "x", extra: { list: [1, Number.POSITIVE_INFINITY] } }], "messages[0].extra"],
    // The size rule (limit 10 bytes): content + arguments + extra's compact JSON.
    ["arguments that push a message over the limit", [{ role: "assistant", content: "12345", toolCalls: [{ ...call, arguments: "123456" }] }], "messages[0]"],
    ["extra that pushes a message over the limit", [{ role: "user", content: "12345", extra: { a: "b" } }], "messages[0]"],
  ];
  it.each(rejects)("rejects %s, naming the field, storing nothing", async (_label, messages, field) => {
    await expectRejected(() => server.client.append({ conversationId: existing, messages }), field);
  });

  it("accepts a message exactly at the limit with content, arguments and extra together", async () => {
    // Content 3 + arguments 2 + extra '{"a":1}' 7 = 12 bytes: over; with 1 byte of content, 10: fits.
    const messages = [{ role: "assistant", content: "abc", toolCalls: [{ ...call, arguments: "{}" }], extra: { a: 1 } }];
    await expectRejected(() => server.client.append({ conversationId: existing, messages }), "messages[0]");
    const fits = [{ role: "assistant", content: "a", toolCalls: [{ ...call, arguments: "{}" }], extra: { a: 1 } }];
    expect((await server.client.append({ conversationId: existing, messages: fits })).count).toBe(2n);
  });
});

describe("ttl, after_seq and before_seq", () => {
  const ttls: [string, { seconds: bigint; nanos: number }][] = [
    ["zero", { seconds: 0n, nanos: 0 }],
    ["negative", { seconds: -1n, nanos: 0 }],
    ["over 365 days", { seconds: 365n * 86_400n + 1n, nanos: 0 }],
    ["nanos with the wrong sign", { seconds: 1n, nanos: -5 }],
  ];
  it.each(ttls)("rejects a ttl that is %s, storing nothing", async (_label, ttl) => {
    await expectRejected(() => server.client.append({ conversationId: existing, messages: ok, ttl }), "ttl");
  });

  it("accepts a ttl of exactly 365 days", async () => {
    expect((await server.client.append({ conversationId: existing, messages: ok, ttl: { seconds: 365n * 86_400n, nanos: 0 } })).count).toBe(2n);
  });

  it("rejects a negative after_seq or before_seq", async () => {
    await expectRejected(() => server.client.getHistory({ conversationId: existing, afterSeq: -1n }), "after_seq");
    await expectRejected(() => server.client.getHistory({ conversationId: existing, beforeSeq: -2n }), "before_seq");
  });
});

describe("limit", () => {
  it("rejects a negative limit", async () => {
    await expectRejected(() => server.client.getHistory({ conversationId: existing, limit: -1 }), "limit");
  });
});

describe("transport", () => {
  it("answers a request over the receive limit with RESOURCE_EXHAUSTED and stores nothing", async () => {
    const big: AppendInit = { conversationId: existing, messages: [{ role: "user", content: "x".repeat(70 * 1024) }] };
    await expectRejected(() => server.client.append(big), /./, grpc.status.RESOURCE_EXHAUSTED);
  });

  it("answers bytes that are not a valid request with INVALID_ARGUMENT, not INTERNAL", async () => {
    const raw = new grpc.Client(server.address, grpc.credentials.createInsecure());
    const send = (payload: Buffer) =>
      new Promise<grpc.ServiceError | null>((resolve) =>
        raw.makeUnaryRequest(
          "/chatmemory.v1.ChatMemory/Append",
          (b: Buffer) => b,
          (b: Buffer) => b,
          payload,
          new grpc.Metadata(),
          { deadline: Date.now() + 5000 },
          (error) => resolve(error),
        ),
      );
    try {
      const before = await snapshot();
      // Field 1 (string) with a length running past the end; then invalid UTF-8 in conversation_id.
      const truncated = Buffer.from([0x0a, 0x50, 0x61]);
      const invalidUtf8 = Buffer.from([0x0a, 0x02, 0xc3, 0x28]);
      for (const payload of [truncated, invalidUtf8, Buffer.from([0xff, 0xff, 0xff, 0xff])]) {
        const error = await send(payload);
        expect(error?.code).toBe(grpc.status.INVALID_ARGUMENT);
        expect(error?.details).toMatch(/^request: not a valid chatmemory\.v1\.AppendRequest/);
      }
      expect(await snapshot()).toEqual(before);
    } finally {
      raw.close();
    }
  });

  it("refuses a google.protobuf.Value with no kind in extra, naming the message, and accepts explicit nulls", async () => {
    const raw = new grpc.Client(server.address, grpc.credentials.createInsecure());
    const send = (request: Uint8Array) =>
      new Promise<grpc.ServiceError | null>((resolve) =>
        raw.makeUnaryRequest("/chatmemory.v1.ChatMemory/Append", (b: Buffer) => b, (b: Buffer) => b, Buffer.from(request), new grpc.Metadata(), { deadline: Date.now() + 5000 }, (error) =>
          resolve(error),
        ),
      );
    // protobuf-es builds a Struct whose Value sets no kind (its JSON form cannot say that); spliced in as Message.extra (field 10).
    const struct = (value: ReturnType<typeof create<typeof ValueSchema>>) =>
      toBinary(StructSchema, create(StructSchema, { fields: { ok: create(ValueSchema, { kind: { case: "numberValue", value: 1 } }), odd: value } }));
    const request = (extra: Uint8Array, content = "x") => {
      const message = toBinary(MessageSchema, create(MessageSchema, { role: "user", content }));
      const withExtra = Buffer.concat([message, Buffer.from([0x52, extra.length]), extra]);
      const first = toBinary(MessageSchema, create(MessageSchema, { role: "user", content: "y" }));
      // AppendRequest: conversation_id, then two messages (field 2); every length here is under 128 (one-byte varints).
      return Buffer.concat([
        toBinary(AppendRequestSchema, create(AppendRequestSchema, { conversationId: existing })),
        Buffer.from([0x12, first.length]),
        first,
        Buffer.from([0x12, withExtra.length]),
        withExtra,
      ]);
    };
    try {
      const before = await snapshot();
      const nested = create(ValueSchema, { kind: { case: "listValue", value: create(ListValueSchema, { values: [create(ValueSchema, {})] }) } });
      for (const kindless of [create(ValueSchema, {}), nested]) {
        const error = await send(request(struct(kindless)));
        expect(error?.code).toBe(grpc.status.INVALID_ARGUMENT);
        expect(error?.details).toMatch(/^messages\[1\]\.extra: /);
      }
      expect(await snapshot()).toEqual(before);
      // An explicit null_value is a kind: stored, and read back as null (`{"n":null}` and no content fit this server's 10 bytes).
      const explicitNull = toBinary(StructSchema, create(StructSchema, { fields: { n: create(ValueSchema, { kind: { case: "nullValue", value: NullValue.NULL_VALUE } }) } }));
      expect(await send(request(explicitNull, ""))).toBeNull();
      const { messages } = await server.client.getHistory({ conversationId: existing });
      expect(messages.at(-1)?.extra).toEqual({ n: null });
    } finally {
      raw.close();
    }
  });
});

