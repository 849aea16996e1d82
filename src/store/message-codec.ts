/**
 * The stored element format, shared with the Python `RedisChatMemory` class:
 * a JSON object with string `role` and `content`, plus optional `seq`, `name`,
 * `tool_call_id`, `metadata`, `tool_calls` (OpenAI's shape), `id`, `extra`,
 * `tok` (token counts by encoding) and `ts` (epoch ms). Empty optional fields are left out so elements stay as
 * small as the Python class's.
 */
import { type DeletedMessages, hasKeys, type HistoryReadResult, type JsonObject, type SharedEncodings, type StoredMessage, type StoredToolCall } from "./chat-store.js";

/** OpenAI's shape: `{"id", "type": "function", "function": {"name", "arguments"}}`; another type T keeps its payload under T. */
type ToolCallJson = { id: string; type: string } & Record<string, unknown>;

interface StoredElementJson {
  seq?: number;
  role: string;
  content: string;
  name?: string;
  tool_call_id?: string;
  metadata?: Record<string, string>;
  tool_calls?: ToolCallJson[];
  id?: string;
  extra?: JsonObject;
  tok?: Readonly<Record<string, number>>;
  ts?: number;
}

function toolCallJson({ id, type, name, arguments: args }: StoredToolCall): ToolCallJson {
  return { id, type, [type]: { name, arguments: args } };
}

export function encodeStoredMessage(message: StoredMessage): string {
  // seq first: the Redis append script writes it there into elements encoded without one.
  const element: StoredElementJson =
    message.seq === undefined ? { role: message.role, content: message.content } : { seq: message.seq, role: message.role, content: message.content };
  if (message.name) element.name = message.name;
  if (message.toolCallId) element.tool_call_id = message.toolCallId;
  if (message.metadata && hasKeys(message.metadata)) element.metadata = message.metadata;
  if (message.toolCalls && message.toolCalls.length > 0) element.tool_calls = message.toolCalls.map(toolCallJson);
  if (message.id) element.id = message.id;
  if (message.extra && hasKeys(message.extra)) element.extra = message.extra;
  if (message.tokens && hasKeys(message.tokens)) element.tok = message.tokens;
  if (message.createdAtMs !== undefined) element.ts = message.createdAtMs;
  return JSON.stringify(element);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * Decodes one stored element; undefined when it is not a JSON object with
 * string `role` and `content` (the caller skips and counts it). Optional
 * fields of the wrong type are dropped rather than failing the element, since
 * other programs may write richer or older shapes.
 */
export function decodeStoredMessage(raw: string): StoredMessage | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    return undefined;
  }
  if (!isRecord(parsed) || typeof parsed.role !== "string" || typeof parsed.content !== "string") {
    return undefined;
  }
  const message: StoredMessage = { role: parsed.role, content: parsed.content };
  if (typeof parsed.name === "string" && parsed.name !== "") message.name = parsed.name;
  if (typeof parsed.tool_call_id === "string" && parsed.tool_call_id !== "") message.toolCallId = parsed.tool_call_id;
  if (isRecord(parsed.metadata)) {
    const metadata: Record<string, string> = {};
    for (const [key, value] of Object.entries(parsed.metadata)) {
      if (typeof value === "string") metadata[key] = value;
    }
    message.metadata = metadata;
  }
  if (typeof parsed.seq === "number" && Number.isSafeInteger(parsed.seq) && parsed.seq > 0) message.seq = parsed.seq;
  if (Array.isArray(parsed.tool_calls)) {
    const toolCalls = parsed.tool_calls.map(decodeToolCall).filter((call): call is StoredToolCall => call !== undefined);
    if (toolCalls.length > 0) message.toolCalls = toolCalls;
  }
  if (typeof parsed.id === "string" && parsed.id !== "") message.id = parsed.id;
  if (isRecord(parsed.extra) && Object.keys(parsed.extra).length > 0) message.extra = parsed.extra as JsonObject;
  if (isRecord(parsed.tok)) {
    const tokens: Record<string, number> = {};
    for (const [encoding, count] of Object.entries(parsed.tok)) {
      if (typeof count === "number" && Number.isSafeInteger(count) && count >= 0) tokens[encoding] = count;
    }
    if (Object.keys(tokens).length > 0) message.tokens = tokens;
  }
  if (typeof parsed.ts === "number" && Number.isSafeInteger(parsed.ts) && parsed.ts >= 0) {
    message.createdAtMs = parsed.ts;
  }
  return message;
}

