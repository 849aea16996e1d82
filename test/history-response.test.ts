/**
 * The hand-written GetHistoryResponse encoder against protobuf-es: for random
 * stored messages (any Unicode, lone surrogates, empty and optional fields,
 * metadata, timestamps up to the largest safe integer) it writes exactly the
 * bytes toBinary writes for the messages the service used to build.
 */
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { TimestampSchema } from "@bufbuild/protobuf/wkt";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { GetHistoryResponseSchema, MessageSchema } from "../gen/ts/chatmemory/v1/chatmemory_pb.js";
import { ENCODED_FIELDS, encodeHistoryResponse } from "../src/service/history-response.js";
import { type JsonValue, SharedEncodings, type StoredMessage } from "../src/store/chat-store.js";

/** Responses whose messages carry no token counts. */
const NO_TOKENS = { tokenCount: () => 0, totalTokens: 0 };

/** The token count a random message carries (stored under o200k_base, as on append). */
const storedTokens = (message: StoredMessage) => message.tokens?.o200k_base ?? 0;

/** A response's token fields for messages with stored counts. */
const withTokens = (messages: StoredMessage[]) => ({ tokenCount: storedTokens, totalTokens: messages.reduce((sum, m) => sum + storedTokens(m), 0) });

/** The reference: a protobuf-es Message per stored message, then toBinary. */
function referenceBytes(messages: StoredMessage[], pinned: StoredMessage[] = [], epoch = ""): Uint8Array {
  const all = [...pinned, ...messages];
  return toBinary(
    GetHistoryResponseSchema,
    create(GetHistoryResponseSchema, {
      epoch,
      totalTokens: BigInt(all.reduce((sum, message) => sum + storedTokens(message), 0)),
      messages: [...pinned.map((stored) => [stored, true] as const), ...messages.map((stored) => [stored, false] as const)].map(([stored, isPinned]) =>
        create(MessageSchema, {
          pinned: isPinned,
          tokenCount: storedTokens(stored),
          seq: BigInt(stored.seq ?? 0),
          role: stored.role,
          content: stored.content,
          name: stored.name ?? "",
          toolCallId: stored.toolCallId ?? "",
          metadata: stored.metadata ?? {},
          createdAt:
            stored.createdAtMs === undefined
              ? undefined
              : create(TimestampSchema, { seconds: BigInt(Math.floor(stored.createdAtMs / 1000)), nanos: (stored.createdAtMs % 1000) * 1_000_000 }),
          toolCalls: stored.toolCalls ?? [],
          id: stored.id ?? "",
          extra: stored.extra,
        }),
      ),
    }),
  );
}

const text = fc.oneof(fc.string({ unit: "grapheme", maxLength: 40 }), fc.string({ unit: "binary", maxLength: 40 }), fc.constant(""), fc.constant("x".repeat(300)));
const storedMessage: fc.Arbitrary<StoredMessage> = fc.record(
  {
    role: text,
    content: fc.oneof(text, fc.constant("y".repeat(20_000))),
    name: text,
    toolCallId: text,
    metadata: fc.dictionary(text, text, { maxKeys: 4 }),
    createdAtMs: fc.oneof(fc.constantFrom(0, 999, 1000, 1_795_806_168_589, Number.MAX_SAFE_INTEGER), fc.nat()),
    seq: fc.oneof(fc.integer({ min: 1, max: 300 }), fc.constant(Number.MAX_SAFE_INTEGER)),
    tokens: fc.record({ o200k_base: fc.oneof(fc.integer({ min: 0, max: 200 }), fc.integer({ min: 0, max: 2 ** 31 - 1 })) }),
    toolCalls: fc.array(fc.record({ id: text, type: fc.constantFrom("function", "custom"), name: text, arguments: text }), { minLength: 1, maxLength: 3 }),
    id: fc.string({ minLength: 1, maxLength: 20 }),
    extra: fc.dictionary(text, fc.jsonValue({ maxDepth: 2, noUnicodeString: false }).filter((value) => !Object.is(value, -0)) as fc.Arbitrary<JsonValue>, {
      minKeys: 1,
      maxKeys: 3,
    }),
  },
  { requiredKeys: ["role", "content"] },
);

