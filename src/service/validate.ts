/**
 * Request validation: every rule of the contract, each failure an
 * INVALID_ARGUMENT whose message starts with the offending field's path.
 * Runs before the store is touched, so a rejected request changes nothing.
 */
import type { Duration } from "@bufbuild/protobuf/wkt";
import type { AppendRequest, DeleteMessagesRequest, GetHistoryRequest, Message, ReplaceRequest, WatchRequest } from "../../gen/ts/chatmemory/v1/chatmemory_pb.js";
import { ChatMemoryError } from "./errors.js";
import { hasKeys } from "../store/chat-store.js";

export interface RequestLimits {
  /** Most messages in one Append. */
  maxBatch: number;
  /** Most UTF-8 bytes in one message's content. */
  maxContentBytes: number;
}

export const CONVERSATION_ID_PATTERN = /^[A-Za-z0-9._:@/-]{1,256}$/;
export const ALLOWED_ROLES: ReadonlySet<string> = new Set(["user", "assistant", "system", "tool", "developer"]);

export function validateConversationId(conversationId: string): void {
  if (conversationId.length === 0) {
    throw ChatMemoryError.invalidArgument("conversation_id", "must not be empty");
  }
  if (conversationId.length > 256) {
    throw ChatMemoryError.invalidArgument("conversation_id", `must be at most 256 characters, got ${conversationId.length}`);
  }
  if (!CONVERSATION_ID_PATTERN.test(conversationId)) {
    throw ChatMemoryError.invalidArgument("conversation_id", "may contain only letters, digits and . _ : @ / -");
  }
}

/** The tool type an empty `ToolCall.type` means. */
export const DEFAULT_TOOL_TYPE = "function";
const MAX_TOOL_CALLS = 128;
const TOOL_TYPE_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;

/** `messages[i]`: made only for an error's message (most requests have none). */
const messageField = (index: number) => `messages[${index}]`;

function validateToolCalls(message: Message, index: number): number {
  if (message.toolCalls.length === 0) return 0;
  const field = messageField(index);
  if (message.role !== "assistant") {
    throw ChatMemoryError.invalidArgument(`${field}.tool_calls`, `only assistant messages make tool calls; this one's role is ${JSON.stringify(message.role)}`);
  }
  if (message.toolCalls.length > MAX_TOOL_CALLS) {
    throw ChatMemoryError.invalidArgument(`${field}.tool_calls`, `must hold at most ${MAX_TOOL_CALLS} calls, got ${message.toolCalls.length}`);
  }
  let argumentBytes = 0;
  message.toolCalls.forEach((call, callIndex) => {
    const callField = `${field}.tool_calls[${callIndex}]`;
    if (call.id.length < 1 || call.id.length > 128) throw ChatMemoryError.invalidArgument(`${callField}.id`, `must be 1..128 characters, got ${call.id.length}`);
    if (call.name.length < 1 || call.name.length > 128) throw ChatMemoryError.invalidArgument(`${callField}.name`, `must be 1..128 characters, got ${call.name.length}`);
    if (call.type !== "" && !TOOL_TYPE_PATTERN.test(call.type)) {
      throw ChatMemoryError.invalidArgument(`${callField}.type`, "must be empty (function) or 1..64 characters of letters, digits and _ . -");
    }
    argumentBytes += Buffer.byteLength(call.arguments, "utf8");
  });
  return argumentBytes;
}

/** The path of the first number in `value` that JSON cannot carry (NaN, ±Infinity), if any. */
function nonFiniteNumberPath(value: unknown, path: string): string | undefined {
  if (typeof value === "number") return Number.isFinite(value) ? undefined : path;
  if (value === null || typeof value !== "object") return undefined;
  for (const [key, item] of Object.entries(value)) {
    const found = nonFiniteNumberPath(item, Array.isArray(value) ? `${path}[${key}]` : `${path}.${key}`);
    if (found !== undefined) return found;
  }
  return undefined;
}

/** Bytes of `extra` as stored (compact JSON); 0 when unset or empty. */
function validateExtra(message: Message, index: number): number {
  if (message.extra === undefined || !hasKeys(message.extra)) return 0;
  const bad = nonFiniteNumberPath(message.extra, "extra");
  if (bad !== undefined) throw ChatMemoryError.invalidArgument(`${messageField(index)}.extra`, `${bad} is not a finite number (JSON has no NaN or Infinity)`);
  return Buffer.byteLength(JSON.stringify(message.extra), "utf8");
}

function validateMessage(message: Message, index: number, limits: RequestLimits): void {
  if (!ALLOWED_ROLES.has(message.role)) {
    const field = messageField(index);
    const got = message.role === "" ? "it is empty" : `got ${JSON.stringify(message.role.slice(0, 32))}`;
    throw ChatMemoryError.invalidArgument(`${field}.role`, `must be one of ${[...ALLOWED_ROLES].join(", ")}; ${got}`);
  }
  if (message.id !== "" && !REQUEST_ID_PATTERN.test(message.id)) {
    throw ChatMemoryError.invalidArgument(`${messageField(index)}.id`, "must be empty or 1..128 printable ASCII characters without spaces");
  }
  // Cheap upper bound first: a UTF-8 encoding takes at most 3 bytes per UTF-16 unit.
  const contentBytes = message.content.length * 3 > limits.maxContentBytes ? Buffer.byteLength(message.content, "utf8") : message.content.length;
  if (contentBytes > limits.maxContentBytes) {
    throw ChatMemoryError.invalidArgument(`${messageField(index)}.content`, `must be at most ${limits.maxContentBytes} UTF-8 bytes, got ${contentBytes}`);
  }
  const otherBytes = validateToolCalls(message, index) + validateExtra(message, index);
  if (otherBytes > 0) {
    const total = Buffer.byteLength(message.content, "utf8") + otherBytes;
    if (total > limits.maxContentBytes) {
      throw ChatMemoryError.invalidArgument(
        messageField(index),
        `content, tool call arguments and extra must together be at most ${limits.maxContentBytes} UTF-8 bytes, got ${total}`,
      );
    }
  }
}