/** Arguments as text: other writers may store them parsed (a JSON object), which is turned back into JSON text. */
function argumentsText(value: unknown): string {
  if (typeof value === "string") return value;
  return value === undefined ? "" : JSON.stringify(value);
}

/** One entry of a stored `tool_calls`; undefined when it is not in the OpenAI shape (it is dropped, not the message). */
function decodeToolCall(entry: unknown): StoredToolCall | undefined {
  if (!isRecord(entry) || typeof entry.id !== "string") return undefined;
  const type = typeof entry.type === "string" && entry.type !== "" ? entry.type : "function";
  const payload = entry[type];
  if (!isRecord(payload) || typeof payload.name !== "string") return undefined;
  return { id: entry.id, type, name: payload.name, arguments: argumentsText(payload.arguments) };
}

/** Turns one stored element into a message; undefined for a corrupt one. */
export type ElementDecoder = (raw: string) => StoredMessage | undefined;

/** A store's way of decoding elements: plain, or through a cache whose decoded messages are shared between reads. */
export interface ElementDecoding {
  decode: ElementDecoder;
  /** Set when `decode` returns shared (cached, frozen) messages: where their encodings are kept. */
  encodings: SharedEncodings | undefined;
}

/** JSON.parse on every read; nothing shared. */
export const PLAIN_DECODING: ElementDecoding = { decode: decodeStoredMessage, encodings: undefined };

/** Decodes raw elements, oldest first, skipping corrupt ones; `skipped` counts them. */
export function decodeElements(rawElements: readonly string[], decode: ElementDecoder): { messages: StoredMessage[]; skipped: number } {
  const messages: StoredMessage[] = [];
  let skipped = 0;
  for (const raw of rawElements) {
    const message = decode(raw);
    if (message) messages.push(message);
    else skipped++;
  }
  return { messages, skipped };
}

/** Deleted elements as a store's delete returns them (`[pinnedFlag, element, ...]`, '1' = pinned), decoded and in seq order. */
export function deletedMessages(flat: readonly string[], decode: ElementDecoder): DeletedMessages {
  const messages: DeletedMessages["messages"] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) {
    const message = decode(flat[i + 1] as string);
    if (message) messages.push({ message, pinned: flat[i] === "1" });
  }
  messages.sort((a, b) => (a.message.seq ?? 0) - (b.message.seq ?? 0));
  return { messages };
}

/** A store's raw read: pinned and window elements as stored, the window's full length and the epoch. */
export interface RawHistory {
  pinned: readonly string[];
  window: readonly string[];
  windowLength: number;
  lastSeq: number;
  epoch: string;
}

/** Decodes a raw read with the store's decoding into a HistoryReadResult. */
export function decodeHistory(raw: RawHistory, decoding: ElementDecoding): HistoryReadResult {
  const pinned = decodeElements(raw.pinned, decoding.decode);
  const window = decodeElements(raw.window, decoding.decode);
  const result: HistoryReadResult = {
    pinned: pinned.messages,
    messages: window.messages,
    windowLength: raw.windowLength,
    epoch: raw.epoch,
    lastSeq: raw.lastSeq,
    skippedCorrupt: pinned.skipped + window.skipped,
  };
  if (decoding.encodings !== undefined) result.sharing = { encodings: decoding.encodings, window: false };
  return result;
}
