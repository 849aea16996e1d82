/**
 * GetHistoryResponse encoded straight from stored messages, the hot path of
 * GetHistory: building a protobuf-es Message (and a Timestamp) per element and
 * running the reflective toBinary cost a large share of the server's CPU, and
 * grew with the window (bench/notes.md). The bytes are what
 * toBinary(GetHistoryResponseSchema, ...) writes for the same messages
 * (test/history-response.test.ts compares them on random input, and pins
 * ENCODED_FIELDS against the generated schema, so a new field cannot be
 * silently dropped here).
 *
 * Messages and windows a store shares between reads (a read result with
 * `sharing`) are encoded once and their bytes kept in the store's
 * SharedEncodings, so a window read again costs a copy per message, or none.
 */
import { create, toBinary } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { type Message, MessageSchema } from "../../gen/ts/chatmemory/v1/chatmemory_pb.js";
import type { ReadSharing, SharedEncodings, StoredMessage } from "../store/chat-store.js";

/**
 * Every field this encoder writes, by message type: name -> number (proto/chatmemory/v1/chatmemory.proto).
 * A message with tool calls, an id or extra is written whole by protobuf-es's toBinary instead
 * (toBinaryMessage below): those fields are listed here because that path writes them.
 */
export const ENCODED_FIELDS = {
  "chatmemory.v1.GetHistoryResponse": { messages: 1, total_tokens: 2, epoch: 3 },
  "chatmemory.v1.Message": {
    role: 1,
    content: 2,
    name: 3,
    tool_call_id: 4,
    metadata: 5,
    created_at: 6,
    tool_calls: 7,
    seq: 8,
    id: 9,
    extra: 10,
    pinned: 11,
    token_count: 12,
  },
  "google.protobuf.Timestamp": { seconds: 1, nanos: 2 },
} as const;

/** Messages with the fields LLM APIs added (tool calls, ids, a Struct) take protobuf-es's encoder. */
function usesToBinary(message: StoredMessage): boolean {
  return message.toolCalls !== undefined || message.id !== undefined || message.extra !== undefined;
}

/** A stored message as the API's Message (for the responses that are not hand-encoded). */
export function toApiMessage(message: StoredMessage, pinned: boolean, tokenCount: number): Message {
  return create(MessageSchema, {
      role: message.role,
      content: message.content,
      name: message.name ?? "",
      toolCallId: message.toolCallId ?? "",
      metadata: message.metadata ?? {},
      createdAt: message.createdAtMs === undefined ? undefined : timestampFromMs(message.createdAtMs),
      toolCalls: message.toolCalls ?? [],
      id: message.id ?? "",
      extra: message.extra,
      seq: BigInt(message.seq ?? 0),
      pinned,
      tokenCount,
  });
}

/** One Message's body by toBinary, exactly as the service would build it. */
function toBinaryMessage(message: StoredMessage, pinned: boolean, tokenCount: number): Uint8Array {
  return toBinary(MessageSchema, toApiMessage(message, pinned, tokenCount));
}

// Tags: field number << 3 | wire type (0 = varint, 2 = length-delimited).
const RESPONSE_MESSAGES = 0x0a; // GetHistoryResponse.messages = 1
const MESSAGE_ROLE = 0x0a; // Message.role = 1
const MESSAGE_CONTENT = 0x12; // Message.content = 2
const MESSAGE_NAME = 0x1a; // Message.name = 3
const MESSAGE_TOOL_CALL_ID = 0x22; // Message.tool_call_id = 4
const MESSAGE_METADATA = 0x2a; // Message.metadata = 5 (map entries: key = 1, value = 2)
const MESSAGE_CREATED_AT = 0x32; // Message.created_at = 6
const MESSAGE_SEQ = 0x40; // Message.seq = 8 (varint)
const MESSAGE_PINNED = 0x58; // Message.pinned = 11 (varint)
const MESSAGE_TOKEN_COUNT = 0x60; // Message.token_count = 12 (varint)
const RESPONSE_TOTAL_TOKENS = 0x10; // GetHistoryResponse.total_tokens = 2 (varint)
const RESPONSE_EPOCH = 0x1a; // GetHistoryResponse.epoch = 3
const ENTRY_KEY = 0x0a;
const ENTRY_VALUE = 0x12;
const TIMESTAMP_SECONDS = 0x08; // google.protobuf.Timestamp.seconds = 1
const TIMESTAMP_NANOS = 0x10; // google.protobuf.Timestamp.nanos = 2

/** Bytes of a varint for a non-negative safe integer (division, not bit shifts: values may exceed 32 bits). */
function varintSize(value: number): number {
  let size = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 0x80);
    size++;
  }
  return size;
}

