/**
 * A digest of what a write asks to store, so a request_id reused for
 * different messages (or for another kind of write) is caught instead of
 * silently returning the first call's result. created_at is left out: the
 * server sets it on each attempt.
 *
 * An Append of plain messages (only the fields that existed before tool
 * calls, seqs and pins) without a ttl digests exactly as it always did, so a
 * retry that reaches an upgraded replica still finds the first attempt's id.
 */
import { createHash } from "node:crypto";
import type { Message } from "../../gen/ts/chatmemory/v1/chatmemory_pb.js";

export type WriteKind = "append" | "replace";

function canonicalMessage(message: Message): unknown[] {
  const entry: unknown[] = [
    message.role,
    message.content,
    message.name,
    message.toolCallId,
    Object.entries(message.metadata).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
  ];
  if (message.toolCalls.length > 0 || message.id !== "" || message.extra !== undefined || message.pinned) {
    entry.push(
      message.toolCalls.map(({ id, type, name, arguments: args }) => [id, type, name, args]),
      message.id,
      message.extra ?? null,
      message.pinned,
    );
  }
  return entry;
}

export function requestFingerprint(messages: readonly Message[], ttlMs: number | undefined, kind: WriteKind = "append"): string {
  const canonical = messages.map(canonicalMessage);
  const payload = kind === "append" && ttlMs === undefined ? canonical : [kind, canonical, ttlMs ?? null];
  // 128 bits of SHA-256 are plenty to tell two requests apart.
  return createHash("sha256").update(JSON.stringify(payload)).digest("base64url").slice(0, 22);
}