/** Printable ASCII without spaces: UUIDs, ULIDs, base64 and the like. */
export const REQUEST_ID_PATTERN = /^[\x21-\x7e]{1,128}$/;

/** The longest per-conversation TTL an Append may ask for. */
const MAX_TTL_MS = 365 * 24 * 3600 * 1000;

/** A request's `ttl` in whole milliseconds (at least 1), or undefined when unset. */
function validateTtl(ttl: Duration | undefined): number | undefined {
  if (ttl === undefined) return undefined;
  const { seconds, nanos } = ttl;
  // A Duration's nanos carry its sign and stay within a second.
  const wellFormed = nanos > -1e9 && nanos < 1e9 && !(seconds > 0n && nanos < 0) && !(seconds < 0n && nanos > 0);
  const ms = Number(seconds) * 1000 + nanos / 1e6;
  if (!wellFormed || !(ms > 0) || ms > MAX_TTL_MS) {
    throw ChatMemoryError.invalidArgument("ttl", `must be more than 0 and at most 365 days, got ${seconds}s ${nanos}ns`);
  }
  return Math.max(1, Math.round(ms));
}

/** Checks an Append, or a Replace (which may hold no messages); returns its `ttl` in milliseconds (undefined when unset). */
export function validateWriteRequest(request: AppendRequest | ReplaceRequest, limits: RequestLimits): number | undefined {
  validateConversationId(request.conversationId);
  if (request.requestId !== "" && !REQUEST_ID_PATTERN.test(request.requestId)) {
    throw ChatMemoryError.invalidArgument("request_id", "must be empty or 1..128 printable ASCII characters without spaces");
  }
  if (request.messages.length === 0 && request.$typeName === "chatmemory.v1.AppendRequest") {
    throw ChatMemoryError.invalidArgument("messages", "must hold at least one message");
  }
  if (request.messages.length > limits.maxBatch) {
    throw ChatMemoryError.invalidArgument(
      "messages",
      `must hold at most ${limits.maxBatch} messages, got ${request.messages.length}`,
    );
  }
  for (let index = 0; index < request.messages.length; index++) validateMessage(request.messages[index]!, index, limits);
  return validateTtl(request.ttl);
}

/** Checks a DeleteMessages; returns its seqs as numbers. */
export function validateDeleteRequest(request: DeleteMessagesRequest, limits: RequestLimits): number[] {
  validateConversationId(request.conversationId);
  if (request.seqs.length === 0) throw ChatMemoryError.invalidArgument("seqs", "must hold at least one seq");
  if (request.seqs.length > limits.maxBatch) {
    throw ChatMemoryError.invalidArgument("seqs", `must hold at most ${limits.maxBatch} seqs, got ${request.seqs.length}`);
  }
  return request.seqs.map((seq, index) => {
    if (seq <= 0n) throw ChatMemoryError.invalidArgument(`seqs[${index}]`, `must be positive, got ${seq}`);
    return Number(seq);
  });
}

/** Checks a Watch request; returns where the caller stands. */
export function validateWatchRequest(request: WatchRequest): { afterSeq: number; epoch: string } {
  validateConversationId(request.conversationId);
  if (request.afterSeq < 0n) throw ChatMemoryError.invalidArgument("after_seq", `must be 0 (from the start) or positive, got ${request.afterSeq}`);
  return { afterSeq: Number(request.afterSeq), epoch: request.epoch };
}

/** Checks a GetHistory's bounds; seqs come back as numbers (they stay far below 2^53). */
export function validateHistoryQuery(request: GetHistoryRequest): { limit: number; maxTokens: number; afterSeq: number; beforeSeq: number } {
  validateConversationId(request.conversationId);
  if (request.limit < 0) throw ChatMemoryError.invalidArgument("limit", `must be 0 (whole window) or positive, got ${request.limit}`);
  if (request.maxTokens < 0) throw ChatMemoryError.invalidArgument("max_tokens", `must be 0 (no budget) or positive, got ${request.maxTokens}`);
  if (request.afterSeq < 0n) throw ChatMemoryError.invalidArgument("after_seq", `must be 0 (not set) or positive, got ${request.afterSeq}`);
  if (request.beforeSeq < 0n) throw ChatMemoryError.invalidArgument("before_seq", `must be 0 (not set) or positive, got ${request.beforeSeq}`);
  return { limit: request.limit, maxTokens: request.maxTokens, afterSeq: Number(request.afterSeq), beforeSeq: Number(request.beforeSeq) };
}