function writeVarint(buffer: Buffer, offset: number, value: number): number {
  while (value >= 0x80) {
    buffer[offset++] = (value % 0x80) | 0x80;
    value = Math.floor(value / 0x80);
  }
  buffer[offset++] = value;
  return offset;
}

/**
 * Sizes first, then one buffer: `lengths` collects, in write order, the UTF-8
 * length of every string and the size of every nested message, so the write
 * pass needs no second measurement.
 */
class HistoryEncoder {
  readonly lengths: number[] = [];

  /** Size of a length-delimited string field, recording its byte length; 0 when empty (proto3 leaves it out) unless `always`. */
  #stringField(value: string, always = false): number {
    if (value === "" && !always) return 0;
    const bytes = Buffer.byteLength(value, "utf8");
    this.lengths.push(bytes);
    return 1 + varintSize(bytes) + bytes;
  }

  /** Size of one Message's body; records the lengths the write pass needs. */
  messageSize(message: StoredMessage, pinned: boolean, tokenCount: number): number {
    const slot = this.lengths.push(0) - 1;
    let size = this.#stringField(message.role) + this.#stringField(message.content);
    if (message.name) size += this.#stringField(message.name);
    if (message.toolCallId) size += this.#stringField(message.toolCallId);
    if (message.metadata) {
      // A map entry always carries its key and value, empty or not (as toBinary writes it).
      for (const key of Object.keys(message.metadata)) {
        const entrySlot = this.lengths.push(0) - 1;
        const entry = this.#stringField(key, true) + this.#stringField(message.metadata[key] as string, true);
        this.lengths[entrySlot] = entry;
        size += 1 + varintSize(entry) + entry;
      }
    }
    if (message.createdAtMs !== undefined) {
      const timestamp = timestampSize(message.createdAtMs);
      size += 1 + varintSize(timestamp) + timestamp;
    }
    if (message.seq) size += 1 + varintSize(message.seq);
    if (pinned) size += 2;
    if (tokenCount > 0) size += 1 + varintSize(tokenCount);
    this.lengths[slot] = size;
    return size;
  }
}

function timestampParts(ms: number): { seconds: number; nanos: number } {
  return { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1_000_000 };
}

function timestampSize(ms: number): number {
  const { seconds, nanos } = timestampParts(ms);
  return (seconds === 0 ? 0 : 1 + varintSize(seconds)) + (nanos === 0 ? 0 : 1 + varintSize(nanos));
}

/** Writes sized messages into one buffer, taking the recorded lengths in the order they were sized. */
class HistoryWriter {
  offset = 0;
  #next = 0;
  constructor(
    readonly buffer: Buffer,
    readonly lengths: readonly number[],
  ) {}

  #varint(value: number): void {
    this.offset = writeVarint(this.buffer, this.offset, value);
  }

  #string(tag: number, value: string, always = false): void {
    if (value === "" && !always) return;
    const bytes = this.lengths[this.#next++] as number;
    this.buffer[this.offset++] = tag;
    this.#varint(bytes);
    this.offset += this.buffer.write(value, this.offset, bytes, "utf8");
  }

  /** One `messages` field: tag, length, then the Message body. */
  message(message: StoredMessage, pinned: boolean, tokenCount: number): void {
    this.buffer[this.offset++] = RESPONSE_MESSAGES;
    this.#varint(this.lengths[this.#next++] as number);
    this.#string(MESSAGE_ROLE, message.role);
    this.#string(MESSAGE_CONTENT, message.content);
    if (message.name) this.#string(MESSAGE_NAME, message.name);
    if (message.toolCallId) this.#string(MESSAGE_TOOL_CALL_ID, message.toolCallId);
    if (message.metadata) {
      for (const key of Object.keys(message.metadata)) {
        this.buffer[this.offset++] = MESSAGE_METADATA;
        this.#varint(this.lengths[this.#next++] as number);
        this.#string(ENTRY_KEY, key, true);
        this.#string(ENTRY_VALUE, message.metadata[key] as string, true);
      }
    }
    if (message.createdAtMs !== undefined) {
      const { seconds, nanos } = timestampParts(message.createdAtMs);
      this.buffer[this.offset++] = MESSAGE_CREATED_AT;
      this.#varint(timestampSize(message.createdAtMs));
      if (seconds !== 0) {
        this.buffer[this.offset++] = TIMESTAMP_SECONDS;
        this.#varint(seconds);
      }
      if (nanos !== 0) {
        this.buffer[this.offset++] = TIMESTAMP_NANOS;
        this.#varint(nanos);
      }
    }
    if (message.seq) {
      this.buffer[this.offset++] = MESSAGE_SEQ;
      this.#varint(message.seq);
    }
    if (pinned) {
      this.buffer[this.offset++] = MESSAGE_PINNED;
      this.buffer[this.offset++] = 1;
    }
    if (tokenCount > 0) {
      this.buffer[this.offset++] = MESSAGE_TOKEN_COUNT;
      this.#varint(tokenCount);
    }
  }

  /** Bytes encoded earlier for the same message. */
  copy(bytes: Uint8Array): void {
    this.buffer.set(bytes, this.offset);
    this.offset += bytes.length;
  }
}