describe("encodeHistoryResponse", () => {
  it("writes the same bytes as toBinary for random windows, pinned messages and epochs", () => {
    fc.assert(
      fc.property(fc.array(storedMessage, { maxLength: 12 }), fc.array(storedMessage, { maxLength: 3 }), fc.oneof(fc.constant(""), text), (messages, pinned, epoch) => {
        const expected = Buffer.from(referenceBytes(messages, pinned, epoch));
        const tokens = withTokens([...pinned, ...messages]);
        expect(Buffer.from(encodeHistoryResponse({ pinned, messages, epoch, ...tokens })).equals(expected)).toBe(true);
        const sharing = { encodings: new SharedEncodings(), window: true };
        expect(Buffer.from(encodeHistoryResponse({ pinned, messages, epoch, ...tokens }, sharing)).equals(expected)).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it("writes the same bytes when shared messages reuse their kept encoding", () => {
    fc.assert(
      fc.property(fc.array(storedMessage, { maxLength: 12 }), (messages) => {
        // One shared message twice in the window, and every message read twice through the same encodings.
        const window = messages.length > 0 ? [...messages, messages[0] as StoredMessage] : messages;
        const sharing = { encodings: new SharedEncodings(), window: false };
        const expected = Buffer.from(referenceBytes(window));
        expect(Buffer.from(encodeHistoryResponse({ pinned: [], messages: window, epoch: "", ...withTokens(window) }, sharing)).equals(expected)).toBe(true);
        expect(Buffer.from(encodeHistoryResponse({ pinned: [], messages: [...window], epoch: "", ...withTokens(window) }, sharing)).equals(expected)).toBe(true);
        // The same shared message read as pinned encodes differently, and is kept apart.
        const asPinned = Buffer.from(referenceBytes([], window));
        expect(Buffer.from(encodeHistoryResponse({ pinned: window, messages: [], epoch: "", ...withTokens(window) }, sharing)).equals(asPinned)).toBe(true);
      }),
      { numRuns: 1000 },
    );
  });

  it("round-trips a typical window through fromBinary", () => {
    const messages: StoredMessage[] = [
      { role: "user", content: "What is the capital of France? 🇫🇷", createdAtMs: 1_795_806_168_589 },
      { role: "assistant", content: "", toolCallId: "call_1", metadata: { model: "m1", "": "" }, createdAtMs: 0 },
      { role: "tool", content: "Paris", name: "lookup" },
    ];
    const decoded = fromBinary(GetHistoryResponseSchema, encodeHistoryResponse({ pinned: [], messages, epoch: "", ...NO_TOKENS }));
    expect(decoded.messages.map((m) => [m.role, m.content, m.name, m.toolCallId, m.metadata, m.createdAt?.seconds, m.createdAt?.nanos])).toEqual([
      ["user", "What is the capital of France? 🇫🇷", "", "", {}, 1_795_806_168n, 589_000_000],
      ["assistant", "", "", "call_1", { model: "m1", "": "" }, 0n, 0],
      ["tool", "Paris", "lookup", "", {}, undefined, undefined],
    ]);
    expect(encodeHistoryResponse({ pinned: [], messages: [], epoch: "", ...NO_TOKENS }).byteLength).toBe(0);
  });

  it("encodes a shared window (a WindowCache result) once, with the same bytes", () => {
    const messages: StoredMessage[] = [
      { role: "user", content: "one" },
      { role: "tool", content: "two", toolCallId: "c1", metadata: { k: "v" }, createdAtMs: 1_795_806_168_589 },
    ];
    const encodings = new SharedEncodings();
    const response = { pinned: [], messages, epoch: "", ...NO_TOKENS };
    const encoded = encodeHistoryResponse(response, { encodings, window: true });
    expect(encodeHistoryResponse(response, { encodings, window: true })).toBe(encoded);
    expect(Buffer.from(encoded)).toEqual(Buffer.from(referenceBytes(messages)));
    // A window that is not shared is encoded each time.
    expect(encodeHistoryResponse(response)).not.toBe(encoded);
    expect(encodeHistoryResponse(response, { encodings, window: false })).not.toBe(encoded);
  });

  it("writes every field of the generated schema (a new proto field must be added to the encoder)", () => {
    const fieldsOf = (schema: { fields: readonly { name: string; number: number }[] }) =>
      Object.fromEntries(schema.fields.map((field) => [field.name, field.number]));
    expect({
      [GetHistoryResponseSchema.typeName]: fieldsOf(GetHistoryResponseSchema),
      [MessageSchema.typeName]: fieldsOf(MessageSchema),
      [TimestampSchema.typeName]: fieldsOf(TimestampSchema),
    }).toEqual(ENCODED_FIELDS);
  });
});
