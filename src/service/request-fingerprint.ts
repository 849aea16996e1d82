/**
 * A digest of what an Append asks to store, so a request_id reused for
 * different messages is caught instead of silently returning the first
 * call's result. created_at is left out: the server sets it on each attempt.
 */
import { createHash } from "node:crypto";
import type { Message } from "../../gen/ts/chatmemory/v1/chatmemory_pb.js";

export function requestFingerprint(messages: readonly Message[], ttlMs: number | undefined): string {
  const canonical = messages.map((message) => [
    message.role,
    message.content,
    message.name,
    message.toolCallId,
    Object.entries(message.metadata).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
    message.toolCalls.map(({ id, type, name, arguments: args }) => [id, type, name, args]),
    message.id,
    message.extra ?? null,
    message.pinned,
  ]);
  // 128 bits of SHA-256 are plenty to tell two requests apart.
  return createHash("sha256").update(JSON.stringify([canonical, ttlMs ?? null])).digest("base64url").slice(0, 22);
}