/** A `messages` field's bytes for one message (read as pinned or not), for a message that is encoded once and reused. */
function encodeMessageField(message: StoredMessage, pinned: boolean, tokenCount: number): Buffer {
  if (usesToBinary(message)) {
    const body = toBinaryMessage(message, pinned, tokenCount);
    const field = Buffer.allocUnsafeSlow(1 + varintSize(body.length) + body.length);
    field[0] = RESPONSE_MESSAGES;
    field.set(body, writeVarint(field, 1, body.length));
    return field;
  }
  const encoder = new HistoryEncoder();
  const size = encoder.messageSize(message, pinned, tokenCount);
  const writer = new HistoryWriter(Buffer.allocUnsafeSlow(1 + varintSize(size) + size), encoder.lengths);
  writer.message(message, pinned, tokenCount);
  return writer.buffer;
}

/** What GetHistory answers: the pinned messages, then the window's, their tokens and the epoch. */
export interface HistoryResponse {
  pinned: readonly StoredMessage[];
  messages: readonly StoredMessage[];
  epoch: string;
  /** Each message's token count under the server's encoding (the same for a message every time). */
  tokenCount: (message: StoredMessage) => number;
  totalTokens: number;
}

/**
 * GetHistoryResponse as protobuf bytes. `sharing` says the messages are a store's shared ones
 * (with `window`: `messages` is the store's shared window array itself). `createdAtMs` must be a
 * non-negative safe integer (the stores' decoder guarantees it).
 */
export function encodeHistoryResponse(response: HistoryResponse, sharing?: ReadSharing): Uint8Array {
  const encodings = sharing?.encodings;
  const { tokenCount } = response;
  const window =
    sharing?.window === true && encodings !== undefined
      ? encodings.window(response.messages, (messages) => encodeMessages(messages, false, tokenCount, encodings))
      : encodeMessages(response.messages, false, tokenCount, encodings);
  if (response.pinned.length === 0 && response.epoch === "" && response.totalTokens === 0) return window;
  const pinned = encodeMessages(response.pinned, true, tokenCount, encodings);
  const epochBytes = Buffer.byteLength(response.epoch, "utf8");
  const tail = Buffer.allocUnsafe(
    (response.totalTokens > 0 ? 1 + varintSize(response.totalTokens) : 0) + (response.epoch === "" ? 0 : 1 + varintSize(epochBytes) + epochBytes),
  );
  let offset = 0;
  if (response.totalTokens > 0) {
    tail[offset++] = RESPONSE_TOTAL_TOKENS;
    offset = writeVarint(tail, offset, response.totalTokens);
  }
  if (response.epoch !== "") {
    tail[offset++] = RESPONSE_EPOCH;
    tail.write(response.epoch, writeVarint(tail, offset, epochBytes), "utf8");
  }
  return Buffer.concat([pinned, window, tail]);
}

/** `messages` fields for a list of messages; with `encodings`, they are shared and each one's bytes are kept there. */
function encodeMessages(
  messages: readonly StoredMessage[],
  pinned: boolean,
  tokenCount: (message: StoredMessage) => number,
  encodings: SharedEncodings | undefined,
): Uint8Array {
  const encoder = new HistoryEncoder();
  // Bytes made before the sizing pass: kept ones of shared messages, and messages toBinary writes.
  const encodeField = (message: StoredMessage) => encodeMessageField(message, pinned, tokenCount(message));
  const shared = messages.map((message) =>
    encodings !== undefined ? encodings.message(message, pinned, encodeField) : usesToBinary(message) ? encodeField(message) : undefined,
  );
  let total = 0;
  for (let index = 0; index < messages.length; index++) {
    const bytes = shared[index];
    if (bytes !== undefined) {
      total += bytes.length;
      continue;
    }
    const message = messages[index] as StoredMessage;
    const size = encoder.messageSize(message, pinned, tokenCount(message));
    total += 1 + varintSize(size) + size;
  }
  const writer = new HistoryWriter(Buffer.allocUnsafe(total), encoder.lengths);
  for (let index = 0; index < messages.length; index++) {
    const bytes = shared[index];
    if (bytes !== undefined) writer.copy(bytes);
    else {
      const message = messages[index] as StoredMessage;
      writer.message(message, pinned, tokenCount(message));
    }
  }
  if (writer.offset !== total) throw new Error(`GetHistoryResponse encoder wrote ${writer.offset} bytes, sized ${total}`);
  return writer.buffer;
}
